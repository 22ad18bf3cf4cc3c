"""The report of ``lessdata curate``: what was removed at each stage, and why.

One PNG (documents per stage, reasons, histograms of the quality values with their
thresholds and of the near-duplicate similarities) and one self-contained HTML page with
the counts per stage and reason, and the largest duplicate clusters shown side by side: the
kept document next to one it replaced. All document text is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
import math
from collections import Counter
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata._version import __version__
from lessdata.data.atomic import atomic_path
from lessdata.data.manifest import CURATION_STAGES, manifest_settings
from lessdata.data.paths import CURATION_PLOT_NAME, REPORT_NAME
from lessdata.report.html import BASE_CSS, html_table

#: duplicate columns written by the dedup stages, in stage order
DUPLICATE_COLUMNS = {
    "exact": "exact_duplicate_of",
    "near": "near_duplicate_of",
    "semantic": "semdedup_duplicate_of",
}
CLUSTERS_SHOWN = 5
LINES_SHOWN = 30

_CSS = (
    BASE_CSS
    + """
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; margin: .4rem 0 1.2rem; }
.pair pre { margin: 0; padding: .5rem; background: #fafafa; border: 1px solid #e5e5e5;
            overflow-x: auto; font-size: 12px; max-height: 28rem; }
.pair .head { font-size: .85em; color: #555; margin-bottom: .2rem; }
.kept { color: #1f77b4; } .removed { color: #d95f02; }
footer { margin-top: 3rem; color: #888; font-size: .85em; }
"""
)


def stage_counts(manifest: pa.Table) -> list[tuple[str, int, int, int]]:
    """``(stage, documents in, removed, remaining)`` for each stage that ran, in order."""
    removed: dict[str, int] = manifest_settings(manifest).get("removed", {})

    rows = []
    remaining = manifest.num_rows
    for stage in CURATION_STAGES:
        if stage in removed or (stage == "read"):
            gone = int(removed.get(stage, 0))
            rows.append((stage, remaining, gone, remaining - gone))
            remaining -= gone
    return rows


#: the texts of manifest rows, for the duplicate examples: an Arrow array with one text per
#: row, or a function of a list of row numbers that returns their texts (None: no text)
TextSource = pa.Array | pa.ChunkedArray | Callable[[list[int]], Sequence[str | None]]


def write_curation_report(
    manifest: pa.Table, texts: TextSource, out_dir: str | Path, *, title: str = "lessdata curate"
) -> dict[str, Path]:
    """Write ``curation.png`` and ``report.html`` into ``out_dir``; return their paths.

    ``texts`` gives the full texts of the few rows shown side by side in the duplicate
    examples (the manifest itself keeps only a preview): an Arrow array of every row's text
    (null for rows the reader skipped), or a function ``texts_of(rows) -> texts`` that reads
    just those rows (``lessdata curate`` reads them from its shard files, so the corpus is
    never held in memory).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = render_curation_png(manifest)
    paths = {"plot": out / CURATION_PLOT_NAME, "html": out / REPORT_NAME}
    with atomic_path(paths["plot"]) as tmp:
        tmp.write_bytes(png)
    page = render_curation_html(manifest, texts, png, title=title)
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return paths


def _texts_of(texts: TextSource, rows: list[int]) -> dict[int, str | None]:
    """``{row: text}`` for ``rows``, from an Arrow array or a ``texts_of`` function."""
    if not rows:
        return {}
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        found = texts.take(pa.array(rows, type=pa.int64())).to_pylist()
    else:
        found = list(texts(rows))
    return dict(zip(rows, found, strict=True))


# --- the figure --------------------------------------------------------------------------


def _histogram_columns(manifest: pa.Table) -> list[str]:
    names = [n for n in manifest.column_names if n.startswith("quality_")]
    if "near_jaccard" in manifest.column_names:
        names.append("near_jaccard")  # of each removed document to the one kept in its place
    return names


def _bins(values: np.ndarray, most: int = 40) -> int:
    """``most`` histogram bins, or one when the values span too little to split (values that
    differ only by rounding, such as 1.0 and 0.9999999999999999, make NumPy refuse 40)."""
    if len(values) == 0:
        return most
    span = float(values.max() - values.min())
    return most if span > 1e-9 * max(1.0, float(np.abs(values).max())) else 1


def render_curation_png(manifest: pa.Table) -> bytes:
    """Documents per stage, then one histogram per quality value (thresholds dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = _histogram_columns(manifest)
    panels = 1 + len(columns)
    ncols = min(3, panels)
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows), squeeze=False)
    flat = axes.ravel()
    counts = stage_counts(manifest)
    ax = flat[0]
    labels = [c[0] for c in counts] + ["kept"]
    values = [c[2] for c in counts] + [counts[-1][3] if counts else manifest.num_rows]
    colours = ["#d95f02"] * len(counts) + ["#1f77b4"]
    ax.barh(labels[::-1], values[::-1], color=colours[::-1])
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v:,}", va="center", fontsize=8)
    ax.set_title("documents removed per stage", fontsize=10)
    ax.set_xlim(0, max([*values, 1]) * 1.25)
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    thresholds = manifest_settings(manifest).get("thresholds", {})
    for ax, name in zip(flat[1:], columns, strict=False):
        values_ = manifest[name].to_numpy(zero_copy_only=False).astype(float)
        values_ = values_[np.isfinite(values_)]
        counts_, _, _ = ax.hist(values_, bins=_bins(values_), color="#4c72b0")
        bounds = thresholds.get(name.removeprefix("quality_"), [None, None])
        for bound in bounds:
            if bound is not None:
                ax.axvline(bound, color="#d95f02", ls="--", lw=1)
        if len(counts_) and counts_.max() > 10 * max(counts_.min(), 1):
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
    for ax in flat[panels:]:
        ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# --- the page ----------------------------------------------------------------------------


def _stages_html(manifest: pa.Table) -> str:
    rows = [
        f"<td>{escape(stage)}</td><td class='num'>{n_in:,}</td><td class='num'>{gone:,}</td>"
        f"<td class='num'>{100 * gone / max(n_in, 1):.1f}%</td><td class='num'>{left:,}</td>"
        for stage, n_in, gone, left in stage_counts(manifest)
    ]
    return html_table(
        ["stage", "documents in", "removed", "share", "remaining"], rows, (1, 2, 3, 4)
    )


def _reasons_html(manifest: pa.Table) -> str:
    reasons = Counter(pc.cast(manifest["reason"], pa.string()).to_pylist())
    rows = [
        f"<td>{escape(reason)}</td><td class='num'>{count:,}</td>"
        for reason, count in reasons.most_common()
    ]
    return html_table(["reason", "documents"], rows, (1,))


def largest_clusters(manifest: pa.Table, column: str, top: int) -> list[tuple[int, list[int]]]:
    """The ``top`` largest groups of ``column``: ``(kept row, [removed rows])``, largest first
    (ties: lowest kept row), removed rows ascending. Vectorised: no Python object per row."""
    kept_row = pc.index_in(manifest[column], value_set=manifest["id"].combine_chunks())
    target = pc.fill_null(kept_row, -1).to_numpy().astype(np.int64)
    removed = np.flatnonzero(target >= 0)
    if len(removed) == 0:
        return []
    sizes = np.bincount(target[removed])
    keepers = np.flatnonzero(sizes)
    order = np.lexsort((keepers, -sizes[keepers]))[:top]
    return [(int(k), removed[target[removed] == k].tolist()) for k in keepers[order]]


def _snippet(text: Any) -> str:
    lines = str(text or "").splitlines()
    more = len(lines) - LINES_SHOWN
    shown = "\n".join(lines[:LINES_SHOWN])
    return escape(shown + (f"\n… {more} more lines" if more > 0 else ""))


def _clusters_html(manifest: pa.Table, texts: TextSource) -> str:
    ids = manifest["id"]
    jaccard = manifest["near_jaccard"] if "near_jaccard" in manifest.column_names else None
    shown = {
        stage: largest_clusters(manifest, column, CLUSTERS_SHOWN)
        for stage, column in DUPLICATE_COLUMNS.items()
        if column in manifest.column_names
    }
    wanted = sorted(
        {row for found in shown.values() for kept, gone in found for row in (kept, gone[0])}
    )
    text_of = _texts_of(texts, wanted)  # one read for every example shown
    parts = []
    for stage, clusters in shown.items():
        parts.append(f"<h3>{escape(stage)} duplicates</h3>")
        if not clusters:
            parts.append('<p class="note">none found</p>')
            continue
        for kept, removed in clusters:
            other = removed[0]
            similarity = ""
            if stage == "near" and jaccard is not None:
                similarity = f" · Jaccard {jaccard[other].as_py():.3f}"
            parts.append(
                f"<p>cluster of {len(removed) + 1} documents: "
                f'<span class="id">{escape(str(ids[kept].as_py()))}</span> kept, '
                f"{len(removed)} removed{similarity}</p>"
                '<div class="pair">'
                f'<div><div class="head kept">kept: {escape(str(ids[kept].as_py()))}</div>'
                f"<pre>{_snippet(text_of[kept])}</pre></div>"
                f'<div><div class="head removed">removed: {escape(str(ids[other].as_py()))}'
                f"</div><pre>{_snippet(text_of[other])}</pre></div></div>"
            )
    return "\n".join(parts)


def render_curation_html(
    manifest: pa.Table, texts: TextSource, png: bytes, *, title: str = "lessdata curate"
) -> str:
    """The whole page as a string (self-contained: CSS inline, figure as a data URI)."""
    settings = manifest_settings(manifest)
    kept = int(pc.sum(manifest["kept"]).as_py() or 0)
    image = base64.b64encode(png).decode("ascii")
    share = 100 * kept / max(manifest.num_rows, 1)
    shown = {k: v for k, v in settings.items() if k not in ("removed",)}
    settings_rows = [
        f"<td>{escape(str(k))}</td><td>{escape(str(v))}</td>" for k, v in shown.items()
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p>{kept:,} of {manifest.num_rows:,} documents kept ({share:.1f}%).</p>
<h2>Stages</h2>
{_stages_html(manifest)}
<h2>Reasons</h2>
{_reasons_html(manifest)}
<h2>Distributions</h2>
<img class="plot" alt="documents removed per stage and histograms of the quality values"
 src="data:image/png;base64,{image}">
<h2>Largest duplicate clusters</h2>
{_clusters_html(manifest, texts)}
<h2>Settings</h2>
{html_table(["setting", "value"], settings_rows)}
<footer>lessdata {escape(__version__)}</footer>
</body></html>
"""
