"""Proxy-model training: fixed-step fits for scaling sweeps, epoch runs for dynamics metrics.

``fit_and_score`` trains one of :data:`MODELS` on a subset for a fixed step budget and returns
test accuracy/error/loss; ``train_with_dynamics`` trains on all examples in epochs and records
per-example quantities for the training-dynamics metrics (``lessdata.metrics.dynamics``).

torch is imported on first use of a trainer or model, not by ``import lessdata.train``, so that
registering the dynamics metrics does not slow every CLI start by torch's import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lessdata.train.model_names import MODELS

if TYPE_CHECKING:
    from lessdata.train.dynamic import fit_and_score_dynamic
    from lessdata.train.models import make_model
    from lessdata.train.trainer import TrainConfig, fit_and_score, train_with_dynamics

_LAZY = {
    "make_model": "lessdata.train.models",
    "TrainConfig": "lessdata.train.trainer",
    "fit_and_score": "lessdata.train.trainer",
    "train_with_dynamics": "lessdata.train.trainer",
    "fit_and_score_dynamic": "lessdata.train.dynamic",
}

__all__ = [
    "MODELS",
    "TrainConfig",
    "fit_and_score",
    "fit_and_score_dynamic",
    "make_model",
    "train_with_dynamics",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
