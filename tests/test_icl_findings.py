"""The angle battery, the family shift and the across-sweeps answer to question (1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lessdata.cli import app
from lessdata.errors import LessdataError
from lessdata.labs.icl.evaluate import applicable_shifts
from lessdata.labs.icl.findings import (
    REACH_RATIO,
    SeedStat,
    answer,
    reach,
    seed_stat,
    write_findings_report,
)
from lessdata.labs.icl.report import write_icl_report
from lessdata.labs.icl.sweep import ICLSweepSpec, load_results, run_icl_sweep
from lessdata.labs.icl.tasks import (
    PRIOR_SAMPLES,
    TaskSampler,
    TaskSpec,
    cap_angles,
    directions_at_angle,
)

TINY = dict(steps=15, batch_size=8, n_layer=1, width=16, n_head=2, checkpoint_every=15)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_directions_at_an_exact_angle_are_unit_and_spread_around_the_axis() -> None:
    for angle in (0.0, 30.0, 90.0, 180.0):
        u = directions_at_angle(2000, 5, angle, gen())
        assert torch.allclose(u.norm(dim=1), torch.ones(2000), atol=1e-5)
        assert torch.allclose(cap_angles(u), torch.full((2000,), angle), atol=0.05)
    rest = directions_at_angle(4000, 5, 90.0, gen())[:, 1:]
    assert rest.mean(0).abs().max() < 0.05  # uniform around the axis: no preferred side
    with pytest.raises(LessdataError, match="180"):
        directions_at_angle(3, 5, 200.0, gen())


def test_at_angle_shift_draws_tasks_at_the_angle_with_gaussian_radius() -> None:
    sampler = TaskSampler(TaskSpec(family="noisy-linear", cap_angle=30.0))
    _, _, info = sampler.sample(3000, gen(1), source="fresh", shift="at-angle", strength=120.0)
    assert torch.allclose(cap_angles(info["w"]), torch.full((3000,), 120.0), atol=0.05)
    assert abs(float((info["w"] ** 2).sum(1).mean()) - 5.0) < 0.4  # chi_5 radius: E|w|² = d
    with pytest.raises(LessdataError, match="dense linear"):
        TaskSampler(TaskSpec(family="tree")).sample(4, gen(), shift="at-angle", strength=10.0)
    with pytest.raises(LessdataError, match="test angle"):
        sampler.sample(4, gen(), shift="at-angle", strength=-1.0)


def test_training_prior_is_the_pool_or_a_fixed_sample_of_the_cap() -> None:
    pooled = TaskSampler(TaskSpec(pool_size=7, cap_angle=20.0))
    assert pooled.training_prior() is pooled.pool
    capped = TaskSampler(TaskSpec(cap_angle=20.0))
    prior = capped.training_prior()
    assert prior is not None and prior.shape == (PRIOR_SAMPLES, 5)
    assert cap_angles(prior).max() <= 20.0 + 1e-3
    assert torch.equal(prior, TaskSampler(TaskSpec(cap_angle=20.0)).training_prior())
    assert TaskSampler(TaskSpec()).training_prior() is None  # the Gaussian prior: ridge


def test_a_180_degree_cap_has_no_outside_and_the_angle_battery_is_never_default() -> None:
    assert "outside-cap" not in applicable_shifts(TaskSpec(cap_angle=180.0))
    assert "outside-cap" in applicable_shifts(TaskSpec(cap_angle=90.0))
    assert "at-angle" not in applicable_shifts(TaskSpec(cap_angle=90.0))


def test_capped_sweep_gets_the_angle_battery_and_dmmse_over_the_cap(tmp_path: Path) -> None:
    spec = ICLSweepSpec(
        pool_sizes=[None], seeds=1, n_prompts=20, task=dict(d=3, n_points=5, cap_angle=30.0),
        train=TINY, eval_families=("tree",),
    )  # fmt: skip
    run_icl_sweep(spec, tmp_path)
    table = load_results(tmp_path).to_pandas()
    angles = table[table["shift"].str.startswith("angle ")]
    assert sorted(angles["strength"].unique()) == [0, 15, 30, 45, 60, 90, 120, 150, 180]
    assert {"transformer", "ridge", "dmmse", "least-squares"} == set(angles["learner"])
    # dMMSE over a 30-degree cap beats ridge on tasks inside it and loses far outside it
    last = angles[angles.k == 4].set_index(["strength", "learner"])["error"]
    assert last[(0.0, "dmmse")] < last[(0.0, "ridge")]
    assert last[(180.0, "dmmse")] > 3 * last[(180.0, "ridge")]
    family = table[table["shift"] == "family tree"]
    assert "transformer" in set(family["learner"]) and "dmmse" not in set(family["learner"])
    paths = write_icl_report(tmp_path)  # one capped sweep: its angle figure and reach
    assert paths["caps"].stat().st_size > 1000
    assert "Trained within 30°" in " ".join(json.loads(paths["verdict"].read_text())["sentences"])


def test_only_runs_the_named_runs_and_refuses_foreign_ones(tmp_path: Path) -> None:
    spec = ICLSweepSpec(pool_sizes=[2, None], seeds=2, n_prompts=10,
                        task=dict(d=2, n_points=3), train=TINY)  # fmt: skip
    assert run_icl_sweep(spec, tmp_path, only=[(2, 1)]) == {"done": 0, "ran": 1}
    assert [p.parent.name for p in tmp_path.glob("*/eval.parquet")] == ["M2-seed1"]
    with pytest.raises(LessdataError, match="not part"):
        run_icl_sweep(spec, tmp_path, only=[(3, 0)])
    bad = ICLSweepSpec(pool_sizes=[None], task=dict(d=2, n_points=3), train=TINY,
                       eval_families=("cubic",))  # fmt: skip
    with pytest.raises(LessdataError, match="eval family"):
        run_icl_sweep(bad, tmp_path / "bad")
    assert not (tmp_path / "bad" / "Minf-seed0").exists()  # refused before any training


def test_seed_stat_interval() -> None:
    stat = seed_stat([1.0, 2.0, 3.0])
    assert stat.mean == 2.0 and stat.n == 3
    assert stat.low == pytest.approx(2 - 4.302653 * 1 / np.sqrt(3), rel=1e-5)
    assert seed_stat([5.0]).n == 1 and np.isnan(seed_stat([5.0]).low)


def _curves(transformer: dict[float, float], ridge: float = 0.1) -> dict:
    one = lambda v: SeedStat(v, v * 0.9, v * 1.1, 3)  # noqa: E731
    return {
        "transformer": {a: one(v) for a, v in transformer.items()},
        "ridge": {a: one(ridge) for a in transformer},
        "dmmse": {a: one(0.1 if a <= 30 else 2.0) for a in transformer},
    }


def test_reach_is_measured_against_the_in_cap_level_and_the_answer_follows_the_rule() -> None:
    bounded = _curves({0.0: 0.2, 15.0: 0.2, 30.0: 0.2, 45.0: 0.2 * REACH_RATIO * 1.1, 90: 3.0})
    assert reach(bounded, 30.0) == 30.0  # 1.5x the in-cap level breaks at 45
    general = _curves({0.0: 0.2, 90.0: 0.21, 180.0: 0.22})
    assert reach(general, 30.0) == 180.0
    text = " ".join(answer({30.0: bounded}, {}, {}))
    assert "no, not to new directions" in text
    assert "yes" in " ".join(answer({30.0: general}, {}, {}))
    partly = _curves({0.0: 0.2, 30.0: 0.2, 60.0: 0.25, 90.0: 0.25, 120.0: 2.0})
    assert "partly: it extrapolates 60° beyond a 30° cap" in " ".join(
        answer({30.0: partly}, {}, {})
    )


def test_report_over_a_folder_of_sweeps(tmp_path: Path) -> None:
    for name, task, families in (
        ("cap-30", dict(cap_angle=30.0), ()),
        ("fam-linear", dict(family="linear"), ("linear", "tree")),
        ("fam-tree", dict(family="tree"), ("linear", "tree")),
    ):
        spec = ICLSweepSpec(pool_sizes=[None], seeds=2, n_prompts=12,
                            task=dict(d=2, n_points=3, **task), train=TINY,
                            eval_families=families)  # fmt: skip
        run_icl_sweep(spec, tmp_path / name)
    result = CliRunner().invoke(app, ["icl", "report", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Question (1)" in result.output and "Family shift" in result.output
    summary = json.loads((tmp_path / "findings.json").read_text())
    assert summary["families"]["linear->tree"]["transformer"]["n"] == 2
    assert summary["families"]["tree->tree"]["ratio_to_in_family"]["mean"] == pytest.approx(1.0)
    assert (tmp_path / "icl_caps.png").stat().st_size > 1000
    assert (tmp_path / "icl_families.png").stat().st_size > 1000
    assert write_findings_report(tmp_path)["html"].read_text().count("<img") == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["icl", "report", "--out", str(empty)])
    assert result.exit_code != 0
