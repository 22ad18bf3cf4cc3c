"""Duplicates: exact, near (MinHash + LSH) and semantic (SemDeDup), as functions on texts or
arrays that return ``duplicate_of`` (-1 for a kept row, else the row kept in its place).

Example:
    >>> import lessdata
    >>> lessdata.duplicates.exact_match(["a = 1", "b = 2", "a = 1  "]).tolist()
    [-1, -1, 0]
    >>> texts = ["the quick brown fox jumps over the lazy dog " * 3] * 2 + ["hello world"]
    >>> lessdata.duplicates.near(texts, threshold=0.7).tolist()
    [-1, 0, -1]

The modules hold the parts: :mod:`~lessdata.duplicates.exact_match` (normalised-text hashes),
:mod:`~lessdata.duplicates.minhash` (shingles, signatures, Jaccard),
:mod:`~lessdata.duplicates.lsh` (bands, candidate pairs, components) and
:mod:`~lessdata.duplicates.semdedup` (SemDeDup's per-cluster kernel).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lessdata.duplicates.exact_match import exact_duplicates
from lessdata.duplicates.lsh import near_duplicates
from lessdata.duplicates.semdedup import semantic_duplicates

#: the kinds of duplicates, in the order they chain (cheapest first)
KINDS = ("exact", "near", "semantic")


def exact(texts: Any, *, keep: str = "first") -> np.ndarray:
    """Texts whose normalised forms are equal (trailing spaces, line endings, NFC).

    Args:
        texts: a list of ``str`` or an Arrow string column.
        keep: which member of a group stays: ``first`` (lowest row) or ``longest``.

    Returns:
        (n,) int64 ``duplicate_of``: -1 for kept rows, else the row kept in its place.
    """
    return exact_duplicates(texts, keep=keep)


def near(
    texts: Any,
    *,
    threshold: float = 0.7,
    ngram: int = 5,
    num_perm: int = 256,
    bands: int | None = None,
    rows: int | None = None,
    verify: bool = False,
    keep: str = "first",
    seed: int = 0,
) -> np.ndarray:
    """Texts whose word ``ngram``-gram sets have Jaccard similarity >= ``threshold``.

    MinHash + LSH with BigCode's settings by default; connected components of the similar
    pairs are groups, each keeps one member (see :func:`lessdata.duplicates.lsh.near_duplicates`
    for the similarities and clusters).

    Args:
        texts: a list of ``str`` or an Arrow string column.
        threshold: Jaccard similarity at which two texts are linked, in (0, 1].
        ngram: words per shingle.
        num_perm: MinHash permutations (signature length).
        bands: LSH bands; default tuned to ``threshold`` as datasketch does.
        rows: LSH rows per band (with ``bands``).
        verify: compute each candidate pair's exact Jaccard instead of the estimate.
        keep: which member of a group stays: ``first`` (lowest row) or ``longest``.
        seed: seeds the MinHash permutations.

    Returns:
        (n,) int64 ``duplicate_of``: -1 for kept rows, else the row kept in its place.
    """
    found = near_duplicates(
        texts, ngram=ngram, num_perm=num_perm, threshold=threshold, bands=bands, rows=rows,
        verify=verify, keep=keep, seed=seed,
    )  # fmt: skip
    return found.duplicate_of


def semantic(
    vectors: np.ndarray,
    *,
    eps: float = 0.05,
    k: int | None = None,
    survivor: str = "hard",
    seed: int = 0,
) -> np.ndarray:
    """Rows whose cosine similarity to a kept row of their k-means cluster exceeds 1 - eps.

    SemDeDup (Abbas et al. 2023); see
    :func:`lessdata.duplicates.semdedup.semantic_duplicates` for distances and clusters.

    Args:
        vectors: (N, d) embeddings.
        eps: duplicates have cosine similarity above ``1 - eps``, in (0, 2).
        k: k-means clusters (default round(sqrt(N))).
        survivor: which member of a group stays: ``hard`` (farthest from its centroid),
            ``easy`` (closest) or ``random``.
        seed: seeds k-means and the random survivor order.

    Returns:
        (n,) int64 ``duplicate_of``: -1 for kept rows, else the row kept in its place.
    """
    found = semantic_duplicates(vectors, eps=eps, k=k, survivor=survivor, seed=seed)
    return found.duplicate_of


__all__ = ["KINDS", "exact", "near", "semantic"]
