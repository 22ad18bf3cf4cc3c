"""Near duplicates from MinHash signatures: LSH bands, candidate pairs, connected components.

The last two steps of BigCode's recipe (see :mod:`lessdata.duplicates.minhash`):

3. LSH splits the signature into ``bands`` of ``rows`` values; texts that agree on a whole
   band become candidate pairs (:func:`lsh_candidate_pairs`); ``(bands, rows)`` minimise the
   false positive + false negative areas under the S-curve (:func:`optimal_bands`), as
   datasketch does;
4. candidate pairs whose estimated (or, with ``verify=True``, exact) Jaccard similarity
   reaches the threshold are edges of a graph; each connected component keeps one member.

The default threshold 0.7 is BigCode's. For corpora larger than memory,
:func:`near_duplicates_from_signatures` groups documents known only by signatures in a memory
map, and the LSH bands run as shards of an engine (:mod:`lessdata.engines`, local or Ray)
with the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from lessdata.checks import check_bool, check_float
from lessdata.duplicates.groups import check_keep, mark_groups, survivor_rank
from lessdata.duplicates.minhash import (
    DEFAULT_NGRAM,
    DEFAULT_NUM_PERM,
    PAIR_BLOCK,
    check_ngram,
    check_num_perm,
    check_signatures,
    estimated_jaccard,
    minhash_signatures,
    mix64,
    pair_jaccard,
)
from lessdata.duplicates.texts import TextColumn
from lessdata.engines.base import Engine
from lessdata.errors import LessdataError

DEFAULT_THRESHOLD = 0.7


#: LSH buckets with more members than this are linked as a star (each member to the first)
MAX_BUCKET = 1000


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

    check_threshold(threshold)
    check_num_perm(num_perm)
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

    signatures = check_signatures(signatures)
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
    return mix64(key)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(bands, n) uint64: each row's key in each LSH band (the keys the banding groups by).

    Two rows share band b's key when (but for a 2^-64 collision) they agree on the
    signature columns ``[b * rows, (b + 1) * rows)``.
    """
    signatures = check_signatures(signatures)
    bands, rows = _check_bands(bands, rows, signatures.shape[1])
    keys = np.empty((bands, len(signatures)), dtype=np.uint64)
    for band in range(bands):
        keys[band] = _band_keys(signatures, band * rows, (band + 1) * rows, None)
    return keys


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
    check_ngram(ngram)
    check_num_perm(num_perm)
    check_threshold(threshold)
    check_keep(keep)
    source = TextColumn(texts)
    if signatures is None:
        signatures = minhash_signatures(source.texts, ngram=ngram, num_perm=num_perm, seed=seed)
    signatures = check_signatures(signatures)
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
    check_threshold(threshold)
    check_keep(keep)
    signatures = check_signatures(signatures)
    n, num_perm = signatures.shape
    if bands is None and rows is None:
        bands, rows = optimal_bands(float(threshold), num_perm)
    elif bands is None:
        bands = num_perm // rows if isinstance(rows, int) and rows > 0 else 0
    elif rows is None:
        rows = num_perm // bands if isinstance(bands, int) and bands > 0 else 0
    bands, rows = _check_bands(bands, rows, num_perm)
    rank = survivor_rank(n, keep, lengths)
    similarity_of = exact_jaccard or (lambda pairs: estimated_jaccard(signatures, pairs))

    candidates = lsh_candidate_pairs(signatures, bands, rows, engine=engine)
    sims = similarity_of(candidates)
    edges = candidates[sims >= threshold]
    labels = connected_components(n, edges)
    duplicate_of = mark_groups(labels, rank)
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


def check_threshold(threshold: float) -> None:
    """A Jaccard threshold lies in (0, 1]."""
    check_float(
        threshold,
        "threshold",
        low=0,
        high=1,
        closed="right",
        hint="it is the Jaccard similarity at which two texts are duplicates (BigCode uses 0.7)",
    )


def _check_bands(bands: Any, rows: Any, num_perm: int) -> tuple[int, int]:
    """LSH bands and rows are positive integers with bands * rows <= num_perm."""
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (bands, rows))
    if not ok or bands < 1 or rows < 1 or bands * rows > num_perm:
        raise LessdataError(
            f"bands and rows must be whole numbers >= 1 with bands * rows <= num_perm "
            f"({num_perm}); got bands={bands!r}, rows={rows!r} (omit both to choose them "
            f"from the threshold)",
            param="bands",
        )
    return int(bands), int(rows)


@dataclass(frozen=True)
class NearOptions:
    """MinHash + LSH settings (defaults: BigCode's near-deduplication of The Stack).

    Attributes:
        ngram: words per shingle.
        num_perm: MinHash permutations.
        threshold: Jaccard similarity at which two documents are linked, in (0, 1].
        bands, rows: LSH banding; both or neither (then tuned to ``threshold``).
        verify: exact Jaccard of each candidate pair instead of the MinHash estimate.
    """

    ngram: int = DEFAULT_NGRAM
    num_perm: int = DEFAULT_NUM_PERM
    threshold: float = DEFAULT_THRESHOLD
    bands: int | None = None
    rows: int | None = None
    verify: bool = False

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, naming the option."""
        check_ngram(self.ngram)
        check_num_perm(self.num_perm)
        check_threshold(self.threshold)
        check_bool(self.verify, "verify")
        if (self.bands is None) != (self.rows is None):
            raise LessdataError(
                "give `bands` and `rows` together, or neither (then they are tuned)",
                param="bands",
            )
        if self.bands is not None:
            _check_bands(self.bands, self.rows, self.num_perm)

    def banding(self) -> tuple[int, int]:
        """``(bands, rows)``: the ones given, else those tuned to ``threshold``."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.num_perm)
