"""The public surface: documented parameters, and the house's layout rules."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import lessdata
import lessdata.duplicates
import lessdata.engines
import lessdata.metrics

SRC = Path(lessdata.__file__).parent


def _public_functions():
    for module in (lessdata, lessdata.metrics, lessdata.duplicates, lessdata.engines):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj


@pytest.mark.parametrize("name, fn", list(_public_functions()), ids=lambda v: str(v))
def test_every_parameter_of_a_public_function_is_documented(name, fn):
    doc = inspect.getdoc(fn) or ""
    assert "Args:" in doc, f"{name} has no Args: section"
    args = doc.split("Args:", 1)[1]
    for param in inspect.signature(fn).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            assert f"**{param.name}" in args, f"{name}: **{param.name} is not documented"
            continue
        documented = re.search(rf"(^|[\s,]){re.escape(param.name)}[,:]", args, re.M)
        assert documented, f"{name}: parameter {param.name!r} is not documented"


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
        yield ".".join(parts), path


def test_no_module_is_over_900_lines():
    long = [
        f"{name} ({n})"
        for name, path in _modules()
        if (n := len(path.read_text().splitlines())) > 900
    ]
    assert not long, long


#: the layers of the house, lowest first: a module imports only from its layer or below
LAYERS = (
    ("lessdata.errors", "lessdata._version", "lessdata.checks", "lessdata.extras",
     "lessdata.progress", "lessdata.budget", "lessdata.workers", "lessdata.ties"),
    ("lessdata.data",),
    ("lessdata.engines",),
    ("lessdata.embed", "lessdata.kmeans", "lessdata.train", "lessdata.torch"),
    ("lessdata.duplicates", "lessdata.filters", "lessdata.select", "lessdata.message_passing"),
    ("lessdata.metrics", "lessdata.report"),
    ("lessdata.pipeline",),
    ("lessdata",),
    ("lessdata.labs",),
    ("lessdata.cli",),
)  # fmt: skip


def _layer(module: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "lessdata"):
            return level
    return LAYERS.index(("lessdata",))


def test_no_import_cycles_lazy_imports_included():
    """Every ``import lessdata...`` anywhere in a module (inside functions too) is an edge;
    importing ``a.b.c`` also runs the ``__init__`` of ``a.b``. The graph has no cycle."""
    modules = dict(_modules())
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        mine = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                    )
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if not target.startswith("lessdata") or target == name:
                    continue
                parents = {".".join(target.split(".")[:i]) for i in range(1, target.count(".") + 1)}
                edges[name] |= {target, *(p for p in parents - mine - {name} if p in modules)}
    upward = [
        f"{a} -> {b}" for a, targets in edges.items() for b in targets if _layer(b) > _layer(a)
    ]
    assert not upward, upward  # imports run one way: cli → labs → pipeline → ... → data
    # depth-first search for a back edge
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
