"""Small proxy models for the scaling lab and the training-dynamics metrics.

Four families, smallest first, each with one size knob (``width``):

``logreg``
    Softmax regression (one linear layer). :func:`lessdata.train.fit_and_score` fits it with
    scikit-learn instead; the torch module here serves the training-dynamics metrics, which
    need it trained in epochs.
``mlp``
    Two hidden ReLU layers of ``width`` units.
``cnn1d``
    Three ``Conv1d`` layers of ``width`` channels with two 2× max-pools, then a linear read-out
    of the flattened features, for 1-D signals (MNIST-1D: length 40). Flattening (rather than
    global pooling) keeps position, which MNIST-1D's classes depend on.
``cnn2d``
    Two 3×3 ``Conv2d`` blocks (``width`` then ``2·width`` channels), each with a 2× max-pool,
    then a hidden layer of ``width`` units, for small images (8×8 digits, 28×28 MNIST).

Pools are adaptive (output size ``ceil(L / 2)``), so every model builds for any input size,
down to a single pixel.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lessdata.errors import LessdataError
from lessdata.train.model_names import MODELS

__all__ = ["MODELS", "check_model", "conv_shape", "make_model"]


def check_model(name: str) -> str:
    """Validate a model name against :data:`MODELS`."""
    if name not in MODELS:
        raise LessdataError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return name


def conv_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-example tensor shape ``name`` consumes for inputs of ``input_shape``.

    ``logreg``/``mlp`` take flat vectors ``(d,)``; ``cnn1d`` takes ``(C, L)`` (a bare ``(L,)``
    becomes one channel); ``cnn2d`` takes ``(C, H, W)`` (a bare ``(H, W)`` becomes one channel,
    and a flat ``(d,)`` with ``d`` a perfect square becomes a one-channel square image).
    """
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise LessdataError(f"input shape must be positive sizes, got {input_shape!r}")
    if name in ("logreg", "mlp"):
        return (math.prod(shape),)
    if name == "cnn1d":
        if len(shape) == 1:
            return (1, shape[0])
        if len(shape) == 2:
            return shape
        raise LessdataError(f"cnn1d needs inputs of shape (L,) or (C, L), got {shape}")
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])
        return (1, side, side)
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3:
        return shape
    raise LessdataError(
        f"cnn2d needs images of shape (H, W) or (C, H, W), got {shape}; "
        "pass input_shape=(H, W) for flat vectors that are not square images"
    )


def _half(n: int) -> int:
    return max(1, math.ceil(n / 2))


def make_model(
    name: str, input_shape: tuple[int, ...], n_classes: int, width: int
) -> torch.nn.Module:
    """Build model ``name`` for per-example inputs of ``input_shape`` and ``n_classes`` outputs.

    Args:
        name: one of :data:`MODELS`.
        input_shape: shape of one example, without the batch axis: ``(d,)`` for vectors,
            ``(L,)``/``(C, L)`` for signals, ``(H, W)``/``(C, H, W)`` for images. Flat models
            accept any shape (they flatten it).
        n_classes: number of output logits (at least 2).
        width: hidden units (``mlp``), channels (``cnn1d``/``cnn2d``); ignored by ``logreg``.

    The module maps a batch of shape ``(B, *input_shape)`` (or the same values flattened to
    ``(B, prod(input_shape))``) to logits ``(B, n_classes)``.
    Parameters are initialised from torch's global RNG: seed it (``torch.manual_seed``) first.
    """
    check_model(name)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise LessdataError(f"width must be a positive whole number, got {width!r}")
    if n_classes < 2:
        raise LessdataError(f"a classifier needs at least 2 classes, got {n_classes}")
    shape = conv_shape(name, input_shape)
    if name == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(shape[0], n_classes))
    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(shape[0], width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, n_classes),
        )
    if name == "cnn1d":
        channels, length = shape
        l1 = _half(length)
        l2 = _half(l1)
        return nn.Sequential(
            nn.Flatten(),
            nn.Unflatten(1, (channels, length)),
            nn.Conv1d(channels, width, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(l1),
            nn.Conv1d(width, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(l2),
            nn.Conv1d(width, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(width * l2, n_classes),
        )
    channels, height, wide = shape
    h1, w1 = _half(height), _half(wide)
    h2, w2 = _half(h1), _half(w1)
    return nn.Sequential(
        nn.Flatten(),
        nn.Unflatten(1, (channels, height, wide)),
        nn.Conv2d(channels, width, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d((h1, w1)),
        nn.Conv2d(width, 2 * width, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d((h2, w2)),
        nn.Flatten(),
        nn.Linear(2 * width * h2 * w2, width),
        nn.ReLU(),
        nn.Linear(width, n_classes),
    )
