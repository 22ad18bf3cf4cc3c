"""Text columns as Arrow arrays: walked in fixed-size batches, and hashed by content.

Every encoder and the cache see texts the same way: one Arrow string column, nulls read as
"", consumed slice by slice so that a large corpus is never turned into Python objects all at
once.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from lessdata.errors import LessdataError

TextInput = pa.ChunkedArray | pa.Array | Sequence[str]


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text_type(t.value_type)
    is_view = getattr(pa.types, "is_string_view", lambda _t: False)
    return pa.types.is_null(t) or pa.types.is_string(t) or pa.types.is_large_string(t) or is_view(t)


def as_text_array(texts: TextInput) -> pa.ChunkedArray:
    """Return ``texts`` as an Arrow ChunkedArray of strings (nulls kept; no data copied).

    Accepts an Arrow (chunked) string array or any sequence of Python strings/None, so that
    callers can pass a Parquet column or a plain list alike.
    """
    if isinstance(texts, (str, bytes)):
        raise LessdataError(
            "texts must be a list or Arrow array of strings, not a single string; wrap it in a list"
        )
    if isinstance(texts, pa.ChunkedArray):
        arr = texts
    elif isinstance(texts, pa.Array):
        arr = pa.chunked_array([texts], type=texts.type)
    else:
        try:
            arr = pa.chunked_array([pa.array(list(texts), type=pa.large_string())])
        except (pa.ArrowException, TypeError) as exc:
            raise LessdataError(
                f"texts must all be strings (or None): {exc}; convert the column to text first"
            ) from exc
    if not _is_text_type(arr.type):
        raise LessdataError(
            f"texts must be a string column, got Arrow type {arr.type}; pick the text column"
        )
    return arr


def iter_arrow_slices(arr: pa.ChunkedArray, size: int) -> Iterator[pa.LargeStringArray]:
    """Yield consecutive ``size``-row slices as large_string arrays with nulls replaced by "".

    The slice boundaries depend only on the row count, never on how ``arr`` is chunked, so
    that anything computed per slice (e.g. a content hash) is independent of chunking.
    """
    n = len(arr)
    for start in range(0, n, size):
        part = arr.slice(start, size).combine_chunks()
        if part.type != pa.large_string():
            part = part.cast(pa.large_string())
        if part.null_count:
            part = part.fill_null("")
        yield part


def iter_text_batches(arr: pa.ChunkedArray, size: int) -> Iterator[list[str]]:
    """Yield the texts as Python lists of at most ``size`` strings (nulls as "")."""
    for part in iter_arrow_slices(arr, size):
        yield part.to_pylist()


def num_batches(n: int, size: int) -> int:
    """Number of batches of ``size`` needed for ``n`` items."""
    return (n + size - 1) // size


_HASH_SLICE = 65_536  # rows hashed per step; fixed so the hash ignores Arrow chunking


def texts_fingerprint(texts: pa.ChunkedArray | pa.Array | Sequence[str]) -> str:
    """Content hash (sha256 hex) of a text column, streamed over Arrow buffers.

    Every string's UTF-8 bytes are hashed with their length, so ``["ab", "c"]`` and
    ``["a", "bc"]`` differ; nulls hash like "" (that is how encoders read them). Each fixed
    slice of rows contributes its row count, its int64 lengths and then its bytes, which
    frames every string unambiguously without a Python object per row.
    """
    arr = as_text_array(texts)
    h = hashlib.sha256()
    h.update(struct.pack("<q", len(arr)))
    for part in iter_arrow_slices(arr, _HASH_SLICE):
        _, offsets_buf, data_buf = part.buffers()
        offsets = np.frombuffer(offsets_buf, dtype="<i8", count=part.offset + len(part) + 1)
        offsets = offsets[part.offset :]
        h.update(struct.pack("<q", len(part)))
        h.update(np.diff(offsets).astype("<i8").tobytes())
        if data_buf is not None and offsets[-1] > offsets[0]:
            h.update(memoryview(data_buf)[int(offsets[0]) : int(offsets[-1])])
    return h.hexdigest()
