"""SemDeDup across cluster borders: each kept row is also compared in its second-nearest cluster.

SemDeDup's walk (:mod:`lessdata.duplicates.semdedup`) compares rows within one k-means
cluster, so a pair of near duplicates that k-means puts on two sides of a border is never
compared: on 10,000 code documents (static embeddings, eps 0.05) 585 of 15,499 pairs above
the threshold straddle two clusters, and the walk removed 1,028 documents where a greedy
pass over all pairs removes 1,077 in the same order (``benchmarks/bench_semhash.py``).
Nearly all such pairs (578 of those 585) have one member whose *second*-nearest centroid is
the other member's cluster.

So after the walk, every row it kept (a *guest*) is compared with the rows kept in its
second-nearest cluster (the *hosts*): one more product of about the size of the walk's own.
A pair above the threshold removes the member that comes later in the survivor order
(:func:`walk_keys`: ``hard`` keeps the one farther from its centroid, as within a cluster).
A row with several such pairs is the duplicate of the most similar earlier one. Every
removed row thus has a neighbour above the threshold (``duplicate_of``); that neighbour was
kept by its own cluster's walk, and in a rare chain (a ~ b across one border, b ~ c across
another) it may itself be removed across a border.

The clusters are independent given the walk's kept rows, so this step is a map over groups
of clusters (in memory: :func:`cross_shard`; in parts mode the guests travel to their second
cluster's bucket, :mod:`lessdata.duplicates.semdedup_parts`). Guests and hosts are taken in
row order in both modes, so the products and the result are the same.
"""

from __future__ import annotations

import numpy as np

from lessdata.kmeans import rows_as_float32
from lessdata.ties import tie_keys, tie_seed_of

#: guest rows per product block, and host rows per product (bounded memory on big clusters)
GUEST_BLOCK = 1024
HOST_CHUNK = 8192


def walk_keys(
    rows: np.ndarray, centroid_distance: np.ndarray, survivor: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(primary, tiebreak)`` of each row: row a comes before row b in the survivor order
    when ``(primary, tiebreak, row)`` of a is the smaller, the order that
    :func:`lessdata.duplicates.semdedup.walk_rows` walks each cluster in."""
    tiebreak = tie_keys(tie_seed_of(np.random.default_rng(seed)), rows)
    if survivor == "hard":
        primary = -np.asarray(centroid_distance, dtype=np.float64)
    elif survivor == "easy":
        primary = np.asarray(centroid_distance, dtype=np.float64)
    else:  # random: the tie key alone
        primary = np.zeros(len(rows), dtype=np.float64)
    return primary, tiebreak


def _before(
    pa: np.ndarray, ta: np.ndarray, ra: np.ndarray, pb: np.ndarray, tb: np.ndarray,
    rb: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """True where row a comes before row b (keys from :func:`walk_keys`)."""
    return (pa < pb) | ((pa == pb) & ((ta < tb) | ((ta == tb) & (ra < rb))))


#: slack on the angle bound of :func:`cross_pairs` (radians): far above the rounding of
#: float32 rows and dot products (at most ~2e-3 rad near angle 0), so no pair above the
#: threshold is ever skipped
ANGLE_MARGIN = 0.01


def cross_pairs(
    vectors: np.ndarray, guests: np.ndarray, hosts: np.ndarray, threshold: float,
    centroid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Pairs (guest, host) of rows with cosine similarity above ``threshold``.

    ``guests`` and ``hosts`` are row numbers in ascending order; ``centroid`` is the hosts'
    cluster's unit centroid. Returns positions into each and the float32 similarity.

    Only pairs that can be above the threshold are multiplied: the angle between two unit
    rows is at least the difference of their angles to the centroid (the triangle
    inequality on the sphere), so with both sides sorted by that angle a block of guests
    needs only the hosts within ``arccos(threshold)`` (plus :data:`ANGLE_MARGIN`) of its
    own angles. The result is the same as the full product's; on clustered data most
    guests, which lie farther from the centroid than its own rows, meet few hosts.
    """
    if len(guests) == 0 or len(hosts) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float32)
    unit = np.asarray(centroid, dtype=np.float64)
    unit = unit / max(float(np.linalg.norm(unit)), 1e-12)
    h = rows_as_float32(vectors, hosts, normalize=True, release=False)
    g = rows_as_float32(vectors, guests, normalize=True, release=False)
    unit32 = unit.astype(np.float32)
    h_angle = np.arccos(np.clip((h @ unit32).astype(np.float64), -1.0, 1.0))
    g_angle = np.arccos(np.clip((g @ unit32).astype(np.float64), -1.0, 1.0))
    reach = float(np.arccos(np.clip(threshold, -1.0, 1.0))) + ANGLE_MARGIN
    h_order = np.argsort(h_angle, kind="stable")
    g_order = np.argsort(g_angle, kind="stable")
    h_sorted, h_angle = h[h_order], h_angle[h_order]
    gi, hj, sims = [], [], []
    for g0 in range(0, len(guests), GUEST_BLOCK):
        block_rows = g_order[g0 : g0 + GUEST_BLOCK]
        angles = g_angle[block_rows]  # ascending
        lo = int(np.searchsorted(h_angle, angles[0] - reach, side="left"))
        hi = int(np.searchsorted(h_angle, angles[-1] + reach, side="right"))
        xb = g[block_rows]
        for h0 in range(lo, hi, HOST_CHUNK):
            block = xb @ h_sorted[h0 : min(h0 + HOST_CHUNK, hi)].T
            i, j = np.nonzero(block > threshold)
            gi.append(block_rows[i])
            hj.append(h_order[h0 + j])
            sims.append(block[i, j])
    if not gi:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float32)
    return np.concatenate(gi), np.concatenate(hj), np.concatenate(sims)


#: one cluster's cross step: guests, hosts (rows, ascending) and their walk keys, and the
#: cluster's unit centroid
CrossCluster = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]


def cross_cluster(
    vectors: np.ndarray, item: CrossCluster, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(loser, winner, similarity)`` of every guest-host pair of one cluster above the
    threshold: the loser is the member later in the survivor order."""
    guests, g_primary, g_tie, hosts, h_primary, h_tie, centroid = item
    gi, hj, sims = cross_pairs(vectors, guests, hosts, threshold, centroid)
    guest_first = _before(g_primary[gi], g_tie[gi], guests[gi], h_primary[hj], h_tie[hj],
                          hosts[hj])  # fmt: skip
    loser = np.where(guest_first, hosts[hj], guests[gi])
    winner = np.where(guest_first, guests[gi], hosts[hj])
    return loser, winner, sims.astype(np.float64)


def cross_shard(
    items: list[CrossCluster], vectors: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One engine shard: :func:`cross_cluster` of each of its clusters, concatenated."""
    found = [cross_cluster(vectors, item, threshold) for item in items]
    if not found:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float64)
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def best_matches(
    loser: np.ndarray, winner: np.ndarray, similarity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One match per removed row: its most similar earlier row (ties: the lower row number).

    Returns the removed rows (ascending), their match and the similarity. The order in which
    the pairs arrive does not matter.
    """
    order = np.lexsort((winner, -similarity, loser))
    loser, winner, similarity = loser[order], winner[order], similarity[order]
    first = np.ones(len(loser), dtype=bool)
    first[1:] = loser[1:] != loser[:-1]
    return loser[first], winner[first], similarity[first]


def cross_items(
    kept_rows: np.ndarray, cluster: np.ndarray, runners_up: np.ndarray, primary: np.ndarray,
    tiebreak: np.ndarray, clusters: np.ndarray, centroids: np.ndarray,
) -> list[CrossCluster]:  # fmt: skip
    """The cross step of each of ``clusters`` from the rows the walk kept: its hosts (kept
    rows of the cluster) and guests (kept rows of which it is a next-nearest cluster), in
    row order, with their walk keys. ``cluster``, ``runners_up`` ((rows, m), -1 for none),
    ``primary`` and ``tiebreak`` are per kept row (aligned with ``kept_rows``, ascending);
    ``centroids`` are the k unit centroids."""
    m = runners_up.shape[1] if runners_up.ndim == 2 else 1
    guest = np.repeat(np.arange(len(kept_rows)), m)
    target = runners_up.reshape(-1)
    guest, target = guest[target >= 0], target[target >= 0]
    by_home = np.lexsort((kept_rows, cluster))
    by_target = np.lexsort((kept_rows[guest], target))
    home_sorted, target_sorted = cluster[by_home], target[by_target]
    items: list[CrossCluster] = []
    for c in clusters:
        h = by_home[np.searchsorted(home_sorted, c) : np.searchsorted(home_sorted, c, "right")]
        g = guest[
            by_target[
                np.searchsorted(target_sorted, c) : np.searchsorted(target_sorted, c, "right")
            ]
        ]
        items.append((kept_rows[g], primary[g], tiebreak[g], kept_rows[h], primary[h],
                      tiebreak[h], centroids[c]))  # fmt: skip
    return items
