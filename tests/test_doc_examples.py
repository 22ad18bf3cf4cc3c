"""Every code block a reader is meant to copy, in the README and in docs/, runs (or, when it
says why it cannot run here, at least compiles and parses); the mechanism is in
``tests/doc_examples.py``. Also: the mechanism fails on a broken example, the CLI reference
names every command and option, and ``.ci/run`` runs the README's test command."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import doc_examples as de

ROOT = de.ROOT


@pytest.fixture
def quiet_one_thread(monkeypatch, one_torch_thread):
    monkeypatch.setenv("LESSDATA_QUIET", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.parametrize(
    "page", de.pages(), ids=lambda p: str(p.relative_to(ROOT))
)  # fmt: skip
def test_the_examples_of_a_page_run(page, tmp_path, quiet_one_thread):
    de.run_page(page, tmp_path / "work")


def test_the_readme_and_every_guide_have_examples():
    """Pages whose examples are the point: a page losing all of them is a regression."""
    for name in ("README.md", "docs/getting-started.md", "docs/guide/prune.md",
                 "docs/guide/dedup-curate.md", "docs/guide/training-loop.md",
                 "docs/guide/calibrate.md", "docs/guide/scale-out.md"):  # fmt: skip
        found = [b for b in de.blocks(ROOT / name) if b.lang == "python" or b.lang in de.SHELLS]
        assert [b for b in found if b.skip is None], f"{name} has no example that runs"


# --- the mechanism fails on a broken example ------------------------------------------------


def _run(tmp_path: Path, text: str) -> int:
    return de.run_page(tmp_path / "page.md", tmp_path / "work", text=text)


def test_a_python_block_that_raises_fails_naming_its_line(tmp_path, quiet_one_thread):
    text = "# t\n\n```python\nx = 1\n```\n\nand\n\n```python\nassert x == 2, 'x is 1'\n```\n"
    with pytest.raises(de.ExampleError, match=r"page\.md:9: AssertionError: x is 1"):
        _run(tmp_path, text)


def test_blocks_of_a_page_share_a_namespace_and_see_the_inputs(tmp_path, quiet_one_thread):
    text = (
        "```python\nimport numpy as np\nx = np.load('emb.npy')\n```\n"
        "```python\nassert x.shape == (2000, 16)\n```\n"
        "```bash\nlessdata prune emb.npy --keep 0.5 --out pruned/   # a comment\n```\n"
        "```python\nimport os\nassert os.path.exists('pruned/manifest.parquet')\n```\n"
    )
    assert _run(tmp_path, text) == 4


def test_a_lessdata_command_that_fails_fails_the_test(tmp_path, quiet_one_thread):
    text = "```bash\nlessdata prune emb.npy \\\n    --keep 0 --out pruned/\n```\n"
    with pytest.raises(de.ExampleError, match=r"page\.md:1: `lessdata prune emb\.npy --keep 0"):
        _run(tmp_path, text)


def test_a_not_run_block_is_still_parsed_and_compiled(tmp_path):
    ok = "<!-- not run: slow -->\n```bash\nlessdata scale run --task mnist1d --store s\n```\n"
    assert _run(tmp_path, ok) == 1
    renamed = "<!-- not run: slow -->\n```bash\nlessdata prune x --keep 1 --budget 3 --out o\n```\n"
    with pytest.raises(de.ExampleError, match="--budget"):
        _run(tmp_path, renamed)
    missing = "<!-- not run: slow -->\n```bash\nlessdata prune x.npy --keep 0.5\n```\n"
    with pytest.raises(de.ExampleError, match="Missing parameter: out"):
        _run(tmp_path, missing)
    unknown = "<!-- not run: slow -->\n```bash\nlessdata prun x.npy\n```\n"
    with pytest.raises(de.ExampleError, match="no command"):
        _run(tmp_path, unknown)
    python = "<!-- not run: needs a cluster -->\n```python\ndef f(:\n```\n"
    with pytest.raises(de.ExampleError, match=r"page\.md:2"):
        _run(tmp_path, python)


def test_a_marker_needs_a_reason_and_its_fence(tmp_path):
    with pytest.raises(de.ExampleError, match="needs a reason"):
        de.blocks(tmp_path / "p.md", "<!-- not run: -->\n```bash\nlessdata metrics\n```\n")
    with pytest.raises(de.ExampleError, match="right before a code fence"):
        de.blocks(tmp_path / "p.md", "<!-- not run: slow -->\n\n```bash\nlessdata metrics\n```\n")


def test_a_script_that_does_not_exist_fails(tmp_path):
    text = "```bash\n.venv/bin/python scripts/no_such_script.py --out x\n```\n"
    with pytest.raises(de.ExampleError, match="does not exist"):
        _run(tmp_path, text)
    assert _run(tmp_path, "```bash\nbash scripts/setup.sh && pip install 'lessdata[ray]'\n```\n")


def test_shell_lines_are_read_as_a_shell_would():
    code = "A=1 lessdata prune x \\\n  --keep 0.5 && lessdata inspect o  # note\n# a comment\n"
    assert de.shell_commands(code) == [
        ["A=1", "lessdata", "prune", "x", "--keep", "0.5"], ["lessdata", "inspect", "o"]
    ]  # fmt: skip
    assert de.lessdata_args(["A=1", ".venv/bin/lessdata", "metrics"]) == ["metrics"]
    assert de.lessdata_args(["pip", "install", "lessdata"]) is None


# --- the CLI reference, CI and the README's commands -----------------------------------------


def test_the_cli_reference_names_every_command_and_option():
    sys.path.insert(0, str(ROOT / "scripts" / "docs_site"))
    import cli_reference

    from lessdata.cli import app

    text = cli_reference.render(app)
    names = cli_reference.option_names(app)
    assert {"lessdata prune", "lessdata scale run", "lessdata index build"} <= set(names)
    for command, options in names.items():
        section = text.split(f"## {command} {{#", 1)[1].split("\n## ", 1)[0]
        for option in options:
            assert option in section, f"{command}: {option} is missing from the reference"


def test_ci_runs_the_readme_test_command_and_builds_the_docs_strictly():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    block = readme.split("## Two commands", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert commands[1] in ci  # the README's test command, exactly
    assert re.search(r"mkdocs build --strict", ci)


def test_the_site_hooks_point_links_at_pages(caplog):
    pytest.importorskip("mkdocs")
    sys.path.insert(0, str(ROOT / "scripts" / "docs_site"))
    import hooks

    text = (
        "[f](docs/findings.md#x) ![p](docs/figures/code_lm.png) [b](benchmarks/README.md)\n"
        "[s](scripts/docs_tables.py) [`examples/hf_trainer.py`](examples/hf_trainer.py)\n"
        "`[not](a/link.md)`\n```\n[in](code.md)\n```\n[gone](docs/no_such_page.md)\n"
    )
    out = hooks.rewrite_links(text, "README.md", "index.md")
    assert "[f](findings.md#x)" in out and "![p](figures/code_lm.png)" in out
    assert "[b](benchmarks.md)" in out and "s (`scripts/docs_tables.py`)" in out
    assert "[`examples/hf_trainer.py`](examples/hf_trainer.md)" in out
    assert "`[not](a/link.md)`" in out and "[in](code.md)" in out
    assert "no_such_page.md" in caplog.text  # a warning: mkdocs --strict fails on it
    nested = hooks.rewrite_links("[c](../../CHANGELOG.md)", "docs/labs/x.md", "labs/x.md")
    assert nested == "[c](../changelog.md)"
