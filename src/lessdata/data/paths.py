"""Where outputs may go: never over, or inside, what lessdata reads."""

from __future__ import annotations

from pathlib import Path

from lessdata.errors import LessdataError


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
