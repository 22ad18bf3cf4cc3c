"""Run the ICL lab's evidence for docs/findings.md: optimisation gap, cap angles, family shift.

Every run is one ``lessdata icl sweep`` run (one (M, seed) pair), so every number here can
be reproduced with the CLI command this script prints for it; the script only runs them
side by side (one process per run, one torch thread each) and picks the training length
that fits a time budget. Experiments, in priority order:

* ``gap-baseline``: the lab's default recipe (noisy-linear, d = 5, M = inf, 3 × 64, batch 64,
  10k steps), the reference of the optimisation gap;
* ``cap-15``, ``cap-45``, ``cap-90``, ``cap-180``: the recipe trained on task directions
  within each cap (M = inf inside the cap; 180 = the whole sphere, the recipe's gap run),
  evaluated with the angle battery;
* ``family-linear``, ``family-sparse-linear``, ``family-relu-net``, ``family-tree``: the
  recipe trained on one family (noiseless, M = inf), evaluated on every family;
* ``pool-1``, ``pool-64``, ``pool-512``, ``pool-4096``: the task-diversity sweep at the
  recipe (noisy-linear), with ``cap-180`` as its M = inf.

The recipe is a wider model (3 × 128, 4 heads), batch 512, cosine schedule; its number of
steps is the largest of :data:`STEP_MENU` whose estimated wall time fits ``--budget-s``,
from a short timing of the recipe with all workers busy (``--steps`` fixes it instead).
Runs resume: a run whose ``eval.parquet`` exists is skipped.

Example (a GPU machine):
    python scripts/icl_findings.py --device cuda --workers 4 --out runs/icl-findings
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from _script_cli import (
    ScriptError,
    ScriptParser,
    out_dir,
    positive_float,
    positive_int,
    run,
)

SEEDS = 3
STEP_MENU = (5_000, 10_000, 15_000, 20_000, 30_000, 40_000)
RECIPE = {"width": 128, "n_head": 4, "n_layer": 3, "batch_size": 512, "lr_schedule": "cosine"}
BASELINE = {"steps": 10_000}
PROMPTS = [1000]
#: seconds of evaluation per run assumed when fitting the budget
EVAL_SECONDS = 60.0
NOISY = {"family": "noisy-linear", "d": 5, "n_points": 11, "noise": 0.5}
FAMILIES = ("linear", "sparse-linear", "relu-net", "tree")


def experiments(steps: int) -> list[tuple[str, dict[str, Any], int | None, int]]:
    """``(experiment, sweep settings, pool size, seed)`` for every run, in priority order."""
    recipe = {**RECIPE, "steps": steps}
    plans: list[tuple[str, dict[str, Any], list[int | None]]] = [
        ("gap-baseline", {"task": NOISY, "train": BASELINE}, [None]),
    ]
    for cap in (15, 45, 90, 180):
        task = {**NOISY, "cap_angle": float(cap)}
        plans.append((f"cap-{cap}", {"task": task, "train": recipe}, [None]))
    for family in FAMILIES:
        task = {**NOISY, "family": family}
        plans.append(
            (f"family-{family}", {"task": task, "train": recipe, "eval_families": FAMILIES}, [None])
        )
    plans.append(("pool", {"task": NOISY, "train": recipe}, [1, 64, 512, 4096]))
    runs = []
    for name, settings, pools in plans:
        for pool in pools:
            for seed in range(SEEDS):
                label = name if name != "pool" else f"pool-{pool}"
                runs.append((label, {**settings, "pool_sizes": tuple(pools)}, pool, seed))
    return runs


def command(name: str, settings: dict[str, Any], device: str) -> str:
    """The ``lessdata icl sweep`` command that runs the same experiment."""
    task, train = settings["task"], settings["train"]
    pools = ",".join("inf" if p is None else str(p) for p in settings["pool_sizes"])
    folder = "pool" if name.startswith("pool") else name
    parts = [
        f"lessdata icl sweep --out runs/icl-findings/{folder}",
        f"--pool-sizes {pools} --seeds {SEEDS} --family {task['family']}",
    ]
    if task.get("cap_angle") is not None:
        parts.append(f"--cap-angle {task['cap_angle']:g}")
    if train != BASELINE:
        parts.append(
            f"--steps {train['steps']} --width {train['width']} --heads {train['n_head']} "
            f"--layers {train['n_layer']} --batch-size {train['batch_size']} "
            f"--lr-schedule {train['lr_schedule']}"
        )
    for family in settings.get("eval_families", ()):
        parts.append(f"--eval-family {family}")
    parts.append(f"--device {device}")
    return " ".join(parts)


def _one_run(job: tuple[str, dict[str, Any], int | None, int, str, str, int]) -> tuple[str, float]:
    """Train and evaluate one (experiment, pool size, seed) run in this process."""
    name, settings, pool, seed, out, device, prompts = job
    import torch

    torch.set_num_threads(1)
    from lessdata.labs.icl.sweep import ICLSweepSpec, run_icl_sweep

    spec = ICLSweepSpec(
        pool_sizes=settings["pool_sizes"], seeds=SEEDS, task=settings["task"],
        train=settings["train"], eval_families=settings.get("eval_families", ()),
        n_prompts=prompts,
    )  # fmt: skip
    folder = Path(out) / (name if not name.startswith("pool") else "pool")
    start = time.perf_counter()
    try:
        run_icl_sweep(spec, folder, device=device, only=[(pool, seed)])
    except Exception as exc:  # one failed run must not stop the others; it is reported
        return f"{name} seed {seed} FAILED: {exc!r}", math.nan
    return f"{name} seed {seed}", time.perf_counter() - start


def _time_recipe(job: tuple[str, int]) -> float:
    """Seconds per training step of the recipe in this process (after a warm-up)."""
    device, steps = job
    import torch

    torch.set_num_threads(1)
    from lessdata.labs.icl.tasks import TaskSpec
    from lessdata.labs.icl.train import TrainConfig, train_icl

    task = TaskSpec(**NOISY)
    train_icl(task, TrainConfig(**{**RECIPE, "steps": 20}), None, device=device)
    start = time.perf_counter()
    train_icl(task, TrainConfig(**{**RECIPE, "steps": steps}), None, device=device)
    return (time.perf_counter() - start) / steps


def choose_steps(per_step: float, per_step_baseline: float, workers: int, budget: float) -> int:
    """The largest menu entry whose runs fit ``budget`` seconds on ``workers`` processes."""
    best = STEP_MENU[0]
    for steps in STEP_MENU:
        runs = experiments(steps)
        total = sum(
            (BASELINE["steps"] * per_step_baseline if name == "gap-baseline" else steps * per_step)
            + EVAL_SECONDS
            for name, *_ in runs
        )
        longest = max(steps * per_step, BASELINE["steps"] * per_step_baseline) + EVAL_SECONDS
        if max(total / workers, longest) * 1.15 <= budget:
            best = steps
    return best


def read_findings(root: Path) -> dict[str, Any]:
    """``root/findings.json`` (written by ``lessdata icl report``)."""
    path = root / "findings.json"
    if not path.is_file():
        raise ScriptError(f"no {path}: run `lessdata icl report` on {root} first")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ScriptError(f"{path} is not JSON: {exc}") from None


def _cell(stat: dict[str, Any] | None, digits: int = 3) -> str:
    if not stat or stat["n"] == 0:
        return "—"
    if stat["n"] < 2:
        return f"{stat['mean']:.{digits}f} (1 seed)"
    return f"{stat['mean']:.{digits}f} [{stat['low']:.{digits}f}, {stat['high']:.{digits}f}]"


def caps_table(data: dict[str, Any]) -> str:
    """Error/d by test angle of each cap's transformer (95% interval over seeds), the
    Bayes-optimal estimator of the cap's prior (dMMSE), and ridge (the same for every cap)."""
    caps = data["caps"]
    angles = sorted({float(a) for c in caps.values() for a in c["transformer"]})
    lines = ["| trained within | learner | " + " | ".join(f"{a:g}°" for a in angles) + " |",
             "|---|---|" + "---|" * len(angles)]  # fmt: skip

    def means(values: dict[str, Any]) -> str:
        return " | ".join(f"{values[str(a)]['mean']:.2f}" for a in angles)

    for cap in sorted(caps, key=float):
        row = " | ".join(_cell(caps[cap]["transformer"].get(str(a)), 2) for a in angles)
        lines.append(f"| {float(cap):g}° | transformer | {row} |")
        if float(cap) < 180:
            lines.append(f"| {float(cap):g}° | dMMSE over the cap | {means(caps[cap]['dmmse'])} |")
    first = caps[sorted(caps, key=float)[0]]
    lines.append(f"| all | ridge | {means(first['ridge'])} |")
    return "\n".join(lines) + "\n"


def families_table(data: dict[str, Any]) -> str:
    """Each (trained on → evaluated on) pair of function families."""
    lines = ["| trained on → evaluated on | transformer error/d | ÷ in-family transformer | "
             "best baseline: error/d |", "|---|---|---|---|"]  # fmt: skip
    for name, v in sorted(data["families"].items()):
        lines.append(f"| {name.replace('->', ' → ')} | {_cell(v['transformer'])} | "
                     f"{_cell(v['ratio_to_in_family'], 2)} | {v['best_baseline']}: "
                     f"{_cell(v['baseline'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def shifts_table(shifts: dict[str, Any]) -> str:
    """One model's shift battery: absolute errors, its own ratio, the verdict."""
    lines = ["| shift | transformer (unshifted) | own ratio | ridge (its ratio) | threshold "
             "| verdict | earlier flat rule |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for shift, r in shifts.items():
        own = r["own_ratio"]
        ratio = _cell(own, 2) if own["n"] >= 2 else f"{own['mean']:.2f} (n < 2: no interval)"
        lines.append(f"| {shift} | {r['transformer']:.3f} ({r['transformer_unshifted']:.3f}) | "
                     f"{ratio} | {r['ridge']:.3f} (×{r['ridge_ratio']:.2f}) | "
                     f"{r['threshold']:.2f} | {r['verdict']} | "
                     f"{'breaks' if r['breaks_vs_ridge'] else 'holds'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def pool_sizes_table(root: Path) -> str:
    """The task-diversity sweep of ``root`` (one ``M<size>-seed<n>/eval.parquet`` per run):
    per pool size M, the transformer's error/d at the last k on its pool's tasks and on fresh
    tasks (mean over seeds, each seed in brackets when there are several), dMMSE's on fresh
    tasks, their ratio, and the lab's verdict (:func:`lessdata.labs.icl.report.analyse`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lessdata.labs.icl.report import analyse

    files = sorted(root.glob("M*-seed*/eval.parquet"))
    if not files:
        raise ScriptError(f"no M*-seed*/eval.parquet under {root}")
    tables = [pq.read_table(f) for f in files]
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
    rows = table.filter(pa.compute.equal(table["shift"], "none")).to_pylist()
    last_k = max(r["k"] for r in rows)
    error: dict[tuple[str, str, str, int], float] = {}
    for r in rows:
        if r["k"] == last_k:
            error[(r["pool_size"], r["source"], r["learner"], r["seed"])] = r["error"]
    verdict = analyse(table)

    def cell(values: list[float], digits: int = 3) -> str:
        if not values:
            return "—"
        text = f"{np.mean(values):.{digits}f}"
        if len(values) > 1:
            text += " (" + ", ".join(f"{v:.{digits}f}" for v in values) + ")"
        return text

    lines = ["| M | seeds | transformer, pool tasks | transformer, fresh tasks | dMMSE, fresh "
             "| fresh / pool | verdict |", "|---|---:|---|---|---|---|---|"]  # fmt: skip
    for m in verdict.pool_sizes:
        seeds = sorted({s for (pm, _, _, s) in error if pm == m})
        pool = [error[(m, "pool", "transformer", s)] for s in seeds
                if (m, "pool", "transformer", s) in error]  # fmt: skip
        fresh = [error[(m, "fresh", "transformer", s)] for s in seeds]
        dmmse = [error[k] for s in seeds if (k := (m, "fresh", "dmmse", s)) in error]
        ratio = [f / p for f, p in zip(fresh, pool, strict=False)] if pool else []
        name = "∞" if m == "inf" else m
        lines.append(f"| {name} | {len(seeds)} | {cell(pool)} | {cell(fresh)} | {cell(dmmse)} "
                     f"| {cell(ratio, 2)} | {verdict.behaviour.get(m, '—')} |")  # fmt: skip
    ridge = [v for (_, src, learner, _), v in error.items()
             if src == "fresh" and learner == "ridge"]  # fmt: skip
    lines += ["", f"Error/d at k = {last_k}; ridge on fresh tasks {np.mean(ridge):.3f} (mean "
              f"over every run's prompts). {' '.join(verdict.sentences()[:1])}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def print_tables(root: Path) -> None:
    """Markdown tables of ``root/findings.json``: the ones docs/findings.md generates
    (``scripts/docs_tables.py``), the gap to ridge, and each shift battery."""
    data = read_findings(root)
    print(caps_table(data))
    print(families_table(data))
    for name, v in data["gap"].items():
        print(f"gap {name}: transformer / ridge = {_cell(v, 2)}")
    for name, shifts in data.get("shifts", {}).items():
        print()
        print(f"Shifts (M = ∞, {name}; error/d at the last k; verdict relative to the model's "
              "own unshifted error)")  # fmt: skip
        print(shifts_table(shifts))


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument("--out", type=out_dir, default=Path("runs/icl-findings"),
                        help="the run folder (created; a rerun resumes it)")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device of every run")
    parser.add_argument("--workers", type=positive_int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="runs side by side, one process each")  # fmt: skip
    parser.add_argument("--budget-s", type=positive_float, default=3600.0,
                        help="wall seconds the whole plan should fit")  # fmt: skip
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="recipe steps (skip timing)")  # fmt: skip
    parser.add_argument("--baseline-steps", type=positive_int, default=BASELINE["steps"],
                        help="steps of the gap-baseline recipe")  # fmt: skip
    parser.add_argument("--prompts", type=positive_int, default=1000, help="evaluation prompts")
    parser.add_argument("--tables", action="store_true", help="print findings.json as tables")
    parser.add_argument(
        "--only", default="", help="comma-separated experiment prefixes to run (seed-major)"
    )
    args = parser.parse_args()
    prefixes = tuple(p.strip() for p in args.only.split(",") if p.strip())
    names = {name for name, *_ in experiments(STEP_MENU[0])}
    unknown = [p for p in prefixes if not any(n.startswith(p) for n in names)]
    if unknown:
        parser.error(f"--only {','.join(unknown)} names no experiment; experiments: "
                     + ", ".join(sorted(names)))  # fmt: skip
    # a SIGTERM unwinds like Ctrl-C, so that the pool's ``with`` block ends its workers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.tables:
        print_tables(args.out)
        return
    BASELINE["steps"] = args.baseline_steps
    PROMPTS[0] = args.prompts
    args.out.mkdir(parents=True, exist_ok=True)
    context = mp.get_context("spawn")
    began = time.perf_counter()
    plan_path = args.out / "plan.json"
    if args.steps is None and plan_path.exists():
        args.steps = json.loads(plan_path.read_text())["steps"]  # a resumed run keeps its plan
    if args.steps is None:
        with context.Pool(args.workers) as pool:
            per_step = max(pool.map(_time_recipe, [(args.device, 100)] * args.workers))
        per_step_baseline = per_step  # the baseline's steps are smaller; an upper bound
        spent = time.perf_counter() - began
        steps = choose_steps(per_step, per_step_baseline, args.workers, args.budget_s - spent)
        print(f"timing: {per_step * 1000:.1f} ms/step with {args.workers} busy; steps = {steps}")
    else:
        steps, per_step = args.steps, math.nan
    runs = experiments(steps)
    if prefixes:
        runs = sorted((r for r in runs if r[0].startswith(prefixes)), key=lambda r: r[3])
    plan = {
        "steps": steps,
        "ms_per_step_loaded": per_step * 1000,
        "workers": args.workers,
        "device": args.device,
        "commands": sorted({command(n, s, args.device) for n, s, _, _ in runs}),
    }
    if not prefixes:
        plan_path.write_text(json.dumps(plan, indent=1))
    for line in plan["commands"]:
        print(line)
    jobs = [(n, s, p, seed, str(args.out), args.device, args.prompts) for n, s, p, seed in runs]
    deadline = began + args.budget_s
    done: dict[str, float] = {}
    with context.Pool(args.workers, maxtasksperchild=1) as pool:
        pending = pool.imap_unordered(_one_run, jobs)
        while len(done) < len(jobs):
            try:
                label, seconds = pending.next(timeout=max(1.0, deadline - time.perf_counter()))
            except mp.TimeoutError:
                print(f"budget reached: {len(done)} of {len(jobs)} runs done; rerun to resume")
                pool.terminate()
                break
            done[label] = seconds
            print(f"done {label} in {seconds:.0f} s ({len(done)}/{len(jobs)})", flush=True)
    times = args.out / "times.json"
    earlier = json.loads(times.read_text()) if times.exists() else {}
    times.write_text(json.dumps({**earlier, **done}, indent=1))


if __name__ == "__main__":
    run(main, Path(__file__).name)
