"""All-zero vectors (failed or padded embeddings) have no direction: refused by default,
dropped on request, never silently the 'hardest' or 'unique' examples."""

from __future__ import annotations

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 16))[rng.integers(0, 6, 450)] + rng.normal(size=(450, 16)) * 0.3
    x[400:] = 0.0  # 50 failed embeddings
    return x.astype(np.float32)


def test_zero_vectors_are_refused_with_count_and_ids(x):
    for call in (
        lambda: lessdata.score(x, "prototypes"),
        lambda: lessdata.prune(x, 0.5, policy="keep-hard"),
        lambda: lessdata.prune(x, 0.5, policy="d4"),
        lambda: lessdata.dedup(x, method="semantic"),
    ):
        with pytest.raises(LessdataError, match=r"50 of 450 rows are zero vectors \(ids \[400"):
            call()


def test_euclidean_prototypes_and_random_accept_zero_vectors(x):
    table = lessdata.score(x, ["random"])
    assert table.num_rows == 450
    euclid = lessdata.score(x, "prototypes", metric_options={"distance": "euclidean", "k": 6})
    assert np.isfinite(euclid["prototypes"].to_numpy()).all()


def test_drop_leaves_them_out_of_scores_and_kept_sets(x):
    table = lessdata.score(x, "prototypes", zero_vectors="drop", metric_options={"k": 6})
    scores = table["prototypes"].to_numpy()
    assert np.isnan(scores[400:]).all() and np.isfinite(scores[:400]).all()
    hard = lessdata.prune(x, 0.5, policy="keep-hard", zero_vectors="drop")
    assert hard.n_kept == 225 and hard.kept.max() < 400  # none of the zero rows kept
    reasons = hard.manifest["reason"].to_pylist()
    assert all("zero vector" in r for r in reasons[400:])
    d4 = lessdata.prune(x, 0.5, policy="d4", zero_vectors="drop")
    assert d4.n_kept == 225 and d4.kept.max() < 400
    found = lessdata.dedup(x, method="semantic", zero_vectors="drop")
    assert not np.isin(np.arange(400, 450), found.kept).any()
    with pytest.raises(LessdataError, match="only 400 have a nonzero vector"):
        lessdata.prune(x, 420, policy="keep-easy", zero_vectors="drop")
    with pytest.raises(LessdataError, match="zero_vectors must be one of refuse, drop"):
        lessdata.prune(x, 0.5, zero_vectors="keep")
