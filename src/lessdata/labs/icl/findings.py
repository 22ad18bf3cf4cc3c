"""Across sweeps: does in-context learning reach beyond its pretraining tasks? (question 1)

A folder of sweeps (``lessdata icl report --out ROOT`` where ROOT holds one sweep per
sub-folder, e.g. ``cap-15/``, ``cap-90/``, ``family-linear/``) is read three ways:

* **Cap angles.** Sweeps trained on task directions within a cap (``--cap-angle``, M = ∞
  inside it) carry the angle battery: fresh tasks at exactly θ degrees from the cap's axis.
  Per cap, the transformer's error/d at the last k is drawn against θ, next to ridge (the
  Bayes prediction for the whole sphere: a learner that knows nothing of the cap) and dMMSE
  over the cap (the Bayes prediction for the training distribution: a learner that *only*
  knows the cap). The **reach** of a cap is the largest test angle up to which the
  transformer stays within :data:`REACH_RATIO` × ridge at every tested angle.
* **Family shift.** Sweeps trained on one function family and evaluated on others
  (``--eval-family``): the transformer's error on family B after training on A, divided
  by the error of the transformer trained on B (same prompts). Transfer *holds* when that
  ratio is at most :data:`TRANSFER_RATIO`.
* **Optimisation gap.** M = ∞ noisy-linear sweeps without a cap (or with a 180° cap, the
  same distribution): transformer / ridge at the last k, goal :data:`GAP_GOAL`.
* **Shift battery** of those same sweeps (trained on the whole prior): each shift read
  relative to the model's own unshifted error, absolute errors beside it
  (:mod:`~lessdata.labs.icl.shifts`).

Every number is the mean over seeds with a 95% Student-t interval over seeds (each seed's
value is its own mean over 1000 prompts). The plain-language answer is derived from these
numbers by the rules stated in :func:`answer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata._version import __version__
from lessdata.data.atomic import atomic_path
from lessdata.data.standard_json import dumps_standard
from lessdata.errors import LessdataError
from lessdata.labs.icl.evaluate import TRANSFORMER
from lessdata.labs.icl.shifts import battery, shift_sentence, shifts_html
from lessdata.labs.icl.stats import SeedStat, seed_stat
from lessdata.report.html import BASE_CSS, html_image, html_table

#: within this multiple of its own in-cap error, in-context learning "holds" at a test angle
REACH_RATIO = 1.5
#: a cross-family error within this multiple of the in-family transformer's = transfer holds
TRANSFER_RATIO = 1.5
#: the optimisation-gap goal: M = ∞ within this multiple of ridge at the last k
GAP_GOAL = 1.2
ANGLE_PREFIX = "angle "
FAMILY_PREFIX = "family "


@dataclass
class Sweep:
    """One sweep folder's rows at the last k and the settings that tell what it trained on."""

    name: str
    family: str
    cap: float | None
    last_k: int
    d: int
    rows: pa.Table  # rows at k = last_k, M = inf only

    def per_seed(self, shift: str, learner: str, source: str = "fresh") -> list[float]:
        mask = pc.and_(
            pc.and_(pc.equal(self.rows["shift"], shift), pc.equal(self.rows["learner"], learner)),
            pc.equal(self.rows["source"], source),
        )
        part = self.rows.filter(mask)
        order = np.argsort(part["seed"].to_numpy())
        return [float(x) for x in part["error"].to_numpy()[order]]


def sweep_folders(root: str | Path) -> list[Path]:
    """Sub-folders of ``root`` that hold evaluated runs, sorted by name."""
    base = Path(root)
    return sorted(p for p in base.iterdir() if p.is_dir() and any(p.glob("M*-seed*/eval.parquet")))


def read_sweep(folder: Path) -> Sweep | None:
    """The M = ∞ rows of a sweep at its last k, or None when it has no M = ∞ run."""
    from lessdata.labs.icl.sweep import load_results, run_settings

    table = load_results(folder)
    task = run_settings(folder).get("task", {})
    table = table.filter(pc.equal(table["pool_size"], "inf"))
    if table.num_rows == 0:
        return None
    last = int(pc.max(table["k"]).as_py())
    cap = task.get("cap_angle")
    return Sweep(
        name=folder.name,
        family=str(task.get("family", "?")),
        cap=None if cap is None else float(cap),
        last_k=last,
        d=int(task.get("d", 0)),
        rows=table.filter(pc.equal(table["k"], last)),
    )


# --- the three readings ------------------------------------------------------------------


def cap_curves(sweep: Sweep) -> dict[str, dict[float, SeedStat]]:
    """learner → test angle → error/d at the last k over seeds (angle battery rows)."""
    shifts = sorted(
        {s for s in sweep.rows["shift"].to_pylist() if s.startswith(ANGLE_PREFIX)},
        key=lambda s: float(s[len(ANGLE_PREFIX) :]),
    )
    out: dict[str, dict[float, SeedStat]] = {}
    for learner in (TRANSFORMER, "ridge", "dmmse"):
        out[learner] = {
            float(s[len(ANGLE_PREFIX) :]): seed_stat(sweep.per_seed(s, learner)) for s in shifts
        }
    return out


def reach(curves: dict[str, dict[float, SeedStat]], cap: float) -> float | None:
    """The largest test angle up to which the transformer's error stays within REACH_RATIO ×
    its own in-cap error (the mean over the test angles inside the cap).

    Measured against its own in-cap level, not ridge's, so that an optimisation gap (a model
    1.3× ridge everywhere) is not read as a failure to extrapolate. Read on the seed means,
    walking the test angles upwards from 0; None when no test angle lies inside the cap.
    """
    angles = sorted(curves[TRANSFORMER])
    inside = [curves[TRANSFORMER][a].mean for a in angles if a <= cap]
    if not inside:
        return None
    level = float(np.mean(inside))
    last = None
    for angle in angles:
        if not curves[TRANSFORMER][angle].mean <= REACH_RATIO * level:
            break
        last = angle
    return last


def family_matrix(sweeps: list[Sweep]) -> dict[tuple[str, str], dict[str, Any]]:
    """(trained family, evaluated family) → transformer error, ratio to the in-family model,
    and the best baseline on the same prompts (all SeedStats over seeds)."""
    trained = {s.family: s for s in sweeps if s.cap is None}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for a, sweep in trained.items():
        for shift in sorted(set(sweep.rows["shift"].to_pylist())):
            if shift != "none" and not shift.startswith(FAMILY_PREFIX):
                continue
            b = a if shift == "none" else shift[len(FAMILY_PREFIX) :]
            if shift == "none" and not any(
                s.startswith(FAMILY_PREFIX) for s in sweep.rows["shift"].to_pylist()
            ):
                continue  # a sweep without the family shift is not part of this matrix
            mine = sweep.per_seed(shift, TRANSFORMER)
            learners = sorted(set(sweep.rows["learner"].to_pylist()) - {TRANSFORMER, "dmmse"})
            baselines = {n: seed_stat(sweep.per_seed(shift, n)) for n in learners}
            baselines = {n: v for n, v in baselines.items() if v.n}
            best = min(baselines, key=lambda n: baselines[n].mean) if baselines else None
            cells[(a, b)] = {
                "transformer": seed_stat(mine),
                "per_seed": mine,
                "best_baseline": best,
                "baseline": baselines.get(best) if best else None,
            }
    for (_, b), cell in cells.items():
        own = cells.get((b, b))
        if own is None:
            cell["ratio"] = None
            continue
        mine, theirs = cell["per_seed"], own["per_seed"]
        n = min(len(mine), len(theirs))  # seed i against seed i: the same evaluation prompts
        cell["ratio"] = seed_stat([mine[i] / theirs[i] for i in range(n)]) if n else None
    return cells


def gap(sweeps: list[Sweep]) -> dict[str, SeedStat]:
    """sweep → transformer / ridge at the last k on fresh noisy-linear tasks (M = ∞)."""
    out = {}
    for sweep in sweeps:
        if sweep.family != "noisy-linear" or sweep.cap not in (None, 180.0):
            continue
        mine, ridge = sweep.per_seed("none", TRANSFORMER), sweep.per_seed("none", "ridge")
        if mine and len(mine) == len(ridge):
            out[sweep.name] = seed_stat([m / r for m, r in zip(mine, ridge, strict=True)])
    return out


def answer(
    caps: dict[float, dict[str, dict[float, SeedStat]]],
    families: dict[tuple[str, str], dict[str, Any]],
    gaps: dict[str, SeedStat],
) -> list[str]:
    """Question (1) in plain words, by these rules.

    * A cap's reach (:func:`reach`: the largest test angle up to which the transformer
      stays within REACH_RATIO × its own in-cap error) beyond the cap's own half-angle is
      how far in-context learning extrapolates to directions never seen. "Generalises" =
      reach 180° for every cap below 180°; "does not extrapolate" = no cap's reach exceeds
      its half-angle by more than one test-angle step (15°); "partly" otherwise.
    * At 180° from the axis (the farthest task), the transformer is compared with dMMSE over
      the cap: below it = it falls back on something more general than its training prior.
    * A family pair transfers when the cross-family error is within TRANSFER_RATIO × the
      in-family transformer's.
    """
    lines: list[str] = []
    for name, ratio in gaps.items():
        met = "meets" if ratio.mean <= GAP_GOAL else "misses"
        lines.append(
            f"Optimisation gap ({name}): the M = ∞ transformer's error is {ratio.text(2)}× "
            f"ridge's at the last k ({met} the {GAP_GOAL:g}× goal)."
        )
    narrow = {c: v for c, v in caps.items() if c < 180}
    reaches = {c: reach(v, c) for c, v in narrow.items()}
    if narrow:
        for cap, curves in sorted(narrow.items()):
            got = reaches[cap]
            far = max(curves[TRANSFORMER])
            mine, ridge, bayes = (curves[n][far] for n in (TRANSFORMER, "ridge", "dmmse"))
            inside = np.mean([curves[TRANSFORMER][a].mean for a in curves[TRANSFORMER] if a <= cap])
            reach_text = "at no test angle" if got is None else f"up to {got:g}°"
            lines.append(
                f"Trained within {cap:g}° of an axis (error/d {inside:.3f} inside it): within "
                f"{REACH_RATIO:g}× that {reach_text}"
                f"; at {far:g}° its error/d is {mine.text()} (ridge {ridge.mean:.3f}, dMMSE over "
                f"the cap {bayes.mean:.3f}: "
                + ("below" if mine.mean < bayes.mean else "above")
                + " the learner that knows only the cap)."
            )
        beyond = {c: (r if r is not None else 0.0) - c for c, r in reaches.items()}
        if all(r is not None and r >= 180 for r in reaches.values()):
            verdict = "yes: for every cap it stays near ridge on directions never seen"
        elif all(b <= 15 for b in beyond.values()):
            verdict = (
                "no, not to new directions: its in-context learning holds only within (or one "
                "step beyond) the directions it was pretrained on"
            )
        else:
            verdict = "partly: it extrapolates " + ", ".join(
                f"{b:g}° beyond a {c:g}° cap" for c, b in sorted(beyond.items())
            )
        lines.append(
            "Question (1), does in-context learning reach tasks outside pretraining? "
            f"For linear-regression tasks outside the pretraining cap: {verdict}."
        )
    crossed = {k: v for k, v in families.items() if k[0] != k[1] and v.get("ratio") is not None}
    if crossed:
        held = [
            f"{a}→{b}" for (a, b), v in sorted(crossed.items()) if v["ratio"].mean <= TRANSFER_RATIO
        ]
        broke = [
            f"{a}→{b}" for (a, b), v in sorted(crossed.items()) if v["ratio"].mean > TRANSFER_RATIO
        ]
        lines.append(
            f"Family shift (trained→evaluated, transfer = within {TRANSFER_RATIO:g}× the "
            f"in-family transformer): holds for {', '.join(held) or 'none'}; breaks for "
            f"{', '.join(broke) or 'none'}."
        )
    return lines


# --- figures and the page ----------------------------------------------------------------


def render_caps(caps: dict[float, dict[str, dict[float, SeedStat]]]) -> bytes:
    from lessdata.labs.icl.plotting import COLOURS, png
    from lessdata.labs.icl.plotting import plt as pyplot

    plt = pyplot()
    ordered = sorted(caps)
    fig, axes = plt.subplots(1, len(ordered), figsize=(3.6 * len(ordered), 3.4), squeeze=False)
    labels = {TRANSFORMER: "transformer", "ridge": "ridge (whole sphere)",
              "dmmse": "dMMSE over the cap"}  # fmt: skip
    for ax, cap in zip(axes[0], ordered, strict=True):
        for learner, label in labels.items():
            points = caps[cap][learner]
            x = np.array(sorted(points))
            mean = np.array([points[a].mean for a in x])
            low = np.array([points[a].low for a in x])
            high = np.array([points[a].high for a in x])
            ax.plot(x, mean, "o-", ms=3, color=COLOURS[learner], label=label, lw=1.4)
            if np.isfinite(low).all():
                ax.fill_between(x, np.maximum(low, 1e-4), high, color=COLOURS[learner],
                                alpha=0.18, lw=0)  # fmt: skip
        ax.axvspan(0, cap, color="grey", alpha=0.12, lw=0)
        ax.set_yscale("log")
        ax.set_xticks([0, 45, 90, 135, 180])
        ax.set_xlabel("test task's angle from the axis (°)")
        ax.set_title(f"trained within {cap:g}° (shaded)", fontsize=10)
    axes[0][0].set_ylabel("error / d at the last k")
    axes[0][0].legend(fontsize=7)
    return png(fig)


def render_families(families: dict[tuple[str, str], dict[str, Any]]) -> bytes:
    from lessdata.labs.icl.plotting import plt as pyplot
    from lessdata.labs.icl.plotting import png

    plt = pyplot()
    names = sorted({a for a, _ in families} | {b for _, b in families})
    grid = np.full((len(names), len(names)), np.nan)
    for (a, b), cell in families.items():
        if cell.get("ratio") is not None:
            grid[names.index(a), names.index(b)] = cell["ratio"].mean
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2, 1.1 * len(names) + 1.4))
    image = ax.imshow(np.log2(grid), cmap="RdYlGn_r", vmin=-3, vmax=3)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            cell = families.get((a, b))
            if cell is None:
                continue
            text = f"{grid[i, j]:.2f}×" if np.isfinite(grid[i, j]) else "—"
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("evaluated on")
    ax.set_ylabel("trained on")
    ax.set_title("error / in-family transformer's (1× = no loss)", fontsize=10)
    fig.colorbar(image, ax=ax, label="log2 ratio")
    return png(fig)


def write_findings_report(root: str | Path) -> dict[str, Path]:
    """Read every sweep under ``root``; write ``icl_caps.png``, ``icl_families.png`` (when
    those experiments are present), ``icl_findings.html`` and ``findings.json``."""
    base = Path(root)
    folders = sweep_folders(base)
    if not folders:
        raise LessdataError(f"{base}: no sub-folder holds evaluated ICL runs")
    sweeps = [s for s in (read_sweep(f) for f in folders) if s is not None]
    caps = {}
    for sweep in sweeps:
        if sweep.cap is not None:
            curves = cap_curves(sweep)
            if curves[TRANSFORMER]:
                caps[sweep.cap] = curves
    families = family_matrix(sweeps)
    gaps = gap(sweeps)
    lines = answer(caps, families, gaps)
    # the shift battery of the sweeps trained on the whole prior (the gap runs): relative
    # verdicts with per-seed intervals (lessdata.labs.icl.shifts)
    shifts = {s.name: battery(s.rows, "inf") for s in sweeps if s.name in gaps}
    shifts = {name: readings for name, readings in shifts.items() if readings}
    lines += [shift_sentence(readings, f"∞, {name}") for name, readings in shifts.items()]
    paths: dict[str, Path] = {}
    pngs: dict[str, bytes] = {}
    if caps:
        pngs["caps"] = render_caps(caps)
    if any(v.get("ratio") is not None for k, v in families.items() if k[0] != k[1]):
        pngs["families"] = render_families(families)
    for key, data in pngs.items():
        paths[key] = base / f"icl_{key}.png"
        with atomic_path(paths[key]) as tmp:
            tmp.write_bytes(data)
    summary = {
        "sentences": lines,
        "caps": {
            str(c): {
                "reach": reach(v, c),
                **{n: {str(a): s.__dict__ for a, s in pts.items()} for n, pts in v.items()},
            }
            for c, v in caps.items()
        },
        "families": {
            f"{a}->{b}": {
                "transformer": v["transformer"].__dict__,
                "ratio_to_in_family": v["ratio"].__dict__ if v.get("ratio") else None,
                "best_baseline": v["best_baseline"],
                "baseline": v["baseline"].__dict__ if v.get("baseline") else None,
            }
            for (a, b), v in families.items()
        },
        "gap": {k: v.__dict__ for k, v in gaps.items()},
        "shifts": {k: {n: r.as_dict() for n, r in v.items()} for k, v in shifts.items()},
        "sweeps": [s.name for s in sweeps],
    }
    paths["json"] = base / "findings.json"
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(dumps_standard(summary, indent=1))
    paths["html"] = base / "icl_findings.html"
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(_html(lines, pngs, families, shifts), encoding="utf-8")
    return paths


def _html(lines: list[str], pngs: dict[str, bytes], families: dict, shifts: dict) -> str:
    verdict = "".join(f"<li>{escape(line)}</li>" for line in lines)
    rows = [
        f"<td>{escape(a)}</td><td>{escape(b)}</td><td class='num'>{v['transformer'].text()}</td>"
        f"<td class='num'>{v['ratio'].text(2) if v.get('ratio') else '—'}</td>"
        f"<td>{escape(str(v['best_baseline']))}</td>"
        f"<td class='num'>{v['baseline'].text() if v.get('baseline') else '—'}</td>"
        for (a, b), v in sorted(families.items())
    ]
    parts = [
        f"<h2>Cap angles</h2>{html_image(pngs['caps'], 'error vs test angle')}"
        if "caps" in pngs
        else "",
        f"<h2>Family shift</h2>{html_image(pngs['families'], 'family matrix')}"
        if "families" in pngs
        else "",
    ]
    headers = ["trained on", "evaluated on", "transformer error/d", "÷ in-family"]
    headers += ["best baseline", "its error/d"]
    table = html_table(headers, rows, numeric=(2, 3, 5)) if rows else ""
    for name, readings in shifts.items():
        table += f"<h2>Distribution shifts (M = ∞, {escape(name)})</h2>{shifts_html(readings)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lessdata ICL findings</title>
<style>{BASE_CSS}</style></head><body>
<h1>Does in-context learning reach tasks outside its pretraining?</h1>
<h2>Answer</h2><ul>{verdict}</ul>
{"".join(parts)}{table}
<p class="note">Means over seeds with 95% Student-t intervals over seeds.</p>
<footer class="note">lessdata {escape(__version__)}</footer>
</body></html>
"""
