"""Evaluate an in-context learner against the baselines, on the same prompts, with intervals.

:func:`evaluate` draws ``n_prompts`` prompts for every (source, shift) pair, runs the
transformer and every baseline on them, and returns one row per (source, shift, learner, k):
the mean error/d at k in-context examples and a bootstrap interval over prompts. It also
answers "how many GD steps does a type-1 learner need to do as well?": the number of
gradient steps a linear model needs, on the fresh prompts' first n-1 examples, to reach the
transformer's error at the last position (:func:`~lessdata.labs.icl.baselines.gd_steps_to_match`).

Targets. The error at k is ``(prediction_k - ys[:, k])² / d``, averaged over prompts (the
lab's convention), except under the ``noisy-labels`` shift, whose added label noise would
add the same ``c² / d`` to every learner and hide their differences: there the target is
the noise-free label ``info["ys_clean"]`` (the ``target`` column says which). Under the
``orthants`` shift only the final position is a test point (earlier queries lie in the
context's orthant), so only k = n - 1 is reported.

Determinism: the prompts of each (source, shift) pair come from a CPU generator seeded by
``seed`` (so every pair is reproducible alone, on any device), the bootstrap from a NumPy
generator seeded by ``seed``, and ``gd-network`` from ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from lessdata.errors import LessdataError
from lessdata.labs.icl.baselines import BASELINES, gd_steps_to_match
from lessdata.labs.icl.model import ICLTransformer
from lessdata.labs.icl.tasks import (
    DENSE_FAMILIES,
    FAMILIES,
    SHIFTS,
    SOURCES,
    TaskSampler,
    TaskSpec,
)
from lessdata.progress import log

__all__ = [
    "DEFAULT_BASELINES",
    "RIDGE_FLOOR",
    "TRANSFORMER",
    "applicable_shifts",
    "bootstrap_interval",
    "error_curve",
    "evaluate",
]

#: the learner name of the model under evaluation
TRANSFORMER = "transformer"
#: the baselines evaluated by default: all of them
DEFAULT_BASELINES: tuple[str, ...] = tuple(BASELINES)
#: ridge's lambda when the prompts carry no label noise (lambda = noise² otherwise)
RIDGE_FLOOR = 1e-3
#: prompts per forward pass of the transformer
PREDICT_BATCH = 4096
#: bootstrap resamples drawn at once are capped so that resamples × prompts stays below this
BOOT_CHUNK_ELEMENTS = 1 << 22
#: baselines too slow to run under every shift: ``gd-network`` trains B·(n-1) networks per
#: (source, shift) pair (about 10 s for 1000 prompts on one CPU core)
COSTLY = ("gd-network",)
#: input scale factors of the input-scaling battery (2 is the plain ``scaled-inputs`` shift)
INPUT_SCALES: tuple[float, ...] = (0.25, 0.5, 4.0)
#: GD steps :func:`gd_steps_to_match` may take before giving up
GD_MAX_STEPS = 1000
#: test angles (degrees from the first axis) of the angle battery, run for capped tasks
TEST_ANGLES: tuple[float, ...] = (0.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 150.0, 180.0)
#: learners of the angle battery: the transformer, the uncapped Bayes (ridge) and the capped
#: one (dMMSE over the cap prior), and least squares (no prior at all)
ANGLE_LEARNERS: tuple[str, ...] = ("ridge", "dmmse", "least-squares")


def _as_numpy(values: Any) -> np.ndarray:
    """A float64 NumPy copy of a tensor or array."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


def squared_errors(preds: Any, ys: Any, d: int) -> np.ndarray:
    """Per-prompt, per-position squared error divided by ``d``: (P, n) float64."""
    p, y = _as_numpy(preds), _as_numpy(ys)
    if p.shape != y.shape or p.ndim != 2:
        raise LessdataError(f"preds and ys must both be (prompts, n); got {p.shape} and {y.shape}")
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise LessdataError(f"d must be a positive whole number, got {d!r}")
    return (p - y) ** 2 / d


def error_curve(preds: Any, ys: Any, d: int) -> np.ndarray:
    """Mean squared error / d at each position: (n,) float64 (prompts averaged).

    ``preds`` and ``ys`` are (P, n) tensors or arrays; entry k is the error with k
    in-context examples. Predicting 0 on Gaussian prompts (w, x ~ N(0, I_d)) gives about 1.

    >>> error_curve(np.zeros((2, 3)), np.ones((2, 3)), d=2).tolist()
    [0.5, 0.5, 0.5]
    """
    return squared_errors(preds, ys, d).mean(axis=0)


def bootstrap_interval(
    sq_errors: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean error at each position, resampling prompts.

    Each resample draws P prompts (rows of ``sq_errors`` (P, n)) with replacement; its
    counts of each prompt make its mean at every position one matrix product
    (``counts @ sq_errors / P``); resamples are drawn in chunks to bound memory. Columns
    share the resamples, so stacking several learners' errors on the same prompts side by
    side gives paired intervals in one call.

    Returns:
        ``(low, high)``, each (n,): the ``(1 - level) / 2`` and ``(1 + level) / 2``
        quantiles of the resampled means.
    """
    errors = np.asarray(sq_errors, dtype=np.float64)
    if errors.ndim != 2 or errors.shape[0] < 1:
        raise LessdataError(f"sq_errors must be a (prompts, n) array, got shape {errors.shape}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise LessdataError(f"n_boot must be a positive whole number, got {n_boot!r}")
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise LessdataError(f"level must lie in (0, 1), e.g. 0.95; got {level!r}")
    prompts = errors.shape[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOT_CHUNK_ELEMENTS // prompts)
    means = []
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        picks = rng.integers(0, prompts, size=(rows, prompts))
        picks += np.arange(rows)[:, None] * prompts  # resample r's counts land in row r
        counts = np.bincount(picks.ravel(), minlength=rows * prompts).reshape(rows, prompts)
        means.append(counts @ errors / prompts)
    means = np.concatenate(means)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail], axis=0)
    return low, high


def applicable_shifts(spec: TaskSpec) -> tuple[str, ...]:
    """The shifts of :data:`~lessdata.labs.icl.tasks.SHIFTS` that the task family supports.

    ``scaled-weights`` needs a linear family, ``outside-cap`` a dense linear family with a
    ``cap_angle`` below 180, ``subspace`` d >= 2; ``at-angle`` is only run as the angle battery.
    """
    skip = {"at-angle"}  # a battery (see ``test_angles``), never a default shift
    if not spec.is_linear:
        skip.add("scaled-weights")
    if spec.family not in DENSE_FAMILIES or spec.cap_angle is None or spec.cap_angle >= 180:
        skip.add("outside-cap")  # nothing lies outside a 180-degree cap
    if spec.d < 2:
        skip.add("subspace")
    return tuple(s for s in SHIFTS if s not in skip)


def _check_names(kind: str, asked: Sequence[str], known: Sequence[str]) -> list[str]:
    """Validate a list of names against the known ones (order kept, duplicates dropped)."""
    if isinstance(asked, str):
        asked = [asked]
    unknown = [a for a in asked if a not in known]
    if unknown:
        raise LessdataError(f"unknown {kind} {unknown}; choose from {list(known)}")
    return list(dict.fromkeys(asked))


def _predict(model: ICLTransformer, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The model's predictions (P, n), in eval mode without gradients, batch by batch."""
    with torch.no_grad():
        parts = [
            model(xs[a : a + PREDICT_BATCH], ys[a : a + PREDICT_BATCH])
            for a in range(0, len(xs), PREDICT_BATCH)
        ]
    return torch.cat(parts)


def _baseline(
    name: str, xs: torch.Tensor, ys: torch.Tensor, spec: TaskSpec, sampler: TaskSampler, seed: int
) -> torch.Tensor:
    """Predictions of baseline ``name`` with the settings this task implies."""
    fn = BASELINES[name]
    noise = spec.label_noise
    if name == "ridge":
        return fn(xs, ys, noise**2 if noise > 0 else RIDGE_FLOOR)
    if name == "dmmse":
        return fn(xs, ys, sampler.training_prior(), noise)
    if name == "gd-network":
        return fn(xs, ys, seed=seed)
    return fn(xs, ys)


#: a constant mixed into evaluation seeds, so that evaluation prompts never replay the task
#: pool's draw (the pool is drawn from ``torch.Generator().manual_seed(pool_seed)``)
EVAL_STREAM = 0x6576616C  # "eval"


def eval_generator(seed: int) -> torch.Generator:
    """The generator of the evaluation prompts of ``seed``, independent of the pool's draw.

    Seeding it with ``seed`` alone would make ``source="fresh"`` tasks the first rows of the
    pool whenever ``seed == pool_seed`` (the same stream, the same normal draws): "fresh"
    tasks would then be pool tasks and dMMSE would look better than the Bayes-optimal ridge.
    """
    state = np.random.SeedSequence([EVAL_STREAM, int(seed)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed((int(state[0]) << 31) | (int(state[1]) >> 1))


def _pair_rows(
    model: ICLTransformer,
    spec: TaskSpec,
    sampler: TaskSampler,
    source: str,
    shift: str,
    learners: list[str],
    n_prompts: int,
    seed: int,
    strength: float | None = None,
    label: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of every learner on one (source, shift) pair's prompts, with paired intervals.

    ``strength`` overrides the shift's default strength; ``label`` names the rows' shift
    (the input-scaling battery labels each scale ``scaled-inputs xC``).
    """
    generator = eval_generator(seed)
    xs, ys, info = sampler.sample(
        int(n_prompts), generator, source=source, shift=shift, strength=strength
    )
    noisy = shift == "noisy-labels"
    target = info["ys_clean"] if noisy else ys
    n = xs.shape[1]
    positions = [n - 1] if info["final_only"] else list(range(n))
    errors = []
    for name in learners:
        if name == TRANSFORMER:
            preds = _predict(model, xs, ys)
        else:
            preds = _baseline(name, xs, ys, spec, sampler, seed)
        errors.append(squared_errors(preds, target, spec.d)[:, positions])
    stacked = np.hstack(errors)  # (P, learners × positions): one paired bootstrap
    low, high = bootstrap_interval(stacked, seed=seed)
    mean = stacked.mean(axis=0)
    common = {
        "source": source,
        "shift": label or shift,
        "strength": info["strength"],
        "target": "ys_clean" if noisy else "ys",
        "n_prompts": int(n_prompts),
    }
    width = len(positions)
    return [
        {
            **common,
            "learner": name,
            "k": k,
            "error": float(mean[i * width + j]),
            "low": float(low[i * width + j]),
            "high": float(high[i * width + j]),
        }
        for i, name in enumerate(learners)
        for j, k in enumerate(positions)
    ]


def evaluate(
    model: ICLTransformer,
    spec: TaskSpec,
    *,
    sources: Sequence[str] = ("pool", "fresh"),
    shifts: Sequence[str] | None = None,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    n_prompts: int = 1000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    costly_shifts: Sequence[str] = ("none",),
    input_scales: Sequence[float] = INPUT_SCALES,
    test_angles: Sequence[float] = TEST_ANGLES,
    families: Sequence[str] = (),
) -> pa.Table:
    """Error/d against k for the transformer and the baselines, on the same prompts.

    For every source and shift, ``n_prompts`` prompts are drawn once and every learner
    predicts every position of them. Pairs that do not apply are skipped (with a log
    line): the ``pool`` source without a pool (``spec.pool_size`` None), shifts the family
    does not support (:func:`applicable_shifts`; ``shifts=None`` means all of those), and
    ``dmmse`` without a pool of weight vectors. Ridge uses lambda = noise² (the Bayes
    posterior mean for w ~ N(0, I)), :data:`RIDGE_FLOOR` for noiseless prompts. The
    :data:`COSTLY` baselines (``gd-network``) run only under ``costly_shifts`` (default:
    unshifted prompts). All learners of a pair share the bootstrap resamples.
    ``input_scales`` is the input-scaling battery (Garg et al. Fig. 4), run with the
    ``scaled-inputs`` shift: fresh prompts with inputs scaled by each factor, as rows with
    shift ``scaled-inputs xC`` (the plain
    ``scaled-inputs`` shift is its default factor, 2). ``test_angles`` is the angle battery,
    run when the spec has a ``cap_angle``: fresh tasks at exactly each angle from the first
    axis (shift ``at-angle``, rows labelled ``angle θ``), with the transformer, ridge,
    dMMSE over the cap prior and least squares. ``dmmse`` is the Bayes prediction for the
    training task distribution: over the pool, or for a capped spec without a pool over a
    fixed sample of the cap (:meth:`~lessdata.labs.icl.tasks.TaskSampler.training_prior`).
    ``families`` is the family shift: fresh, unshifted prompts of each other task family
    (same d and points; rows labelled ``family NAME``) with that family's baselines (every
    baseline but dMMSE, which needs a pool): a model trained on linear tasks read on
    sparse-linear, relu-net or tree prompts, and the reverse.

    Returns:
        An Arrow table with one row per (source, shift, learner, k): ``source``, ``shift``,
        ``strength`` (the shift's strength; null when it has none), ``target`` (``ys`` or
        ``ys_clean``), ``learner``, ``k``, ``error`` (mean error/d), ``low`` and ``high``
        (95% bootstrap interval over prompts), ``n_prompts``, and on every row the run's
        ``gd_steps_to_match`` (GD steps a linear model needs, from w = 0 on the fresh
        prompts' n-1 examples, to reach the transformer's fresh error at k = n-1; null
        when :data:`GD_MAX_STEPS` steps do not suffice) and ``gd_target_error``.
    """
    if isinstance(n_prompts, bool) or not isinstance(n_prompts, (int, np.integer)) or n_prompts < 2:
        raise LessdataError(f"n_prompts must be a whole number >= 2, got {n_prompts!r}")
    spec = spec.check()
    if model.d != spec.d or model.n_points < spec.n_points:
        raise LessdataError(
            f"the model takes d={model.d}, up to {model.n_points} points, but the task has "
            f"d={spec.d}, {spec.n_points} points: evaluate on the spec it was trained for"
        )
    device = torch.device(device)
    sources = _check_names("source", sources, SOURCES)
    supported = applicable_shifts(spec)
    shifts = list(supported) if shifts is None else _check_names("shift", shifts, SHIFTS)
    baselines = _check_names("baseline", baselines, list(BASELINES))
    sampler = TaskSampler(spec, device=device)
    if "pool" in sources and spec.pool_size is None:
        log("ICL evaluation: no task pool (pool_size None); skipping the pool source")
        sources = [s for s in sources if s != "pool"]
    if "dmmse" in baselines and sampler.training_prior() is None:
        baselines = [b for b in baselines if b != "dmmse"]
    families = _check_names("family", families, FAMILIES)
    skipped = [s for s in shifts if s not in supported]
    if skipped:
        log(f"ICL evaluation: shifts {skipped} do not apply to {spec.family!r}; skipping them")
    shifts = [s for s in shifts if s in supported]

    model = model.to(device).eval()
    rows: list[dict[str, Any]] = []
    for source in sources:
        for shift in shifts:
            learners = [TRANSFORMER] + [
                b for b in baselines if b not in COSTLY or shift in costly_shifts
            ]
            rows += _pair_rows(model, spec, sampler, source, shift, learners, n_prompts, seed)
    if "scaled-inputs" in shifts and "fresh" in sources:
        cheap = [TRANSFORMER] + [b for b in baselines if b not in COSTLY]
        for scale in input_scales:
            rows += _pair_rows(
                model, spec, sampler, "fresh", "scaled-inputs", cheap, n_prompts, seed,
                strength=float(scale), label=f"scaled-inputs x{float(scale):g}",
            )  # fmt: skip
    if spec.cap_angle is not None and spec.family in DENSE_FAMILIES and "fresh" in sources:
        angled = [TRANSFORMER] + [b for b in ANGLE_LEARNERS if b in baselines]
        for angle in test_angles:
            rows += _pair_rows(
                model, spec, sampler, "fresh", "at-angle", angled, n_prompts, seed,
                strength=float(angle), label=f"angle {float(angle):g}",
            )  # fmt: skip
    for family in families:
        if family == spec.family:
            continue
        other = replace(spec, family=family, pool_size=None, cap_angle=None).check()
        learners = [TRANSFORMER] + [b for b in baselines if b != "dmmse"]
        rows += _pair_rows(
            model, other, TaskSampler(other, device=device), "fresh", "none", learners,
            n_prompts, seed, label=f"family {family}",
        )  # fmt: skip
    target_error = next(
        (
            r["error"]
            for r in rows
            if (r["source"], r["shift"], r["learner"], r["k"])
            == ("fresh", "none", TRANSFORMER, spec.n_points - 1)
        ),
        None,
    )
    steps, target_error = _gd_to_match(model, spec, sampler, n_prompts, seed, target_error)
    for row in rows:
        row["gd_steps_to_match"] = steps
        row["gd_target_error"] = target_error
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _gd_to_match(
    model: ICLTransformer,
    spec: TaskSpec,
    sampler: TaskSampler,
    n_prompts: int,
    seed: int,
    target_error: float | None,
) -> tuple[int | None, float]:
    """GD steps to reach the transformer's fresh error at the last position; and that error.

    The fresh, unshifted prompts are those :func:`evaluate` draws (the same generator seed);
    they are drawn here when that pair was not part of the evaluation.
    """
    generator = eval_generator(seed)
    xs, ys, _ = sampler.sample(int(n_prompts), generator, source="fresh", shift="none")
    if target_error is None:
        target_error = float(squared_errors(_predict(model, xs, ys), ys, spec.d)[:, -1].mean())
    if xs.shape[1] < 2:
        return None, target_error
    steps = gd_steps_to_match(xs, ys, target_error, max_steps=GD_MAX_STEPS)
    return steps, target_error


SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("shift", pa.string()),
        ("strength", pa.float64()),
        ("target", pa.string()),
        ("learner", pa.string()),
        ("k", pa.int64()),
        ("error", pa.float64()),
        ("low", pa.float64()),
        ("high", pa.float64()),
        ("n_prompts", pa.int64()),
        ("gd_steps_to_match", pa.int64()),
        ("gd_target_error", pa.float64()),
    ]
)
