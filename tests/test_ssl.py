"""Self-supervised embeddings: they learn something, are seeded, resume, and read image folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import lessdata
from lessdata.embed import ssl
from lessdata.embed.contrastive import read_image_folder, ssl_input
from lessdata.embed.ssl_options import SSLOptions
from lessdata.errors import LessdataError


def _probe(emb: np.ndarray, y: np.ndarray, n_fit: int) -> float:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=3000).fit(emb[:n_fit], y[:n_fit])
    return float(model.score(emb[n_fit:], y[n_fit:]))


def test_ssl_linear_probe_beats_random_features(tmp_path: Path) -> None:
    pytest.importorskip("mnist1d")
    from lessdata.labs.scaling.tasks import load_task

    task = load_task("mnist1d", n_train=1200, seed=0, cache_dir=tmp_path)
    settings = dict(kind="signal", batch_size=128, width=32, dim=32, seed=0, quiet=True)
    untrained = ssl(task.x_train, steps=0, cache_dir=tmp_path, **settings)
    trained = ssl(task.x_train, steps=300, cache_dir=tmp_path, **settings)
    random_features = _probe(untrained, task.y_train, 900)
    learned = _probe(trained, task.y_train, 900)
    assert learned > random_features + 0.08, (learned, random_features)


def test_ssl_is_seeded_and_cached(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(80, 24)).astype(np.float32)
    a = ssl(x, kind="signal", steps=6, dim=8, width=8, cache_dir=tmp_path / "a", quiet=True)
    b = ssl(x, kind="signal", steps=6, dim=8, width=8, cache_dir=tmp_path / "b", quiet=True)
    c = ssl(x, kind="signal", steps=6, dim=8, width=8, seed=1, cache_dir=tmp_path / "a",
            quiet=True)  # fmt: skip
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (80, 8) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert len(list((tmp_path / "a" / "embeddings").glob("*.npy"))) == 2


def test_ssl_resumes_after_a_kill_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lessdata.embed import ssl_training

    x = np.random.default_rng(1).normal(size=(64, 16)).astype(np.float32)
    kwargs = dict(kind="vectors", steps=260, dim=8, width=8, batch_size=32, quiet=True)
    whole = ssl(x, cache_dir=tmp_path / "whole", **kwargs)

    real_track = ssl_training.track

    def dies_at_step_230(items, total, what):
        for i, item in enumerate(real_track(items, total, what)):
            if i == 230:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(ssl_training, "track", dies_at_step_230)
    with pytest.raises(KeyboardInterrupt):
        ssl(x, cache_dir=tmp_path / "killed", **kwargs)
    checkpoints = list((tmp_path / "killed" / "work").glob("ssl-*.pt"))
    assert len(checkpoints) == 1  # written at step 200
    monkeypatch.setattr(ssl_training, "track", real_track)
    resumed = ssl(x, cache_dir=tmp_path / "killed", **kwargs)
    np.testing.assert_allclose(resumed, whole, atol=1e-6)
    assert not checkpoints[0].exists()  # removed once training ends


def test_ssl_refuses_bad_arrays_and_options() -> None:
    with pytest.raises(LessdataError, match="NaN or inf"):
        ssl_input(np.array([[0.0, np.nan], [1.0, 2.0]]), "vectors")
    with pytest.raises(LessdataError, match="does not fit"):
        ssl_input(np.zeros((4, 10, 10)), "signal")
    with pytest.raises(LessdataError, match="at least 2"):
        ssl_input(np.zeros((1, 10)), "vectors")
    with pytest.raises(LessdataError, match="at least 8"):
        ssl_input(np.zeros((4, 4, 4)), "image")
    with pytest.raises(LessdataError, match="kind"):
        SSLOptions(kind="audio").check()
    with pytest.raises(LessdataError, match="steps"):
        ssl(np.zeros((4, 10)), steps=-1)


def test_ssl_image_array_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nhwc, _ = ssl_input(rng.random((6, 12, 12, 3)), "auto")
    gray, _ = ssl_input(rng.random((6, 12, 12)), "auto")
    assert nhwc.shape == (6, 3, 12, 12) and gray.shape == (6, 1, 12, 12)
    emb = ssl(rng.random((20, 16, 16, 3)), steps=3, dim=8, width=8, cache_dir=tmp_path,
              quiet=True)  # fmt: skip
    assert emb.shape == (20, 8)


def _image_folder(root: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / "images"
    (folder / "cats").mkdir(parents=True)
    for i in range(6):
        side = 16 if i % 2 else 24  # mixed sizes
        pixels = (rng.random((side, side, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "cats" / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    outside = root / "outside.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(outside)
    os.symlink(outside, folder / "link.png")
    os.mkfifo(folder / "pipe.png")  # opening it would block: it must be skipped unread
    return folder


def test_image_folder_resizes_and_reports_what_it_cannot_read(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    read = read_image_folder(folder)
    assert len(read.ids) == 6 and read.images.shape == (6, 16, 16, 3)
    assert set(read.skipped) == {"broken.png", "link.png", "pipe.png"}
    assert read.skipped["pipe.png"] == "not a regular file"
    assert "unreadable" in read.skipped["broken.png"]
    assert "out of the folder" in read.skipped["link.png"]
    result = lessdata.embed_data(folder, steps=2, dim=4, cache_dir=tmp_path / "c", quiet=True)
    assert result.vectors.shape == (6, 4)
    assert result.ids.to_pylist() == read.ids


def test_embed_command_writes_what_prune_reads(tmp_path: Path, cli) -> None:
    x = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    before = (tmp_path / "x.npy").read_bytes()
    code, out, err = cli("embed", tmp_path / "x.npy", "--out", tmp_path / "e.parquet",
                         "--steps", "3", "--dim", "6", "-q")  # fmt: skip
    assert code == 0, err
    assert "embedded 60 examples (6 dimensions, ssl)" in out
    code, _, err = cli("prune", tmp_path / "e.parquet", "--embedding-column", "embedding",
                       "--keep", "0.5", "--out", tmp_path / "pruned", "-q")  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "x.npy").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "e.txt"], "must end in .npy or .parquet"),
        (["--out", "x.npy"], "would overwrite the input"),
        (["--out", "e.npy", "--kind", "image"], "does not fit"),
        (["--out", "e.npy", "--steps", "-2"], "--steps"),
    ],
)
def test_embed_command_errors(tmp_path: Path, cli, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", np.ones((10, 8), np.float32))
    code, _, err = cli("embed", "x.npy", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_embed_ssl_refuses_texts(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    with pytest.raises(LessdataError, match="holds texts"):
        lessdata.embed_data(tmp_path / "t.jsonl")
