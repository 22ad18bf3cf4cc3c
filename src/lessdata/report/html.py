"""The report as one self-contained HTML page.

The plot is embedded as a base64 data URI and the CSS is inline, so the single file can be
mailed, archived or opened from any folder. Every piece of manifest text (ids, labels,
reasons, previews, metadata) is HTML-escaped: previews are arbitrary user text.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

from lessdata._version import __version__
from lessdata.report import _format as fmt
from lessdata.report.summary import Example, Summary

BASE_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-top: 1.2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .25rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f5f5f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.id { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: nowrap; }
.note { color: #666; font-size: .9em; }
img.plot { max-width: 100%; height: auto; border: 1px solid #eee; }
"""

_CSS = (
    BASE_CSS
    + """
.preview { color: #444; word-break: break-word; }
.kept { color: #1f77b4; } .pruned { color: #d95f02; }
ul.dups { margin: 0; padding-left: 1.1rem; }
ul.dups li { margin: .1rem 0; }
footer { margin-top: 3rem; color: #888; font-size: .85em; }
"""
)


def html_image(png: bytes, alt: str) -> str:
    """A PNG embedded in the page as a data URI (the page stays one self-contained file)."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def html_cell(text: str, cls: str | None = None) -> str:
    """One escaped table cell, with an optional class (``num`` right-aligns)."""
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(text)}</td>"


def html_table(header: Sequence[str], rows: Iterable[str], numeric: Sequence[int] = ()) -> str:
    """A table of ``header`` and rendered ``rows``; columns in ``numeric`` right-aligned."""
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _counts(summary: Summary) -> str:
    parts = ['<h2 id="counts">Counts</h2>']
    rows = [html_cell("examples") + html_cell(fmt.count(summary.n), "num") + html_cell("")]
    if summary.kept is not None:
        rows.append(
            html_cell("kept")
            + html_cell(fmt.count(summary.kept), "num")
            + html_cell(fmt.percent(summary.kept, summary.n), "num")
        )
        rows.append(
            html_cell("pruned")
            + html_cell(fmt.count(summary.pruned), "num")
            + html_cell(fmt.percent(summary.pruned, summary.n), "num")
        )
    else:
        parts.append('<p class="note">No kept column: this manifest only scores examples.</p>')
    parts.append(html_table(["", "examples", "share"], rows, numeric=(1, 2)))

    if summary.reasons:
        parts.append("<h3>Per reason</h3>")
        rows = [
            html_cell(fmt.value(r.reason))
            + html_cell(fmt.count(r.count), "num")
            + html_cell(fmt.percent(r.count, summary.n), "num")
            + html_cell(fmt.count(r.kept), "num")
            for r in summary.reasons
        ]
        parts.append(html_table(["reason", "examples", "share", "kept"], rows, numeric=(1, 2, 3)))
        if summary.reasons_total > len(summary.reasons):
            more = summary.reasons_total - len(summary.reasons)
            parts.append(f'<p class="note">… and {more:,} more reasons.</p>')

    if summary.labels:
        parts.append("<h3>Per label</h3>")
        rows = [
            html_cell(fmt.value(lab.label), "id")
            + html_cell(fmt.count(lab.kept), "num")
            + html_cell(fmt.count(lab.total), "num")
            + html_cell(fmt.percent(lab.kept, lab.total), "num")
            for lab in summary.labels
        ]
        parts.append(html_table(["label", "kept", "of", "kept %"], rows, numeric=(1, 2, 3)))
        if summary.labels_total > len(summary.labels):
            parts.append(
                f'<p class="note">Showing {len(summary.labels):,} of '
                f"{summary.labels_total:,} labels, ordered by {escape(summary.labels_order)}.</p>"
            )
    return "\n".join(parts)


def _scores(summary: Summary, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    has_kept = summary.kept is not None
    header = ["metric", "direction", "min", "median", "max", "mean"]
    if has_kept:
        header += ["kept mean", "pruned mean"]
    header.append("missing")
    rows = []
    for m in summary.metrics:
        row = html_cell(m.name, "id") + html_cell(m.direction)
        row += "".join(html_cell(fmt.score(v), "num") for v in (m.min, m.median, m.max, m.mean))
        if has_kept:
            row += html_cell(fmt.score(m.kept_mean), "num") + html_cell(
                fmt.score(m.pruned_mean), "num"
            )
        row += html_cell(fmt.count(m.missing), "num")
        rows.append(row)
    numeric = tuple(range(2, len(header)))
    return "\n".join(
        [
            '<h2 id="scores">Score distributions</h2>',
            f'<img class="plot" alt="Histogram of each score, kept vs pruned" '
            f'src="data:image/png;base64,{data}">',
            html_table(header, rows, numeric=numeric),
        ]
    )


def _examples(summary: Summary, examples: list[Example]) -> str:
    header = ["#", "id", "score"]
    if summary.has_label:
        header.append("label")
    if summary.kept is not None:
        header.append("kept")
    if summary.has_preview:
        header.append("preview")
    rows = []
    for rank, ex in enumerate(examples, start=1):
        row = html_cell(str(rank), "num") + html_cell(fmt.value(ex.id), "id")
        row += html_cell(fmt.score(ex.score), "num")
        if summary.has_label:
            row += html_cell(fmt.value(ex.label), "id")
        if summary.kept is not None:
            flag = fmt.kept_flag(ex.kept)
            row += html_cell(flag, flag if ex.kept is not None else None)
        if summary.has_preview:
            row += html_cell(fmt.clean_text(ex.preview), "preview")
        rows.append(row)
    return html_table(header, rows, numeric=(0, 2))


def _extremes(summary: Summary) -> str:
    if summary.extremes_metric is None:
        return ""
    if not summary.lowest:
        return (
            '<h2 id="extremes">Extremes</h2>\n<p class="note">No finite '
            f"{escape(summary.extremes_metric)} scores to rank.</p>"
        )
    low, high = summary.extremes_titles
    return "\n".join(
        [
            '<h2 id="extremes">Extremes</h2>',
            f'<h3 id="lowest">{escape(low)}</h3>',
            _examples(summary, summary.lowest),
            f'<h3 id="highest">{escape(high)}</h3>',
            _examples(summary, summary.highest),
        ]
    )


def _example_html(ex: Example, show_score: bool) -> str:
    parts = [f'<span class="id">{escape(fmt.value(ex.id))}</span>']
    if show_score and ex.score is not None:
        parts.append(f'<span class="note">d={escape(fmt.score(ex.score))}</span>')
    if ex.preview is not None:
        parts.append(f'<span class="preview">{escape(fmt.clean_text(ex.preview))}</span>')
    return " ".join(parts)


def _duplicates(summary: Summary) -> str:
    if not summary.has_duplicates:
        return ""
    parts = ['<h2 id="duplicates">Largest duplicate groups</h2>']
    if not summary.duplicate_groups:
        parts.append('<p class="note">No duplicates were found.</p>')
        return "\n".join(parts)
    parts.append(
        f'<p class="note">{summary.duplicates_total:,} duplicates in '
        f"{summary.duplicate_group_count:,} groups; each group keeps one example. "
        "Duplicates are listed closest first (d = cosine distance).</p>"
    )
    rows = []
    for rank, group in enumerate(summary.duplicate_groups, start=1):
        items = [f"<li>{_example_html(d, show_score=True)}</li>" for d in group.duplicates]
        more = group.size - 1 - len(group.duplicates)
        if more > 0:
            items.append(f'<li class="note">… and {more:,} more</li>')
        rows.append(
            html_cell(str(rank), "num")
            + html_cell(fmt.count(group.size), "num")
            + f"<td>{_example_html(group.survivor, show_score=False)}</td>"
            + f'<td><ul class="dups">{"".join(items)}</ul></td>'
        )
    parts.append(html_table(["#", "size", "kept example", "its duplicates"], rows, numeric=(0, 1)))
    return "\n".join(parts)


def _run(summary: Summary) -> str:
    items = fmt.meta_items(summary.meta)
    if not items:
        return '<p class="note">No lessdata metadata in this manifest.</p>'
    rows = [f"<th>{escape(k)}</th>{html_cell(v)}" for k, v in items]
    body = "\n".join(f"<tr>{r}</tr>" for r in rows)
    return f'<table class="run">\n{body}\n</table>'


def render_html(summary: Summary, png: bytes, *, title: str = "lessdata report") -> str:
    """The whole report page for ``summary`` with the ``png`` score plot embedded."""
    sections = [
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
        _run(summary),
        _counts(summary),
        _scores(summary, png),
        _extremes(summary),
        _duplicates(summary),
        f"<footer>Generated by lessdata {escape(__version__)}.</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(s for s in sections if s)
