"""benchmarks/bench_dynamic_pruning.py end to end on its tiny tasks: every arm's schedule ends
on its final value, the random arms train on the loss-based arms' epoch sizes, the saving is
counted from the forwards, a second run resumes (adds nothing), and the report's statistics."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("scipy")

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str):
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, one_torch_thread):
    bench = _module("bench_dynamic_pruning")
    out = tmp_path_factory.mktemp("dynamic") / "runs.jsonl"
    bench.main(["--tiny", "--out", str(out)])
    return bench, out, [json.loads(line) for line in out.read_text().splitlines()]


def test_every_task_arm_and_seed_ran_once(tiny_runs):
    bench, _, lines = tiny_runs
    keys = [(r["task"], r["arm"], r["seed"]) for r in lines]
    assert len(keys) == len(set(keys))
    assert set(keys) == {(task, arm, seed) for task, seeds in bench.TINY_SEEDS.items()
                         for arm in bench.ARMS for seed in range(seeds)}  # fmt: skip


def test_every_schedule_ends_on_its_final_value(tiny_runs):
    _, _, lines = tiny_runs
    for r in lines:
        assert r["progress"] == 1.0
        assert math.isclose(r["final_lr"], r["schedule_end_lr"], rel_tol=1e-6), r["arm"]
        if r["planned_steps"] is not None:  # planned epoch sizes: steps known before training
            assert r["steps"] == r["planned_steps"]
        assert r["steps"] <= r["schedule_steps"]


def test_random_arms_take_the_loss_based_arms_epoch_sizes(tiny_runs):
    _, _, lines = tiny_runs
    sizes = {(r["task"], r["seed"], r["arm"]): r["epoch_sizes"] for r in lines}
    for task, seed, arm in list(sizes):
        if arm != "full":
            continue

        def get(a: str, task: str = task, seed: int = seed) -> list[int]:
            return sizes[(task, seed, a)]

        assert get("random-r0.5") == get("infobatch-r0.5")
        assert get("random-r0.7") == get("infobatch-r0.7")
        assert get("random-s0.4") == get("infobatch-s0.4") == get("seta-s0.4")
        assert get("full") == [get("full")[0]] * len(get("full"))
        assert sum(get("infobatch-r0.7")) < sum(get("infobatch-r0.5")) < sum(get("full"))


def test_the_saving_is_counted_from_the_forwards(tiny_runs):
    _, _, lines = tiny_runs
    for r in lines:
        n, epochs = r["settings"]["n"], r["settings"]["epochs"]
        assert r["full_forwards"] == n * epochs
        assert r["forwards"] == sum(r["epoch_sizes"])  # one process: every kept example
        assert r["saved"] == pytest.approx(1 - r["forwards"] / (n * epochs))
        if r["arm"] == "full":
            assert r["saved"] == 0
        if r["arm"].endswith("s0.4"):
            assert r["saved"] == pytest.approx(0.4, abs=1 / (n * epochs))
        assert r["lessdata"] and r["commit"] and r["settings"]["batch"] >= 1
        assert 0 <= r["accuracy"] <= 100
    lm = [r for r in lines if r["task"] == "tiny-code-lm"]
    assert lm and all(0 <= r["tokens_saved"] < 1 and r["bits_per_token"] > 0 for r in lm)


def test_a_second_run_resumes_and_adds_nothing(tiny_runs):
    bench, out, lines = tiny_runs
    bench.main(["--tiny", "--out", str(out)])
    assert len(out.read_text().splitlines()) == len(lines)


def test_a_file_of_other_settings_is_refused(tiny_runs, tmp_path):
    bench, _, lines = tiny_runs
    changed = dict(lines[0], settings={**lines[0]["settings"], "epochs": 99})
    other = tmp_path / "runs.jsonl"
    other.write_text(json.dumps(changed) + "\n")
    with pytest.raises(SystemExit, match="other settings"):
        bench.main(["--tiny", "--out", str(other)])


def test_the_report_reads_the_evidence_alone(tiny_runs, tmp_path):
    _, _, lines = tiny_runs
    report = _module("dynamic_pruning_report")
    text = report.table(lines, "tiny-mnist1d")
    for label in report.LABELS.values():
        assert f"| {label} |" in text
    assert "bits/token" in report.table(lines, "tiny-code-lm")
    assert report.verdict(lines, "tiny-mnist1d").startswith("**tiny-mnist1d** (2 seeds): goal")
    assert "**tiny-code-lm**: prune_ratio 0.7 against target_saving 0.4: " in report.notes(lines)
    report.figure(lines, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_paired_intervals_and_holm():
    report = _module("dynamic_pruning_report")
    a = {s: {"accuracy": v} for s, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])}
    b = {s: {"accuracy": 0.0} for s in range(5)}
    d = report.paired(a, b)
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776445
    assert d["mean"] == 3 and d["n"] == 5
    assert d["half"] == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-5)
    assert 0 < d["p"] < 0.05
    adjusted = report.holm({"x": 0.01, "y": 0.04, "z": 0.03, "w": math.nan})
    assert adjusted["x"] == pytest.approx(0.03)
    assert adjusted["z"] == pytest.approx(0.06) and adjusted["y"] == pytest.approx(0.06)
    assert math.isnan(adjusted["w"])
