"""Shift verdicts relative to the model's own unshifted error, with absolute errors beside them.

Under a distribution shift (inputs scaled, a skewed covariance, a subspace, label noise, ...)
the question is whether in-context learning *breaks*: whether the shift costs the model more
than it costs a learner that was never trained on the prior. An earlier rule compared the
shifted error with a flat 1.5× ridge's, which reads the model's *unshifted* gap to ridge as
a failure under the shift: a model already at 1.61× ridge on unshifted tasks "broke" under a
d/2-dim subspace although its absolute error there was lower than unshifted.

The verdict here (:func:`read_shift`) is relative:

* ``own_ratio`` = the model's error under the shift ÷ the same model's error on unshifted
  fresh tasks, per seed (the same trained model, so the ratio is paired), mean over seeds
  with a 95% t-interval;
* ``ridge_ratio`` = ridge's error under the shift ÷ ridge's unshifted error: how much harder
  the shift makes the task for a learner that does not depend on pretraining (label noise,
  for instance, raises every learner's error);
* the shift **breaks** in-context learning when ``own_ratio > SHIFT_RATIO × max(1,
  ridge_ratio)``: the model's own error grows by more than 1.5× beyond what the shift costs
  ridge (and by at least 1.5× of its own unshifted level). A shift that leaves the model's
  error unchanged never breaks it, whatever its gap to ridge.

Every reading keeps the absolute errors (model and ridge, shifted and unshifted), and
``breaks_vs_ridge``, the earlier flat rule (shifted error above :data:`BREAK_RATIO` × ridge's
under the same shift), for comparison only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata.labs.icl.evaluate import TRANSFORMER
from lessdata.labs.icl.stats import SeedStat, seed_stat
from lessdata.report.html import html_table

#: the shift breaks ICL when the model's own error grows by more than this factor beyond
#: the growth of ridge's error under the same shift
SHIFT_RATIO = 1.5
#: the earlier, flat rule (kept for comparison): shifted error above this multiple of ridge's
BREAK_RATIO = 1.5


@dataclass(frozen=True)
class ShiftReading:
    """One shift at the last k: absolute errors, the relative verdict and the old rule's.

    Attributes:
        transformer, ridge: error/d under the shift (means over seeds).
        transformer_unshifted, ridge_unshifted: the same learners on unshifted fresh tasks.
        own_ratio: the model's shifted ÷ unshifted error per seed, over seeds.
        ridge_ratio: ridge's shifted ÷ unshifted error (means).
        threshold: ``SHIFT_RATIO × max(1, ridge_ratio)``, the own ratio above which it breaks.
        breaks: the verdict shown: ``own_ratio.mean > threshold``.
        breaks_vs_ridge: the earlier flat rule, ``transformer > BREAK_RATIO × ridge``.
    """

    transformer: float
    ridge: float
    transformer_unshifted: float
    ridge_unshifted: float
    own_ratio: SeedStat
    ridge_ratio: float
    threshold: float
    breaks: bool
    breaks_vs_ridge: bool

    @property
    def verdict(self) -> str:
        """``breaks`` or ``holds`` (the relative rule)."""
        return "breaks" if self.breaks else "holds"

    def ratio_text(self) -> str:
        """The own ratio with its interval: ``1.24 [0.55, 1.94]`` or ``1.57 (n < 2: no
        interval)``."""
        r = self.own_ratio
        if r.n < 2:
            return f"{r.mean:.2f} (n < 2: no interval)"
        return r.text(2)

    def as_dict(self) -> dict[str, Any]:
        """The reading as JSON-ready values (``own_ratio`` as mean/low/high/n)."""
        out = asdict(self)
        out["verdict"] = self.verdict
        return out


def _mean(values: Mapping[int, float]) -> float:
    v = [x for x in values.values() if math.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def read_shift(
    mine: Mapping[int, float],
    mine_unshifted: Mapping[int, float],
    ridge: Mapping[int, float],
    ridge_unshifted: Mapping[int, float],
) -> ShiftReading:
    """The relative verdict of one shift from per-seed errors at the last k.

    Args:
        mine: the model's error/d under the shift, by seed.
        mine_unshifted: the same models' error/d on unshifted fresh tasks, by seed.
        ridge: ridge's error/d under the shift (by seed; averaged).
        ridge_unshifted: ridge's error/d on unshifted fresh tasks (by seed; averaged).

    Example:
        >>> r = read_shift({0: 0.18}, {0: 0.18}, {0: 0.10}, {0: 0.11})
        >>> r.breaks, r.breaks_vs_ridge  # unchanged own error: holds, whatever ridge says
        (False, True)
    """
    seeds = sorted(set(mine) & set(mine_unshifted))
    own = seed_stat([mine[s] / mine_unshifted[s] for s in seeds if mine_unshifted[s] > 0])
    t, r = _mean(mine), _mean(ridge)
    t0, r0 = _mean(mine_unshifted), _mean(ridge_unshifted)
    ridge_ratio = r / r0 if r0 > 0 else math.nan
    threshold = SHIFT_RATIO * max(1.0, ridge_ratio) if math.isfinite(ridge_ratio) else SHIFT_RATIO
    return ShiftReading(
        transformer=t, ridge=r, transformer_unshifted=t0, ridge_unshifted=r0, own_ratio=own,
        ridge_ratio=ridge_ratio, threshold=threshold,
        breaks=bool(own.n and own.mean > threshold),
        breaks_vs_ridge=bool(t > BREAK_RATIO * max(r, 1e-6)),
    )  # fmt: skip


def shift_sentence(readings: Mapping[str, ShiftReading], run: str | None) -> str:
    """One sentence: which shifts break and which hold, by the relative rule, with the
    absolute errors, and where the earlier flat rule disagrees."""
    broken = [s for s, r in readings.items() if r.breaks]
    held = [s for s, r in readings.items() if not r.breaks]
    any_reading = next(iter(readings.values()))
    gap = any_reading.transformer_unshifted / any_reading.ridge_unshifted

    def detail(name: str) -> str:
        r = readings[name]
        return (
            f"{name} ({r.transformer:.3f} vs {r.transformer_unshifted:.3f} unshifted, own "
            f"×{r.own_ratio.mean:.2f}; ridge {r.ridge:.3f}, ×{r.ridge_ratio:.2f})"
        )

    breaks = f"breaks under {', '.join(map(detail, broken))}" if broken else "no shift breaks it"
    holds = f"; holds under {', '.join(map(detail, held))}" if held else ""
    text = (
        f"Under distribution shift (M = {run}): {breaks}{holds} (error/d at the last k; "
        f"broken = its own error grows by more than {SHIFT_RATIO:g}× beyond ridge's growth "
        f"under the same shift; unshifted it is {gap:.2f}× ridge)."
    )
    differ = [s for s, r in readings.items() if r.breaks_vs_ridge != r.breaks]
    if differ:
        text += (
            f" The earlier flat rule (error above {BREAK_RATIO:g}× ridge's under the shift) "
            f"would read {', '.join(differ)} the other way."
        )
    return text


def last_k_by_seed(
    table: pa.Table, *, pool: str, learner: str, shift: str, source: str = "fresh"
) -> dict[int, float]:
    """``{seed: error/d at the last k}`` of one learner on one pool, source and shift."""
    mask = pc.and_(
        pc.and_(pc.equal(table["pool_size"], pool), pc.equal(table["source"], source)),
        pc.and_(pc.equal(table["learner"], learner), pc.equal(table["shift"], shift)),
    )
    rows = table.filter(mask)
    if rows.num_rows == 0:
        return {}
    k = rows["k"].to_numpy()
    last = rows.filter(pc.equal(rows["k"], int(k.max())))
    seeds = last["seed"].to_pylist() if "seed" in last.column_names else [0] * last.num_rows
    by_seed: dict[int, list[float]] = {}
    for seed, error in zip(seeds, last["error"].to_pylist(), strict=True):
        by_seed.setdefault(int(seed), []).append(float(error))
    return {s: float(np.mean(v)) for s, v in by_seed.items()}


def battery(table: pa.Table, run: str) -> dict[str, ShiftReading]:
    """Every shift of the battery on pool ``run`` (fresh tasks), read by :func:`read_shift`.

    The angle battery and the family shift (``angle …``, ``family …``) are left out: they
    have readings of their own (:mod:`~lessdata.labs.icl.findings`).
    """
    shifts = sorted(
        s
        for s in set(table["shift"].to_pylist()) - {"none"}
        if not s.startswith(("angle ", "family "))
    )
    mine0 = last_k_by_seed(table, pool=run, learner=TRANSFORMER, shift="none")
    ridge0 = last_k_by_seed(table, pool=run, learner="ridge", shift="none")
    if not mine0 or not ridge0:
        return {}
    out = {}
    for shift in shifts:
        mine = last_k_by_seed(table, pool=run, learner=TRANSFORMER, shift=shift)
        ridge = last_k_by_seed(table, pool=run, learner="ridge", shift=shift)
        if mine and ridge:
            out[shift] = read_shift(mine, mine0, ridge, ridge0)
    return out


def shifts_html(readings: Mapping[str, ShiftReading]) -> str:
    """The shift table: absolute errors, own and ridge's ratios, threshold, both verdicts."""
    rows = [
        f"<td>{escape(name)}</td><td class='num'>{r.transformer:.4f}</td>"
        f"<td class='num'>{r.transformer_unshifted:.4f}</td>"
        f"<td class='num'>{escape(r.ratio_text())}</td>"
        f"<td class='num'>{r.ridge:.4f}</td><td class='num'>{r.ridge_ratio:.2f}</td>"
        f"<td class='num'>{r.threshold:.2f}</td><td>{r.verdict}</td>"
        f"<td>{'breaks' if r.breaks_vs_ridge else 'holds'}</td>"
        for name, r in readings.items()
    ]
    header = [
        "shift", "transformer error/d", "its unshifted error/d",
        "own ratio (shifted ÷ unshifted) [95% t]", "ridge error/d", "ridge's ratio",
        f"threshold ({SHIFT_RATIO:g} × max(1, ridge's ratio))", "verdict",
        f"earlier flat rule (>{BREAK_RATIO:g}× ridge)",
    ]  # fmt: skip
    note = (
        '<p class="note">A shift breaks in-context learning when the model\'s own error grows '
        f"by more than the threshold: {SHIFT_RATIO:g}× beyond what the shift costs ridge (at "
        f"least {SHIFT_RATIO:g}× its unshifted error). The earlier flat rule compared the "
        "shifted error with ridge's alone and so read the model's unshifted gap to ridge as a "
        "break; it is shown for comparison.</p>"
    )
    return html_table(header, rows, numeric=(1, 2, 3, 4, 5, 6)) + "\n" + note


def readings_from_summary(summary: Mapping[str, Any]) -> dict[str, ShiftReading]:
    """Rebuild the shift readings of a stored ``verdict.json`` (either format).

    A reading already stored as a dict is restored as it is. The earlier format stored
    ``[transformer, ridge, broken]`` per shift; the unshifted errors are then the verdict's
    ``fresh_error[shift_run]`` and ``ridge_error`` (ridge's unshifted error of the last pool
    analysed, which is the shift run's only when that run is the last pool: otherwise this
    refuses). Seeds were not stored, so the own ratio is that of the seed means (n = 1).
    """
    from lessdata.errors import LessdataError

    shifts = summary.get("shifts") or {}
    out: dict[str, ShiftReading] = {}
    run = summary.get("shift_run")
    for name, value in shifts.items():
        if isinstance(value, Mapping):
            fields = {k: math.nan if v is None else v for k, v in value.items()}
            fields.pop("verdict", None)
            own = {k: math.nan if v is None else v for k, v in value["own_ratio"].items()}
            fields["own_ratio"] = SeedStat(**own)  # JSON wrote NaN as null
            out[name] = ShiftReading(**fields)
            continue
        pools = summary.get("pool_sizes") or []
        if run is None or not pools or pools[-1] != run:
            raise LessdataError(
                f"verdict of shift run M = {run}: the stored ridge error is not that run's; "
                "rerun `lessdata icl report` on the sweep folder"
            )
        t, r = float(value[0]), float(value[1])
        out[name] = read_shift(
            {0: t}, {0: float(summary["fresh_error"][run])}, {0: r},
            {0: float(summary["ridge_error"])},
        )  # fmt: skip
    return out
