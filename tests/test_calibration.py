"""calibrate: the theory's answer on perceptron data, the budget, and refused calibrations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.pipeline.calibration import FORMAT, _decide, read_calibration


def perceptron(n: int, d: int, seed: int = 0, probe_angle: float = 0.2):
    """Teacher–student perceptron data (Sorscher et al. 2022, section 2): Gaussian inputs,
    labels by a random teacher, and the margin of a probe ``probe_angle`` radians off the
    teacher as the difficulty (higher = closer to the boundary = harder)."""
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=d)
    teacher /= np.linalg.norm(teacher)
    x = rng.normal(size=(n, d)).astype(np.float32)
    other = rng.normal(size=d)
    other -= other @ teacher * teacher
    other /= np.linalg.norm(other)
    probe = np.cos(probe_angle) * teacher + np.sin(probe_angle) * other
    return x, (x @ teacher > 0).astype(np.int64), -np.abs(x @ probe)


@pytest.mark.parametrize(
    ("n", "d", "expected"),
    [
        (800, 100, "keep-easy"),  # alpha_tot = 8: little data per dimension, keep easy
        (6000, 50, "keep-hard"),  # alpha_tot = 120: abundant data, keep hard
    ],
)
def test_calibrate_finds_the_theorys_policy_on_perceptron_data(n, d, expected):
    x, y, margin = perceptron(n, d)
    result = lessdata.calibrate(
        x, labels=y, scores=margin, metric="margin", fractions=(0.2,), seeds=3,
        policies=("keep-easy", "keep-hard"), full_run_seconds=1e4, quiet=True,
    )  # fmt: skip
    assert result.choices == {0.2: expected}
    evidence = result.record["fractions"][0]["evidence"]
    other = "keep-hard" if expected == "keep-easy" else "keep-easy"
    assert evidence[expected]["predicted_gain"] > evidence[other]["predicted_gain"]
    assert result.record["pool_sizes"] == sorted(result.record["pool_sizes"])
    assert len(result.record["pool_sizes"]) == 3


def test_random_is_chosen_when_no_policy_clearly_wins():
    """Scores that say nothing about the examples: the evidence never clears random."""
    x, y, _ = perceptron(1500, 20, seed=3)
    noise = np.random.default_rng(0).random(len(x))
    result = lessdata.calibrate(
        x, labels=y, scores=noise, metric="noise", fractions=(0.3, 0.6), seeds=3,
        policies=("keep-easy", "keep-hard"), full_run_seconds=1e4, quiet=True,
    )  # fmt: skip
    assert set(result.choices.values()) == {"random"}
    assert result.record["min_useful_fraction"] is None


def test_decide_extrapolates_the_gain_to_the_full_pool():
    runs = []
    for pool, hard_gain in ((100, 0.0), (200, 0.05), (400, 0.10)):
        for seed in range(2):
            runs += [
                dict(pool=pool, seed=seed, fraction=0.5, policy="random", accuracy=0.8),
                dict(pool=pool, seed=seed, fraction=0.5, policy="keep-hard",
                     accuracy=0.8 + hard_gain + 0.001 * seed),
                dict(pool=pool, seed=seed, fraction=0.5, policy="keep-easy", accuracy=0.79),
            ]  # fmt: skip
    record = _decide(runs, [0.5], ["random", "keep-hard", "keep-easy"], full_pool=1600)
    row = record["fractions"][0]
    assert row["policy"] == "keep-hard"
    assert row["evidence"]["keep-hard"]["predicted_gain"] == pytest.approx(0.2005, abs=2e-3)
    assert 80 < record["crossover_pool_size"]["0.5"] < 100  # hard passes easy at ~86
    # a gain seen only in the extrapolation is not enough: random stays
    for run in runs:
        if run["policy"] == "keep-hard":
            run["accuracy"] -= 0.1
    assert _decide(runs, [0.5], ["random", "keep-hard"], 1600)["fractions"][0]["policy"] == (
        "random"
    )


def test_the_pilot_stays_within_its_budget_or_says_why():
    x, y, margin = perceptron(3000, 20)
    with pytest.raises(LessdataError, match="more than 15% of one full training run"):
        lessdata.calibrate(x, labels=y, scores=margin, full_run_seconds=1e-4, quiet=True)
    result = lessdata.calibrate(x, labels=y, scores=margin, full_run_seconds=1e4, quiet=True)
    cost = result.record["cost"]
    assert 0 < cost["share"] <= 0.15 and cost["stopped"] is None


def test_too_few_examples_per_class_says_how_many_are_needed():
    x, y, margin = perceptron(300, 5)
    y[:5] = 2  # a class of five
    with pytest.raises(LessdataError, match=r"smallest class has 5, calibrate needs at least 50"):
        lessdata.calibrate(x, labels=y, scores=margin, full_run_seconds=1e4, quiet=True)
    with pytest.raises(LessdataError, match="needs labels"):
        lessdata.calibrate(x, scores=margin, full_run_seconds=1e4, quiet=True)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cal")
    x, y, _ = perceptron(1200, 10, seed=1)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    result = lessdata.calibrate(
        folder / "x.npy", labels=folder / "y.npy", metric_options={"k": 8}, seeds=1,
        fractions=(0.2, 0.6), full_run_seconds=1e4, out=folder / "calib", quiet=True,
    )  # fmt: skip
    return folder, result


def test_calibration_is_written_and_used_by_auto(calibrated, cli):
    folder, result = calibrated
    assert {p.name for p in (folder / "calib").iterdir()} >= {
        "calibration.json", "calibration.png", "calibration.html"
    }  # fmt: skip
    record = json.loads((folder / "calib" / "calibration.json").read_text())
    assert record["format"] == FORMAT and record["rows"] == 1200
    code, _, err = cli("prune", folder / "x.npy", "--labels", folder / "y.npy", "--keep",
                         "0.25", "--k", "8", "--calibration", folder / "calib/calibration.json",
                         "--out", folder / "pruned", "-q")  # fmt: skip
    assert code == 0, err
    expected = result.choices[0.2]
    manifest = lessdata.data.manifest.read_manifest(folder / "pruned" / "manifest.parquet")
    reasons = set(manifest.column("reason").to_pylist())
    assert f"kept: auto (calibrated at keep 0.2) → {expected} on prototypes, 300 of 1200 kept" in (
        reasons
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("rows", "measured on another dataset (1200 rows, this one has 1199)"),
        ("content", "same size, different ids or content"),
        ("metric", "measured for metric prototypes with options {'k': 8}"),
        ("policy", "read by policy auto only"),
        ("format", "is not a lessdata calibration"),
    ],
)
def test_a_calibration_for_other_data_is_refused(calibrated, tmp_path, change, message):
    folder, _ = calibrated
    x = np.load(folder / "x.npy")
    y = np.load(folder / "y.npy")
    calibration = folder / "calib" / "calibration.json"
    kwargs: dict = dict(metric_options={"k": 8}, calibration=calibration, labels=y, quiet=True)
    if change == "rows":
        x, kwargs["labels"] = x[:-1], y[:-1]
    elif change == "content":
        x = x.copy()
        x[0, 0] += 1
    elif change == "metric":
        kwargs["metric_options"] = {"k": 9}
    elif change == "policy":
        kwargs["policy"] = "keep-hard"
    elif change == "format":
        other = tmp_path / "c.json"
        other.write_text(json.dumps({"format": "something else"}))
        kwargs["calibration"] = other
    with pytest.raises(LessdataError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("{", r"\{").replace("}", r"\}")):  # fmt: skip
        lessdata.prune(x, 0.3, **kwargs)


def test_read_calibration_refuses_broken_files(tmp_path: Path):
    import os

    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(LessdataError, match="not a regular file"):
        read_calibration(tmp_path / "fifo.json")  # never opened: it would block
    with pytest.raises(LessdataError, match="no such file"):
        read_calibration(tmp_path / "missing.json")
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(LessdataError, match="cannot be read"):
        read_calibration(bad)
    bad.write_text(json.dumps({"format": FORMAT, "fractions": [{"fraction": 0.2}]}))
    with pytest.raises(LessdataError, match="no usable choices"):
        read_calibration(bad)


def test_the_proxy_can_see_other_features_than_the_data(tmp_path):
    x, y, margin = perceptron(800, 100)
    np.save(tmp_path / "f.npy", x * 2.0)
    result = lessdata.calibrate(
        np.zeros((800, 3), np.float32) + np.arange(800)[:, None], labels=y, scores=margin,
        features=tmp_path / "f.npy", fractions=(0.2,), seeds=3, full_run_seconds=1e4,
        policies=("keep-easy", "keep-hard"), quiet=True,
    )  # fmt: skip
    assert result.choices == {0.2: "keep-easy"}  # learnt from the features, not the data
    assert result.record["proxy"].endswith("features")
    with pytest.raises(LessdataError, match="features must be 800 finite rows"):
        lessdata.calibrate(x, labels=y, scores=margin, features=x[:10], quiet=True)
