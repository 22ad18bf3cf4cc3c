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

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata._progress import log
from lessdata.data.corpus_rows import SOURCE_EXTRAS
from lessdata.data.corpus_shards import (
    ShardedCorpus,
    assemble_pieces,
    read_rows,
    read_shard,
    shard_texts,
)
from lessdata.data.dataset import Dataset
from lessdata.data.manifest import build_manifest, write_manifest
from lessdata.data.paths import check_not_input_path
from lessdata.data.writers import subset_path, write_subset
from lessdata.engines import Engine, ShardCheckpoint, running_engine
from lessdata.errors import LessdataError
from lessdata.pipeline.api import PruneResult, check_out_folder, check_seed, vectors_of

if TYPE_CHECKING:
    from lessdata.data.corpus_pieces import CorpusPiece

#: the stages, in the order they run
STAGES = ("read", "quality", "exact", "near", "semantic")
#: the deduplication kinds, in the order they chain
DEDUP_KINDS = ("exact", "near", "semantic")
QUALITY_KINDS = ("code", "prose")
KEEP_RULES = ("first", "longest")
#: documents per shard: the unit of work of an engine, and of a checkpoint
SHARD_DOCS = 8_192
#: candidate pairs per shard of exact Jaccard similarities (``verify``)
VERIFY_PAIRS = 1 << 14


@dataclass(frozen=True)
class NearOptions:
    """MinHash + LSH settings (defaults: BigCode's near-deduplication of The Stack)."""

    ngram: int = 5
    num_perm: int = 256
    threshold: float = 0.7
    bands: int | None = None
    rows: int | None = None
    verify: bool = False


@dataclass
class CurationResult(PruneResult):
    """What :func:`curate` produced; ``stages`` maps each stage run to documents it removed."""

    stages: dict[str, int] = field(default_factory=dict)


class _Outcome:
    """Which stage removed each row, and why (reason strings are dictionary-coded)."""

    def __init__(self, n: int) -> None:
        self.alive = np.ones(n, dtype=bool)
        self.stage = np.full(n, -1, dtype=np.int8)
        self.reason = np.zeros(n, dtype=np.int32)
        self.vocabulary = ["kept"]
        self.removed: dict[str, int] = {}

    def remove(self, rows: np.ndarray, stage: str, reasons: Sequence[str] | str) -> None:
        """Mark ``rows`` as removed by ``stage``, each with its reason."""
        rows = np.asarray(rows, dtype=np.int64)
        texts = [reasons] * len(rows) if isinstance(reasons, str) else list(reasons)
        codes = {text: i for i, text in enumerate(self.vocabulary)}
        for row, text in zip(rows, texts, strict=True):
            if text not in codes:
                codes[text] = len(self.vocabulary)
                self.vocabulary.append(text)
            self.reason[row] = codes[text]
        self.alive[rows] = False
        self.stage[rows] = STAGES.index(stage)
        self.removed[stage] = self.removed.get(stage, 0) + len(rows)
        log(f"{stage}: removed {len(rows)}, {int(self.alive.sum())} remain")

    def survivors(self) -> np.ndarray:
        return np.flatnonzero(self.alive)


def curate(
    data: str | Path,
    *,
    out: str | Path | None = None,
    dedup: Sequence[str] = ("exact", "near"),
    quality: str | None = None,
    thresholds: Mapping[str, float | None] | None = None,
    keep_rule: str = "first",
    near: NearOptions | None = None,
    eps: float = 0.05,
    survivor: str = "hard",
    k: int | None = None,
    encoder: str = "minilm",
    cache_dir: str | Path | None = None,
    seed: int = 0,
    report: bool = True,
    text_column: str | None = None,
    id_column: str | None = None,
    split: str = "file",
    extensions: Sequence[str] = (".py",),
    engine: str | Engine = "local",
    address: str | None = None,
    workers: int | None = None,
    shard_docs: int = SHARD_DOCS,
) -> CurationResult:
    """Run the curation stages on a corpus and write what survives.

    Args:
        data: a folder of source files, or a JSONL / Parquet / CSV file or Hugging Face
            dataset folder with a text column.
        out: folder for ``manifest.parquet``, the kept documents (the input's format; for a
            source folder ``documents.parquet``), ``curation.png`` and ``report.html``.
        dedup: deduplication kinds among ``exact``, ``near``, ``semantic``; they run in
            that order whatever order they are given in.
        quality: ``code`` or ``prose`` to filter by quality heuristics; None to skip.
        thresholds: quality bound overrides such as ``{"max_mean_line_length": 120}``;
            None as a value switches a bound off.
        keep_rule: which member of an exact or near duplicate group stays: ``first`` (lowest
            row, as text-dedup does) or ``longest``.
        near: MinHash + LSH settings (:class:`NearOptions`).
        eps, survivor, k, encoder, cache_dir: the semantic stage (see ``lessdata.dedup``).
        seed: seeds MinHash permutations, k-means and tie-breaking.
        split, extensions: for a source folder, one document per file or per top-level
            function/class, and which file suffixes to read.
        engine: where the per-document work runs: ``local`` (this process), ``ray``, or an
            :class:`~lessdata.engines.Engine`; the manifest is the same on every engine.
        address, workers: join the Ray cluster at ``address``, or start a local one with
            ``workers`` CPUs (``engine="ray"`` only).
        shard_docs: documents per shard (the unit of work and of checkpoints).

    Finished shards are checkpointed under ``<cache_dir>/work`` (an :class:`Engine`
    passed in keeps its own ``work_dir``), so a rerun after a killed driver resumes. See the
    module docstring for what is held in memory and on disk.

    Example:
        >>> import lessdata
        >>> result = lessdata.pipeline.curate("src/", dedup=["exact", "near"], quality="code",
        ...                          split="function", out="curated/")  # doctest: +SKIP
    """
    kinds = _check_kinds(dedup, quality)
    near = near or NearOptions()
    _check_options(kinds, quality, keep_rule, near, eps, survivor)
    check_seed(seed)
    _check_shard_docs(shard_docs)
    rules = _quality_rules(quality, thresholds)
    from lessdata.data.corpus import corpus_format
    from lessdata.embed.cache import default_cache_dir

    empty = Dataset(source=str(data), format=corpus_format(data), ids=pa.array([], pa.string()))
    out_dir = check_out_folder(empty, out)  # before reading: a bad --out costs nothing
    options = _read_options(data, text_column, id_column, split, tuple(extensions))
    work_dir = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "work"
    with (
        running_engine(engine, address=address, workers=workers, work_dir=work_dir) as running,
        _run_folder(running, out_dir) as folder,
    ):
        corpus, read_checkpoint = _read(data, options, running, folder, shard_docs)
        run = _Run(corpus, running, folder)
        if read_checkpoint is not None:  # its shard files serve until the end of the run
            run.checkpoints.append(read_checkpoint)
        outcome, columns = run.stages(
            kinds, quality, rules, keep_rule, near, seed,
            dict(eps=eps, survivor=survivor, k=k, encoder=encoder, cache_dir=cache_dir),
        )  # fmt: skip
        settings: dict[str, Any] = dict(
            command="curate", dedup=list(kinds), quality=quality, keep_rule=keep_rule,
            seed=seed, split=split if corpus.format == "source" else None,
            removed=outcome.removed,
            thresholds={n: [r.min, r.max] for n, r in (rules or {}).items()},
        )  # fmt: skip
        if "near" in kinds:
            settings["near"] = near.__dict__
        if "semantic" in kinds:
            settings.update(eps=eps, survivor=survivor, k=k, encoder=encoder)
        ds = _shell(corpus)
        kept = outcome.survivors()
        manifest = build_manifest(
            ds, columns, metrics=[], kept=kept, reasons=(outcome.reason, outcome.vocabulary),
            settings=settings,
        )  # fmt: skip
        result = CurationResult(manifest=manifest, kept=kept, stages=dict(outcome.removed))
        if out_dir is not None:
            result.paths = _write(ds, corpus, manifest, kept, out_dir, report=report)
        run.clear_checkpoints()
    return result


# --- checks ------------------------------------------------------------------------------


def _check_kinds(dedup: Sequence[str] | str, quality: str | None) -> tuple[str, ...]:
    wanted = [dedup] if isinstance(dedup, str) else list(dedup)
    unknown = [d for d in wanted if d not in DEDUP_KINDS]
    if unknown:
        raise LessdataError(
            f"unknown dedup kind {unknown[0]!r}; choose among {', '.join(DEDUP_KINDS)}"
        )
    if not wanted and quality is None:
        raise LessdataError("nothing to do: name a dedup kind (--dedup near) or --quality code")
    return tuple(d for d in DEDUP_KINDS if d in wanted)


def _check_options(
    kinds: tuple[str, ...], quality: str | None, keep: str, near: NearOptions,
    eps: float, survivor: str,
) -> None:  # fmt: skip
    if quality is not None and quality not in QUALITY_KINDS:
        raise LessdataError(f"--quality must be one of {', '.join(QUALITY_KINDS)}, got {quality!r}")
    if keep not in KEEP_RULES:
        raise LessdataError(f"--keep-rule must be one of {', '.join(KEEP_RULES)}, got {keep!r}")
    if "near" in kinds:
        _check_near(near)
    if "semantic" in kinds:
        from lessdata.duplicates.semdedup import check_eps

        check_eps(eps)
        if survivor not in ("hard", "easy", "random"):
            raise LessdataError(f"--survivor must be hard, easy or random, got {survivor!r}")


def _check_near(near: NearOptions) -> None:
    if near.ngram < 1:
        raise LessdataError(f"--ngram must be at least 1, got {near.ngram}")
    if near.num_perm < 2:
        raise LessdataError(f"--num-perm must be at least 2, got {near.num_perm}")
    if not 0 < near.threshold <= 1:
        raise LessdataError(f"--jaccard must lie in (0, 1], got {near.threshold}")
    if (near.bands is None) != (near.rows is None):
        raise LessdataError("give --bands and --rows together, or neither (then they are tuned)")
    if (
        near.bands is not None
        and near.rows is not None
        and (near.bands < 1 or near.rows < 1 or near.bands * near.rows > near.num_perm)
    ):
        raise LessdataError(
            f"--bands x --rows must be positive and at most --num-perm ({near.num_perm}), "
            f"got {near.bands} x {near.rows}"
        )


def _quality_rules(quality: str | None, thresholds: Mapping[str, float | None] | None) -> Any:
    if quality is None:
        if thresholds:
            raise LessdataError("quality thresholds need --quality code or --quality prose")
        return None
    from lessdata.filters.quality import rules_for

    return rules_for(quality, thresholds)


def _check_shard_docs(shard_docs: int) -> None:
    if isinstance(shard_docs, bool) or not isinstance(shard_docs, int) or shard_docs < 1:
        raise LessdataError(f"shard_docs must be a positive whole number, got {shard_docs!r}")


# --- reading -----------------------------------------------------------------------------


def _read_options(
    data: str | Path, text_column: str | None, id_column: str | None, split: str,
    extensions: tuple[str, ...],
) -> dict[str, Any]:  # fmt: skip
    """The options of :func:`read_corpus` for ``data``, refusing ones that do not apply."""
    from lessdata.data.corpus import corpus_format

    fmt = corpus_format(data)
    if fmt != "source" and (split != "file" or extensions != (".py",)):
        raise LessdataError(
            f"--split and --extensions apply to a folder of source files, not to {fmt}"
        )
    if fmt == "source":
        if text_column or id_column:
            raise LessdataError("a folder of source files has no text or id column to name")
        return dict(split=split, extensions=extensions)
    return dict(text_column=text_column, id_column=id_column)


@contextlib.contextmanager
def _run_folder(engine: Engine, out_dir: Path | None) -> Iterator[Path]:
    """A fresh folder for this run's shard files and signatures, removed afterwards.

    Under the engine's ``work_dir`` when it has one, else beside ``out``, else in the
    system's temporary folder.
    """
    base = engine.work_dir
    if base is None and out_dir is not None:
        base = out_dir.resolve().parent
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="curate-run-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read(
    data: str | Path, options: dict[str, Any], engine: Engine, folder: Path, shard_docs: int
) -> tuple[ShardedCorpus, ShardCheckpoint | None]:
    """Read the corpus into shard files through the engine; keep the small columns here.

    The driver only plans pieces of the input (:func:`~lessdata.data.corpus.plan_corpus`);
    :func:`read_shard` reads each piece and writes its shard files. Finished pieces are
    checkpointed (keyed by what each piece reads and the options), their shard files kept
    beside the checkpoint, so a rerun after a killed driver reads only the others. Returns
    the corpus and that checkpoint (to clear once the run's results are stored).
    """
    from lessdata.data.corpus import corpus_format, plan_corpus
    from lessdata.data.corpus_rows import check_unique_ids

    fmt = corpus_format(data)
    log(f"reading {data} ({fmt})")
    pieces = [  # by absolute path: workers may run in another folder
        replace(piece, source=str(Path(piece.source).absolute()))
        for piece in plan_corpus(data, piece_rows=shard_docs, **options)
    ]
    pieces = _count_rows(pieces, engine)
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
    except LessdataError:
        if checkpoint is not None:  # the input must change: its shards are of no use
            checkpoint.clear()
        raise
    problems = int(corpus.n - corpus.readable.sum())
    log(f"{data}: read {corpus.n} documents, {problems} with problems")
    return corpus, checkpoint


def _count_rows(pieces: list[CorpusPiece], engine: Engine) -> list[CorpusPiece]:
    """Pieces with every first row known: JSONL pieces are counted by the engine first."""
    from lessdata.data.corpus_pieces import count_piece_rows

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


def _shell(corpus: ShardedCorpus) -> Dataset:
    """A :class:`Dataset` over every row read (no texts), so the writers and manifest apply."""
    return Dataset(
        source=corpus.source,
        format=corpus.format,
        ids=corpus.ids,
        columns={"text": "text", "id": "id"},
        extras=dict(corpus.extras),
    )


# --- shard steps (top-level functions: engines run them, on Ray in worker processes) ----


@dataclass
class ShardQuality:
    """What :func:`quality_shard` found in one shard (rows are the shard's own)."""

    values: dict[str, np.ndarray] | None  # per rule, NaN where the text is null
    failed: np.ndarray  # rows that failed a quality rule, ascending
    reasons: list[str]  # the reason of each failed row
    digests: np.ndarray | None  # (rows,) V16 exact hashes of the rows that passed; else 0


def quality_shard(path: str, kind: str | None, rules: Any, hashes: bool) -> ShardQuality:
    """One shard: quality values and failures of its readable texts (with ``kind``), and
    the exact hashes of those that pass (with ``hashes``)."""
    texts = shard_texts(path)
    n = len(texts)
    passed = np.flatnonzero(pc.is_valid(texts).to_numpy(zero_copy_only=False))
    values = None
    failed = np.empty(0, dtype=np.int64)
    reasons: list[str] = []
    if kind is not None:
        from lessdata.filters.quality import failure_reasons, quality_values

        local = quality_values(texts.take(pa.array(passed)), kind=kind)
        why = failure_reasons(local, rules)
        bad = np.array([i for i, reason in enumerate(why) if reason is not None], dtype=np.int64)
        failed, reasons = passed[bad], [str(why[i]) for i in bad]
        values = {}
        for name, column in local.items():
            full = np.full(n, np.nan)
            full[passed] = column
            values[name] = full
        passed = np.delete(passed, bad)
    digests = None
    if hashes:
        from lessdata.duplicates.exact_match import exact_hashes

        digests = np.zeros(n, dtype="V16")
        digests[passed] = exact_hashes(texts.take(pa.array(passed)))
    return ShardQuality(values, failed, reasons, digests)


def minhash_shard(item: tuple[str, np.ndarray], ngram: int, num_perm: int, seed: int) -> np.ndarray:
    """One shard: MinHash signatures (rows, num_perm) of the shard rows ``item[1]``."""
    from lessdata.duplicates.minhash import minhash_signatures

    path, rows = item
    if len(rows) == 0:
        return np.empty((0, num_perm), dtype=np.uint32)
    texts = shard_texts(path).take(pa.array(rows))
    return minhash_signatures(texts, ngram=ngram, num_perm=num_perm, seed=seed)


def jaccard_shard(
    pairs: np.ndarray, paths: Sequence[str], starts: np.ndarray, ngram: int
) -> np.ndarray:
    """One shard of pairs of corpus rows: their exact Jaccard similarity, reading the texts
    of the rows involved from the shard files."""
    from lessdata.duplicates.minhash import pair_jaccard

    rows = np.unique(pairs)
    texts = read_rows(paths, starts, rows)
    return pair_jaccard(texts, np.searchsorted(rows, pairs), ngram=ngram)


# --- stages ------------------------------------------------------------------------------


class _Run:
    """The stages of one curation run over a sharded corpus, through one engine."""

    def __init__(self, corpus: ShardedCorpus, engine: Engine, folder: Path) -> None:
        self.corpus = corpus
        self.engine = engine
        self.folder = folder
        self.checkpoints: list[ShardCheckpoint] = []

    def _checkpoint(self, step: str, *inputs: Any) -> ShardCheckpoint | None:
        """The step's checkpoint, keyed by the corpus content (not the run folder's paths)."""
        found = self.engine.checkpoint(step, self.corpus.fingerprint, *inputs)
        if found is not None:
            self.checkpoints.append(found)
        return found

    def clear_checkpoints(self) -> None:
        """Remove the finished shards: the run's results are stored."""
        for checkpoint in self.checkpoints:
            checkpoint.clear()

    def stages(
        self, kinds: tuple[str, ...], quality: str | None, rules: Any, keep: str,
        near: NearOptions, seed: int, semantic: dict[str, Any],
    ) -> tuple[_Outcome, dict[str, np.ndarray | pa.Array]]:  # fmt: skip
        """Run the stages in order; the outcome per row and the manifest's columns."""
        corpus = self.corpus
        outcome = _Outcome(corpus.n)
        columns: dict[str, np.ndarray | pa.Array] = {"problem": corpus.problem, **corpus.extras}
        bad = np.flatnonzero(~corpus.readable)
        problems = corpus.problem.take(pa.array(bad)).to_pylist()
        outcome.remove(bad, "read", [f"skipped: {p}" for p in problems])
        if rules is not None or "exact" in kinds:
            columns.update(self.quality_and_hashes(outcome, quality, rules, "exact" in kinds, keep))
        if "near" in kinds:
            columns.update(self.near(outcome, keep, near, seed))
        if "semantic" in kinds:
            columns.update(self.semantic(outcome, seed=seed, **semantic))
        columns["removed_by"] = pa.DictionaryArray.from_arrays(
            pa.array(outcome.stage.astype(np.int32), mask=outcome.stage < 0),
            pa.array(list(STAGES)),
        )
        columns["preview"] = corpus.preview  # where build_manifest puts it for other commands
        return outcome, columns

    def quality_and_hashes(
        self, outcome: _Outcome, kind: str | None, rules: Any, exact: bool, keep: str
    ) -> dict[str, np.ndarray]:
        """The quality stage (when ``kind``) and the exact stage (when ``exact``)."""
        corpus = self.corpus
        n = corpus.n
        values: dict[str, np.ndarray] = {}
        digests = np.zeros(n, dtype="V16") if exact else None
        failed: list[np.ndarray] = []
        reasons: dict[int, str] = {}
        label = " and ".join(["quality"] * bool(kind) + ["exact hashes"] * exact)
        results = self.engine.imap(
            quality_shard, corpus.paths, shared=(kind, rules, exact), label=label,
            checkpoint=self._checkpoint("curate-quality", kind, rules, exact),
        )  # fmt: skip
        for index, found in results:
            start = corpus.shards[index].start
            stop = start + corpus.shards[index].rows
            for name, column in (found.values or {}).items():
                values.setdefault(name, np.full(n, np.nan))[start:stop] = column
            failed.append(found.failed + start)
            reasons.update(zip((found.failed + start).tolist(), found.reasons, strict=True))
            if digests is not None and found.digests is not None:
                digests[start:stop] = found.digests
        columns: dict[str, np.ndarray] = {}
        if kind is not None:
            gone = np.sort(np.concatenate(failed)) if failed else np.empty(0, np.int64)
            outcome.remove(gone, "quality", [reasons[int(row)] for row in gone])
            columns.update({f"quality_{name}": column for name, column in values.items()})
        if digests is not None:
            columns.update(self._exact(outcome, digests, keep))
        return columns

    def _exact(self, outcome: _Outcome, digests: np.ndarray, keep: str) -> dict[str, np.ndarray]:
        from lessdata.duplicates.exact_match import exact_duplicates_from_hashes

        rows = outcome.survivors()
        lengths = self.corpus.lengths[rows] if keep == "longest" else None
        local = exact_duplicates_from_hashes(digests[rows], keep=keep, lengths=lengths)
        duplicate_of = np.full(len(outcome.alive), -1, dtype=np.int64)
        gone = np.flatnonzero(local >= 0)
        duplicate_of[rows[gone]] = rows[local[gone]]
        outcome.remove(
            rows[gone], "exact", "exact duplicate (same normalised text as exact_duplicate_of)"
        )
        return {"exact_duplicate_of": duplicate_of}

    def signatures(self, rows: np.ndarray, near: NearOptions, seed: int) -> np.ndarray:
        """MinHash signatures of the sorted corpus ``rows``, as a read-only memory map."""
        corpus = self.corpus
        starts = corpus.starts
        bounds = np.searchsorted(rows, starts)
        items = [
            (shard.path, (rows[bounds[i] : bounds[i + 1]] - shard.start).astype(np.int32))
            for i, shard in enumerate(corpus.shards)
        ]
        path = self.folder / "signatures.npy"
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.uint32, shape=(len(rows), near.num_perm)
        )
        results = self.engine.imap(
            minhash_shard, items, shared=(near.ngram, near.num_perm, seed),
            label="minhash signatures",
            checkpoint=self._checkpoint("curate-minhash", rows, near.ngram, near.num_perm, seed),
        )  # fmt: skip
        for index, block in results:
            out[bounds[index] : bounds[index] + len(block)] = block
        out.flush()
        del out
        return np.load(path, mmap_mode="r")

    def _verifier(self, rows: np.ndarray, ngram: int) -> Callable[[np.ndarray], np.ndarray]:
        """Exact Jaccard of pairs of the near stage's ``rows``, in engine shards of
        :data:`VERIFY_PAIRS` pairs that read their texts from the shard files."""
        corpus, engine = self.corpus, self.engine

        def exact(pairs: np.ndarray) -> np.ndarray:
            blocks = [rows[pairs[i : i + VERIFY_PAIRS]] for i in range(0, len(pairs), VERIFY_PAIRS)]
            sims = engine.map(
                jaccard_shard, blocks, shared=(corpus.paths, corpus.starts, ngram),
                label="exact Jaccard of pairs",
            )  # fmt: skip
            return np.concatenate([np.empty(0), *sims])

        return exact

    def near(
        self, outcome: _Outcome, keep: str, near: NearOptions, seed: int
    ) -> dict[str, np.ndarray]:
        """The near stage: signatures by shard, LSH bands by shard, components here."""
        from lessdata.duplicates.lsh import near_duplicates_from_signatures

        rows = outcome.survivors()
        signatures = self.signatures(rows, near, seed)
        exact = self._verifier(rows, near.ngram) if near.verify else None
        found = near_duplicates_from_signatures(
            signatures, threshold=near.threshold, bands=near.bands, rows=near.rows, keep=keep,
            lengths=self.corpus.lengths[rows] if keep == "longest" else None,
            exact_jaccard=exact, engine=self.engine,
        )  # fmt: skip
        n = len(outcome.alive)
        duplicate_of = np.full(n, -1, dtype=np.int64)
        cluster = np.full(n, -1, dtype=np.int64)
        similarity = np.full(n, np.nan)
        gone = np.flatnonzero(found.duplicate_of >= 0)
        duplicate_of[rows[gone]] = rows[found.duplicate_of[gone]]
        cluster[rows] = found.cluster
        similarity[rows[gone]] = found.similarity[gone]
        how = "exact" if near.verify else "estimated"
        outcome.remove(
            rows[gone], "near",
            f"near duplicate ({how} Jaccard >= {near.threshold:g} with near_duplicate_of)",
        )  # fmt: skip
        return {
            "near_duplicate_of": duplicate_of,
            "near_cluster": cluster,
            "near_jaccard": similarity,
        }

    def semantic(
        self, outcome: _Outcome, *, eps: float, survivor: str, k: int | None, encoder: str,
        cache_dir: Any, seed: int,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """SemDeDup of the survivors; their texts are gathered here for the encoder."""
        from lessdata.kmeans import check_k
        from lessdata.metrics import ScoreInputs, get_metric

        rows = outcome.survivors()
        n = len(outcome.alive)
        if len(rows) < 2:
            return {}
        corpus = self.corpus
        sub = Dataset(source=corpus.source, format="array", ids=corpus.ids.take(pa.array(rows)))
        if k is not None:
            check_k(k, len(rows))
        sub.texts = corpus.gather(rows)
        vectors = vectors_of(
            sub, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=self.engine
        )
        del sub
        found = get_metric("semdedup")(
            ScoreInputs(n=len(rows), vectors=vectors, seed=seed, engine=self.engine),
            k=k, eps=eps, survivor=survivor,
        )  # fmt: skip
        columns: dict[str, np.ndarray] = {}
        for name, local in found.items():
            if name.endswith("_duplicate_of"):
                full = np.full(n, -1, dtype=np.int64)
                hit = local >= 0
                full[rows[hit]] = rows[local[hit]]
            else:
                full = np.full(n, -1 if np.issubdtype(local.dtype, np.integer) else np.nan)
                full = full.astype(local.dtype)
                full[rows] = local
            columns[name] = full
        gone = rows[found["semdedup_duplicate_of"] >= 0]
        outcome.remove(
            gone, "semantic",
            f"semantic duplicate (cosine similarity above {1 - eps:g} to semdedup_duplicate_of)",
        )  # fmt: skip
        return columns


# --- writing -----------------------------------------------------------------------------


def _write(
    ds: Dataset, corpus: ShardedCorpus, manifest: pa.Table, kept: np.ndarray, out_dir: Path,
    *, report: bool,
) -> dict[str, Path]:  # fmt: skip
    paths: dict[str, Path] = {}
    target = subset_path(ds, out_dir)
    if ds.format == "source":
        paths["data"] = _write_documents(corpus, kept, target)
    else:  # the writers stream the kept rows from the input file itself
        paths["data"] = write_subset(ds, kept, target)
    paths["manifest"] = write_manifest(manifest, out_dir / "manifest.parquet")
    if report:
        from lessdata.report.curation import write_curation_report

        paths.update(
            write_curation_report(
                manifest, corpus.texts_of, out_dir, title=f"lessdata curate: {ds.source}"
            )
        )
    for name, path in paths.items():
        log(f"wrote {name}: {path}")
    return paths


def _write_documents(corpus: ShardedCorpus, kept: np.ndarray, target: Path) -> Path:
    """A source folder's kept documents (id, path, line span, text) as Parquet, written
    shard by shard from the shard files (the layout of :func:`lessdata.data.writers`)."""
    from lessdata.data.atomic import atomic_path
    from lessdata.data.corpus_rows import CORPUS_SCHEMA

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
