"""The ``random`` metric: a seeded uniform score, the baseline every metric must beat."""

from __future__ import annotations

import numpy as np

from lessdata.metrics.registry import Metric, ScoreInputs, register


def random_scores(n: int, *, seed: int = 0) -> np.ndarray:
    """One uniform [0, 1) draw for each of ``n`` examples: pruning by it is random pruning.

    Args:
        n: the number of examples.
        seed: seeds the draw.
    """
    return np.random.default_rng(seed).random(n)


def _columns(inputs: ScoreInputs) -> dict[str, np.ndarray]:
    return {"random": random_scores(inputs.n, seed=inputs.seed)}


register(
    Metric(
        name="random",
        fn=_columns,
        summary="a seeded uniform score: pruning by it is random pruning",
        high_means="nothing: it is the baseline",
        needs_vectors=False,
    )
)
