"""Files of rows split by partition: the shuffle between two engine steps.

A step that has rows for many partitions (a row shard's documents, by hash of their exact
digest) writes them with :func:`write_partitioned`: each column sorted by partition, in its
own ``.npy``, and the offsets where each partition starts. A step that handles one
partition reads its slice of every source's files with :func:`read_partition`, memory-mapped,
so it reads only that slice. Files are written atomically; nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lessdata.data.atomic import atomic_path


def _path(folder: str | Path, name: str, source: int, column: str) -> Path:
    return Path(folder) / f"{name}-{source:06d}-{column}.npy"


def _save(path: Path, values: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, values)


def write_partitioned(
    folder: str | Path, name: str, source: int, partition: np.ndarray, partitions: int,
    **columns: np.ndarray,
) -> None:  # fmt: skip
    """Write ``columns`` (one value per row) of source ``source``, grouped by ``partition``
    (each row's partition in ``[0, partitions)``; the order within a partition is kept)."""
    partition = np.asarray(partition, dtype=np.int64)
    order = np.argsort(partition, kind="stable")
    offsets = np.searchsorted(partition[order], np.arange(partitions + 1))
    for column, values in columns.items():
        _save(_path(folder, name, source, column), np.asarray(values)[order])
    _save(_path(folder, name, source, "offsets"), offsets.astype(np.int64))  # written last


def read_partition(
    folder: str | Path, name: str, sources: Iterable[int], partition: int, columns: list[str]
) -> dict[str, np.ndarray]:
    """Partition ``partition`` of every source in ``sources`` (in that order), as one array
    per column."""
    found: dict[str, list[np.ndarray]] = {column: [] for column in columns}
    for source in sources:
        offsets = np.load(_path(folder, name, source, "offsets"), allow_pickle=False)
        a, b = int(offsets[partition]), int(offsets[partition + 1])
        for column in columns:
            values = np.load(_path(folder, name, source, column), mmap_mode="r", allow_pickle=False)
            found[column].append(np.asarray(values[a:b]))
    return {
        column: np.concatenate(parts) if parts else np.empty(0) for column, parts in found.items()
    }
