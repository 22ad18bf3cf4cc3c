"""Train a small proxy model on a subset and score it; or train in epochs and record dynamics.

Two entry points:

:func:`fit_and_score`
    One point of a scaling sweep: train ``model`` on ``(x_train, y_train)`` and report test
    accuracy, error and loss. Torch models train for a **fixed budget of ``config.steps``
    optimizer steps whatever the subset size**, each step on ``config.batch_size`` examples
    drawn uniformly *with replacement* from the subset. A 20-example subset therefore gets the
    same compute as a 20,000-example one and is not starved of updates, and a curve over
    subset sizes measures the data, not the number of updates (the fixed-compute convention of
    Sorscher et al. 2022's pruning experiments).
:func:`train_with_dynamics`
    Train on *all* examples in shuffled epochs and record, after each epoch, per-example
    quantities of the whole training set (probability and correctness of the assigned label,
    logit margin, EL2N, entropy, loss), plus optional per-example gradient norms at chosen
    early epochs. ``lessdata.metrics.dynamics`` turns these into EL2N, GraNd, forgetting,
    AUM and cartography scores.

Inputs are standardised with statistics of the training data only (per feature for
``logreg``/``mlp``, per channel for the CNNs, so that spatial structure survives); a
zero-variance feature or channel is only centred. Everything is a function of
``config.seed``: ``torch.manual_seed`` fixes the initialisation and a private
``torch.Generator`` the minibatches (given the same torch build and thread count).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lessdata.errors import LessdataError
from lessdata.train.models import check_model, conv_shape, make_model

#: rows per forward pass when evaluating (no gradients)
EVAL_ROWS = 4096
#: floats of per-example gradients held at once when computing GraNd (64 MiB)
GRAD_FLOATS = 1 << 24
#: scikit-learn iterations for ``logreg`` (lbfgs converges well before this on standardised data)
LOGREG_MAX_ITER = 1000


@dataclass
class TrainConfig:
    """How to train a torch proxy model.

    Attributes:
        steps: optimizer steps for :func:`fit_and_score`, whatever the subset size
            (ignored by ``logreg`` and by :func:`train_with_dynamics`, which counts epochs).
        batch_size: examples per step.
        lr: AdamW learning rate (constant).
        weight_decay: AdamW decoupled weight decay.
        width: hidden width / channels: the model-size axis.
        seed: initialisation and minibatch seed.
    """

    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 5e-4
    width: int = 64
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`LessdataError` for an unusable setting."""
        for name in ("steps", "batch_size", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise LessdataError(f"{name} must be a positive whole number, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise LessdataError(f"lr must be a positive number, got {self.lr!r}")
        wd = self.weight_decay
        if not (isinstance(wd, (int, float)) and math.isfinite(wd) and wd >= 0):
            raise LessdataError(f"weight_decay must be a number >= 0, got {wd!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise LessdataError(f"seed must be a whole number, got {self.seed!r}")
        if self.seed < 0:
            raise LessdataError(f"seed must be >= 0, got {self.seed}")


# --- input checks and standardisation ----------------------------------------------------


def _features(x: Any, what: str) -> np.ndarray:
    """``x`` as a float32 ``(N, ...)`` array with at least one example; finite values only."""
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise LessdataError(f"{what} must be a numeric array") from None
    if arr.ndim < 2:
        raise LessdataError(f"{what} must have shape (N, features...), got {arr.shape}")
    if len(arr) == 0:
        raise LessdataError(f"{what} is empty: give at least one example")
    if not np.isfinite(arr).all():
        raise LessdataError(f"{what} holds NaN or infinite values")
    return arr


def _labels(y: Any, n: int, what: str) -> np.ndarray:
    """``y`` as int64 class indices ``>= 0``, one per example."""
    arr = np.asarray(y)
    if arr.shape != (n,):
        raise LessdataError(f"{what} must be one label per example: got {arr.shape} for {n}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise LessdataError(f"{what} must be whole-number class indices")
    elif arr.dtype.kind not in "iub":
        raise LessdataError(f"{what} must be integer class indices 0..C-1, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if len(arr) and arr.min() < 0:
        raise LessdataError(f"{what} must be class indices >= 0, got {arr.min()}")
    return arr


def _resolve_classes(n_classes: int | None, *label_arrays: np.ndarray) -> int:
    top = max(int(a.max()) for a in label_arrays if len(a)) + 1
    if n_classes is None:
        return max(2, top)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise LessdataError(f"n_classes must be a whole number, got {n_classes!r}")
    if n_classes < 2:
        raise LessdataError(f"n_classes must be at least 2, got {n_classes}")
    if top > n_classes:
        raise LessdataError(f"labels go up to {top - 1} but n_classes is {n_classes}")
    return int(n_classes)


def _resolve_shape(model: str, x: np.ndarray, input_shape: Sequence[int] | None) -> tuple:
    shape = tuple(x.shape[1:]) if input_shape is None else tuple(int(s) for s in input_shape)
    if math.prod(shape) != math.prod(x.shape[1:]):
        raise LessdataError(
            f"input_shape {shape} does not hold the {math.prod(x.shape[1:])} features per example"
        )
    conv_shape(model, shape)  # validates, e.g. cnn2d on non-square flat vectors
    return shape


def _standardiser(model: str, shape: tuple, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale, each ``(D,)`` over the flattened features, from ``x`` (training rows).

    Flat models standardise each feature; CNNs each channel (one mean and std over all its
    positions), which keeps the relative values of neighbouring pixels.
    """
    flat = x.reshape(len(x), -1).astype(np.float64)
    if model in ("logreg", "mlp"):
        mean, std = flat.mean(0), flat.std(0)
    else:
        channels = conv_shape(model, shape)[0]
        per = flat.reshape(len(x), channels, -1)
        cmean, cstd = per.mean((0, 2)), per.std((0, 2))
        positions = per.shape[2]
        mean, std = np.repeat(cmean, positions), np.repeat(cstd, positions)
    std = np.where(std > 1e-8, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def _apply(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    flat = x.reshape(len(x), -1)
    return torch.from_numpy(np.ascontiguousarray((flat - mean) / std, dtype=np.float32))


@torch.no_grad()
def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    net.eval()
    out = torch.cat([net(x[i : i + EVAL_ROWS]) for i in range(0, len(x), EVAL_ROWS)])
    net.train()
    return out


def _seeded(config: TrainConfig) -> torch.Generator:
    torch.manual_seed(int(config.seed))
    return torch.Generator().manual_seed(int(config.seed))


def _optimizer(net: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _step(net: nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor) -> None:
    loss = F.cross_entropy(net(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


# --- fit and score -----------------------------------------------------------------------


def fit_and_score(
    model: str,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    config: TrainConfig,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
) -> dict[str, float]:
    """Train ``model`` on the training subset and evaluate it on the test set.

    Args:
        model: one of ``MODELS``. ``logreg`` is scikit-learn's ``LogisticRegression`` (lbfgs,
            C=1, at most 1,000 iterations, deterministic); the others are torch models trained
            with AdamW for exactly ``config.steps`` steps of ``config.batch_size`` examples
            sampled with replacement from the subset (the fixed step budget; see the module
            docstring).
        x_train, y_train: the training subset, ``(n, ...)`` features and ``(n,)`` class
            indices.
        x_test, y_test: the evaluation set.
        config: training settings; ``config.seed`` makes the result reproducible.
        input_shape: shape of one example if ``x`` is flat but the model wants a signal or an
            image (e.g. ``(8, 8)``); default ``x_train.shape[1:]`` (a flat square vector is
            read as a square image by ``cnn2d``).
        n_classes: number of classes; default ``max(label) + 1`` over train and test.

    Returns:
        ``{"accuracy", "error", "loss", "train_seconds", "steps"}``: test accuracy, its
        complement, mean test cross-entropy (nats), wall-clock training seconds, and the
        optimizer steps taken (lbfgs iterations for ``logreg``).
    """
    check_model(model)
    config.check()
    xtr, xte = _features(x_train, "x_train"), _features(x_test, "x_test")
    if xtr.shape[1:] != xte.shape[1:]:
        raise LessdataError(f"x_train rows {xtr.shape[1:]} and x_test rows {xte.shape[1:]} differ")
    ytr, yte = _labels(y_train, len(xtr), "y_train"), _labels(y_test, len(xte), "y_test")
    classes = _resolve_classes(n_classes, ytr, yte)
    shape = _resolve_shape(model, xtr, input_shape)
    mean, std = _standardiser(model, shape, xtr)
    ttr, tte = _apply(xtr, mean, std), _apply(xte, mean, std)
    if model == "logreg":
        start = time.perf_counter()
        probs, steps = _fit_logreg(ttr.numpy(), ytr, tte.numpy(), classes, config.seed)
        seconds = time.perf_counter() - start
        picked = probs[np.arange(len(yte)), yte]
        loss = float(-np.log(np.clip(picked, 1e-12, None)).mean())
        accuracy = float((probs.argmax(1) == yte).mean())
    else:
        gen = _seeded(config)
        net = make_model(model, shape, classes, int(config.width))
        opt = _optimizer(net, config)
        ytr_t = torch.from_numpy(ytr)
        net.train()
        start = time.perf_counter()
        for _ in range(config.steps):
            idx = torch.randint(len(ttr), (config.batch_size,), generator=gen)
            _step(net, opt, ttr[idx], ytr_t[idx])
        seconds = time.perf_counter() - start
        logits = _logits(net, tte)
        yte_t = torch.from_numpy(yte)
        loss = float(F.cross_entropy(logits.double(), yte_t))
        accuracy = float((logits.argmax(1) == yte_t).double().mean())
        steps = int(config.steps)
    return {
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "loss": loss,
        "train_seconds": float(seconds),
        "steps": float(steps),
    }


def _fit_logreg(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, n_classes: int, seed: int
) -> tuple[np.ndarray, int]:
    """Test-set class probabilities ``(m, n_classes)`` of a logistic regression, and its
    iteration count. Classes absent from the subset get probability 0; a one-class subset
    predicts that class with certainty."""
    from sklearn.linear_model import LogisticRegression

    probs = np.zeros((len(x_test), n_classes), dtype=np.float64)
    present = np.unique(y)
    if len(present) == 1:
        probs[:, present[0]] = 1.0
        return probs, 0
    clf = LogisticRegression(C=1.0, max_iter=LOGREG_MAX_ITER, random_state=int(seed))
    clf.fit(x.astype(np.float64), y)
    probs[:, clf.classes_] = clf.predict_proba(x_test.astype(np.float64))
    return probs, int(np.max(clf.n_iter_))


# --- training dynamics -------------------------------------------------------------------


def train_with_dynamics(
    model: str,
    x: Any,
    y: Any,
    *,
    config: TrainConfig,
    epochs: int,
    record_every: int = 1,
    early_epochs: Sequence[int] = (),
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
) -> dict[str, np.ndarray]:
    """Train on all of ``(x, y)`` for ``epochs`` epochs and record per-example dynamics.

    Each epoch visits every example once in a fresh seeded shuffle, in minibatches of
    ``config.batch_size`` (the last one smaller); ``config.steps`` is ignored. At the end of
    every ``record_every``-th epoch (and of the last) the whole training set is evaluated in
    eval mode and these ``(R, N)`` arrays gain a row (R = number of recorded epochs):

    ``p_true``   softmax probability of the assigned label
    ``correct``  whether the arg-max prediction equals the assigned label (bool)
    ``margin``   logit of the assigned label minus the largest other logit (AUM's margin)
    ``el2n``     ``||softmax(f(x)) - onehot(y)||_2`` (Paul et al. 2021)
    ``entropy``  entropy of the predicted distribution (nats)
    ``loss``     cross-entropy of the assigned label

    with ``epochs`` ``(R,)`` the 1-based epoch numbers recorded. Memory is O(R·N), never
    O(R·N·C).

    ``early_epochs`` lists epochs (0 = at initialisation, before any step) at which to also
    compute ``early_el2n`` and ``grand`` ``(len(early_epochs), N)``: the EL2N and the L2 norm
    of the full per-example gradient of the cross-entropy with respect to all parameters
    (GraNd, Paul et al. 2021), via ``torch.func`` (``vmap`` of ``grad``), in chunks.
    ``early_epochs`` is returned too, and ``train_seconds`` (0-d) the wall-clock time.
    """
    check_model(model)
    config.check()
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise LessdataError(f"epochs must be a positive whole number, got {epochs!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)):
        raise LessdataError(f"record_every must be a positive whole number, got {record_every!r}")
    if record_every < 1:
        raise LessdataError(f"record_every must be a positive whole number, got {record_every}")
    early = tuple(int(e) for e in early_epochs)
    if any(not 0 <= e <= epochs for e in early):
        raise LessdataError(f"early epochs {early} must lie in 0..{epochs}")
    xa = _features(x, "x")
    ya = _labels(y, len(xa), "y")
    classes = _resolve_classes(n_classes, ya)
    shape = _resolve_shape(model, xa, input_shape)
    mean, std = _standardiser(model, shape, xa)
    xt, yt = _apply(xa, mean, std), torch.from_numpy(ya)
    del xa
    n = len(xt)
    recorded = [e for e in range(1, epochs + 1) if e % record_every == 0 or e == epochs]
    keys = ("p_true", "correct", "margin", "el2n", "entropy", "loss")
    out: dict[str, np.ndarray] = {
        k: np.empty((len(recorded), n), dtype=bool if k == "correct" else np.float32) for k in keys
    }
    out["epochs"] = np.asarray(recorded, dtype=np.int64)
    out["early_epochs"] = np.asarray(early, dtype=np.int64)
    out["early_el2n"] = np.empty((len(early), n), dtype=np.float32)
    out["grand"] = np.empty((len(early), n), dtype=np.float32)

    gen = _seeded(config)
    net = make_model(model, shape, classes, int(config.width))
    opt = _optimizer(net, config)
    net.train()

    def snapshot(epoch: int) -> None:
        for j, e in enumerate(early):
            if e == epoch:
                out["early_el2n"][j] = per_example(_logits(net, xt), yt)["el2n"]
                out["grand"][j] = per_example_grad_norms(net, xt, yt)

    start = time.perf_counter()
    snapshot(0)
    row = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, config.batch_size):
            idx = order[i : i + config.batch_size]
            _step(net, opt, xt[idx], yt[idx])
        snapshot(epoch)
        if row < len(recorded) and recorded[row] == epoch:
            for k, v in per_example(_logits(net, xt), yt).items():
                out[k][row] = v
            row += 1
    out["train_seconds"] = np.asarray(time.perf_counter() - start)
    return out


def per_example(logits: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-example ``p_true``, ``correct``, ``margin``, ``el2n``, ``entropy``, ``loss`` of
    ``(N, C)`` logits against labels ``y`` (computed in float64)."""
    z = logits.double()
    logp = torch.log_softmax(z, 1)
    p = logp.exp()
    rows = torch.arange(len(y))
    own = z[rows, y]
    others = z.clone()
    others[rows, y] = -torch.inf
    onehot = F.one_hot(y, z.shape[1]).double()
    return {
        "p_true": p[rows, y].numpy(),
        "correct": (z.argmax(1) == y).numpy(),
        "margin": (own - others.max(1).values).numpy(),
        "el2n": torch.linalg.vector_norm(p - onehot, dim=1).numpy(),
        "entropy": -(p * logp).sum(1).numpy(),
        "loss": -logp[rows, y].numpy(),
    }


def per_example_grad_norms(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """L2 norm of each example's cross-entropy gradient w.r.t. all of ``net``'s parameters.

    Exact per-example gradients with ``torch.func.vmap(torch.func.grad(...))`` (no
    last-layer approximation), evaluated in eval mode, in chunks so that at most
    :data:`GRAD_FLOATS` gradient floats are alive at once.
    """
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}
    n_params = sum(v.numel() for v in params.values())
    chunk = int(min(1024, max(1, GRAD_FLOATS // max(1, n_params))))

    def loss_one(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(net, (p, buffers), (xi[None],))
        return F.cross_entropy(out, yi[None])

    per = vmap(grad(loss_one), in_dims=(None, 0, 0))
    norms = np.empty(len(x), dtype=np.float64)
    net.eval()
    try:
        for i in range(0, len(x), chunk):
            grads = per(params, x[i : i + chunk], y[i : i + chunk])
            sq = sum(g.double().pow(2).flatten(1).sum(1) for g in grads.values())
            norms[i : i + chunk] = torch.sqrt(sq).numpy()
    finally:
        net.train()
    return norms
