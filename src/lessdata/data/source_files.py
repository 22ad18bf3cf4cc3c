"""Folders of source files as documents: the sorted walk, reading one file safely, and the
``ast`` splitter that cuts a Python file into its top-level functions and classes."""

from __future__ import annotations

import ast
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata.data.corpus_rows import (
    BINARY_FILE,
    BINARY_SNIFF_BYTES,
    LINK_OUTSIDE,
    NOT_A_REGULAR_FILE,
    TOO_LARGE,
    UNDECODABLE,
    UNREADABLE_FILE,
    UNREADABLE_FOLDER,
    CorpusLimits,
    Row,
    check_text,
    count_lines,
    split_lines,
)
from lessdata.data.tables import short_error
from lessdata.errors import LessdataError


@dataclass(frozen=True)
class Span:
    """A top-level function or class of a source file: its name, kind, line span and text.

    ``start_line`` is the first decorator's line (or the ``def``/``class`` line), ``end_line``
    the last line of its body, both 1-based and inclusive; ``text`` is exactly those lines,
    line endings included.
    """

    name: str
    kind: str
    start_line: int
    end_line: int
    text: str


def split_functions(source_text: str) -> list[Span]:
    """Split Python source into its top-level ``def``, ``async def`` and ``class`` blocks.

    Each span runs from the first decorator's line to the node's last line, and its text is
    exactly those lines of ``source_text`` (line endings kept, ``\\r\\n`` included), so that a
    deduplicated function can be traced back to the file. Code between the blocks (imports,
    constants, ``if __name__ == ...``) is not part of any span.

    Raises:
        SyntaxError, ValueError: ``source_text`` is not valid Python (callers fall back to
            the whole file).
    """
    parsed = source_text[1:] if source_text.startswith("\ufeff") else source_text
    with warnings.catch_warnings():  # invalid escapes etc. in someone else's code: not ours
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(parsed)
        except RecursionError:
            raise ValueError("source is nested too deeply to parse") from None
    lines = split_lines(source_text)
    spans = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = node.end_lineno or node.lineno
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        spans.append(Span(node.name, kind, start, end, "".join(lines[start - 1 : end])))
    return spans


def unsplit_rows(batch: pa.RecordBatch) -> np.ndarray:
    """Under ``split="function"``: a mask of the good rows that hold a whole, unparsable file.

    Such files are kept whole rather than dropped (they may be Python 2, templates, or use
    newer syntax); their id is the bare path, where a function's id has ``:start-end``.
    """
    whole = pc.and_(
        pc.is_null(batch.column("problem")),
        pc.fill_null(pc.equal(batch.column("id"), batch.column("path")), False),
    )
    return whole.to_numpy(zero_copy_only=False)


def check_extensions(extensions: tuple[str, ...] | str) -> tuple[str, ...]:
    """Validate the file endings to read: a non-empty tuple of strings such as ``.py``."""
    exts = (extensions,) if isinstance(extensions, str) else tuple(extensions)
    if not exts or any(not isinstance(e, str) or not e.startswith(".") or e == "." for e in exts):
        raise LessdataError(
            f"extensions must be file endings that start with a dot, such as ('.py',); got "
            f"{extensions!r}"
        )
    return tuple(e.lower() for e in exts)


def walk_sources(root: Path, exts: tuple[str, ...]) -> Iterator[tuple[str, str | None]]:
    """Yield ``(relative posix path, problem)`` for each matching file under ``root``.

    Deterministic: names sorted, a folder's files before its sub-folders. Hidden folders and
    ``__pycache__`` are skipped, symlinked folders are not followed (no loops), a symlinked
    file that leads out of ``root`` is one row with the problem "symlink out of the folder"
    (it is never read), an unreadable sub-folder is one row with the problem "unreadable
    folder".
    """
    real_root = os.path.realpath(root)
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            if not rel:
                raise
            yield rel, UNREADABLE_FOLDER
            continue
        subdirs = []
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if _is_real_dir(entry):
                if not entry.name.startswith(".") and entry.name != "__pycache__":
                    subdirs.append(child)
            elif entry.name.lower().endswith(exts) and not _is_dir_link(entry):
                outside = entry.is_symlink() and not _is_inside(entry.path, real_root)
                yield child, LINK_OUTSIDE if outside else None
        stack.extend(reversed(subdirs))


def _is_real_dir(entry: os.DirEntry[str]) -> bool:
    """True for a folder that is not a symlink (symlinked folders are never entered)."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_inside(path: str, real_root: str) -> bool:
    """True when ``path``, with every link resolved, lies inside ``real_root``."""
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def _is_dir_link(entry: os.DirEntry[str]) -> bool:
    """True for a symlink to a folder (skipped, even when its name ends like a source file)."""
    try:
        return entry.is_symlink() and entry.is_dir()
    except OSError:
        return False


def check_has_files(root: Path, exts: tuple[str, ...]) -> None:
    """Raise unless the folder holds at least one file to read (stops at the first)."""
    try:
        found = next(iter(walk_sources(root, exts)), None)
    except OSError as exc:
        raise LessdataError(f"{root}: cannot read the folder ({short_error(exc)})") from None
    if found is None and not _holds_files(root):
        raise LessdataError(
            f"{root}: the folder is empty (no files outside hidden folders and __pycache__); "
            "pass the folder that holds the data"
        )
    if found is None:
        raise LessdataError(
            f"{root}: no files ending in {', '.join(exts)} (hidden folders and __pycache__ are "
            "skipped); pass the folder that holds the code, or other extensions"
        )


def _holds_files(root: Path) -> bool:
    """True when ``root`` holds a file that is not hidden, outside hidden folders and
    ``__pycache__`` (symlinked folders are not entered): an empty folder is said to be one,
    rather than to lack files of some extension."""
    for _, folders, files in os.walk(root):
        folders[:] = [f for f in folders if not f.startswith(".") and f != "__pycache__"]
        if any(not name.startswith(".") for name in files):
            return True
    return False


def file_rows(
    root: Path, files: Iterable[tuple[str, str | None]], split: str, limits: CorpusLimits
) -> Iterator[Row]:
    """Rows for the walked ``files`` (``(relative path, problem)``): whole files, or their
    top-level functions and classes."""
    real_root = os.path.realpath(root)
    for rel, problem in files:
        text = None
        if problem is None and not _is_inside(os.path.join(root, rel), real_root):
            problem = LINK_OUTSIDE  # the link changed since the walk
        if problem is None:
            text, problem = read_source_file(root / rel, limits)
        shown = _shown_path(rel)
        if problem is not None or text is None:
            yield shown, None, problem, shown, None, None
            continue
        if split == "file":
            yield shown, text, None, shown, 1, count_lines(text)
            continue
        try:
            spans = split_functions(text)
        except (SyntaxError, ValueError):  # kept whole, problem null (see unsplit_rows)
            yield shown, text, None, shown, 1, count_lines(text)
            continue
        for span in spans:
            sid = f"{shown}:{span.start_line}-{span.end_line}"
            yield sid, span.text, None, shown, span.start_line, span.end_line


def _shown_path(rel: str) -> str:
    """A relative path as valid UTF-8 text: file-name bytes that are not UTF-8 are escaped."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")
    return rel


def read_source_file(path: Path, limits: CorpusLimits) -> tuple[str | None, str | None]:
    """Read one file as UTF-8 text, exactly as stored: ``(text, None)`` or ``(None, problem)``.

    The size is checked before reading, and at most ``max_doc_bytes + 1`` bytes are read (a
    growing file cannot blow memory). A leading BOM is dropped; newlines are kept as they are.
    """
    try:
        info = path.stat()
    except OSError:
        return None, UNREADABLE_FILE
    if not stat.S_ISREG(info.st_mode):
        return None, NOT_A_REGULAR_FILE  # a FIFO or device would block or never end
    if info.st_size > limits.max_doc_bytes:
        return None, TOO_LARGE
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_doc_bytes + 1)
    except OSError:
        return None, UNREADABLE_FILE
    if len(data) > limits.max_doc_bytes:
        return None, TOO_LARGE
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return None, BINARY_FILE
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, UNDECODABLE
    problem = check_text(text, limits)
    return (None, problem) if problem else (text, None)
