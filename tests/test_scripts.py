"""scripts/: every script parses its arguments, ``--help`` explains it and creates nothing, and a
bad path is one line on stderr (exit 2) with nothing created in the current directory.

Each script runs in a subprocess from an empty working directory, as a user would run it; none
reaches a sweep or a training run (they stop at their arguments or read committed evidence).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
EVIDENCE = ROOT / "docs" / "evidence"
PYTHON_SCRIPTS = (
    "code_lm_evidence.py",
    "code_lm_tables.py",
    "docs_tables.py",
    "icl_findings.py",
    "icl_gap_table.py",
    "policy_evidence.py",
    "width_study.py",
)
#: a first words of each script's ``--help`` description
DESCRIPTIONS = {
    "code_lm_tables.py": "Markdown tables of the code-LM experiments",
    "code_lm_evidence.py": "Question 3's evidence: which tenth of a Python pool",
    "docs_tables.py": "Regenerate every generated table in the docs",
    "icl_findings.py": "Run the ICL lab's evidence",
    "icl_gap_table.py": "The ICL optimisation-gap table",
    "policy_evidence.py": "Every policy on MNIST-1D against random, and calibrated auto",
    "width_study.py": "Representation vs learning",
    "collect_icl_evidence.sh": "Copy every run's eval.parquet",
}
#: arguments naming an input that does not exist (``MISSING`` is replaced by the path)
MISSING_INPUT = {
    "code_lm_evidence.py": ["--store", "MISSING", "--out", "out"],
    "code_lm_tables.py": ["MISSING"],
    "icl_findings.py": ["--tables", "--out", "MISSING"],
    "icl_gap_table.py": ["MISSING"],
    "policy_evidence.py": ["--store", "MISSING", "--out", "out"],
    "width_study.py": ["MISSING", "--out", "out"],
    "collect_icl_evidence.sh": ["MISSING", "out"],
}


def run_script(name: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``scripts/<name> args`` from ``cwd``, the way a user runs it."""
    program = ["bash"] if name.endswith(".sh") else [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [*program, str(SCRIPTS / name), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """An empty working directory, to see that a script creates nothing in it."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def one_error_line(result: subprocess.CompletedProcess[str], name: str) -> str:
    """The script failed with exit status 2 and exactly one line on stderr, no traceback."""
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"{name}: error: "), lines[0]
    return lines[0]


def test_every_script_is_covered():
    found = {p.name for p in SCRIPTS.iterdir() if p.suffix in (".py", ".sh")}
    helpers = {"_script_cli.py", "setup.sh"}  # a shared module; the venv installer
    assert found - helpers == set(DESCRIPTIONS)


@pytest.mark.parametrize("name", sorted(DESCRIPTIONS))
def test_help_describes_the_script_and_creates_nothing(name: str, cwd: Path):
    result = run_script(name, ["--help"], cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ") and DESCRIPTIONS[name] in result.stdout
    assert result.stderr == ""
    assert list(cwd.iterdir()) == []  # code_lm_tables.py used to create a folder "--help"


@pytest.mark.parametrize("name", sorted(MISSING_INPUT))
def test_a_missing_input_is_one_line_and_creates_nothing(name: str, cwd: Path, tmp_path: Path):
    missing = tmp_path / "not-there"
    args = [str(missing) if a == "MISSING" else a for a in MISSING_INPUT[name]]
    line = one_error_line(run_script(name, args, cwd), name)
    assert str(missing) in line
    assert list(cwd.iterdir()) == [] and not missing.exists()


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("code_lm_tables.py", [], "required: selections"),
        ("icl_gap_table.py", [str(EVIDENCE / "icl-gap"), "-x"], "unrecognized arguments: -x"),
        ("icl_gap_table.py", [], "no such folder: runs/icl-gap"),
        ("icl_findings.py", ["--workers", "0"], "--workers: expected a whole number >= 1"),
        ("icl_findings.py", ["--budget-s", "-5"], "--budget-s: expected a finite number > 0"),
        ("icl_findings.py", ["--steps", "ten"], "--steps: expected a whole number >= 1"),
        ("icl_findings.py", ["--only", "bogus"], "--only bogus names no experiment"),
        ("policy_evidence.py", ["--out", "o"], "--store is needed unless --tables-only"),
        ("width_study.py", [], "give the stores, or --tables-only"),
        ("collect_icl_evidence.sh", ["--bogus"], "unknown option --bogus"),
        ("collect_icl_evidence.sh", ["a", "b", "c"], "at most two folders"),
    ],
)
def test_bad_arguments_are_one_line_and_create_nothing(name, args, message, cwd: Path):
    """icl_findings.py's default --out is runs/icl-findings: a bad option must not make it."""
    assert message in one_error_line(run_script(name, args, cwd), name)
    assert list(cwd.iterdir()) == []


def test_a_folder_that_is_not_a_store_is_refused(cwd: Path, tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, args in (
        ("code_lm_tables.py", [str(plain)]),
        ("width_study.py", [str(plain), "--out", "out"]),
        ("policy_evidence.py", ["--store", str(plain), "--out", "out"]),
    ):
        line = one_error_line(run_script(name, args, cwd), name)
        assert f"{plain} holds no results.sqlite: not a results store" in line
        assert list(plain.iterdir()) == []  # opening a store would have created one there
    assert list(cwd.iterdir()) == []


def test_an_empty_store_is_one_line(cwd: Path, tmp_path: Path):
    from lessdata.labs.scaling.store import ResultsStore

    store = tmp_path / "store"
    ResultsStore(store).close()
    line = one_error_line(run_script("code_lm_tables.py", [str(store)], cwd), "code_lm_tables.py")
    assert f"{store} holds no finished" in line
    result = run_script("width_study.py", [str(store), "--out", str(tmp_path / "w")], cwd)
    assert f"{store} holds no finished runs" in one_error_line(result, "width_study.py")
    assert not (tmp_path / "w").exists() and list(cwd.iterdir()) == []


def test_icl_gap_table_reads_the_committed_evidence_and_names_a_bad_line(cwd, tmp_path):
    result = run_script("icl_gap_table.py", [str(EVIDENCE / "icl-gap")], cwd)
    assert result.returncode == 0, result.stderr
    assert "| baseline |" in result.stdout and "| wide |" in result.stdout
    damaged = tmp_path / "gap"
    damaged.mkdir()
    (damaged / "times.txt").write_text("baseline 373 s\nwide lots s\n")
    line = one_error_line(run_script("icl_gap_table.py", [str(damaged)], cwd), "icl_gap_table.py")
    assert "times.txt line 2 is not 'name seconds tag'" in line
    (damaged / "times.txt").write_text("baseline 373 s\n")
    line = one_error_line(run_script("icl_gap_table.py", [str(damaged)], cwd), "icl_gap_table.py")
    assert "no verdict for baseline" in line
    assert list(cwd.iterdir()) == []


def test_icl_findings_tables_read_the_committed_evidence(cwd: Path):
    result = run_script(
        "icl_findings.py", ["--tables", "--out", str(EVIDENCE / "icl-findings")], cwd
    )
    assert result.returncode == 0, result.stderr
    assert "| trained within | learner |" in result.stdout
    assert list(cwd.iterdir()) == []


def test_collect_icl_evidence_copies_the_evaluations(tmp_path: Path, cwd: Path):
    src, dst = tmp_path / "run", tmp_path / "evidence"
    (src / "cap-15").mkdir(parents=True)
    (src / "cap-15" / "eval.parquet").write_text("x")
    (src / "cap-15" / "model.pt").write_text("checkpoint")
    (src / "plan.json").write_text("{}")
    result = run_script("collect_icl_evidence.sh", [str(src), str(dst)], cwd)
    assert result.returncode == 0, result.stderr
    copied = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert copied == ["cap-15/eval.parquet", "plan.json"]
    (tmp_path / "file").write_text("mine")
    result = run_script("collect_icl_evidence.sh", [str(src), str(tmp_path / "file")], cwd)
    assert "is a file" in one_error_line(result, "collect_icl_evidence.sh")
    assert list(cwd.iterdir()) == []
