"""The task-diversity sweep: one transformer per (pool size M, seed), evaluated alike.

For each pool size M (a finite pool of M task vectors, or ``None`` for a fresh task at
every step) and seed, :func:`run_icl_sweep` trains a transformer (resuming from its
checkpoint when one exists) and evaluates it, with the baselines on the same prompts, on
tasks from its pool, on fresh tasks and under each distribution shift. Each run lives in
its own folder ``OUT/M{M}-seed{seed}/`` (``checkpoint.pt``, ``eval.parquet``); a run whose
evaluation exists is skipped, so a killed sweep resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.checks import check_int
from lessdata.data.atomic import atomic_path
from lessdata.data.standard_json import dumps_standard
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.progress import log

EVAL_NAME = "eval.parquet"
DEFAULT_POOL_SIZES: tuple[int | None, ...] = (1, 8, 64, 512, 4096, None)


def pool_label(pool_size: int | None) -> str:
    """``"8"`` or ``"inf"`` (a fresh task at every step)."""
    return "inf" if pool_size is None else str(int(pool_size))


def parse_pool_sizes(text: str) -> list[int | None]:
    """Read ``--pool-sizes``: comma-separated whole numbers, ``inf`` for fresh tasks."""
    sizes: list[int | None] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() in ("inf", "infinite", "none"):
            sizes.append(None)
            continue
        try:
            value = int(float(part)) if "e" in part.lower() else int(part)
        except ValueError:
            raise LessdataError(
                f"pool_sizes takes whole numbers or inf, got {part!r}", param="pool_sizes"
            ) from None
        if value < 1:
            raise LessdataError(f"a pool holds at least one task, got {value}")
        sizes.append(value)
    if not sizes:
        raise LessdataError(
            "pool_sizes needs at least one size, e.g. 8,64,512,inf", param="pool_sizes"
        )
    if len(set(sizes)) != len(sizes):
        raise LessdataError(f"pool_sizes repeats a size: {text}", param="pool_sizes")
    return sizes


@dataclass
class ICLSweepSpec:
    """What to sweep: pool sizes × seeds for one task family, model and training budget.

    ``task`` and ``train`` are the :class:`~lessdata.labs.icl.tasks.TaskSpec` and
    :class:`~lessdata.labs.icl.train.TrainConfig` settings (dicts of their fields); pool size and
    seed are set per run. ``eval_families`` adds the family shift to every run's evaluation:
    fresh prompts of each named family (see :func:`~lessdata.labs.icl.evaluate.evaluate`).
    """

    pool_sizes: Sequence[int | None] = DEFAULT_POOL_SIZES
    seeds: int = 1
    task: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    n_prompts: int = 1000
    eval_families: Sequence[str] = ()

    def runs(self) -> list[tuple[int | None, int]]:
        """Every ``(pool size, seed)``."""
        check_int(self.seeds, "seeds", low=1)
        return [(m, s) for m in self.pool_sizes for s in range(self.seeds)]


def run_dir(out: Path, pool_size: int | None, seed: int) -> Path:
    return out / f"M{pool_label(pool_size)}-seed{seed}"


def _specs(spec: ICLSweepSpec, pool_size: int | None, seed: int) -> tuple[Any, Any]:
    from lessdata.labs.icl.tasks import TaskSpec
    from lessdata.labs.icl.train import TrainConfig

    try:
        task = TaskSpec(**{**spec.task, "pool_size": pool_size, "pool_seed": seed}).check()
        train = TrainConfig(**{**spec.train, "seed": seed})
    except TypeError as exc:
        raise LessdataError(f"unknown task or training setting: {exc}") from None
    return task, train


def run_icl_sweep(
    spec: ICLSweepSpec,
    out: str | Path,
    *,
    device: str = "cpu",
    only: Sequence[tuple[int | None, int]] | None = None,
) -> dict[str, int]:
    """Train and evaluate every run not yet evaluated in ``out``; return counts.

    ``only`` restricts the work to these ``(pool size, seed)`` runs of the spec, so that
    separate processes can share one sweep folder (each run has its own sub-folder).
    """
    require("torch", "the ICL lab", "labs")
    from lessdata.labs.icl.evaluate import evaluate
    from lessdata.labs.icl.train import train_icl

    folder = Path(out)
    runs = spec.runs()
    if only is not None:
        wanted = [(m, int(s)) for m, s in only]
        missing = [r for r in wanted if r not in runs]
        if missing:
            raise LessdataError(f"runs {missing} are not part of this sweep's {runs}")
        runs = wanted
    for pool_size, seed in runs:  # validate every run's settings before any training
        _specs(spec, pool_size, seed)
    check_int(spec.n_prompts, "n_prompts", low=10)
    from lessdata.labs.icl.tasks import FAMILIES

    unknown = [f for f in spec.eval_families if f not in FAMILIES]
    if unknown:
        raise LessdataError(f"unknown eval family {unknown}; choose from {list(FAMILIES)}")
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"done": 0, "ran": 0}
    for pool_size, seed in runs:
        where = run_dir(folder, pool_size, seed)
        if (where / EVAL_NAME).exists():
            counts["done"] += 1
            continue
        task, train = _specs(spec, pool_size, seed)
        log(f"ICL run M={pool_label(pool_size)} seed={seed}: training {train.steps} steps")
        result = train_icl(task, train, where, device=device)
        log(f"evaluating M={pool_label(pool_size)} seed={seed} on {spec.n_prompts} prompts")
        rows = evaluate(
            result.model, task, n_prompts=spec.n_prompts, seed=seed, device=device,
            families=tuple(spec.eval_families),
        )  # fmt: skip
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows))
        n = table.num_rows
        table = table.append_column("pool_size", pa.array([pool_label(pool_size)] * n))
        table = table.append_column("seed", pa.array([seed] * n, pa.int64()))
        meta = {"task": asdict(task), "train": asdict(replace(train)), "seconds": result.seconds}
        table = table.replace_schema_metadata({b"lessdata": dumps_standard(meta, default=str)})
        with atomic_path(where / EVAL_NAME) as tmp:
            pq.write_table(table, tmp)
        counts["ran"] += 1
    return counts


def load_results(out: str | Path) -> pa.Table:
    """Every run's evaluation rows in ``out``, concatenated."""
    folder = Path(out)
    paths = sorted(folder.glob(f"M*-seed*/{EVAL_NAME}"))
    if not paths:
        raise LessdataError(
            f"{folder}: no evaluated runs; run `lessdata icl sweep --out {folder}` first"
        )
    tables = [pq.read_table(p).replace_schema_metadata(None) for p in paths]
    return pa.concat_tables(tables, promote_options="default")


def run_settings(out: str | Path) -> dict[str, Any]:
    """The task and training settings of the first run (for the report)."""
    paths = sorted(Path(out).glob(f"M*-seed*/{EVAL_NAME}"))
    if not paths:
        return {}
    raw = (pq.read_schema(paths[0]).metadata or {}).get(b"lessdata")
    return json.loads(raw) if raw else {}
