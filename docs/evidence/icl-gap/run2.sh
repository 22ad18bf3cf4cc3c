#!/bin/bash
# beside run.sh (other core): the cosine schedule at the same 10k steps, then 20k constant steps (longer)
cd /work/main
# runs beside run.sh, on the other core
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 LESSDATA_QUIET=1
for variant in cosine long; do
  extra=""
  [ $variant = cosine ] && extra="--lr-schedule cosine"
  [ $variant = long ] && extra="--steps 20000"
  start=$(date +%s)
  taskset -c 1 .venv/bin/lessdata icl sweep --out runs/icl-gap/$variant --pool-sizes inf --seeds 1 $extra > runs/icl-gap/$variant.log 2>&1
  echo "$variant $(( $(date +%s) - start )) s" >> runs/icl-gap/times.txt
done
