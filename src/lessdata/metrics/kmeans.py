"""k-means with faiss, streamed over (possibly memory-mapped) vectors.

Training uses a seeded sample of at most ``max_points_per_centroid * k`` rows (faiss's own
default cap); assignment walks the full array in chunks, so memory stays at one chunk plus
the sample, never a normalised copy of the whole dataset.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from lessdata.errors import LessdataError

CHUNK_ROWS = 65_536
MAX_POINTS_PER_CENTROID = 256


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
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise LessdataError(f"--k must be a positive whole number of clusters, got {k!r}")
    if k > n:
        raise LessdataError(f"--k {k} asks for more clusters than the {n} examples; use --k <= {n}")
    return int(k)


def rows_as_float32(
    vectors: np.ndarray, rows: np.ndarray | slice, *, normalize: bool
) -> np.ndarray:
    """Copy ``vectors[rows]`` into a C-contiguous float32 array, optionally L2-normalised."""
    block = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    if block is vectors:
        block = block.copy()
    if normalize:
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        block /= norms
    return block


def fit_centroids(
    vectors: np.ndarray,
    k: int,
    *,
    spherical: bool,
    seed: int = 0,
    niter: int = 20,
) -> np.ndarray:
    """Train k-means on a seeded sample of ``vectors``; return ``(k, d)`` float32 centroids.

    ``spherical=True`` runs spherical k-means on L2-normalised rows (cosine geometry).
    """
    n, d = vectors.shape
    n_train = min(n, MAX_POINTS_PER_CENTROID * k)
    if n_train < n:
        rows = np.sort(np.random.default_rng(seed).choice(n, n_train, replace=False))
        sample = rows_as_float32(vectors, rows, normalize=spherical)
    else:
        sample = rows_as_float32(vectors, slice(None), normalize=spherical)
    km = faiss.Kmeans(
        d,
        k,
        niter=niter,
        seed=seed,
        spherical=spherical,
        max_points_per_centroid=MAX_POINTS_PER_CENTROID,
        min_points_per_centroid=1,
        verbose=False,
    )
    km.train(sample)
    return np.asarray(km.centroids, dtype=np.float32)


def assign(
    vectors: np.ndarray, centroids: np.ndarray, *, spherical: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row and the distance to it, streamed in chunks.

    Returns ``(cluster, distance)``: int64 cluster ids and float64 distances, cosine
    distance ``1 - cos`` when ``spherical``, Euclidean distance otherwise.
    """
    n, d = vectors.shape
    index = faiss.IndexFlatIP(d) if spherical else faiss.IndexFlatL2(d)
    if spherical:
        centroids = rows_as_float32(centroids, slice(None), normalize=True)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    cluster = np.empty(n, dtype=np.int64)
    distance = np.empty(n, dtype=np.float64)
    for start in range(0, n, CHUNK_ROWS):
        block = rows_as_float32(vectors, slice(start, start + CHUNK_ROWS), normalize=spherical)
        sims, ids = index.search(block, 1)
        stop = start + len(block)
        cluster[start:stop] = ids[:, 0]
        if spherical:
            distance[start:stop] = 1.0 - sims[:, 0]
        else:
            distance[start:stop] = np.sqrt(np.maximum(sims[:, 0], 0.0))
    return cluster, distance
