"""The ``static`` encoder: model2vec distilled once from the packaged MiniLM, offline."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from lessdata.embed import embed_texts, get_encoder
from lessdata.embed.static_model import MODEL_FOLDER, StaticEncoder, model_dir
from lessdata.errors import LessdataError

CODE = [
    "def add(a, b):\n    return a + b\n",
    "def add(x, y):\n    return x + y\n",  # renamed identifiers
    "def read_config(path):\n    with open(path) as f:\n        return json.load(f)\n",
    "The quick brown fox jumps over the lazy dog.",
]


@pytest.fixture(scope="module")
def encoder() -> StaticEncoder:
    chosen = get_encoder("static")
    assert isinstance(chosen, StaticEncoder)
    return chosen


def test_distilled_once_into_the_cache_with_data_files_only(encoder, tmp_path):
    folder = encoder.folder
    assert folder == model_dir() and folder.name == MODEL_FOLDER
    assert model_dir(tmp_path) == folder  # $LESSDATA_MODELS: one model for every cache
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= names
    assert not any(name.endswith((".pkl", ".pickle", ".bin", ".pt")) for name in names)
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert StaticEncoder().folder == folder  # a second encoder reuses it
    assert (folder / "model.safetensors").stat().st_mtime_ns == before


def test_vectors_are_unit_rows_and_semantic(encoder):
    x = embed_texts(CODE, encoder, use_cache=False)
    assert x.shape == (4, 256) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    sims = x @ x.T
    assert sims[0, 1] > 0.9  # the same function, renamed
    assert sims[0, 1] > sims[0, 2] > sims[0, 3]


def test_name_fingerprints_the_weights_and_keys_the_cache(encoder, tmp_path):
    assert encoder.name.startswith("static-minilm:pca256:")
    first = embed_texts(CODE, "static", cache_dir=tmp_path / "c")
    again = embed_texts(CODE, "static", cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(first, again)
    assert list((tmp_path / "c" / "embeddings").glob("*.npy"))


def test_distillation_never_touches_the_network(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("network access during distillation")

    monkeypatch.delenv("LESSDATA_MODELS")  # distil afresh into this test's cache
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = StaticEncoder(tmp_path / "cache")
    x = fresh.encode(np.array(CODE[:2], dtype=object))  # distils from the packaged files
    assert x.shape == (2, 256)
    assert fresh.name == get_encoder("static").name  # deterministic distillation
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_a_damaged_model_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSDATA_MODELS", str(tmp_path / "models"))
    folder = model_dir(tmp_path)
    folder.mkdir(parents=True)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (folder / name).write_text("not a model")
    with pytest.raises(LessdataError, match="delete the folder"):
        StaticEncoder(tmp_path).encode(np.array(["x"], dtype=object))


def test_unknown_encoder_lists_static():
    with pytest.raises(LessdataError, match="'static'"):
        get_encoder("no-such-encoder")


def test_vectorised_means_equal_model2vecs_encode(encoder):
    from lessdata.embed.encoders import l2_normalize
    from lessdata.embed.static_model import _load, mean_token_vectors

    model = _load(encoder.folder)
    texts = [
        *CODE,
        "",
        "   ",
        "中文 text ünïcödé",
        "x" * 50_000,
        "[UNK] [CLS]",
        "Mixed CASE\tTabs\r\nand CRLF",
        "ctrl\x00chars\x07here\x1b[0m",
        "café OK",
    ]
    ours = l2_normalize(mean_token_vectors(model, texts))
    theirs = np.asarray(model.encode(texts, max_length=512, use_multiprocessing=False))
    theirs = l2_normalize(theirs.astype(np.float32))
    np.testing.assert_allclose(ours, theirs, atol=2e-3)  # model2vec averages in float16


def test_a_killed_distillations_scratch_is_cleaned_and_a_model_is_kept(tmp_path, monkeypatch):
    import os
    import time

    from lessdata.embed import static_model

    monkeypatch.setenv("LESSDATA_MODELS", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    stale = tmp_path / "models" / ".distilling-killed"
    stale.mkdir()
    old = time.time() - 2 * static_model._STALE_SECONDS
    os.utime(stale, (old, old))
    fresh = tmp_path / "models" / ".distilling-running"
    fresh.mkdir()

    def fake_distill(folder):
        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            (folder / name).write_text("x")

    monkeypatch.setattr(static_model, "_distill", fake_distill)
    folder = static_model.distilled_model()
    assert not stale.exists() and fresh.exists()  # another run's scratch is left alone
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
