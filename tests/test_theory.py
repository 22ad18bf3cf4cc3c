"""The teacher–student perceptron of Sorscher et al. 2022: sampling, learner, theory, run()."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.labs.theory import (
    max_margin,
    probe_at_angle,
    run,
    sample_pruned,
    simulate,
    sweep,
    theory_error,
)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")


def _mean_error(policy: str, alpha_tot: float, fraction: float, n_dim: int = 60) -> float:
    return float(np.mean([simulate(n_dim, alpha_tot, fraction, policy, 0.0, s) for s in range(4)]))


@pytest.mark.parametrize("degrees", [0.0, 10.0, 20.0, 45.0, 90.0])
def test_probe_at_angle_is_a_unit_vector_at_the_angle(degrees: float) -> None:
    rng = np.random.default_rng(3)
    teacher = 5.0 * rng.standard_normal(70)  # not normalised on purpose
    probe = probe_at_angle(teacher, math.radians(degrees), rng)
    assert probe.shape == (70,)
    assert np.linalg.norm(probe) == pytest.approx(1.0, abs=1e-12)
    cosine = probe @ teacher / np.linalg.norm(teacher)
    assert math.degrees(math.acos(min(1.0, cosine))) == pytest.approx(degrees, abs=1e-6)


def test_hard_pruning_keeps_exactly_round_f_p_smallest_margins() -> None:
    sample = sample_pruned(50, 3.0, 0.3, "hard", theta=0.0, seed=1)
    assert sample.n_total == 150
    assert sample.y.size == sample.x.shape[0] == round(0.3 * 150) == 45
    np.testing.assert_allclose(sample.probe, sample.teacher)  # theta = 0: probe is the teacher
    kept_margins = np.abs(sample.x @ sample.probe)
    np.testing.assert_allclose(kept_margins, sample.pool_margins[sample.kept], atol=1e-9)
    assert set(sample.kept) == set(np.argsort(sample.pool_margins)[:45])
    assert np.all(sample.y == np.sign(sample.x @ sample.teacher))


def test_easy_and_random_keep_the_same_count() -> None:
    easy = sample_pruned(40, 2.5, 0.5, "easy", seed=2)
    assert easy.y.size == 50
    assert set(easy.kept) == set(np.argsort(-easy.pool_margins)[:50])
    rand = sample_pruned(40, 2.5, 0.5, "random", seed=2)
    assert rand.y.size == 50 and np.unique(rand.kept).size == 50


def test_max_margin_satisfies_the_optimality_conditions() -> None:
    from scipy.optimize import nnls

    sample = sample_pruned(30, 6.0, 1.0, "random", seed=4)
    w = max_margin(sample.x, sample.y)
    margins = sample.y * (sample.x @ w)
    assert margins.min() >= 1.0 - 1e-7  # feasible
    active = margins < 1.0 + 1e-6
    # KKT: w is a non-negative combination of the active constraints' gradients y_i x_i.
    _, residual = nnls((sample.x[active] * sample.y[active, None]).T, w)
    assert residual < 1e-6 * np.linalg.norm(w)


def test_keep_hard_beats_random_with_a_large_pool() -> None:
    hard = _mean_error("hard", 8.0, 0.3)
    rand = _mean_error("random", 8.0, 0.3)
    assert hard < 0.7 * rand  # theory: 0.071 vs 0.17


def test_keep_hard_loses_to_random_and_easy_with_a_small_pool() -> None:
    hard = _mean_error("hard", 2.0, 0.3)
    rand = _mean_error("random", 2.0, 0.3)
    easy = _mean_error("easy", 2.0, 0.3)
    assert hard > rand and hard > easy  # theory: 0.43 vs 0.31 and 0.29


def test_random_pruning_error_decreases_with_alpha() -> None:
    errors = [_mean_error("random", alpha, 1.0, n_dim=50) for alpha in (0.5, 2.0, 8.0)]
    assert errors[0] > errors[1] > errors[2]


def test_theory_matches_known_limits_and_simulation() -> None:
    # Max-stability perceptron: error -> 0.50/alpha at large alpha.
    assert theory_error(1000.0, 1.0, "random") * 1000.0 == pytest.approx(0.5005, abs=2e-3)
    assert theory_error(4.0, 0.5, "random") == pytest.approx(theory_error(4.0, 1.0, "hard"))
    # Simulation at N = 80 agrees with the N -> inf theory within finite-size noise.
    simulated = np.mean([simulate(80, 12.0, 0.25, "hard", 0.0, s) for s in range(3)])
    assert simulated == pytest.approx(theory_error(3.0, 0.25, "hard"), rel=0.25)


def test_sweep_rows() -> None:
    rows = sweep(30, [2.0, 4.0], [1.0, 0.5], ["hard", "random"], theta=0.0, seeds=2)
    assert len(rows) == 2 * 2 * 2 * 2
    row = rows[0]
    assert {"alpha_tot", "fraction", "alpha_prune", "policy", "theta", "seed", "error"} <= set(row)
    assert all(0.0 <= r["error"] <= 0.5 for r in rows)
    assert all(r["alpha_prune"] == pytest.approx(r["alpha_tot"] * r["fraction"]) for r in rows)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fraction": 0.0},
        {"fraction": -0.2},
        {"fraction": 1.5},
        {"fraction": float("nan")},
        {"policy": "medium"},
        {"alpha_tot": 0.0},
        {"alpha_tot": -1.0},
        {"n_dim": 1},
        {"theta": 2.0},
    ],
)
def test_bad_inputs_raise_lessdata_error(kwargs: dict) -> None:
    args = {"n_dim": 20, "alpha_tot": 2.0, "fraction": 0.5, "policy": "hard", "theta": 0.0}
    args.update(kwargs)
    with pytest.raises(LessdataError):
        simulate(**args)


def test_bad_inputs_elsewhere_raise_lessdata_error(tmp_path) -> None:
    with pytest.raises(LessdataError):
        sweep(20, [2.0], [0.5], ["nope"], seeds=1)
    with pytest.raises(LessdataError):
        theory_error(0.0, 0.5, "hard")
    with pytest.raises(LessdataError):
        run(tmp_path / "out", quick=True, seeds=0)


def test_run_quick_writes_png_html_csv_json(tmp_path) -> None:
    paths = run(tmp_path / "theory", quick=True)
    assert set(paths) == {"png", "csv", "theory_csv", "json", "html"}
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {"policy", "alpha_prune", "error"} <= set(rows[0])
    document = json.loads(paths["json"].read_text())
    assert document["summary"]["random_fit"]["nu"] > 0
    assert document["findings"]


def test_figure_from_a_sweep_without_theory(tmp_path) -> None:
    from lessdata.labs.theory import figure

    rows = sweep(20, [1.0, 2.0, 4.0], [1.0, 0.5], ["hard", "easy", "random"], seeds=2)
    path = figure(rows, tmp_path / "sweep.png", title="small sweep")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(LessdataError):
        figure([], tmp_path / "empty.png", title="nothing")


def test_cli_help_and_bad_option(tmp_path) -> None:
    from typer.testing import CliRunner

    from lessdata.cli.theory import theory_app

    runner = CliRunner()
    result = runner.invoke(theory_app, ["perceptron", "--help"])
    assert result.exit_code == 0 and "max-margin" in result.output
    result = runner.invoke(theory_app, ["perceptron", "--out", str(tmp_path), "--n-dim", "1"])
    assert isinstance(result.exception, LessdataError)
