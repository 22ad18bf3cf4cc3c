"""PyTorch samplers that deliver a pruning inside the user's own training loop.

* :class:`PrunedSampler` (static pruning): the kept rows of a ``prune`` run, shuffled per
  epoch, split across ranks as ``torch.utils.data.DistributedSampler`` does.
* :class:`~lessdata.torch.DynamicPruningSampler` (dynamic pruning: InfoBatch, SeTa or random
  skipping during training) lives in :mod:`lessdata.torch.dynamic`; it is importable from here
  too.

Both are deterministic given ``seed`` and the epoch, on every rank, both resume from a
``state_dict`` (torchdata's ``StatefulDataLoader`` calls it), and every argument is checked
when it is given (:mod:`lessdata.checks`), so that a wrong one is a
:class:`~lessdata.errors.LessdataError` naming it, not a wrong schedule later.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from lessdata.checks import check_bool, check_int, check_seed
from lessdata.errors import LessdataError
from lessdata.torch._common import Cursor, my_share, share_length, world
from lessdata.torch._state import load_pruned_state, pruned_state
from lessdata.torch.dynamic import DynamicPruningSampler

__all__ = ["DynamicPruningSampler", "PrunedSampler", "kept_rows"]


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
        if "kept" not in manifest.column_names:
            raise LessdataError(
                f"{source} has no 'kept' column: it holds scores (`lessdata score`), not a "
                "selection; give the manifest of `lessdata prune` or `lessdata dedup`",
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
        self.num_replicas, self.rank = world(num_replicas, rank)
        self.rows = np.sort(kept_rows(kept, dataset_size))
        self.epoch = 0
        self._start = 0  # where the next iterator of this epoch starts (a loaded position)
        self._exhausted = False  # this epoch was iterated to its end
        self._cursor: Cursor | None = None

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (call it before each epoch, as with DistributedSampler;
        without it, an iterator that ran to its end moves the next one to the next epoch).
        The current epoch again keeps a position loaded by :meth:`load_state_dict`.

        Args:
            epoch: the epoch about to start, a whole number >= 0 (the shuffle is seeded by
                ``seed + epoch``, and NumPy and torch seeds are not negative).
        """
        epoch = check_int(epoch, "epoch", low=0)
        if epoch != self.epoch or self._exhausted:
            self._start = 0
        self.epoch, self._exhausted, self._cursor = epoch, False, None

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return self.rows
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return self.rows[torch.randperm(len(self.rows), generator=generator).numpy()]

    def _ended(self, cursor: Cursor) -> None:
        if cursor is self._cursor and cursor.epoch == self.epoch:
            self._exhausted = True

    def __iter__(self) -> Iterator[int]:
        """This rank's share of the epoch's order, from a loaded position if there is one; a
        new iterator of the same epoch (after a peek) starts that epoch again."""
        if self._exhausted:
            self.epoch, self._start, self._exhausted = self.epoch + 1, 0, False
        share = my_share(self._order(), self.num_replicas, self.rank, self.drop_last)
        start, self._start = min(self._start, len(share)), 0
        self._cursor = Cursor(share, start, self.epoch, self._ended)
        return self._cursor

    def __len__(self) -> int:
        """This rank's share of the kept rows (every epoch keeps them all)."""
        return share_length(len(self.rows), self.num_replicas, self.drop_last)

    def state_dict(self) -> dict[str, Any]:
        """The epoch and the position in it (plain numbers; the settings, checked on load):
        a sampler that loads it continues with the same indices."""
        return pruned_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue where ``state_dict`` was taken: the next iterator yields the rest of its
        epoch. Refused, naming the setting, when saved with other kept rows, seed or split.

        Args:
            state_dict: what :meth:`state_dict` returned.
        """
        load_pruned_state(self, state_dict)
