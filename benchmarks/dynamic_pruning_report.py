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
    """One sentence per task on the issue's goal: ≥ 40% of forwards saved at ≤ 0.3 points
    below full, with a lead over random whose Holm-corrected test excludes zero."""
    arms = by_task(lines).get(task)
    if not arms or "full" not in arms:
        return f"{task}: no runs yet."
    rows = summary(arms)
    seeds = rows["full"]["seeds"]
    contenders = [arm for arm in CONTROL if arm in rows and rows[arm]["vs_control"]]
    k = max((rows[a].get("family", 0) for a in contenders), default=0)
    beats = [a for a in contenders
             if rows[a]["vs_control"]["mean"] > 0 and rows[a].get("holm_p", 1) < ALPHA]  # fmt: skip
    met = [a for a in beats if rows[a]["saved"] >= GOAL_SAVED - 1e-9
           and rows[a]["vs_full"]["mean"] >= -GOAL_LOSS]  # fmt: skip

    def said(arm: str) -> str:
        row = rows[arm]
        return (f"{LABELS[arm]}: {100 * row['saved']:.1f}% saved, {_diff(row['vs_full'])} "
                f"points vs full, {_diff(row['vs_control'])} vs random at the same sizes "
                f"(Holm p {_pvalue(row.get('holm_p', math.nan))})")  # fmt: skip

    text = f"**{task}** ({seeds} seeds): "
    if met:
        best = max(met, key=lambda a: rows[a]["vs_control"]["mean"])
        text += f"goal met by {said(best)}."
        others = [a for a in met if a != best]
        if others:
            text += " Also met by " + ", ".join(LABELS[a] for a in others) + "."
        return text
    text += "goal not met. "
    if not beats:
        text += (f"No method beats random skipping at the same per-epoch sizes significantly "
                 f"on this task (Holm-corrected over {k} comparisons). ")  # fmt: skip
    else:
        text += "Significant leads over random: " + "; ".join(said(a) for a in beats) + ". "
    near = [a for a in contenders if rows[a]["saved"] >= GOAL_SAVED - 1e-9]
    if near:
        best = max(near, key=lambda a: rows[a]["vs_full"]["mean"])
        text += f"Closest at ≥ 40% saved: {said(best)}."
    return text.rstrip()


def figure(lines: Sequence[dict[str, Any]], target: Path) -> None:
    """Per task, each arm's paired difference to full data (95% CI) against its forwards
    saved; a grey line joins each loss-based arm to its random control."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = by_task(lines)
    fig = Figure(figsize=(4.6 * len(tasks), 4.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(tasks), squeeze=False).ravel()
    style = {"infobatch-r": ("#d62728", "o"), "infobatch-s": ("#d62728", "D"),
             "seta": ("#1f77b4", "^"), "random": ("#7f7f7f", "s")}  # fmt: skip
    for ax, (task, arms) in zip(axes, tasks.items(), strict=True):
        rows = summary(arms)
        for arm, row in rows.items():
            if row["vs_full"] is None:
                continue
            key = next(k for k in style if arm.startswith(k))
            colour, marker = style[key]
            x, d = 100 * row["saved"], row["vs_full"]
            ax.errorbar([x], [d["mean"]], yerr=[0 if math.isnan(d["half"]) else d["half"]],
                        fmt=marker, color=colour, capsize=3, ms=6, label=LABELS[arm])  # fmt: skip
            control = CONTROL.get(arm)
            if control in rows:
                ax.plot([x, 100 * rows[control]["saved"]],
                        [d["mean"], rows[control]["vs_full"]["mean"]], color="#bbbbbb",
                        lw=1, zorder=0)  # fmt: skip
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(-GOAL_LOSS, color="k", lw=0.8, ls="--")
        ax.axvline(100 * GOAL_SAVED, color="k", lw=0.8, ls=":")
        ax.set_xlabel("example-forwards saved (%)")
        ax.set_ylabel("− full data (points, paired, 95% CI)")
        ax.set_title(f"{task} ({rows['full']['seeds'] if 'full' in rows else 0} seeds)",
                     fontsize=10)  # fmt: skip
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].legend(handles, labels, fontsize=7, loc="lower left")
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
