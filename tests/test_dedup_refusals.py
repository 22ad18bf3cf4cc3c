"""One reading rule for every ``dedup`` method: a table row that cannot be read (not UTF-8,
over the per-document limits, not a JSON object, ...) is refused, as ``score`` and ``prune``
refuse it, with one line naming the file and the row; ``curate`` records such rows under
``removed_by=read`` and goes on. A dedup run through the curation stages names itself
``dedup`` in its manifest and output marker."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import lessdata
from lessdata.data.manifest import META_KEY
from lessdata.errors import LessdataError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


ROWS = [f"document number {i} about topic {i % 5} with words {i * 7}" for i in range(12)]


def _lines(bad: bytes, at: int) -> bytes:
    """ROWS as JSONL with the line ``bad`` at position ``at``."""
    lines = [json.dumps({"id": f"d{i}", "text": t}).encode() for i, t in enumerate(ROWS)]
    lines.insert(at, bad)
    return b"\n".join(lines) + b"\n"


BAD = {
    "not UTF-8": (_lines(b'{"id": "x", "text": "caf\xe9 au lait"}', 4),
                  "row 4 (id #4): undecodable"),
    "a 20 MB line": (_lines(json.dumps({"id": "x", "text": "y" * 20_000_000}).encode(), 2),
                     "row 2 (id x): too large"),
    "a null first row": (_lines(b"null", 0), "row 0"),
}  # fmt: skip

METHODS = [["exact"], ["near"], ["exact", "near"], ["semantic"]]


@pytest.mark.parametrize("methods", METHODS, ids="+".join)
@pytest.mark.parametrize("case", list(BAD))
def test_every_method_refuses_a_row_it_cannot_read(tmp_path, cli, case, methods):
    data, where = BAD[case]
    (tmp_path / "c.jsonl").write_bytes(data)
    flags = [f for m in methods for f in ("--method", m)]
    code, _, err = cli("dedup", "c.jsonl", *flags, "--encoder", "tfidf", "--out", "out")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: c.jsonl: "), err
    if methods != ["semantic"]:  # the text methods name every row and its problem
        assert where in lines[0] and "lessdata curate" in lines[0], err
    assert not (tmp_path / "out").exists()


def test_curate_still_records_them_and_goes_on(tmp_path, cli):
    (tmp_path / "c.jsonl").write_bytes(BAD["not UTF-8"][0])
    code, _, err = cli("curate", "c.jsonl", "--dedup", "exact", "--out", "out")
    assert code == 0, err
    manifest = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pandas()
    assert manifest.set_index("id").loc["#4", "removed_by"] == "read"


def test_the_refusal_names_several_rows_in_one_line(tmp_path):
    data = _lines(b"[1, 2]", 0).replace(b'"document number 7', b'"document \xff number 7')
    (tmp_path / "c.jsonl").write_bytes(data)
    with pytest.raises(LessdataError) as caught:
        lessdata.dedup(tmp_path / "c.jsonl", method="exact")
    message = str(caught.value)
    assert "cannot read 2 rows: row 0" in message and "not a JSON object" in message
    assert "row 8 (id #8): undecodable bytes (not UTF-8)" in message and "\n" not in message


def test_an_in_memory_table_is_named_as_the_caller_gave_it():
    texts = [*ROWS, "z" * 10_000_001]
    with pytest.raises(LessdataError, match=r"^<list of texts>: cannot read row 12: too large"):
        lessdata.dedup(texts, method="near")


def test_empty_texts_and_skipped_source_files_are_not_refused(tmp_path, cli):
    lines = _lines(json.dumps({"id": "e", "text": ""}).encode(), 3)
    (tmp_path / "c.jsonl").write_bytes(lines)
    code, _, err = cli("dedup", "c.jsonl", "--method", "exact", "--out", "out")
    assert code == 0, err
    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "a.py").write_text("def f(x):\n    return x + 1\n")
    (tree / "b.py").write_bytes(b"\x00\x01binary")
    code, _, err = cli("dedup", "src", "--method", "exact", "--out", "out2")
    assert code == 0, err


def test_a_text_dedup_names_itself_dedup(tmp_path, cli):
    (tmp_path / "c.jsonl").write_bytes(_lines(json.dumps({"id": "c", "text": ROWS[0]}).encode(), 1))
    code, _, err = cli("dedup", "c.jsonl", "--method", "exact", "--out", "out")
    assert code == 0, err
    meta = json.loads(pq.read_schema(tmp_path / "out" / "manifest.parquet").metadata[META_KEY])
    marker = json.loads((tmp_path / "out" / ".lessdata-output.json").read_text())
    assert meta["command"] == "dedup" and marker["command"] == "dedup"
    assert meta["removed"]["exact"] == 1
    code, _, err = cli("curate", "c.jsonl", "--dedup", "exact", "--out", "cur")
    meta = json.loads(pq.read_schema(tmp_path / "cur" / "manifest.parquet").metadata[META_KEY])
    assert code == 0 and meta["command"] == "curate", err
