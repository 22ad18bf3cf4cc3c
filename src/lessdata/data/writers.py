"""Write the kept rows of a dataset in the format it was read from, atomically.

The input is only ever read: outputs go to new paths through :func:`atomic_path`, and a
path that resolves to the input itself is refused.
"""

from __future__ import annotations

import contextlib
import csv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lessdata.data.atomic import atomic_path
from lessdata.data.dataset import Dataset, read_csv_table
from lessdata.data.paths import OUTPUT_NAMES, check_not_input_path
from lessdata.data.tables import jsonl_rows
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.progress import quiet

_CHUNK_ROWS = 65_536
#: file name of the kept documents of a source folder (id, path, line span, text)
SOURCE_DOCUMENTS = "documents.parquet"


def subset_path(ds: Dataset, out_dir: Path) -> Path:
    """Where the pruned copy of ``ds`` goes inside ``out_dir``: the input's own file name.

    An input named like one of the other outputs (``manifest.parquet``) gets ``.data``
    before its suffix, so that the manifest and the data do not overwrite each other.
    """
    if ds.format == "builtin":
        return out_dir / f"{ds.source.split(':', 1)[1]}.npz"
    if ds.format == "source":
        return out_dir / SOURCE_DOCUMENTS
    name = Path(ds.source).name
    if name.lower() in OUTPUT_NAMES:
        stem, dot, suffix = name.rpartition(".")
        name = f"{stem}.data{dot}{suffix}"
    return out_dir / name


def check_not_input(ds: Dataset, target: Path) -> None:
    """Refuse to write over the input (or inside an input folder)."""
    check_not_input_path(ds.source, target)


def write_subset(ds: Dataset, kept: np.ndarray, target: Path) -> Path:
    """Write rows ``kept`` (sorted indices) of ``ds`` to ``target`` in the input's format."""
    check_not_input(ds, target)
    kept = np.asarray(kept, dtype=np.int64)
    mask = np.zeros(len(ds), dtype=bool)
    mask[kept] = True
    writer = {
        "npy": _write_npy,
        "npz": _write_npz,
        "builtin": _write_npz,
        "parquet": _write_parquet,
        "jsonl": _write_jsonl,
        "csv": _write_csv,
        "hf": _write_hf,
        "source": _write_documents,
    }[ds.format]
    writer(ds, kept, mask, target)
    return target


def _write_npy(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    assert ds.vectors is not None
    with atomic_path(target) as tmp:
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=ds.vectors.dtype, shape=(len(kept), ds.vectors.shape[1])
        )
        row = 0
        for start in range(0, len(ds), _CHUNK_ROWS):
            block_mask = mask[start : start + _CHUNK_ROWS]
            m = int(block_mask.sum())
            if m:
                out[row : row + m] = ds.vectors[start : start + _CHUNK_ROWS][block_mask]
                row += m
        out.flush()
        del out
    if ds.labels is not None:  # labels came from a separate file: write them beside
        assert ds.classes is not None
        labels_path = target.with_name(target.stem + ".labels.npy")
        with atomic_path(labels_path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, ds.classes[ds.labels[kept]])


def _write_npz(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    compression = zipfile.ZIP_STORED
    if ds.format == "builtin":
        assert ds.vectors is not None and ds.labels is not None and ds.classes is not None
        arrays = {
            "features": np.asarray(ds.vectors)[kept],
            "labels": ds.classes[ds.labels[kept]],
            "ids": ds.ids.to_numpy()[kept],
        }
    else:
        n = len(ds)
        with np.load(ds.source, allow_pickle=False) as archive:
            for key in archive.files:
                arr = archive[key]
                arrays[key] = arr[kept] if arr.ndim >= 1 and len(arr) == n else arr
        with zipfile.ZipFile(ds.source) as zf:  # keep the archive's compression
            if any(i.compress_type != zipfile.ZIP_STORED for i in zf.infolist()):
                compression = zipfile.ZIP_DEFLATED
    # written member by member as np.savez does, so that any array name (even "file") works
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", compression=compression) as zf:
        for key, arr in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)


def _write_parquet(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    source = pq.ParquetFile(ds.source)
    if source.metadata.num_rows != len(mask):
        _changed(ds)
    with (
        atomic_path(target) as tmp,
        pq.ParquetWriter(tmp, source.schema_arrow, compression=_compression(source)) as writer,
    ):
        start = 0
        for batch in source.iter_batches(batch_size=_CHUNK_ROWS):
            block_mask = pa.array(mask[start : start + batch.num_rows])
            writer.write_batch(batch.filter(block_mask))
            start += batch.num_rows


def _compression(source: pq.ParquetFile) -> str:
    """The codec of the input's first column chunk (snappy when unknown), to write alike."""
    codecs = {"SNAPPY", "GZIP", "BROTLI", "ZSTD", "LZ4", "NONE"}
    meta = source.metadata
    if meta.num_row_groups and meta.num_columns:
        codec = str(meta.row_group(0).column(0).compression).upper()
        codec = "NONE" if codec == "UNCOMPRESSED" else codec
        if codec in codecs:
            return codec.lower()
    return "snappy"


def _changed(ds: Dataset) -> None:
    raise LessdataError(f"{ds.source} changed while it was being pruned; run again")


def _write_jsonl(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    """Copy the kept lines byte for byte (blank lines are not rows, as in the reader)."""
    with atomic_path(target) as tmp, open(tmp, "wb") as dst:
        row = 0
        for line in jsonl_rows(ds.source):
            if row < len(mask) and mask[row]:
                dst.write(line if line.endswith(b"\n") else line + b"\n")
            row += 1
        if row != len(mask):  # inside the block: the partial output is discarded
            _changed(ds)


def _write_csv(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    """Copy the header and the kept records byte for byte; if the records cannot be matched
    to the rows the reader saw, write the kept rows with Arrow's CSV writer instead."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as dst:
            copied = _copy_csv_records(ds.source, mask, dst)
        if not copied:
            table = read_csv_table(ds.source)
            if table.num_rows != len(mask):
                _changed(ds)
            pacsv.write_csv(table.filter(pa.array(mask)), tmp)


class _Misaligned(Exception):
    pass


def _copy_csv_records(source: str, mask: np.ndarray, dst: BinaryIO) -> bool:
    """Copy the header and the records where ``mask`` is set; False when the records found by
    Python's csv module do not number exactly the rows Arrow read (then ``dst`` is partial).

    Python's csv reader pulls one physical line at a time and stops at the end of a record,
    so the lines it consumed for a record are that record's bytes, quoted newlines included.
    Empty lines are skipped, as Arrow does.
    """
    consumed: list[bytes] = []

    def lines() -> Iterator[str]:
        with open(source, "rb") as fh:
            for line in fh:
                consumed.append(line)
                yield line.decode("utf-8", errors="surrogateescape")

    def take() -> bytes:
        raw = b"".join(consumed)
        consumed.clear()
        return raw if raw.endswith(b"\n") else raw + b"\n"

    row = 0
    try:
        reader = csv.reader(lines())
        header: list[str] = []
        while not header:
            header = next(reader)
        dst.write(take())
        for record in reader:
            raw = take()
            if not record:  # an empty line: not a row
                continue
            if row >= len(mask):
                raise _Misaligned
            if mask[row]:
                dst.write(raw)
            row += 1
    except (csv.Error, StopIteration, _Misaligned):
        return False
    return row == len(mask)


def _write_hf(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    datasets = require("datasets", "writing a Hugging Face dataset folder")

    hf = datasets.load_from_disk(ds.source)
    if len(hf) != len(mask):
        _changed(ds)
    with atomic_path(target, directory=True) as tmp, _no_progress_bars(quiet()):
        hf.select(kept, keep_in_memory=True).save_to_disk(str(tmp))


def _write_documents(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    """A source folder's kept documents as Parquet: id, path, line span and text.

    The source tree itself is never touched; a training pipeline reads this table.
    """
    if ds.texts is None:
        raise LessdataError(f"{ds.source}: no texts to write")
    columns = {"id": ds.ids, **ds.extras, "text": ds.texts}
    table = pa.table(columns).take(pa.array(kept))
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")


@contextlib.contextmanager
def _no_progress_bars(active: bool) -> Iterator[None]:
    """Switch off the ``datasets`` progress bars for the duration, when ``active``."""
    datasets = require("datasets", "writing a Hugging Face dataset folder")

    was_on = datasets.is_progress_bar_enabled()
    if active and was_on:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if active and was_on:
            datasets.enable_progress_bars()
