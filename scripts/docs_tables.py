"""Regenerate every generated table in the docs from the raw evidence under docs/evidence/.

A documented number comes from a committed per-run evidence file through one function here.
In a Markdown file, a generated block sits between ``<!-- generated: NAME -->`` and
``<!-- end: NAME -->``; this script rewrites each block from its evidence, or with
``--check`` only reports the blocks that differ (exit 1), which is what the test suite runs.

    .venv/bin/python scripts/docs_tables.py            # rewrite the blocks
    .venv/bin/python scripts/docs_tables.py --check    # fail if the docs are stale
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _script_cli import ScriptError, ScriptParser, run

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "docs" / "evidence"
BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S
)


def _module(path: Path):
    """Import a benchmark or script by path (they are not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jsonl(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{path}: cannot read the evidence ({exc})") from None


def _teacher_student(name: str) -> Callable[[], str]:
    def make() -> str:
        bench = _module(ROOT / "benchmarks" / "bench_calibrate.py")
        return bench.table(_jsonl(EVIDENCE / "calibrate" / f"{name}.jsonl")) + "\n"

    return make


def _teacher_student_goals() -> str:
    bench = _module(ROOT / "benchmarks" / "bench_calibrate.py")
    lines = _jsonl(EVIDENCE / "calibrate" / "teacher_student.jsonl")
    return "".join(f"- {line}\n" for line in bench.verdicts(lines))


def _mnist(folder: str, part: str = "tables") -> Callable[[], str]:
    """The policy table (``tables``) or calibrated auto's summary (``auto_table``)."""

    def make() -> str:
        policy = _module(ROOT / "scripts" / "policy_evidence.py")
        runs, cals = policy.read_evidence(EVIDENCE / folder)
        return getattr(policy, part)(runs, cals)

    return make


def _dynamic_pruning(task: str) -> Callable[[], str]:
    def make() -> str:
        report = _module(ROOT / "benchmarks" / "dynamic_pruning_report.py")
        return report.table(_jsonl(EVIDENCE / "dynamic-pruning" / "runs.jsonl"), task) + "\n"

    return make


def _dynamic_pruning_goals() -> str:
    report = _module(ROOT / "benchmarks" / "dynamic_pruning_report.py")
    lines = _jsonl(EVIDENCE / "dynamic-pruning" / "runs.jsonl")
    return "".join(f"- {report.verdict(lines, task)}\n" for task in report.by_task(lines))


def _dynamic_pruning_notes() -> str:
    report = _module(ROOT / "benchmarks" / "dynamic_pruning_report.py")
    return report.notes(_jsonl(EVIDENCE / "dynamic-pruning" / "runs.jsonl")) + "\n"


def _width() -> str:
    study = _module(ROOT / "scripts" / "width_study.py")
    return study.table(study.read_runs(EVIDENCE / "width"))


def _icl(part: str) -> Callable[[], str]:
    def make() -> str:
        findings = _module(ROOT / "scripts" / "icl_findings.py")
        return getattr(findings, part)(findings.read_findings(EVIDENCE / "icl-findings"))

    return make


def _code_lm(part: str, runs: str) -> Callable[[], str]:
    def make() -> str:
        tables = _module(ROOT / "scripts" / "code_lm_tables.py")
        path = EVIDENCE / "code-mix" / runs
        return getattr(tables, part)(json.loads(path.read_text()), path)

    return make


def _code_lm_q3() -> str:
    evidence = _module(ROOT / "scripts" / "code_lm_evidence.py")
    return evidence.table(_jsonl(EVIDENCE / "code-lm-q3" / "runs.jsonl"))


def _icl_pool_sizes() -> str:
    findings = _module(ROOT / "scripts" / "icl_findings.py")
    return findings.pool_sizes_table(EVIDENCE / "icl-pool")


#: every generated block: its name → the function that writes it from the evidence
GENERATORS: dict[str, Callable[[], str]] = {
    "teacher_student": _teacher_student("teacher_student"),
    "teacher_student_ridge": _teacher_student("teacher_student_ridge"),
    "teacher_student_goals": _teacher_student_goals,
    "mnist1d_4k": _mnist("mnist1d-4k"),
    "mnist1d_20k": _mnist("mnist1d-20k"),
    "mnist1d_4k_auto": _mnist("mnist1d-4k", "auto_table"),
    "mnist1d_20k_auto": _mnist("mnist1d-20k", "auto_table"),
    "dynamic_pruning_mnist1d_4k": _dynamic_pruning("mnist1d-4k"),
    "dynamic_pruning_mnist1d_20k": _dynamic_pruning("mnist1d-20k"),
    "dynamic_pruning_code_lm": _dynamic_pruning("code-lm"),
    "dynamic_pruning_goals": _dynamic_pruning_goals,
    "dynamic_pruning_notes": _dynamic_pruning_notes,
    "width": _width,
    "icl_caps": _icl("caps_table"),
    "icl_families": _icl("families_table"),
    "code_lm_tokens": _code_lm("selections_table", "code_lm_tokens_runs.json"),
    "code_mix": _code_lm("mixture_table", "runs.json"),
    "code_lm_q3": _code_lm_q3,
    "icl_pool_sizes": _icl_pool_sizes,
}


def regenerate(text: str, where: Path) -> str:
    """``text`` with every generated block rewritten from its evidence."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise ScriptError(f"{where}: no generator for block {name!r}")
        return match.group(1) + GENERATORS[name]() + match.group(4)

    return BLOCK.sub(replace, text)


def documents() -> list[Path]:
    """The Markdown files that hold generated blocks."""
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in found if "<!-- generated: " in p.read_text(encoding="utf-8")]


def main() -> None:
    parser = ScriptParser(__doc__)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 naming each stale block")  # fmt: skip
    args = parser.parse_args()
    stale = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        new = regenerate(text, path)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print("stale generated blocks in: " + ", ".join(map(str, stale)), file=sys.stderr)
        raise SystemExit(1)
    print(("rewrote " if stale else "up to date: ") + ", ".join(map(str, stale or documents())))


if __name__ == "__main__":
    run(main, Path(__file__).name)
