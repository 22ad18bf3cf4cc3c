"""Tabular inputs as Arrow: format detection, column names, and the JSONL / CSV / Hugging
Face readers that both :mod:`lessdata.data.dataset` and :mod:`lessdata.data.corpus` use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from lessdata.errors import LessdataError
from lessdata.extras import require

TEXT_COLUMNS = ("text", "content", "code", "document", "sentence")


EMBEDDING_COLUMNS = ("embedding", "embeddings", "vector", "vectors", "emb", "features")


LABEL_COLUMNS = ("label", "labels", "y", "target")


ID_COLUMNS = ("id", "ids", "uid")


#: CSV bytes parsed per block; cells may hold quoted newlines, so blocks are found by a
#: quote-aware chunker (``newlines_in_values``). A module constant so tests can shrink it.
_CSV_BLOCK_BYTES = 1 << 20


#: first JSONL block size; doubled (up to the cap) when one line is longer than a block.
_JSON_BLOCK_BYTES = 1 << 22


_JSON_BLOCK_CAP = 1 << 30


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its suffix (for a folder: ``hf`` when it holds a
    Hugging Face ``save_to_disk`` dataset, else ``source``, a tree of source files)."""
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_info.json").exists():
            return "hf"
        if (path / "dataset_dict.json").exists():
            splits = sorted(p.name for p in path.iterdir() if p.is_dir())
            raise LessdataError(
                f"{path} is a DatasetDict with splits {splits}; pass one split's folder, "
                f"e.g. {path / (splits[0] if splits else 'train')}"
            )
        return "source"
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    formats = {
        ".npy": "npy",
        ".npz": "npz",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".csv": "csv",
    }
    if suffix not in formats:
        raise LessdataError(
            f"{path}: unknown format {suffix or '(no suffix)'}; use .npy, .npz, .parquet, "
            ".jsonl, .csv or a Hugging Face dataset folder"
        )
    return formats[suffix]


def read_csv_table(path: str | Path) -> pa.Table:
    """Read a whole CSV file; quoted cells may span lines. Shared by the reader and writer.

    UTF-8 is not checked here (Arrow would fail the whole file, or type a column binary from
    its first block alone): the dataset reader refuses a bad text column by row, and the
    corpus reader reports bad rows as undecodable.
    """
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(check_utf8=False),
    )


def read_jsonl_table(path: str | Path) -> pa.Table:
    """Read a JSONL file (one object a line; blank lines skipped), however long its lines."""
    _refuse_null_rows(path)
    block = _JSON_BLOCK_BYTES
    while True:
        try:
            return pajson.read_json(path, read_options=pajson.ReadOptions(block_size=block))
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or block >= _JSON_BLOCK_CAP:
                raise
            block *= 4


def _refuse_null_rows(path: str | Path) -> None:
    """Refuse a ``null`` line before Arrow sees it: Arrow 26 crashes (segfault) on a file
    whose first row is ``null``, and a null row is no example anyway."""
    for row, line in enumerate(jsonl_rows(path)):
        if len(line) < 64 and line.strip() == b"null":
            raise LessdataError(
                f"{path}: row {row} is null, not a JSON object; put one object such as "
                '{"text": "..."} on each line'
            )


def jsonl_rows(path: str | Path) -> Iterator[bytes]:
    """Yield the raw bytes of each row of a JSONL file: every line that is not blank.

    This is the row numbering of :func:`read_jsonl_table` (which skips whitespace-only
    lines), and what the writer copies byte for byte.
    """
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield line


def check_jsonl_rows(path: Path, n_rows: int) -> None:
    """Make sure each non-blank line is one row, so that rows can be copied as lines."""
    n_lines = sum(1 for _ in jsonl_rows(path))
    if n_lines != n_rows:
        raise LessdataError(
            f"{path}: {n_rows} JSON objects on {n_lines} non-blank lines; put exactly one "
            "object on each line (JSON Lines)"
        )


def read_hf_table(path: Path) -> pa.Table:
    """Open a ``save_to_disk`` folder with ``datasets``; its Arrow shards stay memory-mapped."""
    datasets = require("datasets", "reading a Hugging Face dataset folder")

    try:
        hf = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise LessdataError(
            f"{path}: cannot load it as a Hugging Face dataset ({short_error(exc)})"
        ) from None
    if isinstance(hf, datasets.DatasetDict):
        raise LessdataError(
            f"{path} is a DatasetDict with splits {list(hf)}; pass one split's folder"
        )
    if hf._indices is not None:
        hf = hf.flatten_indices()
    return hf.data.table


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


CORPUS_FORMATS = ("jsonl", "parquet", "csv", "hf", "source")


_HF_MARKERS = ("state.json", "dataset_info.json", "dataset_dict.json")


def corpus_format(source: str | Path) -> str:
    """Name the corpus format of ``source``: one of :data:`CORPUS_FORMATS`.

    A folder is ``source`` (code files) unless it holds a Hugging Face ``save_to_disk``
    dataset (``state.json`` / ``dataset_info.json``; a ``DatasetDict`` is refused with the
    split folders to pick from). A file is named by its suffix, as the rest of lessdata does.

    Raises:
        LessdataError: ``source`` does not exist, or its format is not a text corpus.
    """
    path = Path(source)
    if not path.exists():
        raise LessdataError(f"{path}: no such file or directory")
    if path.is_dir():
        if any((path / marker).exists() for marker in _HF_MARKERS):
            return detect_format(path)
        return "source"
    if path.suffix.lower() in (".py", ".pyi"):
        raise LessdataError(
            f"{path} is a single source file; pass the folder that holds it to read its code"
        )
    fmt = detect_format(path)
    if fmt not in CORPUS_FORMATS:
        raise LessdataError(
            f"{path} is a {fmt} array, not a text corpus; pass a .jsonl, .parquet or .csv file "
            "with a text column, a Hugging Face dataset folder, or a folder of source files"
        )
    return fmt
