"""Exact duplicates: texts whose normalised forms are equal.

:func:`normalize_text` makes the form compared (NFC, ``\\n`` line ends, no trailing
spaces, no blank edge lines); :func:`exact_hashes` digests it with 16-byte BLAKE2b
(deterministic across processes and machines, unlike Python's salted ``hash()``);
:func:`exact_duplicates` groups equal digests and keeps one member of each group.
For corpora larger than memory, :func:`exact_duplicates_from_hashes` groups documents known
only by their hashes (computed shard by shard, on workers).
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

import numpy as np

from lessdata.duplicates.groups import check_keep, mark_groups, survivor_rank
from lessdata.duplicates.texts import TextColumn
from lessdata.errors import LessdataError
from lessdata.progress import track


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
    source = TextColumn(texts)
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
    check_keep(keep)
    source = TextColumn(texts)
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
    check_keep(keep)
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
    return mark_groups(group, survivor_rank(n, keep, lengths))
