"""Writing the report files, and ``lessdata inspect``: read, print, write.

Both files go through :func:`lessdata.data.atomic.atomic_path`, so a report beside a manifest is
either the previous complete one or the new complete one, never half written. ``inspect``
writes only into a folder lessdata owns (:func:`inspect_manifest` says which): never beside a
manifest in a folder of the user's files, where a ``report.html`` may be theirs.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pyarrow as pa
from rich.console import Console

from lessdata.data.atomic import atomic_path
from lessdata.data.manifest import manifest_settings, read_manifest
from lessdata.data.manifest_parts import is_parts_folder
from lessdata.data.paths import OUTPUT_MARKER, REPORT_NAME, SCORES_PLOT_NAME, OutputFolder
from lessdata.errors import LessdataError
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


#: the folder of manifest parts inside a ``prune``/``dedup``/``curate --parts`` output folder
_PARTS_SUBFOLDER = "manifest"


def _is_output_folder(folder: Path) -> bool:
    """True when ``folder`` is a real folder (not a link) carrying lessdata's output marker."""
    try:
        return stat.S_ISDIR(folder.lstat().st_mode) and (folder / OUTPUT_MARKER).is_file()
    except OSError:
        return False


def report_folder(path: str | Path) -> Path | None:
    """The lessdata output folder the manifest at ``path`` belongs to, or None.

    That is the folder holding a manifest file or given as a run folder (``prune --out RUN``
    → ``RUN/manifest.parquet``, shown as either), the folder of parts itself (``score
    --parts --out S`` → ``S``), or the run folder around a ``manifest/`` folder of parts
    (``prune --parts --out RUN`` → ``RUN/manifest/``, shown as ``RUN`` or ``RUN/manifest``),
    when that folder carries :data:`OUTPUT_MARKER` (and is not a
    link). Only there may ``inspect`` write without being told where: lessdata wrote the
    folder, so its ``report.html`` and ``scores.png`` are lessdata's to replace.
    """
    path = Path(path)
    if not path.is_dir():
        candidates = [path.parent]
    elif is_parts_folder(path) and path.name == _PARTS_SUBFOLDER:
        candidates = [path, path.parent]
    else:  # a folder of parts, or a run folder holding manifest.parquet or manifest/
        candidates = [path]
    return next((folder for folder in candidates if _is_output_folder(folder)), None)


def inspect_manifest(
    path: str | Path,
    out_dir: str | Path | None = None,
    *,
    top: int = 10,
    console: Console | None = None,
) -> dict[str, Path]:
    """Read the manifest at ``path``, print its summary and write ``scores.png`` and
    ``report.html`` into a folder lessdata owns.

    Where the two files go follows the rule of every lessdata command (nothing lessdata did
    not write is replaced):

    - ``out_dir`` given: that folder, under the rules of every output folder
      (:class:`~lessdata.data.paths.OutputFolder`): new, empty, or an earlier lessdata
      output (replaced whole); a link, a special file, a folder of other files, or a folder
      that is or holds the manifest read is refused before any work.
    - no ``out_dir``, and the manifest lies in a lessdata output folder
      (:func:`report_folder`: ``inspect RUN``, ``inspect RUN/manifest.parquet``,
      ``inspect RUN/manifest`` for a ``--parts`` run): into that folder, replacing only its
      ``report.html`` and ``scores.png``, each atomically.
    - otherwise (say, ``score --out scores.parquet`` beside the user's own files): nothing is
      written and ``{}`` is returned; pass ``out_dir`` for the files.

    A ``lessdata curate`` manifest prints its stages and reasons; its report (which shows
    full texts, not the manifest's previews) is redrawn only into ``out_dir``.

    Args:
        path: a manifest Parquet file, a folder of manifest parts, or a ``--parts`` run folder.
        out_dir: the folder for the report (see above); None: the manifest's run folder.
        top: how many extreme examples and duplicate groups are listed.
        console: where the summary is printed (default: the terminal).

    Returns:
        ``{"plot": png_path, "html": html_path}`` as written, or ``{}`` when nothing was.

    Raises:
        LessdataError: a missing, unreadable or non-manifest ``path`` (a damaged part named);
            an ``out_dir`` lessdata may not write; a link or special file where the run
            folder's report goes.

    Example:
        >>> import lessdata, numpy as np, tempfile, pathlib, io
        >>> from rich.console import Console
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> np.save(d / "x.npy", np.random.default_rng(0).normal(size=(200, 8)))
        >>> _ = lessdata.prune(str(d / "x.npy"), 0.5, out=d / "run", quiet=True)
        >>> sorted(inspect_manifest(d / "run", console=Console(file=io.StringIO())))
        ['html', 'plot']
    """
    path = Path(path)
    console = console or Console()
    if out_dir is None:
        return _inspect(path, None, top, console)
    with OutputFolder(out_dir, [path], command="inspect", name="out_dir") as folder:
        written = _inspect(path, folder.folder, top, console)
    return {name: folder.final_path(file) for name, file in written.items()}


def _inspect(path: Path, out: Path | None, top: int, console: Console) -> dict[str, Path]:
    """Read, print, and write into ``out`` (None: the manifest's run folder, if any)."""
    manifest = read_manifest(path)
    # a curation-stage manifest (curate, or dedup --method exact/near) has removed_by
    if manifest_settings(manifest).get("command") == "curate" or (
        "removed_by" in manifest.schema.names
    ):
        return _inspect_curation(manifest, path, out, console)
    summary = summarize(manifest, top=top)
    render_summary(summary, console)
    if out is None:
        out = report_folder(path)
        if out is None:
            return {}
        for name in (SCORES_PLOT_NAME, REPORT_NAME):
            _check_own_file(out / name)
    return _write(manifest, summary, out, f"lessdata report: {path.name}")


def _check_own_file(final: Path) -> None:
    """Refuse a link or special file where the run folder's report goes (never written
    through), naming it, before anything is written."""
    try:
        mode = final.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        kind = "a symbolic link"
    elif not stat.S_ISREG(mode):
        kind = "not a regular file"
    else:
        return
    raise LessdataError(
        f"{final} is {kind}; lessdata does not write through it: remove it, or write the "
        "report elsewhere with `out_dir`"
    )


def _inspect_curation(
    manifest: pa.Table, path: Path, out_dir: str | Path | None, console: Console
) -> dict[str, Path]:
    """Print a curate manifest's stages and reasons; with ``out_dir``, redraw its report.

    The manifest keeps only previews, so the redrawn duplicate clusters show previews; the
    report ``lessdata curate`` wrote (full texts) is left alone.
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
