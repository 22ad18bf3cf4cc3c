"""``lessdata calibrate``: measure which policy wins at which kept fraction, on the user's data.

Sorscher et al. (2022) show that the best policy depends on how much data there is: with
little data keep the easy examples, with much data the hard ones, and an imperfect metric has
a minimum kept fraction below which pruning by it does worse than a random subset. Where
these lie differs from dataset to dataset, so lessdata measures them with a pilot:

1. **Pools** of ``largest_pool · pool_share**j`` of the data (j = ``pools``−1 … 0: by default
   20%, 40% and 80%) are drawn at random, ``seeds`` times each; the rows outside a pool (at
   most ``MAX_VALIDATION_ROWS``) are its validation rows.
2. In each pool and for each kept fraction, every candidate policy (keep-easy, keep-hard,
   random, CCS, D2, ...) picks a subset by the metric's scores, a **proxy** learner is trained
   on it and scored on the validation rows (``logistic`` regression by default; ``ridge``,
   ``mlp`` or, from Python, the user's own ``train_and_eval``; see
   :mod:`lessdata.pipeline.calibration_proxies`).
3. Per fraction and policy, the gain over the random subset (paired: same pool, same
   validation rows) is fitted as a trend in the log of the pool size and **read at the full
   data**, with a one-sided confidence bound (Bonferroni over the candidates). A policy
   replaces random only when that bound is above zero (:mod:`.calibration_decision`).

The pilot's **cost is counted, not timed**: every fit is charged by formula (operations, or
for the user's model the rows it trains on) as a share of one full training run, so the same
data, options and seed give the same ``calibration.json``, byte for byte, from the CLI and
the API under any load. With ``budget_share`` the plan is checked before any work: repeats are
cut (to no fewer than ``MIN_SEEDS``) to fit it, and a plan that cannot fit is refused with what
to raise. Without it, the whole plan runs: by default 3 pool sizes × ``default_seeds(N)``
repeats (20 for a few hundred rows, 5 from 2,000), always enough to decide. The metric's
scores are not part of the pilot's cost: ``prune`` computes them anyway.

``calibration.json`` records the dataset's fingerprint, the metric and its options (or the
given scores' fingerprint), the choice per fraction with its evidence and a reason in words,
the crossover and the cost; ``prune(policy="auto", calibration=...)`` refuses a file measured
on other data, another metric or other scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lessdata._version import __version__
from lessdata.budget import resolve_budget
from lessdata.checks import check_float, check_int, check_seed
from lessdata.data.dataset import Dataset
from lessdata.data.paths import OutputFolder
from lessdata.data.standard_json import dumps_standard
from lessdata.data.text_column import texts_fingerprint
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.errors import LessdataError
from lessdata.pipeline.calibration_decision import decide
from lessdata.pipeline.calibration_proxies import Proxy, TrainAndEval, make_proxy
from lessdata.pipeline.given_scores import (
    ScoresLike,
    read_scores,
    regular_file,
    scores_fingerprint,
)
from lessdata.pipeline.inputs import DataLike, as_dataset, vectors_of
from lessdata.pipeline.outputs import input_paths
from lessdata.progress import honours_quiet, log, track
from lessdata.select import POLICIES, select

FORMAT = "lessdata-calibration-v2"
CANDIDATES = ("keep-easy", "keep-hard", "random", "ccs", "d2")
DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
DEFAULT_CONFIDENCE = 0.95
LARGEST_POOL = 0.8
MAX_VALIDATION_ROWS = 20_000
MIN_SEEDS = 3


def default_seeds(n_rows: int) -> int:
    """Repeats per pool size when none are given: ``ceil(10,000 / N)`` within [5, 20].

    A pilot on a few hundred rows validates on a few hundred rows, so its measurements are
    noisy; repeats are cheap there. On 200 teacher–student examples 5 repeats found
    keep-easy's +9 to +17 points at 10–30% kept in 4 of 9 cells, 20 repeats in 8 of 9
    (``benchmarks/bench_calibrate.py``).
    """
    return int(min(20, max(5, math.ceil(10_000 / max(n_rows, 1)))))


@dataclass
class Calibration:
    """A measured choice of policy per kept fraction (the content of ``calibration.json``)."""

    record: dict[str, Any]
    path: Path | None = None

    @property
    def choices(self) -> dict[float, str]:
        """``{kept fraction: policy}``."""
        return {row["fraction"]: row["policy"] for row in self.record["fractions"]}

    def policy_for(self, fraction: float) -> tuple[str, float]:
        """The policy chosen for the calibrated fraction nearest ``fraction`` (ties: the
        smaller fraction), and that fraction."""
        nearest = min(self.choices, key=lambda f: (abs(f - fraction), f))
        return self.choices[nearest], nearest

    def to_json(self) -> str:
        """The record as standard JSON (no NaN or infinity), as ``calibration.json`` holds."""
        return dumps_standard(self.record, indent=2) + "\n"


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
    try:
        given = list(fractions)
    except TypeError:
        given = [fractions]
    values = sorted({float(check_float(f, "fractions", low=0, high=1, closed="neither"))
                     for f in given})  # fmt: skip
    if not values:
        raise LessdataError("fractions is empty; give kept fractions such as 0.1,0.3,0.5",
                            param="fractions")  # fmt: skip
    return values


def _check_policies(policies: Any) -> list[str]:
    chosen = list(dict.fromkeys([policies] if isinstance(policies, str) else policies))
    for policy in chosen:
        if policy not in POLICIES or policy in ("auto", "importance"):
            allowed = ", ".join(p for p in POLICIES if p not in ("auto", "importance"))
            raise LessdataError(
                f"calibrate cannot consider policy {policy!r}; choose from {allowed}",
                param="policies",
            )
    chosen = chosen if "random" in chosen else ["random", *chosen]  # the baseline, always
    if len(chosen) < 2:
        raise LessdataError("policies holds only random; give a policy to compare with it",
                            param="policies")  # fmt: skip
    return chosen


@dataclass(frozen=True)
class _Plan:
    """What the pilot will run: pool sizes, repeats, the fractions each pool can hold."""

    sizes: list[int]
    seeds: int
    planned_seeds: int
    feasible: dict[int, list[float]]  # pool size -> fractions it can hold
    skipped: dict[float, str]
    cost_per_seed: float

    @property
    def cost(self) -> float:
        return self.cost_per_seed * self.seeds


def _plan(n: int, n_classes: int, wanted: list[float], candidates: list[str], pools: int,
          pool_share: float, largest_pool: float, seeds: int, proxy: Proxy,
          budget_share: float | None) -> _Plan:  # fmt: skip
    """Pool sizes, the fractions each can hold (one example per class at least), and the
    repeats the budget buys; refused before any work when no plan can decide."""
    sizes = sorted({round(n * largest_pool * pool_share**j) for j in range(pools)})
    feasible = {size: [f for f in wanted if round(f * size) >= max(n_classes, 2)]
                for size in sizes}  # fmt: skip
    skipped = {}
    for f in wanted:
        held = [s for s in sizes if f in feasible[s]]
        if len(held) < 2:
            skipped[f] = (
                f"keeping {f:g} of pools of {', '.join(f'{s:,}' for s in sizes)} rows gives fewer "
                f"than {max(n_classes, 2)} examples (one per class) in "
                f"{len(sizes) - len(held)} of them"
            )
    if len(skipped) == len(wanted):
        raise LessdataError(
            f"too little data for the pilot: with {n:,} rows and {n_classes} classes no kept "
            f"fraction in {', '.join(f'{f:g}' for f in wanted)} holds one example per class in "
            "two pool sizes; calibrate larger `fractions`, or raise `largest_pool` or "
            "`pool_share`"
        )
    per_seed = 0.0
    for size in sizes:
        validation = min(n - size, MAX_VALIDATION_ROWS)
        for f in feasible[size]:
            per_seed += len(candidates) * proxy.cost(resolve_budget(f, size), validation)
    chosen = seeds
    if budget_share is not None and per_seed * seeds > budget_share:
        chosen = int(budget_share // per_seed) if per_seed > 0 else seeds
        if chosen < MIN_SEEDS:
            need = per_seed * MIN_SEEDS
            raise LessdataError(
                f"budget_share {budget_share:g} cannot buy a pilot that decides: "
                f"{len(sizes)} pool sizes × {MIN_SEEDS} repeats with the {proxy.name} proxy, "
                f"{len(wanted)} fractions and {len(candidates)} policies cost {need:.3g} of a "
                f"full run; raise `budget_share` to at least {math.ceil(need * 1000) / 1000:g}, "
                "or calibrate fewer `fractions` or `policies`, a smaller `largest_pool` or a "
                "cheaper `proxy`",
                param="budget_share",
            )
    return _Plan(sizes, chosen, seeds, feasible, skipped, per_seed)


@honours_quiet
def calibrate(
    data: DataLike,
    *,
    metric: str = "prototypes",
    scores: ScoresLike | None = None,
    features: np.ndarray | str | os.PathLike[str] | None = None,
    proxy: str | TrainAndEval = "logistic",
    fractions: Any = DEFAULT_FRACTIONS,
    policies: Any = CANDIDATES,
    pools: int = 3,
    pool_share: float = 0.5,
    largest_pool: float = LARGEST_POOL,
    seeds: int | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    budget_share: float | None = None,
    full_run_flops: float | None = None,
    cost_per_call: float | None = None,
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
        metric: the score the policies rank by (computed with ``metric_options``); with
            ``scores``, the name of what they measure (and of the Parquet column to read).
        scores: instead of computing ``metric``: one score per row, an array, an ``.npy``
            file or a ``lessdata score`` Parquet table (rows matched by ``id``). ``prune``
            then needs the same scores (``prune(..., scores=...)``).
        features: what the proxy sees, one row per example (an array or an ``.npy`` file):
            default the data's vectors. Give a representation about as good as your model's
            (``lessdata embed --method ssl`` makes one): a linear proxy on raw signals prefers
            prototypical examples that a CNN does not need.
        proxy: the learner trained on each subset: ``logistic`` (default), ``ridge``, ``mlp``,
            or a callable ``train_and_eval(rows) -> accuracy`` (or ``{"accuracy": ...}``) that
            trains your own model on ``rows`` (indices into ``data``) and scores it on your
            held-out set.
        fractions: the kept fractions to calibrate.
        policies: the candidates (random is always one).
        pools: how many pool sizes (at least 2: a trend needs two).
        pool_share: the ratio between successive pool sizes.
        largest_pool: the largest pool's share of the data (the rest validates it).
        seeds: repeats per pool size (other pool draws, selections and tie-breaks); default
            :func:`default_seeds` of the row count; at least 3.
        confidence: the one-sided confidence a policy's gain at the full size must clear
            (Bonferroni-corrected over the candidates) to replace random.
        budget_share: the most the pilot may cost, as a share of one full training run
            (counted, see :mod:`.calibration_proxies`); default: no cap, the whole plan runs.
        full_run_flops: the floating-point operations of one full training run of your
            model (default: the reference MLP's); sets what ``budget_share`` is a share of.
        cost_per_call: with a ``train_and_eval`` proxy: the share of one full run a call
            costs (e.g. 0.3 for a function that trains 300 of a full run's 1,000 steps on
            any subset); default ``len(rows) / N``, right for a fixed number of epochs.
        metric_options: the metric's knobs (``k``, ...), as for :func:`lessdata.prune`.
        out: a folder for ``calibration.json``, ``calibration.png`` and ``calibration.html``.
        encoder: how texts without vectors are embedded (see :func:`lessdata.score`).
        cache_dir: where embeddings are cached.
        seed: seeds the pools, the selections, the proxy and the metric.
        quiet: no progress output.
        **load_options: how to read ``data`` (``label_column``, ``labels``, ...).

    Returns:
        A :class:`Calibration`; pass it (or its ``calibration.json``) to
        ``prune(policy="auto", calibration=...)``.

    Example:
        >>> import numpy as np, lessdata
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(400, 20)); y = (x[:, 0] > 0).astype(int)
        >>> cal = lessdata.calibrate(x, labels=y, scores=-abs(x[:, 0]), metric="margin",
        ...                          fractions=(0.3,), quiet=True)
        >>> sorted(cal.choices)
        [0.3]
    """
    from lessdata.metrics import REGISTRY, get_metric
    from lessdata.pipeline.options import check_metric_options

    wanted = _check_fractions(fractions)
    candidates = _check_policies(policies)
    pools = check_int(pools, "pools", low=2, high=8,
                      hint="the trend read at the full size needs at least two pool sizes")
    pool_share = check_float(pool_share, "pool_share", low=0, high=1, closed="neither")
    largest_pool = check_float(largest_pool, "largest_pool", low=0, high=0.9, closed="right",
                               hint="the rows outside the pool validate it")  # fmt: skip
    if seeds is not None:
        seeds = check_int(seeds, "seeds", low=MIN_SEEDS, high=100,
                          hint="the interval of a trend needs repeats")  # fmt: skip
    confidence = check_float(confidence, "confidence", low=0.5, high=1, closed="left")
    if budget_share is not None:
        budget_share = check_float(budget_share, "budget_share", low=0, high=1e6,
                                   closed="right")  # fmt: skip
    if full_run_flops is not None:
        full_run_flops = check_float(full_run_flops, "full_run_flops", low=0, high=1e30,
                                     closed="right")  # fmt: skip
    if cost_per_call is not None:
        cost_per_call = check_float(cost_per_call, "cost_per_call", low=0, high=1e6,
                                    closed="right")  # fmt: skip
        if not callable(proxy):
            raise LessdataError(
                "cost_per_call describes your own train_and_eval; the built-in proxies are "
                "counted by formula",
                param="cost_per_call",
            )
    if not callable(proxy) and not isinstance(proxy, str):
        raise LessdataError(
            f"proxy must be a name (logistic, ridge, mlp) or a callable, got {proxy!r}",
            param="proxy",
        )
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
    ds = as_dataset(data, **load_options)
    if ds.labels is None:
        raise LessdataError(
            "calibrate trains a proxy classifier: it needs labels (`label_column` or `labels`)"
        )
    labels = np.asarray(ds.labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise LessdataError(
            f"the labels hold one class ({classes[0]!r} for all {len(ds):,} rows): a classifier "
            "cannot be trained, so no policy can be calibrated; give labels with two or more "
            "classes"
        )
    given = None if scores is None else read_scores(scores, metric, ds)
    features_path = features if isinstance(features, (str, os.PathLike)) else None
    if features is not None:
        features = _check_features(features, len(ds))
    proxy_x = features if features is not None else None
    if proxy_x is None and not callable(proxy):
        proxy_x = _vectors(ds, encoder, cache_dir, seed)
    check_x = proxy_x if proxy_x is not None else np.zeros((len(ds), 1), dtype=np.float32)
    learner = make_proxy(proxy, check_x, labels, full_run_flops=full_run_flops, seed=seed,
                         cost_per_call=cost_per_call)  # fmt: skip
    plan = _plan(len(ds), len(classes), wanted, candidates, pools, pool_share, largest_pool,
                 seeds if seeds is not None else default_seeds(len(ds)), learner,
                 budget_share)  # fmt: skip
    folder = None
    if out is not None:
        inputs = [ds.source] if ds.format not in ("array", "table", "builtin") else []
        reads = [*inputs, *input_paths(data, load_options, metric_options)]
        for path in (scores, features_path):
            if isinstance(path, (str, os.PathLike)):
                reads.append(str(path))
        folder = OutputFolder(out, reads, command="calibrate")
    try:
        result = _pilot(ds, metric, given, options, learner, plan, wanted, candidates,
                        confidence, budget_share, full_run_flops, encoder, cache_dir, seed,
                        proxy_features="features" if features is not None else "vectors")
        if folder is not None:
            from lessdata.report.calibration import write_calibration_report

            folder.path("calibration.json").write_text(result.to_json(), encoding="utf-8")
            write_calibration_report(result.record, folder.folder)
            folder.commit()
            result.path = folder.final / "calibration.json"
    except BaseException:
        if folder is not None:
            folder.discard()
        raise
    return result


def _vectors(ds: Dataset, encoder: str, cache_dir: Any, seed: int) -> np.ndarray:
    x = np.asarray(vectors_of(ds, encoder=encoder, cache_dir=cache_dir, seed=seed))
    return x.reshape(len(x), -1).astype(np.float32)


def _check_features(features: Any, n: int) -> np.ndarray:
    if isinstance(features, (str, os.PathLike)):
        path = regular_file(features, "features")
        try:
            features = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise LessdataError(f"features {path}: not a readable .npy array "
                                f"({str(exc)[:100]})", param="features") from None  # fmt: skip
    try:
        array = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError):
        raise LessdataError("features must be numbers, one row per example",
                            param="features") from None  # fmt: skip
    if array.ndim == 0 or len(array) != n:
        raise LessdataError(
            f"features must have one row per example ({n:,}), got shape {array.shape}",
            param="features",
        )
    array = array.reshape(n, -1)
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise LessdataError(
            f"features hold {int(np.isnan(array).sum())} NaN and {int(np.isinf(array).sum())} "
            f"infinite values in {len(rows):,} rows (first: row {int(rows[0])}); give finite "
            "features",
            param="features",
        )
    return array


def _pilot(ds: Dataset, metric: str, given: np.ndarray | None, options: dict[str, Any],
           learner: Proxy, plan: _Plan, wanted: list[float], candidates: list[str],
           confidence: float, budget_share: float | None, full_run_flops: float | None,
           encoder: str, cache_dir: Any, seed: int, proxy_features: str
           ) -> Calibration:  # fmt: skip
    """Run the plan, decide, and assemble the record (deterministic: no clock in it)."""
    from threadpoolctl import threadpool_limits

    scores = given
    if scores is None:
        from lessdata.pipeline.scoring import score

        table = score(ds, [metric], metric_options=options, encoder=encoder,
                      cache_dir=cache_dir, seed=seed)  # fmt: skip
        scores = np.asarray(table[metric].to_numpy(), dtype=np.float64)
    vectors = None
    if "d2" in candidates or ds.texts is None:
        vectors = _vectors(ds, encoder, cache_dir, seed)
    n = len(ds)
    runs: list[dict[str, Any]] = []
    spent = 0.0
    steps = [(size, repeat) for size in plan.sizes for repeat in range(plan.seeds)]
    with threadpool_limits(1):  # small fits: one thread each is faster, and deterministic
        for size, repeat in track(steps, len(steps), "calibrating (pools × repeats)"):
            perm = np.random.default_rng([seed, size, repeat]).permutation(n)
            pool = np.sort(perm[:size])
            validation = np.sort(perm[size : size + MAX_VALIDATION_ROWS])
            for fraction in plan.feasible[size]:
                for policy in candidates:
                    kept = select(scores[pool], fraction, policy=policy, seed=seed + repeat,
                                  vectors=vectors[pool] if policy == "d2" else None)
                    accuracy = learner.accuracy(pool[kept], validation, repeat)
                    spent += learner.cost(len(kept), len(validation))
                    runs.append(dict(pool=size, repeat=repeat, fraction=fraction,
                                     policy=policy, accuracy=round(100 * accuracy, 4)))
    record: dict[str, Any] = dict(format=FORMAT, lessdata=__version__)
    record.update(decide(runs, wanted, candidates, n, confidence, plan.skipped))
    note = None
    if plan.seeds < plan.planned_seeds:
        note = (f"budget_share {budget_share:g} bought {plan.seeds} of the {plan.planned_seeds} "
                f"planned repeats; raise it to {plan.cost_per_seed * plan.planned_seeds:.3g} "
                "for all")  # fmt: skip
        log(note)
    record.update(
        source=Path(ds.source).name if ds.source else "", rows=n,
        fingerprint=fingerprint(ds, vectors if ds.texts is None else None),
        metric=metric, metric_options=options,
        scores={"given": given is not None, "fingerprint": scores_fingerprint(scores)},
        proxy={"name": learner.name, "describe": learner.describe, "sees": proxy_features},
        plan={"candidates": candidates, "pool_sizes": plan.sizes, "seeds": plan.seeds,
              "validation": f"the rows outside each pool, at most {MAX_VALIDATION_ROWS:,}",
              "confidence": confidence, "units": "accuracy in percent; gains in points"},
        cost={"pilot_share_of_full_run": round(spent, 6),
              "full_run": ("your train_and_eval on every row" if learner.fit_flops is None
                           else "given (full_run_flops)" if full_run_flops is not None
                           else "reference: MLP 2×256, 20 epochs over every row"),
              "full_run_flops": learner.full_run_flops,
              "budget_share": budget_share, "note": note},
        runs=runs,
    )  # fmt: skip
    log(f"calibration: the pilot cost {spent:.1%} of one full run ({record['cost']['full_run']})")
    return Calibration(record)


def read_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read and check a ``calibration.json`` (format, choices); data checks are the
    caller's (:func:`check_calibration`)."""
    path = regular_file(path, "calibration")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LessdataError(
            f"calibration {path} cannot be read ({exc})", param="calibration"
        ) from None
    if isinstance(record, dict) and record.get("format") == "lessdata-calibration-v1":
        raise LessdataError(
            f"{path} was made by an earlier lessdata (format v1, a timed pilot); run "
            "`lessdata calibrate` again",
            param="calibration",
        )
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise LessdataError(
            f"{path} is not a lessdata calibration (format {FORMAT!r}); make one with "
            "`lessdata calibrate`",
            param="calibration",
        )
    rows = record.get("fractions")
    if not isinstance(rows, list) or not rows or not all(
        isinstance(r, dict) and isinstance(r.get("fraction"), (int, float))
        and not isinstance(r.get("fraction"), bool) and 0 < r["fraction"] <= 1
        and r.get("policy") in POLICIES for r in rows
    ):  # fmt: skip
        raise LessdataError(f"{path}: no usable choices per fraction", param="calibration")
    fields = (("rows", int, "a whole number"), ("fingerprint", str, "a text"),
              ("metric", str, "a text"), ("scores", dict, "an object"))
    for key, kind, wanted in fields:
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            raise LessdataError(
                f"{path}: field {key!r} is missing or not {wanted} (the file was edited or "
                "damaged); run `lessdata calibrate` again",
                param="calibration",
            )
    return Calibration(record, path)


def check_calibration(calibration: Calibration, ds: Dataset, vectors: np.ndarray | None,
                      metric: str, metric_options: dict[str, Any],
                      scores: np.ndarray | None = None) -> None:  # fmt: skip
    """Refuse a calibration measured on other data, another metric or options, or other
    scores (``scores``: the scores this run prunes by when the user gave them)."""
    record, where = calibration.record, calibration.path or "the calibration"
    if record["rows"] != len(ds):
        raise LessdataError(
            f"{where} was measured on another dataset ({record['rows']:,} rows; this one has "
            f"{len(ds):,}); calibrate on this data first",
            param="calibration",
        )
    if record["fingerprint"] != fingerprint(ds, vectors if ds.texts is None else None):
        raise LessdataError(
            f"{where} was measured on another dataset (same size, different ids or content); "
            "calibrate on this data first",
            param="calibration",
        )
    measured = record["scores"]
    if measured.get("given") and scores is None:
        raise LessdataError(
            f"{where} was measured on scores you gave ({record['metric']}); pass the same "
            "`scores` to prune",
            param="calibration",
        )
    if scores is not None:
        if scores_fingerprint(scores) != measured.get("fingerprint"):
            raise LessdataError(
                f"{where} was measured on other scores than these; calibrate with these "
                "scores first",
                param="calibration",
            )
        return
    if record["metric"] != metric or (record.get("metric_options") or {}) != metric_options:
        raise LessdataError(
            f"{where} was measured for metric {record['metric']} with options "
            f"{record.get('metric_options') or {}}; this run prunes by {metric} with "
            f"{metric_options}",
            param="calibration",
        )
