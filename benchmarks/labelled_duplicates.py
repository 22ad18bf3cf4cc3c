"""A labelled near-duplicate and paraphrase set built from real code and real prose.

Everything comes from files this machine already has, so the set is rebuilt identically
from a seed, with no download:

**Code**: top-level functions (5 to 60 lines) of the standard library's ``.py`` files.
Each *anchor* function gets one *variant*, made by one of four edits that keep its
behaviour (checked: the variant still parses):

- ``rename``: every local name and argument renamed consistently (``x`` → ``v_x_1``);
- ``reformat``: the code as ``ast.unparse`` prints it (quotes, spacing, wrapping and
  comments change);
- ``reorder``: two adjacent statements that read nothing the other writes swapped;
- ``comments``: a comment line added after every second statement.

**Prose**: docstrings (300+ characters) of the standard library and paragraphs (300+
characters) of the ``.rst`` / ``.md`` / ``.txt`` files installed packages ship in the venv's
site-packages. Each anchor paragraph gets one variant by one of:

- ``reorder``: its sentences in another order;
- ``drop``: one sentence (not the first) removed;
- ``rewrap``: lines re-wrapped at another width, double spaces, trailing spaces.

**Negatives**: further functions and paragraphs that have no variant. Every document is
distinct; the labels are the (anchor, variant) pairs.
"""

from __future__ import annotations

import ast
import random
import re
import sysconfig
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CODE_EDITS = ("rename", "reformat", "reorder", "comments")
PROSE_EDITS = ("reorder", "drop", "rewrap")


@dataclass
class LabelledSet:
    """Documents, their kind (code / prose) and the labelled (anchor, variant) row pairs."""

    texts: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)  # the edit of each pair

    def add(self, text: str, kind: str) -> int:
        self.texts.append(text)
        self.kinds.append(kind)
        return len(self.texts) - 1


# --- sources ------------------------------------------------------------------------------


def stdlib_functions(limit: int) -> Iterator[tuple[str, ast.FunctionDef]]:
    """(source, node) of top-level functions of 5-60 lines, in sorted file order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    count = 0
    for path in sorted(root.glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        lines = source.splitlines(keepends=True)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.decorator_list:
                assert node.end_lineno is not None
                if 5 <= node.end_lineno - node.lineno + 1 <= 60:
                    yield "".join(lines[node.lineno - 1 : node.end_lineno]), node
                    count += 1
                    if count >= limit:
                        return


def prose_paragraphs(limit: int) -> Iterator[str]:
    """Paragraphs of 300+ characters: stdlib docstrings, then the venv's .rst/.md/.txt."""
    count = 0
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.glob("*.py")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module):
                doc = ast.get_docstring(node)
                for paragraph in (doc or "").split("\n\n"):
                    if _is_prose(paragraph):
                        yield paragraph.strip()
                        count += 1
                        if count >= limit // 2:
                            break
            if count >= limit // 2:
                break
        if count >= limit // 2:
            break
    site = Path(sysconfig.get_paths()["purelib"])
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".rst", ".md", ".txt") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for paragraph in text.split("\n\n"):
            if _is_prose(paragraph):
                yield paragraph.strip()
                count += 1
                if count >= limit:
                    return


def _is_prose(paragraph: str) -> bool:
    """Running text: long enough, mostly letters, at least three sentences."""
    text = paragraph.strip()
    if len(text) < 300 or len(text) > 3000:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text) / len(text)
    return letters > 0.85 and len(_sentences(text)) >= 3


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]


# --- code edits ---------------------------------------------------------------------------


class _Renamer(ast.NodeTransformer):
    def __init__(self, names: set[str]) -> None:
        self.names = {name: f"v_{name}_1" for name in names}

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.names:
            node.id = self.names[node.id]
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        if node.arg in self.names:
            node.arg = self.names[node.arg]
        return node


def _locals(node: ast.FunctionDef) -> set[str]:
    """Arguments and names assigned in the function (renaming them keeps behaviour)."""
    names = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
    globals_ = {n for sub in ast.walk(node) if isinstance(sub, ast.Global | ast.Nonlocal)
                for n in sub.names}  # fmt: skip
    return names - globals_


def _names(node: ast.AST, ctx: type) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def edit_code(source: str, node: ast.FunctionDef, edit: str, rng: random.Random) -> str | None:
    """The variant of a function by ``edit``; None when the edit does not apply."""
    if edit == "rename":
        names = _locals(node)
        if not names:
            return None
        tree = ast.parse(textwrap.dedent(source))
        _Renamer(names).visit(tree)
        return ast.unparse(tree)
    if edit == "reformat":
        variant = ast.unparse(ast.parse(textwrap.dedent(source)))
        return variant if variant.strip() != source.strip() else None
    if edit == "reorder":
        body = ast.parse(textwrap.dedent(source)).body[0].body  # type: ignore[attr-defined]
        options = []
        for i in range(len(body) - 1):
            a, b = body[i], body[i + 1]
            if isinstance(a, ast.Return | ast.Raise) or isinstance(b, ast.Return | ast.Raise):
                continue
            if isinstance(a, ast.Expr) and isinstance(a.value, ast.Constant):
                continue  # the docstring stays first
            wa, wb = _names(a, ast.Store), _names(b, ast.Store)
            ra, rb = _names(a, ast.Load), _names(b, ast.Load)
            if not (wa & rb or wb & ra or wa & wb) and isinstance(a, ast.Assign | ast.Expr) \
                    and isinstance(b, ast.Assign | ast.Expr):  # fmt: skip
                options.append(i)
        if not options:
            return None
        tree = ast.parse(textwrap.dedent(source))
        fn = tree.body[0]
        i = rng.choice(options)
        fn.body[i], fn.body[i + 1] = fn.body[i + 1], fn.body[i]  # type: ignore[attr-defined]
        return ast.unparse(tree)
    if edit == "comments":
        lines = source.splitlines()
        out = []
        for j, line in enumerate(lines):
            out.append(line)
            stripped = line.strip()
            if j % 2 == 1 and stripped and not stripped.endswith(("(", "[", "{", ",", "\\")):
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}# step {j}: see above")
        variant = "\n".join(out) + "\n"
        try:
            ast.parse(textwrap.dedent(variant))
        except SyntaxError:
            return None
        return variant
    raise ValueError(edit)


# --- prose edits --------------------------------------------------------------------------


def edit_prose(text: str, edit: str, rng: random.Random) -> str:
    sentences = _sentences(text)
    if edit == "reorder":
        head, rest = sentences[0], sentences[1:]
        rng.shuffle(rest)
        return " ".join([*rest[: len(rest) // 2], head, *rest[len(rest) // 2 :]])
    if edit == "drop":
        del sentences[rng.randrange(1, len(sentences))]
        return " ".join(sentences)
    if edit == "rewrap":
        width = rng.choice([50, 60, 100])
        wrapped = textwrap.fill(" ".join(text.split()), width=width).replace(". ", ".  ")
        return "\n".join(line + " " for line in wrapped.splitlines())
    raise ValueError(edit)


# --- the set ------------------------------------------------------------------------------


def build(code_pairs: int = 300, prose_pairs: int = 200, negatives: int = 500,
          seed: int = 0) -> LabelledSet:  # fmt: skip
    """``code_pairs`` + ``prose_pairs`` labelled pairs and ``negatives`` unpaired documents
    (split between code and prose in the same proportion)."""
    rng = random.Random(seed)
    out = LabelledSet()
    seen: set[str] = set()
    code_neg = negatives * code_pairs // max(code_pairs + prose_pairs, 1)
    functions = list(stdlib_functions(limit=(code_pairs + code_neg) * 3))
    rng.shuffle(functions)
    made = 0
    for source, node in functions:
        key = " ".join(source.split())
        if key in seen:
            continue
        if made < code_pairs:
            edit = CODE_EDITS[made % len(CODE_EDITS)]
            variant = edit_code(source, node, edit, rng)
            if variant is None or " ".join(variant.split()) in seen:
                continue
            seen.update({key, " ".join(variant.split())})
            anchor = out.add(source, "code")
            out.pairs.append((anchor, out.add(variant, "code")))
            out.edits.append(f"code:{edit}")
            made += 1
        elif made < code_pairs + code_neg:
            seen.add(key)
            out.add(source, "code")
            made += 1
        else:
            break
    paragraphs = list(dict.fromkeys(prose_paragraphs(limit=(prose_pairs + negatives) * 3)))
    rng.shuffle(paragraphs)
    made = 0
    for text in paragraphs:
        key = " ".join(text.split())
        if key in seen:
            continue
        seen.add(key)
        if made < prose_pairs:
            edit = PROSE_EDITS[made % len(PROSE_EDITS)]
            anchor = out.add(text, "prose")
            out.pairs.append((anchor, out.add(edit_prose(text, edit, rng), "prose")))
            out.edits.append(f"prose:{edit}")
        elif made < prose_pairs + negatives - code_neg:
            out.add(text, "prose")
        else:
            break
        made += 1
    return out


if __name__ == "__main__":
    labelled = build()
    print(
        f"{len(labelled.texts)} documents, {len(labelled.pairs)} labelled pairs "
        f"({sum(k == 'code' for k in labelled.kinds)} code, "
        f"{sum(k == 'prose' for k in labelled.kinds)} prose)"
    )
    for edit in sorted(set(labelled.edits)):
        print(f"  {edit}: {labelled.edits.count(edit)}")
