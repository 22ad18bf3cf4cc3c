"""Validation at the border: one helper family, one wording (scikit-learn's ``check_scalar``).

Every check raises :class:`~lessdata.errors.LessdataError` whose message starts with the
parameter's Python name (``seed must be a non-negative whole number, got -1``) and carries
that name as ``param``, so that the CLI can show its flag instead. NumPy scalars are
accepted wherever Python numbers are; booleans are not numbers here.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from lessdata.errors import LessdataError


def fail(name: str, wanted: str, value: Any, hint: str = "") -> LessdataError:
    """The error for parameter ``name``: ``{name} must be {wanted}, got {value!r}[; hint]``."""
    shown = value.item() if isinstance(value, np.generic) else value
    tail = f"; {hint}" if hint else ""
    return LessdataError(f"{name} must be {wanted}, got {shown!r}{tail}", param=name)


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer that is not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """True for a Python or NumPy real number that is not a bool."""
    return is_int(value) or isinstance(value, (float, np.floating))


def _int_wanted(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"a whole number in [{low}, {high}]"
    if low == 0:
        return "a non-negative whole number"
    if low == 1:
        return "a positive whole number"
    if low is not None:
        return f"a whole number >= {low}"
    if high is not None:
        return f"a whole number <= {high}"
    return "a whole number"


def check_int(
    value: Any,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    allow_none: bool = False,
    hint: str = "",
) -> Any:
    """``value`` as a Python ``int`` in ``[low, high]`` (None passes with ``allow_none``)."""
    if value is None and allow_none:
        return None
    wanted = _int_wanted(low, high)
    if not is_int(value):
        raise fail(name, wanted, value, hint)
    if (low is not None and value < low) or (high is not None and value > high):
        raise fail(name, wanted, value, hint)
    return int(value)


def _interval(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def check_float(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
    allow_none: bool = False,
    hint: str = "",
) -> Any:
    """``value`` as a finite Python ``float`` in the interval from ``low`` to ``high``.

    ``closed`` says which ends belong to the interval: ``both``, ``left``, ``right`` or
    ``neither`` (scikit-learn's ``include_boundaries``).
    """
    if value is None and allow_none:
        return None
    wanted = "a number" if low is None and high is None else "a number in "
    if low is not None or high is not None:
        wanted += _interval(low, high, closed)
    if not is_number(value) or not math.isfinite(float(value)):
        raise fail(name, wanted, value, hint)
    x = float(value)
    lo_ok = low is None or (x >= low if closed in ("both", "left") else x > low)
    hi_ok = high is None or (x <= high if closed in ("both", "right") else x < high)
    if not (lo_ok and hi_ok):
        raise fail(name, wanted, value, hint)
    return x


def check_choice(
    value: Any, name: str, choices: Collection[Any], *, allow_none: bool = False
) -> Any:
    """``value`` itself when it is one of ``choices``."""
    if value is None and allow_none:
        return None
    try:
        ok = value in choices
    except TypeError:  # unhashable
        ok = False
    if not ok:
        raise fail(name, "one of " + ", ".join(map(str, choices)), value)
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a ``bool`` (Python or NumPy booleans only)."""
    if not isinstance(value, (bool, np.bool_)):
        raise fail(name, "True or False", value)
    return bool(value)


def check_seed(seed: Any, name: str = "seed") -> int:
    """Seeds are non-negative whole numbers (NumPy's rule)."""
    return check_int(seed, name, low=0)


def check_options(given: dict[str, Any] | None, accepted: Collection[str], what: str) -> dict:
    """``given`` (None: empty) after checking that every key is one of ``accepted``.

    ``what`` names the options in the message (``metric_options of prototypes``).
    """
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise LessdataError(f"{what} must be a dict of option names to values, got {given!r}")
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        known = ", ".join(sorted(accepted)) or "none"
        raise LessdataError(
            f"{what} take no option {', '.join(unknown)}; options they take: {known}"
        )
    return dict(given)
