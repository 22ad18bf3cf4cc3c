"""Means over seeds with a 95% Student-t interval: the ICL lab's one summary of repeated runs.

Every ICL number that is repeated over seeds (each seed's value is its own mean over the
evaluation prompts) is summarised by :func:`seed_stat`; with one seed there is no interval,
and the text says so instead of inventing one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SeedStat:
    """Mean over seeds with a 95% Student-t interval (nan bounds with one seed)."""

    mean: float
    low: float
    high: float
    n: int

    def text(self, digits: int = 3) -> str:
        """``0.123 [0.100, 0.146]``, or ``0.123 (1 seed)`` without an interval."""
        if self.n < 2 or not math.isfinite(self.low):
            return f"{self.mean:.{digits}f} (1 seed)"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def seed_stat(values: list[float] | np.ndarray) -> SeedStat:
    """Mean and 95% t-interval of per-seed values (non-finite values dropped).

    Example:
        >>> seed_stat([1.0, 1.2, 1.1]).text(2)
        '1.10 [0.85, 1.35]'
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return SeedStat(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if len(v) < 2:
        return SeedStat(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return SeedStat(mean, mean - half, mean + half, len(v))
