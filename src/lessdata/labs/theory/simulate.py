"""Simulate data pruning in the teacher–student perceptron, and average the results.

Why this exists: it is the experiment half of the Sorscher et al. 2022 lab (the replica theory
it is checked against lives in :mod:`lessdata.labs.theory.replica`). It draws the data, prunes
them by margin, trains the max-margin student and turns one row per simulation into the means
the figure and the summary show.

The model
---------
* A teacher ``T`` (a random unit vector in ``R^N``) labels Gaussian inputs ``x ~ N(0, I_N)``
  with ``y = sign(T·x)``. The pool has ``P = alpha_tot·N`` examples.
* A *probe* ``J_probe`` at angle ``theta`` to the teacher scores every example by its margin
  ``|J_probe·x|`` (``theta = 0``: the probe is the teacher, a perfect pruning metric).
* A policy keeps a fraction ``f`` of the pool: ``hard`` keeps the ``round(f·P)`` smallest
  margins (closest to the probe's boundary), ``easy`` the largest, ``random`` a uniform subset.
  The student trains on ``alpha_prune·N = f·alpha_tot·N`` examples.
* The student is the **max-margin (hard-margin SVM) perceptron without bias**. The kept data
  are always linearly separable (the teacher separates them), so this is well defined. It is
  computed exactly: the max-margin problem ``min |w|² s.t. y_i w·x_i ≥ 1`` is a least-distance
  program, solved by Lawson–Hanson non-negative least squares (:func:`scipy.optimize.nnls`) on
  a growing working set of the most violated examples (:func:`max_margin`).
* Test error is exact for Gaussian inputs: ``angle(J, T) / pi``. No test set is needed.

Sampling shortcut (exact, not an approximation): pruning only looks at the probe field
``z = J_probe·x``, and ``z`` is independent of the part of ``x`` orthogonal to the probe. So
the pool's ``P`` probe fields are drawn first (``P`` scalars), the kept ones are chosen, and only
the kept examples get their other ``N - 1`` coordinates. Pools of ``alpha_tot`` in the
thousands then cost no more than the kept examples.

This module also holds what the other modules of the lab share at the bottom: running tasks
in worker processes with one BLAS thread each (:func:`run_tasks`, :func:`single_blas_thread`)
and the statistics over seeds of simulation rows (:func:`mean_table`, :func:`frontier`,
:func:`fit_power_law`).
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from lessdata.checks import check_choice, check_float, check_int
from lessdata.errors import LessdataError
from lessdata.progress import track
from lessdata.workers import exit_with_parent

POLICIES = ("hard", "easy", "random")
"""Pruning policies: keep the smallest probe margins, the largest, or a uniform subset."""

ROW_FIELDS = (
    "n_dim",
    "alpha_tot",
    "fraction",
    "alpha_prune",
    "policy",
    "theta",
    "theta_deg",
    "seed",
    "n_total",
    "n_kept",
    "error",
)
"""The fields of a simulation row (:func:`sweep`), in the order of the CSV columns."""

_ALPHA_HINT = "it counts examples per dimension"
_FRACTION_HINT = "the share of the pool kept, e.g. 0.3 keeps 30%"
_THETA_HINT = "the probe angle in radians, e.g. math.radians(10) for 10 degrees"


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def probe_at_angle(teacher: np.ndarray, theta: float, rng: np.random.Generator) -> np.ndarray:
    """Return a random unit vector at angle ``theta`` (radians) to ``teacher``.

    The probe is ``cos(theta)·T + sin(theta)·u`` with ``T`` the normalised teacher and ``u`` a
    uniformly random unit vector orthogonal to it, drawn from ``rng``. It plays the part of an
    imperfect pruning metric: ``theta = 0`` is the teacher itself.
    """
    teacher = np.asarray(teacher, dtype=float)
    if teacher.ndim != 1 or teacher.size < 2 or not np.all(np.isfinite(teacher)):
        raise LessdataError(
            "teacher must be a finite 1-d vector with at least 2 entries", param="teacher"
        )
    norm = float(np.linalg.norm(teacher))
    if norm == 0.0:
        raise LessdataError("teacher must not be the zero vector", param="teacher")
    theta = check_float(theta, "theta", low=0.0, high=math.pi, hint="an angle in radians")
    t_hat = teacher / norm
    u = rng.standard_normal(t_hat.size)
    u -= (u @ t_hat) * t_hat
    u = _unit(u)
    return _unit(math.cos(theta) * t_hat + math.sin(theta) * u)


@dataclass(frozen=True)
class PrunedSample:
    """One pruned training set: the kept examples and where they came from."""

    x: np.ndarray  # (n_kept, n_dim) kept inputs
    y: np.ndarray  # (n_kept,) teacher labels, +1/-1
    teacher: np.ndarray  # unit teacher T
    probe: np.ndarray  # unit probe J_probe used to rank the pool
    n_total: int  # pool size P = round(alpha_tot * n_dim)
    kept: np.ndarray  # indices of the kept examples in the pool (pool order)
    pool_margins: np.ndarray  # |J_probe·x| of every pool example (what the policy ranked)


def sample_pruned(
    n_dim: int,
    alpha_tot: float,
    fraction: float,
    policy: str,
    theta: float = 0.0,
    seed: int = 0,
) -> PrunedSample:
    """Draw a pool of ``round(alpha_tot·n_dim)`` Gaussian examples and prune it.

    Keeps exactly ``max(1, round(fraction·P))`` examples by ``policy`` (see :data:`POLICIES`),
    ranking by the probe margin ``|J_probe·x|`` of a probe at angle ``theta`` (radians). The
    probe fields of the whole pool are drawn first and only kept examples get their remaining
    coordinates, which is exact (module docstring). The seed fixes the teacher, the probe
    direction and a pool that grows by appending, so policies, fractions and angles compared
    at one seed share their data (common random numbers).
    """
    n_dim = check_int(n_dim, "n_dim", low=2)
    alpha_tot = check_float(alpha_tot, "alpha_tot", low=0.0, closed="neither", hint=_ALPHA_HINT)
    fraction = check_float(
        fraction, "fraction", low=0.0, high=1.0, closed="right", hint=_FRACTION_HINT
    )
    policy = check_choice(policy, "policy", POLICIES)
    theta = check_float(theta, "theta", low=0.0, high=math.pi / 2, hint=_THETA_HINT)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(5)]
    teacher_rng, probe_rng, field_rng, select_rng, rest_rng = streams
    teacher = _unit(teacher_rng.standard_normal(n_dim))
    probe = probe_at_angle(teacher, theta, probe_rng)
    n_total = max(1, round(alpha_tot * n_dim))
    n_keep = max(1, round(fraction * n_total))
    z = field_rng.standard_normal(n_total)  # probe field J_probe·x of every pool example
    if policy == "random":
        kept = np.sort(select_rng.choice(n_total, size=n_keep, replace=False))
    else:
        margin = np.abs(z)
        if n_keep == n_total:
            kept = np.arange(n_total)
        elif policy == "hard":
            kept = np.sort(np.argpartition(margin, n_keep - 1)[:n_keep])
        else:
            kept = np.sort(np.argpartition(-margin, n_keep - 1)[:n_keep])
    g = rest_rng.standard_normal((n_keep, n_dim))
    x = g + (z[kept] - g @ probe)[:, None] * probe[None, :]
    y = np.where(x @ teacher >= 0.0, 1.0, -1.0)
    return PrunedSample(
        x=x, y=y, teacher=teacher, probe=probe, n_total=n_total, kept=kept, pool_margins=np.abs(z)
    )


def _least_distance(a: np.ndarray) -> np.ndarray:
    """Solve ``min |w|² s.t. a_i·w >= 1`` exactly (Lawson & Hanson's LDP via NNLS)."""
    from scipy.optimize import nnls

    n_rows, n_dim = a.shape
    e = np.vstack([a.T, np.ones((1, n_rows))])
    target = np.zeros(n_dim + 1)
    target[-1] = 1.0
    u, _ = nnls(e, target, maxiter=max(50 * n_rows, 1000))
    residual = e @ u - target
    if abs(residual[-1]) < 1e-12:
        raise LessdataError("the kept examples are not linearly separable through the origin")
    return -residual[:n_dim] / residual[-1]


def max_margin(x: np.ndarray, y: np.ndarray, *, tol: float = 1e-9) -> np.ndarray:
    """Return the hard-margin SVM weights (no bias): ``argmin |w|² s.t. y_i w·x_i >= 1``.

    This is the max-margin perceptron: ``w/|w|`` maximises the smallest ``y_i J·x_i``. It is
    solved exactly as a least-distance program by non-negative least squares on a working set
    that starts with the ``2N`` examples of smallest Hebbian margin and grows by the most
    violated constraints until none is violated by more than ``tol`` (at most ``N`` support
    vectors, so this is much faster than solving on all examples at once).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise LessdataError("max_margin needs x of shape (n, d) and y of shape (n,), n >= 1")
    a = x * y[:, None]
    n_rows, n_dim = a.shape
    if n_rows <= 2 * n_dim:
        return _least_distance(a)
    order = np.argsort(a @ a.sum(axis=0))
    in_set = np.zeros(n_rows, dtype=bool)
    in_set[order[: 2 * n_dim]] = True
    while True:
        w = _least_distance(a[in_set])
        margins = a @ w
        violated = np.flatnonzero((margins < 1.0 - tol) & ~in_set)
        if violated.size == 0:
            return w
        worst = violated[np.argsort(margins[violated])[:n_dim]]
        in_set[worst] = True


def test_error(student: np.ndarray, teacher: np.ndarray) -> float:
    """Generalisation error of ``student`` for Gaussian inputs: ``angle(J, T) / pi``."""
    cosine = float(student @ teacher / (np.linalg.norm(student) * np.linalg.norm(teacher)))
    return math.acos(min(1.0, max(-1.0, cosine))) / math.pi


test_error.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def simulate(
    n_dim: int,
    alpha_tot: float,
    fraction: float,
    policy: str,
    theta: float = 0.0,
    seed: int = 0,
) -> float:
    """Test error of the max-margin student trained on one pruned pool.

    ``n_dim`` is N, ``alpha_tot`` the pool size per dimension, ``fraction`` the share kept by
    ``policy`` ("hard" | "easy" | "random") ranking by a probe at angle ``theta`` radians.
    Returns ``angle(J, T)/pi``. Bad inputs raise :class:`LessdataError`.
    """
    sample = sample_pruned(n_dim, alpha_tot, fraction, policy, theta, seed)
    with single_blas_thread():
        return test_error(max_margin(sample.x, sample.y), sample.teacher)


def simulate_seeds(
    n_dim: int, alpha_tot: float, fraction: float, policy: str, theta: float, seeds: list[int]
) -> list[dict[str, Any]]:
    """Worker task: one configuration over several seeds, as result rows."""
    rows = []
    for seed in seeds:
        sample = sample_pruned(n_dim, alpha_tot, fraction, policy, theta, seed)
        error = test_error(max_margin(sample.x, sample.y), sample.teacher)
        rows.append(
            {
                "n_dim": n_dim,
                "alpha_tot": alpha_tot,
                "fraction": fraction,
                "alpha_prune": grid_key(alpha_tot * fraction),
                "policy": policy,
                "theta": theta,
                "theta_deg": round(math.degrees(theta), 6),
                "seed": seed,
                "n_total": sample.n_total,
                "n_kept": int(sample.y.size),
                "error": error,
            }
        )
    return rows


# --- running tasks: worker processes, one BLAS thread each ---------------------------------


def _one_thread() -> None:
    """Worker initialiser: one BLAS thread per process, so workers do not oversubscribe, and
    an exit when the parent dies, so a killed run leaves no workers behind."""
    exit_with_parent()
    _load_blas_users()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run numpy/scipy with one BLAS thread: these small problems only pay for thread wake-ups
    (L-BFGS-B's tiny BLAS calls get ~10x slower with two OpenBLAS threads)."""
    _load_blas_users()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(1):
        yield


def _load_blas_users() -> None:
    """Import the scipy modules that load their own BLAS before limiting threads: a limit
    only reaches the libraries already loaded."""
    import scipy.optimize
    import scipy.special  # noqa: F401


def run_tasks(function: Any, tasks: list[tuple], workers: int, description: str) -> list[Any]:
    """Run ``function(*task)`` for every task, in ``workers`` processes, with a progress bar."""
    if workers <= 1 or len(tasks) <= 1:
        with single_blas_thread():
            return [function(*task) for task in track(tasks, len(tasks), description)]
    import multiprocessing

    results: list[Any] = [None] * len(tasks)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
        futures = {pool.submit(function, *task): i for i, task in enumerate(tasks)}
        for future in track(as_completed(futures), len(futures), description):
            results[futures[future]] = future.result()
    return results


def _as_list(values: float | Iterable[float]) -> list[float]:
    if isinstance(values, (int, float, np.floating, np.integer)):
        return [float(values)]
    return [float(v) for v in values]


def sweep(
    n_dim: int,
    alpha_tots: Sequence[float],
    fractions: Sequence[float],
    policies: Sequence[str],
    theta: float | Sequence[float] = 0.0,
    seeds: int | Sequence[int] = 3,
    *,
    alpha_prune_range: tuple[float, float] | None = None,
    workers: int = 1,
) -> list[dict[str, Any]]:
    """Simulate every (alpha_tot, fraction, policy, theta, seed) and return one row each.

    ``theta`` is one angle or several (radians); ``seeds`` a count (seeds 0..n-1) or explicit
    seeds. ``alpha_prune_range=(lo, hi)`` skips grid points whose ``alpha_tot·fraction`` falls
    outside it (with geometric grids this leaves a lattice in (alpha_prune, fraction)).
    ``workers > 1`` runs configurations in that many processes. Rows hold ``n_dim, alpha_tot,
    fraction, alpha_prune, policy, theta`` (radians), ``theta_deg, seed, n_total, n_kept,
    error`` and are sorted by (policy, theta, alpha_tot, fraction, seed).
    """
    n_dim = check_int(n_dim, "n_dim", low=2)
    alphas = [
        check_float(a, "alpha_tots", low=0.0, closed="neither", hint=_ALPHA_HINT)
        for a in alpha_tots
    ]
    fracs = [
        check_float(f, "fractions", low=0.0, high=1.0, closed="right", hint=_FRACTION_HINT)
        for f in fractions
    ]
    pols = [
        check_choice(p, "policies", POLICIES)
        for p in ([policies] if isinstance(policies, str) else policies)
    ]
    thetas = [
        check_float(t, "theta", low=0.0, high=math.pi / 2, hint=_THETA_HINT)
        for t in _as_list(theta)
    ]
    seed_list = list(range(int(seeds))) if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not (alphas and fracs and pols and thetas and seed_list):
        raise LessdataError("sweep needs at least one alpha_tot, fraction, policy, theta and seed")
    tasks = []
    for policy in pols:
        for th in thetas if policy != "random" else thetas[:1]:
            for alpha in alphas:
                for frac in fracs:
                    ap = alpha * frac
                    if alpha_prune_range is not None and not (
                        alpha_prune_range[0] * (1 - 1e-9) <= ap <= alpha_prune_range[1] * (1 + 1e-9)
                    ):
                        continue
                    tasks.append((n_dim, alpha, frac, policy, th, seed_list))
    tasks.sort(key=lambda task: -task[1] * task[2])  # biggest training sets first
    chunks = run_tasks(simulate_seeds, tasks, workers, "perceptron simulations")
    rows = [row for chunk in chunks for row in chunk]
    rows.sort(key=lambda r: (r["policy"], r["theta"], r["alpha_tot"], r["fraction"], r["seed"]))
    return rows


# --- statistics of simulation rows over seeds ---------------------------------------------


def grid_key(value: float) -> float:
    """A grid value rounded for display and for building grids (6 significant digits)."""
    return float(f"{value:.6g}")


def same_point(a: float, b: float) -> bool:
    """Two grid values are the same point: within 0.01% (grid values are rounded to 6 digits,
    so a pool size times a fraction misses the lattice value by up to ~1e-5)."""
    return abs(a - b) <= 1e-4 * max(abs(a), abs(b)) or a == b


def canonical(values: Iterable[float]) -> dict[float, float]:
    """Map every value to one representative per cluster of :func:`same_point` values."""
    mapping: dict[float, float] = {}
    representative: float | None = None
    for value in sorted(set(values)):
        if representative is None or not same_point(value, representative):
            representative = value
        mapping[value] = representative
    return mapping


def mean_table(rows: Iterable[dict[str, Any]], *keys: str) -> dict[tuple, tuple[float, float, int]]:
    """(mean, standard error, count) of ``error`` grouped by ``keys`` (floats clustered)."""
    rows = list(rows)
    maps = {
        k: canonical(float(r[k]) for r in rows)
        for k in keys
        if rows and isinstance(rows[0][k], (float, int)) and not isinstance(rows[0][k], bool)
    }
    groups: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        group = tuple(maps[k][float(row[k])] if k in maps else row[k] for k in keys)
        groups[group].append(float(row["error"]))
    table = {}
    for group, values in groups.items():
        arr = np.asarray(values)
        sem = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else 0.0
        table[group] = (float(arr.mean()), sem, int(arr.size))
    return table


def fit_power_law(alphas: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``error = c · alpha^(-nu)`` in log-log; returns ``(c, nu)``."""
    x = np.log(np.asarray(alphas, dtype=float))
    y = np.log(np.asarray(errors, dtype=float))
    if x.size < 2:
        raise LessdataError("a power-law fit needs at least two points")
    slope, intercept = np.polyfit(x, y, 1)
    return float(math.exp(intercept)), float(-slope)


def random_curve(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random pruning pooled by alpha_prune (its error depends on alpha_prune only)."""
    table = mean_table([r for r in rows if r["policy"] == "random"], "alpha_prune")
    keys = sorted(table)
    return (
        np.array([k[0] for k in keys]),
        np.array([table[k][0] for k in keys]),
        np.array([table[k][1] for k in keys]),
    )


def frontier(
    rows: list[dict[str, Any]], theta: float = 0.0, policy: str = "hard"
) -> list[dict[str, float]]:
    """The Pareto frontier: for each alpha_prune, the fraction with the lowest mean error.

    Returns ``[{alpha_prune, fraction, alpha_tot, error, sem}, ...]`` sorted by alpha_prune,
    over the rows of ``policy`` at probe angle ``theta`` (radians). It is a minimum over noisy
    means, so slightly optimistic where several fractions are close.
    """
    table = mean_table(
        [r for r in rows if r["policy"] == policy and same_point(float(r["theta"]), theta)],
        "alpha_prune",
        "fraction",
    )
    best: dict[float, tuple[float, float, float]] = {}
    for (alpha_prune, fraction), (mean, sem, _) in table.items():
        if alpha_prune not in best or mean < best[alpha_prune][0]:
            best[alpha_prune] = (mean, sem, fraction)
    return [
        {
            "alpha_prune": a,
            "fraction": best[a][2],
            "alpha_tot": grid_key(a / best[a][2]),
            "error": best[a][0],
            "sem": best[a][1],
        }
        for a in sorted(best)
    ]
