"""Seeded tie keys: a random uint64 per row that a shard can compute for its own rows.

The policies of :mod:`lessdata.select` and SemDeDup's walk order break ties in their
orderings by these keys (then by row number), so an ordering of a subset of rows, computed
shard by shard, agrees with the ordering of all rows in memory.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def tie_keys(tie_seed: int, rows: np.ndarray) -> np.ndarray:
    """A seeded random uint64 per row (splitmix64 of ``tie_seed`` and the row number).

    Computed from the row number alone, so a shard of rows gets the same keys as the whole
    array would give it: the sharded selection (:mod:`lessdata.pipeline.rank_select`) and
    SemDeDup's sharded walk break ties exactly as the in-memory code does.

    Args:
        tie_seed: from :func:`tie_seed_of`.
        rows: row numbers (non-negative integers).
    """
    with np.errstate(over="ignore"):
        z = np.uint64(tie_seed) + (np.asarray(rows, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def tie_seed_of(rng: np.random.Generator) -> int:
    """The seed of one ordering's tie keys, drawn from ``rng`` (one draw)."""
    return int(rng.integers(2**63))
