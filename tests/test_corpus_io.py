"""Tests for lessdata.data.corpus: streaming corpus readers and the source-code splitter.

Every reader must yield one row per input row (bad rows included, in order), never raise on
a bad document, and keep texts exactly as stored.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import json
import json.decoder
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lessdata.data import corpus_rows
from lessdata.data.corpus import CorpusLimits, corpus_format, read_corpus, read_texts
from lessdata.data.corpus_rows import CORPUS_SCHEMA, PROBLEMS, count_lines, split_lines
from lessdata.data.source_files import Span, split_functions, unsplit_rows
from lessdata.data.tables import CORPUS_FORMATS, jsonl_rows
from lessdata.errors import LessdataError


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")


def read_all(source: Path, **options: Any) -> list[dict[str, Any]]:
    """All rows of a corpus as dicts, checking each batch's schema and size on the way."""
    rows: list[dict[str, Any]] = []
    batch_size = options.get("batch_size", 1024)
    for batch in read_corpus(source, **options):
        assert batch.schema == CORPUS_SCHEMA
        assert 0 < batch.num_rows <= batch_size
        rows.extend(batch.to_pylist())
    for row in rows:
        assert row["problem"] is None or row["problem"] in PROBLEMS
        assert (row["text"] is None) == (row["problem"] is not None)
    return rows


# --- split_functions ------------------------------------------------------------------------


def check_spans(source: str, spans: list[Span]) -> None:
    """Spans are exact, sorted, disjoint line slices covering every top-level def/class."""
    lines = split_lines(source)
    assert "".join(lines) == source
    tree = ast.parse(source.lstrip("\ufeff"))
    expected = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    assert [s.name for s in spans] == expected
    rebuilt, cursor = [], 1
    for span in spans:
        assert 1 <= span.start_line <= span.end_line <= len(lines)
        assert span.start_line >= cursor  # sorted and disjoint
        assert span.text == "".join(lines[span.start_line - 1 : span.end_line])
        assert span.kind in ("function", "class")
        first = span.text.lstrip().splitlines()[0]
        assert first.startswith(("@", "def ", "async def ", "class "))
        rebuilt.append("".join(lines[cursor - 1 : span.start_line - 1]))  # the gap
        rebuilt.append(span.text)
        cursor = span.end_line + 1
    rebuilt.append("".join(lines[cursor - 1 :]))
    assert "".join(rebuilt) == source


@pytest.mark.parametrize("module", [json.decoder, textwrap, inspect])
def test_split_functions_on_stdlib(module: Any) -> None:
    path = inspect.getsourcefile(module)
    assert path is not None
    source = Path(path).read_bytes().decode("utf-8")
    spans = split_functions(source)
    assert len(spans) >= 3
    check_spans(source, spans)
    kinds = {s.kind for s in spans}
    assert "function" in kinds


DECORATED = '''"""Module docstring."""
import functools


@functools.lru_cache(maxsize=None)
@staticmethod
def cached(x):
    return x  # trailing comment


# a comment between blocks
async def fetch(url):
    async with url as u:
        return await u


@dataclass(
    frozen=True,
)
class Point:
    x: int

    def norm(self):
        return abs(self.x)

X = 1
if X:
    def hidden():  # not top level
        pass
def last(): return 1; y = 2
'''


def test_split_functions_decorators_async_and_classes() -> None:
    spans = split_functions(DECORATED)
    check_spans(DECORATED, spans)
    by_name = {s.name: s for s in spans}
    assert list(by_name) == ["cached", "fetch", "Point", "last"]
    assert by_name["cached"].start_line == 5  # the first decorator's line
    assert by_name["cached"].end_line == 8
    assert by_name["cached"].text.startswith("@functools.lru_cache")
    assert by_name["fetch"].kind == "function"
    assert (by_name["Point"].start_line, by_name["Point"].end_line) == (17, 24)
    assert by_name["Point"].kind == "class"
    assert by_name["last"].text == "def last(): return 1; y = 2\n"


def test_split_functions_keeps_crlf_cr_bom_and_form_feeds() -> None:
    crlf = DECORATED.replace("\n", "\r\n")
    spans = split_functions(crlf)
    check_spans(crlf, spans)
    assert all(s.text.endswith("\r\n") for s in spans)
    assert [(s.start_line, s.end_line) for s in spans] == [
        (s.start_line, s.end_line) for s in split_functions(DECORATED)
    ]
    old_mac = "x = 1\rdef f():\r    return '\x0c'\r\rclass A:\r    pass\r"
    spans = split_functions(old_mac)
    check_spans(old_mac, spans)
    assert [(s.start_line, s.end_line) for s in spans] == [(2, 3), (5, 6)]
    # a form feed or line separator inside code is not a line break for Python
    odd = "def f():\n    '''a\x0cb\u2028c'''\n\x0c\ndef g():\n    pass"
    spans = split_functions(odd)
    check_spans(odd, spans)
    assert spans[1].start_line == 4 and spans[1].text == "def g():\n    pass"
    bom = "\ufeffdef f():\n    pass\n"
    spans = split_functions(bom)
    assert spans[0].text == bom and spans[0].start_line == 1


def test_split_functions_rejects_bad_python() -> None:
    with pytest.raises(SyntaxError):
        split_functions("def f(:\n    pass\n")
    with pytest.raises((SyntaxError, ValueError)):
        split_functions("def f():\n    return '\x00'\n")
    assert split_functions("x = 1\nprint(x)\n") == []


def test_count_lines_matches_split_lines() -> None:
    for text in ["", "a", "a\n", "a\r\nb", "a\rb\r", "a\n\nb\n", "\r\n\r\n", "x\x0cy\n"]:
        assert count_lines(text) == len(split_lines(text)), text


# --- source folders ---------------------------------------------------------------------------


GOOD_A = "import os\n\n\ndef alpha():\n    return 1\n\n\nclass Beta:\n    pass\n"
GOOD_B = "def gamma(x):\r\n    return x\r\n"
NO_DEFS = "X = 1\nprint(X)\n"
BROKEN = "def broken(:\n    pass\n"


def make_tree(root: Path) -> None:
    """A source tree with good files, every kind of bad file, and folders to skip."""
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "a.py").write_text(GOOD_A)
    (root / "pkg" / "b.py").write_bytes(GOOD_B.encode())
    (root / "pkg" / "sub" / "consts.py").write_text(NO_DEFS)
    (root / "pkg" / "broken.py").write_text(BROKEN)
    (root / "pkg" / "bin.py").write_bytes(b"def f():\n    pass\n\x00\x01\x02")
    (root / "pkg" / "latin.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    (root / "pkg" / "empty.py").write_text("  \n\n")
    (root / "pkg" / "minified.py").write_text("x = [" + "1," * 200 + "]\n")
    (root / "pkg" / "huge.py").write_text("# " + "y" * 50 + "\n" * 700)
    (root / "pkg" / "bom.py").write_bytes(b"\xef\xbb\xbfdef h():\n    pass\n")
    (root / "notes.txt").write_text("not code")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.py").write_text(GOOD_A)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython-311.py").write_text(GOOD_A)
    (root / "pkg" / "sub" / "loop").symlink_to(root / "pkg", target_is_directory=True)


LIMITS = CorpusLimits(max_doc_bytes=600, max_line_chars=300)


def test_source_folder_whole_files(tmp_path: Path) -> None:
    make_tree(tmp_path)
    rows = read_all(tmp_path, limits=LIMITS, batch_size=3)
    got = {r["id"]: r["problem"] for r in rows}
    assert got == {
        "a.py": None,
        "pkg/b.py": None,
        "pkg/bin.py": "binary file",
        "pkg/bom.py": None,
        "pkg/broken.py": None,
        "pkg/empty.py": "empty document",
        "pkg/huge.py": "too large",
        "pkg/latin.py": "undecodable bytes (not UTF-8)",
        "pkg/minified.py": "enormous line",
        "pkg/sub/consts.py": None,
    }
    assert [r["id"] for r in rows] == list(got)  # a folder's files first, names sorted
    by_id = {r["id"]: r for r in rows}
    assert by_id["a.py"]["text"] == GOOD_A
    assert by_id["pkg/b.py"]["text"] == GOOD_B  # CRLF kept
    assert by_id["pkg/bom.py"]["text"] == "def h():\n    pass\n"
    assert (by_id["a.py"]["start_line"], by_id["a.py"]["end_line"]) == (1, 9)
    assert (by_id["pkg/b.py"]["start_line"], by_id["pkg/b.py"]["end_line"]) == (1, 2)
    assert all(r["path"] == r["id"] for r in rows)
    assert by_id["pkg/bin.py"]["start_line"] is None


def test_source_folder_functions(tmp_path: Path) -> None:
    make_tree(tmp_path)
    batches = list(read_corpus(tmp_path, split="function", limits=LIMITS, batch_size=4))
    rows = [r for b in batches for r in b.to_pylist()]
    ids = [r["id"] for r in rows]
    assert ids == [
        "a.py:4-5",
        "a.py:8-9",
        "pkg/b.py:1-2",
        "pkg/bin.py",
        "pkg/bom.py:1-2",
        "pkg/broken.py",
        "pkg/empty.py",
        "pkg/huge.py",
        "pkg/latin.py",
        "pkg/minified.py",
    ]  # consts.py has no functions: no rows
    by_id = {r["id"]: r for r in rows}
    assert by_id["a.py:4-5"]["text"] == "def alpha():\n    return 1\n"
    assert by_id["a.py:8-9"]["path"] == "a.py"
    assert by_id["pkg/b.py:1-2"]["text"] == GOOD_B
    assert by_id["pkg/broken.py"]["text"] == BROKEN  # unparsable: kept whole, no problem
    assert by_id["pkg/broken.py"]["problem"] is None
    assert by_id["pkg/bin.py"]["problem"] == "binary file"
    unsplit = np.concatenate([unsplit_rows(b) for b in batches])
    assert [i for i, flag in zip(ids, unsplit, strict=True) if flag] == ["pkg/broken.py"]


def test_source_folder_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that cannot be opened is a problem row. chmod 000 does not stop root (CI runs
    as root), so opening that one file is made to fail the way it fails for other users."""
    import builtins

    import lessdata.data.source_files as source_files

    make_tree(tmp_path)
    locked = tmp_path / "pkg" / "locked.py"
    locked.write_text(GOOD_A)

    def guarded_open(file, *args, **kwargs):
        if Path(file) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(source_files, "open", guarded_open, raising=False)
    rows = read_all(tmp_path, limits=LIMITS)
    problems = {r["id"]: r["problem"] for r in rows}
    assert problems["pkg/locked.py"] == "unreadable file"
    assert problems["pkg/b.py"] is None  # the walk went on


def test_source_folder_broken_link_and_extensions(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(GOOD_A)
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")
    (tmp_path / "c.pyi").write_text("def stub() -> int: ...\n")
    rows = read_all(tmp_path, extensions=(".py", ".pyi"))
    assert {r["id"]: r["problem"] for r in rows} == {
        "a.py": None,
        "c.pyi": None,
        "gone.py": "unreadable file",
    }


def test_source_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hook.py").write_text(GOOD_A)
    with pytest.raises(LessdataError, match=r"no files ending in \.py"):
        read_corpus(tmp_path)  # raises at call time, before iteration
    (tmp_path / "a.py").write_text(GOOD_A)
    with pytest.raises(LessdataError, match="no columns"):
        read_corpus(tmp_path, text_column="text")
    with pytest.raises(LessdataError, match="start with a dot"):
        read_corpus(tmp_path, extensions=("py",))
    with pytest.raises(LessdataError, match="split must be one of"):
        read_corpus(tmp_path, split="line")


# --- JSONL ------------------------------------------------------------------------------------


JSONL_LINES = [
    '{"id": "a", "text": "first doc"}',
    "",
    "{not json",
    "[1, 2]",
    '{"id": "b", "other": 1}',
    '{"id": "c", "text": 42}',
    "   ",
    '{"id": "d", "text": "  \\n "}',
    '{"id": 7, "text": "seventh\\r\\nline"}',
    '{"text": "no id"}',
    '{"id": "e", "text": "bad \\ud800 surrogate"}',
    '{"id": "f", "text": "' + "z" * 50 + '"}',
    '{"id": "g", "text": null}',
]


def test_jsonl_problems_and_row_numbering(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(("\n".join(JSONL_LINES) + "\n").encode() + b'{"text": "\xff"}\n')
    rows = read_all(path, batch_size=4, limits=CorpusLimits(max_doc_bytes=40))
    assert len(rows) == sum(1 for _ in jsonl_rows(path)) == 12
    got = [(r["id"], r["problem"]) for r in rows]
    assert got == [
        ("a", None),
        ("#1", "invalid JSON"),
        ("#2", "not a JSON object"),
        ("b", "missing text"),
        ("c", "text is not a string"),
        ("d", "empty document"),
        ("7", None),
        ("#7", None),
        ("e", "invalid Unicode (lone surrogate)"),
        ("f", "too large"),
        ("g", "missing text"),
        ("#11", "undecodable bytes (not UTF-8)"),
    ]
    assert rows[0]["text"] == "first doc"
    assert rows[6]["text"] == "seventh\r\nline"
    assert all(r["path"] is None and r["start_line"] is None for r in rows)


def test_jsonl_row_number_ids_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    lines = ['{"meta": 1}', '{"content": "x1", "key": "k1"}', "", '{"content": "x2", "key": "k2"}']
    path.write_text("\n".join(lines) + "\n")
    rows = read_all(path)
    assert [(r["id"], r["text"], r["problem"]) for r in rows] == [
        ("0", None, "missing text"),
        ("1", "x1", None),
        ("2", "x2", None),
    ]
    rows = read_all(path, id_column="key")
    assert [r["id"] for r in rows] == ["#0", "k1", "k2"]
    with pytest.raises(LessdataError, match=r"no object has the key 'body'.*'meta'"):
        read_corpus(path, text_column="body")
    other = tmp_path / "o.jsonl"
    other.write_text('{"a": 1}\n{"b": "x"}\nnonsense\n')
    with pytest.raises(LessdataError, match=r"no object has a text key.*'a', 'b'"):
        read_corpus(other)


def test_jsonl_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"id": f"r{i % 5}" if i == 7 else f"r{i}", "text": f"doc {i}"} for i in range(9)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(LessdataError, match="'r2' repeats"):
        list(read_corpus(path, batch_size=2))  # across batches
    assert len(read_all(path, id_column="text")) == 9


# --- Parquet, CSV, HF --------------------------------------------------------------------------


def test_parquet_batches_equal_the_table(tmp_path: Path) -> None:
    texts = [f"document number {i}\nline two" for i in range(23)]
    texts[5] = None  # type: ignore[call-overload]
    texts[9] = ""
    ids = [100 + 3 * i for i in range(23)]
    table = pa.table({"uid": ids, "content": texts, "extra": list(range(23))})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=7)
    rows = read_all(path, batch_size=4)
    assert [r["id"] for r in rows] == [str(i) for i in ids]
    expected = [t if t else None for t in texts]
    assert [r["text"] for r in rows] == expected
    assert rows[5]["problem"] == "missing text" and rows[9]["problem"] == "empty document"
    assert sum(r["problem"] is None for r in rows) == 21
    no_id = read_all(path, id_column=None, text_column="content")
    assert len(no_id) == 23
    with pytest.raises(LessdataError, match=r"no column 'body'.*'uid', 'content', 'extra'"):
        read_corpus(path, text_column="body")
    with pytest.raises(LessdataError, match="holds int64, not text"):
        read_corpus(path, text_column="extra")
    with pytest.raises(LessdataError, match="folder of source files"):
        read_corpus(path, split="function")


def test_parquet_row_numbers_as_ids(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), path)
    assert [r["id"] for r in read_all(path)] == ["0", "1", "2"]


def test_csv(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,text\n1,"hello, world"\n2,"multi\nline"\n3,\n4,12345\n')
    rows = read_all(path, batch_size=3)
    assert [(r["id"], r["text"], r["problem"]) for r in rows] == [
        ("1", "hello, world", None),
        ("2", "multi\nline", None),
        ("3", None, "empty document"),
        ("4", "12345", None),
    ]
    numbers = tmp_path / "n.csv"
    numbers.write_text("text\n1\n2\n")
    assert [r["text"] for r in read_all(numbers)] == ["1", "2"]  # CSV digits are text
    blank = tmp_path / "b.csv"
    blank.write_text("id,text\n1,\n2,\n")
    assert [r["problem"] for r in read_all(blank)] == ["empty document"] * 2


def test_hf_folder(tmp_path: Path) -> None:
    import datasets

    folder = tmp_path / "hf"
    texts = ["alpha beta", "", "gamma", None, "delta"]
    datasets.Dataset.from_dict({"text": texts, "label": [0, 1, 0, 1, 0]}).save_to_disk(str(folder))
    assert corpus_format(folder) == "hf"
    rows = read_all(folder, batch_size=2)
    assert [r["id"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [r["text"] for r in rows] == ["alpha beta", None, "gamma", None, "delta"]
    assert [r["problem"] for r in rows] == [None, "empty document", None, "missing text", None]


# --- formats, errors, read_texts ----------------------------------------------------------------


def test_corpus_format_and_errors(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    assert corpus_format(tmp_path / "src") == "source"
    for name, fmt in [("a.jsonl", "jsonl"), ("a.parquet", "parquet"), ("a.csv", "csv")]:
        (tmp_path / name).write_text("")
        assert corpus_format(tmp_path / name) == fmt
    assert set(CORPUS_FORMATS) == {"jsonl", "parquet", "csv", "hf", "source"}
    with pytest.raises(LessdataError, match="no such file or directory"):
        read_corpus(tmp_path / "missing.jsonl")
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    with pytest.raises(LessdataError, match="not a text corpus"):
        corpus_format(tmp_path / "x.npy")
    (tmp_path / "x.py").write_text("x = 1\n")
    with pytest.raises(LessdataError, match="pass the folder"):
        corpus_format(tmp_path / "x.py")
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "dataset_dict.json").write_text("{}")
    with pytest.raises(LessdataError, match="DatasetDict"):
        corpus_format(tmp_path / "dd")
    with pytest.raises(LessdataError, match="batch_size"):
        read_corpus(tmp_path / "a.jsonl", batch_size=0)
    with pytest.raises(LessdataError, match="max_line_chars"):
        CorpusLimits(max_line_chars=0)


def test_empty_corpus_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("\n\n")
    assert list(read_corpus(path)) == []
    broken = tmp_path / "b.jsonl"
    broken.write_text("{oops\n[]\n")
    assert [r["problem"] for r in read_all(broken)] == ["invalid JSON", "not a JSON object"]
    csv = tmp_path / "e.csv"
    csv.write_text("")
    assert list(read_corpus(csv)) == []
    csv.write_text("id,text\n")
    assert list(read_corpus(csv)) == []
    parquet = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": pa.array([], type=pa.string())}), parquet)
    assert list(read_corpus(parquet)) == []


def test_read_texts(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in ["one", "", "two", " ", "three"]) + "oops\n"
    )
    assert read_texts(path) == ["one", "two", "three"]
    assert read_texts(path, limit=2) == ["one", "two"]
    assert read_texts(["x", "y"]) == ["x", "y"]
    assert read_texts(("x", "y", "z"), limit=1) == ["x"]
    with pytest.raises(LessdataError, match="empty"):
        read_texts([])
    with pytest.raises(LessdataError, match="item 1 is int"):
        read_texts(["a", 3])  # type: ignore[list-item]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": ""}\n{"text": 5}\n')
    with pytest.raises(LessdataError, match="no usable text"):
        read_texts(bad)
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text(GOOD_A)
    assert read_texts(src, split="function") == [
        "def alpha():\n    return 1\n",
        "class Beta:\n    pass\n",
    ]


def test_odd_file_names_fifos_and_batch_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    os.mkfifo(tmp_path / "pipe.py")  # reading it would block forever
    (Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.py"))).write_text(GOOD_B)
    rows = read_all(tmp_path)
    assert [(r["id"], r["problem"]) for r in rows] == [
        ("caf\\xe9.py", None),  # non-UTF-8 name bytes escaped, so Arrow can hold it
        ("pipe.py", "not a regular file"),
    ]
    monkeypatch.setattr(corpus_rows, "MAX_BATCH_CHARS", 10)
    for i in range(4):
        (tmp_path / f"m{i}.py").write_text(GOOD_B)  # 24 chars each: one per batch
    sizes = [b.num_rows for b in read_corpus(tmp_path, batch_size=100)]
    assert sizes == [1, 1, 1, 1, 1, 1]


# --- Pieces: what engines read in parallel ------------------------------------------------------


def _rows_of_pieces(source: Path, **options: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """Plan ``source``, count JSONL pieces, read each piece alone: all rows and the pieces."""
    from lessdata.data.corpus import plan_corpus
    from lessdata.data.corpus_pieces import count_piece_rows, read_piece

    limits = options.pop("limits", None)
    pieces = list(plan_corpus(source, **options))
    first = 0
    rows: list[dict[str, Any]] = []
    for piece in pieces:
        if piece.first_row is None:
            piece = dataclasses.replace(piece, first_row=first)
        if piece.kind == "lines":
            first += count_piece_rows(piece)
        for batch in read_piece(piece, batch_size=3, limits=limits):
            assert batch.schema == CORPUS_SCHEMA and 0 < batch.num_rows <= 3
            rows.extend(batch.to_pylist())
    return rows, pieces


def test_pieces_read_alone_give_the_rows_of_read_corpus(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / ".hidden").mkdir()
    for i in range(7):
        (src / "pkg" / f"m{i}.py").write_text(GOOD_A if i % 2 else GOOD_B)
    (src / "pkg" / "__pycache__" / "x.py").write_text(GOOD_A)
    (src / ".hidden" / "y.py").write_text(GOOD_A)
    (src / "pkg" / "bad.py").write_bytes(b"\x00binary")
    (src / "top.py").write_text("def broken(:\n")
    for split in ("file", "function"):
        expected = read_all(src, split=split)
        rows, pieces = _rows_of_pieces(src, split=split, piece_files=2)
        assert len(pieces) == 5 and [p.kind for p in pieces] == ["files"] * 5
        assert rows == expected and len(expected) >= 9
        assert all(not r["id"].startswith((".hidden", "pkg/__pycache__")) for r in rows)
        by_bytes, _ = _rows_of_pieces(src, split=split, piece_bytes=1)  # one file a piece
        assert by_bytes == expected

    jsonl = tmp_path / "c.jsonl"
    jsonl.write_bytes(("\n".join(JSONL_LINES) + "\n\n").encode() + b'{"text": "\xff"}')
    limits = CorpusLimits(max_doc_bytes=40)
    expected = read_all(jsonl, limits=limits)
    for piece_bytes in (1, 7, 40, 1 << 20):
        rows, pieces = _rows_of_pieces(jsonl, piece_bytes=piece_bytes, limits=limits)
        assert rows == expected, piece_bytes
        assert pieces[0].start == 0 and pieces[-1].stop == jsonl.stat().st_size
        assert all(a.stop == b.start for a, b in itertools.pairwise(pieces))
    assert len(_rows_of_pieces(jsonl, piece_bytes=1)[1]) == len(JSONL_LINES) + 2  # a line each
    rows, _ = _rows_of_pieces(jsonl, piece_bytes=7, id_column="text", limits=limits)
    assert [r["id"] for r in rows] == [r["id"] for r in read_all(jsonl, id_column="text",
                                                                 limits=limits)]  # fmt: skip
    assert "#1" in [r["id"] for r in rows]  # a missing id names its global row

    table = pa.table({"text": [f"doc {i}" if i % 5 else "" for i in range(23)]})
    parquet = tmp_path / "t.parquet"
    pq.write_table(table, parquet, row_group_size=4)
    expected = read_all(parquet)
    rows, pieces = _rows_of_pieces(parquet, piece_rows=9)
    assert [p.row_groups for p in pieces] == [(0, 1), (2, 3), (4, 5)]
    assert [p.first_row for p in pieces] == [0, 8, 16]
    assert rows == expected and [r["id"] for r in rows] == [str(i) for i in range(23)]
    assert rows[10]["problem"] == "empty document"


def test_piece_identity_follows_the_files(tmp_path: Path) -> None:
    from lessdata.data.corpus import plan_corpus

    (tmp_path / "a.py").write_text(GOOD_A)
    before = [p.identity() for p in plan_corpus(tmp_path)]
    assert before == [p.identity() for p in plan_corpus(tmp_path)]  # stable
    (tmp_path / "a.py").write_text(GOOD_A + "\n")
    assert [p.identity() for p in plan_corpus(tmp_path)] != before  # size changed
    with pytest.raises(LessdataError, match="piece_files must be a positive integer"):
        plan_corpus(tmp_path, piece_files=0)
    with pytest.raises(LessdataError, match="no files ending in"):
        plan_corpus(tmp_path, extensions=(".rs",))


def test_check_unique_ids_names_the_first_repeat_as_read_corpus_does(tmp_path: Path) -> None:
    from lessdata.data.corpus_rows import check_unique_ids

    ids = ["a", "b", "c", "b", "a", "d"]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": "x"}) + "\n" for i in ids))
    with pytest.raises(LessdataError) as streamed:
        list(read_corpus(path))
    with pytest.raises(LessdataError) as checked:
        check_unique_ids(pa.chunked_array([ids[:3], ids[3:]]), str(path))
    assert str(checked.value) == str(streamed.value) and "'b' repeats" in str(checked.value)
    check_unique_ids(pa.array(["x", "y", "z"]), "fine")
    check_unique_ids(pa.array([], pa.string()), "empty")
