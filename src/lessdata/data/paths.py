"""Where outputs may go (never over, or inside, what lessdata reads), and the names of the
files lessdata writes into an output folder."""

from __future__ import annotations

from pathlib import Path

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
