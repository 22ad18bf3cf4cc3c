"""Exact and near-duplicate detection: planted duplicates in real code, a labelled set, LSH."""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import re
import time

import numpy as np
import pyarrow as pa
import pytest
from scipy import sparse
from scipy.stats import binom

from lessdata.duplicates import exact_match as em
from lessdata.duplicates import lsh
from lessdata.duplicates import minhash as mh
from lessdata.errors import LessdataError

MODULES = ("argparse", "difflib", "textwrap", "json.decoder", "shutil", "tarfile", "inspect")


@pytest.fixture(scope="module")
def real_functions() -> list[str]:
    """Distinct functions and methods (>= 80 tokens) read from stdlib sources."""
    out, seen = [], set()
    for name in MODULES:
        source = inspect.getsource(importlib.import_module(name))
        lines = source.splitlines(keepends=True)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                text = "".join(lines[node.lineno - 1 : node.end_lineno])
                key = em.normalize_text(text)
                if len(mh.tokens(text)) >= 80 and key not in seen:
                    seen.add(key)
                    out.append(text)
    assert len(out) >= 150
    return out


def _distinct(texts: list[str], limit: float) -> list[int]:
    """Greedy subset of texts whose pairwise exact Jaccard stays below ``limit``."""
    sets = [mh.shingles(t) for t in texts]
    kept: list[int] = []
    for i, s in enumerate(sets):
        if all(len(s & sets[j]) / len(s | sets[j]) < limit for j in kept):
            kept.append(i)
    return kept


def _edit(text: str, fraction: float, rng: np.random.Generator, vocab: list[str]) -> str:
    """Delete or replace ``fraction`` of the word tokens of ``text`` (seeded)."""
    parts = re.split(r"(\w+)", text)  # odd positions hold the word tokens
    positions = np.arange(1, len(parts), 2)
    chosen = rng.choice(positions, size=round(fraction * len(positions)), replace=False)
    for i in chosen:
        parts[i] = "" if rng.random() < 0.5 else str(rng.choice(vocab))
    return "".join(parts)


def _all_pair_jaccard(texts: list[str]) -> np.ndarray:
    """Dense (n, n) exact Jaccard matrix via a sparse shingle-incidence product."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, t in enumerate(texts):
        for s in mh.shingles(t):
            rows.append(i)
            cols.append(vocab.setdefault(s, len(vocab)))
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocab)))
    inter = (x @ x.T).toarray()
    size = np.asarray(x.sum(axis=1)).ravel()
    return inter / (size[:, None] + size[None, :] - inter)


# --- exact ------------------------------------------------------------------------------


def test_normalize_text_rules():
    assert em.normalize_text("\n\n  x = 1   \r\n\ty = 2\t\r\n\r\n") == "  x = 1\n\ty = 2"
    assert em.normalize_text("caf\u0065\u0301") == em.normalize_text("caf\u00e9")  # NFC
    assert em.normalize_text("X = 1") != em.normalize_text("x = 1")  # case is kept
    assert em.normalize_text("  x") != em.normalize_text("x")  # indentation is kept


def test_exact_hashes_are_blake2b_of_the_normalized_text():
    texts = ["a  \r\nb", "a\nb", "a\nc"]
    digests = em.exact_hashes(texts)
    assert digests.dtype == np.dtype("V16") and len(digests) == 3
    expected = hashlib.blake2b(b"a\nb", digest_size=16).digest()
    assert digests[0].tobytes() == digests[1].tobytes() == expected
    assert digests[2].tobytes() != expected


def test_exact_duplicates_finds_whitespace_and_crlf_copies_of_real_code(real_functions):
    rng = np.random.default_rng(0)
    originals = real_functions[:40]
    texts = list(originals)
    for k, text in enumerate(originals[:30]):
        if k % 3 == 0:
            copy = "".join(line.rstrip("\n") + "  \t\n" for line in text.splitlines(True))
        elif k % 3 == 1:
            copy = text.replace("\n", "\r\n")
        else:
            copy = "\n\n" + text + "\n   \n"
        texts.append(copy)
    for k in range(30, 40):  # one changed character: not an exact duplicate
        texts.append(originals[k].replace("(", "[", 1))
    order = rng.permutation(len(texts))  # row r holds texts[order[r]]
    row_of = np.argsort(order)
    texts = [texts[i] for i in order]

    dup = em.exact_duplicates(texts)
    expected = np.full(len(texts), -1)
    for k in range(30):
        a, b = sorted((row_of[k], row_of[40 + k]))  # the original and its copy
        expected[b] = a
    assert dup.tolist() == expected.tolist()

    longest = em.exact_duplicates(texts, keep="longest")
    for row in np.flatnonzero(longest >= 0):
        assert len(texts[row]) <= len(texts[longest[row]])
    assert (longest >= 0).sum() == 30


def test_exact_duplicates_keep_rules_and_lengths():
    texts = ["x", "x  ", "y", "x\n"]
    assert em.exact_duplicates(texts).tolist() == [-1, 0, -1, 0]
    assert em.exact_duplicates(texts, keep="longest").tolist() == [1, -1, -1, 1]
    lengths = np.array([1, 1, 1, 9])
    assert em.exact_duplicates(texts, keep="longest", lengths=lengths).tolist() == [3, 3, -1, -1]
    assert em.exact_duplicates(pa.array(texts)).tolist() == [-1, 0, -1, 0]
    large = pa.array(texts, type=pa.large_string())
    assert em.exact_duplicates(large, keep="longest").tolist() == [1, -1, -1, 1]
    if hasattr(pa, "string_view"):
        view = pa.array(texts, type=pa.string_view())
        assert em.exact_duplicates(view, keep="longest").tolist() == [1, -1, -1, 1]


# --- shingles, signatures ---------------------------------------------------------------


def test_shingles_and_jaccard():
    assert mh.shingles("A.b c-d e_f g", ngram=3) == {"a b c", "b c d", "c d e_f", "d e_f g"}
    assert mh.shingles("one, two", ngram=5) == {"one two"}  # short text: one shingle
    assert mh.shingles("...", ngram=5) == {""}
    assert mh.jaccard("a b c d", "a b c e", ngram=2) == pytest.approx(2 / 4)


def test_signatures_tokenise_like_shingles():
    """Case and punctuation (ASCII or not) do not change a signature; words do."""
    same = ["Über café: x_1 = naïve(2)", "über CAFÉ x_1 naïve 2 …", "uber cafe x_1 naive 2"]
    sig = mh.minhash_signatures([*same, "x = 1; y = 2", "X=1  Y=2—"], num_perm=64)
    assert (sig[0] == sig[1]).all() and (sig[3] == sig[4]).all()
    assert (sig[0] == sig[2]).mean() < 0.5


def test_signatures_are_deterministic_and_seeded(real_functions):
    texts = real_functions[:50]
    a = mh.minhash_signatures(texts, num_perm=64, seed=3)
    assert a.dtype == np.uint32 and a.shape == (50, 64)
    assert (a == mh.minhash_signatures(texts, num_perm=64, seed=3, batch_size=7)).all()
    assert (
        a == mh.minhash_signatures(pa.chunked_array([texts[:20], texts[20:]]), num_perm=64, seed=3)
    ).all()
    other = mh.minhash_signatures(texts, num_perm=64, seed=4)
    assert (a == other).mean() < 0.05


@pytest.fixture(scope="module")
def labelled():
    """300 random-word base docs and one edited variant each (exact Jaccard ~0.3..1.0)."""
    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(5000)]
    texts = []
    for _ in range(300):
        texts.append(" ".join(rng.choice(vocab, size=int(rng.integers(150, 300)))))
    for i in range(300):
        # a target Jaccard J ~ U(0.3, 1) needs about 1 - (2J / (1 + J))^(1/5) of tokens edited
        target = rng.uniform(0.3, 1.0)
        fraction = 1 - (2 * target / (1 + target)) ** (1 / 5)
        texts.append(_edit(texts[i], float(fraction), rng, vocab))
    return texts, _all_pair_jaccard(texts)


def test_signature_agreement_estimates_exact_jaccard(labelled):
    texts, jac = labelled
    sig = mh.minhash_signatures(texts, num_perm=256)
    pairs = np.stack((np.arange(300), np.arange(300, 600)), axis=1)
    exact = jac[pairs[:, 0], pairs[:, 1]]
    assert exact.min() < 0.4 and exact.max() > 0.95  # the edits span the range
    estimate = mh.estimated_jaccard(sig, pairs)
    assert np.abs(estimate - exact).mean() < 0.05
    assert np.allclose(mh.pair_jaccard(texts, pairs[:20]), exact[:20])


def test_precision_and_recall_of_pairs_with_default_settings(labelled):
    """Pairs are positive when exact Jaccard >= 0.7; found when their rows share a cluster.

    At exactly the threshold any estimate-based rule finds half the pairs, and BigCode's
    banding (25 x 10) proposes only ~51% of pairs at J = 0.7, so recall is judged on pairs
    at J >= 0.75, and the overall recall against the S-curve's prediction.
    """
    texts, jac = labelled
    result = lsh.near_duplicates(texts)
    c = result.cluster
    found = (c[:, None] == c[None, :]) & (c[:, None] >= 0)
    upper = np.triu(np.ones_like(found), k=1)
    positive = (jac >= 0.7) & upper
    found &= upper
    precision = (found & positive).sum() / found.sum()
    clear = (jac >= 0.75) & upper
    assert positive.sum() > 100
    assert precision > 0.9
    assert (found & clear).sum() / clear.sum() > 0.9
    # overall recall matches the LSH S-curve x estimate-threshold prediction
    j = jac[positive]
    b, r = lsh.optimal_bands(0.7, 256)
    predicted = ((1 - (1 - j**r) ** b) * binom.sf(np.ceil(0.7 * 256) - 1, 256, j)).mean()
    recall = (found & positive).sum() / positive.sum()
    assert recall > predicted - 0.08, (recall, predicted)


def test_planted_near_duplicates_of_real_code(real_functions):
    """Edited copies above 0.8 exact Jaccard are found; copies below 0.5 are not merged."""
    rng = np.random.default_rng(1)
    bases = [real_functions[i] for i in _distinct(real_functions, 0.3)][:120]
    vocab = sorted({t for text in bases for t in mh.tokens(text)})
    fractions = np.tile([0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.15, 0.3], 12)
    copies = [_edit(t, float(f), rng, vocab) for t, f in zip(bases, fractions, strict=True)]
    exact = np.array([mh.jaccard(a, b) for a, b in zip(bases, copies, strict=True)])
    texts = bases + copies
    result = lsh.near_duplicates(texts)
    same = result.cluster[:120] == result.cluster[120:]
    merged = same & (result.cluster[:120] >= 0)
    high, low = exact > 0.8, exact < 0.5
    assert high.sum() >= 40 and low.sum() >= 20
    assert merged[exact >= 0.9].all()
    assert merged[high].mean() >= 0.9
    assert not merged[low].any()
    # with verify=True the reported similarity is the exact Jaccard to the kept row
    checked = lsh.near_duplicates(texts, verify=True, signatures=mh.minhash_signatures(texts))
    for row in np.flatnonzero(checked.duplicate_of >= 0)[:20]:
        kept = checked.duplicate_of[row]
        assert checked.similarity[row] == pytest.approx(mh.jaccard(texts[row], texts[kept]))
    assert (checked.similarity[checked.duplicate_of < 0] == 0).all()


# --- LSH parameters, candidates, components ---------------------------------------------


def test_optimal_bands_crosses_near_the_threshold():
    bands, rows = lsh.optimal_bands(0.7, 256)
    assert bands * rows <= 256
    s = np.linspace(0, 1, 10001)
    curve = 1 - (1 - s**rows) ** bands
    assert abs(s[np.searchsorted(curve, 0.5)] - 0.7) < 0.1
    datasketch_lsh = pytest.importorskip("datasketch.lsh")
    for threshold, num_perm in ((0.7, 256), (0.5, 64), (0.85, 128)):
        expected = datasketch_lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
        assert lsh.optimal_bands(threshold, num_perm) == expected


def test_lsh_candidate_pairs_match_brute_force():
    rng = np.random.default_rng(2)
    sig = rng.integers(0, 4, size=(120, 12), dtype=np.uint32)  # small alphabet: many collisions
    sig[:, 0] = np.arange(120)  # no identical rows
    pairs = lsh.lsh_candidate_pairs(sig, bands=3, rows=4)
    expected = {
        (i, j)
        for i in range(120)
        for j in range(i + 1, 120)
        if any((sig[i, k * 4 : k * 4 + 4] == sig[j, k * 4 : k * 4 + 4]).all() for k in (1, 2))
    }
    assert pairs.dtype == np.int64
    assert set(map(tuple, pairs.tolist())) == expected and len(expected) > 0


def _band_pairs(sig: np.ndarray, bands: int, rows: int) -> set[tuple[int, int]]:
    """Brute force: every pair of rows equal on some whole band."""
    n = len(sig)
    return {
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if any(
            (sig[i, k * rows : (k + 1) * rows] == sig[j, k * rows : (k + 1) * rows]).all()
            for k in range(bands)
        )
    }


def test_identical_signatures_keep_the_components(monkeypatch):
    rng = np.random.default_rng(5)
    sig = rng.integers(0, 3, size=(60, 8), dtype=np.uint32)
    sig = np.concatenate((sig, sig[:20], sig[:5]))  # 25 identical copies
    expected = lsh.connected_components(85, np.array(sorted(_band_pairs(sig, 2, 4))))
    real = lsh._row_keys

    def colliding(s: np.ndarray, c0: int, c1: int) -> np.ndarray:
        """Whole-signature keys all collide (0); band keys stay real."""
        return real(s, c0, c1) * np.uint64(c1 - c0 < 8)

    for fake_collisions in (False, True):
        if fake_collisions:  # the exact check must catch the colliding keys
            monkeypatch.setattr(lsh, "_row_keys", colliding)
        pairs = lsh.lsh_candidate_pairs(sig, bands=2, rows=4)
        labels = lsh.connected_components(85, pairs)
        same = labels[:, None] == labels[None, :]
        assert (same == (expected[:, None] == expected[None, :])).all()


def test_big_bucket_is_a_star():
    rng = np.random.default_rng(3)
    sig = rng.integers(0, 1 << 32, size=(1500, 8), dtype=np.uint32)
    sig[:, :4] = 7  # all 1500 rows share band 0, no two rows are identical
    pairs = lsh.lsh_candidate_pairs(sig, bands=2, rows=4)
    assert len(pairs) == 1499 and (pairs[:, 0] == 0).all()


def test_connected_components_join_chains():
    labels = lsh.connected_components(6, np.array([[0, 1], [1, 2], [4, 5]]))
    assert labels.dtype == np.int64
    assert labels[0] == labels[1] == labels[2] != labels[3]
    assert labels[4] == labels[5] != labels[0] and labels[3] != labels[4]


def test_near_duplicate_chains_and_keep_rules():
    rng = np.random.default_rng(4)
    words = [f"t{i}" for i in rng.permutation(10_000)[:600]]
    a, b, c = (" ".join(words[s : s + 400]) for s in (0, 40, 80))  # J(a,b)~J(b,c)~0.82
    other = " ".join(words[:100] + words[500:600])
    assert mh.jaccard(a, c) < 0.7 < mh.jaccard(a, b)
    texts = [other, c, a, b]
    result = lsh.near_duplicates(texts, bands=32, rows=8)
    assert result.cluster.tolist() == [-1, 0, 0, 0]
    assert result.duplicate_of.tolist() == [-1, -1, 1, 1]  # "first" keeps the lowest row
    assert result.similarity[2] < 0.7  # a reached c through b
    longer = b + " extra words here"
    result = lsh.near_duplicates([a, longer, b], bands=32, rows=8, keep="longest")
    assert result.duplicate_of.tolist() == [1, -1, 1]
    assert result.n_verified_pairs >= 2 and result.n_candidate_pairs >= result.n_verified_pairs


def test_thousands_of_identical_texts_stay_linear(real_functions):
    texts = [real_functions[0]] * 2000 + real_functions[1:41]
    start = time.perf_counter()
    result = lsh.near_duplicates(pa.array(texts))
    elapsed = time.perf_counter() - start
    assert result.n_candidate_pairs < 2100
    assert (result.duplicate_of[1:2000] == 0).all() and result.duplicate_of[0] == -1
    assert (result.cluster[:2000] == 0).all() and (result.duplicate_of >= 0).sum() >= 1999
    assert (result.similarity[1:2000] == 1.0).all()
    assert elapsed < 10


# --- bad options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"ngram": 0},
        {"num_perm": 1},
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"bands": 30, "rows": 10},
        {"bands": 0},
        {"keep": "last"},
        {"signatures": np.zeros((2, 256), dtype=np.uint32)},
        {"signatures": np.zeros((3, 256), dtype=np.int64)},
    ],
)
def test_bad_options_raise(options):
    with pytest.raises(LessdataError):
        lsh.near_duplicates(["a b c", "a b d", "x y z"], **options)


def test_bad_inputs_raise():
    with pytest.raises(LessdataError, match="not one string"):
        mh.minhash_signatures("one text")
    with pytest.raises(LessdataError, match="row 1"):
        em.exact_duplicates(["a", None])
    with pytest.raises(LessdataError):
        em.exact_duplicates(["a"], keep="random")
    with pytest.raises(LessdataError):
        em.exact_duplicates(["a", "b"], keep="longest", lengths=np.array([1]))
    with pytest.raises(LessdataError):
        lsh.lsh_candidate_pairs(np.zeros((3, 8), dtype=np.uint32), bands=3, rows=3)
    with pytest.raises(LessdataError, match="nulls"):
        lsh.near_duplicates(pa.array(["a", None]))
    with pytest.raises(LessdataError, match="not string"):
        mh.minhash_signatures(pa.array([1, 2]))
