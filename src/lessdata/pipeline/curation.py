"""Curate a text or code corpus: skip unusable documents, filter by quality, deduplicate.

The stages run in this order, each on the survivors of the one before, and every document
records in the manifest the stage that removed it and why:

``read``
    documents the reader cannot use: unreadable, binary or non-UTF-8 files, empty documents,
    enormous lines, bad JSON lines (:mod:`lessdata.data.corpus`).
``quality``
    StarCoder-style heuristics for code or Gopher-style ones for prose, with configurable
    thresholds (:mod:`lessdata.filters.quality`); every value is recorded per document.
``exact``
    documents identical after light normalisation (a hash of the text).
``near``
    MinHash + LSH over word 5-grams; documents whose Jaccard similarity reaches the threshold
    are linked, and each connected component keeps one member (BigCode's settings by default:
    5-grams, 256 permutations, Jaccard 0.7).
``semantic``
    SemDeDup on sentence embeddings (the engine's ``semdedup`` metric).

Cheap stages come first, so that the expensive ones see fewer documents.

**Engines and shards.** The per-document work runs through an engine
(:mod:`lessdata.engines`: ``local`` in this process, or ``ray``) over shards of at most
:data:`SHARD_DOCS` documents, reading included. The driver only plans pieces of the input
(:func:`lessdata.data.corpus.plan_corpus`: a source folder's sorted walk cut every few
thousand files or 32 MB of files; a Parquet file's row groups, in runs of at most
``shard_docs`` rows; a JSONL file's byte ranges of about 32 MB, cut after a newline, whose
rows a first engine step counts so that row numbers stay global; a CSV file or Hugging
Face folder is one piece). The ``read_shard`` step reads one piece with the code of
:func:`~lessdata.data.corpus.read_corpus`, writes its rows (the
:data:`~lessdata.data.corpus.CORPUS_SCHEMA` columns) to Parquet shard files of at most
``shard_docs`` rows, and returns the small per-row columns, which the driver joins in piece
order (and checks the ids for repeats). The pieces depend only on the input and
``shard_docs``, never on the engine. The later steps read their shard by path. One step
computes the quality values and the exact hashes of a shard; a second computes the MinHash
signatures of the documents that reach the near stage, written as they arrive into one
memory-mapped ``.npy``; the LSH bands are engine shards over that memory map; ``verify``
computes exact Jaccard similarities in shards of candidate pairs, reading the pairs' texts
from the shard files. Both engines run the same shards, so they give the same manifest.
Finished shards are checkpointed under the engine's ``work_dir`` (``<cache_dir>/work``),
keyed by the shards' content and the options (for the read step: by what each piece reads,
with sizes and modification times, and the options; its shard files are kept beside that
checkpoint), so a run whose driver was killed resumes from them: finished pieces are not
read again, finished shards not recomputed. The checkpoints are removed when the run
succeeds.

**Memory bound.** The texts are never all in memory:

- the driver holds per document only small columns: its id, problem, preview (at most 120
  characters) and, for source folders, path and line span, as Arrow; its length, reason and
  stage (17 bytes); its exact hash (16 bytes); its quality values (8 bytes per rule: 48 for
  code, 160 for prose); the duplicate columns (8 bytes each, 32 for near); and, while
  grouping near duplicates, some tens of bytes per candidate pair and per document. The
  manifest copies these columns once more. Measured on 50k and 200k prose documents of 500
  characters (ids of 12, ``exact`` + ``near``): 0.31 KB per document (0.28 in Arrow, 0.04
  in NumPy and Python) on top of about 50 MB that does not grow with the corpus;
- the driver holds no texts while reading: the plan (for a source folder a path, size and
  time per file) and the small columns as the pieces return them;
- a worker reading a piece holds one shard's texts while writing it (at most
  :data:`SHARD_DOCS` documents, cut earlier after about
  :data:`~lessdata.data.corpus_shards.SHARD_CHARS` characters),
  one batch of the reader (a Parquet batch of 65,536 rows), and the piece's small columns;
  a CSV file, read whole by the reader, is the exception;
- a worker holds one shard: its texts as Arrow, a batch of them as Python strings, and its
  signatures (``SHARD_DOCS`` x ``num_perm`` x 4 bytes = 8 MiB); an LSH band shard holds
  three or four 8-byte arrays over the documents of the near stage;
- the semantic stage is the exception: it gathers the texts of the documents that reach it
  into one Arrow array in the driver, because the encoder needs them (then embeds them in
  engine shards into a memory-mapped cache);
- on disk, in a run folder under the engine's ``work_dir`` (or beside ``out``, or in the
  system's temporary folder) and removed at the end: the shard files (the corpus, Parquet
  with Snappy) and the signatures (``num_perm`` x 4 bytes = 1 KiB per document); under
  ``work_dir``, the checkpoints of finished shards (their results again, until the run
  succeeds). With a ``work_dir`` the shard files live beside the read step's checkpoint
  instead of in the run folder, so they outlive a failed run (for the rerun).

On a Ray cluster of several machines the run folder must be on a file system every node
sees at the same path (set ``cache_dir`` there), as for every file a step reads by path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.checks import check_choice, check_int, check_seed
from lessdata.data.atomic import atomic_path
from lessdata.data.corpus_rows import CORPUS_SCHEMA, SOURCE_EXTRAS
from lessdata.data.corpus_shards import ShardedCorpus
from lessdata.data.dataset import Dataset
from lessdata.data.manifest import build_manifest, write_manifest
from lessdata.data.paths import MANIFEST_NAME, OutputFolder, check_not_input_path
from lessdata.data.tables import corpus_format
from lessdata.data.writers import subset_path, write_subset
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.errors import LessdataError
from lessdata.filters.quality import KINDS as QUALITY_KINDS
from lessdata.filters.quality import rules_for
from lessdata.pipeline.corpus_reading import (
    SHARD_DOCS,
    read_options_for,
    read_sharded,
    run_folder,
)
from lessdata.pipeline.curation_stages import CurationRun
from lessdata.pipeline.indexing import check_references, open_references
from lessdata.pipeline.inputs import EngineLike, run_engine
from lessdata.pipeline.options import dedup_methods, resolve_dedup_options
from lessdata.pipeline.outputs import CurationResult, final_paths, output_folder
from lessdata.progress import honours_quiet


@honours_quiet
def curate(
    data: str | os.PathLike[str],
    *,
    dedup: Sequence[str] = ("exact", "near"),
    dedup_options: dict[str, Any] | None = None,
    quality: str | None = None,
    thresholds: Mapping[str, float | None] | None = None,
    seed: int = 0,
    engine: EngineLike = "local",
    out: str | os.PathLike[str] | None = None,
    encoder: str = DEFAULT_ENCODER,
    cache_dir: str | os.PathLike[str] | None = None,
    report: bool = True,
    against: Sequence[str | os.PathLike[str]] = (),
    text_column: str | None = None,
    id_column: str | None = None,
    split: str = "file",
    extensions: Sequence[str] = (".py",),
    shard_docs: int = SHARD_DOCS,
    quiet: bool = False,
) -> CurationResult:
    """Run the curation stages on a corpus and write what survives.

    Args:
        data: a folder of source files, or a JSONL / Parquet / CSV file or Hugging Face
            dataset folder with a text column.
        dedup: deduplication kinds among ``exact``, ``near``, ``semantic``; they run in
            that order whatever order they are given in.
        dedup_options: their knobs (see :func:`lessdata.dedup`'s ``method_options``):
            ``keep_rule``, ``ngram``, ``num_perm``, ``threshold``, ``bands``, ``rows``,
            ``verify``, ``eps``, ``survivor``, ``k``, ``scope``.
        quality: ``code`` or ``prose`` to filter by quality heuristics; None to skip.
        thresholds: quality bound overrides such as ``{"max_mean_line_length": 120}``;
            None as a value switches a bound off.
        seed: seeds MinHash permutations, k-means and tie-breaking.
        engine: where the per-document work runs: ``local`` (this process), ``ray``, or an
            :class:`~lessdata.engines.Engine`; the manifest is the same on every engine.
        out: folder for ``manifest.parquet``, the kept documents (the input's format; for a
            source folder ``documents.parquet``), ``curation.png`` and ``report.html``.
        encoder: how texts are embedded for the semantic stage.
        cache_dir: where embeddings, checkpoints and shard files are kept.
        report: write ``curation.png`` and ``report.html``.
        against: reference corpora or index folders (``lessdata index build``): each dedup
            stage first removes the documents that duplicate one of theirs (the manifest's
            ``against_source`` and ``against_id`` name it), then deduplicates the rest among
            themselves; the references are never deduplicated themselves.
        text_column, id_column: the columns of a table corpus (default: the usual names).
        split, extensions: for a source folder, one document per file or per top-level
            function/class, and which file suffixes to read.
        shard_docs: documents per shard (the unit of work and of checkpoints).
        quiet: no progress bars or status lines (as ``LESSDATA_QUIET=1`` does).

    Finished shards are checkpointed under ``<cache_dir>/work`` (an :class:`Engine`
    passed in keeps its own ``work_dir``), so a rerun after a killed driver resumes. See the
    module docstring for what is held in memory and on disk.

    Example:
        >>> import lessdata
        >>> result = lessdata.curate("src/", dedup=["exact", "near"], quality="code",
        ...                          split="function", out="curated/")  # doctest: +SKIP
    """
    return run_curation(
        data, dedup=dedup, dedup_options=dedup_options, quality=quality, thresholds=thresholds,
        seed=seed, engine=engine, out=out, encoder=encoder, cache_dir=cache_dir, report=report,
        against=against, text_column=text_column, id_column=id_column, split=split,
        extensions=extensions, shard_docs=shard_docs,
    )  # fmt: skip


def run_curation(
    data: str | os.PathLike[str], *, dedup: Sequence[str],
    dedup_options: dict[str, Any] | None, seed: int, engine: EngineLike,
    out: str | os.PathLike[str] | None, encoder: str, cache_dir: str | os.PathLike[str] | None,
    report: bool, against: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    quality: str | None = None, thresholds: Mapping[str, float | None] | None = None,
    text_column: str | None = None, id_column: str | None = None, split: str = "file",
    extensions: Sequence[str] = (".py",), shard_docs: int = SHARD_DOCS,
    command: str = "curate", name: str | None = None,
) -> CurationResult:  # fmt: skip
    """:func:`curate`'s run (its parameters), which :func:`lessdata.dedup` shares.

    Args:
        command: ``curate``, or ``dedup`` for :func:`lessdata.dedup`'s text methods. The
            manifest's settings and the output folder's marker name it, and as ``dedup`` the
            input is read as ``score`` and ``prune`` read it: a row of a table corpus that
            cannot be read is refused, naming it, where ``curate`` records it under ``read``
            and goes on (see :func:`~lessdata.pipeline.corpus_reading.refuse_unreadable_rows`).
        name: what messages call ``data`` (default: its path), for a stand-in file such as
            the private copy of an in-memory table.
    """
    kinds = dedup_methods(dedup, "dedup", allow_none=True)
    against = [against] if isinstance(against, str | os.PathLike) else list(against)
    if against and not kinds:
        raise LessdataError("`against` needs a dedup kind to compare with", param="against")
    if not kinds and quality is None:
        raise LessdataError(
            "nothing to do: name a dedup kind (`dedup`) or a quality filter (`quality`)"
        )
    check_choice(quality, "quality", QUALITY_KINDS, allow_none=True)
    options = resolve_dedup_options(kinds, dedup_options)
    seed = check_seed(seed)
    check_int(shard_docs, "shard_docs", low=1)
    rules = quality_rules(quality, thresholds)
    empty = Dataset(source=str(data), format=corpus_format(data), ids=pa.array([], pa.string()))
    read_options = read_options_for(data, text_column, id_column, split, tuple(extensions))
    # indexes read and checked (settings, files, their corpus) before anything is written
    checked = check_references(against, options, encoder=encoder, seed=seed, cache_dir=cache_dir)
    with (
        output_folder(
            empty, out, [os.fspath(p) for p in against], command
        ) as outputs,  # before reading: a bad out costs nothing
        run_engine(engine, cache_dir) as running,
        run_folder(running, outputs) as folder,
    ):
        corpus = read_sharded(
            data, read_options, running, folder, shard_docs,
            refuse_unreadable=command == "dedup", name=name,
        )  # fmt: skip
        options.target_size(corpus.n)  # a target larger than the corpus: refused now
        references = []
        if against:
            references = open_references(
                checked, options, encoder=encoder, seed=seed, engine=running,
                cache_dir=cache_dir, folder=folder, read_options=read_options,
            )  # fmt: skip
        run = CurationRun(corpus, running, folder)
        outcome, columns = run.stages(
            options, quality, rules, seed, dict(encoder=encoder, cache_dir=cache_dir),
            references,
        )  # fmt: skip
        settings: dict[str, Any] = dict(
            command=command, dedup=list(kinds), quality=quality, keep_rule=options.keep_rule,
            seed=seed, split=split if corpus.format == "source" else None,
            removed=outcome.removed,
            thresholds={n: [r.min, r.max] for n, r in (rules or {}).items()},
        )  # fmt: skip
        if "near" in kinds:
            settings["near"] = options.near.__dict__
        if "semantic" in kinds:
            settings.update(
                eps=None if options.keep is not None else options.eps,
                survivor=options.survivor, k=options.k, encoder=encoder,
            )  # fmt: skip
            if options.keep is not None:  # the threshold chosen for the target size
                settings.update(keep=options.keep, semantic_threshold=run.threshold)
        if references:
            settings["against"] = [reference.source for reference in references]
        ds = _shell(corpus)
        kept = outcome.survivors()
        manifest = build_manifest(
            ds, columns, metrics=[], kept=kept, reasons=(outcome.reason, outcome.vocabulary),
            settings=settings,
        )  # fmt: skip
        result = CurationResult(manifest=manifest, kept=kept, stages=dict(outcome.removed))
        if outputs is not None:
            result.paths = _write(
                ds, corpus, manifest, kept, outputs, report=report, command=command
            )
        return result


# --- checks ------------------------------------------------------------------------------


def quality_rules(quality: str | None, thresholds: Mapping[str, float | None] | None) -> Any:
    """The rules of quality filter ``quality`` with ``thresholds`` applied (None: no filter);
    thresholds without a filter are refused."""
    if quality is None:
        if thresholds:
            raise LessdataError(
                "quality `thresholds` need a quality filter: `quality` code or prose"
            )
        return None

    return rules_for(quality, thresholds)


def _shell(corpus: ShardedCorpus) -> Dataset:
    """A :class:`Dataset` over every row read (no texts), so the writers and manifest apply."""
    return Dataset(
        source=corpus.source,
        format=corpus.format,
        ids=corpus.ids,
        columns={"text": "text", "id": "id"},
        extras=dict(corpus.extras),
    )


# --- writing -----------------------------------------------------------------------------


def _write(
    ds: Dataset, corpus: ShardedCorpus, manifest: pa.Table, kept: np.ndarray,
    outputs: OutputFolder, *, report: bool, command: str = "curate",
) -> dict[str, Path]:  # fmt: skip
    out_dir = outputs.folder
    paths: dict[str, Path] = {}
    target = subset_path(ds, out_dir)
    if ds.format == "source":
        paths["data"] = _write_documents(corpus, kept, target)
    else:  # the writers stream the kept rows from the input file itself
        paths["data"] = write_subset(ds, kept, target)
    paths["manifest"] = write_manifest(manifest, out_dir / MANIFEST_NAME)
    if report:
        from lessdata.report.curation import write_curation_report

        paths.update(
            write_curation_report(
                manifest, corpus.texts_of, out_dir, title=f"lessdata {command}: {ds.source}"
            )
        )
    return final_paths(outputs, paths)


def _write_documents(corpus: ShardedCorpus, kept: np.ndarray, target: Path) -> Path:
    """A source folder's kept documents (id, path, line span, text) as Parquet, written
    shard by shard from the shard files (the layout of :func:`lessdata.data.writers`)."""

    check_not_input_path(corpus.source, target)
    names = ["id", *SOURCE_EXTRAS, "text"]
    schema = pa.schema([pa.field(name, CORPUS_SCHEMA.field(name).type) for name in names])
    mask = np.zeros(corpus.n, dtype=bool)
    mask[kept] = True
    with (
        atomic_path(target) as tmp,
        pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
    ):
        for shard in corpus.shards:
            part = mask[shard.start : shard.start + shard.rows]
            if part.any():
                table = pq.read_table(shard.path, columns=names).cast(schema)
                writer.write_table(table.filter(pa.array(part)))
    return target
