"""The figure and page of a calibration (``lessdata calibrate``).

``calibration.png``: one panel per kept fraction, the accuracy gain of each candidate policy
over a random subset against the pool size (log axis), with the value extrapolated to the
full pool and its ±1 standard error; ``calibration.html``: that figure, the choice per
fraction and why, the crossover and the pilot's cost.
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


def render_calibration_png(record: dict[str, Any], dpi: int = 100) -> bytes:
    """Gain over random vs pool size, one panel per fraction; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    rows = record["fractions"]
    columns = min(3, len(rows))
    lines = math.ceil(len(rows) / columns)
    figure = Figure(figsize=(4.6 * columns, 3.4 * lines + 0.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(
        f"calibration of {record['metric']}: accuracy gain over random (proxy) vs pool size;"
        f" ◆ = extrapolated to the full pool ({record['full_pool']:,})",
        fontsize=10,
    )
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    for ax, row in zip(axes, rows, strict=False):
        for policy, ev in row["evidence"].items():
            colour = COLOURS.get(policy, "#555555")
            pools = [int(p) for p in ev["gain_by_pool"]]
            gains = [100 * g for g in ev["gain_by_pool"].values()]
            ax.plot(pools, gains, "o-", color=colour, label=policy, ms=4)
            ax.errorbar([record["full_pool"]], [100 * ev["predicted_gain"]],
                        yerr=[100 * ev["standard_error"]], fmt="D", color=colour, ms=5,
                        capsize=3)  # fmt: skip
        ax.axhline(0, color="#888", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(
            FixedLocator(sorted({int(p) for p in pools} | {record["full_pool"]}))
        )
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(f"keep {row['fraction']:.0%} → {row['policy']}", fontsize=10)
        ax.set_xlabel("pool size")
        ax.set_ylabel("gain over random (points)")
        ax.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render_calibration_html(record: dict[str, Any], png: bytes) -> str:
    """The calibration page: choices, evidence, crossover, cost."""
    table_rows = []
    for row in record["fractions"]:
        best = row["best_candidate"]
        ev = row["evidence"].get(best, {}) if best else {}
        gain = (f"{100 * ev['predicted_gain']:+.1f} ± {100 * ev['standard_error']:.1f}"
                if ev else "–")  # fmt: skip
        table_rows.append(
            html_cell(f"{row['fraction']:.0%}", "num") + html_cell(row["policy"])
            + html_cell(best or "–") + html_cell(gain, "num")
        )  # fmt: skip
    cost = record["cost"]
    crossover = record["crossover_pool_size"]
    cross_text = (
        ", ".join(f"keep {float(f):.0%}: {n:,}" for f, n in crossover.items())
        if crossover else "not seen in the pools (keep-hard does not gain on keep-easy as the "
        "pool grows)"
    )  # fmt: skip
    useful = record["min_useful_fraction"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lessdata calibration</title>
<style>{BASE_CSS}</style></head><body>
<h1>Calibration: which policy at which kept fraction</h1>
<p class="note">{escape(record.get("source") or "data")}: {record["rows"]:,} rows
({record["pool_rows"]:,} in the pool prune selects from, {record["validation_rows"]:,} held
out to score the proxy, a {escape(record["proxy"])}); metric {escape(record["metric"])};
pools of {", ".join(f"{p:,}" for p in record["pool_sizes"])} rows × {record["seeds"]} seeds.</p>
<h2>Choice per kept fraction</h2>
{
        html_table(
            ["kept", "auto uses", "best candidate", "its gain over random, points"],
            table_rows,
            numeric=(0, 3),
        )
    }
<p class="note">A candidate is used when its gain over random, across pools and seeds, is above
zero with 99% one-sided confidence (Student's t) and its trend predicts no loss at the full
pool; otherwise random.</p>
<h2>Evidence</h2>
{html_image(png, "gain over random vs pool size per kept fraction")}
<p>Pool size at which keep-hard overtakes keep-easy: {escape(cross_text)}.<br>
Minimum useful fraction (from which on a metric-based policy is used):
{escape(f"{useful:.0%}" if useful is not None else "none: random at every fraction")}.</p>
<h2>Cost</h2>
<p>The pilot took {cost["pilot_seconds"]:.1f} s, {cost["share"]:.1%} of one full training run
({cost["full_run_seconds"]:.1f} s{", estimated" if cost["reference"].get("estimated") else ""});
budget {cost["budget_share"]:.0%}.{" " + escape(cost["stopped"]) if cost["stopped"] else ""}</p>
</body></html>
"""


def write_calibration_report(record: dict[str, Any], folder: Path) -> dict[str, Path]:
    """Write ``calibration.png`` and ``calibration.html`` into ``folder``."""
    png = render_calibration_png(record)
    paths = {"figure": folder / "calibration.png", "report": folder / "calibration.html"}
    paths["figure"].write_bytes(png)
    paths["report"].write_text(render_calibration_html(record, png), encoding="utf-8")
    return paths
