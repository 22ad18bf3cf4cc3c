#!/usr/bin/env bash
# Create .venv and install lessdata with its test tools. Safe to re-run: when pyproject.toml
# has not changed since the last successful run, it only checks that the venv is there.
# PyTorch is pinned to the CPU build first, so that no dependency can pull the CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.lessdata-setup
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -x .venv/bin/lessdata ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "lessdata is already set up in .venv"
  exit 0
fi
quiet() { { "$@" 2>&1; } | { grep -v "^WARNING: Location '" || true; }; }
python3 -m venv .venv
quiet .venv/bin/python -m pip install -q --upgrade pip
quiet .venv/bin/python -m pip install -q "torch==2.13.0"
quiet .venv/bin/python -m pip install -q -e ".[dev]"
echo "$want" > "$stamp"
echo "lessdata is installed in .venv (run .venv/bin/lessdata --help)"
