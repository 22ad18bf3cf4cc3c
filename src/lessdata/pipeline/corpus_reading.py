"""Reading a corpus into shard files through an engine: what :func:`lessdata.curate` and
:func:`lessdata.build_index` share (see :mod:`lessdata.pipeline.curation` for the plan,
the checkpoints and the memory bound)."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata.data.corpus_pieces import CorpusPiece, count_piece_rows, plan_corpus
from lessdata.data.corpus_rows import (
    EMPTY_DOCUMENT,
    MISSING_TEXT,
    PROBLEMS,
    check_unique_ids,
)
from lessdata.data.corpus_shards import ShardedCorpus, assemble_pieces, read_shard
from lessdata.data.paths import OutputFolder
from lessdata.data.tables import corpus_format
from lessdata.engines.base import Engine
from lessdata.errors import LessdataError
from lessdata.progress import log

#: documents per shard: the unit of work of an engine, and of a checkpoint
SHARD_DOCS = 8_192

#: the problems of a table row that :func:`refuse_unreadable_rows` refuses: what ``score`` and
#: ``prune`` refuse too (an empty or missing text is a row with nothing to compare, not an
#: unreadable one)
UNREADABLE = tuple(p for p in PROBLEMS if p not in (EMPTY_DOCUMENT, MISSING_TEXT))

#: rows a refusal names (the message stays one line)
_SHOWN = 3


def read_options_for(
    data: str | Path, text_column: str | None, id_column: str | None, split: str,
    extensions: tuple[str, ...],
) -> dict[str, Any]:  # fmt: skip
    """The options of :func:`read_corpus` for ``data``, refusing ones that do not apply."""

    fmt = corpus_format(data)
    if fmt != "source" and (split != "file" or extensions != (".py",)):
        raise LessdataError(
            f"`split` and `extensions` apply to a folder of source files, not to {fmt}"
        )
    if fmt == "source":
        if text_column or id_column:
            raise LessdataError("a folder of source files has no text or id column to name")
        return dict(split=split, extensions=extensions)
    return dict(text_column=text_column, id_column=id_column)


@contextlib.contextmanager
def run_folder(engine: Engine, outputs: OutputFolder | None) -> Iterator[Path]:
    """A fresh folder for this run's shard files and signatures, removed afterwards.

    Under the engine's ``work_dir`` when it has one, else beside ``out``, else in the
    system's temporary folder.
    """
    base = engine.work_dir
    if base is None and outputs is not None:
        base = outputs.final.parent
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="curate-run-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_sharded(
    data: str | Path, options: dict[str, Any], engine: Engine, folder: Path, shard_docs: int,
    *, refuse_unreadable: bool = False, name: str | None = None,
) -> ShardedCorpus:  # fmt: skip
    """Read the corpus into shard files through the engine; keep the small columns here.

    With ``refuse_unreadable`` a table row that cannot be read stops the run
    (:func:`refuse_unreadable_rows`; messages call the corpus ``name``, default its path).

    The driver only plans pieces of the input (:func:`~lessdata.data.corpus_pieces.plan_corpus`);
    :func:`read_shard` reads each piece and writes its shard files. Finished pieces are
    checkpointed (keyed by what each piece reads and the options), their shard files kept
    beside the checkpoint, so a rerun after a killed driver reads only the others; the
    engine's run clears both once the run's results are stored.
    """

    fmt = corpus_format(data)
    pieces = plan_pieces(data, options, engine, shard_docs)
    checkpoint = engine.checkpoint("curate-read", _plan_key(pieces), options, shard_docs)
    target = folder if checkpoint is None else checkpoint.folder / "shards"
    target.mkdir(parents=True, exist_ok=True)
    parts = engine.map(
        read_shard, pieces, shared=(str(target), shard_docs), label="reading the corpus",
        checkpoint=checkpoint,
    )  # fmt: skip
    corpus = assemble_pieces(str(data), fmt, parts)
    try:
        if corpus is None:
            raise LessdataError(f"{data}: the corpus holds no documents")
        check_unique_ids(corpus.ids, str(data))
        if refuse_unreadable:
            refuse_unreadable_rows(corpus, name or str(data))
    except LessdataError:
        if checkpoint is not None:  # the input must change: its shards are of no use
            checkpoint.clear()
        raise
    problems = int(corpus.n - corpus.readable.sum())
    log(f"{data}: read {corpus.n} documents, {problems} with problems")
    return corpus


def refuse_unreadable_rows(corpus: ShardedCorpus, name: str) -> None:
    """Refuse a table corpus with a row that cannot be read, naming the rows and why.

    ``dedup`` reads its input as ``score`` and ``prune`` do: a row that is not UTF-8, not
    valid JSON or not a JSON object, whose text is not a string, or that is over the
    per-document limits stops it (``curate`` records such rows under ``read`` and goes on).
    Rows with an empty or missing text are not refused, and a folder of source files is
    never refused: every command skips the files it cannot use there.

    Raises:
        LessdataError: one line naming ``name``, the first rows (numbered from 0, as the
            other refusals number them; for JSONL, non-blank lines) and their problems.
    """
    if corpus.format == "source" or corpus.readable.all():
        return
    bad = pc.fill_null(pc.is_in(corpus.problem, value_set=pa.array(UNREADABLE)), False)
    rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    if len(rows) == 0:
        return
    shown = rows[:_SHOWN].tolist()
    problems = corpus.problem.take(pa.array(shown)).to_pylist()
    ids = corpus.ids.take(pa.array(shown)).to_pylist()
    what = ", ".join(
        f"row {row}{'' if str(rid) == str(row) else f' (id {rid})'}: {problem}"
        for row, rid, problem in zip(shown, ids, problems, strict=True)
    )
    many = len(rows) > 1
    count = f"{len(rows)} rows: " if many else ""
    more = f" and {len(rows) - len(shown)} more" if len(rows) > len(shown) else ""
    raise LessdataError(
        f"{name}: cannot read {count}{what}{more}; fix or drop {'them' if many else 'it'}, or "
        "run `lessdata curate`, which records such rows (removed_by=read) and goes on"
    )


def plan_pieces(
    data: str | Path, options: dict[str, Any], engine: Engine, shard_docs: int
) -> list[CorpusPiece]:
    """The pieces of the corpus to read (by absolute path: workers may run in another
    folder), each with its first row (JSONL pieces are counted by the engine first)."""
    log(f"reading {data} ({corpus_format(data)})")
    pieces = [
        replace(piece, source=str(Path(piece.source).absolute()))
        for piece in plan_corpus(data, piece_rows=shard_docs, **options)
    ]
    return _count_rows(pieces, engine)


def _count_rows(pieces: list[CorpusPiece], engine: Engine) -> list[CorpusPiece]:
    """Pieces with every first row known: JSONL pieces are counted by the engine first."""

    if all(piece.first_row is not None for piece in pieces):
        return pieces
    counts = engine.map(count_piece_rows, pieces, label="counting rows")
    firsts = np.cumsum([0, *counts[:-1]])
    return [replace(piece, first_row=int(f)) for piece, f in zip(pieces, firsts, strict=True)]


def _plan_key(pieces: Sequence[CorpusPiece]) -> str:
    """A hash of every piece's identity (files, sizes, modification times, ranges)."""
    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece.identity().encode("utf-8", "surrogatepass"))
    return h.hexdigest()
