"""The four-panel figure of the perceptron lab and the headline numbers it shows.

Why this exists: the figure is the lab's result. Each panel is one claim of Sorscher et al.
2022, drawn from simulation rows (markers) and theory curves (lines), and :func:`summarize`
computes the numbers behind those claims, which the figure marks and the report states:

(a) random pruning follows a power law in ``alpha_prune``; keep-hard with the best ``f`` for
    each ``alpha_prune`` (the Pareto frontier over ``alpha_tot`` and ``f``) falls faster than
    any power law when the metric is perfect. For the max-margin student the drop is abrupt,
    at ``alpha_prune ≈ 2``: it needs only its support vectors, which keep-hard keeps, so above
    that its error is close to the error of training on the whole pool, and the frontier is
    limited only by the pool size (``f`` stops at the smallest fraction simulated);
(b) with little data (small ``alpha_tot``) keeping the *easy* examples is better, with a lot of
    data the *hard* ones; the crossover is where ``alpha_prune = f·alpha_tot ≈ 2``;
(c) with an imperfect probe (``theta > 0``) the frontier bends back to a power law: however
    large the pool, keep-hard's gain over random pruning saturates at about ``sin(theta)``
    times the random error (near the teacher's boundary, a thin slab around the probe's
    boundary is at most ``1/sin(theta)`` times denser in examples than the full pool);
(d) with an imperfect probe there is a minimum useful fraction ``f_min``: at a fixed training
    set size, keeping fewer examples than that makes keep-hard worse, sharply so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.labs.theory.replica import TheoryCurves
from lessdata.labs.theory.simulate import (
    canonical,
    fit_power_law,
    frontier,
    mean_table,
    random_curve,
    same_point,
)

# --- the headline numbers ------------------------------------------------------------------


def _closest(values: Iterable[float], target: float) -> float:
    return min(values, key=lambda v: abs(math.log(v / target)))


def _steepest(alphas: np.ndarray, errors: np.ndarray) -> tuple[float, float] | None:
    """(alpha, slope) where d log(error) / d log(alpha) is most negative along a curve."""
    ok = np.isfinite(errors) & (errors > 0)
    a, e = np.log(alphas[ok]), np.log(errors[ok])
    if a.size < 2:
        return None
    slopes = np.diff(e) / np.diff(a)
    i = int(np.argmin(slopes))
    return float(math.exp(0.5 * (a[i] + a[i + 1]))), float(slopes[i])


def _end_slope(alphas: np.ndarray, errors: np.ndarray) -> float | None:
    """d log(error) / d log(alpha) over the last quarter of a curve (its asymptotic slope)."""
    ok = np.isfinite(errors) & (errors > 0)
    a, e = np.log(alphas[ok]), np.log(errors[ok])
    if a.size < 4:
        return None
    start = int(0.75 * a.size)
    return float((e[-1] - e[start]) / (a[-1] - a[start]))


def summarize(
    rows: list[dict[str, Any]],
    theory: TheoryCurves | None = None,
    *,
    fit_from: float = 4.0,
    panel_d_alpha_prune: float | None = None,
    panel_b_fractions: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The headline numbers of a run: power-law fit, frontier gains, crossover and f_min.

    * ``random_fit``: ``error = c·alpha_prune^-nu`` fitted to random pruning for
      ``alpha_prune >= fit_from`` (where the asymptotic power law has set in);
    * ``frontier``: per probe angle, keep-hard's best error at the largest ``alpha_prune``, the
      fraction achieving it, its ratio to the fitted power law and to random pruning; with
      theory, the steepest local log-log slope of the frontier, its slope at the end, and the
      same ratio for pools up to the theory-only fractions (``extended``);
    * ``crossover``: the pool size ``alpha_tot`` above which keep-hard beats keep-easy;
    * ``f_min``: per probe angle, the fraction kept that minimises keep-hard error at a fixed
      training-set size (``panel_d_alpha_prune``): keeping fewer makes it worse.
    """
    out: dict[str, Any] = {}
    ra, rm, _ = random_curve(rows)
    if ra.size >= 2:
        use = ra >= fit_from if (ra >= fit_from).sum() >= 2 else np.ones(ra.size, bool)
        c, nu = fit_power_law(ra[use], rm[use])
        out["random_fit"] = {"c": c, "nu": nu, "fit_from": float(ra[use].min())}
    if theory is not None:
        ta, te = np.asarray(theory.alphas), np.asarray(theory.random)
        use = ta >= fit_from if (ta >= fit_from).sum() >= 2 else np.ones(ta.size, bool)
        c_t, nu_t = fit_power_law(ta[use], te[use])
        out["random_fit_theory"] = {"c": c_t, "nu": nu_t}
    fits = out.get("random_fit")
    thetas = sorted({float(r["theta"]) for r in rows if r["policy"] == "hard"})
    front: dict[str, Any] = {}
    for theta in thetas:
        sim = frontier(rows, theta)
        if not sim:
            continue
        last = sim[-1]
        entry: dict[str, Any] = {
            "alpha_prune": last["alpha_prune"],
            "sim_error": last["error"],
            "sim_fraction": last["fraction"],
        }
        if fits:
            power = fits["c"] * last["alpha_prune"] ** -fits["nu"]
            entry["power_law_error"] = power
            entry["sim_ratio_to_power_law"] = last["error"] / power
        random_at = [m for a, m in zip(ra, rm, strict=True) if same_point(a, last["alpha_prune"])]
        if random_at:
            entry["sim_ratio_to_random"] = last["error"] / random_at[0]
        match = [t for t in (theory.hard if theory is not None else ()) if same_point(t, theta)]
        if theory is not None and match:
            alphas, best, best_f = theory.frontier(match[0])
            entry["theory_error"] = float(best[-1])
            entry["theory_fraction"] = float(best_f[-1])
            entry["theory_ratio_to_random"] = float(best[-1] / theory.random[-1])
            steep = _steepest(alphas, best)
            if steep:
                entry["theory_steepest_slope"] = {"alpha_prune": steep[0], "slope": steep[1]}
            entry["theory_end_slope"] = _end_slope(alphas, best)
            _, ext, ext_f = theory.frontier(match[0], extended=True)
            entry["extended"] = {
                "max_alpha_tot": float(alphas[-1] / min(theory.hard[match[0]])),
                "error": float(ext[-1]),
                "fraction": float(ext_f[-1]),
                "ratio_to_random": float(ext[-1] / theory.random[-1]),
                "end_slope": _end_slope(alphas, ext),
            }
        front[f"{math.degrees(theta):g}"] = entry
    out["frontier"] = front
    out["crossover"] = _crossover_summary(rows, theory, panel_b_fractions)
    out["f_min"] = _f_min_summary(rows, theory, panel_d_alpha_prune)
    return out


def _crossover_summary(
    rows: list[dict[str, Any]], theory: TheoryCurves | None, fractions: Sequence[float] | None
) -> dict[str, Any]:
    """Where keep-hard starts beating keep-easy, per fraction kept: theory and simulation."""
    result: dict[str, Any] = {}
    if theory is not None:
        result["theory_alpha_tot"] = {f"{f:g}": a for f, a in theory.crossover.items()}
        fractions = fractions or list(theory.crossover)
    table = mean_table(
        [r for r in rows if r["policy"] in ("hard", "easy") and r["theta"] == 0.0],
        "policy",
        "fraction",
        "alpha_tot",
    )
    available = sorted({k[1] for k in table})
    if not available:
        return result
    sim: dict[str, Any] = {}
    for target in fractions or [0.25]:
        fraction = _closest(available, target)
        tots = sorted({k[2] for k in table if k[1] == fraction})
        wins = [
            (a, table[("hard", fraction, a)][0] < table[("easy", fraction, a)][0])
            for a in tots
            if ("hard", fraction, a) in table and ("easy", fraction, a) in table
        ]
        for i, (a, hard_wins) in enumerate(wins):
            if hard_wins and all(w for _, w in wins[i:]):
                sim[f"{fraction:g}"] = {
                    "hard_loses_at": wins[i - 1][0] if i > 0 else None,
                    "hard_wins_from": a,
                }
                break
        else:
            sim[f"{fraction:g}"] = None
    result["sim"] = sim
    return result


def _f_min_summary(
    rows: list[dict[str, Any]], theory: TheoryCurves | None, alpha_d: float | None
) -> dict[str, Any]:
    """Per probe angle: the fraction minimising keep-hard error at alpha_prune = alpha_d."""
    result: dict[str, Any] = {}
    hard = [r for r in rows if r["policy"] == "hard"]
    if not hard:
        return result
    if theory is not None:
        alpha_d = theory.panel_d["alpha_prune"]
    table = mean_table(hard, "theta", "alpha_prune", "fraction")
    key_d = _closest({k[1] for k in table}, alpha_d if alpha_d is not None else 8.0)
    result["alpha_prune"] = key_d
    for theta in sorted({k[0] for k in table}):
        points = {k[2]: v[0] for k, v in table.items() if k[0] == theta and k[1] == key_d}
        if not points:
            continue
        best = min(points, key=points.get)
        entry: dict[str, Any] = {
            "sim_fraction": best,
            "sim_error": points[best],
            "sim_smallest_fraction": min(points),
            "sim_error_at_smallest": points[min(points)],
        }
        match = [t for t in (theory.panel_d["fopt"] if theory else ()) if same_point(t, theta)]
        if theory is not None and match:
            f_opt, e_opt = theory.panel_d["fopt"][match[0]]
            entry["theory_fraction"] = f_opt
            entry["theory_error"] = e_opt
        result[f"{math.degrees(theta):g}"] = entry
    return result


# --- the figure ----------------------------------------------------------------------------

_GREY = "#555555"
_HARD = "#d62728"
_EASY = "#1f77b4"
_THETA_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b")


def _theta_label(theta: float) -> str:
    return f"θ = {math.degrees(theta):g}°"


def _style(ax: Any, title: str, xlabel: str, ylabel: str = "test error  angle(J,T)/π") -> None:
    ax.set_title(title, loc="left", fontsize=10.5, fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)


def _sim_series(
    rows: list[dict[str, Any]], policy: str, theta: float, fixed: str, value: float, along: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and s.e.m. of rows with ``fixed == value``, as a function of ``along``."""
    picked = [
        r
        for r in rows
        if r["policy"] == policy
        and same_point(float(r["theta"]), theta)
        and same_point(float(r[fixed]), value)
    ]
    table = mean_table(picked, along)
    keys = sorted(table)
    return (
        np.array([k[0] for k in keys]),
        np.array([table[k][0] for k in keys]),
        np.array([table[k][1] for k in keys]),
    )


def _theta_match(curves: dict[float, Any], theta: float) -> float | None:
    return next((t for t in curves if same_point(t, theta)), None)


def figure(
    rows: list[dict[str, Any]],
    out_png: Path,
    *,
    title: str,
    theory: TheoryCurves | None = None,
    panel_b_fractions: Sequence[float] | None = None,
    panel_d_alpha_prune: float | None = None,
    dpi: int = 110,
) -> Path:
    """Draw the four-panel figure of a sweep to ``out_png`` (atomically) and return the path.

    (a) error vs alpha_prune, log-log, perfect probe: random pruning with its fitted power law,
    keep-hard at each fraction and its Pareto frontier; (b) error vs pool size alpha_tot at
    fixed fractions: keep-easy vs keep-hard vs random; (c) keep-hard frontiers for every probe
    angle; (d) error vs fraction kept at a fixed training-set size for every probe angle, with
    the optimal fraction f_min marked. Simulations are markers (mean ± s.e.m. over seeds);
    ``theory`` curves (:class:`TheoryCurves`), when given, are lines.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if not rows:
        raise LessdataError("no simulation rows to plot; run sweep() or run() first")
    out_png = Path(out_png)
    fig = Figure(figsize=(13.5, 10.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=12)
    ax_a, ax_b, ax_c, ax_d = fig.subplots(2, 2).ravel()
    hard_rows = [r for r in rows if r["policy"] == "hard"]
    thetas = sorted(canonical(float(r["theta"]) for r in hard_rows).values())
    thetas = sorted(set(thetas))
    ra, rm, rs = random_curve(rows)
    summary = summarize(
        rows, theory, panel_d_alpha_prune=panel_d_alpha_prune, panel_b_fractions=panel_b_fractions
    )
    fit = summary.get("random_fit")
    alphas_all = sorted(canonical(float(r["alpha_prune"]) for r in rows).values())
    a_line = np.geomspace(min(alphas_all), max(alphas_all), 50)
    zero = 0.0 if any(t == 0.0 for t in thetas) else None
    t_zero = _theta_match(theory.hard, 0.0) if theory is not None else None

    # (a) perfect probe: power law vs frontier.
    _style(ax_a, "(a) perfect metric (θ = 0): random vs keep-hard", "α_prune = examples kept / N")
    fractions = sorted(
        set(canonical(float(r["fraction"]) for r in hard_rows if r["theta"] == 0.0).values()),
        reverse=True,
    )
    shown = fractions[::2] if len(fractions) > 5 else fractions
    cmap, norm = colormaps["viridis"], LogNorm(min(fractions or [0.5]), 1.0)
    if zero is not None:
        for fraction in shown:
            colour = cmap(0.9 * norm(fraction))
            if t_zero is not None and fraction in theory.hard[t_zero]:
                ca, ce = theory.curve(t_zero, fraction)
                ax_a.plot(ca, ce, color=colour, lw=0.9, alpha=0.8)
            sa, sm, _ = _sim_series(rows, "hard", 0.0, "fraction", fraction, "alpha_prune")
            ax_a.plot(sa, sm, "o", ms=3.2, color=colour, alpha=0.85)
    if ra.size:
        ax_a.errorbar(ra, rm, rs, fmt="s", ms=4.5, color=_GREY, capsize=2, label="random (sim)")
    if theory is not None:
        ax_a.plot(theory.alphas, theory.random, color=_GREY, lw=1.2, label="random (theory)")
    if fit:
        ax_a.plot(
            a_line,
            fit["c"] * a_line ** -fit["nu"],
            "k--",
            lw=1.3,
            label=f"power law fitted to random (α ≥ {fit['fit_from']:g}): α^-{fit['nu']:.2f}",
        )
    if zero is not None:
        front = frontier(rows, 0.0)
        ax_a.errorbar(
            [p["alpha_prune"] for p in front],
            [p["error"] for p in front],
            [p["sem"] for p in front],
            fmt="D-",
            ms=5,
            lw=1.2,
            color=_HARD,
            capsize=2,
            label="keep-hard frontier: best f per α_prune (sim)",
        )
        if t_zero is not None:
            fa, fb, _ = theory.frontier(t_zero)
            ax_a.plot(fa, fb, color=_HARD, lw=2.4, alpha=0.6, label="keep-hard frontier (theory)")
        mappable = ScalarMappable(norm=norm, cmap=cmap)
        colourbar = fig.colorbar(mappable, ax=ax_a, pad=0.01, fraction=0.04)
        colourbar.set_label("f of the thin keep-hard curves", fontsize=8)
    ax_a.legend(fontsize=7.5, loc="lower left")

    # (b) keep-easy vs keep-hard as the pool grows, at fixed fractions.
    b_fracs = list(panel_b_fractions or (theory.easy if theory is not None else ()))
    easy_fracs = set(canonical(float(r["fraction"]) for r in rows if r["policy"] == "easy"))
    if not b_fracs and easy_fracs:
        b_fracs = [_closest(sorted(set(canonical(easy_fracs).values())), 0.25)]
    _style(
        ax_b, "(b) keep-easy wins on small pools, keep-hard on large ones", "α_tot = pool size / N"
    )
    dashes = ("-", "--", ":", "-.")
    for i, fraction in enumerate(b_fracs):
        dash = dashes[i % len(dashes)]
        hollow = i % 2 == 1
        for policy, colour in (("easy", _EASY), ("hard", _HARD)):
            st, sm, ss = _sim_series(rows, policy, 0.0, "fraction", fraction, "alpha_tot")
            ax_b.errorbar(
                st,
                sm,
                ss,
                fmt="o",
                ms=4.5,
                color=colour,
                capsize=2,
                mfc="white" if hollow else colour,
            )
            if theory is not None:
                if policy == "easy" and fraction in theory.easy:
                    errs = np.asarray(theory.easy[fraction])
                    ax_b.plot(np.asarray(theory.alphas) / fraction, errs, dash, color=colour)
                elif policy == "hard" and t_zero is not None and fraction in theory.hard[t_zero]:
                    ca, ce = theory.curve(t_zero, fraction)
                    ax_b.plot(ca / fraction, ce, dash, color=colour)
        pts = [(a / fraction, m, s) for a, m, s in zip(ra, rm, rs, strict=True)]
        ax_b.errorbar(
            [p[0] for p in pts],
            [p[1] for p in pts],
            [p[2] for p in pts],
            fmt="s",
            ms=3.5,
            color=_GREY,
            capsize=2,
            mfc="white" if hollow else _GREY,
        )
        if theory is not None:
            ax_b.plot(
                np.asarray(theory.alphas) / fraction, theory.random, dash, color=_GREY, lw=1.0
            )
            crossing = theory.crossover.get(fraction)
            if crossing:
                ax_b.axvline(crossing, color="k", ls=dash, lw=0.8, alpha=0.6)
                ax_b.annotate(
                    f"f = {fraction:g}: α_tot* ≈ {crossing:.3g}",
                    (crossing, 0.5),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    fontsize=7.5,
                    ha="right",
                    va="center",
                    alpha=0.8,
                )
    handles = [
        Line2D([], [], color=_EASY, marker="o", label="keep-easy"),
        Line2D([], [], color=_HARD, marker="o", label="keep-hard"),
        Line2D([], [], color=_GREY, marker="s", label="random"),
    ]
    handles += [
        Line2D(
            [],
            [],
            color="k",
            ls=dashes[i % len(dashes)],
            marker="o",
            mfc="white" if i % 2 else "k",
            label=f"f = {f:g} kept",
        )
        for i, f in enumerate(b_fracs)
    ]
    ax_b.legend(handles=handles, fontsize=7.5, loc="lower left")

    # (c) imperfect probes: frontiers bend back to a power law.
    _style(ax_c, "(c) imperfect metric: keep-hard frontiers by probe angle θ", "α_prune")
    if fit:
        ax_c.plot(
            a_line,
            fit["c"] * a_line ** -fit["nu"],
            "k--",
            lw=1.2,
            label=f"random: power law α^-{fit['nu']:.2f}",
        )
    if theory is not None:
        ax_c.plot(theory.alphas, theory.random, color=_GREY, lw=1.0)
    for i, theta in enumerate(thetas):
        colour = _THETA_COLOURS[i % len(_THETA_COLOURS)]
        front = frontier(rows, theta)
        ax_c.errorbar(
            [p["alpha_prune"] for p in front],
            [p["error"] for p in front],
            [p["sem"] for p in front],
            fmt="D",
            ms=4.5,
            color=colour,
            capsize=2,
            label=f"{_theta_label(theta)} (sim)",
        )
        match = _theta_match(theory.hard, theta) if theory is not None else None
        if match is not None:
            fa, fb, _ = theory.frontier(match)
            ax_c.plot(fa, fb, color=colour, lw=1.8, label=f"{_theta_label(theta)} (theory)")
            if len(theory.hard[match]) > len(theory.sim_fractions):
                ea, eb, _ = theory.frontier(match, extended=True)
                ax_c.plot(ea, eb, ":", color=colour, lw=1.6)
    if theory is not None and any(len(c) > len(theory.sim_fractions) for c in theory.hard.values()):
        pool = max(theory.alphas) / min(min(c) for c in theory.hard.values())
        ax_c.plot([], [], "k:", label=f"theory, pools up to α_tot = {pool:,.0f}")
    ax_c.legend(fontsize=7.5, loc="lower left")

    # (d) the optimal fraction at a fixed training-set size.
    f_min = summary.get("f_min", {})
    alpha_d = f_min.get("alpha_prune", panel_d_alpha_prune or 8.0)
    _style(
        ax_d,
        f"(d) keep-hard at fixed α_prune = {alpha_d:g}: the minimum useful f",
        "fraction kept f  (α_tot = α_prune / f)",
    )
    for i, theta in enumerate(thetas):
        colour = _THETA_COLOURS[i % len(_THETA_COLOURS)]
        sf, sm, ss = _sim_series(rows, "hard", theta, "alpha_prune", alpha_d, "fraction")
        ax_d.errorbar(
            sf,
            sm,
            ss,
            fmt="o",
            ms=4.5,
            color=colour,
            capsize=2,
            label=f"{_theta_label(theta)} (sim" + ("; line: theory)" if theory else ")"),
        )
        match = _theta_match(theory.panel_d["errors"], theta) if theory is not None else None
        if match is not None:
            ax_d.plot(
                theory.panel_d["fractions"], theory.panel_d["errors"][match], color=colour, lw=1.6
            )
            f_opt, e_opt = theory.panel_d["fopt"][match]
            if f_opt > min(theory.panel_d["fractions"]) * 1.05:
                ax_d.plot([f_opt], [e_opt], "*", ms=13, color=colour, mec="k", mew=0.6)
                ax_d.annotate(
                    f"f_min ≈ {f_opt:.2f}",
                    (f_opt, e_opt),
                    textcoords="offset points",
                    xytext=(9, -15),
                    fontsize=8,
                    color=colour,
                )
    ax_d.legend(fontsize=7.5, loc="upper right")
    with atomic_path(out_png) as tmp, open(tmp, "wb") as fh:
        fig.savefig(fh, format="png")
    return out_png
