"""What a user expects of a package: one version string, a LICENSE that matches the metadata,
``py.typed`` shipped, and a changelog that names the version it describes."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import lessdata

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; lessdata supports 3.10 too

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_written_once():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "lessdata._version.__version__"}
    assert importlib.metadata.version("lessdata") == lessdata.__version__


def test_the_license_file_matches_the_metadata():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a stub


def test_py_typed_is_shipped():
    assert (ROOT / "src" / "lessdata" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["lessdata"]


def test_the_changelog_describes_this_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## Unreleased ({lessdata.__version__})" in text or f"## {lessdata.__version__}" in text
