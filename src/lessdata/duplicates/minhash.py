"""MinHash signatures of texts: shingles, the hash kernels, and Jaccard similarity.

Near-duplicate detection follows the MinHash + LSH recipe of BigCode's deduplication of The
Stack (C. Mou, "Large-scale Near-deduplication Behind BigCode", huggingface.co/blog/dedup,
2023; code in ChenghaoMou/text-dedup). This module does its first two steps:

1. each text becomes a set of lowercase token 5-grams (:func:`shingles`);
2. a signature of 256 MinHash values estimates the Jaccard similarity of two such sets as the
   fraction of equal entries (:func:`minhash_signatures`, :func:`estimated_jaccard`).

:mod:`lessdata.duplicates.lsh` does the rest (bands, candidate pairs, components).
The defaults ``ngram=5, num_perm=256`` are BigCode's settings, as set in text-dedup
(``add_minhash_args`` in ``text_dedup/utils/add_args.py``).

Tokens are the runs of word characters (``\\w``, Unicode-aware; for ASCII text exactly
BigCode's ``[A-Za-z_0-9]``) of the lowercased text. Tokenising, token hashing and n-gram
hashing of a batch run on one byte buffer with NumPy, so there is no per-token Python work
for ASCII text (non-ASCII texts pass through one ``re.sub``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from lessdata.checks import check_int
from lessdata.duplicates.texts import TextColumn
from lessdata.errors import LessdataError
from lessdata.progress import track

if TYPE_CHECKING:
    pass

#: BigCode's near-deduplication settings (text-dedup's MinHash defaults; see the module doc)
DEFAULT_NGRAM = 5
DEFAULT_NUM_PERM = 256
#: shingles per inner block of the permutation kernel (keeps its arrays in the CPU cache)
KERNEL_BLOCK = 1 << 16
#: candidate pairs compared per block when estimating their Jaccard similarity
PAIR_BLOCK = 1 << 14

_LOW32 = np.uint64(0xFFFFFFFF)
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
    check_ngram(ngram)
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
    check_ngram(ngram)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    rows = np.unique(pairs)
    source = TextColumn(texts)
    sets = {int(r): shingles(t, ngram) for r, t in zip(rows, source.take(rows), strict=True)}
    out = np.empty(len(pairs), dtype=np.float64)
    for k, (i, j) in enumerate(track(pairs.tolist(), len(pairs), "exact Jaccard of pairs")):
        sa, sb = sets[i], sets[j]
        inter = len(sa & sb)
        out[k] = inter / (len(sa) + len(sb) - inter)
    return out


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
    :func:`_shingle_hashes`); permutation k maps it to the top 32 bits of
    ``(a_k * h + b_k) mod 2^64`` (Dietzfelbinger's multiply-add-shift, a 2-independent
    family for 32-bit keys), with ``a_k``, ``b_k`` drawn from ``seed`` in ``[0, 2^64)``; a
    signature entry is the minimum over the text's distinct shingles. Because dropping the
    low 32 bits is monotone, the minimum is taken over the full 64-bit values and shifted
    once per entry: two NumPy passes per permutation (multiply-add, then the per-document
    minimum), where a modulo-prime scheme (datasketch's) needs six. ``benchmarks/
    bench_minhash_peers.py`` measures the speed and the pair precision and recall against
    exact Jaccard beside datasketch and rensa.

    Equal shingle sets give equal signatures; the result depends only on the texts,
    ``ngram``, ``num_perm`` and ``seed``. Texts are processed in batches of ``batch_size``
    (and at most ~4M characters), each permutation over blocks of ~65k shingles, so memory
    stays at a few tens of MB per batch.

    >>> sig = minhash_signatures(["def f(x): return x + 1"] * 2, num_perm=8)
    >>> sig.shape, bool((sig[0] == sig[1]).all())
    ((2, 8), True)
    """
    check_ngram(ngram)
    check_num_perm(num_perm)
    if batch_size < 1:
        raise LessdataError(f"batch_size must be at least 1, got {batch_size}")
    source = TextColumn(texts)
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
    a = rng.integers(0, 1 << 64, size=num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 1 << 64, size=num_perm, dtype=np.uint64, endpoint=False)
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


#: :data:`_ASCII_WORDS` that leaves bytes >= 128 alone: applied to a whole batch at once, it
#: does to an ASCII document what :func:`_token_bytes` does and nothing to the (already
#: tokenised) UTF-8 bytes of another
_BATCH_WORDS = _ASCII_WORDS[:128] + bytes(range(128, 256))


def _batch_bytes(docs: list[str]) -> tuple[bytes, np.ndarray]:
    """The token bytes of every doc (:func:`_token_bytes`) in one buffer, each followed by a
    space, and where each doc starts in it.

    One ``encode`` and one ``translate`` for the whole batch: an ASCII document's bytes are
    its characters, so its offset is its length; a document with other characters goes
    through the regex first (its tokens in UTF-8), which the batch table then leaves as is.
    """
    pieces = [d if d.isascii() else _NON_WORD.sub(" ", d.lower()) for d in docs]
    sizes = np.fromiter((len(p) + 1 for p in pieces), dtype=np.int64, count=len(pieces))
    for i, piece in enumerate(pieces):
        if not piece.isascii():
            sizes[i] = len(piece.encode("utf-8", "surrogatepass")) + 1
    pieces.append("")  # the buffer ends with a space
    buf = " ".join(pieces).encode("utf-8", "surrogatepass").translate(_BATCH_WORDS)
    return buf, np.cumsum(sizes) - sizes


def mix64(x: np.ndarray) -> np.ndarray:
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
    short sequential products instead of one long one. Kept per base and grown by doubling,
    so that a run of batches computes each power once (this was a sixth of the signature
    time when computed per batch).
    """
    table = _POWER_TABLES.get(base)
    if table is None or len(table) < length:
        size = max(length, 2 * len(table) if table is not None else 1 << 16)
        step = 1024
        low = np.full(step, base, dtype=np.uint64)
        low[0] = 1
        low = np.cumprod(low, dtype=np.uint64)
        high = np.full(max(1, -(-size // step)), pow(base, step, 1 << 64), dtype=np.uint64)
        high[0] = 1
        high = np.cumprod(high, dtype=np.uint64)
        table = np.multiply.outer(high, low).reshape(-1)
        table.flags.writeable = False
        _POWER_TABLES[base] = table
    return table[:length]


_POWER_TABLES: dict[int, np.ndarray] = {}


def _token_hashes(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the space-separated tokens of ``buf`` and each token's start offset.

    A token ``c[s:e]`` hashes to ``mix64(sum_j c[j] * B^(e-1-j) mod 2^64)``, computed for all
    tokens at once from one prefix sum of ``c[j] * B^-j`` (B is odd, so invertible mod 2^64).
    ``buf`` must end with a space.
    """
    c = np.frombuffer(buf, dtype=np.uint8)
    word = c != _SPACE
    starts = np.flatnonzero(word[1:] & ~word[:-1]) + 1  # a space, then a word byte
    if len(c) and word[0]:
        starts = np.concatenate(([0], starts))
    ends = np.flatnonzero(word[:-1] & ~word[1:]) + 1  # a word byte, then a space
    if len(starts) == 0:
        return np.empty(0, dtype=np.uint64), starts
    inverse = pow(_BYTE_BASE, -1, 1 << 64)
    prefix = np.empty(len(c) + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(c * _powers(inverse, len(c)), dtype=np.uint64, out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * _powers(_BYTE_BASE, int(ends[-1]))[ends - 1]
    return mix64(hashes), starts


def _shingle_hashes(docs: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """The 32-bit shingle hashes of each doc, grouped by doc (repeats included).

    Returns ``hashes`` (S,) uint64 values below 2^32 and ``starts`` (len(docs),) int64: doc
    d owns ``hashes[starts[d]:starts[d + 1]]``. Every doc has at least one shingle. An
    n-gram of token hashes ``t_0..t_{w-1}`` (w = ngram, or all of a shorter doc's tokens)
    hashes to the top 32 bits of ``mix64(sum_j t_j * G^(w-1-j) mod 2^64)``.

    A shingle that occurs twice in a doc is listed twice: a MinHash entry is a minimum,
    which repeats do not change, and removing them (a sort of every batch) cost more than
    the 12% more permutation work they add on code.
    """
    buf, doc_offsets = _batch_bytes(docs)
    token_hash, token_start = _token_hashes(buf)
    token_doc = np.searchsorted(doc_offsets, token_start, side="right") - 1
    counts = np.bincount(token_doc, minlength=len(docs))
    first_token = np.cumsum(counts) - counts
    # shingles per doc: one per window of `ngram` tokens, or one of all tokens when fewer
    n_shingles = np.maximum(counts - ngram + 1, 1)
    starts = np.cumsum(n_shingles) - n_shingles
    shingle_doc = np.repeat(np.arange(len(docs), dtype=np.int64), n_shingles)
    window_start = first_token[shingle_doc] + (np.arange(len(shingle_doc)) - starts[shingle_doc])
    gram = np.zeros(len(shingle_doc), dtype=np.uint64)
    full = counts >= ngram
    windows = len(token_hash) - ngram + 1
    if windows > 0:  # every window of the batch's tokens by Horner's rule, then the docs'
        rolling = token_hash[:windows].copy()
        for j in range(1, ngram):
            rolling *= _GRAM_BASE
            rolling += token_hash[j : j + windows]
        inside = full[shingle_doc]
        gram[inside] = rolling[window_start[inside]]
    short = np.flatnonzero(~full)  # docs with fewer tokens than ngram: one shingle of all
    if len(short):
        padded = np.concatenate((token_hash, np.zeros(1, dtype=np.uint64)))
        at, width, value = first_token[short], counts[short], np.zeros(len(short), np.uint64)
        for j in range(ngram - 1):
            step = value * _GRAM_BASE + padded[np.minimum(at + j, len(token_hash))]
            value = np.where(j < width, step, value)
        gram[starts[short]] = value
    return mix64(gram) >> _SHIFT32, starts


def _permute_min(
    hashes: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray
) -> None:
    """Fill ``out`` (docs, num_perm) with the per-doc minima of every permutation.

    The work goes one permutation at a time over blocks of whole docs of about KERNEL_BLOCK
    shingles, so that each NumPy operation runs on a 1-D array that stays in cache; the
    minima are kept at 64 bits and shifted to their top 32 bits at the end.
    """
    n_docs, total = len(starts), len(hashes)
    ends = np.append(starts[1:], total)
    block_starts = np.unique(np.searchsorted(starts, np.arange(0, total, KERNEL_BLOCK)))
    block_starts = block_starts[block_starts < n_docs]
    block_ends = np.append(block_starts[1:], n_docs)
    size = int((ends[block_ends - 1] - starts[block_starts]).max())
    x = np.empty(size, dtype=np.uint64)
    minima = np.empty((n_docs, len(a)), dtype=np.uint64)
    for d0, d1 in zip(block_starts, block_ends, strict=True):
        s0, s1 = int(starts[d0]), int(ends[d1 - 1])
        h = hashes[s0:s1]
        doc_starts = starts[d0:d1] - s0
        xb = x[: s1 - s0]
        for k in range(len(a)):
            np.multiply(h, a[k], out=xb)  # mod 2^64: unsigned overflow wraps
            xb += b[k]
            minima[d0:d1, k] = np.minimum.reduceat(xb, doc_starts)
    np.right_shift(minima, _SHIFT32, out=minima)
    out[...] = minima


def estimated_jaccard(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(m,) fraction of equal signature entries of each row pair: the MinHash estimate."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.empty(len(pairs), dtype=np.float64)
    for p0 in range(0, len(pairs), PAIR_BLOCK):
        block = pairs[p0 : p0 + PAIR_BLOCK]
        equal = signatures[block[:, 0]] == signatures[block[:, 1]]
        out[p0 : p0 + len(block)] = equal.mean(axis=1)
    return out


# --- validation -------------------------------------------------------------------------


def check_ngram(ngram: int) -> None:
    """Shingles are n-grams of at least one token."""
    check_int(ngram, "ngram", low=1, hint="BigCode uses 5")


def check_num_perm(num_perm: int) -> None:
    """A signature needs at least two permutations to estimate anything."""
    check_int(num_perm, "num_perm", low=2, hint="BigCode uses 256")


def check_signatures(signatures: Any) -> np.ndarray:
    """Signatures are a 2-D uint32 array (n, num_perm); a memory map stays one."""
    signatures = np.asanyarray(signatures)
    if signatures.ndim != 2 or signatures.dtype != np.uint32:
        raise LessdataError(
            f"signatures must be a 2-D uint32 array (n, num_perm) from minhash_signatures; "
            f"got shape {signatures.shape} and dtype {signatures.dtype}"
        )
    return signatures
