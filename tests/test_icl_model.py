"""The ICL transformer, its training (checkpoints, exact resume) and its evaluation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lessdata.errors import LessdataError
from lessdata.labs.icl.evaluate import (
    TRANSFORMER,
    applicable_shifts,
    bootstrap_interval,
    error_curve,
    evaluate,
)
from lessdata.labs.icl.model import ICLTransformer, interleave
from lessdata.labs.icl.tasks import TaskSampler, TaskSpec
from lessdata.labs.icl.train import TrainConfig, curriculum_stage, load_model, train_icl

TINY = {"n_layer": 1, "n_head": 2, "width": 16, "batch_size": 16, "warmup_steps": 5}


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch):
    """No progress bars; one torch thread (tiny models on a shared machine run faster so)."""
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _prompts(batch=4, n=11, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, d, generator=g), torch.randn(batch, n, generator=g)


# --- the model --------------------------------------------------------------------------------


def test_forward_shapes_and_params():
    model = ICLTransformer(5, 11, n_layer=2, n_head=2, width=16)
    xs, ys = _prompts()
    assert model(xs, ys).shape == (4, 11)
    assert model(xs[:, :6], ys[:, :6]).shape == (4, 6)  # shorter prompts are fine
    assert model.n_params() == sum(p.numel() for p in model.parameters()) > 0
    assert ICLTransformer(5, 11, width=32).n_params() > ICLTransformer(5, 11, width=16).n_params()
    with pytest.raises(LessdataError, match="n_points"):
        model(*_prompts(n=12))
    with pytest.raises(LessdataError, match="xs must have shape"):
        model(*_prompts(d=4))
    with pytest.raises(LessdataError, match="must divide"):
        ICLTransformer(5, 11, n_head=3, width=16)


def test_tokens_interleave_x_and_y():
    xs, ys = _prompts(batch=2, n=3, d=4)
    tokens = interleave(xs, ys)
    assert tokens.shape == (2, 6, 4)
    assert torch.equal(tokens[:, 0::2], xs)
    assert torch.equal(tokens[:, 1::2, 0], ys)
    assert not tokens[:, 1::2, 1:].any()


def test_same_seed_same_weights():
    a, b = ICLTransformer(5, 11, seed=3), ICLTransformer(5, 11, seed=3)
    c = ICLTransformer(5, 11, seed=4)
    state = torch.get_rng_state()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.read_in.weight, c.read_in.weight)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is untouched


@pytest.mark.parametrize("j", [0, 4, 9])
def test_predictions_are_causal(j):
    model = ICLTransformer(5, 11, n_layer=2, n_head=2, width=16).eval()
    xs, ys = _prompts()
    with torch.no_grad():
        before = model(xs, ys)
        ys2, xs2 = ys.clone(), xs.clone()
        ys2[:, j] += 5.0  # the label at j: unseen by predictions at positions <= j
        xs2[:, j + 1 :] += 3.0  # later queries: unseen too
        after = model(xs2, ys2)
    torch.testing.assert_close(after[:, : j + 1], before[:, : j + 1], rtol=0, atol=1e-5)
    assert (after[:, j + 1] - before[:, j + 1]).abs().max() > 1e-4  # position j+1 does see it


# --- training ---------------------------------------------------------------------------------


def test_training_lowers_the_loss():
    # one task (a pool of 1): learnable in a few hundred steps even by a tiny model
    spec = TaskSpec(family="linear", d=3, n_points=6, pool_size=1)
    run = train_icl(spec, TrainConfig(steps=200, lr=3e-3, **TINY))
    assert run.steps_done == 200 and len(run.losses) == 200
    assert [t for t, _ in run.losses] == list(range(200))
    start = np.mean([v for _, v in run.losses[:10]])
    end = np.mean([v for _, v in run.losses[-20:]])
    assert end < 0.3 * start, (start, end)
    assert not run.model.training


def test_curriculum_stages_ramp_to_the_full_task():
    assert curriculum_stage(0, 5, 11, 100) == (3, 7)
    assert curriculum_stage(150, 5, 11, 100) == (4, 9)
    assert curriculum_stage(10_000, 5, 11, 100) == (5, 11)
    assert curriculum_stage(0, 1, 4, 100) == (1, 3)
    stages = [curriculum_stage(t, 20, 41, 10) for t in range(0, 300, 10)]
    assert stages[0] == (10, 21) and stages[-1] == (20, 41)
    assert all(a <= b for a, b in itertools.pairwise(stages))  # never shrinks
    run = train_icl(TaskSpec(), TrainConfig(steps=4, curriculum=True, curriculum_every=2, **TINY))
    assert run.steps_done == 4 and all(np.isfinite(v) for _, v in run.losses)


def test_resume_is_exact(tmp_path):
    spec = TaskSpec(d=3, n_points=6, pool_size=8)
    config = TrainConfig(steps=60, checkpoint_every=30, **TINY)
    whole = train_icl(spec, config, tmp_path / "whole")
    assert whole.resumed_from == 0 and (tmp_path / "whole" / "checkpoint.pt").exists()

    killed = train_icl(spec, TrainConfig(steps=30, checkpoint_every=30, **TINY), tmp_path / "cut")
    assert killed.steps_done == 30
    resumed = train_icl(spec, config, tmp_path / "cut")
    assert resumed.resumed_from == 30 and resumed.steps_done == 60
    assert resumed.losses == whole.losses
    resumed_state = resumed.model.state_dict()
    for name, p in whole.model.state_dict().items():
        assert torch.equal(p, resumed_state[name]), name

    done = train_icl(spec, config, tmp_path / "cut")  # finished: returns at once
    assert done.resumed_from == 60 and done.losses == whole.losses
    assert torch.equal(done.model.read_in.weight, whole.model.read_in.weight)

    model, saved_spec, saved_config = load_model(tmp_path / "cut")
    assert saved_spec == spec and saved_config == config
    xs, ys = _prompts(n=6, d=3)
    with torch.no_grad():
        torch.testing.assert_close(model(xs, ys), whole.model(xs, ys), rtol=0, atol=0)

    with pytest.raises(LessdataError, match="noise"):
        train_icl(TaskSpec(d=3, n_points=6, pool_size=8, noise=0.1), config, tmp_path / "cut")
    with pytest.raises(LessdataError, match="lr"):
        train_icl(spec, TrainConfig(steps=60, lr=5e-4, **TINY), tmp_path / "cut")
    with pytest.raises(LessdataError, match="already trained 60"):
        train_icl(spec, TrainConfig(steps=40, **TINY), tmp_path / "cut")


def test_cosine_schedule_decays_and_cannot_be_extended(tmp_path):
    from lessdata.labs.icl.train import COSINE_FLOOR, _lr_factor

    factor = _lr_factor(TrainConfig(steps=105, lr_schedule="cosine", **TINY))
    assert factor(0) == pytest.approx(1 / 5) and factor(4) == pytest.approx(1.0)
    assert factor(5) == pytest.approx(1.0) and factor(55) == pytest.approx((1 + COSINE_FLOOR) / 2)
    assert factor(105) == pytest.approx(COSINE_FLOOR)
    assert _lr_factor(TrainConfig(steps=105, **TINY))(100) == 1.0  # constant
    spec = TaskSpec(d=3, n_points=6, pool_size=8)
    cosine = TrainConfig(steps=30, lr_schedule="cosine", checkpoint_every=30, **TINY)
    train_icl(spec, cosine, tmp_path / "cos")
    longer = TrainConfig(steps=60, lr_schedule="cosine", checkpoint_every=30, **TINY)
    with pytest.raises(LessdataError, match="steps"):
        train_icl(spec, longer, tmp_path / "cos")
    with pytest.raises(LessdataError, match="lr_schedule"):
        train_icl(spec, TrainConfig(lr_schedule="linear"))


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(LessdataError, match="steps"):
        train_icl(TaskSpec(), TrainConfig(steps=0))
    with pytest.raises(LessdataError, match="must divide"):
        train_icl(TaskSpec(), TrainConfig(n_head=3, width=16))
    with pytest.raises(LessdataError, match="train_icl"):
        load_model(tmp_path / "nothing")


# --- evaluation -------------------------------------------------------------------------------


def test_error_curve_reads_like_error_over_d():
    spec = TaskSpec(d=5, noise=0.5)
    _, ys, _ = TaskSampler(spec).sample(4000, torch.Generator().manual_seed(0), source="fresh")
    curve = error_curve(torch.zeros_like(ys), ys, spec.d)
    assert curve.shape == (spec.n_points,)
    # predicting 0: E y² / d = (d + noise²) / d = 1.05
    assert np.allclose(curve, 1.05, atol=0.1)


def test_bootstrap_contains_the_mean_and_shrinks():
    rng = np.random.default_rng(0)
    small = rng.exponential(size=(100, 3))
    large = rng.exponential(size=(10_000, 3))
    for errors in (small, large):
        low, high = bootstrap_interval(errors, n_boot=500, seed=1)
        mean = errors.mean(axis=0)
        assert np.all(low < mean) and np.all(mean < high)
    w_small = np.subtract(*bootstrap_interval(small, n_boot=500)[::-1])
    w_large = np.subtract(*bootstrap_interval(large, n_boot=500)[::-1])
    assert np.all(w_large < w_small / 4)  # ~ 1/sqrt(P): 10x narrower
    again = bootstrap_interval(small, n_boot=500, seed=1)
    assert np.array_equal(again[0], bootstrap_interval(small, n_boot=500, seed=1)[0])
    with pytest.raises(LessdataError, match="level"):
        bootstrap_interval(small, level=1.5)


def test_evaluate_rows_for_transformer_and_baselines():
    spec = TaskSpec(d=3, n_points=6, pool_size=4)
    model = ICLTransformer(spec.d, spec.n_points, n_layer=1, width=16)
    kwargs = {
        "shifts": ("none", "orthants", "outside-cap"),
        "baselines": ("ridge", "dmmse", "least-squares"),
        "n_prompts": 60,
        "seed": 2,
    }
    table = evaluate(model, spec, **kwargs)
    rows = table.to_pylist()
    learners = {r["learner"] for r in rows}
    assert learners == {TRANSFORMER, "ridge", "dmmse", "least-squares"}
    assert {r["source"] for r in rows} == {"pool", "fresh"}
    assert {r["shift"] for r in rows} == {"none", "orthants"}  # no cap: outside-cap skipped
    for source in ("pool", "fresh"):
        for learner in learners:
            ks = [r["k"] for r in rows if (r["source"], r["learner"], r["shift"]) ==
                  (source, learner, "none")]  # fmt: skip
            assert ks == list(range(spec.n_points))
            final = [r["k"] for r in rows if (r["source"], r["learner"], r["shift"]) ==
                     (source, learner, "orthants")]  # fmt: skip
            assert final == [spec.n_points - 1]
    for r in rows:
        assert all(np.isfinite(r[c]) for c in ("error", "low", "high"))
        assert r["low"] <= r["error"] <= r["high"]
        assert r["n_prompts"] == 60
        assert r["gd_target_error"] > 0
    # ridge learns from the examples: far below its k = 0 error at the last k
    ridge = {r["k"]: r["error"] for r in rows if (r["learner"], r["source"], r["shift"]) ==
             ("ridge", "fresh", "none")}  # fmt: skip
    assert ridge[spec.n_points - 1] < 0.5 * ridge[0]
    assert table.equals(evaluate(model, spec, **kwargs))  # deterministic given the seed

    fresh_only = evaluate(model, TaskSpec(d=3, n_points=6), **kwargs).to_pylist()
    assert {r["source"] for r in fresh_only} == {"fresh"}  # no pool: no pool source, no dMMSE
    assert "dmmse" not in {r["learner"] for r in fresh_only}
    with pytest.raises(LessdataError, match="unknown baseline"):
        evaluate(model, spec, baselines=("oracle",), n_prompts=10)


def test_applicable_shifts_follow_the_family():
    assert "scaled-weights" not in applicable_shifts(TaskSpec(family="tree"))
    assert "outside-cap" not in applicable_shifts(TaskSpec())
    assert "outside-cap" in applicable_shifts(TaskSpec(cap_angle=60.0))


def test_input_scaling_battery_rows():
    spec = TaskSpec(d=3, n_points=6)
    model = ICLTransformer(spec.d, spec.n_points, n_layer=1, width=16)
    table = evaluate(
        model, spec, shifts=("scaled-inputs",), baselines=("ridge",), n_prompts=40,
        input_scales=(0.5, 4.0),
    )  # fmt: skip
    rows = [r for r in table.to_pylist() if r["learner"] == "ridge" and r["k"] == 5]
    by_shift = {r["shift"]: r for r in rows}
    assert set(by_shift) == {"scaled-inputs", "scaled-inputs x0.5", "scaled-inputs x4"}
    assert by_shift["scaled-inputs x4"]["strength"] == 4.0
    assert by_shift["scaled-inputs x0.5"]["strength"] == 0.5
    assert by_shift["scaled-inputs"]["strength"] == 2.0  # the plain shift: its default factor
    assert by_shift["scaled-inputs x0.5"]["error"] != by_shift["scaled-inputs x4"]["error"]


def test_fresh_evaluation_tasks_are_not_the_pool():
    """With seed == pool_seed, fresh tasks must still be new: dMMSE cannot beat ridge there."""
    spec = TaskSpec(d=5, n_points=11, pool_size=4096, pool_seed=0)
    model = ICLTransformer(spec.d, spec.n_points, n_layer=1, width=16)
    table = evaluate(
        model, spec, sources=("fresh",), shifts=("none",), baselines=("ridge", "dmmse"),
        n_prompts=400, seed=0,
    )  # fmt: skip
    last = {r["learner"]: r["error"] for r in table.to_pylist() if r["k"] == 10}
    assert last["dmmse"] > 0.95 * last["ridge"]  # ridge is Bayes-optimal for fresh tasks
