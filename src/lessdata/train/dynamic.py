"""A scaling-lab run with dynamic pruning (InfoBatch) on the full data, at the lab's budget.

The lab's static runs train for ``config.steps`` optimizer steps of ``config.batch_size``
examples drawn with replacement, whatever the subset. A dynamic run has the same budget in
example-forwards, spent in epochs over all examples (``epochs = steps × batch / n``, at
least 2) through :class:`lessdata.torch.DynamicPruningSampler`, which skips well-learned
examples and re-weights the rest; it therefore takes fewer steps, and reports the share of
example-forwards it saved (``forwards_saved``) next to the usual accuracy, error and loss.
Same model, optimizer (AdamW, constant learning rate) and standardisation as
:func:`lessdata.train.fit_and_score`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lessdata.torch import DynamicPruningSampler
from lessdata.train.models import make_model
from lessdata.train.trainer import (
    TrainConfig,
    _apply,
    _features,
    _labels,
    _logits,
    _optimizer,
    _resolve_classes,
    _resolve_shape,
    _seeded,
    _standardiser,
)


def fit_and_score_dynamic(
    model: str,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    config: TrainConfig,
    prune_ratio: float,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
) -> dict[str, float]:
    """Train ``model`` on all of ``(x_train, y_train)`` with InfoBatch's dynamic pruning
    at ``prune_ratio``; evaluate on the test set.

    Returns:
        ``{"accuracy", "error", "loss", "train_seconds", "steps", "epochs",
        "forwards_saved"}``.
    """
    config.check()
    x = _features(x_train, "x_train")
    y = _labels(y_train, len(x), "y_train")
    xt = _features(x_test, "x_test")
    yt = _labels(y_test, len(xt), "y_test")
    classes = _resolve_classes(n_classes, y, yt)
    shape = _resolve_shape(model, x, input_shape)
    mean, std = _standardiser(model, shape, x)
    xs, xts = _apply(x, mean, std), _apply(xt, mean, std)
    ys = torch.from_numpy(y)
    n = len(x)
    epochs = max(2, round(config.steps * config.batch_size / n))
    gen = _seeded(config)
    net = make_model(model, shape, classes, int(config.width))
    opt = _optimizer(net, config)
    sampler = DynamicPruningSampler(n, epochs=epochs, prune_ratio=prune_ratio, seed=config.seed)
    start, steps = time.perf_counter(), 0
    net.train()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), dtype=torch.int64)
        order = order[torch.randperm(len(order), generator=gen)]
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            losses = F.cross_entropy(net(xs[idx]), ys[idx], reduction="none")
            loss = (losses * sampler.update(idx, losses)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    seconds = time.perf_counter() - start
    logits = _logits(net, xts)
    test_loss = float(F.cross_entropy(logits, torch.from_numpy(yt)).item())
    accuracy = float((logits.argmax(1).numpy() == yt).mean())
    return {
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "loss": test_loss if math.isfinite(test_loss) else float("nan"),
        "train_seconds": seconds,
        "steps": float(steps),
        "epochs": float(epochs),
        "forwards_saved": float(1 - sampler.forwards / (epochs * n)),
    }
