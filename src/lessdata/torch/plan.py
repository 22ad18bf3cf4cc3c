"""The size of every epoch of a dynamic-pruning run, planned before training, and the
optimizer steps a plan takes.

A plan is a list of global epoch sizes (examples kept, all ranks together). With a target
(``target_saving``) the first epoch and the final ``anneal`` share see everything and the
saving is spread evenly over the epochs between; which examples an epoch skips is still
decided from the losses when it starts. A plan makes the run's length exact, so a
learning-rate schedule built before training ends on its final value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lessdata.checks import check_choice, check_float, check_int
from lessdata.errors import LessdataError
from lessdata.torch._common import share_length

#: what ``partial_accum`` takes: refuse a short accumulation, count it as a step, or not
PARTIAL_ACCUM = ("refuse", "step", "drop")


def stop_pruning_epoch(epochs: int, anneal: float) -> int:
    """The first epoch (0-based) of the final full-data ``anneal`` share."""
    return round(epochs * (1 - anneal))


def target_plan(n: int, epochs: int, anneal: float, target_saving: float) -> list[int]:
    """Epoch sizes that save ``round(target_saving * n * epochs)`` example-forwards, spread
    as evenly as whole examples allow over the pruning epochs (the earlier ones take the
    one-example remainders). Refused when the pruning epochs cannot hold that saving."""
    stop = stop_pruning_epoch(epochs, anneal)
    pruning = list(range(1, stop))
    if not pruning:
        raise LessdataError(
            f"target_saving={target_saving} but with epochs={epochs} and anneal={anneal} no "
            "epoch prunes (the first epoch and the final anneal share see everything); train "
            "more epochs or lower anneal",
            param="target_saving",
        )
    skips = round(target_saving * n * epochs)
    most = len(pruning) * (n - 1)
    if skips > most:
        reachable = most / (n * epochs)
        raise LessdataError(
            f"target_saving={target_saving} cannot be reached: only epochs 1 to {stop - 1} "
            f"prune, and even keeping one example in each they save {reachable:.3f} of the "
            f"{epochs} epochs' forwards; lower target_saving, or lower anneal",
            param="target_saving",
        )
    base, extra = divmod(skips, len(pruning))
    sizes = [n] * epochs
    for i, epoch in enumerate(pruning):
        sizes[epoch] = n - base - (1 if i < extra else 0)
    return sizes


def check_plan(plan: Any, n: int, epochs: int) -> list[int]:
    """A user's plan: ``epochs`` whole numbers in ``[1, n]``."""
    if isinstance(plan, (str, bytes)) or not isinstance(plan, Sequence):
        try:
            plan = list(plan)
        except TypeError:
            raise LessdataError(
                f"plan must be a list of {epochs} epoch sizes, got {type(plan).__name__}",
                param="plan",
            ) from None
    if len(plan) != epochs:
        raise LessdataError(
            f"plan must hold one size per epoch ({epochs}), got {len(plan)}", param="plan"
        )
    return [check_int(size, "plan", low=1, high=n, hint="each epoch keeps 1 to n examples")
            for size in plan]  # fmt: skip


def seta_plan(
    n: int, epochs: int, anneal: float, prune_ratio: float, groups: int, window: int
) -> list[int]:
    """SeTa's epoch sizes from its ratio: a random ``1 - prune_ratio`` share of the examples,
    then ``window`` of ``groups`` equal loss groups."""
    stop = stop_pruning_epoch(epochs, anneal)
    candidates = max(1, round((1 - prune_ratio) * n))
    size = max(1, round(candidates * window / groups))
    return [size if 1 <= epoch < stop else n for epoch in range(epochs)]


def rank_sizes(plan: Sequence[int], num_replicas: int) -> list[int]:
    """What one rank yields in each epoch of ``plan`` (padded as ``DistributedSampler``)."""
    return [share_length(size, num_replicas) for size in plan]


def optimizer_steps(
    sizes: Sequence[int | None],
    batch_size: Any,
    grad_accum: Any = 1,
    partial_accum: Any = "refuse",
) -> int:
    """The optimizer steps of epochs of ``sizes`` examples (one rank's), in batches of
    ``batch_size`` (the last, short batch of an epoch included), one step per ``grad_accum``
    batches. An epoch whose batches ``grad_accum`` does not divide ends on a short
    accumulation: ``partial_accum`` says whether that is refused, a step (Hugging Face
    Trainer and Lightning step there), or dropped (a loop stepping on ``(i + 1) % grad_accum
    == 0`` only)."""
    batch_size = check_int(batch_size, "batch_size", low=1)
    grad_accum = check_int(grad_accum, "grad_accum", low=1)
    partial_accum = check_choice(partial_accum, "partial_accum", PARTIAL_ACCUM)
    steps = 0
    for epoch, size in enumerate(sizes):
        assert size is not None
        batches = math.ceil(size / batch_size)
        full, rest = divmod(batches, grad_accum)
        if rest and partial_accum == "refuse":
            raise LessdataError(
                f"grad_accum={grad_accum} does not divide the {batches} batches of epoch "
                f"{epoch} ({size} examples in batches of {batch_size}): its last {rest} would "
                "make a short optimizer step; pass partial_accum='step' if your loop steps on "
                "them (Hugging Face Trainer and Lightning do) or 'drop' if it leaves them, or "
                "choose a grad_accum that divides every epoch's batches",
                param="grad_accum",
            )
        steps += full + (1 if rest and partial_accum == "step" else 0)
    return steps


class Schedule:
    """The plan-related part of :class:`~lessdata.torch.DynamicPruningSampler` (a mixin: it
    reads the sampler's ``n``, ``epochs``, ``anneal``, ``method``, ``options``,
    ``prune_ratio``, ``target_saving``, ``num_replicas`` and ``_plan``)."""

    n: int
    epochs: int
    anneal: float
    method: str
    options: dict[str, Any]
    prune_ratio: float | None
    target_saving: float | None
    num_replicas: int
    _plan: list[int] | None

    def _make_plan(self, plan: Sequence[int] | None) -> list[int] | None:
        if plan is not None:
            return check_plan(plan, self.n, self.epochs)
        if self.target_saving is not None:
            return target_plan(self.n, self.epochs, self.anneal, self.target_saving)
        if self.method == "seta":
            groups, window = self.options["groups"], self._window()
            return seta_plan(self.n, self.epochs, self.anneal, self.prune_ratio, groups,
                                   window)  # fmt: skip
        return None

    def _window(self) -> int:
        groups = self.options["groups"]
        return max(1, min(groups, round(groups * self.options["window"])))

    # --- the schedule ---------------------------------------------------------------------

    @property
    def stop_pruning_epoch(self) -> int:
        """The first epoch (0-based) of the final full-data ``anneal`` share."""
        return stop_pruning_epoch(self.epochs, self.anneal)

    @property
    def plan(self) -> list[int] | None:
        """The examples each epoch keeps (all ranks), planned before training; None with
        InfoBatch's or random's ``prune_ratio``, whose epoch sizes depend on the draws."""
        return None if self._plan is None else list(self._plan)

    def prunes(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) skips examples."""
        if self._plan is not None:
            return self._plan[epoch] < self.n
        return 1 <= epoch < self.stop_pruning_epoch and bool(self.prune_ratio)

    def _needs_plan(self, what: str) -> list[int]:
        if self._plan is None:
            raise LessdataError(
                f"{what} needs every epoch's size before training, but with method="
                f"{self.method!r} and prune_ratio the sizes depend on the draws; pass "
                "target_saving (or plan) instead, or drive the schedule by sampler.progress "
                "(lessdata.torch.ProgressLR)",
                param="target_saving",
            )
        return rank_sizes(self._plan, self.num_replicas)

    def total_steps(self, batch_size: int, grad_accum: int = 1, *,
                    partial_accum: str = "refuse") -> int:  # fmt: skip
        """The optimizer steps of the whole run on this rank: exact, for a learning-rate
        schedule built before training (``OneCycleLR(..., total_steps=...)``).

        Args:
            batch_size: the DataLoader's batch size (an epoch's last, short batch is a batch).
            grad_accum: batches per optimizer step.
            partial_accum: when ``grad_accum`` does not divide an epoch's batches: ``"refuse"``
                (a :class:`~lessdata.errors.LessdataError` naming the epoch), ``"step"`` (the
                short accumulation is a step: Hugging Face Trainer, Lightning) or ``"drop"``.
        """
        return optimizer_steps(self._needs_plan("total_steps"), batch_size, grad_accum,
                                     partial_accum)  # fmt: skip

    def expected_total_steps(self, batch_size: int, below_mean_share: float = 0.5) -> int:
        """Optimizer steps over all epochs, one per batch. Exact when the sizes are planned
        (:meth:`total_steps`); with InfoBatch's ``prune_ratio`` an *estimate*: each pruning
        epoch assumes ``below_mean_share`` of the examples below the mean loss (a trained
        model's right-skewed losses put more there, so fewer steps are taken: a schedule
        sized with it does not reach its end; drive it by :attr:`progress` instead).

        Args:
            batch_size: the DataLoader's batch size, a whole number >= 1.
            below_mean_share: the share of examples assumed below the mean loss, in [0, 1]
                (0 gives an upper bound).
        """
        batch_size = check_int(batch_size, "batch_size", low=1)
        below_mean_share = check_float(below_mean_share, "below_mean_share", low=0, high=1)
        return optimizer_steps(self._sizes_estimate(below_mean_share), batch_size)

    def _sizes_estimate(self, below_mean_share: float) -> list[int]:
        if self._plan is not None:
            return rank_sizes(self._plan, self.num_replicas)
        ratio = self.prune_ratio * (below_mean_share if self.method == "infobatch" else 1)
        pruned = round(self.n * (1 - ratio))
        sizes = [pruned if self.prunes(e) else self.n for e in range(self.epochs)]
        return rank_sizes(sizes, self.num_replicas)

    def _rest_estimate(self, epoch: int, size: int) -> int:
        """This rank's examples in the epochs after ``epoch``: exact when planned; else each
        pruning epoch is taken to be the size of the latest one (``size`` if ``epoch``
        prunes), or of the ``below_mean_share=0.5`` estimate before any."""
        if self._plan is not None:
            return sum(rank_sizes(self._plan[epoch + 1 :], self.num_replicas))
        estimate = self._sizes_estimate(0.5)
        if self.prunes(epoch):
            estimate = [size if self.prunes(e) else s for e, s in enumerate(estimate)]
        return sum(estimate[epoch + 1 :])
