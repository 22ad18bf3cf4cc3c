"""Per-example scores. Importing this package registers every built-in metric.

Direction, for every metric: **higher = harder / more informative / more unique**.
"""

from lessdata.metrics import dynamics, prototypes, random_score, semdedup  # noqa: F401  (registers)
from lessdata.metrics.kmeans import default_k
from lessdata.metrics.registry import REGISTRY, Metric, ScoreInputs, get_metric, register

__all__ = ["REGISTRY", "Metric", "ScoreInputs", "default_k", "get_metric", "register"]
