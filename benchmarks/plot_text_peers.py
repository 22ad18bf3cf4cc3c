"""Draw ``docs/figures/text_peers.png`` from the benchmark results of one session.

Reads ``benchmarks/results/text_encoders.json`` (``bench_text_encoders.py``),
``minhash_peers.json`` (``bench_minhash_peers.py``) and ``semhash.json``
(``bench_semhash.py``); draws documents per second on one core for each, side by side.

Usage::

    python benchmarks/plot_text_peers.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path("benchmarks/results")
OUT = Path("docs/figures/text_peers.png")


def main() -> None:
    encoders = json.loads((RESULTS / "text_encoders.json").read_text())
    minhash = json.loads((RESULTS / "minhash_peers.json").read_text())
    semhash = json.loads((RESULTS / "semhash.json").read_text())
    panels = [
        (
            "text encoders (embed only)",
            {name: rate for name, rate in encoders["docs_per_s"].items()},
            True,
        ),
        (
            "MinHash signatures, text in",
            {k.replace(" (", "\n("): v for k, v in minhash["docs_per_s_one_core"].items()},
            False,
        ),
        (
            "semantic dedup, texts in (static model)",
            {
                "lessdata CLI": semhash["end_to_end"]["lessdata_cli_docs_per_s"],
                "lessdata API": semhash["end_to_end"]["lessdata_api_docs_per_s"],
                "semhash": semhash["end_to_end"]["semhash_docs_per_s"],
            },
            False,
        ),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    for ax, (title, values, log) in zip(axes, panels, strict=True):
        names = list(values)
        colors = ["#1f77b4" if n.startswith(("lessdata", "static")) else "#999999" for n in names]
        bars = ax.barh(names, [values[n] for n in names], color=colors)
        ax.bar_label(bars, labels=[f"{values[n]:,.0f}" for n in names], padding=3, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("documents / s on one core")
        if log:
            ax.set_xscale("log")
        ax.invert_yaxis()
        ax.margins(x=0.25)
    fig.suptitle("lessdata (blue) beside its peers: same documents, one core (CPU time), one "
                 "run each; peers given their fastest call")  # fmt: skip
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=120)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
