"""Dynamic pruning in a Hugging Face ``Trainer`` (needs ``transformers``: the ``integrations``
extra).

:class:`PruningTrainer` is a ``Trainer`` that

* draws the training batches with a :class:`~lessdata.torch.DynamicPruningSampler` (the train
  dataset gives each row's index in an ``index`` column: :func:`lessdata.torch.with_index`);
* computes the per-example loss (``per_example_loss``; classification by default,
  :func:`causal_lm_loss` for a causal LM), hands it to the sampler's ``update`` and averages the
  re-weighted losses; gradient accumulation divides that mean as ``Trainer`` does, and a
  short last accumulation of an epoch is a step (``Trainer`` steps there);
* runs exactly the sampler's epochs and, with planned epoch sizes (``target_saving`` or
  ``plan``), sets ``max_steps`` to the plan's optimizer steps, so the scheduler ``Trainer``
  builds ends on its final value; with InfoBatch's ``prune_ratio`` the scheduler is driven by
  the sampler's progress (:class:`~lessdata.torch.ProgressLR`) instead;
* saves the sampler's state in each checkpoint (``lessdata_sampler.pt``) and resumes from it
  (``train(resume_from_checkpoint=...)``) with the same batches and weights.

One process for now: under several (``torch.distributed``) it refuses; the sampler itself
splits across ranks in your own loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.torch import DynamicPruningSampler, ProgressLR

transformers = require("transformers", "lessdata.integrations.hf", extra="integrations")
trainer_utils = require("transformers.trainer_utils", "lessdata.integrations.hf",
                        extra="integrations")  # fmt: skip

#: the file a checkpoint folder holds the sampler's state in
STATE_FILE = "lessdata_sampler.pt"
#: the Trainer methods PruningTrainer overrides (transformers 5.17 and later have them)
_OVERRIDES = ("_run_epoch", "_init_training_state", "set_initial_training_values",
              "_set_signature_columns_if_needed", "_get_train_sampler")  # fmt: skip
_MISSING = [name for name in _OVERRIDES if not hasattr(transformers.Trainer, name)]
if _MISSING:
    raise LessdataError(
        f"lessdata.integrations.hf needs transformers 5.17 or later (its Trainer has no "
        f"{', '.join(_MISSING)}); this is {transformers.__version__}: "
        "pip install 'lessdata[integrations]'"
    )


def _logits(outputs: Any) -> torch.Tensor:
    if isinstance(outputs, Mapping):
        return outputs["logits"]
    if hasattr(outputs, "logits"):
        return outputs.logits
    return outputs[0]


def classification_loss(outputs: Any, labels: torch.Tensor) -> torch.Tensor:
    """One loss per example: cross-entropy of ``logits`` (batch × classes) against integer
    ``labels``; mean squared error for one output and float labels (regression).

    Args:
        outputs: the model's outputs (a ``ModelOutput``, a dict with ``logits``, or a tuple).
        labels: the batch's labels.
    """
    logits = _logits(outputs)
    if logits.ndim == 2 and logits.shape[1] == 1 and labels.is_floating_point():
        return (logits[:, 0] - labels) ** 2
    if logits.ndim != 2 or labels.ndim != 1:
        raise LessdataError(
            f"classification_loss takes logits of shape (batch, classes) and labels of shape "
            f"(batch,), got {tuple(logits.shape)} and {tuple(labels.shape)}; pass "
            "per_example_loss (causal_lm_loss for a causal language model)",
            param="per_example_loss",
        )
    return F.cross_entropy(logits, labels, reduction="none")


def causal_lm_loss(outputs: Any, labels: torch.Tensor) -> torch.Tensor:
    """One loss per sequence: the mean next-token cross-entropy over its labelled tokens
    (labels shifted by one, ``-100`` ignored), as the model's own loss but per document.

    Args:
        outputs: the model's outputs, with ``logits`` of shape (batch, tokens, vocabulary).
        labels: token ids of shape (batch, tokens), ``-100`` where no loss is wanted.
    """
    logits = _logits(outputs)[:, :-1].float()
    target = labels[:, 1:]
    tokens = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                             ignore_index=-100, reduction="none").view(target.shape)  # fmt: skip
    counted = (target != -100).sum(1)
    return tokens.sum(1) / counted.clamp(min=1)


class _SaveSampler(transformers.TrainerCallback):
    """Writes the sampler's state into each checkpoint folder ``Trainer`` saves."""

    def __init__(self, sampler: DynamicPruningSampler) -> None:
        self.sampler = sampler

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        name = f"{trainer_utils.PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        folder = os.path.join(args.output_dir, name)
        if state.is_world_process_zero and os.path.isdir(folder):
            torch.save(self.sampler.state_dict(), os.path.join(folder, STATE_FILE))


class PruningTrainer(transformers.Trainer):
    """A ``Trainer`` with dynamic pruning: see the module.

    Args:
        *args: ``Trainer``'s (model, args, ...).
        pruning_sampler: the sampler, made for ``len(train_dataset)`` examples and
            ``args.num_train_epochs`` epochs.
        index_column: the train dataset's column (or item key) holding each row's index.
        per_example_loss: ``(outputs, labels) -> one loss per example``
            (:func:`classification_loss` by default; :func:`causal_lm_loss`).
        **kwargs: ``Trainer``'s (train_dataset, eval_dataset, data_collator, ...).

    Example:
        >>> trainer = PruningTrainer(model=model, args=args, train_dataset=with_index(ds),
        ...     pruning_sampler=DynamicPruningSampler(len(ds), epochs=3, target_saving=0.3))
        ... # doctest: +SKIP
    """

    def __init__(
        self,
        *args: Any,
        pruning_sampler: DynamicPruningSampler,
        index_column: str = "index",
        per_example_loss: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(pruning_sampler, DynamicPruningSampler):
            raise LessdataError(
                f"pruning_sampler must be a DynamicPruningSampler, got "
                f"{type(pruning_sampler).__name__}",
                param="pruning_sampler",
            )
        self.pruning_sampler = pruning_sampler
        self.index_column = index_column
        self.per_example_loss = per_example_loss or classification_loss
        self.model_accepts_loss_kwargs = False  # our loss is a mean: Trainer divides it
        self._check_settings()
        self.add_callback(_SaveSampler(pruning_sampler))

    def _check_settings(self) -> None:
        args, sampler = self.args, self.pruning_sampler
        if args.world_size > 1:
            raise LessdataError(
                f"PruningTrainer runs one process, got world_size={args.world_size}; under "
                "torch.distributed use the sampler in your own loop",
                param="args",
            )
        if self.train_dataset is not None and len(self.train_dataset) != sampler.n:
            raise LessdataError(
                f"pruning_sampler was made for n={sampler.n} examples but train_dataset has "
                f"{len(self.train_dataset)}",
                param="pruning_sampler",
            )
        if args.num_train_epochs != sampler.epochs:
            raise LessdataError(
                f"num_train_epochs={args.num_train_epochs} but pruning_sampler was made for "
                f"epochs={sampler.epochs}: make them the same",
                param="num_train_epochs",
            )
        if args.max_steps > 0:
            raise LessdataError(
                f"max_steps={args.max_steps}: PruningTrainer sets it from the sampler's plan; "
                "leave it unset and choose num_train_epochs",
                param="max_steps",
            )
        if args.dataloader_drop_last:
            raise LessdataError(
                "dataloader_drop_last=True would leave the end of each epoch untrained (and "
                "the planned steps untaken); leave it False",
                param="dataloader_drop_last",
            )
        columns = getattr(self.train_dataset, "column_names", None)
        if columns is not None and self.index_column not in columns:
            raise LessdataError(
                f"train_dataset has no {self.index_column!r} column (columns: "
                f"{', '.join(columns)}); add it with lessdata.torch.with_index(train_dataset)",
                param="index_column",
            )

    # --- the data ---------------------------------------------------------------------------

    def _get_train_sampler(self, train_dataset: Any = None) -> DynamicPruningSampler:
        return self.pruning_sampler

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if self.index_column not in self._signature_columns:
            self._signature_columns.append(self.index_column)

    # --- the loss ---------------------------------------------------------------------------

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:  # fmt: skip
        """The mean of the re-weighted per-example losses (training), or of the losses
        (evaluation: nothing is recorded)."""
        inputs = dict(inputs)
        indices = inputs.pop(self.index_column, None)
        labels = inputs.get("labels")
        outputs = model(**inputs)
        if labels is None:
            raise LessdataError("the batch has no labels: PruningTrainer needs them for the "
                                "per-example loss", param="train_dataset")  # fmt: skip
        losses = self.per_example_loss(outputs, labels)
        if model.training:
            if indices is None:
                raise LessdataError(
                    f"the training batch has no {self.index_column!r}: add the index column "
                    "(lessdata.torch.with_index) and keep it (index_column)",
                    param="index_column",
                )
            losses = losses * self.pruning_sampler.update(indices, losses)
        loss = losses.mean()
        return (loss, outputs) if return_outputs else loss

    # --- the schedule -----------------------------------------------------------------------

    def set_initial_training_values(self, args: Any, dataloader: Any) -> tuple:
        values = list(super().set_initial_training_values(args, dataloader))
        sampler = self.pruning_sampler
        accum = args.gradient_accumulation_steps
        if sampler.plan is not None:
            max_steps = sampler.total_steps(self._train_batch_size, accum, partial_accum="step")
            samples = sum(sampler.plan)
        else:  # an upper bound: the run ends with its epochs, the scheduler goes by progress
            full = math.ceil(math.ceil(sampler.n / self._train_batch_size) / accum)
            max_steps, samples = full * sampler.epochs, sampler.n * sampler.epochs
        values[0], values[3], values[6] = sampler.epochs, samples, max_steps
        return tuple(values)

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        made_here = self.lr_scheduler is None
        scheduler = super().create_scheduler(num_training_steps, optimizer)
        if self.pruning_sampler.plan is None and not isinstance(scheduler, ProgressLR):
            steps = num_training_steps if made_here else None
            self.lr_scheduler = ProgressLR(scheduler, self.pruning_sampler, steps=steps)
        return self.lr_scheduler

    # --- epochs and resuming ------------------------------------------------------------------

    def _init_training_state(self, max_steps: int, num_update_steps_per_epoch: int,
                             num_train_epochs: int, resume_from_checkpoint: Any,
                             trial: Any) -> tuple[int, int]:  # fmt: skip
        super()._init_training_state(max_steps, num_update_steps_per_epoch, num_train_epochs,
                                     resume_from_checkpoint, trial)  # fmt: skip
        if resume_from_checkpoint is None:
            return 0, 0
        path = os.path.join(resume_from_checkpoint, STATE_FILE)
        if not os.path.isfile(path):
            raise LessdataError(
                f"resume_from_checkpoint {resume_from_checkpoint} has no {STATE_FILE}: it was "
                "not saved by a PruningTrainer, so the pruning run cannot continue from it",
                param="resume_from_checkpoint",
            )
        self.pruning_sampler.load_state_dict(torch.load(path, weights_only=True))
        return self.pruning_sampler.epochs_done, 0  # the sampler knows its place in the epoch

    def _run_epoch(self, **kwargs: Any) -> Any:
        """Size ``Trainer``'s epoch loop by this epoch's batches (the rest of it, resumed)."""
        sampler = self.pruning_sampler
        sampler.set_epoch(kwargs["epoch"])
        left = len(sampler) - sampler.epoch_position
        batches = math.ceil(left / self._train_batch_size)
        accum = self.args.gradient_accumulation_steps
        kwargs.update(steps_in_epoch=batches, num_update_steps_per_epoch=math.ceil(batches / accum),
                      steps_trained_in_current_epoch=0)  # fmt: skip
        return super()._run_epoch(**kwargs)
