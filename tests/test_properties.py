"""Property tests: whatever the input, lessdata gives a result or a LessdataError.

Hypothesis generates the files a user might hand over (arrays of any shape and dtype with
NaN, infinity and zero rows; JSONL with broken lines, bytes that are not UTF-8, lone
surrogates, unicode and duplicate ids, values of the wrong type; CSV with stray quotes and
embedded newlines) and feeds them to the readers and to the CLI. Every case must end in a
result or a :class:`LessdataError` (exit 2 and one line on the CLI), never another
exception, and nothing outside ``--out`` may change.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lessdata.cli import main
from lessdata.data.corpus import read_corpus
from lessdata.data.dataset import load
from lessdata.errors import LessdataError

CASES = settings(
    max_examples=int(os.environ.get("LESSDATA_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same cases on every run: CI stays reproducible
)

#: a CLI case runs a whole command (up to a second): fewer of them, for each command
CLI_CASES = settings(CASES, max_examples=max(1, CASES.max_examples // 5))


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")


@contextmanager
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# --- what users hand over ---------------------------------------------------------------------

texts = st.text(max_size=30)
ids = st.one_of(
    st.text(max_size=6),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
labels = st.one_of(st.integers(0, 3), st.text(max_size=2), st.floats(allow_nan=False), st.none())
objects = st.fixed_dictionaries(
    {"text": st.one_of(texts, texts, texts, st.none(), st.integers(), st.lists(texts, max_size=2))},
    optional={"id": ids, "label": labels},
)
odd_lines = st.sampled_from(
    [b"", b"   ", b"[1, 2]", b'"text"', b'{"text": "caf\xe9"}', b'{"text": "\\ud800 x"}',
     b'{"text": NaN}', b"{", b'{"text": "a"} {"text": "b"}', b"\xff\xfe", b"null"]
)  # fmt: skip
jsonl_lines = st.lists(
    st.one_of(objects.map(lambda o: json.dumps(o).encode()), odd_lines, st.binary(max_size=12)),
    max_size=12,
)
csv_cells = st.one_of(
    texts, st.sampled_from(['"', '""', "a,b", "line\nbreak", '"quoted"', "caf\udce9"]),
    st.integers().map(str),
)  # fmt: skip
csv_rows = st.lists(st.lists(csv_cells, min_size=1, max_size=3), max_size=10)

dtypes = st.one_of(
    hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(), hnp.complex_number_dtypes(),
    st.just(np.dtype("U3")),
)  # fmt: skip
arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9))


def finite_rows(draw_nan: bool, draw_inf: bool, zero_rows: int, n: int, d: int, seed: int):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    if n:
        x[: min(zero_rows, n)] = 0.0
        if draw_nan:
            x[n // 2, 0] = np.nan
        if draw_inf:
            x[n - 1, d - 1] = np.inf
    return x


vectors = st.builds(
    finite_rows,
    st.booleans(), st.booleans(), st.integers(0, 4), st.integers(0, 30), st.integers(1, 5),
    st.integers(0, 3),
)  # fmt: skip


def csv_bytes(rows: list[list[str]], header: list[str]) -> bytes:
    def cell(value: str) -> str:
        if any(c in value for c in ',"\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [",".join(header)] + [",".join(cell(v) for v in row) for row in rows]
    return "\n".join(lines).encode("utf-8", "surrogateescape")


# --- the readers ------------------------------------------------------------------------------


def loads_or_refuses(path: Path, **options) -> None:
    try:
        ds = load(path, **options)
    except LessdataError as exc:
        assert str(exc).strip(), "an error must say something"
        return
    assert len(ds) == len(ds.ids)
    if ds.texts is not None:
        assert len(ds.texts) == len(ds) and ds.texts.null_count == 0
        ds.texts.to_pylist()  # valid UTF-8 all through
    if ds.vectors is not None:
        assert ds.vectors.ndim == 2 and len(ds.vectors) == len(ds)
        assert np.isfinite(ds.vectors).all()


def reads_corpus_or_refuses(path: Path) -> None:
    try:
        batches = list(read_corpus(path))
    except LessdataError:
        return
    for batch in batches:
        assert all(isinstance(t, str) for t in batch["text"].to_pylist() if t is not None)


@CASES
@given(array=arrays)
def test_any_npy_array_loads_or_is_refused(array):
    with folder() as tmp:
        np.save(tmp / "x.npy", array)
        loads_or_refuses(tmp / "x.npy")
        np.savez(tmp / "x.npz", data=array)
        loads_or_refuses(tmp / "x.npz")


@CASES
@given(lines=jsonl_lines, label=st.booleans(), id_column=st.booleans())
def test_any_jsonl_loads_or_is_refused(lines, label, id_column):
    with folder() as tmp:
        path = tmp / "x.jsonl"
        path.write_bytes(b"\n".join(lines))
        options = {"label_column": "label"} if label else {}
        if id_column:
            options["id_column"] = "id"
        loads_or_refuses(path, **options)
        reads_corpus_or_refuses(path)


@CASES
@given(rows=csv_rows, header=st.sampled_from([["text"], ["id", "text"], ["text", "label"], ["x"]]))
def test_any_csv_loads_or_is_refused(rows, header):
    with folder() as tmp:
        path = tmp / "x.csv"
        path.write_bytes(csv_bytes(rows, header))
        loads_or_refuses(path)
        reads_corpus_or_refuses(path)


@CASES
@given(
    column=st.one_of(
        st.lists(st.one_of(texts, st.none()), max_size=8),
        st.lists(st.integers(), max_size=8),
        st.lists(st.lists(st.floats(width=32), max_size=4), max_size=8),
        st.lists(st.one_of(st.lists(st.floats(width=32), min_size=3, max_size=3), st.none()),
                 max_size=8),
    ),
    name=st.sampled_from(["text", "embedding", "other"]),
)  # fmt: skip
def test_any_parquet_column_loads_or_is_refused(column, name):
    with folder() as tmp:
        path = tmp / "x.parquet"
        try:
            table = pa.table({name: column})
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return  # not a column Arrow can hold: no file to read
        pq.write_table(table, path)
        loads_or_refuses(path)


# --- the CLI ----------------------------------------------------------------------------------


def snapshot(root: Path, skip: set[Path]) -> dict[str, str]:
    """Every path under ``root`` (but ``skip``) with a hash of what it holds."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in filenames:
            path = here / name
            if path not in skip:
                seen[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        seen.update({str((here / d).relative_to(root)) + "/": "" for d in dirnames})
    return seen


def run_cli(tmp: Path, *args: str) -> tuple[int, str]:
    """Run the CLI in-process in ``tmp``: its exit code and what it wrote to stderr."""
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stderr(err), redirect_stdout(io.StringIO()):
        mp.setattr(sys, "argv", ["lessdata", *args])
        mp.setenv("LESSDATA_CACHE", str(tmp / "cache"))
        mp.chdir(tmp)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


COMMANDS = [
    ["score", "--metric", "prototypes", "--k", "2"],
    ["score", "--metric", "random"],
    ["prune", "--keep", "0.5", "--k", "2"],
    ["prune", "--keep", "3", "--policy", "random"],
    ["prune", "--keep", "1.5"],
    ["prune", "--keep", "0.5", "--policy", "d4", "--k", "2"],
    ["prune", "--keep", "0.5", "--class-balanced", "--labels", "labels.npy", "--k", "2"],
    ["prune", "--keep", "0.5", "--zero-vectors", "drop", "--k", "2"],
    ["dedup", "--method", "semantic", "--k", "2"],
    ["dedup", "--method", "exact"],
    ["dedup", "--method", "near"],
    ["prune", "--keep", "0.5", "--policy", "d2", "--k", "2"],
    ["embed", "--steps", "2", "--dim", "4"],
    ["embed", "--method", "tfidf"],
    [
        "calibrate",
        "--labels",
        "labels.npy",
        "--k",
        "2",
        "--seeds",
        "3",
        "--fractions",
        "0.5",
    ],
]
#: the commands that take --encoder (the others embed with --method, or not at all)
TAKES_ENCODER = ("score", "prune", "calibrate")

#: mostly usable data with some damage, so that many runs get past the first check and write
good_objects = st.fixed_dictionaries(
    {"text": texts}, optional={"id": st.one_of(st.text(max_size=6), st.integers(0, 99))}
).map(lambda o: json.dumps(o).encode())
mostly_good_jsonl = st.lists(
    st.one_of(*[good_objects] * 12, objects.map(lambda o: json.dumps(o).encode()), odd_lines),
    min_size=1, max_size=14,
)  # fmt: skip
rarely = st.sampled_from([False] * 5 + [True])
mostly_good_vectors = st.builds(
    finite_rows, rarely, rarely, st.sampled_from([0] * 3 + [1, 3]), st.integers(2, 30),
    st.integers(1, 5), st.integers(0, 3),
)  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@CLI_CASES
@given(
    data=st.one_of(mostly_good_vectors, mostly_good_jsonl),
    out=st.sampled_from(["out", "sub/out", "out", "out.parquet", "x.npy", "labels.npy", "x.jsonl"]),
    labels_off_by=st.sampled_from([0] * 5 + [-1, 3]),
)
def test_the_cli_gives_a_result_or_one_line_and_writes_only_out(data, command, out, labels_off_by):
    with folder() as tmp:
        source = "x.npy" if isinstance(data, np.ndarray) else "x.jsonl"
        if isinstance(data, np.ndarray):
            np.save(tmp / source, data)
        else:
            (tmp / source).write_bytes(b"\n".join(data))
        n = len(data) if isinstance(data, np.ndarray) else len([x for x in data if x.strip()])
        np.save(tmp / "labels.npy", np.arange(max(0, n + labels_off_by)) % 3)
        cache = tmp / "cache"
        target = tmp / out
        before = snapshot(tmp, {target, cache})
        takes = command[0] in TAKES_ENCODER or (command[0] == "dedup" and "semantic" in command)
        encoder = ["--encoder", "tfidf"] if takes else []
        code, err = run_cli(tmp, command[0], source, *command[1:], *encoder, "--out", out)
        assert code in (0, 2), err
        event(f"{command[0]}: exit {code}")
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
        after = snapshot(tmp, {target, cache})
        if code == 0:  # a run that succeeded may have made the folders that hold --out
            for parent in target.parents:
                if tmp in parent.parents:
                    after.pop(str(parent.relative_to(tmp)) + "/", None)
        assert after == before, "a file outside --out changed"
