"""The figure and page of a calibration (``lessdata calibrate``).

``calibration.png``: one panel per kept fraction; for each candidate policy, its measured
gain over a random subset at each pool size (mean ± standard error over repeats, in accuracy
points), the fitted trend (solid over the measured pools, dashed where it is extrapolated)
and, at the full data, the trend's value with its one-sided lower bound. A fraction without
enough evidence says why. ``calibration.html``: that figure, the choice per fraction with
its reason, the crossover, the useful fractions, the plan and the pilot's counted cost.
"""

from __future__ import annotations

import io
import math
from html import escape
from pathlib import Path
from typing import Any

from lessdata.report.html import BASE_CSS, html_cell, html_image, html_table

COLOURS = {"keep-easy": "#2ca02c", "keep-hard": "#d62728", "ccs": "#1f77b4", "d2": "#9467bd",
           "moderate": "#8c564b"}  # fmt: skip


def _trend(ev: dict[str, Any], pool: float, rows: int) -> float:
    """The fitted gain at ``pool`` rows: the value at the full size plus the slope."""
    return ev["gain_at_full"] + ev["slope_per_doubling"] * math.log2(pool / rows)


def render_calibration_png(record: dict[str, Any], dpi: int = 100) -> bytes:
    """Gain over random vs pool size, one panel per fraction; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    rows, n = record["fractions"], record["rows"]
    columns = min(3, len(rows))
    lines = math.ceil(len(rows) / columns)
    figure = Figure(figsize=(4.6 * columns, 3.4 * lines + 0.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(
        f"calibration of {record['metric']}: gain over random (accuracy points, proxy) vs "
        f"pool size; dashed = trend extrapolated, ◆ = at the full data ({n:,}) with its "
        "lower bound",
        fontsize=9,
    )
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    for ax, row in zip(axes, rows, strict=False):
        ax.set_title(f"keep {row['fraction']:.0%} → {row['policy']}", fontsize=10)
        if not row["evidence"]:
            ax.text(0.5, 0.5, "not enough evidence\n(see the page)", ha="center",
                    va="center", transform=ax.transAxes, fontsize=9)  # fmt: skip
            ax.set_axis_off()
            continue
        sizes = [int(p) for p in row["pool_sizes"]]
        for policy, ev in row["evidence"].items():
            colour = COLOURS.get(policy, "#555555")
            pools = [int(p) for p in ev["gain_by_pool"]]
            ax.errorbar(pools, list(ev["gain_by_pool"].values()),
                        yerr=list(ev["gain_se_by_pool"].values()), fmt="o", color=colour,
                        ms=4, capsize=2, label=policy)  # fmt: skip
            low, high = min(pools), max(pools)
            ax.plot([low, high], [_trend(ev, low, n), _trend(ev, high, n)], "-", color=colour,
                    lw=1)  # fmt: skip
            ax.plot([high, n], [_trend(ev, high, n), ev["gain_at_full"]], "--", color=colour,
                    lw=1)  # fmt: skip
            ax.plot([n], [ev["gain_at_full"]], "D", color=colour, ms=5)
            ax.plot([n, n], [ev["lower_bound"], ev["gain_at_full"]], "-", color=colour, lw=2)
        ax.axhline(0, color="#888", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(sorted({*sizes, n})))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("pool size (rows)")
        ax.set_ylabel("gain over random (points)")
        ax.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _crossover_text(crossover: dict[str, Any]) -> str:
    if not crossover:
        return "not measured (keep-easy and keep-hard are not both candidates)"
    parts = []
    for fraction, found in crossover.items():
        where = f"{found['rows']:,} rows" if found["rows"] is not None else "–"
        parts.append(f"keep {float(fraction):.0%}: {where} ({found['note']})")
    return "; ".join(parts)


def render_calibration_html(record: dict[str, Any], png: bytes) -> str:
    """The calibration page: choices and reasons, evidence, crossover, plan and cost."""
    table_rows = [
        html_cell(f"{row['fraction']:.0%}", "num") + html_cell(row["policy"])
        + html_cell(row["reason"])
        for row in record["fractions"]
    ]  # fmt: skip
    cost, plan, proxy = record["cost"], record["plan"], record["proxy"]
    useful = record["useful_fractions"]
    useful_text = (
        f"{record['min_useful_fraction']:.0%} (a policy other than random is used at "
        + ", ".join(f"{f:.0%}" for f in useful) + "; below, prune at random)"
        if useful else "none: random at every calibrated fraction"
    )  # fmt: skip
    budget = (f"budget {cost['budget_share']:g} of a full run" if cost["budget_share"]
              is not None else "no budget cap: the whole plan ran")  # fmt: skip
    note = f" {escape(cost['note'])}" if cost.get("note") else ""
    sizes = ", ".join(f"{p:,}" for p in plan["pool_sizes"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lessdata calibration</title>
<style>{BASE_CSS}</style></head><body>
<h1>Calibration: which policy at which kept fraction</h1>
<p class="note">{escape(record.get("source") or "data")}: {record["rows"]:,} rows; metric
{escape(record["metric"])}{" (your scores)" if record["scores"]["given"] else ""}; proxy: a
{escape(proxy["describe"])} on the data's {escape(proxy["sees"])}; pools of {sizes} rows ×
{plan["seeds"]} repeats, each validated on {escape(plan["validation"])}. All numbers are
accuracy points.</p>
<h2>Choice per kept fraction</h2>
{html_table(["kept", "auto uses", "why"], table_rows, numeric=(0,))}
<p class="note">A policy replaces random when the lower bound of its gain over random,
read off the trend at the full data, is above zero ({plan["confidence"]:.0%} one-sided,
Bonferroni-corrected over the {len(plan["candidates"]) - 1} candidates).</p>
<h2>Evidence</h2>
{html_image(png, "gain over random vs pool size per kept fraction")}
<p>Data size at which keep-hard overtakes keep-easy: {escape(_crossover_text(record["crossover"]))}.
<br>Minimum useful fraction: {escape(useful_text)}.</p>
<h2>Cost</h2>
<p>The pilot cost {cost["pilot_share_of_full_run"]:.1%} of one full training run
({escape(cost["full_run"])}), counted, not timed; {escape(budget)}.{note}</p>
</body></html>
"""


def write_calibration_report(record: dict[str, Any], folder: Path) -> dict[str, Path]:
    """Write ``calibration.png`` and ``calibration.html`` into ``folder``."""
    png = render_calibration_png(record)
    paths = {"figure": folder / "calibration.png", "report": folder / "calibration.html"}
    paths["figure"].write_bytes(png)
    paths["report"].write_text(render_calibration_html(record, png), encoding="utf-8")
    return paths
