"""The command-line reference as Markdown, generated from the ``lessdata`` commands themselves.

Typer builds the commands on its own vendored copy of click (``typer._click``), so tools made
for click objects (mkdocs-click, sphinx-click) do not read them; this module walks the command
tree that ``typer.main.get_command`` builds and writes, for every command, what its
``--help`` says: the description, the usage line and each argument and option with its
help, default and whether it is required. The site's hook (``hooks.py``) puts it into
``docs/reference/cli.md``; ``tests/test_doc_examples.py`` checks that it names every
command and option.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

#: characters that Markdown would read as markup in help text (outside code spans)
_MARKUP = re.compile(r"([<>*])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def commands(root: Any, path: tuple[str, ...] = ("lessdata",)) -> Iterator[tuple[str, Any]]:
    """``(full name, command)`` for every command under ``root``, groups before their
    subcommands, in the order ``lessdata --help`` lists them."""
    yield " ".join(path), root
    children = getattr(root, "commands", None)
    if not children:
        return
    for name in children:
        child = children[name]
        if not getattr(child, "hidden", False):
            yield from commands(child, (*path, name))


def _text(help_text: str) -> str:
    """Help text as Markdown: rich-markup escapes undone, markup characters escaped outside
    code spans, each line of a paragraph kept on its own line."""
    text = inspect.cleandoc(help_text).partition("\f")[0].replace("\\[", "[")
    out = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_MARKUP.sub(r"\\\1", text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_MARKUP.sub(r"\\\1", text[last:]))
    paragraphs = "".join(out).strip().split("\n\n")
    return "\n\n".join("  \n".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _anchor(name: str) -> str:
    return name.replace(" ", "-")


def render(app: Any) -> str:
    """The Markdown of every command of the Typer ``app``: a section per command, headed by
    its full name (``lessdata scale run``), with an anchor of that name joined by hyphens
    (``#lessdata-scale-run``)."""
    import typer.main

    root = typer.main.get_command(app)
    parts = []
    for name, command in commands(root):
        ctx = command.make_context(name, [], resilient_parsing=True)
        parts.append(f"## {name} {{#{_anchor(name)}}}\n")
        if command.help:
            parts.append(_text(command.help) + "\n")
        usage = " ".join([name, *command.collect_usage_pieces(ctx)])
        parts.append(f"```text\n{usage}\n```\n")
        children = getattr(command, "commands", None)
        if children:
            listed = [
                f"- [`{name} {child}`](#{_anchor(f'{name} {child}')}): "
                + _text(children[child].get_short_help_str(limit=200))
                for child in children
                if not getattr(children[child], "hidden", False)
            ]
            parts.append("Commands:\n\n" + "\n".join(listed) + "\n")
        rows = []
        for param in command.get_params(ctx):
            if getattr(param, "hidden", False) or param.name == "help":
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            opts, help_text = record
            rows.append(f"- `{opts}`: {_text(help_text)}" if help_text else f"- `{opts}`")
        if rows:
            parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def option_names(app: Any) -> dict[str, list[str]]:
    """Every command's full name and the long and short names of its options and arguments
    (what the reference must mention)."""
    import typer.main

    found = {}
    for name, command in commands(typer.main.get_command(app)):
        ctx = command.make_context(name, [], resilient_parsing=True)
        found[name] = [
            opt
            for param in command.get_params(ctx)
            if not getattr(param, "hidden", False) and param.name != "help"
            for opt in (*param.opts, *param.secondary_opts)
        ]
    return found
