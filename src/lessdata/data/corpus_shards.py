"""A corpus as the driver of a curation holds it: texts in Parquet shard files, small
columns in memory.

Workers read pieces of the input (:func:`read_shard`, an engine step) and write their rows
as shard files of at most ``shard_docs`` documents; the driver joins the small per-row
columns they return (id, problem, preview, length, and for source folders path and line
span) into a :class:`ShardedCorpus`, which reads texts back from the files on demand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata.data.atomic import atomic_path
from lessdata.data.corpus_pieces import CorpusPiece, read_piece
from lessdata.data.corpus_rows import CORPUS_SCHEMA, SOURCE_EXTRAS
from lessdata.data.manifest import PREVIEW_CHARS
from lessdata.data.text_column import texts_fingerprint

#: a shard also ends once its texts reach about this many characters (huge documents)
SHARD_CHARS = 1 << 27
#: rows per Parquet row group of a shard file: a few rows are read back a group at a time
SHARD_ROW_GROUP = 1_024


@dataclass(frozen=True)
class ShardFile:
    """One shard file: its path, its first row in the corpus, its rows, a content hash."""

    path: str
    start: int
    rows: int
    fingerprint: str


@dataclass
class ShardedCorpus:
    """The corpus as the driver keeps it: small per-row columns, texts in shard files."""

    source: str
    format: str
    shards: list[ShardFile]
    ids: pa.Array
    problem: pa.Array
    preview: pa.Array
    lengths: np.ndarray  # characters per text, 0 when null
    readable: np.ndarray  # True where the reader gave a text (False: a problem row)
    extras: dict[str, pa.Array] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def fingerprint(self) -> str:
        """A hash of every shard's content and bounds (checkpoint keys use it)."""
        return hashlib.sha256("|".join(s.fingerprint for s in self.shards).encode()).hexdigest()

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.shards)

    @property
    def starts(self) -> np.ndarray:
        """(shards + 1,) first row of each shard, then the number of rows."""
        return np.array([*(s.start for s in self.shards), self.n], dtype=np.int64)

    def texts_of(self, rows: Sequence[int]) -> list[str | None]:
        """The texts of ``rows`` (any order), read from the shard files."""
        return read_rows(self.paths, self.starts, np.asarray(rows, dtype=np.int64))

    def gather(self, rows: np.ndarray) -> pa.ChunkedArray:
        """The texts of the sorted ``rows`` as one Arrow column, read shard by shard."""
        starts = self.starts
        parts = []
        for index, shard in enumerate(self.shards):
            lo, hi = np.searchsorted(rows, starts[index : index + 2])
            if hi > lo:
                texts = shard_texts(shard.path)
                parts.append(texts.take(pa.array(rows[lo:hi] - shard.start)))
        return pa.chunked_array(parts, type=pa.string())


def assemble_pieces(source: str, fmt: str, parts: Sequence[PieceShards]) -> ShardedCorpus | None:
    """The :class:`ShardedCorpus` of the pieces' shards, in piece order (None: no rows at all)."""
    shards: list[ShardFile] = []
    n = 0
    for part in parts:
        for shard in part.shards:
            shards.append(replace(shard, start=n + shard.start))
        n += len(part.lengths)
    if n == 0:
        return None
    full = [part for part in parts if len(part.lengths)]
    joined = {
        name: pa.concat_arrays([part.columns[name] for part in full]) for name in full[0].columns
    }
    return ShardedCorpus(
        source=source,
        format=fmt,
        shards=shards,
        ids=joined.pop("id"),
        problem=joined.pop("problem"),
        preview=joined.pop("preview"),
        lengths=np.concatenate([part.lengths for part in full]),
        readable=np.concatenate([part.readable for part in full]),
        extras=joined,
    )


def shard_batches(
    batches: Iterable[pa.RecordBatch], shard_docs: int
) -> Iterator[list[pa.RecordBatch]]:
    """Cut a stream of batches into shards of ``shard_docs`` rows, ended earlier once their
    texts reach :data:`SHARD_CHARS` characters."""
    pending: list[pa.RecordBatch] = []
    rows = chars = 0
    for batch in batches:
        while batch.num_rows:
            part = batch.slice(0, shard_docs - rows)
            batch = batch.slice(part.num_rows)
            pending.append(part)
            rows += part.num_rows
            chars += int(pc.sum(pc.utf8_length(part.column("text"))).as_py() or 0)
            if rows >= shard_docs or chars >= SHARD_CHARS:
                yield pending
                pending, rows, chars = [], 0, 0
    if pending:
        yield pending


class ShardWriter:
    """Writes one piece's shard files and collects the per-row columns the driver keeps."""

    def __init__(self, folder: Path, fmt: str, prefix: str) -> None:
        self.folder = folder
        self.format = fmt
        self.prefix = prefix
        self.n = 0
        self.shards: list[ShardFile] = []
        self.columns: dict[str, list[pa.Array]] = {}
        self.lengths: list[np.ndarray] = []
        self.readable: list[np.ndarray] = []

    def write(self, batches: list[pa.RecordBatch]) -> None:
        """Write one shard's rows to ``<prefix>-<shard>.parquet`` (atomically: a retried
        piece rewrites it whole) and keep their small columns."""

        table = pa.Table.from_batches(batches, schema=CORPUS_SCHEMA).combine_chunks()
        path = self.folder / f"{self.prefix}-{len(self.shards):06d}.parquet"
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, row_group_size=SHARD_ROW_GROUP)
        texts = table["text"]
        content = f"{texts_fingerprint(texts)}:{texts_fingerprint(table['problem'])}"
        self.shards.append(ShardFile(str(path), self.n, table.num_rows, content))
        self.n += table.num_rows
        keep = ["id", "problem", *(SOURCE_EXTRAS if self.format == "source" else ())]
        for name in keep:
            self.columns.setdefault(name, []).append(table[name].combine_chunks())
        preview = pc.utf8_slice_codeunits(texts, 0, PREVIEW_CHARS)
        self.columns.setdefault("preview", []).append(preview.combine_chunks())
        length = pc.fill_null(pc.utf8_length(texts), 0).to_numpy()
        self.lengths.append(np.asarray(length, dtype=np.int64))
        self.readable.append(pc.is_valid(texts).to_numpy())

    def result(self) -> PieceShards:
        """The shards written (starts within the piece) and the small columns of their rows."""
        return PieceShards(
            shards=self.shards,
            columns={name: pa.concat_arrays(parts) for name, parts in self.columns.items()},
            lengths=np.concatenate([np.empty(0, np.int64), *self.lengths]),
            readable=np.concatenate([np.empty(0, bool), *self.readable]),
        )


def shard_texts(path: str) -> pa.Array:
    """The text column of one shard file (null where the reader found a problem)."""
    return pq.read_table(path, columns=["text"])["text"].combine_chunks()


def read_rows(paths: Sequence[str], starts: np.ndarray, rows: np.ndarray) -> list[str | None]:
    """Texts of the corpus rows ``rows`` from shard files ``paths`` (shard i holds rows
    ``starts[i]:starts[i + 1]``), reading only the row groups that hold them."""
    out: list[str | None] = [None] * len(rows)
    shard_of = np.searchsorted(starts, rows, side="right") - 1
    for index in np.unique(shard_of):
        where = np.flatnonzero(shard_of == index)
        local = rows[where] - starts[index]
        file = pq.ParquetFile(paths[index])
        sizes = [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)]
        bounds = np.cumsum([0, *sizes])
        group_of = np.searchsorted(bounds, local, side="right") - 1
        groups = np.unique(group_of)
        texts = file.read_row_groups(groups.tolist(), columns=["text"])["text"]
        # rows of the groups read, in order: offset of each group within what was read
        offset = np.cumsum([0, *(sizes[g] for g in groups)])
        at = offset[np.searchsorted(groups, group_of)] + local - bounds[group_of]
        for i, text in zip(where, texts.take(pa.array(at)).to_pylist(), strict=True):
            out[i] = text
    return out


@dataclass
class PieceShards:
    """What :func:`read_shard` read from one piece of the corpus: its shard files (rows
    numbered within the piece) and the small per-row columns the driver keeps (``id``,
    ``problem``, ``preview``, and for source folders ``path``, ``start_line``, ``end_line``)."""

    shards: list[ShardFile]
    columns: dict[str, pa.Array]
    lengths: np.ndarray  # characters per text, 0 when null
    readable: np.ndarray  # True where the reader gave a text


def read_shard(piece: CorpusPiece, folder: str, shard_docs: int) -> PieceShards:
    """One piece of the corpus (a :class:`~lessdata.data.corpus.CorpusPiece`): read its rows as
    :func:`~lessdata.data.corpus.read_corpus` would, write them to shard files of at most
    ``shard_docs`` rows in ``folder``, and return their small columns.

    A piece that holds no rows writes no file. Only one shard's rows are in memory at a time.
    """

    writer = ShardWriter(Path(folder), piece.format, prefix=f"piece-{piece.index:06d}")
    batches = read_piece(piece, batch_size=min(shard_docs, 1024))
    for rows in shard_batches(batches, shard_docs):
        writer.write(rows)
    return writer.result()
