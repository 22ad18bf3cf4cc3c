"""The manifest: one row per example with its id, scores, kept flag and reason.

Schema: ``id``; one float64 column per metric (higher = harder) and the metric's extra
columns (``prototypes_cluster``, ``semdedup_duplicate_of`` as the survivor's id, ...);
``label`` and ``preview`` (first 120 characters of the text) when the input has them;
``kept`` and ``reason`` for ``prune`` and ``dedup``. The run's settings are stored as JSON
under the schema metadata key ``lessdata``.

This one module builds (:func:`build_manifest`), writes (:func:`write_manifest`), reads and
validates (:func:`read_manifest`, :func:`validate_schema`) manifests, and reads their
settings (:func:`manifest_settings`) and score columns (:func:`metric_columns`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata._version import __version__
from lessdata.data.atomic import atomic_path
from lessdata.data.dataset import Dataset
from lessdata.data.manifest_parts import is_parts_folder, read_parts
from lessdata.data.paths import MANIFEST_NAME, check_not_input_path
from lessdata.data.standard_json import dumps_standard
from lessdata.errors import LessdataError

PREVIEW_CHARS = 120
META_KEY = b"lessdata"


def build_manifest(
    ds: Dataset,
    columns: dict[str, np.ndarray | pa.Array],
    *,
    metrics: list[str],
    kept: np.ndarray | None = None,
    reasons: tuple[np.ndarray, list[str]] | None = None,
    settings: dict[str, Any] | None = None,
) -> pa.Table:
    """Assemble the manifest table.

    Args:
        ds: the dataset scored (ids, labels and texts are read from it).
        columns: metric outputs; ``*_duplicate_of`` columns hold row indices (-1 = none)
            and are written as the survivor's id; Arrow arrays are written as they are.
        metrics: names of the score columns, in order.
        kept: sorted indices of the kept rows, for prune/dedup.
        reasons: ``(codes, vocabulary)``: per-row index into a list of reason strings.
        settings: the run's options, stored as metadata.
    """
    fields: dict[str, pa.Array] = {"id": ds.ids}
    for name, values in columns.items():
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            fields[name] = values
        elif name.endswith("_duplicate_of"):
            missing = values < 0
            fields[name] = ds.ids.take(pa.array(np.where(missing, 0, values), mask=missing))
        elif np.issubdtype(values.dtype, np.integer):
            fields[name] = pa.array(values.astype(np.int64))
        else:
            fields[name] = pa.array(values.astype(np.float64))
    if ds.labels is not None and ds.classes is not None:
        fields["label"] = pa.array(ds.classes[ds.labels])
    if ds.texts is not None:
        preview = pc.utf8_slice_codeunits(ds.texts, 0, PREVIEW_CHARS)
        if isinstance(preview, pa.ChunkedArray):
            preview = preview.combine_chunks()
        fields["preview"] = preview
    if kept is not None:
        mask = np.zeros(len(ds), dtype=bool)
        mask[kept] = True
        fields["kept"] = pa.array(mask)
    if reasons is not None:
        codes, vocabulary = reasons
        fields["reason"] = pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32)), pa.array(vocabulary, type=pa.string())
        )
    meta = {"version": __version__, "input": ds.source, "format": ds.format, "metrics": metrics}
    meta.update(settings or {})
    table = pa.table(fields)
    return table.replace_schema_metadata({META_KEY: dumps_standard(meta, default=str)})


#: rows per Parquet row group of a manifest: readers can stream it group by group
MANIFEST_ROWS_PER_GROUP = 65_536


def write_manifest(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` to ``path`` as Parquet, atomically.

    Raises:
        LessdataError: ``path`` is a folder, or the input the manifest describes (or lies
            inside an input folder): the input is never overwritten.
    """
    path = Path(path)
    if path.is_dir():
        raise LessdataError(
            f"out {path} is a folder; give a file name such as {path / 'scores.parquet'}",
            param="out",
        )
    check_not_input_path(manifest_settings(table).get("input"), path)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=MANIFEST_ROWS_PER_GROUP):
            writer.write_batch(batch)  # one row group per shard of rows, written in turn
    return path


_HINT = (  # no backticks: the CLI would read `dedup` as a parameter and show a flag
    "pass the manifest Parquet file (or folder of parts, or run folder) written by lessdata "
    "score, prune, dedup or curate"
)


def _schema_of(manifest: pa.Table | pa.Schema) -> pa.Schema:
    return manifest if isinstance(manifest, pa.Schema) else manifest.schema


def _is_numeric(type_: pa.DataType) -> bool:
    return pa.types.is_floating(type_) or pa.types.is_integer(type_)


def manifest_settings(manifest: pa.Table | pa.Schema) -> dict[str, Any]:
    """The run description stored under ``b"lessdata"``, or ``{}`` when absent or unreadable.

    Lenient on purpose: the report can still be drawn from a table that lost its metadata
    (for instance one rewritten by another tool); :func:`read_manifest` is the strict gate.
    """
    raw = (_schema_of(manifest).metadata or {}).get(META_KEY)
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def metric_columns(manifest: pa.Table | pa.Schema) -> list[str]:
    """Names of the score columns, in the order the run recorded them.

    Uses the ``"metrics"`` list from the metadata (keeping only numeric columns that exist),
    and falls back to every floating-point column when the metadata names none, so that a
    manifest without metadata still gets a report.
    """
    schema = _schema_of(manifest)
    listed = manifest_settings(schema).get("metrics")
    if isinstance(listed, list):
        present = [
            name
            for name in listed
            if isinstance(name, str)
            and name in schema.names
            and _is_numeric(schema.field(name).type)
        ]
        if present:
            return present
    return [field.name for field in schema if pa.types.is_floating(field.type)]


def validate_schema(schema: pa.Schema, source: str | Path) -> None:
    """Raise :class:`LessdataError` unless ``schema`` looks like a lessdata manifest.

    Checks what the report relies on: parseable metadata, an ``id`` column, at least one
    numeric score column, metrics named in the metadata really being there, and a boolean
    ``kept`` column when there is one.
    """
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is not None:
        try:
            meta = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LessdataError(
                f"{source}: the lessdata metadata is not valid JSON ({exc}); "
                "re-run the command that wrote the manifest"
            ) from exc
        if not isinstance(meta, dict):
            raise LessdataError(
                f"{source}: the lessdata metadata is not a JSON object; "
                "re-run the command that wrote the manifest"
            )
        listed = meta.get("metrics")
        if listed is not None:
            if not isinstance(listed, list) or not all(isinstance(m, str) for m in listed):
                raise LessdataError(
                    f"{source}: metadata 'metrics' must be a list of column names; "
                    "re-run the command that wrote the manifest"
                )
            missing = [m for m in listed if m not in schema.names]
            if missing:
                raise LessdataError(
                    f"{source}: metadata lists metric(s) {', '.join(missing)} but the file "
                    "has no such column; re-run the command that wrote the manifest"
                )
            not_numeric = [m for m in listed if not _is_numeric(schema.field(m).type)]
            if not_numeric:
                raise LessdataError(
                    f"{source}: score column(s) {', '.join(not_numeric)} are not numeric; "
                    "re-run the command that wrote the manifest"
                )
    if "id" not in schema.names:
        raise LessdataError(f"{source} is not a lessdata manifest (no 'id' column); {_HINT}")
    if not metric_columns(schema) and "removed_by" not in schema.names:  # curation stages
        raise LessdataError(
            f"{source} has no score columns (float columns named by metric); "
            "score the data first with `lessdata score`"
        )
    if "kept" in schema.names and not pa.types.is_boolean(schema.field("kept").type):
        raise LessdataError(
            f"{source}: column 'kept' must be boolean, found {schema.field('kept').type}; "
            "re-run the command that wrote the manifest"
        )


def read_manifest(path: str | Path) -> pa.Table:
    """Read and validate a manifest; :class:`LessdataError` on anything a user can get wrong.

    ``path`` is a manifest file; a folder of manifest parts (``score --parts``); or a run
    folder: the ``--out`` of ``prune``, ``dedup`` or ``curate``, holding ``manifest.parquet``
    or (with ``--parts``) its parts in ``manifest/``. A folder of parts is read whole.

    The schema is checked before the rows are read, so pointing at a large unrelated Parquet
    file fails at once; a folder's parts are checked file by file (a missing, foreign,
    damaged or edited part is refused naming it, see
    :mod:`lessdata.data.manifest_parts`).

    Args:
        path: the manifest file, folder of parts, or run folder.

    Raises:
        LessdataError: nothing there; not a manifest; an unreadable file or part (named).
    """
    path = Path(path)
    if not path.exists():
        raise LessdataError(f"manifest not found: {path}; {_HINT}")
    if is_parts_folder(path) or is_parts_folder(path / "manifest"):
        folder = path if is_parts_folder(path) else path / "manifest"
        return read_parts(folder, check=validate_schema)  # each part checked, named
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        path = path / MANIFEST_NAME  # a run folder: the manifest the run wrote
    elif path.is_dir():
        inside = sorted(path.glob("*.parquet"))
        guess = f" (did you mean {inside[0]}?)" if len(inside) == 1 else ""
        raise LessdataError(f"{path} is a directory{guess}; {_HINT}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LessdataError(f"{path} is not a readable Parquet file ({detail}); {_HINT}") from exc
    validate_schema(schema, path)
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LessdataError(
            f"could not read {path} ({detail}); the file may be truncated, "
            "re-run the command that wrote it"
        ) from exc


#: the stages, in the order they run
#: the stages of ``lessdata curate``, in the order they run: the vocabulary of a curation
#: manifest's ``removed_by`` column
CURATION_STAGES = ("read", "quality", "exact", "near", "semantic")
