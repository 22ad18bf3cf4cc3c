"""What both samplers share: the distributed split, the iterator that knows its position, and
the check of a saved state against the sampler that loads it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from lessdata.checks import check_int
from lessdata.errors import LessdataError

#: the version of the ``state_dict`` layout; a state of another version is refused
STATE_FORMAT = 1


def group_size() -> int:
    """The size of the initialised ``torch.distributed`` group; 0 when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_world_size())
    return 0


def world(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``: as given, else from ``torch.distributed``, else ``(1, 0)``."""
    initialised = group_size() > 0
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if initialised else 1
    if rank is None:
        rank = torch.distributed.get_rank() if initialised else 0
    num_replicas = check_int(num_replicas, "num_replicas", low=1)
    hint = f"ranks count from 0 to num_replicas - 1 ({num_replicas - 1})"
    rank = check_int(rank, "rank", low=0, high=num_replicas - 1, hint=hint)
    return num_replicas, rank


def share_length(size: int, num_replicas: int, drop_last: bool = False) -> int:
    """How many of ``size`` examples one rank gets (``DistributedSampler``'s rule)."""
    if num_replicas == 1:
        return size
    return size // num_replicas if drop_last else math.ceil(size / num_replicas)


def my_share(order: np.ndarray, num_replicas: int, rank: int, drop_last: bool) -> np.ndarray:
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


def check_losses_reach_every_rank(num_replicas: int, shared_losses: bool) -> None:
    """Refuse a split across ranks whose loss tables nothing makes the same."""
    if num_replicas == 1 or shared_losses or group_size() > 1:
        return
    if group_size() == 1:
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


class Cursor(Iterator[int]):
    """Yields ``order[start:]`` and counts what it yielded; tells ``on_end`` once when it runs
    out, so that the sampler knows the epoch was iterated to its end (a peek, an iterator
    abandoned early, never runs out)."""

    def __init__(self, order: np.ndarray, start: int, epoch: int, on_end: Callable) -> None:
        self.order = order
        self.start = start
        self.position = start
        self.epoch = epoch
        self._on_end = on_end
        self._ended = False

    def __iter__(self) -> Cursor:
        return self

    def __next__(self) -> int:
        if self.position >= len(self.order):
            if not self._ended:
                self._ended = True
                self._on_end(self)
            raise StopIteration
        value = int(self.order[self.position])
        self.position += 1
        return value


def as_array(value: Any, dtype: Any, length: int | None, name: str) -> np.ndarray:
    """A copy of a saved array (tensor, NumPy array or list) as ``dtype``, of ``length``."""
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=dtype)
    except (TypeError, ValueError):
        raise LessdataError(
            f"state_dict holds a {type(value).__name__} for {name!r}, not an array",
            param="state_dict",
        ) from None
    if array.ndim != 1 or (length is not None and len(array) != length):
        raise LessdataError(
            f"state_dict's {name!r} has shape {array.shape}, expected ({length},): the state is "
            "damaged or was edited",
            param="state_dict",
        )
    return array


def check_state(state: Any, kind: str, settings: Mapping[str, Any], why: Mapping[str, str]) -> None:
    """Refuse a state that is not ``kind``'s, of another layout, or saved with other settings.

    ``why`` says, per setting, what a different value would break (one clause).
    """
    if not isinstance(state, Mapping) or state.get("kind") != kind:
        got = state.get("kind") if isinstance(state, Mapping) else type(state).__name__
        raise LessdataError(
            f"state_dict must be what {kind}.state_dict() returned, got {got!r}",
            param="state_dict",
        )
    if state.get("format") != STATE_FORMAT:
        raise LessdataError(
            f"state_dict has layout {state.get('format')!r}, this lessdata reads layout "
            f"{STATE_FORMAT}: it was saved by another version",
            param="state_dict",
        )
    saved = state.get("settings")
    if not isinstance(saved, Mapping):
        raise LessdataError("state_dict has no settings: it is damaged", param="state_dict")
    for name, value in settings.items():
        if name not in saved:
            raise LessdataError(f"state_dict has no setting {name!r}", param="state_dict")
        if saved[name] != value:
            reason = why.get(name, "it belongs to another run")
            raise LessdataError(
                f"{name}={value!r} but the state was saved with {name}={saved[name]!r}: {reason}; "
                f"make the sampler with {name}={saved[name]!r} to resume that run, or start "
                "afresh without load_state_dict",
                param=name,
            )
