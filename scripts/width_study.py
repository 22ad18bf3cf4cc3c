"""Representation vs learning: does a larger model need fewer examples, and does pruning help
a small model more or less than a large one? (issue 16, question 2)

Reads scaling-lab stores swept over model widths (``lessdata scale run ... --width W1
--width W2 ...``), one store per model, and prints per (model, width, policy): parameters,
the fitted exponent b of ``error = a·n^(−b) + c`` with its bootstrap 95% interval (a descriptive
fit), the examples needed to reach a fixed target error (the full-data error of the model's
smallest width, mean over seeds), read on the mean curve *within the measured sizes* with a
seed-bootstrap 95% interval (``lessdata.labs.scaling.reach``; "not reached" rather than a
power-law extrapolation past the data), and the pruning policy's error minus
random's at 10% and 50% kept (mean over seeds, with the seeds' range). Writes the table as
JSON and draws examples-to-target against parameters.

Usage::

    python scripts/width_study.py runs/width-mlp runs/width-cnn --out docs/evidence/width
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from _script_cli import ScriptError, ScriptParser, existing_store, out_dir, run

SIGNAL_LENGTH, CLASSES = 40, 10  # MNIST-1D


def parameters(model: str, width: int) -> int:
    """The number of parameters of ``model`` at ``width`` on MNIST-1D."""
    from lessdata.train.models import make_model

    return sum(p.numel() for p in make_model(model, (SIGNAL_LENGTH,), CLASSES, width).parameters())


def _by_seed(points: list[tuple[int, float, int, float]], fraction: float) -> dict[int, float]:
    """Error by seed at ``fraction`` kept."""
    return {seed: float(e) for _, e, seed, f in points if abs(f - fraction) < 1e-9}


def study(store_path: Path) -> list[dict[str, Any]]:
    """One row per (width, policy) of the store at ``store_path``."""
    from lessdata.labs.scaling.analysis import analyse
    from lessdata.labs.scaling.fit import fit_power_law
    from lessdata.labs.scaling.store import ResultsStore

    with ResultsStore(store_path) as store:
        rows = [r for r in store.rows() if r["status"] == "ok"]
    if not rows:
        raise ScriptError(f"{store_path} holds no finished runs")
    model = rows[0]["model"]
    points: dict[tuple[int, str], list[tuple[int, float, int, float]]] = defaultdict(list)
    for r in rows:
        policy = "full" if r["policy"] == "full" else r["policy"]
        points[(r["width"], policy)].append((r["n_kept"], r["error"], r["seed"], r["fraction"]))
    widths = sorted({w for w, _ in points})
    full = {w: np.mean([e for _, e, _, _ in points[(w, "full")]]) for w in widths}
    target = full[widths[0]]
    policies = sorted({p for _, p in points if p not in ("full",)})
    out = []
    for width in widths:
        (analysis,) = analyse([r for r in rows if r["width"] == width], target=float(target),
                              n_boot=0)  # fmt: skip
        reach = {row.label.split(" · ")[0]: row.reach for row in analysis.table}
        full_points = points[(width, "full")]
        for policy in policies:
            pts = points[(width, policy)] + full_points
            n = np.array([p[0] for p in pts], dtype=float)
            err = np.array([p[1] for p in pts])
            fit = fit_power_law(n, err, n_boot=200, seed=0)
            gains = {}
            if policy != "random":
                for fraction in (0.1, 0.5):
                    mine = _by_seed(points[(width, policy)], fraction)
                    base = _by_seed(points[(width, "random")], fraction)
                    diffs = [mine[s] - base[s] for s in mine if s in base]
                    if diffs:
                        gains[str(fraction)] = [float(np.mean(diffs)), min(diffs), max(diffs)]
            found = reach.get(policy)
            out.append(dict(
                model=model, width=width, parameters=parameters(model, width), policy=policy,
                b=fit.b, b_low=fit.b_low, b_high=fit.b_high, full_error=float(full[width]),
                target_error=float(target), error_minus_random=gains,
                **_reach_fields(found),
            ))  # fmt: skip
    return out


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _reach_fields(found: Any) -> dict[str, Any]:
    """Examples to the target and its interval as JSON (None where not reached)."""
    if found is None:
        return dict(examples_to_target=None, examples_low=None, examples_high=None,
                    reach_status="not computed")  # fmt: skip
    return dict(examples_to_target=_finite(found.examples), examples_low=_finite(found.low),
                examples_high=_finite(found.high), reach_status=found.status)  # fmt: skip


def _examples_text(r: dict[str, Any]) -> str:
    if r["examples_to_target"] is None:
        return f"{r['reach_status']} (target {r['target_error']:.3f})"
    high = "not reached" if r["examples_high"] is None else f"{r['examples_high']:,.0f}"
    low = "–" if r["examples_low"] is None else f"{r['examples_low']:,.0f}"
    bound = "≤ " if r["reach_status"] == "at the smallest size" else ""
    return (f"{bound}{r['examples_to_target']:,.0f} [{low}, {high}] (target "
            f"{r['target_error']:.3f})")  # fmt: skip


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument("stores", nargs="+", type=existing_store,
                        help="one results store per model, swept over --width")  # fmt: skip
    parser.add_argument("--out", type=out_dir, default=Path("docs/evidence/width"),
                        help="folder for width_study.json and width_study.png")  # fmt: skip
    args = parser.parse_args()
    table = [row for store in args.stores for row in study(store)]
    print("| model | width | params | policy | b [95%] | full-data error | examples to target "
          "| − random at 10% | − random at 50% |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        gains = r["error_minus_random"]
        cells = [f"{gains[f][0]:+.3f} [{gains[f][1]:+.3f}, {gains[f][2]:+.3f}]"
                 if f in gains else "" for f in ("0.1", "0.5")]  # fmt: skip
        print(
            f"| {r['model']} | {r['width']} | {r['parameters']:,} | {r['policy']} | "
            f"{r['b']:.3f} [{r['b_low']:.3f}, {r['b_high']:.3f}] | {r['full_error']:.4f} | "
            f"{_examples_text(r)} | "
            f"{cells[0]} | {cells[1]} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "width_study.json").write_text(json.dumps(table, indent=2) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, what in zip(axes, ("examples_to_target", "b"), strict=True):
        for (model, policy), style in {
            (m, p): (c, s)
            for m, c in (("mlp", "#1f77b4"), ("cnn1d", "#d62728"))
            for p, s in (("random", "-"), ("keep-hard", "--"), ("keep-easy", ":"))
        }.items():
            rows = [r for r in table if r["model"] == model and r["policy"] == policy
                    and r[what] is not None]  # fmt: skip
            if rows:
                ax.plot([r["parameters"] for r in rows], [r[what] for r in rows], marker="o",
                        color=style[0], ls=style[1], label=f"{model} · {policy}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("examples to reach the target error"
                      if what == "examples_to_target" else "fitted exponent b")  # fmt: skip
        if what == "examples_to_target":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    policies = sorted({r["policy"] for r in table} - {"random"})
    fig.suptitle(f"MNIST-1D: model size vs data needed (3 seeds, el2n {' / '.join(policies)} "
                 "vs random)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(args.out / "width_study.png", dpi=120)
    print(f"wrote {args.out}/width_study.json and width_study.png")


if __name__ == "__main__":
    run(main, Path(__file__).name)
