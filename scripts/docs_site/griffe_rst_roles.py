"""A Griffe extension for the API reference: Sphinx roles as links, grouped parameters apart.

lessdata's docstrings name other objects with Sphinx roles (``:func:`lessdata.curate```,
``:class:`~lessdata.engines.Engine```, ``:meth:`update```). Markdown has no roles, so
mkdocstrings would print them as they are; this extension turns each into an *optional*
cross-reference of mkdocs-autorefs: a link where the object is documented on the site, its
name in code font where it is not (a private helper), never a broken link. A name without
dots is looked up in the object's class, then its module, then the package ``lessdata``.

A parameter line that documents several parameters at once (``num_replicas, rank: ...``, as
the house style allows) is given to each of them, so that the reference lists every
parameter with its type and Griffe can still warn about a documented name that the signature
lacks.

mkdocs.yml loads it with ``extensions: [scripts/docs_site/griffe_rst_roles.py]``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

GROUPED = re.compile(r"^(?P<indent>[ \t]+)(?P<names>\w+(?:, \w+)+): (?P<rest>.*)$")
ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|exc|obj|const):`(~?)([\w.]+)(\(\))?`")


def _candidates(obj: Any, target: str) -> list[str]:
    """Full paths ``target`` may name, seen from ``obj``, most specific first."""
    if target.startswith("lessdata"):
        return [target]
    found = []
    scope = obj if obj.is_class or obj.is_module else obj.parent
    while scope is not None:
        found.append(f"{scope.path}.{target}")
        scope = scope.parent
    return found


def split_grouped(text: str) -> str:
    """``text`` with each ``a, b: help`` line of its ``Args:`` section (and the lines that
    continue it) repeated once per name."""
    lines = text.splitlines()
    out: list[str] = []
    in_args = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
        elif line.strip() and not line.startswith((" ", "\t")):
            in_args = False
        match = GROUPED.match(line) if in_args else None
        if match is None:
            out.append(line)
            i += 1
            continue
        indent = match["indent"]
        body = [match["rest"]]
        i += 1
        while i < len(lines) and len(lines[i]) - len(lines[i].lstrip()) > len(indent):
            body.append(lines[i])  # a continuation line (a blank line ends the entry)
            i += 1
        for name in match["names"].split(", "):
            out.append(f"{indent}{name}: {body[0]}")
            out.extend(body[1:])
    return "\n".join(out)


def _exists(loader: Any, path: str) -> bool:
    try:
        loader.modules_collection[path]
    except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError):
        return False
    return True


class RstRoles(griffe.Extension):
    """Rewrites Sphinx roles in every docstring into optional autorefs (see the module)."""

    def on_object(self, *, obj: Any, loader: Any, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None or ":" not in docstring.value:
            return
        docstring.value = split_grouped(docstring.value)

        def link(match: re.Match[str]) -> str:
            short, target, call = match.group(1), match.group(2), match.group(3) or ""
            paths = _candidates(obj, target)
            known = next((p for p in paths if _exists(loader, p)), paths[0])
            shown = (target.rsplit(".", 1)[-1] if short else target) + call
            return f'<autoref identifier="{known}" optional><code>{shown}</code></autoref>'

        docstring.value = ROLE.sub(link, docstring.value)
