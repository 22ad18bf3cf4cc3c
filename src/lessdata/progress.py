"""Progress bars for long work, on stderr, silent when LESSDATA_QUIET is set."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lessdata.errors import LessdataError

T = TypeVar("T")

_console = Console(stderr=True)
_drawing = False  # rich draws one live display at a time: inner loops go without a bar
_silenced = 0  # how many `silenced()` blocks are open


def quiet() -> bool:
    """True when progress output is switched off (LESSDATA_QUIET=1, or a `quiet=True` call)."""
    return _silenced > 0 or os.environ.get("LESSDATA_QUIET", "") not in ("", "0")


@contextmanager
def silenced(on: bool = True) -> Iterator[None]:
    """No progress bars or status lines inside the block when ``on``."""
    global _silenced
    _silenced += bool(on)
    try:
        yield
    finally:
        _silenced -= bool(on)


F = TypeVar("F", bound=Callable[..., Any])


def honours_quiet(fn: F) -> F:
    """Run ``fn`` silenced when it is called with ``quiet=True`` (``fn`` declares ``quiet``)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet_flag = kwargs.get("quiet", False)
        if not isinstance(quiet_flag, bool):
            raise LessdataError(f"quiet must be True or False, got {quiet_flag!r}", param="quiet")
        with silenced(quiet_flag):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


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
