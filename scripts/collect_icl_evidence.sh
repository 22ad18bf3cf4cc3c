#!/bin/bash
# Copy what the ICL findings rest on from a run folder into docs/evidence/icl-findings:
# every run's eval.parquet (no checkpoints), the plan and times, the report's JSON and PNGs.
set -euo pipefail
src=${1:-runs/icl-findings}
dst=${2:-docs/evidence/icl-findings}
mkdir -p "$dst"
(cd "$src" && find . -name eval.parquet) | while read -r f; do
    mkdir -p "$dst/$(dirname "$f")"
    cp "$src/$f" "$dst/$f"
done
for f in plan.json times.json findings.json icl_caps.png icl_families.png icl_findings.html; do
    [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"
done
echo "copied into $dst"
