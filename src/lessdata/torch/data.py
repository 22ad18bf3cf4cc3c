"""Datasets that hand each example's row index to the training loop, which a dynamic sampler
needs (:meth:`~lessdata.torch.DynamicPruningSampler.update` takes the losses by index).

* :class:`IndexedDataset` wraps any map-style dataset (a torch ``Dataset``, a Hugging Face
  ``datasets.Dataset``, a list): a tuple item ``(x, y)`` becomes ``(i, x, y)``, a dict item
  gains an ``"index"`` key, anything else becomes ``(i, item)``.
* :func:`with_index` adds the index as a column of a Hugging Face ``datasets.Dataset`` (what
  the Hugging Face ``Trainer`` reads), in place of a wrapper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from lessdata.errors import LessdataError


class IndexedDataset(Dataset):
    """``dataset`` with each example's row index in front (tuples), or under ``key`` (dicts).

    Args:
        dataset: a map-style dataset: ``len(dataset)`` and ``dataset[i]`` for ``i`` in
            ``range(len(dataset))``.
        key: the index's key in dict items (``"index"``).

    Example:
        >>> import torch
        >>> data = IndexedDataset(torch.utils.data.TensorDataset(torch.zeros(3, 2), torch.ones(3)))
        >>> idx, x, y = data[2]
        >>> idx, tuple(x.shape)
        (2, (2,))
    """

    def __init__(self, dataset: Any, key: str = "index") -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise LessdataError(
                f"dataset must be a map-style dataset (len() and [i]), got "
                f"{type(dataset).__name__}; an IterableDataset has no row index to give",
                param="dataset",
            )
        if not isinstance(key, str) or not key:
            raise LessdataError(f"key must be a non-empty string, got {key!r}", param="key")
        self.dataset = dataset
        self.key = key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        index = int(index)
        item = self.dataset[index]
        if isinstance(item, tuple):
            return (index, *item)
        if isinstance(item, Mapping):
            if self.key in item:
                raise LessdataError(
                    f"the dataset's items already have a {self.key!r} key; pass another key",
                    param="key",
                )
            return {**item, self.key: index}
        return (index, item)


def with_index(dataset: Any, column: str = "index") -> Any:
    """A Hugging Face ``datasets.Dataset`` with a ``column`` holding each row's index (0 to
    ``len - 1``); an existing column of that name is kept if it already is the index.

    Args:
        dataset: a ``datasets.Dataset``.
        column: the new column's name.

    Example:
        >>> import datasets
        >>> ds = with_index(datasets.Dataset.from_dict({"text": ["a", "b"]}))
        >>> list(ds["index"])
        [0, 1]
    """
    if not hasattr(dataset, "add_column") or not hasattr(dataset, "column_names"):
        raise LessdataError(
            f"dataset must be a datasets.Dataset, got {type(dataset).__name__}; wrap a torch "
            "Dataset in lessdata.torch.IndexedDataset instead",
            param="dataset",
        )
    if not isinstance(column, str) or not column:
        raise LessdataError(f"column must be a non-empty string, got {column!r}", param="column")
    rows = np.arange(len(dataset), dtype=np.int64)
    if column in dataset.column_names:
        if np.array_equal(np.asarray(dataset[column]), rows):
            return dataset
        raise LessdataError(
            f"the dataset already has a {column!r} column that is not the row index; pass "
            "another column name",
            param="column",
        )
    return dataset.add_column(column, rows.tolist())
