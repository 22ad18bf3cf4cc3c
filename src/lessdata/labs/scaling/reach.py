"""Examples to reach a target error, read within the measured sizes, with a seed bootstrap.

The number of examples a policy needs to reach a target error is read off its **mean
curve** (mean error over seeds at each measured size): the first pair of measured sizes that
brackets the target is interpolated linearly in ``(log n, log error)``
(:func:`~lessdata.labs.scaling.fit.examples_to_reach`, exact for a pure power law). It is
never extrapolated: a target below every measured mean is **not reached**, and a curve
already at the target at its smallest size gives that size as an upper bound (**at the
smallest size**). A fitted power law is a separate, labelled description (its exponent is in
the report) and is not used here, so no number comes from beyond the data.

The interval resamples **seeds** with replacement (seed s of every curve together, since the
seeds pair the runs: the same seed trains every policy and the full-data run), recomputes
the mean curves, the target when it is the full-data error, and the crossing; the 95%
percentile interval of those crossings is reported, and its upper end is "not reached" when
more than 2.5% of the resamples never reach the target. The data saved against random,
``1 − examples / random's examples``, gets its interval from the same resamples. Seeded: the
same runs give the same intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lessdata.labs.scaling.fit import Curve, examples_to_reach

REACHED, SMALLEST, NOT_REACHED = "reached", "at the smallest size", "not reached"


@dataclass(frozen=True)
class Reach:
    """Examples one curve needs to reach ``target``, with a bootstrap interval over seeds.

    Attributes:
        target: the error to reach (NaN: no target).
        examples: the point estimate on the mean curve; ``inf`` when not reached.
        low, high: the 95% percentile interval over seed resamples (``high`` is ``inf`` when
            more than 2.5% of resamples do not reach the target; NaN with fewer than two
            seeds).
        status: :data:`REACHED`, :data:`SMALLEST` (an upper bound) or :data:`NOT_REACHED`.
        reached_share: the share of resamples that reach the target.
        saved, saved_low, saved_high: ``1 − examples / random's`` and its interval from the
            same resamples (NaN where either curve does not reach the target in more than
            2.5% of them).
        n_seeds: seeds resampled.
    """

    target: float
    examples: float
    low: float
    high: float
    status: str
    reached_share: float
    saved: float
    saved_low: float
    saved_high: float
    n_seeds: int


@dataclass
class SeedCurve:
    """A curve's error per seed (rows: the group's seeds, NaN where missing) at each size."""

    n: np.ndarray
    errors: np.ndarray

    def mean_curve(self, rows: np.ndarray | None = None) -> Curve | None:
        """The mean curve over ``rows`` (default every seed), sizes without any run dropped."""
        e = self.errors if rows is None else self.errors[rows]
        present = np.isfinite(e)
        counts = present.sum(axis=0)
        keep = counts > 0
        if not keep.any():
            return None
        means = np.where(present, e, 0.0).sum(axis=0)[keep] / counts[keep]
        return Curve(n=self.n[keep].astype(np.float64), err=means)


def _crossing(curve: Curve | None, target: float) -> float:
    if curve is None or not math.isfinite(target):
        return math.nan
    return examples_to_reach(curve, target)


def _status(curve: Curve | None, examples: float) -> str:
    if curve is None or not math.isfinite(examples):
        return NOT_REACHED
    return SMALLEST if examples <= float(curve.n[0]) else REACHED


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval that treats ``inf`` (not reached) as larger than any size."""
    tail = (1 - confidence) / 2
    finite = np.sort(values[~np.isnan(values)])
    if len(finite) == 0:
        return math.nan, math.nan
    low = float(np.quantile(finite, tail, method="inverted_cdf"))
    high = float(np.quantile(finite, 1 - tail, method="inverted_cdf"))
    return low, high


def bootstrap_reach(
    curves: Mapping[str, SeedCurve],
    *,
    target: float | None,
    full_by_seed: np.ndarray | None = None,
    baseline: str = "random",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Reach]:
    """Examples to ``target`` for every curve, with seed-bootstrap intervals.

    Args:
        curves: the group's curves by label, each a :class:`SeedCurve` over the same seed
            rows (row i is the same seed in every curve and in ``full_by_seed``).
        target: a fixed error to reach; None = the full-data error, recomputed in each
            resample as the mean of ``full_by_seed`` over the resampled seeds.
        full_by_seed: the full-data error per seed row (NaN where missing).
        baseline: the label of the reference curve for the data saved.
        n_boot: seed resamples (0: no intervals).
        confidence: the intervals' coverage.
        seed: the resampling seed (the result is deterministic).

    Example:
        >>> n = np.array([100, 200, 400])
        >>> errs = np.array([[0.3, 0.2, 0.1], [0.32, 0.22, 0.12], [0.28, 0.18, 0.08]])
        >>> out = bootstrap_reach({"random": SeedCurve(n, errs)}, target=0.2, n_boot=200)
        >>> round(out["random"].examples), out["random"].status
        (200, 'reached')
    """
    some = next(iter(curves.values()), None)
    n_rows = 0 if some is None else some.errors.shape[0]
    full = None if full_by_seed is None else np.asarray(full_by_seed, dtype=np.float64)

    def goal(rows: np.ndarray | None) -> float:
        if target is not None:
            return float(target)
        if full is None:
            return math.nan
        values = full if rows is None else full[rows]
        values = values[np.isfinite(values)]
        return float(values.mean()) if len(values) else math.nan

    point_goal = goal(None)
    points = {label: _crossing(c.mean_curve(), point_goal) for label, c in curves.items()}
    rng = np.random.default_rng(seed)
    boots = {label: np.empty(n_boot) for label in curves}
    resample = n_rows >= 2 and n_boot > 0
    if resample:
        for b in range(n_boot):
            rows = rng.integers(0, n_rows, n_rows)
            g = goal(rows)
            for label, c in curves.items():
                boots[label][b] = _crossing(c.mean_curve(rows), g)
    base_point = points.get(baseline, math.nan)
    out = {}
    for label, c in curves.items():
        examples = points[label]
        seeds = int(np.isfinite(c.errors).any(axis=1).sum())
        saved = _saved(examples, base_point)
        low = high = s_low = s_high = math.nan
        share = float(math.isfinite(examples))
        if resample and seeds >= 2:
            values = boots[label]
            share = float(np.isfinite(values).mean())
            low, high = _interval(values, confidence)
            if baseline in boots:
                pairs = zip(values, boots[baseline], strict=True)
                ratios = np.array([_saved(v, r) for v, r in pairs])
                if np.isfinite(ratios).mean() >= confidence + (1 - confidence) / 2:
                    s_low, s_high = _interval(ratios[np.isfinite(ratios)], confidence)
        out[label] = Reach(
            target=point_goal, examples=examples, low=low, high=high,
            status=_status(c.mean_curve(), examples), reached_share=share, saved=saved,
            saved_low=s_low, saved_high=s_high, n_seeds=seeds,
        )  # fmt: skip
    return out


def _saved(examples: float, baseline: float) -> float:
    if math.isfinite(examples) and math.isfinite(baseline) and baseline > 0:
        return 1.0 - examples / baseline
    return math.nan


def seed_curve(
    points: Sequence[tuple[int, Mapping[int, float]]], seeds: Sequence[int]
) -> SeedCurve:
    """A :class:`SeedCurve` from ``(n, {seed: error})`` pairs over the group's ``seeds``."""
    index = {s: i for i, s in enumerate(seeds)}
    errors = np.full((len(seeds), len(points)), math.nan)
    for j, (_, by_seed) in enumerate(points):
        for s, e in by_seed.items():
            errors[index[s], j] = e
    return SeedCurve(n=np.array([n for n, _ in points], dtype=np.float64), errors=errors)
