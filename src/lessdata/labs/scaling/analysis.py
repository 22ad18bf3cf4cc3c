"""The scaling report's numbers: a sweep's runs turned into curves, fits and tables.

:func:`analyse` groups runs by (task, model, configuration) — runs of different settings are
never mixed — and computes, per group, every curve's points (mean, min and max over seeds),
its power-law fit with a bootstrap interval, the per-policy table (examples to reach the
full-data error, data saved against random, the smallest fraction within half a point of
full-data accuracy, the gap to random at the smallest fraction) and the Pareto frontier.
:func:`load_rows` reads the runs from a store, its folder, or rows.

Pure numbers: no matplotlib and no HTML here, so that the analysis can be tested and reused
without drawing anything; :mod:`~lessdata.labs.scaling.figures` draws it and
:mod:`~lessdata.labs.scaling.report` writes the report folder.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.errors import LessdataError
from lessdata.labs.scaling.fit import (
    Curve,
    PowerLawFit,
    data_saved_vs_random,
    examples_to_reach,
    fit_power_law,
    pareto_frontier,
)
from lessdata.labs.scaling.store import FULL, NO_METRIC, ResultsStore

#: "within half a point of full-data accuracy"
ACCURACY_TOLERANCE = 0.005
BASELINE = "random"


@dataclass
class Point:
    """One budget of one curve: every seed's result at ``n`` examples."""

    n: int
    fraction: float
    keep: str
    errors: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)

    @property
    def error(self) -> float:
        """Mean test error over seeds."""
        return float(np.mean(self.errors))

    @property
    def accuracy(self) -> float:
        """Mean test accuracy over seeds."""
        return float(np.mean(self.accuracies))


@dataclass
class CurveData:
    """One policy (and metric) at one width: points by size, the full-data point last."""

    label: str
    policy: str
    metric: str
    width: int
    points: list[Point]
    fit: PowerLawFit | None = None

    def curve(self) -> Curve:
        """The mean curve (one error per size)."""
        return Curve(
            n=np.array([p.n for p in self.points], dtype=np.float64),
            err=np.array([p.error for p in self.points]),
        )

    def all_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Every seed's ``(n, error)``, for fitting."""
        n = [p.n for p in self.points for _ in p.errors]
        err = [e for p in self.points for e in p.errors]
        return np.asarray(n, dtype=np.float64), np.asarray(err, dtype=np.float64)


@dataclass
class PolicyRow:
    """The per-policy table's numbers (NaN / None where they cannot be computed)."""

    label: str
    b: float
    b_low: float
    b_high: float
    examples_to_full: float
    saved_vs_random: float
    smallest_fraction_near_full: float | None
    smallest_fraction: float
    gap_to_random: float | None


@dataclass
class Analysis:
    """One (task, model, configuration) group of runs, analysed."""

    task: str
    model: str
    config: str
    n_train: int
    widths: list[int]
    main_width: int
    curves: dict[int, dict[str, CurveData]]
    full: dict[int, Point]
    target: float
    table: list[PolicyRow]
    frontier: list[tuple[str, Point]]
    failures: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)


def curve_label(policy: str, metric: str) -> str:
    """``random``, ``d4`` or ``keep-hard · prototypes``."""
    return policy if metric == NO_METRIC else f"{policy} · {metric}"


def _error_and_accuracy(row: Mapping[str, Any]) -> tuple[float, float] | None:
    err, acc = row.get("error"), row.get("accuracy")
    if err is None and acc is not None:
        err = 1.0 - float(acc)
    if acc is None and err is not None:
        acc = 1.0 - float(err)
    if err is None or not math.isfinite(float(err)):
        return None
    return float(err), float(acc)


def _points(rows: Iterable[Mapping[str, Any]], n_train: int) -> list[Point]:
    by_n: dict[int, Point] = {}
    for row in rows:
        values = _error_and_accuracy(row)
        if values is None:
            continue
        n = int(row["n_kept"])
        point = by_n.setdefault(n, Point(n=n, fraction=n / n_train, keep=str(row["keep"])))
        point.errors.append(values[0])
        point.accuracies.append(values[1])
    return [by_n[n] for n in sorted(by_n)]


def _fit(curve: CurveData, n_boot: int) -> PowerLawFit | None:
    n, err = curve.all_points()
    if len(np.unique(n)) < 3:
        return None
    try:
        return fit_power_law(n, err, n_boot=n_boot, seed=0)
    except (LessdataError, ValueError, RuntimeError, np.linalg.LinAlgError):
        return None


def analyse(
    rows: Sequence[Mapping[str, Any]],
    *,
    target: float | None = None,
    n_boot: int = 200,
    meta: Mapping[str, Any] | None = None,
) -> list[Analysis]:
    """Group runs by (task, model, configuration) and compute curves, fits and tables.

    ``target`` is the error to reach (default: the full-data error of each group's largest
    width). ``meta`` is the store's metadata (sweep settings by ``sweep/CONFIG``).
    """
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["task"], row["model"], row["config"])].append(row)
    out = []
    for (task, model, config), members in sorted(groups.items()):
        analysis = _analyse_group(task, model, config, members, target, n_boot)
        if analysis is not None:
            analysis.meta = dict((meta or {}).get(f"sweep/{config}", {}))
            out.append(analysis)
    return out


def _analyse_group(
    task: str,
    model: str,
    config: str,
    rows: list[Mapping[str, Any]],
    target: float | None,
    n_boot: int,
) -> Analysis | None:
    ok = [r for r in rows if r.get("status") == "ok" and r.get("n_kept")]
    failures = [r for r in rows if r.get("status") != "ok"]
    if not ok:
        return None
    n_train = max(int(r["n_train"] or r["n_kept"]) for r in ok)
    widths = sorted({int(r["width"]) for r in ok})
    curves: dict[int, dict[str, CurveData]] = {}
    full: dict[int, Point] = {}
    for width in widths:
        at_width = [r for r in ok if int(r["width"]) == width]
        full_rows = [r for r in at_width if r["policy"] == FULL]
        full_points = _points(full_rows, n_train)
        if full_points:
            full[width] = full_points[-1]
        by_label: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
        for r in at_width:
            if r["policy"] != FULL:
                by_label[(r["policy"], r["metric"])].append(r)
        curves[width] = {}
        for (policy, metric), members in sorted(
            by_label.items(), key=lambda item: (item[0][0] != BASELINE, item[0])
        ):
            points = _points(members, n_train)
            if width in full and all(p.n != full[width].n for p in points):
                points.append(full[width])
            label = curve_label(policy, metric)
            data = CurveData(label, policy, metric, width, points)
            data.fit = _fit(data, n_boot)
            curves[width][label] = data
    with_full = [w for w in widths if w in full]
    main = max(with_full) if with_full else max(widths)
    goal = target
    if goal is None:
        goal = full[main].error if main in full else math.nan
    table = _policy_table(curves[main], full.get(main), goal)
    frontier = _frontier(curves[main], full.get(main))
    return Analysis(
        task=task, model=model, config=config, n_train=n_train, widths=widths, main_width=main,
        curves=curves, full=full, target=goal, table=table, frontier=frontier,
        failures=failures,
    )  # fmt: skip


def _policy_table(
    curves: Mapping[str, CurveData], full: Point | None, target: float
) -> list[PolicyRow]:
    saved: dict[str, float] = {}
    if BASELINE in curves and math.isfinite(target):
        mean_curves = {label: c.curve() for label, c in curves.items()}
        saved = {k: v.saved for k, v in data_saved_vs_random(mean_curves, target).items()}
    baseline = curves.get(BASELINE)
    baseline_acc = {p.n: p.accuracy for p in baseline.points} if baseline else {}
    rows = []
    for label, curve in curves.items():
        fit = curve.fit
        partial = [p for p in curve.points if full is None or p.n != full.n] or curve.points
        smallest = partial[0]
        near = None
        if full is not None:
            good = [
                p.fraction for p in curve.points if p.accuracy >= full.accuracy - ACCURACY_TOLERANCE
            ]
            near = min(good) if good else None
        gap = None
        if label != BASELINE and smallest.n in baseline_acc:
            gap = smallest.accuracy - baseline_acc[smallest.n]
        reach = examples_to_reach(curve.curve(), target) if math.isfinite(target) else math.nan
        rows.append(
            PolicyRow(
                label=label,
                b=fit.b if fit else math.nan,
                b_low=fit.b_low if fit else math.nan,
                b_high=fit.b_high if fit else math.nan,
                examples_to_full=reach,
                saved_vs_random=saved.get(label, math.nan),
                smallest_fraction_near_full=near,
                smallest_fraction=smallest.fraction,
                gap_to_random=gap,
            )
        )
    return rows


def _frontier(curves: Mapping[str, CurveData], full: Point | None) -> list[tuple[str, Point]]:
    candidates: list[tuple[str, Point]] = []
    for label, curve in curves.items():
        candidates.extend((label, p) for p in curve.points if full is None or p.n != full.n)
    if full is not None:
        candidates.append(("full data", full))
    chosen = pareto_frontier([(p.n, p.error) for _, p in candidates])
    return [candidates[i] for i in chosen]


def load_rows(source: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs and the store's metadata of ``source``: a :class:`ResultsStore`, its folder
    (or ``.sqlite`` file), or rows as :meth:`ResultsStore.rows` returns them (no metadata)."""
    if isinstance(source, ResultsStore):
        return source.rows(), source.meta()
    if isinstance(source, (str, Path)):
        path = Path(source)
        db = path if path.suffix in (".sqlite", ".db", ".sqlite3") else path / "results.sqlite"
        if not db.exists():
            raise LessdataError(
                f"store {path} holds no results; run `lessdata scale run --store {path}` first",
                param="store",
            )
        with ResultsStore(path) as store:
            return store.rows(), store.meta()
    return [dict(r) for r in source], {}
