"""Scaling sweeps: train on pruned subsets of growing size and record held-out error.

A sweep crosses seeds × widths × (metric, policy) × fractions. For each combination it
selects a subset of the task's training set, trains a model on it (the built-in trainer, a
Python callable or a shell command) and evaluates it on the task's fixed held-out set. The
results go to a :class:`~lessdata.labs.scaling.store.ResultsStore` as each run completes.

Work is shared wherever the result cannot differ:

* scores are computed **once per (metric, seed)** on the whole training set (label-free
  metrics on the features; training-dynamics metrics with the labels), kept in memory and
  cached in ``STORE/scores/*.npy``, so a rerun or an extended sweep does not recompute them;
* the **full-data run** (every example kept) is trained once per seed and width and shared
  by all metrics and policies as the reference (``policy="full"``, ``metric="-"``);
* ``random`` (and ``d4``, which scores by itself) ignore the metric, so they run once per
  seed, width and fraction (``metric="-"``) and serve as the baseline of every metric.

A rerun skips every run already recorded as ``ok`` (failed runs are retried), so a killed
sweep resumes where it stopped, losing at most the runs that were in progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shlex
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.budget import resolve_budget
from lessdata.checks import check_int
from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.labs.scaling.store import FULL, NO_METRIC, ResultsStore, RunKey, keep_text
from lessdata.labs.scaling.tasks import Task, load_task
from lessdata.progress import log, track
from lessdata.workers import exit_with_parent

DEFAULT_FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
DEFAULT_POLICIES: tuple[str, ...] = ("random", "keep-easy", "keep-hard")
#: policies whose subset does not depend on a metric's scores
SCORE_FREE_POLICIES = ("random", "d4")
#: a metric named ``NAME@ssl`` is computed in the task's self-supervised embedding
SSL_SUFFIX = "@ssl"
#: a dynamic-pruning run (InfoBatch on the full data) is the policy ``dynamic-RATIO``
DYNAMIC_PREFIX = "dynamic-"
#: score options passed on to ``lessdata.score`` / ``lessdata.prune``
BASE_SCORE_OPTIONS = ("k", "distance", "eps", "survivor")
SCORE_OPTIONS = (*BASE_SCORE_OPTIONS, "encoder", "ssl_steps")
#: SSL training steps of ``NAME@ssl`` metrics (``score_options["ssl_steps"]``)
SSL_STEPS = 1_500
#: lines of a failed command's stderr kept in the store
STDERR_TAIL_LINES = 20
STDERR_TAIL_CHARS = 2000
#: fields of a command template (``{manifest}`` is the subset's manifest Parquet)
TEMPLATE_FIELDS = (
    "manifest",
    "seed",
    "width",
    "policy",
    "metric",
    "keep",
    "n_kept",
    "task",
    "model",
)

TrainHook = Callable[[np.ndarray], Mapping[str, Any]]


@dataclass
class SweepSpec:
    """What to sweep.

    Attributes:
        task: ``mnist1d``, ``digits``, a dataset path, or a loaded :class:`Task`.
        model: ``logreg``, ``mlp``, ``cnn1d`` or ``cnn2d`` for the built-in trainer; with a
            hook, any label for the runs (default: the hook's name).
        widths: the model-size axis (``TrainConfig.width``); one curve set per width.
        metrics: score names from the metric registry (``lessdata metrics``).
        policies: selection policies (``keep-hard``, ``keep-easy``, ``auto``, ``random``,
            ``moderate``, ``ccs``, ``d4``).
        fractions: budgets: fractions in (0, 1] or whole-number counts. The full-data run is
            always included as the reference.
        seeds: seeds (a list) or a number of seeds (``3`` → 0, 1, 2). A seed seeds the
            scores, the selection's tie-breaking and the training.
        train: ``TrainConfig`` settings (a ``TrainConfig`` or a dict of its fields; width
            and seed are set per run).
        class_balanced: split each budget evenly across classes (not with ``d4``).
        n_train, data_seed, label_column, test, test_fraction: how to load ``task`` when it
            is a name or a path (see :func:`~lessdata.labs.scaling.tasks.load_task`).
        dynamic: prune ratios of dynamic-pruning runs (``lessdata.torch.DynamicPruningSampler``
            on the full data, the same budget of example-forwards as the static runs, spent
            in epochs; the built-in trainer only): policy ``dynamic-RATIO``, kept 1.0, with
            the share of example-forwards saved as the extra metric ``forwards_saved``.
        score_options: options for the metrics: ``k``, ``distance``, ``eps``, ``survivor``,
            ``encoder`` (texts of a path task), and any option a chosen metric takes (the
            training-dynamics metrics: ``proxy_model``, ``proxy_epochs``, ``proxy_runs``,
            ``width``, ``early_epoch``).
    """

    task: str | Path | Task = "mnist1d"
    model: str | None = None
    widths: Sequence[int] = (64,)
    metrics: Sequence[str] = ("prototypes",)
    policies: Sequence[str] = DEFAULT_POLICIES
    fractions: Sequence[float | int] = DEFAULT_FRACTIONS
    seeds: int | Sequence[int] = 3
    train: Any = None
    class_balanced: bool = False
    n_train: int | None = None
    data_seed: int = 0
    label_column: str | None = None
    test: str | Path | None = None
    test_fraction: float = 0.2
    score_options: Mapping[str, Any] = field(default_factory=dict)
    dynamic: Sequence[float] = ()

    def seed_list(self) -> list[int]:
        """The seeds: ``range(seeds)`` for a number, else the list given."""
        if isinstance(self.seeds, (int, np.integer)) and not isinstance(self.seeds, bool):
            return list(range(check_int(self.seeds, "seeds", low=1)))
        seeds = [int(s) for s in self.seeds]
        if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise LessdataError(f"seeds must be distinct non-negative numbers, got {seeds}")
        return seeds

    def train_settings(self) -> dict[str, Any]:
        """The training settings as a dict (without width and seed, which vary per run)."""
        if self.train is None:
            settings: dict[str, Any] = {}
        elif dataclasses.is_dataclass(self.train) and not isinstance(self.train, type):
            settings = dataclasses.asdict(self.train)
        elif isinstance(self.train, Mapping):
            settings = dict(self.train)
        else:
            raise LessdataError(f"train must be a TrainConfig or a dict, got {self.train!r}")
        settings.pop("width", None)
        settings.pop("seed", None)
        return settings


@dataclass
class SweepSummary:
    """What a sweep did.

    Attributes:
        planned: runs in the sweep (including those already done before).
        skipped: runs found done in the store and not repeated.
        ok, failed: runs completed by this call, by outcome.
        failures: ``{"run", "message"}`` for each failed run.
        scores_computed, scores_loaded: score vectors computed, and read from the cache.
        seconds: wall-clock time of the call.
        config: the configuration hash of the runs' keys.
        aborted: why the sweep stopped early (a worker process died), or None.
    """

    planned: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    scores_computed: int = 0
    scores_loaded: int = 0
    seconds: float = 0.0
    config: str = ""
    store: str = ""
    aborted: str | None = None


# --- planning ----------------------------------------------------------------------------


@dataclass
class _Plan:
    key: RunKey
    n_kept: int


def _check_spec(spec: SweepSpec, n: int) -> list[float | int]:
    """Validate the spec against a training set of ``n``; return the partial budgets."""
    from lessdata.metrics import get_metric
    from lessdata.select import POLICIES

    known = (*POLICIES, "d4")
    for policy in spec.policies:
        if policy not in known:
            raise LessdataError(f"unknown policy {policy!r}; choose from: {', '.join(known)}")
    if len(set(spec.policies)) != len(spec.policies) or not spec.policies:
        raise LessdataError(f"name each policy once (at least one), got {list(spec.policies)}")
    if not spec.metrics or len(set(spec.metrics)) != len(spec.metrics):
        raise LessdataError(f"name each metric once (at least one), got {list(spec.metrics)}")
    for metric in spec.metrics:
        base, in_ssl = split_metric(metric)
        chosen = get_metric(base)
        if in_ssl and (chosen.needs_training or not chosen.needs_vectors):
            raise LessdataError(
                f"metric {metric}: only metrics measured on vectors (prototypes, semdedup, "
                f"...) can be computed in the SSL embedding; {base} is not one",
                param="metrics",
            )
    ratios = list(spec.dynamic)
    if len(set(ratios)) != len(ratios) or any(
        isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1 for r in ratios
    ):
        raise LessdataError(
            f"dynamic prune ratios must be distinct numbers in [0, 1), got {ratios}",
            param="dynamic",
        )
    if spec.class_balanced and "d4" in spec.policies:
        raise LessdataError("d4 does not support `class_balanced`; drop one of them")
    widths = list(spec.widths)
    if not widths or any(
        isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in widths
    ):
        raise LessdataError(f"widths must be positive whole numbers, got {widths}")
    if len(set(widths)) != len(widths):
        raise LessdataError(f"name each width once, got {widths}")
    accepted = set(SCORE_OPTIONS).union(
        *(get_metric(split_metric(m)[0]).options for m in spec.metrics)
    )
    unknown = sorted(set(spec.score_options) - accepted)
    if unknown:
        raise LessdataError(
            f"the metrics {', '.join(spec.metrics)} take no option {unknown}; options: "
            f"{', '.join(sorted(accepted))}"
        )
    if not spec.fractions:
        raise LessdataError(
            "fractions is empty; give at least one fraction or count, such as 0.1, 0.5 and 1.0",
            param="fractions",
        )
    partial: list[float | int] = []
    for keep in spec.fractions:
        if isinstance(keep, (np.integer, np.floating)):
            keep = keep.item()
        budget = resolve_budget(keep, n)
        if budget < n and keep_text(keep) not in {keep_text(k) for k in partial}:
            partial.append(keep)
    return partial


def _plan(
    spec: SweepSpec, task: Task, model: str, config: str, partial: list[float | int]
) -> list[_Plan]:
    """Every run of the sweep in a stable order: seed, width, metric, policy, budget."""
    n = task.n_train
    plans = []
    for seed in spec.seed_list():
        for width in spec.widths:
            common = dict(task=task.name, model=model, width=int(width), seed=seed, config=config)
            plans.append(_Plan(RunKey(metric=NO_METRIC, policy=FULL, keep=1.0, **common), n))
            for ratio in spec.dynamic:
                policy = f"{DYNAMIC_PREFIX}{float(ratio):g}"
                plans.append(_Plan(RunKey(metric=NO_METRIC, policy=policy, keep=1.0, **common), n))
            pairs = [(NO_METRIC, p) for p in spec.policies if p in SCORE_FREE_POLICIES]
            pairs += [
                (m, p) for m in spec.metrics for p in spec.policies if p not in SCORE_FREE_POLICIES
            ]
            for metric, policy in pairs:
                plans.extend(
                    _Plan(
                        RunKey(metric=metric, policy=policy, keep=k, **common), resolve_budget(k, n)
                    )
                    for k in partial
                )
    return plans


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _hook_name(train_and_eval: TrainHook | None, command: str | None) -> str | None:
    if train_and_eval is not None:
        module = getattr(train_and_eval, "__module__", "") or ""
        name = getattr(train_and_eval, "__qualname__", type(train_and_eval).__name__)
        return f"{module}.{name}" if module else name
    if command is not None:
        return f"command: {command}"
    return None


# --- scores ------------------------------------------------------------------------------


class _Scores:
    """Scores per (metric, seed): computed once, kept in memory, cached as ``.npy``.

    A missing seed's metrics are computed together in one ``lessdata.score`` call, so that
    metrics that share work (prototypes and semdedup one k-means; the training-dynamics
    metrics one set of proxy runs) do it once.
    """

    def __init__(
        self,
        task: Task,
        metrics: Sequence[str],
        options: Mapping[str, Any],
        folder: Path,
        data: str,
    ) -> None:
        self.task = task
        self.metrics = list(metrics)
        self.options = {k: v for k, v in options.items() if v is not None and k != "encoder"}
        self.folder = folder
        self.data = data
        self.memory: dict[tuple[str, int], np.ndarray] = {}
        self.computed = 0
        self.loaded = 0

    def _relevant(self, metric: str) -> dict[str, Any]:
        """The options that can change ``metric``'s scores."""
        from lessdata.metrics import get_metric

        base, in_ssl = split_metric(metric)
        takes = set(BASE_SCORE_OPTIONS).union(get_metric(base).options)
        if in_ssl:
            takes.add("ssl_steps")
        return {k: v for k, v in self.options.items() if k in takes}

    def path(self, metric: str, seed: int) -> Path:
        """The cache file of ``metric`` under ``seed`` for this data and these options."""
        digest = _digest(["scores-v1", self.data, metric, seed, self._relevant(metric)])[:16]
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in metric)
        return self.folder / f"{safe}-seed{seed}-{digest}.npy"

    def _load(self, metric: str, seed: int) -> np.ndarray | None:
        path = self.path(metric, seed)
        if not path.exists():
            return None
        try:
            scores = np.load(path)
        except (OSError, ValueError):
            return None
        if scores.shape != (self.task.n_train,) or not np.isfinite(scores).all():
            return None
        return scores

    def get(self, metric: str, seed: int) -> np.ndarray:
        """The ``metric`` scores of every training example under ``seed``."""
        if (metric, seed) in self.memory:
            return self.memory[(metric, seed)]
        wanted = [metric, *(m for m in self.metrics if m != metric)]
        missing = []
        for name in wanted:
            if (name, seed) in self.memory:
                continue
            cached = self._load(name, seed)
            if cached is None:
                missing.append(name)
            else:
                self.memory[(name, seed)] = cached
                self.loaded += 1
        if metric in missing:
            for in_ssl in (False, True):
                group = [m for m in missing if split_metric(m)[1] == in_ssl]
                if group:
                    self._compute(group, seed, in_ssl)
        return self.memory[(metric, seed)]

    def _compute(self, names: list[str], seed: int, in_ssl: bool) -> None:
        """Score ``names`` together (one ``lessdata.score`` call) and cache each."""
        import lessdata
        from lessdata.metrics import get_metric

        bases = [split_metric(m)[0] for m in names]
        takes = set().union(*(get_metric(m).options for m in bases))
        options = {k: v for k, v in self.options.items() if k in takes}
        steps = self.options.get("ssl_steps", SSL_STEPS)
        x = ssl_embedding(self.task, seed, steps) if in_ssl else self.task.x_train
        table = lessdata.score(
            x, bases, labels=self.task.y_train, seed=seed, metric_options=options,
        )  # fmt: skip
        for name, base in zip(names, bases, strict=True):
            scores = np.asarray(table[base].to_numpy(), dtype=np.float64)
            self.computed += 1
            with atomic_path(self.path(name, seed)) as tmp, open(tmp, "wb") as handle:
                np.save(handle, scores)
            self.memory[(name, seed)] = scores


def split_metric(metric: str) -> tuple[str, bool]:
    """``"prototypes@ssl"`` → ``("prototypes", True)``; ``"prototypes"`` → ``(.., False)``."""
    if metric.endswith(SSL_SUFFIX):
        return metric[: -len(SSL_SUFFIX)], True
    return metric, False


def ssl_embedding(task: Task, seed: int, steps: int = SSL_STEPS) -> np.ndarray:
    """The task's training set embedded by :func:`lessdata.embed.ssl` (cached on disk):
    mnist1d as signals, 2-D inputs as images, anything else as feature vectors."""
    from lessdata.embed import ssl

    shape = tuple(task.input_shape)
    x, kind = task.x_train, "vectors"
    if task.name == "mnist1d":
        kind = "signal"
    elif len(shape) == 2 and min(shape) >= 8:
        x, kind = x.reshape(len(x), *shape), "image"
    return ssl(x, kind=kind, steps=steps, seed=seed)


def _select(plan: _Plan, task: Task, spec: SweepSpec, scores: _Scores) -> np.ndarray | None:
    """The kept rows of the training set for ``plan`` (None = all of them)."""
    key = plan.key
    if key.policy == FULL or key.policy.startswith(DYNAMIC_PREFIX):
        return None
    if key.policy == "d4":
        import lessdata

        options = {
            k: v for k, v in spec.score_options.items() if k in ("k", "eps", "survivor") and v
        }
        return lessdata.prune(
            task.x_train,
            key.keep,
            policy="d4",
            seed=key.seed,
            report=False,
            metric_options=options,
        ).kept
    import lessdata

    values = np.zeros(task.n_train) if key.metric == NO_METRIC else scores.get(key.metric, key.seed)
    vectors = None
    if key.policy == "d2":  # the graph lives in the space the metric was measured in
        steps = spec.score_options.get("ssl_steps", SSL_STEPS)
        in_ssl = split_metric(key.metric)[1]
        vectors = ssl_embedding(task, key.seed, steps) if in_ssl else task.x_train
    return lessdata.select(
        values, key.keep, policy=key.policy, labels=task.y_train,
        class_balanced=spec.class_balanced, seed=key.seed, vectors=vectors,
    )  # fmt: skip


# --- running one job (in a worker process or in-process) ---------------------------------

_STATE: dict[str, Any] | None = None


def _init_worker(state: dict[str, Any], parallel: bool) -> None:
    """Set a worker's shared state once; with several workers, one thread each."""
    global _STATE
    _STATE = state
    if parallel:
        exit_with_parent()  # a killed sweep leaves no workers behind
        os.environ["LESSDATA_QUIET"] = "1"
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        except ImportError:  # pragma: no cover - scikit-learn depends on it
            pass
        if state["mode"] == "builtin":
            import torch

            torch.set_num_threads(1)


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-STDERR_TAIL_LINES:]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


def _normalise(metrics: Any) -> dict[str, Any]:
    """A hook's result as a dict with both ``accuracy`` and ``error`` when either is given."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"the result must be a dict of metrics, got {type(metrics).__name__}")
    out = {str(k): v for k, v in metrics.items()}
    for have, other in (("accuracy", "error"), ("error", "accuracy")):
        if have in out and other not in out:
            with contextlib.suppress(TypeError, ValueError):
                out[other] = 1.0 - float(out[have])
    return out


def _write_manifest(path: Path, ids: np.ndarray, kept: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    mask = np.zeros(len(ids), dtype=bool)
    mask[kept] = True
    table = pa.table(
        {"id": pa.array(ids), "row": pa.array(np.arange(len(ids), dtype=np.int64)), "kept": mask}
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _run_command(state: dict[str, Any], job: dict[str, Any], kept: np.ndarray) -> dict[str, Any]:
    key: RunKey = job["key"]
    name = _digest(key.values())[:20]
    manifest = Path(state["store_dir"]) / "manifests" / f"{name}.parquet"
    _write_manifest(manifest, state["ids"], kept)
    fields = _template_fields(key, len(kept), manifest)
    command = state["command"].format_map({k: shlex.quote(str(v)) for k, v in fields.items()})
    env = {**os.environ, "LESSDATA_MANIFEST": str(manifest)}
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {
            "status": "failed",
            "message": f"exit code {proc.returncode} (manifest kept at {manifest}); stderr:\n"
            + _tail(proc.stderr),
        }
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    try:
        metrics = json.loads(last)
        if not isinstance(metrics, dict):
            raise ValueError
    except ValueError:
        shown = last[:200] or "(no output)"
        return {
            "status": "failed",
            "message": "the command's last stdout line must be a JSON object such as "
            f'{{"accuracy": 0.9}}, got: {shown} (manifest kept at {manifest}); stderr:\n'
            + _tail(proc.stderr),
        }
    manifest.unlink(missing_ok=True)
    return {"status": "ok", "metrics": _normalise(metrics)}


def _template_fields(key: RunKey, n_kept: int, manifest: Path | str) -> dict[str, Any]:
    return dict(
        manifest=manifest, seed=key.seed, width=key.width, policy=key.policy,
        metric=key.metric, keep=keep_text(key.keep), n_kept=n_kept, task=key.task,
        model=key.model,
    )  # fmt: skip


def _execute(job: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one run; never raises for a failed run (it is reported instead)."""
    state = _STATE
    assert state is not None, "worker state not initialised"
    start = time.perf_counter()
    kept = job["kept"]
    if kept is None:
        kept = np.arange(len(state["x_train"]), dtype=np.int64)
    try:
        if state["mode"] == "builtin":
            from lessdata.train import TrainConfig, fit_and_score

            key: RunKey = job["key"]
            config = TrainConfig(**{**state["train"], "width": key.width, "seed": key.seed})
            fit: Any = fit_and_score
            extra: dict[str, Any] = {}
            if key.policy.startswith(DYNAMIC_PREFIX):
                from lessdata.train import fit_and_score_dynamic

                fit = fit_and_score_dynamic
                extra["prune_ratio"] = float(key.policy[len(DYNAMIC_PREFIX) :])
            metrics = fit(
                state["model"], state["x_train"][kept], state["y_train"][kept],
                state["x_test"], state["y_test"], config=config,
                input_shape=state["input_shape"], n_classes=state["n_classes"] or None, **extra,
            )  # fmt: skip
            result = {"status": "ok", "metrics": dict(metrics)}
        elif state["mode"] == "callable":
            result = {"status": "ok", "metrics": _normalise(state["hook"](kept))}
        else:
            result = _run_command(state, job, kept)
    except Exception as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        result = {"status": "failed", "message": f"{type(exc).__name__}: {exc}\n{_tail(text)}"}
    result["seconds"] = time.perf_counter() - start
    return result


# --- the sweep ---------------------------------------------------------------------------


def run_sweep(
    spec: SweepSpec,
    store: ResultsStore | str | Path,
    *,
    jobs: int = 1,
    train_and_eval: TrainHook | None = None,
    command: str | None = None,
) -> SweepSummary:
    """Run every run of ``spec`` not yet done in ``store``; record each as it completes.

    Args:
        spec: what to sweep.
        store: a :class:`ResultsStore` or its folder.
        jobs: worker processes (spawned; each uses one thread when ``jobs > 1``).
        train_and_eval: instead of the built-in trainer, a callable
            ``train_and_eval(train_ids) -> {"accuracy": ..., ...}`` given the kept rows
            (indices into ``task.x_train``). With ``jobs > 1`` it must be picklable (a
            module-level function).
        command: instead of the built-in trainer, a shell command template such as
            ``"python train.py --subset {manifest}"``. ``{manifest}`` is a Parquet file with
            columns ``id`` (the example's id), ``row`` (its row in the training set) and
            ``kept``; also available: ``{seed}``, ``{width}``, ``{policy}``, ``{metric}``,
            ``{keep}``, ``{n_kept}``, ``{task}``, ``{model}`` (shell-quoted; write ``{{``
            for a literal brace). The command must print a JSON object of metrics (with
            ``accuracy`` or ``error``) on its last stdout line; a non-zero exit or another
            last line is recorded as a failed run with the stderr tail.

    Returns:
        A :class:`SweepSummary`; failed runs are listed there, not raised.
    """
    require("torch", "the scaling lab", "labs")
    started = time.perf_counter()
    check_int(jobs, "jobs", low=1)
    if train_and_eval is not None and command is not None:
        raise LessdataError("give either a `train_and_eval` callable or a `command`, not both")
    if command is not None:
        _check_template(command)
    if train_and_eval is not None and jobs > 1:
        import pickle

        try:
            pickle.dumps(train_and_eval)
        except Exception:
            raise LessdataError(
                "with jobs > 1 the train_and_eval callable must be picklable (a module-level "
                "function, not a lambda or closure); define it in a module or use jobs=1"
            ) from None
    mode = "callable" if train_and_eval is not None else "command" if command else "builtin"
    if isinstance(spec.task, Task):
        task = spec.task
    else:
        task = load_task(
            spec.task, n_train=spec.n_train, seed=spec.data_seed,
            label_column=spec.label_column, test=spec.test, test_fraction=spec.test_fraction,
            **{k: v for k, v in spec.score_options.items() if k == "encoder" and v},
        )  # fmt: skip
    partial = _check_spec(spec, task.n_train)
    if spec.dynamic and mode != "builtin":
        raise LessdataError(
            "dynamic-pruning runs need the built-in trainer (they train in epochs through "
            "lessdata.torch.DynamicPruningSampler); drop `dynamic` or the hook/command",
            param="dynamic",
        )
    seeds = spec.seed_list()
    _check_labels(spec, task, mode)
    model, train = _model_and_train(spec, mode, train_and_eval, command)
    data = task.fingerprint()
    config = _digest(
        {
            "v": 1, "data": data, "train": train, "class_balanced": spec.class_balanced,
            "score_options": dict(spec.score_options), "hook": _hook_name(train_and_eval, command),
        }
    )[:12]  # fmt: skip

    own = not isinstance(store, ResultsStore)
    results = ResultsStore(store) if own else store
    assert isinstance(results, ResultsStore)
    try:
        summary = SweepSummary(config=config, store=str(results.dir))
        plans = _plan(spec, task, model, config, partial)
        done = results.done_keys()
        pending = [p for p in plans if p.key.values() not in done]
        summary.planned, summary.skipped = len(plans), len(plans) - len(pending)
        results.set_meta(
            f"sweep/{config}",
            {
                "task": task.name, "model": model, "mode": mode, "n_train": task.n_train,
                "n_test": None if task.x_test is None else len(task.x_test),
                "n_classes": task.n_classes, "widths": list(spec.widths),
                "metrics": list(spec.metrics), "policies": list(spec.policies),
                "fractions": [keep_text(k) for k in spec.fractions], "seeds": seeds,
                "train": train, "class_balanced": spec.class_balanced,
                "command": command, "hook": _hook_name(train_and_eval, command),
            },
        )  # fmt: skip
        log(
            f"sweep {config}: {len(plans)} runs on {task.name} ({task.n_train:,} training "
            f"examples), {summary.skipped} already done, {len(pending)} to run"
        )
        if pending:
            scores = _Scores(task, spec.metrics, spec.score_options, results.dir / "scores", data)
            state = {
                "mode": mode, "model": model, "train": train, "x_train": task.x_train,
                "y_train": task.y_train, "x_test": task.x_test, "y_test": task.y_test,
                "input_shape": tuple(task.input_shape), "n_classes": task.n_classes,
                "ids": task.ids_train if task.ids_train is not None
                else np.arange(task.n_train, dtype=np.int64),
                "hook": train_and_eval, "command": command, "store_dir": str(results.dir),
            }  # fmt: skip
            pending.sort(key=lambda p: (p.key.seed, p.key.metric, p.key.width))
            jobs_iter = _jobs(pending, task, spec, scores)
            outcomes = (
                _serial(jobs_iter, state)
                if jobs == 1
                else _parallel(jobs_iter, state, jobs, summary)
            )
            for plan, result in track(outcomes, total=len(pending), description="training runs"):
                _record(results, plan, result, task.n_train, summary)
            summary.scores_computed, summary.scores_loaded = scores.computed, scores.loaded
    finally:
        if own:
            results.close()
    summary.seconds = time.perf_counter() - started
    log(
        f"sweep {config}: {summary.ok} runs ok, {summary.failed} failed, {summary.skipped} "
        f"skipped (already done) in {summary.seconds:.1f} s"
    )
    return summary


def _check_template(command: str) -> None:
    fields = _template_fields(RunKey("t", "m", 1, "-", "random", 0.5, 0, "c"), 1, "m.parquet")
    try:
        command.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise LessdataError(
            f"command {command!r} is not a valid template ({exc}); use the fields "
            f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)} and write {{{{ }}}} for braces",
            param="command",
        ) from None


def _check_labels(spec: SweepSpec, task: Task, mode: str) -> None:
    from lessdata.metrics import get_metric

    if mode == "builtin" and (task.y_train is None or task.y_test is None or task.x_test is None):
        raise LessdataError(
            f"{task.name}: the built-in trainer needs labelled training and test data; "
            "pass `label_column`, or train with `command`"
        )
    needs = [m for m in spec.metrics if get_metric(split_metric(m)[0]).needs_labels]
    if task.y_train is None and (needs or spec.class_balanced):
        what = f"metric {needs[0]!r}" if needs else "`class_balanced`"
        raise LessdataError(f"{what} needs labels: pass `label_column`")


def _model_and_train(
    spec: SweepSpec, mode: str, hook: TrainHook | None, command: str | None
) -> tuple[str, dict[str, Any]]:
    if mode != "builtin":
        name = spec.model or ("command" if command else (_hook_name(hook, None) or "callable"))
        return name, spec.train_settings()
    from lessdata.train import MODELS, TrainConfig

    model = spec.model or "mlp"
    if model not in MODELS:
        raise LessdataError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    try:
        config = TrainConfig(**spec.train_settings())
    except TypeError as exc:
        raise LessdataError(f"bad training settings: {exc}") from None
    config.check()
    train = dataclasses.asdict(config)
    train.pop("width")
    train.pop("seed")
    return model, train


def _jobs(
    pending: list[_Plan], task: Task, spec: SweepSpec, scores: _Scores
) -> Iterator[tuple[_Plan, dict[str, Any]]]:
    """Each pending run with its selected subset, selected lazily (scores on first need)."""
    for plan in pending:
        yield plan, {"key": plan.key, "kept": _select(plan, task, spec, scores)}


def _serial(
    jobs_iter: Iterator[tuple[_Plan, dict[str, Any]]], state: dict[str, Any]
) -> Iterator[tuple[_Plan, dict[str, Any]]]:
    global _STATE
    previous = _STATE
    _init_worker(state, parallel=False)
    try:
        for plan, job in jobs_iter:
            yield plan, _execute(job)
    finally:
        _STATE = previous


def _parallel(
    jobs_iter: Iterator[tuple[_Plan, dict[str, Any]]],
    state: dict[str, Any],
    jobs: int,
    summary: SweepSummary,
) -> Iterator[tuple[_Plan, dict[str, Any]]]:
    """Run jobs on ``jobs`` spawned workers, at most ``2 × jobs`` in flight, as they finish."""
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(state, True)
    )
    in_flight: dict[Future, _Plan] = {}
    exhausted = False
    finished_cleanly = False
    try:
        while True:
            while not exhausted and summary.aborted is None and len(in_flight) < 2 * jobs:
                item = next(jobs_iter, None)
                if item is None:
                    exhausted = True
                    break
                plan, job = item
                in_flight[pool.submit(_execute, job)] = plan
            if not in_flight:
                finished_cleanly = summary.aborted is None
                return
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                plan = in_flight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    summary.aborted = (
                        "a worker process died (out of memory, or killed); "
                        "rerun the same command to resume"
                    )
                    result = {"status": "failed", "message": summary.aborted, "seconds": None}
                yield plan, result
    finally:
        # interrupted (Ctrl-C, an error while recording) or broken: do not wait on workers
        pool.shutdown(wait=finished_cleanly, cancel_futures=True)


def _record(
    store: ResultsStore, plan: _Plan, result: dict[str, Any], n_train: int, summary: SweepSummary
) -> None:
    status = result["status"]
    store.record(
        plan.key, result.get("metrics", {}), status=status, message=result.get("message"),
        n_kept=plan.n_kept, n_train=n_train, seconds=result.get("seconds"),
    )  # fmt: skip
    if status == "ok":
        summary.ok += 1
    else:
        summary.failed += 1
        summary.failures.append({"run": plan.key.label(), "message": result.get("message", "")})
        from rich.markup import escape

        first = ((result.get("message") or "").splitlines() or [""])[0]
        log(f"[red]run failed[/red]: {escape(plan.key.label())}: {escape(first)}")


def format_failures(summary: SweepSummary, limit: int = 5) -> str:
    """The first ``limit`` failures of a sweep as text (for the command line)."""
    lines = []
    for failure in summary.failures[:limit]:
        lines.append(f"- {failure['run']}")
        lines.extend(f"    {line}" for line in failure["message"].splitlines()[-6:])
    more = len(summary.failures) - limit
    if more > 0:
        lines.append(f"... and {more} more (see `lessdata scale export`)")
    return "\n".join(lines)
