"""On-disk cache of embeddings, keyed by encoder fingerprint and text content.

Embedding a corpus is the slowest step of most pruning runs and is repeated with the same
texts (score, then prune, then plot). Results are stored as ``<cache_dir>/embeddings/<key>.npy``
where ``key = sha256(encoder.name, content hash of the texts)``, written atomically and read
back memory-mapped, so a second run costs one pass of hashing instead of a forward pass.

Encoding is a row-parallel step: texts are cut into shards of ``SHARD_TEXTS`` (a multiple
of the encoders' batch, so every engine sees the same batches and gives the same vectors),
each one task of an engine (:mod:`lessdata.engines`), and the results are written into
the memory-mapped cache file as they arrive: the whole array is never held in memory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from lessdata.data.atomic import atomic_path
from lessdata.data.cache_dir import default_cache_dir
from lessdata.data.text_column import as_text_array, texts_fingerprint
from lessdata.embed.encoders import DEFAULT_ENCODER, Encoder, get_encoder
from lessdata.engines import Engine, LocalEngine
from lessdata.errors import LessdataError
from lessdata.progress import log

_KEY_VERSION = b"lessdata-embeddings-v1"
#: texts per engine shard: a multiple of every encoder's batch (256), so batches match
SHARD_TEXTS = 8_192


def cache_key(encoder_name: str, texts_hash: str) -> str:
    """The cache file stem for embeddings of texts with hash ``texts_hash`` by an encoder."""
    h = hashlib.sha256()
    h.update(_KEY_VERSION + b"\0")
    h.update(encoder_name.encode("utf-8") + b"\0")
    h.update(texts_hash.encode("ascii"))
    return h.hexdigest()


def cache_path(cache_dir: str | Path, key: str) -> Path:
    """Where the embeddings with cache key ``key`` live under ``cache_dir``."""
    return Path(cache_dir) / "embeddings" / f"{key}.npy"


def _load_cached(path: Path, n: int) -> np.ndarray | None:
    """The cached (n, d) float32 array at ``path``, or None if missing or unusable."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        log(f"embedding cache file {path} is unreadable ({exc}); recomputing")
        return None
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1 or arr.dtype != np.float32:
        log(f"embedding cache file {path} has shape {arr.shape} {arr.dtype}, expected ({n}, d)")
        return None
    return arr


def _check_output(emb: object, n: int, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(emb, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
        raise LessdataError(
            f"encoder {name!r} returned shape {arr.shape} for {n} texts, expected ({n}, d); "
            "fix the encoder's encode()"
        )
    return arr


def embed_texts(
    texts: pa.ChunkedArray | pa.Array | Sequence[str],
    encoder: str | Encoder = DEFAULT_ENCODER,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    seed: int = 0,
    engine: Engine | None = None,
) -> np.ndarray:
    """Embed ``texts`` with ``encoder``, reusing cached embeddings of the same texts.

    ``encoder`` is a name for :func:`get_encoder` (``seed`` is passed on) or an Encoder.
    Returns (N, d) float32 with L2-normalised rows; with the cache on, it is a read-only
    memory map of ``<cache_dir>/embeddings/<key>.npy`` (``cache_dir`` defaults to
    :func:`default_cache_dir`). A missing, truncated or mismatched cache file is recomputed.
    ``engine`` encodes the shards (default: in this process); encoders fitted on the whole
    corpus (``tfidf``) always run in this process. Raises LessdataError for empty input or
    an unknown encoder.
    """
    arr = as_text_array(texts)
    n = len(arr)
    if n == 0:
        raise LessdataError("no texts to embed: the input is empty; pass at least one text")
    if isinstance(encoder, (str, os.PathLike)):
        enc = get_encoder(encoder, seed=seed, cache_dir=cache_dir)
    elif isinstance(encoder, Encoder):
        enc = encoder
    else:
        raise LessdataError(
            f"encoder must be a name or an object with .name and .encode(), got "
            f"{type(encoder).__name__}; use 'minilm' or 'tfidf'"
        )

    engine = engine or LocalEngine()
    if not use_cache:
        return _encode(arr, enc, engine, None, None)

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(enc.name, texts_fingerprint(arr))
    path = cache_path(root, key)
    cached = _load_cached(path, n)
    if cached is not None:
        log(f"using cached embeddings {path}")
        return cached
    try:
        with atomic_path(path) as tmp:
            emb = _encode(arr, enc, engine, tmp, key)
    except OSError as exc:
        log(f"could not write embedding cache {path} ({exc}); continuing without it")
        return _encode(arr, enc, engine, None, key)
    reloaded = _load_cached(path, n)
    return reloaded if reloaded is not None else emb


class _TextShards:
    """The shards of a text column, sliced only when a task needs one (no copies held)."""

    def __init__(self, arr: pa.ChunkedArray) -> None:
        self.arr = arr
        self.starts = range(0, len(arr), SHARD_TEXTS)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> pa.Array:
        part = self.arr.slice(self.starts[index], SHARD_TEXTS)
        return pa.concat_arrays(part.chunks) if part.num_chunks else pa.array([], pa.string())


def embed_shard(texts: pa.Array, encoder: Encoder) -> np.ndarray:
    """One engine shard: ``encoder.encode(texts)``, checked."""
    return _check_output(encoder.encode(texts), len(texts), encoder.name)


def _encode(
    arr: pa.ChunkedArray, enc: Encoder, engine: Engine, target: Path | None, key: str | None
) -> np.ndarray:
    """Encode shard by shard into ``target`` (a memory-mapped ``.npy``) or into memory."""
    n = len(arr)
    if not getattr(enc, "shardable", True):  # fitted on the whole corpus: one piece
        emb = _check_output(enc.encode(arr), n, enc.name)
        if target is not None:
            with open(target, "wb") as f:
                np.save(f, emb, allow_pickle=False)
        return emb
    shards = _TextShards(arr)
    out: np.ndarray | None = None
    results = engine.imap(
        embed_shard, shards, shared=(enc,), label=f"embedding ({enc.name})",
        checkpoint=("embed", key) if key is not None else None,
    )  # fmt: skip
    for index, emb in results:
        if out is None:
            shape = (n, emb.shape[1])
            out = (
                np.lib.format.open_memmap(target, mode="w+", dtype=np.float32, shape=shape)
                if target is not None
                else np.empty(shape, dtype=np.float32)
            )
        start = shards.starts[index]
        out[start : start + len(emb)] = emb
    assert out is not None
    if isinstance(out, np.memmap):
        out.flush()
    return out
