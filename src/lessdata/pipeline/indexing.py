"""``lessdata index build`` and the references of ``dedup --against``.

An index (:class:`~lessdata.duplicates.reference.ReferenceIndex`) holds what deduplicating
*against* a corpus needs: its exact hashes, MinHash signatures and LSH band keys, and its
k-means centroids and embeddings. ``build_index`` computes it once, with the same shard
steps as :func:`lessdata.curate` (so a corpus is read the same way, on any engine);
``dedup NEW --against OLD`` reads a saved index, or builds one in memory from a corpus.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.checks import check_int, check_seed
from lessdata.data.dataset import Dataset
from lessdata.data.paths import OutputFolder
from lessdata.data.tables import corpus_format
from lessdata.duplicates.reference import ReferenceIndex, is_index
from lessdata.embed.encoders import DEFAULT_ENCODER, get_encoder
from lessdata.engines.base import Engine
from lessdata.errors import LessdataError
from lessdata.kmeans import assign, check_k, fit_centroids
from lessdata.pipeline.corpus_reading import (
    SHARD_DOCS,
    read_options_for,
    read_sharded,
    run_folder,
)
from lessdata.pipeline.curation_stages import CurationRun, quality_shard
from lessdata.pipeline.inputs import EngineLike, run_engine, vectors_of
from lessdata.pipeline.options import DedupOptions, dedup_methods, resolve_dedup_options
from lessdata.progress import honours_quiet, log


@honours_quiet
def build_index(
    data: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    method: str | Sequence[str] = ("exact", "near"),
    method_options: dict[str, Any] | None = None,
    encoder: str = DEFAULT_ENCODER,
    seed: int = 0,
    engine: EngineLike = "local",
    cache_dir: str | os.PathLike[str] | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    split: str = "file",
    extensions: Sequence[str] = (".py",),
    shard_docs: int = SHARD_DOCS,
    quiet: bool = False,
) -> Path:
    """Index a corpus for ``dedup(new, against=[out])`` and write the index folder ``out``.

    Args:
        data: the reference corpus: a folder of source files, a JSONL / Parquet / CSV file
            or a Hugging Face dataset folder with a text column.
        out: the index folder (replaced whole when it is an earlier lessdata output).
        method: what to index: ``exact``, ``near``, ``semantic`` (one or several).
        method_options: ``ngram``, ``num_perm``, ``threshold`` (which sets the LSH bands),
            ``bands``, ``rows`` for ``near``; ``k`` for ``semantic``. Runs against the index
            must use the same ones (eps and the threshold's estimate are the run's own).
        encoder: the text encoder of ``semantic`` (not ``tfidf``: it is fitted per corpus).
        seed: seeds the MinHash permutations and k-means.
        engine, cache_dir: as for :func:`lessdata.curate`.
        text_column, id_column, split, extensions, shard_docs: how to read ``data``.
        quiet: no progress output.

    Returns:
        The index folder.
    """
    methods = dedup_methods(method)
    options = resolve_dedup_options(methods, _index_options(method_options))
    seed = check_seed(seed)
    check_int(shard_docs, "shard_docs", low=1)
    if "semantic" in methods:
        comparable_encoder_name(encoder, seed, cache_dir)  # tfidf, unknown: refused now
    read_options = read_options_for(data, text_column, id_column, split, tuple(extensions))
    with (
        OutputFolder(out, [data], command="index build") as outputs,
        run_engine(engine, cache_dir) as running,
        run_folder(running, outputs) as folder,
    ):
        index = index_corpus(
            data, read_options, options, encoder=encoder, seed=seed, engine=running,
            cache_dir=cache_dir, folder=folder, shard_docs=shard_docs,
        )  # fmt: skip
        index.save(outputs.folder)
        log(f"indexed {len(index):,} documents of {data} ({', '.join(methods)}) → {out}")
    return Path(out)


def _index_options(options: dict[str, Any] | None) -> dict[str, Any] | None:
    """An index has no survivor rule, eps or target size: those belong to the runs."""
    for name in ("keep_rule", "eps", "survivor", "keep", "verify"):
        if options and options.get(name) is not None:
            raise LessdataError(
                f"{name} is chosen by each dedup run against the index, not by the index",
                param=name,
            )
    return options


def index_corpus(
    data: str | os.PathLike[str], read_options: dict[str, Any], options: DedupOptions, *,
    encoder: str, seed: int, engine: Engine, cache_dir: Any, folder: Path, shard_docs: int,
) -> ReferenceIndex:  # fmt: skip
    """Read ``data`` through ``engine`` and index its readable documents for ``options``."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = read_sharded(data, read_options, engine, folder, shard_docs)
    run = CurationRun(corpus, engine, folder)
    rows = np.flatnonzero(corpus.readable)
    if len(rows) == 0:
        raise LessdataError(f"{data}: no readable documents to index", param="against")
    index = ReferenceIndex(source=str(data), ids=corpus.ids.take(pa.array(rows)))
    methods = options.methods
    if "exact" in methods:
        digests = np.zeros(corpus.n, dtype="V16")
        results = engine.imap(
            quality_shard, corpus.paths, shared=(None, None, True), label="exact hashes"
        )
        for i, found in results:
            start = corpus.shards[i].start
            digests[start : start + corpus.shards[i].rows] = found.digests
        index.add_exact(digests[rows])
    if "near" in methods:
        near = options.near
        bands, band_rows = near.banding()
        signatures = run.signatures(rows, near, seed)
        index.add_near(signatures, ngram=near.ngram, seed=seed, bands=bands, rows=band_rows)
    if "semantic" in methods:
        sub = Dataset(source=corpus.source, format="array", ids=index.ids)
        sub.texts = corpus.gather(rows)
        vectors = vectors_of(sub, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=engine)
        k = check_k(options.k, len(rows))
        centroids = fit_centroids(vectors, k, spherical=True, seed=seed, engine=engine)
        cluster, _ = assign(vectors, centroids, spherical=True, engine=engine)
        name = comparable_encoder_name(encoder, seed, cache_dir)
        index.add_semantic(vectors, centroids, cluster, encoder=name, seed=seed)
    return index


def open_references(
    against: Sequence[str | os.PathLike[str]], options: DedupOptions, *, encoder: str,
    seed: int, engine: Engine, cache_dir: Any, folder: Path, read_options: dict[str, Any],
) -> list[ReferenceIndex]:  # fmt: skip
    """The references of a run: saved indexes, read, or corpora, indexed now in memory.

    A corpus is read with the run's ``split`` and ``extensions`` when it is a source folder,
    and with the default text and id columns otherwise (build an index to choose others).
    """
    seen: set[str] = set()
    references = []
    wanted = dict(encoder=comparable_encoder_name(encoder, seed, cache_dir)) if (
        "semantic" in options.methods) else {}  # fmt: skip
    for given in against:
        path = Path(given)
        key = os.path.realpath(path)
        if key in seen:
            raise LessdataError(f"{given} is given twice as a reference", param="against")
        seen.add(key)
        if path.is_symlink():
            raise LessdataError(
                f"{given} is a symbolic link; give the reference's real path", param="against"
            )
        if not path.exists():
            raise LessdataError(f"{given} does not exist", param="against")
        if is_index(path):
            reference = ReferenceIndex.load(path)
            for method in options.methods:  # before any work on the new corpus
                reference.check_settings(method, _run_settings(method, options, seed, wanted))
        else:
            source_options = {k: v for k, v in read_options.items() if k in ("split", "extensions")}
            mine = read_options_for(path, None, None, **_source_defaults(path, source_options))
            index_options = DedupOptions(options.methods, near=options.near, k=None)
            reference = index_corpus(
                path, mine, index_options, encoder=encoder, seed=seed, engine=engine,
                cache_dir=cache_dir, folder=Path(folder) / f"reference-{len(references)}",
                shard_docs=SHARD_DOCS,
            )  # fmt: skip
        references.append(reference)
    return references


def _run_settings(
    method: str, options: DedupOptions, seed: int, semantic: dict[str, Any]
) -> dict[str, Any]:
    """What a run's ``method`` must share with an index (see :meth:`check_settings`)."""
    if method == "near":
        near = options.near
        bands, rows = near.banding()
        return dict(ngram=near.ngram, num_perm=near.num_perm, seed=seed, bands=bands, rows=rows)
    return semantic if method == "semantic" else {}


def _source_defaults(path: Path, given: dict[str, Any]) -> dict[str, Any]:
    """``split`` and ``extensions`` for :func:`read_options_for`: the run's for a source
    folder, the defaults for anything else."""
    if corpus_format(path) == "source":
        extensions = tuple(given.get("extensions", (".py",)))
        return dict(split=given.get("split", "file"), extensions=extensions)
    return dict(split="file", extensions=(".py",))


def comparable_encoder_name(encoder: str, seed: int, cache_dir: Any) -> str:
    """The fingerprint of ``encoder``; one fitted on each corpus (tfidf) cannot compare two."""
    chosen = get_encoder(encoder, seed=seed, cache_dir=cache_dir)
    if not getattr(chosen, "shardable", True):
        raise LessdataError(
            f"encoder {encoder!r} is fitted on each corpus, so a reference corpus's embeddings "
            "are not comparable with the new ones; use 'static' or 'minilm' with --against",
            param="encoder",
        )
    return chosen.name
