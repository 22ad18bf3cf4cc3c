"""What a prune, dedup or curate run leaves behind: its result object, and the output folder
(checked before any work, then filled: the kept data first, the manifest, the report)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.data.dataset import Dataset
from lessdata.data.manifest import build_manifest, write_manifest
from lessdata.data.paths import MANIFEST_NAME, OutputFolder
from lessdata.data.writers import subset_path, write_subset
from lessdata.errors import LessdataError
from lessdata.progress import log
from lessdata.report import write_report

#: formats of data given in memory (nothing to copy to the output folder)
IN_MEMORY = ("array", "table")
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

    @property
    def mask(self) -> np.ndarray:
        """One bool per input row, True where kept (for ``datasets.Dataset.filter`` and
        boolean indexing)."""
        mask = np.zeros(self.manifest.num_rows, dtype=bool)
        mask[self.kept] = True
        return mask

    def subset(self, data: Any) -> Any:
        """The kept rows of ``data``, the same rows the run scored, in its own type.

        A Hugging Face ``datasets.Dataset`` → ``data.select(kept)``; a NumPy array →
        ``data[kept]``; a pandas DataFrame → ``data.iloc[kept]``; a list or tuple → a list;
        a PyTorch ``Dataset`` → ``torch.utils.data.Subset``. ``data`` must have one row per
        row of the manifest (a different length means another dataset: refused).
        """
        n = self.manifest.num_rows
        try:
            size = len(data)
        except TypeError:
            raise LessdataError(
                f"cannot take rows of a {type(data).__name__}: it has no length"
            ) from None
        if size != n:
            raise LessdataError(
                f"the data has {size} rows but this result {n}: it was made from another dataset"
            )
        kind = f"{type(data).__module__.split('.')[0]}.{type(data).__name__}"
        rows = self.kept.tolist()
        if kind == "datasets.Dataset":
            return data.select(rows)
        if isinstance(data, np.ndarray):
            return data[self.kept]
        if kind == "pandas.DataFrame":
            return data.iloc[self.kept]
        if isinstance(data, list | tuple):
            return [data[i] for i in rows]
        if hasattr(data, "__getitem__"):
            from torch.utils.data import Subset

            return Subset(data, rows)
        raise LessdataError(f"cannot take rows of a {type(data).__name__}")


@dataclass
class CurationResult(PruneResult):
    """What :func:`lessdata.curate` produced; ``stages`` maps each stage run to the
    documents it removed."""

    stages: dict[str, int] = field(default_factory=dict)


def input_paths(
    data: Any, load_options: dict[str, Any], *option_dicts: dict[str, Any] | None
) -> list[str]:
    """Every path a run reads: the data, a labels file, and any path among the options
    (a DSIR ``target``, a perplexity ``reference``, ...)."""
    found: list[str] = []
    for value in (data, load_options.get("labels")):
        if isinstance(value, (str, os.PathLike)):
            found.append(str(value))
    for options in option_dicts:
        for value in (options or {}).values():
            if isinstance(value, (str, os.PathLike)) and Path(value).exists():
                found.append(str(value))
    return found


@contextlib.contextmanager
def output_folder(
    ds: Dataset, out: str | Path | None, inputs: Sequence[str], command: str
) -> Iterator[OutputFolder | None]:
    """The run's :class:`~lessdata.data.paths.OutputFolder` (None without ``out``): checked
    and reserved now, before any work; swapped in when the block ends without an error,
    discarded otherwise."""
    if out is None:
        yield None
        return
    if ds.format not in IN_MEMORY and ds.format != "builtin":
        inputs = [ds.source, *inputs]
    folder = OutputFolder(out, inputs, command=command)
    with folder:
        yield folder


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
    folder: OutputFolder | None,
    *,
    report: bool,
) -> PruneResult:
    """Build the manifest of a prune or dedup and, with an output folder, write everything."""
    table = build_manifest(
        ds, columns, metrics=metrics, kept=kept, reasons=reasons, settings=settings
    )
    result = PruneResult(manifest=table, kept=kept)
    if folder is not None:
        title = f"lessdata {settings['command']}: {ds.source}"
        result.paths = write_outputs(ds, table, kept, folder, report=report, title=title)
    return result


def write_outputs(
    ds: Dataset, table: pa.Table, kept: np.ndarray, folder: OutputFolder, *, report: bool,
    title: str,
) -> dict[str, Path]:  # fmt: skip
    """The kept rows (in the input's format), the manifest and the report, in ``folder``;
    the paths they will have once the folder is swapped in. Data given in memory (an array,
    a DataFrame, a ``datasets.Dataset``, a list) is not copied: ``PruneResult.subset`` takes
    its kept rows."""
    paths: dict[str, Path] = {}
    if ds.format not in IN_MEMORY:
        paths["data"] = write_subset(ds, kept, subset_path(ds, folder.folder))
    paths["manifest"] = write_manifest(table, folder.path(MANIFEST_NAME))
    if report:
        paths.update(write_report(table, folder.folder, title=title))
    return final_paths(folder, paths)


def final_paths(folder: OutputFolder, paths: dict[str, Path]) -> dict[str, Path]:
    """The paths of the files written in ``folder`` once it is swapped in (logged)."""
    final = {name: folder.final_path(path) for name, path in paths.items()}
    for name, path in final.items():
        log(f"writing {name}: {path}")
    return final
