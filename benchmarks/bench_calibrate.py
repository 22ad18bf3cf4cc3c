"""Does calibrated ``auto`` make the theory's choice? Teacher–student data, default settings.

Sorscher et al. (2022): with a good metric, keep the *easy* examples when data are scarce
(few examples per dimension, α = N/d small) and the *hard* ones when abundant. This benchmark
generates that setting (x ~ N(0, I_d), labels by a random teacher perceptron, the perfect
metric: score = −|teacher margin|, higher = harder), runs ``lessdata.calibrate`` with its
default settings on each dataset, and trains an **independent learner** on what each policy
keeps: scikit-learn's ``LogisticRegression()`` (the default, C = 1), scored on 10,000 fresh
test points; a near-max-margin learner (the same with C = 10⁴, the theory's student) is
reported beside it. Per dataset (α) and kept fraction, over data seeds:

* random, keep-easy, keep-hard, CCS, D2 and calibrated ``auto``: test accuracy;
* ``auto − random`` and ``keep-easy − random`` paired by seed, mean with a 95% t-interval;
* the share of keep-easy's gain that ``auto`` recovers at 10–30% kept (small α), and how
  often ``auto`` picks keep-hard or D2 at 10% (large α);
* the pilot's counted cost as a share of the reference full run.

Every (α, seed) is one line of ``--out`` (JSON Lines, with the lessdata version and git
commit); a rerun skips the lines already there, so a killed run resumes. ``--table`` prints
the Markdown table from that file (docs/calibration.md is generated from it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_calibrate.py \
        --out docs/evidence/calibrate/teacher_student.jsonl
    .venv/bin/python benchmarks/bench_calibrate.py --table \
        --out docs/evidence/calibrate/teacher_student.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
POLICIES = ("random", "keep-easy", "keep-hard", "ccs", "d2")
#: (rows, dimensions): α = 2, 4, 6 (scarce) and 200, 400 (abundant); 5,000 × 100 in between
SETTINGS = ((200, 100), (400, 100), (600, 100), (5000, 100), (10000, 50), (20000, 50))
TEST_ROWS = 10_000


def teacher_student(n: int, d: int, seed: int) -> tuple[np.ndarray, ...]:
    """Training inputs, labels and perfect-metric scores; fresh test inputs and labels."""
    rng = np.random.default_rng([seed, n, d])
    teacher = rng.standard_normal(d)
    teacher /= np.linalg.norm(teacher)
    x = rng.standard_normal((n, d)).astype(np.float32)
    margin = x @ teacher
    test = rng.standard_normal((TEST_ROWS, d)).astype(np.float32)
    return x, (margin > 0).astype(np.int64), -np.abs(margin), test, (test @ teacher > 0
                                                                      ).astype(np.int64)


def accuracy(x, y, rows, test, test_y, c: float) -> float:
    """Test accuracy (percent) of logistic regression with inverse regularisation ``c``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y[rows])) < 2:
        return 100.0 * float(np.mean(test_y == y[rows][0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=c, max_iter=5000).fit(x[rows], y[rows])
    return 100.0 * float(model.score(test, test_y))


def one_run(n: int, d: int, seed: int, proxy: str = "logistic") -> dict:
    """Calibrate on one dataset with the defaults (but ``proxy``), then score every policy
    and auto."""
    import lessdata
    from lessdata.select import select

    x, y, scores, test, test_y = teacher_student(n, d, seed)
    cal = lessdata.calibrate(x, labels=y, scores=scores, metric="margin", seed=seed,
                             proxy=proxy, quiet=True)  # fmt: skip
    cells = {}
    for fraction in FRACTIONS:
        chosen = cal.choices[fraction]
        cell = {"auto_policy": chosen}
        for policy in POLICIES:
            rows = select(scores, fraction, policy=policy, seed=seed,
                          vectors=x if policy == "d2" else None)  # fmt: skip
            cell[policy] = accuracy(x, y, rows, test, test_y, 1.0)
            cell[f"{policy}@maxmargin"] = accuracy(x, y, rows, test, test_y, 1e4)
        cell["auto"] = cell[chosen]
        cell["auto@maxmargin"] = cell[f"{chosen}@maxmargin"]
        cells[f"{fraction:g}"] = cell
    return {"rows": n, "dim": d, "alpha": n / d, "seed": seed, "cells": cells,
            "pilot_share": cal.record["cost"]["pilot_share_of_full_run"],
            "pilot_seeds": cal.record["plan"]["seeds"],
            "pool_sizes": cal.record["plan"]["pool_sizes"], "proxy": proxy,
            "lessdata": lessdata.__version__, "commit": _commit()}  # fmt: skip


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval."""
    from scipy.stats import t

    arr = np.asarray(values, dtype=np.float64)
    if len(arr) < 2:
        return float(arr.mean()), math.nan
    return float(arr.mean()), float(t.ppf(0.975, len(arr) - 1) * arr.std(ddof=1)
                                    / math.sqrt(len(arr)))  # fmt: skip


def table(lines: list[dict], learner: str = "") -> str:
    """The Markdown table: per α and fraction, accuracies and paired differences."""
    suffix = f"@{learner}" if learner else ""
    out = ["| α (N × d) | kept | random | keep-easy | keep-hard | auto (choices) | "
           "auto − random | keep-easy − random | best fixed − random |",
           "|---|---:|---:|---:|---:|---|---:|---:|---:|"]  # fmt: skip
    for n, d in SETTINGS:
        runs = [r for r in lines if (r["rows"], r["dim"]) == (n, d)]
        if not runs:
            continue
        for fraction in FRACTIONS:
            key = f"{fraction:g}"
            cells = [r["cells"][key] for r in runs]

            def mean(p: str, cells=cells) -> float:
                return float(np.mean([c[p + suffix] for c in cells]))

            choices = {}
            for c in cells:
                choices[c["auto_policy"]] = choices.get(c["auto_policy"], 0) + 1
            auto_gap = interval([c["auto" + suffix] - c["random" + suffix] for c in cells])
            easy_gap = interval([c["keep-easy" + suffix] - c["random" + suffix] for c in cells])
            best = max(POLICIES, key=mean)
            best_gap = interval([c[best + suffix] - c["random" + suffix] for c in cells])
            out.append(
                f"| {n / d:g} ({n:,} × {d}) | {fraction:.0%} | {mean('random'):.1f} | "
                f"{mean('keep-easy'):.1f} | {mean('keep-hard'):.1f} | {mean('auto'):.1f} ("
                + ", ".join(f"{p} {k}" for p, k in sorted(choices.items())) + ") | "
                f"{auto_gap[0]:+.1f} ± {auto_gap[1]:.1f} | {easy_gap[0]:+.1f} ± {easy_gap[1]:.1f}"
                f" | {best} {best_gap[0]:+.1f} ± {best_gap[1]:.1f} |"
            )
    return "\n".join(out)


def verdicts(lines: list[dict]) -> list[str]:
    """The issue's three goals, each with its measured figure."""
    said = []
    worst = min(
        (float(np.mean([r["cells"][f"{f:g}"]["auto"] - r["cells"][f"{f:g}"]["random"]
                        for r in lines if (r["rows"], r["dim"]) == s])), s, f)
        for s in SETTINGS for f in FRACTIONS
        if any((r["rows"], r["dim"]) == s for r in lines)
    )  # fmt: skip
    said.append(f"worst cell, auto − random (mean over seeds): {worst[0]:+.2f} points at α = "
                f"{worst[1][0] / worst[1][1]:g}, {worst[2]:.0%} kept (goal ≥ −0.5)")
    for n, d in SETTINGS:
        runs = [r for r in lines if (r["rows"], r["dim"]) == (n, d)]
        if not runs or n / d > 10:
            continue
        auto = sum(r["cells"][f"{f:g}"]["auto"] - r["cells"][f"{f:g}"]["random"]
                   for r in runs for f in (0.1, 0.2, 0.3))  # fmt: skip
        easy = sum(r["cells"][f"{f:g}"]["keep-easy"] - r["cells"][f"{f:g}"]["random"]
                   for r in runs for f in (0.1, 0.2, 0.3))  # fmt: skip
        said.append(f"α = {n / d:g}: auto recovers {auto / easy:.0%} of keep-easy's gain at "
                    f"10–30% kept over {len(runs)} seeds (goal ≥ 50%)")
    for n, d in SETTINGS:
        runs = [r for r in lines if (r["rows"], r["dim"]) == (n, d)]
        if not runs or n / d < 200:
            continue
        hard = sum(r["cells"]["0.1"]["auto_policy"] in ("keep-hard", "d2") for r in runs)
        said.append(f"α = {n / d:g}: auto picks keep-hard or D2 at 10% in {hard} of "
                    f"{len(runs)} seeds (goal: all)")
    shares = [r["pilot_share"] for r in lines]
    said.append(f"pilot cost: {min(shares):.2f}–{max(shares):.2f} of the reference full run")
    return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON Lines file")
    parser.add_argument("--seeds", type=int, default=5, help="data seeds per setting")
    parser.add_argument("--table", action="store_true", help="only print the tables")
    parser.add_argument("--proxy", default="logistic", choices=("logistic", "ridge", "mlp"),
                        help="calibrate's proxy (the default is logistic)")  # fmt: skip
    parser.add_argument("--max-alpha", type=float, default=math.inf,
                        help="run only the settings with N/d at most this")  # fmt: skip
    args = parser.parse_args()
    lines = []
    if args.out.exists():
        lines = [json.loads(line) for line in args.out.read_text().splitlines() if line]
    if not args.table:
        done = {(r["rows"], r["dim"], r["seed"]) for r in lines}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for n, d in SETTINGS:
            for seed in range(args.seeds):
                if (n, d, seed) in done or n / d > args.max_alpha:
                    continue
                line = one_run(n, d, seed, args.proxy)
                with args.out.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(line) + "\n")
                lines.append(line)
                cell = line["cells"]
                print(f"α={n / d:g} seed {seed}: " + ", ".join(
                    f"{f}: {c['auto_policy']} {c['auto'] - c['random']:+.1f}"
                    for f, c in cell.items()), flush=True)  # fmt: skip
    print(table(lines))
    print("\nnear-max-margin learner (C = 1e4):\n")
    print(table(lines, "maxmargin"))
    print()
    for line in verdicts(lines):
        print("-", line)


if __name__ == "__main__":
    sys.exit(main())
