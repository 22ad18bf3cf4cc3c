"""Prototype metrics: planted outliers score hardest; k and labels are validated."""

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.kmeans import default_k
from lessdata.metrics import ScoreInputs, get_metric


@pytest.fixture
def clustered():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 32)) * 5
    labels = rng.integers(0, 5, 1000)
    x = (centres[labels] + rng.normal(size=(1000, 32))).astype(np.float32)
    outliers = np.arange(10)
    x[outliers] = (rng.normal(size=(10, 32)) * 5).astype(np.float32)  # off every cluster
    return x, labels, outliers


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_planted_outliers_score_hardest(clustered, distance):
    x, _, outliers = clustered
    out = get_metric("prototypes")(ScoreInputs(n=len(x), vectors=x, seed=0), k=5, distance=distance)
    hardest = np.argsort(out["prototypes"])[-len(outliers) :]
    assert set(hardest.tolist()) == set(outliers.tolist())
    assert out["prototypes_cluster"].shape == (1000,)


def test_planted_outliers_score_high_with_default_k(clustered):
    x, _, outliers = clustered
    scores = get_metric("prototypes")(ScoreInputs(n=len(x), vectors=x, seed=0))["prototypes"]
    rank = np.argsort(np.argsort(scores))  # 0 = easiest
    # a few outliers may seed their own centroid; most still rank among the hardest 5%
    assert (rank[outliers] >= 950).sum() >= 7


def test_supervised_prototypes_flags_mislabelled(clustered):
    x, labels, _ = clustered
    labels = labels.copy()
    flipped = np.arange(500, 510)
    labels[flipped] = (labels[flipped] + 1) % 5
    out = get_metric("supervised-prototypes")(ScoreInputs(n=len(x), vectors=x, labels=labels))
    hardest = np.argsort(out["supervised-prototypes"])[-20:]
    assert set(flipped.tolist()) <= set(hardest.tolist())


def test_same_seed_same_scores(clustered):
    x, *_ = clustered
    a = get_metric("prototypes")(ScoreInputs(n=len(x), vectors=x, seed=3))["prototypes"]
    b = get_metric("prototypes")(ScoreInputs(n=len(x), vectors=x, seed=3))["prototypes"]
    assert np.array_equal(a, b)


def test_default_k_rule():
    assert default_k(1_000_000) == 1000
    assert default_k(1) == 1
    assert default_k(10) == 3


def test_k_above_n_and_missing_labels_are_refused(clustered):
    x, *_ = clustered
    with pytest.raises(LessdataError, match="k must be at most the 1000 examples"):
        get_metric("prototypes")(ScoreInputs(n=len(x), vectors=x), k=5000)
    with pytest.raises(LessdataError, match="needs labels"):
        get_metric("supervised-prototypes")(ScoreInputs(n=len(x), vectors=x))
    with pytest.raises(LessdataError, match="distance"):
        get_metric("prototypes")(ScoreInputs(n=len(x), vectors=x), distance="manhattan")


@pytest.mark.parametrize("metric", ["prototypes", "semdedup", "supervised-prototypes"])
def test_scoring_never_modifies_the_input(clustered, metric):
    x, labels, _ = clustered
    before = x.copy()
    get_metric(metric)(ScoreInputs(n=len(x), vectors=x, labels=labels, seed=0))
    assert np.array_equal(x, before)
