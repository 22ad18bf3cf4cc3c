"""Figure helpers shared by the ICL reports: colours, a headless pyplot, PNG bytes."""

from __future__ import annotations

import io
from typing import Any

COLOURS = {
    "transformer": "#d62728", "ridge": "#1f77b4", "dmmse": "#2ca02c",
    "least-squares": "#7f7f7f", "averaging": "#9467bd", "knn": "#8c564b",
    "one-step-gd": "#e377c2", "gd-network": "#bcbd22",
}  # fmt: skip


def plt() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def png(fig: Any) -> bytes:
    """The figure as PNG bytes (tight layout, 110 dpi); the figure is closed."""
    import matplotlib.pyplot as pyplot

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    pyplot.close(fig)
    return buffer.getvalue()
