#!/bin/bash
# Copy what the ICL findings rest on from a run folder into docs/evidence/icl-findings:
# every run's eval.parquet (no checkpoints), the plan and times, the report's JSON and PNGs.
set -euo pipefail
usage="usage: collect_icl_evidence.sh [SRC] [DST]

Copy every run's eval.parquet (no checkpoints), plan.json, times.json, findings.json and the
report's figures and HTML from the ICL findings run folder SRC (default runs/icl-findings,
written by scripts/icl_findings.py) into DST (default docs/evidence/icl-findings)."
fail() { echo "collect_icl_evidence.sh: error: $1" >&2; exit 2; }
case "${1:-}" in
    -h|--help) echo "$usage"; exit 0 ;;
    -*) fail "unknown option $1 (see --help)" ;;
esac
[ $# -le 2 ] || fail "takes at most two folders, SRC and DST, got $# arguments (see --help)"
src=${1:-runs/icl-findings}
dst=${2:-docs/evidence/icl-findings}
[ -d "$src" ] || fail "no such folder: $src"
[ ! -e "$dst" ] || [ -d "$dst" ] || fail "$dst is a file; give a folder to copy into"
mkdir -p "$dst"
(cd "$src" && find . -name eval.parquet) | while read -r f; do
    mkdir -p "$dst/$(dirname "$f")"
    cp "$src/$f" "$dst/$f"
done
for f in plan.json times.json findings.json icl_caps.png icl_families.png icl_findings.html; do
    [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"
done
echo "copied into $dst"
