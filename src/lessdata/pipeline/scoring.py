"""``lessdata.score``: one score per example from each chosen metric, as a manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.checks import check_choice, check_seed
from lessdata.data.dataset import Dataset
from lessdata.data.manifest import build_manifest, write_manifest
from lessdata.data.mapped import release_pages
from lessdata.data.paths import check_output_file
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.engines import Engine
from lessdata.errors import LessdataError
from lessdata.kmeans import CHUNK_ROWS, check_k
from lessdata.metrics import Metric, ScoreInputs, get_metric
from lessdata.pipeline.inputs import DataLike, EngineLike, as_dataset, run_engine, vectors_of
from lessdata.pipeline.options import check_metric_options
from lessdata.pipeline.outputs import input_paths
from lessdata.progress import honours_quiet, log


@honours_quiet
def score(
    data: DataLike,
    metrics: str | list[str] = "prototypes",
    *,
    metric_options: dict[str, Any] | None = None,
    encoder: str = DEFAULT_ENCODER,
    seed: int = 0,
    engine: EngineLike = "local",
    out: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    zero_vectors: str = "refuse",
    dynamics: Any = None,
    quiet: bool = False,
    **load_options: Any,
) -> pa.Table:
    """Score every example with one or more metrics; return (and optionally write) a manifest.

    Args:
        data: a path (``.npy``/``.npz``, Parquet, JSONL, CSV, a Hugging Face folder, a
            folder of source files, ``builtin:digits``), a loaded :class:`Dataset` or an
            ``(N, d)`` array.
        metrics: one metric name or several (see ``lessdata.metrics.REGISTRY``).
        metric_options: the metrics' knobs, e.g. ``{"k": 100, "distance": "euclidean"}``
            for ``prototypes``, ``{"eps": 0.05}`` for ``semdedup``, ``{"target": path}`` for
            ``dsir``; an option no chosen metric takes is an error.
        encoder: how texts without vectors are embedded: ``minilm``, ``tfidf`` or a local
            sentence-transformers folder.
        seed: seeds k-means, proxy training and random draws.
        engine: where the row-parallel steps run: ``local``, ``ray``, or an engine object
            (``lessdata.engines.RayEngine(address=..., workers=...)``); same result on all.
        out: a ``.parquet`` file to write the scores to.
        cache_dir: where embeddings and shard checkpoints are kept (default
            ``$LESSDATA_CACHE`` or ``~/.cache/lessdata``).
        zero_vectors: rows whose vector is all zeros (failed or padded embeddings) have no
            direction for the cosine metrics: ``refuse`` (default) stops with their count
            and ids; ``drop`` leaves them out (NaN scores, never kept).
        dynamics: a :class:`lessdata.torch.LossRecorder` filled in the user's own training
            loop: the training-dynamics metrics (``el2n``, ``forgetting``, ``aum``,
            ``cartography-*``, ``margin``, ``entropy``) read it instead of training a proxy,
            and the manifest says which model the scores came from.
        quiet: no progress bars or status lines (as ``LESSDATA_QUIET=1`` does).
        **load_options: how to read ``data``: ``text_column``, ``embedding_column``,
            ``label_column``, ``id_column``, ``labels`` (an array or ``.npy`` path),
            ``split`` and ``extensions`` (source folders).

    Returns:
        The manifest: ``id``, one column per metric (higher = harder) and the metrics'
        extra columns.

    Example:
        >>> import numpy as np, lessdata
        >>> x = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
        >>> table = lessdata.score(x, "prototypes", metric_options={"k": 4})
        >>> table.column_names
        ['id', 'prototypes', 'prototypes_cluster']
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise LessdataError("name at least one metric, e.g. 'prototypes'", param="metrics")
    if len(set(names)) != len(names):
        raise LessdataError(f"each metric may be named once, got {names}", param="metrics")
    chosen = [get_metric(name) for name in names]
    options = check_metric_options(chosen, metric_options)
    seed = check_seed(seed)
    check_choice(zero_vectors, "zero_vectors", ZERO_VECTORS)
    ds = as_dataset(data, **load_options)
    records = recorded_dynamics(dynamics, len(ds))
    if out is not None:
        inputs = input_paths(data, load_options, metric_options)
        check_output_file(out, [ds.source, *inputs])
    with run_engine(engine, cache_dir) as running:
        scored = score_columns(
            ds, chosen, options, encoder=encoder, cache_dir=cache_dir, seed=seed,
            engine=running, zero_vectors=zero_vectors, records=records,
        )  # fmt: skip
    columns = scored.columns
    settings = dict(
        command="score", k=options.get("k"), distance=options.get("distance", "cosine"),
        eps=options.get("eps", 0.05), seed=seed, encoder=encoder,
    )  # fmt: skip
    if scored.notes:
        settings["metric_notes"] = scored.notes
    if dynamics is not None:
        settings["dynamics"] = dynamics.describe()
    table = build_manifest(ds, columns, metrics=names, settings=settings)
    if out is not None:
        write_manifest(table, out)
    return table


def recorded_dynamics(dynamics: Any, n: int) -> dict[str, np.ndarray]:
    """The per-example statistics of a :class:`lessdata.torch.LossRecorder` (``{}`` for
    none), checked against the dataset's length."""
    if dynamics is None:
        return {}
    if not hasattr(dynamics, "statistics") or not hasattr(dynamics, "describe"):
        raise LessdataError(
            f"dynamics must be a lessdata.torch.LossRecorder, got {type(dynamics).__name__}",
            param="dynamics",
        )
    if dynamics.n != n:
        raise LessdataError(
            f"the recorder was made for {dynamics.n} examples but the data has {n}",
            param="dynamics",
        )
    return dynamics.statistics()


#: what to do with zero vectors (failed or padded embeddings) where a metric reads
#: directions: refuse the input (the default), or drop those rows (never kept, not scored)
ZERO_VECTORS = ("refuse", "drop")


def score_columns(
    ds: Dataset,
    chosen: list[Metric],
    options: dict[str, Any],
    *,
    encoder: str,
    cache_dir: Any,
    seed: int,
    engine: Engine | None = None,
    zero_vectors: str = "refuse",
    records: dict[str, np.ndarray] | None = None,
) -> Scored:
    """Every column the ``chosen`` metrics produce on ``ds``, with the checked ``options``.

    What each metric needs is checked before the (slow) embedding; the metrics share one
    :class:`ScoreInputs`, whose cache lets ``prototypes`` and ``semdedup`` share a k-means
    fit and the dynamics metrics one set of proxy runs. Rows whose vector is zero have no
    direction: where a chosen metric reads directions they are refused, or with
    ``zero_vectors="drop"`` left out (their scores NaN, their cluster and duplicate -1).
    """
    for metric in chosen:
        recorded = bool(records) and metric.needs_training  # the recorder had the targets
        if metric.needs_labels and ds.labels is None and not recorded:
            raise LessdataError(
                f"metric {metric.name!r} needs labels: pass `label_column` (or `labels`)"
            )
    if options.get("k") is not None:
        check_k(options["k"], len(ds))
    if any(m.needs_vectors for m in chosen):
        vectors_of(ds, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=engine)
    usable = None
    if ds.vectors is not None and any(m.reads_directions(options) for m in chosen):
        usable = usable_rows(ds, zero_vectors)
    part = ds if usable is None else subset(ds, usable)
    if usable is not None and options.get("k") is not None:
        check_k(options["k"], len(part))
    records = records or {}
    if usable is not None:
        records = {k: v[usable] for k, v in records.items()}
    inputs = ScoreInputs(
        n=len(part), vectors=part.vectors, labels=part.labels, texts=part.texts, seed=seed,
        engine=engine, records=records,
    )  # fmt: skip
    columns: dict[str, np.ndarray] = {}
    for metric in chosen:
        log(f"scoring {len(part)} examples with {metric.name}")
        columns.update(metric(inputs, **options))
    full = columns if usable is None else expand(columns, usable, len(ds))
    return Scored(full, usable, part, columns, inputs.notes)


@dataclass
class Scored:
    """What :func:`score_columns` found: one column per metric output (one value per row
    of the dataset), the rows that were scored (None: all of them), the dataset those
    rows make (the dataset itself when all), and the columns over those rows alone."""

    columns: dict[str, np.ndarray]
    rows: np.ndarray | None
    scored: Dataset
    local: dict[str, np.ndarray]
    #: the metrics' notes on the run (:attr:`ScoreInputs.notes`), for the manifest
    notes: dict[str, Any] = field(default_factory=dict)


def zero_vector_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows whose vector is all zeros, streamed in chunks (a memory map is not loaded, and
    its pages are released after each chunk: :func:`lessdata.data.mapped.release_pages`)."""
    found = []
    for start in range(0, len(vectors), CHUNK_ROWS):
        found.append(start + np.flatnonzero(~np.any(vectors[start : start + CHUNK_ROWS], axis=1)))
        release_pages(vectors)
    return np.concatenate([np.empty(0, np.int64), *found]).astype(np.int64)


def usable_rows(ds: Dataset, zero_vectors: str) -> np.ndarray | None:
    """The rows with a direction (None: all): zero vectors are refused, or dropped."""
    check_choice(zero_vectors, "zero_vectors", ZERO_VECTORS)
    assert ds.vectors is not None
    zero = zero_vector_rows(ds.vectors)
    if not len(zero):
        return None
    ids = ds.ids.take(pa.array(zero[:5])).to_pylist()
    what = f"{len(zero)} of {len(ds)} rows are zero vectors (ids {ids}{', ...' * (len(zero) > 5)})"
    if zero_vectors == "refuse":
        raise LessdataError(
            f"{what}: a zero vector has no direction, so cosine scores and duplicates are "
            "meaningless for it (failed or padded embeddings?); fix the embeddings, or pass "
            "`zero_vectors`=drop to leave those rows out"
        )
    if len(zero) == len(ds):
        raise LessdataError(f"{what}: nothing is left to score")
    log(f"{what}: left out, as zero_vectors=drop asks")
    return np.setdiff1d(np.arange(len(ds)), zero)


def subset(ds: Dataset, rows: np.ndarray) -> Dataset:
    """The rows ``rows`` of ``ds`` as a dataset of their own (vectors copied)."""
    assert ds.vectors is not None
    return Dataset(
        source=ds.source, format="array", ids=ds.ids.take(pa.array(rows)),
        vectors=np.asarray(ds.vectors[rows]),
        texts=None if ds.texts is None else ds.texts.take(pa.array(rows)),
        labels=None if ds.labels is None else ds.labels[rows], classes=ds.classes,
    )  # fmt: skip


def expand(columns: dict[str, np.ndarray], rows: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Columns over ``rows`` as columns over all ``n`` rows: NaN (floats) or -1 (integers)
    elsewhere; ``*_duplicate_of`` row numbers are mapped back to the whole dataset's."""
    full: dict[str, np.ndarray] = {}
    for name, local in columns.items():
        local = np.asarray(local)
        if name.endswith("_duplicate_of"):
            out = np.full(n, -1, dtype=np.int64)
            hit = local >= 0
            out[rows[hit]] = rows[local[hit]]
        elif np.issubdtype(local.dtype, np.integer):
            out = np.full(n, -1, dtype=local.dtype)
            out[rows] = local
        else:
            out = np.full(n, np.nan)
            out[rows] = local
        full[name] = out
    return full
