"""The scaling lab: prove the savings of a pruning policy with scaling curves.

Train a model on subsets of growing size chosen by each (metric, policy), evaluate it on a
fixed held-out set, and compare the curves with random selection::

    from lessdata.labs.scaling import SweepSpec, run_sweep, write_scaling_report

    spec = SweepSpec(task="digits", model="logreg", policies=["random", "keep-hard"],
                     fractions=[0.1, 0.2, 0.5, 1.0], seeds=3)
    run_sweep(spec, "runs/scale")                  # resumable: finished runs are skipped
    write_scaling_report("runs/scale", "runs/scale/report")

Modules: :mod:`~lessdata.labs.scaling.tasks` (built-in and user tasks),
:mod:`~lessdata.labs.scaling.store` (SQLite results), :mod:`~lessdata.labs.scaling.sweep` (the
sweep runner and its hooks),
:mod:`~lessdata.labs.scaling.fit` (power laws, examples to reach an error, data saved, Pareto),
:mod:`~lessdata.labs.scaling.analysis` (a sweep's runs as curves, fits and tables),
:mod:`~lessdata.labs.scaling.paired` (every policy against random, paired by seed, with
t-intervals and Holm-corrected claims), :mod:`~lessdata.labs.scaling.reach` (examples to a
target read within the measured sizes, with seed-bootstrap intervals),
:mod:`~lessdata.labs.scaling.figures` (their matplotlib plots),
:mod:`~lessdata.labs.scaling.report` and :mod:`~lessdata.labs.scaling.report_stats` (the
report folder: PNG files and an HTML page), :mod:`~lessdata.labs.scaling.export` (the
report's statistics as Parquet/CSV/JSON tables),
:mod:`~lessdata.labs.scaling.code_lm` and :mod:`~lessdata.labs.scaling.code_lm_report` (the
code-LM experiment and its report).
"""

from lessdata.labs.scaling.export import write_summary
from lessdata.labs.scaling.fit import (
    Curve,
    PowerLawFit,
    data_saved_vs_random,
    examples_to_reach,
    fit_power_law,
    pareto_frontier,
)
from lessdata.labs.scaling.report import write_scaling_report
from lessdata.labs.scaling.store import ResultsStore, RunKey
from lessdata.labs.scaling.sweep import SweepSpec, SweepSummary, run_sweep
from lessdata.labs.scaling.tasks import Task, load_task

__all__ = [
    "Curve",
    "PowerLawFit",
    "ResultsStore",
    "RunKey",
    "SweepSpec",
    "SweepSummary",
    "Task",
    "data_saved_vs_random",
    "examples_to_reach",
    "fit_power_law",
    "load_task",
    "pareto_frontier",
    "run_sweep",
    "write_scaling_report",
    "write_summary",
]
