"""The ICL report: error against k and against pool size M, the shift battery, and a verdict.

Figures (PNG, also embedded in ``icl_report.html``):

* ``icl_error_vs_k.png``: one panel per pool size M: the transformer's error/d against the
  number of in-context examples k, on tasks from its pool and on fresh tasks, with ridge
  (the Bayes-optimal estimator for the Gaussian prior) and dMMSE (Bayes-optimal for the
  finite pool) on the same prompts; shaded bands are bootstrap 95% intervals.
* ``icl_error_vs_M.png``: error/d at the last k against M, pool vs fresh tasks, with the
  ridge and dMMSE references (Raventós et al. 2023, Fig. 1).
* ``icl_shifts.png``: error/d at the last k under each distribution shift, transformer vs
  ridge and least squares, for the most diverse pretraining.

The verdict is computed from the numbers. dMMSE's signature is a gap between pool and fresh
tasks: it knows its M tasks and nothing else, so its error on fresh tasks far exceeds its
error on pool tasks, while ridge treats both alike. A run is *dMMSE-like* (memorising) when
the transformer's error on fresh tasks at the last k exceeds :data:`GAP_RATIO` times its
error on pool tasks, *ridge-like* (generalising) otherwise; the switch is the smallest M
from which every larger M is ridge-like. As a second, descriptive number, the fresh-task
log-error curve is projected onto the segment from ridge's curve (0) to dMMSE's (1); it is
reported but not used for the verdict, because for large pools dMMSE and ridge nearly agree
and the projection becomes ill-conditioned (an under-trained model worse than both then
lands beyond either end). Runs without pool rows fall back to the projection (< 0.5 =
ridge-like; dMMSE within :data:`SAME_CURVES` of ridge counts as ridge-like). A run whose
error at the last k exceeds :data:`NOT_LEARNED_RATIO` times ridge's on fresh *and* on pool
tasks has learned neither to regress in context nor to recall its pool: it is *not learned*
(an under-trained model), never called ridge-like, and no switch is read past it. A shift
*breaks* in-context learning when the model's own error at the last k grows, relative to its
unshifted error on fresh tasks, by more than :data:`~lessdata.labs.icl.shifts.SHIFT_RATIO`
times the growth of ridge's error under the same shift (:mod:`~lessdata.labs.icl.shifts`);
the absolute errors stand beside it, and the earlier flat rule (above :data:`BREAK_RATIO`×
ridge's under the shift, which read the model's unshifted gap to ridge as a break) is kept
for comparison.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata._version import __version__
from lessdata.data.atomic import atomic_path
from lessdata.data.standard_json import dumps_standard
from lessdata.labs.icl.evaluate import TRANSFORMER
from lessdata.labs.icl.plotting import COLOURS as _COLOURS
from lessdata.labs.icl.plotting import plt as _plt
from lessdata.labs.icl.plotting import png as _png
from lessdata.labs.icl.shifts import (
    BREAK_RATIO,
    SHIFT_RATIO,
    ShiftReading,
    battery,
    readings_from_summary,
    shift_sentence,
    shifts_html,
)
from lessdata.report.html import BASE_CSS, html_image, html_table

__all__ = [
    "BREAK_RATIO", "SHIFT_RATIO", "Verdict", "analyse", "verdict_from_summary",
    "verdict_summary", "write_icl_report",
]  # fmt: skip
#: fresh-task error above this multiple of the pool-task error (at the last k) = memorising
GAP_RATIO = 1.5
#: error above this multiple of ridge's on fresh and pool tasks (at the last k) = not learned
NOT_LEARNED_RATIO = 3.0
NOT_LEARNED = "not learned"
#: dMMSE and ridge curves closer than this (mean |log error difference|) cannot be told apart
SAME_CURVES = 0.05


def _sort_key(label: str) -> float:
    return math.inf if label == "inf" else float(label)


def curve(
    table: pa.Table, *, pool: str, source: str, learner: str, shift: str = "none"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(k, error, low, high)`` averaged over seeds, or None when absent."""
    mask = pc.and_(
        pc.and_(pc.equal(table["pool_size"], pool), pc.equal(table["source"], source)),
        pc.and_(pc.equal(table["learner"], learner), pc.equal(table["shift"], shift)),
    )
    rows = table.filter(mask)
    if rows.num_rows == 0:
        return None
    k = rows["k"].to_numpy()
    ks = np.unique(k)
    out = [ks]
    for column in ("error", "low", "high"):
        values = rows[column].to_numpy().astype(float)
        out.append(np.array([values[k == i].mean() for i in ks]))
    return out[0], out[1], out[2], out[3]


@dataclass
class Verdict:
    """What the numbers say."""

    pool_sizes: list[str]
    behaviour: dict[str, str] = field(default_factory=dict)  # M -> dMMSE-like / ridge-like
    position: dict[str, float] = field(default_factory=dict)  # M -> 0 = ridge, 1 = dMMSE
    fresh_error: dict[str, float] = field(default_factory=dict)  # M -> error at last k
    pool_error: dict[str, float] = field(default_factory=dict)
    ridge_error: float = math.nan
    switch: str | None = None
    shifts: dict[str, ShiftReading] = field(default_factory=dict)
    shift_run: str | None = None
    last_k: int = 0

    def sentences(self) -> list[str]:
        """The verdict in plain words."""
        lines = []
        unlearned = [m for m, b in self.behaviour.items() if b == NOT_LEARNED]
        if unlearned:
            lines.append(
                f"Not learned at M = {', '.join(unlearned)}: error/d at the last k above "
                f"{NOT_LEARNED_RATIO:g}× ridge's on fresh and pool tasks alike, so the model has "
                "learned neither in-context regression nor its pool; train longer (--steps) "
                "before reading these runs."
            )
        if self.switch is None:
            lines.append("No switch in the range swept: no pool size gives ridge-like behaviour "
                         "on fresh tasks for it and every larger one.")  # fmt: skip
        elif self.switch == self.pool_sizes[0]:
            lines.append(f"Ridge-like from the smallest pool swept (M = {self.switch}).")
        else:
            lines.append(
                f"The transformer switches from dMMSE-like (memorising its pool) to ridge-like "
                f"(generalising to fresh tasks) at M = {self.switch} tasks."
            )
        pretty = ", ".join(f"M={m}: {e:.3f}" for m, e in self.fresh_error.items())
        lines.append(
            f"Error/d at k = {self.last_k} on fresh tasks: {pretty} "
            f"(ridge: {self.ridge_error:.3f})."
        )
        if self.shifts:
            lines.append(shift_sentence(self.shifts, self.shift_run))
        return lines


def segment_position(mine: np.ndarray, ridge: np.ndarray, dmmse: np.ndarray) -> float:
    """Where ``mine`` lies between ``ridge`` (0) and ``dmmse`` (1), by projection of log errors."""
    a, r, m = (np.log(np.maximum(c, 1e-12)) for c in (mine, ridge, dmmse))
    span = m - r
    return float(np.dot(a - r, span) / max(float(np.dot(span, span)), 1e-12))


def analyse(table: pa.Table) -> Verdict:
    """Compute the verdict from the evaluation rows of a sweep."""
    pools = sorted(set(table["pool_size"].to_pylist()), key=_sort_key)
    verdict = Verdict(pool_sizes=pools)
    ridge_fresh = None
    for m in pools:
        fresh = curve(table, pool=m, source="fresh", learner=TRANSFORMER)
        ridge = curve(table, pool=m, source="fresh", learner="ridge")
        dmmse = curve(table, pool=m, source="fresh", learner="dmmse")
        pool = curve(table, pool=m, source="pool", learner=TRANSFORMER)
        if fresh is None or ridge is None:
            continue
        verdict.last_k = int(fresh[0][-1])
        verdict.fresh_error[m] = float(fresh[1][-1])
        ridge_fresh = ridge
        if pool is not None:
            verdict.pool_error[m] = float(pool[1][-1])
        best = min(verdict.fresh_error[m], verdict.pool_error.get(m, math.inf))
        if best > NOT_LEARNED_RATIO * float(ridge[1][-1]):
            verdict.behaviour[m] = NOT_LEARNED
            continue
        if dmmse is None:  # an infinite pool: no finite-pool posterior to resemble
            verdict.behaviour[m] = "ridge-like"
            continue
        gap = float(np.mean(np.abs(np.log(dmmse[1]) - np.log(ridge[1]))))
        position = segment_position(fresh[1], ridge[1], dmmse[1])
        verdict.position[m] = position
        if pool is not None:
            memorising = verdict.fresh_error[m] > GAP_RATIO * verdict.pool_error[m]
            verdict.behaviour[m] = "dMMSE-like" if memorising else "ridge-like"
        elif gap < SAME_CURVES:
            verdict.behaviour[m] = "ridge-like (dMMSE ≈ ridge)"
        else:
            verdict.behaviour[m] = "ridge-like" if position < 0.5 else "dMMSE-like"
    if ridge_fresh is not None:
        verdict.ridge_error = float(ridge_fresh[1][-1])
    ordered = [m for m in pools if m in verdict.behaviour]
    for i, m in enumerate(ordered):
        if all(verdict.behaviour[x].startswith("ridge-like") for x in ordered[i:]):
            verdict.switch = m
            break
    learned = [m for m in ordered if verdict.behaviour[m] != NOT_LEARNED]
    verdict.shift_run, verdict.shifts = _shift_battery(table, learned)  # unlearned: no reading
    return verdict


def _shift_battery(
    table: pa.Table, ordered: list[str]
) -> tuple[str | None, dict[str, ShiftReading]]:
    if not ordered:
        return None, {}
    run = ordered[-1]
    return run, battery(table, run)


# --- figures -----------------------------------------------------------------------------


def render_error_vs_k(table: pa.Table) -> bytes:
    plt = _plt()
    pools = sorted(set(table["pool_size"].to_pylist()), key=_sort_key)
    cols = min(3, len(pools))
    rows = math.ceil(len(pools) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.3 * rows), squeeze=False)
    lines = [
        (TRANSFORMER, "fresh", "-", "transformer, fresh tasks"),
        (TRANSFORMER, "pool", "--", "transformer, pool tasks"),
        ("ridge", "fresh", "-", "ridge"),
        ("dmmse", "fresh", "-", "dMMSE (its pool)"),
    ]
    for ax, m in zip(axes.ravel(), pools, strict=False):
        for learner, source, style, label in lines:
            c = curve(table, pool=m, source=source, learner=learner)
            if c is None:
                continue
            k, err, low, high = c
            ax.plot(k, err, style, color=_COLOURS[learner], label=label, lw=1.4)
            ax.fill_between(k, low, high, color=_COLOURS[learner], alpha=0.15, lw=0)
        ax.set_title(f"M = {m}" if m != "inf" else "M = ∞ (fresh task every step)", fontsize=10)
        ax.set_yscale("log")
        ax.set_xlabel("in-context examples k")
        ax.set_ylabel("error / d")
    for ax in axes.ravel()[len(pools) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    return _png(fig)


def render_error_vs_m(table: pa.Table, verdict: Verdict) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    pools = [m for m in verdict.pool_sizes if m in verdict.fresh_error]
    finite = [float(m) for m in pools if m != "inf"]
    top = max(finite) * 8 if finite else 1.0
    x = [top if m == "inf" else float(m) for m in pools]

    def last(learner: str, source: str) -> list[float]:
        values = []
        for m in pools:
            c = curve(table, pool=m, source=source, learner=learner)
            values.append(float(c[1][-1]) if c is not None else math.nan)
        return values

    ax.plot(x, last(TRANSFORMER, "fresh"), "o-", color=_COLOURS[TRANSFORMER],
            label="transformer, fresh tasks")  # fmt: skip
    ax.plot(x, last(TRANSFORMER, "pool"), "o--", color=_COLOURS[TRANSFORMER], alpha=0.6,
            label="transformer, pool tasks")  # fmt: skip
    ax.plot(x, last("dmmse", "fresh"), "s-", color=_COLOURS["dmmse"], label="dMMSE, fresh tasks")
    ax.plot(x, last("dmmse", "pool"), "s--", color=_COLOURS["dmmse"], alpha=0.6,
            label="dMMSE, pool tasks")  # fmt: skip
    if math.isfinite(verdict.ridge_error):
        ax.axhline(verdict.ridge_error, color=_COLOURS["ridge"], ls=":", label="ridge (fresh)")
    if verdict.switch is not None and verdict.switch != "inf":
        ax.axvline(float(verdict.switch), color="black", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(x, [("∞" if m == "inf" else m) for m in pools])
    ax.set_xlabel("pretraining tasks M")
    ax.set_ylabel(f"error / d at k = {verdict.last_k}")
    ax.set_title("memorising the pool vs generalising", fontsize=10)
    ax.legend(fontsize=7)
    return _png(fig)


def render_shifts(table: pa.Table, verdict: Verdict) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    names = list(verdict.shifts)
    learners = [TRANSFORMER, "ridge", "least-squares"]
    width = 0.8 / len(learners)
    for i, learner in enumerate(learners):
        values = []
        for shift in ["none", *names]:
            c = curve(table, pool=verdict.shift_run or "inf", source="fresh", learner=learner,
                      shift=shift)  # fmt: skip
            values.append(float(c[1][-1]) if c is not None else math.nan)
        ax.bar(np.arange(len(names) + 1) + i * width, values, width, label=learner,
               color=_COLOURS[learner])  # fmt: skip
    ax.set_xticks(np.arange(len(names) + 1) + width, ["none", *names], rotation=25, ha="right",
                  fontsize=8)  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylabel(f"error / d at k = {verdict.last_k}")
    ax.set_title(f"distribution shifts (M = {verdict.shift_run})", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


# --- the page ----------------------------------------------------------------------------


def render_html(table: pa.Table, verdict: Verdict, pngs: dict[str, bytes], settings: Any) -> str:
    ratio = {m: verdict.fresh_error[m] / verdict.pool_error[m] for m in verdict.pool_error}
    runs = [
        f"<td>{escape(m)}</td><td>{escape(verdict.behaviour.get(m, '—'))}</td>"
        f"<td class='num'>{ratio.get(m, math.nan):.2f}</td>"
        f"<td class='num'>{verdict.position.get(m, math.nan):.2f}</td>"
        f"<td class='num'>{verdict.pool_error.get(m, math.nan):.4f}</td>"
        f"<td class='num'>{verdict.fresh_error.get(m, math.nan):.4f}</td>"
        for m in verdict.pool_sizes
    ]
    verdict_html = "".join(f"<li>{escape(line)}</li>" for line in verdict.sentences())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lessdata ICL lab</title>
<style>{BASE_CSS} pre {{ font-size: 12px; }}</style></head><body>
<h1>Does in-context learning generalise beyond its pretraining tasks?</h1>
<h2>Verdict</h2><ul>{verdict_html}</ul>
<h2>Error against pool size</h2>{html_image(pngs["m"], "error vs pool size")}
{
        html_table(
            [
                "M",
                "behaviour",
                f"fresh / pool error (>{GAP_RATIO:g} = memorising)",
                "position (0 ridge, 1 dMMSE)",
                f"pool tasks, k={verdict.last_k}",
                f"fresh tasks, k={verdict.last_k}",
            ],
            runs,
            numeric=(2, 3, 4, 5),
        )
    }
<h2>Error against in-context examples</h2>{html_image(pngs["k"], "error vs k per pool size")}
<h2>Distribution shifts</h2>{html_image(pngs["shifts"], "shift battery")}
{shifts_html(verdict.shifts)}
<h2>Settings</h2><pre>{escape(json.dumps(settings, indent=1, default=str))}</pre>
<footer class="note">lessdata {escape(__version__)}</footer>
</body></html>
"""


def verdict_summary(verdict: Verdict) -> dict[str, Any]:
    """The verdict as ``verdict.json`` holds it: its fields, the shift readings as dicts and
    the sentences."""
    return {
        **verdict.__dict__,
        "shifts": {name: r.as_dict() for name, r in verdict.shifts.items()},
        "sentences": verdict.sentences(),
    }


def verdict_from_summary(summary: Mapping[str, Any]) -> Verdict:
    """A :class:`Verdict` rebuilt from a stored ``verdict.json`` (either shift format), so
    that a committed copy can be re-read by the current rules without its sweep folder.

    Example:
        >>> stored = Path("docs/evidence/icl-gap/baseline.json")  # doctest: +SKIP
        >>> summary = json.loads(stored.read_text())  # doctest: +SKIP
        >>> verdict_from_summary(summary).shifts["subspace"].verdict  # doctest: +SKIP
        'holds'
    """
    fields = {name: summary[name] for name in Verdict.__dataclass_fields__ if name in summary}
    fields["shifts"] = readings_from_summary(summary)
    return Verdict(**fields)


def write_icl_report(out: str | Path) -> dict[str, Path]:
    """Analyse the sweep in ``out`` and write the three PNGs, ``icl_report.html`` and
    ``verdict.json``."""
    from lessdata.labs.icl.sweep import load_results, run_settings

    folder = Path(out)
    table = load_results(folder)
    verdict = analyse(table)
    pngs = {
        "k": render_error_vs_k(table),
        "m": render_error_vs_m(table, verdict),
        "shifts": render_shifts(table, verdict),
    }
    paths = {
        "error_vs_k": folder / "icl_error_vs_k.png",
        "error_vs_M": folder / "icl_error_vs_M.png",
        "shifts": folder / "icl_shifts.png",
        "html": folder / "icl_report.html",
        "verdict": folder / "verdict.json",
    }
    for key, name in (("k", "error_vs_k"), ("m", "error_vs_M"), ("shifts", "shifts")):
        with atomic_path(paths[name]) as tmp:
            tmp.write_bytes(pngs[key])
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(render_html(table, verdict, pngs, run_settings(folder)), encoding="utf-8")
    summary = verdict_summary(verdict)
    if any(s.startswith("angle ") for s in table["shift"].to_pylist()):
        from lessdata.labs.icl.findings import answer, cap_curves, read_sweep, render_caps

        sweep = read_sweep(folder)
        if sweep is not None and sweep.cap is not None:  # the angle battery of a capped sweep
            caps = {sweep.cap: cap_curves(sweep)}
            paths["caps"] = folder / "icl_caps.png"
            with atomic_path(paths["caps"]) as tmp:
                tmp.write_bytes(render_caps(caps))
            summary["sentences"] += answer(caps, {}, {})
    with atomic_path(paths["verdict"]) as tmp:
        tmp.write_text(dumps_standard(summary, indent=1, default=str))
    return paths
