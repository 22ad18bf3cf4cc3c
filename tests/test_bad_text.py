"""Bad text and other inputs: huge documents, bytes that are not UTF-8, symlinks out of a
source folder, real-valued labels, NumPy budgets, ``--keep 1``, and workers of a killed run.

Each case ends in a one-line error (exit 2) or a reported problem row, never a traceback,
and nothing outside the output is read or left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lessdata
from lessdata.data.corpus_rows import LINK_OUTSIDE, UNDECODABLE
from lessdata.errors import LessdataError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], err


def jsonl(path: Path, texts: list[str | bytes]) -> Path:
    with open(path, "wb") as fh:
        for i, text in enumerate(texts):
            if isinstance(text, bytes):  # raw bytes inside the JSON string
                fh.write(b'{"id": "d%d", "text": "' % i + text + b'"}\n')
            else:
                fh.write(json.dumps({"id": f"d{i}", "text": text}).encode() + b"\n")
    return path


WORDS = [f"document number {i} about topic {i % 5} with words {i * 7}" for i in range(12)]


# --- 5. huge documents ---------------------------------------------------------------------


def test_documents_over_curates_limits_are_refused_by_prune_with_their_ids(tmp_path, cli):
    texts = [*WORDS, "word " * 2_100_000, "x" * 150_000]  # 10.5 MB; a 150,000-char line
    jsonl(tmp_path / "big.jsonl", texts)
    for command in (["prune", "--keep", "0.5"], ["score"], ["dedup", "--method", "semantic"]):
        out = "o.parquet" if command[0] == "score" else "o"
        code, _, err = cli(command[0], "big.jsonl", *command[1:], "--encoder", "tfidf",
            "--out", out,
        )  # fmt: skip
        one_line_error(code, err, "1 too large (ids d12)", "1 enormous line (ids d13)", "curate")
        assert not (tmp_path / out).exists()


def test_the_encoder_reads_only_its_window_of_a_long_document():
    from lessdata.embed.encoders import window_prefix

    class Tokenizer:  # one token per word, as WordPiece on plain words
        def __init__(self) -> None:
            self.calls: list[int] = []

        def __call__(self, text, add_special_tokens, verbose):
            self.calls.append(len(text))
            return {"input_ids": text.split()}

    class Model:
        max_seq_length = 16
        tokenizer = Tokenizer()

    model = Model()
    text = "word " * 1_000_000
    prefix = window_prefix(text, model)
    assert text.startswith(prefix) and len(prefix) < 2_000  # never the 5 MB text
    assert max(model.tokenizer.calls) < 2_000
    spaced = "a" + " " * 5_000 + " b" * 40  # few tokens in many characters: the prefix grows
    assert window_prefix(spaced, model).split()[:20] == spaced.split()[:20]
    assert window_prefix("short text", model) == "short text"


def test_minilm_embeds_a_long_document_as_it_did_untruncated():
    pytest.importorskip("sentence_transformers")
    from lessdata.embed.encoders import _load_sentence_transformer, get_encoder

    encoder = get_encoder("minilm")
    model = _load_sentence_transformer(encoder.path)
    long = " ".join(f"token{i % 97} and more words" for i in range(20_000))
    whole = model.encode([long], normalize_embeddings=True)
    ours = encoder.encode(pa.array([long]))
    np.testing.assert_allclose(ours, whole, atol=1e-6)


# --- 6. bytes that are not UTF-8 -------------------------------------------------------------


def test_non_utf8_jsonl_and_csv_are_one_line_errors_for_prune(tmp_path, cli):
    jsonl(tmp_path / "x.jsonl", [*WORDS[:4], b"caf\xe9 au lait", *WORDS[4:]])
    code, _, err = cli("prune", "x.jsonl", "--encoder", "tfidf", "--keep", "0.5",
        "--out", "n1",
    )  # fmt: skip
    one_line_error(code, err, "not UTF-8 text at row 4", "curate")
    (tmp_path / "x.csv").write_bytes(b"text\nhello there\ncaf\xe9\nthird one\nfourth\n")
    code, _, err = cli("prune", "x.csv", "--encoder", "tfidf", "--keep", "0.5",
        "--out", "n2",
    )  # fmt: skip
    one_line_error(code, err, "not UTF-8 text at row 1")
    assert not (tmp_path / "n1").exists() and not (tmp_path / "n2").exists()


@pytest.mark.parametrize("late", [False, True])
def test_curate_reports_non_utf8_csv_rows_and_goes_on(tmp_path, cli, late):
    good = [f"line {i} with some words".encode() for i in range(30_000 if late else 3)]
    body = b"\n".join([b"id,text", *(b"r%d,%s" % (i, t) for i, t in enumerate(good))])
    bad_row = len(good)  # after the first block (Arrow types a column from it) when `late`
    (tmp_path / "n.csv").write_bytes(body + b"\nbad,caf\xe9\n")
    code, out, err = cli("curate", "n.csv", "--out", "n4")
    assert code == 0, err
    manifest = pq.read_table(tmp_path / "n4" / "manifest.parquet").to_pylist()
    assert manifest[bad_row]["id"] == "bad" and manifest[bad_row]["problem"] == UNDECODABLE
    assert not manifest[bad_row]["kept"]
    assert f"kept {len(good):,} of {len(good) + 1:,}" in out


def test_curate_reports_non_utf8_jsonl_rows(tmp_path, cli):
    jsonl(tmp_path / "y.jsonl", [WORDS[0], b"caf\xe9", WORDS[1]])
    code, _, err = cli("curate", "y.jsonl", "--out", "n5")
    assert code == 0, err
    problems = pq.read_table(tmp_path / "n5" / "manifest.parquet")["problem"].to_pylist()
    assert problems == [None, UNDECODABLE, None]


# --- 7. symlinks out of a source folder -------------------------------------------------------


def test_a_symlinked_file_out_of_the_folder_is_never_read(tmp_path, cli):
    secret = tmp_path / "secret.py"
    secret.write_text("PASSWORD = 'hunter2'\n")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.py").write_text("def f():\n    return 1\n")
    (src / "sub" / "b.py").write_text("def g():\n    return 2\n")
    (src / "leak.py").symlink_to(secret)
    (src / "sub" / "inside.py").symlink_to(src / "a.py")  # inside the folder: read
    code, _, err = cli("curate", "src", "--out", "c1")
    assert code == 0, err
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "c1" / "manifest.parquet").to_pylist()}
    assert rows["leak.py"]["problem"] == LINK_OUTSIDE and not rows["leak.py"]["kept"]
    assert rows["sub/inside.py"]["problem"] is None
    for path in (tmp_path / "c1").iterdir():
        assert b"hunter2" not in path.read_bytes(), path


# --- 11. labels, budgets, --keep 1, quiet -----------------------------------------------------


def test_real_valued_labels_are_refused_and_whole_floats_are_classes():
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    with pytest.raises(LessdataError, match="not whole numbers"):
        lessdata.prune(x, 0.5, labels=np.linspace(0, 1, 60), class_balanced=True)
    with pytest.raises(LessdataError, match="NaN"):
        lessdata.prune(x, 0.5, labels=np.full(60, np.nan), class_balanced=True)
    kept = lessdata.prune(
        x, 0.5, labels=np.arange(60) % 3 * 1.0, class_balanced=True, policy="random"
    ).manifest
    assert kept.num_rows == 60


def test_numpy_scalars_are_budgets():
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    assert lessdata.prune(x, np.int64(10), policy="random").n_kept == 10
    assert lessdata.prune(x, np.float32(0.5), policy="random").n_kept == 30
    with pytest.raises(LessdataError):
        lessdata.prune(x, np.bool_(True), policy="random")


def test_keep_1_is_a_count_and_says_so(tmp_path, cli):
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(40, 4)).astype("f4"))
    code, out, err = cli("prune", "ok.npy", "--keep", "1", "--out", "k1")
    assert code == 0 and "kept 1 of 40 examples (--keep 1: a count)" in out
    assert "--keep 1.0 to keep them all" in err
    code, out, err = cli("prune", "ok.npy", "--keep", "1.0", "--out", "k2")
    assert code == 0 and "kept 40 of 40 examples (--keep 1.0: a fraction" in out
    assert "warning" not in err


def test_quiet_silences_progress_in_the_python_api(monkeypatch, capsys):
    monkeypatch.delenv("LESSDATA_QUIET")
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    lessdata.prune(x, 0.5, metric_options={"k": 3}, quiet=True)
    lessdata.score(x, "prototypes", metric_options={"k": 3}, quiet=True)
    assert capsys.readouterr().err == ""
    lessdata.score(x, "prototypes", metric_options={"k": 3})
    assert capsys.readouterr().err  # not quiet: the run says what it does
    with pytest.raises(LessdataError, match="quiet"):
        lessdata.score(x, "prototypes", quiet="yes")


# --- 9. workers of a killed run ---------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_killing_a_parallel_sweep_leaves_no_workers(tmp_path):
    pytest.importorskip("torch")
    env = {**os.environ, "LESSDATA_QUIET": "1", "LESSDATA_CACHE": str(tmp_path / "cache")}
    command = [
        sys.executable, "-m", "lessdata.cli", "scale", "run", "--task", "digits",
        "--model", "mlp", "--policy", "random", "--fractions", "0.1,0.2,0.3,0.4",
        "--seeds", "4", "--steps", "5000", "--jobs", "2", "--store", "sw",
    ]  # fmt: skip
    parent = subprocess.Popen(command, cwd=tmp_path, env=env, start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(workers) < 3:  # 2 workers + resource tracker
            workers = _children(parent.pid)
            time.sleep(0.2)
        assert len(workers) >= 3, "the sweep never started its workers"
        time.sleep(1.0)  # the workers run their initialisers
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        assert not [p for p in workers if _alive(p)], "workers outlived their parent"
    finally:
        for pid in workers | {parent.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def test_d4_refuses_class_balanced_selection():
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    with pytest.raises(LessdataError, match="d4 does not support class-balanced"):
        lessdata.prune(x, 0.5, policy="d4", class_balanced=True, labels=np.arange(60) % 3)


def test_hugging_face_outputs_get_the_usual_mode(tmp_path):
    datasets = pytest.importorskip("datasets")
    texts = [f"example number {i} on topic {i % 4}" for i in range(40)]
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "hf"))
    lessdata.prune(tmp_path / "hf", 0.5, encoder="tfidf", out=tmp_path / "out")
    written = [p for p in (tmp_path / "out").rglob("*")]
    mask = os.umask(0)
    os.umask(mask)
    assert written and (tmp_path / "out" / "hf").is_dir()
    for path in [tmp_path / "out", *written]:
        usual = (0o777 if path.is_dir() else 0o666) & ~mask
        assert path.stat().st_mode & 0o777 == usual, path


def test_quiet_cli_prints_only_its_result_even_while_loading_the_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    jsonl(tmp_path / "x.jsonl", WORDS)
    env = {**os.environ, "LESSDATA_CACHE": str(tmp_path / "fresh-cache")}
    env.pop("LESSDATA_QUIET")
    done = subprocess.run(
        [sys.executable, "-m", "lessdata.cli", "prune", "x.jsonl", "--keep", "0.5", "-q",
         "--out", "o"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no "Loading weights" bar, no transformers warnings
    assert done.stdout.startswith("kept 6 of 12 examples")
