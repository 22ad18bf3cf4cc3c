"""Standard JSON for everything lessdata writes.

Python's :mod:`json` writes ``NaN``, ``Infinity`` and ``-Infinity`` by default, which the
JSON standard (RFC 8259) does not allow: JavaScript's ``JSON.parse``, ``jq`` and many other
parsers refuse the whole document. Every JSON text lessdata writes (manifest settings,
output markers, ``index.json``, parts metadata, lab exports) goes through
:func:`dumps_standard`, which writes a non-finite float as ``null`` ("no finite value") and
refuses, rather than writes, anything else that is not standard JSON.

Where a non-finite value must survive a round trip (shard checkpoints), the writer encodes
it itself (see :mod:`lessdata.engines.checkpoint`) before calling :func:`dumps_standard`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def to_standard_json(value: Any) -> Any:
    """A copy of ``value`` that :func:`json.dumps` writes as standard JSON.

    Non-finite floats (``nan``, ``inf``, ``-inf``, NumPy's too) become ``None``; NumPy
    scalars and arrays become Python numbers and lists; tuples become lists. Other objects
    are returned unchanged (a ``default=`` of :func:`dumps_standard` may convert them).

    Args:
        value: a tree of dicts, lists, tuples, numbers, strings, None and NumPy values.

    Example:
        >>> to_standard_json({"threshold": float("-inf"), "sizes": (1, 2.5)})
        {'threshold': None, 'sizes': [1, 2.5]}
    """
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.generic):
        return to_standard_json(value.item())
    if isinstance(value, np.ndarray):
        return to_standard_json(value.tolist())
    if isinstance(value, Mapping):
        return {key: to_standard_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_standard_json(item) for item in value]
    return value


def dumps_standard(
    value: Any, *, default: Callable[[Any], Any] | None = None, **kwargs: Any
) -> str:
    """``value`` as a standard JSON text: non-finite floats are written as ``null``.

    Args:
        value: what to write (see :func:`to_standard_json`).
        default: converts objects JSON has no type for (as :func:`json.dumps`'s); what it
            returns is made standard too.
        **kwargs: other options of :func:`json.dumps` (``indent``, ``sort_keys``, ...);
            ``allow_nan`` is always False.

    Raises:
        ValueError: a non-finite float that the conversion could not reach (a bug, never
            written silently).

    Example:
        >>> dumps_standard({"semantic_threshold": float("-inf"), "k": 3})
        '{"semantic_threshold": null, "k": 3}'
    """
    kwargs.pop("allow_nan", None)
    convert = None
    if default is not None:

        def convert(obj: Any) -> Any:
            return to_standard_json(default(obj))

    return json.dumps(to_standard_json(value), allow_nan=False, default=convert, **kwargs)
