"""The code-LM mixture axis: prose from the roots, the byte budget split, both evaluations."""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.labs.scaling.code_lm import CodeLMSpec
from lessdata.labs.scaling.code_mixture import (
    CHUNK_BYTES,
    MixtureSpec,
    _chunks,
    build_prose,
    fill,
    run_code_mixture,
    write_mixture_report,
)
from lessdata.labs.scaling.store import ResultsStore

MODULES = ("textwrap", "string", "shlex", "fnmatch", "glob", "colorsys", "csv", "base64",
           "calendar", "difflib", "heapq", "bisect", "statistics", "pprint")  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    for name in MODULES:
        module = importlib.import_module(name)
        (folder / f"{name}.py").write_text(inspect.getsource(module))
        doc = (
            (module.__doc__ or name)
            + "\n\n"
            + "\n\n".join(
                f"{n}: {getattr(module, n).__doc__ or ''}"
                for n in dir(module)
                if not n.startswith("_")
            )
        )
        (folder / f"{name}.rst").write_text(doc * 3)
    (folder / "latin1.txt").write_bytes(b"caf\xe9 " * 400)  # not UTF-8: skipped
    os.symlink("/etc/hostname", folder / "link.md")  # a link out: never followed
    return folder


def _spec(root: Path, **changes) -> MixtureSpec:
    code = CodeLMSpec(
        roots=(str(root),), pool_docs=120, heldout_docs=30, target_docs=10, heldout_share=0.3,
        target_share=0.1, tokens=2_000, eval_points=2, eval_tokens=1_500,
        lm={"context": 32, "batch_size": 4},
    )  # fmt: skip
    settings = dict(code=code, mixes=(0.0, 0.4), fraction=0.3, seeds=1, prose_docs=60,
                    prose_heldout_docs=10)  # fmt: skip
    settings.update(changes)
    return MixtureSpec(**settings)


def test_chunks_stay_under_the_limit_and_keep_the_text() -> None:
    text = "\n\n".join(f"paragraph {i} " * (i * 40) for i in range(1, 12))
    pieces = _chunks(text)
    assert all(len(p.encode()) <= CHUNK_BYTES for p in pieces)
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def test_fill_takes_a_random_prefix_that_fits() -> None:
    sizes = np.array([5, 10, 20, 40, 80])
    kept = fill(sizes, 60, np.random.default_rng(0))
    assert sizes[kept].sum() <= 60 and len(kept) >= 1
    assert len(fill(sizes, 0, np.random.default_rng(0))) == 0


def test_prose_is_split_by_file_and_skips_bad_files(root: Path, tmp_path: Path) -> None:
    pool, heldout = build_prose(_spec(root), tmp_path)
    assert len(pool) >= 2 and len(heldout) >= 2
    assert set(pool.to_pylist()).isdisjoint(heldout.to_pylist())
    assert not any("caf" in t for t in pool.to_pylist() + heldout.to_pylist())
    again, _ = build_prose(_spec(root), tmp_path)
    assert again.to_pylist() == pool.to_pylist()  # from the cache


def test_runs_record_python_and_prose_loss_and_resume(root: Path, tmp_path: Path) -> None:
    spec = _spec(root)
    assert run_code_mixture(spec, tmp_path) == {"done": 0, "ran": 2}
    with ResultsStore(tmp_path) as store:
        rows = {float(r["keep"]): r for r in store.rows() if r["task"] == "pycode-mix"}
    assert rows[0.0]["prose_bytes"] == 0 and rows[0.4]["prose_bytes"] > 0
    budget = rows[0.0]["python_bytes"]
    assert rows[0.4]["python_bytes"] + rows[0.4]["prose_bytes"] <= budget * 1.05
    assert all(0 < r["prose_bits"] < 9 and 0 < r["loss"] < 9 for r in rows.values())
    assert run_code_mixture(spec, tmp_path) == {"done": 2, "ran": 0}
    paths = write_mixture_report(tmp_path)
    assert paths["png"].stat().st_size > 1000


@pytest.mark.parametrize(
    ("changes", "message"),
    [(dict(mixes=(1.0,)), "mixes"), (dict(mixes=(0.1, 0.1)), "repeat"),
     (dict(fraction=0.0), "fraction"), (dict(seeds=0), "seeds")],
)  # fmt: skip
def test_bad_settings_are_refused_before_any_work(
    root: Path, tmp_path: Path, changes: dict, message: str
) -> None:
    with pytest.raises(LessdataError, match=message):
        run_code_mixture(_spec(root, **changes), tmp_path)
    assert not any(tmp_path.iterdir())
