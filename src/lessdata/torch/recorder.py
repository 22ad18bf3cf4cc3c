"""Per-example training dynamics from the user's own training loop.

lessdata's training-dynamics metrics (EL2N, forgetting, AUM, dataset cartography, margin,
entropy) normally train a small proxy on fixed feature vectors. :class:`LossRecorder` reads
the same quantities from the model the user actually trains: call :meth:`record` with each
batch's example indices, logits and targets, and :meth:`end_epoch` after each epoch; then
``lessdata.score(data, ["forgetting", "el2n"], dynamics=recorder)`` scores from it.

The quantities are those the proxy records (see :mod:`lessdata.metrics.dynamics`), but read
as Toneva et al. and Pleiss et al. do: when the example's minibatch is presented (training
mode), not in a separate evaluation pass. GraNd needs per-example gradients and is not
available from a recorder. Memory: five float32 values per example and epoch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lessdata.errors import LessdataError

FIELDS = ("p_true", "correct", "margin", "el2n", "entropy")


class LossRecorder:
    """Collect per-example dynamics, epoch by epoch, from a training loop.

    Args:
        n: the number of training examples (indices are row numbers in ``0..n-1``).
        model: a name for the model the dynamics come from; the manifest records it.
        early_epoch: the epoch (1-based) whose EL2N is reported (default: 20% of the epochs
            recorded, at least 1), as Paul et al. read EL2N early in training.

    Example:
        >>> rec = LossRecorder(4, model="mine")
        >>> rec.record([0, 1, 2, 3], torch.eye(4)[:, :2] * 3, torch.tensor([0, 1, 1, 0]))
        >>> rec.end_epoch()
        >>> rec.statistics()["forgetting"].shape
        (4,)
    """

    def __init__(self, n: int, *, model: str = "user model", early_epoch: int | None = None):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise LessdataError(f"n must be a whole number >= 1, got {n!r}")
        self.n, self.model, self.early_epoch = int(n), str(model), early_epoch
        self._current = {k: np.full(self.n, np.nan, dtype=np.float32) for k in FIELDS}
        self._epochs: list[dict[str, np.ndarray]] = []
        self.nan_losses = 0

    @property
    def epochs(self) -> int:
        """How many finished epochs have been recorded."""
        return len(self._epochs)

    def record(self, indices: Any, logits: torch.Tensor, targets: Any) -> None:
        """Record a batch: ``indices`` (N,), ``logits`` (N, C), ``targets`` (N,) classes."""
        idx = np.asarray(indices.detach().cpu() if torch.is_tensor(indices) else indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise LessdataError(f"indices must be a 1-D array of row numbers, got {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise LessdataError(f"indices must be in [0, {self.n}), got {idx.min()}..{idx.max()}")
        if not torch.is_tensor(logits) or logits.ndim != 2 or len(logits) != len(idx):
            raise LessdataError(f"logits must be an (N, C) tensor with N = {len(idx)} rows")
        y = torch.as_tensor(targets).detach().cpu().long().reshape(-1)
        if len(y) != len(idx):
            raise LessdataError(f"{len(y)} targets for {len(idx)} indices")
        z = logits.detach().float().cpu()
        finite = torch.isfinite(z).all(dim=1).numpy()
        self.nan_losses += int((~finite).sum())
        if not finite.any():
            return
        idx, z, y = idx[finite], z[finite], y[finite]
        probs = torch.softmax(z, dim=1)
        rows = torch.arange(len(y))
        true_logit = z[rows, y]
        others = z.clone()
        others[rows, y] = -math.inf
        onehot = torch.nn.functional.one_hot(y, z.shape[1]).float()
        values = {
            "p_true": probs[rows, y],
            "correct": (z.argmax(dim=1) == y).float(),
            "margin": true_logit - others.max(dim=1).values,
            "el2n": torch.linalg.vector_norm(probs - onehot, dim=1),
            "entropy": -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1),
        }
        for key, value in values.items():
            self._current[key][idx] = value.numpy()

    def end_epoch(self) -> None:
        """Close the epoch; examples not seen in it keep their last values."""
        done = {k: v.copy() for k, v in self._current.items()}
        if self._epochs:
            for key, value in done.items():
                unseen = np.isnan(value)
                value[unseen] = self._epochs[-1][key][unseen]
        self._epochs.append(done)

    def statistics(self) -> dict[str, np.ndarray]:
        """The per-example summaries the dynamics metrics read (as the proxy runs give)."""
        if not self._epochs:
            raise LessdataError("the recorder has no finished epoch: call end_epoch()")
        stacked = {k: np.stack([e[k] for e in self._epochs]) for k in FIELDS}
        unseen = np.isnan(stacked["p_true"]).all(axis=0)
        if unseen.any():
            raise LessdataError(
                f"{int(unseen.sum())} of {self.n} examples were never recorded (first: row "
                f"{int(np.flatnonzero(unseen)[0])}); record every example at least once"
            )
        filled = {k: _fill_back(v) for k, v in stacked.items()}
        correct = filled["correct"] > 0.5
        forgotten = (correct[:-1] & ~correct[1:]).sum(0).astype(np.float64)
        never = ~correct.any(0)
        epochs = len(self._epochs)
        early = self.early_epoch or max(1, math.ceil(0.2 * epochs))
        if not 1 <= early <= epochs:
            raise LessdataError(f"early_epoch {early} is not among the {epochs} recorded epochs")
        p_true = filled["p_true"].astype(np.float64)
        return {
            "el2n": filled["el2n"][early - 1].astype(np.float64),
            "forgetting": np.where(never, float(epochs), forgotten),
            "aum": filled["margin"].astype(np.float64).mean(0),
            "confidence": p_true.mean(0),
            "variability": p_true.std(0),
            "final_margin": filled["margin"][-1].astype(np.float64),
            "final_entropy": filled["entropy"][-1].astype(np.float64),
        }

    def describe(self) -> str:
        """What the manifest records about where the dynamics came from."""
        return f"{self.model}, {self.epochs} epochs recorded in the user's training loop"


def _fill_back(values: np.ndarray) -> np.ndarray:
    """Epochs before an example was first seen take its first recorded value."""
    out = values.copy()
    for row in range(len(out) - 2, -1, -1):
        gap = np.isnan(out[row])
        out[row][gap] = out[row + 1][gap]
    return out
