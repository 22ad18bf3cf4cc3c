"""The scaling report's numbers as tables: one row per paired cell, one row per curve.

``lessdata scale export --summary cells.csv --targets targets.csv`` (and
:func:`write_summary`) write what the HTML report shows, for analysis elsewhere:

**cells** (:func:`cell_rows`), one row per (task, model, configuration, width, metric,
policy, budget) against random, paired by seed: ``gain_mean`` (random's error − the
policy's, per seed, averaged; > 0 = better than random), ``ci_low``/``ci_high`` (its 95%
Student-t interval; null with fewer than two seeds), ``n_seeds``, ``p_value`` (two-sided
paired t-test), ``p_holm`` and ``holm_family`` (Holm over every testable cell of the group),
``survives_holm``, ``verdict``, ``best_at_fraction`` (largest gain among the budget's
winners), ``best_overall``, and, when seeds were held back (``confirm_seeds``), the
fresh-seed confirmation of each budget's pick (``confirm_*`` columns, null otherwise).

**targets** (:func:`target_rows`), one row per curve at the group's main width: the
``target`` error, ``examples`` to reach it read within the measured sizes (null with
``status`` "not reached"), its seed-bootstrap interval ``examples_low``/``examples_high``
(``high_status`` "not reached" when more than 2.5% of resamples miss), ``reached_share``,
``saved`` vs random with ``saved_low``/``saved_high``, ``n_seeds``, and the power-law fit
kept apart and labelled: ``fit_b``, ``fit_b_low``, ``fit_b_high``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from lessdata.errors import LessdataError
from lessdata.labs.scaling.analysis import Analysis, analyse, load_rows
from lessdata.labs.scaling.paired import best_overall
from lessdata.labs.scaling.reach import NOT_REACHED, REACHED
from lessdata.labs.scaling.store import ResultsStore, check_export_path, write_table


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def cell_rows(analyses: Sequence[Analysis]) -> list[dict[str, Any]]:
    """Every paired cell of every analysed group as a flat row (see the module docstring)."""
    out = []
    for a in analyses:
        best = {w: best_overall(a.cells, w) for w in {c.width for c in a.cells}}
        picks = {(c.width, c.keep, c.label): c for c in a.confirmations}
        for c in a.cells:
            pick = picks.get((c.width, c.keep, c.label))
            out.append(
                {
                    "task": a.task, "model": a.model, "config": a.config, "width": c.width,
                    "metric": c.metric, "policy": c.policy, "keep": c.keep,
                    "fraction": c.fraction, "n_kept": c.n_kept, "baseline": c.baseline,
                    "n_seeds": c.stat.n, "seeds": ",".join(str(s) for s in c.seeds),
                    "policy_error": c.policy_error, "baseline_error": c.baseline_error,
                    "gain_mean": _finite(c.stat.mean), "ci_low": _finite(c.stat.low),
                    "ci_high": _finite(c.stat.high), "sd": _finite(c.stat.sd),
                    "p_value": _finite(c.stat.p_value), "p_holm": _finite(c.p_holm),
                    "holm_family": c.family_size, "survives_holm": c.survives_holm,
                    "verdict": c.verdict, "best_at_fraction": c.best_at_fraction,
                    "best_overall": best.get(c.width) is c,
                    "confirm_pick": pick is not None,
                    "confirm_seeds": ",".join(str(s) for s in pick.confirm_seeds)
                    if pick else None,
                    "confirm_gain": _finite(pick.confirm.mean) if pick else None,
                    "confirm_low": _finite(pick.confirm.low) if pick else None,
                    "confirm_high": _finite(pick.confirm.high) if pick else None,
                    "confirm_n": pick.confirm.n if pick else None,
                    "confirm_p_holm": _finite(pick.p_holm) if pick else None,
                    "confirmed": pick.confirmed if pick else None,
                }
            )  # fmt: skip
    return out


def target_rows(analyses: Sequence[Analysis]) -> list[dict[str, Any]]:
    """Every curve's examples to the target, data saved and power-law fit (main width)."""
    out = []
    for a in analyses:
        for row in a.table:
            r = row.reach
            curve = a.curves[a.main_width][row.label]
            high_status = None
            if r is not None and r.n_seeds >= 2 and not math.isnan(r.high):
                high_status = REACHED if math.isfinite(r.high) else NOT_REACHED
            out.append(
                {
                    "task": a.task, "model": a.model, "config": a.config, "width": a.main_width,
                    "curve": row.label, "policy": curve.policy, "metric": curve.metric,
                    "target": _finite(a.target),
                    "examples": _finite(r.examples) if r else None,
                    "status": r.status if r else None,
                    "examples_low": _finite(r.low) if r else None,
                    "examples_high": _finite(r.high) if r else None,
                    "high_status": high_status,
                    "reached_share": r.reached_share if r else None,
                    "saved": _finite(r.saved) if r else None,
                    "saved_low": _finite(r.saved_low) if r else None,
                    "saved_high": _finite(r.saved_high) if r else None,
                    "n_seeds": r.n_seeds if r else None,
                    "fit": "power law a·n^(−b) + c (descriptive)",
                    "fit_b": _finite(row.b), "fit_b_low": _finite(row.b_low),
                    "fit_b_high": _finite(row.b_high),
                }
            )  # fmt: skip
    return out


def write_summary(
    store_or_rows: ResultsStore | str | Path | Iterable[Mapping[str, Any]],
    cells: str | Path | None = None,
    targets: str | Path | None = None,
    *,
    target: float | None = None,
    confirm_seeds: Collection[int] | None = None,
    n_boot: int = 200,
    n_boot_seeds: int = 1000,
) -> dict[str, Path]:
    """Write the paired cells and/or the per-curve targets (.parquet, .csv or .json).

    Args:
        store_or_rows: a :class:`ResultsStore`, its folder, or rows.
        cells: the file for :func:`cell_rows` (None: not written).
        targets: the file for :func:`target_rows` (None: not written).
        target: the error to reach (default: the full-data error).
        confirm_seeds: seeds held back to confirm each budget's pick.
        n_boot: bootstrap refits of each power-law exponent.
        n_boot_seeds: seed resamples of the examples-to-target intervals.

    Returns:
        The written paths by name (``cells``, ``targets``).

    Example:
        >>> write_summary("runs/scale", "cells.csv", "targets.csv")  # doctest: +SKIP
    """
    paths = {name: Path(p) for name, p in (("cells", cells), ("targets", targets)) if p is not None}
    for name, path in paths.items():
        check_export_path(path, f"--{name if name == 'targets' else 'summary'}")
    rows, meta = load_rows(store_or_rows)
    analyses = analyse(
        rows, target=target, n_boot=n_boot, meta=meta, n_boot_seeds=n_boot_seeds,
        confirm_seeds=confirm_seeds,
    )  # fmt: skip
    if not analyses:
        raise LessdataError("no finished runs to summarise; run `lessdata scale run` first")
    makers = {"cells": cell_rows, "targets": target_rows}
    for name, path in paths.items():
        records = makers[name](analyses)
        table = (
            pa.Table.from_pylist(records)
            if records
            else pa.table({"task": pa.array([], pa.string())})
        )
        write_table(table, path)
    return paths
