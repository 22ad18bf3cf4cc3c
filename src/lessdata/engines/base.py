"""What every engine shares: the interface, shard checkpoints, and arrays passed by path."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.engines.checkpoint import DamagedCheckpoint, ShardCheckpoint
from lessdata.progress import log, track

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class MappedArray:
    """A memory-mapped ``.npy`` passed to workers by path instead of by value.

    Pickling an ``np.memmap`` copies all its data; this small record reopens the same file
    (read-only) in the worker, so a shard reads only the rows it touches.
    """

    path: str
    dtype: str
    shape: tuple[int, ...]
    offset: int

    @classmethod
    def of(cls, array: np.ndarray) -> MappedArray | None:
        """The record for ``array`` if it is a whole-file read-only memory map, else None."""
        if not isinstance(array, np.memmap) or array.filename is None:
            return None
        # a slice of a map keeps its parent's filename and offset: accept whole files only
        whole = array.offset + array.nbytes == os.path.getsize(array.filename)
        if not array.flags.c_contiguous or not whole:
            return None
        return cls(str(array.filename), array.dtype.str, tuple(array.shape), int(array.offset))

    def open(self) -> np.ndarray:
        """The array, memory-mapped read-only."""
        return np.memmap(
            self.path, dtype=np.dtype(self.dtype), mode="r", offset=self.offset, shape=self.shape
        )


def resolve(value: Any) -> Any:
    """Inside a step: a :class:`MappedArray` becomes its array; anything else stays.

    Args:
        value: a shared argument as a worker received it.
    """
    return value.open() if isinstance(value, MappedArray) else value


def call_step(step: Callable[..., Any], item: Any, *shared: Any) -> Any:
    """Run ``step(item, *shared)`` with memory-mapped arrays reopened (how workers call)."""
    return step(item, *(resolve(value) for value in shared))


def fingerprint(*parts: Any) -> str:
    """A short stable hash of ``parts`` (strings, numbers, tuples, arrays) for folder names.

    Arrays are hashed by content, except memory maps of whole files, which are hashed by
    path, size, modification time and shape (reading a large file just to name a folder
    would cost as much as the step).
    """
    h = hashlib.sha256()
    for part in parts:
        mapped = MappedArray.of(part) if isinstance(part, np.ndarray) else None
        if mapped is not None:
            stat = os.stat(mapped.path)
            part = (os.path.realpath(mapped.path), stat.st_size, stat.st_mtime_ns, mapped.shape)
        if isinstance(part, np.ndarray):
            h.update(repr((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


class Engine:
    """Runs a step over shards. Subclasses implement :meth:`_run` and may override
    :meth:`share`.

    The engine owns the lifetime of its checkpoints: :meth:`imap` creates (or finds) the
    checkpoint of a step, resumes from it, and clears it once the results are safe: at the
    end of the open :meth:`run` when one is open (so that a rerun after a failure in a later
    step of the same run still finds them), else as soon as the step has finished.
    """

    name = "engine"
    #: CPUs the engine can use at once (shards in flight)
    workers = 1
    #: where :meth:`checkpoint` puts finished shards; None: no checkpoints
    work_dir: Path | None = None
    #: how many :meth:`run` blocks are open, and the checkpoints they will clear
    _depth = 0
    _made: list[ShardCheckpoint]

    def checkpoint(self, step: str, *inputs: Any) -> ShardCheckpoint | None:
        """The checkpoint folder of ``step`` on ``inputs`` under :attr:`work_dir`, if set.

        Inside :meth:`run` it is cleared when the run ends without an error; outside, it is
        the caller's to clear. Steps usually pass a key to :meth:`imap` instead; callers
        that keep files beside a step's checkpoint (curate's shard files) take it from here.
        """
        if self.work_dir is None:
            return None
        found = ShardCheckpoint(Path(self.work_dir) / f"{step}-{fingerprint(step, *inputs)}")
        if self._depth:
            self._made.append(found)
        return found

    @contextlib.contextmanager
    def run(self) -> Iterator[Engine]:
        """One run of a command: the checkpoints made inside are cleared when it succeeds.

        When the run fails (an error, a killed driver), they stay for the rerun. Runs nest:
        only the outermost one clears.
        """
        if not self._depth:
            self._made = []
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            raise
        self._depth -= 1
        if not self._depth:
            for made in self._made:
                made.clear()
            self._made = []

    def _resolve_checkpoint(self, checkpoint: Any) -> tuple[ShardCheckpoint | None, bool]:
        """``checkpoint`` as a folder, and whether this step should clear it when done.

        A key makes the engine's own checkpoint (cleared by the step when no run is open); a
        folder passed in is the caller's (or the open run's, when :meth:`checkpoint` made it).
        """
        if checkpoint is None or isinstance(checkpoint, ShardCheckpoint):
            return checkpoint, False
        step, *inputs = checkpoint if isinstance(checkpoint, tuple) else (checkpoint,)
        return self.checkpoint(str(step), *inputs), not self._depth

    def share(self, value: Any) -> Any:
        """Prepare a large read-only argument for many shards (the local engine: as is)."""
        return value

    def imap(
        self,
        step: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: Sequence[Any] = (),
        label: str = "shards",
        checkpoint: ShardCheckpoint | tuple | str | None = None,
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, step(items[index], *shared))`` for every shard as it finishes.

        ``checkpoint`` names the step's checkpoint: a key ``(step name, *inputs)`` (the
        engine makes the folder under :attr:`work_dir`, see :meth:`checkpoint`), or a folder
        from :meth:`checkpoint`. Shards already there are loaded, not recomputed; new
        results are saved there before they are yielded. The order of yielding is the
        engine's; use the index.
        """
        checkpoint, owned = self._resolve_checkpoint(checkpoint)
        todo = []
        done = 0
        for index in range(len(items)):
            if checkpoint is not None and checkpoint.done(index):
                try:
                    stored = checkpoint.load(index)
                except DamagedCheckpoint as exc:
                    log(f"{label}: recomputing shard {index}: its checkpoint is damaged ({exc})")
                    todo.append(index)
                    continue
                done += 1
                yield index, stored
            else:
                todo.append(index)
        if done:
            log(f"{label}: resumed {done} of {len(items)} shards from {checkpoint.folder}")
        results = self._run(step, items, todo, [self.share(v) for v in shared])
        for index, result in track(results, len(todo), f"{label} ({self.name})"):
            if checkpoint is not None:
                checkpoint.save(index, result)
            yield index, result
        if owned and checkpoint is not None:  # no run is open: the step's results are out
            checkpoint.clear()

    def map(
        self,
        step: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: Sequence[Any] = (),
        label: str = "shards",
        checkpoint: ShardCheckpoint | tuple | str | None = None,
    ) -> list[Any]:
        """``[step(item, *shared) for item in items]``, computed by the engine."""
        out: list[Any] = [None] * len(items)
        for index, result in self.imap(
            step, items, shared=shared, label=label, checkpoint=checkpoint
        ):
            out[index] = result
        return out

    def _run(
        self, step: Callable[..., Any], items: Sequence[Any], todo: list[int], shared: list[Any]
    ) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine started (the local engine: nothing)."""
