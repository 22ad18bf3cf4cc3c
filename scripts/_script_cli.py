"""What every script in ``scripts/`` shares: argparse with one-line errors, path checks, and a
runner that turns a user's mistake into one line on stderr (exit 2) instead of a traceback.

Not a script itself: ``python scripts/<name>.py`` puts this folder on ``sys.path``, so each
script imports it as ``_script_cli``. Checks run before any file or folder is created, so
``--help`` and a bad argument leave the current directory as they found it; and before
lessdata is imported, so that they answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

#: the file a scaling-lab results store keeps in its folder (``lessdata.labs.scaling.store``)
STORE_DB = "results.sqlite"


class ScriptError(Exception):
    """A problem with the script's input that the user can fix: printed as one line."""


class ScriptParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr, exit status 2.

    argparse prints the usage block before the error; scripts here print only
    ``<prog>: error: <what> (see --help)``, the same shape as their other errors.
    """

    def __init__(self, doc: str, **kwargs: object) -> None:
        """``doc``: the script's module docstring; its first paragraph is the description and
        the rest (usage examples) the epilog, shown as written."""
        head, _, tail = doc.strip().partition("\n\n")
        super().__init__(
            description=head,
            epilog=tail or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,  # type: ignore[arg-type]
        )

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit with status 2 (argparse's usage error)."""
        fail(self.prog, f"{message} (see --help)")


def fail(prog: str, message: str) -> NoReturn:
    """Print ``<prog>: error: <message>`` on one line of stderr and exit with status 2."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{prog}: error: {one_line}\n")
    raise SystemExit(2)


def existing_dir(text: str) -> Path:
    """argparse type: a folder that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; give a folder")
    return path


def existing_store(text: str) -> Path:
    """argparse type: a scaling-lab results store that exists (a folder holding
    ``results.sqlite``, or the ``.sqlite`` file itself). Checked here because opening a store
    creates one where there is none."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such results store: {text}")
    if path.is_file():
        if path.suffix in (".sqlite", ".db", ".sqlite3"):
            return path
        raise argparse.ArgumentTypeError(f"{text} is a file; give a results store folder")
    if not (path / STORE_DB).is_file():
        raise argparse.ArgumentTypeError(
            f"{text} holds no {STORE_DB}: not a results store (`lessdata scale run --store`)"
        )
    return path


def out_dir(text: str) -> Path:
    """argparse type: a folder to write into; it may not exist yet, but it is not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; give a folder to write into")
    return path


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def run(main: Callable[[], None], prog: str) -> None:
    """Call ``main``; a :class:`ScriptError`, :class:`~lessdata.errors.LessdataError` or
    ``OSError`` (a file that cannot be read or written) ends the script with one line on
    stderr and exit status 2 instead of a traceback."""
    try:
        main()
    except ScriptError as exc:
        fail(prog, str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        fail(prog, f"{where}{exc.strerror or exc}")
    except ValueError as exc:  # LessdataError is one; imported only now, as lessdata is slow
        from lessdata.errors import LessdataError

        if isinstance(exc, LessdataError):
            fail(prog, str(exc))
        raise
