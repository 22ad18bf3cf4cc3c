"""Dynamic pruning in Lightning (needs ``lightning``: the ``integrations`` extra).

Build the training ``DataLoader`` with a :class:`~lessdata.torch.DynamicPruningSampler` over a
dataset that gives each row's index (:class:`~lessdata.torch.IndexedDataset`), add
:class:`DynamicPruningCallback` to the ``Trainer``, and weigh the loss in ``training_step``
with :func:`pruned_loss`::

    def training_step(self, batch, batch_idx):
        idx, x, y = batch
        return pruned_loss(self, idx, F.cross_entropy(self(x), y, reduction="none"))

The callback decides each epoch at its start, has Lightning read the DataLoader's length every
epoch (``reload_dataloaders_every_n_epochs=1``: Lightning ends an epoch after the number of
batches it last read, and pruned epochs are shorter), saves the sampler's state in Lightning's
checkpoints (and loads it when fitting resumes, mid-epoch too), and refuses settings that
would cut the planned epochs short. Size a scheduler built in ``configure_optimizers`` with
:meth:`DynamicPruningCallback.total_steps` (exact with ``target_saving``; Lightning steps on an
epoch's last, short accumulation) or drive it by progress (:class:`~lessdata.torch.ProgressLR`);
``trainer.estimated_stepping_batches`` counts full epochs and over-estimates.
"""

from __future__ import annotations

from typing import Any

import torch

from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.torch import DynamicPruningSampler

pl = require("lightning.pytorch", "lessdata.integrations.lightning", extra="integrations")


def _loaders(value: Any) -> list[Any]:
    """The DataLoaders inside what ``trainer.train_dataloader`` returns (one, a list, a dict)."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _loaders(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _loaders(v)]
    return [] if value is None else [value]


def _draws_with(loader: Any, sampler: DynamicPruningSampler) -> bool:
    batch_sampler = getattr(loader, "batch_sampler", None)
    return getattr(loader, "sampler", None) is sampler or getattr(batch_sampler, "sampler",
                                                                  None) is sampler  # fmt: skip


class DynamicPruningCallback(pl.Callback):
    """Runs a :class:`~lessdata.torch.DynamicPruningSampler` inside ``Trainer.fit``.

    Args:
        sampler: the training DataLoader's sampler, made for ``max_epochs`` epochs.

    Example:
        >>> sampler = DynamicPruningSampler(len(data), epochs=8, target_saving=0.3)
        >>> loader = DataLoader(IndexedDataset(data), batch_size=64, sampler=sampler)
        >>> trainer = L.Trainer(max_epochs=8, callbacks=[DynamicPruningCallback(sampler)])
        ... # doctest: +SKIP
    """

    def __init__(self, sampler: DynamicPruningSampler) -> None:
        if not isinstance(sampler, DynamicPruningSampler):
            raise LessdataError(
                f"sampler must be a DynamicPruningSampler, got {type(sampler).__name__}",
                param="sampler",
            )
        self.sampler = sampler

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        if trainer.world_size > 1:
            raise LessdataError(
                f"DynamicPruningCallback runs one process, got world_size={trainer.world_size}; "
                "under torch.distributed use the sampler in your own loop",
                param="trainer",
            )
        if trainer.max_epochs != self.sampler.epochs:
            raise LessdataError(
                f"max_epochs={trainer.max_epochs} but the sampler was made for "
                f"epochs={self.sampler.epochs}: make them the same",
                param="max_epochs",
            )
        if trainer.max_steps not in (-1, None):
            raise LessdataError(
                f"max_steps={trainer.max_steps} would end the run inside the sampler's plan; "
                "leave it unset (the epochs decide)",
                param="max_steps",
            )
        reload = trainer.reload_dataloaders_every_n_epochs
        if reload not in (0, 1):
            raise LessdataError(
                f"reload_dataloaders_every_n_epochs={reload}: the callback needs Lightning to "
                "read the training DataLoader's length every epoch (epochs differ in size); "
                "leave it 0 or make it 1",
                param="reload_dataloaders_every_n_epochs",
            )
        # Lightning ends an epoch after as many batches as len(loader) had when it was read:
        # reading it every epoch gives each epoch its own (its validation check too)
        trainer.reload_dataloaders_every_n_epochs = 1
        if trainer.limit_train_batches not in (1.0, None):
            raise LessdataError(
                f"limit_train_batches={trainer.limit_train_batches} would cut every epoch "
                "short of the sampler's plan; leave it 1.0",
                param="limit_train_batches",
            )

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self.sampler.set_epoch(trainer.current_epoch)  # a resumed epoch keeps its decisions
        if not any(_draws_with(x, self.sampler) for x in _loaders(trainer.train_dataloader)):
            raise LessdataError(
                "the training DataLoader does not draw with this callback's sampler: pass "
                "sampler=callback.sampler to it (and Trainer(use_distributed_sampler=False) "
                "if Lightning replaced it)",
                param="sampler",
            )

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state_dict)

    def loss(self, indices: Any, losses: torch.Tensor) -> torch.Tensor:
        """The mean of ``losses`` weighted by the sampler (which records them)."""
        return (losses * self.sampler.update(indices, losses)).mean()

    def total_steps(self, trainer: Any, batch_size: int) -> int:
        """The run's optimizer steps with ``trainer.accumulate_grad_batches`` (an epoch's
        short last accumulation is a step, as Lightning takes it): for a scheduler built in
        ``configure_optimizers`` (``self.trainer`` is set there)."""
        return self.sampler.total_steps(batch_size, trainer.accumulate_grad_batches,
                                        partial_accum="step")  # fmt: skip


def pruned_loss(module: Any, indices: Any, losses: torch.Tensor) -> torch.Tensor:
    """In a ``training_step``: the mean of ``losses`` (one per example) weighted by the
    sampler of the ``DynamicPruningCallback`` on ``module``'s trainer; outside training (a
    validation step) their plain mean.

    Args:
        module: the ``LightningModule`` (``self`` in ``training_step``).
        indices: the batch's row indices.
        losses: one loss per example (``reduction="none"``).
    """
    trainer = getattr(module, "_trainer", None)
    if trainer is None or not module.training:
        return losses.mean()
    for callback in trainer.callbacks:
        if isinstance(callback, DynamicPruningCallback):
            return callback.loss(indices, losses)
    raise LessdataError(
        "pruned_loss found no DynamicPruningCallback among the trainer's callbacks: add "
        "DynamicPruningCallback(sampler) to Trainer(callbacks=[...])",
        param="module",
    )
