"""Read a dataset from disk into ids, vectors, texts and labels, without copying it into Python.

Formats: NumPy ``.npy`` / ``.npz``; Parquet, JSONL and CSV with a text and/or embedding
column; a Hugging Face ``datasets`` dataset saved with ``save_to_disk``; a folder of source
files (one document per file, or per top-level function/class with ``split="function"``;
see :mod:`lessdata.data.corpus`); and the built-in ``builtin:digits`` (scikit-learn's
handwritten digits). Vectors stay memory-mapped where
the format allows it (``.npy``, HF Arrow files), texts stay Arrow arrays, ids are an Arrow
array (the given id column, or the row number).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata.data.atomic import atomic_path
from lessdata.data.cache_dir import default_cache_dir
from lessdata.data.corpus import read_corpus
from lessdata.data.corpus_rows import CORPUS_SCHEMA, SOURCE_EXTRAS, CorpusLimits, check_text
from lessdata.data.mapped import release_pages
from lessdata.data.tables import (
    EMBEDDING_COLUMNS,
    ID_COLUMNS,
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    check_jsonl_rows,
    detect_format,
    read_csv_table,
    read_hf_table,
    read_jsonl_table,
    short_error,
)
from lessdata.errors import LessdataError
from lessdata.progress import log

NPZ_VECTOR_KEYS = ("embeddings", "embedding", "features", "vectors", "x", "X")
NPZ_LABEL_KEYS = ("labels", "label", "y", "Y", "targets", "target")
NPZ_ID_KEYS = ("ids", "id")
BUILTINS = ("builtin:digits",)

_CHUNK_ROWS = 65_536
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Dataset:
    """A loaded dataset: one row per example, in input order.

    Attributes:
        source: the path read (or ``builtin:NAME``).
        format: ``npy``, ``npz``, ``parquet``, ``jsonl``, ``csv``, ``hf``, ``source`` (a
            folder of source files) or ``builtin``.
        ids: stable example ids (Arrow array, unique): the id column, else the row number.
        vectors: ``(N, d)`` float array (possibly a read-only memory map), or None.
        texts: Arrow string array, or None.
        labels: ``(N,)`` int64 class indices, or None; ``classes`` maps them back.
        columns: the column (or npz key) names used for each role, for writing back.
        extras: further per-row columns carried into written subsets (for source folders:
            ``path``, ``start_line``, ``end_line``).
    """

    source: str
    format: str
    ids: pa.Array
    vectors: np.ndarray | None = None
    texts: pa.ChunkedArray | None = None
    labels: np.ndarray | None = None
    classes: np.ndarray | None = None
    columns: dict[str, str | None] = field(default_factory=dict)
    extras: dict[str, pa.Array] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def load(
    source: str | Path,
    *,
    text_column: str | None = None,
    embedding_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    labels: str | Path | np.ndarray | None = None,
    split: str = "file",
    extensions: tuple[str, ...] = (".py",),
) -> Dataset:
    """Load ``source`` and validate it; see the module docstring for the formats.

    Args:
        source: a path (``.npy``, ``.npz``, Parquet, JSONL, CSV, a Hugging Face
            ``save_to_disk`` folder, a folder of source files) or ``builtin:digits``.
        text_column: the column with the text (default: ``text``, ``content``, ``code``, ...).
        embedding_column: the column (or ``.npz`` array) with vectors (default:
            ``embedding``, ``vector``, ...).
        label_column: the column (or ``.npz`` array) with class labels (default: ``label``,
            ``y``, ...).
        id_column: the column with unique ids (default: ``id``, else the row number).
        labels: labels from a separate ``.npy`` file or array (for ``.npy`` inputs).
        split: for a folder of source files: each file (``"file"``) or each top-level
            function/class (``"function"``) is one example.
        extensions: for a folder of source files: the file endings to read.

    Files that cannot be used (binary, not UTF-8, empty, ...) are skipped with a note;
    ``lessdata curate`` records them in its manifest.

    Example:
        >>> ds = load("builtin:digits")
        >>> len(ds), ds.vectors.shape[1]
        (1797, 64)

    Raises:
        LessdataError: the file is missing or unreadable, a named column is absent, vectors
            are ragged, empty or not finite, ids repeat, or labels do not match the rows.
    """
    source_str = str(source)
    if source_str.startswith("builtin:"):
        if source_str not in BUILTINS:
            raise LessdataError(
                f"unknown built-in dataset {source_str!r}; choose one of {BUILTINS}"
            )
        given = [c for c in (text_column, embedding_column, label_column, id_column) if c]
        if given or labels is not None:
            raise LessdataError(
                f"{source_str} has fixed features and labels; drop the column/labels options"
            )
        ds = _load_builtin(source_str)
    else:
        path = Path(source)
        if not path.exists():
            raise LessdataError(f"{path}: no such file or directory")
        fmt = detect_format(path)
        names = dict(text=text_column, embedding=embedding_column, label=label_column, id=id_column)
        if fmt != "source" and (split != "file" or tuple(extensions) != (".py",)):
            raise LessdataError(
                f"`split` and `extensions` apply to a folder of source files, not to {fmt}"
            )
        if fmt == "source":
            if embedding_column or label_column:
                raise LessdataError("a folder of source files has no embedding or label column")
            ds = _load_source(path, split, tuple(extensions))
        elif fmt in ("npy", "npz"):
            ds = _load_numpy(path, fmt, names)
        else:
            table = _read_table(path, fmt, names)
            ds = _from_table(table, str(path), fmt, names)
    if labels is not None:
        ds.labels, ds.classes = external_labels(labels, len(ds))
    _validate(ds)
    return ds


def from_table(
    table: pa.Table,
    source: str = "<table>",
    *,
    text_column: str | None = None,
    embedding_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    labels: Any = None,
) -> Dataset:
    """A dataset from an Arrow table in memory (a pandas DataFrame's or a Hugging Face
    ``datasets.Dataset``'s), with the same column rules as a file's."""
    names = dict(text=text_column, embedding=embedding_column, label=label_column, id=id_column)
    wanted = _wanted_columns(Path(source), table.column_names, names)
    ds = _from_table(table.select(wanted), source, "table", names)
    if labels is not None:
        ds.labels, ds.classes = external_labels(labels, len(ds))
    _validate(ds)
    return ds


# --- source folders --------------------------------------------------------------------


def _load_source(path: Path, split: str, extensions: tuple[str, ...]) -> Dataset:
    """Read a folder of source files (problem files are skipped and counted in a log line)."""

    table = pa.Table.from_batches(
        list(read_corpus(path, split=split, extensions=extensions)), schema=CORPUS_SCHEMA
    )
    problems = table.filter(pc.is_valid(table["problem"]))
    if problems.num_rows:
        counts = pc.value_counts(problems["problem"]).to_pylist()
        what = ", ".join(f"{c['counts']} {c['values']}" for c in counts)
        log(f"skipped {problems.num_rows} files ({what}); lessdata curate lists them")
    table = table.filter(pc.is_null(table["problem"]))
    if table.num_rows == 0:
        raise LessdataError(f"{path}: no usable source documents (every file was skipped)")
    return Dataset(
        source=str(path),
        format="source",
        ids=table["id"].combine_chunks(),
        texts=table["text"],
        columns={"text": "text", "id": "id", "split": split},
        extras={name: table[name].combine_chunks() for name in SOURCE_EXTRAS},
    )


# --- NumPy -----------------------------------------------------------------------------


def _load_numpy(path: Path, fmt: str, names: dict[str, str | None]) -> Dataset:
    if fmt == "npy":
        if names["text"] or names["label"] or names["id"] or names["embedding"]:
            raise LessdataError(
                f"{path} is a bare .npy array with no columns; pass labels with `labels` "
                "(a .npy file), or use an .npz with named arrays"
            )
        vectors = _check_2d(open_npy(path), str(path))
        return Dataset(
            source=str(path),
            format="npy",
            ids=pa.array(np.arange(len(vectors), dtype=np.int64)),
            vectors=vectors,
        )
    if not zipfile.is_zipfile(path):
        raise LessdataError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        archive = np.load(path, allow_pickle=False)
        keys = list(archive.keys())
    except Exception as exc:
        raise LessdataError(f"{path}: not a readable .npz file ({short_error(exc)})") from None
    vec_key = _pick_key(path, keys, names["embedding"], NPZ_VECTOR_KEYS, "vectors", archive)
    label_key = _pick_key(path, keys, names["label"], NPZ_LABEL_KEYS, "labels", None)
    id_key = _pick_key(path, keys, names["id"], NPZ_ID_KEYS, "ids", None)
    try:
        vectors = archive[vec_key]
        labels_raw = archive[label_key] if label_key else None
        ids_raw = archive[id_key] if id_key else None
    except ValueError as exc:  # object arrays need pickle: ragged data
        raise LessdataError(
            f"{path}: an array holds Python objects ({short_error(exc)}); vectors must be a 2-D "
            "numeric array of equal-length rows"
        ) from None
    except Exception as exc:
        raise LessdataError(f"{path}: corrupt .npz file ({short_error(exc)})") from None
    _check_2d(vectors, f"{path}[{vec_key}]")
    ds = Dataset(
        source=str(path),
        format="npz",
        ids=_ids_from_numpy(ids_raw, len(vectors)),
        vectors=vectors,
        columns={"embedding": vec_key, "label": label_key, "id": id_key},
    )
    if labels_raw is not None:
        ds.labels, ds.classes = _encode_labels(
            pa.array(np.asarray(labels_raw)), f"{path}[{label_key}]"
        )
    return ds


def open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if any(s in str(exc) for s in ("allow_pickle", "Object arrays", "Python objects")):
            raise LessdataError(
                f"{path} holds Python objects (ragged rows?); vectors must be a 2-D numeric "
                "array of equal-length rows"
            ) from None
        raise LessdataError(f"{path}: not a readable .npy file ({short_error(exc)})") from None
    except Exception as exc:
        raise LessdataError(f"{path}: not a readable .npy file ({short_error(exc)})") from None


def _pick_key(
    path: Path,
    keys: list[str],
    given: str | None,
    candidates: tuple[str, ...],
    role: str,
    archive: Any,
) -> str | None:
    if given:
        if given not in keys:
            raise LessdataError(f"{path} has no array named {given!r} (it has {keys})")
        return given
    for key in candidates:
        if key in keys:
            return key
    if archive is not None:  # vectors are required: fall back to the only 2-D array
        two_d = [k for k in keys if len(archive[k].shape) == 2]
        if len(two_d) == 1:
            return two_d[0]
        raise LessdataError(
            f"{path}: cannot tell which array holds the {role} (arrays: {keys}); "
            "name it with `embedding_column`"
        )
    return None


def _ids_from_numpy(raw: np.ndarray | None, n: int) -> pa.Array:
    if raw is None:
        return pa.array(np.arange(n, dtype=np.int64))
    arr = np.asarray(raw)
    if arr.dtype.kind in "iu":
        return pa.array(arr.astype(np.int64))
    return pa.array(arr.astype(str))


# --- Tables (Parquet, JSONL, CSV, Hugging Face) -------------------------------------------


def _read_table(path: Path, fmt: str, names: dict[str, str | None]) -> pa.Table:
    """Read only the columns lessdata needs, as Arrow (memory-mapped where possible)."""
    try:
        if fmt == "parquet":
            schema_names = pq.ParquetFile(path).schema_arrow.names
            wanted = _wanted_columns(path, schema_names, names)
            # vectors are streamed into a memory map by _parquet_vectors, not read here
            wanted = [c for c in wanted if c != names["embedding"]]
            return pq.read_table(path, columns=wanted, memory_map=True)
        if fmt == "jsonl":
            table = read_jsonl_table(path)
            check_jsonl_rows(path, table.num_rows)
        elif fmt == "csv":
            table = read_csv_table(path)
        else:
            table = read_hf_table(path)
    except LessdataError:
        raise
    except (pa.ArrowInvalid, pa.ArrowException, OSError, json.JSONDecodeError) as exc:
        raise LessdataError(f"{path}: cannot read it as {fmt} ({short_error(exc)})") from None
    wanted = _wanted_columns(path, table.column_names, names)
    return table.select(wanted)


def _wanted_columns(path: Path, available: list[str], names: dict[str, str | None]) -> list[str]:
    chosen: dict[str, str | None] = {}
    defaults = {
        "text": TEXT_COLUMNS,
        "embedding": EMBEDDING_COLUMNS,
        "label": LABEL_COLUMNS,
        "id": ID_COLUMNS,
    }
    for role, given in names.items():
        if given:
            if given not in available:
                raise LessdataError(
                    f"{path} has no column {given!r} for the {role} (columns: {available}); "
                    f"pass `{role}_column` with one of them"
                )
            chosen[role] = given
        else:
            chosen[role] = next((c for c in defaults[role] if c in available), None)
    if not chosen["text"] and not chosen["embedding"]:
        raise LessdataError(
            f"{path} has neither a text nor an embedding column (columns: {available}); "
            "name one with `text_column` or `embedding_column`"
        )
    names.update(chosen)
    return list(dict.fromkeys(c for c in chosen.values() if c))


def _from_table(table: pa.Table, source: str, fmt: str, names: dict[str, str | None]) -> Dataset:
    n = table.num_rows
    ds = Dataset(source=source, format=fmt, ids=pa.array(np.arange(n, dtype=np.int64)))
    ds.columns = dict(names)
    if names["id"]:
        ids = table.column(names["id"]).combine_chunks()
        if ids.null_count:
            raise LessdataError(f"{source}: the id column {names['id']!r} has missing values")
        if pa.types.is_dictionary(ids.type):
            ids = ids.cast(ids.type.value_type)
        try:
            if pa.types.is_integer(ids.type):
                ids = ids.cast(pa.int64())
            elif not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
                ids = ids.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise LessdataError(
                f"{source}: the id column {names['id']!r} holds {ids.type}; ids must be "
                "whole numbers or text"
            ) from None
        if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
            check_utf8(ids, f"{source}: the id column {names['id']!r}")
        ds.ids = ids
    if names["embedding"] and fmt == "parquet":
        ds.vectors = parquet_vectors(Path(source), names["embedding"])
    elif names["embedding"]:
        ds.vectors = list_column_to_array(
            table.column(names["embedding"]), f"{source}:{names['embedding']}"
        )
    if names["text"]:
        texts = table.column(names["text"])
        if pa.types.is_dictionary(texts.type):  # e.g. a pandas categorical
            texts = texts.cast(texts.type.value_type)
        check_utf8(texts, f"{source}: the text column {names['text']!r}")
        if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
            raise LessdataError(
                f"{source}: the text column {names['text']!r} holds {texts.type}, not text"
            )
        ds.texts = pc.fill_null(texts, "")
    if names["label"]:
        ds.labels, ds.classes = _encode_labels(
            table.column(names["label"]), f"{source}:{names['label']}"
        )
    return ds


def parquet_vectors(path: Path, column: str) -> np.ndarray:
    """The embedding column of a Parquet file as a read-only memory-mapped float32 array.

    Row group by row group, the vectors are converted and written to
    ``<cache>/vectors/<key>.npy`` (key: the file's real path, size, modification time and
    the column), so memory holds one row group, never the whole column, and a second run
    maps the same file at once.
    """
    import hashlib

    stat = path.stat()
    key = hashlib.sha256(
        repr((str(path.resolve()), stat.st_size, stat.st_mtime_ns, column, "v1")).encode()
    ).hexdigest()[:32]
    target = default_cache_dir() / "vectors" / f"{key}.npy"
    where = f"{path}:{column}"
    parquet = pq.ParquetFile(path)
    n = parquet.metadata.num_rows
    if target.is_file():
        try:
            cached = np.load(target, mmap_mode="r", allow_pickle=False)
            if cached.ndim == 2 and cached.shape[0] == n and cached.dtype == np.float32:
                return cached
        except (ValueError, OSError, EOFError):
            pass  # unreadable: rebuild it
    if n == 0:
        raise LessdataError(f"{where}: the dataset is empty")
    with atomic_path(target) as tmp:
        out: np.ndarray | None = None
        row = 0
        for batch in parquet.iter_batches(batch_size=_CHUNK_ROWS, columns=[column]):
            block = list_column_to_array(batch.column(0), where, first_row=row)
            if out is None:
                shape = (n, block.shape[1])
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            elif block.shape[1] != out.shape[1]:
                raise LessdataError(
                    f"{where}: vectors are ragged: row {row} has {block.shape[1]} values, "
                    f"row 0 has {out.shape[1]}; every row needs the same length"
                )
            out[row : row + len(block)] = block
            row += len(block)
        assert out is not None
        out.flush()
        del out
    return np.load(target, mmap_mode="r", allow_pickle=False)


def list_column_to_array(
    column: pa.ChunkedArray | pa.Array, where: str, *, first_row: int = 0
) -> np.ndarray:
    """Convert a list / fixed-size-list column of numbers into an ``(N, d)`` float32 array.

    Filled chunk by chunk into one preallocated array: no Python objects per row.
    Raises LessdataError for nulls, ragged or zero-length rows and non-numeric values; row
    numbers in messages count from ``first_row`` (for a column read in pieces).
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        chunks = [_parse_json_lists(c, where) for c in chunks]
        kind = chunks[0].type if chunks else kind
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        raise LessdataError(
            f"{where} holds {kind}, not vectors; embeddings must be lists of numbers"
        )
    n = sum(len(c) for c in chunks)
    if n == 0:
        raise LessdataError(f"{where}: the dataset is empty")
    dim: int | None = None
    out: np.ndarray | None = None
    row = 0  # position in out; messages count from first_row
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        if chunk.null_count:
            first = int(np.flatnonzero(chunk.is_null().to_numpy(zero_copy_only=False))[0])
            raise LessdataError(f"{where}: row {first_row + row + first} has no vector (null)")
        if pa.types.is_fixed_size_list(chunk.type):
            sizes = np.full(len(chunk), chunk.type.list_size)
        else:
            sizes = pc.list_value_length(chunk).to_numpy(zero_copy_only=False)
        if dim is None:
            dim = int(sizes[0])
            if dim == 0:
                raise LessdataError(f"{where}: row {first_row + row} is a zero-length vector")
            out = np.empty((n, dim), dtype=np.float32)
        bad = np.flatnonzero(sizes != dim)
        if bad.size:
            i = int(bad[0])
            raise LessdataError(
                f"{where}: vectors are ragged: row {first_row + row + i} has "
                f"{int(sizes[i])} values, row 0 has {dim}; every row needs the same length"
            )
        values = chunk.flatten()
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            raise LessdataError(f"{where}: vector values are {values.type}, not numbers")
        if values.null_count:
            raise LessdataError(f"{where}: a vector holds a missing value (null)")
        assert out is not None
        out[row : row + len(chunk)] = values.to_numpy(zero_copy_only=False).reshape(-1, dim)
        row += len(chunk)
    assert out is not None
    return out


def _parse_json_lists(chunk: pa.Array, where: str) -> pa.Array:
    """CSV cells such as ``"[0.1, 0.2]"`` → an Arrow list array (parsed per chunk)."""
    try:
        rows = [None if s is None else json.loads(s) for s in chunk.to_pylist()]
        return pa.array(rows, type=pa.list_(pa.float32()))
    except (json.JSONDecodeError, pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        raise LessdataError(
            f"{where}: cells must be JSON lists of numbers such as [0.1, 0.2]"
        ) from None


def check_text_limits(ds: Dataset, limits: CorpusLimits | None = None) -> None:
    """Refuse documents over the per-document limits that ``curate`` applies.

    A 10 MB document or a 100,000-character line is a dump, a minified bundle or a data
    file, not an example; it would also cost gigabytes to tokenise. ``curate`` reports such
    rows and skips them; ``score``/``prune``/``dedup`` name them and stop.
    """
    if ds.texts is None:
        return
    limits = CorpusLimits() if limits is None else limits
    floor = min(limits.max_line_chars, limits.max_doc_bytes)  # neither limit is hit below it
    long_rows = pc.indices_nonzero(pc.greater(pc.binary_length(ds.texts), floor)).to_numpy()
    found: dict[str, list[str]] = {}
    for row in long_rows.tolist():
        problem = check_text(ds.texts[row].as_py(), limits)
        if problem:
            found.setdefault(problem, []).append(str(ds.ids[row].as_py()))
    if found:
        what = "; ".join(
            f"{len(ids)} {problem} (ids {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"
            for problem, ids in found.items()
        )
        raise LessdataError(
            f"{ds.source}: documents over the per-document limits ({limits.max_doc_bytes:,} "
            f"bytes, lines of {limits.max_line_chars:,} characters): {what}; drop them first "
            "(`lessdata curate` reports and skips them)"
        )


def check_utf8(column: pa.ChunkedArray | pa.Array, where: str) -> None:
    """Refuse a string column holding bytes that are not UTF-8 (JSON and CSV readers let them in).

    Arrow checks the whole column in C; only a column that fails is walked in Python, to
    name the first bad row.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    row = 0
    for chunk in chunks:
        try:
            if pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type):
                chunk.cast(pa.large_string())
            else:
                chunk.validate(full=True)
        except pa.ArrowInvalid:
            for offset, value in enumerate(chunk.cast(pa.large_binary()).to_pylist()):
                try:
                    (value or b"").decode("utf-8")
                except UnicodeDecodeError:
                    row += offset
                    break
            raise LessdataError(
                f"{where} is not UTF-8 text at row {row}; re-encode the file as UTF-8 (e.g. "
                "`iconv -f latin1 -t utf-8`), or run `lessdata curate`, which reports such rows "
                "and goes on"
            ) from None
        row += len(chunk)


def _encode_labels(column: pa.ChunkedArray | pa.Array, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels of any type → (int64 class indices, the sorted distinct classes)."""
    if column.null_count:
        raise LessdataError(f"{where}: labels have missing values; fill or drop those rows")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_nested(column.type):
        raise LessdataError(
            f"{where}: labels are {column.type}; give one class (a number or a string) per row"
        )
    values = np.asarray(column.to_numpy(zero_copy_only=False))
    if values.ndim != 1:
        raise LessdataError(f"{where}: labels must be one value per row, got shape {values.shape}")
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise LessdataError(f"{where}: labels hold NaN or infinity; give every row a class")
        fractional = values != np.round(values)
        if fractional.any():
            raise LessdataError(
                f"{where}: labels are classes, but {int(fractional.sum())} of {len(values)} are "
                f"not whole numbers (e.g. {float(values[fractional][0]):g}); round or bin "
                "real-valued targets into classes first"
            )
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:
        raise LessdataError(
            f"{where}: labels mix types that cannot be compared; use one type for all classes"
        ) from None
    return codes.reshape(-1).astype(np.int64), classes


def external_labels(labels: str | Path | np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(labels, (str, Path)):
        path = Path(labels)
        if not path.exists():
            raise LessdataError(f"{path}: no such labels file")
        try:
            labels = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise LessdataError(
                f"{path}: not a readable .npy labels file ({short_error(exc)})"
            ) from None
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise LessdataError(
            f"labels must be one value per example: got shape {arr.shape} for {n} examples"
        )
    return _encode_labels(pa.array(arr), "labels")


# --- Built-in datasets --------------------------------------------------------------------


def _load_builtin(name: str) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    labels, classes = _encode_labels(pa.array(digits.target), name)
    return Dataset(
        source=name,
        format="builtin",
        ids=pa.array(np.arange(len(x), dtype=np.int64)),
        vectors=x,
        labels=labels,
        classes=classes,
        columns={"embedding": "features", "label": "labels", "id": "ids"},
    )


# --- Validation ---------------------------------------------------------------------------


def _validate(ds: Dataset) -> None:
    n = len(ds)
    if n == 0:
        raise LessdataError(f"{ds.source}: the dataset is empty")
    if ds.vectors is not None:
        check_vectors(ds.vectors, ds.source)
    if pc.count_distinct(ds.ids).as_py() != n:
        counts = pc.value_counts(ds.ids)
        repeated = [
            v["values"]
            for v in counts.filter(pc.greater(counts.field("counts"), 1))[:3].to_pylist()
        ]
        raise LessdataError(
            f"{ds.source}: ids must be unique, but {repeated} repeat; fix the id column or drop "
            "`id_column` to use row numbers"
        )
    if ds.labels is not None and len(ds.labels) != n:
        raise LessdataError(f"{ds.source}: {len(ds.labels)} labels for {n} examples")


def _check_2d(vectors: np.ndarray, where: str) -> np.ndarray:
    """``vectors`` when it is a 2-D array (its rows are the examples); else the error."""
    if vectors.ndim != 2:
        raise LessdataError(
            f"{where}: vectors must be a 2-D array (examples × dims), got shape {vectors.shape}"
        )
    return vectors


def check_vectors(vectors: np.ndarray, where: str = "vectors") -> None:
    """Raise LessdataError unless ``vectors`` is a non-empty, finite, 2-D numeric array.

    Checked in chunks so that a memory-mapped input is streamed, not loaded.
    """
    if vectors.dtype == object:
        raise LessdataError(f"{where}: vectors are ragged or hold objects; use equal-length rows")
    _check_2d(vectors, where)
    if vectors.shape[0] == 0:
        raise LessdataError(f"{where}: the dataset is empty")
    if vectors.shape[1] == 0:
        raise LessdataError(f"{where}: vectors have zero length; each row needs at least one value")
    if vectors.dtype.kind not in "fiu":
        raise LessdataError(f"{where}: vectors are {vectors.dtype}, not numbers")
    if vectors.dtype.kind == "f":
        wide = vectors.dtype.itemsize > 4  # float64 values may overflow float32 (what is used)
        for start in range(0, len(vectors), _CHUNK_ROWS):
            block = vectors[start : start + _CHUNK_ROWS]
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                row = start + int(np.flatnonzero(~finite)[0])
                raise LessdataError(
                    f"{where}: row {row} holds NaN or inf; drop or repair that row first "
                    "(distances, scores and embeddings need finite values)"
                )
            if wide:
                huge = (np.abs(block) > _FLOAT32_MAX).any(axis=1)
                if huge.any():
                    row = start + int(np.flatnonzero(huge)[0])
                    raise LessdataError(
                        f"{where}: row {row} holds a value beyond float32 range (±3.4e38); "
                        "rescale the vectors"
                    )
            release_pages(vectors)  # a memory map is streamed: one chunk resident at a time
