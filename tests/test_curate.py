"""Curation end to end: planted duplicates in real code, bad files, chained stages, outputs."""

from __future__ import annotations

import hashlib
import inspect
import json
import random
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import lessdata
from lessdata.cli import app
from lessdata.duplicates.minhash import jaccard
from lessdata.errors import LessdataError
from lessdata.pipeline.curation import curate

REAL_MODULES = ("json.decoder", "textwrap", "string", "shlex", "fnmatch", "glob", "colorsys")


def _source(module: str) -> str:
    import importlib

    return inspect.getsource(importlib.import_module(module))


def _edit(text: str, share: float, seed: int) -> str:
    """Replace ``share`` of the space-separated words with new words (a near duplicate)."""
    rng = random.Random(seed)
    words = text.split(" ")
    real = [i for i, word in enumerate(words) if word.strip()]
    for i in rng.sample(real, max(1, int(share * len(real)))):
        words[i] = f"edited{i}"
    return " ".join(words)


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def code_tree(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    for module in REAL_MODULES:
        (root / "pkg" / f"{module.replace('.', '_')}.py").write_text(_source(module))
    original = _source("textwrap")
    # an exact copy up to line endings and trailing blank lines
    (root / "pkg" / "textwrap_copy.py").write_bytes(
        (original.replace("\n", "\r\n") + "\r\n\r\n").encode("utf-8")
    )
    # a near copy: 2% of the words edited (exact Jaccard of word 5-grams about 0.83)
    (root / "pkg" / "shlex_edited.py").write_text(_edit(_source("shlex"), 0.02, seed=1))
    (root / "pkg" / "blob.py").write_bytes(b"\x00\x01binary\x00")
    (root / "pkg" / "latin1.py").write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    (root / "pkg" / "empty.py").write_text("")
    return root


def test_curate_finds_planted_duplicates_in_real_code(code_tree: Path, tmp_path: Path) -> None:
    before = _tree_digest(code_tree)
    result = curate(code_tree, out=tmp_path / "out", dedup=["exact", "near"], quality="code")
    table = result.manifest
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["pkg/textwrap_copy.py"]["removed_by"] == "exact"
    assert rows["pkg/textwrap_copy.py"]["exact_duplicate_of"] == "pkg/textwrap.py"
    near = rows["pkg/shlex_edited.py"]
    assert near["removed_by"] == "near" and near["near_duplicate_of"] == "pkg/shlex.py"
    truth = jaccard(_edit(_source("shlex"), 0.02, seed=1), _source("shlex"))
    assert 0.75 < truth < 0.9
    assert abs(near["near_jaccard"] - truth) < 0.1  # the MinHash estimate of a known Jaccard
    for bad, problem in [
        ("pkg/blob.py", "binary file"),
        ("pkg/latin1.py", "undecodable"),
        ("pkg/empty.py", "empty"),
    ]:
        assert rows[bad]["removed_by"] == "read" and problem in rows[bad]["problem"]
        assert rows[bad]["reason"].startswith("skipped: ")
    originals = [f"pkg/{m.replace('.', '_')}.py" for m in REAL_MODULES]
    assert all(rows[i]["kept"] for i in originals)  # real stdlib code passes the quality rules
    assert all(rows[i]["quality_alphanum_fraction"] > 0.25 for i in originals)
    assert result.stages == {"read": 3, "quality": 0, "exact": 1, "near": 1}
    docs = pq.read_table(tmp_path / "out" / "documents.parquet")
    assert sorted(docs["id"].to_pylist()) == sorted(originals)
    assert docs.filter(pc.equal(docs["id"], "pkg/textwrap.py"))["text"][0].as_py() == _source(
        "textwrap"
    )
    page = (tmp_path / "out" / "report.html").read_text()
    assert "cluster of 2 documents" in page and "pkg/shlex_edited.py" in page
    assert (tmp_path / "out" / "curation.png").stat().st_size > 1000
    assert _tree_digest(code_tree) == before  # the input is never modified


def test_function_split_ids_are_path_and_line_span(code_tree: Path) -> None:
    result = curate(code_tree, dedup=["exact"], split="function")
    ids = [i for i in result.manifest["id"].to_pylist() if i.startswith("pkg/textwrap.py:")]
    source = _source("textwrap").splitlines(keepends=True)
    texts = {r["id"]: r for r in result.manifest.to_pylist()}
    assert ids
    for doc_id in ids:
        start, end = map(int, doc_id.rsplit(":", 1)[1].split("-"))
        assert texts[doc_id]["start_line"] == start and texts[doc_id]["end_line"] == end
        assert texts[doc_id]["preview"] == "".join(source[start - 1 : end])[:120]
    # each function of the exact copy is an exact duplicate of the original's function
    copies = [r for r in result.manifest.to_pylist() if r["id"].startswith("pkg/textwrap_copy")]
    assert copies and all(r["removed_by"] == "exact" for r in copies)


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_corpus_keeps_lines_byte_for_byte_and_counts_bad_rows(tmp_path: Path) -> None:
    base = textwrap.dedent(_source("fnmatch"))
    rows = [
        {"id": "a", "text": base},
        {"id": "b", "text": _edit(base, 0.02, seed=3)},
        {"id": "c", "text": _source("colorsys")},
        "{not json",
        {"id": "e", "text": ""},
        {"id": "f", "text": base + "\n\n"},
    ]
    src = _jsonl(tmp_path / "corpus.jsonl", rows)
    # curate records the bad rows (dedup refuses them: tests/test_dedup_refusals.py)
    result = lessdata.curate(src, dedup=["exact", "near"], out=tmp_path / "out")
    manifest = {r["id"]: r for r in result.manifest.to_pylist()}
    assert manifest["f"]["removed_by"] == "exact"  # trailing blank lines are normalised away
    assert manifest["b"]["removed_by"] == "near"
    assert manifest["e"]["removed_by"] == "read"
    assert [r for r in manifest.values() if r["problem"] == "invalid JSON"]
    lines = src.read_bytes().splitlines(keepends=True)
    kept = (tmp_path / "out" / "corpus.jsonl").read_bytes().splitlines(keepends=True)
    assert kept == [lines[0], lines[2]]


def test_semantic_stage_chains_after_near(tmp_path: Path) -> None:
    sentences = [
        "The cat sat on the mat and looked at the birds outside.",
        "A cat was sitting on the mat, watching birds outside the window.",
        "Quarterly revenue grew by twelve percent on strong cloud sales.",
        "Photosynthesis converts light energy into chemical energy in plants.",
        "The recipe needs two eggs, a cup of flour and some milk.",
    ]
    rows = [{"text": s} for s in sentences] + [{"text": sentences[2]}]
    src = _jsonl(tmp_path / "s.jsonl", rows)
    result = curate(
        src, dedup=["semantic", "exact"], encoder="tfidf", dedup_options={"eps": 0.5, "k": 1}
    )
    by = result.manifest["removed_by"].to_pylist()
    assert by[5] == "exact"  # exact runs first, whatever order the kinds are given in
    assert result.stages["exact"] == 1 and "semantic" in result.stages
    table = result.manifest
    assert "semdedup_duplicate_of" in table.column_names
    # the paraphrase is the one semantic duplicate: its kept twin is the first sentence
    removed = [i for i, by_ in enumerate(by) if by_ == "semantic"]
    assert removed in ([1], [0])
    assert table["semdedup_duplicate_of"][removed[0]].as_py() == table["id"][1 - removed[0]].as_py()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dedup=["fuzzy"]), "dedup must be one of exact, near, semantic"),
        (dict(dedup=[]), "nothing to do"),
        (dict(dedup_options={"threshold": 1.5}), r"threshold must be a number in \(0, 1\]"),
        (dict(dedup_options={"bands": 100, "rows": 100}), "bands and rows must be"),
        (dict(dedup_options={"eps": 0.1}), r"`eps` \(an option of semantic\) does not apply"),
        (dict(quality="poetry"), "quality must be one of code, prose"),
        (dict(quality="code", thresholds={"max_nonsense": 1.0}), "nonsense"),
        (dict(dedup_options={"keep_rule": "shortest"}), "keep_rule must be one of"),
        (dict(split="function", text_column="x"), "no text or id column"),
    ],
)
def test_bad_options_fail_before_any_output(code_tree, tmp_path, kwargs, message) -> None:
    with pytest.raises(LessdataError, match=message):
        curate(code_tree, out=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_out_inside_the_input_is_refused(code_tree: Path) -> None:
    with pytest.raises(LessdataError, match=r"overwrite the input|input itself"):
        curate(code_tree, out=code_tree)
    with pytest.raises(LessdataError, match="overwrite the input"):
        curate(code_tree, out=code_tree / "pkg" / "out")


def test_cli_curate_and_dedup(code_tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(
        app, ["curate", str(code_tree), "--out", str(out), "--quality", "code",
              "--threshold", "max_mean_line_length=none", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "exact: removed 1" in res.output and "kept 7 of 12" in res.output
    res = runner.invoke(
        app, ["dedup", str(code_tree), "--method", "exact", "--method", "near", "--out",
              str(tmp_path / "d"), "--verify", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    table = pq.read_table(tmp_path / "d" / "manifest.parquet")
    near = [r for r in table.to_pylist() if r["removed_by"] == "near"]
    assert len(near) == 1 and "exact Jaccard" in near[0]["reason"]


def test_prune_a_source_folder_by_function(code_tree: Path, tmp_path: Path) -> None:
    result = lessdata.prune(
        code_tree, keep=0.5, metric="random", split="function", out=tmp_path / "p"
    )
    docs = pq.read_table(tmp_path / "p" / "documents.parquet")
    assert docs.num_rows == result.n_kept > 0
    assert set(docs.column_names) == {"id", "path", "start_line", "end_line", "text"}
    assert np.all(pc.greater_equal(docs["end_line"], docs["start_line"]).to_numpy())


def test_inspect_a_curate_manifest(code_tree: Path, tmp_path: Path) -> None:
    curate(code_tree, out=tmp_path / "out", report=False)
    res = CliRunner().invoke(
        app, ["inspect", str(tmp_path / "out" / "manifest.parquet"), "--out", str(tmp_path / "i")]
    )
    assert res.exit_code == 0, res.output
    assert "near" in res.output and "skipped: binary file" in res.output
    assert "cluster of 2 documents" in (tmp_path / "i" / "report.html").read_text()
