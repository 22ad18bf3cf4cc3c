"""Shift verdicts relative to the model's own unshifted error (issue 30, item 5)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lessdata.labs.icl.report import analyse, verdict_from_summary, verdict_summary
from lessdata.labs.icl.shifts import SHIFT_RATIO, read_shift

EVIDENCE = Path(__file__).resolve().parents[1] / "docs" / "evidence"
K = np.arange(11)
RIDGE = 1 / (1 + K)


def _rows(learner: str, errors: np.ndarray, shift: str = "none", seed: int = 0) -> list[dict]:
    return [
        dict(pool_size="inf", seed=seed, source="fresh", shift=shift, learner=learner, k=int(k),
             error=float(e), low=float(e) * 0.9, high=float(e) * 1.1)
        for k, e in zip(K, errors, strict=True)
    ]  # fmt: skip


def _table(shifts: dict[str, tuple[float, float]], gap: float = 1.6, seeds: int = 1) -> pa.Table:
    """A model at ``gap``× ridge unshifted; each shift multiplies (its error, ridge's)."""
    rows: list[dict] = []
    rng = np.random.default_rng(0)
    for seed in range(seeds):
        jitter = 1 + 0.02 * rng.normal() if seeds > 1 else 1.0
        rows += _rows("transformer", RIDGE * gap * jitter, seed=seed)
        rows += _rows("ridge", RIDGE, seed=seed)
        for shift, (mine, ridge) in shifts.items():
            noise = 1 + 0.05 * rng.normal() if seeds > 1 else 1.0
            rows += _rows("transformer", RIDGE * gap * jitter * mine * noise, shift, seed)
            rows += _rows("ridge", RIDGE * ridge, shift, seed)
    return pa.Table.from_pylist(rows)


def test_a_shift_that_leaves_the_models_own_error_unchanged_does_not_break_it():
    # unshifted it is already 1.6x ridge; the shift helps ridge (0.6x) but not the model
    verdict = analyse(_table({"subspace": (1.0, 0.6)}))
    reading = verdict.shifts["subspace"]
    assert reading.own_ratio.mean == pytest.approx(1.0)
    assert not reading.breaks and reading.verdict == "holds"
    assert reading.breaks_vs_ridge  # the earlier flat rule read the 1.6x gap as a break
    assert reading.transformer == pytest.approx(1.6 / 11) and reading.ridge == pytest.approx(
        0.6 / 11
    )
    text = " ".join(verdict.sentences())
    assert "no shift breaks it" in text and "holds under subspace" in text
    assert "would read subspace the other way" in text and "1.60× ridge" in text


def test_a_shift_that_costs_every_learner_is_not_a_break():
    # label noise: ridge's error doubles, the model's too: a harder task, not a failure of ICL
    reading = analyse(_table({"noisy-labels": (2.0, 2.2)})).shifts["noisy-labels"]
    assert reading.threshold == pytest.approx(SHIFT_RATIO * 2.2)
    assert not reading.breaks


def test_a_shift_that_costs_the_model_far_more_than_ridge_breaks_it():
    reading = analyse(_table({"scaled-inputs": (4.0, 1.05)})).shifts["scaled-inputs"]
    assert reading.breaks and reading.own_ratio.mean == pytest.approx(4.0)
    assert reading.threshold == pytest.approx(SHIFT_RATIO * 1.05)


def test_the_own_ratio_is_paired_by_seed_with_an_interval():
    verdict = analyse(_table({"orthants": (1.2, 1.0)}, seeds=3))
    own = verdict.shifts["orthants"].own_ratio
    assert own.n == 3 and own.low < own.mean < own.high
    assert own.mean == pytest.approx(1.2, abs=0.1)
    single = read_shift({0: 0.3}, {0: 0.2}, {0: 0.1}, {0: 0.1})
    assert single.own_ratio.n == 1 and math.isnan(single.own_ratio.low)
    assert single.ratio_text() == "1.50 (n < 2: no interval)"


def test_verdict_json_round_trips_and_the_committed_copies_read_the_same():
    verdict = analyse(_table({"subspace": (0.7, 0.6), "scaled-weights": (4.0, 1.2)}))
    stored = json.loads(json.dumps(verdict_summary(verdict)))
    again = verdict_from_summary(stored)
    assert again.shifts["scaled-weights"].breaks and not again.shifts["subspace"].breaks
    assert again.sentences() == verdict.sentences()
    baseline = json.loads((EVIDENCE / "icl-gap" / "baseline.json").read_text())
    shifts = verdict_from_summary(baseline).shifts
    # the default CPU recipe, 1.61x ridge unshifted: the subspace shift lowers its own error
    assert shifts["subspace"].transformer < shifts["subspace"].transformer_unshifted
    assert not shifts["subspace"].breaks and shifts["subspace"].breaks_vs_ridge
    assert shifts["scaled-inputs x4"].breaks and shifts["scaled-weights"].breaks
    assert baseline["shifts"]["subspace"]["verdict"] == "holds"  # the copy is up to date
