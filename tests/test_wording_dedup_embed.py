"""The words of ``dedup`` and ``embed`` refusals: the CLI names its flags, Python its names,
and each message says what is really wrong (issue 25, item 10)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def one_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": f"document {i} words"}) + "\n" for i in range(9)))
    return path


def test_a_semantic_option_given_to_exact_names_the_flags(corpus, cli):
    line = one_line(*cli("dedup", corpus, "--method", "exact", "--keep", "100", "--out", "o")[::2])
    assert "--keep (an option of semantic) does not apply to exact" in line
    assert "--keep-rule" in line and "keep_rule" not in line and "`" not in line
    line = one_line(*cli("dedup", corpus, "--method", "near", "--eps", "0.1", "--out", "o")[::2])
    assert line.startswith("error: --eps (an option of semantic)") and "--jaccard" in line


def test_from_python_the_options_are_named_as_python_names_them(corpus):
    with pytest.raises(LessdataError) as caught:
        lessdata.dedup(corpus, method="exact", method_options={"keep": 100})
    assert str(caught.value) == (
        "`keep` (an option of semantic) does not apply to exact, which takes `keep_rule`"
    )
    with pytest.raises(LessdataError, match=r"`treshold` \(no method's option\) do"):
        lessdata.dedup(corpus, method="near", method_options={"treshold": 0.5, "eps": 0.1})


def test_embed_an_empty_folder_says_it_is_empty(tmp_path, cli):
    (tmp_path / "empty").mkdir()
    for method in ("ssl", "static"):
        line = one_line(*cli("embed", "empty", "--method", method, "--out", "e.npy")[::2])
        assert "empty: the folder is empty" in line and ".py" not in line
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    line = one_line(*cli("prune", "notes", "--keep", "0.5", "--out", "p")[::2])
    assert "no files ending in .py" in line  # a folder of other files: its extensions


def test_embed_on_nan_names_no_other_step(tmp_path, cli):
    x = np.ones((20, 4), dtype=np.float32)
    x[3, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    line = one_line(*cli("embed", "x.npy", "--steps", "2", "--out", "e.npy")[::2])
    assert "row 3 holds NaN or inf" in line and "pruning" not in line


def test_embed_refuses_zero_steps_before_any_work(tmp_path, cli, monkeypatch):
    np.save(tmp_path / "x.npy", np.ones((20, 4), dtype=np.float32))
    from lessdata.pipeline import embedding

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the input was read")

    monkeypatch.setattr(embedding, "_ssl_input", no_reading)
    line = one_line(*cli("embed", "x.npy", "--steps", "0", "--out", "e.npy")[::2])
    assert line.startswith("error: --steps must be a positive whole number, got 0")
    assert "untrained" in line or "random" in line
    assert not (tmp_path / "e.npy").exists()
    with pytest.raises(LessdataError) as caught:
        lessdata.embed_data(np.ones((20, 4), dtype=np.float32), steps=0)
    assert caught.value.param == "steps"
