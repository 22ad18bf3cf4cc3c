"""The code-LM experiment on a small tree of real stdlib code: splits, selections, resume."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.labs.scaling.code_lm import (
    SELECTIONS,
    CodeLMSpec,
    build_corpus,
    plan,
    run_code_lm,
    select_subset,
)
from lessdata.labs.scaling.code_lm_report import write_code_lm_report
from lessdata.labs.scaling.store import ResultsStore

MODULES = (
    "json.decoder", "json.encoder", "textwrap", "string", "shlex", "fnmatch", "glob",
    "colorsys", "argparse", "dataclasses", "csv", "base64", "calendar", "difflib",
    "heapq", "bisect", "statistics", "fractions", "ipaddress", "pprint",
)  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code")
    for name in MODULES:
        source = inspect.getsource(importlib.import_module(name))
        (folder / f"{name.replace('.', '_')}.py").write_text(source)
    # a planted copy, so that the dedup selection has something to remove
    (folder / "textwrap_copy.py").write_text(inspect.getsource(importlib.import_module("textwrap")))
    return folder


def _spec(root: Path, **changes) -> CodeLMSpec:
    settings = dict(
        roots=(str(root),), pool_docs=150, heldout_docs=40, target_docs=30, heldout_share=0.25,
        target_share=0.2, fractions=(0.2,), seeds=1, tokens=3_000, eval_points=2,
        eval_tokens=2_000, perplexity_tokens=1_000, lm={"context": 32, "batch_size": 4},
    )  # fmt: skip
    settings.update(changes)
    return CodeLMSpec(**settings)


def test_splits_are_file_disjoint_and_sampled(root: Path, tmp_path: Path) -> None:
    corpus = build_corpus(_spec(root), tmp_path)
    files = {
        split: {i.split(":")[0] for i in getattr(corpus, split)["id"].to_pylist()}
        for split in ("pool", "heldout", "target")
    }
    assert files["pool"] and files["heldout"] and files["target"]
    assert not files["pool"] & files["heldout"] and not files["pool"] & files["target"]
    assert not files["heldout"] & files["target"]
    assert corpus.pool.num_rows == 150 and 2 <= corpus.heldout.num_rows <= 40
    again = build_corpus(_spec(root), tmp_path)  # from the cache, the same sample
    assert again.pool["id"].to_pylist() == corpus.pool["id"].to_pylist()


def test_selections_keep_the_budget_and_differ(root: Path, tmp_path: Path) -> None:
    spec = _spec(root)
    corpus = build_corpus(spec, tmp_path)
    kept = {s: select_subset(corpus, s, 0.2, 0, spec, tmp_path) for s in SELECTIONS}
    assert all(len(k) == 30 and len(np.unique(k)) == 30 for k in kept.values())
    assert len({tuple(k) for k in kept.values()}) >= 4
    # dedup draws only among survivors when they suffice: never both copies of textwrap
    chosen = corpus.pool["id"].take(kept["dedup"]).to_pylist()
    files = {i.split("/")[1].split(":")[0] for i in chosen}
    assert not {"textwrap.py", "textwrap_copy.py"} <= files


def test_token_budgets_keep_equal_bytes(root: Path, tmp_path: Path) -> None:
    spec = _spec(root, budget="tokens")
    corpus = build_corpus(spec, tmp_path)
    sizes = np.array([len(t.encode()) for t in corpus.pool["text"].to_pylist()])
    budget = 0.2 * sizes.sum()
    kept = {s: select_subset(corpus, s, 0.2, 0, spec, tmp_path) for s in SELECTIONS
            if not s.endswith("-lengths")}  # a length control matches counts, not bytes
    for selection, rows in kept.items():
        used = sizes[rows].sum()
        assert used <= budget, selection
        # the most documents that fit: one more of the selection's order would not
        assert used > budget - sizes.max(), selection
    docs = _spec(root)
    by_docs = select_subset(corpus, "perplexity", 0.2, 0, docs, tmp_path)
    assert len(by_docs) == 30  # a document budget is unchanged
    with pytest.raises(LessdataError, match="budget"):
        run_code_lm(_spec(root, budget="bytes"), tmp_path)


def test_the_length_control_matches_dsirs_lengths_not_its_documents(root: Path, tmp_path: Path):
    from lessdata.labs.scaling.code_lm import LENGTH_BINS, length_matched

    spec = _spec(root, budget="tokens")
    corpus = build_corpus(spec, tmp_path)
    sizes = np.array([len(t.encode()) for t in corpus.pool["text"].to_pylist()])
    dsir = select_subset(corpus, "dsir", 0.2, 0, spec, tmp_path)
    control = select_subset(corpus, "dsir-lengths", 0.2, 0, spec, tmp_path)
    edges = np.quantile(sizes, np.linspace(0, 1, LENGTH_BINS + 1)[1:-1])

    def per_bin(rows):
        return np.bincount(np.searchsorted(edges, sizes[rows], side="right"),
                           minlength=LENGTH_BINS)  # fmt: skip

    assert np.array_equal(per_bin(dsir), per_bin(control))
    assert len(set(dsir) & set(control)) < len(dsir)  # other documents, drawn at random
    again = length_matched(sizes, dsir, 0)
    assert np.array_equal(again, control) and not np.array_equal(length_matched(sizes, dsir, 1),
                                                                 control)  # fmt: skip


def test_run_records_every_run_and_resumes(root: Path, tmp_path: Path) -> None:
    spec = _spec(root, selections=("random", "dsir", "perplexity", "classifier", "dsir-lengths"))
    counts = run_code_lm(spec, tmp_path)
    assert counts == {"done": 0, "ran": len(plan(spec))} and len(plan(spec)) == 6
    with ResultsStore(tmp_path) as store:
        rows = store.rows()
    assert {r["selection"] for r in rows} == {"full", *spec.selections}
    for row in rows:
        assert row["status"] == "ok" and 0 < row["loss"] < 9  # bits per byte
        assert len(row["history"]) == 2 and row["history"][-1][0] == row["steps"] * 4 * 32
    assert run_code_lm(spec, tmp_path) == {"done": 6, "ran": 0}  # nothing repeated
    paths = write_code_lm_report(tmp_path)
    assert paths["plot"].stat().st_size > 1000
    html = paths["html"].read_text()
    assert "dsir" in html and "classifier" in html and "dsir-lengths" in html


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(selections=("best",)), "unknown selection"),
        (dict(fractions=(1.5,)), "fractions"),
        (dict(tokens=0), "tokens"),
        (dict(heldout_share=0.6, target_share=0.5), "leave files"),
        (dict(roots=("/no/such/folder",)), "not a folder"),
    ],
)
def test_bad_settings(root: Path, tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(LessdataError, match=message):
        run_code_lm(_spec(root, **changes), tmp_path)


def test_small_samples_parse_few_files(root: Path, tmp_path: Path, monkeypatch) -> None:
    import lessdata.data.source_files as source_files

    read: list[Path] = []
    real = source_files.read_source_file

    def counting(path, limits):
        read.append(path)
        return real(path, limits)

    monkeypatch.setattr(source_files, "read_source_file", counting)
    corpus = build_corpus(_spec(root, pool_docs=4, heldout_docs=2, target_docs=2), tmp_path)
    assert corpus.pool.num_rows == 4
    assert len(read) < len(MODULES) // 2  # the files needed for 4 × 8 documents, not all 21
