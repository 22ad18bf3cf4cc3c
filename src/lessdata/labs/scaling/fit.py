"""Scaling-curve arithmetic: power-law fits, examples to reach an error, data saved, Pareto.

A learning curve on held-out data is commonly modelled as ``err(n) = a·n^(−b) + c``: the
error falls as a power of the number of training examples ``n`` towards an irreducible
floor ``c ≥ 0``. Sorscher et al. 2022 (arXiv 2206.14486) show that a good pruning metric can
make the curve of the *kept* examples steeper than random's power law; the exponent ``b``
and the examples needed to reach a target error are how this lab measures it.

Functions:
    :func:`fit_power_law`       least squares in log space, with a bootstrap interval on b.
    :func:`examples_to_reach`   invert a fit, or interpolate a measured curve on log n.
    :func:`data_saved_vs_random` examples a policy needs for a target error vs random's.
    :func:`pareto_frontier`     the (examples, error) points no other point beats on both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lessdata.errors import LessdataError

#: errors are clipped to this floor before taking logs (a perfect score has error 0)
ERROR_FLOOR = 1e-6
#: grid of floor values tried (as fractions of the smallest error) to initialise a fit
_C_GRID = np.concatenate([[0.0], np.linspace(0.05, 0.95, 19)])


@dataclass(frozen=True)
class PowerLawFit:
    """``err(n) = a·n^(−b) + c`` fitted to measured points.

    Attributes:
        a, b, c: the fitted scale, exponent and floor (``c ≥ 0``).
        b_low, b_high: the bootstrap interval of ``b`` at ``confidence`` (NaN when the
            bootstrap had too few distinct sizes to refit).
        confidence: the interval's coverage (0.95).
        n_points: measured points used (every seed's point counts).
        rmse_log: root-mean-square residual of ``log err``.
    """

    a: float
    b: float
    c: float
    b_low: float
    b_high: float
    confidence: float
    n_points: int
    rmse_log: float

    def predict(self, n: Any) -> np.ndarray:
        """The fitted error at ``n`` examples."""
        return self.a * np.asarray(n, dtype=np.float64) ** (-self.b) + self.c

    def examples_for(self, target: float) -> float:
        """Examples the fit needs to reach ``target`` error (``inf`` at or below the floor)."""
        if target <= self.c or self.b <= 0:
            return math.inf
        return float((self.a / (target - self.c)) ** (1.0 / self.b))


@dataclass(frozen=True)
class Curve:
    """A measured curve: error (mean over seeds) at each distinct number of examples."""

    n: np.ndarray
    err: np.ndarray

    @classmethod
    def from_points(cls, n: Any, err: Any) -> Curve:
        """Average repeated sizes (one point per seed) into one mean error per size."""
        n_arr = np.asarray(n, dtype=np.float64).reshape(-1)
        e_arr = np.asarray(err, dtype=np.float64).reshape(-1)
        if n_arr.shape != e_arr.shape:
            raise LessdataError(f"{len(n_arr)} sizes but {len(e_arr)} errors")
        ok = np.isfinite(n_arr) & np.isfinite(e_arr)
        n_arr, e_arr = n_arr[ok], e_arr[ok]
        if len(n_arr) == 0:
            raise LessdataError("a curve needs at least one finite (examples, error) point")
        if (n_arr <= 0).any():
            raise LessdataError("numbers of examples must be positive")
        sizes, inverse = np.unique(n_arr, return_inverse=True)
        means = np.bincount(inverse, weights=e_arr) / np.bincount(inverse)
        return cls(n=sizes, err=means)


CurveLike = Curve | tuple[Any, Any]


def _as_curve(curve: CurveLike) -> Curve:
    if isinstance(curve, Curve):
        return curve
    n, err = curve
    return Curve.from_points(n, err)


# --- fitting ---------------------------------------------------------------------------


def _design(n: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    n0 = float(np.exp(np.mean(np.log(n))))  # fit in n / n0 for conditioning
    return np.log(n / n0), np.log(np.maximum(err, ERROR_FLOOR)), n0


def _residuals(params: np.ndarray, logx: np.ndarray, logerr: np.ndarray) -> np.ndarray:
    log_a, b, c = params
    return np.log(np.exp(log_a - b * logx) + c) - logerr


def _initial(logx: np.ndarray, logerr: np.ndarray, c_max: float) -> np.ndarray:
    """The best of a grid of floors, each with the exact log-linear fit of ``err - c``."""
    err = np.exp(logerr)
    best, best_cost = None, math.inf
    for share in _C_GRID:
        c = share * c_max
        y = np.log(np.maximum(err - c, ERROR_FLOOR * 1e-3))
        slope, intercept = np.polyfit(logx, y, 1) if np.ptp(logx) > 0 else (0.0, y.mean())
        params = np.array([intercept, min(max(-slope, 0.0), 10.0), c])
        cost = float(np.sum(_residuals(params, logx, logerr) ** 2))
        if cost < best_cost:
            best, best_cost = params, cost
    assert best is not None
    return best


def _fit_once(
    logx: np.ndarray, logerr: np.ndarray, start: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    from scipy.optimize import least_squares

    c_max = max(float(np.exp(logerr).min()), 2 * ERROR_FLOOR)
    x0 = _initial(logx, logerr, c_max) if start is None else start.copy()
    lower = np.array([-50.0, 0.0, 0.0])
    upper = np.array([50.0, 10.0, c_max])
    x0 = np.clip(x0, lower + 1e-12, upper - 1e-12)
    result = least_squares(_residuals, x0, bounds=(lower, upper), args=(logx, logerr))
    cost = float(np.sqrt(np.mean(result.fun**2)))
    return result.x, cost


def fit_power_law(
    n: Any,
    err: Any,
    *,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> PowerLawFit:
    """Fit ``err = a·n^(−b) + c`` (``c ≥ 0``) by least squares on ``log err``.

    Pass every measured point, one per seed and size: the bootstrap resamples them.
    The fit starts from the best of a grid of floors ``c`` (each with the exact log-linear
    fit of ``err − c``) and refines ``(log a, b, c)`` with bounds ``0 ≤ b ≤ 10`` and
    ``0 ≤ c ≤ min(err)``. The interval on ``b`` is the percentile interval of ``n_boot``
    refits on points resampled with replacement (seeded by ``seed``).

    Raises:
        LessdataError: fewer than three distinct sizes (a three-parameter curve needs three).

    Example:
        >>> n = np.array([100, 200, 400, 800, 1600, 3200])
        >>> fit = fit_power_law(n, 2 * n**-0.5 + 0.01)
        >>> round(fit.b, 3), round(fit.c, 3)
        (0.5, 0.01)
    """
    if not 0 < confidence < 1:
        raise LessdataError(f"confidence must lie in (0, 1), got {confidence}")
    n_arr = np.asarray(n, dtype=np.float64).reshape(-1)
    e_arr = np.asarray(err, dtype=np.float64).reshape(-1)
    if n_arr.shape != e_arr.shape:
        raise LessdataError(f"{len(n_arr)} sizes but {len(e_arr)} errors")
    ok = np.isfinite(n_arr) & np.isfinite(e_arr) & (n_arr > 0)
    n_arr, e_arr = n_arr[ok], e_arr[ok]
    if len(np.unique(n_arr)) < 3:
        raise LessdataError(
            "fitting a power law needs errors at three or more distinct sizes; sweep more fractions"
        )
    logx, logerr, n0 = _design(n_arr, e_arr)
    params, rmse = _fit_once(logx, logerr)
    rng = np.random.default_rng(seed)
    boots = []
    m = len(n_arr)
    for _ in range(n_boot):
        idx = rng.integers(0, m, m)
        if len(np.unique(n_arr[idx])) < 3:
            continue
        boot, _ = _fit_once(logx[idx], logerr[idx], start=params)
        boots.append(boot[1])
    tail = (1 - confidence) / 2 * 100
    if len(boots) >= 10:
        b_low, b_high = (float(v) for v in np.percentile(boots, [tail, 100 - tail]))
    else:
        b_low = b_high = math.nan
    log_a, b, c = (float(v) for v in params)
    return PowerLawFit(
        a=float(math.exp(log_a) * n0**b),
        b=b,
        c=c,
        b_low=b_low,
        b_high=b_high,
        confidence=confidence,
        n_points=m,
        rmse_log=rmse,
    )


# --- reading curves --------------------------------------------------------------------


def examples_to_reach(fit_or_curve: PowerLawFit | CurveLike, target_error: float) -> float:
    """Examples needed to bring the error down to ``target_error``.

    For a :class:`PowerLawFit` the fit is inverted (``inf`` when the target lies at or below
    its floor). For a measured curve (a :class:`Curve` or ``(n, err)`` arrays, repeated sizes
    averaged) the first crossing is interpolated linearly in ``(log n, log err)``, exact for
    a pure power law; a curve already at the target at its smallest size returns that size
    (an upper bound), one that never reaches it returns ``inf`` (no extrapolation).

    Example:
        >>> examples_to_reach(([100, 400, 1600], [0.2, 0.1, 0.05]), 0.1)
        400.0
    """
    if isinstance(fit_or_curve, PowerLawFit):
        return fit_or_curve.examples_for(target_error)
    curve = _as_curve(fit_or_curve)
    n, err = curve.n, curve.err
    hit = np.flatnonzero(err <= target_error)
    if len(hit) == 0:
        return math.inf
    i = int(hit[0])
    if i == 0:
        return float(n[0])
    lo_n, hi_n = math.log(n[i - 1]), math.log(n[i])
    lo_e = math.log(max(err[i - 1], ERROR_FLOOR))
    hi_e = math.log(max(err[i], ERROR_FLOOR))
    tgt = math.log(max(target_error, ERROR_FLOOR))
    t = 1.0 if hi_e == lo_e else (tgt - lo_e) / (hi_e - lo_e)
    if t >= 1.0:
        return float(n[i])
    return float(math.exp(lo_n + max(t, 0.0) * (hi_n - lo_n)))


@dataclass(frozen=True)
class Saving:
    """How much data a policy saves against the baseline at a target error.

    ``saved`` = 1 − examples / baseline_examples: 0.4 means the policy reaches the target
    with 40% fewer examples than random; negative means it needs more; NaN when either
    curve never reaches the target.
    """

    target: float
    examples: float
    baseline_examples: float
    saved: float


def data_saved_vs_random(
    curves: Mapping[str, CurveLike],
    target: float | None = None,
    *,
    baseline: str = "random",
) -> dict[str, Saving]:
    """For each curve, the examples it needs to reach ``target`` against the baseline's.

    Args:
        curves: measured curves by name (policy), the baseline among them.
        target: the error to reach; default the baseline's error at its largest size (the
            full-data error when the curves end with the full-data run).
        baseline: the name of the reference curve (random selection).

    Example:
        >>> n = np.array([100, 200, 400, 800])
        >>> out = data_saved_vs_random({"random": (n, n**-0.5), "hard": (n, (2 * n) ** -0.5)})
        >>> round(out["hard"].saved, 3)
        0.5
    """
    if baseline not in curves:
        raise LessdataError(f"no {baseline!r} curve to compare against; sweep the random policy")
    parsed = {name: _as_curve(c) for name, c in curves.items()}
    base = parsed[baseline]
    goal = float(base.err[-1]) if target is None else float(target)
    base_n = examples_to_reach(base, goal)
    out = {}
    for name, curve in parsed.items():
        need = examples_to_reach(curve, goal)
        if math.isfinite(need) and math.isfinite(base_n) and base_n > 0:
            saved = 1.0 - need / base_n
        else:
            saved = math.nan
        out[name] = Saving(target=goal, examples=need, baseline_examples=base_n, saved=saved)
    return out


def pareto_frontier(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points that no other point beats on both examples and error.

    ``points`` are ``(examples, error, ...)`` (extra items are ignored). A point is on the
    frontier when no other point has fewer-or-equal examples *and* lower-or-equal error
    with at least one strictly lower; of exact duplicates the first is kept. The indices
    come in order of increasing examples (and so of decreasing error).

    Example:
        >>> pareto_frontier([(100, 0.3), (200, 0.35), (200, 0.2), (400, 0.2), (800, 0.1)])
        [0, 2, 4]
    """
    pts = [(float(p[0]), float(p[1]), i) for i, p in enumerate(points)]
    pts = [p for p in pts if math.isfinite(p[0]) and math.isfinite(p[1])]
    pts.sort(key=lambda p: (p[0], p[1], p[2]))
    frontier = []
    best = math.inf
    for _, error, i in pts:
        if error < best:
            frontier.append(i)
            best = error
    return frontier
