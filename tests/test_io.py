"""Tests for lessdata.io: every input format loads, prunes into the same format and file name,
and the input is never modified.

Small data (60 rows, dim 8), text inputs embedded with the fast TF-IDF encoder.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

import lessdata
from lessdata import LessdataError
from lessdata.data import dataset as io_dataset
from lessdata.data import tables, writers
from lessdata.data.dataset import read_csv_table

N = 60
DIM = 8
PRUNE = dict(keep=0.5, policy="keep-hard", metric_options={"k": 4}, encoder="tfidf", report=False)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- test data

X = np.random.default_rng(0).normal(size=(N, DIM)).astype(np.float32)
LABELS = np.array(["cat", "dog", "eel"])[np.arange(N) % 3]
INT_LABELS = np.arange(N) % 4
STR_IDS = [f"ex-{(i * 37) % 101:03d}" for i in range(N)]  # unique, not in sorted order
INT_IDS = [1000 + 3 * i for i in range(N)]
_TOPICS = [
    "the cat sat on the warm mat",
    "stock markets fell sharply today",
    "def parse(self): return json loads",
    "rain and wind across the northern hills",
]
TEXTS = [f"{_TOPICS[i % 4]} note {i} extra{i % 7} word{i % 5}" for i in range(N)]


def snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of a file, or of every file under a folder."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _save_hf(path: Path, columns: dict[str, list[Any]]) -> None:
    import datasets

    datasets.Dataset.from_dict(columns).save_to_disk(str(path))


@dataclass
class Case:
    """One input format: how to write it and what loading it must give."""

    name: str
    file: str
    fmt: str
    write: Callable[[Path], None]
    ids: list[Any] | None = None  # the id column; None: ids are row numbers
    vectors: np.ndarray | None = None  # None: a text-only input
    labels: list[Any] | None = None
    texts: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    sidecars: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


def _npy(path: Path) -> None:
    np.save(path, X)
    np.save(path.with_name("labels.npy"), INT_LABELS)


def _npz(path: Path) -> None:
    np.savez(path, embeddings=X, labels=LABELS, ids=np.array(STR_IDS), classes=np.arange(3))


def _parquet_fixed(path: Path) -> None:
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), DIM)
    table = pa.table(
        {"id": STR_IDS, "embedding": emb, "label": LABELS, "note": [f"n{i}" for i in range(N)]}
    )
    pq.write_table(table.replace_schema_metadata({b"origin": b"test"}), path)


def _parquet_list(path: Path) -> None:
    emb = pa.array(X.astype(np.float64).tolist(), type=pa.list_(pa.float64()))
    pq.write_table(pa.table({"uid": INT_IDS, "vector": emb, "y": INT_LABELS}), path)


def _parquet_text(path: Path) -> None:
    pq.write_table(pa.table({"content": TEXTS, "n": list(range(N))}), path)


def _jsonl_embedding(path: Path) -> None:
    rows = [
        {"id": INT_IDS[i], "embedding": X[i].tolist(), "label": LABELS[i], "meta": {"k": [i]}}
        for i in range(N)
    ]
    _write_jsonl(path, rows)


def _jsonl_text(path: Path) -> None:
    _write_jsonl(path, [{"text": t, "id": s} for t, s in zip(TEXTS, STR_IDS, strict=True)])


def _csv_text(path: Path) -> None:
    rows = [[STR_IDS[i], TEXTS[i], LABELS[i], i * 0.5] for i in range(N)]
    _write_csv(path, ["id", "text", "label", "weight"], rows)


def _csv_embedding(path: Path) -> None:
    rows = [[i, json.dumps(X[i].tolist())] for i in range(N)]
    _write_csv(path, ["row", "embedding"], rows)


def _hf(path: Path) -> None:
    _save_hf(
        path,
        {"id": STR_IDS, "embedding": X.tolist(), "label": LABELS.tolist(), "text": TEXTS},
    )


CASES = [
    Case("npy+labels", "x.npy", "npy", _npy, vectors=X, labels=INT_LABELS.tolist(),
         options={"labels": "LABELS"}, sidecars=("x.labels.npy",)),
    Case("npz", "x.npz", "npz", _npz, ids=STR_IDS, vectors=X, labels=LABELS.tolist()),
    Case("parquet-fixed-size-list", "x.parquet", "parquet", _parquet_fixed, ids=STR_IDS,
         vectors=X, labels=LABELS.tolist()),
    Case("parquet-list", "x.parquet", "parquet", _parquet_list, ids=INT_IDS, vectors=X,
         labels=INT_LABELS.tolist()),
    Case("parquet-text", "x.parquet", "parquet", _parquet_text, texts=TEXTS),
    Case("jsonl-embedding", "x.jsonl", "jsonl", _jsonl_embedding, ids=INT_IDS, vectors=X,
         labels=LABELS.tolist()),
    Case("jsonl-text", "x.jsonl", "jsonl", _jsonl_text, ids=STR_IDS, texts=TEXTS),
    Case("csv-text", "x.csv", "csv", _csv_text, ids=STR_IDS, labels=LABELS.tolist(),
         texts=TEXTS),
    Case("csv-embedding-json", "x.csv", "csv", _csv_embedding, vectors=X,
         options={"id_column": "row"}, ids=list(range(N))),
    Case("hf", "hfdata", "hf", _hf, ids=STR_IDS, vectors=X, labels=LABELS.tolist(),
         texts=TEXTS),
]  # fmt: skip


def make(case: Case, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Write the case's input under tmp_path/in; return its path and the load options."""
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / case.file
    case.write(path)
    options = dict(case.options)
    if options.get("labels") == "LABELS":
        options["labels"] = str(folder / "labels.npy")
    return path, options


def read_rows(path: Path, fmt: str) -> Any:
    """Everything stored in a data file, in a comparable form (all columns, all rows)."""
    if fmt == "npy":
        return np.load(path)
    if fmt == "npz":
        with np.load(path) as archive:
            return {k: archive[k] for k in archive.files}
    if fmt == "parquet":
        return pq.read_table(path)
    if fmt == "jsonl":
        return [line for line in path.read_bytes().splitlines(keepends=True) if line.strip()]
    if fmt == "csv":
        return read_csv_table(path)
    import datasets

    return datasets.load_from_disk(str(path)).data.table


def take_rows(data: Any, fmt: str, kept: np.ndarray) -> Any:
    if fmt == "npy":
        return data[kept]
    if fmt == "npz":
        return {k: (v[kept] if v.ndim and len(v) == N else v) for k, v in data.items()}
    if fmt == "jsonl":
        return [data[i] for i in kept]
    return data.take(pa.array(kept))


def assert_same(written: Any, expected: Any, fmt: str) -> None:
    if fmt == "npy":
        np.testing.assert_array_equal(written, expected)
    elif fmt == "npz":
        assert written.keys() == expected.keys()
        for key in expected:
            np.testing.assert_array_equal(written[key], expected[key])
    elif fmt == "jsonl":
        assert written == expected  # byte-identical lines
    else:
        assert written.schema.names == expected.schema.names
        assert written.schema.types == expected.schema.types
        assert written.to_pylist() == expected.to_pylist()


def kept_ids(manifest: pa.Table) -> list[Any]:
    return manifest.filter(manifest.column("kept")).column("id").to_pylist()


# --------------------------------------------------------------------------- load


@pytest.mark.parametrize("case", CASES, ids=str)
def test_load_every_format(case: Case, tmp_path: Path) -> None:
    path, options = make(case, tmp_path)
    ds = lessdata.load(path, **options)
    assert ds.format == case.fmt
    assert len(ds) == N
    assert ds.ids.to_pylist() == (case.ids if case.ids is not None else list(range(N)))
    if case.vectors is None:
        assert ds.vectors is None
    else:
        assert ds.vectors.shape == (N, DIM)
        np.testing.assert_allclose(ds.vectors, case.vectors, rtol=1e-6)
    if case.labels is None:
        assert ds.labels is None
    else:
        assert ds.labels.shape == (N,)
        assert ds.classes[ds.labels].tolist() == case.labels
    if case.texts is None:
        assert ds.texts is None
    else:
        assert ds.texts.to_pylist() == case.texts


# --------------------------------------------------------------------------- prune


@pytest.mark.parametrize("case", CASES, ids=str)
def test_prune_writes_kept_rows_in_same_format(case: Case, tmp_path: Path) -> None:
    path, options = make(case, tmp_path)
    before = snapshot(path.parent)
    original = read_rows(path, case.fmt)
    out = tmp_path / "out"

    result = lessdata.prune(path, out=out, **PRUNE, **options)

    assert snapshot(path.parent) == before  # input bytes and mtimes untouched
    target = out / path.name
    assert result.paths["data"] == target
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".lessdata-output.json", "manifest.parquet", path.name, *case.sidecars]
    )
    manifest = pq.read_table(out / "manifest.parquet")
    assert manifest.column("id").to_pylist() == lessdata.load(path, **options).ids.to_pylist()
    kept = result.kept
    assert len(kept) == N // 2 and np.all(np.diff(kept) > 0)
    expected_ids = case.ids if case.ids is not None else list(range(N))
    assert kept_ids(manifest) == [expected_ids[i] for i in kept]

    # exactly the kept rows, in order, with every original column
    assert_same(read_rows(target, case.fmt), take_rows(original, case.fmt, kept), case.fmt)

    # read back by lessdata: ids (when given) are the manifest's kept ids, in order
    again_options = dict(options)
    if case.sidecars:
        again_options["labels"] = str(out / case.sidecars[0])
    again = lessdata.load(target, **again_options)
    assert len(again) == len(kept)
    if case.ids is not None:
        assert again.ids.to_pylist() == kept_ids(manifest)
    if case.vectors is not None:
        np.testing.assert_allclose(again.vectors, case.vectors[kept], rtol=1e-6)
    if case.labels is not None:
        assert again.classes[again.labels].tolist() == [case.labels[i] for i in kept]
    if case.texts is not None:
        assert again.texts.to_pylist() == [case.texts[i] for i in kept]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_prune_refuses_to_overwrite_input(case: Case, tmp_path: Path) -> None:
    path, options = make(case, tmp_path)
    before = snapshot(path.parent)
    with pytest.raises(LessdataError, match="overwrite the input"):
        lessdata.prune(path, out=path.parent, **PRUNE, **options)
    assert snapshot(path.parent) == before  # nothing written, nothing changed
    with pytest.raises(LessdataError):  # the input itself as the output folder
        lessdata.prune(path, out=path, **PRUNE, **options)
    assert snapshot(path.parent) == before


def test_write_subset_refuses_the_input_path(tmp_path: Path) -> None:
    path, _ = make(CASES[2], tmp_path)
    ds = lessdata.load(path)
    before = snapshot(path.parent)
    with pytest.raises(LessdataError, match="overwrite the input"):
        writers.write_subset(ds, np.arange(5), path)
    assert snapshot(path.parent) == before


def test_score_refuses_to_overwrite_input(tmp_path: Path) -> None:
    path, _ = make(CASES[2], tmp_path)
    before = snapshot(path.parent)
    with pytest.raises(LessdataError, match="overwrite the input"):
        lessdata.score(path, out=path, metric_options={"k": 4})
    with pytest.raises(LessdataError, match="is a folder"):
        lessdata.score(path, out=path.parent, metric_options={"k": 4})
    assert snapshot(path.parent) == before


def test_input_named_like_the_manifest(tmp_path: Path) -> None:
    """An input called manifest.parquet must not be overwritten by (or overwrite) the manifest."""
    path = tmp_path / "manifest.parquet"
    _parquet_fixed(path)
    result = lessdata.prune(path, out=tmp_path / "out", **PRUNE)
    data = result.paths["data"]
    assert data.name == "manifest.data.parquet"
    assert pq.read_table(data).schema.names == ["id", "embedding", "label", "note"]
    assert "kept" in pq.read_table(result.paths["manifest"]).schema.names


@pytest.mark.parametrize(("name", "write"), [("x.pq", _parquet_fixed), ("x.ndjson", _jsonl_text)])
def test_output_keeps_the_input_file_name(name: str, write: Callable, tmp_path: Path) -> None:
    path = tmp_path / name
    write(path)
    result = lessdata.prune(path, out=tmp_path / "out", **PRUNE)
    assert result.paths["data"] == tmp_path / "out" / name
    assert len(lessdata.load(result.paths["data"])) == N // 2


# --------------------------------------------------------------------------- JSONL details


def test_jsonl_blank_lines_stay_row_aligned(tmp_path: Path) -> None:
    """Blank and whitespace-only lines are not rows for pyarrow.json nor for the writer."""
    lines = [
        (json.dumps({"id": INT_IDS[i], "embedding": X[i].tolist()}) + "\n").encode()
        for i in range(N)
    ]
    lines[3] = lines[3].replace(b"\n", b"\r\n")  # a Windows line ending
    lines[-1] = lines[-1].rstrip(b"\n")  # no newline at the end of the file
    raw = b""
    for i, line in enumerate(lines):
        raw += line + (b"\n" if i % 5 == 0 else b"") + (b"  \t \n" if i % 7 == 0 else b"")
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n" + raw)
    before = snapshot(path)

    assert pajson.read_json(path).column("id").to_pylist() == INT_IDS
    ds = lessdata.load(path)
    assert ds.ids.to_pylist() == INT_IDS
    np.testing.assert_allclose(ds.vectors, X, rtol=1e-6)

    result = lessdata.prune(path, out=tmp_path / "out", **PRUNE)
    assert snapshot(path) == before
    target = tmp_path / "out" / "blank.jsonl"
    expected = [lines[i] if lines[i].endswith(b"\n") else lines[i] + b"\n" for i in result.kept]
    assert target.read_bytes() == b"".join(expected)
    again = lessdata.load(target)
    assert again.ids.to_pylist() == kept_ids(result.manifest)
    np.testing.assert_allclose(again.vectors, X[result.kept], rtol=1e-6)


def test_jsonl_two_objects_on_one_line_is_refused(tmp_path: Path) -> None:
    rows = [json.dumps({"id": i, "embedding": X[i].tolist()}) for i in range(N)]
    path = tmp_path / "two.jsonl"
    path.write_text(rows[0] + " " + rows[1] + "\n" + "\n".join(rows[2:]) + "\n")
    assert pajson.read_json(path).num_rows == N  # pyarrow reads 60 rows from 59 lines
    with pytest.raises(LessdataError, match="one object on each line"):
        lessdata.load(path)


def test_jsonl_lines_longer_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "_JSON_BLOCK_BYTES", 64)
    path = tmp_path / "long.jsonl"
    _write_jsonl(path, [{"text": t * 5, "id": i} for i, t in enumerate(TEXTS)])
    ds = lessdata.load(path)
    assert ds.texts.to_pylist() == [t * 5 for t in TEXTS]


def test_jsonl_input_changed_before_writing_leaves_no_output(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    _jsonl_text(path)
    ds = lessdata.load(path)
    with open(path, "a") as fh:
        fh.write(json.dumps({"text": "late", "id": "late"}) + "\n")
    out = tmp_path / "out"
    with pytest.raises(LessdataError, match="changed"):
        writers.write_subset(ds, np.arange(10), out / "x.jsonl")
    assert list(out.iterdir()) == []  # the temporary file is gone too


# --------------------------------------------------------------------------- CSV details


def _tricky_texts() -> list[str]:
    specials = ["line one\nline two", 'comma, "quoted" and more', "crlf\r\ninside", "", "  pad  "]
    return [f"{TEXTS[i]} {specials[i % len(specials)]}" for i in range(N)]


def test_csv_quoted_newlines_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "_CSV_BLOCK_BYTES", 256)  # many blocks: test the chunker
    texts = _tricky_texts()
    path = tmp_path / "q.csv"
    records = []
    for i, t in enumerate(texts):
        buf = io.StringIO(newline="")
        csv.writer(buf).writerow([STR_IDS[i], t, i])
        records.append(buf.getvalue().encode())
    header = b"id,text,n\r\n"
    blank = [b"\r\n" if i == 10 else b"" for i in range(N)]  # an empty line: not a row
    path.write_bytes(header + b"".join(r + b for r, b in zip(records, blank, strict=True)))
    before = snapshot(path)

    ds = lessdata.load(path)
    assert ds.texts.to_pylist() == texts
    assert ds.ids.to_pylist() == STR_IDS

    result = lessdata.prune(path, out=tmp_path / "out", **PRUNE)
    assert snapshot(path) == before
    target = tmp_path / "out" / "q.csv"
    # the header and the kept records, byte for byte
    assert target.read_bytes() == header + b"".join(records[i] for i in result.kept)
    back = read_csv_table(target)
    assert back.column("text").to_pylist() == [texts[i] for i in result.kept]
    assert back.column("id").to_pylist() == kept_ids(result.manifest)
    with open(target, newline="") as fh:
        assert [row[1] for row in list(csv.reader(fh))[1:]] == [texts[i] for i in result.kept]


def test_csv_arrow_writer_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When records cannot be matched to rows, the kept rows are written with Arrow."""
    monkeypatch.setattr(writers, "_copy_csv_records", lambda *args: False)
    texts = _tricky_texts()
    path = tmp_path / "q.csv"
    _write_csv(path, ["id", "text", "n"], [[STR_IDS[i], texts[i], i] for i in range(N)])
    result = lessdata.prune(path, out=tmp_path / "out", **PRUNE)
    back = read_csv_table(result.paths["data"])
    assert back.to_pylist() == read_csv_table(path).take(pa.array(result.kept)).to_pylist()


# --------------------------------------------------------------------------- odd values


def test_float64_beyond_float32_range_is_refused(tmp_path: Path) -> None:
    x = X.astype(np.float64)
    x[4, 2] = 1e300
    np.save(tmp_path / "big.npy", x)
    with pytest.raises(LessdataError, match=r"row 4 .*float32 range"):
        lessdata.load(tmp_path / "big.npy")


def test_list_labels_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"embedding": X.tolist(), "label": [[i % 2] for i in range(N)]}), path)
    with pytest.raises(LessdataError, match="one class"):
        lessdata.load(path)


def test_dictionary_encoded_columns(tmp_path: Path) -> None:
    """Columns stored as dictionaries (pandas categoricals) load like plain ones."""
    path = tmp_path / "x.parquet"
    table = pa.table(
        {
            "id": pa.array(STR_IDS).dictionary_encode(),
            "text": pa.array(TEXTS).dictionary_encode(),
            "label": pa.array(LABELS).dictionary_encode(),
        }
    )
    pq.write_table(table, path)
    ds = lessdata.load(path)
    assert ds.ids.to_pylist() == STR_IDS
    assert ds.texts.to_pylist() == TEXTS
    assert ds.classes[ds.labels].tolist() == LABELS.tolist()


def test_npz_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    path.write_bytes(b"\x00garbage" * 20)
    with pytest.raises(LessdataError, match="not a zip"):
        lessdata.load(path)


# --------------------------------------------------------------------------- fidelity


def test_npz_keeps_compression_and_any_array_name(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "x.npz"  # np.savez cannot name an array "file": build the archive
    arrays = {"embeddings": X, "file": np.arange(N), "meta": np.array("note")}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            with zf.open(f"{key}.npy", "w") as fh:
                np.lib.format.write_array(fh, arr)
    result = lessdata.prune(path, out=tmp_path / "out", **PRUNE)
    with zipfile.ZipFile(result.paths["data"]) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    with np.load(result.paths["data"]) as archive:
        np.testing.assert_array_equal(archive["embeddings"], X[result.kept])
        np.testing.assert_array_equal(archive["file"], result.kept)
        assert archive["meta"] == "note"


def test_parquet_keeps_compression(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"embedding": X.tolist()}), path, compression="zstd")
    result = lessdata.prune(path, out=tmp_path / "out", **PRUNE)
    meta = pq.ParquetFile(result.paths["data"]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert meta.num_rows == N // 2


def test_parquet_vectors_stream_into_a_memory_map(tmp_path, monkeypatch):
    """Vectors of a Parquet file are spilled row group by row group into a cached .npy map."""
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(io_dataset, "_CHUNK_ROWS", 40)  # several batches
    x = np.random.default_rng(0).normal(size=(130, 6)).astype(np.float32)
    path = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"embedding": list(x), "id": np.arange(130)}), path)
    ds = lessdata.load(path)
    assert isinstance(ds.vectors, np.memmap)
    np.testing.assert_array_equal(ds.vectors, x)
    assert lessdata.load(path).vectors.filename == ds.vectors.filename  # reused
    rows = [list(v) for v in x]
    rows[97] = rows[97][:5]
    pq.write_table(pa.table({"embedding": rows}), tmp_path / "ragged.parquet")
    with pytest.raises(LessdataError, match="row 97 has 5 values"):
        lessdata.load(tmp_path / "ragged.parquet")
