"""The scaling report's statistical sections, as HTML: paired cells, claims, examples to target.

Three parts of the page, rendered from an :class:`~lessdata.labs.scaling.analysis.Analysis`:

* **Claims**: per budget, the policies that beat random after Holm's correction (or "no
  policy beats random after correction"), the overall winner, and fresh-seed confirmations
  when seeds were held back (:mod:`~lessdata.labs.scaling.paired`).
* **Against random, seed by seed**: every (metric, policy, budget) cell's paired gain with its
  95% t-interval, the number of seeds, the raw and Holm-adjusted p-values and the verdict.
* **Examples to the target**: read within the measured sizes with seed-bootstrap intervals
  ("not reached" otherwise), the data saved against random with its interval, and, in a
  separate labelled table, the fitted power-law exponent with its bootstrap interval.

Kept apart from :mod:`~lessdata.labs.scaling.report` (the page's frame, plots and the other
tables) so that each file stays small.
"""

from __future__ import annotations

import math
from html import escape

from lessdata.labs.scaling.analysis import BASELINE, Analysis
from lessdata.labs.scaling.paired import ALPHA, BEATS, NO_INTERVAL, WORSE, claim_sentences
from lessdata.labs.scaling.reach import NOT_REACHED, SMALLEST
from lessdata.report.html import html_cell, html_table

MISSING = "—"


def gain_format(analysis: Analysis) -> tuple[float, str, str]:
    """``(scale, format spec, unit)`` of a gain: accuracy points for errors in [0, 1]."""
    return (100.0, "+.2f", " pt") if analysis.in_points else (1.0, "+.4g", "")


def _p(value: float) -> str:
    return MISSING if not math.isfinite(value) else f"{value:.3g}"


def claims_html(analysis: Analysis) -> str:
    """The corrected claims, per width, and the fresh-seed confirmations."""
    scale, _, unit = gain_format(analysis)
    family = max((c.family_size for c in analysis.cells), default=0)
    parts = [
        f'<p class="note">A claim needs the paired gain over random to survive Holm\'s '
        f"correction at α = {ALPHA:g} for every testable (width, metric, policy, budget) "
        f"cell of this section ({family} cells; cells with one seed cannot be tested), or "
        "confirmation on seeds not used to pick the winner. Gain = random's test error − "
        "the policy's, per seed.</p>"
    ]
    widths = sorted({c.width for c in analysis.cells})
    for width in widths:
        lines = claim_sentences(analysis.cells, width, scale, unit)
        if len(widths) > 1:
            parts.append(f"<h4>width {width}</h4>")
        parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>")
    if not analysis.cells:
        parts.append("<p>No policy runs pair with random runs of the same seed and budget.</p>")
    if analysis.confirmations:
        parts.append("<h4>Picked on some seeds, confirmed on the others</h4>")
        rows = []
        for c in analysis.confirmations:
            rows.append(
                html_cell(str(c.width), "num") + html_cell(c.keep, "num")
                + html_cell(c.label, "id") + html_cell(f"{c.candidates}", "num")
                + html_cell(f"{c.pick.text(scale, '+.2f', unit)} (seeds {c.pick_seeds})", "num")
                + html_cell(f"{c.confirm.text(scale, '+.2f', unit)} (seeds {c.confirm_seeds})",
                            "num")
                + html_cell(_p(c.confirm.p_value), "num") + html_cell(_p(c.p_holm), "num")
                + html_cell("confirmed" if c.confirmed else "not confirmed")
            )  # fmt: skip
        header = ["width", "kept", "pick", "candidates", "gain on picking seeds",
                  "gain on fresh seeds", "p", "Holm p (over budgets)", "verdict"]  # fmt: skip
        parts.append(html_table(header, rows, numeric=(0, 1, 3, 4, 5, 6, 7)))
    return "\n".join(parts)


def cells_html(analysis: Analysis) -> str:
    """Every cell against random: paired gain, 95% t-interval, seeds, p, Holm p, verdict."""
    scale, spec, unit = gain_format(analysis)
    rows = []
    for c in analysis.cells:
        cls = {BEATS: "good", WORSE: "bad"}.get(c.verdict)
        interval = (
            NO_INTERVAL
            if c.stat.n < 2
            else f"[{c.stat.low * scale:{spec}}, {c.stat.high * scale:{spec}}]{unit}"
        )
        star = " (largest gain at this budget)" if c.best_at_fraction else ""
        rows.append(
            html_cell(str(c.width), "num") + html_cell(c.label, "id") + html_cell(c.keep, "num")
            + html_cell(f"{100 * c.fraction:.3g}%", "num") + html_cell(str(c.stat.n), "num")
            + html_cell(f"{c.policy_error:.4f}", "num")
            + html_cell(f"{c.baseline_error:.4f}" + ("" if c.baseline == BASELINE else " (full)"),
                        "num")
            + html_cell(f"{c.stat.mean * scale:{spec}}{unit}", "num")
            + html_cell(interval, "num") + html_cell(_p(c.stat.p_value), "num")
            + html_cell(_p(c.p_holm), "num") + html_cell(c.verdict + star, cls)
        )  # fmt: skip
    header = ["width", "curve", "kept", "fraction", "seeds", "error", "random's error",
              "gain (mean)", "95% t-interval", "p (paired t)", "Holm p", "verdict"]  # fmt: skip
    note = (
        "<p class=\"note\">Each seed's policy run is paired with random's run of the same seed "
        "and budget (at the full budget, the full-data run). p: two-sided paired t-test of a "
        "zero mean gain; Holm p: adjusted over every testable cell of this section.</p>"
    )
    return html_table(header, rows, numeric=tuple(range(0, 11))) + "\n" + note


def _examples(value: float) -> str:
    if not math.isfinite(value):
        return NOT_REACHED if value == math.inf else MISSING
    return f"{round(value):,}"


def reach_html(analysis: Analysis) -> str:
    """Examples to the target and data saved with intervals; the power-law fit apart."""
    rows = []
    for row in analysis.table:
        r = row.reach
        if r is None:
            rows.append(html_cell(row.label, "id") + html_cell(MISSING, "num") * 5)
            continue
        point = _examples(r.examples)
        if r.status == SMALLEST:
            point = f"≤ {point} (at the smallest size)"
        if r.n_seeds < 2:
            interval = NO_INTERVAL
        elif math.isnan(r.low):
            interval = MISSING  # no resamples
        elif r.low == math.inf:
            interval = NOT_REACHED
        else:
            interval = f"[{_examples(r.low)}, {_examples(r.high)}]"
        if row.label == BASELINE:
            saved = "baseline"
        elif not math.isfinite(r.saved):
            saved = MISSING
        elif math.isfinite(r.saved_low):
            saved = f"{100 * r.saved:+.1f}% [{100 * r.saved_low:+.1f}%, {100 * r.saved_high:+.1f}%]"
        else:
            saved = f"{100 * r.saved:+.1f}% (no interval)"
        rows.append(
            html_cell(row.label, "id") + html_cell(point, "num") + html_cell(interval, "num")
            + html_cell(f"{100 * r.reached_share:.0f}%", "num") + html_cell(saved, "num")
            + html_cell(str(r.n_seeds), "num")
        )  # fmt: skip
    header = [
        "curve", "examples to reach the target", "95% seed-bootstrap interval",
        "resamples that reach it", "data saved vs random [95% interval]", "seeds",
    ]  # fmt: skip
    note = (
        f'<p class="note">Target error {analysis.target:.4f} (the full-data error at width '
        f"{analysis.main_width}, recomputed in each resample, unless a target was given). "
        "Read on the mean curve between the two measured sizes that bracket the target "
        "(linear in log examples and log error), never beyond the largest size measured: "
        "a target the curve does not reach is “not reached”. The interval resamples seeds "
        "(every curve's seed together) and takes the 2.5% and 97.5% points; its upper end is "
        "“not reached” when more than 2.5% of resamples miss the target. Data saved = 1 − "
        "examples / random's examples, from the same resamples.</p>"
    )
    fit_rows = []
    for row in analysis.table:
        interval = f"[{row.b_low:.3f}, {row.b_high:.3f}]" if math.isfinite(row.b_low) else MISSING
        fit_rows.append(
            html_cell(row.label, "id")
            + html_cell(MISSING if not math.isfinite(row.b) else f"{row.b:.3f}", "num")
            + html_cell(interval, "num")
        )
    fit = (
        "<h4>Power-law fit (a labelled description, not used above)</h4>"
        '<p class="note">err(n) = a·n^(−b) + c fitted to every seed\'s point; the interval '
        "is a bootstrap over the points. An examples count from this fit past the largest "
        "measured size would be an extrapolation, so the report gives none.</p>"
        + html_table(["curve", "exponent b", "95% bootstrap interval"], fit_rows, (1, 2))
    )
    return html_table(header, rows, numeric=(1, 2, 3, 4, 5)) + "\n" + note + "\n" + fit
