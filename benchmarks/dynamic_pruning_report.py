"""Tables, verdicts and the figure of ``bench_dynamic_pruning.py``, from its raw runs alone.

Every number here is computed from the JSON Lines evidence the benchmark appends (one line
per task, arm and seed): paired per-seed differences (points) with 95% t-intervals, the
loss-based arms against full data and against the random arm with the same per-epoch sizes,
and Holm's correction over the comparisons with random on a task (how many loss-based arms
were tried there). Needs NumPy and SciPy only (no torch), so ``scripts/docs_tables.py``
rebuilds the docs' tables quickly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: the arms in the order they are shown, with their labels
LABELS: dict[str, str] = {
    "full": "full data",
    "infobatch-r0.5": "InfoBatch, prune_ratio 0.5",
    "random-r0.5": "random, InfoBatch 0.5's sizes",
    "infobatch-r0.7": "InfoBatch, prune_ratio 0.7",
    "random-r0.7": "random, InfoBatch 0.7's sizes",
    "infobatch-s0.4": "InfoBatch, target_saving 0.4",
    "seta-s0.4": "SeTa, target_saving 0.4",
    "random-s0.4": "random, target_saving 0.4",
}
#: each loss-based arm → the random arm with the same per-epoch sizes (its control)
CONTROL: dict[str, str] = {
    "infobatch-r0.5": "random-r0.5",
    "infobatch-r0.7": "random-r0.7",
    "infobatch-s0.4": "random-s0.4",
    "seta-s0.4": "random-s0.4",
}
#: the issue's goal: at least this share of forwards saved ...
GOAL_SAVED = 0.40
#: ... at most this many points below full data ...
GOAL_LOSS = 0.3
#: ... and a lead over random whose (Holm-corrected) test rejects zero at this level
ALPHA = 0.05
#: what a task's "accuracy" is, for the table's caption
METRIC_NAME = {
    "mnist1d": "test accuracy (%) on the fixed 5,000 MNIST-1D test signals",
    "python-functions": "held-out next-byte accuracy (%) over 1,000 held-out functions",
}


def by_task(lines: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[int, dict]]]:
    """``{task: {arm: {seed: line}}}``, tasks in the order they first appear."""
    out: dict[str, dict[str, dict[int, dict]]] = {}
    for line in lines:
        out.setdefault(line["task"], defaultdict(dict))[line["arm"]][int(line["seed"])] = line
    return out


def paired(a: dict[int, dict], b: dict[int, dict], key: str = "accuracy",
           scale: float = 1.0) -> dict[str, float]:  # fmt: skip
    """``a − b`` of ``key`` over the seeds both hold: mean, 95% t half-width, two-sided
    paired-t p-value, and the number of seeds (NaN where fewer than two)."""
    from scipy.stats import t

    seeds = sorted(set(a) & set(b))
    diff = np.array([scale * (a[s][key] - b[s][key]) for s in seeds], dtype=np.float64)
    count = len(diff)
    if count < 2:
        mean = float(diff.mean()) if count else math.nan
        return {"mean": mean, "half": math.nan, "p": math.nan, "n": count}
    sd = float(diff.std(ddof=1))
    se = sd / math.sqrt(count)
    half = float(t.ppf(0.975, count - 1) * se)
    if se == 0:
        p = 1.0 if diff.mean() == 0 else 0.0
    else:
        p = float(2 * t.sf(abs(diff.mean()) / se, count - 1))
    return {"mean": float(diff.mean()), "half": half, "p": p, "n": count}


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (NaN stays NaN, not counted in the family)."""
    finite = sorted((p, name) for name, p in pvalues.items() if not math.isnan(p))
    adjusted: dict[str, float] = {name: math.nan for name in pvalues}
    running = 0.0
    for i, (p, name) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - i) * p))
        adjusted[name] = running
    return adjusted


def _num(value: float, digits: int = 2, sign: bool = True) -> str:
    if math.isnan(value):
        return "—"
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text.replace("-", "−")


def _diff(d: dict[str, float], digits: int = 2) -> str:
    if math.isnan(d["half"]):
        return _num(d["mean"], digits)
    return f"{_num(d['mean'], digits)} ± {_num(d['half'], digits, sign=False)}"


def _pvalue(p: float) -> str:
    if math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def summary(arms: dict[str, dict[int, dict]]) -> dict[str, dict[str, Any]]:
    """Per arm: seeds, accuracy mean and sd, saving, the differences to full and to its
    control, and the Holm-adjusted p of the lead over the control."""
    full = arms.get("full", {})
    out: dict[str, dict[str, Any]] = {}
    for arm in LABELS:
        runs = arms.get(arm)
        if not runs:
            continue
        acc = np.array([r["accuracy"] for r in runs.values()])
        row: dict[str, Any] = {
            "seeds": len(runs),
            "accuracy": float(acc.mean()),
            "sd": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan,
            "saved": float(np.mean([r["saved"] for r in runs.values()])),
            "vs_full": paired(runs, full) if arm != "full" else None,
            "vs_control": None,
        }
        if "tokens_saved" in next(iter(runs.values())):
            row["tokens_saved"] = float(np.mean([r["tokens_saved"] for r in runs.values()]))
        if "bits_per_token" in next(iter(runs.values())):
            row["bits"] = float(np.mean([r["bits_per_token"] for r in runs.values()]))
            if arm != "full":
                row["bits_vs_full"] = paired(runs, full, "bits_per_token")
        control = CONTROL.get(arm)
        if control and arms.get(control):
            row["vs_control"] = paired(runs, arms[control])
        out[arm] = row
    family = {arm: row["vs_control"]["p"] for arm, row in out.items() if row["vs_control"]}
    for arm, p in holm(family).items():
        out[arm]["holm_p"] = p
        out[arm]["family"] = sum(not math.isnan(q) for q in family.values())
    return out


def table(lines: Sequence[dict[str, Any]], task: str) -> str:
    """The Markdown table of one task: per arm, forwards saved, accuracy, the paired
    differences to full data and to random skipping at the same per-epoch sizes."""
    arms = by_task(lines).get(task)
    if not arms:
        return f"(no runs of {task} yet)"
    rows = summary(arms)
    lm = any("bits" in row for row in rows.values())
    head = ["arm", "seeds", "forwards saved"]
    head += ["tokens saved"] if lm else []
    head += ["accuracy (mean ± sd)", "− full (95% CI)", "− random, same sizes (95% CI)",
             "Holm p"]  # fmt: skip
    head += ["bits/token − full (95% CI)"] if lm else []
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for arm, row in rows.items():
        cells = [LABELS[arm], str(row["seeds"]), f"{100 * row['saved']:.1f}%"]
        if lm:
            cells.append(f"{100 * row.get('tokens_saved', 0.0):.1f}%")
        cells.append(f"{row['accuracy']:.2f} ± {_num(row['sd'], 2, sign=False)}")
        cells.append(_diff(row["vs_full"]) if row["vs_full"] else "—")
        cells.append(_diff(row["vs_control"]) if row["vs_control"] else "—")
        cells.append(_pvalue(row.get("holm_p", math.nan)))
        if lm:
            cells.append(_diff(row["bits_vs_full"], 3) if "bits_vs_full" in row else "—")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def verdict(lines: Sequence[dict[str, Any]], task: str) -> str:
    """One paragraph per task on the issue's goal: ≥ 40% of forwards saved at ≤ 0.3 points
    below full, with a lead over random whose Holm-corrected test excludes zero; and which
    loss-based arms beat random skipping at the same per-epoch sizes at all."""
    arms = by_task(lines).get(task, {})
    runs = sum(len(seeds) for seeds in arms.values())
    seeds = len(arms.get("full", {}))
    if seeds < 2 or any(len(arms.get(arm, {})) < seeds for arm in LABELS):
        return f"**{task}**: in progress ({runs} runs so far); no verdict yet."
    rows = summary(arms)
    contenders = [arm for arm in CONTROL if rows[arm]["vs_control"]]
    k = max(rows[a].get("family", 0) for a in contenders)
    beats = [a for a in contenders
             if rows[a]["vs_control"]["mean"] > 0 and rows[a].get("holm_p", 1) < ALPHA]  # fmt: skip
    big = [a for a in contenders if rows[a]["saved"] >= GOAL_SAVED - 1e-9]
    close = [a for a in big if rows[a]["vs_full"]["mean"] >= -GOAL_LOSS]
    met = [a for a in close if a in beats]

    def said(arm: str) -> str:
        row = rows[arm]
        return (f"{LABELS[arm]}, {100 * row['saved']:.1f}% saved, {_diff(row['vs_full'])} "
                f"points vs full, {_diff(row['vs_control'])} vs random at the same sizes "
                f"(Holm p {_pvalue(row.get('holm_p', math.nan))})")  # fmt: skip

    text = f"**{task}** ({seeds} seeds): "
    if met:
        text += "goal met by " + "; ".join(said(a) for a in met) + "."
    elif close:
        text += ("goal not met: " + ("these arms save ≥ 40% within 0.3 points of full but "
                 "do not beat random significantly: " if len(close) > 1 else "this arm saves "
                 "≥ 40% within 0.3 points of full but does not beat random significantly: ")
                 + "; ".join(said(a) for a in close) + ".")  # fmt: skip
    elif big:
        best = max(big, key=lambda a: rows[a]["vs_full"]["mean"])
        text += (f"goal not met: no arm that saves ≥ 40% stays within 0.3 points of full "
                 f"(closest: {said(best)}).")  # fmt: skip
    else:
        text += "goal not met: no arm saves ≥ 40%."
    if beats:
        rest = [LABELS[a] for a in contenders if a not in beats]
        text += (f" Leads over random at the same per-epoch sizes that hold after Holm's "
                 f"correction over {k} comparisons: " + "; ".join(
                     f"{LABELS[a]} {_diff(rows[a]['vs_control'])} points (p "
                     f"{_pvalue(rows[a]['holm_p'])})" for a in beats)
                 + (f"; none for {' or '.join(rest)}." if rest else "."))  # fmt: skip
    else:
        text += (f" No method beats random skipping at the same per-epoch sizes "
                 f"significantly on this task (Holm-corrected over {k} comparisons).")  # fmt: skip
    return text


def notes(lines: Sequence[dict[str, Any]]) -> str:
    """Per task, two readings beside the goal: ``prune_ratio`` 0.7 against ``target_saving``
    0.4 (InfoBatch's epoch sizes shrink over the epochs, the plan's are even), for InfoBatch
    and for random skipping with those sizes (comparisons chosen after
    the first task's results, uncorrected); and what the runs cost (training seconds on one
    thread, from the runs themselves)."""
    out = []
    for task, arms in by_task(lines).items():
        pairs = [("infobatch-r0.7", "infobatch-s0.4"), ("random-r0.7", "random-s0.4")]
        said = []
        for ramp, even in pairs:
            if arms.get(ramp) and arms.get(even):
                d = paired(arms[ramp], arms[even])
                saved = np.mean([r["saved"] for r in arms[ramp].values()])
                said.append(f"{LABELS[ramp]} ({100 * saved:.1f}% saved) − {LABELS[even]} "
                            f"(40.0%): {_diff(d)} points")  # fmt: skip
        seconds = sum(r["seconds"] for seeds in arms.values() for r in seeds.values())
        runs = sum(len(seeds) for seeds in arms.values())
        text = f"**{task}**: "
        if said:
            text += "prune_ratio 0.7 against target_saving 0.4: " + "; ".join(said) + ". "
        text += f"{runs} runs, {seconds / 3600:.1f} hours of training on one thread."
        out.append(f"- {text}")
    return "\n".join(out)


def figure(lines: Sequence[dict[str, Any]], target: Path) -> None:
    """Per task, each arm's paired difference to full data (95% CI) against its forwards
    saved; a grey line joins each loss-based arm to its random control (nudged sideways so
    that arms of the same saving do not hide each other); the goal's corner is shaded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = by_task(lines)
    fig = Figure(figsize=(4.4 * len(tasks), 4.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(tasks), squeeze=False).ravel()
    families = {"infobatch-r": ("#d62728", "o", -0.35, "InfoBatch, prune_ratio"),
                "infobatch-s": ("#d62728", "D", -0.35, "InfoBatch, target_saving"),
                "seta": ("#1f77b4", "^", 0.0, "SeTa, target_saving"),
                "random": ("#7f7f7f", "s", 0.35, "random, same epoch sizes")}  # fmt: skip
    for ax, (task, arms) in zip(axes, tasks.items(), strict=True):
        rows = summary(arms)
        where: dict[str, tuple[float, float]] = {}
        shown: set[str] = set()
        for arm, row in rows.items():
            if row["vs_full"] is None:
                continue
            family = next(k for k in families if arm.startswith(k))
            colour, marker, nudge, label = families[family]
            x, d = 100 * row["saved"] + nudge, row["vs_full"]
            where[arm] = (x, d["mean"])
            ax.errorbar([x], [d["mean"]], yerr=[0 if math.isnan(d["half"]) else d["half"]],
                        fmt=marker, color=colour, capsize=3, ms=6,
                        label=None if family in shown else label)  # fmt: skip
            shown.add(family)
            if family == "infobatch-r":
                ax.annotate(arm.removeprefix("infobatch-r"), (x, d["mean"]),
                            textcoords="offset points", xytext=(-5, 0), ha="right",
                            va="center", fontsize=7)  # fmt: skip
        for arm, control in CONTROL.items():
            if arm in where and control in where:
                (x0, y0), (x1, y1) = where[arm], where[control]
                ax.plot([x0, x1], [y0, y1], color="#bbbbbb", lw=1, zorder=0)
        ax.axhline(0, color="k", lw=0.8)
        low, high = ax.get_ylim()
        left, right = ax.get_xlim()
        ax.fill_between([100 * GOAL_SAVED, max(right, 100 * GOAL_SAVED + 1)], -GOAL_LOSS,
                        max(high, 0.2), color="#2ca02c", alpha=0.12, lw=0,
                        label="goal: ≥ 40% saved, ≤ 0.3 below full")  # fmt: skip
        ax.set_ylim(min(low, -GOAL_LOSS - 0.1), max(high, 0.2))
        ax.set_xlim(left - 1, max(right, 100 * GOAL_SAVED + 1))
        ax.set_xlabel("example-forwards saved (%)")
        what = "next-byte accuracy" if any("bits" in r for r in rows.values()) else "accuracy"
        ax.set_ylabel(f"− full data ({what} points, paired, 95% CI)")
        seeds = rows["full"]["seeds"] if "full" in rows else 0
        ax.set_title(f"{task} ({seeds} seeds)", fontsize=10)
    axes[0].legend(fontsize=7, loc="lower left")
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
