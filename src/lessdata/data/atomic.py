"""Atomic outputs: write to a temporary sibling, then rename over the final path.

A reader never sees a half-written file, and a crash leaves the previous version intact.
The final path is only ever a regular file (or, for ``directory=True``, a folder) that
lessdata may replace: a symlink, device node, FIFO or other special file there is refused,
never written through or replaced. Temporary names carry the writer's process id, so that a
later write to the same path removes the leftovers of a writer that was killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lessdata.errors import LessdataError


def umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_replaceable(final: Path, *, directory: bool = False, name: str = "out") -> None:
    """Refuse a path that lessdata must not write to or replace.

    ``final`` may be missing, or be a regular file (a folder with ``directory=True``); a
    symlink (even to a regular file: the user's intent is unclear), device node, FIFO or
    socket is refused, as is a file where a folder is wanted and the reverse.
    """
    try:
        info = final.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise LessdataError(
            f"{name} {final} cannot be used ({exc.strerror}); choose another path", param=name
        ) from None
    if stat.S_ISLNK(info.st_mode):
        raise LessdataError(
            f"{name} {final} is a symbolic link; lessdata does not write through links: give "
            "the real path",
            param=name,
        )
    if directory and not stat.S_ISDIR(info.st_mode):
        kind = "a file" if stat.S_ISREG(info.st_mode) else "not a regular folder"
        raise LessdataError(f"{name} {final} is {kind}; give a folder for the outputs", param=name)
    if not directory and not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise LessdataError(
            f"{name} {final} is {kind}; lessdata only replaces regular files it can write",
            param=name,
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(final: Path) -> None:
    """Remove ``.<name>.<pid>-*.tmp`` siblings of ``final`` left by writers that died."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(\d+)-[^/]*\.tmp$")
    try:
        siblings = list(os.scandir(final.parent))
    except OSError:
        return
    for entry in siblings:
        found = pattern.match(entry.name)
        if found and not _pid_alive(int(found.group(1))):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(
    final: str | os.PathLike[str], *, directory: bool = False, fsync: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success rename it to ``final``.

    With ``directory=True`` the temporary path is an (empty) directory to fill. On an
    exception the temporary file or directory is removed and ``final`` is left untouched.
    With ``fsync`` the file (or the folder's entry) and its parent folder are flushed to
    disk before and after the rename, so that the rename survives a power cut.

    Raises:
        LessdataError: ``final`` is a link or a special file (see :func:`check_replaceable`),
            or its folder cannot be created or written.
    """
    final = Path(final)
    check_replaceable(final, directory=directory)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(final)
        prefix, suffix = f".{final.name}.{os.getpid()}-", ".tmp"
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=final.parent))
            os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700; outputs get the usual mode
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=final.parent)
            os.close(fd)
            tmp = Path(name)
            os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; outputs get the usual mode
    except OSError as exc:
        raise LessdataError(
            f"cannot write {final}: {exc.strerror or exc}; choose another output path"
        ) from None
    try:
        yield tmp
        if fsync and not directory:
            _fsync(tmp)
        check_replaceable(final, directory=directory)  # nothing special appeared meanwhile
        if directory and final.exists():
            old = final.with_name(f".{final.name}.{os.getpid()}-old.tmp")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
        if fsync:
            _fsync(final.parent)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
