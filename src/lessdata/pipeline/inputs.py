"""What every pipeline step starts from: the dataset, its vectors, and the engine of the run."""

from __future__ import annotations

import inspect
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.data.cache_dir import default_cache_dir
from lessdata.data.dataset import (
    Dataset,
    check_text_limits,
    check_vectors,
    external_labels,
    from_table,
    load,
)
from lessdata.embed import embed_texts, get_encoder
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.engines import Engine, running_engine
from lessdata.errors import LessdataError
from lessdata.progress import log

#: what the pipeline functions accept as data: a path, a loaded dataset, an (N, d) array, a
#: list of texts, a pandas DataFrame or a Hugging Face ``datasets.Dataset`` (``Any`` here:
#: neither library is a dependency)
DataLike = str | os.PathLike[str] | Dataset | np.ndarray | list[str] | Any
#: the load options an in-memory table takes (the others read files)
TABLE_OPTIONS = ("text_column", "embedding_column", "label_column", "id_column", "labels")
#: an engine by name (``local``, ``ray``) or an :class:`~lessdata.engines.Engine` object
EngineLike = str | Engine
#: the keyword options of :func:`lessdata.data.dataset.load`
LOAD_OPTIONS = tuple(
    name for name, p in inspect.signature(load).parameters.items() if p.kind is p.KEYWORD_ONLY
)


def as_dataset(data: DataLike, **load_options: Any) -> Dataset:
    """Accept a path, a loaded :class:`Dataset` or an ``(N, d)`` array.

    ``load_options`` are :func:`lessdata.data.dataset.load`'s (for an array only ``labels``).
    """
    unknown = sorted(set(load_options) - set(LOAD_OPTIONS))
    if unknown:
        raise LessdataError(
            f"no option {', '.join(unknown)}; the options that read the data are "
            f"{', '.join(LOAD_OPTIONS)} (metric knobs go in `metric_options`)"
        )
    if isinstance(data, Dataset):
        return data
    table, source = in_memory_table(data)
    if table is not None:
        extra = sorted(k for k, v in load_options.items() if k not in TABLE_OPTIONS and v
                       not in (None, "file", (".py",)))  # fmt: skip
        if extra:
            raise LessdataError(f"{', '.join(extra)} read files; {source} is already in memory")
        ds = from_table(table, source, **{k: load_options.get(k) for k in TABLE_OPTIONS})
        if ds.vectors is None:
            check_text_limits(ds)
        return ds
    if isinstance(data, np.ndarray):
        check_vectors(data, "array")
        labels = load_options.get("labels")
        ds = Dataset(
            source="<array>", format="array", ids=pa.array(np.arange(len(data), dtype=np.int64))
        )
        ds.vectors = data
        if labels is not None:
            ds.labels, ds.classes = external_labels(labels, len(data))
        return ds
    ds = load(data, **load_options)
    if ds.vectors is None:
        check_text_limits(ds)  # the texts are what will be embedded or read
    return ds


def in_memory_table(data: Any) -> tuple[pa.Table | None, str]:
    """An Arrow table for a list of texts, a pandas DataFrame or a ``datasets.Dataset``."""
    if isinstance(data, list | tuple) and data and all(isinstance(t, str) for t in data):
        return pa.table({"text": pa.array(list(data), pa.string())}), "<list of texts>"
    if isinstance(data, list | tuple):
        raise LessdataError(
            "a list of data must hold texts (str); give arrays as one (N, d) numpy array",
            param="data",
        )
    module = type(data).__module__.split(".")[0]
    kind = f"{module}.{type(data).__name__}"
    if kind == "pandas.DataFrame":
        return pa.Table.from_pandas(data, preserve_index=False), "<pandas DataFrame>"
    if kind == "datasets.Dataset":
        return data.with_format("arrow")[:], "<datasets.Dataset>"  # selections applied
    return None, ""


def vectors_of(
    ds: Dataset,
    *,
    encoder: str = DEFAULT_ENCODER,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    engine: Engine | None = None,
) -> np.ndarray:
    """The dataset's vectors: its embedding column, or its texts embedded (cached on disk)."""
    if ds.vectors is not None:
        return ds.vectors
    if ds.texts is None:
        raise LessdataError(f"{ds.source} has neither vectors nor texts to embed")
    chosen = get_encoder(encoder, seed=seed, cache_dir=cache_dir)  # unknown: fails now
    log(f"embedding {len(ds)} texts with {encoder}")
    ds.vectors = embed_texts(ds.texts, chosen, cache_dir=cache_dir, seed=seed, engine=engine)
    return ds.vectors


def run_engine(
    engine: EngineLike, cache_dir: str | os.PathLike[str] | None
) -> AbstractContextManager[Engine]:
    """The run's engine (:func:`lessdata.engines.running_engine`); one made here from a
    name checkpoints finished shards under ``<cache_dir>/work``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return running_engine(engine, work_dir=root / "work")
