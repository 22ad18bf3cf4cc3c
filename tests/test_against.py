"""``dedup NEW --against OLD``, ``index build`` and semantic dedup to a target size."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

import lessdata
from lessdata.duplicates.semdedup import most_redundant, redundancy, resolve_chains
from lessdata.errors import LessdataError

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
    "red",
    "green",
    "blue",
    "black",
    "white",
    "grey",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
]


def _doc(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(80))


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def corpora(tmp_path):
    """OLD (200 docs); NEW (100): 10 exact copies of OLD, 10 near copies, 5 internal copies."""
    rng = random.Random(0)
    old = [{"id": f"doc{i}", "text": _doc(rng)} for i in range(200)]
    new = [{"id": f"doc{i}", "text": _doc(rng)} for i in range(100)]  # ids collide with OLD's
    for i in range(10):
        new[i]["text"] = old[i]["text"]
    for i in range(10, 20):
        words = old[i]["text"].split()
        words[40] = "changed"
        new[i]["text"] = " ".join(words)
    for i in range(20, 25):
        new[i]["text"] = new[50 + i]["text"]
    return _write(tmp_path / "old.jsonl", old), _write(tmp_path / "new.jsonl", new)


def _manifest(folder):
    table = pq.read_table(folder / "manifest.parquet")
    return table.to_pandas(), json.loads(table.schema.metadata[b"lessdata"])


@pytest.mark.parametrize("via_index", [False, True])
def test_against_removes_what_duplicates_old_and_names_it(corpora, tmp_path, via_index):
    old, new = corpora
    reference = old
    if via_index:
        reference = lessdata.build_index(old, out=tmp_path / "index", method=["exact", "near"])
    lessdata.dedup(new, method=["exact", "near"], against=[reference], out=tmp_path / "d")
    m, meta = _manifest(tmp_path / "d")
    assert meta["against"] == [str(old)]
    gone = m[~m.kept]
    exact = gone[gone.removed_by == "exact"]
    near = gone[gone.removed_by == "near"]
    # the OLD copies, each naming its OLD document (namespaced: same id string, other corpus)
    assert sorted(exact.id[exact.against_id.notna()]) == sorted(f"doc{i}" for i in range(10))
    assert (exact.against_id == exact.id)[exact.against_id.notna()].all()
    assert sorted(near.id) == sorted(f"doc{i}" for i in range(10, 20))
    assert (near.against_id == near.id).all() and (near.against_source == str(old)).all()
    # NEW's own copies: the later member goes, naming the kept one (no OLD id)
    internal = gone[gone.against_id.isna()]
    assert sorted(internal.id) == sorted(f"doc{i}" for i in range(70, 75))
    assert len(gone) == 25


def test_index_is_data_and_reused_without_rereading_old(corpora, tmp_path):
    old, new = corpora
    folder = lessdata.build_index(old, out=tmp_path / "index", method=["exact", "near"])
    meta = json.loads((folder / "index.json").read_text())
    assert meta["rows"] == 200 and meta["methods"]["near"]["bands"] == 25
    assert all(p.suffix in {".npy", ".json", ".parquet"} or p.name.startswith(".lessdata")
               for p in folder.iterdir())  # fmt: skip
    for path in folder.glob("*.npy"):
        np.load(path, allow_pickle=False)
    old.unlink()  # the index alone is enough
    result = lessdata.dedup(new, method=["exact"], against=[folder])
    assert result.manifest.num_rows - result.n_kept == 15


def test_index_settings_that_differ_are_refused_by_name(corpora, tmp_path):
    old, new = corpora
    folder = lessdata.build_index(old, out=tmp_path / "index", method=["near"])
    with pytest.raises(LessdataError, match="ngram=5 but this run asks for ngram=3"):
        lessdata.dedup(new, method=["near"], method_options={"ngram": 3}, against=[folder])
    with pytest.raises(LessdataError, match="num_perm=256 but this run asks for num_perm=128"):
        lessdata.dedup(new, method=["near"], method_options={"num_perm": 128}, against=[folder])
    with pytest.raises(LessdataError, match="seed=0 but this run asks for seed=1"):
        lessdata.dedup(new, method=["near"], against=[folder], seed=1)
    with pytest.raises(LessdataError, match="holds no exact data"):
        lessdata.dedup(new, method=["exact"], against=[folder])


def test_semantic_index_refuses_another_encoder(corpora, tmp_path):
    old, new = corpora
    folder = lessdata.build_index(
        old, out=tmp_path / "index", method=["semantic"], encoder="static"
    )
    with pytest.raises(LessdataError, match="encoder="):
        lessdata.dedup(new, method=["semantic"], against=[folder], encoder="minilm")
    with pytest.raises(LessdataError, match="fitted on each corpus"):
        lessdata.dedup(new, method=["semantic"], against=[old], encoder="tfidf")


def test_semantic_against_finds_the_old_copies(corpora, tmp_path):
    old, new = corpora
    folder = lessdata.build_index(
        old, out=tmp_path / "index", method=["semantic"], encoder="static"
    )
    result = lessdata.dedup(
        new, method=["semantic"], method_options={"eps": 0.001}, against=[folder],
        encoder="static", out=tmp_path / "d",
    )  # fmt: skip
    m, _ = _manifest(tmp_path / "d")
    from_old = m[m.against_id.notna()]
    assert set(f"doc{i}" for i in range(10)) <= set(from_old.id)
    assert (from_old.against_id == from_old.id).all()
    assert result.n_kept == len(m) - (~m.kept).sum()


def test_two_references_with_the_same_ids_stay_apart(corpora, tmp_path):
    old, new = corpora
    other = _write(tmp_path / "other.jsonl", [{"id": "doc0", "text": "nothing alike here"}])
    result = lessdata.dedup(new, method=["exact"], against=[old, other], out=tmp_path / "d")
    m, meta = _manifest(tmp_path / "d")
    assert meta["against"] == [str(old), str(other)]
    assert set(m.against_source.dropna()) == {str(old)}
    assert result.manifest.num_rows == 100
    with pytest.raises(LessdataError, match="given twice"):
        lessdata.dedup(new, method=["exact"], against=[old, tmp_path / "." / "old.jsonl"])


def test_a_reference_with_repeated_ids_is_refused(corpora, tmp_path):
    _, new = corpora
    bad = _write(tmp_path / "bad.jsonl", [{"id": "a", "text": "x y"}, {"id": "a", "text": "z"}])
    with pytest.raises(LessdataError, match="a"):
        lessdata.dedup(new, method=["exact"], against=[bad])


def test_a_symlinked_reference_is_refused(corpora, tmp_path):
    old, new = corpora
    (tmp_path / "link.jsonl").symlink_to(old)
    with pytest.raises(LessdataError, match="symbolic link"):
        lessdata.dedup(new, method=["exact"], against=[tmp_path / "link.jsonl"])


# --- to a target size --------------------------------------------------------------------


def test_keep_leaves_exactly_n_most_redundant_first(corpora, tmp_path):
    _, new = corpora
    result = lessdata.dedup(
        new, method=["semantic"], method_options={"keep": 60}, encoder="static",
        out=tmp_path / "d",
    )  # fmt: skip
    m, meta = _manifest(tmp_path / "d")
    assert result.n_kept == 60 and m.kept.sum() == 60
    threshold = meta["semantic_threshold"]
    similarity = 1.0 - m.semdedup  # the redundancy of each document
    removed, kept = similarity[~m.kept], similarity[m.kept]
    assert removed.min() == pytest.approx(threshold)
    assert kept.max() <= threshold + 1e-12  # nothing kept is more redundant than a removal
    # the later member of each internal copy pair has similarity 1: it goes first
    kept_ids = set(m.id[m.kept])
    assert not any(f"doc{i}" in kept_ids and f"doc{i + 50}" in kept_ids for i in range(20, 25))
    assert (similarity > 0.9999).sum() >= 5
    dup = m.semdedup_duplicate_of[~m.kept]  # the manifest names the kept document by id
    assert dup.notna().all() and set(dup) <= kept_ids


def test_keep_as_a_fraction_and_on_arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype("float32")
    x[200:] = x[:100] + 0.01 * rng.normal(size=(100, 16)).astype("float32")
    result = lessdata.dedup(x, method="semantic", method_options={"keep": 0.75})
    assert result.n_kept == 225
    kept = set(result.kept.tolist())
    # of each planted pair at most one goes, and 75 pairs lose a member
    lost = sum((i not in kept) + (i + 200 not in kept) for i in range(100))
    assert lost == 75
    assert all((i in kept) or (i + 200 in kept) for i in range(100))


def test_keep_is_checked_before_any_work(corpora):
    _, new = corpora
    with pytest.raises(LessdataError, match="asks for 101 documents but the corpus holds 100"):
        lessdata.dedup(new, method=["semantic"], method_options={"keep": 101}, encoder="static")
    x = np.random.default_rng(0).normal(size=(10, 4)).astype("float32")
    with pytest.raises(LessdataError, match="holds 10"):
        lessdata.dedup(x, method="semantic", method_options={"keep": 11})
    for bad in (0, -3, 1.5, 0.0, "10", True):
        with pytest.raises(LessdataError, match="keep"):
            lessdata.dedup(x, method="semantic", method_options={"keep": bad})
    with pytest.raises(LessdataError, match="not both"):
        lessdata.dedup(x, method="semantic", method_options={"keep": 5, "eps": 0.1})


def test_removals_nest_as_the_target_shrinks():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)).astype("float32")
    found = redundancy(x, k=5, seed=0)
    previous = np.zeros(400, dtype=bool)
    for n_remove in (0, 10, 50, 200, 399):
        removed = most_redundant(found.similarity, found.rank, n_remove)
        assert removed.sum() == n_remove and (removed >= previous).all()
        previous = removed
    dup, outside = resolve_chains(
        previous, found.nearest, found.rank, np.full(400, -1, dtype=np.int64)
    )
    assert (outside == -1).all()
    assert ((dup >= 0) <= previous).all() and not previous[dup[dup >= 0]].any()


def test_redundancy_is_the_paper_rule_brute_force():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(150, 6)).astype("float32")
    found = redundancy(x, k=3, seed=0, survivor="random")
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    for i in range(150):
        earlier = np.flatnonzero((found.cluster == found.cluster[i]) & (found.rank < found.rank[i]))
        if len(earlier) == 0:
            assert found.similarity[i] == -np.inf and found.nearest[i] == -1
            continue
        sims = u[earlier] @ u[i]
        assert found.similarity[i] == pytest.approx(sims.max(), abs=1e-5)
        assert found.nearest[i] in earlier[np.isclose(sims, sims.max(), atol=1e-5)]


def test_cli_index_build_and_dedup_against(corpora, tmp_path, cli):
    old, new = corpora
    code, out, err = cli("index", "build", old, "--out", tmp_path / "ix", "-q")
    assert code == 0, err
    code, out, err = cli(
        "dedup", new, "--against", tmp_path / "ix", "--method", "exact", "--method", "near",
        "--out", tmp_path / "d", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert "removed 25 documents, kept 75" in out
    code, out, err = cli(
        "dedup", new, "--against", tmp_path / "ix", "--method", "near", "--jaccard", "0.8",
        "--out", tmp_path / "d2",
    )  # fmt: skip
    assert code == 2 and "bands=" in err and not (tmp_path / "d2").exists()
    code, out, err = cli(
        "dedup", new, "--method", "semantic", "--keep", "0.5", "--encoder", "static",
        "--out", tmp_path / "d3", "-q",
    )  # fmt: skip
    assert code == 0 and "kept 50" in out
    code, _, err = cli(
        "dedup", new, "--method", "semantic", "--keep", "half", "--out", tmp_path / "d4"
    )
    assert code == 2 and "--keep" in err


def test_a_damaged_or_foreign_index_is_refused(corpora, tmp_path):
    old, new = corpora
    folder = lessdata.build_index(old, out=tmp_path / "index", method=["exact"])
    meta = json.loads((folder / "index.json").read_text())
    meta["arrays"].append("../../outside")
    (folder / "index.json").write_text(json.dumps(meta))
    with pytest.raises(LessdataError, match="damaged index"):
        lessdata.dedup(new, method=["exact"], against=[folder])
    meta["arrays"].remove("../../outside")
    (folder / "index.json").write_text(json.dumps(meta))
    (folder / "hashes.npy").unlink()
    with pytest.raises(LessdataError, match=r"hashes\.npy"):
        lessdata.dedup(new, method=["exact"], against=[folder])
    (folder / "index.json").write_text("{}")
    with pytest.raises(LessdataError, match="not a lessdata index"):
        lessdata.dedup(new, method=["exact"], against=[folder])
