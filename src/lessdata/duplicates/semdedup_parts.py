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
3. **across clusters** (``scope="neighbours"``, one task per bucket, :func:`cross_bucket`):
   step 2 also wrote the rows it kept, by the bucket of each of their next-nearest
   clusters (*guests*) and for itself (*hosts*); each bucket compares its clusters' hosts
   with their guests (:mod:`lessdata.duplicates.semdedup_cross`, the same products as in
   memory) and writes the pairs it removes by the removed row's shard;
4. **gather** (in the row shard's own later pass, :func:`gather_shard`): the shard's slice
   of every bucket's results (and cross-cluster matches).

The driver holds the k cluster sizes and the bucket plan (O(k)).
"""

from __future__ import annotations

import itertools

import numpy as np

from lessdata.data.partitioned import read_partition, write_partitioned
from lessdata.duplicates import semdedup
from lessdata.duplicates.semdedup import NO_NEIGHBOUR, dedup_cluster, walk_rows
from lessdata.duplicates.semdedup_cross import best_matches, cross_shard, walk_keys


def plan_buckets(sizes: np.ndarray) -> np.ndarray:
    """Each cluster's bucket (-1 for empty clusters): consecutive clusters grouped until a
    bucket holds about ``SHARD_ROWS`` rows. A one-row cluster has nothing to walk but its
    row is compared across clusters (``scope="neighbours"``), so it has a bucket too."""
    bucket = np.full(len(sizes), -1, dtype=np.int64)
    current, filled = 0, 0
    for c in np.flatnonzero(sizes >= 1):
        if filled >= semdedup.SHARD_ROWS:
            current, filled = current + 1, 0
        bucket[c] = current
        filled += int(sizes[c])
    return bucket


def scatter_shard(
    rows: tuple[int, int], shard: int, cluster: np.ndarray, distance: np.ndarray,
    bucket_of: np.ndarray, folder: str, runners_up: np.ndarray | None = None,
) -> int:  # fmt: skip
    """Step 1 for row shard ``shard`` (rows [start, stop)) with its ``cluster``, centroid
    ``distance`` and next-nearest clusters ``runners_up`` ((rows, m); None: within clusters
    only): its rows, by bucket; returns their number."""
    bucket = bucket_of[cluster]
    inside = np.flatnonzero(bucket >= 0)
    buckets = int(bucket_of.max(initial=-1)) + 1
    extra = {} if runners_up is None else {"runners_up": runners_up[inside]}
    write_partitioned(
        folder, "scatter", shard, bucket[inside], buckets, rows=inside + rows[0],
        cluster=cluster[inside], distance=distance[inside].astype(np.float64), **extra,
    )  # fmt: skip
    return len(inside)


def dedup_bucket(
    bucket: int, vectors: np.ndarray, shard_starts: np.ndarray, folder: str, threshold: float,
    survivor: str, seed: int, bucket_of: np.ndarray | None = None,
) -> int:  # fmt: skip
    """Step 2 for one bucket: SemDeDup on each of its clusters; results by row shard.

    ``shard_starts``: the first row of every row shard, then N. With ``bucket_of`` (each
    cluster's bucket: ``scope="neighbours"``) the rows kept are also written for step 3: as
    this bucket's hosts, and as guests by the bucket of each of their next-nearest clusters.
    """
    shards = len(shard_starts) - 1
    columns = ["rows", "cluster", "distance"] + ([] if bucket_of is None else ["runners_up"])
    found = read_partition(folder, "scatter", range(shards), bucket, columns)
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
    if bucket_of is not None:
        _write_guests_and_hosts(bucket, folder, bucket_of, rows, cluster,
                                found["distance"][walk], found["runners_up"][walk],
                                duplicate_of < 0)  # fmt: skip
    return len(rows)


def _write_guests_and_hosts(
    bucket: int, folder: str, bucket_of: np.ndarray, rows: np.ndarray, cluster: np.ndarray,
    distance: np.ndarray, runners_up: np.ndarray, kept: np.ndarray,
) -> None:  # fmt: skip
    """The rows a bucket kept: as its own hosts (``hosts``, one partition) and as guests of
    their next-nearest clusters (``guests``, by those clusters' buckets)."""
    rows, cluster, distance = rows[kept], cluster[kept], distance[kept]
    runners_up = runners_up[kept]
    if runners_up.ndim == 1:  # an empty partition reads back flat
        runners_up = runners_up.reshape(len(rows), -1 if len(rows) else 1)
    write_partitioned(folder, "hosts", bucket, np.zeros(len(rows), dtype=np.int64), 1,
                      rows=rows, cluster=cluster, distance=distance)  # fmt: skip
    m = runners_up.shape[1]
    target = runners_up.reshape(-1)
    pick = np.repeat(np.arange(len(rows)), m)
    valid = target >= 0
    target, pick = target[valid], pick[valid]
    to_bucket = bucket_of[target]
    valid = to_bucket >= 0  # an empty cluster has no hosts
    buckets = int(bucket_of.max(initial=-1)) + 1
    write_partitioned(folder, "guests", bucket, to_bucket[valid], buckets,
                      rows=rows[pick[valid]], target=target[valid],
                      distance=distance[pick[valid]])  # fmt: skip


def cross_bucket(
    bucket: int, vectors: np.ndarray, shard_starts: np.ndarray, folder: str, threshold: float,
    survivor: str, seed: int, buckets: int, centroids: np.ndarray,
) -> int:  # fmt: skip
    """Step 3 for one bucket: its clusters' hosts against their guests (the same products
    as :func:`lessdata.duplicates.semdedup.semantic_duplicates` computes in memory; the
    ``centroids`` are the k unit centroids); the pairs that remove a row, by that row's
    shard. Returns the number of pairs."""
    shards = len(shard_starts) - 1
    hosts = read_partition(folder, "hosts", [bucket], 0, ["rows", "cluster", "distance"])
    guests = read_partition(folder, "guests", range(buckets), bucket,
                            ["rows", "target", "distance"])  # fmt: skip
    h_rows, h_cluster = hosts["rows"].astype(np.int64), hosts["cluster"].astype(np.int64)
    g_rows, g_target = guests["rows"].astype(np.int64), guests["target"].astype(np.int64)
    h_primary, h_tie = walk_keys(h_rows, hosts["distance"], survivor, seed)
    g_primary, g_tie = walk_keys(g_rows, guests["distance"], survivor, seed)
    h_order, g_order = np.lexsort((h_rows, h_cluster)), np.lexsort((g_rows, g_target))
    items = []
    for c in np.unique(h_cluster):
        h = h_order[np.searchsorted(h_cluster[h_order], c) :
                    np.searchsorted(h_cluster[h_order], c, "right")]  # fmt: skip
        g = g_order[np.searchsorted(g_target[g_order], c) :
                    np.searchsorted(g_target[g_order], c, "right")]  # fmt: skip
        items.append((g_rows[g], g_primary[g], g_tie[g], h_rows[h], h_primary[h], h_tie[h],
                      centroids[c]))  # fmt: skip
    loser, winner, similarity = cross_shard(items, vectors, threshold)
    owner = np.searchsorted(shard_starts, loser, side="right") - 1
    write_partitioned(folder, "cross", bucket, owner, shards, rows=loser, duplicate=winner,
                      similarity=similarity)  # fmt: skip
    return len(loser)


def gather_shard(
    rows: tuple[int, int], shard: int, buckets: int, folder: str, cross: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: the SemDeDup score and duplicate (row, -1 when kept) of rows [start, stop);
    with ``cross``, a row removed across clusters gets its best match (step 3)."""
    start, stop = rows
    score = np.full(stop - start, NO_NEIGHBOUR, dtype=np.float64)
    duplicate_of = np.full(stop - start, -1, dtype=np.int64)
    if buckets:
        found = read_partition(folder, "result", range(buckets), shard,
                               ["rows", "score", "duplicate"])  # fmt: skip
        local = found["rows"] - start
        score[local], duplicate_of[local] = found["score"], found["duplicate"]
    if buckets and cross:
        pairs = read_partition(folder, "cross", range(buckets), shard,
                               ["rows", "duplicate", "similarity"])  # fmt: skip
        loser, winner, similarity = best_matches(
            pairs["rows"].astype(np.int64), pairs["duplicate"].astype(np.int64),
            pairs["similarity"].astype(np.float64),
        )  # fmt: skip
        duplicate_of[loser - start] = winner
        score[loser - start] = 1.0 - similarity
    return score, duplicate_of
