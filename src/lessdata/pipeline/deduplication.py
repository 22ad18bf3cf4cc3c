"""``lessdata.dedup``: drop duplicates and write the survivors.

Text methods (and any input that is a folder of source files) run through
:func:`lessdata.curate`'s stages, reading the input as ``score`` and ``prune`` do: a table
row that cannot be read is refused (``curate`` records it and goes on); ``semantic`` alone
also works on precomputed embeddings, through the ``semdedup`` metric.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from lessdata.checks import check_choice, check_seed
from lessdata.data.dataset import Dataset
from lessdata.data.paths import OutputFolder
from lessdata.data.tables import detect_format
from lessdata.duplicates.semdedup import (
    NO_NEIGHBOUR,
    chosen_threshold,
    most_redundant,
    redundancy,
    resolve_chains,
)
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.errors import LessdataError
from lessdata.metrics import get_metric
from lessdata.pipeline.curation import run_curation
from lessdata.pipeline.inputs import (
    DataLike,
    EngineLike,
    as_dataset,
    in_memory_table,
    run_engine,
    vectors_of,
)
from lessdata.pipeline.options import DedupOptions, dedup_methods, resolve_dedup_options
from lessdata.pipeline.outputs import (
    PruneResult,
    finish,
    input_paths,
    output_folder,
)
from lessdata.pipeline.scoring import ZERO_VECTORS, Scored, score_columns, usable_rows
from lessdata.progress import honours_quiet, log

#: load options that text deduplication (through curate) understands
_TEXT_LOAD_OPTIONS = ("text_column", "id_column", "split", "extensions")


@honours_quiet
def dedup(
    data: DataLike,
    *,
    method: str | Sequence[str] = "semantic",
    method_options: dict[str, Any] | None = None,
    seed: int = 0,
    engine: EngineLike = "local",
    out: str | os.PathLike[str] | None = None,
    encoder: str = DEFAULT_ENCODER,
    cache_dir: str | os.PathLike[str] | None = None,
    report: bool = True,
    zero_vectors: str = "refuse",
    against: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] = (),
    quiet: bool = False,
    **load_options: Any,
) -> PruneResult:
    """Remove duplicates and write the survivors (see :func:`lessdata.prune` for ``out``).

    Args:
        data: a path, a loaded :class:`Dataset` or an ``(N, d)`` array (``semantic`` only).
        method: one kind or several, which chain in the order exact → near → semantic:
            ``exact`` (identical after normalising trailing spaces and line endings),
            ``near`` (MinHash + LSH on word 5-grams, Jaccard >= 0.7 by default) and
            ``semantic`` (SemDeDup: within a k-means cluster, cosine similarity above
            ``1 - eps`` to a kept example).
        method_options: the methods' knobs: ``keep_rule`` (exact, near: ``first`` or
            ``longest`` member stays); ``ngram``, ``num_perm``, ``threshold``, ``bands``,
            ``rows``, ``verify`` (near, see :class:`lessdata.duplicates.lsh.NearOptions`);
            ``eps``, ``survivor`` (``hard``, ``easy``, ``random``), ``k`` and ``keep``
            (semantic). ``keep`` (instead of ``eps``) is a target size, a number of
            documents or a fraction of the input: the most redundant documents are removed
            until exactly that many remain, and the manifest's settings report the
            similarity threshold that this amounted to (``semantic_threshold``).
        seed: seeds MinHash permutations, k-means and tie-breaking.
        engine: where the row-parallel steps run (see :func:`lessdata.score`).
        out: a folder for ``manifest.parquet``, the deduplicated data and the report.
        encoder: how texts are embedded for ``semantic``.
        cache_dir: where embeddings and shard checkpoints are kept.
        report: write the report files beside the manifest.
        zero_vectors: all-zero vectors (``semantic``): ``refuse`` (default) stops with their
            count and ids; ``drop`` removes them (their own reason in the manifest).
        against: reference corpora (any readable text format) or index folders
            (:func:`lessdata.build_index`): what duplicates one of their documents is removed
            (the manifest names it: ``against_source``, ``against_id``), and the rest is
            deduplicated among itself; the references are not deduplicated. Text only.
        quiet: no progress bars or status lines (as ``LESSDATA_QUIET=1`` does).
        **load_options: how to read ``data`` (see :func:`lessdata.score`); text methods
            take ``text_column``, ``id_column``, ``split`` and ``extensions``.

    Returns:
        A :class:`PruneResult` (a :class:`CurationResult` for text methods).

    Raises:
        LessdataError: bad options, or input that cannot be read. Every method reads a
            table corpus as :func:`lessdata.score` does: a row that is not UTF-8, not a JSON
            object or over the per-document limits is refused, naming it (``curate``
            records such rows under ``removed_by=read`` and goes on).

    Example:
        >>> result = lessdata.dedup(  # doctest: +SKIP
        ...     "corpus.jsonl", method=["exact", "near"], method_options={"threshold": 0.8},
        ...     out="deduped/")
    """
    methods = dedup_methods(method)
    settings = resolve_dedup_options(methods, method_options)
    seed = check_seed(seed)
    check_choice(zero_vectors, "zero_vectors", ZERO_VECTORS)
    if methods != ("semantic",) or _is_source_folder(data) or against:
        given = {k: v for k, v in load_options.items() if v is not None}
        text = {k: given.pop(k) for k in _TEXT_LOAD_OPTIONS if k in given}
        if given:
            raise LessdataError(
                f"{', '.join(sorted(given))} do not apply to text deduplication; drop them"
            )
        table, kind = in_memory_table(data)
        run = dict(
            out=out, dedup=methods, dedup_options=method_options, encoder=encoder,
            cache_dir=cache_dir, seed=seed, report=report, engine=engine, against=against,
            command="dedup", **text,
        )  # fmt: skip
        if table is None:
            return run_curation(data, **run)
        # curate reads corpora from files: an in-memory table goes through a private copy
        with tempfile.TemporaryDirectory(prefix="lessdata-dedup-") as scratch:
            path = Path(scratch) / "data.parquet"
            pq.write_table(table, path)
            return run_curation(path, name=kind, **run)
    ds = as_dataset(data, **load_options)
    eps, survivor, k = settings.eps, settings.survivor, settings.k
    if settings.keep is not None:
        return _semantic_to_size(
            ds, settings, data, load_options, seed, engine, out, encoder, cache_dir, report,
            zero_vectors,
        )  # fmt: skip
    inputs = input_paths(data, load_options)
    with (
        output_folder(ds, out, inputs, "dedup") as folder,
        run_engine(engine, cache_dir) as running,
    ):
        scored = score_columns(
            ds, [get_metric("semdedup")],
            dict(k=k, eps=eps, survivor=survivor, scope=settings.scope),
            encoder=encoder, cache_dir=cache_dir, seed=seed, engine=running,
            zero_vectors=zero_vectors,
        )  # fmt: skip
        return _finish_semantic(ds, scored, eps, survivor, k, seed, encoder, folder, report)


def _semantic_to_size(
    ds: Dataset, settings: DedupOptions, data: DataLike, load_options: dict[str, Any],
    seed: int, engine: EngineLike, out: Any, encoder: str, cache_dir: Any, report: bool,
    zero_vectors: str,
) -> PruneResult:  # fmt: skip
    """Semantic dedup of vectors down to ``settings.keep`` rows, most redundant first."""
    target = settings.target_size(len(ds))
    assert target is not None
    inputs = input_paths(data, load_options)
    with (
        output_folder(ds, out, inputs, "dedup") as folder,
        run_engine(engine, cache_dir) as running,
    ):
        vectors = vectors_of(ds, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=running)
        usable = usable_rows(ds, zero_vectors)
        rows = np.arange(len(ds)) if usable is None else usable
        if usable is not None:
            target = min(target, len(rows))
        found = redundancy(
            vectors if usable is None else np.asarray(vectors)[rows], k=settings.k,
            survivor=settings.survivor, seed=seed, engine=running,
        )  # fmt: skip
        removed = most_redundant(found.similarity, found.rank, len(rows) - target)
        local_dup, _ = resolve_chains(removed, found.nearest, found.rank, np.full(len(rows), -1))
        threshold = chosen_threshold(found.similarity, removed)
        n = len(ds)
        distance = np.full(n, np.nan)
        distance[rows] = np.where(
            np.isfinite(found.similarity), 1.0 - found.similarity, NO_NEIGHBOUR
        )
        cluster = np.full(n, -1, dtype=np.int64)
        cluster[rows] = found.cluster
        duplicate_of = np.full(n, -1, dtype=np.int64)
        hit = local_dup >= 0
        duplicate_of[rows[hit]] = rows[local_dup[hit]]
        codes = np.full(n, 2, dtype=np.int32)  # rows left out as zero vectors
        codes[rows] = removed.astype(np.int32)
        shown = "none" if threshold is None else f"{threshold:.4f}"
        vocabulary = [
            "kept",
            f"redundant: among the {len(rows) - target} most similar to an earlier example "
            f"of their cluster (cosine similarity >= {shown}; semdedup_duplicate_of)",
            "removed: zero vector (no direction; zero_vectors=drop)",
        ]
        kept = rows[~removed]
        columns = {
            "semdedup": distance, "semdedup_cluster": cluster,
            "semdedup_duplicate_of": duplicate_of,
        }  # fmt: skip
        record = dict(
            command="dedup", method="semantic", keep=settings.keep, semantic_threshold=threshold,
            survivor=settings.survivor, k=settings.k, seed=seed, encoder=encoder,
        )  # fmt: skip
        log(f"semantic: kept {len(kept)}; the threshold that leaves them is {shown}")
        return finish(
            ds, columns, ["semdedup"], kept, (codes, vocabulary), record, folder, report=report
        )


def _finish_semantic(
    ds: Dataset, scored: Scored, eps: float, survivor: str, k: int | None,
    seed: int, encoder: str, folder: OutputFolder | None, report: bool,
) -> PruneResult:  # fmt: skip
    """The manifest, kept rows and outputs of a semantic-only deduplication."""
    columns = scored.columns
    duplicate = columns["semdedup_duplicate_of"] >= 0
    codes = duplicate.astype(np.int32)
    vocabulary = [
        "kept: no example kept before it is a near duplicate",
        f"duplicate: cosine similarity above {1 - eps:g} to semdedup_duplicate_of, an "
        "example its cluster's walk kept",
    ]
    if scored.rows is not None:  # zero vectors left out: removed, with their own reason
        dropped = np.setdiff1d(np.arange(len(ds)), scored.rows)
        duplicate[dropped] = True
        codes[dropped] = len(vocabulary)
        vocabulary.append("removed: zero vector (no direction; zero_vectors=drop)")
    kept = np.flatnonzero(~duplicate)
    reasons = (codes, vocabulary)
    record = dict(
        command="dedup", method="semantic", eps=eps, survivor=survivor, k=k, seed=seed,
        encoder=encoder,
    )  # fmt: skip
    return finish(ds, columns, ["semdedup"], kept, reasons, record, folder, report=report)


def _is_source_folder(data: DataLike) -> bool:
    """True for a path to a folder that is not a saved Hugging Face dataset."""
    if not isinstance(data, (str, Path)) or str(data).startswith("builtin:"):
        return False
    path = Path(data)
    return path.is_dir() and detect_format(path) == "source"
