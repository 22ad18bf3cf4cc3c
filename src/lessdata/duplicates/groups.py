"""Which member of a group of duplicates stays: the first row, or the longest text."""

from __future__ import annotations

import numpy as np

from lessdata.checks import check_choice
from lessdata.errors import LessdataError

KEEP_RULES = ("first", "longest")


def check_keep(keep: str) -> str:
    """Validate a survivor rule."""
    check_choice(keep, "keep", KEEP_RULES)
    return keep


def survivor_rank(n: int, keep: str, lengths: np.ndarray | None) -> np.ndarray:
    """(n,) sort key per row: within a group, the smallest key is the kept row."""
    if keep == "first":
        return np.zeros(n, dtype=np.int64)
    if lengths is None:
        raise LessdataError("keep='longest' needs the length of every text (lengths=...)")
    lengths = np.asarray(lengths)
    if lengths.shape != (n,):
        raise LessdataError(
            f"lengths has shape {lengths.shape} but there are {n} texts: give one length per text"
        )
    return -lengths.astype(np.int64)


def mark_groups(group: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """duplicate_of for rows labelled by ``group``: the lowest (rank, row) of a group stays."""
    n = len(group)
    rows = np.arange(n, dtype=np.int64)
    order = np.lexsort((rows, rank, group))
    sorted_group = group[order]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_group[1:] != sorted_group[:-1]
    keeper_pos = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    duplicate_of = np.full(n, -1, dtype=np.int64)
    dup = ~first
    duplicate_of[order[dup]] = order[keeper_pos[dup]]
    return duplicate_of
