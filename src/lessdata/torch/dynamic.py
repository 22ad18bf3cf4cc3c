"""Dynamic pruning during training: skip well-learned examples epoch by epoch, re-weight the
rest, with a schedule that completes and a state that resumes.

:class:`DynamicPruningSampler` decides each epoch's examples from the per-example losses the
training loop hands to :meth:`~DynamicPruningSampler.update`. The rules are in
:mod:`lessdata.torch.rules` (InfoBatch, SeTa, random), the epoch sizes in
:mod:`lessdata.torch.plan`.

Decisions are deterministic given ``seed`` and the epoch, on every rank: all ranks draw from a
generator seeded by ``(seed, epoch)`` and take their own slice. With ``torch.distributed``
initialised the sampler sums the losses each rank recorded (one all-reduce of two
length-``n`` vectors per epoch) before deciding. Without such a group it refuses more than one
replica unless told (``shared_losses=True``) that every rank gets every example's loss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from lessdata.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
)
from lessdata.errors import LessdataError
from lessdata.torch import plan as plans
from lessdata.torch import rules
from lessdata.torch._common import (
    Cursor,
    check_losses_reach_every_rank,
    group_size,
    my_share,
    share_length,
    world,
)
from lessdata.torch._state import dynamic_state, load_dynamic_state


class DynamicPruningSampler(plans.Schedule, Sampler[int]):
    """Skip well-learned examples each epoch, re-weight the rest; plan, progress and resume.

    Use it as the DataLoader's sampler over a dataset that returns each example's index
    (:class:`~lessdata.torch.IndexedDataset`); pass each batch's per-example losses to
    :meth:`update` and multiply the weights it returns into them before averaging::

        loss = (losses * sampler.update(idx, losses)).mean()     # reduction="none"

    Call :meth:`set_epoch` before each epoch, or not: an iterator that ran to its end (or an
    epoch whose every loss arrived) moves the next iterator to the next epoch, and an iterator
    abandoned early (a peek) does not; a new iterator of the same epoch starts after the
    examples whose losses :meth:`update` received (from the start, after a peek).

    How much an epoch skips (give at most one; default ``prune_ratio`` of the method):

    * ``prune_ratio``: the method's published ratio; with InfoBatch an epoch's size then
      depends on the losses (drive the learning rate by :attr:`progress`, e.g. with
      :class:`~lessdata.torch.ProgressLR`).
    * ``target_saving``: the share of the run's example-forwards to save. Every epoch's size
      is planned before training (first epoch and the final ``anneal`` share full, the saving
      spread evenly over the epochs between), so :meth:`total_steps` is exact.
    * ``plan``: the epoch sizes themselves (global examples kept, one per epoch), e.g. to give
      a random-skipping baseline the sizes an InfoBatch run had.

    Args:
        n: the dataset's length.
        epochs: how many epochs training runs (the schedule is laid out over them).
        prune_ratio: InfoBatch: the chance of skipping an example whose loss is below the
            mean (kept ones weigh ``1 / (1 - prune_ratio)``); SeTa: the random share dropped
            before the loss window; random: the chance of skipping any example. In [0, 1).
        target_saving: the share of all example-forwards of the run to save, in (0, 1).
        plan: the examples each epoch keeps, ``epochs`` whole numbers in [1, n].
        method: ``"infobatch"`` (Qin et al., ICLR 2024), ``"seta"`` (Zhou et al., CVPR 2025)
            or ``"random"``; see :mod:`lessdata.torch.rules`.
        method_options: InfoBatch with a target or plan: ``max_skip`` (0.7), the largest
            chance of skipping one example (the low-loss pool grows past the mean until the
            planned skips are at most that share of it); SeTa: ``groups`` (5) and ``window``
            (0.9, the share of groups an epoch keeps).
        anneal: the share of final epochs that see every example, in [0, 1] (InfoBatch's
            0.125, its ``delta = 0.875``). Ignored with a ``plan``.
        seed: seeds the skipping draws and the shuffling, identical on every rank.
        shuffle: a new order each epoch.
        num_replicas, rank: the distributed split (default: from ``torch.distributed``).
        shared_losses: with ``num_replicas > 1`` and no process group of more than one process,
            say that every rank calls :meth:`update` with every example's loss (else refused:
            ranks pruning from their own losses would overlap and miss examples).

    Example:
        >>> sampler = DynamicPruningSampler(100, epochs=4, target_saving=0.25, anneal=0.25)
        >>> sampler.plan, sampler.total_steps(10)
        ([100, 50, 50, 100], 30)

    Attributes:
        losses: the last finite loss recorded per example (NaN: none yet).
        nan_losses: losses given to :meth:`update` that were NaN or inf (not recorded).
        forwards: losses :meth:`update` received for this rank's examples of an epoch: the
            example-forwards trained on, to measure the saving.
        yielded: indices the iterators handed out (peeks and restarts included).
    """

    def __init__(
        self,
        n: int,
        *,
        epochs: int,
        prune_ratio: float | None = None,
        target_saving: float | None = None,
        plan: Sequence[int] | None = None,
        method: str = "infobatch",
        method_options: dict[str, Any] | None = None,
        anneal: float = 0.125,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        shared_losses: bool = False,
    ) -> None:
        self.n = check_int(n, "n", low=1)
        self.epochs = check_int(epochs, "epochs", low=1)
        self.method = check_choice(method, "method", tuple(rules.METHODS))
        self.options = rules.method_options(self.method, method_options)
        given = [k for k, v in (("prune_ratio", prune_ratio), ("target_saving", target_saving),
                                ("plan", plan)) if v is not None]  # fmt: skip
        if len(given) > 1:
            raise LessdataError(
                f"give one of prune_ratio, target_saving and plan, not {' and '.join(given)}: "
                "each sets how much an epoch skips",
                param=given[1],
            )
        if not given:
            prune_ratio = rules.DEFAULT_RATIO[self.method]
        self.prune_ratio = check_float(prune_ratio, "prune_ratio", low=0, high=1, closed="left",
                                       allow_none=True)  # fmt: skip
        self.target_saving = check_float(target_saving, "target_saving", low=0, high=1,
                                         closed="neither", allow_none=True)  # fmt: skip
        self.anneal = check_float(anneal, "anneal", low=0, high=1)
        self.seed = check_seed(seed)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.shared_losses = check_bool(shared_losses, "shared_losses")
        self.num_replicas, self.rank = world(num_replicas, rank)
        check_losses_reach_every_rank(self.num_replicas, self.shared_losses)
        self._plan = self._make_plan(plan)
        self.losses = np.full(self.n, np.nan)
        self._fresh = np.zeros(self.n, dtype=bool)  # recorded on this rank since the sync
        self._tally = np.zeros(2, dtype=np.int64)  # forwards, nan_losses (live in the state)
        self._yielded_before = 0  # by the iterators before the current one
        self.epoch = -1
        self._ep: dict[str, Any] | None = None  # the current epoch's decisions and counters
        self._cursor: Cursor | None = None

    # --- epochs -----------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Decide epoch ``epoch``'s examples from the losses recorded so far (all ranks must
        call it: it gathers their losses). An epoch is decided once: calling it again with the
        current epoch (Lightning and Trainer do, and so does a loop resumed from a state)
        changes nothing.

        Args:
            epoch: the epoch about to start, in ``[0, epochs)``, not before the current one.
        """
        hint = f"the sampler was made for epochs={self.epochs}; make `epochs` the number of "
        hint += "epochs you train"
        epoch = check_int(epoch, "epoch", low=0, high=self.epochs - 1, hint=hint)
        if epoch == self.epoch and self._ep is not None:
            return
        if epoch < self.epoch:
            raise LessdataError(
                f"epoch={epoch} but the sampler is at epoch {self.epoch}: epochs run forward "
                "(each decision depends on the losses so far); to start again make a new "
                "sampler or load_state_dict a saved state",
                param="epoch",
            )
        self._decide(epoch)

    def _decide(self, epoch: int) -> None:
        start_progress = self.progress
        self._sync()
        rng = np.random.default_rng([self.seed, epoch])
        keep, weights = np.ones(self.n, dtype=bool), np.ones(self.n)
        if self.prunes(epoch):
            keep, weights = self._rule(epoch, rng)
        order = np.flatnonzero(keep)
        if self.shuffle:
            order = order[rng.permutation(len(order))]
        self._set_epoch_record(epoch, keep, weights, order, start_progress)

    def _rule(self, epoch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = None if self._plan is None else self._plan[epoch]
        if self.method == "seta":
            return rules.seta_window(self.losses, rng, size, epoch, self.options["groups"],
                                     self._window())  # fmt: skip
        if self.method == "random":
            if size is None:
                return rules.random_by_ratio(self.n, rng, self.prune_ratio)
            return rules.random_by_count(self.n, rng, self.n - size)
        if size is None:
            return rules.infobatch_by_ratio(self.losses, rng, self.prune_ratio)
        return rules.infobatch_by_count(self.losses, rng, self.n - size, self.options["max_skip"])

    def _set_epoch_record(self, epoch: int, keep: np.ndarray, weights: np.ndarray,
                          order: np.ndarray, start_progress: float) -> None:  # fmt: skip
        mine = my_share(order, self.num_replicas, self.rank, drop_last=False)
        member = np.zeros(self.n, dtype=bool)
        member[mine] = True
        rest = self._rest_estimate(epoch, len(mine))
        self._ep = {
            "order": mine, "keep": keep, "weights": weights, "mine": member,
            "trained": np.zeros(1, dtype=np.int64),  # live in the state
            "anchor": (float(start_progress), int(rest)), "exhausted": False,
        }  # fmt: skip
        self._yielded_before = self.yielded
        self.epoch = epoch
        self._cursor = None

    def _due(self) -> bool:
        """Whether the current epoch is over: iterated to its end, or every loss received."""
        ep = self._ep
        return ep is not None and (ep["exhausted"] or int(ep["trained"][0]) >= len(ep["order"]))

    @property
    def epoch_size(self) -> int:
        """How many examples the current epoch keeps, all ranks together (``n`` before the
        first): record it per epoch to give another run the same sizes (``plan=``)."""
        return self.n if self._ep is None else int(self._ep["keep"].sum())

    @property
    def epoch_position(self) -> int:
        """Where a new iterator of the current epoch starts: how many of this rank's examples
        of the epoch had their losses received (0 before the first epoch)."""
        ep = self._ep
        return 0 if ep is None else min(int(ep["trained"][0]), len(ep["order"]))

    @property
    def epochs_done(self) -> int:
        """How many epochs are over (the current one counts once every loss arrived or it was
        iterated to its end): the epoch a loop resumed from a state starts at."""
        return self.epoch + 1 if self._due() else max(self.epoch, 0)

    def _next_epoch(self) -> None:
        if self._ep is not None and not self._due():
            return
        if self.epoch + 1 >= self.epochs:
            raise LessdataError(
                f"the sampler was iterated for epoch {self.epoch + 1} but was made for "
                f"epochs={self.epochs} (epochs 0 to {self.epochs - 1}); each epoch that ran "
                "to its end moves the next iterator to the next epoch: make `epochs` the "
                "number of epochs you train"
            )
        self._decide(self.epoch + 1)

    def _ended(self, cursor: Cursor) -> None:
        if cursor is self._cursor and cursor.epoch == self.epoch and self._ep is not None:
            self._ep["exhausted"] = True

    def __iter__(self) -> Iterator[int]:
        self._next_epoch()
        ep = self._ep
        assert ep is not None
        self._yielded_before = self.yielded
        self._cursor = Cursor(ep["order"], self.epoch_position, self.epoch, self._ended)
        return self._cursor

    def __len__(self) -> int:
        """How many indices this rank yields in the current epoch, or, once that epoch is over
        (and not the last), in the next one (decided now, from the losses so far): so
        ``len(loader)`` read before an epoch is that epoch's, whether or not ``set_epoch`` was
        called."""
        if self._ep is None:
            return share_length(self.n if self._plan is None else self._plan[0], self.num_replicas)
        if self._due() and self.epoch + 1 < self.epochs:
            self._decide(self.epoch + 1)
        return len(self._ep["order"])

    # --- progress ---------------------------------------------------------------------------

    @property
    def progress(self) -> float:
        """The share of the run's example-forwards done (losses received), in [0, 1]:
        monotone, exactly 1.0 once the last epoch's losses are in. Exact when the epoch sizes
        are planned; with InfoBatch's ``prune_ratio`` the epochs after the current one are
        estimated at its size, and each new epoch re-spreads what is left (never going back),
        so a schedule driven by it still ends on its final value."""
        ep = self._ep
        if ep is None:
            return 0.0
        start, rest = ep["anchor"]
        size = len(ep["order"])
        done = min(int(ep["trained"][0]), size)
        if rest == 0 and done >= size:
            return 1.0
        if size + rest == 0:
            return start
        return min(1.0, start + (1 - start) * done / (size + rest))

    @property
    def yielded(self) -> int:
        cursor = self._cursor
        return self._yielded_before + (0 if cursor is None else cursor.position - cursor.start)

    @property
    def forwards(self) -> int:
        return int(self._tally[0])

    @property
    def nan_losses(self) -> int:
        return int(self._tally[1])

    @property
    def weights(self) -> np.ndarray:
        """The current epoch's weight per example (1 for all before the first epoch)."""
        return np.ones(self.n) if self._ep is None else self._ep["weights"]

    # --- losses -----------------------------------------------------------------------------

    def update(self, indices: Any, losses: torch.Tensor) -> torch.Tensor:
        """Record per-example ``losses`` of the examples ``indices``; return the weights to
        multiply into them (same shape, dtype and device as ``losses``).

        Args:
            indices: the examples' row numbers (the index column of the batch).
            losses: one loss per index (a criterion with ``reduction="none"``).

        An index the current epoch skipped is refused: the loss cannot be from this epoch's
        training (the batch was not drawn by this sampler, or the index is not the row).
        Before the first epoch every index is taken (weight 1), e.g. from an evaluation pass.
        """
        idx = np.asarray(indices.detach().cpu() if torch.is_tensor(indices) else indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise LessdataError(f"indices must be a 1-D array of row numbers, got {idx.shape}",
                                param="indices")  # fmt: skip
        if not torch.is_tensor(losses) or losses.ndim != 1 or len(losses) != len(idx):
            shape = tuple(losses.shape) if torch.is_tensor(losses) else type(losses).__name__
            raise LessdataError(
                f"losses must be a 1-D tensor of one loss per index ({len(idx)}), got {shape};"
                " use reduction='none'",
                param="losses",
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise LessdataError(f"indices must be in [0, {self.n}), got {idx.min()}..{idx.max()}",
                                param="indices")  # fmt: skip
        ep = self._ep
        if ep is not None and not ep["keep"][idx].all():
            skipped = idx[~ep["keep"][idx]]
            raise LessdataError(
                f"indices {skipped[:5].tolist()} were skipped in epoch {self.epoch} "
                f"({len(skipped)} of this batch's {len(idx)}): update takes the losses of the "
                "examples this sampler yielded this epoch; does the DataLoader use this sampler, "
                "and is the index the dataset's row (lessdata.torch.IndexedDataset)?",
                param="indices",
            )
        values = losses.detach().float().cpu().numpy().astype(np.float64)
        finite = np.isfinite(values)
        self._tally[1] += int((~finite).sum())
        self.losses[idx[finite]] = values[finite]
        self._fresh[idx[finite]] = True
        if ep is None:
            return torch.ones_like(losses)
        mine = int(ep["mine"][idx].sum())
        ep["trained"][0] += mine
        self._tally[0] += mine
        return torch.as_tensor(ep["weights"][idx], dtype=losses.dtype, device=losses.device)

    def _sync(self) -> None:
        """Make every rank's loss table the same: each example's loss is the one recorded
        this epoch by whichever rank saw it (averaged when several did)."""
        if group_size() <= 1:
            return
        fresh = self._fresh.astype(np.float64)
        values = np.where(self._fresh, self.losses, 0.0)
        packed = torch.from_numpy(np.stack([values, fresh]))
        torch.distributed.all_reduce(packed)
        total, count = packed.numpy()
        seen = count > 0
        self.losses[seen] = total[seen] / count[seen]
        self._fresh[:] = False

    # --- resuming ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly: the settings (checked on load),
        the loss table, the current epoch's decisions and how far it got. Plain data only:
        numbers, strings, lists and tensors (``torch.load(..., weights_only=True)`` reads it).
        As with ``Module.state_dict()``, the tensors share memory with the sampler (a
        checkpoint written later holds the losses up to then): ``torch.save`` it, or copy."""
        return dynamic_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the run ``state_dict`` was taken from: the next iterator yields the rest
        of its epoch, with the same weights. Refused, naming the setting, when it was saved
        with another ``n``, ``epochs``, ``seed``, method, prune setting or split.

        Args:
            state_dict: what :meth:`state_dict` returned (tensors or arrays).
        """
        load_dynamic_state(self, state_dict)
