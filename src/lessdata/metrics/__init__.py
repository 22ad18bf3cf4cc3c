"""Per-example scores. Importing this package registers every built-in metric.

Direction, for every metric: **higher = harder / more informative / more unique**.
"""

from lessdata.kmeans import default_k
from lessdata.metrics import (  # noqa: F401  (registers)
    dsir,
    dynamics,
    perplexity,
    prototypes,
    random_score,
    semdedup,
)
from lessdata.metrics.registry import REGISTRY, Metric, ScoreInputs, get_metric, register

__all__ = ["REGISTRY", "Metric", "ScoreInputs", "default_k", "get_metric", "register"]
