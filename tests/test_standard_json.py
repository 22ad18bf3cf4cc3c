"""Everything lessdata writes as JSON is standard JSON (RFC 8259): no ``NaN``, ``Infinity``
or ``-Infinity``, which JavaScript's ``JSON.parse`` and many other parsers refuse."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

import lessdata
from lessdata.data.manifest import META_KEY
from lessdata.data.standard_json import dumps_standard, to_standard_json
from lessdata.engines.checkpoint import _TREE, decode_file, encode


def strict_loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses the non-standard constants, as a strict parser does."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not standard JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_are_written_as_null():
    value = {
        "a": float("nan"), "b": [float("inf"), -math.inf, 1.5], "c": (np.float32("nan"), 2),
        "d": np.array([1.0, np.inf]), "e": np.int64(3), "f": {"g": np.float64("-inf")},
    }  # fmt: skip
    text = dumps_standard(value)
    assert strict_loads(text) == {
        "a": None, "b": [None, None, 1.5], "c": [None, 2], "d": [1.0, None], "e": 3,
        "f": {"g": None},
    }  # fmt: skip
    # what ``default`` makes of an unknown object is made standard too
    assert strict_loads(dumps_standard({"x": object()}, default=lambda o: math.nan)) == {"x": None}
    assert to_standard_json(True) is True and to_standard_json("nan") == "nan"


def test_checkpoint_trees_are_standard_and_keep_non_finite_floats(tmp_path):
    value = {"nan": math.nan, "inf": math.inf, "low": (-math.inf, 0.5), "n": 3}
    data = encode(value)
    path = tmp_path / "c.npz"
    path.write_bytes(data)
    with np.load(path, allow_pickle=False) as archive:
        strict_loads(bytes(archive[_TREE]).decode("utf-8"))
    back = decode_file(path)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf
    assert back["low"] == (-math.inf, 0.5) and back["n"] == 3


def _every_json(root: Path) -> list[tuple[Path, bytes]]:
    """Every JSON text under ``root``: ``*.json`` files, markers and Parquet metadata."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".json" or path.name == ".lessdata-output.json":
            found.append((path, path.read_bytes()))
        elif path.suffix == ".parquet":
            raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
            if raw is not None:
                found.append((path, raw))
    return found


def test_every_json_a_run_writes_is_standard(tmp_path, cli):
    rows = [{"id": f"d{i}", "text": f"document {i % 30} on topic {i % 7} with words"}
            for i in range(60)]  # fmt: skip
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    vectors = tmp_path / "x.npy"
    np.save(vectors, np.random.default_rng(0).normal(size=(80, 8)).astype("float32"))
    runs = [
        ("dedup", corpus, "--method", "semantic", "--keep", "1", "--encoder", "tfidf",
         "--out", tmp_path / "semantic-1"),
        ("dedup", vectors, "--method", "semantic", "--keep", "1", "--out", tmp_path / "array-1"),
        ("dedup", corpus, "--method", "exact", "--method", "near", "--out", tmp_path / "near"),
        ("index", "build", corpus, "--method", "exact", "--method", "near",
         "--out", tmp_path / "index"),
        ("prune", vectors, "--keep", "0.5", "--policy", "keep-hard", "--parts",
         "--out", tmp_path / "parts"),
    ]  # fmt: skip
    for args in runs:
        code, _, err = cli(*args)
        assert code == 0, (args, err)
    texts = _every_json(tmp_path)
    names = {path.name for path, _ in texts}
    assert {"index.json", ".lessdata-output.json", "manifest.parquet"} <= names
    for path, text in texts:
        try:
            strict_loads(text)
        except ValueError as exc:
            pytest.fail(f"{path.relative_to(tmp_path)}: {exc}")
    for run in ("semantic-1", "array-1"):
        meta = strict_loads(pq.read_schema(tmp_path / run / "manifest.parquet").metadata[META_KEY])
        # one document left: even documents with no earlier neighbour went, which counts as
        # the lowest cosine similarity (-1, the manifest's distance 2), not -inf
        assert meta["semantic_threshold"] == -1.0


def test_keep_threshold_matches_the_manifest_distances():
    x = np.random.default_rng(1).normal(size=(40, 6)).astype("float32")
    result = lessdata.dedup(x, method="semantic", method_options={"keep": 1}, quiet=True)
    meta = strict_loads(result.manifest.schema.metadata[META_KEY])
    similarity = 1.0 - result.manifest.column("semdedup").to_numpy()
    removed = ~result.manifest.column("kept").to_numpy(zero_copy_only=False)
    assert similarity[removed].min() == pytest.approx(meta["semantic_threshold"])
