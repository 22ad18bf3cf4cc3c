"""Write the results of a perceptron run: CSV tables, a JSON document and an HTML page.

Why this exists: a run's numbers must outlive the process that computed them. This module
writes one CSV row per simulation and per theory point (for replotting), the summary,
configuration and theory curves as JSON (what :func:`load_summary` and the CLI read back), and
a self-contained HTML page that explains the experiment, embeds the figure and states the
findings in sentences with their numbers.
"""

from __future__ import annotations

import base64
import csv
import json
import math
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.data.atomic import atomic_path
from lessdata.data.standard_json import dumps_standard
from lessdata.labs.theory.replica import TheoryCurves
from lessdata.labs.theory.simulate import ROW_FIELDS, frontier

PNG_NAME = "perceptron.png"
CSV_NAME = "perceptron_sim.csv"
THEORY_CSV_NAME = "perceptron_theory.csv"
JSON_NAME = "perceptron.json"
HTML_NAME = "perceptron.html"


def output_paths(out_dir: Path) -> dict[str, Path]:
    """The files of a run in ``out_dir``, by kind: ``png, csv, theory_csv, json, html``."""
    out_dir = Path(out_dir)
    return {
        "png": out_dir / PNG_NAME,
        "csv": out_dir / CSV_NAME,
        "theory_csv": out_dir / THEORY_CSV_NAME,
        "json": out_dir / JSON_NAME,
        "html": out_dir / HTML_NAME,
    }


def write_results(
    paths: dict[str, Path],
    rows: list[dict[str, Any]],
    theory: TheoryCurves,
    summary: dict[str, Any],
    config: dict[str, Any],
    thetas: Sequence[float],
) -> None:
    """Write a run's CSV tables, JSON document and HTML page (atomically) to ``paths``.

    ``paths`` is :func:`output_paths`; the figure must already be at ``paths["png"]``, which
    the page embeds. ``rows`` are the simulation rows, ``summary`` is
    :func:`~lessdata.labs.theory.figures.summarize` of rows and ``theory``, ``config``
    describes the run (shown on the page and stored in the JSON) and ``thetas`` are the probe
    angles (radians) whose simulated keep-hard frontiers the JSON records.
    """
    _write_csv(paths["csv"], ROW_FIELDS, rows)
    _write_csv(
        paths["theory_csv"],
        ("curve", "policy", "theta_deg", "fraction", "alpha_tot", "alpha_prune", "error"),
        _theory_rows(theory),
    )
    document = {
        "config": config,
        "summary": summary,
        "findings": _findings(summary),
        "frontiers_sim": {f"{math.degrees(th):g}": frontier(rows, th) for th in thetas},
        "theory": theory.to_json(),
    }
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(dumps_standard(document, indent=1, default=_json_default), encoding="utf-8")
    files = {
        PNG_NAME: "the figure",
        CSV_NAME: "one row per simulation (seed)",
        THEORY_CSV_NAME: "the theory curves",
        JSON_NAME: "summary, configuration and theory curves",
    }
    page = _html(
        paths["png"].read_bytes(),
        summary,
        config,
        files,
        "Data pruning in the teacher–student perceptron — lessdata theory perceptron",
    )
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(page, encoding="utf-8")


def _write_csv(path: Path, fields: Sequence[str], rows: Iterable[dict[str, Any]]) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    return path


def _theory_rows(theory: TheoryCurves) -> list[dict[str, Any]]:
    """The theory curves as flat rows (curve, policy, theta_deg, fraction, alpha_tot, ...)."""
    out: list[dict[str, Any]] = []

    def add(curve: str, policy: str, theta: float, fraction: float, alpha_prune: float, err):
        out.append(
            {
                "curve": curve,
                "policy": policy,
                "theta_deg": round(math.degrees(theta), 6),
                "fraction": fraction,
                "alpha_prune": alpha_prune,
                "alpha_tot": alpha_prune / fraction,
                "error": err,
            }
        )

    for a, e in zip(theory.alphas, theory.random, strict=True):
        add("random", "random", 0.0, 1.0, a, e)
    for theta, curves in theory.hard.items():
        for fraction, errors in curves.items():
            for a, e in zip(theory.alphas, errors, strict=True):
                add("fixed_fraction", "hard", theta, fraction, a, e)
        for name, extended in (("frontier", False), ("frontier_extended", True)):
            fa, fb, ff = theory.frontier(theta, extended=extended)
            for a, e, f in zip(fa, fb, ff, strict=True):
                if math.isfinite(e):
                    add(name, "hard", theta, float(f), float(a), float(e))
    for fraction, errors in theory.easy.items():
        for a, e in zip(theory.alphas, errors, strict=True):
            add("fixed_fraction", "easy", 0.0, fraction, a, e)
    for theta, errors in theory.panel_d["errors"].items():
        for f, e in zip(theory.panel_d["fractions"], errors, strict=True):
            add("fixed_alpha_prune", "hard", theta, f, theory.panel_d["alpha_prune"], e)
    return out


_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.55rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 1.8rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .25rem .6rem; text-align: left; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .92em; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; }
.note { color: #666; font-size: .9em; }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value.is_integer() and abs(value) < 1e7:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value)
    return str(value)


def _findings(summary: dict[str, Any]) -> list[str]:
    """The figure's findings as sentences with their numbers (HTML page and CLI)."""
    lines = []
    fit = summary.get("random_fit")
    fit_t = summary.get("random_fit_theory")
    if fit:
        text = (
            f"Random pruning follows a power law: error ≈ {fit['c']:.3g}·α_prune^-{fit['nu']:.3g} "
            f"(simulation, fitted for α_prune ≥ {fit['fit_from']:g})"
        )
        if fit_t:
            text += (
                f"; the theory gives exponent {fit_t['nu']:.3g} over the same range "
                "(→ 1, error → 0.50/α_prune, as α → ∞)"
            )
        lines.append(text + ".")
    front = summary.get("frontier", {})
    zero = front.get("0")
    if zero:
        text = (
            f"Perfect metric (θ = 0): at α_prune = {zero['alpha_prune']:g} the keep-hard "
            f"frontier reaches {zero['sim_error']:.3g} with f = {zero['sim_fraction']:.3g}"
        )
        if "sim_ratio_to_power_law" in zero:
            text += f", {zero['sim_ratio_to_power_law']:.2g}× the fitted power law"
        if "theory_error" in zero:
            text += f" (theory {zero['theory_error']:.3g})"
        steep = zero.get("theory_steepest_slope")
        if steep and fit:
            text += (
                f". Around α_prune ≈ {steep['alpha_prune']:.2g} the theory frontier falls with "
                f"local log-log slope {steep['slope']:.3g}, against {-fit['nu']:.2f} for random "
                "pruning: faster than any power law"
            )
        ext = zero.get("extended")
        if ext and "theory_end_slope" in zero and zero["theory_end_slope"] is not None:
            text += (
                f". Once f reaches the smallest fraction simulated the frontier runs parallel "
                f"to the power law (slope {zero['theory_end_slope']:.2f}); with pools up to "
                f"α_tot = {ext['max_alpha_tot']:,.0f} the theory frontier at α_prune = "
                f"{zero['alpha_prune']:g} is {ext['error']:.3g} "
                f"({ext['ratio_to_random']:.2g}× random): it keeps falling as the pool grows"
            )
        lines.append(text + ".")
    cross = summary.get("crossover", {})
    theory_cross = cross.get("theory_alpha_tot") or {}
    parts = [
        f"α_tot ≈ {a:.3g} at f = {f} (α_prune ≈ {a * float(f):.2g})"
        for f, a in theory_cross.items()
        if a is not None
    ]
    sim_parts = []
    for f, entry in (cross.get("sim") or {}).items():
        if entry:
            part = f"f = {f}: keep-hard wins from α_tot = {entry['hard_wins_from']:.3g}"
            if entry.get("hard_loses_at") is not None:
                part += f", loses at {entry['hard_loses_at']:.3g}"
            sim_parts.append(part)
    if parts or sim_parts:
        text = "Keep-easy beats keep-hard on small pools and keep-hard wins on large ones"
        if parts:
            text += "; theory crossover " + ", ".join(parts)
        if sim_parts:
            text += "; simulation " + "; ".join(sim_parts)
        lines.append(text + ".")
    for key, entry in front.items():
        if key == "0":
            continue
        text = (
            f"Imperfect metric θ = {key}°: the frontier at α_prune = {entry['alpha_prune']:g} "
            f"is {entry['sim_error']:.3g}"
        )
        if "sim_ratio_to_random" in entry:
            text += f", {entry['sim_ratio_to_random']:.2g}× random pruning"
        if "theory_error" in entry:
            text += f" (theory {entry['theory_error']:.3g})"
        if entry.get("theory_end_slope") is not None:
            text += f"; its theory slope at the end is {entry['theory_end_slope']:.2f}"
        ext = entry.get("extended")
        if ext:
            text += (
                f"; even with pools up to α_tot = {ext['max_alpha_tot']:,.0f} the theory "
                f"frontier stays at {ext['ratio_to_random']:.2g}× random "
                f"(sin θ = {math.sin(math.radians(float(key))):.2g})"
            )
        lines.append(text + ": the gain saturates and the frontier bends back to a power law.")
    fmin = summary.get("f_min", {})
    items = [(k, v) for k, v in fmin.items() if k != "alpha_prune"]
    if items:
        parts = []
        for key, entry in items:
            part = f"θ = {key}°: best simulated f = {entry['sim_fraction']:.3g}"
            if "theory_fraction" in entry:
                part += f", theory f_min = {entry['theory_fraction']:.3g}"
            part += (
                f" (error {entry['sim_error']:.3g}; {entry['sim_error_at_smallest']:.3g} at "
                f"f = {entry['sim_smallest_fraction']:.3g})"
            )
            parts.append(part)
        lines.append(
            f"Best fraction to keep at α_prune = {fmin['alpha_prune']:g}: "
            + "; ".join(parts)
            + ". With θ > 0, keeping fewer than f_min makes keep-hard worse, sharply so."
        )
    return lines


def _html(
    png: bytes,
    summary: dict[str, Any],
    config: dict[str, Any],
    files: dict[str, str],
    title: str,
) -> str:
    """A self-contained page: what the experiment is, the figure, the numbers, the method."""
    image = base64.b64encode(png).decode("ascii")
    findings = "\n".join(f"<li>{escape(line)}</li>" for line in _findings(summary))
    front_rows = []
    for key, entry in summary.get("frontier", {}).items():
        front_rows.append(
            "<tr>"
            + "".join(
                f'<td class="num">{escape(_fmt(v))}</td>'
                for v in (
                    f"{key}°",
                    entry.get("alpha_prune"),
                    entry.get("sim_error"),
                    entry.get("sim_fraction"),
                    entry.get("theory_error"),
                    entry.get("theory_fraction"),
                    entry.get("sim_ratio_to_random"),
                    entry.get("theory_ratio_to_random"),
                    (entry.get("extended") or {}).get("ratio_to_random"),
                )
            )
            + "</tr>"
        )
    fmin_rows = []
    for key, entry in summary.get("f_min", {}).items():
        if key == "alpha_prune":
            continue
        fmin_rows.append(
            "<tr>"
            + "".join(
                f'<td class="num">{escape(_fmt(v))}</td>'
                for v in (
                    f"{key}°",
                    entry.get("sim_fraction"),
                    entry.get("sim_error"),
                    entry.get("theory_fraction"),
                    entry.get("theory_error"),
                )
            )
            + "</tr>"
        )
    config_rows = "\n".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_fmt(v))}</td></tr>" for k, v in config.items()
    )
    file_items = "\n".join(
        f'<li><a href="{escape(name)}">{escape(name)}</a> — {escape(what)}</li>'
        for name, what in files.items()
    )
    alpha_d = summary.get("f_min", {}).get("alpha_prune", "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)}</title><style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p class="note">Reproduction of Sorscher et al. 2022, “Beyond neural scaling laws: beating power
law scaling via data pruning” (arXiv 2206.14486), section 2: data pruning in the
teacher–student perceptron. Simulation and replica theory side by side.</p>

<h2>What the experiment is</h2>
<p>A teacher perceptron <code>T</code> (random unit vector in R<sup>N</sup>) labels Gaussian
inputs <code>y = sign(T·x)</code>. From a pool of <code>P = α_tot·N</code> examples, a
<em>probe</em> <code>J_probe</code> at angle θ to the teacher ranks examples by their margin
<code>|J_probe·x|</code> (θ = 0 is a perfect pruning metric). <b>keep-hard</b> keeps the
fraction <code>f</code> with the smallest margins, <b>keep-easy</b> the largest, <b>random</b> a
uniform subset; the student trains on <code>α_prune·N = f·α_tot·N</code> examples. The student
is the <b>max-margin perceptron</b> (hard-margin linear SVM, no bias), solved exactly; its test
error is <code>angle(J, T)/π</code>, exact for Gaussian inputs.</p>

<h2>Figure</h2>
<img alt="perceptron data-pruning figure" src="data:image/png;base64,{image}">
<p class="note">Markers: simulation, mean ± standard error over seeds. Lines: replica theory
(N → ∞). The frontier is, for each α_prune, the lowest mean error over the simulated fractions
kept (pools up to α_tot = {escape(_fmt(config.get("max alpha_tot")))}); the simulated frontier
is a minimum over noisy means, so slightly optimistic. Dotted lines in (c): the theory frontier
when much larger pools (smaller fractions) are allowed. For the max-margin student the pool
size is the only limit with a perfect metric: it needs only its support vectors, which
keep-hard keeps, so above α_prune ≈ 2 its error is close to that of training on the whole pool;
with an imperfect metric the gain over random pruning saturates.</p>

<h2>Findings</h2>
<ul>
{findings}
</ul>
<h3>Keep-hard frontier at the largest α_prune</h3>
<table><thead><tr><th>θ</th><th>α_prune</th><th>sim error</th><th>sim f</th>
<th>theory error</th><th>theory f</th><th>sim / random</th><th>theory / random</th>
<th>theory / random, larger pools</th></tr></thead>
<tbody>{"".join(front_rows)}</tbody></table>
<h3>Optimal fraction kept at α_prune = {escape(_fmt(alpha_d))} (f_min)</h3>
<table><thead><tr><th>θ</th><th>sim best f</th><th>sim error</th><th>theory f_min</th>
<th>theory error</th></tr></thead><tbody>{"".join(fmin_rows)}</tbody></table>

<h2>Method</h2>
<p><b>Learner.</b> <code>min |w|² s.t. y_i w·x_i ≥ 1</code> is a least-distance program, solved
exactly by Lawson–Hanson non-negative least squares (<code>scipy.optimize.nnls</code>) on a
working set grown by the most violated examples until none is violated; the data are always
separable (the teacher separates them).</p>
<p><b>Sampling.</b> Pruning only looks at the probe field <code>z = J_probe·x</code>, which is
independent of the rest of <code>x</code>; so the pool's <code>P</code> probe fields are drawn
first and only kept examples get their other N − 1 coordinates. This is exact and makes pools of
thousands of examples per dimension cheap.</p>
<p><b>Theory.</b> With the student's overlaps <code>R = J·T</code>, <code>S = J·T⊥</code> (the
in-plane direction of the probe) and <code>σ² = 1 − R² − S²</code>, the replica (q → 1) or
Gordon-comparison analysis of the max-margin student says margin κ is reachable iff</p>
<pre>F(R, S, κ) = σ² − α_prune · E_kept[(κ − y(R t + S s) − σ v)₊²] ≥ 0,   v ~ N(0, 1)</pre>
<p>where <code>(t, s)</code> are the teacher and in-plane fields of a kept example. The
max-margin student maximises κ over (R, S); test error = arccos(R)/π. The Gaussian average is
closed-form, the kept-example average uses Gauss–Legendre quadrature, κ is found by Newton's
method and the maximisation by L-BFGS-B with exact gradients (all with numpy/scipy). Random
pruning is no pruning at α_prune; at large α its error tends to 0.50/α_prune.</p>

<h2>Run</h2>
<table>{config_rows}</table>
<h2>Files</h2>
<ul>{file_items}</ul>
<footer class="note">lessdata theory perceptron</footer>
</body></html>
"""


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_summary(json_path: Path) -> dict[str, Any]:
    """Read the ``summary`` and ``findings`` that :func:`~lessdata.labs.theory.experiment.run`
    wrote."""
    document = json.loads(Path(json_path).read_text(encoding="utf-8"))
    return {"summary": document["summary"], "findings": document["findings"]}
