"""MkDocs hooks of the lessdata site (``mkdocs.yml``: ``hooks: [scripts/docs_site/hooks.py]``).

1. **Mounts** repository files that live outside ``docs/`` as pages, so each is written once
   and read both on GitHub and on the site: ``README.md`` is the home page, ``CHANGELOG.md``
   the changelog, ``benchmarks/README.md`` the benchmarks page, and each ``examples/*.py`` a
   page of code.
2. **Rewrites links** written for GitHub (relative to the file's place in the repository) into
   links between the site's pages; a link to a repository file that is not on the site (a
   script, a test) becomes its path in code font. A link to a file that does not exist is a
   warning, so ``mkdocs build --strict`` fails on it.
3. **Fills the CLI reference**: ``<!-- cli-reference -->`` in a page is replaced by the
   reference that :mod:`cli_reference` generates from the ``lessdata`` commands.

Nothing here reaches the network.
"""

from __future__ import annotations

import logging
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cli_reference

log = logging.getLogger("mkdocs.hooks.lessdata")
ROOT = Path(__file__).resolve().parents[2]

#: repository file → its page on the site
MOUNTS = {
    "README.md": "index.md",
    "CHANGELOG.md": "changelog.md",
    "benchmarks/README.md": "benchmarks.md",
}
CLI_MARKER = "<!-- cli-reference -->"

_FENCE = re.compile(r"^( {0,12})(```|~~~)[^\n]*\n.*?^\1\2[ \t]*$", re.M | re.S)
_LINK = re.compile(
    r"(?P<code>`+[^`]*?`+)"
    r"|(?P<bang>!?)\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]\((?P<target>[^()\s]+)(?P<title>\s+\"[^\"]*\")?\)"
)


def _mounts() -> dict[str, str]:
    found = dict(MOUNTS)
    for example in sorted((ROOT / "examples").glob("*.py")):
        found[f"examples/{example.name}"] = f"examples/{example.stem}.md"
    return found


def _content(repo_path: str) -> str:
    text = (ROOT / repo_path).read_text(encoding="utf-8")
    if repo_path.endswith(".py"):
        return (
            f"# `{repo_path}`\n\nThis example is run by the tests (`tests/`), as it is here.\n\n"
            f"```python\n{text.rstrip()}\n```\n"
        )
    return text


def on_files(files: Files, config: Any) -> Files:
    """Add the mounted repository files as generated pages."""
    for repo_path, site_path in _mounts().items():
        files.append(File.generated(config, site_path, content=_content(repo_path)))
    return files


def _repo_path(page: Any) -> str:
    """Where the page's Markdown lives in the repository."""
    src = page.file.src_uri
    for repo_path, site_path in _mounts().items():
        if site_path == src:
            return repo_path
    return f"docs/{src}"


def _site_target(repo_target: str) -> str | None:
    """The page or file of the site that shows ``repo_target``, if any."""
    if repo_target.startswith("docs/"):
        return repo_target[len("docs/") :]
    return _mounts().get(repo_target)


def rewrite_links(markdown: str, repo_path: str, site_path: str) -> str:
    """``markdown`` (the file at ``repo_path``, shown as ``site_path``) with each relative
    link resolved in the repository and pointed at the site's copy of its target."""
    here = posixpath.dirname(repo_path)
    site_here = posixpath.dirname(site_path)

    def link(match: re.Match[str]) -> str:
        if match["code"] is not None:
            return match.group(0)
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):  # a URL, an anchor, an absolute
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_target = posixpath.normpath(posixpath.join(here, path))
        if repo_target.startswith("../") or not (ROOT / repo_target).exists():
            log.warning(f"{repo_path}: the link {target!r} names no file of the repository")
            return match.group(0)
        site_target = _site_target(repo_target)
        if site_target is None:  # a repository file the site does not show
            text = match["text"]
            if text.strip("`") == repo_target or match["bang"]:
                return f"`{repo_target}`"
            return f"{text} (`{repo_target}`)"
        new = posixpath.relpath(site_target, site_here or ".") + (f"#{anchor}" if anchor else "")
        return f"{match['bang']}[{match['text']}]({new}{match['title'] or ''})"

    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(_LINK.sub(link, markdown[last : fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(_LINK.sub(link, markdown[last:]))
    return "".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite the page's links; fill the CLI reference where its marker stands."""
    if CLI_MARKER in markdown:
        from lessdata.cli import app

        markdown = markdown.replace(CLI_MARKER, cli_reference.render(app))
    return rewrite_links(markdown, _repo_path(page), page.file.src_uri)
