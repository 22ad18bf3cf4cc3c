"""The replica theory of the max-margin student on pruned data (Sorscher et al. 2022).

Why this exists: the simulations of :mod:`lessdata.labs.theory.simulate` are at finite ``N``
and noisy; the theory is their ``N -> inf`` limit, solved numerically here, so that the lab
shows simulation beside theory and can reach pools far larger than it simulates.

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

Besides single points (:func:`theory_point`), the module computes the curves a run draws
(:func:`theory_curve`, :func:`theory_fractions`, :func:`crossover_alpha_tot`,
:func:`optimal_fraction`: worker tasks) and holds them together in :class:`TheoryCurves`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lessdata.checks import check_choice, check_float
from lessdata.labs.theory.simulate import POLICIES, single_blas_thread

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
    with single_blas_thread():
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

    alpha = check_float(
        alpha_prune,
        "alpha_prune",
        low=0.0,
        closed="neither",
        hint="it counts kept examples per dimension",
    )
    fraction = check_float(
        fraction,
        "fraction",
        low=0.0,
        high=1.0,
        closed="right",
        hint="the share of the pool kept, e.g. 0.3 keeps 30%",
    )
    policy = check_choice(policy, "policy", POLICIES)
    theta = check_float(
        theta,
        "theta",
        low=0.0,
        high=math.pi / 2,
        hint="the probe angle in radians, e.g. math.radians(10) for 10 degrees",
    )
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


# --- worker tasks: the theory curves of a run ------------------------------------------


def theory_curve(alphas: list[float], fraction: float, policy: str, theta: float) -> list[float]:
    """Worker task: theory errors along increasing ``alphas``, each warm-starting the next."""
    errors, start = [], None
    for alpha in alphas:
        point = _theory_point(alpha, fraction, policy, theta, start=start)
        errors.append(point.error)
        start = point.start
    return errors


def theory_fractions(
    alpha_prune: float, fractions: list[float], policy: str, theta: float
) -> list[float]:
    """Worker task: theory errors at fixed ``alpha_prune`` along ``fractions``."""
    errors, start = [], None
    for fraction in fractions:
        point = _theory_point(alpha_prune, fraction, policy, theta, start=start)
        errors.append(point.error)
        start = point.start
    return errors


def crossover_alpha_tot(fraction: float, lo: float, hi: float) -> float | None:
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


def optimal_fraction(alpha_prune: float, theta: float, lowest: float) -> tuple[float, float]:
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


@dataclass
class TheoryCurves:
    """Replica-theory curves matching a simulation plan.

    What :func:`~lessdata.labs.theory.figures.figure` draws beside the simulations.
    """

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
