"""The scaling report: curves of held-out error against examples kept, per policy and metric.

:func:`write_scaling_report` reads a sweep's runs (a store, its folder, or rows) and writes

``scaling.png``
    left: log-log test error against the number of training examples, one curve per policy
    (and metric): the mean over seeds, shaded between the seeds' min and max, the fitted
    power law ``a·n^(−b) + c`` dashed, the Pareto frontier over all policies and budgets
    circled; right: test accuracy against the fraction kept, with the full-data accuracy
    and its 0.5-point band.
``widths.png``
    (width sweeps only) error against examples for each model width, one panel per curve.
``report.html``
    one self-contained page: the plots inline (base64 PNG) and tables: per policy the
    exponent with its 95% bootstrap interval, the examples needed to reach the full-data
    error, the data saved against random, the smallest fraction within 0.5 point of
    full-data accuracy and the gap to random at the smallest fraction; every curve point;
    the Pareto frontier; failed runs.

Runs of different tasks, models or settings (configuration hashes) are never mixed: each
combination gets its own section (and its own numbered PNGs).
"""

from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.labs.scaling.fit import (
    ERROR_FLOOR,
    Curve,
    PowerLawFit,
    data_saved_vs_random,
    examples_to_reach,
    fit_power_law,
    pareto_frontier,
)
from lessdata.labs.scaling.store import FULL, NO_METRIC, ResultsStore
from lessdata.report.html import BASE_CSS

#: "within half a point of full-data accuracy"
ACCURACY_TOLERANCE = 0.005
BASELINE = "random"
_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22",
)  # fmt: skip
_BASELINE_COLOUR = "#555555"
_MISSING = "—"

_CSS = (
    BASE_CSS
    + """
.good { color: #1a7f37; } .bad { color: #b42318; }
pre.msg { white-space: pre-wrap; word-break: break-word; margin: 0; font-size: .85em; }
footer { margin-top: 3rem; color: #888; font-size: .85em; }
"""
)


# --- analysis ----------------------------------------------------------------------------


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


# --- figures -----------------------------------------------------------------------------


def _colour(label: str, labels: Sequence[str]) -> str:
    if label == BASELINE:
        return _BASELINE_COLOUR
    others = [x for x in labels if x != BASELINE]
    return _COLOURS[others.index(label) % len(_COLOURS)]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _plain_log_ticks(ax: Any) -> None:
    """Log axes labelled 300, 1,000 and 0.05 instead of 3×10², 10³ and 5×10⁻².

    Between the decades, ticks are labelled where there is room: every one on an axis
    spanning less than a decade (y) or about half of one (x, whose labels are wider), the
    2s and 5s on an axis spanning up to 2.5 decades, none beyond.
    """
    from matplotlib.ticker import FuncFormatter

    def formatter(text: Any, every_below: float, span: float) -> FuncFormatter:
        def label(value: float, _: Any) -> str:
            if value <= 0:
                return ""
            mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
            nearest = round(mantissa)
            if abs(mantissa - nearest) > 1e-6:
                return ""
            if span < every_below or (span <= 2.5 and nearest in (1, 2, 5)) or nearest == 1:
                return text(value)
            return ""

        return FuncFormatter(label)

    for axis, limits, text, every_below in (
        (ax.xaxis, ax.get_xlim(), lambda v: f"{v:,.0f}", 0.6),
        (ax.yaxis, ax.get_ylim(), lambda v: f"{v:.3g}", 1.0),
    ):
        low, high = (max(v, 1e-300) for v in limits)
        span = abs(math.log10(high / low))
        axis.set_major_formatter(formatter(text, every_below, span))
        axis.set_minor_formatter(formatter(text, every_below, span))


def _floor(values: Any) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=np.float64), ERROR_FLOOR)


def render_scaling_png(analysis: Analysis) -> bytes:
    """Error vs examples (log-log, fits, Pareto frontier) and accuracy vs fraction kept."""
    curves = analysis.curves[analysis.main_width]
    labels = list(curves)
    full = analysis.full.get(analysis.main_width)
    figure = _figure(13, 5.2)
    width_note = f", width {analysis.main_width}" if len(analysis.widths) > 1 else ""
    figure.suptitle(
        f"{analysis.task} · {analysis.model}{width_note} · {analysis.n_train:,} training "
        f"examples · mean over seeds, shaded min–max",
        fontsize=11,
    )
    left, right = figure.subplots(1, 2)
    for label, curve in curves.items():
        colour = _colour(label, labels)
        n = np.array([p.n for p in curve.points], dtype=np.float64)
        err = np.array([p.error for p in curve.points])
        lo = np.array([min(p.errors) for p in curve.points])
        hi = np.array([max(p.errors) for p in curve.points])
        left.plot(n, _floor(err), "o-", color=colour, lw=1.6, ms=4, label=label)
        left.fill_between(n, _floor(lo), _floor(hi), color=colour, alpha=0.15, lw=0)
        if curve.fit is not None:
            grid = np.geomspace(n.min(), n.max(), 100)
            left.plot(grid, _floor(curve.fit.predict(grid)), "--", color=colour, lw=1.0)
        frac = np.array([p.fraction for p in curve.points])
        acc = np.array([p.accuracy for p in curve.points])
        acc_lo = np.array([min(p.accuracies) for p in curve.points])
        acc_hi = np.array([max(p.accuracies) for p in curve.points])
        right.plot(frac, acc, "o-", color=colour, lw=1.6, ms=4, label=label)
        right.fill_between(frac, acc_lo, acc_hi, color=colour, alpha=0.15, lw=0)
    if analysis.frontier:
        fn = [p.n for _, p in analysis.frontier]
        fe = _floor([p.error for _, p in analysis.frontier])
        left.plot(fn, fe, "o", ms=11, mfc="none", mec="black", mew=1.2, label="Pareto frontier")
        left.plot(fn, fe, ":", color="black", lw=0.8)
    if full is not None:
        left.axhline(max(full.error, ERROR_FLOOR), color="black", lw=0.8, ls=":")
        left.text(
            0.01, max(full.error, ERROR_FLOOR), "full-data error", fontsize=8, va="bottom",
            color="#333333", transform=left.get_yaxis_transform(),
        )  # fmt: skip
        right.axhline(full.accuracy, color="black", lw=0.8, ls=":")
        right.axhspan(
            full.accuracy - ACCURACY_TOLERANCE, full.accuracy, color="#999999", alpha=0.15, lw=0
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("training examples kept (log)")
    left.set_ylabel("test error (log)")
    left.set_title("error vs examples; dashed: fitted a·n^(−b) + c", loc="left", fontsize=10)
    right.set_xlabel("fraction of the training set kept")
    right.set_ylabel("test accuracy")
    right.set_title(
        "accuracy vs fraction kept; band: within 0.5 point of full data", loc="left", fontsize=10
    )
    _plain_log_ticks(left)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, which="major", color="#eeeeee", lw=0.8)
        ax.tick_params(labelsize=8)
    left.legend(fontsize=8, framealpha=0.95, edgecolor="#dddddd")
    return _png(figure)


def render_widths_png(analysis: Analysis) -> bytes:
    """One log-log panel per curve, a line per model width."""
    from matplotlib import colormaps

    labels = sorted({label for curves in analysis.curves.values() for label in curves})
    columns = min(len(labels), 3)
    rows = math.ceil(len(labels) / columns)
    figure = _figure(4.6 * columns, 3.6 * rows + 0.5)
    figure.suptitle(f"{analysis.task} · {analysis.model}: test error vs examples per width")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    cmap = colormaps["viridis"]
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    for ax, label in zip(axes, labels, strict=False):
        for i, width in enumerate(analysis.widths):
            curve = analysis.curves[width].get(label)
            if curve is None:
                continue
            colour = cmap(i / max(len(analysis.widths) - 1, 1) * 0.9)
            n = [p.n for p in curve.points]
            ax.plot(n, _floor([p.error for p in curve.points]), "o-", color=colour, ms=3,
                    label=f"width {width}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax)
        ax.set_title(label, loc="left", fontsize=10, fontweight="bold")
        ax.set_xlabel("examples kept", fontsize=8)
        ax.set_ylabel("test error", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7)
    return _png(figure)


# --- HTML --------------------------------------------------------------------------------


def _num(value: float | None, spec: str = ".4g") -> str:
    if value is None or not math.isfinite(value):
        return _MISSING
    return format(value, spec)


def _count(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not reached"
    return f"{round(value):,}"


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return _MISSING
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def _td(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(text)}</td>"


def _table(header: Sequence[str], rows: Iterable[str], numeric: Sequence[int] = ()) -> str:
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _settings(analysis: Analysis) -> str:
    meta = analysis.meta
    items: list[tuple[str, str]] = [
        ("task", analysis.task),
        ("model", analysis.model),
        ("training examples", f"{analysis.n_train:,}"),
    ]
    if meta.get("n_test"):
        items.append(("held-out test examples", f"{meta['n_test']:,}"))
    for key in ("metrics", "policies", "fractions", "seeds", "widths"):
        if key in meta:
            items.append((key, ", ".join(str(v) for v in meta[key])))
    if meta.get("train"):
        items.append(("training", ", ".join(f"{k}={v}" for k, v in sorted(meta["train"].items()))))
    if meta.get("class_balanced"):
        items.append(("class-balanced", "yes"))
    if meta.get("command"):
        items.append(("command", str(meta["command"])))
    elif meta.get("mode") == "callable":
        items.append(("trainer", str(meta.get("hook"))))
    items.append(("configuration hash", analysis.config))
    body = "\n".join(f"<tr><th>{escape(k)}</th>{_td(v)}</tr>" for k, v in items)
    return f"<table>\n{body}\n</table>"


def _policy_html(analysis: Analysis) -> str:
    header = [
        "curve", "exponent b", "95% interval", "examples to reach full-data error",
        "data saved vs random", "smallest fraction within 0.5 pt of full accuracy",
        "gap to random at smallest fraction",
    ]  # fmt: skip
    rows = []
    for row in analysis.table:
        interval = (
            f"[{_num(row.b_low, '.3f')}, {_num(row.b_high, '.3f')}]"
            if math.isfinite(row.b_low)
            else _MISSING
        )
        saved_cls = None
        if math.isfinite(row.saved_vs_random) and row.label != BASELINE:
            saved_cls = "num good" if row.saved_vs_random > 0 else "num bad"
        near = row.smallest_fraction_near_full
        gap = row.gap_to_random
        gap_text = (
            _MISSING
            if gap is None
            else f"{100 * gap:+.2f} pt at {100 * row.smallest_fraction:.0f}% kept"
        )
        rows.append(
            _td(row.label, "id")
            + _td(_num(row.b, ".3f"), "num")
            + _td(interval, "num")
            + _td(_count(row.examples_to_full), "num")
            + _td(
                "baseline" if row.label == BASELINE else _pct(row.saved_vs_random, signed=True),
                saved_cls or "num",
            )
            + _td(_MISSING if near is None else f"{100 * near:.0f}%", "num")
            + _td(gap_text, "num")
        )
    note = (
        f'<p class="note">Target error {_num(analysis.target, ".4f")} (the full-data error at '
        f"width {analysis.main_width} unless a target was given). Examples to reach it are "
        "interpolated on the mean curve in log-log space; data saved = 1 − (examples the "
        "curve needs) / (examples random needs). The exponent b is fitted to every seed's "
        "point, with a bootstrap interval over the points.</p>"
    )
    return _table(header, rows, numeric=tuple(range(1, len(header)))) + "\n" + note


def _points_html(analysis: Analysis) -> str:
    header = ["curve", "kept", "fraction", "examples", "seeds", "accuracy", "± std", "error",
              "error min–max"]  # fmt: skip
    rows = []
    for curve in analysis.curves[analysis.main_width].values():
        for p in curve.points:
            rows.append(
                _td(curve.label, "id") + _td(p.keep, "num") + _td(_pct(p.fraction), "num")
                + _td(f"{p.n:,}", "num") + _td(str(len(p.errors)), "num")
                + _td(_pct(p.accuracy), "num")
                + _td(f"{100 * float(np.std(p.accuracies)):.2f} pt", "num")
                + _td(_num(p.error, ".4f"), "num")
                + _td(f"{min(p.errors):.4f}–{max(p.errors):.4f}", "num")
            )  # fmt: skip
    return _table(header, rows, numeric=tuple(range(1, len(header))))


def _frontier_html(analysis: Analysis) -> str:
    rows = [
        _td(label, "id") + _td(f"{p.n:,}", "num") + _td(_pct(p.fraction), "num")
        + _td(_num(p.error, ".4f"), "num")
        for label, p in analysis.frontier
    ]  # fmt: skip
    return _table(["curve", "examples", "fraction", "mean error"], rows, numeric=(1, 2, 3))


def _widths_html(analysis: Analysis) -> str:
    labels = sorted({label for curves in analysis.curves.values() for label in curves})
    header = ["width", "full-data accuracy", *(f"b: {label}" for label in labels)]
    rows = []
    for width in analysis.widths:
        full = analysis.full.get(width)
        cells = _td(str(width), "num") + _td(_pct(full.accuracy) if full else _MISSING, "num")
        for label in labels:
            curve = analysis.curves[width].get(label)
            b = curve.fit.b if curve is not None and curve.fit is not None else None
            cells += _td(_num(b, ".3f"), "num")
        rows.append(cells)
    return _table(header, rows, numeric=tuple(range(len(header))))


def _failures_html(analysis: Analysis) -> str:
    rows = []
    for r in analysis.failures:
        what = curve_label(str(r["policy"]), str(r["metric"]))
        rows.append(
            _td(what, "id") + _td(str(r["keep"]), "num") + _td(str(r["seed"]), "num")
            + _td(str(r["width"]), "num")
            + f'<td><pre class="msg">{escape(str(r.get("message") or ""))}</pre></td>'
        )  # fmt: skip
    return _table(["curve", "kept", "seed", "width", "message"], rows, numeric=(1, 2, 3))


def _section(analysis: Analysis, images: Mapping[str, bytes], heading: str | None) -> str:
    parts = []
    if heading:
        parts.append(f"<h2>{escape(heading)}</h2>")
    parts.append(_settings(analysis))
    full = analysis.full.get(analysis.main_width)
    if full is not None:
        parts.append(
            f"<p>Full data ({full.n:,} examples, {len(full.errors)} seeds): accuracy "
            f"<b>{_pct(full.accuracy)}</b>, error {_num(full.error, '.4f')}.</p>"
        )
    parts.append("<h3>Scaling curves</h3>")
    parts.append(_img(images["scaling"], "Test error vs examples kept, and accuracy vs fraction"))
    parts.append("<h3>Per curve</h3>")
    parts.append(_policy_html(analysis))
    parts.append("<h3>Pareto frontier (examples, mean error)</h3>")
    parts.append(
        '<p class="note">The budgets no other policy or fraction beats on both fewer '
        "examples and lower error.</p>"
    )
    parts.append(_frontier_html(analysis))
    if "widths" in images:
        parts.append("<h3>Model widths</h3>")
        parts.append(_img(images["widths"], "Test error vs examples for each width"))
        parts.append(_widths_html(analysis))
    parts.append("<h3>Every point</h3>")
    parts.append(_points_html(analysis))
    if analysis.failures:
        parts.append(f"<h3>Failed runs ({len(analysis.failures)})</h3>")
        parts.append(
            '<p class="note">Rerun the same <code>lessdata scale run</code> command to retry '
            "them; finished runs are not repeated.</p>"
        )
        parts.append(_failures_html(analysis))
    return "\n".join(parts)


def render_html(
    analyses: Sequence[Analysis],
    images: Sequence[Mapping[str, bytes]],
    *,
    title: str = "lessdata scaling report",
) -> str:
    """The whole report page, one section per analysis, images inline."""
    from lessdata._version import __version__

    intro = (
        '<p class="note">Each curve trains the model on the subset a policy keeps and '
        "measures it on a fixed held-out set. A curve below random's means the policy "
        "needs fewer examples for the same error; a larger exponent b means the error falls "
        "faster as data grows (Sorscher et al. 2022 show good pruning can beat power-law "
        "scaling).</p>"
    )
    sections = []
    for analysis, imgs in zip(analyses, images, strict=True):
        heading = (
            f"{analysis.task} · {analysis.model} · {analysis.config}" if len(analyses) > 1 else None
        )
        sections.append(_section(analysis, imgs, heading))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{escape(title)}</h1>",
            intro,
            *sections,
            f"<footer>Generated by lessdata {escape(__version__)}.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _load_rows(source: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if isinstance(source, ResultsStore):
        return source.rows(), source.meta()
    if isinstance(source, (str, Path)):
        path = Path(source)
        db = path if path.suffix in (".sqlite", ".db", ".sqlite3") else path / "results.sqlite"
        if not db.exists():
            raise LessdataError(
                f"--store {path} holds no results; run `lessdata scale run --store {path}` first"
            )
        with ResultsStore(path) as store:
            return store.rows(), store.meta()
    return [dict(r) for r in source], {}


def write_scaling_report(
    store_or_rows: ResultsStore | str | Path | Iterable[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    target: float | None = None,
    title: str = "lessdata scaling report",
    n_boot: int = 200,
) -> dict[str, Path]:
    """Write ``scaling.png``, ``widths.png`` (width sweeps) and ``report.html`` to ``out_dir``.

    Args:
        store_or_rows: a :class:`ResultsStore`, its folder, or rows as
            :meth:`ResultsStore.rows` returns them.
        out_dir: the folder to write into (created if needed).
        target: the error to reach in the tables (default: the full-data error).
        title: the page title.
        n_boot: bootstrap refits for each exponent's interval.

    Returns:
        The written paths by name: ``html``, ``plot``, and ``widths`` when there are several
        widths (``plot-2``, ``widths-2``, ... for further groups of runs).
    """
    rows, meta = _load_rows(store_or_rows)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LessdataError(f"--out {out} is a file; give a folder for the report")
    analyses = analyse(rows, target=target, n_boot=n_boot, meta=meta)
    if not analyses:
        raise LessdataError(
            "no finished runs to report on; run `lessdata scale run` first "
            "(failed runs alone make no curve)"
        )
    paths: dict[str, Path] = {}
    images = []
    for i, analysis in enumerate(analyses, start=1):
        suffix = "" if i == 1 else f"-{i}"
        imgs = {"scaling": render_scaling_png(analysis)}
        if len(analysis.widths) > 1:
            imgs["widths"] = render_widths_png(analysis)
        for name, png in imgs.items():
            file_name = f"{name}{suffix}.png"
            with atomic_path(out / file_name) as tmp:
                tmp.write_bytes(png)
            paths[("plot" if name == "scaling" else name) + suffix] = out / file_name
        images.append(imgs)
    page = render_html(analyses, images, title=title)
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    paths["html"] = out / "report.html"
    return paths
