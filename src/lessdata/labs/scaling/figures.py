"""The scaling report's figures: matplotlib drawings of an analysed group of runs, as PNG.

:func:`render_scaling_png` draws log-log test error against examples kept (mean over seeds,
shaded min–max, the fitted power law dashed, the Pareto frontier circled) beside test
accuracy against the fraction kept; :func:`render_widths_png` draws one panel per curve with
a line per model width.

Drawing only: the numbers come from :mod:`~lessdata.labs.scaling.analysis`, and
:mod:`~lessdata.labs.scaling.report` writes the PNG files and the HTML page. matplotlib is
imported inside the functions (with its Agg canvas, no pyplot state), so importing this
module stays cheap.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lessdata.labs.scaling.analysis import ACCURACY_TOLERANCE, BASELINE, Analysis
from lessdata.labs.scaling.fit import ERROR_FLOOR

_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22",
)  # fmt: skip


_BASELINE_COLOUR = "#555555"


def _colour(label: str, labels: Sequence[str]) -> str:
    if label == BASELINE:
        return _BASELINE_COLOUR
    others = [x for x in labels if x != BASELINE]
    return _COLOURS[others.index(label) % len(_COLOURS)]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _plain_log_ticks(ax: Any) -> None:
    """Log axes labelled 300, 1,000 and 0.05 instead of 3×10², 10³ and 5×10⁻².

    Between the decades, ticks are labelled where there is room: every one on an axis
    spanning less than a decade (y) or about half of one (x, whose labels are wider), the
    2s and 5s on an axis spanning up to 2.5 decades, none beyond.
    """
    from matplotlib.ticker import FuncFormatter

    def formatter(text: Any, every_below: float, span: float) -> FuncFormatter:
        def label(value: float, _: Any) -> str:
            if value <= 0:
                return ""
            mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
            nearest = round(mantissa)
            if abs(mantissa - nearest) > 1e-6:
                return ""
            if span < every_below or (span <= 2.5 and nearest in (1, 2, 5)) or nearest == 1:
                return text(value)
            return ""

        return FuncFormatter(label)

    for axis, limits, text, every_below in (
        (ax.xaxis, ax.get_xlim(), lambda v: f"{v:,.0f}", 0.6),
        (ax.yaxis, ax.get_ylim(), lambda v: f"{v:.3g}", 1.0),
    ):
        low, high = (max(v, 1e-300) for v in limits)
        span = abs(math.log10(high / low))
        axis.set_major_formatter(formatter(text, every_below, span))
        axis.set_minor_formatter(formatter(text, every_below, span))


def _floor(values: Any) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=np.float64), ERROR_FLOOR)


def render_scaling_png(analysis: Analysis) -> bytes:
    """Error vs examples (log-log, fits, Pareto frontier) and accuracy vs fraction kept."""
    curves = analysis.curves[analysis.main_width]
    labels = list(curves)
    full = analysis.full.get(analysis.main_width)
    figure = _figure(13, 5.2)
    width_note = f", width {analysis.main_width}" if len(analysis.widths) > 1 else ""
    figure.suptitle(
        f"{analysis.task} · {analysis.model}{width_note} · {analysis.n_train:,} training "
        f"examples · mean over seeds, shaded min–max",
        fontsize=11,
    )
    left, right = figure.subplots(1, 2)
    for label, curve in curves.items():
        colour = _colour(label, labels)
        n = np.array([p.n for p in curve.points], dtype=np.float64)
        err = np.array([p.error for p in curve.points])
        lo = np.array([min(p.errors) for p in curve.points])
        hi = np.array([max(p.errors) for p in curve.points])
        left.plot(n, _floor(err), "o-", color=colour, lw=1.6, ms=4, label=label)
        left.fill_between(n, _floor(lo), _floor(hi), color=colour, alpha=0.15, lw=0)
        if curve.fit is not None:
            grid = np.geomspace(n.min(), n.max(), 100)
            left.plot(grid, _floor(curve.fit.predict(grid)), "--", color=colour, lw=1.0)
        frac = np.array([p.fraction for p in curve.points])
        acc = np.array([p.accuracy for p in curve.points])
        acc_lo = np.array([min(p.accuracies) for p in curve.points])
        acc_hi = np.array([max(p.accuracies) for p in curve.points])
        right.plot(frac, acc, "o-", color=colour, lw=1.6, ms=4, label=label)
        right.fill_between(frac, acc_lo, acc_hi, color=colour, alpha=0.15, lw=0)
    if analysis.frontier:
        fn = [p.n for _, p in analysis.frontier]
        fe = _floor([p.error for _, p in analysis.frontier])
        left.plot(fn, fe, "o", ms=11, mfc="none", mec="black", mew=1.2, label="Pareto frontier")
        left.plot(fn, fe, ":", color="black", lw=0.8)
    if full is not None:
        left.axhline(max(full.error, ERROR_FLOOR), color="black", lw=0.8, ls=":")
        left.text(
            0.01, max(full.error, ERROR_FLOOR), "full-data error", fontsize=8, va="bottom",
            color="#333333", transform=left.get_yaxis_transform(),
        )  # fmt: skip
        right.axhline(full.accuracy, color="black", lw=0.8, ls=":")
        right.axhspan(
            full.accuracy - ACCURACY_TOLERANCE, full.accuracy, color="#999999", alpha=0.15, lw=0
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("training examples kept (log)")
    left.set_ylabel("test error (log)")
    left.set_title("error vs examples; dashed: fitted a·n^(−b) + c", loc="left", fontsize=10)
    right.set_xlabel("fraction of the training set kept")
    right.set_ylabel("test accuracy")
    right.set_title(
        "accuracy vs fraction kept; band: within 0.5 point of full data", loc="left", fontsize=10
    )
    _plain_log_ticks(left)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, which="major", color="#eeeeee", lw=0.8)
        ax.tick_params(labelsize=8)
    left.legend(fontsize=8, framealpha=0.95, edgecolor="#dddddd")
    return _png(figure)


def render_widths_png(analysis: Analysis) -> bytes:
    """One log-log panel per curve, a line per model width."""
    from matplotlib import colormaps

    labels = sorted({label for curves in analysis.curves.values() for label in curves})
    columns = min(len(labels), 3)
    rows = math.ceil(len(labels) / columns)
    figure = _figure(4.6 * columns, 3.6 * rows + 0.5)
    figure.suptitle(f"{analysis.task} · {analysis.model}: test error vs examples per width")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    cmap = colormaps["viridis"]
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    for ax, label in zip(axes, labels, strict=False):
        for i, width in enumerate(analysis.widths):
            curve = analysis.curves[width].get(label)
            if curve is None:
                continue
            colour = cmap(i / max(len(analysis.widths) - 1, 1) * 0.9)
            n = [p.n for p in curve.points]
            ax.plot(n, _floor([p.error for p in curve.points]), "o-", color=colour, ms=3,
                    label=f"width {width}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax)
        ax.set_title(label, loc="left", fontsize=10, fontweight="bold")
        ax.set_xlabel("examples kept", fontsize=8)
        ax.set_ylabel("test error", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7)
    return _png(figure)
