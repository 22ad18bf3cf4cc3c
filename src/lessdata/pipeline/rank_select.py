"""Exact selection by rank across shards, without gathering the scores on the driver.

The in-memory policies order rows by ``(score, tie key, row)`` (:func:`lessdata.select.
tie_keys`) and keep the top or bottom ``budget``. Here the row at a given rank of that order
is found by a radix select over shards: each pass, every shard histograms the next 16 bits
of its rows' 128-bit keys (score bits, then tie-key bits) among the rows that share the
prefix found so far; the driver sums the histograms (65,536 counts, whatever N), picks the
bucket holding the rank, and narrows the prefix. Once at most :data:`GATHER` rows share the
prefix, they are gathered and sorted exactly. A pass reads one score column per shard; a
billion rows need two or three. The kept rows are then those on the right side of the
boundary row: exactly the in-memory policy's ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lessdata.engines import Engine
from lessdata.errors import LessdataError
from lessdata.ties import tie_keys

#: bits of the key each pass resolves (a histogram of 2**16 counts)
DIGIT_BITS = 16
#: rows sharing the prefix at or below which they are gathered and sorted on the driver
GATHER = 65_536
_WORD = 64

#: a shard: (path of its float64 scores as .npy, or "" for constant scores; first row; rows)
ScoreShard = tuple[str, int, int]


def sortable(scores: np.ndarray) -> np.ndarray:
    """uint64 keys that sort as the float64 ``scores`` do (-0.0 counts as 0.0)."""
    bits = (np.asarray(scores, dtype=np.float64) + 0.0).view(np.uint64)
    negative = (bits >> np.uint64(63)).astype(bool)
    return np.where(negative, ~bits, bits | np.uint64(1 << 63))


def shard_keys(shard: ScoreShard, tie_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(score key, tie key, row)`` of every row of ``shard``."""
    path, start, size = shard
    rows = np.arange(start, start + size, dtype=np.int64)
    scores = np.load(path, allow_pickle=False) if path else np.zeros(size)
    if len(scores) != size:
        raise LessdataError(f"{path} holds {len(scores)} scores, expected {size}; rerun")
    if np.isnan(scores).any():
        raise LessdataError(f"{path}: NaN scores cannot be ranked")
    return sortable(scores), tie_keys(tie_seed, rows), rows


def _prefix_mask(hi: np.ndarray, lo: np.ndarray, consumed: int, prefix: tuple[int, int]):
    if consumed == 0:
        return np.ones(len(hi), dtype=bool)
    if consumed <= _WORD:
        return (hi >> np.uint64(_WORD - consumed)) == np.uint64(prefix[0] >> (_WORD - consumed))
    shift = np.uint64(2 * _WORD - consumed)
    return (hi == np.uint64(prefix[0])) & ((lo >> shift) == np.uint64(prefix[1] >> int(shift)))


def rank_shard(
    shard: ScoreShard, tie_seed: int, consumed: int, prefix: tuple[int, int], gather: bool
) -> np.ndarray:
    """One shard's view of a pass: the histogram of the next digit among rows with
    ``prefix`` (its first ``consumed`` bits), or with ``gather`` those rows' keys (3 × m)."""
    hi, lo, rows = shard_keys(shard, tie_seed)
    match = _prefix_mask(hi, lo, consumed, prefix)
    hi, lo, rows = hi[match], lo[match], rows[match]
    if gather:
        return np.stack([hi, lo, rows.astype(np.uint64)])
    word, offset = (hi, consumed) if consumed < _WORD else (lo, consumed - _WORD)
    digit = (word >> np.uint64(_WORD - DIGIT_BITS - offset)) & np.uint64((1 << DIGIT_BITS) - 1)
    return np.bincount(digit.astype(np.int64), minlength=1 << DIGIT_BITS)


def find_rank(
    engine: Engine, shards: Sequence[ScoreShard], tie_seed: int, rank: int, total: int
) -> tuple[int, int, int]:
    """The ``(score key, tie key, row)`` at ascending ``rank`` (0-based) of the rows of
    ``shards`` (``total`` rows), ordered as the in-memory policies order them."""
    if not 0 <= rank < total:
        raise ValueError(f"rank {rank} outside 0..{total - 1}")
    consumed, prefix, count = 0, (0, 0), total
    while count > GATHER and consumed < 2 * _WORD:
        histogram = np.zeros(1 << DIGIT_BITS, dtype=np.int64)
        for _, part in engine.imap(
            rank_shard, shards, shared=(tie_seed, consumed, prefix, False),
            label=f"selection: pass {consumed // DIGIT_BITS + 1}",
        ):  # fmt: skip
            histogram += part
        cumulative = np.cumsum(histogram)
        digit = int(np.searchsorted(cumulative, rank, side="right"))
        rank -= int(cumulative[digit - 1]) if digit else 0
        count = int(histogram[digit])
        hi, lo = prefix
        if consumed < _WORD:
            hi |= digit << (_WORD - DIGIT_BITS - consumed)
        else:
            lo |= digit << (2 * _WORD - DIGIT_BITS - consumed)
        prefix, consumed = (hi, lo), consumed + DIGIT_BITS
    gathered = engine.imap(
        rank_shard, shards, shared=(tie_seed, consumed, prefix, True),
        label="selection: boundary rows",
    )  # fmt: skip
    found = [part for _, part in gathered]
    keys = np.concatenate(found, axis=1)
    order = np.lexsort((keys[2], keys[1], keys[0]))
    hi, lo, row = keys[:, order[rank]]
    return int(hi), int(lo), int(row)


def at_or_above(
    hi: np.ndarray, lo: np.ndarray, rows: np.ndarray, boundary: tuple[int, int, int]
) -> np.ndarray:
    """True where a row's key is at or above ``boundary`` in the order."""
    b_hi, b_lo, b_row = np.uint64(boundary[0]), np.uint64(boundary[1]), boundary[2]
    return (hi > b_hi) | ((hi == b_hi) & ((lo > b_lo) | ((lo == b_lo) & (rows >= b_row))))
