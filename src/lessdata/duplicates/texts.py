"""Texts as the duplicate finders take them: a list of ``str`` or an Arrow string column,
walked in batches bounded by rows and characters."""

from __future__ import annotations

from typing import Any

import numpy as np

from lessdata.errors import LessdataError

#: a signature batch ends after this many characters too, so that memory stays bounded
MAX_BATCH_CHARS = 1 << 22


class TextColumn:
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
