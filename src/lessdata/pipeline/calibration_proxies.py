"""The learners ``lessdata calibrate`` trains on candidate subsets, and what each fit costs.

A pilot fits a learner on many small subsets, so the learner must be cheap, deterministic
and behave like the model the user will train. Three are built in, and the user's own can
be passed from Python:

* ``logistic`` (the default): multinomial logistic regression (scikit-learn, L2, ``C=1``)
  on the subset's standardised features. Chosen as the default because it is trained the
  way the user's classifier is (cross-entropy): on teacher–student data a least-squares
  (ridge) proxy preferred the hardest 30% of 600 examples where a cross-entropy learner lost
  7–14 points with them (``benchmarks/bench_calibrate.py``).
* ``ridge``: a ridge classifier in closed form on the same features: the cheapest.
* ``mlp``: one hidden layer of 64 ReLU units (scikit-learn's ``MLPClassifier``, Adam,
  ``MLP_EPOCHS`` epochs): for classes a linear model cannot separate.
* a callable ``train_and_eval(rows) -> accuracy``: the user's real model trained on
  ``rows`` (indices into the data, sorted) and scored on the user's own held-out set.

**Cost is counted, never timed**, so the same data, options and seed give the same
calibration under any load and from any entry point. A built-in fit is counted in
floating-point operations by formula (a pass over ``n`` rows of ``d`` features and ``c``
outputs costs ``4·n·d·c`` for a forward and a backward; a logistic fit is counted as
``LOGISTIC_PASSES`` passes, a little above the 8–32 iterations L-BFGS took on the
teacher–student and digits data, scoring the validation rows as one forward). One full
training run is ``full_run_flops`` when the user gives it, else the *reference*: an MLP
with two hidden layers of ``REFERENCE_WIDTH`` units trained ``REFERENCE_EPOCHS`` epochs on
every row (6 operations per parameter per example). A call of the user's ``train_and_eval``
costs ``len(rows) / N`` of a full run (exact when the function trains a fixed number of
epochs over the rows it gets), or ``cost_per_call`` when the caller declares it (a function
that trains a fixed number of steps costs the same on any subset).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lessdata.errors import LessdataError

PROXIES = ("logistic", "ridge", "mlp")
LOGISTIC_PASSES = 30
LOGISTIC_MAX_ITER = 300
MLP_HIDDEN = 64
MLP_EPOCHS = 50
REFERENCE_WIDTH = 256
REFERENCE_EPOCHS = 20

TrainAndEval = Callable[[np.ndarray], Any]


def _outputs(n_classes: int) -> int:
    """Outputs a linear model needs: one for two classes, one per class otherwise."""
    return 1 if n_classes == 2 else n_classes


def reference_flops(n_rows: int, n_features: int, n_classes: int) -> float:
    """Operations of the reference full run: the two-hidden-layer MLP, every row, epochs."""
    w = REFERENCE_WIDTH
    params = n_features * w + w + w * w + w + w * n_classes + n_classes
    return 6.0 * params * n_rows * REFERENCE_EPOCHS


@dataclass(frozen=True)
class Proxy:
    """One learner of the pilot: ``accuracy(rows, validation)`` and ``cost(n, v)``.

    ``cost`` is in full-run shares (see the module docstring), known before the fit, so a
    plan's cost is known before any work.
    """

    name: str
    describe: str
    fit_flops: Callable[[int, int], float] | None  # (train rows, validation rows) -> flops
    accuracy: Callable[[np.ndarray, np.ndarray | None, int], float]
    full_run_flops: float | None
    n_rows: int
    cost_per_call: float | None = None

    def cost(self, n_train: int, n_validation: int) -> float:
        """The share of one full run that a fit on ``n_train`` rows costs."""
        if self.fit_flops is None:  # the user's model: as declared, or rows out of N
            return self.cost_per_call if self.cost_per_call is not None else n_train / self.n_rows
        assert self.full_run_flops is not None
        return self.fit_flops(n_train, n_validation) / self.full_run_flops


def _standardise(train: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0) + 1e-6
    return (train - mean) / std, (other - mean) / std


def _one_class(y_train: np.ndarray, y_validation: np.ndarray) -> float | None:
    """A subset of one class: the only prediction is that class."""
    if len(np.unique(y_train)) < 2:
        return float(np.mean(y_validation == y_train[0]))
    return None


def _sklearn_accuracy(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> Callable:
    from sklearn.exceptions import ConvergenceWarning

    def accuracy(rows: np.ndarray, validation: np.ndarray | None, repeat: int) -> float:
        assert validation is not None
        y_train, y_val = y[rows], y[validation]
        single = _one_class(y_train, y_val)
        if single is not None:
            return single
        train, val = _standardise(x[rows], x[validation])
        if name == "ridge":
            from sklearn.linear_model import RidgeClassifier

            model: Any = RidgeClassifier(alpha=1.0)
        elif name == "logistic":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(C=1.0, max_iter=LOGISTIC_MAX_ITER)
        else:
            from sklearn.neural_network import MLPClassifier

            model = MLPClassifier(
                hidden_layer_sizes=(MLP_HIDDEN,), max_iter=MLP_EPOCHS,
                random_state=(seed * 1_000_003 + repeat) % 2**31,
            )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train, y_train)
        return float(np.mean(model.predict(val) == y_val))

    return accuracy


def make_proxy(
    proxy: str | TrainAndEval,
    x: np.ndarray,
    y: np.ndarray,
    *,
    full_run_flops: float | None,
    seed: int,
    cost_per_call: float | None = None,
) -> Proxy:
    """The pilot's learner on features ``x`` (standardised per subset) and labels ``y``."""
    n, d = x.shape
    c = len(np.unique(y))
    if callable(proxy):
        return Proxy(
            name=_callable_name(proxy), describe="your train_and_eval on the kept rows",
            fit_flops=None, accuracy=_user_accuracy(proxy), full_run_flops=None, n_rows=n,
            cost_per_call=cost_per_call,
        )  # fmt: skip
    if proxy not in PROXIES:
        raise LessdataError(
            f"proxy must be one of {', '.join(PROXIES)} or a callable "
            f"train_and_eval(rows) -> accuracy, got {proxy!r}",
            param="proxy",
        )
    k = _outputs(c)
    forward = 2.0 * d * k  # one row through a linear model
    if proxy == "ridge":
        def flops(m: int, v: int) -> float:  # Gram matrix, solve, scoring
            return 2.0 * m * d * d + d**3 / 3 + 2.0 * m * d * k + v * forward
        describe = "ridge classifier on standardised features"
    elif proxy == "logistic":
        def flops(m: int, v: int) -> float:
            return LOGISTIC_PASSES * 2 * m * forward + v * forward
        describe = "logistic regression (L2, C=1) on standardised features"
    else:
        params = d * MLP_HIDDEN + MLP_HIDDEN + MLP_HIDDEN * c + c

        def flops(m: int, v: int) -> float:
            return 6.0 * params * m * MLP_EPOCHS + 2.0 * params * v
        describe = f"MLP ({MLP_HIDDEN} hidden units, {MLP_EPOCHS} epochs) on standardised features"
    full = reference_flops(n, d, c) if full_run_flops is None else float(full_run_flops)
    return Proxy(name=proxy, describe=describe, fit_flops=flops,
                 accuracy=_sklearn_accuracy(proxy, x, y, seed), full_run_flops=full,
                 n_rows=n)  # fmt: skip


def _callable_name(function: Any) -> str:
    module = getattr(function, "__module__", "") or ""
    name = getattr(function, "__qualname__", type(function).__name__)
    return f"{module}.{name}" if module else name


def _user_accuracy(train_and_eval: TrainAndEval) -> Callable:
    """Wrap the user's function: rows in, a finite accuracy in [0, 1] out (or refused)."""

    def accuracy(rows: np.ndarray, validation: np.ndarray | None, repeat: int) -> float:
        value = train_and_eval(np.array(rows, dtype=np.int64))
        if isinstance(value, Mapping):
            if "accuracy" not in value:
                raise LessdataError(
                    "train_and_eval returned a mapping without 'accuracy' (keys: "
                    f"{', '.join(map(str, value))}); return the accuracy on your held-out set",
                    param="proxy",
                )
            value = value["accuracy"]
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not 0.0 <= number <= 1.0:  # also refuses NaN
            raise LessdataError(
                f"train_and_eval must return an accuracy between 0 and 1, got {value!r}",
                param="proxy",
            )
        return number

    return accuracy
