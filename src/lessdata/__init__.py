"""lessdata: train on less data.

Score every example of a dataset, keep the ones a model needs, and prove it.

>>> import lessdata
>>> result = lessdata.prune("builtin:digits", 0.5, policy="auto")  # doctest: +SKIP

The public functions are ``score``, ``prune``, ``dedup``, ``curate``, ``embed_data``,
``calibrate``, ``build_index`` (the pipeline), ``score_parts``, ``prune_parts``,
``dedup_parts`` and ``curate_parts`` (the same on data too large for one process: the
manifest written as parts by the workers), ``select`` (a policy on scores), ``load`` (a
dataset), and the packages ``metrics`` (one score per example, each a plain function on
arrays) and ``duplicates`` (exact, near and semantic duplicates of texts or arrays).
"""

from lessdata import duplicates, metrics
from lessdata._version import __version__
from lessdata.data.dataset import Dataset, load
from lessdata.errors import LessdataError
from lessdata.pipeline import (
    Calibration,
    CurationResult,
    PartsResult,
    PruneResult,
    build_index,
    calibrate,
    curate,
    curate_parts,
    dedup,
    dedup_parts,
    embed_data,
    prune,
    prune_parts,
    score,
    score_parts,
)
from lessdata.select import select

__all__ = [
    "Calibration",
    "CurationResult",
    "Dataset",
    "LessdataError",
    "PartsResult",
    "PruneResult",
    "__version__",
    "build_index",
    "calibrate",
    "curate",
    "curate_parts",
    "dedup",
    "dedup_parts",
    "duplicates",
    "embed_data",
    "load",
    "metrics",
    "prune",
    "prune_parts",
    "score",
    "score_parts",
    "select",
]
