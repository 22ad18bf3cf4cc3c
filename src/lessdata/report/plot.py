"""The score-distribution figure: one histogram panel per metric, kept vs pruned overlaid.

Drawn with a bare :class:`matplotlib.figure.Figure` on an Agg canvas, never through pyplot,
so it needs no display, changes no global backend and is safe beside other matplotlib users.
Histograms are computed with numpy and drawn as stairs, which stays fast for a million rows.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pyarrow as pa

from lessdata.data.manifest import metric_columns
from lessdata.report.summary import direction, kept_mask, scores

KEPT_COLOUR = "#1f77b4"
PRUNED_COLOUR = "#ff7f0e"
ALL_COLOUR = "#4c72b0"  # one colour for every example when there is no kept column
MAX_COLUMNS = 3


def _bins(values: np.ndarray) -> np.ndarray:
    """Shared bin edges for a panel: about sqrt(n) bins, between 10 and 60."""
    count = int(np.clip(math.isqrt(max(values.size, 1)), 10, 60))
    low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, count + 1)


def render_scores_png(
    manifest: pa.Table, *, title: str = "lessdata report", dpi: int = 100
) -> bytes:
    """Draw the score histograms of ``manifest`` and return the PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    metrics = metric_columns(manifest)
    kept = kept_mask(manifest)
    panels = max(len(metrics), 1)
    columns = min(panels, MAX_COLUMNS)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(5.2 * columns, 3.8 * rows + 0.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    summary = f"{manifest.num_rows:,} examples"
    if kept is not None:
        summary += f", {int(kept.sum()):,} kept, {int((~kept).sum()):,} pruned"
    figure.suptitle(f"{title}\n{summary}", fontsize=11, wrap=True)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)

    for ax, metric in zip(axes, metrics, strict=False):
        values = scores(manifest, metric)
        finite = np.isfinite(values)
        missing = int(values.size - finite.sum())
        ax.set_title(metric, loc="left", fontsize=11, fontweight="bold")
        ax.set_xlabel(direction(metric), fontsize=8.5)
        ax.set_ylabel("examples")
        ax.spines[["top", "right"]].set_visible(False)
        if not finite.any():
            ax.text(0.5, 0.5, "no finite scores", ha="center", va="center", transform=ax.transAxes)
            continue
        edges = _bins(values[finite])
        tallest = 0
        if kept is None:
            counts, _ = np.histogram(values[finite], bins=edges)
            ax.stairs(counts, edges, fill=True, color=ALL_COLOUR, alpha=0.75)
            tallest = int(counts.max())
        else:
            for mask, colour, name in (
                (kept, KEPT_COLOUR, "kept"),
                (~kept, PRUNED_COLOUR, "pruned"),
            ):
                selected = values[finite & mask]
                counts, _ = np.histogram(selected, bins=edges)
                ax.stairs(
                    counts, edges, fill=True, color=colour, alpha=0.45,
                    label=f"{name} ({selected.size:,})",
                )  # fmt: skip
                ax.stairs(counts, edges, color=colour, linewidth=1.0)
                tallest = max(tallest, int(counts.max()))
            ax.legend(fontsize=8, loc="best", framealpha=0.95, edgecolor="#dddddd")
        if missing:
            ax.set_title(f"{missing:,} missing", loc="right", fontsize=8, color="#666666")
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        # Headroom above the tallest bar so the legend has somewhere to go.
        ax.set_ylim(0, max(tallest, 1) * 1.2)
        ax.tick_params(labelsize=8)
    if not metrics:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "no score columns", ha="center", va="center")
        axes[0].set_axis_off()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
