"""Training-dynamics metrics: planted mislabelled examples are found; runs are shared."""

import numpy as np
import pytest

import lessdata
import lessdata.train.trainer as trainer
from lessdata.errors import LessdataError
from lessdata.metrics import REGISTRY, ScoreInputs, get_metric

DYNAMICS = (
    "el2n",
    "grand",
    "forgetting",
    "aum",
    "cartography-confidence",
    "cartography-variability",
    "margin",
    "entropy",
)
OPTIONS = dict(proxy_epochs=20, proxy_runs=2, width=32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def planted():
    """600 points from 4 well-separated Gaussian classes, 30 of them with a wrong label."""
    rng = np.random.default_rng(0)
    n, d, c = 600, 16, 4
    centres = rng.normal(size=(c, d)) * 2.5
    y = rng.integers(0, c, n)
    x = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    flipped = rng.choice(n, 30, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, c, 30)) % c
    mask = np.zeros(n, dtype=bool)
    mask[flipped] = True
    return x, noisy, mask


@pytest.fixture(scope="module")
def scored(planted):
    x, labels, _ = planted
    inputs = ScoreInputs(n=len(x), vectors=x, labels=labels, seed=0)
    out = {}
    for name in DYNAMICS:  # one ScoreInputs: its cache shares the proxy runs
        out.update(get_metric(name)(inputs, **OPTIONS))
    return out


def _mean_percentile(scores, mask):
    ranks = np.argsort(np.argsort(scores, kind="stable"))
    return ranks[mask].mean() / (len(scores) - 1)


def test_registered_as_training_metrics_that_need_labels():
    for name in DYNAMICS:
        metric = REGISTRY[name]
        assert metric.needs_labels and metric.needs_training and metric.needs_vectors
        assert {"proxy_model", "proxy_epochs", "proxy_runs", "width"} <= set(metric.options)


def test_scores_are_finite_float64_per_example(scored, planted):
    n = len(planted[0])
    for name in DYNAMICS:
        assert scored[name].dtype == np.float64 and scored[name].shape == (n,)
        assert np.isfinite(scored[name]).all()
    assert np.array_equal(scored["aum_margin"], -scored["aum"])
    assert (scored["entropy"] >= 0).all() and (scored["cartography-variability"] >= 0).all()


@pytest.mark.parametrize("name", ["el2n", "aum", "cartography-confidence", "margin"])
def test_flipped_labels_rank_in_the_hardest_fifth(scored, planted, name):
    _, _, flipped = planted
    assert _mean_percentile(scored[name], flipped) > 0.8


def test_flipped_labels_are_forgotten_more(scored, planted):
    _, _, flipped = planted
    forgetting = scored["forgetting"]
    assert forgetting[flipped].mean() > forgetting[~flipped].mean() + 5
    assert forgetting.max() <= OPTIONS["proxy_epochs"]  # never learned = the maximum


def test_grand_flags_flipped_labels_and_tracks_el2n(scored, planted):
    x, labels, flipped = planted
    assert scored["grand"][flipped].mean() > scored["grand"][~flipped].mean()
    assert _mean_percentile(scored["grand"], flipped) > 0.6
    # once the features settle (read at the last epoch), GraNd and EL2N move together
    inputs = ScoreInputs(n=len(x), vectors=x, labels=labels, seed=0)
    late = dict(OPTIONS, proxy_runs=1, early_epoch=OPTIONS["proxy_epochs"])
    grand = get_metric("grand")(inputs, **late)["grand"]
    el2n = get_metric("el2n")(inputs, **late)["el2n"]
    assert np.corrcoef(grand, el2n)[0, 1] > 0.8


def test_same_seed_same_scores(planted):
    x, labels, _ = planted
    opts = dict(proxy_epochs=4, proxy_runs=1, width=8)
    first = get_metric("el2n")(ScoreInputs(n=len(x), vectors=x, labels=labels, seed=3), **opts)
    again = get_metric("el2n")(ScoreInputs(n=len(x), vectors=x, labels=labels, seed=3), **opts)
    other = get_metric("el2n")(ScoreInputs(n=len(x), vectors=x, labels=labels, seed=4), **opts)
    assert np.array_equal(first["el2n"], again["el2n"])
    assert not np.array_equal(first["el2n"], other["el2n"])


def test_one_set_of_proxy_runs_serves_every_metric(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    calls = []
    original = trainer.train_with_dynamics

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_with_dynamics", counting)
    table = lessdata.score(x, ["el2n", "forgetting", "aum", "entropy"], labels=y)
    assert len(calls) == 3  # the default proxy_runs, once for all four metrics
    assert {"el2n", "forgetting", "aum", "aum_margin", "entropy"} <= set(table.column_names)


def test_user_errors(planted):
    x, labels, _ = planted
    with pytest.raises(LessdataError, match="needs labels"):
        get_metric("el2n")(ScoreInputs(n=len(x), vectors=x))
    inputs = ScoreInputs(n=len(x), vectors=x, labels=labels)
    with pytest.raises(LessdataError, match="proxy_model must be one of"):
        get_metric("aum")(inputs, proxy_model="resnet")
    with pytest.raises(LessdataError, match="early_epoch must be"):
        get_metric("el2n")(inputs, proxy_epochs=3, early_epoch=4)
    with pytest.raises(LessdataError, match="proxy_runs must be"):
        get_metric("forgetting")(inputs, proxy_runs=0)
    one_class = ScoreInputs(n=len(x), vectors=x, labels=np.zeros(len(x), dtype=np.int64))
    with pytest.raises(LessdataError, match="2 classes"):
        get_metric("margin")(one_class, proxy_epochs=1, proxy_runs=1)
