"""What a prune, dedup or curate run leaves behind: its result object, and the output folder
(checked before any work, then filled: the kept data first, the manifest, the report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata._progress import log
from lessdata.data.dataset import Dataset
from lessdata.data.manifest import build_manifest, write_manifest
from lessdata.data.paths import MANIFEST_NAME
from lessdata.data.writers import check_not_input, subset_path, write_subset
from lessdata.errors import LessdataError
from lessdata.report import write_report

#: ``(codes, vocabulary)``: per row, an index into a list of reason strings
Reasons = tuple[np.ndarray, list[str]]


@dataclass
class PruneResult:
    """What ``prune`` and ``dedup`` produced.

    Attributes:
        manifest: one row per example (id, scores, kept, reason), as written to
            ``manifest.parquet``.
        kept: sorted row indices of the kept examples.
        paths: the files written (``data``, ``manifest``, ``plot``, ``html``) when ``out``
            was given.
    """

    manifest: pa.Table
    kept: np.ndarray
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def n_kept(self) -> int:
        """How many examples were kept."""
        return len(self.kept)


@dataclass
class CurationResult(PruneResult):
    """What :func:`lessdata.curate` produced; ``stages`` maps each stage run to the
    documents it removed."""

    stages: dict[str, int] = field(default_factory=dict)


def check_out_folder(ds: Dataset, out: str | Path | None) -> Path | None:
    """Validate the output folder before any work, so that bad input writes nothing."""
    if out is None:
        return None
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise LessdataError(
            f"out {out_dir} is a file; give a folder for the outputs", param="out"
        )
    if ds.format != "array":
        check_not_input(ds, subset_path(ds, out_dir))
        if ds.format != "builtin" and out_dir.resolve() == Path(ds.source).resolve():
            raise LessdataError(
                f"out {out_dir} is the input itself; choose another folder", param="out"
            )
    return out_dir


def two_reasons(n: int, kept: np.ndarray, yes: str, no: str) -> Reasons:
    """Reasons of a two-way outcome: ``yes`` for the kept rows, ``no`` for the others."""
    codes = np.ones(n, dtype=np.int32)
    codes[kept] = 0
    return codes, [yes, no]


def finish(
    ds: Dataset,
    columns: dict[str, np.ndarray],
    metrics: list[str],
    kept: np.ndarray,
    reasons: Reasons,
    settings: dict[str, Any],
    out_dir: Path | None,
    *,
    report: bool,
) -> PruneResult:
    """Build the manifest of a prune or dedup and, with an output folder, write everything."""
    table = build_manifest(
        ds, columns, metrics=metrics, kept=kept, reasons=reasons, settings=settings
    )
    result = PruneResult(manifest=table, kept=kept)
    if out_dir is not None:
        title = f"lessdata {settings['command']}: {ds.source}"
        result.paths = write_outputs(ds, table, kept, out_dir, report=report, title=title)
    return result


def write_outputs(
    ds: Dataset, table: pa.Table, kept: np.ndarray, out_dir: Path, *, report: bool, title: str
) -> dict[str, Path]:
    """The kept rows (in the input's format), the manifest and the report, in ``out_dir``."""
    paths: dict[str, Path] = {}
    if ds.format != "array":  # the data first: if it fails, no manifest claims it exists
        paths["data"] = write_subset(ds, kept, subset_path(ds, out_dir))
    paths["manifest"] = write_manifest(table, out_dir / MANIFEST_NAME)
    if report:
        paths.update(write_report(table, out_dir, title=title))
    log_paths(paths)
    return paths


def log_paths(paths: dict[str, Path]) -> None:
    """One status line per file written."""
    for name, path in paths.items():
        log(f"wrote {name}: {path}")
