"""k-means on float32 matrix products, streamed over (possibly memory-mapped) vectors.

Training uses a seeded sample of at most ``max_points_per_centroid * k`` rows (faiss's own
default cap); assignment walks the full array in chunks, so memory stays at one chunk plus
the sample, never a normalised copy of the whole dataset. Assignment is a row-parallel
step: each chunk is one shard of an engine (:mod:`lessdata.engines`), so it runs in this
process or as Ray tasks with the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lessdata.checks import check_int
from lessdata.data.mapped import read_rows, release_pages
from lessdata.engines import Engine, LocalEngine
from lessdata.errors import LessdataError
from lessdata.progress import log, track

CHUNK_ROWS = 65_536
MAX_POINTS_PER_CENTROID = 256


def cached(cache: dict[tuple, Any] | None, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, stored in ``cache`` under ``key`` (no cache: computed every time).

    ``lessdata.score`` passes one dict per call (``ScoreInputs.cache``), so that metrics
    scoring the same vectors share work (``prototypes`` and ``semdedup`` one k-means,
    the dynamics metrics one set of proxy runs). Keys hold ``id()`` of arrays, which is
    safe because the dict lives no longer than the call that holds those arrays.
    """
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def default_k(n: int) -> int:
    """The default number of clusters: round(sqrt(N)), at least 1 and at most N.

    sqrt(N) balances the two costs that k trades: assignment work grows with k, SemDeDup's
    within-cluster work with N/k, so sqrt(N) makes both N^1.5. Clusters then hold about
    sqrt(N) examples each: 32 for 1,000 examples, 1,000 for 1M.
    """
    return max(1, min(n, round(math.sqrt(n))))


def check_k(k: int | None, n: int) -> int:
    """Resolve ``k`` (None → :func:`default_k`) and validate 1 <= k <= n."""
    if k is None:
        return default_k(n)
    k = check_int(k, "k", low=1, hint="k is a number of clusters")
    if k > n:
        raise LessdataError(
            f"k must be at most the {n} examples (one cluster each at most), got {k}", param="k"
        )
    return k


def rows_as_float32(
    vectors: np.ndarray, rows: np.ndarray | slice, *, normalize: bool, release: bool = True
) -> np.ndarray:
    """Copy ``vectors[rows]`` into a C-contiguous float32 array, optionally L2-normalised.

    With ``release`` (the default), a read-only memory map's pages are released once copied
    (:func:`~lessdata.data.mapped.release_pages`), so that a pass over a mapped file holds
    one chunk, not the file. A walk that reads scattered rows cluster by cluster (SemDeDup)
    passes False: its rows are read from the file with ``pread``
    (:func:`~lessdata.data.mapped.read_rows`), which leaves nothing mapped.
    """
    block = None if release or isinstance(rows, slice) else read_rows(vectors, rows)
    if block is None:
        block = vectors[rows]
    # a slice is a view of the caller's array: always copy it, never normalise it in place
    if isinstance(rows, slice) or block.dtype != np.float32 or not block.flags.c_contiguous:
        block = np.array(block, dtype=np.float32, order="C")
    if release:
        release_pages(vectors)
    if normalize:
        # float64 norms, then float32: the result does not depend on memory alignment
        # (NumPy's SIMD float32 reductions can differ in the last bit between runs)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        block /= np.maximum(norms, 1e-12).astype(np.float32)[:, None]
    return block


def fit_centroids(
    vectors: np.ndarray,
    k: int,
    *,
    spherical: bool,
    seed: int = 0,
    niter: int = 20,
    cache: dict[tuple, Any] | None = None,
    engine: Engine | None = None,
) -> np.ndarray:
    """Train k-means on a seeded sample of ``vectors``; return ``(k, d)`` float32 centroids.

    ``spherical=True`` runs spherical k-means on L2-normalised rows (cosine geometry).
    ``cache`` (see :func:`cached`) shares the fit between callers of one scoring call.

    Distributed, with the driver's memory and work O(k·d) per step, not O(N): the training
    sample (at most ``MAX_POINTS_PER_CENTROID · k`` rows, faiss's own cap) is drawn shard by
    shard (each shard's count from a seeded multivariate hypergeometric split, its rows from
    a seed of its own); the initial centroids are k sample rows drawn by ``seed``; each of
    the ``niter`` Lloyd steps is one engine map over blocks of the sample, every block
    returning per-cluster float64 sums and counts, reduced on the driver in block order. So
    ``engine`` (local or Ray, any number of workers) changes where the work runs, never the
    result. A centroid that attracts no rows takes half of a populous cluster (faiss's
    rule, :func:`_split_large`).
    """
    key = ("fit", id(vectors), vectors.shape, k, spherical, seed, niter)
    return cached(
        cache, key, lambda: _fit(vectors, k, spherical=spherical, seed=seed, niter=niter,
                                 engine=engine or LocalEngine())
    )  # fmt: skip


def sample_plan(n: int, n_train: int, seed: int) -> list[tuple[int, int, int, int]]:
    """``(start, stop, count, shard seed)`` per chunk of rows: how many sample rows each
    chunk gives. O(chunks) memory: the counts are one multivariate hypergeometric draw."""
    starts = list(range(0, n, CHUNK_ROWS))
    sizes = np.array([min(CHUNK_ROWS, n - s) for s in starts], dtype=np.int64)
    rng = np.random.default_rng([seed, 0x6B6D])  # "km"
    counts = rng.multivariate_hypergeometric(sizes, n_train) if n_train < n else sizes
    shard_seeds = rng.integers(0, 2**63 - 1, size=len(starts))
    return [
        (s, s + int(size), int(c), int(q))
        for s, size, c, q in zip(starts, sizes, counts, shard_seeds, strict=True)
        if c
    ]


def sample_shard(
    item: tuple[int, int, int, int], vectors: np.ndarray, spherical: bool
) -> np.ndarray:
    """One chunk's share of the training sample, as float32 rows (normalised if spherical)."""
    start, stop, count, shard_seed = item
    if count >= stop - start:
        return rows_as_float32(vectors, slice(start, stop), normalize=spherical)
    rows = np.sort(np.random.default_rng(shard_seed).choice(stop - start, count, replace=False))
    return rows_as_float32(vectors, start + rows, normalize=spherical)


def lloyd_shard(
    item: tuple[int, int], sample: np.ndarray, centroids: np.ndarray, spherical: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster float64 sums and counts of one block of the sample under ``centroids``.

    The sums are one sparse product (cluster × row indicator) @ block: each cluster's rows
    are added in row order, in float32 within the block, then widened to float64 for the
    reduction over blocks, so the result does not depend on threads or on where the block
    runs. It reads the block once more and copies nothing (a sort and gather of the block
    into float64 cost a quarter of the distance products at k = 1,000).
    """
    from scipy import sparse

    start, stop = item
    block = np.ascontiguousarray(sample[start:stop])
    member = nearest_centroids(block, centroids, spherical)
    k = len(centroids)
    indicator = sparse.csr_matrix(
        (np.ones(len(member), dtype=np.float32), member, np.arange(len(member) + 1)),
        shape=(len(member), k),
    )
    sums = np.asarray(indicator.T.tocsr() @ block, dtype=np.float64)
    return sums, np.bincount(member, minlength=k).astype(np.int64)


def _fit(
    vectors: np.ndarray, k: int, *, spherical: bool, seed: int, niter: int, engine: Engine
) -> np.ndarray:
    n, d = vectors.shape
    n_train = min(n, MAX_POINTS_PER_CENTROID * k)
    plan = sample_plan(n, n_train, seed)
    # each shard's rows go straight to their place: the sample is held once, never as parts
    # plus their concatenation (which doubled the driver's peak)
    offsets = np.cumsum([0] + [count for _, _, count, _ in plan])
    sample = np.empty((int(offsets[-1]), d), dtype=np.float32)
    for index, part in engine.imap(
        sample_shard, plan, shared=(vectors, spherical), label="k-means: sample"
    ):
        sample[offsets[index] : offsets[index + 1]] = part
        del part
    log(f"k-means: {k} clusters on {len(sample):,} of {n:,} rows, {niter} iterations")
    start = np.sort(np.random.default_rng(seed).choice(len(sample), k, replace=False))
    centroids = sample[start].copy()
    blocks = [(a, min(a + CHUNK_ROWS, len(sample))) for a in range(0, len(sample), CHUNK_ROWS)]
    shared_sample = engine.share(sample)
    rng = np.random.default_rng([seed, 0x73706C74])  # "splt": which cluster an empty one splits
    for _ in track(range(niter), niter, f"k-means: Lloyd steps ({engine.name})"):
        sums = np.zeros((k, d), dtype=np.float64)
        counts = np.zeros(k, dtype=np.int64)
        for block_sums, block_counts in engine.map(
            lloyd_shard, blocks, shared=(shared_sample, centroids, spherical),
            label="k-means: Lloyd step",
        ):  # fmt: skip
            sums += block_sums  # in block order: the same float64 result on every engine
            counts += block_counts
        filled = counts > 0
        centroids = centroids.copy()
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        _split_large(centroids, counts, rng)
        if spherical:
            centroids = rows_as_float32(centroids, slice(None), normalize=True)
    return centroids


#: relative perturbation that separates the two halves of a split cluster (faiss's value)
SPLIT_EPS = 1.0 / 1024


def _split_large(centroids: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> None:
    """Give every empty cluster half of a populous one, in place (faiss's rule).

    The cluster to split is drawn with probability proportional to its size minus one; the
    two copies of its centroid are nudged apart by ±SPLIT_EPS, alternating by coordinate,
    so that the next Lloyd step divides its rows between them. Driver work is O(k·d).
    """
    sign = np.where(np.arange(centroids.shape[1]) % 2 == 0, 1.0, -1.0).astype(np.float32)
    for empty in np.flatnonzero(counts == 0):
        weights = np.maximum(counts - 1, 0).astype(np.float64)
        if weights.sum() <= 0:
            return
        big = int(rng.choice(len(counts), p=weights / weights.sum()))
        centroids[empty] = centroids[big] * (1 + SPLIT_EPS * sign)
        centroids[big] = centroids[big] * (1 - SPLIT_EPS * sign)
        counts[empty] = counts[big] // 2
        counts[big] -= counts[empty]


def _product_rows(k: int) -> int:
    """Rows per product of :func:`nearest_centroids`: a (rows × k) float32 block of about
    32 MiB, at most 8,192 rows. Smaller products (cache-sized) measured 10-25% slower in
    ``benchmarks/bench_kmeans_kernels.py``'s shapes: BLAS needs long panels to reach its
    peak, and the argmax that re-reads the block costs 1-2% of the product."""
    return int(min(8192, max(256, (1 << 23) // max(k, 1))))


def nearest_centroids(
    block: np.ndarray, centroids: np.ndarray, spherical: bool, *, distances: bool = False,
    runners_up: int = 0,
) -> Any:  # fmt: skip
    """Index of the nearest centroid of every row of ``block`` (exact), and optionally the
    distance to it and the next-nearest centroids.

    One float32 matrix product per :func:`_product_rows` rows, then a row-wise argmax of
    ``x·c`` (spherical) or of ``x·c - |c|²/2`` (Euclidean: the same argmin as
    ``|x - c|²``), while the product is still in cache. The products are the work: measured
    in ``benchmarks/bench_prune_1m.py`` beside plain float32 matrix products of the same
    shapes. faiss's flat index search, which this replaces, took 1.1-1.5× the product
    floor on the same shapes (``benchmarks/bench_kmeans_kernels.py``).

    With ``distances=True`` returns ``(ids, distance)``: cosine distance ``1 - x·c / |x|``
    or Euclidean distance, computed row-wise in float64 against the chosen centroid (not
    taken from the product, whose last bits depend on BLAS blocking) and rounded to float32,
    so that the same row and centroid give the same distance on every machine and engine.

    When ``spherical``, ``centroids`` must be unit rows but the rows of ``block`` need not
    be: the argmax of ``x·c`` does not change with ``|x|`` and the distance divides by it,
    so a chunk of the input is used as it is read, without a normalised copy.

    With ``runners_up=m`` the (rows, m) int64 ids of the 2nd to (m+1)-th nearest centroids
    are appended to the result (-1 past k): one more argmax over the product block each,
    about 2% of the product. SemDeDup compares kept rows in those clusters too
    (:mod:`lessdata.duplicates.semdedup_cross`).
    """
    rows, k = len(block), len(centroids)
    ct = np.ascontiguousarray(centroids.T, dtype=np.float32)
    half_norms = None
    if not spherical:
        half_norms = (0.5 * np.einsum("ij,ij->i", centroids, centroids)).astype(np.float32)
    step = _product_rows(k)
    buf = np.empty((min(step, rows), k), dtype=np.float32)
    ids = np.empty(rows, dtype=np.int64)
    dist = np.empty(rows, dtype=np.float64) if distances else None
    runner_up = np.full((rows, runners_up), -1, dtype=np.int64) if runners_up else None
    for r0 in range(0, rows, step):
        x = block[r0 : r0 + step]
        sims = np.matmul(x, ct, out=buf[: len(x)])
        if half_norms is not None:
            sims -= half_norms
        near = np.argmax(sims, axis=1)
        ids[r0 : r0 + len(x)] = near
        if runner_up is not None:
            taken, at = near, np.arange(len(x))
            for j in range(min(runners_up, k - 1)):
                sims[at, taken] = -np.inf
                taken = np.argmax(sims, axis=1)
                runner_up[r0 : r0 + len(x), j] = taken
        if dist is not None:
            own = centroids[near]
            if spherical:
                dots = np.einsum("ij,ij->i", x, own, dtype=np.float64)
                norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
                dist[r0 : r0 + len(x)] = 1.0 - dots / np.maximum(norms, 1e-12)
            else:
                diff = x - own
                dist[r0 : r0 + len(x)] = np.sqrt(
                    np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
                )
    found: list[np.ndarray] = [ids]
    if dist is not None:
        # rounded to float32 so that last-bit differences of the float64 sums cannot show
        found.append(np.maximum(dist, 0.0).astype(np.float32).astype(np.float64))
    if runner_up is not None:
        found.append(runner_up)
    return found[0] if len(found) == 1 else tuple(found)


def _nearest(
    block: np.ndarray, centroids: np.ndarray, spherical: bool, runners_up: int = 0
) -> tuple[np.ndarray, ...]:
    """Nearest centroid and a reproducible distance to it (:func:`nearest_centroids`), and
    ``runners_up`` next-nearest centroids; rows of another dtype or layout are copied to
    C-contiguous float32 first."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    return nearest_centroids(block, centroids, spherical, distances=True, runners_up=runners_up)


def assign(
    vectors: np.ndarray,
    centroids: np.ndarray,
    *,
    spherical: bool,
    min_size: int = 1,
    engine: Engine | None = None,
    cache: dict[tuple, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row and the distance to it, streamed in chunks.

    Returns ``(cluster, distance)``: int64 cluster ids and float64 distances, cosine
    distance ``1 - cos`` when ``spherical``, Euclidean distance otherwise.

    ``min_size``: centroids that attract fewer rows are not treated as prototypes; their
    rows are measured against the nearest centroid that does. k-means with many clusters
    can spend a centroid on one isolated outlier, which would otherwise score as the most
    typical example of all (distance 0).

    ``engine`` runs the chunks (default: in this process); every engine gives the same result.
    ``cache`` (see :func:`cached`) shares the assignment between callers of one scoring call.
    """
    key = ("assign", id(vectors), id(centroids), spherical)
    found = cached(cache, key, lambda: _assign(vectors, centroids, spherical, engine))
    cluster, distance = found[0].copy(), found[1].copy()
    if spherical:
        centroids = rows_as_float32(centroids, slice(None), normalize=True)
    if min_size > 1:
        sizes = np.bincount(cluster, minlength=len(centroids))
        proper = np.flatnonzero(sizes >= min_size)
        stray = np.flatnonzero(sizes[cluster] < min_size)
        if len(proper) and len(stray):
            block = rows_as_float32(vectors, stray, normalize=False)
            local, distance[stray] = _nearest(block, centroids[proper], spherical)
            cluster[stray] = proper[local]
    return cluster, distance


#: next-nearest centroids every assignment pass records (SemDeDup compares kept rows there)
RUNNERS_UP = 2


def next_nearest(
    vectors: np.ndarray,
    centroids: np.ndarray,
    *,
    spherical: bool,
    engine: Engine | None = None,
    cache: dict[tuple, Any] | None = None,
) -> np.ndarray:
    """(N, :data:`RUNNERS_UP`) int64: the 2nd, 3rd, ... nearest centroid of every row (-1
    past k).

    Computed by the same pass as :func:`assign` (and cached with it: a call with the same
    ``cache`` after ``assign`` costs nothing more).
    """
    key = ("assign", id(vectors), id(centroids), spherical)
    return cached(cache, key, lambda: _assign(vectors, centroids, spherical, engine))[2].copy()


def _assign(
    vectors: np.ndarray, centroids: np.ndarray, spherical: bool, engine: Engine | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    engine = engine or LocalEngine()
    n = len(vectors)
    if spherical:
        centroids = rows_as_float32(centroids, slice(None), normalize=True)
    cluster = np.empty(n, dtype=np.int64)
    distance = np.empty(n, dtype=np.float64)
    runner_up = np.empty((n, RUNNERS_UP), dtype=np.int64)
    shards = [(start, min(start + CHUNK_ROWS, n)) for start in range(0, n, CHUNK_ROWS)]
    results = engine.imap(
        assign_shard, shards, shared=(vectors, centroids, spherical, RUNNERS_UP),
        label="k-means: nearest centroid",
        checkpoint=("assign-runners-up", vectors, centroids, spherical, RUNNERS_UP, CHUNK_ROWS),
    )  # fmt: skip
    for index, (ids, dist, other) in results:
        start, stop = shards[index]
        cluster[start:stop], distance[start:stop], runner_up[start:stop] = ids, dist, other
    return cluster, distance, runner_up


def assign_shard(
    rows: tuple[int, int], vectors: np.ndarray, centroids: np.ndarray, spherical: bool,
    runners_up: int = 0,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """One engine shard of :func:`assign`: nearest centroid and distance of rows [start, stop)
    (and the ``runners_up`` next-nearest centroids, see :func:`nearest_centroids`).

    A float32 C-contiguous input (a memory map of a ``.npy``) is read in place, never copied
    or normalised (:func:`nearest_centroids` divides by the row norms itself).
    """
    start, stop = rows
    found = _nearest(vectors[start:stop], centroids, spherical, runners_up)
    release_pages(vectors)
    return found


def min_prototype_size(n: int, k: int) -> int:
    """Smallest cluster that counts as a prototype: max(2, 10% of the mean cluster size)."""
    return max(2, math.ceil(0.1 * n / k))
