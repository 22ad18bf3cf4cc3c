"""The metric registry: each metric's name, function, direction and needs.

Every metric is first a plain function on arrays (``lessdata.metrics.prototype_metrics(X, k=10)``);
its registry entry adapts it to :class:`ScoreInputs`, which is how ``lessdata.score`` and the
CLI call it. The entry's function is ``(inputs, **options) -> dict[str, np.ndarray]``; its
result holds
at least the column named after the metric (one float per example, **higher = harder /
more informative / more unique**) and optionally extra per-example columns (for example
``prototypes_cluster``). Adding a metric touches its module and one :func:`register` call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lessdata.errors import LessdataError


@dataclass
class ScoreInputs:
    """What a metric may read. Fields a metric does not need may be None."""

    n: int
    vectors: np.ndarray | None = None
    labels: np.ndarray | None = None
    texts: Any = None  # Arrow string array
    seed: int = 0
    #: per-example training records (losses, margins, ...) for training-dynamics metrics
    records: dict[str, np.ndarray] = field(default_factory=dict)
    #: where row-parallel work runs (a :class:`lessdata.engines.Engine`); None: in process
    engine: Any = None
    #: work shared by the metrics of one scoring call (k-means fits, proxy runs); see
    #: :func:`lessdata.kmeans.cached`. A fresh dict per call: nothing outlives it.
    cache: dict[tuple, Any] = field(default_factory=dict)
    #: what a metric learned about this run that a reader should see (e.g. the classifier's
    #: cross-validated accuracy), by metric name; written to the manifest's settings
    notes: dict[str, Any] = field(default_factory=dict)


MetricFn = Callable[..., dict[str, np.ndarray]]


@dataclass(frozen=True)
class Metric:
    """A registry entry: the metric's name, function and what it needs."""

    name: str
    fn: MetricFn
    summary: str
    high_means: str
    needs_vectors: bool = True
    needs_labels: bool = False
    needs_text: bool = False
    needs_training: bool = False
    #: checks the options (keyword arguments of :attr:`fn`) before any work; None: none
    validate: Callable[..., None] | None = None
    #: reads vectors as directions (cosine geometry, unless its ``distance`` option says
    #: otherwise): a zero vector has no direction, so the pipeline refuses or drops it
    directional: bool = False

    def reads_directions(self, options: dict[str, Any]) -> bool:
        """True when, with ``options``, this metric reads vectors as directions."""
        if not self.directional:
            return False
        return "distance" not in self.options or options.get("distance", "cosine") == "cosine"

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options the metric's function accepts."""
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    def check(self, **options: Any) -> None:
        """Check the options this metric takes (others are ignored), before any work."""
        if self.validate is not None:
            taken = {k: v for k, v in options.items() if k in self.options and v is not None}
            self.validate(**taken)

    def __call__(self, inputs: ScoreInputs, **options: Any) -> dict[str, np.ndarray]:
        """Check the inputs it needs, pass it the options it accepts, and check its output."""
        if self.needs_vectors and inputs.vectors is None:
            raise LessdataError(
                f"metric {self.name!r} needs vectors: give embeddings or a text column to embed"
            )
        recorded = self.needs_training and bool(inputs.records)  # the recorder saw the targets
        if self.needs_labels and inputs.labels is None and not recorded:
            raise LessdataError(
                f"metric {self.name!r} needs labels: pass `label_column` (or `labels`)"
            )
        accepted = {k: v for k, v in options.items() if k in self.options and v is not None}
        result = self.fn(inputs, **accepted)
        scores = result[self.name]
        if not np.isfinite(scores).all():
            raise RuntimeError(f"metric {self.name} produced non-finite scores")
        return result


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (names are unique); return it.

    Args:
        metric: the entry: name, function over :class:`ScoreInputs`, direction and needs.
    """
    if metric.name in REGISTRY:
        raise ValueError(f"metric {metric.name} is registered twice")
    REGISTRY[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    """Look a metric up by name; the error lists the known ones.

    Args:
        name: a registered metric's name, such as ``"prototypes"``.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise LessdataError(f"unknown metric {name!r}; choose one of: {known}") from None
