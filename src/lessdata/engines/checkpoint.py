"""Shard checkpoints: finished shards stored as data, never as pickles.

A step's result (NumPy arrays, Arrow arrays and tables, numbers, strings, lists, tuples,
dicts and lessdata's own dataclasses of those) is written as one ``.npz`` file: the arrays
as members read back with ``allow_pickle=False``, the structure as standard JSON (a
non-finite float is a tagged string, not ``NaN``), and a SHA-256 of both. Loading such a
file cannot run code, so a checkpoint folder on shared storage (as the Ray guidance
suggests) is safe to read. A file that is truncated, altered or unreadable
fails its checksum; the engine then says so and recomputes that shard.

Files are written atomically (a temporary sibling, fsynced, renamed), so a killed writer
leaves either the previous state or the whole new file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.data.atomic import atomic_path
from lessdata.data.standard_json import dumps_standard

#: the members of a checkpoint file that are not the step's arrays
_TREE, _DIGEST = "__tree__", "__sha256__"
#: how the tree spells a non-finite float (standard JSON has no literal for them)
_NON_FINITE = ("nan", "inf", "-inf")


class DamagedCheckpoint(Exception):
    """A checkpoint file that cannot be trusted: unreadable, truncated or altered."""


class ShardCheckpoint:
    """Finished shards of one step, one ``.npz`` file each, written atomically.

    ``folder`` should be specific to the step and its inputs (the callers name it by a hash
    of both, see :func:`lessdata.engines.base.fingerprint`), so a resumed run never reads
    another run's shards.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, index: int) -> Path:
        """The file of shard ``index``."""
        return self.folder / f"shard-{index:06d}.npz"

    def done(self, index: int) -> bool:
        """True when shard ``index`` has a file (:meth:`load` still checks it)."""
        return self.path(index).is_file()

    def load(self, index: int) -> Any:
        """The stored result of shard ``index``; :class:`DamagedCheckpoint` when the file
        fails its checksum or cannot be read."""
        return decode_file(self.path(index))

    def save(self, index: int, result: Any) -> None:
        """Store ``result`` as shard ``index`` (atomically, fsynced)."""
        data = encode(result)
        with atomic_path(self.path(index), fsync=True) as tmp:
            tmp.write_bytes(data)

    def clear(self) -> None:
        """Remove the folder once the step's result is safely stored elsewhere."""
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the format ----------------------------------------------------------------------------


def encode(result: Any) -> bytes:
    """``result`` as the bytes of a checkpoint file (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    tree = dumps_standard(_to_tree(result, arrays)).encode("utf-8")
    members = {_TREE: np.frombuffer(tree, dtype=np.uint8), **arrays}
    members[_DIGEST] = np.frombuffer(_digest(members).encode("ascii"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


def decode_file(path: Path) -> Any:
    """The result stored in the checkpoint file ``path``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DamagedCheckpoint(f"{path}: unreadable ({exc})") from None
    stored = members.pop(_DIGEST, None)
    if stored is None or _TREE not in members:
        raise DamagedCheckpoint(f"{path}: not a lessdata checkpoint")
    if bytes(stored).decode("ascii", "replace") != _digest(members):
        raise DamagedCheckpoint(f"{path}: checksum mismatch")
    try:
        tree = json.loads(bytes(members.pop(_TREE)).decode("utf-8"))
        return _from_tree(tree, members)
    except (ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise DamagedCheckpoint(f"{path}: malformed ({exc})") from None


def _digest(members: dict[str, np.ndarray]) -> str:
    """SHA-256 over every member's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(members):
        array = np.ascontiguousarray(members[name])
        h.update(repr((name, array.dtype.str, array.shape)).encode())
        h.update(array.tobytes())
    return h.hexdigest()


def _to_tree(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """A JSON tree for ``value``; arrays are set aside in ``arrays`` under fresh names."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(float(value))}  # standard JSON has no nan or inf: tagged
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("a checkpoint cannot store arrays of Python objects")
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"ndarray": name}
    if isinstance(value, (pa.Array, pa.ChunkedArray, pa.Table, pa.RecordBatch)):
        name = f"a{len(arrays)}"
        arrays[name] = np.frombuffer(_arrow_bytes(value), dtype=np.uint8)
        kind = (
            type(value).__name__
            if isinstance(value, (pa.Table, pa.RecordBatch))
            else ("ChunkedArray" if isinstance(value, pa.ChunkedArray) else "Array")
        )
        return {"arrow": name, "kind": kind}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith("lessdata."):
            raise TypeError(f"a checkpoint stores lessdata's dataclasses only, not {cls}")
        fields = {
            f.name: _to_tree(getattr(value, f.name), arrays) for f in dataclasses.fields(value)
        }
        return {"dataclass": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_to_tree(v, arrays) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _to_tree(v, arrays) for k, v in value.items()}}
    raise TypeError(f"a checkpoint cannot store {type(value).__name__}")


def _arrow_bytes(value: Any) -> bytes:
    """An Arrow array or table as an IPC stream (an array as a one-column table)."""
    if isinstance(value, pa.RecordBatch):
        value = pa.Table.from_batches([value])
    if not isinstance(value, pa.Table):
        value = pa.table({"v": value})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, value.schema) as writer:
        writer.write_table(value)
    return sink.getvalue().to_pybytes()


def _from_tree(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value :func:`_to_tree` made ``tree`` of."""
    if not isinstance(tree, dict):
        return tree
    if "ndarray" in tree:
        return arrays[tree["ndarray"]]
    if "arrow" in tree:
        table = pa.ipc.open_stream(pa.py_buffer(arrays[tree["arrow"]].tobytes())).read_all()
        kind = tree["kind"]
        if kind == "Table":
            return table
        if kind == "RecordBatch":
            return table.combine_chunks().to_batches()[0]
        column = table.column(0)
        return column if kind == "ChunkedArray" else column.combine_chunks()
    if "dataclass" in tree:
        module, _, name = tree["dataclass"].partition(":")
        if not module.startswith("lessdata."):
            raise ValueError(f"refusing to rebuild {tree['dataclass']}: not a lessdata class")
        cls = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        if not dataclasses.is_dataclass(cls):
            raise ValueError(f"{tree['dataclass']} is not a dataclass")
        return cls(**{k: _from_tree(v, arrays) for k, v in tree["fields"].items()})
    if "list" in tree:
        return [_from_tree(v, arrays) for v in tree["list"]]
    if "tuple" in tree:
        return tuple(_from_tree(v, arrays) for v in tree["tuple"])
    if "dict" in tree:
        return {k: _from_tree(v, arrays) for k, v in tree["dict"].items()}
    if "float" in tree:
        if tree["float"] not in _NON_FINITE:
            raise ValueError(f"unknown float {tree['float']!r}")
        return float(tree["float"])
    raise ValueError(f"unknown node {sorted(tree)}")
