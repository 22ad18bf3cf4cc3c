"""SemDeDup: planted duplicates are removed, distinct points kept, survivors follow the rule."""

import numpy as np
import pytest

from lessdata.duplicates.semdedup import dedup_cluster
from lessdata.errors import LessdataError
from lessdata.metrics import ScoreInputs, get_metric


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def planted():
    """300 distinct points in 64-d plus exact and near copies of known originals."""
    rng = np.random.default_rng(0)
    base = _unit(rng.normal(size=(300, 64)))
    exact = base[:20].copy()  # rows 300..319 copy 0..19 exactly
    near = _unit(base[20:40] + 0.01 * rng.normal(size=(20, 64)))  # rows 320..339 ~ 20..39
    x = np.concatenate([base, exact, near])
    originals = np.concatenate([np.arange(20), np.arange(20, 40)])
    copies = np.arange(300, 340)
    return x, originals, copies


def test_removes_planted_exact_and_near_duplicates_and_keeps_distinct(planted):
    x, originals, copies = planted
    out = get_metric("semdedup")(ScoreInputs(n=len(x), vectors=x, seed=0), k=8, eps=0.05)
    dup_of = out["semdedup_duplicate_of"]
    removed = set(np.flatnonzero(dup_of >= 0).tolist())
    # exactly one of each planted pair goes, and nothing else
    assert len(removed) == 40
    for a, b in zip(originals, copies, strict=True):
        assert (a in removed) != (b in removed)
        loser, winner = (a, b) if a in removed else (b, a)
        assert dup_of[loser] == winner
    # distinct points (rows 40..299) all survive
    assert not removed & set(range(40, 300))
    # duplicates score below eps, survivors at or above it
    assert (out["semdedup"][dup_of >= 0] < 0.05).all()
    assert (out["semdedup"][dup_of < 0] >= 0.05).all()


def _pair_distance(x, cluster_of, i):
    return i


@pytest.mark.parametrize("survivor", ["hard", "easy"])
def test_survivor_follows_the_rule(survivor):
    """In each group the kept member is the farthest (hard) or nearest (easy) to the centroid."""
    rng = np.random.default_rng(1)
    centres = _unit(rng.normal(size=(4, 32)))
    groups = []
    for c in centres:
        # a tight duplicate group at a random offset from the centre, plus background points
        anchor = _unit(c + 0.6 * rng.normal(size=(1, 32)))
        groups.append(_unit(anchor + 0.002 * rng.normal(size=(5, 32))))
        groups.append(_unit(c + 0.3 * rng.normal(size=(40, 32))))
    x = np.concatenate(groups)
    out = get_metric("semdedup")(
        ScoreInputs(n=len(x), vectors=x, seed=0), k=4, eps=0.02, survivor=survivor
    )
    cluster = out["semdedup_cluster"]
    dup_of = out["semdedup_duplicate_of"]
    centroid = {c: _unit(x[cluster == c].mean(0, keepdims=True))[0] for c in np.unique(cluster)}
    dist = np.array([1 - x[i] @ centroid[cluster[i]] for i in range(len(x))])
    checked = 0
    for s in np.unique(dup_of[dup_of >= 0]):
        members = np.concatenate([[s], np.flatnonzero(dup_of == s)])
        same_cluster = members[cluster[members] == cluster[s]]
        if survivor == "hard":
            assert dist[s] >= dist[same_cluster].max() - 1e-6
        else:
            assert dist[s] <= dist[same_cluster].min() + 1e-6
        checked += 1
    assert checked >= 3


def test_random_survivor_is_seeded():
    rng = np.random.default_rng(2)
    x = _unit(np.repeat(rng.normal(size=(30, 16)), 3, axis=0) + 1e-4 * rng.normal(size=(90, 16)))
    run = lambda seed: get_metric("semdedup")(  # noqa: E731
        ScoreInputs(n=90, vectors=x, seed=seed), k=3, survivor="random"
    )["semdedup_duplicate_of"]
    assert np.array_equal(run(5), run(5))
    assert (run(5) >= 0).sum() == 60


def test_greedy_compares_with_kept_examples_only():
    """A chain a~b~c where a and c are not duplicates: b goes, c stays (b was not kept)."""
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([np.cos(0.25), np.sin(0.25), 0.0])
    c = np.array([np.cos(0.5), np.sin(0.5), 0.0])
    x = np.stack([a, b, c]).astype(np.float32)
    threshold = np.cos(0.3)  # a·b and b·c above it, a·c below
    _, nearest, kept = dedup_cluster(x, np.arange(3), threshold)
    assert kept.tolist() == [True, False, True]
    assert nearest[1] == 0


def test_blocks_agree_with_a_dense_reference(monkeypatch):
    """Blocked processing (tiny blocks) gives the same result as one dense pass."""
    import lessdata.duplicates.semdedup as sd

    rng = np.random.default_rng(3)
    x = _unit(np.repeat(rng.normal(size=(60, 8)), 4, axis=0) + 0.05 * rng.normal(size=(240, 8)))
    rows = rng.permutation(240)
    dense = sd.dedup_cluster(x, rows, 0.97)
    monkeypatch.setattr(sd, "BLOCK", 7)
    monkeypatch.setattr(sd, "KEPT_CHUNK", 5)
    blocked = sd.dedup_cluster(x, rows, 0.97)
    assert np.array_equal(dense[2], blocked[2])
    assert np.array_equal(dense[1], blocked[1])
    np.testing.assert_allclose(dense[0], blocked[0], rtol=1e-5)
    # reference: the plain sequential definition
    kept = []
    for i in rows:
        if not kept or (x[kept] @ x[i]).max() <= 0.97:
            kept.append(i)
    assert sorted(kept) == sorted(rows[dense[2]].tolist())


def test_bad_eps_is_refused(planted):
    x, *_ = planted
    with pytest.raises(LessdataError, match="eps"):
        get_metric("semdedup")(ScoreInputs(n=len(x), vectors=x), eps=0)
