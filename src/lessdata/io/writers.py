"""Write the kept rows of a dataset in the format it was read from, atomically.

The input is only ever read: outputs go to new paths through :func:`atomic_path`, and a
path that resolves to the input itself is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lessdata.errors import LessdataError
from lessdata.io.atomic import atomic_path
from lessdata.io.dataset import Dataset

_CHUNK_ROWS = 65_536
_SUFFIX = {"npy": ".npy", "npz": ".npz", "parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv"}


def subset_path(ds: Dataset, out_dir: Path) -> Path:
    """Where the pruned copy of ``ds`` goes inside ``out_dir``: the input's own file name."""
    if ds.format == "builtin":
        return out_dir / f"{ds.source.split(':', 1)[1]}.npz"
    src = Path(ds.source)
    return out_dir / (src.name if ds.format == "hf" else src.stem + _SUFFIX[ds.format])


def check_not_input(ds: Dataset, target: Path) -> None:
    """Refuse to write over the input (or inside an input folder)."""
    if ds.format == "builtin":
        return
    src = Path(ds.source).resolve()
    dst = target.resolve()
    if dst == src or (src.is_dir() and src in dst.parents):
        raise LessdataError(
            f"the output {target} would overwrite the input {ds.source}; choose another --out"
        )


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
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _write_parquet(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    source = pq.ParquetFile(ds.source)
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, source.schema_arrow) as writer:
        start = 0
        for batch in source.iter_batches(batch_size=_CHUNK_ROWS):
            block_mask = pa.array(mask[start : start + batch.num_rows])
            writer.write_batch(batch.filter(block_mask))
            start += batch.num_rows


def _write_jsonl(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    """Copy the kept lines byte for byte (blank lines are not rows, as in the reader)."""
    with atomic_path(target) as tmp, open(ds.source, "rb") as src, open(tmp, "wb") as dst:
        row = 0
        for line in src:
            if not line.strip():
                continue
            if row < len(mask) and mask[row]:
                dst.write(line if line.endswith(b"\n") else line + b"\n")
            row += 1
    if row != len(mask):
        raise LessdataError(f"{ds.source} changed while it was being pruned; run again")


def _write_csv(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    reader = pacsv.open_csv(ds.source)
    with atomic_path(target) as tmp, pacsv.CSVWriter(tmp, reader.schema) as writer:
        start = 0
        for batch in reader:
            writer.write_batch(batch.filter(pa.array(mask[start : start + batch.num_rows])))
            start += batch.num_rows


def _write_hf(ds: Dataset, kept: np.ndarray, mask: np.ndarray, target: Path) -> None:
    import datasets

    hf = datasets.load_from_disk(ds.source)
    with atomic_path(target, directory=True) as tmp:
        hf.select(kept).save_to_disk(str(tmp))
