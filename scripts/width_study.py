"""Representation vs learning: does a larger model need fewer examples, and does pruning help
a small model more or less than a large one? (issue 16, question 2)

Reads scaling-lab stores swept over model widths (``lessdata scale run ... --width W1
--width W2 ...``), one store per model, and prints per (model, width, policy): parameters,
the fitted exponent b of ``error = a·n^(−b) + c`` with its bootstrap 95% interval (a descriptive
fit), the examples needed to reach a fixed target error (the full-data error of the model's
smallest width, mean over seeds), read on the mean curve *within the measured sizes* with a
seed-bootstrap 95% interval (``lessdata.labs.scaling.reach``; "not reached" rather than a
power-law extrapolation past the data), and each pruning policy's gain over random at 10%
and 50% kept (paired by seed, 95% t-interval, Holm over every cell of the model's sweep).

The stores' finished runs are written to ``--out/runs.jsonl`` (with the lessdata version and
commit); the table (``table.md``, also generated into docs/findings.md by
``scripts/docs_tables.py``), ``width_study.json`` and the figure are built from that file
alone, so ``--tables-only`` rebuilds them without the stores.

Usage::

    python scripts/width_study.py runs/width-mlp runs/width-cnn --out docs/evidence/width
    python scripts/width_study.py --tables-only --out docs/evidence/width
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


def read_stores(stores: list[Path]) -> list[dict[str, Any]]:
    """Every finished run of the stores as a JSON-ready row (the per-epoch history left out),
    with the lessdata version and the git commit that wrote the evidence."""
    import subprocess

    import lessdata
    from lessdata.labs.scaling.store import ResultsStore

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    runs = []
    for path in stores:
        with ResultsStore(path) as store:
            rows = [r for r in store.rows() if r["status"] == "ok"]
        if not rows:
            raise ScriptError(f"{path} holds no finished runs")
        runs += [{k: v for k, v in r.items() if k not in ("metrics", "message")}
                 | {"commit": commit, "lessdata": lessdata.__version__} for r in rows]  # fmt: skip
    return runs


def read_runs(folder: Path) -> list[dict[str, Any]]:
    """The runs written by :func:`read_stores` into ``folder/runs.jsonl``."""
    path = folder / "runs.jsonl"
    if not path.is_file():
        raise ScriptError(f"{path} does not exist: run with the stores first")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def study(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (width, policy) of one model's runs: the fitted exponent, examples to the
    smallest width's full-data error, and each policy's gain over random at 10% and 50% kept
    (paired by seed, 95% t-interval, Holm over every cell of the model's sweep)."""
    from lessdata.labs.scaling.analysis import analyse
    from lessdata.labs.scaling.fit import fit_power_law

    model = rows[0]["model"]
    points: dict[tuple[int, str], list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        points[(int(r["width"]), r["policy"])].append((r["n_kept"], r["error"]))
    widths = sorted({w for w, _ in points})
    full = {w: np.mean([e for _, e in points[(w, "full")]]) for w in widths}
    target = full[widths[0]]
    policies = sorted({p for _, p in points if p != "full"})
    (whole,) = analyse(rows, n_boot=0)
    cells = {(c.width, c.policy, c.fraction): c for c in whole.cells}
    out = []
    for width in widths:
        (analysis,) = analyse([r for r in rows if int(r["width"]) == width],
                              target=float(target), n_boot=0)  # fmt: skip
        reach = {row.label.split(" · ")[0]: row.reach for row in analysis.table}
        for policy in policies:
            pts = points[(width, policy)] + points[(width, "full")]
            n = np.array([p[0] for p in pts], dtype=float)
            err = np.array([p[1] for p in pts])
            fit = fit_power_law(n, err, n_boot=200, seed=0)
            gains = {}
            for fraction in (0.1, 0.5):
                cell = cells.get((width, policy, fraction))
                if cell is not None:
                    gains[str(fraction)] = dict(
                        gain=_finite(cell.stat.mean), low=_finite(cell.stat.low),
                        high=_finite(cell.stat.high), seeds=cell.stat.n,
                        p_holm=_finite(cell.p_holm), verdict=cell.verdict,
                    )  # fmt: skip
            out.append(dict(
                model=model, width=width, parameters=parameters(model, width), policy=policy,
                b=fit.b, b_low=fit.b_low, b_high=fit.b_high, full_error=float(full[width]),
                target_error=float(target), gain_over_random=gains,
                **_reach_fields(reach.get(policy)),
            ))  # fmt: skip
    return out


def studies(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`study` of each model in ``runs`` (MLP first)."""
    models = sorted({r["model"] for r in runs}, key=lambda m: (m != "mlp", m))
    return [row for m in models for row in study([r for r in runs if r["model"] == m])]


def table(runs: list[dict[str, Any]]) -> str:
    """The Markdown table of the docs, from the raw runs alone."""
    seeds = sorted({r["seed"] for r in runs})
    lines = [
        f"MNIST-1D, {runs[0]['n_train']:,} training examples, {int(runs[0]['steps']):,} steps "
        f"per run, {len(seeds)} seeds. Gain over random: random's test error minus the "
        "policy's at the same kept fraction, in points, paired by seed (95% t-interval; "
        "**bold** where it survives Holm's correction over every cell of that model's sweep). "
        "Examples to target: where the mean curve first reaches the smallest width's "
        "full-data error, within the measured sizes, with a seed-bootstrap 95% interval.",
        "",
        "| model | width | parameters | full-data error | policy | exponent b [95%] "
        "| examples to target | gain at 10% kept | gain at 50% kept |",
        "|---|---:|---:|---:|---|---|---|---:|---:|",
    ]
    for r in studies(runs):
        cells = []
        for fraction in ("0.1", "0.5"):
            g = r["gain_over_random"].get(fraction)
            if g is None or r["policy"] == "random" or g["low"] is None:
                cells.append("—" if g is None or g["gain"] is None else f"{100 * g['gain']:+.1f}")
                continue
            text = f"{100 * g['gain']:+.1f} [{100 * g['low']:+.1f}, {100 * g['high']:+.1f}]"
            cells.append(f"**{text}**" if (g["p_holm"] or 1.0) <= 0.05 else text)
        lines.append(
            f"| {r['model']} | {r['width']} | {r['parameters']:,} | {r['full_error']:.3f} | "
            f"{r['policy']} | {r['b']:.2f} [{r['b_low']:.2f}, {r['b_high']:.2f}] | "
            f"{_examples_text(r)} | {cells[0]} | {cells[1]} |"
        )
    return "\n".join(lines) + "\n"


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
    parser.add_argument("stores", nargs="*", type=existing_store,
                        help="one results store per model, swept over --width")  # fmt: skip
    parser.add_argument("--out", type=out_dir, default=Path("docs/evidence/width"),
                        help="folder for runs.jsonl, width_study.json, table.md and the "
                             "figure")  # fmt: skip
    parser.add_argument("--tables-only", action="store_true",
                        help="rebuild table and figure from --out/runs.jsonl")  # fmt: skip
    args = parser.parse_args()
    if args.tables_only == bool(args.stores):
        raise ScriptError("give the stores, or --tables-only (not both)")
    if args.stores:
        runs = read_stores(args.stores)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    runs = read_runs(args.out)
    text = table(runs)
    print(text)
    (args.out / "table.md").write_text(text)
    rows = studies(runs)
    (args.out / "width_study.json").write_text(json.dumps(rows, indent=2, allow_nan=False) + "\n")
    _figure(rows, args.out / "width_study.png")


def _figure(table: list[dict[str, Any]], path: Path) -> None:
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
    fig.suptitle(f"MNIST-1D: model size vs data needed (el2n {' / '.join(policies)} "
                 "vs random)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path.parent}: runs.jsonl, table.md, width_study.json, {path.name}")


if __name__ == "__main__":
    run(main, Path(__file__).name)
