"""Prototype metrics: distance to the nearest k-means centroid, or to the class centroid.

``prototypes`` is the self-supervised prototype metric of Sorscher et al. 2022 ("Beyond
neural scaling laws", arXiv 2206.14486, section 5): cluster the embeddings with k-means and
call an example hard when it lies far from its nearest centroid. It needs no labels.
``supervised-prototypes`` measures the distance to the mean of the example's own class.
"""

from __future__ import annotations

import numpy as np

from lessdata.errors import LessdataError
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
        raise LessdataError(f"--distance must be one of {DISTANCES}, got {distance!r}")
    return distance == "cosine"


def prototypes(
    inputs: ScoreInputs,
    *,
    k: int | None = None,
    distance: str = "cosine",
    niter: int = 20,
) -> dict[str, np.ndarray]:
    """Distance of each example to its nearest k-means centroid (higher = harder).

    Args:
        inputs: ``vectors`` (N, d) are read.
        k: number of clusters; default round(sqrt(N)) (see ``kmeans.default_k``).
        distance: ``cosine`` (spherical k-means on normalised vectors, score 1 - cos) or
            ``euclidean`` (plain k-means, score = L2 distance).
        niter: k-means iterations.

    Clusters with fewer than max(2, 10% of N/k) members are not prototypes: their members
    are scored against the nearest larger cluster (see ``kmeans.assign``), so an isolated
    outlier that k-means gave a centroid of its own still scores as hard.

    Returns ``{"prototypes": distance, "prototypes_cluster": cluster id}``.
    """
    vectors = inputs.vectors
    assert vectors is not None
    spherical = check_distance(distance)
    k = check_k(k, len(vectors))
    centroids = fit_centroids(vectors, k, spherical=spherical, seed=inputs.seed, niter=niter)
    min_size = min_prototype_size(len(vectors), k)
    cluster, dist = assign(
        vectors, centroids, spherical=spherical, min_size=min_size, engine=inputs.engine
    )
    return {"prototypes": dist, "prototypes_cluster": cluster}


def supervised_prototypes(
    inputs: ScoreInputs, *, distance: str = "cosine"
) -> dict[str, np.ndarray]:
    """Distance of each example to the centroid of its own class (higher = harder).

    The class centroid is the mean of the class's (normalised, for cosine) vectors.
    Returns ``{"supervised-prototypes": distance}``.
    """
    vectors, labels = inputs.vectors, inputs.labels
    assert vectors is not None and labels is not None
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
    return {"supervised-prototypes": dist}


register(
    Metric(
        name="prototypes",
        fn=prototypes,
        summary="distance to the nearest k-means centroid (Sorscher et al. 2022)",
        high_means="far from every prototype: atypical, hard",
    )
)
register(
    Metric(
        name="supervised-prototypes",
        fn=supervised_prototypes,
        summary="distance to the centroid of the example's own class",
        high_means="far from its class mean: atypical for its label, hard",
        needs_labels=True,
    )
)
