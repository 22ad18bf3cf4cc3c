"""The public pipeline: load → (embed) → score → select → manifest + pruned data + report.

``lessdata.score``, ``lessdata.prune`` and ``lessdata.dedup`` are what the CLI commands of
the same names call, option for option.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata._progress import log
from lessdata.budget import resolve_budget
from lessdata.data.cache_dir import default_cache_dir
from lessdata.data.dataset import Dataset, check_vectors, detect_format, external_labels, load
from lessdata.data.manifest import build_manifest, write_manifest
from lessdata.data.paths import check_not_input_path
from lessdata.data.writers import check_not_input, subset_path, write_subset
from lessdata.engines import Engine, running_engine
from lessdata.errors import LessdataError
from lessdata.kmeans import assign, check_k, fit_centroids
from lessdata.metrics import ScoreInputs, get_metric
from lessdata.duplicates.semdedup import check_eps
from lessdata.select import (
    AUTO_THRESHOLD,
    POLICIES,
    auto_policy_name,
    keep_hard,
    kept_fraction,
    select,
)

DataLike = str | Path | Dataset | np.ndarray
EngineLike = str | Engine
DEDUP_METHODS = ("exact", "near", "semantic")


@dataclass
class PruneResult:
    """What ``prune`` and ``dedup`` produced."""

    manifest: pa.Table
    kept: np.ndarray
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def n_kept(self) -> int:
        return len(self.kept)


def check_seed(seed: int) -> int:
    """Seeds are non-negative whole numbers (NumPy's rule)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LessdataError(f"--seed must be a non-negative whole number, got {seed!r}")
    return int(seed)


def as_dataset(data: DataLike, **load_options: Any) -> Dataset:
    """Accept a path, a loaded :class:`Dataset` or an ``(N, d)`` array."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, np.ndarray):
        check_vectors(data, "array")
        labels = load_options.get("labels")
        ds = Dataset(
            source="<array>", format="array", ids=pa.array(np.arange(len(data), dtype=np.int64))
        )
        ds.vectors = data
        if labels is not None:
            ds.labels, ds.classes = external_labels(labels, len(data))
        return ds
    return load(data, **load_options)


def vectors_of(
    ds: Dataset,
    *,
    encoder: str = "minilm",
    cache_dir: str | Path | None = None,
    seed: int = 0,
    engine: Engine | None = None,
) -> np.ndarray:
    """The dataset's vectors: its embedding column, or its texts embedded (cached on disk)."""
    if ds.vectors is not None:
        return ds.vectors
    if ds.texts is None:
        raise LessdataError(f"{ds.source} has neither vectors nor texts to embed")
    from lessdata.embed import embed_texts, get_encoder

    chosen = get_encoder(encoder, seed=seed)  # an unknown name fails before any work
    log(f"embedding {len(ds)} texts with {encoder}")
    ds.vectors = embed_texts(ds.texts, chosen, cache_dir=cache_dir, seed=seed, engine=engine)
    return ds.vectors


def score(
    data: DataLike,
    metrics: str | list[str] = "prototypes",
    *,
    encoder: str = "minilm",
    cache_dir: str | Path | None = None,
    k: int | None = None,
    distance: str = "cosine",
    eps: float = 0.05,
    survivor: str = "hard",
    seed: int = 0,
    out: str | Path | None = None,
    metric_options: dict[str, Any] | None = None,
    engine: EngineLike = "local",
    address: str | None = None,
    workers: int | None = None,
    **load_options: Any,
) -> pa.Table:
    """Score every example with one or more metrics; return (and optionally write) a manifest.

    ``engine`` (``local`` or ``ray``, or an :class:`lessdata.engines.Engine`) runs the
    row-parallel steps (embedding, k-means assignment, SemDeDup) with the same result;
    ``address`` joins an existing Ray cluster, ``workers`` sizes a local one.

    Example:
        >>> import numpy as np, lessdata
        >>> x = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
        >>> table = lessdata.score(x, "prototypes", k=4)
        >>> table.column_names
        ['id', 'prototypes', 'prototypes_cluster']
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise LessdataError("name at least one metric (--metric prototypes)")
    if len(set(names)) != len(names):
        raise LessdataError(f"each metric may be named once, got {names}")
    chosen = [get_metric(name) for name in names]
    check_seed(seed)
    ds = as_dataset(data, **load_options)
    if out is not None:
        if Path(out).is_dir():
            raise LessdataError(f"--out {out} is a folder; give a .parquet file name")
        check_not_input_path(ds.source, out)
    with _engine(engine, address, workers, cache_dir) as running:
        columns = _score_columns(
            ds, chosen, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=running,
            k=k, distance=distance, eps=eps, survivor=survivor, **(metric_options or {}),
        )  # fmt: skip
    settings = dict(command="score", k=k, distance=distance, eps=eps, seed=seed, encoder=encoder)
    table = build_manifest(ds, columns, metrics=names, settings=settings)
    if out is not None:
        write_manifest(table, out)
    return table


def _engine(
    engine: EngineLike, address: str | None, workers: int | None, cache_dir: Any
) -> AbstractContextManager[Engine]:
    """The run's engine, checkpointing finished shards under ``<cache_dir>/work``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return running_engine(engine, address=address, workers=workers, work_dir=root / "work")


def _score_columns(
    ds: Dataset,
    chosen: list,
    *,
    encoder: str,
    cache_dir: Any,
    seed: int,
    engine: Engine | None = None,
    **options: Any,
) -> dict[str, np.ndarray]:
    accepted = {"k", "distance", "eps", "survivor"}.union(*(m.options for m in chosen))
    unknown = sorted(set(options) - accepted)
    if unknown:
        names = ", ".join(m.name for m in chosen)
        known = ", ".join(sorted(set().union(*(m.options for m in chosen)))) or "none"
        raise LessdataError(f"{names} take no option {unknown}; options they take: {known}")
    for metric in chosen:  # check needs before the (slow) embedding
        if metric.needs_labels and ds.labels is None:
            raise LessdataError(
                f"metric {metric.name!r} needs labels: pass --label-column (or --labels FILE.npy)"
            )
    if "k" in options:
        check_k(options["k"], len(ds))
    if any(m.needs_vectors for m in chosen):
        vectors_of(ds, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=engine)
    inputs = ScoreInputs(
        n=len(ds), vectors=ds.vectors, labels=ds.labels, texts=ds.texts, seed=seed, engine=engine
    )
    columns: dict[str, np.ndarray] = {}
    for metric in chosen:  # one ScoreInputs: prototypes and semdedup share one k-means
        log(f"scoring {len(ds)} examples with {metric.name}")
        columns.update(metric(inputs, **options))
    return columns


def prune(
    data: DataLike,
    *,
    keep: float | int,
    out: str | Path | None = None,
    metric: str = "prototypes",
    policy: str = "auto",
    class_balanced: bool = False,
    encoder: str = "minilm",
    cache_dir: str | Path | None = None,
    k: int | None = None,
    distance: str = "cosine",
    eps: float = 0.05,
    survivor: str = "hard",
    auto_threshold: float = AUTO_THRESHOLD,
    ccs_beta: float | None = None,
    ccs_strata: int | None = None,
    seed: int = 0,
    report: bool = True,
    metric_options: dict[str, Any] | None = None,
    engine: EngineLike = "local",
    address: str | None = None,
    workers: int | None = None,
    **load_options: Any,
) -> PruneResult:
    """Score, select ``keep`` examples with ``policy``, and write the results to ``out``.

    ``metric_options`` passes further options to the metric (for the training-dynamics
    metrics: ``proxy_model``, ``proxy_epochs``, ``proxy_runs``, ``width``, ``early_epoch``).
    ``out`` (a folder) receives ``manifest.parquet``, the kept rows in the input's format
    under the input's file name, ``scores.png`` and ``report.html``. ``policy="d4"`` runs
    SemDeDup first and prototype pruning on the survivors (Tirumala et al. 2023); it uses
    ``eps``/``survivor`` for the first stage and ignores ``metric``. ``engine``, ``address``
    and ``workers``: where the row-parallel steps run (see :func:`score`).
    """
    if policy != "d4" and policy not in POLICIES:
        raise LessdataError(
            f"unknown policy {policy!r}; choose one of: {', '.join([*POLICIES, 'd4'])}"
        )
    check_seed(seed)
    if not 0 < auto_threshold <= 1:
        raise LessdataError(f"--auto-threshold must lie in (0, 1], got {auto_threshold}")
    ds = as_dataset(data, **load_options)
    n = len(ds)
    budget = resolve_budget(keep, n)
    out_dir = check_out_folder(ds, out)
    if class_balanced and ds.labels is None:
        raise LessdataError("class-balanced selection needs labels: pass --label-column")
    settings: dict[str, Any] = dict(
        command="prune", keep=keep, budget=budget, policy=policy, metric=metric, seed=seed,
        class_balanced=class_balanced, k=k, distance=distance, encoder=encoder,
    )  # fmt: skip
    with _engine(engine, address, workers, cache_dir) as running:
        if policy == "d4":
            check_eps(eps)
            columns, kept, reasons = _d4(
                ds, budget, encoder, cache_dir, k, eps, survivor, seed, running
            )
            metrics = ["semdedup", "prototypes"]
            settings.update(eps=eps, survivor=survivor, metric="semdedup+prototypes")
        else:
            chosen = get_metric(metric)
            columns = _score_columns(
                ds, [chosen], encoder=encoder, cache_dir=cache_dir, seed=seed, engine=running,
                k=k, distance=distance, eps=eps, survivor=survivor, **(metric_options or {}),
            )  # fmt: skip
            kept = select(
                columns[metric], keep, policy=policy, labels=ds.labels,
                class_balanced=class_balanced, seed=seed, auto_threshold=auto_threshold,
                ccs_beta=ccs_beta, ccs_strata=ccs_strata,
            )  # fmt: skip
            rule = policy
            if policy == "auto":
                rule = f"auto → {auto_policy_name(kept_fraction(keep, n), auto_threshold)}"
                settings["auto_threshold"] = auto_threshold
            balance = ", class-balanced" if class_balanced else ""
            what = f"{rule} on {metric}{balance}, {budget} of {n} kept"
            reasons = _two_reasons(n, kept, f"kept: {what}", f"pruned: {what}")
            metrics = [metric]
    return _finish(ds, columns, metrics, kept, reasons, settings, out_dir, report=report)


def dedup(
    data: DataLike,
    *,
    out: str | Path | None = None,
    method: str | Sequence[str] = "semantic",
    eps: float = 0.05,
    survivor: str = "hard",
    k: int | None = None,
    encoder: str = "minilm",
    cache_dir: str | Path | None = None,
    seed: int = 0,
    report: bool = True,
    keep_rule: str = "first",
    near: Any = None,
    split: str = "file",
    extensions: Sequence[str] = (".py",),
    engine: EngineLike = "local",
    address: str | None = None,
    workers: int | None = None,
    **load_options: Any,
) -> PruneResult:
    """Remove duplicates and write the survivors (see :func:`prune` for ``out``).

    ``method`` names one kind or several, which chain in the order exact → near → semantic:

    * ``exact``: identical after normalisation (trailing spaces, line endings);
    * ``near``: MinHash + LSH, Jaccard similarity of word 5-grams >= 0.7 by default (``near``
      takes a :class:`lessdata.pipeline.curate.NearOptions`); each cluster keeps one member chosen
      by ``keep_rule`` (``first`` or ``longest``);
    * ``semantic``: SemDeDup: within each k-means cluster, an example whose cosine
      similarity to a kept example exceeds ``1 - eps`` is dropped; ``survivor`` (hard, easy,
      random) decides which member of a group stays.

    Text kinds (and any input that is a folder of source files) run through
    :func:`lessdata.pipeline.curate.curate`, which also records unreadable documents; ``semantic``
    alone also works on precomputed embeddings. ``engine``, ``address``, ``workers``: where
    the row-parallel steps run (see :func:`score`).
    """
    methods = [method] if isinstance(method, str) else list(method)
    unknown = [m for m in methods if m not in DEDUP_METHODS]
    if unknown or not methods:
        raise LessdataError(
            f"unknown dedup method {unknown[0] if unknown else '(none)'!r}; choose among "
            f"{', '.join(DEDUP_METHODS)}"
        )
    check_eps(eps)
    check_seed(seed)
    if methods != ["semantic"] or _is_source_folder(data):
        from lessdata.pipeline.curate import curate

        given = {k: v for k, v in load_options.items() if v is not None}
        columns = {k: given.pop(k) for k in ("text_column", "id_column") if k in given}
        if given:
            raise LessdataError(
                f"{', '.join(sorted(given))} do not apply to text deduplication; drop them"
            )
        return curate(
            data, out=out, dedup=methods, keep_rule=keep_rule, near=near, eps=eps,
            survivor=survivor, k=k, encoder=encoder, cache_dir=cache_dir, seed=seed,
            report=report, split=split, extensions=extensions, engine=engine, address=address,
            workers=workers, **columns,
        )  # fmt: skip
    ds = as_dataset(data, **load_options)
    out_dir = check_out_folder(ds, out)
    with _engine(engine, address, workers, cache_dir) as running:
        columns = _score_columns(
            ds, [get_metric("semdedup")], encoder=encoder, cache_dir=cache_dir, seed=seed,
            engine=running, k=k, eps=eps, survivor=survivor,
        )  # fmt: skip
    duplicate = columns["semdedup_duplicate_of"] >= 0
    kept = np.flatnonzero(~duplicate)
    reasons = (
        duplicate.astype(np.int32),
        [
            "kept: no kept example in its cluster is a near duplicate",
            f"duplicate: cosine similarity above {1 - eps:g} to the kept example in "
            "semdedup_duplicate_of",
        ],
    )
    settings = dict(
        command="dedup", method="semantic", eps=eps, survivor=survivor, k=k, seed=seed,
        encoder=encoder,
    )  # fmt: skip
    return _finish(ds, columns, ["semdedup"], kept, reasons, settings, out_dir, report=report)


def _is_source_folder(data: DataLike) -> bool:
    """True for a path to a folder that is not a saved Hugging Face dataset."""
    if not isinstance(data, (str, Path)) or str(data).startswith("builtin:"):
        return False
    path = Path(data)
    return path.is_dir() and detect_format(path) == "source"


def _d4(
    ds: Dataset,
    budget: int,
    encoder: str,
    cache_dir: Any,
    k: int | None,
    eps: float,
    survivor: str,
    seed: int,
    engine: Engine,
) -> tuple[dict[str, np.ndarray], np.ndarray, tuple[np.ndarray, list[str]]]:
    """D4 (Tirumala et al. 2023): SemDeDup, then re-cluster the survivors and keep the hardest.

    When the budget exceeds the survivors, all survivors are kept and the least redundant
    duplicates (highest SemDeDup distance) fill the rest, so exactly ``budget`` are kept.
    """
    columns = _score_columns(
        ds, [get_metric("semdedup")], encoder=encoder, cache_dir=cache_dir, seed=seed,
        engine=engine, k=k, eps=eps, survivor=survivor,
    )  # fmt: skip
    vectors = ds.vectors
    assert vectors is not None
    duplicate = columns["semdedup_duplicate_of"] >= 0
    survivors = np.flatnonzero(~duplicate)
    rng = np.random.default_rng(seed)
    # prototype distances against centroids fitted on the survivors, for every example
    k2 = check_k(None, len(survivors)) if k is None else min(k, len(survivors))
    centroids = fit_centroids(vectors[survivors], k2, spherical=True, seed=seed)
    cluster, distance = assign(vectors, centroids, spherical=True, engine=engine)
    columns["prototypes"] = distance
    columns["prototypes_cluster"] = cluster
    if budget <= len(survivors):
        kept = survivors[keep_hard(distance[survivors], budget, rng)]
    else:
        dups = np.flatnonzero(duplicate)
        extra = dups[keep_hard(columns["semdedup"][dups], budget - len(survivors), rng)]
        kept = np.sort(np.concatenate([survivors, extra]))
    codes = np.where(duplicate, 1, 2).astype(np.int32)
    codes[kept] = 0
    vocabulary = [
        "kept: D4 (survived SemDeDup, among the hardest by prototypes)",
        "pruned: semantic duplicate (SemDeDup stage of D4)",
        "pruned: too prototypical (prototype stage of D4)",
    ]
    return columns, kept, (codes, vocabulary)


def _two_reasons(n: int, kept: np.ndarray, yes: str, no: str) -> tuple[np.ndarray, list[str]]:
    codes = np.ones(n, dtype=np.int32)
    codes[kept] = 0
    return codes, [yes, no]


def check_out_folder(ds: Dataset, out: str | Path | None) -> Path | None:
    """Validate the output folder before any work, so that bad input writes nothing."""
    if out is None:
        return None
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise LessdataError(f"--out {out_dir} is a file; give a folder for the outputs")
    if ds.format != "array":
        check_not_input(ds, subset_path(ds, out_dir))
        if ds.format != "builtin" and out_dir.resolve() == Path(ds.source).resolve():
            raise LessdataError(f"--out {out_dir} is the input itself; choose another folder")
    return out_dir


def _finish(
    ds: Dataset,
    columns: dict[str, np.ndarray],
    metrics: list[str],
    kept: np.ndarray,
    reasons: tuple[np.ndarray, list[str]],
    settings: dict[str, Any],
    out_dir: Path | None,
    *,
    report: bool,
) -> PruneResult:
    """Build the manifest of a prune or dedup and, with an output folder, write everything."""
    table = build_manifest(
        ds, columns, metrics=metrics, kept=kept, reasons=reasons, settings=settings
    )
    result = PruneResult(manifest=table, kept=kept)
    if out_dir is not None:
        title = str(settings["command"])
        result.paths = _write_outputs(ds, table, kept, out_dir, report=report, title=title)
    return result


def _write_outputs(
    ds: Dataset, table: pa.Table, kept: np.ndarray, out_dir: Path, *, report: bool, title: str
) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    if ds.format != "array":  # the data first: if it fails, no manifest claims it exists
        paths["data"] = write_subset(ds, kept, subset_path(ds, out_dir))
    paths["manifest"] = write_manifest(table, out_dir / "manifest.parquet")
    if report:
        from lessdata.report import write_report

        paths.update(write_report(table, out_dir, title=f"lessdata {title}: {ds.source}"))
    for name, path in paths.items():
        log(f"wrote {name}: {path}")
    return paths
