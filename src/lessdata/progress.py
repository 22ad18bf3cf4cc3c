"""Progress bars for long work, on stderr, silent when LESSDATA_QUIET is set."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

_console = Console(stderr=True)
_drawing = False  # rich draws one live display at a time: inner loops go without a bar


def quiet() -> bool:
    """True when progress output is switched off (LESSDATA_QUIET=1)."""
    return os.environ.get("LESSDATA_QUIET", "") not in ("", "0")


def track(items: Iterable[T], total: int | None, description: str) -> Iterator[T]:
    """Yield ``items`` while drawing a progress bar of ``total`` steps.

    Inside another bar (an engine's shards around an encoder's batches) no second bar is
    drawn: the outer one shows the progress.
    """
    global _drawing
    if quiet() or _drawing:
        yield from items
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    _drawing = True
    try:
        with Progress(*columns, console=_console, transient=False) as progress:
            task = progress.add_task(description, total=total)
            for item in items:
                yield item
                progress.advance(task)
    finally:
        _drawing = False


def log(message: str) -> None:
    """Print one status line on stderr (unless quiet)."""
    if not quiet():
        _console.print(message, highlight=False, soft_wrap=True)
