"""The terminal view of a manifest: the report's tables drawn with rich.

Manifest text goes into :class:`rich.text.Text` objects, never into markup strings, so a
preview such as ``"[bold]"`` is printed literally; control characters are stripped first so a
preview cannot send escape sequences to the terminal.
"""

from __future__ import annotations

import pyarrow as pa
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lessdata.report import _format as fmt
from lessdata.report.summary import Example, Summary, summarize

_PREVIEW_WIDTH = 60
_MAX_SHORT_WIDTH = 24
_FLEX_COLUMNS = frozenset({"preview", "kept example", "its duplicates"})


def _text(value: str, style: str = "") -> Text:
    return Text(value, style=style)


def _table(title: str, *columns: str, numeric: tuple[int, ...] = ()) -> Table:
    """A table whose short columns never wrap; free-text columns are cut to fit (see _fit)."""
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        caption_justify="left",
        show_edge=False,
    )
    for i, name in enumerate(columns):
        if name in _FLEX_COLUMNS:
            # Wrappable, so rich narrows it first; its cells are one-line Texts (see _clip).
            table.add_column(name, overflow="ellipsis")
        else:
            table.add_column(name, justify="right" if i in numeric else "left", no_wrap=True)
    return table


def _clip(text: Text) -> Text:
    """Mark free text to be cut with an ellipsis rather than wrapped, line by line."""
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _fit(table: Table) -> Table:
    """Keep ids, numbers and labels whole on a narrow terminal: only free text is shortened.

    Rich shrinks every column when a table is too wide; giving the short columns a minimum
    width equal to their content (capped) leaves the cut to the preview columns.
    """
    for column in table.columns:
        if column.header in _FLEX_COLUMNS:
            continue
        widths = [cell_len(str(column.header))]
        widths += [
            max((cell_len(line) for line in str(cell).splitlines()), default=0)
            for cell in column.cells
        ]
        column.min_width = min(max(widths), _MAX_SHORT_WIDTH)
    return table


def _counts(summary: Summary) -> list[Table]:
    tables = []
    counts = _table("Counts", "", "examples", "share", numeric=(1, 2))
    counts.add_row("examples", fmt.count(summary.n), "")
    if summary.kept is not None:
        counts.add_row(
            _text("kept", "blue"), fmt.count(summary.kept), fmt.percent(summary.kept, summary.n)
        )
        counts.add_row(
            _text("pruned", "dark_orange"),
            fmt.count(summary.pruned),
            fmt.percent(summary.pruned, summary.n),
        )
    tables.append(counts)
    if summary.reasons:
        reasons = _table("Per reason", "reason", "examples", "share", "kept", numeric=(1, 2, 3))
        for r in summary.reasons:
            reasons.add_row(
                _text(fmt.value(r.reason)),
                fmt.count(r.count),
                fmt.percent(r.count, summary.n),
                fmt.count(r.kept),
            )
        if summary.reasons_total > len(summary.reasons):
            reasons.caption = f"… and {summary.reasons_total - len(summary.reasons):,} more"
        tables.append(reasons)
    if summary.labels:
        labels = _table("Per label", "label", "kept", "of", "kept %", numeric=(1, 2, 3))
        for lab in summary.labels:
            labels.add_row(
                _text(fmt.value(lab.label)),
                fmt.count(lab.kept),
                fmt.count(lab.total),
                fmt.percent(lab.kept, lab.total),
            )
        if summary.labels_total > len(summary.labels):
            labels.caption = (
                f"showing {len(summary.labels):,} of {summary.labels_total:,} labels, "
                f"ordered by {summary.labels_order}"
            )
        tables.append(labels)
    return tables


def _scores(summary: Summary) -> Table:
    columns = ["metric", "min", "median", "max", "mean"]
    if summary.kept is not None:
        columns += ["kept mean", "pruned mean"]
    show_missing = any(m.missing for m in summary.metrics)
    if show_missing:
        columns.append("missing")
    table = _table("Scores", *columns, numeric=tuple(range(1, len(columns))))
    for m in summary.metrics:
        row: list[str | Text] = [_text(m.name, "bold")]
        row += [fmt.score(v) for v in (m.min, m.median, m.max, m.mean)]
        if summary.kept is not None:
            row += [fmt.score(m.kept_mean), fmt.score(m.pruned_mean)]
        if show_missing:
            row.append(fmt.count(m.missing))
        table.add_row(*row)
    return table


def _directions(summary: Summary) -> Text:
    """One dim line per metric saying what its score measures and which way is harder."""
    lines = Text(style="dim")
    for i, m in enumerate(summary.metrics):
        if i:
            lines.append("\n")
        lines.append(f"  {m.name}: {m.direction}")
    return lines


def _examples(summary: Summary, title: str, examples: list[Example]) -> Table:
    columns = ["#", "id", "score"]
    if summary.has_label:
        columns.append("label")
    if summary.kept is not None:
        columns.append("kept")
    if summary.has_preview:
        columns.append("preview")
    table = _table(title, *columns, numeric=(0, 2))
    for rank, ex in enumerate(examples, start=1):
        row: list[str | Text] = [str(rank), _text(fmt.value(ex.id)), fmt.score(ex.score)]
        if summary.has_label:
            row.append(_text(fmt.value(ex.label)))
        if summary.kept is not None:
            style = "" if ex.kept is None else ("blue" if ex.kept else "dark_orange")
            row.append(_text(fmt.kept_flag(ex.kept), style))
        if summary.has_preview:
            row.append(_clip(_text(fmt.clean_text(ex.preview))))
        table.add_row(*row)
    return table


def _one_line(ex: Example) -> Text:
    line = Text(fmt.value(ex.id), style="bold")
    if ex.preview is not None:
        line.append("  ")
        line.append(fmt.clean_text(ex.preview, limit=_PREVIEW_WIDTH), style="dim")
    return line


def _duplicates(summary: Summary) -> Table | Text | None:
    if not summary.has_duplicates:
        return None
    if not summary.duplicate_groups:
        return Text("No duplicates were found.")
    table = _table("Largest duplicate groups", "#", "size", "kept example", "its duplicates",
                   numeric=(0, 1))  # fmt: skip
    for rank, group in enumerate(summary.duplicate_groups, start=1):
        dups = Text("\n").join(_one_line(d) for d in group.duplicates)
        more = group.size - 1 - len(group.duplicates)
        if more > 0:
            dups.append(f"\n… and {more:,} more", style="italic")
        table.add_row(
            str(rank), fmt.count(group.size), _clip(_one_line(group.survivor)), _clip(dups)
        )
    table.caption = (
        f"{summary.duplicates_total:,} duplicates in {summary.duplicate_group_count:,} groups"
    )
    return table


def render_summary(summary: Summary, console: Console) -> None:
    """Print ``summary`` on ``console``."""
    items = fmt.meta_items(summary.meta)
    if items:
        header = Text()
        for i, (key, text) in enumerate(items):
            if i:
                header.append("  ")
            header.append(f"{key}: ", style="bold")
            header.append(text)
        console.print(header)
    for table in _counts(summary):
        console.print(_fit(table))
    console.print(_fit(_scores(summary)))
    console.print(_directions(summary))
    if summary.extremes_metric and not summary.lowest:
        console.print(Text(f"No finite {summary.extremes_metric} scores to rank."))
    elif summary.extremes_metric:
        low, high = summary.extremes_titles
        console.print(_fit(_examples(summary, low, summary.lowest)))
        console.print(_fit(_examples(summary, high, summary.highest)))
    duplicates = _duplicates(summary)
    if isinstance(duplicates, Table):
        console.print(_fit(duplicates))
    elif duplicates is not None:
        console.print(duplicates)


def print_summary(manifest: pa.Table, *, top: int = 10, console: Console | None = None) -> None:
    """Print the report's tables for ``manifest`` on the terminal (stdout by default)."""
    render_summary(summarize(manifest, top=top), console or Console())
