"""The ``semdedup`` metric: how far each example is from the kept examples of its cluster.

SemDeDup (Abbas et al. 2023, arXiv 2303.09540) walks each k-means cluster and keeps an
example unless it is within cosine distance ``eps`` of one kept before it
(:mod:`lessdata.duplicates.semdedup`). The score is that distance: higher = more unique;
duplicates score below ``eps``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lessdata.duplicates.semdedup import semantic_duplicates
from lessdata.engines.base import Engine
from lessdata.metrics.registry import Metric, ScoreInputs, register


def semdedup(
    vectors: np.ndarray,
    *,
    eps: float = 0.05,
    k: int | None = None,
    survivor: str = "hard",
    niter: int = 20,
    seed: int = 0,
    engine: Engine | None = None,
    scope: str = "neighbours",
) -> np.ndarray:
    """Cosine distance of each row to the most similar kept row before it in its cluster.

    Args:
        vectors: (N, d) embeddings.
        eps: a row is a duplicate when that distance is below ``eps`` (similarity above
            ``1 - eps``); duplicates are not kept, so later rows are not measured to them.
        k: k-means clusters (default round(sqrt(N))).
        survivor: the order in which a cluster is walked: ``hard`` (farthest from the
            centroid first, the paper's choice), ``easy`` or ``random``.
        niter: k-means iterations.
        seed: seeds k-means and the random order.
        engine: where the clusters run (default: this process).
        scope: ``neighbours`` (default): kept rows are also compared with the kept rows of
            their next-nearest clusters, so that duplicates split by a cluster border are
            found (a row removed there scores its distance to that match); ``cluster``:
            within clusters only, the paper's rule
            (:func:`lessdata.duplicates.semdedup.semantic_duplicates`).

    Returns:
        (N,) float64 distances in [0, 2]; 2.0 for a row with no kept row before it.

    Example:
        >>> import numpy as np, lessdata
        >>> x = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
        >>> lessdata.metrics.semdedup_metric(x, k=5).shape
        (200,)
    """
    found = semantic_duplicates(
        vectors, k=k, eps=eps, survivor=survivor, niter=niter, seed=seed, engine=engine,
        scope=scope,
    )  # fmt: skip
    return found.distance


def _columns(
    inputs: ScoreInputs,
    *,
    k: int | None = None,
    eps: float = 0.05,
    survivor: str = "hard",
    niter: int = 20,
    scope: str = "neighbours",
) -> dict[str, Any]:
    """The registry's view: the score, the cluster and ``semdedup_duplicate_of``."""
    assert inputs.vectors is not None
    found = semantic_duplicates(
        inputs.vectors, k=k, eps=eps, survivor=survivor, niter=niter, seed=inputs.seed,
        engine=inputs.engine, cache=inputs.cache, scope=scope,
    )  # fmt: skip
    return {
        "semdedup": found.distance,
        "semdedup_cluster": found.cluster,
        "semdedup_duplicate_of": found.duplicate_of,
    }


register(
    Metric(
        name="semdedup",
        fn=_columns,
        summary="SemDeDup: cosine distance to the nearest kept example in its k-means cluster",
        high_means="far from every kept neighbour: unique; duplicates score below eps",
        directional=True,
    )
)
