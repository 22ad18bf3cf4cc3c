"""``lessdata index build`` and the references of ``dedup --against``.

An index (:class:`~lessdata.duplicates.reference.ReferenceIndex`) holds what deduplicating
*against* a corpus needs: its exact hashes, MinHash signatures and LSH band keys, and its
k-means centroids and embeddings. ``build_index`` computes it once, with the same shard
steps as :func:`lessdata.curate` (so a corpus is read the same way, on any engine);
``dedup NEW --against OLD`` reads a saved index, or builds one in memory from a corpus.

Which corpus an index stands for matters: a removal is credited to an id of it. So an index
records its corpus's resolved path and a fingerprint of its files
(:mod:`lessdata.data.fingerprint`), each reference of a run gets a distinct name in the
manifest (:func:`reference_names`), and a run against an index whose corpus has *changed*
since is refused (its ids may now name other documents: removals would be credited to the
wrong ones, so the fix, rebuilding the index, is asked for rather than a warning that a
nightly job would not read). A corpus that is *gone* only gets a warning on stderr: an index
is made so that it can be used without its corpus (kept elsewhere, or deleted), and nothing
contradicts its ids.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.checks import check_int, check_seed
from lessdata.data.dataset import Dataset
from lessdata.data.fingerprint import fingerprint_source, source_status
from lessdata.data.paths import OutputFolder
from lessdata.data.tables import corpus_format
from lessdata.duplicates.index_files import IDS_FILE, INDEX_FILE
from lessdata.duplicates.lsh import NearOptions
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

    The index records ``data``'s resolved path and a fingerprint of its files (sizes,
    modification times and a SHA-256 of their bytes, one extra read of the corpus), so that
    a run against it can tell when the corpus has changed since, and each of its files'
    SHA-256, so that a damaged index is refused before it is used.

    Args:
        data: the reference corpus: a folder of source files, a JSONL / Parquet / CSV file
            or a Hugging Face dataset folder with a text column.
        out: the index folder (replaced whole when it is an earlier lessdata output).
        method: what to index: ``exact``, ``near``, ``semantic`` (one or several).
        method_options: ``ngram``, ``num_perm``, ``threshold`` (which sets the LSH bands),
            ``bands``, ``rows`` for ``near``; ``k`` for ``semantic``. Runs against the index
            must use the same ones, but a run's ``threshold`` may differ when the index's
            bands miss no more pairs above it than bands tuned to it would (eps and the
            threshold applied to the estimates are the run's own).
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
        origin = _fingerprint(data, read_options.get("extensions"))
        index = index_corpus(
            data, read_options, options, encoder=encoder, seed=seed, engine=running,
            cache_dir=cache_dir, folder=folder, shard_docs=shard_docs,
        )  # fmt: skip
        if source_status(origin) != "same":
            raise LessdataError(
                f"{data} changed while it was being indexed; index it again once nothing "
                "writes to it",
                param="data",
            )
        index.origin = origin
        index.save(outputs.folder)
        log(f"indexed {len(index):,} documents of {data} ({', '.join(methods)}) → {out}")
    return Path(out)


def _fingerprint(data: str | os.PathLike[str], extensions: Sequence[str] | None) -> dict[str, Any]:
    """:func:`fingerprint_source` of ``data``, an unreadable file refused in one line."""
    try:
        return fingerprint_source(data, extensions)
    except OSError as exc:
        raise LessdataError(f"{data}: cannot read it to fingerprint it ({exc})") from None


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


def check_references(
    against: Sequence[str | os.PathLike[str]], options: DedupOptions, *, encoder: str,
    seed: int, cache_dir: Any,
) -> list[ReferenceIndex | Path]:  # fmt: skip
    """The references of a run, checked before any work: each index folder read and checked
    in full (:meth:`ReferenceIndex.load`), its settings compared with the run's and its
    corpus with the fingerprint it recorded; each corpus only found (it is indexed by
    :func:`open_references`).

    Raises:
        LessdataError: a reference given twice, a symbolic link, missing, a damaged index or
            one built with other settings, or an index whose corpus has changed since.
    """
    seen: set[str] = set()
    checked: list[ReferenceIndex | Path] = []
    wanted = dict(encoder=comparable_encoder_name(encoder, seed, cache_dir)) if (
        against and "semantic" in options.methods) else {}  # fmt: skip
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
        if not is_index(path):
            if path.is_dir() and (path / IDS_FILE).exists():
                raise LessdataError(
                    f"{path / INDEX_FILE} is missing: {given} holds an index's files without "
                    "its index.json; rebuild it with `lessdata index build`",
                    param="against",
                )
            checked.append(path)
            continue
        reference = ReferenceIndex.load(path)
        for method in options.methods:
            if method == "near":
                _check_near(reference, options.near, seed)
            else:
                reference.check_settings(method, wanted if method == "semantic" else {})
        _check_source(reference)
        checked.append(reference)
    return checked


def open_references(
    checked: Sequence[ReferenceIndex | Path], options: DedupOptions, *, encoder: str,
    seed: int, engine: Engine, cache_dir: Any, folder: Path, read_options: dict[str, Any],
) -> list[ReferenceIndex]:  # fmt: skip
    """The references of a run (from :func:`check_references`): saved indexes as read, and
    corpora indexed now in memory; each named distinctly (:func:`reference_names`).

    A corpus is read with the run's ``split`` and ``extensions`` when it is a source folder,
    and with the default text and id columns otherwise (build an index to choose others).
    """
    references = []
    for item in checked:
        if isinstance(item, ReferenceIndex):
            references.append(item)
            continue
        source_options = {k: v for k, v in read_options.items() if k in ("split", "extensions")}
        mine = read_options_for(item, None, None, **_source_defaults(item, source_options))
        index_options = DedupOptions(options.methods, near=options.near, k=None)
        references.append(index_corpus(
            item, mine, index_options, encoder=encoder, seed=seed, engine=engine,
            cache_dir=cache_dir, folder=Path(folder) / f"reference-{len(references)}",
            shard_docs=SHARD_DOCS,
        ))  # fmt: skip
    for reference, name in zip(references, reference_names(references), strict=True):
        reference.source = name
    return references


def reference_names(references: Sequence[ReferenceIndex]) -> list[str]:
    """Distinct names for the manifest (``against_source`` and the settings' ``against``).

    A reference is named by its corpus's resolved absolute path (recorded in an index when
    it was built), so two corpora called ``old.jsonl`` in two folders stay apart. Two
    references of the same corpus (two indexes of it, or an index and the corpus itself)
    would still share it: then each index is named ``<path> (index <its folder>)``, the
    corpus keeping the plain path; a name still repeated gets `` #2``, `` #3``... in the
    order given. The same references in the same order always get the same names.
    """
    paths = [
        ref.origin["path"] if ref.origin else os.path.realpath(ref.source) for ref in references
    ]
    names = [
        f"{path} (index {os.path.realpath(ref.folder)})"
        if ref.folder is not None and paths.count(path) > 1 else path
        for path, ref in zip(paths, references, strict=True)
    ]  # fmt: skip
    seen: dict[str, int] = {}
    distinct = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        distinct.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return distinct


def _check_source(reference: ReferenceIndex) -> None:
    """Refuse an index whose corpus has changed since it was built; warn when it is gone."""
    assert reference.origin is not None
    status = source_status(reference.origin)
    if status == "changed":
        raise LessdataError(
            f"{reference.source} has changed since {reference.folder} was built from it (its "
            "files differ from the fingerprint the index recorded), so the index's ids may "
            "name other documents now; rebuild the index: `lessdata index build "
            f"{reference.source} --out {reference.folder}`",
            param="against",
        )
    if status == "missing":
        print(
            f"warning: {reference.source}, the corpus {reference.folder} was built from, is "
            "gone or unreadable; its ids are used as the index recorded them",
            file=sys.stderr,
        )


def _check_near(reference: ReferenceIndex, near: NearOptions, seed: int) -> None:
    """Refuse a near run whose MinHash differs from the index's; settle the LSH banding.

    The n-gram size, permutations and seed make the signatures: they must be the index's.
    The banding only chooses which OLD rows are compared (each with the run's own
    threshold), and queries use the index's: explicit ``bands`` and ``rows`` must be the
    index's; a ``threshold`` alone is accepted when the index's banding misses no more
    pairs above it than the banding tuned to it would (the area above the threshold under
    ``(1 - s**rows)**bands``, as :func:`~lessdata.duplicates.lsh.optimal_bands` weighs it).
    """
    reference.check_settings("near", dict(ngram=near.ngram, num_perm=near.num_perm, seed=seed))
    have = reference.settings["near"]
    bands, rows = have["bands"], have["rows"]
    if near.bands is not None:
        reference.check_settings("near", dict(bands=near.bands, rows=near.rows))
        return
    tuned = near.banding()
    if tuned == (bands, rows):
        return
    t = near.threshold
    if _missed(bands, rows, t) > _missed(*tuned, t) + 1e-9:
        raise LessdataError(
            f"{reference.where} has LSH bands={bands}, rows={rows}, which miss more near "
            f"copies at `threshold` {t:g} than the banding tuned to it (bands={tuned[0]}, "
            f"rows={tuned[1]}); rebuild the index with `threshold` {t:g}, or give `bands` "
            f"{bands} and `rows` {rows} to accept the index's banding",
            param="against",
        )


def _missed(bands: int, rows: int, threshold: float) -> float:
    """The area above ``threshold`` under the probability that a pair shares no band."""
    from scipy.integrate import quad

    return float(quad(lambda s: (1.0 - s**rows) ** bands, threshold, 1.0)[0])


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
