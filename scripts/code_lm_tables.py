"""Markdown tables of the code-LM experiments for docs/findings.md (means, 95% t-intervals).

Reads two scaling-lab results stores and prints Markdown to stdout (writes no file): the
selections at equal bytes of Python (bits/byte, paired difference with random per seed), and,
when a second store is given, the Python/prose mixture. The same functions build the tables
of docs/findings.md from the runs committed under ``docs/evidence/code-mix/``
(``scripts/docs_tables.py``).

Usage:
    python scripts/code_lm_tables.py runs/code-lm-tokens runs/code-mix
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from _script_cli import ScriptError, ScriptParser, existing_store, run


def store_rows(folder: Path) -> list[dict]:
    """The runs of the results store ``folder``."""
    from lessdata.labs.scaling.store import ResultsStore

    with ResultsStore(folder) as store:
        return list(store.rows())


def selections_table(rows: list[dict], where: object = "the runs") -> str:
    """The selections table of the code-LM token-budget runs ``rows``."""
    from lessdata.labs.icl.findings import seed_stat
    from lessdata.labs.scaling.code_lm import TASK
    from lessdata.labs.scaling.store import FULL

    rows = [r for r in rows if r["task"] == TASK and r["status"] == "ok"]
    if not rows:
        raise ScriptError(f"{where} holds no finished {TASK} runs")
    groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for r in rows:
        name = "full" if r["policy"] == FULL else r.get("selection") or r["policy"]
        groups[(name, float(r["keep"]))].append(r)
    full = seed_stat([float(r["loss"]) for r in groups[("full", 1.0)]])
    fractions = sorted({f for _, f in groups if f < 1})
    lines = ["| selection (equal bytes) | seeds | " + " | ".join(
        f"{f:.0%} of the bytes: bits/byte" for f in fractions) + " |",
        "|---|---|" + "---|" * len(fractions)]  # fmt: skip
    names = sorted({n for n, _ in groups if n != "full"})
    for name in names:
        cells, seeds = [], 0
        for f in fractions:
            mine = {r["seed"]: float(r["loss"]) for r in groups.get((name, f), [])}
            base = {r["seed"]: float(r["loss"]) for r in groups.get(("random", f), [])}
            seeds = max(seeds, len(mine))
            text = seed_stat(list(mine.values())).text() if mine else "—"
            paired = [mine[s] - base[s] for s in sorted(mine) if s in base]
            if name != "random" and paired:
                text += f"; − random {seed_stat(paired).text()}"
            cells.append(text)
        lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + " |")
    lines.append(f"| full pool | {full.n} | {full.text()} |" + " |" * (len(fractions) - 1))
    return "\n".join(lines) + "\n"


def mixture_table(rows: list[dict], where: object = "the runs") -> str:
    """The Python/prose mixture table of the code-mixture runs ``rows``."""
    from lessdata.labs.scaling.code_mixture import summarize_mixture

    summary = summarize_mixture(rows)
    if not summary:
        raise ScriptError(f"{where} holds no finished code-mixture runs")
    lines = ["| prose share of the budget | seeds | Python MB | prose MB "
             "| held-out Python bits/byte | held-out prose bits/byte |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for mix, s in summary.items():
        sizes = f"{s['python_bytes'] / 1e6:.2f} | {s['prose_bytes'] / 1e6:.2f}"
        lines.append(f"| {mix:.0%} | {s['python'].n} | {sizes} | {s['python'].text()} "
                     f"| {s['prose'].text()} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument(
        "selections", type=existing_store, help="store of the code-LM token-budget sweep"
    )
    parser.add_argument(
        "mixture", type=existing_store, nargs="?", help="store of the code-mixture sweep"
    )
    args = parser.parse_args()
    print(selections_table(store_rows(args.selections), args.selections))
    if args.mixture is not None:
        print(mixture_table(store_rows(args.mixture), args.mixture))


if __name__ == "__main__":
    run(main, Path(__file__).name)
