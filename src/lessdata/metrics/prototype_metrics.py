"""Prototype metrics: distance to the nearest k-means centroid, or to the class centroid.

``prototypes`` is the self-supervised prototype metric of Sorscher et al. 2022 ("Beyond
neural scaling laws", arXiv 2206.14486, section 5): cluster the embeddings with k-means and
call an example hard when it lies far from its nearest centroid. It needs no labels.
``supervised-prototypes`` measures the distance to the mean of the example's own class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lessdata.checks import check_choice
from lessdata.engines.base import Engine
from lessdata.kmeans import (
    CHUNK_ROWS,
    assign,
    check_k,
    fit_centroids,
    min_prototype_size,
    rows_as_float32,
)
from lessdata.metrics.registry import Metric, ScoreInputs, register

DISTANCES = ("cosine", "euclidean")


def check_distance(distance: str) -> bool:
    """Validate ``distance``; return True for cosine (spherical) geometry."""
    if distance not in DISTANCES:
        check_choice(distance, "distance", DISTANCES)
    return distance == "cosine"


def prototypes(
    vectors: np.ndarray,
    *,
    k: int | None = None,
    distance: str = "cosine",
    niter: int = 20,
    seed: int = 0,
    engine: Engine | None = None,
) -> np.ndarray:
    """Distance of each example to its nearest k-means centroid (higher = harder).

    Args:
        vectors: (N, d) embeddings (a memory map is streamed).
        k: number of clusters; default round(sqrt(N)) (see ``kmeans.default_k``).
        distance: ``cosine`` (spherical k-means on normalised vectors, score 1 - cos) or
            ``euclidean`` (plain k-means, score = L2 distance).
        niter: k-means iterations.
        seed: seeds k-means.
        engine: where the assignment runs (default: this process).

    Clusters with fewer than max(2, 10% of N/k) members are not prototypes: their members
    are scored against the nearest larger cluster (see ``kmeans.assign``), so an isolated
    outlier that k-means gave a centroid of its own still scores as hard.

    Returns:
        (N,) float64 distances.

    Example:
        >>> import numpy as np, lessdata
        >>> x = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
        >>> lessdata.metrics.prototype_metrics(x, k=5).shape
        (200,)
    """
    return _nearest_prototype(vectors, k, distance, niter, seed, engine, None)[1]


def _nearest_prototype(
    vectors: np.ndarray, k: int | None, distance: str, niter: int, seed: int,
    engine: Engine | None, cache: dict[tuple, Any] | None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    spherical = check_distance(distance)
    k = check_k(k, len(vectors))
    centroids = fit_centroids(
        vectors, k, spherical=spherical, seed=seed, niter=niter, cache=cache, engine=engine
    )
    min_size = min_prototype_size(len(vectors), k)
    return assign(
        vectors, centroids, spherical=spherical, min_size=min_size, engine=engine, cache=cache
    )


def _prototypes_columns(
    inputs: ScoreInputs, *, k: int | None = None, distance: str = "cosine", niter: int = 20
) -> dict[str, np.ndarray]:
    """The registry's view: the score and ``prototypes_cluster``."""
    assert inputs.vectors is not None
    cluster, dist = _nearest_prototype(
        inputs.vectors, k, distance, niter, inputs.seed, inputs.engine, inputs.cache
    )
    return {"prototypes": dist, "prototypes_cluster": cluster}


def supervised_prototypes(
    vectors: np.ndarray, labels: np.ndarray, *, distance: str = "cosine"
) -> np.ndarray:
    """Distance of each example to the centroid of its own class (higher = harder).

    Args:
        vectors: (N, d) embeddings.
        labels: (N,) class indices 0..C-1 (as :func:`lessdata.data.dataset.load` gives).
        distance: ``cosine`` (normalised vectors, 1 - cos) or ``euclidean``.

    The class centroid is the mean of the class's (normalised, for cosine) vectors.
    Returns the (N,) float64 distances.
    """
    labels = np.asarray(labels)
    spherical = check_distance(distance)
    n, d = vectors.shape
    n_classes = int(labels.max()) + 1
    sums = np.zeros((n_classes, d), dtype=np.float64)
    for start in range(0, n, CHUNK_ROWS):
        block = rows_as_float32(vectors, slice(start, start + CHUNK_ROWS), normalize=spherical)
        lab = labels[start : start + len(block)]
        order = np.argsort(lab, kind="stable")
        classes, first = np.unique(lab[order], return_index=True)
        sums[classes] += np.add.reduceat(block[order], first, axis=0)
    counts = np.bincount(labels, minlength=n_classes)[:, None]
    centroids = (sums / np.maximum(counts, 1)).astype(np.float32)
    if spherical:
        centroids = rows_as_float32(centroids, slice(None), normalize=True)
    dist = np.empty(n, dtype=np.float64)
    for start in range(0, n, CHUNK_ROWS):
        block = rows_as_float32(vectors, slice(start, start + CHUNK_ROWS), normalize=spherical)
        own = centroids[labels[start : start + len(block)]]
        if spherical:
            dist[start : start + len(block)] = 1.0 - np.einsum("ij,ij->i", block, own)
        else:
            dist[start : start + len(block)] = np.linalg.norm(block - own, axis=1)
    return dist


def _supervised_columns(inputs: ScoreInputs, *, distance: str = "cosine") -> dict[str, np.ndarray]:
    assert inputs.vectors is not None and inputs.labels is not None
    return {
        "supervised-prototypes": supervised_prototypes(
            inputs.vectors, inputs.labels, distance=distance
        )
    }


register(
    Metric(
        name="prototypes",
        fn=_prototypes_columns,
        summary="distance to the nearest k-means centroid (Sorscher et al. 2022)",
        high_means="far from every prototype: atypical, hard",
        directional=True,
    )
)
register(
    Metric(
        name="supervised-prototypes",
        fn=_supervised_columns,
        summary="distance to the centroid of the example's own class",
        high_means="far from its class mean: atypical for its label, hard",
        needs_labels=True,
        directional=True,
    )
)
