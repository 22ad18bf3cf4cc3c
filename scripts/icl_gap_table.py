"""The ICL optimisation-gap table: which training change brings M = ∞ closest to ridge per
CPU-minute (issue 16, step 1).

Reads the ``verdict.json`` of each variant's ``lessdata icl sweep --pool-sizes inf`` folder
under ``ROOT`` (``baseline``, ``curriculum``, ``wide``, ``cosine``, ``long``: the commands
are in ``runs/icl-gap/run.sh`` and ``run2.sh``, copied to ``docs/evidence/icl-gap/``) and the
wall times in ``ROOT/times.txt``; prints error/d at the last k on fresh tasks, its ratio to
ridge's, the CPU minutes, and the ratio gained over the baseline per extra CPU-minute.

``--shifts`` prints, instead, each variant's shift battery read relative to the model's own
unshifted error (``lessdata.labs.icl.shifts``), with the absolute errors and the earlier
flat rule beside it; ``--rewrite`` rewrites the committed verdict copies ``ROOT/<name>.json``
with the current rules, from the numbers they hold (their shifts and sentences; every
measured number is kept).

Usage::

    python scripts/icl_gap_table.py runs/icl-gap             # from the sweep folders
    python scripts/icl_gap_table.py docs/evidence/icl-gap    # from the committed copies
    python scripts/icl_gap_table.py docs/evidence/icl-gap --shifts
    python scripts/icl_gap_table.py docs/evidence/icl-gap --rewrite
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


def verdict_path(root: Path, name: str) -> Path:
    """Variant ``name``'s sweep folder's ``verdict.json``, else the committed copy
    ``root/<name>.json``."""
    path = root / name / "verdict.json"
    if not path.exists():
        path = root / f"{name}.json"
    if not path.is_file():
        raise ScriptError(f"no verdict for {name}: neither {root / name / 'verdict.json'} "
                          f"nor {path} exists")  # fmt: skip
    return path


def read_verdict(root: Path, name: str) -> tuple[float, float]:
    """``(error at the last k on fresh tasks at M = inf, ridge's)`` of variant ``name``."""
    path = verdict_path(root, name)
    try:
        verdict: Any = json.loads(path.read_text())
        return float(verdict["fresh_error"]["inf"]), float(verdict["ridge_error"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ScriptError(
            f"{path} is not a sweep verdict (fresh_error.inf and ridge_error): {exc!r}"
        ) from None


def _stored_verdict(root: Path, name: str) -> tuple[Path, Any]:
    """The verdict file of ``name`` and the verdict it holds, re-read by the current rules."""
    from lessdata.errors import LessdataError
    from lessdata.labs.icl.report import verdict_from_summary

    path = verdict_path(root, name)
    try:
        return path, verdict_from_summary(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, LessdataError) as exc:
        raise ScriptError(f"{path} is not a sweep verdict: {exc!r}") from None


def print_shifts(root: Path) -> None:
    """Each variant's shift battery: absolute errors, own ratio, verdict, the earlier rule."""
    print("| variant | shift | error/d (unshifted) | own ratio | ridge (its ratio) | threshold "
          "| verdict | earlier flat rule |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for name in read_times(root):
        _, verdict = _stored_verdict(root, name)
        for shift, r in verdict.shifts.items():
            print(f"| {name} | {shift} | {r.transformer:.4f} ({r.transformer_unshifted:.4f}) | "
                  f"{r.ratio_text()} | {r.ridge:.4f} (×{r.ridge_ratio:.2f}) | "
                  f"{r.threshold:.2f} | {r.verdict} | "
                  f"{'breaks' if r.breaks_vs_ridge else 'holds'} |")  # fmt: skip


def rewrite(root: Path) -> None:
    """Rewrite each committed copy ``root/<name>.json`` by the current verdict rules."""
    from lessdata.data.standard_json import dumps_standard
    from lessdata.labs.icl.report import verdict_summary

    for name in read_times(root):
        path, verdict = _stored_verdict(root, name)
        path.write_text(dumps_standard(verdict_summary(verdict), indent=1, default=str))
        print(f"rewrote {path}")


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument(
        "root", nargs="?", type=existing_dir, default="runs/icl-gap",
        help="the folder of the variants' sweep folders and times.txt (default: runs/icl-gap)",
    )  # fmt: skip
    parser.add_argument("--shifts", action="store_true",
                        help="print each variant's shift battery instead")  # fmt: skip
    parser.add_argument("--rewrite", action="store_true",
                        help="rewrite the verdict copies by the current rules")  # fmt: skip
    args = parser.parse_args()
    root = args.root
    if args.rewrite:
        rewrite(root)
        return
    if args.shifts:
        print_shifts(root)
        return
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
