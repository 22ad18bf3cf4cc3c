"""``lessdata theory``: solvable models that show what data pruning can and cannot buy.

Mounted by the main CLI as ``lessdata theory`` (``app.add_typer(theory_app, name="theory")``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

theory_app = typer.Typer(
    name="theory",
    help=(
        "Check the theory behind pruning policies on a model that can be solved exactly.\n\n"
        "`lessdata theory perceptron` reproduces Sorscher et al. 2022 ('Beyond neural scaling "
        "laws: beating power law scaling via data pruning', section 2): a teacher perceptron "
        "labels Gaussian inputs, a pruning metric keeps the hardest, easiest or random "
        "examples, and a max-margin student learns from what is kept. It shows when keep-hard "
        "beats the power law, when keep-easy is the better choice, and how an imperfect "
        "metric limits the gains."
    ),
    no_args_is_help=True,
    add_completion=False,
)


@theory_app.callback()
def _group() -> None:
    """Keep ``theory`` a command group even while it has a single command."""


_PERCEPTRON_HELP = (
    "Data pruning in the teacher–student perceptron: simulation beside replica theory.\n\n"
    "A teacher T (random unit vector in R^N) labels Gaussian inputs, y = sign(T·x). A pool of "
    "P = alpha_tot·N examples is ranked by the margin |J_probe·x| of a probe at angle theta "
    "to the teacher (theta = 0: a perfect pruning metric; 10° and 20°: imperfect ones). "
    "keep-hard keeps the fraction f with the smallest margins, keep-easy the largest, random "
    "a uniform subset. A max-margin perceptron (hard-margin linear SVM, solved exactly) learns "
    "from the alpha_prune·N = f·alpha_tot·N kept examples; its test error is exactly "
    "angle(J, T)/pi. Fractions run from 1 to 1/64 and alpha_prune from 0.25 to 32, so pools "
    "reach 2048 examples per dimension.\n\n"
    "The figure shows (a) random pruning's power law and keep-hard's Pareto frontier (the "
    "best f for each alpha_prune) falling faster than any power law; (b) keep-easy winning on "
    "small pools and keep-hard on large ones; (c) frontiers bending back towards a power law "
    "as the probe angle grows; (d) the minimum useful fraction f_min of an imperfect metric. "
    "Lines are the replica theory (N -> inf), solved numerically with scipy. The command "
    "prints the paths and the headline numbers.\n\n"
    "Example: lessdata theory perceptron --out runs/theory"
)


@theory_app.command("perceptron", help=_PERCEPTRON_HELP)
def perceptron(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the results: perceptron.png (4 panels), perceptron.html "
            "(self-contained page), perceptron_sim.csv (one row per simulation), "
            "perceptron_theory.csv and perceptron.json (summary and curves).",
            show_default=False,
        ),
    ],
    n_dim: Annotated[
        int | None,
        typer.Option(
            "--n-dim",
            help="Input dimension N of teacher and student (default 100; 40 with --quick). "
            "Pools hold alpha_tot·N examples; a larger N is closer to the theory (N -> inf) "
            "and slower (about N^3 per fit).",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            help="Seeds per setting (default 5; 2 with --quick): each draws a new teacher, "
            "probe direction and pool; the figure shows mean ± standard error.",
            show_default=False,
        ),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="A small grid in seconds (smoke test) instead of the full experiment "
            "(about 2-3 minutes on 2 cores).",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes (default: up to 2 CPU cores; 1 with --quick).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run :func:`lessdata.labs.theory.experiment.run` and print the paths and findings."""
    from lessdata.labs.theory.experiment import run
    from lessdata.labs.theory.report import load_summary

    if quiet:
        os.environ["LESSDATA_QUIET"] = "1"
    paths = run(out, n_dim=n_dim, seeds=seeds, quick=quick, workers=workers)
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")
    document = load_summary(paths["json"])
    typer.echo("")
    for line in document["findings"]:
        typer.echo(f"- {line}")
