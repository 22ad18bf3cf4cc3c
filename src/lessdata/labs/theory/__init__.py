"""Solvable models of data pruning, simulated and solved, to check what pruning can buy.

:mod:`lessdata.labs.theory.perceptron` reproduces the teacher–student perceptron of Sorscher et al.
2022 ("Beyond neural scaling laws"): keep-hard vs keep-easy vs random pruning with a perfect
or imperfect pruning metric, by simulation and by replica theory.
"""

from lessdata.labs.theory.perceptron import (
    POLICIES,
    PrunedSample,
    TheoryCurves,
    TheoryPoint,
    figure,
    fit_power_law,
    frontier,
    max_margin,
    probe_at_angle,
    run,
    sample_pruned,
    simulate,
    summarize,
    sweep,
    test_error,
    theory_error,
    theory_point,
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
