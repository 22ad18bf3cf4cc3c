"""PyTorch samplers that deliver a pruning inside the user's own training loop.

* :class:`PrunedSampler` (static pruning): the kept rows of a ``prune`` run, shuffled per
  epoch, split across ranks as ``torch.utils.data.DistributedSampler`` does.
* :class:`DynamicPruningSampler` (InfoBatch, Qin et al., ICLR 2024, arXiv 2303.04947): each
  epoch, skip a random ``prune_ratio`` share of the examples whose last loss is below the
  mean, and up-weight the kept ones among them by ``1 / (1 - prune_ratio)`` so that the
  expected gradient is the full-data one; the first epoch and the last ``anneal`` share of
  epochs see everything.

Both are deterministic given ``seed`` and the epoch, on every rank: all ranks draw the same
decisions from a generator seeded by ``(seed, epoch)`` and then take their own slice, so the
set of examples skipped is identical everywhere. With ``torch.distributed`` initialised,
:class:`DynamicPruningSampler` sums the losses each rank recorded (one all-reduce of two
length-``n`` vectors per epoch) before deciding, so every rank decides on the same losses.
Without such a group it refuses more than one replica unless told (``shared_losses=True``)
that the caller gives every rank every example's loss itself: ranks deciding on their own
losses would skip different examples, overlap, and together miss some.

Every argument is checked when it is given (:mod:`lessdata.checks`), so that a wrong one is a
:class:`~lessdata.errors.LessdataError` naming it, not a wrong schedule later.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from lessdata.checks import check_bool, check_float, check_int, check_seed
from lessdata.errors import LessdataError


def _group_size() -> int:
    """The size of the initialised ``torch.distributed`` group; 0 when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_world_size())
    return 0


def _world(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``: as given, else from ``torch.distributed``, else ``(1, 0)``."""
    initialised = _group_size() > 0
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if initialised else 1
    if rank is None:
        rank = torch.distributed.get_rank() if initialised else 0
    num_replicas = check_int(num_replicas, "num_replicas", low=1)
    hint = f"ranks count from 0 to num_replicas - 1 ({num_replicas - 1})"
    rank = check_int(rank, "rank", low=0, high=num_replicas - 1, hint=hint)
    return num_replicas, rank


def _my_share(order: np.ndarray, num_replicas: int, rank: int, drop_last: bool) -> np.ndarray:
    """This rank's slice of ``order``, padded (or cut) to an equal length per rank, as
    ``DistributedSampler`` does."""
    if num_replicas == 1:
        return order
    if drop_last:
        per = len(order) // num_replicas
        order = order[: per * num_replicas]
    else:
        per = math.ceil(len(order) / num_replicas)
        pad = per * num_replicas - len(order)
        if pad and len(order):
            order = np.concatenate([order, np.resize(order, pad)])
    return order[rank::num_replicas]


def kept_rows(kept: Any, dataset_size: int | None = None) -> np.ndarray:
    """The kept row indices of a ``PruneResult``, a manifest path or an index array, checked:
    whole numbers, no duplicates, inside ``dataset_size`` when it is known."""
    source = "kept"
    if hasattr(kept, "kept") and hasattr(kept, "manifest"):  # a PruneResult
        if dataset_size is not None and kept.manifest.num_rows != dataset_size:
            raise LessdataError(
                f"the prune result has {kept.manifest.num_rows} rows but the dataset "
                f"{dataset_size}: it was made from another dataset",
                param="kept",
            )
        rows = np.asarray(kept.kept)
    elif isinstance(kept, (str, os.PathLike)):
        from lessdata.data.manifest import read_manifest

        manifest = read_manifest(kept)
        source = f"manifest {kept}"
        if dataset_size is not None and manifest.num_rows != dataset_size:
            raise LessdataError(
                f"{source} has {manifest.num_rows} rows but the dataset {dataset_size}: it "
                "was written for another dataset",
                param="kept",
            )
        rows = np.flatnonzero(manifest.column("kept").to_numpy(zero_copy_only=False))
    else:
        rows = np.asarray(kept)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise LessdataError(
            f"{source} must be a 1-D array of row indices, got {rows.dtype} of shape {rows.shape}",
            param="kept",
        )
    rows = rows.astype(np.int64)
    if rows.size and rows.min() < 0:
        raise LessdataError(f"{source} holds negative row {int(rows.min())}", param="kept")
    if dataset_size is not None and rows.size and rows.max() >= dataset_size:
        raise LessdataError(
            f"{source} holds row {int(rows.max())}, out of range for a dataset of {dataset_size}",
            param="kept",
        )
    if len(np.unique(rows)) != len(rows):
        raise LessdataError(f"{source} holds a row more than once", param="kept")
    return rows


class PrunedSampler(Sampler[int]):
    """Yield the kept rows, reshuffled each epoch; this rank's share when distributed.

    Args:
        kept: a :class:`~lessdata.PruneResult`, a ``manifest.parquet`` path, or row indices.
        shuffle: a new order each epoch (seeded by ``seed + epoch``); else sorted.
        seed: the shuffling seed (the same on every rank).
        num_replicas, rank: the distributed split (default: from ``torch.distributed``
            when initialised, else one replica).
        drop_last: cut the kept rows to a multiple of ``num_replicas`` instead of padding
            with repeats.
        dataset_size: the dataset's length, to refuse rows or a manifest that do not fit it.

    Example:
        >>> sampler = PrunedSampler([4, 1, 7], seed=0)
        >>> sorted(sampler)
        [1, 4, 7]
    """

    def __init__(
        self,
        kept: Any,
        *,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        dataset_size: int | None = None,
    ) -> None:
        self.shuffle = check_bool(shuffle, "shuffle")
        self.seed = check_seed(seed)
        self.drop_last = check_bool(drop_last, "drop_last")
        dataset_size = check_int(dataset_size, "dataset_size", low=1, allow_none=True)
        self.num_replicas, self.rank = _world(num_replicas, rank)
        self.rows = np.sort(kept_rows(kept, dataset_size))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (call it before each epoch, as with DistributedSampler).

        Args:
            epoch: the epoch about to start, a whole number >= 0 (the shuffle is seeded by
                ``seed + epoch``, and NumPy and torch seeds are not negative).
        """
        self.epoch = check_int(epoch, "epoch", low=0)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return self.rows
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return self.rows[torch.randperm(len(self.rows), generator=generator).numpy()]

    def __iter__(self) -> Iterator[int]:
        share = _my_share(self._order(), self.num_replicas, self.rank, self.drop_last)
        return iter(share.tolist())

    def __len__(self) -> int:
        n = len(self.rows)
        if self.num_replicas == 1:
            return n
        return n // self.num_replicas if self.drop_last else math.ceil(n / self.num_replicas)


def _check_losses_reach_every_rank(num_replicas: int, shared_losses: bool) -> None:
    """Refuse a split across ranks whose loss tables nothing makes the same."""
    if num_replicas == 1 or shared_losses or _group_size() > 1:
        return
    if _group_size() == 1:
        where = "torch.distributed is initialised with one process"
    else:
        where = "torch.distributed is not initialised"
    raise LessdataError(
        f"num_replicas={num_replicas} but {where}, so no rank would see the others' losses: "
        "each would prune from its own, and the ranks would overlap and miss examples; "
        "initialise the process group before creating the sampler, or pass "
        "`shared_losses=True` if every rank calls update with every example's loss",
        param="num_replicas",
    )


class DynamicPruningSampler(Sampler[int]):
    """InfoBatch: skip well-learned examples at random each epoch, re-weight the rest.

    Use it as the DataLoader's sampler; call :meth:`set_epoch` before each epoch, pass each
    batch's per-example losses to :meth:`update` and multiply the weights it returns into
    the losses before averaging::

        loss = (sampler.update(idx, criterion(model(x), y)) ).mean()   # reduction="none"

    Args:
        n: the dataset's length.
        epochs: how many epochs training runs (the annealing needs to know).
        prune_ratio: the chance of skipping a well-learned example (loss below the mean of
            the recorded losses), in [0, 1). InfoBatch's default 0.5.
        anneal: the share of final epochs that see every example, in [0, 1]. InfoBatch's
            default 0.125 (its ``delta = 0.875``).
        seed: seeds the skipping draws and the shuffling, identical on every rank.
        shuffle: a new order each epoch.
        num_replicas, rank: the distributed split (default: from ``torch.distributed``).
        shared_losses: with ``num_replicas > 1``, every rank must decide on the same loss
            table. An initialised ``torch.distributed`` group of more than one process
            gathers it (one all-reduce per epoch); without one the sampler refuses more than
            one replica, since each rank would prune from only the losses of its own share
            (the ranks' epochs would overlap and together miss examples). Pass ``True`` to
            say that you give every rank every example's loss yourself (each rank calls
            :meth:`update` with all ranks' indices and losses), e.g. under another
            communication library.

    Example:
        >>> sampler = DynamicPruningSampler(100, epochs=4, prune_ratio=0.5, seed=0)
        >>> sampler.set_epoch(0)
        >>> len(sampler)  # the first epoch sees everything
        100

    Attributes:
        nan_losses: how many losses given to :meth:`update` were NaN or inf: they are not
            recorded (the mean is not poisoned) and those examples keep their last loss.
        forwards: example-forwards yielded so far (this rank), to measure the saving.
    """

    def __init__(
        self,
        n: int,
        *,
        epochs: int,
        prune_ratio: float = 0.5,
        anneal: float = 0.125,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        shared_losses: bool = False,
    ) -> None:
        self.n = check_int(n, "n", low=1)
        self.epochs = check_int(epochs, "epochs", low=1)
        self.prune_ratio = check_float(prune_ratio, "prune_ratio", low=0, high=1, closed="left")
        self.anneal = check_float(anneal, "anneal", low=0, high=1)
        self.seed = check_seed(seed)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.shared_losses = check_bool(shared_losses, "shared_losses")
        self.num_replicas, self.rank = _world(num_replicas, rank)
        _check_losses_reach_every_rank(self.num_replicas, self.shared_losses)
        self.losses = np.full(self.n, np.nan)  # last recorded loss per example
        self._fresh = np.zeros(self.n, dtype=bool)  # recorded on this rank since the sync
        self.weights = np.ones(self.n)
        self.nan_losses = 0
        self.forwards = 0
        self.epoch = -1
        self._order: np.ndarray | None = None
        self._iterated = False

    # --- the schedule ---------------------------------------------------------------------

    @property
    def stop_pruning_epoch(self) -> int:
        """The first epoch (0-based) of the final full-data ``anneal`` share."""
        return round(self.epochs * (1 - self.anneal))

    def prunes(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) skips examples: not the first, not the annealing."""
        return 1 <= epoch < self.stop_pruning_epoch and self.prune_ratio > 0

    def expected_total_steps(self, batch_size: int, below_mean_share: float = 0.5) -> int:
        """Optimizer steps over all epochs, for a learning-rate schedule built before
        training. Exact for the full-data epochs; each pruning epoch is estimated with
        ``below_mean_share`` of the examples below the mean loss (0.5: the mean is near the
        median; the right-skewed losses of a trained model put more below it, so fewer
        steps). ``below_mean_share=0`` gives an upper bound, for schedulers that refuse to
        step past their end (``OneCycleLR``) when a margin is not wanted.

        Args:
            batch_size: the DataLoader's batch size, a whole number >= 1 (one optimizer step
                per batch; the last, partial batch of an epoch is a step).
            below_mean_share: the share of examples assumed below the mean loss in a pruning
                epoch, in [0, 1].
        """
        batch_size = check_int(batch_size, "batch_size", low=1)
        below_mean_share = check_float(below_mean_share, "below_mean_share", low=0, high=1)
        per_rank = math.ceil(self.n / self.num_replicas)
        pruned = math.ceil(self.n * (1 - self.prune_ratio * below_mean_share) / self.num_replicas)
        steps = 0
        for epoch in range(self.epochs):
            size = pruned if self.prunes(epoch) else per_rank
            steps += math.ceil(size / batch_size)
        return steps

    # --- epochs -----------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Decide epoch ``epoch``'s examples from the losses recorded so far (all ranks must
        call it: it gathers their losses).

        Args:
            epoch: the epoch about to start, in ``[0, epochs)``: the schedule (first epoch
                full, pruning, final ``anneal`` share full) is laid out over ``epochs``, so an
                epoch past it has no place in the schedule and is refused.
        """
        hint = f"the sampler was made for epochs={self.epochs}; make `epochs` the number of "
        hint += "epochs you train"
        epoch = check_int(epoch, "epoch", low=0, high=self.epochs - 1, hint=hint)
        self._sync()
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, self.epoch])
        self.weights = np.ones(self.n)
        keep = np.ones(self.n, dtype=bool)
        if self.prunes(self.epoch):
            recorded = ~np.isnan(self.losses)
            if recorded.any():
                well_learned = recorded & (self.losses < np.nanmean(self.losses))
                skip = well_learned & (rng.random(self.n) < self.prune_ratio)
                keep = ~skip
                self.weights[well_learned & keep] = 1 / (1 - self.prune_ratio)
        order = np.flatnonzero(keep)
        if self.shuffle:
            order = order[rng.permutation(len(order))]
        self._order = _my_share(order, self.num_replicas, self.rank, drop_last=False)
        self._iterated = False

    def __iter__(self) -> Iterator[int]:
        if self._order is None or self._iterated:  # no set_epoch: the next epoch
            if self.epoch + 1 >= self.epochs:
                raise LessdataError(
                    f"the sampler was iterated for epoch {self.epoch + 1} but was made for "
                    f"epochs={self.epochs} (epochs 0 to {self.epochs - 1}); each iteration "
                    "without set_epoch starts the next epoch: make `epochs` the number of "
                    "epochs you train, and call set_epoch(epoch) before each"
                )
            self.set_epoch(self.epoch + 1)
        self._iterated = True
        order = self._order
        assert order is not None
        self.forwards += len(order)
        return iter(order.tolist())

    def __len__(self) -> int:
        """The number of indices this rank yields in the current epoch."""
        if self._order is None:
            return math.ceil(self.n / self.num_replicas)
        return len(self._order)

    # --- losses -----------------------------------------------------------------------------

    def update(self, indices: Any, losses: torch.Tensor) -> torch.Tensor:
        """Record per-example ``losses`` of the examples ``indices``; return the weights to
        multiply into them (same shape, dtype and device as ``losses``)."""
        idx = np.asarray(indices.detach().cpu() if torch.is_tensor(indices) else indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise LessdataError(f"indices must be a 1-D array of row numbers, got {idx.shape}")
        if not torch.is_tensor(losses) or losses.ndim != 1 or len(losses) != len(idx):
            shape = tuple(losses.shape) if torch.is_tensor(losses) else type(losses).__name__
            raise LessdataError(
                f"losses must be a 1-D tensor of one loss per index ({len(idx)}), got {shape};"
                " use reduction='none'"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise LessdataError(f"indices must be in [0, {self.n}), got {idx.min()}..{idx.max()}")
        values = losses.detach().float().cpu().numpy().astype(np.float64)
        finite = np.isfinite(values)
        self.nan_losses += int((~finite).sum())
        self.losses[idx[finite]] = values[finite]
        self._fresh[idx[finite]] = True
        weights = self.weights[idx] if self.epoch >= 0 else np.ones(len(idx))
        return torch.as_tensor(weights, dtype=losses.dtype, device=losses.device)

    def _sync(self) -> None:
        """Make every rank's loss table the same: each example's loss is the one recorded
        this epoch by whichever rank saw it (averaged when several did)."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        if torch.distributed.get_world_size() == 1:
            return
        fresh = self._fresh.astype(np.float64)
        values = np.where(self._fresh, self.losses, 0.0)
        packed = torch.from_numpy(np.stack([values, fresh]))
        torch.distributed.all_reduce(packed)
        total, count = packed.numpy()
        seen = count > 0
        self.losses[seen] = total[seen] / count[seen]
        self._fresh[:] = False
