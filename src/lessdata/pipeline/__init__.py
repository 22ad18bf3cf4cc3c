"""The pipeline: load → (embed) → score → select → manifest, kept data and report.

``score``, ``prune``, ``dedup``, ``curate``, ``embed_data`` and ``calibrate`` are what the
CLI commands ``score``, ``prune``, ``dedup``, ``curate``, ``embed`` and ``calibrate`` call;
each module holds one of them, and they share :mod:`~lessdata.pipeline.inputs` (dataset,
vectors, engine), :mod:`~lessdata.pipeline.options` (option dicts checked before any work)
and :mod:`~lessdata.pipeline.outputs` (result objects and the output folder).
:mod:`~lessdata.pipeline.sharded` runs ``score``, ``prune`` and ``dedup`` with the manifest
written as parts by the workers, for embeddings too large for one process.
"""

from lessdata.pipeline.calibration import Calibration, calibrate
from lessdata.pipeline.curation import curate
from lessdata.pipeline.curation_parts import curate_parts
from lessdata.pipeline.deduplication import dedup
from lessdata.pipeline.embedding import embed_data
from lessdata.pipeline.indexing import build_index
from lessdata.pipeline.outputs import CurationResult, PruneResult
from lessdata.pipeline.pruning import prune
from lessdata.pipeline.scoring import score
from lessdata.pipeline.sharded import PartsResult, dedup_parts, prune_parts, score_parts

__all__ = [
    "Calibration",
    "CurationResult",
    "PartsResult",
    "PruneResult",
    "build_index",
    "calibrate",
    "curate",
    "curate_parts",
    "dedup",
    "dedup_parts",
    "embed_data",
    "prune",
    "prune_parts",
    "score",
    "score_parts",
]
