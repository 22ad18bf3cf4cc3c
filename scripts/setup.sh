#!/usr/bin/env bash
# Create .venv and install lessdata with its test tools. Safe to re-run: a second run
# only checks what is already there. PyTorch is pinned to the CPU build first, so that no
# dependency can pull the CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "lessdata is installed in .venv (run .venv/bin/lessdata --help)"
