"""Per-example scores. Importing this package registers every built-in metric.

Direction, for every metric: **higher = harder / more informative / more unique**.

Each metric is a plain function on arrays (or texts), and a registry entry
(:data:`REGISTRY`, :class:`Metric`) that ``lessdata.score`` and the CLI call by name:

    >>> import numpy as np, lessdata
    >>> x = np.random.rand(200, 8).astype("float32")
    >>> lessdata.metrics.prototype_metrics(x, k=5).shape
    (200,)
"""

from lessdata.metrics.dynamics import (
    aum,
    cartography_confidence,
    cartography_variability,
    el2n,
    entropy,
    forgetting,
    grand,
    margin,
)
from lessdata.metrics.importance import dsir
from lessdata.metrics.prototype_metrics import prototypes, supervised_prototypes
from lessdata.metrics.quality_classifier import classifier_scores
from lessdata.metrics.random_score import random_scores
from lessdata.metrics.reference_lm import perplexity
from lessdata.metrics.registry import REGISTRY, Metric, ScoreInputs, get_metric, register
from lessdata.metrics.semdedup_metric import semdedup

__all__ = [
    "REGISTRY",
    "Metric",
    "ScoreInputs",
    "aum",
    "cartography_confidence",
    "cartography_variability",
    "classifier_scores",
    "dsir",
    "el2n",
    "entropy",
    "forgetting",
    "get_metric",
    "grand",
    "margin",
    "perplexity",
    "prototypes",
    "random_scores",
    "register",
    "semdedup",
    "supervised_prototypes",
]
