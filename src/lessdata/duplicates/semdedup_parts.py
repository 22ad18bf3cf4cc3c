"""SemDeDup over shards of rows, without gathering any per-row array on one process.

SemDeDup walks each k-means cluster on its own (:mod:`lessdata.duplicates.semdedup`), but a
cluster's rows are spread over every row shard. So the work is a shuffle through files in
a work folder (:mod:`lessdata.data.partitioned`):

1. **scatter** (one task per row shard): the shard's rows, their cluster and their distance
   to the centroid, partitioned by *bucket* (a group of whole clusters of about
   :data:`~lessdata.duplicates.semdedup.SHARD_ROWS` rows, planned on the driver from the
   k cluster sizes alone);
2. **dedup** (one task per bucket): the bucket's slice of every shard's files, each cluster
   walked in survivor order (:func:`~lessdata.duplicates.semdedup.walk_rows`: the same order
   as in memory) and deduplicated by :func:`~lessdata.duplicates.semdedup.dedup_cluster`;
   the results partitioned by row shard;
3. **gather** (in the row shard's own later pass, :func:`gather_shard`): the shard's slice
   of every bucket's results.

The driver holds the k cluster sizes and the bucket plan (O(k)).
"""

from __future__ import annotations

import itertools

import numpy as np

from lessdata.data.partitioned import read_partition, write_partitioned
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


def scatter_shard(
    rows: tuple[int, int], shard: int, cluster: np.ndarray, distance: np.ndarray,
    bucket_of: np.ndarray, folder: str,
) -> int:  # fmt: skip
    """Step 1 for row shard ``shard`` (rows [start, stop)) with its ``cluster`` and centroid
    ``distance``: its rows in clusters of two or more, by bucket; returns their number."""
    bucket = bucket_of[cluster]
    inside = np.flatnonzero(bucket >= 0)
    buckets = int(bucket_of.max(initial=-1)) + 1
    write_partitioned(
        folder, "scatter", shard, bucket[inside], buckets, rows=inside + rows[0],
        cluster=cluster[inside], distance=distance[inside].astype(np.float64),
    )  # fmt: skip
    return len(inside)


def dedup_bucket(
    bucket: int, vectors: np.ndarray, shard_starts: np.ndarray, folder: str, threshold: float,
    survivor: str, seed: int,
) -> int:  # fmt: skip
    """Step 2 for one bucket: SemDeDup on each of its clusters; results by row shard.

    ``shard_starts``: the first row of every row shard, then N.
    """
    shards = len(shard_starts) - 1
    found = read_partition(folder, "scatter", range(shards), bucket,
                           ["rows", "cluster", "distance"])  # fmt: skip
    rows, cluster = found["rows"], found["cluster"]
    walk = walk_rows(rows, cluster, found["distance"], survivor, seed)
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
    owner = np.searchsorted(shard_starts, rows, side="right") - 1
    write_partitioned(folder, "result", bucket, owner, shards, rows=rows, score=score,
                      duplicate=duplicate_of)  # fmt: skip
    return len(rows)


def gather_shard(
    rows: tuple[int, int], shard: int, buckets: int, folder: str
) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: the SemDeDup score and duplicate (row, -1 when kept) of rows [start, stop)."""
    start, stop = rows
    score = np.full(stop - start, NO_NEIGHBOUR, dtype=np.float64)
    duplicate_of = np.full(stop - start, -1, dtype=np.int64)
    if buckets:
        found = read_partition(folder, "result", range(buckets), shard,
                               ["rows", "score", "duplicate"])  # fmt: skip
        local = found["rows"] - start
        score[local], duplicate_of[local] = found["score"], found["duplicate"]
    return score, duplicate_of
