"""Paired statistics of the scaling report: gains with t-intervals, Holm-corrected claims,
examples to a target within the measured sizes with seed-bootstrap intervals, and exports."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.csv as pacsv
import pytest
from scipy import stats
from typer.testing import CliRunner

from lessdata.cli.scale import scale_app
from lessdata.labs.scaling.analysis import analyse
from lessdata.labs.scaling.export import cell_rows, target_rows, write_summary
from lessdata.labs.scaling.paired import (
    BEATS,
    NO_DIFF,
    NO_INTERVAL,
    claim_sentences,
    holm,
    paired_cells,
    paired_stat,
)
from lessdata.labs.scaling.reach import NOT_REACHED, REACHED, SeedCurve, bootstrap_reach
from lessdata.labs.scaling.report import write_scaling_report
from lessdata.labs.scaling.store import ResultsStore, RunKey

N_TRAIN = 1000
FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7)


def _rows(
    gains: dict[tuple[str, str], float],
    *,
    seeds: int = 5,
    noise: float = 0.005,
    rng_seed: int = 0,
    fractions: tuple[float, ...] = FRACTIONS,
) -> list[dict]:
    """Random's error 2·n^-1/2 plus a seed effect shared by every run of the seed; each
    (metric, policy) = random's error − its true gain + independent noise per run."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for seed in range(seeds):
        shared = 0.005 * rng.normal()  # cancels in the paired difference
        base = dict(
            task="toy", model="mlp", width=64, seed=seed, config="c", status="ok", n_train=N_TRAIN
        )

        def add(policy: str, metric: str, keep: str, n: int, err: float, base=base) -> None:
            rows.append(
                {
                    **base,
                    "policy": policy,
                    "metric": metric,
                    "keep": keep,
                    "n_kept": n,
                    "error": err,
                    "accuracy": 1 - err,
                }
            )

        add("full", "-", "1.0", N_TRAIN, 2 * N_TRAIN**-0.5 + shared)
        for f in fractions:
            n = int(f * N_TRAIN)
            random_err = 2 * n**-0.5 + shared
            add("random", "-", str(f), n, random_err)
            for (metric, policy), gain in gains.items():
                add(policy, metric, str(f), n, random_err - gain + noise * rng.normal())
    return rows


NOISE_POLICIES = [
    ("m1", "keep-easy"),
    ("m1", "moderate"),
    ("m2", "keep-hard"),
    ("m2", "keep-easy"),
    ("m2", "ccs"),
]


def test_paired_stat_matches_scipy_and_says_when_there_is_no_interval():
    d = [0.02, 0.03, 0.025, 0.035, 0.03]
    s = paired_stat(d)
    lo, hi = stats.t.interval(0.95, 4, loc=np.mean(d), scale=stats.sem(d))
    assert (s.low, s.high) == pytest.approx((lo, hi))
    assert s.p_value == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    one = paired_stat([0.04])
    assert one.n == 1 and math.isnan(one.low) and math.isnan(one.p_value)
    assert NO_INTERVAL in one.text(100, "+.2f", " pt")


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    adjusted = holm(p)
    # sorted 0.005, 0.01, 0.03, 0.04 with m = 4: 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4])


def test_the_true_policy_is_claimed_and_the_noise_policies_are_not():
    gains = {("m1", "keep-hard"): 0.03, **{k: 0.0 for k in NOISE_POLICIES}}
    cells = paired_cells(_rows(gains))
    assert len(cells) == 6 * len(FRACTIONS)
    assert all(c.family_size == 30 and c.stat.n == 5 for c in cells)
    covered = 0
    for c in cells:
        if c.label == "keep-hard · m1":
            assert c.verdict == BEATS and c.best_at_fraction
            assert c.stat.mean == pytest.approx(0.03, abs=0.01)
            covered += c.stat.low < 0.03 < c.stat.high
        else:
            assert c.verdict == NO_DIFF, (c.label, c.keep, c.p_holm)
    assert covered >= 4  # a 95% interval covers the true gain (here 4 or 5 times of 5)
    lines = claim_sentences(cells, 64)
    assert all("keep-hard · m1" in line for line in lines[:-1])
    assert "keep-easy" not in " ".join(lines) and "largest gain" in lines[-1]


def test_a_lucky_cell_among_thirty_noise_cells_does_not_survive_holm():
    gains = {k: 0.0 for k in [("m1", "keep-hard"), *NOISE_POLICIES]}
    rows = _rows(gains, rng_seed=3)
    lucky = [r for r in rows if r["policy"] == "moderate" and r["keep"] == "0.3"]
    randoms = {
        r["seed"]: r["error"] for r in rows if r["policy"] == "random" and r["keep"] == "0.3"
    }
    for r, gain in zip(lucky, [0.012, 0.02, 0.006, 0.015, 0.01], strict=True):
        r["error"] = randoms[r["seed"]] - gain  # one cell looks good on its own: p ≈ 0.01
    cells = paired_cells(rows)
    cell = next(c for c in cells if c.policy == "moderate" and c.keep == "0.3")
    assert cell.stat.p_value < 0.05 and cell.stat.low > 0  # it would "win" uncorrected
    assert not cell.survives_holm and cell.verdict == NO_DIFF and cell.family_size == 30
    assert not any(c.survives_holm for c in cells)
    lines = claim_sentences(cells, 64)
    assert all("no policy beats random after correction" in line for line in lines)


def test_one_seed_gives_no_interval_and_no_claim():
    cells = paired_cells(_rows({("m1", "keep-hard"): 0.03}, seeds=1))
    assert all(c.verdict == NO_INTERVAL and c.family_size == 0 for c in cells)
    assert "n < 2: no interval" in claim_sentences(cells, 64)[0]


def test_the_full_budget_pairs_with_the_full_data_run():
    rows = _rows({}, fractions=())
    for r in [r for r in rows if r["policy"] == "full"]:
        rows.append({**r, "policy": "dynamic-0.3", "error": r["error"] + 0.01})
    (cell,) = paired_cells(rows)
    assert cell.baseline == "full" and cell.stat.mean == pytest.approx(-0.01)


def test_fresh_seeds_confirm_the_true_winner():
    gains = {("m1", "keep-hard"): 0.03, **{k: 0.0 for k in NOISE_POLICIES}}
    (analysis,) = analyse(_rows(gains, seeds=6), n_boot=0, n_boot_seeds=50, confirm_seeds=[3, 4, 5])
    assert len(analysis.confirmations) == len(FRACTIONS)
    for c in analysis.confirmations:
        assert c.label == "keep-hard · m1" and c.confirm_seeds == [3, 4, 5] and c.confirmed
        assert c.pick_seeds == [0, 1, 2] and c.candidates == 6


def _curve(target_n: float | None = None) -> tuple[SeedCurve, float]:
    n = np.array([100, 200, 400, 800], dtype=float)
    scale = np.array([1.0, 1.1, 0.9, 1.05, 0.95])[:, None]
    return SeedCurve(n, scale * n**-0.5), 1.0 * (target_n or 300) ** -0.5


def test_a_target_between_two_sizes_is_interpolated_with_an_interval_around_it():
    curve, target = _curve(300)  # the mean curve is exactly 300^-0.5 at n = 300
    r = bootstrap_reach({"random": curve}, target=target, n_boot=500)["random"]
    assert r.examples == pytest.approx(300, rel=1e-9) and r.status == REACHED
    assert r.low <= r.examples <= r.high and r.low < r.high and r.n_seeds == 5
    again = bootstrap_reach({"random": curve}, target=target, n_boot=500)["random"]
    assert again == r  # seeded


def test_a_target_beyond_the_largest_size_is_not_reached_never_extrapolated():
    curve, _ = _curve()
    r = bootstrap_reach({"random": curve}, target=800**-0.5 * 0.9, n_boot=200)["random"]
    assert r.examples == math.inf and r.status == NOT_REACHED and r.high == math.inf
    assert r.reached_share < 0.5


def test_report_reads_examples_within_the_data_where_a_fit_would_extrapolate(tmp_path):
    rows = _rows({("m1", "keep-hard"): 0.0})
    full_error = np.mean([r["error"] for r in rows if r["policy"] == "full"])
    (analysis,) = analyse(rows, target=full_error * 0.97, n_boot=50, n_boot_seeds=100)
    random = next(row for row in analysis.table if row.label == "random")
    fit = analysis.curves[64]["random"].fit
    assert fit is not None and math.isfinite(fit.examples_for(full_error * 0.97))
    assert random.reach.status == NOT_REACHED and random.examples_to_full == math.inf
    html = write_scaling_report(
        rows, tmp_path / "r", target=full_error * 0.97, n_boot=20, n_boot_seeds=50
    )["html"].read_text()
    assert "not reached" in html and "Power-law fit (a labelled description" in html


def test_default_target_is_the_full_data_error_with_intervals():
    (analysis,) = analyse(_rows({("m1", "keep-hard"): 0.03}), n_boot=20, n_boot_seeds=200)
    hard = next(row for row in analysis.table if row.label == "keep-hard · m1").reach
    random = next(row for row in analysis.table if row.label == "random").reach
    assert hard.examples < random.examples and hard.saved > 0
    assert hard.low <= hard.examples <= hard.high
    assert hard.saved_low <= hard.saved <= hard.saved_high


def test_html_and_exports_carry_the_paired_cells_and_the_claims(tmp_path):
    gains = {("m1", "keep-hard"): 0.03, **{k: 0.0 for k in NOISE_POLICIES}}
    rows = _rows(gains)
    html = write_scaling_report(rows, tmp_path / "r", n_boot=10, n_boot_seeds=50)[
        "html"
    ].read_text()
    for text in (
        "Against random, seed by seed",
        "95% t-interval",
        "Holm p",
        "beats random after Holm correction: keep-hard · m1 +",
        " pt [",
    ):
        assert text in html, text
    noise_only = _rows({k: 0.0 for k in NOISE_POLICIES})
    html = write_scaling_report(noise_only, tmp_path / "n", n_boot=10, n_boot_seeds=20)[
        "html"
    ].read_text()
    assert "no policy beats random after correction" in html
    paths = write_summary(
        rows, tmp_path / "cells.csv", tmp_path / "targets.json", n_boot=10, n_boot_seeds=50
    )
    table = pacsv.read_csv(paths["cells"]).to_pylist()
    assert len(table) == 30 and {
        "gain_mean",
        "ci_low",
        "ci_high",
        "n_seeds",
        "p_value",
        "p_holm",
        "survives_holm",
    } <= set(table[0])
    survivors = {(r["metric"], r["policy"]) for r in table if r["survives_holm"]}
    assert survivors == {("m1", "keep-hard")}
    assert sum(r["best_overall"] for r in table) == 1
    targets = json.loads(paths["targets"].read_text())
    assert {t["curve"] for t in targets} >= {"random", "keep-hard · m1"}
    assert all(t["fit"].startswith("power law") for t in targets)
    (analysis,) = analyse(rows, n_boot=10, n_boot_seeds=50)
    direct = cell_rows([analysis])
    assert [r["p_holm"] for r in direct] == pytest.approx([r["p_holm"] for r in table])
    assert len(target_rows([analysis])) == 7


def test_cli_export_summary_and_report_with_confirm_seeds(tmp_path):
    store = tmp_path / "store"
    gains = {("m1", "keep-hard"): 0.03, ("m1", "keep-easy"): 0.0}
    with ResultsStore(store) as results:
        for r in _rows(gains, seeds=4, fractions=(0.1, 0.5)):
            keep = 1.0 if r["policy"] == "full" else float(r["keep"])
            key = RunKey(r["task"], r["model"], 64, r["metric"], r["policy"], keep, r["seed"], "c")
            results.record(
                key,
                {"error": r["error"], "accuracy": r["accuracy"]},
                n_kept=r["n_kept"],
                n_train=N_TRAIN,
            )
    runner = CliRunner()
    result = runner.invoke(
        scale_app,
        [
            "export",
            "--store",
            str(store),
            "--summary",
            str(tmp_path / "s.parquet"),
            "--targets",
            str(tmp_path / "t.csv"),
            "--confirm-seeds",
            "2,3",
        ],
    )
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    cells = pq.read_table(tmp_path / "s.parquet").to_pylist()
    picked = [c for c in cells if c["confirm_pick"]]
    assert len(picked) == 2 and all(c["confirm_seeds"] == "2,3" for c in picked)
    result = runner.invoke(
        scale_app,
        ["report", "--store", str(store), "--out", str(tmp_path / "rep"), "--confirm-seeds", "2,3"],
    )
    assert result.exit_code == 0, result.output
    assert (
        "Picked on some seeds, confirmed on the others"
        in (tmp_path / "rep" / "report.html").read_text()
    )
    result = runner.invoke(scale_app, ["export", "--store", str(store)])
    assert result.exit_code != 0 and "--summary" in str(result.exception or result.output)
    result = runner.invoke(scale_app, ["export", "--store", str(store), "--summary", "x.txt"])
    assert result.exit_code != 0
