"""The per-shard steps of parts mode (:mod:`lessdata.pipeline.sharded`).

Each step takes one shard of rows (``(start, stop)``) and small shared values; it reads the
vectors (memory-mapped) and the files earlier steps left in the run's work folder, writes
its own files atomically, and returns only what does not grow with the shard: counts. All
of them are module-level functions, so that Ray workers can run them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.data.atomic import atomic_path
from lessdata.data.manifest import META_KEY
from lessdata.data.manifest_parts import write_part
from lessdata.duplicates.semdedup_parts import gather_shard, scatter_shard
from lessdata.errors import LessdataError
from lessdata.kmeans import RUNNERS_UP, assign_shard, rows_as_float32
from lessdata.kmeans import _nearest as nearest_centroid
from lessdata.pipeline.rank_select import ScoreShard, at_or_above, shard_keys

Rows = tuple[int, int]


def check_rows_shard(rows: Rows, vectors: np.ndarray) -> tuple[int, list, int, list]:
    """Rows of one shard that are not finite, and rows that are all zeros (first five each)."""
    start, stop = rows
    block = np.asarray(vectors[start:stop])
    bad = np.flatnonzero(~np.isfinite(block).all(axis=1)) + start
    zero = np.flatnonzero(~block.any(axis=1)) + start
    return len(bad), bad[:5].tolist(), len(zero), zero[:5].tolist()


def _save(path: Path, values: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, values)


def _assigned(folder: str, start: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(Path(folder) / f"assign-{start:012d}.npz", allow_pickle=False) as saved:
        return saved["cluster"], saved["distance"]


def _runners_up(folder: str, start: int) -> np.ndarray:
    """The shard's next-nearest clusters (:func:`lessdata.kmeans.nearest_centroids`)."""
    with np.load(Path(folder) / f"assign-{start:012d}.npz", allow_pickle=False) as saved:
        return saved["runners_up"]


def assign_to_file(
    rows: Rows, vectors: np.ndarray, centroids: np.ndarray, spherical: bool, folder: str, k: int
) -> np.ndarray:
    """Nearest centroid, distance and next-nearest centroids of one shard, saved in
    ``folder``; returns the shard's cluster sizes (k counts)."""
    cluster, distance, runners_up = assign_shard(rows, vectors, centroids, spherical, RUNNERS_UP)
    with atomic_path(Path(folder) / f"assign-{rows[0]:012d}.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, cluster=cluster, distance=distance, runners_up=runners_up)
    return np.bincount(cluster, minlength=k)


def scatter_from_file(
    rows: Rows, bucket_of: np.ndarray, folder: str, shard_rows: int, cross: bool = False
) -> int:
    """SemDeDup's scatter step (:func:`~lessdata.duplicates.semdedup_parts.scatter_shard`)
    on the shard's saved assignment (with ``cross``, its next-nearest clusters too)."""
    cluster, distance = _assigned(folder, rows[0])
    runners_up = _runners_up(folder, rows[0]) if cross else None
    return scatter_shard(rows, rows[0] // shard_rows, cluster, distance, bucket_of, folder,
                         runners_up)  # fmt: skip


@dataclass(frozen=True)
class ColumnPlan:
    """What every shard computes once the global steps are done (small: O(k·d)).

    Attributes:
        metrics: the metrics, in the manifest's order (``prototypes``, ``semdedup``).
        centroids: the k-means centroids (normalised when ``spherical``).
        spherical: cosine geometry.
        proper: the clusters large enough to be prototypes (``prototypes``).
        buckets: SemDeDup's buckets (``semdedup``; 0 when there is none).
        shard_rows: rows per shard (a shard's index is its first row // shard_rows).
        folder: the run's work folder.
        cross: SemDeDup compared kept rows across clusters (``scope="neighbours"``).
    """

    metrics: tuple[str, ...]
    centroids: np.ndarray
    spherical: bool
    proper: np.ndarray
    buckets: int
    shard_rows: int
    folder: str
    cross: bool = False


def shard_columns(rows: Rows, vectors: np.ndarray, plan: ColumnPlan) -> dict[str, np.ndarray]:
    """The manifest columns of one shard, as the in-memory metrics name them."""
    cluster, distance = _assigned(plan.folder, rows[0])
    columns: dict[str, np.ndarray] = {}
    for metric in plan.metrics:
        if metric == "prototypes":
            own, score = _rescored(rows, vectors, plan, cluster.copy(), distance.copy())
            columns["prototypes"], columns["prototypes_cluster"] = score, own
        else:
            index = rows[0] // plan.shard_rows
            score, duplicate_of = gather_shard(rows, index, plan.buckets, plan.folder,
                                               plan.cross)  # fmt: skip
            columns["semdedup"] = score
            columns["semdedup_cluster"] = cluster
            columns["semdedup_duplicate_of"] = duplicate_of
    return columns


def _rescored(
    rows: Rows, vectors: np.ndarray, plan: ColumnPlan, cluster: np.ndarray, distance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of clusters too small to be prototypes measured against the nearest proper
    centroid (as :func:`lessdata.kmeans.assign` does with ``min_size``)."""
    proper, centroids = plan.proper, plan.centroids
    is_proper = np.zeros(len(centroids), dtype=bool)
    is_proper[proper] = True
    stray = np.flatnonzero(~is_proper[cluster])
    if len(proper) and len(stray):
        block = rows_as_float32(vectors, stray + rows[0], normalize=False)
        local, distance[stray] = nearest_centroid(block, centroids[proper], plan.spherical)
        cluster[stray] = proper[local]
    return cluster, distance


def columns_table(rows: Rows, columns: dict[str, np.ndarray]) -> pa.Table:
    """A shard's manifest rows: ``id`` (the row number) and the columns; duplicate columns
    hold the survivor's id (null when kept), as :func:`~lessdata.data.manifest.build_manifest`
    writes them."""
    fields: dict[str, pa.Array] = {"id": pa.array(np.arange(rows[0], rows[1], dtype=np.int64))}
    for name, values in columns.items():
        if name.endswith("_duplicate_of"):
            fields[name] = pa.array(values.astype(np.int64), mask=values < 0)
        elif np.issubdtype(values.dtype, np.integer):
            fields[name] = pa.array(values.astype(np.int64))
        else:
            fields[name] = pa.array(values.astype(np.float64))
    return pa.table(fields)


def _with_outcome(table: pa.Table, kept: np.ndarray, codes: np.ndarray, vocabulary: list[str]):
    reasons = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(vocabulary, type=pa.string())
    )
    return table.append_column("kept", pa.array(kept)).append_column("reason", reasons)


@dataclass(frozen=True)
class PartTarget:
    """Where and how a step writes its manifest part."""

    folder: str
    key: str
    count: int
    metadata: bytes

    def write(self, index: int, table: pa.Table) -> None:
        write_part(self.folder, self.key, index, self.count,
                   table.replace_schema_metadata({META_KEY: self.metadata}))  # fmt: skip


def score_part(rows: Rows, vectors: np.ndarray, plan: ColumnPlan, target: PartTarget) -> int:
    """``score``: one shard's manifest part."""
    target.write(
        rows[0] // plan.shard_rows, columns_table(rows, shard_columns(rows, vectors, plan))
    )
    return rows[1] - rows[0]


def dedup_part(
    rows: Rows, vectors: np.ndarray, plan: ColumnPlan, target: PartTarget, vocabulary: list[str]
) -> int:
    """``dedup`` (semantic): one shard's manifest part; returns its kept count."""
    columns = shard_columns(rows, vectors, plan)
    kept = columns["semdedup_duplicate_of"] < 0
    table = _with_outcome(columns_table(rows, columns), kept, (~kept).astype(np.int32), vocabulary)
    target.write(rows[0] // plan.shard_rows, table)
    return int(kept.sum())


def score_to_file(rows: Rows, vectors: np.ndarray, plan: ColumnPlan, metric: str) -> int:
    """``prune``'s scoring pass: one shard's columns saved in the work folder, and the
    column ``metric`` on its own for the selection passes."""
    columns = shard_columns(rows, vectors, plan)
    folder = Path(plan.folder)
    with atomic_path(folder / f"columns-{rows[0]:012d}.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **columns)
    _save(folder / f"score-{rows[0]:012d}.npy", columns[metric])
    return rows[1] - rows[0]


def prune_part(
    shard: ScoreShard, plan: ColumnPlan, tie_seed: int, boundary: tuple[int, int, int] | None,
    keep_high: bool, target: PartTarget, vocabulary: list[str],
) -> int:  # fmt: skip
    """``prune``: one shard's manifest part (columns, kept, reason); returns its kept
    count. Kept: at or above ``boundary`` (``keep_high``) or at or below; None: all."""
    _, start, size = shard
    if boundary is None:
        kept = np.ones(size, dtype=bool)
    else:
        hi, lo, rows = shard_keys(shard, tie_seed)
        above = at_or_above(hi, lo, rows, boundary)
        kept = above if keep_high else ~above | (rows == boundary[2])
    with np.load(Path(plan.folder) / f"columns-{start:012d}.npz", allow_pickle=False) as saved:
        columns = {name: saved[name] for name in saved.files}
    table = columns_table((start, start + size), columns)
    table = _with_outcome(table, kept, np.where(kept, 0, 1), vocabulary)
    target.write(start // plan.shard_rows, table)
    return int(kept.sum())


def copy_kept_part(
    part: tuple[str, int, int], vectors: np.ndarray, target: str, n_kept: int
) -> int:
    """Copy one manifest part's kept rows of ``vectors`` into the output ``.npy`` (made by
    the driver with ``n_kept`` rows) at the part's ``offset``."""
    path, start, offset = part
    flags = pq.read_table(path, columns=["kept"])["kept"].to_numpy(zero_copy_only=False)
    kept = np.flatnonzero(flags)
    if len(kept):
        out = np.load(target, mmap_mode="r+", allow_pickle=False)
        if out.shape[0] != n_kept:
            raise LessdataError(f"{target} has {out.shape[0]} rows, expected {n_kept}")
        out[offset : offset + len(kept)] = vectors[start + kept]
        out.flush()
        del out
    return len(kept)
