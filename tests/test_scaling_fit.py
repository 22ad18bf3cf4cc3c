"""Scaling-curve arithmetic: power-law fits, examples to reach, data saved, Pareto frontier."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.labs.scaling.fit import (
    Curve,
    PowerLawFit,
    data_saved_vs_random,
    examples_to_reach,
    fit_power_law,
    pareto_frontier,
)


@pytest.mark.parametrize("noise_seed", [0, 1, 2])
def test_fit_recovers_exponent_and_floor_from_noisy_curves(noise_seed):
    rng = np.random.default_rng(noise_seed)
    n = np.repeat(np.geomspace(100, 100_000, 10), 3)  # 10 sizes × 3 seeds
    err = (2.0 * n**-0.5 + 0.02) * (1 + 0.03 * rng.normal(size=n.shape))
    fit = fit_power_law(n, err, seed=0)
    assert fit.b_low <= 0.5 <= fit.b_high
    assert abs(fit.b - 0.5) < 0.1
    assert fit.b_high - fit.b_low < 0.2  # an informative interval
    assert fit.c == pytest.approx(0.02, abs=0.005)
    assert fit.n_points == 30


def test_fit_is_exact_on_a_clean_power_law_and_seeded():
    n = np.geomspace(50, 5000, 8)
    fit = fit_power_law(n, 3.0 * n**-0.7, seed=3)
    assert fit.b == pytest.approx(0.7, abs=1e-3)
    assert fit.c == pytest.approx(0.0, abs=1e-4)
    assert fit.a == pytest.approx(3.0, rel=1e-2)
    noisy = 3.0 * n**-0.7 * (1 + 0.05 * np.random.default_rng(0).normal(size=n.shape))
    assert fit_power_law(n, noisy, seed=1) == fit_power_law(n, noisy, seed=1)


def test_fit_needs_three_sizes():
    with pytest.raises(LessdataError, match="three or more distinct sizes"):
        fit_power_law([100, 100, 200, 200], [0.3, 0.31, 0.2, 0.21])


def test_examples_to_reach_interpolates_a_curve_in_log_log():
    n = np.array([100.0, 200.0, 400.0, 800.0])
    err = n**-0.5
    assert examples_to_reach((n, err), 400**-0.5) == 400.0  # a measured point
    assert examples_to_reach((n, err), 300**-0.5) == pytest.approx(300.0)  # exact for a power law
    assert examples_to_reach((n, err), 1.0) == 100.0  # already there at the smallest size
    assert math.isinf(examples_to_reach((n, err), 0.001))  # never reached: no extrapolation
    # repeated sizes (one per seed) are averaged first
    seeds = Curve.from_points([100, 100, 400, 400], [0.2, 0.4, 0.1, 0.1])
    assert seeds.err.tolist() == pytest.approx([0.3, 0.1])
    assert examples_to_reach(seeds, 0.1) == 400.0


def test_examples_to_reach_inverts_a_fit():
    fit = PowerLawFit(
        a=2.0, b=0.5, c=0.01, b_low=0.4, b_high=0.6, confidence=0.95, n_points=10, rmse_log=0.0
    )
    assert examples_to_reach(fit, 0.03) == pytest.approx(10_000.0)  # (2 / 0.02)^2
    assert math.isinf(examples_to_reach(fit, 0.01))  # at the floor
    assert fit.predict(10_000.0) == pytest.approx(0.03)


def test_data_saved_vs_random_on_known_curves():
    n = np.array([100.0, 200.0, 400.0, 800.0, 1600.0])
    curves = {
        "random": (n, n**-0.5),
        "twice as good": (n, (2 * n) ** -0.5),  # needs half the data
        "half as good": (n, (n / 2) ** -0.5),  # needs twice the data
    }
    out = data_saved_vs_random(curves, target=400**-0.5)
    assert out["random"].saved == pytest.approx(0.0)
    assert out["twice as good"].examples == pytest.approx(200.0)
    assert out["twice as good"].saved == pytest.approx(0.5)
    assert out["half as good"].saved == pytest.approx(-1.0)
    # default target: random's error at its largest size (the full-data error)
    full = data_saved_vs_random(curves)
    assert full["random"].target == pytest.approx(1600**-0.5)
    assert full["twice as good"].saved == pytest.approx(0.5)
    assert math.isnan(full["half as good"].saved)  # never reaches it within the sweep
    with pytest.raises(LessdataError, match="random"):
        data_saved_vs_random({"hard": (n, n**-0.5)})


def test_pareto_frontier_on_a_hand_example():
    points = [
        (100, 0.30),  # 0: fewest examples → on the frontier
        (200, 0.35),  # 1: dominated by 0
        (200, 0.20),  # 2: on
        (400, 0.20),  # 3: same error, more examples → dominated by 2
        (400, 0.25),  # 4: dominated
        (800, 0.10),  # 5: on
        (800, 0.10),  # 6: exact duplicate of 5 → only the first is kept
        (1600, 0.12),  # 7: dominated by 5
        (50, float("nan")),  # 8: not a point
    ]
    assert pareto_frontier(points) == [0, 2, 5]
    assert pareto_frontier([]) == []
