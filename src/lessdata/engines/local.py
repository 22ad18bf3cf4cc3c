"""The default engine: every shard in this process, one after another, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lessdata.engines.base import Engine, call_step


class LocalEngine(Engine):
    """Runs shards in order in the calling process; needs nothing beyond lessdata."""

    name = "local"
    workers = 1

    def _run(
        self, step: Callable[..., Any], items: Sequence[Any], todo: list[int], shared: list[Any]
    ) -> Iterator[tuple[int, Any]]:
        for index in todo:
            yield index, call_step(step, items[index], *shared)
