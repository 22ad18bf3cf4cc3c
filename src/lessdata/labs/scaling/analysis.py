"""The scaling report's numbers: a sweep's runs turned into curves, fits and tables.

:func:`analyse` groups runs by (task, model, configuration) — runs of different settings are
never mixed — and computes, per group, every curve's points (mean, min and max over seeds),
its power-law fit with a bootstrap interval (a labelled description of the curve), the
per-policy table (examples to reach the target error read within the measured sizes, and
the data saved against random, both with seed-bootstrap intervals:
:mod:`~lessdata.labs.scaling.reach`; the smallest fraction within half a point of full-data
accuracy; the gap to random at the smallest fraction), every (metric, policy, budget) cell's
paired per-seed difference to random with its t-interval and Holm-corrected test
(:mod:`~lessdata.labs.scaling.paired`), optional fresh-seed confirmations, and the Pareto
frontier. :func:`load_rows` reads the runs from a store, its folder, or rows.

Pure numbers: no matplotlib and no HTML here, so that the analysis can be tested and reused
without drawing anything; :mod:`~lessdata.labs.scaling.figures` draws it and
:mod:`~lessdata.labs.scaling.report` writes the report folder.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.errors import LessdataError
from lessdata.labs.scaling.fit import Curve, PowerLawFit, fit_power_law, pareto_frontier
from lessdata.labs.scaling.paired import (
    Confirmation,
    PairedCell,
    confirm_on_fresh_seeds,
    paired_cells,
)
from lessdata.labs.scaling.reach import Reach, bootstrap_reach, seed_curve
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
    seeds: list[int] = field(default_factory=list)

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
    """The per-policy table's numbers (NaN / None where they cannot be computed).

    ``examples_to_full`` and ``saved_vs_random`` are the point estimates of ``reach`` (read
    within the measured sizes; ``inf`` / NaN when not reached), kept for callers of the
    earlier table; ``reach`` adds their seed-bootstrap intervals and status.
    """

    label: str
    b: float
    b_low: float
    b_high: float
    examples_to_full: float
    saved_vs_random: float
    smallest_fraction_near_full: float | None
    smallest_fraction: float
    gap_to_random: float | None
    reach: Reach | None = None


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
    cells: list[PairedCell] = field(default_factory=list)
    confirmations: list[Confirmation] = field(default_factory=list)
    #: True when every error lies in [0, 1] (a classifier's): gains are shown in points
    in_points: bool = True


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
        point.seeds.append(int(row["seed"]))
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
    n_boot_seeds: int = 1000,
    confirm_seeds: Collection[int] | None = None,
) -> list[Analysis]:
    """Group runs by (task, model, configuration) and compute curves, fits and tables.

    Args:
        rows: the runs, as :meth:`ResultsStore.rows` returns them.
        target: the error to reach (default: the full-data error of each group's largest
            width, recomputed in every seed resample).
        n_boot: bootstrap refits for each power-law exponent's interval.
        meta: the store's metadata (sweep settings by ``sweep/CONFIG``).
        n_boot_seeds: seed resamples for the examples-to-target and data-saved intervals.
        confirm_seeds: seeds held back to confirm each budget's winner picked on the other
            seeds (:func:`~lessdata.labs.scaling.paired.confirm_on_fresh_seeds`); None = no
            split (the Holm-corrected claims over all seeds stand alone).

    Example:
        >>> (analysis,) = analyse(store.rows(), confirm_seeds=[3, 4])  # doctest: +SKIP
        >>> [c.label for c in analysis.cells if c.verdict == "beats random"]  # doctest: +SKIP
        ['keep-hard · prototypes']
    """
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["task"], row["model"], row["config"])].append(row)
    out = []
    for (task, model, config), members in sorted(groups.items()):
        analysis = _analyse_group(task, model, config, members, target, n_boot, n_boot_seeds)
        if analysis is not None:
            analysis.meta = dict((meta or {}).get(f"sweep/{config}", {}))
            analysis.cells = paired_cells(members)
            if confirm_seeds:
                analysis.confirmations = confirm_on_fresh_seeds(analysis.cells, confirm_seeds)
            out.append(analysis)
    return out


def _analyse_group(
    task: str,
    model: str,
    config: str,
    rows: list[Mapping[str, Any]],
    target: float | None,
    n_boot: int,
    n_boot_seeds: int,
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
    reach = _reach(curves[main], full.get(main), target, n_boot_seeds)
    table = _policy_table(curves[main], full.get(main), reach)
    frontier = _frontier(curves[main], full.get(main))
    in_points = all(0.0 <= e <= 1.0 for p in _all_points(curves, full) for e in p.errors)
    return Analysis(
        task=task, model=model, config=config, n_train=n_train, widths=widths, main_width=main,
        curves=curves, full=full, target=goal, table=table, frontier=frontier,
        failures=failures, in_points=in_points,
    )  # fmt: skip


def _all_points(
    curves: Mapping[int, Mapping[str, CurveData]], full: Mapping[int, Point]
) -> Iterator[Point]:
    yield from full.values()
    for by_label in curves.values():
        for curve in by_label.values():
            yield from curve.points


def _reach(
    curves: Mapping[str, CurveData], full: Point | None, target: float | None, n_boot: int
) -> dict[str, Reach]:
    """Examples to the target per curve, with seed-bootstrap intervals (see ``reach``)."""
    seeds = sorted(
        {s for c in curves.values() for p in c.points for s in p.seeds}
        | set(full.seeds if full else [])
    )
    if not seeds:
        return {}
    seed_curves = {}
    for label, c in curves.items():
        by_size = [(p.n, dict(zip(p.seeds, p.errors, strict=True))) for p in c.points]
        seed_curves[label] = seed_curve(by_size, seeds)
    full_by_seed = None
    if full is not None:
        mine = dict(zip(full.seeds, full.errors, strict=True))
        full_by_seed = np.array([mine.get(s, math.nan) for s in seeds])
    if target is None and full_by_seed is None:
        return {}
    return bootstrap_reach(
        seed_curves, target=target, full_by_seed=full_by_seed, baseline=BASELINE,
        n_boot=n_boot, seed=0,
    )  # fmt: skip


def _policy_table(
    curves: Mapping[str, CurveData], full: Point | None, reach: Mapping[str, Reach]
) -> list[PolicyRow]:
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
        mine = reach.get(label)
        rows.append(
            PolicyRow(
                label=label,
                b=fit.b if fit else math.nan,
                b_low=fit.b_low if fit else math.nan,
                b_high=fit.b_high if fit else math.nan,
                examples_to_full=mine.examples if mine else math.nan,
                saved_vs_random=mine.saved if mine and BASELINE in reach else math.nan,
                smallest_fraction_near_full=near,
                smallest_fraction=smallest.fraction,
                gap_to_random=gap,
                reach=mine,
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
