"""Where outputs may go (never over, or inside, what lessdata reads), and the names of the
files lessdata writes into an output folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lessdata._version import __version__
from lessdata.data.atomic import check_replaceable, remove_stale_temporaries, umask
from lessdata.data.standard_json import dumps_standard
from lessdata.errors import LessdataError

#: the manifest of a prune, dedup or curate run
MANIFEST_NAME = "manifest.parquet"
#: the self-contained HTML report beside it
REPORT_NAME = "report.html"
#: the score histogram of a prune or dedup run
SCORES_PLOT_NAME = "scores.png"
#: the per-stage figure of a curate run
CURATION_PLOT_NAME = "curation.png"
#: every name above: an input file of the same name gets ``.data`` before its suffix
OUTPUT_NAMES = (MANIFEST_NAME, REPORT_NAME, SCORES_PLOT_NAME, CURATION_PLOT_NAME)


def check_not_input_path(source: str | None, target: str | Path) -> None:
    """Raise LessdataError when ``target`` is the file ``source`` or inside the folder."""
    if not source or source.startswith("builtin:") or source.startswith("<"):
        return
    src = Path(source).resolve()
    dst = Path(target).resolve()
    if dst == src or (src.is_dir() and src in dst.parents):
        raise LessdataError(
            f"the output {target} would overwrite the input {source}; choose another `out`"
        )


#: the marker that says a folder is a lessdata output (so a later run may replace it)
OUTPUT_MARKER = ".lessdata-output.json"


def missing_folders(folder: Path) -> list[Path]:
    """The folders of ``folder``'s path that do not exist yet, deepest first."""
    missing = []
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and not folder.is_symlink() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_against_inputs(
    out: Path, inputs: Iterable[str | os.PathLike[str] | None], *, name: str = "out"
) -> None:
    """Refuse an output (file or folder) that is an input, holds one, or lies in an input
    folder: every file lessdata reads stays as it was."""
    target = Path(os.path.abspath(out))
    real_target = target.resolve()
    for source in inputs:
        if source is None or str(source).startswith(("builtin:", "<")):
            continue
        src = Path(os.path.abspath(source))
        for a, b in ((target, src), (real_target, src.resolve())):
            if _inside(b, a) or (src.is_dir() and _inside(a, b)):
                raise LessdataError(
                    f"the output {out} would overwrite the input {source} (it is the input, "
                    f"holds it or lies inside it); choose another `{name}`",
                    param=name,
                )


class OutputFolder:
    """The output folder of one run: checked before any work, filled in a fresh temporary
    sibling, and swapped in whole at the end.

    So an output folder is always one run's complete output: files of an earlier run never
    sit beside the new ones, and a run that fails or is killed leaves the folder as it was
    (its temporary sibling is removed by the next run into the same folder). An existing
    folder is replaced only when it is empty or an earlier lessdata output (it holds
    :data:`OUTPUT_MARKER`); a folder with other files, a link or a special file is refused.

    Args:
        out: the folder the user named.
        inputs: every path the run reads (data, labels, targets, references, ...): none
            may be, or lie inside, ``out``.
        command: the command, recorded in the marker.
        name: the parameter that named ``out``, for messages.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        inputs: Iterable[str | os.PathLike[str] | None] = (),
        *,
        command: str = "",
        name: str = "out",
    ) -> None:
        self.final = Path(os.path.abspath(out))
        self.command = command
        if self.final.parent == self.final:
            raise LessdataError(f"{name} {out} is a file system root; give a folder", param=name)
        check_replaceable(self.final, directory=True, name=name)
        check_output_against_inputs(self.final, inputs, name=name)
        if self.final.is_dir():
            try:
                names = [entry.name for entry in os.scandir(self.final)]
            except OSError as exc:
                raise LessdataError(
                    f"{name} {out} cannot be read ({exc.strerror})", param=name
                ) from None
            if names and OUTPUT_MARKER not in names:
                raise LessdataError(
                    f"{name} {out} is a folder with files lessdata did not write; give a new "
                    "or empty folder (an earlier lessdata output there is replaced whole)",
                    param=name,
                )
        # folders made here for ``out`` go again if the run fails: nothing is left behind
        self.made = missing_folders(self.final.parent)
        try:  # reserve the temporary sibling now: an unwritable place fails before any work
            self.final.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(self.final)
            self.folder = Path(
                tempfile.mkdtemp(
                    prefix=f".{self.final.name}.{os.getpid()}-", suffix=".tmp",
                    dir=self.final.parent,
                )
            )  # fmt: skip
            os.chmod(self.folder, 0o777 & ~umask())
        except OSError as exc:
            raise LessdataError(
                f"cannot write `{name}` {out}: {exc.strerror or exc}; choose another folder"
            ) from None

    def path(self, name: str) -> Path:
        """Where the file ``name`` is written now (inside the temporary folder)."""
        return self.folder / name

    def final_path(self, path: Path) -> Path:
        """Where ``path`` (inside the temporary folder) is once the folder is swapped in."""
        return self.final / Path(path).relative_to(self.folder)

    def commit(self) -> None:
        """Mark the folder as lessdata's and swap it in for ``out`` (whole, atomically
        as far as the file system allows: two renames)."""
        marker = {"command": self.command, "version": __version__}
        (self.folder / OUTPUT_MARKER).write_text(dumps_standard(marker) + "\n", encoding="utf-8")
        check_replaceable(self.final, directory=True)
        if self.final.exists():
            old = self.final.with_name(f".{self.final.name}.{os.getpid()}-old.tmp")
            os.replace(self.final, old)
            os.replace(self.folder, self.final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.folder, self.final)

    def discard(self) -> None:
        """Remove the temporary folder, and the folders made for it (the run failed: the
        file system is as it was)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        for folder in self.made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def check_output_file(
    out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = (),
    *, name: str = "out",
) -> Path:  # fmt: skip
    """Check an output file before any work: a regular file or nothing at ``out``, no input
    there or around it, and a folder that can take it (probed with a temporary file)."""
    path = Path(out)
    if path.is_dir() and not path.is_symlink():
        raise LessdataError(f"{name} {out} is a folder; give a file name", param=name)
    check_replaceable(path, name=name)
    check_output_against_inputs(path, inputs, name=name)
    missing = missing_folders(path.parent)
    where = missing[-1].parent if missing else path.parent  # the nearest existing folder
    try:  # probe it with a temporary file: nothing is created for a run that fails later
        if not where.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp",
                                     dir=where)  # fmt: skip
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LessdataError(
            f"cannot write `{name}` {out}: {exc.strerror or exc}; choose another path"
        ) from None
    return path
