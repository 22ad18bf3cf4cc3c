"""The rows of a corpus: their Arrow schema, the problems a row can have, size limits, and
the row readers of tables (JSONL, Parquet, CSV, Hugging Face).

Every reader yields :data:`Row` tuples in :data:`CORPUS_SCHEMA` order and never raises on a
bad document: the row gets a ``problem`` (one of :data:`PROBLEMS`) and a null text instead.
:func:`gather_rows` turns rows into record batches.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata.data.tables import (
    ID_COLUMNS,
    TEXT_COLUMNS,
    jsonl_rows,
    read_csv_table,
    read_hf_table,
    short_error,
)
from lessdata.errors import LessdataError

SPLITS = ("file", "function")


CORPUS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("problem", pa.string()),
        pa.field("path", pa.string()),
        pa.field("start_line", pa.int32()),
        pa.field("end_line", pa.int32()),
    ]
)


UNREADABLE_FILE = "unreadable file"


UNREADABLE_FOLDER = "unreadable folder"


NOT_A_REGULAR_FILE = "not a regular file"


LINK_OUTSIDE = "symlink out of the folder"  # never followed: the folder is what was asked for


BINARY_FILE = "binary file"


UNDECODABLE = "undecodable bytes (not UTF-8)"


EMPTY_DOCUMENT = "empty document"


ENORMOUS_LINE = "enormous line"


TOO_LARGE = "too large"


INVALID_JSON = "invalid JSON"


NOT_AN_OBJECT = "not a JSON object"


MISSING_TEXT = "missing text"


TEXT_NOT_STRING = "text is not a string"


INVALID_UNICODE = "invalid Unicode (lone surrogate)"


PROBLEMS = (
    UNREADABLE_FILE,
    UNREADABLE_FOLDER,
    NOT_A_REGULAR_FILE,
    LINK_OUTSIDE,
    BINARY_FILE,
    UNDECODABLE,
    EMPTY_DOCUMENT,
    ENORMOUS_LINE,
    TOO_LARGE,
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_TEXT,
    TEXT_NOT_STRING,
    INVALID_UNICODE,
)


#: a file is binary when this many leading bytes hold a NUL byte
BINARY_SNIFF_BYTES = 8192


#: Arrow ``string`` arrays hold at most 2 GiB; a batch is cut early past this many characters
#: (at most 4 bytes each), so that its text column always fits
MAX_BATCH_CHARS = 1 << 28


MAX_ARROW_STRING = (1 << 31) - 1


@dataclass(frozen=True)
class CorpusLimits:
    """Size limits above which a document is skipped (a problem row) rather than read.

    Attributes:
        max_doc_bytes: documents or files larger than this (UTF-8 bytes) are "too large".
        max_line_chars: a document with a line longer than this is an "enormous line"
            (minified code, data blobs): it would swamp n-gram and LM statistics.
    """

    max_doc_bytes: int = 10_000_000
    max_line_chars: int = 100_000

    def __post_init__(self) -> None:
        """Refuse limits that are not positive whole numbers, or beyond what Arrow can hold."""
        for name in ("max_doc_bytes", "max_line_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LessdataError(
                    f"CorpusLimits.{name} must be a positive integer, got {value!r}"
                )
        if self.max_doc_bytes > MAX_ARROW_STRING:
            raise LessdataError(
                f"CorpusLimits.max_doc_bytes must be at most {MAX_ARROW_STRING} (2 GiB, the "
                f"largest Arrow string), got {self.max_doc_bytes}"
            )


def check_unique_ids(ids: pa.Array | pa.ChunkedArray, where: str) -> None:
    """Raise the error of :func:`read_corpus` if an id repeats, naming the first repeat (the
    earliest row whose id an earlier row has)."""
    if len(ids) < 2:
        return
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    # dictionary codes are given in order of first appearance: a row repeats an earlier id
    # exactly when its code is not above every code before it
    codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
    repeats = np.flatnonzero(codes[1:] <= np.maximum.accumulate(codes)[:-1])
    if len(repeats):
        repeated_id(where, ids[int(repeats[0]) + 1].as_py())


def repeated_id(where: str, rid: str) -> None:
    raise LessdataError(
        f"{where}: ids must be unique, but {rid!r} repeats; fix the id column or "
        "drop the id column option to use row numbers"
    )


def check_limits(limits: CorpusLimits | None) -> CorpusLimits:
    limits = CorpusLimits() if limits is None else limits
    if not isinstance(limits, CorpusLimits):
        raise LessdataError(f"limits must be a CorpusLimits, got {type(limits).__name__}")
    return limits


def open_parquet(
    path: Path, text_column: str | None, id_column: str | None
) -> tuple[pq.ParquetFile, str, str | None]:
    """The Parquet file and its text and id columns (checked)."""
    try:
        file = pq.ParquetFile(path)
        available = file.schema_arrow.names
    except Exception as exc:
        raise LessdataError(f"{path}: not a readable Parquet file ({short_error(exc)})") from None
    text_col, id_col = _pick_columns(path, available, text_column, id_column)
    _check_text_type(path, file.schema_arrow.field(text_col).type, text_col)
    return file, text_col, id_col


Row = tuple[str, "str | None", "str | None", "str | None", "int | None", "int | None"]


def gather_rows(rows: Iterable[Row], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Rows as record batches of at most ``batch_size`` rows, cut early past
    :data:`MAX_BATCH_CHARS` characters of text."""
    columns: list[list[Any]] = [[] for _ in CORPUS_SCHEMA]
    chars = 0
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        chars += len(row[1]) if row[1] is not None else 0
        if len(columns[0]) >= batch_size or chars >= MAX_BATCH_CHARS:
            yield _to_batch(columns)
            columns = [[] for _ in CORPUS_SCHEMA]
            chars = 0
    if columns[0]:
        yield _to_batch(columns)


def _to_batch(columns: list[list[Any]]) -> pa.RecordBatch:
    """Columns of Python values -> one record batch of :data:`CORPUS_SCHEMA`."""
    arrays = [
        pa.array(values, type=f.type) for values, f in zip(columns, CORPUS_SCHEMA, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=CORPUS_SCHEMA)


def check_text(text: str, limits: CorpusLimits) -> str | None:
    """The problem with a document's text (empty, too large, an enormous line), or None."""
    if not text or text.isspace():
        return EMPTY_DOCUMENT
    n = len(text)
    if n > limits.max_doc_bytes or (
        4 * n > limits.max_doc_bytes
        and len(text.encode("utf-8", "surrogatepass")) > limits.max_doc_bytes
    ):
        return TOO_LARGE
    if n > limits.max_line_chars and _has_long_line(text, limits.max_line_chars):
        return ENORMOUS_LINE
    return None


def _has_long_line(text: str, max_chars: int) -> bool:
    """True when a line of ``text`` (its ending not counted) is longer than ``max_chars``."""
    return any(
        len(line) > max_chars and len(line.rstrip("\r\n")) > max_chars for line in split_lines(text)
    )


def table_rows(
    path: Path, fmt: str, text_column: str | None, id_column: str | None, limits: CorpusLimits
) -> Iterator[Row]:
    """Open a table-like corpus, choose its columns now, and return its row stream."""
    if fmt == "jsonl":
        text_col, id_col = jsonl_columns(path, text_column, id_column)
        return jsonl_document_rows(path, text_col, id_col, limits)
    if fmt == "parquet":
        file, text_col, id_col = open_parquet(path, text_column, id_column)
        columns = list(dict.fromkeys(c for c in (text_col, id_col) if c))
        batches = file.iter_batches(batch_size=65_536, columns=columns)
        return arrow_rows(path, batches, text_col, id_col, limits)
    if fmt == "csv":
        if path.stat().st_size < 4096 and not path.read_bytes().strip():
            return iter(())  # an empty file: no rows (pyarrow refuses it)
        try:
            table = read_csv_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise LessdataError(f"{path}: not a readable CSV file ({short_error(exc)})") from None
        text_col, id_col = _pick_columns(path, table.column_names, text_column, id_column)
        texts = table.column(text_col)
        binary = pa.types.is_binary(texts.type) or pa.types.is_large_binary(texts.type)
        if not (binary or _is_text_type(texts.type)):
            # CSV has no types: a column of digits is still text, and an empty cell empty text
            texts = pc.fill_null(texts.cast(pa.string()), "")
            table = table.set_column(table.column_names.index(text_col), text_col, texts)
        return arrow_rows(path, table.to_batches(max_chunksize=65_536), text_col, id_col, limits)
    table = read_hf_table(path)
    text_col, id_col = _pick_columns(path, table.column_names, text_column, id_column)
    _check_text_type(path, table.schema.field(text_col).type, text_col)
    columns = list(dict.fromkeys(c for c in (text_col, id_col) if c))
    batches = table.select(columns).to_batches(max_chunksize=65_536)
    return arrow_rows(path, batches, text_col, id_col, limits)


def _pick_columns(
    path: Path, available: list[str], text_column: str | None, id_column: str | None
) -> tuple[str, str | None]:
    """The text and id columns: the named ones (which must exist) or the usual names."""
    for role, given in (("text", text_column), ("id", id_column)):
        if given and given not in available:
            raise LessdataError(
                f"{path} has no column {given!r} for the {role} (columns: {available}); "
                f"pass `{role}_column` with one of them"
            )
    text_col = text_column or next((c for c in TEXT_COLUMNS if c in available), None)
    if text_col is None:
        raise LessdataError(
            f"{path} has no text column (columns: {available}); name it with `text_column`"
        )
    id_col = id_column or next((c for c in ID_COLUMNS if c in available), None)
    return text_col, id_col


def _is_text_type(kind: pa.DataType) -> bool:
    """True for string columns (plain, large, or dictionary-encoded)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _check_text_type(path: Path, kind: pa.DataType, column: str) -> None:
    """Refuse a typed (Parquet/HF) text column that does not hold strings."""
    if not _is_text_type(kind):
        raise LessdataError(
            f"{path}: the text column {column!r} holds {kind}, not text; name the text column "
            "with `text_column`"
        )


def arrow_rows(
    path: Path,
    batches: Iterable[pa.RecordBatch],
    text_col: str,
    id_col: str | None,
    limits: CorpusLimits,
    first_row: int = 0,
) -> Iterator[Row]:
    """Rows of Arrow batches, in order: a problem for null, empty or oversized texts.

    ``first_row`` is the corpus row of the first batch's first row (a piece's).
    """
    row = first_row
    try:
        for batch in batches:
            texts = _decoded(batch.column(text_col))
            ids = _decoded(batch.column(id_col)) if id_col else [None] * len(texts)
            for text, raw_id in zip(texts, ids, strict=True):
                rid = _id_str(raw_id, row) if id_col else str(row)
                if text is None:
                    problem = MISSING_TEXT
                elif isinstance(text, bytes):
                    problem = UNDECODABLE
                else:
                    problem = check_text(text, limits)
                yield rid, None if problem else text, problem, None, None, None
                row += 1
    except (OSError, pa.ArrowException) as exc:
        raise LessdataError(f"{path}: cannot read row {row} onwards ({short_error(exc)})") from None


def _decoded(column: pa.Array) -> list[Any]:
    """The column's values; a text cell that is not UTF-8 stays ``bytes`` (CSV reads unchecked)."""
    if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        try:
            return column.to_pylist()
        except UnicodeDecodeError:
            column = column.cast(pa.large_binary())
    return [_utf8_or_bytes(value) for value in column.to_pylist()]


def _utf8_or_bytes(value: bytes | None) -> str | bytes | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _id_str(value: Any, row: int) -> str:
    """An id value as text (``#<row>`` when it is missing): strings as they are, else JSON."""
    if value is None:
        return f"#{row}"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):  # an id cell that is not UTF-8
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _parse_line(line: bytes) -> tuple[Any, str | None]:
    """Parse one JSONL line: ``(object, None)`` or ``(None, problem)``."""
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, UNDECODABLE
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None, INVALID_JSON
    if not isinstance(value, dict):
        return None, NOT_AN_OBJECT
    return value, None


def jsonl_columns(
    path: Path, text_column: str | None, id_column: str | None
) -> tuple[str, str | None]:
    """Choose the JSONL text and id keys from the first object that has a text key.

    That object is usually on the first line; the scan goes on only while objects lack every
    candidate key. A file whose objects all lack it is refused, naming the keys seen; a file
    with no object at all (empty, or every line broken) is read as is: its rows are problems.
    """
    candidates = (text_column,) if text_column else TEXT_COLUMNS
    keys_seen: dict[str, None] = {}
    n_objects = 0
    try:
        for line in jsonl_rows(path):
            obj, _ = _parse_line(line)
            if obj is None:
                continue
            n_objects += 1
            found = next((c for c in candidates if c in obj), None)
            if found is not None:
                id_col = id_column or next((c for c in ID_COLUMNS if c in obj), None)
                return found, id_col
            keys_seen.update(dict.fromkeys(list(obj)[:50]))
    except OSError as exc:
        raise LessdataError(f"{path}: cannot read the file ({short_error(exc)})") from None
    if n_objects == 0:
        return text_column or TEXT_COLUMNS[0], id_column
    keys = list(keys_seen)[:20]
    if text_column:
        raise LessdataError(
            f"{path}: no object has the key {text_column!r} (keys seen: {keys}); pass "
            "`text_column` with one of them"
        )
    raise LessdataError(
        f"{path}: no object has a text key ({', '.join(TEXT_COLUMNS)}; keys seen: {keys}); "
        "name it with `text_column`"
    )


def jsonl_document_rows(
    path: Path, text_col: str, id_col: str | None, limits: CorpusLimits,
    lines: Iterable[bytes] | None = None, first_row: int = 0,
) -> Iterator[Row]:  # fmt: skip
    """One row per non-blank line, numbered as :func:`jsonl_rows` numbers them.

    ``lines`` (default: every row of the file) may be a piece's rows, the first of which is
    corpus row ``first_row``.
    """
    for row, line in enumerate(jsonl_rows(path) if lines is None else lines, start=first_row):
        rid = str(row)
        obj, problem = _parse_line(line)
        escaped_surrogates = b"\\ud" in line or b"\\uD" in line  # e.g. "\\ud800", alone
        text = None
        if obj is not None:
            if id_col:
                rid = _id_str(obj.get(id_col), row)
                rid = _valid_unicode(rid) if escaped_surrogates else rid
            value = obj.get(text_col)
            if value is None:
                problem = MISSING_TEXT
            elif not isinstance(value, str):
                problem = TEXT_NOT_STRING
            elif escaped_surrogates and _valid_unicode(value) is not value:
                problem = INVALID_UNICODE
            else:
                problem = check_text(value, limits)
                text = None if problem else value
        elif id_col:
            rid = f"#{row}"
        yield rid, text, problem, None, None, None


def _valid_unicode(text: str) -> str:
    """``text`` itself when it is valid Unicode, else a copy with lone surrogates escaped.

    JSON may spell lone surrogates (``"\\ud800"``); Arrow strings must be valid UTF-8.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their endings, split where Python's parser counts lines.

    Only ``\\n``, ``\\r\\n`` and ``\\r`` end a line; ``str.splitlines`` would also split on
    form feeds and other separators that appear inside code, and shift every line number.
    """
    return io.StringIO(text, newline="").readlines()


def count_lines(text: str) -> int:
    """Number of lines in ``text`` as :func:`split_lines` counts them (without splitting)."""
    crlf = text.count("\r\n")
    ends = text.count("\n") + text.count("\r") - crlf
    return ends + (0 if text.endswith(("\n", "\r")) else 1) if text else 0


#: per-document columns of a source folder written next to the text
SOURCE_EXTRAS = ("path", "start_line", "end_line")
