"""``score`` and ``prune`` with the driver out of the O(N) path (``--parts``).

For embeddings too large for one process: a memory-mapped ``.npy`` of vectors is scored
and pruned shard by shard on the engine, and the driver holds only what does not grow with
N: k-means centroids, per-shard counts, and the 65,536-bucket histograms of the exact
selection (:mod:`lessdata.pipeline.rank_select`). The workers write the manifest as Parquet
parts (:mod:`lessdata.data.manifest_parts`) and the kept rows into one ``.npy`` at offsets
the driver computed from per-shard counts. The kept ids are exactly those of the in-memory
:func:`lessdata.prune` with the same seed (tested), on every engine.

Passes over the data: a check of the rows (finite, nonzero), k-means training (a sample and
its Lloyd steps, :func:`lessdata.kmeans.fit_centroids`), the nearest centroid of every row
(checkpointed: a killed run resumes here), the scores (strays of tiny clusters rescored),
then for ``prune`` two or three selection passes over the scores, the manifest parts and
the kept rows.

Supported: the ``prototypes`` metric (the paper's label-free metric, the one that needs
only vectors) and the policies ``keep-hard``, ``keep-easy``, ``random`` and uncalibrated
``auto``. The others need every score (or the vectors) in one place; they run in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lessdata import kmeans
from lessdata._version import __version__
from lessdata.budget import resolve_budget
from lessdata.checks import check_seed
from lessdata.data.atomic import atomic_path
from lessdata.data.dataset import open_npy
from lessdata.data.manifest import META_KEY
from lessdata.data.manifest_parts import iter_parts, list_parts, read_parts, write_part
from lessdata.data.paths import OutputFolder
from lessdata.engines import Engine, ShardCheckpoint
from lessdata.engines.base import fingerprint
from lessdata.errors import LessdataError
from lessdata.kmeans import _nearest as nearest_centroid
from lessdata.kmeans import (
    assign_shard,
    check_k,
    fit_centroids,
    min_prototype_size,
    rows_as_float32,
)
from lessdata.metrics import get_metric
from lessdata.metrics.prototype_metrics import check_distance
from lessdata.pipeline.inputs import EngineLike, run_engine
from lessdata.pipeline.options import check_metric_options, check_policy_options
from lessdata.pipeline.rank_select import ScoreShard, at_or_above, find_rank, shard_keys
from lessdata.progress import honours_quiet, log
from lessdata.select import AUTO_THRESHOLD, auto_policy_name, kept_fraction, tie_seed_of

#: the policies the sharded prune runs (those that need only an order of the scores)
PARTS_POLICIES = ("keep-hard", "keep-easy", "random", "auto")
#: the folder of manifest parts inside a prune output folder
MANIFEST_FOLDER = "manifest"


@dataclass
class PartsResult:
    """What a sharded ``score`` or ``prune`` wrote; nothing here grows with N.

    Attributes:
        manifest_folder: the folder of manifest parts (read it with
            :func:`lessdata.data.manifest.read_manifest` or ``lessdata inspect``).
        n: rows scored.
        n_kept: rows kept (``prune``; None for ``score``).
        paths: the files written (``manifest``, and ``data`` for ``prune``).
    """

    manifest_folder: Path
    n: int
    n_kept: int | None = None
    paths: dict[str, Path] = field(default_factory=dict)

    def manifest(self) -> pa.Table:
        """The whole manifest as one table (memory grows with N: for inspection)."""
        return read_parts(self.manifest_folder)

    def kept(self) -> np.ndarray:
        """Sorted row numbers of the kept rows, read part by part (memory: the kept rows)."""
        parts = list_parts(self.manifest_folder)
        found = [
            np.flatnonzero(part["kept"].to_numpy(zero_copy_only=False)) + start
            for part, start in _with_offsets(iter_parts(parts, ["kept"]))
        ]
        return np.concatenate([np.empty(0, np.int64), *found]).astype(np.int64)


def _with_offsets(tables):
    start = 0
    for table in tables:
        yield table, start
        start += table.num_rows


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


def _shards(n: int) -> list[tuple[int, int]]:
    """The row ranges of the shards: the chunks of :mod:`lessdata.kmeans` (so that every
    row is computed in the same block as in memory, and the results match to the bit)."""
    rows = kmeans.CHUNK_ROWS
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def check_rows_shard(rows: tuple[int, int], vectors: np.ndarray) -> tuple[int, list, int, list]:
    """Rows of one shard that are not finite, and rows that are all zeros (first five each)."""
    start, stop = rows
    block = np.asarray(vectors[start:stop])
    bad = np.flatnonzero(~np.isfinite(block).all(axis=1)) + start
    zero = np.flatnonzero(~block.any(axis=1)) + start
    return len(bad), bad[:5].tolist(), len(zero), zero[:5].tolist()


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


def assign_to_file(
    rows: tuple[int, int], vectors: np.ndarray, centroids: np.ndarray, spherical: bool,
    folder: str, k: int,
) -> np.ndarray:  # fmt: skip
    """Nearest centroid and distance of one shard, saved in ``folder``; returns the shard's
    cluster sizes (k counts)."""
    cluster, distance = assign_shard(rows, vectors, centroids, spherical)
    with atomic_path(Path(folder) / f"assign-{rows[0]:012d}.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, cluster=cluster, distance=distance)
    return np.bincount(cluster, minlength=k)


def rescore_shard(
    rows: tuple[int, int], vectors: np.ndarray, centroids: np.ndarray, proper: np.ndarray,
    spherical: bool, folder: str,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A shard's final cluster and score: rows of clusters too small to be prototypes are
    measured against the nearest proper centroid (as :func:`lessdata.kmeans.assign` does)."""
    with np.load(Path(folder) / f"assign-{rows[0]:012d}.npz", allow_pickle=False) as saved:
        cluster, distance = saved["cluster"], saved["distance"]
    is_proper = np.zeros(len(centroids), dtype=bool)
    is_proper[proper] = True
    stray = np.flatnonzero(~is_proper[cluster])
    if len(proper) and len(stray) and len(proper) < len(centroids):
        block = rows_as_float32(vectors, stray + rows[0], normalize=spherical)
        local, distance[stray] = nearest_centroid(block, centroids[proper], spherical)
        cluster[stray] = proper[local]
    return cluster, distance


def score_part(
    rows: tuple[int, int], vectors: np.ndarray, centroids: np.ndarray, proper: np.ndarray,
    spherical: bool, folder: str, target: str, key: str, shard_rows: int, count: int,
    metadata: bytes,
) -> int:  # fmt: skip
    """Write one shard's manifest part of ``score`` (id, prototypes, prototypes_cluster)."""
    cluster, distance = rescore_shard(rows, vectors, centroids, proper, spherical, folder)
    table = _score_table(rows, cluster, distance).replace_schema_metadata({META_KEY: metadata})
    write_part(target, key, rows[0] // shard_rows, count, table)
    return rows[1] - rows[0]


def _score_table(rows: tuple[int, int], cluster: np.ndarray, distance: np.ndarray) -> pa.Table:
    return pa.table({
        "id": pa.array(np.arange(rows[0], rows[1], dtype=np.int64)),
        "prototypes": pa.array(distance.astype(np.float64)),
        "prototypes_cluster": pa.array(cluster.astype(np.int64)),
    })  # fmt: skip


def score_to_file(
    rows: tuple[int, int], vectors: np.ndarray, centroids: np.ndarray, proper: np.ndarray,
    spherical: bool, folder: str,
) -> int:  # fmt: skip
    """``prune``'s scoring pass: one shard's final cluster and score saved in ``folder``."""
    cluster, distance = rescore_shard(rows, vectors, centroids, proper, spherical, folder)
    for name, values in (("score", distance), ("cluster", cluster)):
        with atomic_path(Path(folder) / f"{name}-{rows[0]:012d}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, values)
    return rows[1] - rows[0]


def prune_part(
    shard: ScoreShard, folder: str, tie_seed: int, boundary: tuple[int, int, int] | None,
    keep_high: bool, target: str, key: str, shard_rows: int, count: int, vocabulary: list[str],
    metadata: bytes,
) -> int:  # fmt: skip
    """Write one shard's manifest part of ``prune`` (scores, kept, reason); returns its
    kept count. ``boundary`` None keeps every row."""
    _, start, size = shard
    hi, lo, rows = shard_keys(shard, tie_seed)
    if boundary is None:
        kept = np.ones(size, dtype=bool)
    else:
        above = at_or_above(hi, lo, rows, boundary)
        kept = above if keep_high else ~above | (rows == boundary[2])
    cluster = np.load(Path(folder) / f"cluster-{start:012d}.npy", allow_pickle=False)
    distance = np.load(Path(folder) / f"score-{start:012d}.npy", allow_pickle=False)
    table = _score_table((start, start + size), cluster, distance)
    reasons = pa.DictionaryArray.from_arrays(
        pa.array(np.where(kept, 0, 1).astype(np.int32)), pa.array(vocabulary, type=pa.string())
    )
    table = table.append_column("kept", pa.array(kept)).append_column("reason", reasons)
    write_part(target, key, start // shard_rows, count,
               table.replace_schema_metadata({META_KEY: metadata}))  # fmt: skip
    return int(kept.sum())


def copy_kept_part(
    part: tuple[str, int, int], vectors: np.ndarray, target: str, n_kept: int
) -> int:
    """Copy one part's kept rows of ``vectors`` into the output ``.npy`` at ``offset``."""
    path, start, offset = part
    kept = np.flatnonzero(
        pq.read_table(path, columns=["kept"])["kept"].to_numpy(zero_copy_only=False)
    )
    if len(kept):
        out = np.load(target, mmap_mode="r+", allow_pickle=False)
        if out.shape[0] != n_kept:
            raise LessdataError(f"{target} has {out.shape[0]} rows, expected {n_kept}")
        out[offset : offset + len(kept)] = vectors[start + kept]
        out.flush()
        del out
    return len(kept)


def _metadata(settings: dict[str, Any], source: str) -> bytes:
    meta = {"version": __version__, "input": source, "format": "npy", "metrics": ["prototypes"]}
    meta.update(settings)
    return json.dumps(meta, default=str).encode()


@contextlib.contextmanager
def _work_folder(running: Engine, *key: Any) -> Iterator[ShardCheckpoint]:
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


def _prototype_scores(
    running: Engine, work: ShardCheckpoint, vectors: np.ndarray, source: str,
    options: dict[str, Any], seed: int,
) -> tuple[np.ndarray, np.ndarray, bool]:  # fmt: skip
    """Check the rows, fit k-means and assign every row (checkpointed in ``work``);
    returns the normalised centroids, the proper ones and the geometry."""
    _check_rows(running, vectors, source)
    spherical = check_distance(options.get("distance", "cosine"))
    k = check_k(options.get("k"), len(vectors))
    niter = options.get("niter", 20)
    centroids = fit_centroids(vectors, k, spherical=spherical, seed=seed, niter=niter,
                              engine=running)  # fmt: skip
    if spherical:
        centroids = rows_as_float32(centroids, slice(None), normalize=True)
    sizes = np.zeros(k, dtype=np.int64)
    for _, part in running.imap(
        assign_to_file, _shards(len(vectors)),
        shared=(vectors, centroids, spherical, str(work.folder), k),
        label="k-means: nearest centroid", checkpoint=work,
    ):  # fmt: skip
        sizes += part
    proper = np.flatnonzero(sizes >= min_prototype_size(len(vectors), k))
    return centroids, proper, spherical


def _check_options(metric: str, metric_options: dict[str, Any] | None) -> dict[str, Any]:
    if metric != "prototypes":
        raise LessdataError(
            f"parts mode scores with prototypes only (the metric that needs only vectors), "
            f"got {metric!r}; leave out `parts` for the other metrics",
            param="metric",
        )
    return check_metric_options([get_metric("prototypes")], metric_options)


@honours_quiet
def score_parts(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    metric: str = "prototypes",
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
        metric: ``prototypes`` (the only metric parts mode runs).
        metric_options: ``k``, ``distance``.
        seed: seeds k-means.
        engine: ``local``, ``ray`` or an engine object (see :func:`lessdata.score`).
        cache_dir: where the shard checkpoints are kept (a killed run resumes from them).
        quiet: no progress bars or status lines.

    Returns:
        A :class:`PartsResult`.

    Example:
        >>> import numpy as np, lessdata, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> x = np.random.default_rng(0).normal(size=(300, 8)).astype("float32")
        >>> np.save(d / "x.npy", x)
        >>> lessdata.score_parts(d / "x.npy", d / "scores", metric_options={"k": 4}).n
        300
    """
    options = _check_options(metric, metric_options)
    seed = check_seed(seed)
    vectors, source = _open_vectors(data)
    with (
        OutputFolder(out, [source], command="score") as folder,
        run_engine(engine, cache_dir) as running,
        _work_folder(running, vectors, sorted(options.items()), seed, kmeans.CHUNK_ROWS) as work,
    ):
        centroids, proper, spherical = _prototype_scores(
            running, work, vectors, source, options, seed
        )
        settings = dict(command="score", k=options.get("k"), seed=seed, parts=True,
                        distance=options.get("distance", "cosine"))  # fmt: skip
        shards = _shards(len(vectors))
        key = fingerprint("score-parts", vectors, sorted(settings.items()), kmeans.CHUNK_ROWS)
        running.map(
            score_part, shards,
            shared=(vectors, centroids, proper, spherical, str(work.folder),
                    str(folder.folder), key, kmeans.CHUNK_ROWS, len(shards),
                    _metadata(settings, source)),
            label="writing manifest parts",
        )  # fmt: skip
        final = folder.final
    log(f"writing manifest: {final} ({len(shards)} parts)")
    return PartsResult(manifest_folder=final, n=len(vectors), paths={"manifest": final})


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
        metric: ``prototypes``.
        policy: ``keep-hard``, ``keep-easy``, ``random`` or ``auto`` (uncalibrated).
        metric_options: ``k``, ``distance``.
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
    options = _check_options(metric, metric_options)
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
        threshold = policy_opts.get("auto_threshold", AUTO_THRESHOLD)
        applied = auto_policy_name(kept_fraction(keep, n), threshold)
        rule = f"auto → {applied}"
    with (
        OutputFolder(out, [source], command="prune") as folder,
        run_engine(engine, cache_dir) as running,
        _work_folder(running, vectors, sorted(options.items()), seed, kmeans.CHUNK_ROWS) as work,
    ):
        centroids, proper, spherical = _prototype_scores(
            running, work, vectors, source, options, seed
        )
        shards = _shards(n)
        running.map(score_to_file, shards,
                    shared=(vectors, centroids, proper, spherical, str(work.folder)),
                    label="scoring")  # fmt: skip
        tie_seed = tie_seed_of(np.random.default_rng(seed))
        random = applied == "random"
        scored: list[ScoreShard] = [
            ("" if random else str(work.folder / f"score-{a:012d}.npy"), a, b - a)
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
        key = fingerprint("prune-parts", vectors, sorted(settings.items()), kmeans.CHUNK_ROWS)
        target = folder.path(MANIFEST_FOLDER)
        target.mkdir()
        counts = running.map(
            prune_part, scored,
            shared=(str(work.folder), tie_seed, boundary, keep_high, str(target), key,
                    kmeans.CHUNK_ROWS, len(shards), [f"kept: {what}", f"pruned: {what}"],
                    _metadata(settings, source)),
            label="writing manifest parts",
        )  # fmt: skip
        if sum(counts) != budget:  # a broken invariant, not a user error
            raise RuntimeError(f"kept {sum(counts)} rows, expected {budget}")
        data_path = folder.path(Path(source).name)
        with atomic_path(data_path) as tmp:
            np.lib.format.open_memmap(tmp, mode="w+", dtype=vectors.dtype,
                                      shape=(budget, vectors.shape[1])).flush()  # fmt: skip
            offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
            parts = list_parts(target)
            copies = [(str(p), a, o) for p, (a, _), o in zip(parts, shards, offsets, strict=True)]
            running.map(copy_kept_part, copies, shared=(vectors, str(tmp), budget),
                        label="writing kept rows")  # fmt: skip
        paths = {"manifest": folder.final_path(target), "data": folder.final_path(data_path)}
    for name, path in paths.items():
        log(f"writing {name}: {path}")
    return PartsResult(manifest_folder=paths["manifest"], n=n, n_kept=budget, paths=paths)
