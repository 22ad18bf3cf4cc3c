"""``score``, ``prune`` and ``dedup`` with the driver out of the O(N) path (``--parts``).

For embeddings too large for one process: a memory-mapped ``.npy`` of vectors is scored,
pruned or deduplicated shard by shard on the engine, and the driver holds only what does
not grow with N: k-means centroids, cluster sizes, per-shard counts, and the 65,536-bucket
histograms of the exact selection (:mod:`lessdata.pipeline.rank_select`). The workers write
the manifest as Parquet parts (:mod:`lessdata.data.manifest_parts`) and the kept rows into
one ``.npy`` at offsets the driver computed from per-shard counts. The ids are exactly
those of the in-memory :func:`lessdata.score` / :func:`lessdata.prune` /
:func:`lessdata.dedup` with the same seed (tested), on every engine.

Passes over the data (:mod:`lessdata.pipeline.sharded_steps`): a check of the rows (finite,
nonzero); k-means training (a sample and its Lloyd steps, :func:`lessdata.kmeans.
fit_centroids`); the nearest centroid of every row (checkpointed: a killed run resumes
from its finished shards); for ``semdedup`` the shuffle of rows to cluster buckets and
SemDeDup per bucket (:mod:`lessdata.duplicates.semdedup_parts`, checkpointed); then the
manifest parts, for ``prune`` after two or three selection passes over the scores; and the
kept rows.

Supported: the metrics that need only the vectors, ``prototypes`` (the paper's label-free
metric) and ``semdedup``; the policies ``keep-hard``, ``keep-easy``, ``random`` and
uncalibrated ``auto``; SemDeDup by a threshold (``eps``). The others need every score (or
a second clustering) in one place: they run in memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata import kmeans
from lessdata._version import __version__
from lessdata.budget import resolve_budget
from lessdata.checks import check_choice, check_seed
from lessdata.data.atomic import atomic_path
from lessdata.data.dataset import open_npy
from lessdata.data.manifest_parts import iter_parts, list_parts, read_parts
from lessdata.data.paths import OutputFolder
from lessdata.data.standard_json import dumps_standard
from lessdata.duplicates.semdedup import SCOPES, SURVIVORS, check_eps
from lessdata.duplicates.semdedup_parts import cross_bucket, dedup_bucket, plan_buckets
from lessdata.engines import Engine, ShardCheckpoint
from lessdata.engines.base import fingerprint
from lessdata.errors import LessdataError
from lessdata.kmeans import check_k, fit_centroids, min_prototype_size, rows_as_float32
from lessdata.metrics import get_metric
from lessdata.metrics.prototype_metrics import check_distance
from lessdata.pipeline.inputs import EngineLike, run_engine
from lessdata.pipeline.options import check_metric_options, check_policy_options
from lessdata.pipeline.rank_select import ScoreShard, find_rank
from lessdata.pipeline.sharded_steps import (
    ColumnPlan,
    PartTarget,
    assign_to_file,
    check_rows_shard,
    copy_kept_part,
    dedup_part,
    prune_part,
    scatter_from_file,
    score_part,
    score_to_file,
)
from lessdata.progress import honours_quiet, log
from lessdata.select import AUTO_THRESHOLD, auto_policy_name, kept_fraction
from lessdata.ties import tie_seed_of

#: the metrics parts mode computes (those that need only the vectors)
PARTS_METRICS = ("prototypes", "semdedup")
#: the policies the sharded prune runs (those that need only an order of the scores)
PARTS_POLICIES = ("keep-hard", "keep-easy", "random", "auto")
#: the folder of manifest parts inside a prune or dedup output folder
MANIFEST_FOLDER = "manifest"


@dataclass
class PartsResult:
    """What a sharded ``score``, ``prune`` or ``dedup`` wrote; nothing here grows with N.

    Attributes:
        manifest_folder: the folder of manifest parts (read it with
            :func:`lessdata.data.manifest.read_manifest` or ``lessdata inspect``).
        n: rows scored.
        n_kept: rows kept (``prune``, ``dedup``; None for ``score``).
        paths: the files written (``manifest``, and ``data`` for ``prune`` and ``dedup``;
            ``documents`` for ``curate``).
        stages: for ``curate``, the documents each stage removed.
    """

    manifest_folder: Path
    n: int
    n_kept: int | None = None
    paths: dict[str, Path] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)

    def manifest(self) -> pa.Table:
        """The whole manifest as one table (memory grows with N: for inspection)."""
        return read_parts(self.manifest_folder)

    def kept(self) -> np.ndarray:
        """Sorted row numbers of the kept rows, read part by part (memory: the kept rows)."""
        found, start = [], 0
        for part in iter_parts(list_parts(self.manifest_folder), ["kept"]):
            found.append(np.flatnonzero(part["kept"].to_numpy(zero_copy_only=False)) + start)
            start += part.num_rows
        return np.concatenate([np.empty(0, np.int64), *found]).astype(np.int64)


# --- checks -------------------------------------------------------------------------------


def _open_vectors(data: Any) -> tuple[np.ndarray, str]:
    """The memory-mapped vectors of a ``.npy`` path, checked for shape and dtype."""
    if not isinstance(data, (str, os.PathLike)) or Path(data).suffix.lower() != ".npy":
        raise LessdataError(
            "parts mode reads a .npy file of embeddings (memory-mapped, one row per example); "
            "embed other inputs first (`lessdata embed`), or leave out `parts`",
            param="data",
        )
    path = Path(data)
    if not path.is_file():
        raise LessdataError(f"data {path} is not a file", param="data")
    vectors = open_npy(path)
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise LessdataError(
            f"{path}: expected a 2-D float array of embeddings, got shape {vectors.shape} "
            f"and dtype {vectors.dtype}"
        )
    if len(vectors) == 0 or vectors.shape[1] == 0:
        raise LessdataError(f"{path}: the array is empty (shape {vectors.shape})")
    return vectors, str(path)


def _check_metrics(metrics: str | list[str], options: dict[str, Any] | None, param: str):
    """The metrics as a tuple and their checked options (parts mode's metrics only)."""
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not names or len(set(names)) != len(names):
        raise LessdataError(f"name each metric once, got {list(names)}", param=param)
    for name in names:
        if name not in PARTS_METRICS:
            raise LessdataError(
                f"parts mode scores with {' and '.join(PARTS_METRICS)} (the metrics that need "
                f"only vectors), got {name!r}; leave out `parts` for the other metrics",
                param=param,
            )
    checked = check_metric_options([get_metric(name) for name in names], options)
    if "semdedup" in names and checked.get("distance", "cosine") != "cosine":
        raise LessdataError(
            "semdedup clusters by cosine; with it, prototypes must use distance cosine too",
            param="distance",
        )
    if "eps" in checked:
        check_eps(checked["eps"])
    check_choice(checked.get("survivor", "hard"), "survivor", SURVIVORS)
    return names, checked


def _shards(n: int) -> list[tuple[int, int]]:
    """The row ranges of the shards: the chunks of :mod:`lessdata.kmeans` (so that every
    row is computed in the same block as in memory, and the results match to the bit)."""
    rows = kmeans.CHUNK_ROWS
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def _check_rows(engine: Engine, vectors: np.ndarray, source: str) -> None:
    """Refuse non-finite and zero rows (a pass over the data, before any k-means work)."""
    bad: list[int] = []
    zero: list[int] = []
    n_bad = n_zero = 0
    results = engine.map(check_rows_shard, _shards(len(vectors)), shared=(vectors,),
                         label="checking rows")  # fmt: skip
    for count_bad, first_bad, count_zero, first_zero in results:
        n_bad, n_zero = n_bad + count_bad, n_zero + count_zero
        bad += first_bad
        zero += first_zero
    if n_bad:
        raise LessdataError(
            f"{source}: {n_bad} rows hold NaN or infinite values (rows {bad[:5]}); fix the "
            "embeddings"
        )
    if n_zero:
        raise LessdataError(
            f"{source}: {n_zero} rows are zero vectors (rows {zero[:5]}): a zero vector has no "
            "direction; fix the embeddings (parts mode does not drop them: run without "
            "`parts` and with zero_vectors=drop)"
        )


# --- the global steps ---------------------------------------------------------------------


@contextlib.contextmanager
def work_folder(running: Engine, *key: Any) -> Iterator[ShardCheckpoint]:
    """The run's folder for shard files and checkpoints: under the engine's work folder
    (kept for a rerun if the run fails), else a temporary one removed afterwards."""
    work = running.checkpoint("parts", *key)
    if work is not None:
        work.folder.mkdir(parents=True, exist_ok=True)
        yield work
        return
    folder = tempfile.mkdtemp(prefix="lessdata-parts-")
    try:
        yield ShardCheckpoint(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _plan_columns(
    running: Engine, work: ShardCheckpoint, vectors: np.ndarray, source: str,
    metrics: tuple[str, ...], options: dict[str, Any], seed: int,
) -> ColumnPlan:  # fmt: skip
    """The global steps: check the rows, fit k-means, assign every row, and for semdedup
    shuffle the rows to cluster buckets and deduplicate each bucket (all checkpointed in
    ``work``)."""
    _check_rows(running, vectors, source)
    n = len(vectors)
    spherical = check_distance(options.get("distance", "cosine"))
    k = check_k(options.get("k"), n)
    centroids = fit_centroids(vectors, k, spherical=spherical, seed=seed,
                              niter=options.get("niter", 20), engine=running)  # fmt: skip
    if spherical:
        centroids = rows_as_float32(centroids, slice(None), normalize=True)
    shards, folder = _shards(n), str(work.folder)
    sizes = np.zeros(k, dtype=np.int64)
    for _, part in running.imap(
        assign_to_file, shards, shared=(vectors, centroids, spherical, folder, k),
        label="k-means: nearest centroid", checkpoint=ShardCheckpoint(work.folder / "assign"),
    ):  # fmt: skip
        sizes += part
    buckets = 0
    cross = False
    if "semdedup" in metrics:
        cross = check_choice(options.get("scope", "neighbours"), "scope", SCOPES) == "neighbours"
        bucket_of = plan_buckets(sizes)
        buckets = int(bucket_of.max(initial=-1)) + 1
        running.map(scatter_from_file, shards,
                    shared=(bucket_of, folder, kmeans.CHUNK_ROWS, cross),
                    label="semdedup: rows to clusters",
                    checkpoint=ShardCheckpoint(work.folder / "scatter"))  # fmt: skip
        starts = np.array([a for a, _ in shards] + [n], dtype=np.int64)
        threshold = 1.0 - options.get("eps", 0.05)
        survivor = options.get("survivor", "hard")
        running.map(
            dedup_bucket, list(range(buckets)),
            shared=(vectors, starts, folder, threshold, survivor, seed,
                    bucket_of if cross else None),
            label="semdedup: clusters", checkpoint=ShardCheckpoint(work.folder / "dedup"),
        )  # fmt: skip
        if cross:
            running.map(
                cross_bucket, list(range(buckets)),
                shared=(vectors, starts, folder, threshold, survivor, seed, buckets, centroids),
                label="semdedup: across clusters",
                checkpoint=ShardCheckpoint(work.folder / "cross"),
            )  # fmt: skip
    proper = np.flatnonzero(sizes >= min_prototype_size(n, k))
    return ColumnPlan(metrics, centroids, spherical, proper, buckets, kmeans.CHUNK_ROWS, folder,
                      cross)  # fmt: skip


@contextlib.contextmanager
def _parts_run(
    out: Any, command: str, engine: EngineLike, cache_dir: Any, vectors: np.ndarray,
    source: str, names: tuple[str, ...], options: dict[str, Any], seed: int,
) -> Iterator[tuple[OutputFolder, Engine, ColumnPlan]]:  # fmt: skip
    """One parts-mode command: its output folder (swapped in when the block succeeds), its
    engine, and the global steps done (:func:`_plan_columns`; ``plan.folder`` is the run's
    work folder)."""
    with (
        OutputFolder(out, [source], command=command) as folder,
        run_engine(engine, cache_dir) as running,
        work_folder(running, vectors, names, sorted(options.items()), seed,
                    kmeans.CHUNK_ROWS) as work,
    ):  # fmt: skip
        plan = _plan_columns(running, work, vectors, source, names, options, seed)
        yield folder, running, plan


def _metadata(settings: dict[str, Any], source: str, metrics: list[str]) -> bytes:
    meta = {"version": __version__, "input": source, "format": "npy", "metrics": metrics}
    meta.update(settings)
    return dumps_standard(meta, default=str).encode()


def _target(folder: Path, vectors: np.ndarray, settings: dict[str, Any], source: str,
            metrics: list[str]) -> PartTarget:  # fmt: skip
    """Where the manifest parts go, under a key of the input and every setting."""
    key = fingerprint("parts", vectors, sorted(settings.items()), kmeans.CHUNK_ROWS)
    count = len(_shards(len(vectors)))
    return PartTarget(str(folder), key, count, _metadata(settings, source, metrics))


def _write_kept_rows(
    running: Engine, folder: OutputFolder, vectors: np.ndarray, source: str, parts_folder: Path,
    counts: list[int],
) -> Path:  # fmt: skip
    """The kept rows, in row order, as ``<input name>.npy``: the driver makes the file, the
    workers copy their parts' kept rows at offsets from the per-part counts."""
    total = int(sum(counts))
    path = folder.path(Path(source).name)
    with atomic_path(path) as tmp:
        np.lib.format.open_memmap(tmp, mode="w+", dtype=vectors.dtype,
                                  shape=(total, vectors.shape[1])).flush()  # fmt: skip
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
        starts = [a for a, _ in _shards(len(vectors))]
        parts = list_parts(parts_folder)
        copies = [(str(p), a, o) for p, a, o in zip(parts, starts, offsets, strict=True)]
        running.map(copy_kept_part, copies, shared=(vectors, str(tmp), total),
                    label="writing kept rows")  # fmt: skip
    return path


def _finish(
    folder: OutputFolder, paths: dict[str, Path], n: int, n_kept: int | None
) -> PartsResult:
    final = {name: folder.final_path(path) for name, path in paths.items()}
    for name, path in final.items():
        log(f"writing {name}: {path}")
    return PartsResult(manifest_folder=final["manifest"], n=n, n_kept=n_kept, paths=final)


# --- the commands -------------------------------------------------------------------------


@honours_quiet
def score_parts(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    metrics: str | list[str] = "prototypes",
    *,
    metric_options: dict[str, Any] | None = None,
    seed: int = 0,
    engine: EngineLike = "local",
    cache_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> PartsResult:
    """Score a ``.npy`` of embeddings shard by shard; write the manifest as a folder of parts.

    The same scores as :func:`lessdata.score` (same seed), with the driver's memory
    independent of the number of rows.

    Args:
        data: a ``.npy`` file of (N, d) float embeddings (memory-mapped, never loaded whole).
        out: the folder of manifest parts to write (replaced whole when it is an earlier
            lessdata output).
        metrics: ``prototypes``, ``semdedup`` or both.
        metric_options: ``k``, ``distance`` (prototypes), ``eps``, ``survivor`` (semdedup).
        seed: seeds k-means and the tie-breaking.
        engine: ``local``, ``ray`` or an engine object (see :func:`lessdata.score`).
        cache_dir: where the shard checkpoints are kept (a killed run resumes from them).
        quiet: no progress bars or status lines.

    Returns:
        A :class:`PartsResult`.

    Example:
        >>> import numpy as np, lessdata, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> np.save(d / "x.npy", np.random.default_rng(0).normal(size=(300, 8)).astype("f4"))
        >>> lessdata.score_parts(d / "x.npy", d / "scores", metric_options={"k": 4}).n
        300
    """
    names, options = _check_metrics(metrics, metric_options, "metrics")
    seed = check_seed(seed)
    vectors, source = _open_vectors(data)
    with _parts_run(out, "score", engine, cache_dir, vectors, source, names, options, seed) as (
        folder,
        running,
        plan,
    ):
        settings = dict(command="score", k=options.get("k"), seed=seed, parts=True,
                        distance=options.get("distance", "cosine"),
                        eps=options.get("eps", 0.05))  # fmt: skip
        target = _target(folder.folder, vectors, settings, source, list(names))
        running.map(score_part, _shards(len(vectors)), shared=(vectors, plan, target),
                    label="writing manifest parts")  # fmt: skip
        return _finish(folder, {"manifest": folder.folder}, len(vectors), None)


@honours_quiet
def prune_parts(
    data: str | os.PathLike[str],
    keep: float | int,
    out: str | os.PathLike[str],
    *,
    metric: str = "prototypes",
    policy: str = "auto",
    metric_options: dict[str, Any] | None = None,
    policy_options: dict[str, Any] | None = None,
    seed: int = 0,
    engine: EngineLike = "local",
    cache_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> PartsResult:
    """Prune a ``.npy`` of embeddings shard by shard: manifest parts and the kept rows.

    The same kept ids as :func:`lessdata.prune` (same seed, metric and policy), with the
    driver's memory independent of the number of rows: the selection is an exact rank
    select over per-shard histograms (:mod:`lessdata.pipeline.rank_select`).

    Args:
        data: a ``.npy`` file of (N, d) float embeddings (memory-mapped).
        keep: the budget: a fraction in (0, 1] or a count.
        out: a folder for ``manifest/`` (the parts) and the kept rows (``<input name>.npy``).
        metric: ``prototypes`` or ``semdedup``.
        policy: ``keep-hard``, ``keep-easy``, ``random`` or ``auto`` (uncalibrated).
        metric_options: ``k``, ``distance``; ``eps``, ``survivor`` (semdedup).
        policy_options: ``auto_threshold`` (auto).
        seed: seeds k-means and the tie-breaking.
        engine: ``local``, ``ray`` or an engine object.
        cache_dir: where the shard checkpoints are kept (a killed run resumes from them).
        quiet: no progress bars or status lines.

    Returns:
        A :class:`PartsResult` (``n_kept``, ``kept()``, ``manifest()``).

    Example:
        >>> import numpy as np, lessdata, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> np.save(d / "x.npy", np.random.default_rng(0).normal(size=(300, 8)).astype("f4"))
        >>> lessdata.prune_parts(d / "x.npy", 0.5, d / "out", policy="keep-hard").n_kept
        150
    """
    names, options = _check_metrics(metric, metric_options, "metric")
    policy_opts = check_policy_options(policy, policy_options)
    if policy not in PARTS_POLICIES:
        raise LessdataError(
            f"parts mode runs the policies {', '.join(PARTS_POLICIES)}, got {policy!r}: the "
            "others need every score (or the vectors) in one place; leave out `parts`",
            param="policy",
        )
    seed = check_seed(seed)
    vectors, source = _open_vectors(data)
    n = len(vectors)
    budget = resolve_budget(keep, n)
    applied, rule = policy, policy
    if policy == "auto":
        applied = auto_policy_name(
            kept_fraction(keep, n), policy_opts.get("auto_threshold", AUTO_THRESHOLD)
        )
        rule = f"auto → {applied}"
    with _parts_run(out, "prune", engine, cache_dir, vectors, source, names, options, seed) as (
        folder,
        running,
        plan,
    ):
        shards = _shards(n)
        running.map(score_to_file, shards, shared=(vectors, plan, metric),
                    label="scoring")  # fmt: skip
        tie_seed = tie_seed_of(np.random.default_rng(seed))
        scored: list[ScoreShard] = [
            (
                "" if applied == "random" else str(Path(plan.folder) / f"score-{a:012d}.npy"),
                a,
                b - a,
            )
            for a, b in shards
        ]
        keep_high = applied == "keep-hard"
        boundary = None
        if budget < n:
            rank = n - budget if keep_high else budget - 1
            boundary = find_rank(running, scored, tie_seed, rank, n)
        what = f"{rule} on {metric}, {budget} of {n} kept"
        settings = dict(command="prune", keep=keep, budget=budget, policy=policy, metric=metric,
                        seed=seed, k=options.get("k"), parts=True,
                        distance=options.get("distance", "cosine"))  # fmt: skip
        manifest = folder.path(MANIFEST_FOLDER)
        manifest.mkdir()
        target = _target(manifest, vectors, settings, source, [metric])
        counts = running.map(
            prune_part, scored,
            shared=(plan, tie_seed, boundary, keep_high, target,
                    [f"kept: {what}", f"pruned: {what}"]),
            label="writing manifest parts",
        )  # fmt: skip
        if sum(counts) != budget:  # a broken invariant, not a user error
            raise RuntimeError(f"kept {sum(counts)} rows, expected {budget}")
        data_path = _write_kept_rows(running, folder, vectors, source, manifest, counts)
        return _finish(folder, {"manifest": manifest, "data": data_path}, n, budget)


@honours_quiet
def dedup_parts(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    method_options: dict[str, Any] | None = None,
    seed: int = 0,
    engine: EngineLike = "local",
    cache_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> PartsResult:
    """SemDeDup a ``.npy`` of embeddings shard by shard: manifest parts and the kept rows.

    The same kept ids as ``lessdata.dedup(data, method="semantic")`` (same seed and
    options); the clusters are deduplicated after a shuffle of the rows to cluster buckets
    (:mod:`lessdata.duplicates.semdedup_parts`), and the driver's memory is independent of
    the number of rows.

    Args:
        data: a ``.npy`` file of (N, d) float embeddings (memory-mapped).
        out: a folder for ``manifest/`` (the parts) and the kept rows (``<input name>.npy``).
        method_options: ``eps`` (duplicates: cosine similarity above 1 - eps; default
            0.05), ``survivor`` (``hard``, ``easy``, ``random``), ``k``.
        seed: seeds k-means and the tie-breaking.
        engine: ``local``, ``ray`` or an engine object.
        cache_dir: where the shard checkpoints are kept (a killed run resumes from them).
        quiet: no progress bars or status lines.

    Returns:
        A :class:`PartsResult`.

    Example:
        >>> import numpy as np, lessdata, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> x = np.random.default_rng(0).normal(size=(200, 8)).astype("f4")
        >>> np.save(d / "x.npy", np.concatenate([x, x]))
        >>> lessdata.dedup_parts(d / "x.npy", d / "out", method_options={"k": 4}).n_kept
        200
    """
    options = dict(method_options or {})
    if "keep" in options:
        raise LessdataError(
            "parts mode deduplicates by a threshold (`eps`); a target size (`keep`) needs "
            "every similarity in one place: leave out `parts`",
            param="keep",
        )
    names, options = _check_metrics("semdedup", options, "method_options")
    seed = check_seed(seed)
    vectors, source = _open_vectors(data)
    eps, survivor = options.get("eps", 0.05), options.get("survivor", "hard")
    with _parts_run(out, "dedup", engine, cache_dir, vectors, source, names, options, seed) as (
        folder,
        running,
        plan,
    ):
        settings = dict(command="dedup", method="semantic", eps=eps, survivor=survivor,
                        k=options.get("k"), seed=seed, parts=True)  # fmt: skip
        manifest = folder.path(MANIFEST_FOLDER)
        manifest.mkdir()
        vocabulary = [
            "kept: no example kept before it is a near duplicate",
            f"duplicate: cosine similarity above {1 - eps:g} to semdedup_duplicate_of, an "
            "example its cluster's walk kept",
        ]
        target = _target(manifest, vectors, settings, source, ["semdedup"])
        counts = running.map(dedup_part, _shards(len(vectors)),
                             shared=(vectors, plan, target, vocabulary),
                             label="writing manifest parts")  # fmt: skip
        data_path = _write_kept_rows(running, folder, vectors, source, manifest, counts)
        return _finish(folder, {"manifest": manifest, "data": data_path}, len(vectors),
                       int(sum(counts)))  # fmt: skip
