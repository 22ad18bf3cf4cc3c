"""Tests for lessdata.report: manifest validation, the PNG/HTML report and the terminal view."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from lessdata.data.paths import OUTPUT_MARKER
from lessdata.errors import LessdataError
from lessdata.report import (
    inspect_manifest,
    metric_columns,
    print_summary,
    read_manifest,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCRIPT = "<script>alert('x')</script>"

# Duplicate groups: survivor id -> number of duplicates (group size is one more).
GROUPS = {100_007: 5, 100_003: 3, 100_011: 1}
MOST_PROTOTYPICAL = 100_013
LEAST_PROTOTYPICAL = 100_017


def _manifest(n: int = 40, *, with_kept: bool = True) -> pa.Table:
    """A small prune manifest with known extremes and duplicate groups of known sizes."""
    rng = np.random.default_rng(0)
    ids = np.arange(n, dtype=np.int64) + 100_000
    prototypes = rng.uniform(0.2, 0.8, n)
    prototypes[MOST_PROTOTYPICAL - 100_000] = 0.01
    prototypes[LEAST_PROTOTYPICAL - 100_000] = 0.99
    semdedup = rng.uniform(0.2, 1.0, n)
    semdedup[:3] = 2.0
    duplicate_of: list[int | None] = [None] * n
    free = iter(i for i in range(20, n))
    for survivor, size in GROUPS.items():
        for _ in range(size):
            row = next(free)
            duplicate_of[row] = survivor
            semdedup[row] = 0.01 * (row % 7)
    is_dup = np.array([d is not None for d in duplicate_of])
    kept = ~is_dup & (prototypes > 0.3)
    reason = np.where(is_dup, "duplicate", np.where(kept, "kept", "easy"))
    previews = [f"example {i} text" for i in ids]
    previews[7] = f"survivor {SCRIPT} [bold]markup[/bold]"
    columns: dict[str, object] = {
        "id": ids,
        "prototypes": prototypes,
        "prototypes_cluster": rng.integers(0, 4, n),
        "semdedup": semdedup,
        "semdedup_duplicate_of": pa.array(duplicate_of, type=pa.int64()),
    }
    metrics = ["prototypes", "semdedup"]
    if with_kept:
        columns["kept"] = kept
        columns["reason"] = pa.array(reason).dictionary_encode()
    columns["label"] = rng.integers(0, 3, n)
    columns["preview"] = previews
    meta = {"metrics": metrics, "command": "prune" if with_kept else "score", "input": "x.jsonl"}
    return pa.table(columns).replace_schema_metadata({b"lessdata": json.dumps(meta)})


def _write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def _quiet_console() -> Console:
    return Console(file=io.StringIO(), width=120)


def test_inspect_writes_valid_png_and_html(tmp_path: Path) -> None:
    (tmp_path / OUTPUT_MARKER).write_text("{}")  # a folder lessdata wrote: the report goes there
    manifest = _write(_manifest(), tmp_path / "manifest.parquet")
    paths = inspect_manifest(manifest, console=_quiet_console())

    assert paths == {"plot": tmp_path / "scores.png", "html": tmp_path / "report.html"}
    png = paths["plot"].read_bytes()
    assert len(png) > 0
    assert png.startswith(PNG_MAGIC)

    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page
    assert str(MOST_PROTOTYPICAL) in page.split('id="lowest"')[1].split('id="highest"')[0]
    assert str(LEAST_PROTOTYPICAL) in page.split('id="highest"')[1].split('id="duplicates"')[0]


def test_html_lists_largest_duplicate_group_first(tmp_path: Path) -> None:
    paths = write_report(_manifest(), tmp_path)
    section = paths["html"].read_text(encoding="utf-8").split('id="duplicates"')[1]

    positions = [section.index(str(survivor)) for survivor in GROUPS]
    assert positions == sorted(positions), "groups must be listed largest first"
    # Group sizes include the survivor itself.
    assert '<td class="num">6</td>' in section


def test_html_escapes_previews(tmp_path: Path) -> None:
    page = write_report(_manifest(), tmp_path)["html"].read_text(encoding="utf-8")

    assert "<script" not in page.lower()
    assert html.escape(SCRIPT) in page


def test_score_manifest_without_kept_still_reports(tmp_path: Path) -> None:
    manifest = _write(_manifest(with_kept=False), tmp_path / "scores.parquet")
    out = tmp_path / "report"
    console = _quiet_console()
    paths = inspect_manifest(manifest, out, console=console)

    assert paths["plot"].read_bytes().startswith(PNG_MAGIC)
    page = paths["html"].read_text(encoding="utf-8")
    assert str(MOST_PROTOTYPICAL) in page
    assert "Per reason" not in page
    assert "40" in console.file.getvalue()


def test_terminal_summary_shows_tables_and_prints_markup_literally() -> None:
    console = _quiet_console()
    print_summary(_manifest(), top=10, console=console)
    text = console.file.getvalue()

    assert "Most prototypical" in text
    assert str(MOST_PROTOTYPICAL) in text
    assert "Largest duplicate groups" in text
    assert "[bold]markup[/bold]" in text
    assert "duplicate" in text


def test_metric_columns_from_metadata_and_fallback() -> None:
    table = _manifest()
    assert metric_columns(table) == ["prototypes", "semdedup"]
    bare = table.replace_schema_metadata(None)
    assert metric_columns(bare) == ["prototypes", "semdedup"]


def test_read_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LessdataError, match="not found"):
        read_manifest(tmp_path / "nope.parquet")


def test_read_manifest_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "manifest.parquet"
    path.write_text("id,score\n1,0.5\n")
    with pytest.raises(LessdataError, match="not a readable Parquet file"):
        read_manifest(path)


def test_read_manifest_without_scores(tmp_path: Path) -> None:
    path = _write(pa.table({"id": [1, 2], "text": ["a", "b"]}), tmp_path / "plain.parquet")
    with pytest.raises(LessdataError, match="no score columns"):
        read_manifest(path)


def test_read_manifest_without_id(tmp_path: Path) -> None:
    path = _write(pa.table({"score": [0.1, 0.2]}), tmp_path / "noid.parquet")
    with pytest.raises(LessdataError, match="no 'id' column"):
        read_manifest(path)


def test_read_manifest_settings_names_missing_metric(tmp_path: Path) -> None:
    table = _manifest().drop_columns(["semdedup"])
    path = _write(table, tmp_path / "broken.parquet")
    with pytest.raises(LessdataError, match="semdedup"):
        read_manifest(path)


def test_read_manifest_round_trip(tmp_path: Path) -> None:
    table = _manifest()
    loaded = read_manifest(_write(table, tmp_path / "m.parquet"))
    assert loaded.num_rows == table.num_rows
    assert metric_columns(loaded) == ["prototypes", "semdedup"]
