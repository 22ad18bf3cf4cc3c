"""Text formatting shared by the HTML page and the terminal view, so both read the same."""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_SPACES = re.compile(r"\s+")

#: Metadata keys shown first, in this order; any others follow alphabetically.
META_ORDER = ("command", "input", "policy", "keep", "seed", "k", "eps", "metrics")

MISSING = "—"


def clean_text(text: Any, limit: int | None = None) -> str:
    """User text as one safe line: control characters and newlines become single spaces.

    Stops terminal escape sequences and stray NULs in previews from reaching the output.
    HTML escaping is still the caller's job.
    """
    if text is None:
        return ""
    line = _SPACES.sub(" ", _CONTROL.sub(" ", str(text))).strip()
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 1, 0)] + "…"
    return line


def value(item: Any) -> str:
    """An id or label for display (``—`` when null)."""
    return MISSING if item is None else clean_text(item)


def score(number: float | None) -> str:
    """A score with four significant digits."""
    return MISSING if number is None else f"{number:.4g}"


def count(number: int | None) -> str:
    """An integer with thousands separators."""
    return MISSING if number is None else f"{number:,}"


def percent(part: int | None, whole: int | None) -> str:
    """``part`` as a percentage of ``whole``."""
    if part is None or not whole:
        return MISSING
    return f"{100.0 * part / whole:.1f}%"


def kept_flag(kept: bool | None) -> str:
    """Kept / pruned for a row."""
    return MISSING if kept is None else ("kept" if kept else "pruned")


def meta_items(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's metadata as (key, text) pairs, the well-known keys first."""
    keys = [k for k in META_ORDER if k in meta] + sorted(k for k in meta if k not in META_ORDER)
    items = []
    for key in keys:
        item = meta[key]
        if isinstance(item, list) and all(isinstance(x, str) for x in item):
            text = ", ".join(item)
        elif isinstance(item, str):
            text = item
        else:
            text = json.dumps(item, ensure_ascii=False, default=str)
        items.append((clean_text(key), clean_text(text, limit=300)))
    return items
