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
from pathlib import Path
from typing import Any

from _script_cli import ScriptError, ScriptParser, existing_dir, run


def read_times(root: Path) -> dict[str, float]:
    """variant → CPU minutes, from ``root/times.txt`` (``name seconds anything`` per line)."""
    path = root / "times.txt"
    if not path.is_file():
        raise ScriptError(f"{root} holds no times.txt: give the folder of the gap sweeps")
    times = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != 3:
                raise ValueError
            times[fields[0]] = float(fields[1]) / 60
        except ValueError:
            raise ScriptError(
                f"{path} line {number} is not 'name seconds tag': {line.strip()!r}"
            ) from None
    if not times:
        raise ScriptError(f"{path} lists no variant")
    return times


def read_verdict(root: Path, name: str) -> tuple[float, float]:
    """``(error at the last k on fresh tasks at M = inf, ridge's)`` of variant ``name``: from
    its sweep folder's ``verdict.json``, else from the committed copy ``root/<name>.json``."""
    path = root / name / "verdict.json"
    if not path.exists():
        path = root / f"{name}.json"
    if not path.is_file():
        raise ScriptError(f"no verdict for {name}: neither {root / name / 'verdict.json'} "
                          f"nor {path} exists")  # fmt: skip
    try:
        verdict: Any = json.loads(path.read_text())
        return float(verdict["fresh_error"]["inf"]), float(verdict["ridge_error"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ScriptError(
            f"{path} is not a sweep verdict (fresh_error.inf and ridge_error): {exc!r}"
        ) from None


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument(
        "root", nargs="?", type=existing_dir, default="runs/icl-gap",
        help="the folder of the variants' sweep folders and times.txt (default: runs/icl-gap)",
    )  # fmt: skip
    root = parser.parse_args().root
    rows = []
    for name, minutes in read_times(root).items():
        error, ridge = read_verdict(root, name)
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
    run(main, Path(__file__).name)
