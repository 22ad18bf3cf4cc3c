"""The code blocks of the README and of docs/ as examples that run (used by
``tests/test_doc_examples.py``; the site's page on the mechanism is ``docs/development.md``).

- A fenced block tagged ``python`` is run with ``exec``; the blocks of one page share one
  namespace, in order, as a reader who copies them one after the other would run them.
- A fenced block tagged ``bash`` (or ``sh``, ``shell``, ``console``) is read as shell lines:
  ``\\``-continued lines are joined, ``#`` comments dropped, and ``&&`` chains split; each
  ``lessdata ...`` (or ``.venv/bin/lessdata ...``) command is run in-process through the
  CLI's own entry point and must exit 0. ``python``/``bash`` commands that run a repository
  script must name one that exists; other commands (``pip install``, ``bash
  scripts/setup.sh``) are left to the user and to CI.
- A block that must not run here says so on the line before its fence, with a reason:
  ``<!-- not run: starts a Ray cluster -->``. Its Python is still compiled, and each of its
  ``lessdata`` commands still parsed against the CLI (a renamed or removed option fails).
  ``<!-- not checked: REASON -->`` skips even that (a synopsis with placeholders).
- Every page runs in a fresh temporary folder holding the tiny inputs of :func:`make_inputs`
  (the file names the docs use: ``emb.npy``, ``labels.npy``, ``corpus.jsonl``, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHELLS = ("bash", "sh", "shell", "console")
_FENCE = re.compile(
    r"(?:^(?P<marker><!--\s*(?P<kind>not run|not checked):(?P<reason>[^\n]*?)-->)[ \t]*\n)?"
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
_MARKER = re.compile(r"^\s*<!--\s*not (?:run|checked)\b")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None = None  # "not run" or "not checked"
    reason: str = ""

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


class ExampleError(AssertionError):
    """An example that does not run, or a marker that is not well formed."""


def pages() -> list[Path]:
    """The Markdown files whose code blocks are examples: the README and the docs' pages (the
    committed evidence under docs/evidence/ is not)."""
    docs = sorted(p for p in (ROOT / "docs").rglob("*.md") if "evidence" not in p.parts)
    return [ROOT / "README.md", *docs]


def blocks(path: Path, text: str | None = None) -> list[Block]:
    """The fenced code blocks of ``path`` (or of ``text``, read as that file)."""
    text = path.read_text(encoding="utf-8") if text is None else text
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("indent")) + 1
        lang = (match["info"].strip().split() or [""])[0].lower()
        indent = match["indent"]
        code = "".join(
            row[len(indent) :] if row.startswith(indent) else row
            for row in match["body"].splitlines(keepends=True)
        )
        skip, reason = None, ""
        if match["marker"]:
            skip, reason = match["kind"], match["reason"].strip()
            if not reason:
                raise ExampleError(f"{path}:{line}: <!-- {skip}: --> needs a reason")
        found.append(Block(path, line, lang, code, skip, reason))
    for number, row in enumerate(text.splitlines(), 1):
        if _MARKER.search(row) and not any(b.line == number + 1 for b in found if b.skip):
            raise ExampleError(f"{path}:{number}: a not-run marker must stand on the line "
                               "right before a code fence")  # fmt: skip
    return found


def shell_commands(code: str) -> list[list[str]]:
    """The commands of a shell block, each as its words (``&&`` chains split, comments and
    ``\\`` line continuations handled as a shell would)."""
    joined = re.sub(r"\\\n", " ", code)
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", ";"):
                if command:
                    found.append(command)
                command = []
            else:
                command.append(word)
    return found


def lessdata_args(command: list[str]) -> list[str] | None:
    """The arguments of a ``lessdata`` command (after any ``VAR=value``), or None."""
    words = list(command)
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words.pop(0)
    if words and (words[0] == "lessdata" or words[0].endswith("/lessdata")):
        return [os.path.expanduser(w) for w in words[1:]]
    return None


def _script(command: list[str]) -> str | None:
    """The repository script a ``python``/``bash`` command runs, if it names one."""
    words = [w for w in command if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]
    if words and (words[0].endswith("python") or words[0].endswith("python3")
                  or words[0] == "bash"):  # fmt: skip
        rest = [w for w in words[1:] if not w.startswith("-")]
        if rest and rest[0].endswith((".py", ".sh")):
            return rest[0]
    return None


def parse_only(args: list[str]) -> None:
    """Parse ``lessdata ARGS`` against the CLI without running it: unknown commands and
    options, and missing required ones, raise :class:`ExampleError`."""
    import typer.main

    from lessdata.cli import app

    command = typer.main.get_command(app)
    rest, name = list(args), "lessdata"
    while getattr(command, "commands", None) and rest:
        if rest[0] not in command.commands:
            raise ExampleError(f"lessdata has no command {' '.join([name, rest[0]])!r}")
        name = f"{name} {rest[0]}"
        command = command.commands[rest.pop(0)]
    if getattr(command, "commands", None):
        return  # a group shown alone (``lessdata scale --help``)
    if "--help" in rest:
        return
    try:
        command.make_context(name, rest)
    except Exception as exc:  # the vendored click's usage errors
        raise ExampleError(f"{name}: {exc}") from None


def run_lessdata(args: list[str]) -> None:
    """Run ``lessdata ARGS`` in-process as the console script does; a non-zero exit raises
    :class:`ExampleError` with what the command printed on stderr."""
    import io

    from lessdata.cli import main

    err = io.StringIO()
    argv = sys.argv
    sys.argv = ["lessdata", *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    if code:
        raise ExampleError(f"exit {code}: {err.getvalue().strip()[-800:]}")


def run_block(block: Block, namespace: dict) -> None:
    """Run (or, for a marked block, check) one block; raise :class:`ExampleError` naming the
    file and line when it fails."""
    if block.skip == "not checked":
        return
    if block.lang == "python":
        try:
            code = compile(block.code, block.where, "exec")
        except SyntaxError as exc:
            raise ExampleError(f"{block.where}: {exc}") from None
        if block.skip is None:
            try:
                exec(code, namespace)
            except Exception as exc:
                raise ExampleError(f"{block.where}: {type(exc).__name__}: {exc}") from exc
        return
    if block.lang not in SHELLS:
        return
    for command in shell_commands(block.code):
        args = lessdata_args(command)
        shown = shlex.join(command)
        if args is None:
            script = _script(command)
            if script and not (ROOT / script).exists():
                raise ExampleError(f"{block.where}: `{shown}`: {script} does not exist")
            continue
        env = dict(w.split("=", 1) for w in command if re.match(r"^[A-Z_][A-Z0-9_]*=", w))
        try:
            if block.skip:
                parse_only(args)
            else:
                with _environ(env):
                    run_lessdata(args)
        except ExampleError as exc:
            raise ExampleError(f"{block.where}: `{shown}`: {exc}") from None


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_page(path: Path, folder: Path, text: str | None = None) -> int:
    """Run every example of ``path`` in ``folder`` (made the working directory, with the
    tiny inputs written into it); returns how many blocks ran or were checked."""
    found = [b for b in blocks(path, text) if b.lang == "python" or b.lang in SHELLS]
    if not found:
        return 0
    make_inputs(folder)
    namespace: dict = {"__name__": "__example__"}
    before = Path.cwd()
    os.chdir(folder)
    try:
        for block in found:
            run_block(block, namespace)
    finally:
        os.chdir(before)
    return len(found)


# ---------------------------------------------------------------------------------------
# the tiny inputs the examples name

_WORDS = (
    "data model train prune score keep example cluster vector budget policy metric random "
    "corpus token python function class value result table column index shard engine"
).split()


def _code_docs(rng: np.random.Generator, n: int, tag: str) -> list[str]:
    docs = []
    for i in range(n):
        a, b, c = rng.choice(_WORDS, 3, replace=False)
        body = " ".join(rng.choice(_WORDS, 12))
        docs.append(
            f"def {a}_{b}_{tag}{i}(x, y):\n"
            f'    """Return the {c} of {a} and {b}: {body}."""\n'
            f"    total = x * {i % 7} + y\n"
            f"    for step in range({2 + i % 5}):\n"
            f"        total = total + step * {a}_weight(x)\n"
            f"    return total\n"
        )
    return docs


def _vectors(texts: list[str], dim: int = 16) -> np.ndarray:
    """A deterministic embedding of each text: hashed words, randomly projected."""
    table = np.random.default_rng(7).normal(size=(997, dim))
    out = np.zeros((len(texts), dim))
    for row, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[row] += table[sum(map(ord, word)) * 31 % 997]
    out += 1e-3
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def make_inputs(folder: Path) -> None:
    """Write the tiny inputs that the docs' examples name into ``folder``: arrays
    (``emb.npy``: 2,000 × 16, ``labels.npy``, ``signals.npy``: 300 × 40), a table
    (``train.parquet``), text corpora (``corpus.jsonl``, ``new.jsonl``, ``target.jsonl``,
    with an ``embedding`` column) and a source tree (``project/``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n, d = 2000, 16  # 2,000 rows: calibrate's default repeats are fewest from 2,000 on
    centres = rng.normal(size=(6, d)) * 3
    labels = np.arange(n) % 3
    emb = centres[np.arange(n) % 6] + rng.normal(size=(n, d))
    emb[-20:] = emb[:20] + rng.normal(scale=1e-3, size=(20, d))  # near copies
    np.save(folder / "emb.npy", emb.astype(np.float32))
    np.save(folder / "labels.npy", labels.astype(np.int64))
    t = np.linspace(0, 1, 40)
    waves = labels[:300, None] + 1
    signals = np.sin(2 * np.pi * waves * t) + 0.3 * rng.normal(size=(300, 40))
    np.save(folder / "signals.npy", signals.astype(np.float32))
    pq.write_table(
        pa.table({
            "id": [f"ex{i}" for i in range(n)],
            "embedding": pa.array(list(emb.astype(np.float32)), pa.list_(pa.float32())),
            "label": labels,
        }),
        folder / "train.parquet",
    )  # fmt: skip

    docs = _code_docs(rng, 200, "c")
    docs += docs[:20]  # exact copies
    docs += [d.replace("total", "acc") for d in docs[20:40]]  # near copies
    new = _code_docs(np.random.default_rng(1), 40, "n") + docs[40:60]
    target = _code_docs(np.random.default_rng(2), 30, "t")
    for name, texts in (("corpus.jsonl", docs), ("new.jsonl", new), ("target.jsonl", target)):
        with open(folder / name, "w", encoding="utf-8") as out:
            for i, (text, vector) in enumerate(zip(texts, _vectors(texts), strict=True)):
                row = {"id": f"{name.split('.')[0]}-{i}", "text": text,
                       "embedding": [round(float(v), 5) for v in vector]}  # fmt: skip
                out.write(json.dumps(row) + "\n")
    project = folder / "project"
    project.mkdir(exist_ok=True)
    for k in range(5):
        (project / f"module_{k}.py").write_text("\n\n".join(docs[k * 12 : k * 12 + 12]))
