"""Solvable models of data pruning, simulated and solved, to check what pruning can buy.

The teacher–student perceptron of Sorscher et al. 2022 ("Beyond neural scaling laws"):
keep-hard vs keep-easy vs random pruning with a perfect or imperfect pruning metric, by
simulation (:mod:`~lessdata.labs.theory.simulate`) and by replica theory
(:mod:`~lessdata.labs.theory.replica`), drawn by :mod:`~lessdata.labs.theory.figures`, written
by :mod:`~lessdata.labs.theory.report` and run end to end by :func:`run`
(:mod:`~lessdata.labs.theory.experiment`, what ``lessdata theory perceptron`` calls).
"""

from lessdata.labs.theory.experiment import run
from lessdata.labs.theory.figures import figure, summarize
from lessdata.labs.theory.replica import TheoryCurves, TheoryPoint, theory_error, theory_point
from lessdata.labs.theory.simulate import (
    POLICIES,
    PrunedSample,
    fit_power_law,
    frontier,
    max_margin,
    probe_at_angle,
    sample_pruned,
    simulate,
    sweep,
    test_error,
)

__all__ = [
    "POLICIES",
    "PrunedSample",
    "TheoryCurves",
    "TheoryPoint",
    "figure",
    "fit_power_law",
    "frontier",
    "max_margin",
    "probe_at_angle",
    "run",
    "sample_pruned",
    "simulate",
    "summarize",
    "sweep",
    "test_error",
    "theory_error",
    "theory_point",
]
