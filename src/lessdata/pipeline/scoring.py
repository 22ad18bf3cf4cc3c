"""``lessdata.score``: one score per example from each chosen metric, as a manifest."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata._progress import log
from lessdata.checks import check_seed
from lessdata.data.dataset import Dataset
from lessdata.data.manifest import build_manifest, write_manifest
from lessdata.data.paths import check_output_file
from lessdata.engines import Engine
from lessdata.errors import LessdataError
from lessdata.kmeans import check_k
from lessdata.metrics import Metric, ScoreInputs, get_metric
from lessdata.pipeline.inputs import DataLike, EngineLike, as_dataset, run_engine, vectors_of
from lessdata.pipeline.options import check_metric_options
from lessdata.pipeline.outputs import input_paths


def score(
    data: DataLike,
    metrics: str | list[str] = "prototypes",
    *,
    metric_options: dict[str, Any] | None = None,
    encoder: str = "minilm",
    seed: int = 0,
    engine: EngineLike = "local",
    out: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
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
    ds = as_dataset(data, **load_options)
    if out is not None:
        inputs = input_paths(data, load_options, metric_options)
        check_output_file(out, [ds.source, *inputs])
    with run_engine(engine, cache_dir) as running:
        columns = score_columns(
            ds, chosen, options, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=running
        )
    settings = dict(
        command="score", k=options.get("k"), distance=options.get("distance", "cosine"),
        eps=options.get("eps", 0.05), seed=seed, encoder=encoder,
    )  # fmt: skip
    table = build_manifest(ds, columns, metrics=names, settings=settings)
    if out is not None:
        write_manifest(table, out)
    return table


def score_columns(
    ds: Dataset,
    chosen: list[Metric],
    options: dict[str, Any],
    *,
    encoder: str,
    cache_dir: Any,
    seed: int,
    engine: Engine | None = None,
) -> dict[str, np.ndarray]:
    """Every column the ``chosen`` metrics produce on ``ds``, with the checked ``options``.

    What each metric needs is checked before the (slow) embedding; the metrics share one
    :class:`ScoreInputs`, whose cache lets ``prototypes`` and ``semdedup`` share a k-means
    fit and the dynamics metrics one set of proxy runs.
    """
    for metric in chosen:
        if metric.needs_labels and ds.labels is None:
            raise LessdataError(
                f"metric {metric.name!r} needs labels: pass `label_column` (or `labels`)"
            )
    if options.get("k") is not None:
        check_k(options["k"], len(ds))
    if any(m.needs_vectors for m in chosen):
        vectors_of(ds, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=engine)
    inputs = ScoreInputs(
        n=len(ds), vectors=ds.vectors, labels=ds.labels, texts=ds.texts, seed=seed, engine=engine
    )
    columns: dict[str, np.ndarray] = {}
    for metric in chosen:
        log(f"scoring {len(ds)} examples with {metric.name}")
        columns.update(metric(inputs, **options))
    return columns
