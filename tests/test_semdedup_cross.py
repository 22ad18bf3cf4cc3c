"""SemDeDup across cluster borders (scope="neighbours", the default): pairs that k-means
splits are found, every removal has a neighbour above the threshold, the blocked code
agrees with a dense reference of the rule, and parts mode agrees with memory."""

import numpy as np
import pytest

import lessdata
from lessdata import kmeans
from lessdata.data.manifest import read_manifest
from lessdata.duplicates import semdedup, semdedup_cross
from lessdata.duplicates.semdedup import dedup_cluster, semantic_duplicates
from lessdata.errors import LessdataError
from lessdata.ties import tie_keys, tie_seed_of


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _split_pairs(n=1500, d=6, seed=0):
    """Points spread over the sphere, a third of them with a near copy (cos ≈ 0.997): with
    many clusters, some copies land across a border from their original."""
    rng = np.random.default_rng(seed)
    base = _unit(rng.normal(size=(n, d)))
    copies = _unit(base[: n // 3] + 0.05 * rng.normal(size=(n // 3, d)))
    return np.concatenate([base, copies])


def _removed_have_a_neighbour(x, found, threshold):
    xn = _unit(x)
    gone = np.flatnonzero(found.duplicate_of >= 0)
    sims = np.einsum("ij,ij->i", xn[gone], xn[found.duplicate_of[gone]])
    return bool((sims > threshold).all())


def test_pairs_split_by_a_border_are_found():
    x = _split_pairs()
    eps = 0.01
    within = semantic_duplicates(x, k=40, eps=eps, scope="cluster")
    across = semantic_duplicates(x, k=40, eps=eps)  # the default scope
    split = within.cluster[:500] != within.cluster[1500:]  # original and copy apart
    assert split.sum() >= 20
    _, _, kept = dedup_cluster(x, np.arange(len(x)), 1 - eps)  # exhaustive, row order
    exhaustive = int((~kept).sum())
    n_within = int((within.duplicate_of >= 0).sum())
    n_across = int((across.duplicate_of >= 0).sum())
    assert n_within < 0.97 * exhaustive  # the within-cluster walk misses the split pairs
    assert n_across >= 0.98 * exhaustive
    assert _removed_have_a_neighbour(x, across, 1 - eps)
    # removals only grow: the walk's removals stay, with their match and distance
    gone = within.duplicate_of >= 0
    np.testing.assert_array_equal(across.duplicate_of[gone], within.duplicate_of[gone])
    np.testing.assert_array_equal(across.distance[gone], within.distance[gone])
    extra = (across.duplicate_of >= 0) & ~gone
    assert (across.distance[extra] < eps).all()


def _dense_reference(x, cluster, distance, runners_up, survivor, seed, threshold):
    """The neighbours rule from its definition, with whole matrices and loops: the walk in
    each cluster, then every kept pair (a, b) where b's cluster is among a's next-nearest,
    the later of the two in survivor order removed, matched to its most similar partner."""
    xn = _unit(x)
    n = len(x)
    tie = tie_keys(tie_seed_of(np.random.default_rng(seed)), np.arange(n))
    primary = {"hard": -distance, "easy": distance, "random": np.zeros(n)}[survivor]
    duplicate_of = np.full(n, -1)
    for c in np.unique(cluster):  # the walk, plainly
        members = np.flatnonzero(cluster == c)
        walk = members[np.lexsort((members, tie[members], primary[members]))]
        kept = []
        for i in walk:
            sims = xn[kept] @ xn[i] if kept else np.empty(0)
            if len(sims) and sims.max() > threshold:
                duplicate_of[i] = kept[int(np.argmax(sims))]
            else:
                kept.append(i)
    kept_rows = np.flatnonzero(duplicate_of < 0)
    best = {}
    for a in kept_rows:
        for b in kept_rows:
            if cluster[b] not in runners_up[a] or a == b:
                continue
            s = float(xn[a] @ xn[b])
            if s <= threshold:
                continue
            first_a = (primary[a], tie[a], a) < (primary[b], tie[b], b)
            loser, winner = (b, a) if first_a else (a, b)
            if loser not in best or (s, -winner) > (best[loser][0], -best[loser][1]):
                best[loser] = (s, winner)
    out = duplicate_of.copy()
    for loser, (_, winner) in best.items():
        out[loser] = winner
    return out


@pytest.mark.parametrize("survivor", ["hard", "easy", "random"])
def test_blocked_cross_step_agrees_with_a_dense_reference(monkeypatch, survivor):
    monkeypatch.setattr(semdedup_cross, "GUEST_BLOCK", 7)
    monkeypatch.setattr(semdedup_cross, "HOST_CHUNK", 5)
    monkeypatch.setattr(semdedup, "SHARD_ROWS", 50)  # several shards of clusters
    x = _split_pairs(n=240, d=4, seed=1)
    found = semantic_duplicates(x, k=12, eps=0.01, survivor=survivor, seed=3)
    centroids = kmeans.fit_centroids(x, 12, spherical=True, seed=3)
    cache: dict = {}
    cluster, distance = kmeans.assign(x, centroids, spherical=True, cache=cache)
    runners_up = kmeans.next_nearest(x, centroids, spherical=True, cache=cache)
    np.testing.assert_array_equal(cluster, found.cluster)
    reference = _dense_reference(x, cluster, distance, runners_up, survivor, 3, 0.99)
    np.testing.assert_array_equal(found.duplicate_of, reference)
    assert (found.duplicate_of >= 0).sum() > (
        semantic_duplicates(
            x, k=12, eps=0.01, survivor=survivor, seed=3, scope="cluster"
        ).duplicate_of
        >= 0
    ).sum()


def test_next_nearest_centroids_are_the_runners_up():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 5)).astype(np.float32)
    centroids = _unit(rng.normal(size=(9, 5)))
    ids, _, runners = kmeans.nearest_centroids(x, centroids, True, distances=True, runners_up=2)
    order = np.argsort(-(x @ centroids.T), axis=1, kind="stable")
    np.testing.assert_array_equal(ids, order[:, 0])
    np.testing.assert_array_equal(runners, order[:, 1:3])
    one = kmeans.nearest_centroids(x, centroids[:1], True, runners_up=2)
    assert one is not None  # k = 1: no runner-up
    _, lone = kmeans.nearest_centroids(x, centroids[:1], True, runners_up=2)
    assert (lone == -1).all()


def test_scope_is_checked():
    with pytest.raises(LessdataError, match="scope"):
        semantic_duplicates(np.eye(4, dtype=np.float32), k=2, scope="everywhere")


def test_parts_mode_finds_the_same_pairs_across_borders(tmp_path, monkeypatch):
    """score --parts (rows shuffled to cluster buckets, guests to their next-nearest
    clusters' buckets) gives the in-memory columns when many pairs straddle a border."""
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 700)  # three row shards
    monkeypatch.setattr(semdedup, "SHARD_ROWS", 300)  # several buckets
    path = tmp_path / "x.npy"
    np.save(path, _split_pairs())
    options = {"k": 40, "eps": 0.01}
    lessdata.score_parts(path, tmp_path / "s", ["semdedup"], metric_options=options, seed=2)
    memory = lessdata.score(str(path), ["semdedup"], metric_options=options, seed=2)
    table = read_manifest(tmp_path / "s")
    for column in memory.column_names:
        assert table[column].equals(memory[column]), column
    within = lessdata.score(str(path), ["semdedup"], seed=2,
                            metric_options={**options, "scope": "cluster"})  # fmt: skip
    found = memory["semdedup_duplicate_of"].drop_null()
    assert len(found) > len(within["semdedup_duplicate_of"].drop_null())


def test_dedup_takes_the_scope_as_a_method_option():
    x = _split_pairs()
    options = {"eps": 0.01, "k": 40}
    across = lessdata.dedup(x, method="semantic", method_options=options, report=False)
    within = lessdata.dedup(x, method="semantic", method_options={**options, "scope": "cluster"},
                            report=False)  # fmt: skip
    assert len(across.kept) < len(within.kept)
    with pytest.raises(LessdataError, match="scope"):
        lessdata.dedup(x, method="semantic", method_options={"scope": "all"}, report=False)


def test_the_cli_takes_the_scope_and_refuses_an_unknown_one(tmp_path):
    from typer.testing import CliRunner

    from lessdata.cli import app

    src = tmp_path / "x.npy"
    np.save(src, _split_pairs())
    runner = CliRunner()
    kept = {}
    for scope in ("neighbours", "cluster"):
        out = tmp_path / scope
        args = ["dedup", str(src), "--eps", "0.01", "--k", "40", "--scope", scope]
        res = runner.invoke(app, [*args, "--out", str(out), "-q"])
        assert res.exit_code == 0, res.output
        kept[scope] = read_manifest(out / "manifest.parquet").column("kept").to_numpy().sum()
    assert kept["neighbours"] < kept["cluster"]
    res = runner.invoke(app, ["dedup", str(src), "--scope", "all", "--out", str(tmp_path / "o")])
    assert isinstance(res.exception, LessdataError)  # the CLI's entry point: one line, exit 2
    assert "scope must be one of neighbours, cluster" in str(res.exception)
    assert not (tmp_path / "o").exists()


def test_curate_passes_the_scope_to_its_semantic_stage(tmp_path):
    from lessdata.pipeline.curation_stages import CurationRun

    seen = []
    real = CurationRun.semantic

    def spy(self, outcome, **kw):
        seen.append(kw["scope"])
        return real(self, outcome, **kw)

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(f'{{"text": "document number {i} about topic {i % 7}"}}\n'
                            for i in range(60)))  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CurationRun, "semantic", spy)
        lessdata.curate(docs, dedup=["semantic"], dedup_options={"scope": "cluster", "k": 4},
                        out=tmp_path / "c", encoder="tfidf", report=False)  # fmt: skip
    assert seen == ["cluster"]
