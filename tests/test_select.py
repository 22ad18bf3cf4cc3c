"""Policies: exact unique counts, seeded, class-balanced when asked, CCS covers every stratum."""

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.select import POLICIES, auto_policy_name, ccs, select, split_budget

N = 1000


@pytest.fixture
def scores_labels():
    rng = np.random.default_rng(0)
    scores = rng.gamma(2.0, size=N)
    labels = rng.choice(4, size=N, p=[0.7, 0.2, 0.08, 0.02])  # imbalanced
    return scores, labels


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("keep", [1, 7, 0.1, 0.5, 0.93, N])
@pytest.mark.parametrize("balanced", [False, True])
def test_exact_unique_sorted_and_seeded(scores_labels, policy, keep, balanced):
    scores, labels = scores_labels
    vectors = np.random.default_rng(1).normal(size=(N, 5)).astype(np.float32)
    idx = select(scores, keep, policy=policy, labels=labels, class_balanced=balanced, seed=4,
                 vectors=vectors)  # fmt: skip
    budget = keep if isinstance(keep, int) else round(keep * N)
    assert len(idx) == budget
    assert len(np.unique(idx)) == budget
    assert np.all(np.diff(idx) > 0)
    assert idx.dtype == np.int64 and idx.min() >= 0 and idx.max() < N
    again = select(scores, keep, policy=policy, labels=labels, class_balanced=balanced, seed=4,
                   vectors=vectors)  # fmt: skip
    assert np.array_equal(idx, again)


def test_hard_and_easy_take_the_extremes(scores_labels):
    scores, _ = scores_labels
    hard = select(scores, 100, policy="keep-hard")
    easy = select(scores, 100, policy="keep-easy")
    assert scores[hard].min() >= np.sort(scores)[-100]
    assert scores[easy].max() <= np.sort(scores)[99]


def test_uncalibrated_auto_is_random_below_the_threshold_and_hard_above(scores_labels):
    scores, _ = scores_labels
    assert auto_policy_name(0.7) == "random" and auto_policy_name(0.9) == "keep-hard"
    assert np.array_equal(
        select(scores, 0.5, policy="auto", seed=3), select(scores, 0.5, policy="random", seed=3)
    )
    assert np.array_equal(
        select(scores, 0.9, policy="auto"), select(scores, 0.9, policy="keep-hard")
    )
    assert auto_policy_name(0.5, threshold=0.5) == "keep-hard"


def test_moderate_keeps_the_middle(scores_labels):
    scores, _ = scores_labels
    idx = select(scores, 200, policy="moderate")
    med = np.median(scores)
    assert np.abs(scores[idx] - med).max() <= np.sort(np.abs(scores - med))[199] + 1e-12


def test_random_differs_by_seed(scores_labels):
    scores, _ = scores_labels
    assert not np.array_equal(select(scores, 0.3, policy="random", seed=1),
                              select(scores, 0.3, policy="random", seed=2))  # fmt: skip


def test_class_balanced_is_even_where_sizes_allow(scores_labels):
    scores, labels = scores_labels
    sizes = np.bincount(labels)
    idx = select(scores, 200, policy="keep-hard", labels=labels, class_balanced=True)
    per_class = np.bincount(labels[idx], minlength=4)
    # the smallest class gives all it has, the others share the rest evenly (±1)
    small = int(np.argmin(sizes))
    assert per_class[small] == min(sizes[small], 50)
    others = np.delete(per_class, small)
    assert others.max() - others.min() <= 1
    assert per_class.sum() == 200


def test_split_budget_water_fills():
    labels = np.repeat([0, 1, 2], [5, 100, 100])
    shares = split_budget(labels, 60, np.random.default_rng(0))
    assert shares.tolist() == [5, 28, 27] or shares.tolist() == [5, 27, 28]


def test_ccs_draws_from_every_non_empty_stratum():
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.normal(0, 1, 5000), rng.normal(6, 0.3, 50)])  # a thin tail
    idx = ccs(scores, 300, rng, ccs_beta=0.0, ccs_strata=10)
    edges = np.linspace(scores.min(), scores.max(), 11)
    stratum = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, 9)
    non_empty = np.unique(stratum)
    assert set(np.unique(stratum[idx])) == set(non_empty)
    # and it takes every member of small strata before crowding the dense ones
    for s in non_empty:
        if (stratum == s).sum() <= 300 // 10:
            assert (stratum[idx] == s).sum() == (stratum == s).sum()


def test_ccs_drops_the_hardest_beta():
    scores = np.arange(1000, dtype=float)
    idx = ccs(scores, 500, np.random.default_rng(0), ccs_beta=0.2, ccs_strata=5)
    assert scores[idx].max() < 800


@pytest.mark.parametrize("keep", [0, -3, 0.0, 1.5, N + 1, float("nan")])
def test_bad_budgets_are_refused(scores_labels, keep):
    scores, _ = scores_labels
    with pytest.raises(LessdataError):
        select(scores, keep)


def test_bad_policy_and_missing_labels_are_refused(scores_labels):
    scores, _ = scores_labels
    with pytest.raises(LessdataError, match="policy must be one of"):
        select(scores, 10, policy="hardest")
    with pytest.raises(LessdataError, match="needs labels"):
        select(scores, 10, class_balanced=True)
    with pytest.raises(LessdataError, match="NaN"):
        select(np.array([1.0, np.nan]), 1)


def test_auto_judges_the_requested_fraction_not_the_rounded_count():
    scores = np.arange(1799, dtype=float)  # 0.9 * 1799 rounds to 1619, 0.89994 of 1799
    assert np.array_equal(
        select(scores, 0.9, policy="auto"), select(scores, 0.9, policy="keep-hard")
    )


def test_importance_policy_samples_in_proportion_to_exp_score():
    """Gumbel top-1 picks index i with probability exp(s_i) / sum exp(s)."""
    scores = np.log(np.array([1.0, 2.0, 7.0]))
    picks = np.array([select(scores, 1, policy="importance", seed=s)[0] for s in range(4000)])
    freq = np.bincount(picks, minlength=3) / len(picks)
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.03)


def test_importance_policy_is_seeded_and_exact_in_size():
    scores = np.random.default_rng(1).normal(size=500)
    a = select(scores, 0.2, policy="importance", seed=3)
    b = select(scores, 0.2, policy="importance", seed=3)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 100 and len(np.unique(a)) == 100


def _two_blobs():
    rng = np.random.default_rng(0)
    dense_hard = rng.normal(size=(200, 2)) * 0.5
    easy = rng.normal(size=(200, 2)) * 0.5 + [10, 0]
    vectors = np.vstack([dense_hard, easy]).astype(np.float32)
    scores = np.r_[rng.random(200) + 1, rng.random(200)]
    return scores, vectors


def test_d2_covers_both_regions_where_keep_hard_takes_one():
    scores, vectors = _two_blobs()
    hard = select(scores, 0.2, policy="keep-hard")
    d2 = select(scores, 0.2, policy="d2", vectors=vectors)
    assert (hard >= 200).sum() == 0
    assert (d2 >= 200).sum() >= 10 and (d2 < 200).sum() > (d2 >= 200).sum()
    # with no messages (gamma so large that neighbours share nothing) D2 is keep-hard
    flat = select(scores, 0.2, policy="d2", vectors=vectors, d2_gamma=1000)
    assert np.array_equal(flat, hard)


def test_d2_handles_duplicates_and_needs_vectors():
    scores, vectors = _two_blobs()
    repeated = np.repeat(vectors[:50], 4, axis=0)
    kept = select(scores[:200], 60, policy="d2", vectors=repeated)
    assert len(np.unique(kept)) == 60
    with pytest.raises(LessdataError, match="needs each example's vector"):
        select(scores, 0.2, policy="d2")
    with pytest.raises(LessdataError, match="one vector per score"):
        select(scores, 0.2, policy="d2", vectors=vectors[:10])
    with pytest.raises(LessdataError, match="d2_k"):
        select(scores, 0.2, policy="d2", vectors=vectors, d2_k=0)


def test_prune_with_d2_uses_the_data_vectors():
    import lessdata

    _scores, vectors = _two_blobs()
    result = lessdata.prune(vectors, 0.2, policy="d2", metric="prototypes", report=False,
                            metric_options={"k": 4}, quiet=True)  # fmt: skip
    assert result.n_kept == 80
    assert 0 < (result.kept >= 200).sum() < 80  # both regions covered
    reasons = set(result.manifest.column("reason").to_pylist())
    assert any(r.startswith("kept: d2 on prototypes") for r in reasons)
