"""calibrate: the theory's answer on perceptron data, the decision at the full size, counted
cost and determinism, custom scores end to end, and refused calibrations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.pipeline.calibration import FORMAT, default_seeds, read_calibration
from lessdata.pipeline.calibration_decision import decide
from lessdata.report.calibration import render_calibration_html


def perceptron(n: int, d: int, seed: int = 0, probe_angle: float = 0.0):
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


def strict_json(text: str):
    """json.loads that refuses NaN and infinity, as JavaScript's JSON.parse does."""

    def refuse(name: str):
        raise ValueError(f"not standard JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("n", "d", "fraction", "expected"),
    [
        (600, 100, 0.2, "keep-easy"),  # alpha = 6: little data per dimension, keep easy
        (6000, 30, 0.1, "keep-hard"),  # alpha = 200: abundant data, keep hard
    ],
)
def test_calibrate_finds_the_theorys_policy_on_perceptron_data(n, d, fraction, expected):
    x, y, margin = perceptron(n, d)
    result = lessdata.calibrate(x, labels=y, scores=margin, metric="margin",
                                fractions=(fraction,), policies=("keep-easy", "keep-hard"),
                                quiet=True)  # fmt: skip
    assert result.choices == {fraction: expected}
    row = result.record["fractions"][0]
    other = "keep-hard" if expected == "keep-easy" else "keep-easy"
    assert row["evidence"][expected]["lower_bound"] > 0
    assert row["evidence"][expected]["gain_at_full"] > row["evidence"][other]["gain_at_full"]
    assert row["reason"].startswith(f"{expected}: +")
    assert result.record["plan"]["pool_sizes"] == [round(n * s) for s in (0.2, 0.4, 0.8)]
    assert result.record["plan"]["seeds"] == default_seeds(n) >= 5


def test_random_is_chosen_when_no_policy_clearly_wins():
    """Scores that say nothing about the examples: the evidence never clears random."""
    x, y, _ = perceptron(1500, 20, seed=3)
    noise = np.random.default_rng(0).random(len(x))
    result = lessdata.calibrate(
        x, labels=y, scores=noise, metric="noise", fractions=(0.3, 0.6),
        policies=("keep-easy", "keep-hard"), quiet=True,
    )  # fmt: skip
    assert set(result.choices.values()) == {"random"}
    assert result.record["min_useful_fraction"] is None
    assert all(r["reason"].startswith("random: no candidate") for r in result.record["fractions"])


def _runs(gains: dict[str, dict[int, float]], repeats: int = 3, noise: float = 0.1):
    """Pilot runs with a given gain over random per policy and pool size."""
    rng = np.random.default_rng(0)
    runs = []
    for pool in sorted(next(iter(gains.values()))):
        for repeat in range(repeats):
            runs.append(dict(pool=pool, repeat=repeat, fraction=0.5, policy="random",
                             accuracy=80.0))  # fmt: skip
            for policy, by_pool in gains.items():
                runs.append(dict(pool=pool, repeat=repeat, fraction=0.5, policy=policy,
                                 accuracy=80.0 + by_pool[pool] + noise * rng.normal()))
    return runs


def test_decide_reads_the_gain_off_the_trend_at_the_full_size():
    # keep-hard's gain grows by 2 points per doubling; its mean over the pools is +2
    runs = _runs({"keep-hard": {200: 0.0, 400: 2.0, 800: 4.0},
                  "keep-easy": {200: 3.0, 400: 2.0, 800: 1.0}})  # fmt: skip
    record = decide(runs, [0.5], ["random", "keep-hard", "keep-easy"], 1600, 0.95, {})
    row = record["fractions"][0]
    assert row["policy"] == "keep-hard"
    assert row["evidence"]["keep-hard"]["gain_at_full"] == pytest.approx(6.0, abs=0.2)
    assert row["evidence"]["keep-hard"]["slope_per_doubling"] == pytest.approx(2.0, abs=0.1)
    assert row["evidence"]["keep-easy"]["gain_at_full"] == pytest.approx(0.0, abs=0.2)
    # hard − easy = −3 + 3 per doubling from 200: equal at 400 rows
    assert record["crossover"]["0.5"]["rows"] == pytest.approx(400, rel=0.05)
    assert record["min_useful_fraction"] == 0.5 and record["useful_fractions"] == [0.5]


def test_decide_keeps_random_when_the_interval_is_wide_or_every_gain_negative():
    noisy = _runs({"keep-hard": {200: -1.0, 400: 0.0, 800: 1.0}}, noise=8.0)
    row = decide(noisy, [0.5], ["random", "keep-hard"], 1600, 0.95, {})["fractions"][0]
    assert row["policy"] == "random" and row["evidence"]["keep-hard"]["lower_bound"] < 0
    losing = _runs({"keep-hard": {200: -3.0, 400: -2.0, 800: -1.5},
                    "keep-easy": {200: -13.0, 400: -12.5, 800: -12.5}})  # fmt: skip
    record = decide(losing, [0.5], ["random", "keep-hard", "keep-easy"], 1600, 0.95, {})
    row = record["fractions"][0]
    assert row["policy"] == "random" and row["best_candidate"] is None
    assert "loses" in row["reason"]
    # hard gains on easy, but the lines cross far outside the measured sizes: not estimated,
    # and never an overflowing number
    assert record["crossover"]["0.5"]["rows"] is None
    assert "not estimated" in record["crossover"]["0.5"]["note"]
    html = render_calibration_html({**record, "rows": 1600, "metric": "m", "source": "",
                                    "scores": {"given": True},
                                    "proxy": {"describe": "p", "sees": "vectors"},
                                    "plan": {"pool_sizes": [200, 400, 800], "seeds": 3,
                                             "validation": "v", "confidence": 0.95,
                                             "candidates": ["random", "keep-hard"]},
                                    "cost": {"pilot_share_of_full_run": 0.1, "full_run": "r",
                                             "budget_share": None, "note": None}}, b"")
    assert "none: random at every calibrated fraction" in html and row["reason"] in html


def test_decide_says_why_a_fraction_has_too_little_evidence():
    runs = [r for r in _runs({"keep-hard": {200: 1.0, 400: 2.0}}) if r["pool"] == 400]
    row = decide(runs, [0.5], ["random", "keep-hard"], 1600, 0.95, {})["fractions"][0]
    assert row["policy"] == "random"
    assert "not enough evidence" in row["reason"] and "1 pool size" in row["reason"]


def test_the_same_calibration_from_the_api_and_the_cli_byte_for_byte(tmp_path, cli):
    x, y, margin = perceptron(700, 20, seed=2)
    for name, value in (("x", x), ("y", y), ("s", margin)):
        np.save(tmp_path / f"{name}.npy", value)
    code, _, err = cli("calibrate", tmp_path / "x.npy", "--labels", tmp_path / "y.npy",
                       "--scores", tmp_path / "s.npy", "--metric", "margin", "--fractions",
                       "0.2,0.5", "--out", tmp_path / "cal", "-q")  # fmt: skip
    assert code == 0, err
    again = lessdata.calibrate(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"),
                               scores=tmp_path / "s.npy", metric="margin",
                               fractions=[0.5, 0.2], quiet=True)  # fmt: skip
    written = (tmp_path / "cal" / "calibration.json").read_text()
    assert again.to_json() == written
    record = strict_json(written)  # standard JSON: no NaN or Infinity anywhere
    assert record["format"] == FORMAT
    assert 0 < record["cost"]["pilot_share_of_full_run"] < 1
    assert "seconds" not in written  # counted, never timed


def test_a_budget_that_cannot_decide_is_refused_before_any_work():
    x, y, margin = perceptron(3000, 20)
    with pytest.raises(LessdataError, match=r"budget_share 0.001 cannot buy .* raise "
                       r"`budget_share` to at least [0-9.]+"):  # fmt: skip
        lessdata.calibrate(x, labels=y, scores=margin, metric="m", budget_share=0.001,
                           quiet=True)  # fmt: skip
    full = lessdata.calibrate(x, labels=y, scores=margin, metric="m", fractions=(0.3,),
                              seeds=6, quiet=True)  # fmt: skip
    share = full.record["cost"]["pilot_share_of_full_run"]
    cut = lessdata.calibrate(x, labels=y, scores=margin, metric="m", fractions=(0.3,),
                             seeds=6, budget_share=share * 0.6, quiet=True)  # fmt: skip
    assert cut.record["plan"]["seeds"] == 3  # the budget bought half the repeats
    assert "bought 3 of the 6 planned repeats" in cut.record["cost"]["note"]
    assert cut.record["cost"]["pilot_share_of_full_run"] <= share * 0.6
    for bad in (dict(seeds=2), dict(pools=1), dict(largest_pool=0.95), dict(confidence=1.0)):
        with pytest.raises(LessdataError, match=next(iter(bad))):
            lessdata.calibrate(x, labels=y, scores=margin, metric="m", quiet=True, **bad)


def test_bad_labels_scores_and_features_are_refused_naming_the_problem():
    x, y, margin = perceptron(400, 5)
    with pytest.raises(LessdataError, match=r"labels hold one class .* 400 rows"):
        lessdata.calibrate(x, labels=np.zeros(400, int), scores=margin, metric="m", quiet=True)
    with pytest.raises(LessdataError, match="needs labels"):
        lessdata.calibrate(x, scores=margin, metric="m", quiet=True)
    bad = margin.copy()
    bad[[3, 7]] = np.nan
    bad[9] = np.inf
    with pytest.raises(LessdataError, match=r"scores has 2 NaN and 1 infinite values \(first at "
                       r"row 3"):  # fmt: skip
        lessdata.calibrate(x, labels=y, scores=bad, metric="m", quiet=True)
    features = x.copy()
    features[5, 0] = np.nan
    with pytest.raises(LessdataError, match=r"features hold 1 NaN .* \(first: row 5\)"):
        lessdata.calibrate(x, labels=y, scores=margin, metric="m", features=features,
                           quiet=True)  # fmt: skip
    with pytest.raises(LessdataError, match=r"one row per example \(400\), got shape \(10, 5\)"):
        lessdata.calibrate(x, labels=y, scores=margin, metric="m", features=x[:10], quiet=True)
    few = y.copy()
    few[:] = 0
    few[:3] = 1  # three examples of one class: no fraction holds one per class in two pools
    with pytest.raises(LessdataError, match="too little data for the pilot"):
        lessdata.calibrate(x, labels=few, scores=margin, metric="m", fractions=(0.001,),
                           quiet=True)  # fmt: skip


def test_every_proxy_runs_and_the_users_model_is_charged_by_its_rows():
    x, y, margin = perceptron(500, 10, seed=4)
    for proxy in ("ridge", "mlp"):
        result = lessdata.calibrate(x, labels=y, scores=margin, metric="m", proxy=proxy,
                                    fractions=(0.5,), seeds=3, quiet=True)  # fmt: skip
        assert result.record["proxy"]["name"] == proxy
    seen = []

    def train_and_eval(rows):
        seen.append(len(rows))
        return {"accuracy": float(np.mean(y[rows]))}  # any number in [0, 1]

    result = lessdata.calibrate(x, labels=y, scores=margin, metric="m", proxy=train_and_eval,
                                fractions=(0.5,), policies=("keep-hard",), seeds=3,
                                quiet=True)  # fmt: skip
    assert result.record["cost"]["pilot_share_of_full_run"] == pytest.approx(sum(seen) / 500)
    assert result.record["cost"]["full_run"] == "your train_and_eval on every row"
    fixed = lessdata.calibrate(x, labels=y, scores=margin, metric="m", proxy=train_and_eval,
                               fractions=(0.5,), policies=("keep-hard",), seeds=3,
                               cost_per_call=0.25, quiet=True)  # fmt: skip
    calls = len(fixed.record["runs"])
    assert fixed.record["cost"]["pilot_share_of_full_run"] == pytest.approx(0.25 * calls)
    with pytest.raises(LessdataError, match="cost_per_call describes your own"):
        lessdata.calibrate(x, labels=y, scores=margin, metric="m", cost_per_call=0.5,
                           quiet=True)  # fmt: skip
    with pytest.raises(LessdataError, match="accuracy between 0 and 1"):
        lessdata.calibrate(x, labels=y, scores=margin, metric="m", proxy=lambda rows: 7.0,
                           fractions=(0.5,), quiet=True)  # fmt: skip
    with pytest.raises(LessdataError, match="proxy must be one of logistic"):
        lessdata.calibrate(x, labels=y, scores=margin, metric="m", proxy="svm", quiet=True)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cal")
    x, y, _ = perceptron(1200, 10, seed=1)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    result = lessdata.calibrate(
        folder / "x.npy", labels=folder / "y.npy", metric_options={"k": 8}, seeds=3,
        fractions=(0.2, 0.6), out=folder / "calib", quiet=True,
    )  # fmt: skip
    return folder, result


def test_calibration_is_written_and_used_by_auto(calibrated, cli):
    folder, result = calibrated
    assert {p.name for p in (folder / "calib").iterdir()} >= {
        "calibration.json", "calibration.png", "calibration.html"
    }  # fmt: skip
    record = strict_json((folder / "calib" / "calibration.json").read_text())
    assert record["format"] == FORMAT and record["rows"] == 1200
    html = (folder / "calib" / "calibration.html").read_text()
    assert all(row["reason"].split(";")[0] in html for row in record["fractions"])
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


def test_custom_scores_work_end_to_end(tmp_path, cli):
    x, y, margin = perceptron(600, 100, seed=5)
    for name, value in (("x", x), ("y", y), ("s", margin), ("t", margin + 1)):
        np.save(tmp_path / f"{name}.npy", value)
    code, out, err = cli("calibrate", tmp_path / "x.npy", "--labels", tmp_path / "y.npy",
                         "--scores", tmp_path / "s.npy", "--metric", "margin",
                         "--fractions", "0.1", "--out", tmp_path / "cal", "-q")  # fmt: skip
    assert code == 0, err
    assert "keep 0.1 → keep-easy: +" in out
    calibration = tmp_path / "cal" / "calibration.json"
    common = ("--labels", tmp_path / "y.npy", "--keep", "0.1", "--calibration", calibration)
    code, _, err = cli("prune", tmp_path / "x.npy", *common, "--metric", "margin", "--scores",
                       tmp_path / "s.npy", "--out", tmp_path / "p", "-q")  # fmt: skip
    assert code == 0, err
    manifest = lessdata.data.manifest.read_manifest(tmp_path / "p" / "manifest.parquet")
    kept = np.flatnonzero(manifest.column("kept").to_numpy())
    assert np.array_equal(kept, np.sort(np.argsort(margin, kind="stable")[:60]))  # the easiest
    code, _, err = cli("prune", tmp_path / "x.npy", *common, "--out", tmp_path / "q", "-q")
    assert code == 2 and "measured on scores you gave (margin); pass the same --scores" in err
    code, _, err = cli("prune", tmp_path / "x.npy", *common, "--metric", "margin", "--scores",
                       tmp_path / "t.npy", "--out", tmp_path / "q", "-q")  # fmt: skip
    assert code == 2 and "measured on other scores" in err
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("rows", "measured on another dataset (1,200 rows; this one has 1,199)"),
        ("content", "same size, different ids or content"),
        ("metric", "measured for metric prototypes with options {'k': 8}"),
        ("policy", "read by policy auto only"),
        ("format", "is not a lessdata calibration"),
        ("v1", "made by an earlier lessdata"),
        ("edited", "field 'rows' is missing or not a whole number"),
    ],
)
def test_a_calibration_for_other_data_is_refused(calibrated, tmp_path, change, message):
    folder, _ = calibrated
    x = np.load(folder / "x.npy")
    y = np.load(folder / "y.npy")
    calibration = folder / "calib" / "calibration.json"
    kwargs: dict = dict(metric_options={"k": 8}, calibration=calibration, labels=y, quiet=True)
    record = json.loads(calibration.read_text())
    other = tmp_path / "c.json"
    if change == "rows":
        x, kwargs["labels"] = x[:-1], y[:-1]
    elif change == "content":
        x = x.copy()
        x[0, 0] += 1
    elif change == "metric":
        kwargs["metric_options"] = {"k": 9}
    elif change == "policy":
        kwargs["policy"] = "keep-hard"
    else:
        if change == "format":
            record = {"format": "something else"}
        elif change == "v1":
            record["format"] = "lessdata-calibration-v1"
        else:
            record["rows"] = str(record["rows"])
        other.write_text(json.dumps(record))
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
        metric="margin", features=tmp_path / "f.npy", fractions=(0.2,),
        policies=("keep-easy", "keep-hard"), quiet=True,
    )  # fmt: skip
    assert result.choices == {0.2: "keep-easy"}  # learnt from the features, not the data
    assert result.record["proxy"]["sees"] == "features"
