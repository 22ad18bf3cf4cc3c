"""lessdata: train on less data.

Score every example of a dataset, keep the ones a model needs, and prove it.

>>> import lessdata
>>> result = lessdata.prune("builtin:digits", keep=0.5, policy="auto")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from lessdata.data.dataset import Dataset, load
from lessdata.errors import LessdataError
from lessdata.pipeline.api import PruneResult, dedup, prune, score
from lessdata.pipeline.curate import CurationResult, curate
from lessdata.select import select

__all__ = [
    "CurationResult",
    "Dataset",
    "LessdataError",
    "PruneResult",
    "__version__",
    "curate",
    "dedup",
    "load",
    "prune",
    "score",
    "select",
]
