"""Scores the user brings (``--scores``): read, matched to the data's rows, checked.

``lessdata calibrate`` and ``lessdata prune`` accept one score per example instead of
computing a registered metric: an array, an ``.npy`` file, or a ``lessdata score`` Parquet
table whose ``metric`` column is taken, rows matched by ``id``. Whatever the source, the
result is one finite float64 per row of the data, or a :class:`LessdataError` that says
what is wrong (how many values are NaN or infinite, and where the first one is).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.data.dataset import Dataset
from lessdata.errors import LessdataError

ScoresLike = np.ndarray | str | os.PathLike[str]


def regular_file(path: str | os.PathLike[str], name: str) -> Path:
    """``path`` when it is a regular file (a FIFO or device would block or never end)."""
    if not Path(path).exists():
        raise LessdataError(f"{name} {path}: no such file", param=name)
    if not Path(path).is_file():
        raise LessdataError(f"{name} {path}: not a regular file", param=name)
    return Path(path)


def read_scores(scores: ScoresLike, metric: str, ds: Dataset, *, name: str = "scores"
                ) -> np.ndarray:  # fmt: skip
    """One finite float64 score per row of ``ds`` from an array, ``.npy`` or Parquet file."""
    if isinstance(scores, (str, os.PathLike)):
        path = regular_file(scores, name)
        values = _read_npy(path, name) if path.suffix == ".npy" else _read_table(
            path, metric, ds, name)  # fmt: skip
    else:
        try:
            values = np.asarray(scores, dtype=np.float64)
        except (TypeError, ValueError):
            raise LessdataError(f"{name} must be numbers, one per row", param=name) from None
    if values.shape != (len(ds),):
        raise LessdataError(
            f"{name} must be {len(ds)} numbers (one per row of the data), got shape "
            f"{values.shape}",
            param=name,
        )
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise LessdataError(
            f"{name} has {int(np.isnan(values).sum())} NaN and {int(np.isinf(values).sum())} "
            f"infinite values (first at row {first}, id {ds.ids[first].as_py()!r}); give a "
            "finite score for every example",
            param=name,
        )
    return values


def scores_fingerprint(values: np.ndarray) -> str:
    """What identifies a score column: a hash of its float64 values in row order."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


def _read_npy(path: Path, name: str) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LessdataError(f"{name} {path}: not a readable .npy array ({str(exc)[:100]})",
                            param=name) from None  # fmt: skip
    if values.dtype.kind not in "iuf":
        raise LessdataError(f"{name} {path}: holds {values.dtype}, not numbers", param=name)
    return np.asarray(values, dtype=np.float64).reshape(-1) if values.ndim == 2 and (
        values.shape[1] == 1) else np.asarray(values, dtype=np.float64)  # fmt: skip


def _read_table(path: Path, metric: str, ds: Dataset, name: str) -> np.ndarray:
    """The ``metric`` column of a ``lessdata score`` table, in the rows' order of ``ds``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise LessdataError(f"{name} {path} cannot be read as Parquet ({str(exc)[:120]})",
                            param=name) from None  # fmt: skip
    missing = [c for c in ("id", metric) if c not in table.column_names]
    if missing:
        raise LessdataError(
            f"{name} {path} has no column {', '.join(missing)} (columns: "
            f"{', '.join(table.column_names)}); write it with `lessdata score --metric {metric}`"
            " or name its column with `metric`",
            param=name,
        )
    ids = [str(i) for i in table.column("id").to_pylist()]
    if ids != [str(i) for i in ds.ids.to_pylist()]:
        raise LessdataError(
            f"{name} {path} are not for this data: its ids differ from the data's "
            f"({len(ids)} vs {len(ds)} rows)",
            param=name,
        )
    column: Any = table.column(metric)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise LessdataError(f"{name} {path}: column {metric} holds {column.type}, not numbers",
                            param=name)  # fmt: skip
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
