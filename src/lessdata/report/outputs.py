"""Writing the report files, and ``lessdata inspect``: read, print, write.

Both files go through :func:`lessdata.data.atomic.atomic_path`, so a report beside a manifest is
either the previous complete one or the new complete one, never half written.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from rich.console import Console

from lessdata.data.atomic import atomic_path
from lessdata.data.manifest import manifest_settings, read_manifest
from lessdata.data.paths import REPORT_NAME, SCORES_PLOT_NAME
from lessdata.report.html import render_html
from lessdata.report.plot import render_scores_png
from lessdata.report.summary import Summary, summarize
from lessdata.report.terminal import render_summary


def write_report(
    manifest: pa.Table,
    out_dir: str | Path,
    *,
    title: str = "lessdata report",
    top: int = 10,
) -> dict[str, Path]:
    """Write ``out_dir/scores.png`` and a self-contained ``out_dir/report.html``.

    Returns ``{"plot": png_path, "html": html_path}``. ``top`` is how many extreme examples
    and duplicate groups are listed. Raises :class:`LessdataError` if ``manifest`` has no id
    or score columns.
    """
    return _write(manifest, summarize(manifest, top=top), Path(out_dir), title)


def _write(manifest: pa.Table, summary: Summary, out: Path, title: str) -> dict[str, Path]:
    """Render the plot once, then write it and the page that embeds it."""
    png = render_scores_png(manifest, title=title)
    plot_path, html_path = out / SCORES_PLOT_NAME, out / REPORT_NAME
    with atomic_path(plot_path) as tmp:
        tmp.write_bytes(png)
    with atomic_path(html_path) as tmp:
        tmp.write_text(render_html(summary, png, title=title), encoding="utf-8")
    return {"plot": plot_path, "html": html_path}


def inspect_manifest(
    path: str | Path,
    out_dir: str | Path | None = None,
    *,
    top: int = 10,
    console: Console | None = None,
) -> dict[str, Path]:
    """Read the manifest at ``path``, print its summary and write the report beside it.

    ``out_dir`` defaults to the manifest's folder. Returns the paths :func:`write_report`
    wrote. Raises :class:`LessdataError` for a missing, unreadable or non-manifest file.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest_settings(manifest).get("command") == "curate":
        return _inspect_curation(manifest, path, out_dir, console or Console())
    summary = summarize(manifest, top=top)
    render_summary(summary, console or Console())
    out = Path(out_dir) if out_dir is not None else path.parent
    return _write(manifest, summary, out, f"lessdata report: {path.name}")


def _inspect_curation(
    manifest: pa.Table, path: Path, out_dir: str | Path | None, console: Console
) -> dict[str, Path]:
    """Print a curate manifest's stages and reasons; with ``out_dir``, redraw its report.

    The manifest keeps only previews, so the redrawn duplicate clusters show previews; the
    report ``lessdata curate`` wrote (full texts) is left alone unless ``out_dir`` is it.
    """
    from collections import Counter

    import pyarrow.compute as pc
    from rich.table import Table

    from lessdata.report.curation import stage_counts, write_curation_report

    table = Table(title=f"{path}: documents per stage")
    for column in ("stage", "in", "removed", "remaining"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, n_in, gone, left in stage_counts(manifest):
        table.add_row(stage, f"{n_in:,}", f"{gone:,}", f"{left:,}")
    console.print(table)
    reasons = Table(title="reasons")
    reasons.add_column("reason")
    reasons.add_column("documents", justify="right")
    counts = Counter(pc.cast(manifest["reason"], pa.string()).to_pylist())
    for reason, count in counts.most_common():
        reasons.add_row(reason, f"{count:,}")
    console.print(reasons)
    if out_dir is None:
        return {}
    texts = manifest["preview"].combine_chunks() if "preview" in manifest.column_names else None
    if texts is None:
        texts = pa.nulls(manifest.num_rows, pa.string())
    return write_curation_report(manifest, texts, out_dir, title=f"lessdata curate: {path}")
