"""The manifest: one row per example with its id, scores, kept flag and reason.

Schema: ``id``; one float64 column per metric (higher = harder) and the metric's extra
columns (``prototypes_cluster``, ``semdedup_duplicate_of`` as the survivor's id, ...);
``label`` and ``preview`` (first 120 characters of the text) when the input has them;
``kept`` and ``reason`` for ``prune`` and ``dedup``. The run's settings are stored as JSON
under the schema metadata key ``lessdata``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata import __version__
from lessdata.errors import LessdataError
from lessdata.data.atomic import atomic_path
from lessdata.data.dataset import Dataset

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
    return table.replace_schema_metadata({META_KEY: json.dumps(meta, default=str)})


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
            f"--out {path} is a folder; give a file name such as {path / 'scores.parquet'}"
        )
    check_not_input_path(manifest_settings(table).get("input"), path)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=MANIFEST_ROWS_PER_GROUP):
            writer.write_batch(batch)  # one row group per shard of rows, written in turn
    return path


def check_not_input_path(source: str | None, target: str | Path) -> None:
    """Raise LessdataError when ``target`` is the file ``source`` or inside the folder."""
    if not source or source.startswith("builtin:") or source.startswith("<"):
        return
    src = Path(source).resolve()
    dst = Path(target).resolve()
    if dst == src or (src.is_dir() and src in dst.parents):
        raise LessdataError(
            f"the output {target} would overwrite the input {source}; choose another --out"
        )


def manifest_settings(table: pa.Table) -> dict[str, Any]:
    """The run settings stored in a manifest's metadata ({} when absent)."""
    raw = (table.schema.metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}
