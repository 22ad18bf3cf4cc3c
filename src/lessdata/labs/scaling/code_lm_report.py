"""The code-LM report: held-out bits per byte against data kept and against tokens trained.

Left panel: the final held-out loss of each selection against the tokens (bytes) it kept,
one point per kept fraction (mean over seeds, the seeds' range as error bars), with the full
pool as the reference: selections keep equal numbers of documents (or, with the ``tokens``
budget, equal bytes: the points then line up on one vertical per fraction). Right
panel: the learning curves (held-out loss against training tokens seen) at the smallest
kept fraction, where the selections differ most. The HTML page adds the table of runs and
each selection's difference to random at the same fraction.

The module runs top down: the analysis (:func:`summarize_runs`, :func:`loss_vs_random`,
:func:`smallest_fraction`: numbers only, no matplotlib, no HTML), the figure
(:func:`render_png`), the page (:func:`render_html`) and :func:`write_code_lm_report`, which
writes the files. It is small enough to stay one module; the scaling report's larger
equivalents are :mod:`~lessdata.labs.scaling.analysis`, ``figures`` and ``report``.
"""

from __future__ import annotations

import base64
import io
import json
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from lessdata._version import __version__
from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.labs.scaling.code_lm import MODEL, TASK
from lessdata.labs.scaling.store import FULL, ResultsStore
from lessdata.report.html import BASE_CSS, html_table

PLOT_NAME = "code_lm.png"
HTML_NAME = "code_lm.html"
_COLOURS = {
    "full": "black", "random": "#7f7f7f", "dedup": "#1f77b4", "prototypes": "#2ca02c",
    "perplexity": "#d62728", "dsir": "#9467bd", "classifier": "#ff7f0e",
    "dsir-lengths": "#c5b0d5",
}  # fmt: skip

Summary = dict[tuple[str, float], dict[str, Any]]


# --- analysis ----------------------------------------------------------------------------


def summarize_runs(rows: list[dict[str, Any]]) -> Summary:
    """``(selection, fraction)`` → mean/min/max loss, kept documents and bytes, histories."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["task"] != TASK or row["model"] != MODEL or row["status"] != "ok":
            continue
        selection = "full" if row["policy"] == FULL else row.get("selection") or row["policy"]
        groups[(selection, float(row["keep"]))].append(row)
    out = {}
    for key, members in groups.items():
        losses = np.array([float(m["loss"]) for m in members])
        out[key] = dict(
            loss=float(losses.mean()), low=float(losses.min()), high=float(losses.max()),
            seeds=len(members), n_kept=int(members[0]["n_kept"]),
            kept_bytes=int(np.mean([m.get("kept_bytes", 0) for m in members])),
            epochs=float(np.mean([m.get("epochs", 0.0) for m in members])),
            histories=[_history(m) for m in members],
        )  # fmt: skip
    return out


def _history(row: dict[str, Any]) -> list[tuple[int, float]]:
    history = row.get("history")
    if isinstance(history, str):
        history = json.loads(history)
    return [(int(t), float(v)) for t, v in history or []]


def loss_vs_random(summary: Summary) -> dict[tuple[str, float], float | None]:
    """Each run's mean loss minus random's at the same fraction (None: no random, or full)."""
    out: dict[tuple[str, float], float | None] = {}
    for (selection, fraction), v in summary.items():
        random = summary.get(("random", fraction)) if selection != "full" else None
        out[(selection, fraction)] = None if random is None else v["loss"] - random["loss"]
    return out


def smallest_fraction(summary: Summary) -> float | None:
    """The smallest kept fraction of a selection (not the full pool), where they differ most."""
    return min((f for s, f in summary if s != "full"), default=None)


# --- figure ------------------------------------------------------------------------------


def render_png(summary: Summary) -> bytes:
    """Held-out loss against bytes kept, and the learning curves at the smallest fraction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    selections = sorted({s for s, _ in summary if s != "full"}, key=list(_COLOURS).index)
    full = summary.get(("full", 1.0))
    for selection in selections:
        points = sorted(
            ((v["kept_bytes"], v) for (s, f), v in summary.items() if s == selection),
            key=lambda item: item[0],
        )
        x = [b for b, _ in points]
        y = np.array([v["loss"] for _, v in points])
        err = np.array([[v["loss"] - v["low"] for _, v in points],
                        [v["high"] - v["loss"] for _, v in points]])  # fmt: skip
        left.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=selection,
                      color=_COLOURS.get(selection))  # fmt: skip
    if full is not None:
        left.axhline(full["loss"], color="black", ls=":", lw=1)
        left.plot([full["kept_bytes"]], [full["loss"]], "*", color="black", ms=10,
                  label="full pool")  # fmt: skip
    left.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("training tokens kept (bytes of the selected documents)")
    left.set_ylabel("held-out bits per byte")
    left.set_title("held-out loss vs tokens kept (same training budget)", fontsize=10)
    left.legend(fontsize=8)
    smallest = smallest_fraction(summary)
    for selection in [*selections, "full"]:
        key = (selection, 1.0 if selection == "full" else smallest)
        if key not in summary:
            continue
        for i, history in enumerate(summary[key]["histories"]):
            if len(history) > 1:  # from the first evaluation after step 0 (~8 bits/byte)
                t, v = zip(*history[1:], strict=True)
                right.plot(t, v, color=_COLOURS.get(selection), lw=1.2,
                           ls=":" if selection == "full" else "-",
                           label=selection if i == 0 else None)  # fmt: skip
    right.set_xlabel("training tokens seen")
    right.set_ylabel("held-out bits per byte")
    right.set_title(f"learning curves at {smallest:g} kept (full pool dotted)", fontsize=10)
    right.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# --- HTML --------------------------------------------------------------------------------


def render_html(summary: Summary, png: bytes, meta: Any) -> str:
    """The page: the plot inline, a table of runs (with the difference to random), settings."""
    vs_random = loss_vs_random(summary)
    rows = []
    for (selection, fraction), v in sorted(summary.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        difference = vs_random[(selection, fraction)]
        delta = "—" if difference is None else f"{difference:+.4f}"
        rows.append(
            f"<td>{escape(selection)}</td><td class='num'>{fraction:g}</td>"
            f"<td class='num'>{v['n_kept']:,}</td><td class='num'>{v['kept_bytes']:,}</td>"
            f"<td class='num'>{v['epochs']:.2f}</td><td class='num'>{v['seeds']}</td>"
            f"<td class='num'>{v['loss']:.4f}</td><td class='num'>{v['low']:.4f}–{v['high']:.4f}"
            f"</td><td class='num'>{delta}</td>"
        )
    header = ["selection", "kept", "documents", "bytes", "epochs", "seeds", "bits/byte",
              "range", "vs random"]  # fmt: skip
    image = base64.b64encode(png).decode("ascii")
    settings = escape(json.dumps(meta, indent=1, default=str))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lessdata code-LM experiment</title>
<style>{BASE_CSS} pre {{ font-size: 12px; }}</style></head><body>
<h1>Which Python code does a tiny LM need?</h1>
<p>Held-out bits per byte of a byte-level LM trained for the same number of tokens on each
selection of the pool (lower is better); held-out and target files are disjoint from the pool.</p>
<img class="plot" alt="held-out loss vs data kept, and learning curves"
 src="data:image/png;base64,{image}">
<h2>Runs</h2>
{html_table(header, rows, numeric=tuple(range(1, 9)))}
<h2>Settings</h2><pre>{settings}</pre>
<footer class="note">lessdata {escape(__version__)}</footer>
</body></html>
"""


# --- the report files --------------------------------------------------------------------


def write_code_lm_report(out: str | Path) -> dict[str, Path]:
    """Read the experiment's store in ``out`` and write ``code_lm.png`` and ``code_lm.html``."""
    folder = Path(out)
    if not (folder / "results.sqlite").exists():
        raise LessdataError(f"{folder}: no results.sqlite; run `lessdata scale code-lm` first")
    with ResultsStore(folder) as store:
        rows, meta = store.rows(), store.meta()
    summary = summarize_runs(rows)
    if not summary:
        raise LessdataError(f"{folder}: no finished code-LM runs yet")
    png = render_png(summary)
    paths = {"plot": folder / PLOT_NAME, "html": folder / HTML_NAME}
    with atomic_path(paths["plot"]) as tmp:
        tmp.write_bytes(png)
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(render_html(summary, png, meta), encoding="utf-8")
    return paths
