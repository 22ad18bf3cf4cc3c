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

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from lessdata.data.corpus_pieces import check_corpus_options, plan_corpus, rows_of_pieces
from lessdata.data.corpus_rows import (
    CorpusLimits,
    Row,
    check_limits,
    gather_rows,
    repeated_id,
    table_rows,
)
from lessdata.data.tables import corpus_format
from lessdata.errors import LessdataError
from lessdata.progress import log

# The fixed vocabulary of the ``problem`` column.
# --- Public API ---------------------------------------------------------------------------


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
    limits = check_limits(limits)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LessdataError(f"batch_size must be a positive integer, got {batch_size!r}")
    path = Path(source)
    fmt = corpus_format(path)
    check_corpus_options(path, fmt, text_column, id_column, split, extensions)
    if fmt in ("csv", "hf"):
        rows = table_rows(path, fmt, text_column, id_column, limits)
    else:  # the pieces an engine would read, one after another
        pieces = plan_corpus(
            path, text_column=text_column, id_column=id_column, split=split, extensions=extensions
        )
        rows = rows_of_pieces(pieces, limits)
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


# --- Batching -----------------------------------------------------------------------------


def _batches(rows: Iterable[Row], batch_size: int, where: str) -> Iterator[pa.RecordBatch]:
    """Gather rows into record batches; refuse repeated ids; log a one-line summary at the end.

    Only one batch of rows is held at a time (the ids seen are kept, to check uniqueness).
    """
    counts = [0, 0]  # rows, problems
    yield from gather_rows(_unique(rows, where, counts), batch_size)
    log(f"{where}: read {counts[0]} documents, {counts[1]} with problems")


def _unique(rows: Iterable[Row], where: str, counts: list[int]) -> Iterator[Row]:
    """``rows``, refusing an id seen before; counts rows and problems into ``counts``."""
    seen: set[str] = set()
    for row in rows:
        if row[0] in seen:
            repeated_id(where, row[0])
        seen.add(row[0])
        counts[0] += 1
        counts[1] += row[2] is not None
        yield row
