"""The CLI end to end on Parquet and .npy: score, prune, dedup, inspect."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

LESSDATA = [sys.executable, "-m", "lessdata.cli"]


def run(*args, ok=True):
    env = {**os.environ, "LESSDATA_QUIET": "1"}
    proc = subprocess.run([*LESSDATA, *map(str, args)], capture_output=True, text=True, env=env)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def embeddings():
    """400 clustered 16-d vectors with 3 labels, 20 planted near duplicates (rows 380..399)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 2
    labels = rng.integers(0, 3, 400)
    x = (centres[labels] + rng.normal(size=(400, 16))).astype(np.float32)
    x[380:] = x[:20] + 1e-4 * rng.normal(size=(20, 16)).astype(np.float32)
    labels[380:] = labels[:20]
    return x, labels


def test_parquet_round_trip(tmp_path, embeddings):
    x, labels = embeddings
    ids = [f"doc-{i:04d}" for i in range(len(x))]
    src = tmp_path / "train.parquet"
    table = pa.table(
        {
            "id": ids,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 16),
            "label": [f"class{c}" for c in labels],
            "extra": np.arange(len(x)),
        }
    )
    pq.write_table(table, src)
    before = src.read_bytes()

    run(
        "score",
        src,
        "--metric",
        "prototypes",
        "--metric",
        "semdedup",
        "--out",
        tmp_path / "s.parquet",
    )
    scores = pq.read_table(tmp_path / "s.parquet")
    assert scores.column("id").to_pylist() == ids
    assert {"prototypes", "semdedup", "label"} <= set(scores.column_names)

    out = tmp_path / "pruned"
    proc = run("prune", src, "--keep", "0.25", "--policy", "auto", "--class-balanced", "--out", out)
    assert "kept 100 of 400" in proc.stdout
    manifest = pq.read_table(out / "manifest.parquet")
    kept_ids = [
        i
        for i, k in zip(manifest["id"].to_pylist(), manifest["kept"].to_pylist(), strict=True)
        if k
    ]
    pruned = pq.read_table(out / "train.parquet")
    assert pruned.column_names == table.column_names
    assert pruned.column("id").to_pylist() == kept_ids
    per_class = np.unique(
        pruned.column("label").to_numpy(zero_copy_only=False), return_counts=True
    )[1]
    assert per_class.max() - per_class.min() <= 1
    assert "auto → random" in manifest["reason"].to_pylist()[0]
    assert (out / "scores.png").stat().st_size > 0 and (out / "report.html").exists()

    out2 = tmp_path / "deduped"
    proc = run("dedup", src, "--method", "semantic", "--eps", "0.01", "--out", out2)
    manifest = pq.read_table(out2 / "manifest.parquet")
    dup_of = manifest["semdedup_duplicate_of"].to_pylist()
    removed = {i for i, d in zip(ids, dup_of, strict=True) if d is not None}
    assert len(removed) == 20
    for i in range(20):  # one of each planted pair went, and it names the other
        a, b = ids[i], ids[380 + i]
        assert (a in removed) != (b in removed)
    assert pq.read_table(out2 / "train.parquet").num_rows == 380

    proc = run("inspect", out2 / "manifest.parquet", "--top", "3")
    assert "report.html" in proc.stdout
    assert src.read_bytes() == before


def test_npy_round_trip(tmp_path, embeddings):
    x, labels = embeddings
    src = tmp_path / "emb.npy"
    np.save(src, x)
    np.save(tmp_path / "labels.npy", labels)
    out = tmp_path / "out"
    run("prune", src, "--labels", tmp_path / "labels.npy", "--metric", "supervised-prototypes",
        "--keep", "300", "--policy", "keep-hard", "--out", out)  # fmt: skip
    pruned = np.load(out / "emb.npy")
    manifest = pq.read_table(out / "manifest.parquet")
    kept = np.flatnonzero(manifest["kept"].to_numpy(zero_copy_only=False))
    assert pruned.shape == (300, 16)
    assert np.array_equal(pruned, x[kept])
    assert np.array_equal(np.load(out / "emb.labels.npy"), labels[kept])
    # keep-hard drops the 100 most typical for their class
    scores = manifest["supervised-prototypes"].to_numpy()
    assert scores[kept].min() >= np.sort(scores)[100]

    out2 = tmp_path / "d4"
    run("prune", src, "--policy", "d4", "--keep", "0.5", "--eps", "0.01", "--out", out2)
    m2 = pq.read_table(out2 / "manifest.parquet")
    assert m2["kept"].to_numpy(zero_copy_only=False).sum() == 200
    reasons = m2["reason"].to_pylist()
    assert sum(r.startswith("pruned: semantic duplicate") for r in reasons) == 20


def test_text_parquet_with_packaged_minilm(tmp_path, monkeypatch):
    """Text is embedded offline by the packaged MiniLM, and the embeddings are cached."""
    texts = [
        f"The {a} {b} sat on the mat." for a in ("black", "white", "grey") for b in ("cat", "dog")
    ]
    texts += ["Quarterly revenue grew by four percent.", "def add(a, b):\n    return a + b"]
    texts += ["The black cat sat on the mat."]  # an exact duplicate of row 0
    src = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": texts}), src)
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run("dedup", src, "--eps", "0.02", "--k", "2", "--out", tmp_path / "out")
    manifest = pq.read_table(tmp_path / "out" / "manifest.parquet")
    dup = manifest["semdedup_duplicate_of"].to_pylist()
    assert sum(d is not None for d in dup) >= 1 and (dup[0] is not None or dup[-1] is not None)
    assert manifest["preview"].to_pylist()[7].startswith("def add")
    assert len(list(Path(tmp_path / "cache").rglob("*.npy"))) == 1


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, embeddings):
    x, _ = embeddings
    x = x.copy()
    x[5, 3] = np.nan
    src = tmp_path / "bad.npy"
    np.save(src, x)
    proc = run("prune", src, "--keep", "0.5", "--out", tmp_path / "out", ok=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "row 5" in proc.stderr
    assert not (tmp_path / "out").exists()
