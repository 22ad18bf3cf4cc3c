"""Every generated table in the docs is what its committed evidence gives today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_tables_regenerate_from_the_committed_evidence():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docs_tables.py"), "--check"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_stale_block_is_found(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import docs_tables

    text = "<!-- generated: teacher_student_goals -->\nold\n<!-- end: teacher_student_goals -->"
    new = docs_tables.regenerate(text, tmp_path / "x.md")
    assert new != text and "auto picks keep-hard or D2" in new
