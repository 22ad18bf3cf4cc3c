"""Proxy trainers: every model builds and learns, runs repeat exactly, the step budget is fixed."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from lessdata.errors import LessdataError
from lessdata.train import MODELS, TrainConfig, fit_and_score, make_model, train_with_dynamics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target
    return x[:1000], y[:1000], x[1000:], y[1000:]


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("logreg", (64,)),
        ("mlp", (64,)),
        ("mlp", (3, 8, 8)),
        ("cnn1d", (40,)),
        ("cnn1d", (2, 40)),
        ("cnn1d", (1,)),
        ("cnn2d", (8, 8)),
        ("cnn2d", (3, 28, 28)),
        ("cnn2d", (64,)),  # a flat square vector is a square image
        ("cnn2d", (1, 1)),
    ],
)
def test_models_build_for_their_input_shape(name, shape):
    torch.manual_seed(0)
    net = make_model(name, shape, 10, 8)
    batch = torch.randn(5, *shape)
    assert net(batch).shape == (5, 10)
    assert net(batch.reshape(5, -1)).shape == (5, 10)  # flattened rows work too


@pytest.mark.parametrize("name", MODELS)
def test_fit_and_score_beats_chance(digits, name):
    config = TrainConfig(steps=150, width=16, lr=3e-3)
    out = fit_and_score(name, *digits, config=config)
    assert set(out) == {"accuracy", "error", "loss", "train_seconds", "steps"}
    assert out["accuracy"] > 0.8  # chance is 0.1
    assert out["error"] == pytest.approx(1 - out["accuracy"])
    assert np.isfinite(out["loss"]) and out["loss"] > 0
    if name != "logreg":
        assert out["steps"] == 150


@pytest.mark.parametrize("name", ["logreg", "mlp", "cnn2d"])
def test_same_seed_same_metrics(digits, name):
    config = TrainConfig(steps=30, width=8, seed=4)
    a = fit_and_score(name, *digits, config=config)
    b = fit_and_score(name, *digits, config=config)
    a.pop("train_seconds"), b.pop("train_seconds")
    assert a == b
    if name != "logreg":
        c = fit_and_score(name, *digits, config=TrainConfig(steps=30, width=8, seed=5))
        assert c["loss"] != a["loss"]


def test_fixed_step_budget_whatever_the_subset_size(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    calls = []
    original = torch.optim.AdamW.step

    def counting_step(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", counting_step)
    config = TrainConfig(steps=25, batch_size=64, width=8)
    small = fit_and_score("mlp", x[:20], y[:20], x, y, config=config)
    n_small = len(calls)
    large = fit_and_score("mlp", x, y, x, y, config=config)
    assert n_small == len(calls) - n_small == 25
    assert small["steps"] == large["steps"] == 25


def test_bad_model_and_shapes_are_user_errors(digits):
    with pytest.raises(LessdataError, match="unknown model"):
        fit_and_score("resnet", *digits, config=TrainConfig(steps=1))
    with pytest.raises(LessdataError, match="unknown model"):
        make_model("resnet", (8,), 2, 4)
    x = np.zeros((10, 10), dtype=np.float32)
    y = np.arange(10) % 2
    with pytest.raises(LessdataError, match="cnn2d"):
        fit_and_score("cnn2d", x, y, x, y, config=TrainConfig(steps=1))
    with pytest.raises(LessdataError, match="steps"):
        fit_and_score("mlp", x, y, x, y, config=TrainConfig(steps=0))
    with pytest.raises(LessdataError, match="n_classes"):
        fit_and_score("mlp", x, y, x, y, config=TrainConfig(steps=1), n_classes=1)


def test_logreg_copes_with_missing_classes():
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    y = np.zeros(30, dtype=np.int64)
    out = fit_and_score("logreg", x, y, x, y + 1, config=TrainConfig(), n_classes=3)
    assert out["accuracy"] == 0.0 and np.isfinite(out["loss"])
    # an image model given flat rows plus an explicit shape
    digits = load_digits()
    x8, y8 = digits.data[:200], digits.target[:200]
    out = fit_and_score(
        "cnn2d", x8, y8, x8, y8, config=TrainConfig(steps=5, width=4), input_shape=(8, 8)
    )
    assert out["steps"] == 5


def test_train_with_dynamics_records_every_epoch_asked():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    config = TrainConfig(batch_size=32, width=8, lr=1e-2)
    rec = train_with_dynamics(
        "mlp", x, y, config=config, epochs=7, record_every=3, early_epochs=(0, 2)
    )
    assert rec["epochs"].tolist() == [3, 6, 7]
    for key in ("p_true", "correct", "margin", "el2n", "entropy", "loss"):
        assert rec[key].shape == (3, 150)
        assert np.isfinite(rec[key]).all()
    assert rec["correct"].dtype == bool
    assert rec["correct"][-1].mean() > 0.8
    assert rec["grand"].shape == rec["early_el2n"].shape == (2, 150)
    assert (rec["grand"] > 0).all()
    assert np.array_equal(rec["margin"] > 0, rec["correct"])
    again = train_with_dynamics(
        "mlp", x, y, config=config, epochs=7, record_every=3, early_epochs=(0, 2)
    )
    assert np.array_equal(rec["margin"], again["margin"])
    assert np.array_equal(rec["grand"], again["grand"])
    with pytest.raises(LessdataError, match="early epochs"):
        train_with_dynamics("mlp", x, y, config=config, epochs=2, early_epochs=(3,))
