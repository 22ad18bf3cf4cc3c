"""The ``random`` metric: a seeded uniform score, the baseline every metric must beat."""

from __future__ import annotations

import numpy as np

from lessdata.metrics.registry import Metric, ScoreInputs, register


def random_scores(inputs: ScoreInputs) -> dict[str, np.ndarray]:
    """One uniform [0, 1) draw per example from ``inputs.seed``."""
    return {"random": np.random.default_rng(inputs.seed).random(inputs.n)}


register(
    Metric(
        name="random",
        fn=random_scores,
        summary="a seeded uniform score: pruning by it is random pruning",
        high_means="nothing: it is the baseline",
        needs_vectors=False,
    )
)
