"""Reading and validating a manifest, and finding its score columns.

A manifest is the Parquet file that ``lessdata score``, ``prune`` and ``dedup`` write: one row
per example with its ``id``, one float column per metric, and (after prune/dedup) ``kept`` and
``reason``. Its schema metadata key ``b"lessdata"`` holds a JSON object describing the run. The
report reads only the schema first, so a wrong file fails fast without loading a million rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.errors import LessdataError

METADATA_KEY = b"lessdata"

_HINT = "pass the manifest Parquet file written by `lessdata score`, `prune` or `dedup`"


def _schema_of(manifest: pa.Table | pa.Schema) -> pa.Schema:
    return manifest if isinstance(manifest, pa.Schema) else manifest.schema


def _is_numeric(type_: pa.DataType) -> bool:
    return pa.types.is_floating(type_) or pa.types.is_integer(type_)


def manifest_metadata(manifest: pa.Table | pa.Schema) -> dict[str, Any]:
    """The run description stored under ``b"lessdata"``, or ``{}`` when absent or unreadable.

    Lenient on purpose: the report can still be drawn from a table that lost its metadata
    (for instance one rewritten by another tool); :func:`read_manifest` is the strict gate.
    """
    raw = (_schema_of(manifest).metadata or {}).get(METADATA_KEY)
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
    listed = manifest_metadata(schema).get("metrics")
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
    raw = (schema.metadata or {}).get(METADATA_KEY)
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
    if not metric_columns(schema):
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

    The schema is checked before the rows are read, so pointing at a large unrelated Parquet
    file fails at once.
    """
    path = Path(path)
    if not path.exists():
        raise LessdataError(f"manifest not found: {path}; {_HINT}")
    if path.is_dir():
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
