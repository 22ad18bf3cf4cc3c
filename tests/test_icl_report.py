"""The ICL verdict from hand-made evaluation rows, and a tiny sweep end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lessdata.errors import LessdataError
from lessdata.labs.icl.report import SHIFT_RATIO, analyse, write_icl_report
from lessdata.labs.icl.sweep import ICLSweepSpec, load_results, parse_pool_sizes, run_icl_sweep

K = np.arange(11)
RIDGE = 1 / (1 + K)  # a ridge-like curve
DMMSE = np.where(K < 3, 1 / (1 + K), 0.02)  # a finite pool is identified after a few examples


def _rows(pool: str, learner: str, errors: np.ndarray, source="fresh", shift="none") -> list[dict]:
    return [
        dict(pool_size=pool, seed=0, source=source, shift=shift, learner=learner, k=int(k),
             error=float(e), low=float(e) * 0.9, high=float(e) * 1.1)
        for k, e in zip(K, errors, strict=True)
    ]  # fmt: skip


def _table(behaviour: dict[str, str], shifts: dict[str, float]) -> pa.Table:
    rows: list[dict] = []
    for pool, kind in behaviour.items():
        fresh = DMMSE * 3 if kind == "dmmse" else RIDGE * 1.05
        rows += _rows(pool, "transformer", fresh) + _rows(pool, "ridge", RIDGE)
        pool_curve = DMMSE * 1.1 if kind == "dmmse" else RIDGE  # memorising: pool << fresh
        rows += _rows(pool, "transformer", pool_curve, source="pool")
        if pool != "inf":
            rows += _rows(pool, "dmmse", DMMSE * 3)
    for shift, factor in shifts.items():
        rows += _rows("inf", "transformer", RIDGE * factor, shift=shift)
        rows += _rows("inf", "ridge", RIDGE, shift=shift)
    return pa.Table.from_pylist(rows)


def test_verdict_finds_the_switch_and_the_shifts_that_break() -> None:
    table = _table(
        {"1": "dmmse", "8": "dmmse", "64": "ridge", "512": "ridge", "inf": "ridge"},
        {"scaled-inputs": 3.0, "orthants": 1.1},
    )
    verdict = analyse(table)
    assert verdict.behaviour == {
        "1": "dMMSE-like", "8": "dMMSE-like", "64": "ridge-like", "512": "ridge-like",
        "inf": "ridge-like",
    }  # fmt: skip
    assert verdict.switch == "64"
    assert verdict.shifts["scaled-inputs"].breaks and not verdict.shifts["orthants"].breaks
    assert verdict.shifts["scaled-inputs"].own_ratio.mean == pytest.approx(3.0 / 1.05)
    text = " ".join(verdict.sentences())
    assert "at M = 64" in text and "breaks under scaled-inputs" in text
    assert f"more than {SHIFT_RATIO:g}×" in text


def test_switch_is_where_every_larger_pool_is_ridge_like() -> None:
    verdict = analyse(_table({"1": "ridge", "8": "dmmse", "inf": "ridge"}, {}))
    assert verdict.switch == "inf"  # only the fresh-task run is ridge-like from there on


def test_parse_pool_sizes() -> None:
    assert parse_pool_sizes("1, 8,inf") == [1, 8, None]
    for bad in ("0", "x", "8,8", ""):
        with pytest.raises(LessdataError):
            parse_pool_sizes(bad)


def test_tiny_sweep_end_to_end_and_resume(tmp_path: Path) -> None:
    spec = ICLSweepSpec(
        pool_sizes=[1, None], seeds=1, n_prompts=40,
        task=dict(d=3, n_points=5),
        train=dict(steps=20, batch_size=8, n_layer=1, width=16, n_head=2, checkpoint_every=10),
    )  # fmt: skip
    assert run_icl_sweep(spec, tmp_path) == {"done": 0, "ran": 2}
    table = load_results(tmp_path)
    assert set(table["pool_size"].to_pylist()) == {"1", "inf"}
    assert {"transformer", "ridge", "least-squares"} <= set(table["learner"].to_pylist())
    assert np.isfinite(table["error"].to_numpy()).all()
    assert run_icl_sweep(spec, tmp_path) == {"done": 2, "ran": 0}
    paths = write_icl_report(tmp_path)
    assert paths["error_vs_M"].stat().st_size > 1000
    assert "Verdict" in paths["html"].read_text()


def test_a_pool_so_large_that_dmmse_is_ridge_counts_as_ridge_like() -> None:
    rows = _rows("4096", "transformer", RIDGE * 1.3) + _rows("4096", "ridge", RIDGE)
    rows += _rows("4096", "dmmse", RIDGE * 1.01)
    verdict = analyse(pa.Table.from_pylist(rows))
    assert verdict.behaviour["4096"] == "ridge-like (dMMSE ≈ ridge)"
    assert verdict.switch == "4096"


def test_an_untrained_model_is_not_learned_not_ridge_like() -> None:
    flat = np.full(len(K), 0.953)  # error/d of a model that never learned: no drop with k
    rows = _rows("inf", "transformer", flat) + _rows("inf", "ridge", RIDGE)
    rows += _rows("8", "transformer", flat) + _rows("8", "transformer", flat, source="pool")
    rows += _rows("8", "ridge", RIDGE) + _rows("8", "dmmse", DMMSE * 3)
    rows += _rows("inf", "transformer", flat, shift="orthants")
    rows += _rows("inf", "ridge", RIDGE, shift="orthants")
    verdict = analyse(pa.Table.from_pylist(rows))
    assert verdict.behaviour == {"8": "not learned", "inf": "not learned"}
    assert verdict.switch is None and not verdict.shifts  # no shift reading of an unlearned run
    text = " ".join(verdict.sentences())
    assert "Not learned at M = 8, inf" in text and "ridge-like from" not in text.lower()
