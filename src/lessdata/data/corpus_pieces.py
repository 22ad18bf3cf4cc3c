"""A corpus cut into pieces that workers read on their own (an engine's shards).

:func:`plan_corpus` cuts a source folder's walk by files and bytes, a Parquet file by row
groups, a JSONL file by byte ranges after a newline; :func:`read_piece` reads one piece with
the same row readers as :func:`lessdata.data.corpus.read_corpus`, so reading the pieces in
order gives exactly its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.data.corpus_rows import (
    SPLITS,
    CorpusLimits,
    Row,
    arrow_rows,
    check_limits,
    gather_rows,
    jsonl_columns,
    jsonl_document_rows,
    open_parquet,
    table_rows,
)
from lessdata.data.source_files import check_extensions, check_has_files, file_rows, walk_sources
from lessdata.data.tables import corpus_format
from lessdata.errors import LessdataError

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
    exts = check_corpus_options(path, fmt, text_column, id_column, split, extensions)
    if fmt == "source":
        check_has_files(path, exts)
        return _plan_files(path, exts, split, piece_files, piece_bytes)
    if fmt == "parquet":
        file, text_col, id_col = open_parquet(path, text_column, id_column)
        meta = file.metadata
        return _plan_row_groups(path, meta, text_col, id_col, piece_rows, piece_bytes)
    if fmt == "jsonl":
        text_col, id_col = jsonl_columns(path, text_column, id_column)
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
    return gather_rows(_piece_rows(piece, check_limits(limits)), batch_size)


def count_piece_rows(piece: CorpusPiece) -> int:
    """Rows in a ``lines`` (JSONL) piece: its non-blank lines (an engine step, so that every
    piece's first row is known before the pieces are read)."""
    if piece.kind != "lines":
        raise ValueError(f"only JSONL pieces need counting, not {piece.kind!r}")
    return sum(1 for _ in _lines_between(Path(piece.source), piece.start, piece.stop))


def check_corpus_options(
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
        return check_extensions(extensions)
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

    for rel, problem in walk_sources(root, exts):
        stamp = _stamp(root / rel) if problem is None else (0, 0)
        files.append((rel, problem))
        stamps.append(stamp)
        size += stamp[0]
        if len(files) >= piece_files or size >= piece_bytes:
            yield piece()
            files, stamps, size, index = [], [], 0, index + 1
    if files:
        yield piece()


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


def _piece_rows(piece: CorpusPiece, limits: CorpusLimits) -> Iterator[Row]:
    """The rows of one piece, by the same code for every reader."""
    path = Path(piece.source)
    first = piece.first_row or 0
    if piece.kind == "files":
        return file_rows(path, piece.files, piece.split, limits)
    if piece.kind == "row_groups":
        assert piece.text_column is not None
        file, text_col, id_col = open_parquet(path, piece.text_column, piece.id_column)
        columns = list(dict.fromkeys(c for c in (text_col, id_col) if c))
        batches = file.iter_batches(
            batch_size=65_536, row_groups=list(piece.row_groups), columns=columns
        )
        return arrow_rows(path, batches, text_col, id_col, limits, first_row=first)
    if piece.kind == "lines":
        assert piece.text_column is not None
        lines = _lines_between(path, piece.start, piece.stop)
        return jsonl_document_rows(path, piece.text_column, piece.id_column, limits, lines, first)
    return table_rows(path, piece.format, piece.text_column, piece.id_column, limits)


def rows_of_pieces(pieces: Iterable[CorpusPiece], limits: CorpusLimits) -> Iterator[Row]:
    """The rows of ``pieces`` read one after another (JSONL first rows counted on the way)."""
    row = 0
    for piece in pieces:
        if piece.first_row is None:
            piece = replace(piece, first_row=row)
        for found in _piece_rows(piece, limits):
            row += 1
            yield found
