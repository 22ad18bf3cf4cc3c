"""The files of a duplicate index folder: what ``index.json`` records, and the checks that
run before an index is used.

An index is read by every run against it, often long after it was built and maybe copied
between machines, so :func:`read_index` refuses, before any work and in one line naming the
file, whatever would otherwise end in a traceback or, worse, in silently wrong matches:

1. ``index.json``: valid JSON of this format and version, unedited (it carries a SHA-256
   ``digest`` of its own content: an index's settings decide how new documents are hashed,
   so an edit such as ``near.ngram`` 5 → 3 would make every comparison meaningless), with
   every key of the right type and range;
2. every file (the ``.npy`` arrays and ``ids.parquet``) present, regular and of the size
   and SHA-256 recorded at build time (a truncated, cut or replaced file);
3. every array of the dtype and shape that ``index.json`` implies (``signatures`` has one
   row per id and ``num_perm`` columns, ``embeddings`` the index's ``dim`` ...) and its
   values in range (row numbers within the ids, sorted band keys, cluster offsets that
   cover the rows, finite embeddings); ids are non-null, unique strings.

Step 3 also catches a folder whose checksums were recomputed by another writer. Checking
costs one read of the folder (SHA-256, on a few threads: measured 0.8 s in all, 0.65 s of
it hashing, for a 100k-document exact + near + semantic index of 300 MB on a busy 2-core
machine, the files in the page cache), small beside reading and MinHashing the new corpus.

An index of version 1 (before checksums and source fingerprints) is refused with the command
that rebuilds it: it cannot be checked, and the damage this module exists to catch would go
unnoticed in it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata.data.fingerprint import check_checksums
from lessdata.data.tables import CORPUS_FORMATS
from lessdata.errors import LessdataError

INDEX_FORMAT = "lessdata-duplicate-index"
#: 2: file checksums, a digest of index.json and the source's fingerprint (1 had none)
INDEX_VERSION = 2
INDEX_FILE = "index.json"
IDS_FILE = "ids.parquet"
#: per method, the arrays it needs (``<name>.npy``)
METHOD_ARRAYS = {
    "exact": ("hashes", "hash_rows"),
    "near": ("signatures", "band_keys", "band_rows"),
    "semantic": ("centroids", "embeddings", "embedding_rows", "cluster_starts"),
}
#: the arrays an index folder may hold
ARRAYS = tuple(name for names in METHOD_ARRAYS.values() for name in names)
#: per method, its settings in index.json and their types
METHOD_SETTINGS: dict[str, dict[str, type]] = {
    "exact": {},
    "near": {"ngram": int, "num_perm": int, "seed": int, "bands": int, "rows": int},
    "semantic": {"encoder": str, "k": int, "seed": int, "dim": int},
}
#: what identifies the source corpus (:func:`lessdata.data.fingerprint.fingerprint_source`)
SOURCE_KEYS: dict[str, type | tuple[type, ...]] = {
    "path": str, "format": str, "extensions": (list, type(None)), "files": int, "bytes": int,
    "stamp": str, "sha256": str,
}  # fmt: skip
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REBUILD = "rebuild it with `lessdata index build`"


def digest_of(meta: dict[str, Any]) -> str:
    """The SHA-256 of ``meta`` without its ``digest`` key, as canonical JSON."""
    body = {k: v for k, v in meta.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _damaged(where: Path | str, what: str) -> LessdataError:
    return LessdataError(f"{where}: {what}; the index is damaged: {_REBUILD}", param="against")


# --- index.json ----------------------------------------------------------------------------


def read_meta(folder: Path) -> dict[str, Any]:
    """``index.json`` of ``folder``, parsed and checked (steps 1 of the module docstring)."""
    path = folder / INDEX_FILE
    if path.is_symlink() or not path.is_file():
        raise LessdataError(f"{folder} is not a lessdata index (no {INDEX_FILE})", param="against")
    try:
        meta = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise _damaged(path, f"not readable JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
        raise LessdataError(
            f"{folder} is not a lessdata index ({INDEX_FILE} is not of format {INDEX_FORMAT})",
            param="against",
        )
    version = meta.get("version")
    if version == 1:
        raise LessdataError(
            f"{folder} was built by an earlier lessdata (index version 1, which records no "
            "checksums of its files and no fingerprint of its source, so it cannot be checked); "
            f"{_REBUILD}",
            param="against",
        )
    if version != INDEX_VERSION:
        raise LessdataError(
            f"{folder} is an index of version {version!r}; this lessdata reads version "
            f"{INDEX_VERSION}: {_REBUILD}",
            param="against",
        )
    try:
        same = meta.get("digest") == digest_of(meta)
    except ValueError:  # NaN or infinity written into it
        same = False
    if not same:
        raise _damaged(path, "was edited after the index was built (its digest differs)")
    check_meta(path, meta)
    return meta


def check_meta(path: Path, meta: dict[str, Any]) -> None:
    """Every key of ``meta`` there, of its type and in range; raise naming the first not."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise _damaged(path, what)

    source = meta.get("source")
    need(isinstance(source, dict), "`source` is not an object")
    for key, kind in SOURCE_KEYS.items():
        need(isinstance(source.get(key), kind), f"source.{key} is missing or of the wrong type")
    need(source["format"] in CORPUS_FORMATS, f"source.format {source['format']!r} is unknown")
    extensions = source["extensions"] or []
    need(all(isinstance(e, str) for e in extensions), "source.extensions are not all text")
    rows = meta.get("rows")
    need(_is_int(rows) and rows >= 1, f"rows is {rows!r}, not a positive integer")
    methods = meta.get("methods")
    need(isinstance(methods, dict) and len(methods) > 0, "`methods` is not a non-empty object")
    for method, settings in methods.items():
        need(method in METHOD_SETTINGS, f"unknown method {method!r} in `methods`")
        need(isinstance(settings, dict), f"methods.{method} is not an object")
        wanted = METHOD_SETTINGS[method]
        need(set(settings) == set(wanted), f"methods.{method} has keys {sorted(settings)}, "
             f"not {sorted(wanted)}")  # fmt: skip
        for key, kind in wanted.items():
            value = settings[key]
            ok = _is_int(value) if kind is int else isinstance(value, kind)
            need(ok, f"methods.{method}.{key} is {value!r}, not of type {kind.__name__}")
            if kind is int and key != "seed":
                need(value >= 1, f"methods.{method}.{key} is {value!r}, not positive")
    if "near" in methods:
        near = methods["near"]
        need(near["bands"] * near["rows"] <= near["num_perm"],
             "methods.near: bands x rows exceeds num_perm")  # fmt: skip
    arrays = meta.get("arrays")
    wanted_arrays = sorted(a for m in methods for a in METHOD_ARRAYS[m])
    need(arrays == wanted_arrays, f"arrays is {arrays!r}, but its methods need {wanted_arrays}")
    files = meta.get("files")
    names = sorted([f"{a}.npy" for a in wanted_arrays] + [IDS_FILE])
    need(isinstance(files, dict) and sorted(files) == names, f"files does not list {names}")
    for name, record in files.items():
        ok = isinstance(record, dict) and _is_int(record.get("bytes"))
        ok = (
            ok
            and isinstance(record.get("sha256"), str)
            and bool(_HEX64.fullmatch(record["sha256"]))
        )
        need(ok, f"files.{name} is not {{bytes, sha256}}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- the files -----------------------------------------------------------------------------


def check_files(folder: Path, meta: dict[str, Any]) -> None:
    """Every file of the index there, regular, of its recorded size and SHA-256 (step 2)."""
    try:
        problem = check_checksums(folder, meta["files"])
    except OSError as exc:
        raise LessdataError(f"{folder}: a file of the index cannot be read ({exc})",
                            param="against") from None  # fmt: skip
    if problem is None:
        return
    name, what = problem
    path = folder / name
    if what == "missing":
        raise LessdataError(
            f"{path} is missing: the index is incomplete; {_REBUILD}", param="against"
        )
    if what == "size":
        record = meta["files"][name]["bytes"]
        raise _damaged(path, f"{path.stat().st_size:,} bytes where the index recorded "
                             f"{record:,} (cut, grown or replaced)")  # fmt: skip
    if what == "checksum":
        raise _damaged(path, "its SHA-256 differs from the one recorded at build time")
    raise _damaged(path, what)


def load_ids(folder: Path, rows: int) -> pa.Array:
    """The index's ids: ``rows`` unique, non-null strings."""
    path = folder / IDS_FILE
    try:
        table = pq.read_table(path)
    except (OSError, ValueError, EOFError, pa.ArrowException) as exc:
        raise _damaged(path, f"not a readable Parquet file ({exc})") from None
    if "id" not in table.column_names:
        raise _damaged(path, "no `id` column")
    ids = table.column("id").combine_chunks()
    if not pa.types.is_string(ids.type) or ids.null_count or len(ids) != rows:
        raise _damaged(path, f"ids are {len(ids)} {ids.type} values with {ids.null_count} "
                             f"missing, where index.json says {rows} strings")  # fmt: skip
    if pc.count_distinct(ids).as_py() != rows:
        raise _damaged(path, "an id repeats")
    return ids


def load_array(folder: Path, name: str) -> np.ndarray:
    """``<name>.npy`` memory-mapped (data only, never a pickle)."""
    path = folder / f"{name}.npy"
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # EOFError: a file cut short
        raise _damaged(path, f"not a readable .npy array ({exc})") from None


# --- the arrays ----------------------------------------------------------------------------


def check_arrays(folder: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Each array of the dtype, shape and value range ``meta`` implies (step 3)."""
    n = meta["rows"]
    methods = meta["methods"]

    def shaped(name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        array = arrays[name]
        if array.dtype != np.dtype(dtype) or array.shape != shape:
            raise _damaged(folder / f"{name}.npy", f"a {array.dtype} array of shape "
                           f"{array.shape} where the index needs {dtype} {shape}")  # fmt: skip
        return array

    def valid(name: str, ok: Callable[[], bool], what: str) -> None:
        if arrays[name].size and not ok():
            raise _damaged(folder / f"{name}.npy", what)

    rows_in_range = f"holds row numbers outside 0..{n - 1}"
    if "exact" in methods:
        hashes = shaped("hashes", "uint64", (n, 2))
        hash_rows = shaped("hash_rows", "int64", (n,))
        valid("hashes", lambda: _ascending(hashes[:, 0]), "is not sorted")
        valid("hash_rows", lambda: _within(hash_rows, n), rows_in_range)
    if "near" in methods:
        near = methods["near"]
        shaped("signatures", "uint32", (n, near["num_perm"]))
        keys = shaped("band_keys", "uint64", (near["bands"], n))
        band_rows = shaped("band_rows", "int64", (near["bands"], n))
        valid("band_keys", lambda: _ascending(keys),
              "is not sorted within each band")  # fmt: skip
        valid("band_rows", lambda: _within(band_rows, n), rows_in_range)
    if "semantic" in methods:
        k, dim = methods["semantic"]["k"], methods["semantic"]["dim"]
        centroids = shaped("centroids", "float32", (k, dim))
        embeddings = shaped("embeddings", "float32", (n, dim))
        embedding_rows = shaped("embedding_rows", "int64", (n,))
        starts = shaped("cluster_starts", "int64", (k + 1,))
        for name, values in (("centroids", centroids), ("embeddings", embeddings)):
            valid(name, lambda values=values: bool(np.isfinite(values).all()),
                  "holds NaN or infinite values")  # fmt: skip
        valid("embedding_rows", lambda: _within(embedding_rows, n), rows_in_range)
        valid("cluster_starts",
              lambda: starts[0] == 0 and starts[-1] == n and _ascending(starts),
              f"does not run from 0 to {n} without going back")  # fmt: skip


def _ascending(values: np.ndarray) -> bool:
    """True when every row of ``values`` (or the 1-D ``values``) never decreases (compared,
    not subtracted: a difference of unsigned values would wrap around)."""
    return bool((values[..., 1:] >= values[..., :-1]).all())


def _within(values: np.ndarray, n: int) -> bool:
    """True when every value lies in ``0..n-1``."""
    return bool(values.min() >= 0 and values.max() < n)
