"""Bad inputs and options on the command line: one ``error: ...`` line on stderr, exit code 2,
nothing written to --out, and the input left as it was.

Most cases call the real entry point (``lessdata.cli.main``) in-process with ``sys.argv`` set,
which is what the ``lessdata`` script runs; a few run the installed script in a subprocess to
check the exit code and stderr of a real process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

N = 100
DIM = 8


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))


def _x(n: int = N, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)


def _parquet(path: Path, **columns: object) -> None:
    pq.write_table(pa.table(columns), path)


# --------------------------------------------------------------------------- inputs


def ok_npy(path: Path) -> Path:
    np.save(path / "x.npy", _x())
    return path / "x.npy"


def ok_parquet(path: Path) -> Path:
    _parquet(path / "x.parquet", id=[f"r{i}" for i in range(N)], embedding=_x().tolist())
    return path / "x.parquet"


def ok_jsonl(path: Path) -> Path:
    rows = [json.dumps({"id": i, "text": f"document number {i} says hello"}) for i in range(N)]
    (path / "c.jsonl").write_text("\n".join(rows) + "\n")
    return path / "c.jsonl"


def nan_npy(path: Path) -> Path:
    x = _x()
    x[17, 3] = np.nan
    np.save(path / "x.npy", x)
    return path / "x.npy"


def inf_parquet(path: Path) -> Path:
    x = _x()
    x[42, 0] = np.inf
    _parquet(path / "x.parquet", embedding=x.tolist())
    return path / "x.parquet"


def ragged_parquet(path: Path) -> Path:
    rows = [v.tolist() if i != 30 else v[:5].tolist() for i, v in enumerate(_x())]
    _parquet(path / "x.parquet", embedding=rows)
    return path / "x.parquet"


def ragged_npy(path: Path) -> Path:
    rows = np.empty(N, dtype=object)
    rows[:] = [np.zeros(DIM if i % 2 else DIM - 1) for i in range(N)]
    np.save(path / "x.npy", rows, allow_pickle=True)
    return path / "x.npy"


def zero_length_parquet(path: Path) -> Path:
    _parquet(path / "x.parquet", embedding=pa.array([[]] * N, type=pa.list_(pa.float32())))
    return path / "x.parquet"


def zero_length_npy(path: Path) -> Path:
    np.save(path / "x.npy", np.zeros((N, 0), dtype=np.float32))
    return path / "x.npy"


def empty_parquet(path: Path) -> Path:
    _parquet(path / "x.parquet", embedding=pa.array([], type=pa.list_(pa.float32())))
    return path / "x.parquet"


def empty_text_parquet(path: Path) -> Path:
    _parquet(path / "x.parquet", text=pa.array([], type=pa.string()))
    return path / "x.parquet"


def empty_npy(path: Path) -> Path:
    np.save(path / "x.npy", np.zeros((0, DIM), dtype=np.float32))
    return path / "x.npy"


def duplicate_ids(path: Path) -> Path:
    ids = list(range(N))
    ids[60] = 7
    _parquet(path / "x.parquet", id=ids, embedding=_x().tolist())
    return path / "x.parquet"


def text_jsonl(path: Path) -> Path:
    rows = [{"text": f"document {i} about topic {i % 5}"} for i in range(N)]
    (path / "x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path / "x.jsonl"


def garbage_parquet(path: Path) -> Path:
    (path / "x.parquet").write_bytes(np.random.default_rng(1).bytes(2000))
    return path / "x.parquet"


def truncated_npy(path: Path) -> Path:
    ok_npy(path)
    data = (path / "x.npy").read_bytes()
    (path / "x.npy").write_bytes(data[: len(data) // 2])
    return path / "x.npy"


def plain_folder(path: Path) -> Path:
    (path / "folder").mkdir()
    (path / "folder" / "notes.txt").write_text("not a dataset")
    return path / "folder"


def missing(path: Path) -> Path:
    return path / "does-not-exist.parquet"


# (id, command, input maker, extra args, words the message must contain)
CASES: list[tuple[str, str, Callable[[Path], Path], list[str], str]] = [
    ("nan", "prune", nan_npy, ["--keep", "0.5"], "NaN"),
    ("inf", "prune", inf_parquet, ["--keep", "0.5"], "inf"),
    ("nan-score", "score", nan_npy, [], "NaN"),
    ("ragged-parquet", "prune", ragged_parquet, ["--keep", "0.5"], "ragged"),
    ("ragged-npy-object", "prune", ragged_npy, ["--keep", "0.5"], "ragged"),
    ("zero-length-parquet", "prune", zero_length_parquet, ["--keep", "0.5"], "zero-length"),
    ("zero-length-npy", "prune", zero_length_npy, ["--keep", "0.5"], "zero length"),
    ("empty-parquet", "prune", empty_parquet, ["--keep", "0.5"], "empty"),
    ("empty-text-parquet", "dedup", empty_text_parquet, ["--encoder", "tfidf"], "empty"),
    ("empty-npy", "prune", empty_npy, ["--keep", "0.5"], "empty"),
    ("keep-0", "prune", ok_npy, ["--keep", "0"], "1..100"),
    ("keep-negative", "prune", ok_npy, ["--keep", "-3"], "got -3"),
    ("keep-0.0", "prune", ok_npy, ["--keep", "0.0"], "(0, 1]"),
    ("keep-above-n", "prune", ok_npy, ["--keep", "5000"], "got 5000"),
    ("keep-1.5", "prune", ok_npy, ["--keep", "1.5"], "got 1.5"),
    ("keep-words", "prune", ok_npy, ["--keep", "half"], "half"),
    ("k-above-n", "prune", ok_npy, ["--keep", "0.5", "--k", "500"], "--k must be at most the 100"),
    ("k-above-n-dedup", "dedup", ok_parquet, ["--k", "500"], "--k must be at most the 100"),
    ("supervised-no-labels", "prune", ok_npy,
     ["--keep", "0.5", "--metric", "supervised-prototypes"], "needs labels"),
    ("supervised-no-labels-score", "score", ok_parquet,
     ["--metric", "supervised-prototypes"], "needs labels"),
    ("duplicate-ids", "prune", duplicate_ids, ["--keep", "0.5"], "unique"),
    ("missing-column", "prune", text_jsonl,
     ["--keep", "0.5", "--text-column", "nope", "--encoder", "tfidf"], "'nope'"),
    ("missing-id-column", "dedup", ok_parquet, ["--id-column", "nope"], "'nope'"),
    ("corrupt-parquet", "prune", garbage_parquet, ["--keep", "0.5"], "cannot read"),
    ("truncated-npy", "prune", truncated_npy, ["--keep", "0.5"], "not a readable .npy"),
    ("folder-without-code", "prune", plain_folder, ["--keep", "0.5"], "no files ending in .py"),
    ("missing-path", "prune", missing, ["--keep", "0.5"], "no such file"),
    ("missing-path-score", "score", missing, [], "no such file"),
    ("unknown-policy", "prune", ok_npy, ["--keep", "0.5", "--policy", "bogus"], "policy"),
    ("unknown-metric", "prune", ok_npy, ["--keep", "0.5", "--metric", "bogus"], "metric"),
    ("unknown-metric-score", "score", ok_npy, ["--metric", "bogus"], "metric"),
    ("unknown-dedup-method", "dedup", ok_npy, ["--method", "fuzzy"], "method"),
    ("text-dedup-on-vectors", "dedup", ok_npy, ["--method", "exact"], "not a text corpus"),
    ("bad-jaccard", "dedup", ok_jsonl, ["--method", "near", "--jaccard", "1.5"], "--jaccard"),
    ("bad-quality", "curate", ok_jsonl, ["--quality", "poem"], "--quality"),
    ("bad-threshold", "curate", ok_jsonl, ["--quality", "code", "--threshold", "x"], "min_RULE"),
    ("unknown-threshold", "curate", ok_jsonl, ["--quality", "code", "--threshold", "max_x=1"],
     "max_x"),
    ("split-on-jsonl", "curate", ok_jsonl, ["--split", "function"], "--split"),
    ("bad-eps", "dedup", ok_npy, ["--eps", "3"], "--eps"),
    ("class-balanced-no-labels", "prune", ok_npy, ["--keep", "0.5", "--class-balanced"],
     "needs labels"),
    ("labels-wrong-length", "prune", ok_npy, ["--keep", "0.5", "--labels", "LABELS99"],
     "99"),
    ("out-is-input-folder", "prune", ok_parquet, ["--keep", "0.5", "--out", "INPUT_DIR"],
     "overwrite the input"),
    ("negative-seed", "prune", ok_npy, ["--keep", "0.5", "--seed", "-1"], "--seed"),
    ("negative-seed-dedup", "dedup", ok_npy, ["--seed", "-1"], "--seed"),
    ("auto-threshold-above-1", "prune", ok_npy, ["--keep", "0.5", "--auto-threshold", "5"],
     "--auto-threshold"),
    ("metric-twice", "score", ok_npy, ["--metric", "random", "--metric", "random"], "once"),
    ("unknown-metric-option", "prune", ok_npy, ["--keep", "0.5", "--metric-option", "bogus=1"],
     "bogus"),
    ("malformed-metric-option", "score", ok_npy, ["--metric-option", "proxy_epochs"],
     "KEY=VALUE"),
    ("unknown-encoder", "prune", text_jsonl, ["--keep", "0.5", "--encoder", "nonexistent"],
     "nonexistent"),
]  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _prepare(tmp_path: Path, make: Callable[[Path], Path], command: str, extra: list[str]):
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = make(inputs)
    np.save(inputs / "labels99.npy", np.zeros(N - 1, dtype=np.int64))
    out = tmp_path / "out"
    target = out / "scores.parquet" if command == "score" else out
    extra = [
        str(inputs / "labels99.npy") if a == "LABELS99" else str(inputs) if a == "INPUT_DIR" else a
        for a in extra
    ]
    args = [command, str(source), *extra]
    if "--out" not in extra:
        args += ["--out", str(target)]
    return inputs, out, args


def _assert_clean_failure(code: int, stdout: str, stderr: str, words: str) -> None:
    assert code == 2, (code, stderr)
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, stderr  # one line: no traceback, no progress output
    assert lines[0].startswith("error: "), stderr
    assert words in lines[0], stderr
    assert "Traceback" not in stderr and stdout == ""


@pytest.mark.parametrize(
    ("command", "make", "extra", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_is_one_line_and_writes_nothing(
    command: str,
    make: Callable[[Path], Path],
    extra: list[str],
    words: str,
    tmp_path: Path,
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    if "--encoder" not in extra:  # text inputs: the fast encoder
        extra = [*extra, "--encoder", "tfidf"]
    inputs, out, args = _prepare(tmp_path, make, command, extra)
    before = snapshot(inputs)

    code, stdout, stderr = cli(*args)

    _assert_clean_failure(code, stdout, stderr, words)
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    assert snapshot(inputs) == before
    assert sorted(p.name for p in tmp_path.iterdir()) in (["in"], ["cache", "in"])


def test_out_folder_with_old_files_is_left_alone(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """A failing run into an existing --out folder leaves the files already there as they are."""
    _, out, args = _prepare(tmp_path, nan_npy, "prune", ["--keep", "0.5"])
    out.mkdir()
    (out / "manifest.parquet").write_bytes(b"from an earlier run")
    before = snapshot(out)
    code, stdout, stderr = cli(*args)
    _assert_clean_failure(code, stdout, stderr, "NaN")
    assert snapshot(out) == before


# --------------------------------------------------------------------------- real processes


def _script() -> list[str]:
    script = Path(sys.executable).with_name("lessdata")
    if script.exists():
        return [str(script)]
    found = shutil.which("lessdata")
    return [found] if found else [sys.executable, "-m", "lessdata.cli"]


def _run_process(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LESSDATA_QUIET": "1", "LESSDATA_CACHE": str(tmp_path / "cache")}
    return subprocess.run([*_script(), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    ("command", "make", "extra", "words"),
    [
        ("prune", nan_npy, ["--keep", "0.5"], "NaN"),
        ("prune", ragged_parquet, ["--keep", "0.5"], "ragged"),
        ("dedup", missing, [], "no such file"),
    ],
    ids=["nan", "ragged", "missing"],
)
def test_real_process_exits_2_with_one_line(
    command: str, make: Callable[[Path], Path], extra: list[str], words: str, tmp_path: Path
) -> None:
    inputs, out, args = _prepare(tmp_path, make, command, extra)
    before = snapshot(inputs)
    proc = _run_process(args, tmp_path)
    _assert_clean_failure(proc.returncode, proc.stdout, proc.stderr, words)
    assert not out.exists()
    assert snapshot(inputs) == before


def test_real_process_prunes_text_with_minilm(tmp_path: Path) -> None:
    """The happy path through the real script, with the default (MiniLM) text encoder."""
    inputs, out, args = _prepare(tmp_path, text_jsonl, "prune", ["--keep", "0.5", "--k", "4"])
    before = snapshot(inputs)
    proc = _run_process(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(inputs) == before
    assert {"manifest.parquet", "x.jsonl"} <= {p.name for p in out.iterdir()}
    kept_lines = (out / "x.jsonl").read_text().splitlines()
    assert len(kept_lines) == N // 2
    assert set(kept_lines) <= set((inputs / "x.jsonl").read_text().splitlines())
