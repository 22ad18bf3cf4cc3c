"""The samplers' ``state_dict`` / ``load_state_dict``: plain data (numbers, strings, lists,
tensors), checked against the sampler that loads it.

A dynamic sampler's state holds its loss table and the current epoch's decisions (the order
this rank yields, which examples were kept, their weights) and how many of that epoch's
losses arrived: a new iterator after loading starts right after them. Its tensors share
memory with the sampler, as ``Module.state_dict()``'s do, so a snapshot taken early (torchdata's
``StatefulDataLoader`` takes one per batch) still holds the losses up to the moment it is saved.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from lessdata.checks import check_int
from lessdata.errors import LessdataError
from lessdata.torch._common import STATE_FORMAT, as_array, check_state

_WHY = {
    "n": "it was saved for a dataset of another length",
    "rows": "it was saved for another set of kept rows",
    "rows_digest": "it was saved for another set of kept rows",
    "epochs": "the schedule is laid out over the epochs",
    "seed": "the skips and the order would not be the saved run's",
    "shuffle": "the order would not be the saved run's",
    "drop_last": "the ranks' shares would not be the saved run's",
    "num_replicas": "each rank saves and loads its own share of the same split",
    "rank": "each rank saves and loads its own share",
}
for _name in ("method", "method_options", "prune_ratio", "target_saving", "plan", "anneal"):
    _WHY[_name] = "the saved epochs were decided by another rule"


def rows_digest(rows: np.ndarray) -> str:
    """A short fingerprint of the kept rows (a state names the rows it was saved with)."""
    return hashlib.blake2b(np.ascontiguousarray(rows, dtype=np.int64).tobytes(),
                           digest_size=8).hexdigest()  # fmt: skip


def _dynamic_settings(s: Any) -> dict[str, Any]:
    return {
        "n": s.n, "epochs": s.epochs, "method": s.method, "method_options": dict(s.options),
        "prune_ratio": s.prune_ratio, "target_saving": s.target_saving, "plan": s.plan,
        "anneal": s.anneal, "seed": s.seed, "shuffle": s.shuffle,
        "num_replicas": s.num_replicas, "rank": s.rank,
    }  # fmt: skip


def dynamic_state(s: Any) -> dict[str, Any]:
    """See :meth:`DynamicPruningSampler.state_dict`."""
    ep = s._ep
    current = None
    if ep is not None:
        current = {
            "order": torch.from_numpy(ep["order"]), "keep": torch.from_numpy(ep["keep"]),
            "weights": torch.from_numpy(ep["weights"]), "trained": torch.from_numpy(ep["trained"]),
            "start_progress": ep["anchor"][0], "rest": ep["anchor"][1],
            "exhausted": bool(ep["exhausted"]),
        }  # fmt: skip
    return {
        "kind": "DynamicPruningSampler", "format": STATE_FORMAT,
        "settings": _dynamic_settings(s),
        "losses": torch.from_numpy(s.losses), "fresh": torch.from_numpy(s._fresh),
        "tally": torch.from_numpy(s._tally), "yielded": s.yielded, "epoch": s.epoch,
        "current": current,
    }  # fmt: skip


def _field(state: Any, key: str) -> Any:
    if key not in state:
        raise LessdataError(f"state_dict has no {key!r}: it is damaged", param="state_dict")
    return state[key]


def load_dynamic_state(s: Any, state: Any) -> None:
    """See :meth:`DynamicPruningSampler.load_state_dict`."""
    check_state(state, "DynamicPruningSampler", _dynamic_settings(s), _WHY)
    n = s.n
    losses = as_array(_field(state, "losses"), np.float64, n, "losses")
    fresh = as_array(_field(state, "fresh"), bool, n, "fresh")
    tally = as_array(_field(state, "tally"), np.int64, 2, "tally")
    epoch = check_int(_field(state, "epoch"), "epoch", low=-1, high=s.epochs - 1)
    current = _field(state, "current")
    if (current is None) != (epoch == -1):
        raise LessdataError("state_dict's epoch and decisions disagree: it is damaged",
                            param="state_dict")  # fmt: skip
    record = None
    if current is not None:
        order = as_array(_field(current, "order"), np.int64, None, "order")
        keep = as_array(_field(current, "keep"), bool, n, "keep")
        weights = as_array(_field(current, "weights"), np.float64, n, "weights")
        trained = as_array(_field(current, "trained"), np.int64, 1, "trained")
        if order.size and (order.min() < 0 or order.max() >= n or not keep[order].all()):
            raise LessdataError("state_dict's order holds rows the epoch skipped or out of "
                                "range: it is damaged", param="state_dict")  # fmt: skip
        member = np.zeros(n, dtype=bool)
        member[order] = True
        anchor = (float(_field(current, "start_progress")), int(_field(current, "rest")))
        record = {
            "order": order, "keep": keep, "weights": weights, "mine": member,
            "trained": trained, "anchor": anchor, "exhausted": bool(_field(current, "exhausted")),
        }  # fmt: skip
    s.losses, s._fresh, s._tally = losses, fresh, tally
    s._yielded_before = check_int(_field(state, "yielded"), "yielded", low=0)
    s.epoch, s._ep, s._cursor = epoch, record, None


def pruned_state(s: Any) -> dict[str, Any]:
    """See :meth:`PrunedSampler.state_dict`."""
    cursor = s._cursor
    live = cursor is not None and cursor.epoch == s.epoch
    return {
        "kind": "PrunedSampler", "format": STATE_FORMAT, "settings": _pruned_settings(s),
        "epoch": s.epoch, "position": cursor.position if live else s._start,
        "exhausted": s._exhausted,
    }  # fmt: skip


def _pruned_settings(s: Any) -> dict[str, Any]:
    return {
        "rows": len(s.rows), "rows_digest": rows_digest(s.rows), "seed": s.seed,
        "shuffle": s.shuffle, "drop_last": s.drop_last, "num_replicas": s.num_replicas,
        "rank": s.rank,
    }  # fmt: skip


def load_pruned_state(s: Any, state: Any) -> None:
    """See :meth:`PrunedSampler.load_state_dict`."""
    check_state(state, "PrunedSampler", _pruned_settings(s), _WHY)
    s.epoch = check_int(_field(state, "epoch"), "epoch", low=0)
    s._start = check_int(_field(state, "position"), "position", low=0, high=len(s))
    s._exhausted = bool(_field(state, "exhausted"))
    s._cursor = None
