"""Exact and near-duplicate detection for text and code: content hashes, MinHash and LSH.

**Exact duplicates** (:func:`exact_duplicates`): texts whose :func:`normalize_text` forms are
equal, found by a 16-byte BLAKE2b digest of that form (deterministic across processes and
machines, unlike Python's salted ``hash()``).

**Near duplicates** (:func:`near_duplicates`), the MinHash + LSH recipe of BigCode's
deduplication of The Stack (C. Mou, "Large-scale Near-deduplication Behind BigCode",
huggingface.co/blog/dedup, 2023; code in ChenghaoMou/text-dedup):

1. each text becomes a set of lowercase token 5-grams (:func:`shingles`);
2. a signature of 256 MinHash values estimates the Jaccard similarity of two such sets as the
   fraction of equal entries (:func:`minhash_signatures`);
3. LSH splits the signature into ``bands`` of ``rows`` values; texts that agree on a whole
   band become candidate pairs (:func:`lsh_candidate_pairs`); ``(bands, rows)`` minimise the
   false positive + false negative areas under the S-curve (:func:`optimal_bands`), as
   datasketch does;
4. candidate pairs whose estimated (or, with ``verify=True``, exact) Jaccard similarity
   reaches the threshold are edges of a graph; each connected component keeps one member.

For corpora larger than memory, :func:`exact_duplicates_from_hashes` and
:func:`near_duplicates_from_signatures` group documents known only by their hashes or by
signatures in a memory map, and the LSH bands run as shards of an engine
(:mod:`lessdata.engines`, local or Ray) with the same result.

The defaults ``ngram=5, num_perm=256, threshold=0.7`` are BigCode's near-dedup settings, as
set in text-dedup (``add_minhash_args`` in ``text_dedup/utils/add_args.py``:
``--ngram 5 --num_perm 256 --threshold 0.7``, with (bands, rows) from the same optimisation).

Tokens are the runs of word characters (``\\w``, Unicode-aware; for ASCII text exactly
BigCode's ``[A-Za-z_0-9]``) of the lowercased text. Tokenising, token hashing and n-gram
hashing of a batch run on one byte buffer with NumPy, so there is no per-token Python work
for ASCII text (non-ASCII texts pass through one ``re.sub``).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from lessdata._progress import track
from lessdata.errors import LessdataError

if TYPE_CHECKING:
    from lessdata.engines import Engine

#: BigCode's near-deduplication settings (text-dedup's MinHash defaults; see the module doc)
DEFAULT_NGRAM = 5
DEFAULT_NUM_PERM = 256
DEFAULT_THRESHOLD = 0.7

KEEP_RULES = ("first", "longest")
#: LSH buckets with more members than this are linked as a star (each member to the first)
MAX_BUCKET = 1000
#: a signature batch ends after this many characters too, so that memory stays bounded
MAX_BATCH_CHARS = 1 << 22
#: shingles per inner block of the permutation kernel (keeps its arrays in the CPU cache)
KERNEL_BLOCK = 1 << 16
#: candidate pairs compared per block when estimating their Jaccard similarity
PAIR_BLOCK = 1 << 14

_MERSENNE = np.uint64((1 << 61) - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT61 = np.uint64(61)
_SHIFT32 = np.uint64(32)
#: multipliers of the polynomial hashes (odd, so invertible mod 2^64)
_BYTE_BASE = 0x100000001B3  # the 64-bit FNV prime
_GRAM_BASE = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, made odd
_SPACE = 32
_NON_WORD = re.compile(r"\W+")
#: lowercases ASCII letters, keeps [a-z0-9_] and maps every other byte to a space
_ASCII_WORDS = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95) else _SPACE
    for c in range(256)
)


# --- texts -----------------------------------------------------------------------------


class _Texts:
    """Uniform access to a sequence of ``str`` or a pyarrow string (Chunked)Array."""

    def __init__(self, texts: Any) -> None:
        if isinstance(texts, (str, bytes)):
            raise LessdataError(
                "texts must be a sequence of strings (a list or an Arrow string column), not "
                "one string: wrap a single text in a list"
            )
        self.arrow = _is_arrow(texts)
        if not self.arrow and not hasattr(texts, "__getitem__"):
            texts = list(texts)  # a generator or other one-shot iterable
        self.texts = texts
        self.n = len(texts)
        if self.arrow:
            self.texts = _check_arrow_strings(texts)
        else:
            _check_strings(texts)

    def slice(self, start: int, stop: int) -> list[str]:
        """Rows ``start:stop`` as a list of ``str``."""
        if self.arrow:
            return self.texts.slice(start, stop - start).to_pylist()
        return list(self.texts[start:stop])

    def take(self, rows: np.ndarray) -> list[str]:
        """The given rows as a list of ``str``."""
        if self.arrow:
            return self.texts.take(rows).to_pylist()
        return [self.texts[int(i)] for i in rows]

    def lengths(self) -> np.ndarray:
        """Length of each text in characters, int64."""
        if self.arrow:
            import pyarrow.compute as pc

            arr = pc.utf8_length(self.texts)
            return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.fromiter((len(t) for t in self.texts), dtype=np.int64, count=self.n)

    def batches(self, batch_size: int) -> list[tuple[int, int]]:
        """(start, stop) row ranges of at most ``batch_size`` rows and ~MAX_BATCH_CHARS chars."""
        lengths = self.lengths()
        bounds: list[tuple[int, int]] = []
        start = 0
        while start < self.n:
            stop = min(start + batch_size, self.n)
            cum = np.cumsum(lengths[start:stop])
            fits = int(np.searchsorted(cum, MAX_BATCH_CHARS, side="right"))
            stop = start + max(1, fits) if fits < stop - start else stop
            bounds.append((start, stop))
            start = stop
        return bounds


def _is_arrow(texts: Any) -> bool:
    """True for a pyarrow Array or ChunkedArray (without importing pyarrow otherwise)."""
    module = type(texts).__module__
    return module.startswith("pyarrow") and hasattr(texts, "to_pylist")


def _check_strings(items: Any) -> None:
    """Raise a LessdataError naming the first row that is not a ``str``."""
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise LessdataError(
                f"row {i} is {type(item).__name__}, not a string: drop or fill null and "
                f"non-text rows before deduplicating"
            )


def _check_arrow_strings(array: Any) -> Any:
    """An Arrow text column must be of a string type and hold no nulls; string views are cast."""
    import pyarrow as pa

    is_view = getattr(pa.types, "is_string_view", lambda _: False)
    if is_view(array.type):
        array = array.cast(pa.large_string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise LessdataError(
            f"the text column has Arrow type {array.type}, not string: pick a text column or "
            f"cast it to string"
        )
    if array.null_count:
        raise LessdataError(
            f"the text column holds {array.null_count} nulls: drop or fill them before "
            f"deduplicating"
        )
    return array


def _check_keep(keep: str) -> str:
    """Validate a survivor rule."""
    if keep not in KEEP_RULES:
        raise LessdataError(f"--keep must be one of {KEEP_RULES}, got {keep!r}")
    return keep


# --- exact duplicates ------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """The form of ``text`` that exact deduplication compares.

    Steps: Unicode NFC (so composed and decomposed accents compare equal); ``\\r\\n`` becomes
    ``\\n``; trailing whitespace is stripped from every line; blank lines at the start and
    the end are dropped. Case and leading indentation are kept, because they are meaningful
    in code. The result has no trailing newline.

    >>> normalize_text("x = 1  \\r\\n\\r\\n") == normalize_text("\\nx = 1\\n")
    True
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    start, stop = 0, len(lines)
    while start < stop and not lines[start]:
        start += 1
    while stop > start and not lines[stop - 1]:
        stop -= 1
    return "\n".join(lines[start:stop])


def exact_hashes(texts: Any) -> np.ndarray:
    """(n,) 16-byte BLAKE2b digests (dtype ``V16``) of each text's :func:`normalize_text`.

    Deterministic across processes and machines. 128 bits make an accidental collision
    negligible at any corpus size (about n² / 2^129).
    """
    source = _Texts(texts)
    digests = bytearray()
    bounds = source.batches(8192)
    for start, stop in track(bounds, len(bounds), "exact hashes"):
        for text in source.slice(start, stop):
            digests += hashlib.blake2b(
                normalize_text(text).encode("utf-8", "surrogatepass"), digest_size=16
            ).digest()
    return np.frombuffer(bytes(digests), dtype="V16").copy()


def exact_duplicates(
    texts: Any, *, keep: str = "first", lengths: np.ndarray | None = None
) -> np.ndarray:
    """Mark texts whose normalised forms are equal.

    Args:
        texts: a sequence of ``str`` or a pyarrow string array.
        keep: which member of a group of equal texts stays: ``first`` (lowest row index) or
            ``longest`` (longest original text, ties: lowest row index).
        lengths: optional (n,) lengths to rank texts by for ``keep="longest"`` (for example
            byte sizes); the default is the length in characters.

    Returns:
        (n,) int64 ``duplicate_of``: -1 for kept rows, else the row index of the kept copy.

    >>> exact_duplicates(["a", "b", "a  ", "b"]).tolist()
    [-1, -1, 0, 1]
    """
    _check_keep(keep)
    source = _Texts(texts)
    digests = exact_hashes(source.texts)
    if keep == "longest" and lengths is None:
        lengths = source.lengths()
    return exact_duplicates_from_hashes(digests, keep=keep, lengths=lengths)


def exact_duplicates_from_hashes(
    digests: np.ndarray, *, keep: str = "first", lengths: np.ndarray | None = None
) -> np.ndarray:
    """:func:`exact_duplicates` from precomputed :func:`exact_hashes` (16 bytes per text).

    Lets a caller hash texts where they are (shard by shard, on workers) and group them
    later without holding the texts. ``keep="longest"`` needs ``lengths``, one per digest.

    >>> exact_duplicates_from_hashes(exact_hashes(["a", "b", "a  "])).tolist()
    [-1, -1, 0]
    """
    _check_keep(keep)
    digests = np.asarray(digests)
    if digests.ndim != 1 or digests.dtype != np.dtype("V16"):
        raise LessdataError(
            f"digests must be a 1-D array of 16-byte values from exact_hashes; got shape "
            f"{digests.shape} and dtype {digests.dtype}"
        )
    n = len(digests)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    words = digests.view(np.uint64).reshape(n, 2)
    # group equal digests: sort by digest, then number the groups
    order = np.lexsort((words[:, 1], words[:, 0]))
    sorted_words = words[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (sorted_words[1:] != sorted_words[:-1]).any(axis=1)
    group = np.empty(n, dtype=np.int64)
    group[order] = np.cumsum(new_group) - 1
    return _mark_groups(group, _survivor_rank(n, keep, lengths))


def _survivor_rank(n: int, keep: str, lengths: np.ndarray | None) -> np.ndarray:
    """(n,) sort key per row: within a group, the smallest key is the kept row."""
    if keep == "first":
        return np.zeros(n, dtype=np.int64)
    if lengths is None:
        raise LessdataError("keep='longest' needs the length of every text (lengths=...)")
    lengths = np.asarray(lengths)
    if lengths.shape != (n,):
        raise LessdataError(
            f"lengths has shape {lengths.shape} but there are {n} texts: give one length per text"
        )
    return -lengths.astype(np.int64)


def _mark_groups(group: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """duplicate_of for rows labelled by ``group``: the lowest (rank, row) of a group stays."""
    n = len(group)
    rows = np.arange(n, dtype=np.int64)
    order = np.lexsort((rows, rank, group))
    sorted_group = group[order]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_group[1:] != sorted_group[:-1]
    keeper_pos = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    duplicate_of = np.full(n, -1, dtype=np.int64)
    dup = ~first
    duplicate_of[order[dup]] = order[keeper_pos[dup]]
    return duplicate_of


# --- shingles and exact Jaccard -------------------------------------------------------


def tokens(text: str) -> list[str]:
    """The lowercase word tokens of ``text``: runs of ``\\w`` characters, in order."""
    return [t for t in _NON_WORD.split(text.lower()) if t]


def shingles(text: str, ngram: int = DEFAULT_NGRAM) -> set[str]:
    """The set of token ``ngram``-grams of ``text``, each as its tokens joined by spaces.

    A text with fewer than ``ngram`` tokens gives one shingle of all its tokens (the empty
    string for a text without tokens), so that short texts still compare.

    >>> sorted(shingles("a b c a b", ngram=2))
    ['a b', 'b c', 'c a']
    """
    _check_ngram(ngram)
    toks = tokens(text)
    if len(toks) < ngram:
        return {" ".join(toks)}
    return {" ".join(toks[i : i + ngram]) for i in range(len(toks) - ngram + 1)}


def jaccard(a: str, b: str, ngram: int = DEFAULT_NGRAM) -> float:
    """Exact Jaccard similarity of the shingle sets of two texts."""
    sa, sb = shingles(a, ngram), shingles(b, ngram)
    return len(sa & sb) / len(sa | sb)


def pair_jaccard(texts: Any, pairs: np.ndarray, *, ngram: int = DEFAULT_NGRAM) -> np.ndarray:
    """(m,) exact Jaccard similarity of each row pair ``(i, j)`` in ``pairs`` (m, 2).

    Each text's shingle set is built once, however many pairs it is in.
    """
    _check_ngram(ngram)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    rows = np.unique(pairs)
    source = _Texts(texts)
    sets = {int(r): shingles(t, ngram) for r, t in zip(rows, source.take(rows), strict=True)}
    out = np.empty(len(pairs), dtype=np.float64)
    for k, (i, j) in enumerate(track(pairs.tolist(), len(pairs), "exact Jaccard of pairs")):
        sa, sb = sets[i], sets[j]
        inter = len(sa & sb)
        out[k] = inter / (len(sa) + len(sb) - inter)
    return out


# --- LSH parameters ---------------------------------------------------------------------


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` that best separate at ``threshold``.

    Two texts of Jaccard similarity s share at least one band with probability
    ``1 - (1 - s**rows)**bands`` (the S-curve). This picks the pair minimising
    ``0.5 * FP + 0.5 * FN``, where FP is the area under the S-curve on ``[0, threshold]``
    and FN the area above it on ``[threshold, 1]`` -- the criterion of datasketch's
    ``MinHashLSH`` (``_optimal_param`` with equal weights).

    >>> optimal_bands(0.7, 256)
    (25, 10)
    """
    from scipy.integrate import quad

    _check_threshold(threshold)
    _check_num_perm(num_perm)
    best, best_error = (1, 1), math.inf
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            b, r = float(bands), float(rows)
            fp = quad(lambda s, b=b, r=r: 1.0 - (1.0 - s**r) ** b, 0.0, threshold)[0]
            fn = quad(lambda s, b=b, r=r: (1.0 - s**r) ** b, threshold, 1.0)[0]
            error = 0.5 * fp + 0.5 * fn
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


# --- MinHash signatures -----------------------------------------------------------------


def minhash_signatures(
    texts: Any,
    *,
    ngram: int = DEFAULT_NGRAM,
    num_perm: int = DEFAULT_NUM_PERM,
    seed: int = 0,
    batch_size: int = 2048,
) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures of the texts' shingle sets (:func:`shingles`).

    Each shingle gets a 32-bit hash h (a polynomial hash of its tokens' bytes, see
    :func:`_shingle_hashes`); permutation k maps it to ``((a_k * h + b_k) mod (2^61 - 1))``
    keeping the low 32 bits (datasketch's scheme), with ``a_k`` in ``[1, 2^32)`` and ``b_k``
    in ``[0, 2^32)`` drawn from ``seed``, so ``a*h + b < 2^64`` never overflows uint64; a
    signature entry is the minimum over the text's distinct shingles. The modulus is taken
    with the Mersenne identity ``x mod p = (x & p) + (x >> 61)``; the final conditional
    subtraction of p is skipped, which changes a value only when that sum lands in
    ``[p, p + 7]`` (probability below 2^-58 per value).

    Equal shingle sets give equal signatures; the result depends only on the texts,
    ``ngram``, ``num_perm`` and ``seed``. Texts are processed in batches of ``batch_size``
    (and at most ~4M characters), each permutation over blocks of ~65k shingles, so memory
    stays at a few tens of MB per batch.

    >>> sig = minhash_signatures(["def f(x): return x + 1"] * 2, num_perm=8)
    >>> sig.shape, bool((sig[0] == sig[1]).all())
    ((2, 8), True)
    """
    _check_ngram(ngram)
    _check_num_perm(num_perm)
    if batch_size < 1:
        raise LessdataError(f"batch_size must be at least 1, got {batch_size}")
    source = _Texts(texts)
    a, b = _permutations(num_perm, seed)
    out = np.empty((source.n, num_perm), dtype=np.uint32)
    bounds = source.batches(batch_size)
    for start, stop in track(bounds, len(bounds), "minhash signatures"):
        hashes, starts = _shingle_hashes(source.slice(start, stop), ngram)
        _permute_min(hashes, starts, a, b, out[start:stop])
    return out


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) coefficients of the ``num_perm`` hash permutations, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)
    return a, b


def _token_bytes(text: str) -> bytes:
    """``text``'s lowercase tokens as UTF-8, separated by one or more spaces.

    ASCII text takes a byte translation table (no regex); other text ``re.sub``. Both give
    exactly the tokens of :func:`tokens`, since a space byte never occurs inside a UTF-8
    multi-byte character.
    """
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS)
    return _NON_WORD.sub(" ", text.lower()).encode("utf-8", "surrogatepass")


def _mix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, in place: spreads every input bit over all output bits."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _powers(base: int, length: int) -> np.ndarray:
    """``base**j mod 2^64`` for j in ``[0, length)``, uint64 (NumPy wraps on overflow).

    Built as an outer product of 1024 low powers and the powers of ``base**1024``: two
    short sequential products instead of one long one.
    """
    step = 1024
    low = np.full(step, base, dtype=np.uint64)
    low[0] = 1
    low = np.cumprod(low, dtype=np.uint64)
    high = np.full(max(1, -(-length // step)), pow(base, step, 1 << 64), dtype=np.uint64)
    high[0] = 1
    high = np.cumprod(high, dtype=np.uint64)
    return np.multiply.outer(high, low).reshape(-1)[:length]


def _token_hashes(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the space-separated tokens of ``buf`` and each token's start offset.

    A token ``c[s:e]`` hashes to ``mix64(sum_j c[j] * B^(e-1-j) mod 2^64)``, computed for all
    tokens at once from one prefix sum of ``c[j] * B^-j`` (B is odd, so invertible mod 2^64).
    ``buf`` must end with a space.
    """
    c = np.frombuffer(buf, dtype=np.uint8)
    word = c != _SPACE
    edge = np.flatnonzero(np.diff(word.view(np.int8), prepend=np.int8(0)))
    starts, ends = edge[0::2], edge[1::2]  # word runs begin and end in turn
    if len(starts) == 0:
        return np.empty(0, dtype=np.uint64), starts
    inverse = pow(_BYTE_BASE, -1, 1 << 64)
    prefix = np.empty(len(c) + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(c * _powers(inverse, len(c)), dtype=np.uint64, out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * _powers(_BYTE_BASE, int(ends[-1]))[ends - 1]
    return _mix64(hashes), starts


def _shingle_hashes(docs: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct 32-bit shingle hashes of each doc, grouped by doc.

    Returns ``hashes`` (S,) uint64 values below 2^32, sorted within each doc, and
    ``starts`` (len(docs),) int64: doc d owns ``hashes[starts[d]:starts[d + 1]]``. Every doc
    has at least one shingle. An n-gram of token hashes ``t_0..t_{w-1}`` (w = ngram, or all
    of a shorter doc's tokens) hashes to the top 32 bits of
    ``mix64(sum_j t_j * G^(w-1-j) mod 2^64)``.
    """
    parts = [_token_bytes(d) for d in docs]
    sizes = np.fromiter((len(p) + 1 for p in parts), dtype=np.int64, count=len(parts))
    doc_offsets = np.cumsum(sizes) - sizes
    token_hash, token_start = _token_hashes(b" ".join(parts) + b" ")
    token_doc = np.searchsorted(doc_offsets, token_start, side="right") - 1
    counts = np.bincount(token_doc, minlength=len(docs))
    first_token = np.cumsum(counts) - counts
    # shingles per doc: one per window of `ngram` tokens, or one of all tokens when fewer
    n_shingles = np.maximum(counts - ngram + 1, 1)
    shingle_doc = np.repeat(np.arange(len(docs), dtype=np.int64), n_shingles)
    within = np.arange(len(shingle_doc)) - np.repeat(np.cumsum(n_shingles) - n_shingles, n_shingles)
    window_start = first_token[shingle_doc] + within
    width = np.minimum(counts, ngram)[shingle_doc]
    padded = np.concatenate((token_hash, np.zeros(1, dtype=np.uint64)))
    gram = np.zeros(len(shingle_doc), dtype=np.uint64)
    for j in range(ngram):  # Horner's rule over the window, masked where the window ends
        inside = j < width
        step = gram * _GRAM_BASE + padded[np.minimum(window_start + j, len(token_hash))]
        gram = np.where(inside, step, gram)
    gram = _mix64(gram) >> _SHIFT32
    # distinct (doc, shingle) pairs, sorted by doc
    keys = (shingle_doc.astype(np.uint64) << _SHIFT32) | gram
    keys.sort()
    keys = keys[np.append(True, keys[1:] != keys[:-1])]
    key_doc = (keys >> _SHIFT32).astype(np.int64)
    starts = np.searchsorted(key_doc, np.arange(len(docs)))
    return keys & _LOW32, starts


def _permute_min(
    hashes: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray
) -> None:
    """Fill ``out`` (docs, num_perm) with the per-doc minima of every permutation.

    The work goes one permutation at a time over blocks of whole docs of about KERNEL_BLOCK
    shingles, so that each NumPy operation runs on a 1-D array that stays in cache.
    """
    n_docs, total = len(starts), len(hashes)
    ends = np.append(starts[1:], total)
    block_starts = np.unique(np.searchsorted(starts, np.arange(0, total, KERNEL_BLOCK)))
    block_starts = block_starts[block_starts < n_docs]
    block_ends = np.append(block_starts[1:], n_docs)
    size = int((ends[block_ends - 1] - starts[block_starts]).max())
    x = np.empty(size, dtype=np.uint64)
    y = np.empty(size, dtype=np.uint64)
    for d0, d1 in zip(block_starts, block_ends, strict=True):
        s0, s1 = int(starts[d0]), int(ends[d1 - 1])
        h = hashes[s0:s1]
        doc_starts = starts[d0:d1] - s0
        xb, yb = x[: s1 - s0], y[: s1 - s0]
        for k in range(len(a)):
            np.multiply(h, a[k], out=xb)
            xb += b[k]
            np.right_shift(xb, _SHIFT61, out=yb)
            xb &= _MERSENNE
            xb += yb
            xb &= _LOW32
            out[d0:d1, k] = np.minimum.reduceat(xb, doc_starts)


def estimated_jaccard(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(m,) fraction of equal signature entries of each row pair: the MinHash estimate."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.empty(len(pairs), dtype=np.float64)
    for p0 in range(0, len(pairs), PAIR_BLOCK):
        block = pairs[p0 : p0 + PAIR_BLOCK]
        equal = signatures[block[:, 0]] == signatures[block[:, 1]]
        out[p0 : p0 + len(block)] = equal.mean(axis=1)
    return out


# --- LSH and components -----------------------------------------------------------------


def lsh_candidate_pairs(
    signatures: np.ndarray, bands: int, rows: int, *, engine: Engine | None = None
) -> np.ndarray:
    """(m, 2) int64 unique row pairs ``i < j`` whose signatures agree on a whole band.

    Band k covers signature columns ``[k * rows, (k + 1) * rows)``. Two reductions keep the
    output linear where a naive LSH would be quadratic; both leave the connected components
    of the candidate graph unchanged (they emit a spanning set of the same groups):

    - rows with identical signatures (say 2,000 copies of a licence header) are linked as a
      star to their first row, and only that row takes part in the banding; identical rows
      have identical similarity to every other row, so filtering edges by similarity later
      also gives the same components;
    - a bucket with more than MAX_BUCKET members links each member to its first member only.
      Here filtering by similarity can lose an edge between two members that are similar to
      each other but not to the first one; such giant buckets of non-identical texts are rare.

    Each band is one shard of ``engine`` (default: this process), so the bands run in
    parallel on Ray; a memory-mapped ``signatures`` (``np.lib.format.open_memmap``) is read
    by path there, a block of rows at a time, and is never loaded whole. The pairs are the
    same on every engine.
    """
    from lessdata.engines import LocalEngine

    signatures = _check_signatures(signatures)
    bands, rows = _check_bands(bands, rows, signatures.shape[1])
    n = len(signatures)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    # 1. identical signatures: star to the first copy; band only the representatives
    rep_rows, star_pairs = _identical_rows(signatures)
    members = None if len(rep_rows) == n else rep_rows
    # 2. one shard per band: the pairs of representatives that share the band's key
    spans = [(band * rows, (band + 1) * rows) for band in range(bands)]
    band_pairs = (engine or LocalEngine()).map(
        lsh_band_pairs, spans, shared=(signatures, members), label="LSH bands"
    )
    return _unique_pairs([star_pairs, *band_pairs], n)


def _identical_rows(signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows that represent their identical copies, and (first copy, copy) pairs linking them.

    A key collision between different signatures must not hide a row from the banding: the
    colliding pairs are compared column by column (a block of pairs at a time) and the
    second row of a pair that differs stays a representative.
    """
    n = len(signatures)
    row_key = _row_keys(signatures, 0, signatures.shape[1])
    rep_rows, dup_pairs = _group_pairs(row_key, np.arange(n, dtype=np.int64), star_above=1)
    differ = np.zeros(len(dup_pairs), dtype=bool)
    for p0 in range(0, len(dup_pairs), PAIR_BLOCK):
        block = dup_pairs[p0 : p0 + PAIR_BLOCK]
        differ[p0 : p0 + len(block)] = (signatures[block[:, 0]] != signatures[block[:, 1]]).any(
            axis=1
        )
    rep_rows = np.sort(np.concatenate((rep_rows, dup_pairs[differ, 1])))
    return rep_rows, dup_pairs[~differ]


def lsh_band_pairs(
    span: tuple[int, int], signatures: np.ndarray, members: np.ndarray | None
) -> np.ndarray:
    """One LSH shard: pairs of ``members`` (all rows when None) that agree on the columns
    ``span = (c0, c1)`` of ``signatures``; buckets over MAX_BUCKET become stars."""
    c0, c1 = span
    rows = np.arange(len(signatures), dtype=np.int64) if members is None else members
    key = _band_keys(signatures, c0, c1, members)
    _, pairs = _group_pairs(key, rows, star_above=MAX_BUCKET)
    return pairs


#: per-column multipliers of the row keys (fixed, odd): a linear hash mod 2^64
_COLUMN_WEIGHTS = np.random.default_rng(0x5EED).integers(0, 1 << 63, 4096, dtype=np.uint64) * 2 + 1
_ROW_BLOCK = 8192


def _row_keys(signatures: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """A uint64 hash of each row's columns ``[c0, c1)``; equal columns give equal keys.

    ``mix64(sum_c sig[:, c] * w_c mod 2^64)`` with fixed random odd weights ``w_c``
    (recycled past 4096 columns), computed on contiguous row blocks. Unequal columns collide
    with probability ~2^-64; in a band that at worst adds a candidate pair that the
    similarity check then drops.
    """
    return _band_keys(signatures, c0, c1, None)


def _band_keys(signatures: np.ndarray, c0: int, c1: int, members: np.ndarray | None) -> np.ndarray:
    """:func:`_row_keys` of the rows ``members`` (all rows when None), a block at a time."""
    weights = _COLUMN_WEIGHTS[np.arange(c0, c1) % len(_COLUMN_WEIGHTS)]
    m = len(signatures) if members is None else len(members)
    key = np.empty(m, dtype=np.uint64)
    for r0 in range(0, m, _ROW_BLOCK):
        if members is None:
            part = signatures[r0 : r0 + _ROW_BLOCK, c0:c1]
        else:
            part = signatures[members[r0 : r0 + _ROW_BLOCK], c0:c1]
        block = part.astype(np.uint64)
        block *= weights
        key[r0 : r0 + _ROW_BLOCK] = block.sum(axis=1, dtype=np.uint64)
    return _mix64(key)


def _group_pairs(
    key: np.ndarray, members: np.ndarray, *, star_above: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of ``members`` that share a ``key``, and the first member of every key.

    Groups of at most ``star_above`` members give all their pairs; larger groups link each
    member to the group's first (lowest) member only. Returns (representatives, pairs).
    """
    order = np.argsort(key, kind="stable")  # stable: members stay in ascending order
    sorted_key = key[order]
    n = len(key)
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    offset = np.arange(n) - group_start  # position of each member within its group
    group_id = np.cumsum(first) - 1
    size = np.bincount(group_id)[group_id]
    star = size > star_above
    # all-pairs groups: member at offset o pairs with the o members before it
    count = np.where(star, np.minimum(offset, 1), offset)
    left = np.repeat(np.arange(n), count)
    base = np.repeat(np.cumsum(count) - count, count)
    partner = np.repeat(group_start, count) + np.where(
        np.repeat(star, count), 0, np.arange(len(left)) - base
    )
    pairs = np.stack((members[order[partner]], members[order[left]]), axis=1)
    return members[order[first]], pairs


def _unique_pairs(chunks: list[np.ndarray], n: int) -> np.ndarray:
    """Concatenate pair chunks into unique (i < j) pairs, sorted."""
    pairs = np.concatenate([c for c in chunks if len(c)] or [np.empty((0, 2), np.int64)])
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    codes = np.unique(lo * np.int64(n) + hi)
    return np.stack((codes // n, codes % n), axis=1).astype(np.int64)


def connected_components(n: int, pairs: np.ndarray) -> np.ndarray:
    """(n,) int64 component label of each of ``n`` nodes linked by ``pairs`` (m, 2)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise LessdataError(f"pairs must hold row indices in [0, {n}); got values outside")
    ones = np.ones(len(pairs), dtype=np.int8)
    graph = coo_matrix((ones, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    _, labels = scipy_components(graph, directed=False)
    return labels.astype(np.int64)


# --- near duplicates --------------------------------------------------------------------


@dataclass
class NearDuplicates:
    """The result of :func:`near_duplicates`.

    Attributes:
        duplicate_of: (n,) int64; -1 for kept rows, else the row kept in its place.
        cluster: (n,) int64; -1 for rows without a near duplicate, else the number of the
            duplicate group (0, 1, ... in the order of each group's lowest row index).
        similarity: (n,) float64; for a removed row, its Jaccard similarity to the row kept
            in its place -- estimated from the signatures, or exact with ``verify=True``.
            It can fall below the threshold when the two are linked through a chain of
            similar rows. 0.0 for kept rows.
        n_candidate_pairs: pairs proposed by LSH.
        n_verified_pairs: candidate pairs whose similarity reached the threshold (the edges).
    """

    duplicate_of: np.ndarray
    cluster: np.ndarray
    similarity: np.ndarray
    n_candidate_pairs: int
    n_verified_pairs: int


def near_duplicates(
    texts: Any,
    *,
    ngram: int = DEFAULT_NGRAM,
    num_perm: int = DEFAULT_NUM_PERM,
    threshold: float = DEFAULT_THRESHOLD,
    bands: int | None = None,
    rows: int | None = None,
    verify: bool = False,
    keep: str = "first",
    seed: int = 0,
    signatures: np.ndarray | None = None,
    engine: Engine | None = None,
) -> NearDuplicates:
    """Find near-duplicate texts with MinHash + LSH and keep one of each group.

    Args:
        texts: a sequence of ``str`` or a pyarrow string array.
        ngram, num_perm, seed: shingle size, signature length and permutation seed
            (see :func:`minhash_signatures`).
        threshold: a pair is a duplicate when its Jaccard similarity is at least this.
        bands, rows: LSH banding; by default :func:`optimal_bands` of (threshold, num_perm).
            Giving one derives the other as ``num_perm // given``.
        verify: recompute the exact Jaccard similarity of every candidate pair from the
            texts instead of trusting the signature estimate (slower, no estimation error).
        keep: which member of a group stays: ``first`` (lowest row index, as text-dedup
            does) or ``longest`` (most characters, ties: lowest row index).
        signatures: precomputed :func:`minhash_signatures` (n, num_perm), to skip hashing.
        engine: runs the LSH bands (:func:`lsh_candidate_pairs`); default this process.

    Returns:
        A :class:`NearDuplicates`. Groups are connected components of the graph of pairs
        that reached the threshold, so a chain a~b~c is one group even if a and c differ.
    """
    _check_ngram(ngram)
    _check_num_perm(num_perm)
    _check_threshold(threshold)
    _check_keep(keep)
    source = _Texts(texts)
    if signatures is None:
        signatures = minhash_signatures(source.texts, ngram=ngram, num_perm=num_perm, seed=seed)
    signatures = _check_signatures(signatures)
    if signatures.shape != (source.n, num_perm):
        raise LessdataError(
            f"signatures have shape {signatures.shape} but {source.n} texts and "
            f"num_perm={num_perm} need ({source.n}, {num_perm}): recompute them or pass the "
            f"num_perm they were made with"
        )

    def exact(pairs: np.ndarray) -> np.ndarray:
        return pair_jaccard(source.texts, pairs, ngram=ngram)

    return near_duplicates_from_signatures(
        signatures, threshold=threshold, bands=bands, rows=rows, keep=keep,
        lengths=source.lengths() if keep == "longest" else None,
        exact_jaccard=exact if verify else None, engine=engine,
    )  # fmt: skip


def near_duplicates_from_signatures(
    signatures: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    bands: int | None = None,
    rows: int | None = None,
    keep: str = "first",
    lengths: np.ndarray | None = None,
    exact_jaccard: Callable[[np.ndarray], np.ndarray] | None = None,
    engine: Engine | None = None,
) -> NearDuplicates:
    """:func:`near_duplicates` of texts known only by their MinHash signatures.

    For corpora whose texts stay on disk: ``signatures`` may be a memory map (read a block
    at a time here, and by path on Ray workers). ``keep="longest"`` needs ``lengths``, one
    per row. ``exact_jaccard(pairs) -> similarities`` replaces the signature estimate by an
    exact one (``verify``); it is called with the candidate pairs, then with the (removed,
    kept) pairs. The result is the same as :func:`near_duplicates` on the texts.
    """
    _check_threshold(threshold)
    _check_keep(keep)
    signatures = _check_signatures(signatures)
    n, num_perm = signatures.shape
    if bands is None and rows is None:
        bands, rows = optimal_bands(float(threshold), num_perm)
    elif bands is None:
        bands = num_perm // rows if isinstance(rows, int) and rows > 0 else 0
    elif rows is None:
        rows = num_perm // bands if isinstance(bands, int) and bands > 0 else 0
    bands, rows = _check_bands(bands, rows, num_perm)
    rank = _survivor_rank(n, keep, lengths)
    similarity_of = exact_jaccard or (lambda pairs: estimated_jaccard(signatures, pairs))

    candidates = lsh_candidate_pairs(signatures, bands, rows, engine=engine)
    sims = similarity_of(candidates)
    edges = candidates[sims >= threshold]
    labels = connected_components(n, edges)
    duplicate_of = _mark_groups(labels, rank)
    cluster = _number_clusters(labels)

    similarity = np.zeros(n, dtype=np.float64)
    removed = np.flatnonzero(duplicate_of >= 0)
    similarity[removed] = similarity_of(np.stack((removed, duplicate_of[removed]), axis=1))
    return NearDuplicates(
        duplicate_of=duplicate_of,
        cluster=cluster,
        similarity=similarity,
        n_candidate_pairs=len(candidates),
        n_verified_pairs=len(edges),
    )


def _number_clusters(labels: np.ndarray) -> np.ndarray:
    """Renumber components of size > 1 as 0, 1, ... by their lowest row; singletons -1."""
    n = len(labels)
    size = np.bincount(labels, minlength=1)
    lowest = np.full(len(size), n, dtype=np.int64)
    np.minimum.at(lowest, labels, np.arange(n, dtype=np.int64))
    multi = np.flatnonzero(size > 1)
    number = np.full(len(size), -1, dtype=np.int64)
    number[multi[np.argsort(lowest[multi], kind="stable")]] = np.arange(len(multi))
    return number[labels]


# --- validation -------------------------------------------------------------------------


def _check_ngram(ngram: int) -> None:
    """Shingles are n-grams of at least one token."""
    if not isinstance(ngram, int) or isinstance(ngram, bool) or ngram < 1:
        raise LessdataError(f"--ngram must be an integer >= 1 (BigCode uses 5); got {ngram!r}")


def _check_num_perm(num_perm: int) -> None:
    """A signature needs at least two permutations to estimate anything."""
    if not isinstance(num_perm, int) or isinstance(num_perm, bool) or num_perm < 2:
        raise LessdataError(
            f"--num-perm must be an integer >= 2 (BigCode uses 256); got {num_perm!r}"
        )


def _check_threshold(threshold: float) -> None:
    """A Jaccard threshold lies in (0, 1]."""
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise LessdataError(
            f"--threshold must lie in (0, 1]: it is the Jaccard similarity above which two "
            f"texts are duplicates (BigCode uses 0.7); got {threshold!r}"
        )


def _check_bands(bands: Any, rows: Any, num_perm: int) -> tuple[int, int]:
    """LSH bands and rows are positive integers with bands * rows <= num_perm."""
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (bands, rows))
    if not ok or bands < 1 or rows < 1 or bands * rows > num_perm:
        raise LessdataError(
            f"--bands and --rows must be integers >= 1 with bands * rows <= num_perm "
            f"({num_perm}); got bands={bands!r}, rows={rows!r} (omit both to choose them "
            f"from the threshold)"
        )
    return int(bands), int(rows)


def _check_signatures(signatures: Any) -> np.ndarray:
    """Signatures are a 2-D uint32 array (n, num_perm); a memory map stays one."""
    signatures = np.asanyarray(signatures)
    if signatures.ndim != 2 or signatures.dtype != np.uint32:
        raise LessdataError(
            f"signatures must be a 2-D uint32 array (n, num_perm) from minhash_signatures; "
            f"got shape {signatures.shape} and dtype {signatures.dtype}"
        )
    return signatures


__all__ = [
    "DEFAULT_NGRAM",
    "DEFAULT_NUM_PERM",
    "DEFAULT_THRESHOLD",
    "NearDuplicates",
    "connected_components",
    "estimated_jaccard",
    "exact_duplicates",
    "exact_duplicates_from_hashes",
    "exact_hashes",
    "jaccard",
    "lsh_band_pairs",
    "lsh_candidate_pairs",
    "minhash_signatures",
    "near_duplicates",
    "near_duplicates_from_signatures",
    "normalize_text",
    "optimal_bands",
    "pair_jaccard",
    "shingles",
    "tokens",
]
