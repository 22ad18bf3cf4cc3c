"""Where the row-parallel steps run: in this process (``local``, the default) or on Ray.

A step is a plain top-level function ``step(item, *shared) -> result`` over one shard (a
range of rows, a group of clusters, a slice of documents); an engine maps it over the
shards. Steps do not know their engine (datatrove's executors, in miniature), so the
same shards give the same results on both: the local engine runs exactly the shards that
Ray would, in order, in this process.

Both engines can checkpoint: an engine with a ``work_dir`` saves every finished shard's
result there atomically, keyed by the step and its inputs, and a later run (after a killed
driver) loads those shards instead of recomputing them. The engine owns the checkpoints'
lifetime: they are cleared when the run that made them succeeds (:meth:`Engine.run`). On
Ray, a shard whose worker dies is retried.

Example:
    >>> from lessdata.engines import get_engine
    >>> engine = get_engine("local")
    >>> engine.map(pow, [2, 3], shared=(2,))
    [4, 9]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from lessdata.engines.base import ENGINES, Engine, MappedArray, resolve
from lessdata.engines.checkpoint import ShardCheckpoint
from lessdata.engines.local import LocalEngine
from lessdata.errors import LessdataError


def get_engine(
    engine: str | Engine | None = "local",
    *,
    address: str | None = None,
    workers: int | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> Engine:
    """The engine called ``engine`` (``local`` or ``ray``), or ``engine`` itself.

    Args:
        engine: ``local``, ``ray`` or an :class:`Engine` (returned as it is).
        address: Ray only: an existing cluster to join (``auto``, ``ray://host:10001`` or
            ``host:6379``); without it a local Ray cluster is started on first use.
        workers: Ray only: CPUs of the local cluster (default: all).
        work_dir: where finished shards are checkpointed (None: nowhere), so that a rerun
            after a killed driver resumes.

    Raises LessdataError for an unknown name or a missing Ray installation.
    """
    if engine is None:
        engine = "local"
    if isinstance(engine, Engine):
        return engine
    if engine == "local":
        if address is not None or workers is not None:
            raise LessdataError("`address` and `workers` apply to the ray engine")
        chosen: Engine = LocalEngine()
    elif engine == "ray":
        from lessdata.engines.ray_engine import RayEngine

        chosen = RayEngine(address=address, workers=workers)
    else:
        raise LessdataError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    chosen.work_dir = Path(work_dir) if work_dir is not None else None
    return chosen


@contextlib.contextmanager
def running_engine(
    engine: str | Engine | None = "local",
    *,
    address: str | None = None,
    workers: int | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> Iterator[Engine]:
    """:func:`get_engine` for one run (:meth:`Engine.run`): an engine made here is closed
    afterwards, and the checkpoints the run made are cleared when it succeeds.

    Args:
        engine, address, workers, work_dir: as for :func:`get_engine`. An :class:`Engine`
            passed in is the caller's and stays open (and keeps its own ``work_dir``).
    """
    chosen = get_engine(engine, address=address, workers=workers, work_dir=work_dir)
    try:
        with chosen.run():
            yield chosen
    finally:
        if chosen is not engine:
            chosen.close()


__all__ = [
    "ENGINES",
    "Engine",
    "LocalEngine",
    "MappedArray",
    "ShardCheckpoint",
    "get_engine",
    "resolve",
    "running_engine",
]
