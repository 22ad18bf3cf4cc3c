"""Where ``lessdata inspect`` writes (issue 25, item 1): only into a folder lessdata owns.

With ``--out`` the folder follows the rules of every output folder; without it the report
goes into the run folder the manifest came from (the one carrying the output marker), and a
manifest anywhere else (a scores file beside the user's files) gets no files beside it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from lessdata.data.manifest_parts import list_parts
from lessdata.data.paths import OUTPUT_MARKER, REPORT_NAME, SCORES_PLOT_NAME
from lessdata.report import inspect_manifest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def npy(path: Path, n: int = 600) -> Path:
    np.save(path, np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32))
    return path


def snapshot(root: Path, skip: tuple[str, ...] = ("cache",)) -> dict[str, str]:
    """Every file under ``root`` (but the ``skip`` folders) with a hash of its bytes."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            path = here / name
            key = str(path.relative_to(root))
            data = b"link" if path.is_symlink() else path.read_bytes()
            seen[key] = hashlib.sha256(data).hexdigest()
    return seen


def one_line_error(code: int, err: str, words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err


def test_inspect_of_a_parts_run_writes_into_the_run_not_its_parent(tmp_path, cli):
    """The issue's reproduction: the user's own ``it/report.html`` stays as it was."""
    npy(tmp_path / "big.npy")
    (tmp_path / "it").mkdir()
    (tmp_path / "it" / "report.html").write_text("mine\n")
    code, _, err = cli("prune", "big.npy", "--keep", "0.3", "--policy", "keep-hard", "--parts",
                       "--k", "4", "--out", "it/run")  # fmt: skip
    assert code == 0, err
    for shown in ("it/run", "it/run/manifest"):
        code, out, err = cli("inspect", shown)
        assert code == 0, err
        assert (tmp_path / "it" / "report.html").read_text() == "mine\n"
        assert not (tmp_path / "it" / SCORES_PLOT_NAME).exists()
        assert f"html: {Path('it', 'run', REPORT_NAME)}" in out
        assert (tmp_path / "it" / "run" / SCORES_PLOT_NAME).read_bytes().startswith(b"\x89PNG")
    assert len(list_parts(tmp_path / "it" / "run" / "manifest")) == 1  # the parts untouched


def test_inspect_of_a_run_file_redraws_the_runs_report(tmp_path, cli):
    npy(tmp_path / "x.npy")
    assert cli("prune", "x.npy", "--keep", "0.5", "--k", "4", "--out", "run")[0] == 0
    (tmp_path / "run" / REPORT_NAME).write_text("old report")
    for shown in ("run/manifest.parquet", "run"):  # the manifest, or the run folder
        code, _, err = cli("inspect", shown)
        assert code == 0, err
        assert (tmp_path / "run" / REPORT_NAME).read_text().startswith("<!DOCTYPE html>")
        (tmp_path / "run" / REPORT_NAME).write_text("old report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "run", "x.npy"]


def test_inspect_of_a_score_parts_folder_writes_into_it(tmp_path, cli):
    npy(tmp_path / "x.npy")
    assert cli("score", "x.npy", "--parts", "--k", "4", "--out", "scores")[0] == 0
    assert (tmp_path / "scores" / OUTPUT_MARKER).is_file()
    code, _, err = cli("inspect", "scores")
    assert code == 0, err
    assert (tmp_path / "scores" / REPORT_NAME).is_file()
    assert cli("inspect", "scores")[0] == 0  # the report beside the parts is no stranger


def test_inspect_beside_a_scores_file_writes_nothing(tmp_path, cli):
    npy(tmp_path / "x.npy")
    assert cli("score", "x.npy", "--k", "4", "--out", "scores.parquet")[0] == 0
    (tmp_path / REPORT_NAME).write_text("mine\n")
    (tmp_path / SCORES_PLOT_NAME).write_text("my plot\n")
    before = snapshot(tmp_path)
    code, out, err = cli("inspect", "scores.parquet")
    assert code == 0, err
    assert snapshot(tmp_path) == before
    assert "pass --out DIR" in out and "prototypes" in out  # the summary, then the hint
    assert inspect_manifest(tmp_path / "scores.parquet") == {}
    assert snapshot(tmp_path) == before


def test_inspect_out_to_a_symlinked_folder_is_refused(tmp_path, cli):
    npy(tmp_path / "x.npy")
    assert cli("score", "x.npy", "--k", "4", "--out", "scores.parquet")[0] == 0
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    code, _, err = cli("inspect", "scores.parquet", "--out", "link")
    one_line_error(code, err, "is a symbolic link")
    assert f"--out {tmp_path / 'link'}" in err
    assert list((tmp_path / "real").iterdir()) == []


def test_inspect_out_follows_the_output_folder_rules(tmp_path, cli):
    npy(tmp_path / "x.npy")
    assert cli("prune", "x.npy", "--keep", "0.5", "--k", "4", "--out", "run")[0] == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    code, _, err = cli("inspect", "run/manifest.parquet", "--out", "mine")
    one_line_error(code, err, "--out mine is a folder with files lessdata did not write")
    for out in ("run", "run/.."):  # the folder holding the manifest read, or one above it
        code, _, err = cli("inspect", "run/manifest.parquet", "--out", out)
        assert code == 2, err
    code, _, err = cli("inspect", "run", "--out", "run")
    one_line_error(code, err, "would overwrite the input")
    assert snapshot(tmp_path) == before
    for _ in range(2):  # a new folder, then the same folder again (an earlier output)
        code, out, err = cli("inspect", "run/manifest.parquet", "--out", "report")
        assert code == 0, err
        assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(
            [OUTPUT_MARKER, REPORT_NAME, SCORES_PLOT_NAME]
        )
    assert f"html: {tmp_path / 'report' / REPORT_NAME}" in out
    after = snapshot(tmp_path)  # only the new folder was written
    assert {k: v for k, v in after.items() if not k.startswith("report/")} == before


def test_a_link_where_the_run_report_goes_is_refused_by_name(tmp_path, cli):
    npy(tmp_path / "x.npy")
    assert cli("prune", "x.npy", "--keep", "0.5", "--k", "4", "--out", "run")[0] == 0
    (tmp_path / "elsewhere.html").write_text("mine\n")
    (tmp_path / "run" / REPORT_NAME).unlink()
    (tmp_path / "run" / REPORT_NAME).symlink_to(tmp_path / "elsewhere.html")
    code, _, err = cli("inspect", "run")
    one_line_error(code, err, f"{Path('run') / REPORT_NAME} is a symbolic link")
    assert (tmp_path / "elsewhere.html").read_text() == "mine\n"


def test_inspect_reads_a_text_dedup_manifest_as_the_curation_stages_it_holds(cli, tmp_path):
    """``dedup --method exact`` records command=dedup; inspect still shows its stages."""
    lines = [f'{{"id": {i}, "text": "def f{i % 5}(): return {i % 5}"}}' for i in range(20)]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    code, _, err = cli("dedup", tmp_path / "c.jsonl", "--method", "exact", "--out",
                       tmp_path / "d", "-q")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("inspect", tmp_path / "d")
    assert code == 0, err
    assert "documents per stage" in out and "exact" in out
