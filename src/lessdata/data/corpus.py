"""Stream a text or code corpus as Arrow record batches, one row per document, never failing on
a bad document.

Sources: JSONL, Parquet, CSV, a Hugging Face ``save_to_disk`` folder, or a folder of source
files (``.py`` by default), read whole or split into top-level functions and classes. Every
batch has the schema :data:`CORPUS_SCHEMA`::

    id          string   unique: the id column, else the row number; for source files the
                         relative path (``pkg/mod.py``), or ``pkg/mod.py:12-30`` for a function
    text        string   the document, exactly as stored; null when the row has a problem
    problem     string   null when the row is fine, else one of :data:`PROBLEMS`
    path        string   source folders: posix path relative to the root; else null
    start_line  int32    source folders: first line of the document (1-based); else null
    end_line    int32    source folders: last line, inclusive; else null

For JSONL, Parquet, CSV and HF inputs the i-th row yielded is the i-th row of the input (bad
rows included, in order), so that the kept rows can be written back with
:func:`lessdata.data.writers.write_subset`. JSONL rows are the non-blank lines
(:func:`lessdata.data.dataset.jsonl_rows`).

Under ``split="function"`` a file that does not parse is yielded whole, with ``problem`` null;
such rows are the ones whose ``id`` equals their ``path`` (see :func:`unsplit_rows`).

Example:
    >>> for batch in read_corpus("src/", split="function"):  # doctest: +SKIP
    ...     good = batch.filter(pc.is_null(batch.column("problem")))
"""

from __future__ import annotations

import ast
import io
import json
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata._progress import log
from lessdata.errors import LessdataError
from lessdata.data.dataset import (
    ID_COLUMNS,
    TEXT_COLUMNS,
    _read_hf,
    _short,
    detect_format,
    jsonl_rows,
    read_csv_table,
)

CORPUS_FORMATS = ("jsonl", "parquet", "csv", "hf", "source")
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

# The fixed vocabulary of the ``problem`` column.
UNREADABLE_FILE = "unreadable file"
UNREADABLE_FOLDER = "unreadable folder"
NOT_A_REGULAR_FILE = "not a regular file"
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
_MAX_BATCH_CHARS = 1 << 28
_MAX_ARROW_STRING = (1 << 31) - 1
_HF_MARKERS = ("state.json", "dataset_info.json", "dataset_dict.json")


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
        if self.max_doc_bytes > _MAX_ARROW_STRING:
            raise LessdataError(
                f"CorpusLimits.max_doc_bytes must be at most {_MAX_ARROW_STRING} (2 GiB, the "
                f"largest Arrow string), got {self.max_doc_bytes}"
            )


@dataclass(frozen=True)
class Span:
    """A top-level function or class of a source file: its name, kind, line span and text.

    ``start_line`` is the first decorator's line (or the ``def``/``class`` line), ``end_line``
    the last line of its body, both 1-based and inclusive; ``text`` is exactly those lines,
    line endings included.
    """

    name: str
    kind: str
    start_line: int
    end_line: int
    text: str


# --- Public API ---------------------------------------------------------------------------


def corpus_format(source: str | Path) -> str:
    """Name the corpus format of ``source``: one of :data:`CORPUS_FORMATS`.

    A folder is ``source`` (code files) unless it holds a Hugging Face ``save_to_disk``
    dataset (``state.json`` / ``dataset_info.json``; a ``DatasetDict`` is refused with the
    split folders to pick from). A file is named by its suffix, as the rest of lessdata does.

    Raises:
        LessdataError: ``source`` does not exist, or its format is not a text corpus.
    """
    path = Path(source)
    if not path.exists():
        raise LessdataError(f"{path}: no such file or directory")
    if path.is_dir():
        if any((path / marker).exists() for marker in _HF_MARKERS):
            return detect_format(path)
        return "source"
    if path.suffix.lower() in (".py", ".pyi"):
        raise LessdataError(
            f"{path} is a single source file; pass the folder that holds it to read its code"
        )
    fmt = detect_format(path)
    if fmt not in CORPUS_FORMATS:
        raise LessdataError(
            f"{path} is a {fmt} array, not a text corpus; pass a .jsonl, .parquet or .csv file "
            "with a text column, a Hugging Face dataset folder, or a folder of source files"
        )
    return fmt


def read_corpus(
    source: str | Path,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    split: str = "file",
    extensions: tuple[str, ...] = (".py",),
    batch_size: int = 1024,
    limits: CorpusLimits | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream ``source`` as record batches of :data:`CORPUS_SCHEMA`, at most ``batch_size`` rows.

    The options are checked (and, for tables, the columns chosen) when this is called, so a
    bad option raises at once, before any batch is read. Bad documents never raise: each
    becomes a row with ``problem`` set and ``text`` null.

    Args:
        source: a JSONL / Parquet / CSV file, a Hugging Face ``save_to_disk`` folder, or a
            folder of source files (see :func:`corpus_format`).
        text_column: the column holding the text (default: the first of ``TEXT_COLUMNS``).
        id_column: the column holding ids (default: the first of ``ID_COLUMNS``, else the row
            number). A row whose id is missing (or unreadable) gets ``#<row>`` instead.
        split: ``file`` (one document per file) or ``function`` (one per top-level
            function/class; source folders only).
        extensions: file name endings to read in a source folder.
        batch_size: rows per batch (a batch is cut earlier when its texts near 1 GiB).
        limits: size limits (default :class:`CorpusLimits`).

    Raises:
        LessdataError: a missing source, an unknown format, a bad option, a missing column,
            a source folder with no matching files (at call time); repeated ids (while
            iterating).
    """
    limits = _check_limits(limits)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LessdataError(f"batch_size must be a positive integer, got {batch_size!r}")
    path = Path(source)
    fmt = corpus_format(path)
    _check_options(path, fmt, text_column, id_column, split, extensions)
    if fmt in ("csv", "hf"):
        rows = _table_rows(path, fmt, text_column, id_column, limits)
    else:  # the pieces an engine would read, one after another
        pieces = plan_corpus(
            path, text_column=text_column, id_column=id_column, split=split, extensions=extensions
        )
        rows = _rows_of_pieces(pieces, limits)
    return _batches(rows, batch_size, str(path))


def read_texts(
    source: str | Path | list[str] | tuple[str, ...], *, limit: int | None = None, **options: Any
) -> list[str]:
    """The good (problem-free) texts of a corpus, in order, as Python strings.

    Meant for small samples: a DSIR target or a perplexity reference. ``source`` may be a
    corpus path (read with :func:`read_corpus` and ``options``) or already a list/tuple of
    strings (returned as a list). ``limit`` keeps only the first texts and stops reading.

    Raises:
        LessdataError: no usable text remains, a list holds non-strings, or a bad ``limit``.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise LessdataError(f"limit must be a positive integer or None, got {limit!r}")
    if isinstance(source, (list, tuple)):
        bad = next((i for i, t in enumerate(source) if not isinstance(t, str)), None)
        if bad is not None:
            raise LessdataError(
                f"texts must all be strings; item {bad} is {type(source[bad]).__name__}"
            )
        if not source:
            raise LessdataError("the list of texts is empty; give at least one text")
        return list(source[:limit] if limit else source)
    texts: list[str] = []
    n_rows = 0
    problems: dict[str, int] = {}
    batches = read_corpus(source, **options)
    try:
        for batch in batches:
            n_rows += batch.num_rows
            for text, problem in zip(
                batch.column("text").to_pylist(), batch.column("problem").to_pylist(), strict=True
            ):
                if problem is None:
                    texts.append(text)
                else:
                    problems[problem] = problems.get(problem, 0) + 1
            if limit and len(texts) >= limit:
                del texts[limit:]
                break
    finally:
        batches.close()  # type: ignore[attr-defined]
    if not texts:
        seen = f"; problems: {problems}" if problems else ""
        raise LessdataError(
            f"{source}: no usable text ({n_rows} rows{seen}); give a corpus with at least one "
            "non-empty document"
        )
    return texts


# --- Pieces: a corpus cut into parts that workers read on their own ------------------------

#: a piece of a source folder or JSONL file ends once its input reaches this many bytes
PIECE_BYTES = 32 << 20
#: a piece of a source folder ends once it holds this many files
PIECE_FILES = 4096
#: the kinds of :class:`CorpusPiece`
PIECE_KINDS = ("files", "row_groups", "lines", "whole")


@dataclass(frozen=True)
class CorpusPiece:
    """One piece of a corpus, small enough to send to a worker, that it reads on its own.

    ``kind`` says what the piece holds:

    - ``files``: the source files ``files`` (``(relative path, problem)`` as the folder walk
      found them) under the folder ``source``, split by ``split``;
    - ``row_groups``: the row groups ``row_groups`` of the Parquet file ``source``;
    - ``lines``: the bytes ``start:stop`` of the JSONL file ``source`` (whole lines);
    - ``whole``: the whole CSV file or Hugging Face folder ``source``.

    ``first_row`` is the corpus row of the piece's first row (default ids and problem
    messages use it); None for a JSONL piece whose earlier lines are not counted yet (see
    :func:`count_piece_rows`). ``text_column`` and ``id_column`` are the columns chosen when
    planning (for ``whole``: the options as given). ``stamp`` holds the size and
    modification time of what the piece reads, so that :meth:`identity` changes with them.
    """

    index: int
    kind: str
    source: str
    format: str
    first_row: int | None = 0
    files: tuple[tuple[str, str | None], ...] = ()
    row_groups: tuple[int, ...] = ()
    start: int = 0
    stop: int = 0
    text_column: str | None = None
    id_column: str | None = None
    split: str = "file"
    stamp: tuple[tuple[int, int], ...] = ()

    def identity(self) -> str:
        """A stable text naming what this piece reads and how (checkpoint keys hash it)."""
        return repr(self)


def plan_corpus(
    source: str | Path,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    split: str = "file",
    extensions: tuple[str, ...] = (".py",),
    piece_rows: int = 8192,
    piece_bytes: int | None = None,
    piece_files: int | None = None,
) -> Iterator[CorpusPiece]:
    """Cut ``source`` into pieces (in corpus order) that workers can read independently.

    Planning is cheap and depends only on the input and these options: a source folder's
    sorted walk (the order of :func:`read_corpus`) is cut every ``piece_files`` files or
    ``piece_bytes`` bytes of files; a Parquet file into runs of whole row groups of at most
    ``piece_rows`` rows and ``piece_bytes`` uncompressed bytes (at least one group each); a
    JSONL file into byte ranges of about ``piece_bytes`` cut after a newline; a CSV file or
    Hugging Face folder is one piece. The options are checked (and table columns chosen)
    now; the pieces are yielded lazily (the folder walk goes as they are consumed). Reading
    the pieces in order with :func:`read_piece` gives the rows of :func:`read_corpus`.
    ``piece_bytes`` and ``piece_files`` default to :data:`PIECE_BYTES` and
    :data:`PIECE_FILES` (read when called).

    Raises:
        LessdataError: as :func:`read_corpus` does at call time.
    """
    piece_bytes = PIECE_BYTES if piece_bytes is None else piece_bytes
    piece_files = PIECE_FILES if piece_files is None else piece_files
    for name, value in (("piece_rows", piece_rows), ("piece_bytes", piece_bytes),
                        ("piece_files", piece_files)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    path = Path(source)
    fmt = corpus_format(path)
    exts = _check_options(path, fmt, text_column, id_column, split, extensions)
    if fmt == "source":
        _check_has_files(path, exts)
        return _plan_files(path, exts, split, piece_files, piece_bytes)
    if fmt == "parquet":
        file, text_col, id_col = _open_parquet(path, text_column, id_column)
        meta = file.metadata
        return _plan_row_groups(path, meta, text_col, id_col, piece_rows, piece_bytes)
    if fmt == "jsonl":
        text_col, id_col = _jsonl_columns(path, text_column, id_column)
        return _plan_lines(path, text_col, id_col, piece_bytes)
    whole = CorpusPiece(
        0, "whole", str(path), fmt, text_column=text_column, id_column=id_column,
        stamp=_folder_stamp(path) if path.is_dir() else (_stamp(path),),
    )  # fmt: skip
    return iter([whole])


def read_piece(
    piece: CorpusPiece, *, batch_size: int = 1024, limits: CorpusLimits | None = None
) -> Iterator[pa.RecordBatch]:
    """The rows of one piece as record batches of :data:`CORPUS_SCHEMA` (at most
    ``batch_size`` rows), exactly the rows :func:`read_corpus` yields for that part.

    Ids are not checked for repeats here (a piece sees only its own); the caller checks the
    whole corpus (:func:`check_unique_ids`).
    """
    if piece.first_row is None:
        raise ValueError(f"piece {piece.index} has no first row yet: count the rows before it")
    return _gather(_piece_rows(piece, _check_limits(limits)), batch_size)


def count_piece_rows(piece: CorpusPiece) -> int:
    """Rows in a ``lines`` (JSONL) piece: its non-blank lines (an engine step, so that every
    piece's first row is known before the pieces are read)."""
    if piece.kind != "lines":
        raise ValueError(f"only JSONL pieces need counting, not {piece.kind!r}")
    return sum(1 for _ in _lines_between(Path(piece.source), piece.start, piece.stop))


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
        _repeated_id(where, ids[int(repeats[0]) + 1].as_py())


def _repeated_id(where: str, rid: str) -> None:
    raise LessdataError(
        f"{where}: ids must be unique, but {rid!r} repeats; fix the id column or "
        "drop the id column option to use row numbers"
    )


def _check_limits(limits: CorpusLimits | None) -> CorpusLimits:
    limits = CorpusLimits() if limits is None else limits
    if not isinstance(limits, CorpusLimits):
        raise LessdataError(f"limits must be a CorpusLimits, got {type(limits).__name__}")
    return limits


def _check_options(
    path: Path, fmt: str, text_column: str | None, id_column: str | None, split: str,
    extensions: tuple[str, ...],
) -> tuple[str, ...]:  # fmt: skip
    """Refuse options that do not apply to ``fmt``; the checked extensions."""
    if split not in SPLITS:
        raise LessdataError(f"split must be one of {SPLITS}, got {split!r}")
    if fmt == "source":
        if text_column or id_column:
            raise LessdataError(
                f"{path} is a folder of source files, which has no columns; drop the "
                "text/id column options"
            )
        return _check_extensions(extensions)
    if split != "file":
        raise LessdataError(
            f"split={split!r} splits source code and needs a folder of source files; "
            f"{path} is {fmt}: use split='file'"
        )
    if tuple(extensions) != (".py",):
        raise LessdataError(
            f"extensions choose files in a source folder; {path} is {fmt}: drop them"
        )
    return tuple(extensions)


def _stamp(path: Path) -> tuple[int, int]:
    """(size, modification time) of a file, following links; (0, 0) when it cannot be read."""
    try:
        info = path.stat()
    except OSError:
        return 0, 0
    return info.st_size, info.st_mtime_ns


def _folder_stamp(path: Path) -> tuple[tuple[int, int], ...]:
    """Stamps of the files directly in a folder (a Hugging Face dataset's Arrow files)."""
    return tuple(_stamp(child) for child in sorted(path.iterdir()) if child.is_file())


def _plan_files(
    root: Path, exts: tuple[str, ...], split: str, piece_files: int, piece_bytes: int
) -> Iterator[CorpusPiece]:
    """The sorted walk of a source folder, cut by files and bytes."""
    files: list[tuple[str, str | None]] = []
    stamps: list[tuple[int, int]] = []
    size = index = 0

    def piece() -> CorpusPiece:
        return CorpusPiece(
            index, "files", str(root), "source", files=tuple(files), split=split,
            stamp=tuple(stamps),
        )  # fmt: skip

    for rel, problem in _walk(root, exts):
        stamp = _stamp(root / rel) if problem is None else (0, 0)
        files.append((rel, problem))
        stamps.append(stamp)
        size += stamp[0]
        if len(files) >= piece_files or size >= piece_bytes:
            yield piece()
            files, stamps, size, index = [], [], 0, index + 1
    if files:
        yield piece()


def _open_parquet(
    path: Path, text_column: str | None, id_column: str | None
) -> tuple[pq.ParquetFile, str, str | None]:
    """The Parquet file and its text and id columns (checked)."""
    try:
        file = pq.ParquetFile(path)
        available = file.schema_arrow.names
    except Exception as exc:
        raise LessdataError(f"{path}: not a readable Parquet file ({_short(exc)})") from None
    text_col, id_col = _pick_columns(path, available, text_column, id_column)
    _check_text_type(path, file.schema_arrow.field(text_col).type, text_col)
    return file, text_col, id_col


def _plan_row_groups(
    path: Path, meta: pq.FileMetaData, text_col: str, id_col: str | None, piece_rows: int,
    piece_bytes: int,
) -> Iterator[CorpusPiece]:  # fmt: skip
    """Runs of whole row groups: as many as fit ``piece_rows`` rows and ``piece_bytes``."""
    stamp = (_stamp(path),)
    groups: list[int] = []
    rows = size = first = index = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if groups and (
            rows + group.num_rows > piece_rows or size + group.total_byte_size > piece_bytes
        ):
            yield CorpusPiece(
                index, "row_groups", str(path), "parquet", first, row_groups=tuple(groups),
                text_column=text_col, id_column=id_col, stamp=stamp,
            )  # fmt: skip
            first += rows
            groups, rows, size, index = [], 0, 0, index + 1
        groups.append(g)
        rows += group.num_rows
        size += group.total_byte_size
    if groups:
        yield CorpusPiece(
            index, "row_groups", str(path), "parquet", first, row_groups=tuple(groups),
            text_column=text_col, id_column=id_col, stamp=stamp,
        )  # fmt: skip


def _plan_lines(
    path: Path, text_col: str, id_col: str | None, piece_bytes: int
) -> Iterator[CorpusPiece]:
    """Byte ranges of about ``piece_bytes``, each ending just after a newline (or at the end)."""
    stamp = _stamp(path)
    size = stamp[0]
    start = index = 0
    with open(path, "rb") as fh:
        while start < size:
            stop = start + piece_bytes
            if stop < size:  # move to the end of the line that holds byte stop - 1
                fh.seek(stop - 1)
                fh.readline()
                stop = fh.tell()
            stop = min(stop, size)
            yield CorpusPiece(
                index, "lines", str(path), "jsonl", None if index else 0, start=start,
                stop=stop, text_column=text_col, id_column=id_col, stamp=(stamp,),
            )  # fmt: skip
            start, index = stop, index + 1


def _lines_between(path: Path, start: int, stop: int) -> Iterator[bytes]:
    """The non-blank lines of a JSONL file that start in bytes ``start:stop`` (the rows of
    :func:`lessdata.data.dataset.jsonl_rows`, for one range)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        at = start
        while at < stop:
            line = fh.readline()
            if not line:
                return
            at += len(line)
            if line.strip():
                yield line


def _piece_rows(piece: CorpusPiece, limits: CorpusLimits) -> Iterator[_Row]:
    """The rows of one piece, by the same code for every reader."""
    path = Path(piece.source)
    first = piece.first_row or 0
    if piece.kind == "files":
        return _file_rows(path, piece.files, piece.split, limits)
    if piece.kind == "row_groups":
        assert piece.text_column is not None
        file, text_col, id_col = _open_parquet(path, piece.text_column, piece.id_column)
        columns = list(dict.fromkeys(c for c in (text_col, id_col) if c))
        batches = file.iter_batches(
            batch_size=65_536, row_groups=list(piece.row_groups), columns=columns
        )
        return _arrow_rows(path, batches, text_col, id_col, limits, first_row=first)
    if piece.kind == "lines":
        assert piece.text_column is not None
        lines = _lines_between(path, piece.start, piece.stop)
        return _jsonl_rows(path, piece.text_column, piece.id_column, limits, lines, first)
    return _table_rows(path, piece.format, piece.text_column, piece.id_column, limits)


def _rows_of_pieces(pieces: Iterable[CorpusPiece], limits: CorpusLimits) -> Iterator[_Row]:
    """The rows of ``pieces`` read one after another (JSONL first rows counted on the way)."""
    row = 0
    for piece in pieces:
        if piece.first_row is None:
            piece = replace(piece, first_row=row)
        for found in _piece_rows(piece, limits):
            row += 1
            yield found


def split_functions(source_text: str) -> list[Span]:
    """Split Python source into its top-level ``def``, ``async def`` and ``class`` blocks.

    Each span runs from the first decorator's line to the node's last line, and its text is
    exactly those lines of ``source_text`` (line endings kept, ``\\r\\n`` included), so that a
    deduplicated function can be traced back to the file. Code between the blocks (imports,
    constants, ``if __name__ == ...``) is not part of any span.

    Raises:
        SyntaxError, ValueError: ``source_text`` is not valid Python (callers fall back to
            the whole file).
    """
    parsed = source_text[1:] if source_text.startswith("\ufeff") else source_text
    with warnings.catch_warnings():  # invalid escapes etc. in someone else's code: not ours
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(parsed)
        except RecursionError:
            raise ValueError("source is nested too deeply to parse") from None
    lines = split_lines(source_text)
    spans = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = node.end_lineno or node.lineno
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        spans.append(Span(node.name, kind, start, end, "".join(lines[start - 1 : end])))
    return spans


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their endings, split where Python's parser counts lines.

    Only ``\\n``, ``\\r\\n`` and ``\\r`` end a line; ``str.splitlines`` would also split on
    form feeds and other separators that appear inside code, and shift every line number.
    """
    return io.StringIO(text, newline="").readlines()


def unsplit_rows(batch: pa.RecordBatch) -> np.ndarray:
    """Under ``split="function"``: a mask of the good rows that hold a whole, unparsable file.

    Such files are kept whole rather than dropped (they may be Python 2, templates, or use
    newer syntax); their id is the bare path, where a function's id has ``:start-end``.
    """
    whole = pc.and_(
        pc.is_null(batch.column("problem")),
        pc.fill_null(pc.equal(batch.column("id"), batch.column("path")), False),
    )
    return whole.to_numpy(zero_copy_only=False)


# --- Batching -----------------------------------------------------------------------------

_Row = tuple[str, "str | None", "str | None", "str | None", "int | None", "int | None"]


def _batches(rows: Iterable[_Row], batch_size: int, where: str) -> Iterator[pa.RecordBatch]:
    """Gather rows into record batches; refuse repeated ids; log a one-line summary at the end.

    Only one batch of rows is held at a time (the ids seen are kept, to check uniqueness).
    """
    counts = [0, 0]  # rows, problems
    yield from _gather(_unique(rows, where, counts), batch_size)
    log(f"{where}: read {counts[0]} documents, {counts[1]} with problems")


def _unique(rows: Iterable[_Row], where: str, counts: list[int]) -> Iterator[_Row]:
    """``rows``, refusing an id seen before; counts rows and problems into ``counts``."""
    seen: set[str] = set()
    for row in rows:
        if row[0] in seen:
            _repeated_id(where, row[0])
        seen.add(row[0])
        counts[0] += 1
        counts[1] += row[2] is not None
        yield row


def _gather(rows: Iterable[_Row], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Rows as record batches of at most ``batch_size`` rows, cut early past
    :data:`_MAX_BATCH_CHARS` characters of text."""
    columns: list[list[Any]] = [[] for _ in CORPUS_SCHEMA]
    chars = 0
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        chars += len(row[1]) if row[1] is not None else 0
        if len(columns[0]) >= batch_size or chars >= _MAX_BATCH_CHARS:
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


# --- Source folders -----------------------------------------------------------------------


def _check_extensions(extensions: tuple[str, ...] | str) -> tuple[str, ...]:
    """Validate the file endings to read: a non-empty tuple of strings such as ``.py``."""
    exts = (extensions,) if isinstance(extensions, str) else tuple(extensions)
    if not exts or any(not isinstance(e, str) or not e.startswith(".") or e == "." for e in exts):
        raise LessdataError(
            f"extensions must be file endings that start with a dot, such as ('.py',); got "
            f"{extensions!r}"
        )
    return tuple(e.lower() for e in exts)


def _walk(root: Path, exts: tuple[str, ...]) -> Iterator[tuple[str, str | None]]:
    """Yield ``(relative posix path, problem)`` for each matching file under ``root``.

    Deterministic: names sorted, a folder's files before its sub-folders. Hidden folders and
    ``__pycache__`` are skipped, symlinked folders are not followed (no loops), an unreadable
    sub-folder is one row with the problem "unreadable folder".
    """
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            if not rel:
                raise
            yield rel, UNREADABLE_FOLDER
            continue
        subdirs = []
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if _is_real_dir(entry):
                if not entry.name.startswith(".") and entry.name != "__pycache__":
                    subdirs.append(child)
            elif entry.name.lower().endswith(exts) and not _is_dir_link(entry):
                yield child, None
        stack.extend(reversed(subdirs))


def _is_real_dir(entry: os.DirEntry[str]) -> bool:
    """True for a folder that is not a symlink (symlinked folders are never entered)."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_dir_link(entry: os.DirEntry[str]) -> bool:
    """True for a symlink to a folder (skipped, even when its name ends like a source file)."""
    try:
        return entry.is_symlink() and entry.is_dir()
    except OSError:
        return False


def _check_has_files(root: Path, exts: tuple[str, ...]) -> None:
    """Raise unless the folder holds at least one file to read (stops at the first)."""
    try:
        found = next(iter(_walk(root, exts)), None)
    except OSError as exc:
        raise LessdataError(f"{root}: cannot read the folder ({_short(exc)})") from None
    if found is None:
        raise LessdataError(
            f"{root}: no files ending in {', '.join(exts)} (hidden folders and __pycache__ are "
            "skipped); pass the folder that holds the code, or other extensions"
        )


def _file_rows(
    root: Path, files: Iterable[tuple[str, str | None]], split: str, limits: CorpusLimits
) -> Iterator[_Row]:
    """Rows for the walked ``files`` (``(relative path, problem)``): whole files, or their
    top-level functions and classes."""
    for rel, problem in files:
        text = None
        if problem is None:
            text, problem = read_source_file(root / rel, limits)
        shown = _shown_path(rel)
        if problem is not None or text is None:
            yield shown, None, problem, shown, None, None
            continue
        if split == "file":
            yield shown, text, None, shown, 1, count_lines(text)
            continue
        try:
            spans = split_functions(text)
        except (SyntaxError, ValueError):  # kept whole, problem null (see unsplit_rows)
            yield shown, text, None, shown, 1, count_lines(text)
            continue
        for span in spans:
            sid = f"{shown}:{span.start_line}-{span.end_line}"
            yield sid, span.text, None, shown, span.start_line, span.end_line


def _shown_path(rel: str) -> str:
    """A relative path as valid UTF-8 text: file-name bytes that are not UTF-8 are escaped."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")
    return rel


def count_lines(text: str) -> int:
    """Number of lines in ``text`` as :func:`split_lines` counts them (without splitting)."""
    crlf = text.count("\r\n")
    ends = text.count("\n") + text.count("\r") - crlf
    return ends + (0 if text.endswith(("\n", "\r")) else 1) if text else 0


def read_source_file(path: Path, limits: CorpusLimits) -> tuple[str | None, str | None]:
    """Read one file as UTF-8 text, exactly as stored: ``(text, None)`` or ``(None, problem)``.

    The size is checked before reading, and at most ``max_doc_bytes + 1`` bytes are read (a
    growing file cannot blow memory). A leading BOM is dropped; newlines are kept as they are.
    """
    try:
        info = path.stat()
    except OSError:
        return None, UNREADABLE_FILE
    if not stat.S_ISREG(info.st_mode):
        return None, NOT_A_REGULAR_FILE  # a FIFO or device would block or never end
    if info.st_size > limits.max_doc_bytes:
        return None, TOO_LARGE
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_doc_bytes + 1)
    except OSError:
        return None, UNREADABLE_FILE
    if len(data) > limits.max_doc_bytes:
        return None, TOO_LARGE
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return None, BINARY_FILE
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, UNDECODABLE
    problem = check_text(text, limits)
    return (None, problem) if problem else (text, None)


# --- Tables: JSONL, Parquet, CSV, Hugging Face --------------------------------------------


def _table_rows(
    path: Path, fmt: str, text_column: str | None, id_column: str | None, limits: CorpusLimits
) -> Iterator[_Row]:
    """Open a table-like corpus, choose its columns now, and return its row stream."""
    if fmt == "jsonl":
        text_col, id_col = _jsonl_columns(path, text_column, id_column)
        return _jsonl_rows(path, text_col, id_col, limits)
    if fmt == "parquet":
        file, text_col, id_col = _open_parquet(path, text_column, id_column)
        columns = list(dict.fromkeys(c for c in (text_col, id_col) if c))
        batches = file.iter_batches(batch_size=65_536, columns=columns)
        return _arrow_rows(path, batches, text_col, id_col, limits)
    if fmt == "csv":
        if path.stat().st_size < 4096 and not path.read_bytes().strip():
            return iter(())  # an empty file: no rows (pyarrow refuses it)
        try:
            table = read_csv_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise LessdataError(f"{path}: not a readable CSV file ({_short(exc)})") from None
        text_col, id_col = _pick_columns(path, table.column_names, text_column, id_column)
        texts = table.column(text_col)
        if not _is_text_type(texts.type):  # CSV has no types: a column of digits is still text,
            texts = pc.fill_null(texts.cast(pa.string()), "")  # and an empty cell empty text
            table = table.set_column(table.column_names.index(text_col), text_col, texts)
        return _arrow_rows(path, table.to_batches(max_chunksize=65_536), text_col, id_col, limits)
    table = _read_hf(path)
    text_col, id_col = _pick_columns(path, table.column_names, text_column, id_column)
    _check_text_type(path, table.schema.field(text_col).type, text_col)
    columns = list(dict.fromkeys(c for c in (text_col, id_col) if c))
    batches = table.select(columns).to_batches(max_chunksize=65_536)
    return _arrow_rows(path, batches, text_col, id_col, limits)


def _pick_columns(
    path: Path, available: list[str], text_column: str | None, id_column: str | None
) -> tuple[str, str | None]:
    """The text and id columns: the named ones (which must exist) or the usual names."""
    for role, given in (("text", text_column), ("id", id_column)):
        if given and given not in available:
            raise LessdataError(
                f"{path} has no column {given!r} for the {role} (columns: {available}); "
                f"pass --{role}-column with one of them"
            )
    text_col = text_column or next((c for c in TEXT_COLUMNS if c in available), None)
    if text_col is None:
        raise LessdataError(
            f"{path} has no text column (columns: {available}); name it with --text-column"
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
            "with --text-column"
        )


def _arrow_rows(
    path: Path,
    batches: Iterable[pa.RecordBatch],
    text_col: str,
    id_col: str | None,
    limits: CorpusLimits,
    first_row: int = 0,
) -> Iterator[_Row]:
    """Rows of Arrow batches, in order: a problem for null, empty or oversized texts.

    ``first_row`` is the corpus row of the first batch's first row (a piece's).
    """
    row = first_row
    try:
        for batch in batches:
            texts = batch.column(text_col).to_pylist()
            ids = batch.column(id_col).to_pylist() if id_col else [None] * len(texts)
            for text, raw_id in zip(texts, ids, strict=True):
                rid = _id_str(raw_id, row) if id_col else str(row)
                problem = MISSING_TEXT if text is None else check_text(text, limits)
                yield rid, None if problem else text, problem, None, None, None
                row += 1
    except (OSError, pa.ArrowException) as exc:
        raise LessdataError(f"{path}: cannot read row {row} onwards ({_short(exc)})") from None


def _id_str(value: Any, row: int) -> str:
    """An id value as text (``#<row>`` when it is missing): strings as they are, else JSON."""
    if value is None:
        return f"#{row}"
    if isinstance(value, str):
        return value
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


def _jsonl_columns(
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
        raise LessdataError(f"{path}: cannot read the file ({_short(exc)})") from None
    if n_objects == 0:
        return text_column or TEXT_COLUMNS[0], id_column
    keys = list(keys_seen)[:20]
    if text_column:
        raise LessdataError(
            f"{path}: no object has the key {text_column!r} (keys seen: {keys}); pass "
            "--text-column with one of them"
        )
    raise LessdataError(
        f"{path}: no object has a text key ({', '.join(TEXT_COLUMNS)}; keys seen: {keys}); "
        "name it with --text-column"
    )


def _jsonl_rows(
    path: Path, text_col: str, id_col: str | None, limits: CorpusLimits,
    lines: Iterable[bytes] | None = None, first_row: int = 0,
) -> Iterator[_Row]:  # fmt: skip
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
