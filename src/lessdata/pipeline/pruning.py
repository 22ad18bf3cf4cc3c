"""``lessdata.prune``: score, keep a budget chosen by a policy, write data, manifest, report.

Also D4 (Tirumala et al. 2023), which needs the vectors themselves, not only scores:
SemDeDup first, then prototype pruning on the survivors.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lessdata.budget import resolve_budget
from lessdata.checks import check_bool, check_choice, check_seed
from lessdata.data.dataset import Dataset
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.engines import Engine
from lessdata.errors import LessdataError
from lessdata.kmeans import assign, check_k, fit_centroids
from lessdata.metrics import REGISTRY, get_metric
from lessdata.pipeline.calibration import Calibration, check_calibration, read_calibration
from lessdata.pipeline.given_scores import ScoresLike, read_scores
from lessdata.pipeline.inputs import DataLike, EngineLike, as_dataset, run_engine, vectors_of
from lessdata.pipeline.options import check_metric_options, check_policy_options
from lessdata.pipeline.outputs import (
    PruneResult,
    Reasons,
    finish,
    input_paths,
    output_folder,
    two_reasons,
)
from lessdata.pipeline.scoring import ZERO_VECTORS, expand, score_columns
from lessdata.progress import honours_quiet
from lessdata.select import (
    AUTO_THRESHOLD,
    NEEDS_VECTORS,
    auto_policy_name,
    keep_hard,
    kept_fraction,
    select,
)


@honours_quiet
def prune(
    data: DataLike,
    keep: float | int,
    *,
    metric: str = "prototypes",
    policy: str = "auto",
    scores: ScoresLike | None = None,
    metric_options: dict[str, Any] | None = None,
    policy_options: dict[str, Any] | None = None,
    class_balanced: bool = False,
    seed: int = 0,
    engine: EngineLike = "local",
    out: str | os.PathLike[str] | None = None,
    encoder: str = DEFAULT_ENCODER,
    cache_dir: str | os.PathLike[str] | None = None,
    report: bool = True,
    zero_vectors: str = "refuse",
    calibration: str | os.PathLike[str] | Calibration | None = None,
    quiet: bool = False,
    **load_options: Any,
) -> PruneResult:
    """Score, select ``keep`` examples with ``policy``, and write the results to ``out``.

    Args:
        data: a path, a loaded :class:`Dataset` or an ``(N, d)`` array (see
            :func:`lessdata.score`).
        keep: the budget: a fraction in (0, 1] (``0.5``) or a count (``1000``).
        metric: the score to prune by (see ``lessdata.metrics.REGISTRY``); ignored by D4.
            With ``scores``: the name of what they measure (and of the Parquet column read).
        policy: ``keep-hard``, ``keep-easy``, ``auto``, ``random``, ``moderate``, ``ccs``,
            ``importance``, ``d2`` (difficulty by ``metric`` spread over a kNN graph of the
            vectors, then coverage-aware picks; see :mod:`lessdata.select`) or ``d4``
            (SemDeDup, then prototypes on the survivors).
        scores: instead of computing ``metric``: your own score per example, higher = harder
            (an array, an ``.npy`` file, or a Parquet table with ``id`` and ``metric``
            columns such as ``lessdata score`` writes; rows matched by id). A calibration
            made with ``lessdata calibrate --scores`` needs the same scores here.
        metric_options: the metric's knobs (``k``, ``distance``; for the training-dynamics
            metrics ``proxy_model``, ``proxy_epochs``, ``proxy_runs``, ``width``,
            ``early_epoch``); for ``d4``: ``k``, ``eps``, ``survivor``.
        policy_options: the policy's knobs: ``auto_threshold`` (auto), ``ccs_beta`` and
            ``ccs_strata`` (ccs), ``d2_k`` and ``d2_gamma`` (d2).
        class_balanced: split the budget evenly across classes first (needs labels; not
            with ``d4``).
        seed: seeds k-means, proxy training, tie-breaking and random draws.
        engine: where the row-parallel steps run (see :func:`lessdata.score`).
        out: a folder for ``manifest.parquet``, the kept rows in the input's format under
            the input's file name, ``scores.png`` and ``report.html``.
        encoder: how texts without vectors are embedded (see :func:`lessdata.score`).
        cache_dir: where embeddings and shard checkpoints are kept.
        report: write ``scores.png`` and ``report.html`` beside the manifest.
        zero_vectors: all-zero vectors (failed or padded embeddings) have no direction for
            the cosine metrics: ``refuse`` (default) stops with their count and ids;
            ``drop`` leaves them out: never kept, and the budget is filled from the rest.
        calibration: with ``policy="auto"``: a ``calibration.json`` written by
            :func:`lessdata.calibrate` on this data and metric; auto then uses the policy
            measured best at the nearest calibrated fraction.
        quiet: no progress bars or status lines (as ``LESSDATA_QUIET=1`` does).
        **load_options: how to read ``data`` (see :func:`lessdata.score`).

    Returns:
        A :class:`PruneResult`: the manifest, the kept rows and the files written.

    Example:
        >>> import numpy as np, lessdata
        >>> x = np.random.default_rng(0).normal(size=(300, 8)).astype("float32")
        >>> lessdata.prune(x, 0.5, policy="keep-hard", metric_options={"k": 6}).n_kept
        150
    """
    policy_opts = check_policy_options(policy, policy_options)
    if scores is not None and policy == "d4":
        raise LessdataError(
            "policy d4 computes SemDeDup and prototypes itself; it takes no `scores`",
            param="scores",
        )
    chosen = (
        [get_metric("semdedup"), get_metric("prototypes")]
        if policy == "d4"
        else [] if scores is not None and metric not in REGISTRY else [get_metric(metric)]
    )
    if scores is not None and not chosen and metric_options:
        raise LessdataError(
            f"metric_options describe a registered metric; {metric!r} (your scores) is not one",
            param="metric_options",
        )
    options = check_metric_options(chosen, metric_options) if chosen else {}
    seed = check_seed(seed)
    check_bool(class_balanced, "class_balanced")
    check_choice(zero_vectors, "zero_vectors", ZERO_VECTORS)
    if class_balanced and policy == "d4":
        raise LessdataError(
            "policy d4 does not support class-balanced selection; drop `class_balanced`",
            param="class_balanced",
        )
    if calibration is not None:
        if policy != "auto":
            raise LessdataError(
                f"a calibration is read by policy auto only; this run uses {policy}",
                param="calibration",
            )
        if not isinstance(calibration, Calibration):
            calibration = read_calibration(calibration)
    ds = as_dataset(data, **load_options)
    n = len(ds)
    budget = resolve_budget(keep, n)
    given = None if scores is None else read_scores(scores, metric, ds)
    if calibration is not None:
        check_calibration(calibration, ds, ds.vectors, metric, options, scores=given)
    if class_balanced and ds.labels is None:
        raise LessdataError(
            "class-balanced selection needs labels: pass `label_column` (or `labels`)"
        )
    settings: dict[str, Any] = dict(
        command="prune", keep=keep, budget=budget, policy=policy, metric=metric, seed=seed,
        class_balanced=class_balanced, k=options.get("k"),
        distance=options.get("distance", "cosine"), encoder=encoder,
    )  # fmt: skip
    inputs = input_paths(data, load_options, metric_options, policy_options)
    if isinstance(scores, (str, os.PathLike)):
        inputs.append(str(scores))
    if calibration is not None and calibration.path is not None:
        inputs.append(str(calibration.path))
    with (
        output_folder(ds, out, inputs, "prune") as folder,
        run_engine(engine, cache_dir) as running,
    ):
        if policy == "d4":
            eps, survivor = options.get("eps", 0.05), options.get("survivor", "hard")
            columns, kept, reasons = _d4(
                ds, budget, options, encoder=encoder, cache_dir=cache_dir, seed=seed,
                engine=running, zero_vectors=zero_vectors,
            )  # fmt: skip
            metrics = ["semdedup", "prototypes"]
            settings.update(eps=eps, survivor=survivor, metric="semdedup+prototypes")
        else:
            if given is not None:  # the user's scores: nothing to compute
                columns, rows, part = {metric: given}, None, ds
                settings["scores"] = "given"
            else:
                scored = score_columns(
                    ds, chosen, options, encoder=encoder, cache_dir=cache_dir, seed=seed,
                    engine=running, zero_vectors=zero_vectors,
                )  # fmt: skip
                columns, rows, part = scored.columns, scored.rows, scored.scored
                if scored.notes:
                    settings["metric_notes"] = scored.notes
            local_keep = keep if rows is None else _budget_of_rest(budget, len(rows))
            rule, applied = policy, policy
            if policy == "auto" and calibration is not None:
                applied, at = calibration.policy_for(kept_fraction(keep, n))
                rule = f"auto (calibrated at keep {at:g}) → {applied}"
                settings["calibration"] = str(calibration.path or "<in memory>")
                settings["calibrated_policy"] = applied
                policy_opts = {}
            vectors = None
            if applied in NEEDS_VECTORS:
                vectors = vectors_of(
                    part, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=running
                )
            kept = select(
                columns[metric] if rows is None else columns[metric][rows], local_keep,
                policy=applied, labels=part.labels, class_balanced=class_balanced, seed=seed,
                vectors=vectors, **policy_opts,
            )  # fmt: skip
            if rows is not None:
                kept = rows[kept]
            if applied == "auto":
                threshold = policy_opts.get("auto_threshold", AUTO_THRESHOLD)
                rule = f"auto → {auto_policy_name(kept_fraction(keep, n), threshold)}"
                settings["auto_rule"] = (
                    f"uncalibrated: keep-hard at >= {threshold:g} of the data kept, random "
                    "below; `lessdata calibrate` measures the best policy on this data"
                )
                settings["auto_threshold"] = threshold
            balance = ", class-balanced" if class_balanced else ""
            what = f"{rule} on {metric}{balance}, {budget} of {n} kept"
            reasons = two_reasons(n, kept, f"kept: {what}", f"pruned: {what}")
            reasons = _mark_zero_vectors(reasons, rows, n)
            metrics = [metric]
        return finish(ds, columns, metrics, kept, reasons, settings, folder, report=report)


def _budget_of_rest(budget: int, rest: int) -> int:
    """The budget among the rows left once zero vectors are out: refused when too large."""
    if budget > rest:
        raise LessdataError(
            f"keep asks for {budget} examples but only {rest} have a nonzero vector; lower `keep`",
            param="keep",
        )
    return budget


def _mark_zero_vectors(reasons: Reasons, rows: np.ndarray | None, n: int) -> Reasons:
    """Reasons with the left-out zero vectors given their own (they are never kept)."""
    if rows is None:
        return reasons
    codes, vocabulary = reasons
    if len(codes) != n:  # reasons of the scored rows only: spread them over all rows
        local, codes = codes, np.zeros(n, dtype=np.int32)
        codes[rows] = local
    else:
        codes = codes.copy()
    dropped = np.setdiff1d(np.arange(n), rows)
    codes[dropped] = len(vocabulary)
    return codes, [*vocabulary, "pruned: zero vector (no direction; zero_vectors=drop)"]


def _d4(
    ds: Dataset,
    budget: int,
    options: dict[str, Any],
    *,
    encoder: str,
    cache_dir: Any,
    seed: int,
    engine: Engine,
    zero_vectors: str,
) -> tuple[dict[str, np.ndarray], np.ndarray, Reasons]:
    """D4 (Tirumala et al. 2023): SemDeDup, then re-cluster the survivors and keep the hardest.

    When the budget exceeds the survivors, all survivors are kept and the least redundant
    duplicates (highest SemDeDup distance) fill the rest, so exactly ``budget`` are kept.
    """
    semdedup_options = {k: v for k, v in options.items() if k in ("k", "eps", "survivor")}
    scored = score_columns(
        ds, [get_metric("semdedup")], semdedup_options, encoder=encoder, cache_dir=cache_dir,
        seed=seed, engine=engine, zero_vectors=zero_vectors,
    )  # fmt: skip
    if scored.rows is not None:  # zero vectors left out: D4 on the rest, mapped back
        rows, n = scored.rows, len(ds)
        local = {name: column[rows] for name, column in scored.columns.items()}
        local["semdedup_duplicate_of"] = np.searchsorted(
            rows, scored.columns["semdedup_duplicate_of"][rows]
        ).astype(np.int64)
        local["semdedup_duplicate_of"][scored.columns["semdedup_duplicate_of"][rows] < 0] = -1
        columns, kept, reasons = _d4_stages(
            scored.scored, local, _budget_of_rest(budget, len(rows)), options, seed, engine
        )
        return expand(columns, rows, n), rows[kept], _mark_zero_vectors(reasons, rows, n)
    return _d4_stages(ds, scored.columns, budget, options, seed, engine)


def _d4_stages(
    ds: Dataset, columns: dict[str, np.ndarray], budget: int, options: dict[str, Any],
    seed: int, engine: Engine,
) -> tuple[dict[str, np.ndarray], np.ndarray, Reasons]:  # fmt: skip
    """D4's selection once SemDeDup's ``columns`` are known for every row of ``ds``."""
    vectors = ds.vectors
    assert vectors is not None
    duplicate = columns["semdedup_duplicate_of"] >= 0
    survivors = np.flatnonzero(~duplicate)
    rng = np.random.default_rng(seed)
    # prototype distances against centroids fitted on the survivors, for every example
    k = options.get("k")
    k2 = check_k(None, len(survivors)) if k is None else min(k, len(survivors))
    centroids = fit_centroids(vectors[survivors], k2, spherical=True, seed=seed, engine=engine)
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
