"""Paired statistics of a scaling sweep: every policy against random, seed by seed, corrected.

A policy's **gain** at a budget is random's test error minus the policy's, computed per seed
on the runs that share that seed and budget (same training seed, same held-out set), so the
seed-to-seed variation that both runs share cancels. Over the seeds, :func:`paired_cells`
gives the mean gain, its 95% Student-t interval and a two-sided paired t-test p-value (H0:
mean gain 0). With fewer than two seeds there is no interval and no test
(:data:`NO_INTERVAL`): nothing is claimed.

**Holm's correction and its family.** Reading the best of ~30 cells off a table is a
multiple comparison: with 30 noise cells, one is below p = 0.05 more often than not. Holm's
step-down method (:func:`holm`) controls the family-wise error rate: the chance that *any*
claim in the family is false stays ≤ 5%. The family is **every testable (width, metric,
policy, budget) cell of one (task, model, configuration) group**, not each budget's cells on
their own: the report states a winner at every budget and an overall one, all read off the
same table, so only a family spanning the whole table makes all of those claims hold
together at 5% (per-budget families would allow a false winner somewhere on the page with
probability up to 5% per budget). Cells with fewer than two seeds cannot be tested and do
not count towards the family. A cell *beats random* when its Holm-adjusted p ≤ 0.05 and its
mean gain is positive (*worse than random* when negative); otherwise "no difference after
correction". Among a budget's winners, the largest mean gain is marked ``best_at_fraction``
(it is not tested against the other winners).

**Fresh seeds.** Alternatively a winner may be picked on some seeds and confirmed on others
(:func:`confirm_on_fresh_seeds`): per (width, budget) the cell with the largest mean gain on
the picking seeds is tested, alone, on the held-back seeds; the few tests (one per budget)
are Holm-corrected among themselves.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lessdata.labs.scaling.store import FULL, NO_METRIC

#: family-wise error rate of the corrected claims
ALPHA = 0.05
#: coverage of every interval
CONFIDENCE = 0.95
#: what a cell with fewer than two seeds says instead of an interval
NO_INTERVAL = "n < 2: no interval"
BASELINE = "random"
BEATS, WORSE, NO_DIFF = "beats random", "worse than random", "no difference after correction"


@dataclass(frozen=True)
class PairedStat:
    """Mean of per-seed differences with its Student-t interval and two-sided p-value.

    ``low``, ``high``, ``sd`` and ``p_value`` are NaN with fewer than two differences.
    """

    mean: float
    low: float
    high: float
    sd: float
    p_value: float
    n: int

    def text(self, scale: float = 1.0, spec: str = "+.2f", unit: str = "") -> str:
        """``+1.23 pt [+0.40, +2.06]`` or ``+1.23 pt (n < 2: no interval)``."""
        if self.n == 0:
            return "—"
        mean = f"{self.mean * scale:{spec}}{unit}"
        if self.n < 2:
            return f"{mean} ({NO_INTERVAL})"
        return f"{mean} [{self.low * scale:{spec}}, {self.high * scale:{spec}}]"


def paired_stat(differences: Iterable[float], confidence: float = CONFIDENCE) -> PairedStat:
    """Mean, Student-t interval and paired t-test p-value of per-seed ``differences``.

    Non-finite values are dropped. With zero spread (every seed differs by the same amount,
    up to rounding) the interval is that value and p is 0 (1 when the difference is 0).

    Example:
        >>> s = paired_stat([0.02, 0.03, 0.025, 0.035, 0.03])
        >>> round(s.mean, 3), s.low < s.mean < s.high, s.p_value < 0.001
        (0.028, True, True)
    """
    from scipy import stats

    d = np.asarray(list(differences), dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return PairedStat(math.nan, math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(d.mean())
    if len(d) < 2:
        return PairedStat(mean, math.nan, math.nan, math.nan, math.nan, 1)
    sd = float(d.std(ddof=1))
    if sd <= 1e-10 * float(np.abs(d).max()):  # equal differences, up to rounding
        sd = 0.0
    if sd == 0.0:
        return PairedStat(mean, mean, mean, 0.0, 1.0 if mean == 0 else 0.0, len(d))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * sd / math.sqrt(len(d)))
    p = float(stats.ttest_1samp(d, 0.0).pvalue)
    return PairedStat(mean, mean - half, mean + half, sd, p, len(d))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries stay NaN and are not in the family.

    The i-th smallest of m p-values becomes ``max over j ≤ i of min(1, (m − j + 1)·p_(j))``;
    a hypothesis is rejected at level α when its adjusted p ≤ α (Holm 1979).

    Example:
        >>> holm([0.01, 0.04, 0.03, float("nan")]).round(2).tolist()
        [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p[i])))
        out[i] = running
    return out


@dataclass
class PairedCell:
    """One (width, metric, policy, budget) against random, paired by seed.

    ``gain`` is random's error minus the policy's per seed (> 0: the policy does better;
    for a classifier it is the accuracy difference); ``baseline`` names the reference runs
    (``random``, or ``full`` at the full budget where random keeps everything).
    """

    width: int
    metric: str
    policy: str
    keep: str
    fraction: float
    n_kept: float
    baseline: str
    seeds: list[int]
    gains: list[float]
    policy_error: float
    baseline_error: float
    stat: PairedStat
    p_holm: float = math.nan
    family_size: int = 0
    survives_holm: bool = False
    best_at_fraction: bool = False

    @property
    def label(self) -> str:
        """``keep-hard · prototypes`` or ``d4``."""
        return self.policy if self.metric == NO_METRIC else f"{self.policy} · {self.metric}"

    @property
    def verdict(self) -> str:
        """``beats random``, ``worse than random``, ``no difference after correction`` or
        :data:`NO_INTERVAL`."""
        if self.stat.n < 2:
            return NO_INTERVAL
        if not self.survives_holm:
            return NO_DIFF
        return BEATS if self.stat.mean > 0 else WORSE


def _error(row: Mapping[str, Any]) -> float | None:
    err = row.get("error")
    if err is None and row.get("accuracy") is not None:
        err = 1.0 - float(row["accuracy"])
    if err is None or not math.isfinite(float(err)):
        return None
    return float(err)


def paired_cells(rows: Iterable[Mapping[str, Any]], alpha: float = ALPHA) -> list[PairedCell]:
    """Every non-random cell of one group's finished runs against random, Holm-corrected.

    ``rows`` are one (task, model, configuration) group's runs (:meth:`ResultsStore.rows`);
    failed runs and runs without an error are skipped. A cell pairs the seeds that both it
    and the reference hold at the same width and budget (``keep``); the reference is
    random (metric ``-``), or the full-data run at the full budget. Cells come sorted by
    width, budget and label; see the module docstring for the family and the verdicts.
    """
    by_key: dict[tuple[int, str, str, str], dict[int, tuple[float, int, int]]] = defaultdict(dict)
    for row in rows:
        err = _error(row)
        if row.get("status") != "ok" or err is None or not row.get("n_kept"):
            continue
        key = (int(row["width"]), str(row["metric"]), str(row["policy"]), str(row["keep"]))
        by_key[key][int(row["seed"])] = (err, int(row["n_kept"]), int(row["n_train"] or 0))
    cells = []
    for (width, metric, policy, keep), runs in by_key.items():
        if policy in (BASELINE, FULL):
            continue
        base_name = BASELINE
        base = by_key.get((width, NO_METRIC, BASELINE, keep))
        if base is None and (width, NO_METRIC, FULL, keep) in by_key:
            base_name, base = FULL, by_key[(width, NO_METRIC, FULL, keep)]
        if base is None:
            continue
        seeds = sorted(set(runs) & set(base))
        if not seeds:
            continue
        gains = [base[s][0] - runs[s][0] for s in seeds]
        n_kept = float(np.mean([runs[s][1] for s in seeds]))
        n_train = max(runs[s][2] for s in seeds) or n_kept
        cells.append(
            PairedCell(
                width=width, metric=metric, policy=policy, keep=keep,
                fraction=n_kept / n_train, n_kept=n_kept, baseline=base_name, seeds=seeds,
                gains=gains, policy_error=float(np.mean([runs[s][0] for s in seeds])),
                baseline_error=float(np.mean([base[s][0] for s in seeds])),
                stat=paired_stat(gains),
            )
        )  # fmt: skip
    cells.sort(key=lambda c: (c.width, c.fraction, c.keep, c.label))
    _correct(cells, alpha)
    return cells


def _correct(cells: list[PairedCell], alpha: float) -> None:
    adjusted = holm([c.stat.p_value for c in cells])
    family = int(np.isfinite(adjusted).sum())
    for cell, p in zip(cells, adjusted, strict=True):
        cell.p_holm = float(p)
        cell.family_size = family
        cell.survives_holm = bool(math.isfinite(p) and p <= alpha)
    for group in _by_budget(cells).values():
        winners = [c for c in group if c.verdict == BEATS]
        if winners:
            max(winners, key=lambda c: c.stat.mean).best_at_fraction = True


def _by_budget(cells: Iterable[PairedCell]) -> dict[tuple[int, str], list[PairedCell]]:
    groups: dict[tuple[int, str], list[PairedCell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.width, cell.keep)].append(cell)
    return groups


def best_overall(cells: Iterable[PairedCell], width: int | None = None) -> PairedCell | None:
    """The winner (Holm-surviving, positive) with the largest mean gain, at ``width`` if given."""
    winners = [c for c in cells if c.verdict == BEATS and (width is None or c.width == width)]
    return max(winners, key=lambda c: c.stat.mean) if winners else None


@dataclass
class Confirmation:
    """A budget's winner picked on some seeds and tested on the others (fresh seeds)."""

    width: int
    keep: str
    fraction: float
    label: str
    pick_seeds: list[int]
    confirm_seeds: list[int]
    pick: PairedStat
    confirm: PairedStat
    p_holm: float = math.nan
    confirmed: bool = False
    candidates: int = 0
    notes: list[str] = field(default_factory=list)


def confirm_on_fresh_seeds(
    cells: Sequence[PairedCell], confirm_seeds: Collection[int], alpha: float = ALPHA
) -> list[Confirmation]:
    """Pick each budget's best cell on the seeds not in ``confirm_seeds``; test it on those.

    Per (width, budget), the cell with the largest mean gain over the picking seeds is the
    pick (no correction is needed for the pick: it is never tested on the seeds that chose
    it). Its gain on ``confirm_seeds`` alone is tested with a paired t-test; the picks' p-values
    are Holm-corrected among themselves (one test per budget). ``confirmed`` when that
    adjusted p ≤ ``alpha`` and the confirming mean gain is positive.
    """
    fresh = {int(s) for s in confirm_seeds}
    out = []
    for (width, keep), group in sorted(_by_budget(cells).items(), key=lambda kv: kv[0]):
        scored = []
        for cell in group:
            picking = [g for s, g in zip(cell.seeds, cell.gains, strict=True) if s not in fresh]
            if picking:
                scored.append((float(np.mean(picking)), cell))
        if not scored:
            continue
        _, cell = max(scored, key=lambda item: item[0])
        pairs = list(zip(cell.seeds, cell.gains, strict=True))
        out.append(
            Confirmation(
                width=width, keep=keep, fraction=cell.fraction, label=cell.label,
                pick_seeds=[s for s, _ in pairs if s not in fresh],
                confirm_seeds=[s for s, _ in pairs if s in fresh],
                pick=paired_stat(g for s, g in pairs if s not in fresh),
                confirm=paired_stat(g for s, g in pairs if s in fresh),
                candidates=len(scored),
            )
        )  # fmt: skip
    adjusted = holm([c.confirm.p_value for c in out])
    for item, p in zip(out, adjusted, strict=True):
        item.p_holm = float(p)
        item.confirmed = bool(math.isfinite(p) and p <= alpha and item.confirm.mean > 0)
        if item.confirm.n < 2:
            item.notes.append(f"{item.confirm.n} confirming seed(s): {NO_INTERVAL}")
    return out


def claim_sentences(
    cells: Sequence[PairedCell], width: int, scale: float = 1.0, unit: str = ""
) -> list[str]:
    """The report's claims at ``width`` in plain words, one per budget, then the overall one.

    A budget with winners lists them (largest mean gain first); one without says "no
    policy beats random after correction"; a budget whose cells all have one seed says so.
    """
    at_width = [c for c in cells if c.width == width]
    if not at_width:
        return []
    family = max(c.family_size for c in cells)
    lines = []
    for (_, keep), group in sorted(_by_budget(at_width).items(), key=lambda kv: kv[1][0].fraction):
        where = f"{100 * group[0].fraction:.3g}% kept ({keep})"
        if all(c.stat.n < 2 for c in group):
            lines.append(f"{where}: {NO_INTERVAL}; nothing is claimed.")
            continue
        winners = sorted((c for c in group if c.verdict == BEATS), key=lambda c: -c.stat.mean)
        if not winners:
            lines.append(f"{where}: no policy beats random after correction.")
            continue
        named = "; ".join(
            f"{c.label} {c.stat.text(scale, '+.2f', unit)} (Holm p = {c.p_holm:.3g})"
            for c in winners
        )
        lines.append(f"{where}: beats random after Holm correction: {named}.")
    best = best_overall(cells, width)
    if best is None:
        lines.append(
            f"Overall: no policy beats random after correction (Holm over {family} cells)."
        )
    else:
        lines.append(
            f"Overall: the largest gain over random that survives Holm's correction for "
            f"{family} cells is {best.label} at {100 * best.fraction:.3g}% kept, "
            f"{best.stat.text(scale, '+.2f', unit)}; it is not tested against the other "
            "winners."
        )
    return lines
