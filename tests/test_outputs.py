"""What lessdata writes: only its own outputs, never over what it reads, never through a
link or into a device, and an output folder is always one run's complete output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lessdata.data.paths import OUTPUT_MARKER


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def npy(path: Path, n: int, seed: int = 0) -> Path:
    np.save(path, np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32))
    return path


def one_line_error(code: int, err: str, words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err


def test_a_device_node_or_link_at_out_is_refused_and_left_alone(tmp_path, cli):
    npy(tmp_path / "ok.npy", 100)
    os.mkfifo(tmp_path / "fifo.parquet")  # a special file, as a device node would be
    target = tmp_path / "elsewhere.parquet"
    target.write_bytes(b"keep me")
    (tmp_path / "link.parquet").symlink_to(target)
    code, _, err = cli("score", "ok.npy", "--out", "fifo.parquet")
    one_line_error(code, err, "--out fifo.parquet is not a regular file")
    code, _, err = cli("score", "ok.npy", "--out", "link.parquet")
    one_line_error(code, err, "is a symbolic link")
    assert (tmp_path / "link.parquet").is_symlink() and target.read_bytes() == b"keep me"
    (tmp_path / "outlink").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real").mkdir()
    code, _, err = cli("prune", "ok.npy", "--keep", "0.5", "--out", "outlink")
    one_line_error(code, err, "is a symbolic link")
    assert list((tmp_path / "real").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_a_character_device_at_out_is_not_replaced(tmp_path, cli):
    npy(tmp_path / "ok.npy", 100)
    os.mknod(tmp_path / "fakenull", 0o666 | 0o020000, os.makedev(1, 3))
    code, _, err = cli("score", "ok.npy", "--out", "fakenull")
    one_line_error(code, err, "is not a regular file")
    assert (tmp_path / "fakenull").is_char_device()


def test_inputs_are_never_outputs(tmp_path, cli):
    npy(tmp_path / "ok.npy", 150)
    labels = np.arange(150) % 3
    np.save(tmp_path / "lab.npy", labels)
    code, _, err = cli("score", "ok.npy", "--labels", "lab.npy",
                    "--metric", "supervised-prototypes", "--out", "lab.npy")  # fmt: skip
    one_line_error(code, err, "would overwrite the input lab.npy")
    (tmp_path / "labdir").mkdir()
    np.save(tmp_path / "labdir" / "ok.labels.npy", labels)
    code, _, err = cli("prune", "ok.npy", "--labels", "labdir/ok.labels.npy",
                    "--keep", "0.5", "--out", "labdir")  # fmt: skip
    one_line_error(code, err, "would overwrite the input labdir/ok.labels.npy")
    assert np.array_equal(np.load(tmp_path / "labdir" / "ok.labels.npy"), labels)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "target.jsonl").write_text('{"text": "import os"}\n')
    (tmp_path / "c.jsonl").write_text('{"text": "import sys"}\n{"text": "print(1)"}\n')
    code, _, err = cli("prune", "c.jsonl", "--metric", "dsir", "--metric-option",
                    "target=t/target.jsonl", "--policy", "importance", "--keep", "1",
                    "--out", "t")  # fmt: skip
    one_line_error(code, err, "would overwrite the input t/target.jsonl")


def test_a_reused_out_folder_holds_one_run_only(tmp_path, cli):
    npy(tmp_path / "a.npy", 250)
    npy(tmp_path / "b.npy", 150, seed=1)
    np.save(tmp_path / "a.labels.npy", np.arange(250) % 2)
    args = ("--keep", "0.5", "--metric", "random", "--out", "out")
    assert cli("prune", "a.npy", "--labels", "a.labels.npy", *args)[0] == 0
    assert (tmp_path / "out" / "a.labels.npy").exists()
    assert cli("prune", "b.npy", *args)[0] == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([OUTPUT_MARKER, "b.npy", "manifest.parquet", "report.html",
                            "scores.png"])  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no leftovers
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes")
    code, _, err = cli("prune", "b.npy", "--keep", "0.5", "--out", "mine")
    one_line_error(code, err, "--out mine is a folder with files lessdata did not write")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_a_killed_run_leaves_the_old_output_and_no_litter(tmp_path):
    npy(tmp_path / "x.npy", 300)
    env = {**os.environ, "LESSDATA_QUIET": "1", "LESSDATA_CACHE": str(tmp_path / "cache")}
    lessdata = [sys.executable, "-m", "lessdata.cli"]
    subprocess.run([*lessdata, "prune", "x.npy", "--keep", "0.5", "--out", "out"],
                   cwd=tmp_path, env=env, check=True)  # fmt: skip
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    script = textwrap.dedent(
        """
        import os, signal, sys
        import lessdata.pipeline.outputs as outputs
        from lessdata.cli import main

        real = outputs.write_subset

        def write_then_die(*args, **kwargs):  # killed after the data, before the manifest
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)

        outputs.write_subset = write_then_die
        sys.argv = ["lessdata", "prune", "x.npy", "--keep", "0.3", "--out", "out"]
        main()
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env)
    assert killed.returncode == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # the dead run's
    subprocess.run([*lessdata, "prune", "x.npy", "--keep", "0.3", "--out", "out"],
                   cwd=tmp_path, env=env, check=True)  # fmt: skip
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # cleaned up


@pytest.mark.parametrize("out", ["/proc/x", "/sys/kernel/x", "ok.npy/sub"])
@pytest.mark.parametrize("command", ["score", "prune"])
def test_impossible_out_paths_are_one_line(tmp_path, cli, out, command):
    npy(tmp_path / "ok.npy", 100)
    extra = ["--keep", "0.5"] if command == "prune" else []
    code, _, err = cli(command, "ok.npy", *extra, "--out", out)
    one_line_error(code, err, out)
