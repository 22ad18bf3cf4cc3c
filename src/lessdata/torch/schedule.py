"""Drive any learning-rate schedule by training progress, so that it ends on its final value
even when epoch sizes vary.

A scheduler built for ``total_steps`` optimizer steps (``OneCycleLR``, ``CosineAnnealingLR``,
``LinearLR``, a Hugging Face ``get_scheduler`` …) reaches its final value only if it is stepped
exactly that many times. Dynamic pruning with InfoBatch's ``prune_ratio`` makes the number of
steps unknown before training; :class:`ProgressLR` steps the wrapped scheduler to
``round(progress × steps)`` instead, where ``progress`` is the sampler's share of the run's
example-forwards done (monotone, exactly 1.0 after the last batch). A plain function of the
progress works too, with ``LambdaLR``::

    sched = LambdaLR(opt, lambda _: 0.5 * (1 + math.cos(math.pi * sampler.progress)))
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from lessdata.checks import check_int
from lessdata.errors import LessdataError


def final_step(scheduler: Any) -> int:
    """How many ``step()`` calls bring ``scheduler`` to its final value, when its type says:
    ``OneCycleLR``: ``total_steps - 1``; ``CosineAnnealingLR``: ``T_max``; ``LinearLR``,
    ``ConstantLR``, ``PolynomialLR``: ``total_iters``."""
    sched = torch.optim.lr_scheduler
    if isinstance(scheduler, sched.OneCycleLR):
        return int(scheduler.total_steps) - 1
    if isinstance(scheduler, sched.CosineAnnealingLR):
        return int(scheduler.T_max)
    if isinstance(scheduler, (sched.LinearLR, sched.ConstantLR, sched.PolynomialLR)):
        return int(scheduler.total_iters)
    raise LessdataError(
        f"steps is needed: a {type(scheduler).__name__} does not say after how many steps it "
        "reaches its final value; pass steps=<the total your scheduler was built for> (e.g. "
        "num_training_steps of a Hugging Face get_scheduler)",
        param="steps",
    )


class ProgressLR(LRScheduler):
    """Step ``scheduler`` by the sampler's progress, not by the steps taken.

    Call :meth:`step` once per optimizer step, as usual: it advances the wrapped scheduler to
    ``round(sampler.progress * steps)`` of its own steps (several at once or none), so the
    learning rate follows the schedule's shape over the run's example-forwards and is at its
    final value after the last batch, however many steps the run took.

    Args:
        scheduler: a learning-rate scheduler built for ``steps`` steps (not stepped yet).
        sampler: anything with a ``progress`` in [0, 1], e.g. a
            :class:`~lessdata.torch.DynamicPruningSampler`.
        steps: the ``step()`` calls that bring ``scheduler`` to its final value (default: read
            from a ``OneCycleLR``, ``CosineAnnealingLR``, ``LinearLR``, ``ConstantLR`` or
            ``PolynomialLR``; refused for a scheduler of unknown length).

    Example:
        >>> import torch
        >>> from lessdata.torch import DynamicPruningSampler, ProgressLR
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> sampler = DynamicPruningSampler(100, epochs=4)
        >>> cycle = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=1000)
        >>> sched = ProgressLR(cycle, sampler)   # sched.step() after each opt.step()
    """

    def __init__(self, scheduler: Any, sampler: Any, steps: int | None = None) -> None:
        if not hasattr(scheduler, "step") or not hasattr(scheduler, "optimizer"):
            raise LessdataError(
                f"scheduler must be a learning-rate scheduler, got {type(scheduler).__name__}",
                param="scheduler",
            )
        if not hasattr(sampler, "progress"):
            raise LessdataError(
                f"sampler must have a progress (a DynamicPruningSampler), got "
                f"{type(sampler).__name__}",
                param="sampler",
            )
        self.scheduler = scheduler
        self.sampler = sampler
        self.steps = check_int(steps if steps is not None else final_step(scheduler), "steps",
                               low=1)  # fmt: skip
        self.taken = int(getattr(scheduler, "last_epoch", 0))  # the wrapped scheduler's steps
        # set by hand, not by LRScheduler.__init__ (which would step the wrapped scheduler)
        self.optimizer = scheduler.optimizer
        self.base_lrs = list(getattr(scheduler, "base_lrs", []))
        self.last_epoch = 0
        self._step_count = 1
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Advance the wrapped scheduler to the current progress."""
        target = min(self.steps, round(float(self.sampler.progress) * self.steps))
        while self.taken < target:
            self.scheduler.step()
            self.taken += 1
        self.last_epoch += 1
        self._step_count += 1
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped scheduler's state and how far it was stepped."""
        return {"scheduler": self.scheduler.state_dict(), "taken": self.taken,
                "steps": self.steps, "last_epoch": self.last_epoch}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (load the optimizer's and the sampler's own
        states too: as with any scheduler, the optimizer holds the learning rate in use)."""
        self.scheduler.load_state_dict(state_dict["scheduler"])
        self.taken = int(state_dict["taken"])
        self.last_epoch = int(state_dict["last_epoch"])
        if int(state_dict["steps"]) != self.steps:
            raise LessdataError(
                f"steps={self.steps} but the state was saved with steps={state_dict['steps']}",
                param="steps",
            )
        last = getattr(self.scheduler, "get_last_lr", None)
        self._last_lr = list(last()) if last else [g["lr"] for g in self.optimizer.param_groups]
