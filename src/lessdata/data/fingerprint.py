"""What identifies a file or a corpus on disk: SHA-256 checksums and source fingerprints.

Two uses, both for the duplicate index of ``dedup --against``
(:mod:`lessdata.duplicates.reference`):

- :func:`file_checksums` records the size and SHA-256 of each file an index folder holds
  when it is built; :func:`check_checksums` compares them before the folder is used, so a
  truncated, edited or replaced array is refused instead of silently giving other matches.
- :func:`fingerprint_source` records what identifies the corpus an index was built from:
  its resolved absolute path, a *stamp* (a SHA-256 over every file's relative path, size and
  modification time) and a *content hash* (a SHA-256 over every file's relative path and
  the SHA-256 of its bytes). :func:`source_status` tells whether the corpus is still the same.

Why file bytes and a stamp. An index is read many times (a nightly run against it), so the
check must cost far less than rebuilding. The stamp costs one ``stat`` per file, and when it
matches the corpus is taken as unchanged, as ``make`` and ``rsync`` do; only when it differs
(a copy, a ``touch``, a rewrite) are the bytes hashed to tell a real change from a new
modification time. Hashing bytes needs no parsing (unlike a hash over the ids and texts
read), so it is I/O-bound (about 1-2 GB/s) and also sees a change the reader would
skip; at build time it is one extra read of the corpus, small beside MinHash or embedding it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lessdata.data.source_files import walk_sources
from lessdata.data.tables import corpus_format
from lessdata.errors import LessdataError

#: bytes read at a time when hashing a file
CHUNK_BYTES = 1 << 20
#: what stands for a file of a folder that cannot be read (its reader makes it a problem row)
UNREADABLE = "unreadable"
#: files hashed at once (hashlib releases the GIL on large buffers, so threads overlap I/O)
HASH_THREADS = 4


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file ``path``'s bytes (raises ``OSError`` when unreadable)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def file_checksums(folder: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": size, "sha256": hex}}`` for the files ``names`` in ``folder``."""
    names = sorted(names)
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        digests = list(pool.map(lambda name: sha256_file(folder / name), names))
    return {
        name: {"bytes": (folder / name).stat().st_size, "sha256": digest}
        for name, digest in zip(names, digests, strict=True)
    }


def check_checksums(folder: Path, recorded: dict[str, dict[str, Any]]) -> tuple[str, str] | None:
    """The first file of ``recorded`` that is not as recorded, and what is wrong with it.

    Returns:
        None when every file is there with its recorded size and SHA-256; else
        ``(name, problem)`` with ``problem`` one of ``missing``, ``not a regular file``,
        ``size`` (the size differs: truncated or grown) and ``checksum`` (same size, other
        bytes). Sizes are compared for every file before any is hashed, so the common
        damage (a cut file) costs no reading.
    """
    for name, record in sorted(recorded.items()):
        path = folder / name
        if not path.exists() and not path.is_symlink():
            return name, "missing"
        if path.is_symlink() or not path.is_file():
            return name, "not a regular file"
        if path.stat().st_size != record["bytes"]:
            return name, "size"
    names = sorted(recorded)
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        digests = list(pool.map(lambda name: sha256_file(folder / name), names))
    for name, digest in zip(names, digests, strict=True):
        if digest != recorded[name]["sha256"]:
            return name, "checksum"
    return None


# --- a corpus's source ---------------------------------------------------------------------


def source_files(path: Path, fmt: str, extensions: Sequence[str] | None) -> list[str]:
    """The files a corpus reader reads, relative to ``path`` (``""``: ``path`` is the file).

    A source folder: its sorted walk with ``extensions`` (files the walk will not read, such
    as links out of the folder, left out); a Hugging Face folder: the files directly in it;
    anything else: the file itself.
    """
    if not path.is_dir():
        return [""]
    if fmt == "source":
        exts = tuple(extensions or (".py",))
        return [rel for rel, problem in walk_sources(path, exts) if problem is None]
    return sorted(child.name for child in path.iterdir() if child.is_file())


def _stamp_and_bytes(path: Path, files: Sequence[str]) -> tuple[str, int]:
    """The stamp (SHA-256 over relative path, size, modification time) and total size (a
    folder's file that cannot be read counts as :data:`UNREADABLE`)."""
    stamp = hashlib.sha256()
    total = 0
    for rel in files:
        try:
            info = (path / rel if rel else path).stat()
        except OSError:
            if not rel:
                raise
            stamp.update(f"{rel}\0{UNREADABLE}\n".encode("utf-8", "surrogatepass"))
            continue
        total += info.st_size
        stamp.update(
            f"{rel}\0{info.st_size}\0{info.st_mtime_ns}\n".encode("utf-8", "surrogatepass")
        )
    return stamp.hexdigest(), total


def _content(path: Path, files: Sequence[str]) -> str:
    """The SHA-256 over every file's relative path and the SHA-256 of its bytes, in order
    (files hashed on threads; a folder's unreadable file counts as :data:`UNREADABLE`)."""

    def one(rel: str) -> str:
        if not rel:  # the corpus is this file: it must be read
            return sha256_file(path)
        try:
            return sha256_file(path / rel)
        except OSError:  # the reader records it as a problem row; so does the fingerprint
            return UNREADABLE

    digest = hashlib.sha256()
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        sums = pool.map(one, files)
        for rel, one in zip(files, sums, strict=True):
            digest.update(f"{rel}\0{one}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def fingerprint_source(
    source: str | os.PathLike[str], extensions: Sequence[str] | None = None
) -> dict[str, Any]:
    """What identifies the corpus ``source`` now (see the module docstring for why).

    Args:
        source: a corpus file or folder.
        extensions: the file endings read from a source folder (ignored otherwise).

    Returns:
        A JSON-ready dict: ``path`` (resolved, absolute), ``format``, ``extensions`` (a
        source folder's, else None), ``files`` and ``bytes`` (how many and how large),
        ``stamp`` and ``sha256``.

    Raises:
        OSError: the corpus file, or the folder, cannot be read (a folder's file that
            cannot be read counts as :data:`UNREADABLE`, as its reader makes it a problem).
    """
    path = Path(os.path.realpath(source))
    fmt = corpus_format(path)
    exts = sorted(extensions or (".py",)) if fmt == "source" else None
    files = source_files(path, fmt, exts)
    stamp, total = _stamp_and_bytes(path, files)
    return dict(
        path=str(path), format=fmt, extensions=exts, files=len(files), bytes=total,
        stamp=stamp, sha256=_content(path, files),
    )  # fmt: skip


def source_status(recorded: dict[str, Any]) -> str:
    """Whether the corpus that ``recorded`` (:func:`fingerprint_source`) describes is the same.

    Returns:
        ``same`` (the stamp matches, or it does not but the bytes do), ``missing`` (its path
        is gone or cannot be read) or ``changed`` (other files or other bytes).
    """
    path = Path(recorded["path"])
    try:
        if not path.exists():
            return "missing"
        fmt = corpus_format(path)
        if fmt != recorded["format"]:
            return "changed"
        files = source_files(path, fmt, recorded.get("extensions"))
        stamp, total = _stamp_and_bytes(path, files)
        if stamp == recorded["stamp"]:
            return "same"
        if len(files) != recorded["files"] or total != recorded["bytes"]:
            return "changed"
        return "same" if _content(path, files) == recorded["sha256"] else "changed"
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL, or a LessdataError
        # from corpus_format (not a corpus any more)
        return "changed" if isinstance(exc, LessdataError) else "missing"
