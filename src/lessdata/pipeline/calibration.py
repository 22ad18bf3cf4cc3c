"""``lessdata calibrate``: measure which policy wins at which kept fraction, on the user's data.

Sorscher et al. (2022) show that the best policy depends on how much data there is: with
little data keep the easy examples, with much data the hard ones, and an imperfect metric has
a minimum kept fraction below which keeping hard examples does worse than a random subset.
Where the crossover lies differs from dataset to dataset, so lessdata measures it:

1. A validation split (stratified, ``val_share``) is held out; the rest is the pool that
   ``prune`` will select from.
2. **Pools** of ``pool_share**j`` of it (j = ``pools`` … 1: by default 1/8, 1/4, 1/2) are
   drawn at random. In each pool and for each kept fraction, every candidate policy
   (keep-easy, keep-hard, random, CCS, D2, ...) picks a subset by the metric's scores, and a
   cheap **proxy** (a ridge classifier on the standardised vectors, fitted in closed form)
   is trained on it and scored on the validation split; ``seeds`` repeats with other draws.
3. Per fraction and policy, the accuracy gain over random (paired: same pool, same seed) is
   fitted linearly in log pool size and **extrapolated to the full pool**, with a standard
   error. A candidate *clears* random when its gain over all pools and seeds is above zero
   with 99% one-sided confidence (Student's t on the residuals about the trend, so a few
   measurements need a large margin: about 3 standard errors with 3 pools × 3 seeds, 7 with
   one pool × 3 seeds; fewer than 3 measurements never clear) and its trend does not predict
   a loss at the full pool; the chosen policy is the clearing candidate with the largest
   predicted gain, and otherwise **random** (the theory's "do not prune by this metric"
   below its minimum useful fraction). So calibrated ``auto`` picks random wherever the
   evidence for anything else is weak. Why so strict: on scores that are pure noise a
   2-standard-error margin let 2 of 16 choices through (a fixed subset that happens to suit
   the validation split), 3 none, while the perceptron cases of the tests were still found 7
   times in 8; and a flat 3 standard errors from two measurements let a CCS choice through
   that cost the CNN a point.
4. Also reported: the pool size at which keep-hard overtakes keep-easy (the theory's
   crossover; from the same fit) and the minimum useful fraction (the smallest fraction from
   which on the chosen policy is never random).

The pilot's cost is its wall-clock time, compared with one full training run: the seconds the
user gives (``full_run_seconds``), or else an estimate for the scaling lab's cheapest torch
model (``mlp``, 1,000 steps of 128 examples, timed over 50 steps on this data). A real run
costs more, so the share reported is an upper bound. Pools are run from the smallest up and
stop before one would take the pilot past ``budget_share`` of that run (default 15%). The
metric's scores are not part of the pilot's cost: ``prune`` computes them anyway.

``calibration.json`` records the dataset's fingerprint, the metric and its options, the
choice per fraction with its evidence and interval, the crossover and the cost;
``prune(policy="auto", calibration=...)`` refuses a file measured on other data or another
metric.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lessdata._version import __version__
from lessdata.budget import resolve_budget
from lessdata.checks import check_float, check_int, check_seed
from lessdata.data.dataset import Dataset
from lessdata.data.paths import OutputFolder
from lessdata.data.text_column import texts_fingerprint
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.errors import LessdataError
from lessdata.pipeline.inputs import DataLike, as_dataset, vectors_of
from lessdata.pipeline.outputs import input_paths
from lessdata.progress import honours_quiet, log, track
from lessdata.select import POLICIES, select

FORMAT = "lessdata-calibration-v1"
CANDIDATES = ("keep-easy", "keep-hard", "random", "ccs", "d2")
DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
#: the smallest fraction of the largest pool must hold this many examples per class, on
#: average; smaller subsets (of smaller pools) are skipped below one per class
MIN_PER_CLASS_IN_SUBSET = 2
#: and the validation split this many per class
MIN_PER_CLASS_IN_VALIDATION = 2
#: a candidate replaces random when its gain is above 0 with this one-sided confidence,
#: from at least this many (pool, seed) measurements
CONFIDENCE = 0.99
MIN_MEASUREMENTS = 3
REFERENCE = {"model": "mlp", "steps": 1000, "batch_size": 128, "timed_steps": 50}


@dataclass
class Calibration:
    """A measured choice of policy per kept fraction (the content of ``calibration.json``)."""

    record: dict[str, Any]
    path: Path | None = None

    @property
    def choices(self) -> dict[float, str]:
        return {row["fraction"]: row["policy"] for row in self.record["fractions"]}

    def policy_for(self, fraction: float) -> tuple[str, float]:
        """The policy chosen for the calibrated fraction nearest ``fraction`` (ties: the
        smaller fraction), and that fraction."""
        nearest = min(self.choices, key=lambda f: (abs(f - fraction), f))
        return self.choices[nearest], nearest


def fingerprint(ds: Dataset, vectors: np.ndarray | None) -> str:
    """What identifies the data: row count, ids, and the texts or the vectors."""
    h = hashlib.sha256()
    h.update(f"{len(ds)}".encode())
    h.update(json.dumps([str(i) for i in ds.ids.to_pylist()]).encode())
    if ds.texts is not None:
        h.update(texts_fingerprint(ds.texts).encode())
    elif vectors is not None:
        flat = np.asarray(vectors).reshape(len(vectors), -1)
        h.update(np.ascontiguousarray(flat, dtype=np.float32).tobytes())
    return h.hexdigest()


def _check_fractions(fractions: Any) -> list[float]:
    values = sorted({float(check_float(f, "fractions", low=0, high=1, closed="neither"))
                     for f in fractions})  # fmt: skip
    if not values:
        raise LessdataError("fractions is empty; give kept fractions such as 0.1,0.3,0.5")
    return values


def _check_policies(policies: Any) -> list[str]:
    chosen = list(dict.fromkeys(policies))
    for policy in chosen:
        if policy not in POLICIES or policy in ("auto", "importance"):
            allowed = ", ".join(p for p in POLICIES if p not in ("auto", "importance"))
            raise LessdataError(
                f"calibrate cannot consider policy {policy!r}; choose from {allowed}",
                param="policies",
            )
    return chosen if "random" in chosen else ["random", *chosen]  # the baseline, always


def _min_rows_needed(smallest: float, pool_share: float, val_share: float) -> int:
    """Rows per class the pilot needs: the smallest fraction of the largest pool must hold
    ``MIN_PER_CLASS_IN_SUBSET`` examples per class and the validation split
    ``MIN_PER_CLASS_IN_VALIDATION``."""
    subset_share = smallest * pool_share * (1 - val_share)
    for_subset = math.ceil(MIN_PER_CLASS_IN_SUBSET / subset_share)
    for_validation = math.ceil(MIN_PER_CLASS_IN_VALIDATION / val_share)
    return max(for_subset, for_validation)


def _split(labels: np.ndarray, val_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (pool rows, validation rows), both sorted."""
    rng = np.random.default_rng([seed, 7])
    val = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        val.append(members[: max(1, round(val_share * len(members)))])
    val_rows = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(labels)), val_rows), val_rows


def _proxy_accuracy(x: np.ndarray, y: np.ndarray, rows: np.ndarray, val_x: np.ndarray,
                    val_y: np.ndarray) -> float:  # fmt: skip
    """A ridge classifier on the standardised subset ``rows``; accuracy on validation."""
    from sklearn.linear_model import RidgeClassifier

    sub_y = y[rows]
    if len(np.unique(sub_y)) < 2:  # one class: the proxy can only predict it
        return float(np.mean(val_y == sub_y[0]))
    sub = x[rows]
    mean, std = sub.mean(axis=0), sub.std(axis=0) + 1e-6
    model = RidgeClassifier(alpha=1.0).fit((sub - mean) / std, sub_y)
    return float(model.score((val_x - mean) / std, val_y))


def _reference_seconds(x: np.ndarray, y: np.ndarray) -> float:
    """One full run of the scaling lab's mlp (1,000 steps × 128), from 50 timed steps."""
    from lessdata.extras import require

    require("torch", "estimating the cost of a full training run (or pass full_run_seconds)")
    from lessdata.train import TrainConfig, fit_and_score

    config = TrainConfig(steps=REFERENCE["timed_steps"], batch_size=REFERENCE["batch_size"])
    result = fit_and_score(REFERENCE["model"], x, y, x[:64], y[:64], config=config)
    return float(result["train_seconds"]) * REFERENCE["steps"] / REFERENCE["timed_steps"]


def _fit_gap(log_pool: np.ndarray, gap: np.ndarray, at: float) -> dict[str, float]:
    """Least squares ``gap ≈ a + b·log_pool``: the prediction at ``at`` and its standard
    error, the slope, and the mean gain with the standard error of that mean about the
    fitted trend (a trend is not noise). With one pool size: no trend, the mean for both."""
    n = len(gap)
    if len(np.unique(log_pool)) < 2:
        se = float(gap.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
        mean = float(gap.mean())
        return dict(predicted=mean, se=se, slope=0.0, mean=mean, mean_se=se, dof=n - 1)
    design = np.column_stack([np.ones_like(log_pool), log_pool])
    coef, *_ = np.linalg.lstsq(design, gap, rcond=None)
    residual = gap - design @ coef
    sigma2 = float(residual @ residual) / max(n - 2, 1)
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    point = np.array([1.0, at])
    return dict(
        predicted=float(point @ coef), se=float(math.sqrt(max(point @ cov @ point, 0.0))),
        slope=float(coef[1]), mean=float(gap.mean()), mean_se=math.sqrt(sigma2 / n),
        dof=n - 2,
    )  # fmt: skip


@honours_quiet
def calibrate(
    data: DataLike,
    *,
    metric: str = "prototypes",
    scores: np.ndarray | str | os.PathLike[str] | None = None,
    features: np.ndarray | str | os.PathLike[str] | None = None,
    fractions: Any = DEFAULT_FRACTIONS,
    policies: Any = CANDIDATES,
    pools: int = 3,
    pool_share: float = 0.5,
    seeds: int = 2,
    val_share: float = 0.2,
    budget_share: float = 0.15,
    full_run_seconds: float | None = None,
    metric_options: dict[str, Any] | None = None,
    out: str | os.PathLike[str] | None = None,
    encoder: str = DEFAULT_ENCODER,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    quiet: bool = False,
    **load_options: Any,
) -> Calibration:
    """Measure which policy wins at each kept fraction on ``data``; see the module docstring.

    Args:
        data: labelled data (see :func:`lessdata.prune`); its vectors (or embedded texts)
            feed the proxy and D2.
        metric: the score the policies rank by (computed with ``metric_options``; with
            ``scores``, the name of what they measure, and ``metric_options`` how they were
            computed: ``prune`` checks both against its own).
        scores: instead of computing ``metric``: one score per row, an array or a
            ``lessdata score`` Parquet file (its ``metric`` column, rows matched by ``id``).
        features: what the proxy classifier sees, one row per example (an array or an
            ``.npy`` file): default the data's vectors. The proxy should see a representation
            about as good as the model that will be trained (``lessdata embed --method ssl``
            gives one): a linear proxy on raw signals prefers prototypical examples that a
            CNN does not need.
        fractions: the kept fractions to calibrate.
        policies: the candidates (random is always one).
        pools: how many pool sizes (``pool_share**pools`` … ``pool_share`` of the pool).
        pool_share: the ratio between successive pool sizes (and the largest pool's share).
        seeds: repeats per pool (other pool draws, selections and tie-breaks).
        val_share: share of each class held out to score the proxy.
        budget_share: the most the pilot may cost, as a share of one full training run.
        full_run_seconds: how long one full training run takes (default: estimated).
        metric_options: the metric's knobs (``k``, ...), as for :func:`lessdata.prune`.
        out: a folder for ``calibration.json``, ``calibration.png`` and ``calibration.html``.
        encoder: how texts without vectors are embedded (see :func:`lessdata.score`).
        cache_dir: where embeddings are cached.
        seed: seeds the split, the pools, the selections and the metric.
        quiet: no progress output.
        **load_options: how to read ``data`` (``label_column``, ``labels``, ...).

    Returns:
        A :class:`Calibration`; pass its ``calibration.json`` to ``prune(policy="auto",
        calibration=...)``.
    """
    from lessdata.metrics import REGISTRY, get_metric
    from lessdata.pipeline.options import check_metric_options

    scores_path = scores
    wanted = _check_fractions(fractions)
    candidates = _check_policies(policies)
    pools = check_int(pools, "pools", low=1, high=8)
    pool_share = check_float(pool_share, "pool_share", low=0, high=1, closed="neither")
    seeds = check_int(seeds, "seeds", low=1, high=20)
    val_share = check_float(val_share, "val_share", low=0, high=0.5, closed="right")
    budget_share = check_float(budget_share, "budget_share", low=0, high=100, closed="right")
    if full_run_seconds is not None:
        check_float(full_run_seconds, "full_run_seconds", low=0, high=1e9, closed="right")
    seed = check_seed(seed)
    # the options record how the scores were made, given or computed; prune compares them
    options: dict[str, Any] = {}
    if scores is None or metric in REGISTRY:
        options = check_metric_options([get_metric(metric)], metric_options)
    elif metric_options:
        raise LessdataError(
            f"metric_options describe a registered metric; {metric!r} is not one",
            param="metric_options",
        )
    folder = None
    ds = as_dataset(data, **load_options)
    if ds.labels is None:
        raise LessdataError(
            "calibrate trains a proxy classifier: it needs labels (`label_column` or `labels`)"
        )
    counts = np.bincount(ds.labels)
    counts = counts[counts > 0]
    need = _min_rows_needed(wanted[0], pool_share, val_share)
    if counts.min() < need:
        raise LessdataError(
            f"too few examples per class for the pilot: the smallest class has "
            f"{int(counts.min())}, calibrate needs at least {need} per class with "
            f"fractions from {wanted[0]:g}, pools up to {pool_share:g} of the data and "
            f"val_share {val_share:g} (calibrate larger `fractions` only)"
        )
    if isinstance(scores, (str, os.PathLike)):
        scores = _read_scores(scores, metric, ds)
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(ds),) or not np.isfinite(scores).all():
            raise LessdataError(
                f"scores must be {len(ds)} finite numbers (one per row), got shape {scores.shape}",
                param="scores",
            )
    if isinstance(features, (str, os.PathLike)):
        features_path = features
        features = _read_features(features)
    else:
        features_path = None
    if features is not None:
        features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
        if len(features) != len(ds) or not np.isfinite(features).all():
            raise LessdataError(
                f"features must be {len(ds)} finite rows (one per example), got shape "
                f"{features.shape}",
                param="features",
            )
    if out is not None:
        inputs = [ds.source] if ds.format not in ("array", "table", "builtin") else []
        reads = [*inputs, *input_paths(data, load_options, metric_options)]
        for path in (scores_path, features_path):
            if isinstance(path, (str, os.PathLike)):
                reads.append(str(path))
        folder = OutputFolder(out, reads, command="calibrate")
    try:
        result = _pilot(ds, metric, scores, features, options, wanted, candidates, pools,
                        pool_share, seeds, val_share, budget_share, full_run_seconds, encoder,
                        cache_dir, seed)  # fmt: skip
        if folder is not None:
            from lessdata.report.calibration import write_calibration_report

            path = folder.path("calibration.json")
            path.write_text(json.dumps(result.record, indent=2) + "\n", encoding="utf-8")
            write_calibration_report(result.record, folder.folder)
            folder.commit()
            result.path = folder.final / "calibration.json"
    except BaseException:
        if folder is not None:
            folder.discard()
        raise
    return result


def _read_scores(path: str | os.PathLike[str], metric: str, ds: Dataset) -> np.ndarray:
    """The ``metric`` column of a ``lessdata score`` table, in the rows' order of ``ds``."""
    import pyarrow.parquet as pq

    _regular_file(path, "scores")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise LessdataError(f"scores {path} cannot be read as Parquet ({str(exc)[:120]})",
                            param="scores") from None  # fmt: skip
    missing = [c for c in ("id", metric) if c not in table.column_names]
    if missing:
        raise LessdataError(
            f"scores {path} has no column {', '.join(missing)} (columns: "
            f"{', '.join(table.column_names)}); write it with `lessdata score --metric {metric}`",
            param="scores",
        )
    ids = [str(i) for i in table.column("id").to_pylist()]
    if ids != [str(i) for i in ds.ids.to_pylist()]:
        raise LessdataError(
            f"scores {path} are not for this data: its ids differ from the data's "
            f"({len(ids)} vs {len(ds)} rows)",
            param="scores",
        )
    return np.asarray(table.column(metric).to_numpy(zero_copy_only=False), dtype=np.float64)


def _regular_file(path: str | os.PathLike[str], name: str) -> Path:
    """``path`` when it is a regular file (a FIFO or device would block or never end)."""
    if not Path(path).exists():
        raise LessdataError(f"{name} {path}: no such file", param=name)
    if not Path(path).is_file():
        raise LessdataError(f"{name} {path}: not a regular file", param=name)
    return Path(path)


def _read_features(path: str | os.PathLike[str]) -> np.ndarray:
    _regular_file(path, "features")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LessdataError(f"features {path}: not a readable .npy array ({str(exc)[:100]})",
                            param="features") from None  # fmt: skip


def _pilot(ds: Dataset, metric: str, scores: np.ndarray | None,
           features: np.ndarray | None, options: dict[str, Any],
           wanted: list[float], candidates: list[str], pools: int, pool_share: float,
           seeds: int, val_share: float, budget_share: float, full_run_seconds: float | None,
           encoder: str, cache_dir: Any, seed: int) -> Calibration:  # fmt: skip
    x = np.asarray(vectors_of(ds, encoder=encoder, cache_dir=cache_dir, seed=seed))
    x = x.reshape(len(x), -1).astype(np.float32)
    if scores is None:
        from lessdata.pipeline.scoring import score

        table = score(ds, [metric], metric_options=options, encoder=encoder,
                      cache_dir=cache_dir, seed=seed)  # fmt: skip
        scores = np.asarray(table[metric].to_numpy(), dtype=np.float64)
    y = np.asarray(ds.labels)
    n_classes = len(np.unique(y))
    pool_rows, val_rows = _split(y, val_share, seed)
    proxy_x = x if features is None else features
    val_x, val_y = proxy_x[val_rows], y[val_rows]
    if full_run_seconds is None:
        full_run_seconds = _reference_seconds(x[pool_rows], y[pool_rows])
        reference = {**REFERENCE, "estimated": True}
    else:
        reference = {"estimated": False}
    allowed = budget_share * full_run_seconds
    import sklearn.linear_model  # noqa: F401  (imported before the pilot's clock starts)

    sizes = [max(2, round(len(pool_rows) * pool_share**j)) for j in range(pools, 0, -1)]
    runs: list[dict[str, Any]] = []
    spent, last, stopped = 0.0, 0.0, None
    for i, size in enumerate(sizes):
        if i and spent + last * size / sizes[i - 1] > allowed:
            stopped = f"pool of {size:,} skipped: it would take the pilot past the budget"
            break
        start = time.perf_counter()
        for repeat in track(range(seeds), seeds, f"calibrating on pools of {size:,}"):
            _one_pool_repeat(runs, x, proxy_x, y, scores, pool_rows, size, repeat, wanted,
                             candidates, n_classes, val_x, val_y, seed)  # fmt: skip
        last = time.perf_counter() - start
        spent += last
        if i == 0 and spent > allowed:
            raise LessdataError(
                f"the pilot's smallest pool took {spent:.1f} s, more than {budget_share:.0%} "
                f"of one full training run ({full_run_seconds:.1f} s); raise `budget_share`, "
                "give `full_run_seconds`, or use fewer `seeds` or `fractions`"
            )
    if stopped:
        log(stopped)
    record = _decide(runs, wanted, candidates, len(pool_rows))
    record.update(
        format=FORMAT, lessdata=__version__, source=Path(ds.source).name if ds.source else "",
        rows=len(ds), fingerprint=fingerprint(ds, x if ds.texts is None else None),
        metric=metric, metric_options=options,
        proxy="ridge classifier on standardised "
        + ("vectors" if features is None else "features"),
        validation_rows=len(val_rows),
        pool_rows=len(pool_rows), pool_sizes=sorted({r["pool"] for r in runs}),
        seeds=seeds, runs=runs,
        cost=dict(pilot_seconds=round(spent, 3), full_run_seconds=round(full_run_seconds, 3),
                  share=round(spent / full_run_seconds, 4), budget_share=budget_share,
                  reference=reference, stopped=stopped),
    )  # fmt: skip
    log(f"calibration: pilot {spent:.1f} s = {spent / full_run_seconds:.1%} of one full run "
        f"({full_run_seconds:.1f} s)")  # fmt: skip
    return Calibration(record)


def _one_pool_repeat(runs: list[dict[str, Any]], x: np.ndarray, proxy_x: np.ndarray,
                     y: np.ndarray,
                     scores: np.ndarray, pool_rows: np.ndarray, size: int, repeat: int,
                     wanted: list[float], candidates: list[str], n_classes: int,
                     val_x: np.ndarray, val_y: np.ndarray, seed: int) -> None:  # fmt: skip
    """Every (fraction, policy) subset of one pool draw, each scored by the proxy. The proxy
    fits are small: one BLAS thread is faster than many (and leaves the others' cores)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng([seed, size, repeat])
    pool = np.sort(rng.choice(pool_rows, size=size, replace=False))
    with threadpool_limits(1):
        for fraction in wanted:
            if resolve_budget(fraction, size) < n_classes:  # under one per class: skip
                continue
            for policy in candidates:
                kept = select(scores[pool], fraction, policy=policy, seed=seed + repeat,
                              vectors=x[pool] if policy == "d2" else None)  # fmt: skip
                accuracy = _proxy_accuracy(proxy_x, y, pool[kept], val_x, val_y)
                runs.append(dict(pool=size, seed=repeat, fraction=fraction, policy=policy,
                                 accuracy=accuracy))  # fmt: skip


def _clears_random(evidence: dict[str, Any]) -> bool:
    """A candidate beats random clearly: its mean gain is above zero with ``CONFIDENCE``
    (one-sided Student's t with the fit's degrees of freedom), and the trend does not
    predict a loss at the full pool."""
    from scipy.stats import t

    dof = evidence["degrees_of_freedom"]
    if dof < 1 or evidence["measurements"] < MIN_MEASUREMENTS:
        return False
    margin = float(t.ppf(CONFIDENCE, dof)) * evidence["mean_standard_error"]
    return evidence["mean_gain"] - margin > 0 and evidence["predicted_gain"] > 0


def _decide(runs: list[dict[str, Any]], wanted: list[float], candidates: list[str],
            full_pool: int) -> dict[str, Any]:  # fmt: skip
    """The choice per fraction from the pilot's runs (see the module docstring)."""
    table: dict[tuple, float] = {
        (r["pool"], r["seed"], r["fraction"], r["policy"]): r["accuracy"] for r in runs
    }
    at = math.log(full_pool)
    rows = []
    for fraction in wanted:
        keys = sorted({(p, s) for p, s, f, _ in table if f == fraction})
        if not keys:
            continue
        log_pool = np.log([p for p, _ in keys])
        base = np.array([table[(p, s, fraction, "random")] for p, s in keys])
        evidence = {}
        for policy in candidates:
            if policy == "random":
                continue
            gap = np.array([table[(p, s, fraction, policy)] for p, s in keys]) - base
            fit = _fit_gap(log_pool, gap, at)
            by_pool = {
                str(p): round(float(np.mean([g for (q, _), g in zip(keys, gap, strict=True)
                                             if q == p])), 4)
                for p in sorted({p for p, _ in keys})
            }  # fmt: skip
            evidence[policy] = dict(predicted_gain=round(fit["predicted"], 4),
                                    standard_error=round(fit["se"], 4),
                                    slope=round(fit["slope"], 4),
                                    mean_gain=round(fit["mean"], 4),
                                    mean_standard_error=round(fit["mean_se"], 4),
                                    degrees_of_freedom=fit["dof"], measurements=len(gap),
                                    gain_by_pool=by_pool)  # fmt: skip
        clear = [p for p, ev in evidence.items() if _clears_random(ev)]
        best = max(evidence, key=lambda p: evidence[p]["predicted_gain"], default=None)
        chosen = max(clear, key=lambda p: evidence[p]["predicted_gain"], default="random")
        rows.append(dict(fraction=fraction, policy=chosen, best_candidate=best,
                         random_accuracy_by_pool={str(p): round(float(np.mean(
                             [table[(p, s, fraction, "random")] for q, s in keys if q == p])), 4)
                             for p in sorted({p for p, _ in keys})},
                         evidence=evidence))  # fmt: skip
    crossover = {}
    if {"keep-easy", "keep-hard"} <= set(candidates):
        for row in rows:
            hard, easy = row["evidence"]["keep-hard"], row["evidence"]["keep-easy"]
            # hard − easy ≈ (a_h − a_e) + (b_h − b_e)·log P; zero at the crossover
            slope = hard["slope"] - easy["slope"]
            diff = hard["predicted_gain"] - easy["predicted_gain"]
            if slope > 0:
                crossover[str(row["fraction"])] = round(math.exp(at - diff / slope))
    useful = None
    for row in reversed(rows):
        if row["policy"] == "random":
            break
        useful = row["fraction"]
    return dict(fractions=rows, full_pool=full_pool, crossover_pool_size=crossover,
                min_useful_fraction=useful)  # fmt: skip


def read_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read and check a ``calibration.json`` (format, choices); data checks are the
    caller's (:func:`check_calibration`)."""
    path = _regular_file(path, "calibration")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LessdataError(
            f"calibration {path} cannot be read ({exc})", param="calibration"
        ) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise LessdataError(
            f"{path} is not a lessdata calibration (format {FORMAT!r}); make one with "
            "`lessdata calibrate`",
            param="calibration",
        )
    rows = record.get("fractions")
    if not isinstance(rows, list) or not rows or not all(
        isinstance(r, dict) and isinstance(r.get("fraction"), (int, float))
        and r.get("policy") in POLICIES for r in rows
    ):  # fmt: skip
        raise LessdataError(f"{path}: no usable choices per fraction", param="calibration")
    return Calibration(record, path)


def check_calibration(calibration: Calibration, ds: Dataset, vectors: np.ndarray | None,
                      metric: str, metric_options: dict[str, Any]) -> None:  # fmt: skip
    """Refuse a calibration measured on other data, or for another metric or options."""
    record, where = calibration.record, calibration.path or "the calibration"
    if record.get("rows") != len(ds):
        raise LessdataError(
            f"{where} was measured on another dataset ({record.get('rows')} rows, this one "
            f"has {len(ds)}); calibrate on this data first",
            param="calibration",
        )
    if record.get("fingerprint") != fingerprint(ds, vectors if ds.texts is None else None):
        raise LessdataError(
            f"{where} was measured on another dataset (same size, different ids or content); "
            "calibrate on this data first",
            param="calibration",
        )
    if record.get("metric") != metric or (record.get("metric_options") or {}) != metric_options:
        raise LessdataError(
            f"{where} was measured for metric {record.get('metric')} with options "
            f"{record.get('metric_options') or {}}; this run prunes by {metric} with "
            f"{metric_options}",
            param="calibration",
        )
