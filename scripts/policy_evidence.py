"""Issue 13's evidence: every policy on MNIST-1D, uncalibrated and calibrated auto included.

Reads a results store written by::

    lessdata scale run --task mnist1d --n-train 4000 --model cnn1d \
        --metric prototypes --metric prototypes@ssl --metric forgetting --metric el2n \
        --policy random --policy keep-easy --policy keep-hard --policy moderate \
        --policy ccs --policy d2 --fractions 0.1,0.2,0.3,0.5,0.7,0.9 --seeds 3 \
        --steps 1000 --jobs 2 --store STORE

then, per metric, runs ``lessdata.calibrate`` on the same training set (the metric's seed-0
scores from the store; the proxy sees the SSL embedding of the signals (``features``), D2's
graph the metric's own space; the full-run cost is the store's mean full-data training time) and
reads off what calibrated ``auto`` keeps at each fraction: the chosen policy's runs, which
are the very subsets ``prune --policy auto --calibration`` selects for the same seed.
Uncalibrated ``auto`` is read the same way (keep-hard at >= 0.9 kept, random below).
Writes a Markdown table, a figure and the calibrations into ``--out``.

    .venv/bin/python scripts/policy_evidence.py --store STORE --out docs/evidence/mnist1d-4k
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from _script_cli import ScriptError, ScriptParser, existing_store, out_dir, positive_int, run

POLICIES = ("keep-easy", "keep-hard", "moderate", "ccs", "d2")
CANDIDATES = ("keep-easy", "keep-hard", "random", "ccs", "d2", "moderate")


def _stats(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _scores(store: Path, metric: str) -> np.ndarray:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in metric)
    found = sorted((store / "scores").glob(f"{safe}-seed0-*.npy"))
    if len(found) != 1:
        raise ScriptError(f"expected one seed-0 score file for {metric} in {store / 'scores'}, "
                          f"found {len(found)}")  # fmt: skip
    return np.load(found[0])


def _share(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument("--store", type=existing_store, required=True,
                        help="the scaling-lab results store of the sweep above")  # fmt: skip
    parser.add_argument("--out", type=out_dir, required=True,
                        help="folder for the table, summary, figure and calibrations")  # fmt: skip
    parser.add_argument("--calibration-seeds", type=positive_int, default=3,
                        help="seeds of each calibration (lessdata.calibrate's seeds)")  # fmt: skip
    parser.add_argument("--pool-share", type=_share, default=0.5,
                        help="lessdata.calibrate's pool_share, in (0, 1)")  # fmt: skip
    args = parser.parse_args()

    import lessdata
    from lessdata.labs.scaling.store import ResultsStore
    from lessdata.labs.scaling.sweep import split_metric, ssl_embedding
    from lessdata.labs.scaling.tasks import load_task
    from lessdata.select import auto_policy_name

    with ResultsStore(args.store) as store:
        rows = [r for r in store.rows() if r["status"] == "ok"]
    if not rows:
        raise ScriptError(f"{args.store} holds no finished runs")
    per_seed: dict[int, int] = defaultdict(int)
    for r in rows:
        per_seed[r["seed"]] += 1
    complete = {s for s, count in per_seed.items() if count == max(per_seed.values())}
    rows = [r for r in rows if r["seed"] in complete]  # a sweep still running: whole seeds
    n_train = rows[0]["n_train"]
    acc: dict[tuple[str, str, float], dict[int, float]] = defaultdict(dict)
    full = []
    for r in rows:
        if r["policy"] == "full":
            full.append((r["accuracy"], r["train_seconds"]))
            continue
        acc[(r["metric"], r["policy"], float(r["keep"]))][r["seed"]] = r["accuracy"]
    fractions = sorted({k for _, _, k in acc})
    metrics = sorted({m for m, _, _ in acc if m != "-"})
    seeds = sorted({s for per in acc.values() for s in per})
    full_acc = _stats([a for a, _ in full])
    full_seconds = float(np.mean([t for _, t in full]))
    task = load_task("mnist1d", n_train=n_train, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)

    calibrated: dict[str, dict[float, str]] = {}
    costs = {}
    features = ssl_embedding(task, 0)  # what the proxy sees, whatever the metric
    for metric in metrics:
        _base, in_ssl = split_metric(metric)
        x = features if in_ssl else task.x_train
        result = lessdata.calibrate(
            x, labels=task.y_train, scores=_scores(args.store, metric), metric=metric,
            features=features,
            policies=CANDIDATES, fractions=fractions, seeds=args.calibration_seeds,
            pool_share=args.pool_share,
            full_run_seconds=full_seconds, quiet=True,
        )  # fmt: skip
        (args.out / f"calibration-{metric.replace('@', '-')}.json").write_text(
            json.dumps(result.record, indent=1) + "\n"
        )
        calibrated[metric] = result.choices
        costs[metric] = result.record["cost"]["share"]

    def line(label: str, per_fraction: dict[float, list[float]]) -> str:
        cells = []
        for f in fractions:
            values = per_fraction.get(f)
            if not values or len(values) < len(seeds):
                cells.append("–")
                continue
            mean, _sd = _stats(values)
            rnd = _stats(list(acc[("-", "random", f)].values()))[0]
            cells.append(f"{100 * mean:.1f} ({100 * (mean - rnd):+.1f})")
        return f"| {label} | " + " | ".join(cells) + " |"

    header = "| metric · policy | " + " | ".join(f"{f:.0%}" for f in fractions) + " |"
    lines = [header, "|---|" + "---:|" * len(fractions)]
    lines.append(line("random", {f: list(acc[("-", "random", f)].values()) for f in fractions}))
    for metric in metrics:
        for policy in POLICIES:
            per = {f: list(acc[(metric, policy, f)].values()) for f in fractions}
            lines.append(line(f"{metric} · {policy}", per))
        auto_rows = {}
        for f in fractions:
            chosen = auto_policy_name(f)
            key = ("-", "random", f) if chosen == "random" else (metric, chosen, f)
            auto_rows[f] = list(acc[key].values())
        lines.append(line(f"{metric} · **auto** (uncalibrated)", auto_rows))
        cal_rows, picks = {}, []
        for f in fractions:
            chosen = calibrated[metric][f]
            picks.append(chosen)
            key = ("-", "random", f) if chosen == "random" else (metric, chosen, f)
            cal_rows[f] = list(acc[key].values())
        lines.append(line(f"{metric} · **auto (calibrated)**", cal_rows))
        lines.append("| ↳ calibrated choice | " + " | ".join(picks) + " |")
    table = "\n".join(lines)

    # the best policy at each fraction, and where full-data accuracy is reached
    best_lines = []
    for f in fractions:
        rnd = _stats(list(acc[("-", "random", f)].values()))[0]
        candidates = [(k, _stats(list(v.values()))) for k, v in acc.items()
                      if k[2] == f and k[0] != "-" and len(v) == len(seeds)]  # fmt: skip
        if not candidates:  # a sweep still running
            continue
        (metric, policy, _), (mean, sd) = max(candidates, key=lambda kv: kv[1][0])
        best_lines.append(f"| {f:.0%} | {metric} · {policy} | {100 * mean:.1f} ± {100 * sd:.1f} "
                          f"| {100 * rnd:.1f} | {100 * (mean - rnd):+.1f} |")  # fmt: skip
    reach = []
    for (metric, policy, f), per in sorted(acc.items(), key=lambda kv: kv[0][2]):
        if len(per) == len(seeds) and _stats(list(per.values()))[0] >= full_acc[0] - 0.005:
            reach.append((f, metric, policy, _stats(list(per.values()))[0]))
    summary = {
        "n_train": n_train, "seeds": seeds, "full_accuracy": full_acc,
        "full_run_seconds": full_seconds, "calibrated": {m: {str(k): v for k, v in c.items()}
                                                         for m, c in calibrated.items()},
        "pilot_cost_share": costs, "within_half_point_of_full": reach[:8],
    }  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    text = (
        f"MNIST-1D, {n_train:,} training examples, 1-D CNN, 1,000 steps, seeds {seeds}; "
        f"full data {100 * full_acc[0]:.1f}% ± {100 * full_acc[1]:.1f}. Cells: mean test "
        f"accuracy % (gain over random, points).\n\n{table}\n\n"
        "| kept | best metric · policy | accuracy | random | gain |\n|---:|---|---:|---:|---:|\n"
        + "\n".join(best_lines) + "\n\nWithin 0.5 points of full data: "
        + (", ".join(f"{m} · {p} at {f:.0%} ({100 * a:.1f})" for f, m, p, a in reach[:5])
           or "none") + "\n\nPilot cost (share of one full run): "
        + ", ".join(f"{m} {c:.1%}" for m, c in costs.items()) + "\n"
    )  # fmt: skip
    (args.out / "table.md").write_text(text)
    _figure(acc, fractions, metrics, calibrated, full_acc[0], args.out / "policies.png")
    print(text)


def _figure(acc, fractions, metrics, calibrated, full, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(len(metrics), 4)
    figure = Figure(figsize=(4.2 * columns, 3.6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, columns, squeeze=False).ravel()
    colours = {"keep-easy": "#2ca02c", "keep-hard": "#d62728", "moderate": "#8c564b",
               "ccs": "#1f77b4", "d2": "#9467bd"}  # fmt: skip
    rnd = [100 * np.mean(list(acc[("-", "random", f)].values())) for f in fractions]
    for ax, metric in zip(axes, metrics, strict=False):
        ax.plot(fractions, rnd, "k--", label="random", lw=1.5)
        for policy, colour in colours.items():
            ys = [100 * np.mean(list(acc[(metric, policy, f)].values()) or [math.nan])
                  for f in fractions]  # fmt: skip
            ax.plot(fractions, ys, "o-", color=colour, label=policy, ms=3, lw=1)
        cal = []
        for f in fractions:
            chosen = calibrated[metric][f]
            key = ("-", "random", f) if chosen == "random" else (metric, chosen, f)
            cal.append(100 * np.mean(list(acc[key].values())))
        ax.plot(fractions, cal, "s-", color="#ff7f0e", label="auto (calibrated)", lw=2.5,
                alpha=0.6)  # fmt: skip
        ax.axhline(100 * full, color="#888", lw=0.8, ls=":")
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("kept fraction")
        ax.set_ylim(max(0, min(rnd) - 35), 100 * full + 4)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=7, loc="lower right")
    figure.savefig(path)


if __name__ == "__main__":
    run(main, Path(__file__).name)
