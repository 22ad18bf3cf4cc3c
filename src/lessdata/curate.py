"""Curate a text or code corpus: skip unusable documents, filter by quality, deduplicate.

The stages run in this order, each on the survivors of the one before, and every document
records in the manifest the stage that removed it and why:

``read``
    documents the reader cannot use: unreadable, binary or non-UTF-8 files, empty documents,
    enormous lines, bad JSON lines (:mod:`lessdata.io.corpus`).
``quality``
    StarCoder-style heuristics for code or Gopher-style ones for prose, with configurable
    thresholds (:mod:`lessdata.metrics.quality`); every value is recorded per document.
``exact``
    documents identical after light normalisation (a hash of the text).
``near``
    MinHash + LSH over word 5-grams; documents whose Jaccard similarity reaches the threshold
    are linked, and each connected component keeps one member (BigCode's settings by default:
    5-grams, 256 permutations, Jaccard 0.7).
``semantic``
    SemDeDup on sentence embeddings (the engine's ``semdedup`` metric).

Cheap stages come first, so that the expensive ones see fewer documents. Documents are
read in Arrow batches; the texts that pass the reader are then held in memory (Arrow, not
Python strings) together with one MinHash signature (1 KiB) per document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata._progress import log
from lessdata.api import PruneResult, check_out_folder, check_seed, vectors_of
from lessdata.errors import LessdataError
from lessdata.io.dataset import SOURCE_EXTRAS, Dataset
from lessdata.io.manifest import build_manifest, write_manifest
from lessdata.io.writers import subset_path, write_subset

#: the stages, in the order they run
STAGES = ("read", "quality", "exact", "near", "semantic")
#: the deduplication kinds, in the order they chain
DEDUP_KINDS = ("exact", "near", "semantic")
QUALITY_KINDS = ("code", "prose")
KEEP_RULES = ("first", "longest")


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
        for row, text in zip(rows, texts, strict=True):
            if text not in self.vocabulary:
                self.vocabulary.append(text)
            self.reason[row] = self.vocabulary.index(text)
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

    Example:
        >>> import lessdata
        >>> result = lessdata.curate("src/", dedup=["exact", "near"], quality="code",
        ...                          split="function", out="curated/")  # doctest: +SKIP
    """
    kinds = _check_kinds(dedup, quality)
    near = near or NearOptions()
    _check_options(kinds, quality, keep_rule, near, eps, survivor)
    check_seed(seed)
    rules = _quality_rules(quality, thresholds)
    from lessdata.io.corpus import corpus_format

    empty = Dataset(source=str(data), format=corpus_format(data), ids=pa.array([], pa.string()))
    out_dir = check_out_folder(empty, out)  # before reading: a bad --out costs nothing
    table = _read(data, text_column, id_column, split, tuple(extensions))
    ds = _shell(str(data), table)
    outcome = _Outcome(table.num_rows)
    columns: dict[str, np.ndarray | pa.Array] = {"problem": table["problem"].combine_chunks()}
    for name in SOURCE_EXTRAS if ds.format == "source" else ():
        columns[name] = table[name].combine_chunks()
    texts = table["text"].combine_chunks()
    bad = np.flatnonzero(pc.is_null(texts).to_numpy(zero_copy_only=False))
    outcome.remove(bad, "read", [f"skipped: {p}" for p in columns["problem"].take(bad).to_pylist()])
    if rules is not None:
        columns.update(_quality_stage(texts, outcome, str(quality), rules))
    if "exact" in kinds:
        columns.update(_exact_stage(texts, outcome, keep_rule))
    if "near" in kinds:
        columns.update(_near_stage(texts, outcome, keep_rule, near, seed))
    if "semantic" in kinds:
        columns.update(
            _semantic_stage(ds, texts, outcome, eps, survivor, k, encoder, cache_dir, seed)
        )
    kept = outcome.survivors()
    columns["removed_by"] = pa.DictionaryArray.from_arrays(
        pa.array(outcome.stage.astype(np.int32), mask=outcome.stage < 0), pa.array(list(STAGES))
    )
    settings: dict[str, Any] = dict(
        command="curate", dedup=list(kinds), quality=quality, keep_rule=keep_rule, seed=seed,
        split=split if ds.format == "source" else None, removed=outcome.removed,
        thresholds={n: [r.min, r.max] for n, r in (rules or {}).items()},
    )  # fmt: skip
    if "near" in kinds:
        settings["near"] = near.__dict__
    if "semantic" in kinds:
        settings.update(eps=eps, survivor=survivor, k=k, encoder=encoder)
    manifest = build_manifest(
        ds, columns, metrics=[], kept=kept, reasons=(outcome.reason, outcome.vocabulary),
        settings=settings,
    )  # fmt: skip
    result = CurationResult(manifest=manifest, kept=kept, stages=dict(outcome.removed))
    if out_dir is not None:
        result.paths = _write(ds, manifest, kept, texts, out_dir, report=report)
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
        from lessdata.metrics.semdedup import check_eps

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
    if near.bands is not None and near.rows is not None and (
        near.bands < 1 or near.rows < 1 or near.bands * near.rows > near.num_perm
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
    from lessdata.metrics.quality import rules_for

    return rules_for(quality, thresholds)


# --- reading -----------------------------------------------------------------------------


def _read(
    data: str | Path, text_column: str | None, id_column: str | None, split: str,
    extensions: tuple[str, ...],
) -> pa.Table:  # fmt: skip
    from lessdata.io.corpus import CORPUS_SCHEMA, corpus_format, read_corpus

    fmt = corpus_format(data)
    if fmt != "source" and (split != "file" or extensions != (".py",)):
        raise LessdataError(
            f"--split and --extensions apply to a folder of source files, not to {fmt}"
        )
    options: dict[str, Any] = dict(text_column=text_column, id_column=id_column)
    if fmt == "source":
        options = dict(split=split, extensions=extensions)
        if text_column or id_column:
            raise LessdataError("a folder of source files has no text or id column to name")
    log(f"reading {data} ({fmt})")
    batches = list(read_corpus(data, **options))
    table = pa.Table.from_batches(batches, schema=CORPUS_SCHEMA)
    if table.num_rows == 0:
        raise LessdataError(f"{data}: the corpus holds no documents")
    return table


def _shell(source: str, table: pa.Table) -> Dataset:
    """A :class:`Dataset` over every row read, so the engine's writers and manifest apply."""
    from lessdata.io.corpus import corpus_format

    return Dataset(
        source=source,
        format=corpus_format(source),
        ids=table["id"].combine_chunks(),
        texts=table["text"],
        columns={"text": "text", "id": "id"},
        extras={name: table[name].combine_chunks() for name in SOURCE_EXTRAS},
    )


# --- stages ------------------------------------------------------------------------------


def _quality_stage(
    texts: pa.Array, outcome: _Outcome, kind: str, rules: Any
) -> dict[str, np.ndarray]:
    from lessdata.metrics.quality import failure_reasons, quality_values

    rows = outcome.survivors()
    values = quality_values(texts.take(pa.array(rows)), kind=kind)
    reasons = failure_reasons(values, rules)
    gone = np.array([i for i, reason in enumerate(reasons) if reason is not None], dtype=np.int64)
    outcome.remove(rows[gone], "quality", [reasons[i] for i in gone])
    columns = {}
    for name, local in values.items():
        full = np.full(len(outcome.alive), np.nan)
        full[rows] = local
        columns[f"quality_{name}"] = full
    return columns


def _exact_stage(texts: pa.Array, outcome: _Outcome, keep: str) -> dict[str, np.ndarray]:
    from lessdata.metrics.minhash import exact_duplicates

    rows = outcome.survivors()
    local = exact_duplicates(texts.take(pa.array(rows)), keep=keep)
    duplicate_of = np.full(len(outcome.alive), -1, dtype=np.int64)
    gone = np.flatnonzero(local >= 0)
    duplicate_of[rows[gone]] = rows[local[gone]]
    outcome.remove(
        rows[gone], "exact", "exact duplicate (same normalised text as exact_duplicate_of)"
    )
    return {"exact_duplicate_of": duplicate_of}


def _near_stage(
    texts: pa.Array, outcome: _Outcome, keep: str, near: NearOptions, seed: int
) -> dict[str, np.ndarray]:
    from lessdata.metrics.minhash import near_duplicates

    rows = outcome.survivors()
    found = near_duplicates(
        texts.take(pa.array(rows)), ngram=near.ngram, num_perm=near.num_perm,
        threshold=near.threshold, bands=near.bands, rows=near.rows, verify=near.verify,
        keep=keep, seed=seed,
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
    return {"near_duplicate_of": duplicate_of, "near_cluster": cluster, "near_jaccard": similarity}


def _semantic_stage(
    ds: Dataset, texts: pa.Array, outcome: _Outcome, eps: float, survivor: str,
    k: int | None, encoder: str, cache_dir: Any, seed: int,
) -> dict[str, np.ndarray]:  # fmt: skip
    from lessdata.metrics import ScoreInputs, get_metric
    from lessdata.metrics.kmeans import check_k

    rows = outcome.survivors()
    n = len(outcome.alive)
    if len(rows) < 2:
        return {}
    sub = Dataset(source=ds.source, format="array", ids=ds.ids.take(pa.array(rows)))
    sub.texts = texts.take(pa.array(rows))
    if k is not None:
        check_k(k, len(rows))
    vectors = vectors_of(sub, encoder=encoder, cache_dir=cache_dir, seed=seed)
    found = get_metric("semdedup")(
        ScoreInputs(n=len(rows), vectors=vectors, seed=seed), k=k, eps=eps, survivor=survivor
    )
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
    ds: Dataset, manifest: pa.Table, kept: np.ndarray, texts: pa.Array, out_dir: Path,
    *, report: bool,
) -> dict[str, Path]:  # fmt: skip
    paths: dict[str, Path] = {}
    paths["data"] = write_subset(ds, kept, subset_path(ds, out_dir))
    paths["manifest"] = write_manifest(manifest, out_dir / "manifest.parquet")
    if report:
        from lessdata.report.curation import write_curation_report

        paths.update(
            write_curation_report(manifest, texts, out_dir, title=f"lessdata curate: {ds.source}")
        )
    for name, path in paths.items():
        log(f"wrote {name}: {path}")
    return paths
