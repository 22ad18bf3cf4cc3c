"""From a pilot's measurements to a policy per kept fraction, with the reason in words.

The pilot measures, for each pool size ``P`` (several random pools per size) and kept
fraction, the accuracy of every candidate policy's subset and of a random subset of the same
size on the same validation rows; the **gain** is their difference (paired). Sorscher et
al. (2022) predict that the gain of a policy changes with the amount of data (keep-easy
gains most when data are scarce, keep-hard when abundant), so the gain at the full size is
not the average gain of the pools: it is read off a trend.

* **Trend**: least squares ``gain ≈ a + b·ln(P / N)`` over every (pool, repeat)
  measurement. ``a`` is the expected gain at the full data ``N`` (``ln(N/N) = 0``), with the
  standard error of the fitted line there.
* **Decision**: a candidate clears random when the one-sided lower confidence bound of ``a``
  is above zero, at ``confidence`` after a Bonferroni correction for the number of
  candidates compared (Student's t with the fit's degrees of freedom). Among those that clear,
  the largest ``a`` wins; when none does, **random** (the theory's "do not prune by this
  metric here"). The interval is for the expected gain at the full size, not for a single
  run's noise: the question is which policy is better on average at that size.
* **Crossover**: where keep-hard's trend meets keep-easy's, from the same two lines (so it
  always agrees with the choice at ``N``); reported only when hard gains on easy as data
  grow and the crossing lies within ``CROSSOVER_REACH`` times the measured pool sizes.
* **Minimum useful fraction**: the smallest calibrated fraction at which a policy other than
  random was chosen (below it, prune at random); every such fraction is listed too.

All numbers here are accuracy **points** (percent), the unit of the report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

#: a crossover further than this factor outside the measured pool sizes is not reported
CROSSOVER_REACH = 8.0
#: a trend needs this many distinct pool sizes, and this many measurements in all
MIN_POOL_SIZES = 2
MIN_MEASUREMENTS = 4


def trend_at_full(log_share: np.ndarray, gain: np.ndarray) -> dict[str, float]:
    """Least squares ``gain ≈ a + b·log_share``; ``a`` (the gain at the full size, where
    ``log_share = 0``), its standard error, the slope and the degrees of freedom."""
    design = np.column_stack([np.ones_like(log_share), log_share])
    coef, *_ = np.linalg.lstsq(design, gain, rcond=None)
    residual = gain - design @ coef
    dof = len(gain) - 2
    sigma2 = float(residual @ residual) / dof
    cov = sigma2 * np.linalg.inv(design.T @ design)
    return {"at_full": float(coef[0]), "standard_error": math.sqrt(max(float(cov[0, 0]), 0.0)),
            "slope": float(coef[1]), "dof": dof}  # fmt: skip


def one_sided_quantile(confidence: float, candidates: int, dof: int) -> float:
    """Student's t quantile for a one-sided bound at ``confidence``, Bonferroni-corrected
    for ``candidates`` comparisons."""
    from scipy.stats import t

    return float(t.ppf(1 - (1 - confidence) / max(candidates, 1), dof))


def _round(value: float, digits: int = 3) -> float:
    return float(round(value, digits))


def decide(
    runs: list[dict[str, Any]],
    fractions: list[float],
    candidates: list[str],
    n_rows: int,
    confidence: float,
    skipped: dict[float, str],
) -> dict[str, Any]:
    """The choice per fraction, its evidence and reason, the crossover and the useful
    fractions, from the pilot's ``runs`` (``pool``, ``repeat``, ``fraction``, ``policy``,
    ``accuracy`` in points). ``skipped`` says why a fraction has no measurements."""
    table = {(r["pool"], r["repeat"], r["fraction"], r["policy"]): r["accuracy"] for r in runs}
    others = [p for p in candidates if p != "random"]
    rows = []
    for fraction in fractions:
        keys = sorted({(p, s) for p, s, f, _ in table if f == fraction})
        sizes = sorted({p for p, _ in keys})
        row: dict[str, Any] = {"fraction": fraction, "policy": "random", "evidence": {},
                               "pool_sizes": sizes, "measurements": len(keys)}  # fmt: skip
        if len(sizes) < MIN_POOL_SIZES or len(keys) < MIN_MEASUREMENTS:
            why = skipped.get(fraction) or (
                f"measured in {len(sizes)} pool size(s), {len(keys)} measurement(s); a trend "
                f"needs {MIN_POOL_SIZES} sizes and {MIN_MEASUREMENTS} measurements"
            )
            row["reason"] = f"random: not enough evidence ({why})"
            rows.append(row)
            continue
        log_share = np.log(np.array([p for p, _ in keys], dtype=np.float64) / n_rows)
        base = np.array([table[(p, s, fraction, "random")] for p, s in keys])
        row["random_accuracy_by_pool"] = {
            str(p): _round(float(np.mean([table[(p, s, fraction, "random")]
                                          for q, s in keys if q == p])))
            for p in sizes
        }  # fmt: skip
        for policy in others:
            gain = np.array([table[(p, s, fraction, policy)] for p, s in keys]) - base
            fit = trend_at_full(log_share, gain)
            q = one_sided_quantile(confidence, len(others), fit["dof"])
            by_pool: dict[str, list[float]] = defaultdict(list)
            for (p, _), g in zip(keys, gain, strict=True):
                by_pool[str(p)].append(float(g))
            row["evidence"][policy] = {
                "gain_at_full": _round(fit["at_full"]),
                "standard_error": _round(fit["standard_error"]),
                "lower_bound": _round(fit["at_full"] - q * fit["standard_error"]),
                "slope_per_doubling": _round(fit["slope"] * math.log(2)),
                "_fit": fit,
                "degrees_of_freedom": fit["dof"],
                "gain_by_pool": {p: _round(float(np.mean(g))) for p, g in by_pool.items()},
                "gain_se_by_pool": {
                    p: _round(float(np.std(g, ddof=1) / math.sqrt(len(g))) if len(g) > 1 else 0.0)
                    for p, g in by_pool.items()
                },
            }
        evidence = row["evidence"]
        clear = [p for p in others if evidence[p]["lower_bound"] > 0]
        best = max(others, key=lambda p: evidence[p]["gain_at_full"])
        level = f"{confidence:.0%} one-sided, Bonferroni over {len(others)}"
        if clear:
            chosen = max(clear, key=lambda p: evidence[p]["gain_at_full"])
            ev = evidence[chosen]
            row["policy"] = chosen
            row["reason"] = (
                f"{chosen}: {ev['gain_at_full']:+.1f} points over random predicted at "
                f"{n_rows:,} rows, lower bound {ev['lower_bound']:+.1f} ({level})"
            )
        else:
            ev = evidence[best]
            what = "gains" if ev["gain_at_full"] > 0 else "loses"
            row["reason"] = (
                f"random: no candidate is confidently better; the best, {best}, {what} "
                f"{ev['gain_at_full']:+.1f} points at {n_rows:,} rows, lower bound "
                f"{ev['lower_bound']:+.1f} ({level})"
            )
        row["best_candidate"] = best if evidence[best]["gain_at_full"] > 0 else None
        rows.append(row)
    crossover = _crossovers(rows, n_rows)
    for row in rows:
        for ev in row["evidence"].values():
            ev.pop("_fit")
    useful = [row["fraction"] for row in rows if row["policy"] != "random"]
    return {"fractions": rows, "crossover": crossover, "useful_fractions": useful,
            "min_useful_fraction": min(useful) if useful else None}  # fmt: skip


def _crossovers(rows: list[dict[str, Any]], n_rows: int) -> dict[str, Any]:
    """Per fraction: the data size at which keep-hard's trend overtakes keep-easy's."""
    out: dict[str, Any] = {}
    for row in rows:
        ev = row["evidence"]
        if "keep-hard" not in ev or "keep-easy" not in ev:
            continue
        hard, easy = ev["keep-hard"], ev["keep-easy"]
        slope = hard["_fit"]["slope"] - easy["_fit"]["slope"]
        diff = hard["_fit"]["at_full"] - easy["_fit"]["at_full"]  # hard − easy at ln(P/N) = 0
        key = f"{row['fraction']:g}"
        if slope <= 0:
            out[key] = {"rows": None, "note": "keep-hard does not gain on keep-easy as the "
                        "data grow"}  # fmt: skip
            continue
        at = -diff / slope  # ln(P/N) where hard − easy = 0
        lo = math.log(min(row["pool_sizes"]) / n_rows) - math.log(CROSSOVER_REACH)
        hi = math.log(CROSSOVER_REACH)
        if not lo <= at <= hi:
            side = "below" if at < lo else "above"
            out[key] = {"rows": None, "note": f"{side} {CROSSOVER_REACH:g}× the measured "
                        "sizes: not estimated"}  # fmt: skip
            continue
        rows_at = round(n_rows * math.exp(at))
        side = "keep-hard ahead at the full size" if rows_at <= n_rows else (
            "keep-easy ahead at the full size")
        out[key] = {"rows": int(rows_at), "note": side}
    return out
