"""The ICL optimisation-gap table: which training change brings M = ∞ closest to ridge per
CPU-minute (issue 16, step 1).

Reads the ``verdict.json`` of each variant's ``lessdata icl sweep --pool-sizes inf`` folder
under ``ROOT`` (``baseline``, ``curriculum``, ``wide``, ``cosine``, ``long``: the commands
are in ``runs/icl-gap/run.sh`` and ``run2.sh``, copied to ``docs/evidence/icl-gap/``) and the
wall times in ``ROOT/times.txt``; prints error/d at the last k on fresh tasks, its ratio to
ridge's, the CPU minutes, and the ratio gained over the baseline per extra CPU-minute.

Usage::

    python scripts/icl_gap_table.py runs/icl-gap             # from the sweep folders
    python scripts/icl_gap_table.py docs/evidence/icl-gap    # from the committed copies
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/icl-gap")
    times = {}
    for line in (root / "times.txt").read_text().splitlines():
        name, seconds, _ = line.split()
        times[name] = float(seconds) / 60
    rows = []
    for name, minutes in times.items():
        path = root / name / "verdict.json"  # a sweep folder, or the copies in docs/evidence
        verdict = json.loads((path if path.exists() else root / f"{name}.json").read_text())
        error, ridge = verdict["fresh_error"]["inf"], verdict["ridge_error"]
        rows.append((name, error, ridge, error / ridge, minutes))
    base = next((r for r in rows if r[0] == "baseline"), None)
    print(
        "| variant | error/d at k = 2d, fresh tasks | ridge | ratio | CPU min "
        "| ratio gained per extra CPU-min |\n|---|---|---|---|---|---|"
    )
    for name, error, ridge, ratio, minutes in rows:
        gain = ""
        if base is not None and name != "baseline":
            extra = minutes - base[4]
            gain = f"{(base[3] - ratio) / extra:+.3f}" if extra > 0.5 else "(no more time)"
        print(f"| {name} | {error:.4f} | {ridge:.4f} | {ratio:.2f}× | {minutes:.1f} | {gain} |")


if __name__ == "__main__":
    main()
