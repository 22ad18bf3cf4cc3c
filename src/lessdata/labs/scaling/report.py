"""The scaling report: curves of held-out error against examples kept, per policy and metric.

:func:`write_scaling_report` reads a sweep's runs (a store, its folder, or rows) and writes

``scaling.png``
    left: log-log test error against the number of training examples, one curve per policy
    (and metric): the mean over seeds, shaded between the seeds' min and max, the fitted
    power law ``a·n^(−b) + c`` dashed, the Pareto frontier over all policies and budgets
    circled; right: test accuracy against the fraction kept, with the full-data accuracy
    and its 0.5-point band.
``widths.png``
    (width sweeps only) error against examples for each model width, one panel per curve.
``report.html``
    one self-contained page: the plots inline (base64 PNG); the claims (per budget, the
    policies whose paired gain over random survives Holm's correction, or "no policy beats
    random after correction"; fresh-seed confirmations when seeds were held back); every
    (metric, policy, budget) cell's paired per-seed gain over random with its 95%
    t-interval, seeds, p and Holm p; per policy the examples needed to reach the target
    (read within the measured sizes, "not reached" otherwise) and the data saved against
    random, with seed-bootstrap intervals; the fitted exponent with its bootstrap interval,
    labelled as a fit; every curve point; the Pareto frontier; failed runs.

Runs of different tasks, models or settings (configuration hashes) are never mixed: each
combination gets its own section (and its own numbered PNGs).

This module writes the report folder and renders the HTML page; the numbers come from
:mod:`~lessdata.labs.scaling.analysis` and the plots from
:mod:`~lessdata.labs.scaling.figures`, so that each can change (or be tested) without the
others. The statistical sections' HTML lives in :mod:`~lessdata.labs.scaling.report_stats`.
Imports run one way: report → report_stats/figures → analysis → paired/reach/fit.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.labs.scaling.analysis import Analysis, analyse, curve_label, load_rows
from lessdata.labs.scaling.figures import render_scaling_png, render_widths_png
from lessdata.labs.scaling.report_stats import cells_html, claims_html, reach_html
from lessdata.labs.scaling.store import ResultsStore
from lessdata.report.html import BASE_CSS, html_cell, html_image, html_table

_MISSING = "—"

_CSS = (
    BASE_CSS
    + """
.good { color: #1a7f37; } .bad { color: #b42318; }
pre.msg { white-space: pre-wrap; word-break: break-word; margin: 0; font-size: .85em; }
footer { margin-top: 3rem; color: #888; font-size: .85em; }
"""
)


# --- HTML --------------------------------------------------------------------------------


def _num(value: float | None, spec: str = ".4g") -> str:
    if value is None or not math.isfinite(value):
        return _MISSING
    return format(value, spec)


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return _MISSING
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def _settings(analysis: Analysis) -> str:
    meta = analysis.meta
    items: list[tuple[str, str]] = [
        ("task", analysis.task),
        ("model", analysis.model),
        ("training examples", f"{analysis.n_train:,}"),
    ]
    if meta.get("n_test"):
        items.append(("held-out test examples", f"{meta['n_test']:,}"))
    for key in ("metrics", "policies", "fractions", "seeds", "widths"):
        if key in meta:
            items.append((key, ", ".join(str(v) for v in meta[key])))
    if meta.get("train"):
        items.append(("training", ", ".join(f"{k}={v}" for k, v in sorted(meta["train"].items()))))
    if meta.get("class_balanced"):
        items.append(("class-balanced", "yes"))
    if meta.get("command"):
        items.append(("command", str(meta["command"])))
    elif meta.get("mode") == "callable":
        items.append(("trainer", str(meta.get("hook"))))
    items.append(("configuration hash", analysis.config))
    body = "\n".join(f"<tr><th>{escape(k)}</th>{html_cell(v)}</tr>" for k, v in items)
    return f"<table>\n{body}\n</table>"


def _policy_html(analysis: Analysis) -> str:
    """Descriptive per-curve numbers (means over seeds, no intervals)."""
    header = ["curve", "smallest fraction within 0.5 pt of full accuracy (means)"]
    rows = []
    for row in analysis.table:
        near = row.smallest_fraction_near_full
        rows.append(
            html_cell(row.label, "id")
            + html_cell(_MISSING if near is None else f"{100 * near:.0f}%", "num")
        )
    full = analysis.full.get(analysis.main_width)
    spread = ""
    if full is not None and len(full.accuracies) > 1:
        sd = 100 * float(np.std(full.accuracies, ddof=1))
        spread = f" The full-data accuracy's seed-to-seed SD is {sd:.2f} pt."
    note = (
        '<p class="note">Compares mean accuracies only, without an interval: a difference '
        "smaller than the seed spread says little (the paired table above is the test)."
        f"{spread}</p>"
    )
    return html_table(header, rows, numeric=(1,)) + "\n" + note


def _points_html(analysis: Analysis) -> str:
    header = ["curve", "kept", "fraction", "examples", "seeds", "accuracy", "± std", "error",
              "error min–max"]  # fmt: skip
    rows = []
    for curve in analysis.curves[analysis.main_width].values():
        for p in curve.points:
            rows.append(
                html_cell(curve.label, "id") + html_cell(p.keep, "num")
                + html_cell(_pct(p.fraction), "num")
                + html_cell(f"{p.n:,}", "num") + html_cell(str(len(p.errors)), "num")
                + html_cell(_pct(p.accuracy), "num")
                + html_cell(f"{100 * float(np.std(p.accuracies)):.2f} pt", "num")
                + html_cell(_num(p.error, ".4f"), "num")
                + html_cell(f"{min(p.errors):.4f}–{max(p.errors):.4f}", "num")
            )  # fmt: skip
    return html_table(header, rows, numeric=tuple(range(1, len(header))))


def _frontier_html(analysis: Analysis) -> str:
    rows = [
        html_cell(label, "id") + html_cell(f"{p.n:,}", "num") + html_cell(_pct(p.fraction), "num")
        + html_cell(_num(p.error, ".4f"), "num")
        for label, p in analysis.frontier
    ]  # fmt: skip
    return html_table(["curve", "examples", "fraction", "mean error"], rows, numeric=(1, 2, 3))


def _widths_html(analysis: Analysis) -> str:
    labels = sorted({label for curves in analysis.curves.values() for label in curves})
    header = ["width", "full-data accuracy", *(f"b: {label}" for label in labels)]
    rows = []
    for width in analysis.widths:
        full = analysis.full.get(width)
        cells = html_cell(str(width), "num") + html_cell(
            _pct(full.accuracy) if full else _MISSING, "num"
        )
        for label in labels:
            curve = analysis.curves[width].get(label)
            b = curve.fit.b if curve is not None and curve.fit is not None else None
            cells += html_cell(_num(b, ".3f"), "num")
        rows.append(cells)
    return html_table(header, rows, numeric=tuple(range(len(header))))


def _failures_html(analysis: Analysis) -> str:
    rows = []
    for r in analysis.failures:
        what = curve_label(str(r["policy"]), str(r["metric"]))
        rows.append(
            html_cell(what, "id") + html_cell(str(r["keep"]), "num")
            + html_cell(str(r["seed"]), "num")
            + html_cell(str(r["width"]), "num")
            + f'<td><pre class="msg">{escape(str(r.get("message") or ""))}</pre></td>'
        )  # fmt: skip
    return html_table(["curve", "kept", "seed", "width", "message"], rows, numeric=(1, 2, 3))


def _section(analysis: Analysis, images: Mapping[str, bytes], heading: str | None) -> str:
    parts = []
    if heading:
        parts.append(f"<h2>{escape(heading)}</h2>")
    parts.append(_settings(analysis))
    full = analysis.full.get(analysis.main_width)
    if full is not None:
        parts.append(
            f"<p>Full data ({full.n:,} examples, {len(full.errors)} seeds): accuracy "
            f"<b>{_pct(full.accuracy)}</b>, error {_num(full.error, '.4f')}.</p>"
        )
    parts.append("<h3>Scaling curves</h3>")
    parts.append(
        html_image(images["scaling"], "Test error vs examples kept, and accuracy vs fraction")
    )
    parts.append("<h3>Claims</h3>")
    parts.append(claims_html(analysis))
    parts.append("<h3>Against random, seed by seed</h3>")
    parts.append(cells_html(analysis))
    parts.append("<h3>Examples to reach the target</h3>")
    parts.append(reach_html(analysis))
    parts.append("<h3>Per curve (descriptive)</h3>")
    parts.append(_policy_html(analysis))
    parts.append("<h3>Pareto frontier (examples, mean error)</h3>")
    parts.append(
        '<p class="note">The budgets no other policy or fraction beats on both fewer '
        "examples and lower error.</p>"
    )
    parts.append(_frontier_html(analysis))
    if "widths" in images:
        parts.append("<h3>Model widths</h3>")
        parts.append(html_image(images["widths"], "Test error vs examples for each width"))
        parts.append(_widths_html(analysis))
    parts.append("<h3>Every point</h3>")
    parts.append(_points_html(analysis))
    if analysis.failures:
        parts.append(f"<h3>Failed runs ({len(analysis.failures)})</h3>")
        parts.append(
            '<p class="note">Rerun the same <code>lessdata scale run</code> command to retry '
            "them; finished runs are not repeated.</p>"
        )
        parts.append(_failures_html(analysis))
    return "\n".join(parts)


def render_html(
    analyses: Sequence[Analysis],
    images: Sequence[Mapping[str, bytes]],
    *,
    title: str = "lessdata scaling report",
) -> str:
    """The whole report page, one section per analysis, images inline."""
    from lessdata._version import __version__

    intro = (
        '<p class="note">Each curve trains the model on the subset a policy keeps and '
        "measures it on a fixed held-out set. A curve below random's means the policy "
        "needs fewer examples for the same error; a larger exponent b means the error falls "
        "faster as data grows (Sorscher et al. 2022 show good pruning can beat power-law "
        "scaling).</p>"
    )
    sections = []
    for analysis, imgs in zip(analyses, images, strict=True):
        heading = (
            f"{analysis.task} · {analysis.model} · {analysis.config}" if len(analyses) > 1 else None
        )
        sections.append(_section(analysis, imgs, heading))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{escape(title)}</h1>",
            intro,
            *sections,
            f"<footer>Generated by lessdata {escape(__version__)}.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


# --- the report folder -----------------------------------------------------------------


def write_scaling_report(
    store_or_rows: ResultsStore | str | Path | Iterable[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    target: float | None = None,
    title: str = "lessdata scaling report",
    n_boot: int = 200,
    n_boot_seeds: int = 1000,
    confirm_seeds: Collection[int] | None = None,
) -> dict[str, Path]:
    """Write ``scaling.png``, ``widths.png`` (width sweeps) and ``report.html`` to ``out_dir``.

    Args:
        store_or_rows: a :class:`ResultsStore`, its folder, or rows as
            :meth:`ResultsStore.rows` returns them.
        out_dir: the folder to write into (created if needed).
        target: the error to reach in the tables (default: the full-data error).
        title: the page title.
        n_boot: bootstrap refits for each exponent's interval.
        n_boot_seeds: seed resamples for the examples-to-target and data-saved intervals.
        confirm_seeds: seeds held back to confirm each budget's winner picked on the
            others (None: the Holm-corrected claims over all seeds only).

    Returns:
        The written paths by name: ``html``, ``plot``, and ``widths`` when there are several
        widths (``plot-2``, ``widths-2``, ... for further groups of runs).
    """
    rows, meta = load_rows(store_or_rows)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LessdataError(f"out {out} is a file; give a folder for the report", param="out")
    analyses = analyse(
        rows, target=target, n_boot=n_boot, meta=meta, n_boot_seeds=n_boot_seeds,
        confirm_seeds=confirm_seeds,
    )  # fmt: skip
    if not analyses:
        raise LessdataError(
            "no finished runs to report on; run `lessdata scale run` first "
            "(failed runs alone make no curve)"
        )
    paths: dict[str, Path] = {}
    images = []
    for i, analysis in enumerate(analyses, start=1):
        suffix = "" if i == 1 else f"-{i}"
        imgs = {"scaling": render_scaling_png(analysis)}
        if len(analysis.widths) > 1:
            imgs["widths"] = render_widths_png(analysis)
        for name, png in imgs.items():
            file_name = f"{name}{suffix}.png"
            with atomic_path(out / file_name) as tmp:
                tmp.write_bytes(png)
            paths[("plot" if name == "scaling" else name) + suffix] = out / file_name
        images.append(imgs)
    page = render_html(analyses, images, title=title)
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    paths["html"] = out / "report.html"
    return paths
