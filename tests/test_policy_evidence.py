"""scripts/policy_evidence.py: calibrated auto is read off the chosen policy's own run of
the same seed, and differences to random are paired by seed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import policy_evidence


def _runs():
    runs = [dict(metric="-", policy="full", keep="1", seed=s, accuracy=0.95, n_train=100)
            for s in range(3)]  # fmt: skip
    for s, (r, hard) in enumerate([(0.80, 0.85), (0.70, 0.76), (0.90, 0.94)]):
        runs.append(dict(metric="-", policy="random", keep="0.5", seed=s, accuracy=r,
                         n_train=100))  # fmt: skip
        runs.append(dict(metric="m", policy="keep-hard", keep="0.5", seed=s, accuracy=hard,
                         n_train=100))  # fmt: skip
    return runs


def test_differences_are_paired_by_seed():
    mean, half, n = policy_evidence.paired({0: 0.85, 1: 0.76, 2: 0.94}, {0: 0.8, 1: 0.7, 2: 0.9})
    assert n == 3 and mean == pytest.approx(5.0)  # +5, +6, +4 points
    assert half == pytest.approx(4.303 * 1.0 / 3**0.5, rel=1e-3)  # t(0.975, 2) · sd / √3


def test_auto_is_the_chosen_policys_run_of_the_same_seed():
    cals = [dict(metric="m", seed=0, choices={"0.5": "keep-hard"}),
            dict(metric="m", seed=1, choices={"0.5": "random"}),
            dict(metric="m", seed=2, choices={"0.5": "keep-hard"})]  # fmt: skip
    acc, _ = policy_evidence.accuracies(_runs())
    per, picks = policy_evidence.auto_accuracy(acc, cals, "m", 0.5)
    assert per == {0: 0.85, 1: 0.70, 2: 0.94} and picks == {"keep-hard": 2, "random": 1}
    table = policy_evidence.auto_table(_runs(), cals)
    assert "| m | 50% | keep-hard 2, random 1 | +3.00 ± " in table
