#!/bin/bash
# Issue 16, step 1: which change closes the optimisation gap most per CPU-minute (M = inf, d = 5).
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 LESSDATA_QUIET=1
for variant in baseline curriculum wide; do
  extra=""
  [ $variant = curriculum ] && extra="--curriculum"
  [ $variant = wide ] && extra="--width 128 --heads 4"
  start=$(date +%s)
  taskset -c 0 .venv/bin/lessdata icl sweep --out runs/icl-gap/$variant --pool-sizes inf --seeds 1 --steps 10000 $extra > runs/icl-gap/$variant.log 2>&1
  echo "$variant $(( $(date +%s) - start )) s" >> runs/icl-gap/times.txt
done
