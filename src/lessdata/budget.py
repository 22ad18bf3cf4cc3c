"""Budgets: how many examples to keep, as a fraction of N or as a count."""

from __future__ import annotations

import math

import numpy as np

from lessdata.errors import LessdataError


def parse_keep(text: str | float | int) -> float | int:
    """Read a budget as the CLI receives it: ``"0.3"`` is a fraction, ``"3000"`` a count.

    A value with a decimal point or exponent is a fraction in (0, 1]; a whole number is a count.
    """
    if isinstance(text, bool):
        raise LessdataError(
            f"keep must be a fraction in (0, 1] or a count, got {text!r}", param="keep"
        )
    if isinstance(text, (int, float, np.integer, np.floating)):
        return _plain(text)
    s = str(text).strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        raise LessdataError(
            f"keep must be a fraction in (0, 1] such as 0.5, or a count such as 1000; got {s!r}",
            param="keep",
        ) from None


def resolve_budget(keep: float | int, n: int) -> int:
    """Turn a fraction or count into the number of examples to keep out of ``n``.

    Floats are fractions of ``n`` (rounded to the nearest count), ints are counts. Raises
    :class:`LessdataError` when the budget keeps nothing or more than ``n``.
    """
    if n <= 0:
        raise LessdataError("the dataset is empty: there is nothing to select from")
    keep = _plain(keep)
    if isinstance(keep, bool):
        raise LessdataError(f"the budget must be a fraction or a count, got {keep!r}")
    if isinstance(keep, float):
        if not math.isfinite(keep) or keep <= 0 or keep > 1:
            raise LessdataError(
                f"a fractional budget must lie in (0, 1], got {keep}; "
                "pass a whole number to keep a count of examples"
            )
        count = round(keep * n)
        if count < 1:
            raise LessdataError(
                f"keeping {keep} of {n} examples keeps none; "
                f"raise the fraction to at least {1 / n:.3g}"
            )
        return count
    if isinstance(keep, int):
        if keep <= 0 or keep > n:
            raise LessdataError(
                f"a count budget must lie in 1..{n} (the dataset has {n} examples), got {keep}"
            )
        return keep
    raise LessdataError(f"the budget must be a fraction or a count, got {keep!r}")


def _plain(keep: object) -> object:
    """NumPy scalars as the Python numbers they hold (``np.int64(100)`` is a count)."""
    if isinstance(keep, np.integer):
        return int(keep)
    if isinstance(keep, np.floating):
        return float(keep)
    return keep


def describe_budget(keep: float | int) -> str:
    """How a budget was read, for the line a run ends with: ``a count`` or ``a fraction``."""
    return f"--keep {keep}: {'a count' if isinstance(keep, int) else 'a fraction of the data'}"


def one_is_a_count(keep: float | int) -> str | None:
    """A warning for ``--keep 1``: one example, which is seldom what was meant."""
    if isinstance(keep, int) and keep == 1:
        return "--keep 1 keeps one example (a count); write --keep 1.0 to keep them all"
    return None
