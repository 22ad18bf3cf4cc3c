"""Semantic duplicates: SemDeDup inside k-means clusters (Abbas et al. 2023, arXiv 2303.09540).

Cluster the embeddings (spherical k-means), then walk each cluster in a survivor order and
keep an example unless its cosine similarity to an example *kept before it* exceeds
``1 - eps``. The survivor order decides which member of a duplicate group stays:

- ``hard``: farthest from the centroid first (the paper's default: keep the least
  prototypical member);
- ``easy``: closest to the centroid first;
- ``random``: a seeded shuffle.

Memory stays bounded on large clusters: similarities are computed block by block
(``BLOCK`` rows against at most ``KEPT_CHUNK`` kept rows at a time), never as the full
n × n matrix of a cluster. Only the kept rows of the current cluster are held, once.

Clusters are independent, so they are distributed: consecutive clusters are grouped into
shards of about ``SHARD_ROWS`` rows, each one engine task (:mod:`lessdata.engines`).

By default (``scope="neighbours"``) the rows each walk kept are then also compared with the
kept rows of their next-nearest clusters, so that near duplicates split by a cluster border
are found (:mod:`lessdata.duplicates.semdedup_cross`); ``scope="cluster"`` keeps the
paper's within-cluster rule. :func:`redundancy` (removal to a target size) stays within
clusters.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from lessdata.checks import check_choice, check_float
from lessdata.duplicates.semdedup_cross import best_matches, cross_items, cross_shard, walk_keys
from lessdata.engines import LocalEngine
from lessdata.engines.base import Engine
from lessdata.kmeans import assign, check_k, fit_centroids, next_nearest, rows_as_float32
from lessdata.ties import tie_keys, tie_seed_of

SURVIVORS = ("hard", "easy", "random")
#: where a row's duplicates are looked for: its cluster and the kept rows of its
#: second-nearest cluster (``neighbours``, the default), or its cluster only (``cluster``,
#: the paper's rule)
SCOPES = ("neighbours", "cluster")
BLOCK = 1024
KEPT_CHUNK = 8192
#: rows per engine shard (whole clusters; a larger cluster is a shard of its own)
SHARD_ROWS = 65_536
#: score of an example with no kept neighbour before it: the largest cosine distance
NO_NEIGHBOUR = 2.0
#: strictly-lower-triangle mask of a block: row i may only match rows before it
_EARLIER = np.tri(BLOCK, k=-1, dtype=bool)


def check_eps(eps: float) -> float:
    """Validate the SemDeDup threshold: duplicates have cosine similarity above 1 - eps."""
    return check_float(
        eps, "eps", low=0, high=2, closed="neither",
        hint="duplicates are pairs with cosine similarity above 1 - eps (0.05 is common)",
    )  # fmt: skip


@dataclass
class SemanticDuplicates:
    """What :func:`semantic_duplicates` found, one value per row.

    Attributes:
        distance: cosine distance to the most similar kept example before it in its cluster
            (2.0 when there is none); higher = more unique, duplicates lie below ``eps``.
        cluster: the k-means cluster id.
        duplicate_of: the row a duplicate matches best (similarity above ``1 - eps``), an
            example its cluster's walk kept; -1 when kept. Across clusters that example may
            itself go in a rare chain (see :mod:`lessdata.duplicates.semdedup_cross`).
    """

    distance: np.ndarray
    cluster: np.ndarray
    duplicate_of: np.ndarray


def semantic_duplicates(
    vectors: np.ndarray,
    *,
    k: int | None = None,
    eps: float = 0.05,
    survivor: str = "hard",
    niter: int = 20,
    seed: int = 0,
    engine: Engine | None = None,
    cache: dict[tuple, Any] | None = None,
    scope: str = "neighbours",
) -> SemanticDuplicates:
    """SemDeDup on ``vectors``: mark each row that duplicates a kept row of its cluster, or
    (``scope="neighbours"``, the default) of its cluster or the next one.

    Args:
        vectors: (N, d) embeddings (a memory map is streamed, never copied whole).
        k: number of clusters (default round(sqrt(N))).
        eps: a row is a duplicate when its cosine similarity to a kept row earlier in its
            cluster exceeds ``1 - eps``.
        survivor: which member of a duplicate group is kept: ``hard``, ``easy`` or ``random``.
        niter: k-means iterations.
        seed: seeds k-means and the random survivor order.
        engine: runs the clusters as shards (default: this process); same result anywhere.
        cache: shares the k-means fit with other callers (see :func:`lessdata.kmeans.cached`).
        scope: ``neighbours`` (default): after each cluster's walk, every kept row is also
            compared with the kept rows of its second-nearest cluster, and of a pair above
            the threshold the member later in the survivor order goes
            (:mod:`lessdata.duplicates.semdedup_cross`): pairs that k-means split across a
            border are found too. ``cluster``: within clusters only (the paper's rule).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(100, 8)).astype("float32")
        >>> found = semantic_duplicates(np.concatenate([x, x]), k=4)
        >>> int((found.duplicate_of >= 0).sum())
        100
    """
    eps = check_eps(eps)
    check_choice(scope, "scope", SCOPES)
    n = len(vectors)
    engine = engine or LocalEngine()
    walk = walk_order(
        vectors, k=k, survivor=survivor, niter=niter, seed=seed, engine=engine, cache=cache
    )
    cluster, order, starts, stops = walk.cluster, walk.order, walk.starts, walk.stops
    score = np.full(n, NO_NEIGHBOUR, dtype=np.float64)
    duplicate_of = np.full(n, -1, dtype=np.int64)
    shards = _cluster_shards(order, starts, stops)
    results = engine.imap(
        dedup_shard, shards, shared=(vectors, 1.0 - eps), label="semdedup: clusters",
        checkpoint=("semdedup", vectors, order, starts, 1.0 - eps, SHARD_ROWS),
    )  # fmt: skip
    for index, (sims, nearest, kept) in results:
        rows = shards[index][0]
        has = nearest >= 0
        score[rows[has]] = 1.0 - sims[has]
        dup = ~kept
        duplicate_of[rows[dup]] = rows[nearest[dup]]
    if scope == "neighbours" and len(starts) > 1:
        _across_borders(vectors, walk, survivor, seed, 1.0 - eps, engine, score, duplicate_of)
    return SemanticDuplicates(distance=score, cluster=cluster, duplicate_of=duplicate_of)


def _across_borders(
    vectors: np.ndarray, walk: Walk, survivor: str, seed: int, threshold: float,
    engine: Engine, score: np.ndarray, duplicate_of: np.ndarray,
) -> None:  # fmt: skip
    """The cross-cluster step (:mod:`lessdata.duplicates.semdedup_cross`) on the rows the
    walk kept, in place: a row removed here gets its match and its distance to it."""
    kept_rows = np.flatnonzero(duplicate_of < 0)
    primary, tiebreak = walk_keys(kept_rows, walk.centroid_distance[kept_rows], survivor, seed)
    clusters = np.unique(walk.cluster)
    items = cross_items(kept_rows, walk.cluster[kept_rows], walk.runners_up[kept_rows],
                        primary, tiebreak, clusters, walk.centroids)  # fmt: skip
    shards, size, current = [], 0, []
    for item in items:  # consecutive clusters, about SHARD_ROWS guests and hosts a shard
        current.append(item)
        size += len(item[0]) + len(item[3])  # guests and hosts
        if size >= SHARD_ROWS:
            shards.append(current)
            current, size = [], 0
    if current:
        shards.append(current)
    found = engine.map(cross_shard, shards, shared=(vectors, threshold),
                       label="semdedup: across clusters")  # fmt: skip
    loser, winner, similarity = (np.concatenate(parts) for parts in zip(*found, strict=True))
    loser, winner, similarity = best_matches(loser, winner, similarity)
    duplicate_of[loser] = winner
    score[loser] = 1.0 - similarity


@dataclass
class Walk:
    """SemDeDup's walk: each row's cluster, centroid distance and next-nearest clusters
    (:data:`lessdata.kmeans.RUNNERS_UP` of them), the rows in walk order, and where each
    cluster starts and stops in that order."""

    cluster: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    centroid_distance: np.ndarray
    runners_up: np.ndarray
    centroids: np.ndarray


def walk_order(
    vectors: np.ndarray, *, k: int | None, survivor: str, niter: int, seed: int,
    engine: Engine, cache: dict[tuple, Any] | None,
) -> Walk:  # fmt: skip
    """The order SemDeDup walks the rows in: clusters in turn, each in survivor order.

    ``hard`` walks a cluster from its member farthest from the centroid, ``easy`` from the
    nearest, ``random`` in a seeded shuffle (ties: the shuffle).
    """
    check_choice(survivor, "survivor", SURVIVORS)
    n = len(vectors)
    k = check_k(k, n)
    centroids = fit_centroids(
        vectors, k, spherical=True, seed=seed, niter=niter, cache=cache, engine=engine
    )
    cache = {} if cache is None else cache  # one assignment pass for both calls below
    cluster, centroid_distance = assign(
        vectors, centroids, spherical=True, engine=engine, cache=cache
    )
    runners_up = next_nearest(vectors, centroids, spherical=True, engine=engine, cache=cache)
    order = walk_rows(np.arange(n), cluster, centroid_distance, survivor, seed)
    bounds = np.flatnonzero(np.diff(cluster[order])) + 1
    starts = np.concatenate(([0], bounds))
    stops = np.concatenate((bounds, [n]))
    # unit rows exactly as parts mode holds them (lessdata.pipeline.sharded), for the
    # cross-cluster step's angle bounds
    unit = rows_as_float32(centroids, slice(None), normalize=True)
    return Walk(cluster, order, starts, stops, centroid_distance, runners_up, unit)


def walk_rows(
    rows: np.ndarray, cluster: np.ndarray, centroid_distance: np.ndarray, survivor: str,
    seed: int,
) -> np.ndarray:  # fmt: skip
    """Positions of ``rows`` in walk order: by cluster, then survivor order, then a seeded
    tie key of the row number (:func:`lessdata.ties.tie_keys`: the same for a subset of
    the rows, so a sharded run walks each cluster exactly as in memory)."""
    tiebreak = tie_keys(tie_seed_of(np.random.default_rng(seed)), rows)
    priority = {"hard": -centroid_distance, "easy": centroid_distance, "random": tiebreak}
    return np.lexsort((rows, tiebreak, priority[survivor], cluster))


def _cluster_shards(
    order: np.ndarray, starts: np.ndarray, stops: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive clusters of at least two rows, grouped into shards of ~SHARD_ROWS rows.

    Each shard is ``(rows, bounds)``: the rows of its clusters in survivor order, and the
    offsets where each cluster starts within ``rows`` (plus the end).
    """
    shards: list[tuple[np.ndarray, np.ndarray]] = []
    first, size = 0, 0
    multi = np.flatnonzero(stops - starts >= 2)
    for pos, c in enumerate(multi):
        size += int(stops[c] - starts[c])
        if size >= SHARD_ROWS or pos == len(multi) - 1:
            group = multi[first : pos + 1]
            rows = np.concatenate([order[starts[g] : stops[g]] for g in group])
            bounds = np.concatenate(([0], np.cumsum(stops[group] - starts[group])))
            shards.append((rows, bounds))
            first, size = pos + 1, 0
    return shards


def dedup_shard(
    shard: tuple[np.ndarray, np.ndarray], vectors: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One engine shard: :func:`dedup_cluster` on each of its clusters.

    Returns the concatenated per-row similarity, nearest kept row (as a position in the
    shard's ``rows``, -1 when none) and kept flag.
    """
    rows, bounds = shard
    sims = np.empty(len(rows), dtype=np.float64)
    nearest = np.empty(len(rows), dtype=np.int64)
    kept = np.empty(len(rows), dtype=bool)
    for b0, b1 in itertools.pairwise(bounds):
        s, j, k = dedup_cluster(vectors, rows[b0:b1], threshold)
        sims[b0:b1], kept[b0:b1] = s, k
        nearest[b0:b1] = np.where(j >= 0, j + b0, -1)
    return sims, nearest, kept


def dedup_cluster(
    vectors: np.ndarray, rows: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy deduplication of one cluster's ``rows``, taken in the given order.

    Row i is kept unless its cosine similarity to a kept row before it exceeds
    ``threshold``. Returns, per row: the best similarity to an earlier kept row (-inf when
    none), the position (in ``rows``) of that kept row (-1 when none), and the kept flag.
    """
    ascending = np.sort(rows)  # read in file order (sequential access), then reorder
    x = rows_as_float32(vectors, ascending, normalize=True, release=False)
    x = x[np.searchsorted(ascending, rows)]
    m = len(rows)
    kept = np.zeros(m, dtype=bool)
    best = np.full(m, -np.inf, dtype=np.float32)
    nearest = np.full(m, -1, dtype=np.int64)
    kept_x = np.empty_like(x)  # kept rows, compacted, in order
    kept_pos = np.empty(m, dtype=np.int64)
    n_kept = 0
    for b0 in range(0, m, BLOCK):
        b1 = min(b0 + BLOCK, m)
        xb = x[b0:b1]
        width = b1 - b0
        best_b, nearest_b = best[b0:b1], nearest[b0:b1]  # views: updated in place
        # 1. against rows kept in earlier blocks
        for c0 in range(0, n_kept, KEPT_CHUNK):
            c1 = min(c0 + KEPT_CHUNK, n_kept)
            sims = xb @ kept_x[c0:c1].T
            j = sims.argmax(axis=1)
            s = sims[np.arange(width), j]
            better = s > best_b
            best_b[better] = s[better]
            nearest_b[better] = kept_pos[c0 + j[better]]
        keep_b = best_b <= threshold
        # 2. inside the block, in order: only rows with an earlier similar row need a walk
        gram = xb @ xb.T
        earlier = _EARLIER[:width, :width]  # j < i only
        close = (gram > threshold) & earlier
        candidates = np.flatnonzero(keep_b & close.any(axis=1))
        for i in candidates:
            if (close[i, :i] & keep_b[:i]).any():
                keep_b[i] = False
        # 3. best kept neighbour inside the block, for the scores
        masked = np.where(earlier & keep_b[None, :], gram, -np.inf)
        j = masked.argmax(axis=1)
        s = masked[np.arange(width), j]
        better = s > best_b
        best_b[better] = s[better]
        nearest_b[better] = b0 + j[better]
        kept[b0:b1] = keep_b
        n_new = int(keep_b.sum())
        kept_x[n_kept : n_kept + n_new] = xb[keep_b]
        kept_pos[n_kept : n_kept + n_new] = b0 + np.flatnonzero(keep_b)
        n_kept += n_new
    return best.astype(np.float64), nearest, kept


# --------------------------------------------------------------------------- to a target size


@dataclass
class Redundancy:
    """How redundant each row is: SemDeDup's paper rule, before any threshold.

    Attributes:
        similarity: cosine similarity to the most similar row *before it* in its cluster's
            survivor order, kept or not (-inf for a cluster's first row).
        nearest: that row (-1 for none).
        cluster: the k-means cluster id.
        rank: each row's position in the walk (clusters in turn, each in survivor order).
    """

    similarity: np.ndarray
    nearest: np.ndarray
    cluster: np.ndarray
    rank: np.ndarray


def redundancy(
    vectors: np.ndarray,
    *,
    k: int | None = None,
    survivor: str = "hard",
    niter: int = 20,
    seed: int = 0,
    engine: Engine | None = None,
    cache: dict[tuple, Any] | None = None,
) -> Redundancy:
    """Each row's similarity to the most similar earlier row of its cluster (paper rule).

    The SemDeDup paper removes a row when *any* row before it in its cluster is more similar
    than ``1 - eps`` (not only the kept ones, as :func:`semantic_duplicates` walks). Under
    that rule the rows removed at a threshold are exactly those whose ``similarity`` is
    above it, so the removals at every threshold nest: the rows to remove to leave a target
    size are the most similar ones, found with one sort (:func:`most_redundant`).
    """
    n = len(vectors)
    engine = engine or LocalEngine()
    walk = walk_order(
        vectors, k=k, survivor=survivor, niter=niter, seed=seed, engine=engine, cache=cache
    )
    cluster, order, starts, stops = walk.cluster, walk.order, walk.starts, walk.stops
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    similarity = np.full(n, -np.inf)
    nearest = np.full(n, -1, dtype=np.int64)
    shards = _cluster_shards(order, starts, stops)
    results = engine.imap(
        redundancy_shard, shards, shared=(vectors,), label="semdedup: clusters",
        checkpoint=("semdedup-redundancy", vectors, order, starts, SHARD_ROWS),
    )  # fmt: skip
    for index, (sims, near) in results:
        rows = shards[index][0]
        has = near >= 0
        similarity[rows[has]] = sims[has]
        nearest[rows[has]] = rows[near[has]]
    return Redundancy(similarity=similarity, nearest=nearest, cluster=cluster, rank=rank)


def redundancy_shard(
    shard: tuple[np.ndarray, np.ndarray], vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One engine shard: :func:`earlier_similarity` of each of its clusters."""
    rows, bounds = shard
    sims = np.full(len(rows), -np.inf)
    nearest = np.full(len(rows), -1, dtype=np.int64)
    for b0, b1 in itertools.pairwise(bounds):
        s, j = earlier_similarity(vectors, rows[b0:b1])
        sims[b0:b1] = s
        nearest[b0:b1] = np.where(j >= 0, j + b0, -1)
    return sims, nearest


def earlier_similarity(vectors: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows`` (in order), its best cosine similarity to a row before it and
    that row's position (-inf and -1 for the first); block by block, never m × m."""
    ascending = np.sort(rows)
    x = rows_as_float32(vectors, ascending, normalize=True, release=False)
    x = x[np.searchsorted(ascending, rows)]
    m = len(rows)
    best = np.full(m, -np.inf, dtype=np.float32)
    nearest = np.full(m, -1, dtype=np.int64)
    for b0 in range(0, m, BLOCK):
        b1 = min(b0 + BLOCK, m)
        xb = x[b0:b1]
        here = np.arange(b0, b1)
        for c0 in range(0, b1, KEPT_CHUNK):
            c1 = min(c0 + KEPT_CHUNK, b1)
            sims = xb @ x[c0:c1].T
            if c1 > b0:  # columns at or after a row are not before it
                sims[np.arange(c0, c1)[None, :] >= here[:, None]] = -np.inf
            j = sims.argmax(axis=1)
            s = sims[np.arange(b1 - b0), j]
            better = s > best[b0:b1]
            best[b0:b1][better] = s[better]
            nearest[b0:b1][better] = c0 + j[better]
    return best.astype(np.float64), nearest


def most_redundant(similarity: np.ndarray, rank: np.ndarray, n_remove: int) -> np.ndarray:
    """The ``n_remove`` rows of highest ``similarity`` (ties: the later in the walk first),
    as a boolean mask: exactly that many, whatever the ties."""
    n = len(similarity)
    if not 0 <= n_remove <= n:
        raise ValueError(f"cannot remove {n_remove} of {n} rows")
    removed = np.zeros(n, dtype=bool)
    removed[np.lexsort((-rank, -similarity))[:n_remove]] = True
    return removed


def chosen_threshold(similarity: np.ndarray, removed: np.ndarray) -> float | None:
    """The cosine-similarity threshold that removing ``removed`` amounted to (a removal to a
    target size, :func:`most_redundant`): the lowest similarity removed; None when nothing was.

    A document with no earlier neighbour in its cluster (similarity ``-inf``) counts as -1,
    the lowest cosine similarity, as its manifest distance :data:`NO_NEIGHBOUR` says: a
    target so small that such documents go reports -1.0, never a non-finite number (which
    standard JSON cannot hold).
    """
    if not removed.any():
        return None
    return max(float(np.min(similarity[removed])), 1.0 - NO_NEIGHBOUR)


def resolve_chains(
    removed: np.ndarray, nearest: np.ndarray, rank: np.ndarray, external: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The kept row (or the external match) each removed row stands for.

    A removed row's ``nearest`` earlier row may itself be removed; following the chain
    (always to earlier rows) ends at a kept row or at a row matched outside
    (``external`` >= 0, e.g. a document of a reference corpus). Returns ``duplicate_of``
    (kept row, else -1) and ``outside`` (the external match, else -1) per row.
    """
    duplicate_of = np.full(len(removed), -1, dtype=np.int64)
    outside = np.where(removed, external, -1).astype(np.int64)
    gone = np.flatnonzero(removed & (external < 0))
    for i in gone[np.argsort(rank[gone])]:  # earlier rows are resolved first
        j = int(nearest[i])
        if j < 0:
            continue
        if not removed[j]:
            duplicate_of[i] = j
        else:
            duplicate_of[i], outside[i] = duplicate_of[j], outside[j]
    return duplicate_of, outside
