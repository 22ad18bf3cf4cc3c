"""Data pruning in the teacher–student perceptron (Sorscher et al. 2022, section 2).

Why this exists: "Beyond neural scaling laws: beating power law scaling via data pruning"
(Sorscher, Geirhos, Shekhar, Ganguli, Morcos; arXiv 2206.14486) shows in a model that can be
solved exactly that *which* examples you keep changes the shape of the learning curve, not
just its offset. This module reproduces that model by simulation and by theory, so the claims
behind ``lessdata prune --policy keep-hard/keep-easy`` can be checked in a couple of minutes.

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

The theory
----------
The replica-symmetric (equivalently, Gordon comparison) theory of the max-margin student is
implemented, not faked, in :func:`theory_error`. Write the student ``J`` (unit norm) through
its overlap ``R = J·T``, its overlap ``S`` with the in-plane direction ``T_perp`` (the probe is
``cos(theta) T + sin(theta) T_perp``) and the norm ``sigma = sqrt(1 - R² - S²)`` of the rest.
At the max-margin limit (replica overlap ``q -> 1``) a margin ``kappa`` is achievable with these
overlaps iff::

    F(R, S, kappa) = sigma² - alpha_prune · E[(kappa - y(R t + S s) - sigma v)_+²] >= 0

where ``t, s`` are the teacher and in-plane fields of a *kept* example (a 2-d Gaussian
conditioned on the probe field, ``y = sign(t)``) and ``v ~ N(0, 1)`` is independent. The
max-margin student maximises ``kappa`` over ``(R, S)``; its test error is ``arccos(R)/pi``. For
``theta = 0``, ``S = 0`` by symmetry. The ``v``-average is done in closed form, the kept-example
average by Gauss–Legendre quadrature (split at the teacher's boundary, restricted to where the
integrand is not negligible), the root in ``kappa`` by Newton's method (F is concave in kappa)
and the maximisation by L-BFGS-B with the exact gradient (implicit differentiation); kappa is
quasi-concave in the student's direction, so the maximum found is the global one. The theory
is the ``N -> inf`` limit; at ``N = 100`` simulations agree with it within a few per cent
except at the sharp transitions, which finite ``N`` rounds off. Random pruning is no pruning at
``alpha_prune``; its error tends to ``0.50/alpha_prune`` (the maximally stable perceptron).

What the figure of :func:`run` shows (the paper's claims), and what this model adds:

(a) random pruning follows a power law in ``alpha_prune``; keep-hard with the best ``f`` for
    each ``alpha_prune`` (the Pareto frontier over ``alpha_tot`` and ``f``) falls faster than
    any power law when the metric is perfect. For the max-margin student the drop is abrupt,
    at ``alpha_prune ≈ 2``: it needs only its support vectors, which keep-hard keeps, so above
    that its error is close to the error of training on the whole pool, and the frontier is
    limited only by the pool size (``f`` stops at the smallest fraction simulated);
(b) with little data (small ``alpha_tot``) keeping the *easy* examples is better, with a lot of
    data the *hard* ones; the crossover is where ``alpha_prune = f·alpha_tot ≈ 2``;
(c) with an imperfect probe (``theta > 0``) the frontier bends back to a power law: however
    large the pool, keep-hard's gain over random pruning saturates at about ``sin(theta)``
    times the random error (near the teacher's boundary, a thin slab around the probe's
    boundary is at most ``1/sin(theta)`` times denser in examples than the full pool);
(d) with an imperfect probe there is a minimum useful fraction ``f_min``: at a fixed training
    set size, keeping fewer examples than that makes keep-hard worse, sharply so.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from lessdata._progress import log, track
from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError

POLICIES = ("hard", "easy", "random")
"""Pruning policies: keep the smallest probe margins, the largest, or a uniform subset."""

PNG_NAME = "perceptron.png"
CSV_NAME = "perceptron_sim.csv"
THEORY_CSV_NAME = "perceptron_theory.csv"
JSON_NAME = "perceptron.json"
HTML_NAME = "perceptron.html"

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


# --- validation ----------------------------------------------------------------------------


def _check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise LessdataError(f"unknown pruning policy {policy!r}; use one of {', '.join(POLICIES)}")
    return policy


def _check_fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
        raise LessdataError(
            f"fraction kept must be in (0, 1], got {fraction!r}; e.g. 0.3 keeps 30% of the pool"
        )
    return fraction


def _check_alpha(alpha: float, name: str) -> float:
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0.0):
        raise LessdataError(
            f"{name} (examples per dimension) must be a positive number, got {alpha!r}"
        )
    return alpha


def _check_theta(theta: float) -> float:
    theta = float(theta)
    if not (math.isfinite(theta) and 0.0 <= theta <= math.pi / 2):
        raise LessdataError(
            f"probe angle theta must be in [0, pi/2] radians, got {theta!r}; "
            "use math.radians(10) for 10 degrees"
        )
    return theta


def _check_n_dim(n_dim: int) -> int:
    if isinstance(n_dim, bool) or int(n_dim) != n_dim or n_dim < 2:
        raise LessdataError(f"n_dim must be an integer >= 2, got {n_dim!r}")
    return int(n_dim)


# --- simulation ----------------------------------------------------------------------------


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
        raise LessdataError("teacher must be a finite 1-d vector with at least 2 entries")
    norm = float(np.linalg.norm(teacher))
    if norm == 0.0:
        raise LessdataError("teacher must not be the zero vector")
    theta = float(theta)
    if not (math.isfinite(theta) and 0.0 <= theta <= math.pi):
        raise LessdataError(f"theta must be an angle in [0, pi] radians, got {theta!r}")
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
    n_dim = _check_n_dim(n_dim)
    alpha_tot = _check_alpha(alpha_tot, "alpha_tot")
    fraction = _check_fraction(fraction)
    policy = _check_policy(policy)
    theta = _check_theta(theta)
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
    with _single_blas_thread():
        return test_error(max_margin(sample.x, sample.y), sample.teacher)


def _simulate_seeds(
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
                "alpha_prune": _key(alpha_tot * fraction),
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


def _one_thread() -> None:
    """Worker initialiser: one BLAS thread per process, so workers do not oversubscribe."""
    _load_blas_users()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass


@contextlib.contextmanager
def _single_blas_thread() -> Iterator[None]:
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


def _run_tasks(function: Any, tasks: list[tuple], workers: int, description: str) -> list[Any]:
    """Run ``function(*task)`` for every task, in ``workers`` processes, with a progress bar."""
    if workers <= 1 or len(tasks) <= 1:
        with _single_blas_thread():
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
    n_dim = _check_n_dim(n_dim)
    alphas = [_check_alpha(a, "alpha_tot") for a in alpha_tots]
    fracs = [_check_fraction(f) for f in fractions]
    pols = [_check_policy(p) for p in ([policies] if isinstance(policies, str) else policies)]
    thetas = [_check_theta(t) for t in _as_list(theta)]
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
    chunks = _run_tasks(_simulate_seeds, tasks, workers, "perceptron simulations")
    rows = [row for chunk in chunks for row in chunk]
    rows.sort(key=lambda r: (r["policy"], r["theta"], r["alpha_tot"], r["fraction"], r["seed"]))
    return rows


# --- theory --------------------------------------------------------------------------------

_TAIL = 9.0  # Gaussian mass beyond |z| = 9 is ~1e-19: the integration range
_CUT = 8.5  # (kappa - y h - sigma v)_+ is negligible where kappa - y h < -8.5 sigma
_NODES_Z = 32
_NODES_W = 24
_NODES_1D = 64


@dataclass(frozen=True)
class TheoryPoint:
    """The max-margin student predicted by the theory for one (alpha_prune, f, policy, theta)."""

    alpha_prune: float
    fraction: float
    policy: str
    theta: float
    error: float  # arccos(R) / pi
    kappa: float  # the max margin of the unit-norm student
    overlap: float  # R = J·T
    start: tuple[float, ...] = field(default=(), repr=False)  # solver state, for warm starts


class _Quadrature:
    """Averages over kept examples of functions of (y·t, y·s) for one policy, f and theta."""

    def __init__(self, policy: str, fraction: float, theta: float) -> None:
        from numpy.polynomial.legendre import leggauss
        from scipy.special import ndtr, ndtri

        self.theta = theta
        self.cos, self.sin = math.cos(theta), math.sin(theta)
        # The kept probe fields on the z > 0 half; (z, w, y) -> (-z, -w, -y) covers the rest.
        if policy == "random" or fraction >= 1.0:
            lo, hi, mass = 0.0, _TAIL, 0.5
        elif policy == "hard":
            lo, hi, mass = 0.0, float(ndtri(0.5 + 0.5 * fraction)), 0.5 * fraction
        else:
            lo, hi, mass = min(float(ndtri(1.0 - 0.5 * fraction)), _TAIL), _TAIL, 0.5 * fraction
        self.lo, self.hi, self.mass = lo, hi, mass
        self.x1, self.w1 = leggauss(_NODES_1D)
        if theta > 0.0:
            xz, wz = leggauss(_NODES_Z)
            self.z = lo + (hi - lo) * (xz + 1.0) / 2.0
            self.wz = wz * (hi - lo) / 2.0 * np.exp(-0.5 * self.z**2) / math.sqrt(2 * math.pi)
            self.wz /= mass
            self.w0 = np.clip(self.z * self.cos / self.sin, -_TAIL, _TAIL)  # teacher boundary
            self.xw, self.ww = leggauss(_NODES_W)
        self.ndtr = ndtr

    def nodes(
        self, kappa: float, r: float, s: float, sigma: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nodes (y·t, y·s, weight) covering where the integrand is not negligible.

        The integrand of F at any margin up to ``kappa`` vanishes (below 1e-17 relative)
        where the noiseless student field ``y h`` exceeds ``kappa + 8.5 sigma``; the nodes
        cover the rest, split at the teacher's boundary where ``y`` jumps.
        """
        reach = kappa + _CUT * sigma
        if self.theta == 0.0:
            hi = self.hi if r <= 0.0 else min(self.hi, max(reach / r, self.lo))
            z = self.lo + (hi - self.lo) * (self.x1 + 1.0) / 2.0
            weight = self.w1 * (hi - self.lo) / 2.0 * np.exp(-0.5 * z**2)
            weight /= math.sqrt(2 * math.pi) * self.mass
            return z, np.zeros_like(z), weight
        # Student field without noise: h = r t + s s' = a_z z + b_w w.
        a_z = r * self.cos + s * self.sin
        b_w = s * self.cos - r * self.sin
        z, w0 = self.z, self.w0
        # y = +1 (w < w0): relevant where h < reach; y = -1 (w > w0): where h > -reach.
        lo_p, hi_p = np.full_like(z, -_TAIL), w0.copy()
        lo_m, hi_m = w0.copy(), np.full_like(z, _TAIL)
        if b_w < 0.0:
            lo_p = np.maximum(lo_p, (reach - a_z * z) / b_w)
            hi_m = np.minimum(hi_m, (-reach - a_z * z) / b_w)
        elif b_w > 0.0:
            hi_p = np.minimum(hi_p, (reach - a_z * z) / b_w)
            lo_m = np.maximum(lo_m, (-reach - a_z * z) / b_w)
        else:
            hi_p = np.where(a_z * z > reach, lo_p, hi_p)
            lo_m = np.where(a_z * z < -reach, hi_m, lo_m)
        parts_t, parts_s, parts_w = [], [], []
        for lo, hi, y in ((lo_p, hi_p, 1.0), (lo_m, hi_m, -1.0)):
            width = np.maximum(hi - lo, 0.0)
            w = lo[:, None] + width[:, None] * (self.xw[None, :] + 1.0) / 2.0
            weight = (
                self.wz[:, None]
                * width[:, None]
                / 2.0
                * self.ww[None, :]
                * np.exp(-0.5 * w**2)
                / math.sqrt(2 * math.pi)
            )
            t = self.cos * z[:, None] - self.sin * w
            s_field = self.sin * z[:, None] + self.cos * w
            parts_t.append((y * t).ravel())
            parts_s.append((y * s_field).ravel())
            parts_w.append(weight.ravel())
        return np.concatenate(parts_t), np.concatenate(parts_s), np.concatenate(parts_w)

    def moments(
        self,
        kappa: float,
        r: float,
        s: float,
        sigma: float,
        alpha: float,
        grad: bool,
        nodes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> tuple[float, ...]:
        """F and, with ``grad``, its partial derivatives (F_kappa, F_R, F_S, F_sigma)."""
        yt, ys, weight = nodes if nodes is not None else self.nodes(kappa, r, s, sigma)
        a = kappa - r * yt - s * ys
        c = a / sigma
        cdf = self.ndtr(c)
        pdf = np.exp(-0.5 * c * c) / math.sqrt(2 * math.pi)
        g = (a * a + sigma * sigma) * cdf + a * sigma * pdf  # E_v[(a - sigma v)_+^2]
        f_value = sigma * sigma - alpha * float(g @ weight)
        if not grad:
            return (f_value,)
        ga = 2.0 * (a * cdf + sigma * pdf) * weight  # d g / d a, weighted
        f_kappa = -alpha * float(ga.sum())
        f_r = alpha * float(ga @ yt)
        f_s = alpha * float(ga @ ys)
        f_sigma = 2.0 * sigma - 2.0 * alpha * sigma * float(cdf @ weight)
        return f_value, f_kappa, f_r, f_s, f_sigma


def _overlaps(p: Sequence[float]) -> tuple[float, float, float, float, float]:
    """Solver variables -> (psi, chi, R, S, sigma).

    ``psi = exp(p[0])`` is the student–teacher angle (log scale: it spans 1e-9 to pi/2) and
    ``chi = (pi/2)·tanh(p[1])`` splits the rest between the in-plane direction (``S``) and the
    N - 2 others (``sigma``): the optimum can sit extremely close to ``sigma = 0``.
    """
    psi = math.exp(p[0])
    chi = 0.5 * math.pi * math.tanh(p[1]) if len(p) > 1 else 0.0
    sin_psi = math.sin(psi)
    return psi, chi, math.cos(psi), sin_psi * math.sin(chi), sin_psi * math.cos(chi)


def _max_kappa(
    quad: _Quadrature, r: float, s: float, sigma: float, alpha: float, guess: float
) -> tuple[float, tuple[float, ...]]:
    """The largest margin reachable with overlaps (r, s, sigma): the root of F in kappa.

    F is concave and strictly decreasing in kappa. The quadrature nodes are fixed for the
    solve (so F is smooth in kappa) and valid for every kappa up to ``top``; ``top`` is raised
    until F(top) <= 0, i.e. the root lies below it. Newton's method started at ``top`` then
    decreases monotonically to the root (a concave function's tangents lie above it).
    Returns the root and the partial derivatives of F there (for the gradient of kappa).
    """
    top = guess + max(0.25 * abs(guess), 0.5 * sigma, 1e-9)
    for _ in range(400):
        nodes = quad.nodes(top, r, s, sigma)
        moments = quad.moments(top, r, s, sigma, alpha, True, nodes)
        if moments[0] <= 0.0:
            break
        top += max(abs(top), sigma, 1e-6)
    kappa = top
    for _ in range(100):
        f_value, f_kappa = moments[0], moments[1]
        if f_kappa >= 0.0:  # pragma: no cover - cannot happen while F(kappa) <= 0
            break
        step = f_value / f_kappa
        kappa -= step
        moments = quad.moments(kappa, r, s, sigma, alpha, True, nodes)
        if abs(step) <= 1e-12 * max(abs(kappa), 1e-6):
            break
    return kappa, moments


def _initial_state(alpha: float, two_d: bool) -> list[float]:
    psi = min(1.3, math.pi * 0.5 / (alpha + 0.5))
    return [math.log(psi), 0.0] if two_d else [math.log(psi)]


def theory_point(
    alpha_prune: float,
    fraction: float,
    policy: str,
    theta: float = 0.0,
    *,
    start: Sequence[float] | None = None,
) -> TheoryPoint:
    """Solve the max-margin theory for one setting (see the module docstring).

    ``alpha_prune`` is the number of kept examples per dimension, ``fraction`` the share of the
    pool kept by ``policy``, ``theta`` the probe angle in radians. ``start`` is the ``start``
    of a nearby solution, to warm-start the solver along a curve. Takes 5-50 ms.
    """
    with _single_blas_thread():
        return _theory_point(alpha_prune, fraction, policy, theta, start=start)


def _theory_point(
    alpha_prune: float,
    fraction: float,
    policy: str,
    theta: float = 0.0,
    *,
    start: Sequence[float] | None = None,
) -> TheoryPoint:
    """:func:`theory_point` without the BLAS-thread setting (callers set it once).

    The margin ``kappa`` is a quasi-concave function of the student's direction (the
    max-margin problem is convex), so the local maximiser found by L-BFGS-B is the global one.
    """
    from scipy.optimize import minimize

    alpha = _check_alpha(alpha_prune, "alpha_prune")
    fraction = _check_fraction(fraction)
    policy = _check_policy(policy)
    theta = _check_theta(theta)
    if policy == "random":
        fraction_eff, theta_eff = 1.0, 0.0  # random pruning is no pruning at alpha_prune
    else:
        fraction_eff, theta_eff = fraction, theta
    quad = _Quadrature(policy, fraction_eff, theta_eff)
    two_d = theta_eff > 0.0
    x0 = list(start) if start else _initial_state(alpha, two_d)
    if len(x0) != (2 if two_d else 1):
        x0 = _initial_state(alpha, two_d)
    bounds = [(math.log(1e-9), math.log(math.pi / 2))]
    if two_d:
        bounds.append((-20.0, 20.0))
    x0 = [min(max(v, lo), hi) for v, (lo, hi) in zip(x0, bounds, strict=True)]
    state = {"kappa": 0.0, "scale": 1.0}

    def solve_kappa(p: Sequence[float]) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
        overlaps = _overlaps(p)
        _, _, r, s, sigma = overlaps
        kappa, moments = _max_kappa(quad, r, s, sigma, alpha, state["kappa"])
        state["kappa"] = kappa
        return kappa, moments, overlaps

    def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
        kappa, moments, (psi, chi, _, _, _) = solve_kappa(p)
        _, f_kappa, f_r, f_s, f_sigma = moments
        sin_psi, cos_psi = math.sin(psi), math.cos(psi)
        sin_chi, cos_chi = math.sin(chi), math.cos(chi)
        f_psi = -f_r * sin_psi + f_s * cos_psi * sin_chi + f_sigma * cos_psi * cos_chi
        grad = [psi * f_psi / f_kappa]  # d(-kappa)/dp = F_p / F_kappa
        if two_d:
            f_chi = f_s * sin_psi * cos_chi - f_sigma * sin_psi * sin_chi
            d_chi = 0.5 * math.pi * (1.0 - math.tanh(p[1]) ** 2)
            grad.append(f_chi * d_chi / f_kappa)
        return -kappa / state["scale"], np.asarray(grad) / state["scale"]

    kappa0 = solve_kappa(x0)[0]
    state["scale"] = max(abs(kappa0), 1e-6)
    result = minimize(
        objective,
        np.asarray(x0),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-14, "gtol": 1e-11, "maxiter": 500},
    )
    kappa, _, (psi, _, r, _, _) = solve_kappa(result.x)
    return TheoryPoint(
        alpha_prune=alpha,
        fraction=fraction,
        policy=policy,
        theta=theta,
        error=psi / math.pi,
        kappa=kappa,
        overlap=r,
        start=tuple(float(v) for v in result.x),
    )


def theory_error(alpha_prune: float, fraction: float, policy: str, theta: float = 0.0) -> float:
    """Test error of the max-margin student predicted by the replica theory (N -> inf)."""
    return theory_point(alpha_prune, fraction, policy, theta).error


def _theory_error(alpha_prune: float, fraction: float, policy: str, theta: float = 0.0) -> float:
    return _theory_point(alpha_prune, fraction, policy, theta).error


def _theory_curve(alphas: list[float], fraction: float, policy: str, theta: float) -> list[float]:
    """Worker task: theory errors along increasing ``alphas``, each warm-starting the next."""
    errors, start = [], None
    for alpha in alphas:
        point = _theory_point(alpha, fraction, policy, theta, start=start)
        errors.append(point.error)
        start = point.start
    return errors


def _theory_fractions(
    alpha_prune: float, fractions: list[float], policy: str, theta: float
) -> list[float]:
    """Worker task: theory errors at fixed ``alpha_prune`` along ``fractions``."""
    errors, start = [], None
    for fraction in fractions:
        point = _theory_point(alpha_prune, fraction, policy, theta, start=start)
        errors.append(point.error)
        start = point.start
    return errors


def _crossover(fraction: float, lo: float, hi: float) -> float | None:
    """Worker task: the alpha_tot above which keep-hard beats keep-easy at ``fraction``."""
    from scipy.optimize import brentq

    def gap(log_alpha: float) -> float:
        alpha_prune = math.exp(log_alpha) * fraction
        return math.log(_theory_error(alpha_prune, fraction, "hard")) - math.log(
            _theory_error(alpha_prune, fraction, "easy")
        )

    a, b = math.log(lo), math.log(hi)
    g_a, g_b = gap(a), gap(b)
    if not (g_a > 0.0 > g_b):
        return None
    return math.exp(brentq(gap, a, b, xtol=1e-4))


# --- analysis ------------------------------------------------------------------------------


def _key(value: float) -> float:
    """A grid value rounded for display and for building grids (6 significant digits)."""
    return float(f"{value:.6g}")


def _same(a: float, b: float) -> bool:
    """Two grid values are the same point: within 0.01% (grid values are rounded to 6 digits,
    so a pool size times a fraction misses the lattice value by up to ~1e-5)."""
    return abs(a - b) <= 1e-4 * max(abs(a), abs(b)) or a == b


def _canonical(values: Iterable[float]) -> dict[float, float]:
    """Map every value to one representative per cluster of :func:`_same` values."""
    mapping: dict[float, float] = {}
    representative: float | None = None
    for value in sorted(set(values)):
        if representative is None or not _same(value, representative):
            representative = value
        mapping[value] = representative
    return mapping


def _mean_table(
    rows: Iterable[dict[str, Any]], *keys: str
) -> dict[tuple, tuple[float, float, int]]:
    """(mean, standard error, count) of ``error`` grouped by ``keys`` (floats clustered)."""
    rows = list(rows)
    maps = {
        k: _canonical(float(r[k]) for r in rows)
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


def _random_curve(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random pruning pooled by alpha_prune (its error depends on alpha_prune only)."""
    table = _mean_table([r for r in rows if r["policy"] == "random"], "alpha_prune")
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
    table = _mean_table(
        [r for r in rows if r["policy"] == policy and _same(float(r["theta"]), theta)],
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
            "alpha_tot": _key(a / best[a][2]),
            "error": best[a][0],
            "sem": best[a][1],
        }
        for a in sorted(best)
    ]


def _optimal_fraction(alpha_prune: float, theta: float, lowest: float) -> tuple[float, float]:
    """Worker task: the fraction in [lowest, 1] minimising keep-hard error at ``alpha_prune``."""
    from scipy.optimize import minimize_scalar

    def error(log_f: float) -> float:
        return _theory_error(alpha_prune, math.exp(log_f), "hard", theta)

    grid = np.linspace(math.log(lowest), 0.0, 13)
    values = [error(v) for v in grid]
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if lo == hi:
        return math.exp(grid[i]), values[i]
    result = minimize_scalar(error, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    if result.fun < values[i]:
        return math.exp(float(result.x)), float(result.fun)
    return math.exp(grid[i]), values[i]


# --- the experiment plan -------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Every grid of one run: simulations and the theory curves drawn beside them."""

    n_dim: int
    seeds: tuple[int, ...]
    alpha_prunes: tuple[float, ...]  # geometric lattice of training-set sizes per dimension
    fractions: tuple[float, ...]  # geometric lattice of fractions kept, 1 first
    thetas: tuple[float, ...]  # probe angles (radians) simulated with keep-hard
    random_fractions: tuple[float, ...]  # random pruning only depends on alpha_prune
    panel_b_fractions: tuple[float, ...]  # keep-easy vs keep-hard vs alpha_tot at these f
    panel_d_alpha_prune: float  # training-set size at which f_min is measured
    extra_fractions: tuple[float, ...]  # theory only: much larger pools than simulated
    theory_points: int

    @property
    def max_alpha_tot(self) -> float:
        return max(self.alpha_prunes) / min(self.fractions)

    @property
    def theory_alphas(self) -> list[float]:
        lo, hi = min(self.alpha_prunes), max(self.alpha_prunes)
        return [float(a) for a in np.geomspace(lo, hi, self.theory_points)]

    def sim_tasks(self) -> list[tuple]:
        """(n_dim, alpha_tot, fraction, policy, theta, seeds) for every simulated setting."""
        tasks = []
        seeds = list(self.seeds)
        for policy, thetas, fractions in (
            ("hard", self.thetas, self.fractions),
            ("easy", (0.0,), self.fractions),
            ("random", (0.0,), self.random_fractions),
        ):
            for theta in thetas:
                for alpha_prune in self.alpha_prunes:
                    for fraction in fractions:
                        alpha_tot = alpha_prune / fraction  # so that alpha_tot·f is on the lattice
                        tasks.append((self.n_dim, alpha_tot, fraction, policy, theta, seeds))
        tasks.sort(key=lambda task: -task[1] * task[2])  # biggest training sets first
        return tasks

    def theory_tasks(self) -> list[tuple[str, Any, tuple]]:
        """(label, function, args) for every theory curve the figure and summary need."""
        alphas = self.theory_alphas
        tasks: list[tuple[str, Any, tuple]] = [
            ("random", _theory_curve, (alphas, 1.0, "random", 0.0))
        ]
        for theta in self.thetas:
            for fraction in self.fractions + self.extra_fractions:
                tasks.append(
                    (f"hard|{theta}|{fraction}", _theory_curve, (alphas, fraction, "hard", theta))
                )
        for fraction in self.panel_b_fractions:
            tasks.append((f"easy|{fraction}", _theory_curve, (alphas, fraction, "easy", 0.0)))
            tasks.append((f"cross|{fraction}", _crossover, (fraction, 0.1, 2000.0)))
        d_fracs = self.panel_d_fractions
        for theta in self.thetas:
            tasks.append(
                (
                    f"d|{theta}",
                    _theory_fractions,
                    (self.panel_d_alpha_prune, d_fracs, "hard", theta),
                )
            )
            tasks.append(
                (
                    f"fopt|{theta}",
                    _optimal_fraction,
                    (self.panel_d_alpha_prune, theta, min(d_fracs)),
                )
            )
        return tasks

    @property
    def panel_d_fractions(self) -> list[float]:
        lowest = max(min(self.fractions), self.panel_d_alpha_prune / self.max_alpha_tot)
        return [float(f) for f in np.geomspace(1.0, lowest, 2 * len(self.fractions))]


def _dispatch(function: Any, args: tuple) -> Any:
    """Worker task wrapper so that one process pool runs tasks of every kind."""
    return function(*args)


@dataclass
class TheoryCurves:
    """Replica-theory curves matching a simulation plan (what :func:`figure` draws)."""

    alphas: list[float]  # alpha_prune grid of every curve
    random: list[float]  # random pruning (= no pruning at alpha_prune)
    hard: dict[float, dict[float, list[float]]]  # theta -> fraction -> keep-hard errors
    easy: dict[float, list[float]]  # fraction -> keep-easy errors (theta = 0)
    max_alpha_tot: float  # the largest simulated pool
    sim_fractions: tuple[float, ...]  # the fractions simulated (the others: theory only)
    panel_d: dict[str, Any]  # alpha_prune, fractions, errors {theta: [...]}, fopt {theta: (f, e)}
    crossover: dict[float, float | None]  # fraction -> alpha_tot where keep-hard starts winning

    def curve(self, theta: float, fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Keep-hard at one fraction, limited to the simulated pools (alpha_tot <= max)."""
        alphas = np.asarray(self.alphas)
        keep = alphas <= fraction * self.max_alpha_tot * (1 + 1e-9)
        return alphas[keep], np.asarray(self.hard[theta][fraction])[keep]

    def frontier(
        self, theta: float, *, extended: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(alphas, lowest keep-hard error, its fraction) at probe angle ``theta``.

        By default over the simulated fractions and pools (comparable with the simulation);
        ``extended=True`` also uses the theory-only fractions, i.e. pools up to
        ``max(alpha_prune) / min(fraction)`` examples per dimension.
        """
        alphas = np.asarray(self.alphas)
        best = np.full(alphas.size, np.inf)
        best_f = np.full(alphas.size, np.nan)
        for fraction, errors in self.hard[theta].items():
            if not extended and fraction not in self.sim_fractions:
                continue
            errs = np.asarray(errors, dtype=float)
            if not extended:
                errs = np.where(alphas <= fraction * self.max_alpha_tot * (1 + 1e-9), errs, np.inf)
            better = errs < best
            best[better], best_f[better] = errs[better], fraction
        return alphas, best, best_f

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able form (dict keys as strings, angles in degrees)."""

        def deg(theta: float) -> str:
            return f"{math.degrees(theta):g}"

        return {
            "alphas": self.alphas,
            "random": self.random,
            "max_alpha_tot": self.max_alpha_tot,
            "hard": {
                deg(th): {f"{f:.6g}": errs for f, errs in curves.items()}
                for th, curves in self.hard.items()
            },
            "easy": {f"{f:.6g}": errs for f, errs in self.easy.items()},
            "frontier": {
                deg(th): dict(
                    zip(
                        ("alpha_prune", "error", "fraction"),
                        (v.tolist() for v in self.frontier(th)),
                        strict=True,
                    )
                )
                for th in self.hard
            },
            "frontier_extended": {
                deg(th): dict(
                    zip(
                        ("alpha_prune", "error", "fraction"),
                        (v.tolist() for v in self.frontier(th, extended=True)),
                        strict=True,
                    )
                )
                for th in self.hard
            },
            "panel_d": {
                "alpha_prune": self.panel_d["alpha_prune"],
                "fractions": self.panel_d["fractions"],
                "errors": {deg(th): errs for th, errs in self.panel_d["errors"].items()},
                "optimal_fraction": {
                    deg(th): {"fraction": f, "error": e}
                    for th, (f, e) in self.panel_d["fopt"].items()
                },
            },
            "crossover_alpha_tot": {f"{f:g}": a for f, a in self.crossover.items()},
        }


def _assemble_theory(plan: _Plan, labels: list[str], results: list[Any]) -> TheoryCurves:
    by_label = dict(zip(labels, results, strict=True))
    hard = {
        theta: {
            fraction: by_label[f"hard|{theta}|{fraction}"]
            for fraction in plan.fractions + plan.extra_fractions
        }
        for theta in plan.thetas
    }
    return TheoryCurves(
        alphas=plan.theory_alphas,
        random=by_label["random"],
        hard=hard,
        easy={f: by_label[f"easy|{f}"] for f in plan.panel_b_fractions},
        max_alpha_tot=plan.max_alpha_tot,
        sim_fractions=plan.fractions,
        panel_d={
            "alpha_prune": plan.panel_d_alpha_prune,
            "fractions": plan.panel_d_fractions,
            "errors": {th: by_label[f"d|{th}"] for th in plan.thetas},
            "fopt": {th: tuple(by_label[f"fopt|{th}"]) for th in plan.thetas},
        },
        crossover={f: by_label[f"cross|{f}"] for f in plan.panel_b_fractions},
    )


# --- summary -------------------------------------------------------------------------------


def _closest(values: Iterable[float], target: float) -> float:
    return min(values, key=lambda v: abs(math.log(v / target)))


def _steepest(alphas: np.ndarray, errors: np.ndarray) -> tuple[float, float] | None:
    """(alpha, slope) where d log(error) / d log(alpha) is most negative along a curve."""
    ok = np.isfinite(errors) & (errors > 0)
    a, e = np.log(alphas[ok]), np.log(errors[ok])
    if a.size < 2:
        return None
    slopes = np.diff(e) / np.diff(a)
    i = int(np.argmin(slopes))
    return float(math.exp(0.5 * (a[i] + a[i + 1]))), float(slopes[i])


def _end_slope(alphas: np.ndarray, errors: np.ndarray) -> float | None:
    """d log(error) / d log(alpha) over the last quarter of a curve (its asymptotic slope)."""
    ok = np.isfinite(errors) & (errors > 0)
    a, e = np.log(alphas[ok]), np.log(errors[ok])
    if a.size < 4:
        return None
    start = int(0.75 * a.size)
    return float((e[-1] - e[start]) / (a[-1] - a[start]))


def summarize(
    rows: list[dict[str, Any]],
    theory: TheoryCurves | None = None,
    *,
    fit_from: float = 4.0,
    panel_d_alpha_prune: float | None = None,
    panel_b_fractions: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The headline numbers of a run: power-law fit, frontier gains, crossover and f_min.

    * ``random_fit``: ``error = c·alpha_prune^-nu`` fitted to random pruning for
      ``alpha_prune >= fit_from`` (where the asymptotic power law has set in);
    * ``frontier``: per probe angle, keep-hard's best error at the largest ``alpha_prune``, the
      fraction achieving it, its ratio to the fitted power law and to random pruning; with
      theory, the steepest local log-log slope of the frontier, its slope at the end, and the
      same ratio for pools up to the theory-only fractions (``extended``);
    * ``crossover``: the pool size ``alpha_tot`` above which keep-hard beats keep-easy;
    * ``f_min``: per probe angle, the fraction kept that minimises keep-hard error at a fixed
      training-set size (``panel_d_alpha_prune``): keeping fewer makes it worse.
    """
    out: dict[str, Any] = {}
    ra, rm, _ = _random_curve(rows)
    if ra.size >= 2:
        use = ra >= fit_from if (ra >= fit_from).sum() >= 2 else np.ones(ra.size, bool)
        c, nu = fit_power_law(ra[use], rm[use])
        out["random_fit"] = {"c": c, "nu": nu, "fit_from": float(ra[use].min())}
    if theory is not None:
        ta, te = np.asarray(theory.alphas), np.asarray(theory.random)
        use = ta >= fit_from if (ta >= fit_from).sum() >= 2 else np.ones(ta.size, bool)
        c_t, nu_t = fit_power_law(ta[use], te[use])
        out["random_fit_theory"] = {"c": c_t, "nu": nu_t}
    fits = out.get("random_fit")
    thetas = sorted({float(r["theta"]) for r in rows if r["policy"] == "hard"})
    front: dict[str, Any] = {}
    for theta in thetas:
        sim = frontier(rows, theta)
        if not sim:
            continue
        last = sim[-1]
        entry: dict[str, Any] = {
            "alpha_prune": last["alpha_prune"],
            "sim_error": last["error"],
            "sim_fraction": last["fraction"],
        }
        if fits:
            power = fits["c"] * last["alpha_prune"] ** -fits["nu"]
            entry["power_law_error"] = power
            entry["sim_ratio_to_power_law"] = last["error"] / power
        random_at = [m for a, m in zip(ra, rm, strict=True) if _same(a, last["alpha_prune"])]
        if random_at:
            entry["sim_ratio_to_random"] = last["error"] / random_at[0]
        match = [t for t in (theory.hard if theory is not None else ()) if _same(t, theta)]
        if theory is not None and match:
            alphas, best, best_f = theory.frontier(match[0])
            entry["theory_error"] = float(best[-1])
            entry["theory_fraction"] = float(best_f[-1])
            entry["theory_ratio_to_random"] = float(best[-1] / theory.random[-1])
            steep = _steepest(alphas, best)
            if steep:
                entry["theory_steepest_slope"] = {"alpha_prune": steep[0], "slope": steep[1]}
            entry["theory_end_slope"] = _end_slope(alphas, best)
            _, ext, ext_f = theory.frontier(match[0], extended=True)
            entry["extended"] = {
                "max_alpha_tot": float(alphas[-1] / min(theory.hard[match[0]])),
                "error": float(ext[-1]),
                "fraction": float(ext_f[-1]),
                "ratio_to_random": float(ext[-1] / theory.random[-1]),
                "end_slope": _end_slope(alphas, ext),
            }
        front[f"{math.degrees(theta):g}"] = entry
    out["frontier"] = front
    out["crossover"] = _crossover_summary(rows, theory, panel_b_fractions)
    out["f_min"] = _f_min_summary(rows, theory, panel_d_alpha_prune)
    return out


def _crossover_summary(
    rows: list[dict[str, Any]], theory: TheoryCurves | None, fractions: Sequence[float] | None
) -> dict[str, Any]:
    """Where keep-hard starts beating keep-easy, per fraction kept: theory and simulation."""
    result: dict[str, Any] = {}
    if theory is not None:
        result["theory_alpha_tot"] = {f"{f:g}": a for f, a in theory.crossover.items()}
        fractions = fractions or list(theory.crossover)
    table = _mean_table(
        [r for r in rows if r["policy"] in ("hard", "easy") and r["theta"] == 0.0],
        "policy",
        "fraction",
        "alpha_tot",
    )
    available = sorted({k[1] for k in table})
    if not available:
        return result
    sim: dict[str, Any] = {}
    for target in fractions or [0.25]:
        fraction = _closest(available, target)
        tots = sorted({k[2] for k in table if k[1] == fraction})
        wins = [
            (a, table[("hard", fraction, a)][0] < table[("easy", fraction, a)][0])
            for a in tots
            if ("hard", fraction, a) in table and ("easy", fraction, a) in table
        ]
        for i, (a, hard_wins) in enumerate(wins):
            if hard_wins and all(w for _, w in wins[i:]):
                sim[f"{fraction:g}"] = {
                    "hard_loses_at": wins[i - 1][0] if i > 0 else None,
                    "hard_wins_from": a,
                }
                break
        else:
            sim[f"{fraction:g}"] = None
    result["sim"] = sim
    return result


def _f_min_summary(
    rows: list[dict[str, Any]], theory: TheoryCurves | None, alpha_d: float | None
) -> dict[str, Any]:
    """Per probe angle: the fraction minimising keep-hard error at alpha_prune = alpha_d."""
    result: dict[str, Any] = {}
    hard = [r for r in rows if r["policy"] == "hard"]
    if not hard:
        return result
    if theory is not None:
        alpha_d = theory.panel_d["alpha_prune"]
    table = _mean_table(hard, "theta", "alpha_prune", "fraction")
    key_d = _closest({k[1] for k in table}, alpha_d if alpha_d is not None else 8.0)
    result["alpha_prune"] = key_d
    for theta in sorted({k[0] for k in table}):
        points = {k[2]: v[0] for k, v in table.items() if k[0] == theta and k[1] == key_d}
        if not points:
            continue
        best = min(points, key=points.get)
        entry: dict[str, Any] = {
            "sim_fraction": best,
            "sim_error": points[best],
            "sim_smallest_fraction": min(points),
            "sim_error_at_smallest": points[min(points)],
        }
        match = [t for t in (theory.panel_d["fopt"] if theory else ()) if _same(t, theta)]
        if theory is not None and match:
            f_opt, e_opt = theory.panel_d["fopt"][match[0]]
            entry["theory_fraction"] = f_opt
            entry["theory_error"] = e_opt
        result[f"{math.degrees(theta):g}"] = entry
    return result


# --- figure --------------------------------------------------------------------------------

_GREY = "#555555"
_HARD = "#d62728"
_EASY = "#1f77b4"
_THETA_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b")


def _theta_label(theta: float) -> str:
    return f"θ = {math.degrees(theta):g}°"


def _style(ax: Any, title: str, xlabel: str, ylabel: str = "test error  angle(J,T)/π") -> None:
    ax.set_title(title, loc="left", fontsize=10.5, fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)


def _sim_series(
    rows: list[dict[str, Any]], policy: str, theta: float, fixed: str, value: float, along: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and s.e.m. of rows with ``fixed == value``, as a function of ``along``."""
    picked = [
        r
        for r in rows
        if r["policy"] == policy
        and _same(float(r["theta"]), theta)
        and _same(float(r[fixed]), value)
    ]
    table = _mean_table(picked, along)
    keys = sorted(table)
    return (
        np.array([k[0] for k in keys]),
        np.array([table[k][0] for k in keys]),
        np.array([table[k][1] for k in keys]),
    )


def _theta_match(curves: dict[float, Any], theta: float) -> float | None:
    return next((t for t in curves if _same(t, theta)), None)


def figure(
    rows: list[dict[str, Any]],
    out_png: Path,
    *,
    title: str,
    theory: TheoryCurves | None = None,
    panel_b_fractions: Sequence[float] | None = None,
    panel_d_alpha_prune: float | None = None,
    dpi: int = 110,
) -> Path:
    """Draw the four-panel figure of a sweep to ``out_png`` (atomically) and return the path.

    (a) error vs alpha_prune, log-log, perfect probe: random pruning with its fitted power law,
    keep-hard at each fraction and its Pareto frontier; (b) error vs pool size alpha_tot at
    fixed fractions: keep-easy vs keep-hard vs random; (c) keep-hard frontiers for every probe
    angle; (d) error vs fraction kept at a fixed training-set size for every probe angle, with
    the optimal fraction f_min marked. Simulations are markers (mean ± s.e.m. over seeds);
    ``theory`` curves (:class:`TheoryCurves`), when given, are lines.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if not rows:
        raise LessdataError("no simulation rows to plot; run sweep() or run() first")
    out_png = Path(out_png)
    fig = Figure(figsize=(13.5, 10.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=12)
    ax_a, ax_b, ax_c, ax_d = fig.subplots(2, 2).ravel()
    hard_rows = [r for r in rows if r["policy"] == "hard"]
    thetas = sorted(_canonical(float(r["theta"]) for r in hard_rows).values())
    thetas = sorted(set(thetas))
    ra, rm, rs = _random_curve(rows)
    summary = summarize(
        rows, theory, panel_d_alpha_prune=panel_d_alpha_prune, panel_b_fractions=panel_b_fractions
    )
    fit = summary.get("random_fit")
    alphas_all = sorted(_canonical(float(r["alpha_prune"]) for r in rows).values())
    a_line = np.geomspace(min(alphas_all), max(alphas_all), 50)
    zero = 0.0 if any(t == 0.0 for t in thetas) else None
    t_zero = _theta_match(theory.hard, 0.0) if theory is not None else None

    # (a) perfect probe: power law vs frontier.
    _style(ax_a, "(a) perfect metric (θ = 0): random vs keep-hard", "α_prune = examples kept / N")
    fractions = sorted(
        set(_canonical(float(r["fraction"]) for r in hard_rows if r["theta"] == 0.0).values()),
        reverse=True,
    )
    shown = fractions[::2] if len(fractions) > 5 else fractions
    cmap, norm = colormaps["viridis"], LogNorm(min(fractions or [0.5]), 1.0)
    if zero is not None:
        for fraction in shown:
            colour = cmap(0.9 * norm(fraction))
            if t_zero is not None and fraction in theory.hard[t_zero]:
                ca, ce = theory.curve(t_zero, fraction)
                ax_a.plot(ca, ce, color=colour, lw=0.9, alpha=0.8)
            sa, sm, _ = _sim_series(rows, "hard", 0.0, "fraction", fraction, "alpha_prune")
            ax_a.plot(sa, sm, "o", ms=3.2, color=colour, alpha=0.85)
    if ra.size:
        ax_a.errorbar(ra, rm, rs, fmt="s", ms=4.5, color=_GREY, capsize=2, label="random (sim)")
    if theory is not None:
        ax_a.plot(theory.alphas, theory.random, color=_GREY, lw=1.2, label="random (theory)")
    if fit:
        ax_a.plot(
            a_line,
            fit["c"] * a_line ** -fit["nu"],
            "k--",
            lw=1.3,
            label=f"power law fitted to random (α ≥ {fit['fit_from']:g}): α^-{fit['nu']:.2f}",
        )
    if zero is not None:
        front = frontier(rows, 0.0)
        ax_a.errorbar(
            [p["alpha_prune"] for p in front],
            [p["error"] for p in front],
            [p["sem"] for p in front],
            fmt="D-",
            ms=5,
            lw=1.2,
            color=_HARD,
            capsize=2,
            label="keep-hard frontier: best f per α_prune (sim)",
        )
        if t_zero is not None:
            fa, fb, _ = theory.frontier(t_zero)
            ax_a.plot(fa, fb, color=_HARD, lw=2.4, alpha=0.6, label="keep-hard frontier (theory)")
        mappable = ScalarMappable(norm=norm, cmap=cmap)
        colourbar = fig.colorbar(mappable, ax=ax_a, pad=0.01, fraction=0.04)
        colourbar.set_label("f of the thin keep-hard curves", fontsize=8)
    ax_a.legend(fontsize=7.5, loc="lower left")

    # (b) keep-easy vs keep-hard as the pool grows, at fixed fractions.
    b_fracs = list(panel_b_fractions or (theory.easy if theory is not None else ()))
    easy_fracs = set(_canonical(float(r["fraction"]) for r in rows if r["policy"] == "easy"))
    if not b_fracs and easy_fracs:
        b_fracs = [_closest(sorted(set(_canonical(easy_fracs).values())), 0.25)]
    _style(
        ax_b, "(b) keep-easy wins on small pools, keep-hard on large ones", "α_tot = pool size / N"
    )
    dashes = ("-", "--", ":", "-.")
    for i, fraction in enumerate(b_fracs):
        dash = dashes[i % len(dashes)]
        hollow = i % 2 == 1
        for policy, colour in (("easy", _EASY), ("hard", _HARD)):
            st, sm, ss = _sim_series(rows, policy, 0.0, "fraction", fraction, "alpha_tot")
            ax_b.errorbar(
                st,
                sm,
                ss,
                fmt="o",
                ms=4.5,
                color=colour,
                capsize=2,
                mfc="white" if hollow else colour,
            )
            if theory is not None:
                if policy == "easy" and fraction in theory.easy:
                    errs = np.asarray(theory.easy[fraction])
                    ax_b.plot(np.asarray(theory.alphas) / fraction, errs, dash, color=colour)
                elif policy == "hard" and t_zero is not None and fraction in theory.hard[t_zero]:
                    ca, ce = theory.curve(t_zero, fraction)
                    ax_b.plot(ca / fraction, ce, dash, color=colour)
        pts = [(a / fraction, m, s) for a, m, s in zip(ra, rm, rs, strict=True)]
        ax_b.errorbar(
            [p[0] for p in pts],
            [p[1] for p in pts],
            [p[2] for p in pts],
            fmt="s",
            ms=3.5,
            color=_GREY,
            capsize=2,
            mfc="white" if hollow else _GREY,
        )
        if theory is not None:
            ax_b.plot(
                np.asarray(theory.alphas) / fraction, theory.random, dash, color=_GREY, lw=1.0
            )
            crossing = theory.crossover.get(fraction)
            if crossing:
                ax_b.axvline(crossing, color="k", ls=dash, lw=0.8, alpha=0.6)
                ax_b.annotate(
                    f"f = {fraction:g}: α_tot* ≈ {crossing:.3g}",
                    (crossing, 0.5),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    fontsize=7.5,
                    ha="right",
                    va="center",
                    alpha=0.8,
                )
    handles = [
        Line2D([], [], color=_EASY, marker="o", label="keep-easy"),
        Line2D([], [], color=_HARD, marker="o", label="keep-hard"),
        Line2D([], [], color=_GREY, marker="s", label="random"),
    ]
    handles += [
        Line2D(
            [],
            [],
            color="k",
            ls=dashes[i % len(dashes)],
            marker="o",
            mfc="white" if i % 2 else "k",
            label=f"f = {f:g} kept",
        )
        for i, f in enumerate(b_fracs)
    ]
    ax_b.legend(handles=handles, fontsize=7.5, loc="lower left")

    # (c) imperfect probes: frontiers bend back to a power law.
    _style(ax_c, "(c) imperfect metric: keep-hard frontiers by probe angle θ", "α_prune")
    if fit:
        ax_c.plot(
            a_line,
            fit["c"] * a_line ** -fit["nu"],
            "k--",
            lw=1.2,
            label=f"random: power law α^-{fit['nu']:.2f}",
        )
    if theory is not None:
        ax_c.plot(theory.alphas, theory.random, color=_GREY, lw=1.0)
    for i, theta in enumerate(thetas):
        colour = _THETA_COLOURS[i % len(_THETA_COLOURS)]
        front = frontier(rows, theta)
        ax_c.errorbar(
            [p["alpha_prune"] for p in front],
            [p["error"] for p in front],
            [p["sem"] for p in front],
            fmt="D",
            ms=4.5,
            color=colour,
            capsize=2,
            label=f"{_theta_label(theta)} (sim)",
        )
        match = _theta_match(theory.hard, theta) if theory is not None else None
        if match is not None:
            fa, fb, _ = theory.frontier(match)
            ax_c.plot(fa, fb, color=colour, lw=1.8, label=f"{_theta_label(theta)} (theory)")
            if len(theory.hard[match]) > len(theory.sim_fractions):
                ea, eb, _ = theory.frontier(match, extended=True)
                ax_c.plot(ea, eb, ":", color=colour, lw=1.6)
    if theory is not None and any(len(c) > len(theory.sim_fractions) for c in theory.hard.values()):
        pool = max(theory.alphas) / min(min(c) for c in theory.hard.values())
        ax_c.plot([], [], "k:", label=f"theory, pools up to α_tot = {pool:,.0f}")
    ax_c.legend(fontsize=7.5, loc="lower left")

    # (d) the optimal fraction at a fixed training-set size.
    f_min = summary.get("f_min", {})
    alpha_d = f_min.get("alpha_prune", panel_d_alpha_prune or 8.0)
    _style(
        ax_d,
        f"(d) keep-hard at fixed α_prune = {alpha_d:g}: the minimum useful f",
        "fraction kept f  (α_tot = α_prune / f)",
    )
    for i, theta in enumerate(thetas):
        colour = _THETA_COLOURS[i % len(_THETA_COLOURS)]
        sf, sm, ss = _sim_series(rows, "hard", theta, "alpha_prune", alpha_d, "fraction")
        ax_d.errorbar(
            sf,
            sm,
            ss,
            fmt="o",
            ms=4.5,
            color=colour,
            capsize=2,
            label=f"{_theta_label(theta)} (sim" + ("; line: theory)" if theory else ")"),
        )
        match = _theta_match(theory.panel_d["errors"], theta) if theory is not None else None
        if match is not None:
            ax_d.plot(
                theory.panel_d["fractions"], theory.panel_d["errors"][match], color=colour, lw=1.6
            )
            f_opt, e_opt = theory.panel_d["fopt"][match]
            if f_opt > min(theory.panel_d["fractions"]) * 1.05:
                ax_d.plot([f_opt], [e_opt], "*", ms=13, color=colour, mec="k", mew=0.6)
                ax_d.annotate(
                    f"f_min ≈ {f_opt:.2f}",
                    (f_opt, e_opt),
                    textcoords="offset points",
                    xytext=(9, -15),
                    fontsize=8,
                    color=colour,
                )
    ax_d.legend(fontsize=7.5, loc="upper right")
    with atomic_path(out_png) as tmp, open(tmp, "wb") as fh:
        fig.savefig(fh, format="png")
    return out_png


# --- outputs -------------------------------------------------------------------------------


def _write_csv(path: Path, fields: Sequence[str], rows: Iterable[dict[str, Any]]) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    return path


def _theory_rows(theory: TheoryCurves) -> list[dict[str, Any]]:
    """The theory curves as flat rows (curve, policy, theta_deg, fraction, alpha_tot, ...)."""
    out: list[dict[str, Any]] = []

    def add(curve: str, policy: str, theta: float, fraction: float, alpha_prune: float, err):
        out.append(
            {
                "curve": curve,
                "policy": policy,
                "theta_deg": round(math.degrees(theta), 6),
                "fraction": fraction,
                "alpha_prune": alpha_prune,
                "alpha_tot": alpha_prune / fraction,
                "error": err,
            }
        )

    for a, e in zip(theory.alphas, theory.random, strict=True):
        add("random", "random", 0.0, 1.0, a, e)
    for theta, curves in theory.hard.items():
        for fraction, errors in curves.items():
            for a, e in zip(theory.alphas, errors, strict=True):
                add("fixed_fraction", "hard", theta, fraction, a, e)
        for name, extended in (("frontier", False), ("frontier_extended", True)):
            fa, fb, ff = theory.frontier(theta, extended=extended)
            for a, e, f in zip(fa, fb, ff, strict=True):
                if math.isfinite(e):
                    add(name, "hard", theta, float(f), float(a), float(e))
    for fraction, errors in theory.easy.items():
        for a, e in zip(theory.alphas, errors, strict=True):
            add("fixed_fraction", "easy", 0.0, fraction, a, e)
    for theta, errors in theory.panel_d["errors"].items():
        for f, e in zip(theory.panel_d["fractions"], errors, strict=True):
            add("fixed_alpha_prune", "hard", theta, f, theory.panel_d["alpha_prune"], e)
    return out


_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.55rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 1.8rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .25rem .6rem; text-align: left; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .92em; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; }
.note { color: #666; font-size: .9em; }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value.is_integer() and abs(value) < 1e7:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value)
    return str(value)


def _findings(summary: dict[str, Any]) -> list[str]:
    """The figure's findings as sentences with their numbers (HTML page and CLI)."""
    lines = []
    fit = summary.get("random_fit")
    fit_t = summary.get("random_fit_theory")
    if fit:
        text = (
            f"Random pruning follows a power law: error ≈ {fit['c']:.3g}·α_prune^-{fit['nu']:.3g} "
            f"(simulation, fitted for α_prune ≥ {fit['fit_from']:g})"
        )
        if fit_t:
            text += (
                f"; the theory gives exponent {fit_t['nu']:.3g} over the same range "
                "(→ 1, error → 0.50/α_prune, as α → ∞)"
            )
        lines.append(text + ".")
    front = summary.get("frontier", {})
    zero = front.get("0")
    if zero:
        text = (
            f"Perfect metric (θ = 0): at α_prune = {zero['alpha_prune']:g} the keep-hard "
            f"frontier reaches {zero['sim_error']:.3g} with f = {zero['sim_fraction']:.3g}"
        )
        if "sim_ratio_to_power_law" in zero:
            text += f", {zero['sim_ratio_to_power_law']:.2g}× the fitted power law"
        if "theory_error" in zero:
            text += f" (theory {zero['theory_error']:.3g})"
        steep = zero.get("theory_steepest_slope")
        if steep and fit:
            text += (
                f". Around α_prune ≈ {steep['alpha_prune']:.2g} the theory frontier falls with "
                f"local log-log slope {steep['slope']:.3g}, against {-fit['nu']:.2f} for random "
                "pruning: faster than any power law"
            )
        ext = zero.get("extended")
        if ext and "theory_end_slope" in zero and zero["theory_end_slope"] is not None:
            text += (
                f". Once f reaches the smallest fraction simulated the frontier runs parallel "
                f"to the power law (slope {zero['theory_end_slope']:.2f}); with pools up to "
                f"α_tot = {ext['max_alpha_tot']:,.0f} the theory frontier at α_prune = "
                f"{zero['alpha_prune']:g} is {ext['error']:.3g} "
                f"({ext['ratio_to_random']:.2g}× random): it keeps falling as the pool grows"
            )
        lines.append(text + ".")
    cross = summary.get("crossover", {})
    theory_cross = cross.get("theory_alpha_tot") or {}
    parts = [
        f"α_tot ≈ {a:.3g} at f = {f} (α_prune ≈ {a * float(f):.2g})"
        for f, a in theory_cross.items()
        if a is not None
    ]
    sim_parts = []
    for f, entry in (cross.get("sim") or {}).items():
        if entry:
            part = f"f = {f}: keep-hard wins from α_tot = {entry['hard_wins_from']:.3g}"
            if entry.get("hard_loses_at") is not None:
                part += f", loses at {entry['hard_loses_at']:.3g}"
            sim_parts.append(part)
    if parts or sim_parts:
        text = "Keep-easy beats keep-hard on small pools and keep-hard wins on large ones"
        if parts:
            text += "; theory crossover " + ", ".join(parts)
        if sim_parts:
            text += "; simulation " + "; ".join(sim_parts)
        lines.append(text + ".")
    for key, entry in front.items():
        if key == "0":
            continue
        text = (
            f"Imperfect metric θ = {key}°: the frontier at α_prune = {entry['alpha_prune']:g} "
            f"is {entry['sim_error']:.3g}"
        )
        if "sim_ratio_to_random" in entry:
            text += f", {entry['sim_ratio_to_random']:.2g}× random pruning"
        if "theory_error" in entry:
            text += f" (theory {entry['theory_error']:.3g})"
        if entry.get("theory_end_slope") is not None:
            text += f"; its theory slope at the end is {entry['theory_end_slope']:.2f}"
        ext = entry.get("extended")
        if ext:
            text += (
                f"; even with pools up to α_tot = {ext['max_alpha_tot']:,.0f} the theory "
                f"frontier stays at {ext['ratio_to_random']:.2g}× random "
                f"(sin θ = {math.sin(math.radians(float(key))):.2g})"
            )
        lines.append(text + ": the gain saturates and the frontier bends back to a power law.")
    fmin = summary.get("f_min", {})
    items = [(k, v) for k, v in fmin.items() if k != "alpha_prune"]
    if items:
        parts = []
        for key, entry in items:
            part = f"θ = {key}°: best simulated f = {entry['sim_fraction']:.3g}"
            if "theory_fraction" in entry:
                part += f", theory f_min = {entry['theory_fraction']:.3g}"
            part += (
                f" (error {entry['sim_error']:.3g}; {entry['sim_error_at_smallest']:.3g} at "
                f"f = {entry['sim_smallest_fraction']:.3g})"
            )
            parts.append(part)
        lines.append(
            f"Best fraction to keep at α_prune = {fmin['alpha_prune']:g}: "
            + "; ".join(parts)
            + ". With θ > 0, keeping fewer than f_min makes keep-hard worse, sharply so."
        )
    return lines


def _html(
    png: bytes,
    summary: dict[str, Any],
    config: dict[str, Any],
    files: dict[str, str],
    title: str,
) -> str:
    """A self-contained page: what the experiment is, the figure, the numbers, the method."""
    image = base64.b64encode(png).decode("ascii")
    findings = "\n".join(f"<li>{escape(line)}</li>" for line in _findings(summary))
    front_rows = []
    for key, entry in summary.get("frontier", {}).items():
        front_rows.append(
            "<tr>"
            + "".join(
                f'<td class="num">{escape(_fmt(v))}</td>'
                for v in (
                    f"{key}°",
                    entry.get("alpha_prune"),
                    entry.get("sim_error"),
                    entry.get("sim_fraction"),
                    entry.get("theory_error"),
                    entry.get("theory_fraction"),
                    entry.get("sim_ratio_to_random"),
                    entry.get("theory_ratio_to_random"),
                    (entry.get("extended") or {}).get("ratio_to_random"),
                )
            )
            + "</tr>"
        )
    fmin_rows = []
    for key, entry in summary.get("f_min", {}).items():
        if key == "alpha_prune":
            continue
        fmin_rows.append(
            "<tr>"
            + "".join(
                f'<td class="num">{escape(_fmt(v))}</td>'
                for v in (
                    f"{key}°",
                    entry.get("sim_fraction"),
                    entry.get("sim_error"),
                    entry.get("theory_fraction"),
                    entry.get("theory_error"),
                )
            )
            + "</tr>"
        )
    config_rows = "\n".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_fmt(v))}</td></tr>" for k, v in config.items()
    )
    file_items = "\n".join(
        f'<li><a href="{escape(name)}">{escape(name)}</a> — {escape(what)}</li>'
        for name, what in files.items()
    )
    alpha_d = summary.get("f_min", {}).get("alpha_prune", "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)}</title><style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p class="note">Reproduction of Sorscher et al. 2022, “Beyond neural scaling laws: beating power
law scaling via data pruning” (arXiv 2206.14486), section 2: data pruning in the
teacher–student perceptron. Simulation and replica theory side by side.</p>

<h2>What the experiment is</h2>
<p>A teacher perceptron <code>T</code> (random unit vector in R<sup>N</sup>) labels Gaussian
inputs <code>y = sign(T·x)</code>. From a pool of <code>P = α_tot·N</code> examples, a
<em>probe</em> <code>J_probe</code> at angle θ to the teacher ranks examples by their margin
<code>|J_probe·x|</code> (θ = 0 is a perfect pruning metric). <b>keep-hard</b> keeps the
fraction <code>f</code> with the smallest margins, <b>keep-easy</b> the largest, <b>random</b> a
uniform subset; the student trains on <code>α_prune·N = f·α_tot·N</code> examples. The student
is the <b>max-margin perceptron</b> (hard-margin linear SVM, no bias), solved exactly; its test
error is <code>angle(J, T)/π</code>, exact for Gaussian inputs.</p>

<h2>Figure</h2>
<img alt="perceptron data-pruning figure" src="data:image/png;base64,{image}">
<p class="note">Markers: simulation, mean ± standard error over seeds. Lines: replica theory
(N → ∞). The frontier is, for each α_prune, the lowest mean error over the simulated fractions
kept (pools up to α_tot = {escape(_fmt(config.get("max alpha_tot")))}); the simulated frontier
is a minimum over noisy means, so slightly optimistic. Dotted lines in (c): the theory frontier
when much larger pools (smaller fractions) are allowed. For the max-margin student the pool
size is the only limit with a perfect metric: it needs only its support vectors, which
keep-hard keeps, so above α_prune ≈ 2 its error is close to that of training on the whole pool;
with an imperfect metric the gain over random pruning saturates.</p>

<h2>Findings</h2>
<ul>
{findings}
</ul>
<h3>Keep-hard frontier at the largest α_prune</h3>
<table><thead><tr><th>θ</th><th>α_prune</th><th>sim error</th><th>sim f</th>
<th>theory error</th><th>theory f</th><th>sim / random</th><th>theory / random</th>
<th>theory / random, larger pools</th></tr></thead>
<tbody>{"".join(front_rows)}</tbody></table>
<h3>Optimal fraction kept at α_prune = {escape(_fmt(alpha_d))} (f_min)</h3>
<table><thead><tr><th>θ</th><th>sim best f</th><th>sim error</th><th>theory f_min</th>
<th>theory error</th></tr></thead><tbody>{"".join(fmin_rows)}</tbody></table>

<h2>Method</h2>
<p><b>Learner.</b> <code>min |w|² s.t. y_i w·x_i ≥ 1</code> is a least-distance program, solved
exactly by Lawson–Hanson non-negative least squares (<code>scipy.optimize.nnls</code>) on a
working set grown by the most violated examples until none is violated; the data are always
separable (the teacher separates them).</p>
<p><b>Sampling.</b> Pruning only looks at the probe field <code>z = J_probe·x</code>, which is
independent of the rest of <code>x</code>; so the pool's <code>P</code> probe fields are drawn
first and only kept examples get their other N − 1 coordinates. This is exact and makes pools of
thousands of examples per dimension cheap.</p>
<p><b>Theory.</b> With the student's overlaps <code>R = J·T</code>, <code>S = J·T⊥</code> (the
in-plane direction of the probe) and <code>σ² = 1 − R² − S²</code>, the replica (q → 1) or
Gordon-comparison analysis of the max-margin student says margin κ is reachable iff</p>
<pre>F(R, S, κ) = σ² − α_prune · E_kept[(κ − y(R t + S s) − σ v)₊²] ≥ 0,   v ~ N(0, 1)</pre>
<p>where <code>(t, s)</code> are the teacher and in-plane fields of a kept example. The
max-margin student maximises κ over (R, S); test error = arccos(R)/π. The Gaussian average is
closed-form, the kept-example average uses Gauss–Legendre quadrature, κ is found by Newton's
method and the maximisation by L-BFGS-B with exact gradients (all with numpy/scipy). Random
pruning is no pruning at α_prune; at large α its error tends to 0.50/α_prune.</p>

<h2>Run</h2>
<table>{config_rows}</table>
<h2>Files</h2>
<ul>{file_items}</ul>
<footer class="note">lessdata theory perceptron</footer>
</body></html>
"""


def _plan(n_dim: int, seeds: int, quick: bool) -> _Plan:
    if quick:
        return _Plan(
            n_dim=n_dim,
            seeds=tuple(range(seeds)),
            alpha_prunes=(0.5, 1.0, 2.0, 4.0, 8.0),
            fractions=(1.0, 0.5, 0.25, 0.125),
            thetas=(0.0, math.radians(20.0)),
            random_fractions=(1.0,),
            panel_b_fractions=(0.25,),
            panel_d_alpha_prune=4.0,
            extra_fractions=(0.03125,),
            theory_points=7,
        )
    return _Plan(
        n_dim=n_dim,
        seeds=tuple(range(seeds)),
        alpha_prunes=tuple(_key(0.25 * 2 ** (i / 2)) for i in range(15)),  # 0.25 .. 32
        fractions=tuple(_key(2 ** (-j / 2)) for j in range(13)),  # 1 .. 1/64
        thetas=(0.0, math.radians(10.0), math.radians(20.0)),
        random_fractions=(1.0, 0.25, _key(2**-4)),
        panel_b_fractions=(0.5, 0.125),
        panel_d_alpha_prune=8.0,
        extra_fractions=tuple(_key(2.0**-k) for k in range(7, 11)),  # theory: pools to 32768
        theory_points=30,
    )


def run(
    out_dir: Path,
    *,
    n_dim: int | None = None,
    seeds: int | None = None,
    quick: bool = False,
    workers: int | None = None,
) -> dict[str, Path]:
    """Run the whole experiment and write its figure, numbers and HTML page to ``out_dir``.

    Simulates keep-hard (probe angles 0°, 10°, 20°), keep-easy and random pruning on a lattice
    of training-set sizes ``alpha_prune`` (0.25 to 32 examples per dimension, half-octave
    steps) and fractions kept (1 down to 1/64, so pools up to 2048 examples per dimension),
    ``seeds`` seeds each (default 5) at dimension ``n_dim`` (default 100), computes the
    matching replica-theory curves and writes ``perceptron.png`` (four panels),
    ``perceptron_sim.csv`` (one row per simulation), ``perceptron_theory.csv``,
    ``perceptron.json`` (summary, configuration and theory curves) and a self-contained
    ``perceptron.html``. ``quick=True`` runs a small grid (default N = 40, 2 seeds) in
    seconds, for smoke tests. ``workers`` processes share the work (default: up to 2 CPU
    cores; 1 in quick mode). Returns the paths by kind:
    ``png, csv, theory_csv, json, html``. About 2-3 minutes on 2 cores with the defaults.
    """
    n_dim = _check_n_dim(n_dim if n_dim is not None else (40 if quick else 100))
    seeds = seeds if seeds is not None else (2 if quick else 5)
    if isinstance(seeds, bool) or int(seeds) != seeds or seeds < 1:
        raise LessdataError(f"seeds must be a positive integer, got {seeds!r}; e.g. --seeds 5")
    if workers is None:
        workers = 1 if quick else max(1, min(2, os.cpu_count() or 1))
    elif isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise LessdataError(f"workers must be a positive integer, got {workers!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise LessdataError(f"--out {out_dir} is a file; give a folder for the results")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan(n_dim, int(seeds), quick)
    started = time.perf_counter()

    sim_tasks = plan.sim_tasks()
    theory_tasks = plan.theory_tasks()
    log(
        f"perceptron: N = {n_dim}, {len(plan.seeds)} seeds, {len(sim_tasks)} pruned settings "
        f"({len(sim_tasks) * len(plan.seeds)} max-margin fits), {len(theory_tasks)} theory "
        f"curves, {workers} worker(s)"
    )
    # Theory curves first: the slowest single tasks, so they do not trail at the end.
    tasks = [(fn, args) for _, fn, args in theory_tasks]
    tasks += [(_simulate_seeds, task) for task in sim_tasks]
    results = _run_tasks(_dispatch, tasks, workers, "perceptron: theory + simulations")
    theory = _assemble_theory(
        plan, [label for label, _, _ in theory_tasks], results[: len(theory_tasks)]
    )
    rows = [row for chunk in results[len(theory_tasks) :] for row in chunk]
    rows.sort(key=lambda r: (r["policy"], r["theta"], r["alpha_tot"], r["fraction"], r["seed"]))
    summary = summarize(
        rows,
        theory,
        panel_d_alpha_prune=plan.panel_d_alpha_prune,
        panel_b_fractions=plan.panel_b_fractions,
    )
    seconds = time.perf_counter() - started

    title = (
        f"Data pruning in the teacher–student perceptron (Sorscher et al. 2022): max-margin "
        f"student, N = {n_dim}, {len(plan.seeds)} seeds; markers = simulation, lines = theory"
    )
    paths = {
        "png": out_dir / PNG_NAME,
        "csv": out_dir / CSV_NAME,
        "theory_csv": out_dir / THEORY_CSV_NAME,
        "json": out_dir / JSON_NAME,
        "html": out_dir / HTML_NAME,
    }
    figure(
        rows,
        paths["png"],
        title=title,
        theory=theory,
        panel_b_fractions=plan.panel_b_fractions,
        panel_d_alpha_prune=plan.panel_d_alpha_prune,
        dpi=80 if quick else 110,
    )
    _write_csv(paths["csv"], ROW_FIELDS, rows)
    _write_csv(
        paths["theory_csv"],
        ("curve", "policy", "theta_deg", "fraction", "alpha_tot", "alpha_prune", "error"),
        _theory_rows(theory),
    )
    config = {
        "n_dim": n_dim,
        "seeds": len(plan.seeds),
        "quick": quick,
        "learner": "max-margin perceptron (hard-margin SVM, no bias), exact LDP/NNLS solver",
        "alpha_prune lattice": list(plan.alpha_prunes),
        "fractions kept": list(plan.fractions),
        "probe angles (deg)": [round(math.degrees(t), 6) for t in plan.thetas],
        "random-pruning fractions": list(plan.random_fractions),
        "max alpha_tot": plan.max_alpha_tot,
        "simulated settings": len(sim_tasks),
        "max-margin fits": len(rows),
        "workers": workers,
        "seconds": round(seconds, 1),
    }
    document = {
        "config": config,
        "summary": summary,
        "findings": _findings(summary),
        "frontiers_sim": {f"{math.degrees(th):g}": frontier(rows, th) for th in plan.thetas},
        "theory": theory.to_json(),
    }
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(document, indent=1, default=_json_default), encoding="utf-8")
    files = {
        PNG_NAME: "the figure",
        CSV_NAME: "one row per simulation (seed)",
        THEORY_CSV_NAME: "the theory curves",
        JSON_NAME: "summary, configuration and theory curves",
    }
    page = _html(
        paths["png"].read_bytes(),
        summary,
        config,
        files,
        "Data pruning in the teacher–student perceptron — lessdata theory perceptron",
    )
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_summary(json_path: Path) -> dict[str, Any]:
    """Read the ``summary`` (and ``findings``) written by :func:`run`."""
    document = json.loads(Path(json_path).read_text(encoding="utf-8"))
    return {"summary": document["summary"], "findings": document["findings"]}
