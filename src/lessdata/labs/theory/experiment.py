"""Run the teacher–student perceptron lab of Sorscher et al. 2022, section 2, end to end.

Why this exists: "Beyond neural scaling laws: beating power law scaling via data pruning"
(Sorscher, Geirhos, Shekhar, Ganguli, Morcos; arXiv 2206.14486) shows in a model that can be
solved exactly that *which* examples you keep changes the shape of the learning curve, not
just its offset. :func:`run` reproduces that model by simulation and by theory, so the claims
behind ``lessdata prune --policy keep-hard/keep-easy`` can be checked in a couple of minutes;
``lessdata theory perceptron`` calls it.

This module is the orchestration only: it checks the options, lays out the grids of one run
(the plan), runs the simulations (:mod:`~lessdata.labs.theory.simulate`) and the theory curves
(:mod:`~lessdata.labs.theory.replica`) in one pool of worker processes, and hands the results
to :mod:`~lessdata.labs.theory.figures` and :mod:`~lessdata.labs.theory.report`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.checks import check_int
from lessdata.errors import LessdataError
from lessdata.labs.theory.figures import figure, summarize
from lessdata.labs.theory.replica import (
    TheoryCurves,
    crossover_alpha_tot,
    optimal_fraction,
    theory_curve,
    theory_fractions,
)
from lessdata.labs.theory.report import output_paths, write_results
from lessdata.labs.theory.simulate import grid_key, run_tasks, simulate_seeds
from lessdata.progress import log


@dataclass(frozen=True)
class _Plan:
    """Every grid of one run: simulations and the theory curves drawn beside them."""

    n_dim: int
    seeds: tuple[int, ...]
    alpha_prunes: tuple[float, ...]  # geometric lattice of training-set sizes per dimension
    fractions: tuple[float, ...]  # geometric lattice of fractions kept, 1 first
    thetas: tuple[float, ...]  # probe angles (radians) simulated with keep-hard
    random_fractions: tuple[float, ...]  # random pruning only depends on alpha_prune
    panel_b_fractions: tuple[float, ...]  # keep-easy vs keep-hard vs alpha_tot at these f
    panel_d_alpha_prune: float  # training-set size at which f_min is measured
    extra_fractions: tuple[float, ...]  # theory only: much larger pools than simulated
    theory_points: int

    @property
    def max_alpha_tot(self) -> float:
        return max(self.alpha_prunes) / min(self.fractions)

    @property
    def theory_alphas(self) -> list[float]:
        lo, hi = min(self.alpha_prunes), max(self.alpha_prunes)
        return [float(a) for a in np.geomspace(lo, hi, self.theory_points)]

    def sim_tasks(self) -> list[tuple]:
        """(n_dim, alpha_tot, fraction, policy, theta, seeds) for every simulated setting."""
        tasks = []
        seeds = list(self.seeds)
        for policy, thetas, fractions in (
            ("hard", self.thetas, self.fractions),
            ("easy", (0.0,), self.fractions),
            ("random", (0.0,), self.random_fractions),
        ):
            for theta in thetas:
                for alpha_prune in self.alpha_prunes:
                    for fraction in fractions:
                        alpha_tot = alpha_prune / fraction  # so that alpha_tot·f is on the lattice
                        tasks.append((self.n_dim, alpha_tot, fraction, policy, theta, seeds))
        tasks.sort(key=lambda task: -task[1] * task[2])  # biggest training sets first
        return tasks

    def theory_tasks(self) -> list[tuple[str, Any, tuple]]:
        """(label, function, args) for every theory curve the figure and summary need."""
        alphas = self.theory_alphas
        tasks: list[tuple[str, Any, tuple]] = [
            ("random", theory_curve, (alphas, 1.0, "random", 0.0))
        ]
        for theta in self.thetas:
            for fraction in self.fractions + self.extra_fractions:
                tasks.append(
                    (f"hard|{theta}|{fraction}", theory_curve, (alphas, fraction, "hard", theta))
                )
        for fraction in self.panel_b_fractions:
            tasks.append((f"easy|{fraction}", theory_curve, (alphas, fraction, "easy", 0.0)))
            tasks.append((f"cross|{fraction}", crossover_alpha_tot, (fraction, 0.1, 2000.0)))
        d_fracs = self.panel_d_fractions
        for theta in self.thetas:
            tasks.append(
                (
                    f"d|{theta}",
                    theory_fractions,
                    (self.panel_d_alpha_prune, d_fracs, "hard", theta),
                )
            )
            tasks.append(
                (
                    f"fopt|{theta}",
                    optimal_fraction,
                    (self.panel_d_alpha_prune, theta, min(d_fracs)),
                )
            )
        return tasks

    @property
    def panel_d_fractions(self) -> list[float]:
        lowest = max(min(self.fractions), self.panel_d_alpha_prune / self.max_alpha_tot)
        return [float(f) for f in np.geomspace(1.0, lowest, 2 * len(self.fractions))]


def _dispatch(function: Any, args: tuple) -> Any:
    """Worker task wrapper so that one process pool runs tasks of every kind."""
    return function(*args)


def _assemble_theory(plan: _Plan, labels: list[str], results: list[Any]) -> TheoryCurves:
    by_label = dict(zip(labels, results, strict=True))
    hard = {
        theta: {
            fraction: by_label[f"hard|{theta}|{fraction}"]
            for fraction in plan.fractions + plan.extra_fractions
        }
        for theta in plan.thetas
    }
    return TheoryCurves(
        alphas=plan.theory_alphas,
        random=by_label["random"],
        hard=hard,
        easy={f: by_label[f"easy|{f}"] for f in plan.panel_b_fractions},
        max_alpha_tot=plan.max_alpha_tot,
        sim_fractions=plan.fractions,
        panel_d={
            "alpha_prune": plan.panel_d_alpha_prune,
            "fractions": plan.panel_d_fractions,
            "errors": {th: by_label[f"d|{th}"] for th in plan.thetas},
            "fopt": {th: tuple(by_label[f"fopt|{th}"]) for th in plan.thetas},
        },
        crossover={f: by_label[f"cross|{f}"] for f in plan.panel_b_fractions},
    )


def _plan(n_dim: int, seeds: int, quick: bool) -> _Plan:
    if quick:
        return _Plan(
            n_dim=n_dim,
            seeds=tuple(range(seeds)),
            alpha_prunes=(0.5, 1.0, 2.0, 4.0, 8.0),
            fractions=(1.0, 0.5, 0.25, 0.125),
            thetas=(0.0, math.radians(20.0)),
            random_fractions=(1.0,),
            panel_b_fractions=(0.25,),
            panel_d_alpha_prune=4.0,
            extra_fractions=(0.03125,),
            theory_points=7,
        )
    return _Plan(
        n_dim=n_dim,
        seeds=tuple(range(seeds)),
        alpha_prunes=tuple(grid_key(0.25 * 2 ** (i / 2)) for i in range(15)),  # 0.25 .. 32
        fractions=tuple(grid_key(2 ** (-j / 2)) for j in range(13)),  # 1 .. 1/64
        thetas=(0.0, math.radians(10.0), math.radians(20.0)),
        random_fractions=(1.0, 0.25, grid_key(2**-4)),
        panel_b_fractions=(0.5, 0.125),
        panel_d_alpha_prune=8.0,
        extra_fractions=tuple(grid_key(2.0**-k) for k in range(7, 11)),  # theory: pools to 32768
        theory_points=30,
    )


def run(
    out_dir: Path,
    *,
    n_dim: int | None = None,
    seeds: int | None = None,
    quick: bool = False,
    workers: int | None = None,
) -> dict[str, Path]:
    """Run the whole experiment and write its figure, numbers and HTML page to ``out_dir``.

    Simulates keep-hard (probe angles 0°, 10°, 20°), keep-easy and random pruning on a lattice
    of training-set sizes ``alpha_prune`` (0.25 to 32 examples per dimension, half-octave
    steps) and fractions kept (1 down to 1/64, so pools up to 2048 examples per dimension),
    ``seeds`` seeds each (default 5) at dimension ``n_dim`` (default 100), computes the
    matching replica-theory curves and writes ``perceptron.png`` (four panels),
    ``perceptron_sim.csv`` (one row per simulation), ``perceptron_theory.csv``,
    ``perceptron.json`` (summary, configuration and theory curves) and a self-contained
    ``perceptron.html``. ``quick=True`` runs a small grid (default N = 40, 2 seeds) in
    seconds, for smoke tests. ``workers`` processes share the work (default: up to 2 CPU
    cores; 1 in quick mode). Returns the paths by kind:
    ``png, csv, theory_csv, json, html``. About 2-3 minutes on 2 cores with the defaults.
    """
    n_dim = check_int(n_dim if n_dim is not None else (40 if quick else 100), "n_dim", low=2)
    seeds = check_int(seeds if seeds is not None else (2 if quick else 5), "seeds", low=1)
    if workers is None:
        workers = 1 if quick else max(1, min(2, os.cpu_count() or 1))
    else:
        workers = check_int(workers, "workers", low=1)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise LessdataError(f"out {out_dir} is a file; give a folder for the results", param="out")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan(n_dim, int(seeds), quick)
    started = time.perf_counter()

    sim_tasks = plan.sim_tasks()
    theory_tasks = plan.theory_tasks()
    log(
        f"perceptron: N = {n_dim}, {len(plan.seeds)} seeds, {len(sim_tasks)} pruned settings "
        f"({len(sim_tasks) * len(plan.seeds)} max-margin fits), {len(theory_tasks)} theory "
        f"curves, {workers} worker(s)"
    )
    # Theory curves first: the slowest single tasks, so they do not trail at the end.
    tasks = [(fn, args) for _, fn, args in theory_tasks]
    tasks += [(simulate_seeds, task) for task in sim_tasks]
    results = run_tasks(_dispatch, tasks, workers, "perceptron: theory + simulations")
    theory = _assemble_theory(
        plan, [label for label, _, _ in theory_tasks], results[: len(theory_tasks)]
    )
    rows = [row for chunk in results[len(theory_tasks) :] for row in chunk]
    rows.sort(key=lambda r: (r["policy"], r["theta"], r["alpha_tot"], r["fraction"], r["seed"]))
    summary = summarize(
        rows,
        theory,
        panel_d_alpha_prune=plan.panel_d_alpha_prune,
        panel_b_fractions=plan.panel_b_fractions,
    )
    seconds = time.perf_counter() - started

    title = (
        f"Data pruning in the teacher–student perceptron (Sorscher et al. 2022): max-margin "
        f"student, N = {n_dim}, {len(plan.seeds)} seeds; markers = simulation, lines = theory"
    )
    paths = output_paths(out_dir)
    figure(
        rows,
        paths["png"],
        title=title,
        theory=theory,
        panel_b_fractions=plan.panel_b_fractions,
        panel_d_alpha_prune=plan.panel_d_alpha_prune,
        dpi=80 if quick else 110,
    )
    config = {
        "n_dim": n_dim,
        "seeds": len(plan.seeds),
        "quick": quick,
        "learner": "max-margin perceptron (hard-margin SVM, no bias), exact LDP/NNLS solver",
        "alpha_prune lattice": list(plan.alpha_prunes),
        "fractions kept": list(plan.fractions),
        "probe angles (deg)": [round(math.degrees(t), 6) for t in plan.thetas],
        "random-pruning fractions": list(plan.random_fractions),
        "max alpha_tot": plan.max_alpha_tot,
        "simulated settings": len(sim_tasks),
        "max-margin fits": len(rows),
        "workers": workers,
        "seconds": round(seconds, 1),
    }
    write_results(paths, rows, theory, summary, config, plan.thetas)
    return paths
