"""Every policy on MNIST-1D against random, and calibrated auto, paired by seed with intervals.

Reads a results store written by (5 seeds; each seed seeds the scores, the selection and
the training)::

    lessdata scale run --task mnist1d --n-train 4000 --model cnn1d \
        --metric prototypes@ssl --metric forgetting \
        --policy random --policy keep-easy --policy keep-hard --policy moderate \
        --policy ccs --policy d2 --fractions 0.1,0.2,0.3,0.5,0.7,0.9 --seeds 5 \
        --steps 1000 --jobs 1 --store STORE

then, per metric and seed, runs ``lessdata.calibrate`` with its default settings on the same
training set: that seed's scores from the store, the proxy on that seed's SSL embedding of the
signals (``features``), D2's graph in the metric's own space, and the CNN's full run
(1,000 steps of 128, forward and backward) as ``full_run_flops``. Calibrated ``auto`` at a
fraction is the chosen policy's run of the same seed: the very subset ``prune --policy auto
--calibration`` keeps. Writes into ``--out``:

* ``runs.jsonl``: every finished run of the store (the raw evidence), one per line;
* ``calibrations.jsonl``: per metric and seed, the choice per fraction, its reason and the
  pilot's cost;
* ``table.md``: per metric · policy and fraction, mean accuracy and the paired difference to
  random with its 95% t-interval; calibrated auto beside the best fixed policy;
* ``policies.png``.

``--tables-only`` rebuilds ``table.md`` from ``runs.jsonl`` and ``calibrations.jsonl`` alone
(what the docs' test does).

    .venv/bin/python scripts/policy_evidence.py --store STORE --out docs/evidence/mnist1d-4k
    .venv/bin/python scripts/policy_evidence.py --tables-only --out docs/evidence/mnist1d-4k
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

POLICIES = ("keep-easy", "keep-hard", "moderate", "ccs", "d2")
STEPS, BATCH = 1000, 128  # the lab's full run: 1,000 AdamW steps of 128 examples


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[float, float, int]:
    """Mean of ``a − b`` over the seeds both hold (points), its 95% t half-width, n."""
    from scipy.stats import t

    seeds = sorted(set(a) & set(b))
    diff = np.array([100 * (a[s] - b[s]) for s in seeds])
    if len(diff) < 2:
        return float(diff.mean()) if len(diff) else math.nan, math.nan, len(diff)
    half = float(t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff)))
    return float(diff.mean()), half, len(diff)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_evidence(folder: Path) -> tuple[list[dict], list[dict]]:
    """The runs and calibrations written into ``folder``."""
    try:
        runs = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
        cals = [json.loads(line) for line in
                (folder / "calibrations.jsonl").read_text().splitlines()]  # fmt: skip
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{folder}: cannot read the evidence ({exc})") from None
    return runs, cals


def accuracies(runs: list[dict]) -> tuple[dict, list[float]]:
    """``{(metric, policy, keep): {seed: accuracy}}`` and the full-data accuracies."""
    acc: dict[tuple[str, str, float], dict[int, float]] = defaultdict(dict)
    full = []
    for r in runs:
        if r["policy"] == "full":
            full.append(r["accuracy"])
        else:
            acc[(r["metric"], r["policy"], float(r["keep"]))][r["seed"]] = r["accuracy"]
    return acc, full


def auto_accuracy(acc: dict, cals: list[dict], metric: str, fraction: float) -> tuple[
        dict[int, float], dict[str, int]]:  # fmt: skip
    """Calibrated auto's accuracy per seed at ``fraction`` and how often each policy was
    chosen: the chosen policy's run of the same seed."""
    per, picks = {}, defaultdict(int)
    for cal in cals:
        if cal["metric"] != metric:
            continue
        chosen = cal["choices"][f"{fraction:g}"]
        picks[chosen] += 1
        key = ("-", "random", fraction) if chosen == "random" else (metric, chosen, fraction)
        if cal["seed"] in acc.get(key, {}):
            per[cal["seed"]] = acc[key][cal["seed"]]
    return per, dict(picks)


def _cell(values: dict[int, float], base: dict[int, float]) -> str:
    if not values:
        return "–"
    mean, half, _ = paired(values, base)
    return f"{100 * np.mean(list(values.values())):.1f} ({mean:+.1f} ± {half:.1f})"


def tables(runs: list[dict], cals: list[dict]) -> str:
    """The Markdown of ``table.md``: everything from the raw runs and calibrations."""
    acc, full = accuracies(runs)
    fractions = sorted({k for _, _, k in acc})
    metrics = sorted({m for m, _, _ in acc if m != "-"})
    seeds = sorted({r["seed"] for r in runs})
    n_train = runs[0]["n_train"]
    lines = [f"MNIST-1D, {n_train:,} training examples, 1-D CNN, {STEPS:,} steps of {BATCH}, "
             f"seeds {seeds}; full data {100 * np.mean(full):.1f}% (sd "
             f"{100 * np.std(full, ddof=1):.1f}). Cells: mean test accuracy % (paired "
             "difference to random in points ± the half-width of its 95% t-interval over "
             "seeds).", "",
             "| metric · policy | " + " | ".join(f"{f:.0%}" for f in fractions) + " |",
             "|---|" + "---:|" * len(fractions)]  # fmt: skip
    random = {f: acc[("-", "random", f)] for f in fractions}
    lines.append("| random | " + " | ".join(
        f"{100 * np.mean(list(random[f].values())):.1f}" for f in fractions) + " |")
    for metric in metrics:
        for policy in POLICIES:
            if any((metric, policy, f) in acc for f in fractions):
                lines.append(f"| {metric} · {policy} | " + " | ".join(
                    _cell(acc.get((metric, policy, f), {}), random[f]) for f in fractions
                ) + " |")  # fmt: skip
        autos = [auto_accuracy(acc, cals, metric, f) for f in fractions]
        lines.append(f"| {metric} · **auto (calibrated)** | " + " | ".join(
            _cell(per, random[f]) for (per, _), f in zip(autos, fractions, strict=True)) + " |")
        lines.append("| ↳ choices over seeds | " + " | ".join(
            ", ".join(f"{p} {k}" for p, k in sorted(picks.items())) for _, picks in autos
        ) + " |")  # fmt: skip
    lines += ["", holm_summary(runs), "", auto_table(runs, cals)]
    shares = [c["pilot_share"] for c in cals]
    if shares:
        low, high = f"{100 * min(shares):.1f}", f"{100 * max(shares):.1f}"
        lines += ["", f"Pilot cost: {low if low == high else f'{low}–{high}'}% of one "
                  "full CNN training run (counted operations, proxy = logistic regression on "
                  "the SSL embedding)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def holm_summary(runs: list[dict]) -> str:
    """Which cells beat (or lose to) random after Holm's correction over the whole table
    (paired t-tests, :func:`lessdata.labs.scaling.paired.paired_cells`)."""
    from lessdata.labs.scaling.paired import paired_cells

    cells = [c for c in paired_cells(runs) if c.baseline == "random"]
    wins = [c for c in cells if c.verdict == "beats random"]
    losses = [c for c in cells if c.verdict == "worse than random"]
    family = cells[0].family_size if cells else 0
    won = "; ".join(f"{c.label} at {c.fraction:.0%} ({100 * c.stat.mean:+.1f} "
                    f"[{100 * c.stat.low:+.1f}, {100 * c.stat.high:+.1f}], Holm p "
                    f"{c.p_holm:.3f})" for c in wins) or "none"  # fmt: skip
    return (f"After Holm's correction over the table's {family} cells (paired t-tests against "
            f"random): beat random: {won}; lose to random: {len(losses)} cells.")


def auto_table(runs: list[dict], cals: list[dict]) -> str:
    """Calibrated auto next to the best fixed policy, per metric and fraction: paired
    differences to random with their 95% intervals, and what auto chose."""
    acc, _ = accuracies(runs)
    fractions = sorted({k for _, _, k in acc})
    metrics = sorted({m for m, _, _ in acc if m != "-"})
    random = {f: acc[("-", "random", f)] for f in fractions}
    lines = ["Calibrated auto next to the best fixed policy (the policy with the highest mean "
             "in that cell, chosen after the fact from the table's five: not corrected for the "
             "choice). Differences to random in points, paired by seed, ± the half-width of "
             "the 95% t-interval.", "",
             "| metric | kept | auto chose | auto − random | best fixed policy − random |",
             "|---|---:|---|---:|---|"]  # fmt: skip
    for metric in metrics:
        for f in fractions:
            per, picks = auto_accuracy(acc, cals, metric, f)
            mean, half, n = paired(per, random[f])
            cells = [(p, acc[(metric, p, f)]) for p in POLICIES if (metric, p, f) in acc]
            best, values = max(cells, key=lambda kv: np.mean(list(kv[1].values())))
            b_mean, b_half, _ = paired(values, random[f])
            chose = ", ".join(f"{p} {k}" for p, k in sorted(picks.items()))
            lines.append(f"| {metric} | {f:.0%} | {chose} | {mean:+.2f} ± {half:.2f} (n={n}) | "
                         f"{best} {b_mean:+.2f} ± {b_half:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def cnn_full_run_flops(n_classes: int, length: int) -> float:
    """Operations of the lab's full run: the 1-D CNN (width 64), forward and backward
    (3 × the forward, counted by torch), 1,000 steps of 128 examples."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lessdata.train.models import make_model

    model = make_model("cnn1d", (length,), n_classes, 64)
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, length))
    return 3.0 * counter.get_total_flops() * STEPS * BATCH


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument("--store", type=existing_store,
                        help="the scaling-lab results store of the sweep above")  # fmt: skip
    parser.add_argument("--out", type=out_dir, required=True,
                        help="folder for the evidence, the table and the figure")  # fmt: skip
    parser.add_argument("--tables-only", action="store_true",
                        help="rebuild table.md from the evidence already in --out")  # fmt: skip
    args = parser.parse_args()
    if args.tables_only:
        runs, cals = read_evidence(args.out)
        (args.out / "table.md").write_text(tables(runs, cals))
        print(tables(runs, cals))
        return
    if args.store is None:
        raise ScriptError("--store is needed unless --tables-only")

    import lessdata
    from lessdata.labs.scaling.store import ResultsStore
    from lessdata.labs.scaling.sweep import split_metric, ssl_embedding
    from lessdata.labs.scaling.tasks import load_task

    with ResultsStore(args.store) as store:
        rows = [r for r in store.rows() if r["status"] == "ok"]
    if not rows:
        raise ScriptError(f"{args.store} holds no finished runs")
    commit = _commit()
    fields = ("metric", "policy", "keep", "seed", "accuracy", "error", "n_kept", "n_train",
              "model", "width", "steps", "status")
    runs = [{k: r[k] for k in fields} | {"commit": commit, "lessdata": lessdata.__version__}
            for r in rows]  # fmt: skip
    n_train = runs[0]["n_train"]
    task = load_task("mnist1d", n_train=n_train, seed=0)
    flops = cnn_full_run_flops(len(np.unique(task.y_train)), task.x_train.shape[1])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    cals = []
    metrics = sorted({r["metric"] for r in runs if r["metric"] != "-"})
    seeds = sorted({r["seed"] for r in runs})
    fractions = sorted({float(r["keep"]) for r in runs if r["policy"] != "full"})
    for metric in metrics:
        _base, in_ssl = split_metric(metric)
        for seed in seeds:
            features = ssl_embedding(task, seed)
            x = features if in_ssl else task.x_train
            result = lessdata.calibrate(x, labels=task.y_train,
                                        scores=_scores(args.store, metric, seed), metric=metric,
                                        features=features, fractions=fractions, seed=seed,
                                        full_run_flops=flops, quiet=True)  # fmt: skip
            cals.append({"metric": metric, "seed": seed,
                         "choices": {f"{f:g}": p for f, p in result.choices.items()},
                         "reasons": {f"{r['fraction']:g}": r["reason"]
                                     for r in result.record["fractions"]},
                         "pilot_share": result.record["cost"]["pilot_share_of_full_run"],
                         "full_run_flops": flops, "commit": commit,
                         "lessdata": lessdata.__version__})  # fmt: skip
            print(f"{metric} seed {seed}: {cals[-1]['choices']}", flush=True)
    (args.out / "calibrations.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cals))
    text = tables(runs, cals)
    (args.out / "table.md").write_text(text)
    _figure(runs, cals, args.out / "policies.png")
    print(text)


def _scores(store: Path, metric: str, seed: int) -> np.ndarray:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in metric)
    found = sorted((store / "scores").glob(f"{safe}-seed{seed}-*.npy"))
    if len(found) != 1:
        raise ScriptError(f"expected one seed-{seed} score file for {metric}, found {found}")
    return np.load(found[0])


def _figure(runs: list[dict], cals: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    acc, full = accuracies(runs)
    fractions = sorted({k for _, _, k in acc})
    metrics = sorted({m for m, _, _ in acc if m != "-"})
    figure = Figure(figsize=(4.4 * len(metrics), 3.6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False).ravel()
    colours = {"keep-easy": "#2ca02c", "keep-hard": "#d62728", "moderate": "#8c564b",
               "ccs": "#1f77b4", "d2": "#9467bd"}  # fmt: skip
    rnd = [100 * np.mean(list(acc[("-", "random", f)].values())) for f in fractions]
    for ax, metric in zip(axes, metrics, strict=True):
        ax.plot(fractions, rnd, "k--", label="random", lw=1.5)
        for policy, colour in colours.items():
            ys = [100 * np.mean(list(acc.get((metric, policy, f), {}).values()) or [math.nan])
                  for f in fractions]  # fmt: skip
            ax.plot(fractions, ys, "o-", color=colour, label=policy, ms=3, lw=1)
        auto = [100 * np.mean(list(auto_accuracy(acc, cals, metric, f)[0].values()))
                for f in fractions]  # fmt: skip
        ax.plot(fractions, auto, "s-", color="#ff7f0e", label="auto (calibrated)", lw=2.5,
                alpha=0.6)  # fmt: skip
        ax.axhline(100 * np.mean(full), color="#888", lw=0.8, ls=":")
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("kept fraction")
        ax.set_ylim(max(0, min(rnd) - 35), 100 * np.mean(full) + 4)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=7, loc="lower right")
    figure.savefig(path)


if __name__ == "__main__":
    run(main, Path(__file__).name)
