"""SemDeDup over shards of rows, without gathering any per-row array on one process.

SemDeDup walks each k-means cluster on its own (:mod:`lessdata.duplicates.semdedup`), but a
cluster's rows are spread over every row shard. So the work is a shuffle, as MapReduce
would do it, through files in a work folder:

1. **scatter** (one task per row shard): the shard's rows, their cluster and their distance
   to the centroid, sorted by *bucket* (a group of whole clusters of about
   :data:`~lessdata.duplicates.semdedup.SHARD_ROWS` rows, planned on the driver from the
   k cluster sizes alone), with the offsets where each bucket starts;
2. **dedup** (one task per bucket): the bucket's slice of every scatter file, each cluster
   walked in survivor order (:func:`~lessdata.duplicates.semdedup.walk_rows`: the same order
   as in memory) and deduplicated by :func:`~lessdata.duplicates.semdedup.dedup_cluster`;
   the results sorted by row, with the offsets where each row shard starts;
3. **gather** (in the row shard's own later pass, :func:`gather_shard`): the shard's slice
   of every bucket's results.

Every file is a ``.npy`` written atomically and read memory-mapped, so a task reads only
its slices. The driver holds the k cluster sizes and the bucket plan (O(k)).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from lessdata.data.atomic import atomic_path
from lessdata.duplicates import semdedup
from lessdata.duplicates.semdedup import NO_NEIGHBOUR, dedup_cluster, walk_rows


def plan_buckets(sizes: np.ndarray) -> np.ndarray:
    """Each cluster's bucket (-1 for clusters of fewer than two rows: nothing to walk):
    consecutive clusters grouped until a bucket holds about ``SHARD_ROWS`` rows."""
    bucket = np.full(len(sizes), -1, dtype=np.int64)
    current, filled = 0, 0
    for c in np.flatnonzero(sizes >= 2):
        if filled >= semdedup.SHARD_ROWS:
            current, filled = current + 1, 0
        bucket[c] = current
        filled += int(sizes[c])
    return bucket


def _save(path: Path, values: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, values)


def _load(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def scatter_shard(
    rows: tuple[int, int], cluster: np.ndarray, distance: np.ndarray, bucket_of: np.ndarray,
    folder: str,
) -> int:  # fmt: skip
    """Step 1 for the shard of rows [start, stop) with its ``cluster`` and centroid
    ``distance``: its rows grouped by bucket, saved in ``folder``; returns the rows kept."""
    start, _ = rows
    bucket = bucket_of[cluster]
    inside = np.flatnonzero(bucket >= 0)
    order = inside[np.argsort(bucket[inside], kind="stable")]
    offsets = np.searchsorted(bucket[order], np.arange(int(bucket_of.max(initial=-1)) + 2))
    base = Path(folder)
    _save(base / f"scatter-rows-{start:012d}.npy", (order + start).astype(np.int64))
    _save(base / f"scatter-cluster-{start:012d}.npy", cluster[order].astype(np.int64))
    _save(base / f"scatter-distance-{start:012d}.npy", distance[order].astype(np.float64))
    _save(base / f"scatter-offsets-{start:012d}.npy", offsets.astype(np.int64))
    return len(order)


def dedup_bucket(
    bucket: int, vectors: np.ndarray, shard_starts: np.ndarray, folder: str, threshold: float,
    survivor: str, seed: int,
) -> int:  # fmt: skip
    """Step 2 for one bucket: SemDeDup on each of its clusters; results saved by row shard.

    ``shard_starts``: the first row of every row shard, then N.
    """
    base = Path(folder)
    found = {"rows": [], "cluster": [], "distance": []}
    for start in shard_starts[:-1]:
        offsets = _load(base / f"scatter-offsets-{start:012d}.npy")
        a, b = int(offsets[bucket]), int(offsets[bucket + 1])
        for name in found:
            found[name].append(np.asarray(_load(base / f"scatter-{name}-{start:012d}.npy")[a:b]))
    rows, cluster, distance = (np.concatenate(found[name]) for name in found)
    walk = walk_rows(rows, cluster, distance, survivor, seed)
    rows, cluster = rows[walk], cluster[walk]
    score = np.full(len(rows), NO_NEIGHBOUR, dtype=np.float64)
    duplicate_of = np.full(len(rows), -1, dtype=np.int64)
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(cluster)) + 1, [len(rows)]))
    for b0, b1 in itertools.pairwise(bounds):
        sims, nearest, kept = dedup_cluster(vectors, rows[b0:b1], threshold)
        has = nearest >= 0
        score[b0:b1][has] = 1.0 - sims[has]
        dup = np.flatnonzero(~kept)
        duplicate_of[b0 + dup] = rows[b0 + nearest[dup]]
    by_row = np.argsort(rows, kind="stable")
    rows, score, duplicate_of = rows[by_row], score[by_row], duplicate_of[by_row]
    offsets = np.searchsorted(rows, shard_starts)
    _save(base / f"result-rows-{bucket:06d}.npy", rows)
    _save(base / f"result-score-{bucket:06d}.npy", score)
    _save(base / f"result-duplicate-{bucket:06d}.npy", duplicate_of)
    _save(base / f"result-offsets-{bucket:06d}.npy", offsets.astype(np.int64))
    return len(rows)


def gather_shard(
    rows: tuple[int, int], shard_index: int, buckets: int, folder: str
) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: the SemDeDup score and duplicate (row, -1 when kept) of rows [start, stop)."""
    start, stop = rows
    score = np.full(stop - start, NO_NEIGHBOUR, dtype=np.float64)
    duplicate_of = np.full(stop - start, -1, dtype=np.int64)
    base = Path(folder)
    for bucket in range(buckets):
        offsets = _load(base / f"result-offsets-{bucket:06d}.npy")
        a, b = int(offsets[shard_index]), int(offsets[shard_index + 1])
        if a == b:
            continue
        local = np.asarray(_load(base / f"result-rows-{bucket:06d}.npy")[a:b]) - start
        score[local] = _load(base / f"result-score-{bucket:06d}.npy")[a:b]
        duplicate_of[local] = _load(base / f"result-duplicate-{bucket:06d}.npy")[a:b]
    return score, duplicate_of
