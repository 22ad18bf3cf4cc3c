"""Question 3's evidence: which tenth of a Python pool trains a tiny code LM, paired by seed.

Reads the results store of the redesigned experiment (a token budget that sees the full
pool more than twice, DSIR beside random and a length-matched random control, 5 seeds)::

    lessdata scale code-lm --out STORE --budget tokens --fractions 0.1 --seeds 5 \
        --pool-docs 800 --tokens 2600000 \
        --selection random --selection dsir --selection dsir-lengths

and writes ``runs.jsonl`` (every finished run: selection, fraction, seed, held-out bits per
byte, documents and bytes kept, passes over them, the lessdata version and git commit) into
``--out``. :func:`table` builds the Markdown of the docs from that file alone: per selection
the mean held-out bits/byte with its 95% t-interval, and the paired per-seed differences
that answer the question (DSIR − random, DSIR − its length control, random − full pool),
Holm-corrected over those comparisons.

    .venv/bin/python scripts/code_lm_evidence.py --store STORE --out docs/evidence/code-lm-q3
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _script_cli import ScriptError, ScriptParser, existing_store, out_dir, run

#: (left, right) pairs whose per-seed difference answers the question
COMPARISONS = (("dsir", "random"), ("dsir", "dsir-lengths"), ("random", "full"),
               ("dsir", "full"))  # fmt: skip


def _interval(values: list[float]) -> tuple[float, float, float]:
    """Mean, 95% t half-width and two-sided p of a zero mean (NaN below two values)."""
    from scipy.stats import t

    arr = np.asarray(values, dtype=np.float64)
    if len(arr) < 2:
        return float(arr.mean()) if len(arr) else math.nan, math.nan, math.nan
    se = arr.std(ddof=1) / math.sqrt(len(arr))
    half = float(t.ppf(0.975, len(arr) - 1) * se)
    p = float(2 * t.sf(abs(arr.mean()) / se, len(arr) - 1)) if se > 0 else 0.0
    return float(arr.mean()), half, p


def table(runs: list[dict]) -> str:
    """The Markdown table and paired comparisons, from the runs alone."""
    from lessdata.labs.scaling.paired import holm

    loss: dict[tuple[str, float], dict[int, float]] = defaultdict(dict)
    for r in runs:
        loss[(r["selection"], float(r["fraction"]))][r["seed"]] = r["loss"]
    seeds = sorted({r["seed"] for r in runs})
    full = loss.get(("full", 1.0), {})
    passes = {r["selection"]: r["passes"] for r in runs if r["selection"] == "full"}
    lines = [f"Held-out Python bits per byte (lower is better), {len(seeds)} seeds, mean "
             "[95% t-interval]; each run trains the same tiny LM for the same tokens "
             f"(the full pool is seen {passes.get('full', math.nan):.1f} times).", "",
             "| selection | kept | documents | bits/byte |", "|---|---:|---:|---|"]  # fmt: skip
    for (selection, fraction), per in sorted(loss.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        mean, half, _ = _interval(list(per.values()))
        docs = np.mean([r["n_kept"] for r in runs if r["selection"] == selection
                        and float(r["fraction"]) == fraction])  # fmt: skip
        lines.append(f"| {selection} | {fraction:.0%} of the bytes | {docs:,.0f} | "
                     f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}] |")  # fmt: skip
    fractions = sorted({f for (_, f) in loss if f < 1})
    rows, ps = [], []
    for fraction in fractions:
        for left, right in COMPARISONS:
            a = loss.get((left, fraction), {})
            b = full if right == "full" else loss.get((right, fraction), {})
            common = sorted(set(a) & set(b))
            if not common:
                continue
            mean, half, p = _interval([a[s] - b[s] for s in common])
            rows.append((fraction, left, right, mean, half, p, len(common)))
            ps.append(p if not math.isnan(p) else 1.0)
    adjusted = holm(ps) if ps else []
    lines += ["", f"Paired per-seed differences (bits/byte; negative: the left one is better), "
              f"Holm-corrected over the {len(rows)} comparisons:", "",
              "| kept | comparison | difference [95% t-interval] | seeds | Holm p |",
              "|---:|---|---|---:|---:|"]  # fmt: skip
    for (fraction, left, right, mean, half, _, n), p in zip(rows, adjusted, strict=True):
        lines.append(f"| {fraction:.0%} | {left} − {right} | {mean:+.3f} [{mean - half:+.3f}, "
                     f"{mean + half:+.3f}] | {n} | {p:.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument("--store", type=existing_store, required=True,
                        help="the code-LM results store of the command above")  # fmt: skip
    parser.add_argument("--out", type=out_dir, required=True, help="folder for runs.jsonl")
    args = parser.parse_args()

    import lessdata
    from lessdata.labs.scaling.code_lm import TASK
    from lessdata.labs.scaling.store import FULL, ResultsStore

    with ResultsStore(args.store) as store:
        rows = [r for r in store.rows() if r["task"] == TASK and r["status"] == "ok"]
    if not rows:
        raise ScriptError(f"{args.store} holds no finished {TASK} runs")
    commit = _commit()
    runs = [{"selection": "full" if r["policy"] == FULL else r.get("selection") or r["policy"],
             "fraction": float(r["keep"]), "seed": r["seed"], "loss": r["loss"],
             "n_kept": r["n_kept"], "kept_bytes": r.get("kept_bytes"),
             "passes": r.get("epochs"), "steps": r.get("steps"),
             "lessdata": lessdata.__version__, "commit": commit} for r in rows]  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    print(table(runs))


if __name__ == "__main__":
    run(main, Path(__file__).name)
