"""``lessdata icl``: the in-context learning lab (task diversity, OOD shifts, baselines).

Mounted by the main CLI as ``lessdata icl``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

icl_app = typer.Typer(
    name="icl",
    help=(
        "Can a transformer learn a task from the examples in its prompt (type 2) beyond the "
        "tasks it was pretrained on? `lessdata icl sweep` trains one small GPT per pool size "
        "M (M task vectors, or a fresh task every step) and seed, and evaluates it on pool "
        "tasks, fresh tasks and distribution shifts next to least squares, ridge, dMMSE, "
        "k-NN, averaging, one GD step and a small network trained by GD (type 1) on the same "
        "prompts. `lessdata icl report` draws error vs k and vs M and writes a verdict: where "
        "the switch from memorising the pool to generalising falls and which shifts break it."
    ),
    no_args_is_help=True,
    add_completion=False,
)

Out = Annotated[Path, typer.Option(help="Folder of the sweep: one sub-folder per run, the report.")]


@icl_app.command("sweep")
def sweep_command(
    out: Out = Path("runs/icl"),
    pool_sizes: Annotated[
        str,
        typer.Option(help="Pool sizes M, comma-separated; inf = a fresh task at every step."),
    ] = "1,8,64,512,4096,inf",
    seeds: Annotated[int, typer.Option(help="Seeds per pool size (0, 1, ...).")] = 1,
    family: Annotated[
        str,
        typer.Option(help="noisy-linear | linear | sparse-linear | relu-net | tree (Garg et al.)."),
    ] = "noisy-linear",
    d: Annotated[int, typer.Option(help="Input dimension.")] = 5,
    points: Annotated[int, typer.Option(help="Points per prompt (k = 0 .. points-1).")] = 11,
    noise: Annotated[float, typer.Option(help="Label noise std of noisy-linear.")] = 0.5,
    cap_angle: Annotated[
        float | None,
        typer.Option(help="Train on task directions within this half-angle (degrees) only."),
    ] = None,
    steps: Annotated[int, typer.Option(help="Training steps per run.")] = 10_000,
    batch_size: Annotated[int, typer.Option(help="Prompts per training step.")] = 64,
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 3,
    width: Annotated[int, typer.Option(help="Transformer width.")] = 64,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    lr_schedule: Annotated[
        str,
        typer.Option(
            help="After the warmup: constant (runs can be extended) or cosine (decay to lr/10 "
            "at --steps)."
        ),
    ] = "constant",
    curriculum: Annotated[
        bool, typer.Option(help="Garg et al.'s curriculum over dimensions and points.")
    ] = False,
    lr: Annotated[float, typer.Option(help="AdamW learning rate after the warmup.")] = 3e-4,
    prompts: Annotated[int, typer.Option(help="Evaluation prompts per source and shift.")] = 1000,
    eval_family: Annotated[
        list[str] | None,
        typer.Option(
            help="Also evaluate every run on fresh prompts of this task family (the family "
            "shift); repeat for several."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, ...")] = "cpu",
) -> None:
    """Train and evaluate one transformer per (M, seed); rerun to resume; then write the report.

    Example: lessdata icl sweep --out runs/icl --pool-sizes 8,64,512,inf --steps 10000
    """
    from lessdata.labs.icl.report import write_icl_report
    from lessdata.labs.icl.sweep import ICLSweepSpec, parse_pool_sizes, run_icl_sweep

    if device == "cpu":  # small models: one thread is several times faster than two here
        import torch

        torch.set_num_threads(1)
    spec = ICLSweepSpec(
        pool_sizes=parse_pool_sizes(pool_sizes), seeds=seeds, n_prompts=prompts,
        eval_families=tuple(eval_family or ()),
        task=dict(family=family, d=d, n_points=points, noise=noise, cap_angle=cap_angle),
        train=dict(steps=steps, batch_size=batch_size, n_layer=layers, width=width,
                   n_head=heads, curriculum=curriculum, lr_schedule=lr_schedule, lr=lr),
    )  # fmt: skip
    counts = run_icl_sweep(spec, out, device=device)
    typer.echo(f"ran {counts['ran']} runs ({counts['done']} already evaluated)")
    for name, path in write_icl_report(out).items():
        typer.echo(f"{name}: {path}")


@icl_app.command("report")
def report_command(out: Out = Path("runs/icl")) -> None:
    """Redraw the figures and the verdict from the runs evaluated so far.

    OUT is one sweep, or a folder of sweeps (one per sub-folder, e.g. trained within caps of
    15/45/90/180 degrees, or on each task family with --eval-family): then the report draws
    error against the test task's angle per cap and the family-shift matrix, and answers
    "does in-context learning reach tasks outside pretraining?" by the rules in
    lessdata.labs.icl.findings.

    Example: lessdata icl report --out runs/icl
    """
    from lessdata.labs.icl.findings import sweep_folders, write_findings_report
    from lessdata.labs.icl.report import write_icl_report

    if not out.is_dir():
        raise typer.BadParameter(f"{out} is not a folder of ICL runs", param_hint="--out")
    if not any(out.glob("M*-seed*/eval.parquet")) and sweep_folders(out):
        paths = write_findings_report(out)
        for line in json.loads(paths["json"].read_text())["sentences"]:
            typer.echo(line)
        for name, path in paths.items():
            typer.echo(f"{name}: {path}")
        return
    paths = write_icl_report(out)
    for line in json.loads(paths["verdict"].read_text())["sentences"]:
        typer.echo(line)
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")
