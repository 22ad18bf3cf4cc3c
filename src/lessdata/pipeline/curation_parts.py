"""``curate --parts``: quality filters, exact and near dedup with no per-document state on
the driver.

:func:`lessdata.curate` keeps ~0.3 KB per document on the driver (ids, previews, hashes,
quality values, outcomes) and writes the kept documents into one file. Here every
per-document value stays in files written by the workers, and the driver holds only the
plan: the pieces, the shard files and per-shard counts. The steps, each an engine map:

1. **read**: each piece of the input into Parquet shard files (as ``curate`` reads them;
   checkpointed, so a rerun reads only the pieces not finished);
2. **ids**: each shard scatters its ids' hashes to ``partitions`` partitions; each
   partition finds repeated ids (checked against the ids themselves), and the driver
   refuses the input naming the earliest repeat, as ``curate`` does;
3. **profile**: each shard computes its quality values and failures and the exact hashes
   of the documents that pass, saves them, and scatters the hashes by partition;
4. **exact**: each partition groups equal hashes and picks the kept document of each group
   by the keep rule (lowest row, or longest then lowest row); results go back by row shard;
5. **near**: MinHash + LSH and connected components, every step sharded
   (:mod:`lessdata.pipeline.curation_near_parts`);
6. **write**: each shard writes its manifest part (the columns of ``curate``'s manifest)
   and its kept documents as a Parquet part; ``merge=True`` then streams the parts into one
   ``documents.parquet``.

The kept ids are those of ``curate`` with the same options (tested); the manifest parts
hold the same values (reasons as strings: each part has its own dictionary). Semantic
dedup of texts (their embeddings), ``verify`` (exact Jaccard from the texts) and
``against`` run in :func:`lessdata.curate`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata._version import __version__
from lessdata.checks import check_bool, check_choice, check_int, check_seed
from lessdata.data.atomic import atomic_path
from lessdata.data.corpus_rows import SOURCE_EXTRAS, repeated_id
from lessdata.data.corpus_shards import ShardFile, read_shard
from lessdata.data.manifest import CURATION_STAGES, META_KEY, PREVIEW_CHARS
from lessdata.data.manifest_parts import iter_parts, list_parts, write_part
from lessdata.data.partitioned import read_partition, write_partitioned
from lessdata.data.paths import OutputFolder
from lessdata.data.standard_json import dumps_standard
from lessdata.data.tables import corpus_format
from lessdata.duplicates.groups import survivor_rank
from lessdata.engines import Engine, ShardCheckpoint
from lessdata.engines.base import fingerprint
from lessdata.errors import LessdataError
from lessdata.filters.quality import KINDS as QUALITY_KINDS
from lessdata.pipeline.corpus_reading import SHARD_DOCS, plan_pieces, read_options_for
from lessdata.pipeline.curation import quality_rules
from lessdata.pipeline.curation_near_parts import NearPlan, near_stage
from lessdata.pipeline.curation_stages import quality_shard
from lessdata.pipeline.inputs import EngineLike, run_engine
from lessdata.pipeline.options import dedup_methods, resolve_dedup_options
from lessdata.pipeline.sharded import MANIFEST_FOLDER, PartsResult, work_folder
from lessdata.progress import honours_quiet, log

#: the dedup kinds parts mode runs
PARTS_DEDUP = ("exact", "near")
#: the folder of kept-document parts inside the output folder
DOCUMENTS_FOLDER = "documents"
#: partitions of the id check and the exact grouping (default: one per 16 shards, ≥ 1)
SHARDS_PER_PARTITION = 16
_EXACT_REASON = "exact duplicate (same normalised text as exact_duplicate_of)"


@dataclass(frozen=True)
class Shard:
    """One shard file of the corpus, with its place: index, first row, rows."""

    path: str
    index: int
    start: int
    rows: int


def read_piece_files(piece: Any, folder: str, shard_docs: int) -> list[ShardFile]:
    """Read one piece into shard files (:func:`~lessdata.data.corpus_shards.read_shard`);
    return only the files (their starts within the piece), not the per-row columns."""
    return read_shard(piece, folder, shard_docs).shards


def _id_hashes(ids: pa.Array) -> np.ndarray:
    digests = b"".join(
        hashlib.blake2b(str(i).encode("utf-8", "surrogatepass"), digest_size=8).digest()
        for i in ids.to_pylist()
    )
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def scatter_ids(shard: Shard, folder: str, partitions: int) -> int:
    """Step 2a: the shard's id hashes and rows, by partition (hash mod partitions)."""
    ids = pq.read_table(shard.path, columns=["id"])["id"].combine_chunks()
    hashes = _id_hashes(ids)
    rows = np.arange(shard.start, shard.start + shard.rows, dtype=np.int64)
    write_partitioned(folder, "ids", shard.index, hashes % np.uint64(partitions), partitions,
                      hash=hashes, row=rows)  # fmt: skip
    return shard.rows


def read_ids(shards: Sequence[Shard], rows: np.ndarray) -> list[str]:
    """The ids of corpus ``rows`` (ascending), read from the shard files."""
    starts = np.array([s.start for s in shards], dtype=np.int64)
    out: list[str] = []
    owner = np.searchsorted(starts, rows, side="right") - 1
    for index in np.unique(owner):
        mine = rows[owner == index] - shards[index].start
        ids = pq.read_table(shards[index].path, columns=["id"])["id"]
        out += ids.take(pa.array(mine)).to_pylist()
    return out


def repeated_ids(partition: int, folder: str, shards: Sequence[Shard]) -> int:
    """Step 2b: the earliest row of this partition whose id an earlier row has (-1: none)."""
    found = read_partition(folder, "ids", range(len(shards)), partition, ["hash", "row"])
    hashes, rows = found["hash"], found["row"]
    order = np.lexsort((rows, hashes))
    same = hashes[order][1:] == hashes[order][:-1]
    if not same.any():
        return -1
    suspects = np.unique(np.concatenate([order[1:][same], order[:-1][same]]))
    rows_in = np.sort(rows[suspects])
    ids = read_ids(shards, rows_in)
    first: dict[str, int] = {}
    earliest = -1
    for row, rid in zip(rows_in.tolist(), ids, strict=True):
        if rid in first and (earliest < 0 or row < earliest):
            earliest = row
        first.setdefault(rid, row)
    return earliest


@dataclass(frozen=True)
class ProfileSettings:
    """What the profile step computes: the quality kind and rules, exact hashes or not."""

    kind: str | None
    rules: Any
    exact: bool
    partitions: int
    folder: str


def profile_shard(shard: Shard, settings: ProfileSettings) -> dict[str, int]:
    """Step 3: quality values and failures, exact hashes of the documents that pass
    (scattered by partition), saved in the work folder; returns the shard's counts."""
    found = quality_shard(shard.path, settings.kind, settings.rules, settings.exact)
    table = pq.read_table(shard.path, columns=["text"])
    texts = table["text"].combine_chunks()
    readable = pc.is_valid(texts).to_numpy(zero_copy_only=False)
    lengths = np.asarray(pc.fill_null(pc.utf8_length(texts), 0).to_numpy(), dtype=np.int64)
    failed = np.zeros(shard.rows, dtype=bool)
    failed[found.failed] = True
    values = found.values or {}
    path = Path(settings.folder) / f"profile-{shard.index:06d}.npz"
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, failed=found.failed, reasons=np.array(found.reasons, dtype=str),
                 **{f"quality_{k}": v for k, v in values.items()})  # fmt: skip
    if settings.exact:
        alive = np.flatnonzero(readable & ~failed)
        words = found.digests[alive].view(np.uint64).reshape(-1, 2)  # type: ignore[index]
        write_partitioned(
            settings.folder, "exact", shard.index, words[:, 0] % np.uint64(settings.partitions),
            settings.partitions, hi=words[:, 0], lo=words[:, 1], row=alive + shard.start,
            length=lengths[alive],
        )  # fmt: skip
    return {"read": int((~readable).sum()), "quality": int(failed.sum())}


def exact_partition(partition: int, folder: str, shards: int, keep: str, starts: np.ndarray) -> int:
    """Step 4: equal hashes of one partition grouped; each duplicate and its kept row,
    written back by row shard (``starts``: each shard's first row, then N)."""
    found = read_partition(folder, "exact", range(shards), partition, ["hi", "lo", "row", "length"])
    hi, lo, rows = found["hi"], found["lo"], found["row"]
    rank = survivor_rank(len(rows), keep, found["length"] if keep == "longest" else None)
    order = np.lexsort((rows, rank, lo, hi))
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (hi[order][1:] != hi[order][:-1]) | (lo[order][1:] != lo[order][:-1])
    keeper = order[np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))]
    dup = order[~first]
    duplicate, kept_row = rows[dup], rows[keeper[~first]]
    owner = np.searchsorted(starts, duplicate, side="right") - 1
    write_partitioned(folder, "exactres", partition, owner, len(starts) - 1,
                      row=duplicate, keeper=kept_row)  # fmt: skip
    return len(duplicate)


@dataclass(frozen=True)
class WriteSettings:
    """How the write step builds its parts."""

    folder: str
    exact: bool
    near: float | None  # the near stage's threshold (None: no near stage)
    near_offsets: np.ndarray  # each near keeper task's first component number
    partitions: int
    source_format: bool
    manifest: str
    documents: str
    key: str
    count: int
    metadata: bytes


def write_shard(shard: Shard, settings: WriteSettings, shards: Sequence[Shard]) -> dict[str, int]:
    """Step 5: the shard's manifest part and its kept documents; returns its counts."""
    table = pq.read_table(shard.path)
    texts = table["text"].combine_chunks()
    n = shard.rows
    with np.load(Path(settings.folder) / f"profile-{shard.index:06d}.npz") as saved:
        failed, reasons = saved["failed"], saved["reasons"].tolist()
        quality = {k: saved[k] for k in saved.files if k.startswith("quality_")}
    stage = np.full(n, -1, dtype=np.int32)
    reason = np.array(["kept"] * n, dtype=object)
    unreadable = np.flatnonzero(~pc.is_valid(texts).to_numpy(zero_copy_only=False))
    problems = table["problem"].combine_chunks().take(pa.array(unreadable)).to_pylist()
    stage[unreadable] = CURATION_STAGES.index("read")
    reason[unreadable] = [f"skipped: {p}" for p in problems]
    stage[failed] = CURATION_STAGES.index("quality")
    reason[failed] = reasons
    columns: dict[str, pa.Array] = {
        "id": table["id"].combine_chunks(),
        "problem": table["problem"].combine_chunks(),
    }
    if settings.source_format:
        columns.update({name: table[name].combine_chunks() for name in SOURCE_EXTRAS})
    columns.update({k: pa.array(v) for k, v in quality.items()})
    if settings.exact:
        found = read_partition(settings.folder, "exactres", range(settings.partitions),
                               shard.index, ["row", "keeper"])  # fmt: skip
        local = found["row"] - shard.start
        order = np.argsort(found["keeper"])
        keeper_ids = np.empty(len(local), dtype=object)
        keeper_ids[order] = read_ids(shards, found["keeper"][order])
        duplicate_of = np.full(n, None, dtype=object)
        duplicate_of[local] = keeper_ids
        stage[local] = CURATION_STAGES.index("exact")
        reason[local] = _EXACT_REASON
        columns["exact_duplicate_of"] = pa.array(duplicate_of.tolist(), pa.string())
    near = 0
    if settings.near is not None:
        near = _near_columns(shard, settings, shards, columns, stage, reason)
    columns["removed_by"] = pa.DictionaryArray.from_arrays(
        pa.array(stage, mask=stage < 0), pa.array(list(CURATION_STAGES))
    )
    columns["preview"] = pc.utf8_slice_codeunits(texts, 0, PREVIEW_CHARS)
    kept = stage < 0
    columns["kept"] = pa.array(kept)
    columns["reason"] = pc.dictionary_encode(pa.array(reason.tolist(), pa.string()))
    manifest = pa.table(columns).replace_schema_metadata({META_KEY: settings.metadata})
    write_part(settings.manifest, settings.key, shard.index, settings.count, manifest)
    names = ["id", *(SOURCE_EXTRAS if settings.source_format else ()), "text"]
    schema = pa.schema([pa.field(name, table.schema.field(name).type) for name in names])
    documents = table.select(names).filter(pa.array(kept)).cast(schema)  # as curate writes
    write_part(settings.documents, settings.key, shard.index, settings.count, documents)
    return {"kept": int(kept.sum()), "exact": len(local) if settings.exact else 0, "near": near}


def _near_columns(
    shard: Shard, settings: WriteSettings, shards: Sequence[Shard], columns: dict[str, pa.Array],
    stage: np.ndarray, reason: np.ndarray,
) -> int:  # fmt: skip
    """The near stage's columns of one shard (as ``curate`` names them); marks its removed
    rows in ``stage`` and ``reason``; returns their number."""
    n = shard.rows
    names = ["row", "duplicate_of", "number", "similarity", "group"]
    found = read_partition(settings.folder, "near-result", range(settings.partitions),
                           shard.index, names)  # fmt: skip
    local = found["row"].astype(np.int64) - shard.start
    cluster = np.full(n, -1, dtype=np.int64)
    cluster[local] = settings.near_offsets[found["group"].astype(np.int64)] + found["number"]
    jaccard = np.full(n, np.nan)
    jaccard[local] = found["similarity"]
    gone = found["duplicate_of"] >= 0
    keepers = found["duplicate_of"][gone].astype(np.int64)
    order = np.argsort(keepers)
    keeper_ids = np.empty(len(keepers), dtype=object)
    keeper_ids[order] = read_ids(shards, keepers[order])
    duplicate_of = np.full(n, None, dtype=object)
    duplicate_of[local[gone]] = keeper_ids
    stage[local[gone]] = CURATION_STAGES.index("near")
    reason[local[gone]] = (
        f"near duplicate (estimated Jaccard >= {settings.near:g} with near_duplicate_of)"
    )
    columns["near_duplicate_of"] = pa.array(duplicate_of.tolist(), pa.string())
    columns["near_cluster"] = pa.array(cluster)
    columns["near_jaccard"] = pa.array(jaccard)
    return int(gone.sum())


def _check(dedup: Sequence[str] | str, dedup_options: dict[str, Any] | None,
           quality: str | None, thresholds: Any) -> tuple[tuple[str, ...], str, Any]:  # fmt: skip
    kinds = dedup_methods(dedup, "dedup", allow_none=True)
    extra = [kind for kind in kinds if kind not in PARTS_DEDUP]
    if extra:
        raise LessdataError(
            "parts mode runs the quality filters and exact and near dedup; semantic dedup "
            "of texts needs their embeddings in one place: leave out `parts`, or ask for "
            "`dedup` exact and near",
            param="dedup",
        )
    if not kinds and quality is None:
        raise LessdataError(
            "nothing to do: name a dedup kind (`dedup`) or a quality filter (`quality`)"
        )
    check_choice(quality, "quality", QUALITY_KINDS, allow_none=True)
    options = resolve_dedup_options(kinds, dedup_options)
    if "near" in kinds and options.near.verify:
        raise LessdataError(
            "parts mode estimates Jaccard from the signatures; `verify` (exact Jaccard from "
            "the texts) runs without `parts`",
            param="verify",
        )
    return kinds, options, quality_rules(quality, thresholds)


@honours_quiet
def curate_parts(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    dedup: Sequence[str] | str = ("exact", "near"),
    dedup_options: dict[str, Any] | None = None,
    quality: str | None = None,
    thresholds: Mapping[str, float | None] | None = None,
    seed: int = 0,
    engine: EngineLike = "local",
    cache_dir: str | os.PathLike[str] | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    split: str = "file",
    extensions: Sequence[str] = (".py",),
    shard_docs: int = SHARD_DOCS,
    merge: bool = False,
    quiet: bool = False,
) -> PartsResult:
    """Quality-filter and deduplicate a corpus with the driver out of the O(N) path.

    The same kept documents and manifest values as :func:`lessdata.curate` with the same
    options (see the module docstring for the steps).

    Args:
        data: a folder of source files, or a JSONL / Parquet / CSV file or Hugging Face
            dataset folder with a text column.
        out: a folder for ``manifest/`` (the manifest parts) and ``documents/`` (the kept
            documents, as Parquet parts of ``id``, for source folders ``path``,
            ``start_line``, ``end_line``, and ``text``).
        dedup: ``exact``, ``near`` (both by default) or nothing; ``semantic`` runs in
            :func:`lessdata.curate`.
        dedup_options: ``keep_rule`` (``first`` or ``longest``); for near: ``ngram``,
            ``num_perm``, ``threshold``, ``bands``, ``rows`` (not ``verify``).
        quality: ``code`` or ``prose``; None to skip.
        thresholds: quality bound overrides, as for :func:`lessdata.curate`.
        seed: seeds the MinHash permutations.
        engine: ``local``, ``ray`` or an engine object.
        cache_dir: where checkpoints and the run's work files are kept.
        text_column, id_column, split, extensions: how to read ``data``.
        shard_docs: documents per shard (and per part).
        merge: also stream the document parts into one ``documents.parquet``.
        quiet: no progress bars or status lines.

    Returns:
        A :class:`~lessdata.pipeline.sharded.PartsResult`.

    Example:
        >>> lessdata.curate_parts("src/", "curated/", quality="code")  # doctest: +SKIP
    """
    kinds, options, rules = _check(dedup, dedup_options, quality, thresholds)
    keep_rule = options.keep_rule
    seed = check_seed(seed)
    check_int(shard_docs, "shard_docs", low=1)
    check_bool(merge, "merge")
    read_options = read_options_for(data, text_column, id_column, split, tuple(extensions))
    fmt = corpus_format(data)
    with (
        OutputFolder(out, [os.fspath(data)], command="curate") as folder,
        run_engine(engine, cache_dir) as running,
    ):
        pieces = plan_pieces(data, read_options, running, shard_docs)
        read = running.checkpoint("curate-parts-read", [p.identity() for p in pieces],
                                  read_options, shard_docs)  # fmt: skip
        near_key = options.near.__dict__ if "near" in kinds else None
        with work_folder(running, "curate-parts", [p.identity() for p in pieces], read_options,
                         shard_docs, quality, rules, kinds, keep_rule, seed,
                         near_key) as work:  # fmt: skip
            target = (read.folder if read is not None else work.folder) / "shards"
            target.mkdir(parents=True, exist_ok=True)
            files = running.map(read_piece_files, pieces, shared=(str(target), shard_docs),
                                label="reading the corpus", checkpoint=read)  # fmt: skip
            shards = _number(files)
            n = shards[-1].start + shards[-1].rows if shards else 0
            if n == 0:
                raise LessdataError(f"{data}: the corpus holds no documents")
            partitions = max(1, len(shards) // SHARDS_PER_PARTITION)
            where = str(work.folder)
            try:
                _check_ids(running, shards, where, partitions, str(data))
            except LessdataError:  # the input must change: its shards are of no use
                for made in (read, work):
                    if made is not None:
                        made.clear()
                raise
            profile = ProfileSettings(quality, rules, "exact" in kinds, partitions, where)
            counts = running.map(profile_shard, shards, shared=(profile,),
                                 label="quality and exact hashes",
                                 checkpoint=ShardCheckpoint(work.folder / "profile"))  # fmt: skip
            removed = {"read": sum(c["read"] for c in counts)}
            if quality is not None:
                removed["quality"] = sum(c["quality"] for c in counts)
            starts = np.array([s.start for s in shards] + [n], dtype=np.int64)
            if "exact" in kinds:
                running.map(exact_partition, list(range(partitions)),
                            shared=(where, len(shards), keep_rule, starts),
                            label="exact groups")  # fmt: skip
            near_offsets = np.zeros(partitions, dtype=np.int64)
            if "near" in kinds:
                bands, band_rows = options.near.banding()
                plan = NearPlan(
                    where, starts, tuple(s.path for s in shards), partitions,
                    options.near.ngram, options.near.num_perm, seed, bands, band_rows,
                    options.near.threshold, keep_rule, partitions * ("exact" in kinds),
                )  # fmt: skip
                near_offsets = near_stage(running, plan, ShardCheckpoint(work.folder / "near"))
            settings = dict(command="curate", dedup=list(kinds), quality=quality,
                            keep_rule=keep_rule, seed=seed, parts=True,
                            split=split if fmt == "source" else None,
                            thresholds={k: [r.min, r.max]
                                        for k, r in (rules or {}).items()})  # fmt: skip
            if "near" in kinds:
                settings["near"] = options.near.__dict__
            manifest, documents = folder.path(MANIFEST_FOLDER), folder.path(DOCUMENTS_FOLDER)
            manifest.mkdir()
            documents.mkdir()
            key = fingerprint("curate-parts", settings, [p.identity() for p in pieces], shard_docs)
            meta = {"version": __version__, "input": str(data), "format": fmt, "metrics": []}
            metadata = dumps_standard({**meta, **settings}, default=str).encode()
            threshold = options.near.threshold if "near" in kinds else None
            write = WriteSettings(where, "exact" in kinds, threshold, near_offsets, partitions,
                                  fmt == "source",
                                  str(manifest), str(documents), key, len(shards),
                                  metadata)  # fmt: skip
            written = running.map(write_shard, shards, shared=(write, shards),
                                  label="writing manifest and document parts")  # fmt: skip
            for kind in ("exact", "near"):
                if kind in kinds:
                    removed[kind] = sum(w[kind] for w in written)
            n_kept = sum(w["kept"] for w in written)
            paths = {"manifest": manifest, "documents": documents}
            if merge:
                paths["data"] = _merge(documents, folder.path("documents.parquet"))
        final = {name: folder.final_path(path) for name, path in paths.items()}
    for stage, count in removed.items():
        log(f"{stage}: removed {count}")
    for name, path in final.items():
        log(f"writing {name}: {path}")
    return PartsResult(final["manifest"], n=n, n_kept=n_kept, paths=final, stages=removed)


def _number(files: list[list[ShardFile]]) -> list[Shard]:
    """Every shard file, in piece order, with its index and first row in the corpus."""
    shards: list[Shard] = []
    n = 0
    for piece in files:
        for shard in piece:
            shards.append(Shard(shard.path, len(shards), n, shard.rows))
            n += shard.rows
    return shards


def _check_ids(engine: Engine, shards: list[Shard], folder: str, partitions: int,
               source: str) -> None:  # fmt: skip
    """Refuse repeated ids, naming the earliest row whose id an earlier row has."""
    engine.map(scatter_ids, shards, shared=(folder, partitions), label="ids")
    found = engine.map(repeated_ids, list(range(partitions)), shared=(folder, shards),
                       label="id check")  # fmt: skip
    repeats = [row for row in found if row >= 0]
    if repeats:
        repeated_id(source, read_ids(shards, np.array([min(repeats)]))[0])


def _merge(documents: Path, target: Path) -> Path:
    """The document parts streamed into one Parquet file, part by part (``merge``)."""
    parts = list_parts(documents)
    schema = pq.read_schema(parts[0]).remove_metadata()
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as out:
        for part in iter_parts(parts):
            out.write_table(part.replace_schema_metadata(None))
    return target
