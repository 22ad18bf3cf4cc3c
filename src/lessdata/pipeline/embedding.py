"""``lessdata embed``: one embedding per example, written as ``.npy`` or Parquet.

The embedding is what ``prototypes``, ``semdedup``, D4 and D2 measure distances in. For
arrays and images the best one is usually learned from the data itself (``method="ssl"``,
:func:`lessdata.embed.ssl`); texts are embedded by a text encoder (``static``, ``minilm``,
``tfidf`` or a local sentence-transformers folder). The output feeds every other command:
an ``.npy`` file is read as vectors, a Parquet file has ``id`` and ``embedding`` columns
(``--embedding-column embedding``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.checks import check_choice, check_int, check_seed
from lessdata.data.atomic import atomic_path
from lessdata.data.dataset import Dataset, open_npy
from lessdata.data.paths import check_output_file
from lessdata.embed.contrastive import IMAGE_SUFFIXES, read_image_folder
from lessdata.embed.ssl_options import KINDS, SSLOptions
from lessdata.errors import LessdataError
from lessdata.pipeline.inputs import DataLike, as_dataset, vectors_of
from lessdata.pipeline.outputs import input_paths
from lessdata.progress import honours_quiet, log

OUT_SUFFIXES = (".npy", ".parquet")


@dataclass
class Embedding:
    """The ids of the examples (in input order) and their ``(N, dim)`` float32 vectors."""

    ids: pa.Array
    vectors: np.ndarray


def _is_image_folder(path: Path) -> bool:
    """A folder whose files include images (a Hugging Face folder or source tree is not)."""
    if not path.is_dir() or (path / "dataset_info.json").exists():
        return False
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*"))


def _ssl_input(data: DataLike, load_options: dict[str, Any]) -> tuple[pa.Array, Any]:
    """The ids and what :func:`lessdata.embed.ssl` trains on: an array, or image folder."""
    if isinstance(data, np.ndarray) and data.ndim >= 3:
        return pa.array(np.arange(len(data), dtype=np.int64)), data
    if isinstance(data, (str, os.PathLike)) and not str(data).startswith("builtin:"):
        path = Path(data)
        if _is_image_folder(path):
            folder = read_image_folder(path)
            return pa.array(folder.ids), folder.images
        if path.suffix == ".npy" and path.is_file():
            arr = open_npy(path)
            if arr.ndim >= 3:
                return pa.array(np.arange(len(arr), dtype=np.int64)), np.asarray(arr)
    ds = as_dataset(data, **load_options)
    if ds.vectors is None:
        raise LessdataError(
            f"{ds.source} holds texts; SSL trains on arrays and images. Embed texts with "
            "`method` static, minilm, tfidf or a local sentence-transformers folder",
            param="method",
        )
    return ds.ids, np.asarray(ds.vectors)


@honours_quiet
def embed_data(
    data: DataLike,
    *,
    method: str = "ssl",
    out: str | os.PathLike[str] | None = None,
    kind: str = "auto",
    dim: int = 64,
    steps: int = 1_500,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    **load_options: Any,
) -> Embedding:
    """Embed every example of ``data``; write the result to ``out`` when given.

    Args:
        data: an array, an ``.npy``/``.npz``/Parquet/JSONL/CSV file, a folder of image
            files, a Hugging Face folder, a folder of source files or ``builtin:digits``.
        method: ``ssl`` (a SimCLR encoder trained on the data; arrays and images) or a text
            encoder: ``static``, ``minilm``, ``tfidf`` or a local sentence-transformers folder.
        out: ``.npy`` (the vectors, rows in input order) or ``.parquet`` (``id`` and
            ``embedding``).
        kind: for ``ssl``: ``signal`` (1-D signals), ``vectors``, ``image`` or ``auto``.
        dim, steps: for ``ssl``: embedding size and training steps (at least 1; the
            untrained baseline is :func:`lessdata.embed.ssl` with ``steps=0``).
        seed: seeds the training (and TF-IDF's projection).
        cache_dir: where embeddings and checkpoints are cached.
        quiet: no progress output.
        **load_options: how to read ``data`` (``text_column``, ``embedding_column``, ...).

    Example:
        >>> import numpy as np, lessdata
        >>> x = np.random.default_rng(0).normal(size=(64, 20)).astype("float32")
        >>> lessdata.embed_data(x, kind="signal", steps=5, dim=8, quiet=True).vectors.shape
        (64, 8)
    """
    if not isinstance(method, str) or not method:
        raise LessdataError(f"method must be ssl or a text encoder, got {method!r}", param="method")
    seed = check_seed(seed)
    if method == "ssl":
        check_choice(kind, "kind", KINDS)
        # 0 steps would hand back an untrained encoder's random features as an embedding
        check_int(
            steps, "steps", low=1,
            hint="with no training step the encoder would give its random initial features",
        )  # fmt: skip
        SSLOptions(kind=kind, dim=dim, steps=steps).check()
    target = None
    if out is not None:
        if Path(out).suffix not in OUT_SUFFIXES:
            raise LessdataError(f"out {out} must end in {' or '.join(OUT_SUFFIXES)}", param="out")
        target = check_output_file(out, input_paths(data, load_options))
    if method == "ssl":
        from lessdata.embed.contrastive import ssl

        ids, arr = _ssl_input(data, load_options)
        vectors = ssl(arr, kind=kind, dim=dim, steps=steps, seed=seed, cache_dir=cache_dir)
    else:
        ds: Dataset = as_dataset(data, **load_options)
        ids = ds.ids
        vectors = np.asarray(vectors_of(ds, encoder=method, cache_dir=cache_dir, seed=seed))
    result = Embedding(ids, np.ascontiguousarray(vectors, dtype=np.float32))
    if target is not None:
        _write(result, target)
        log(f"wrote {len(result.vectors):,} × {result.vectors.shape[1]} embeddings → {target}")
    return result


def _write(result: Embedding, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        if target.suffix == ".npy":
            with open(tmp, "wb") as handle:
                np.save(handle, result.vectors, allow_pickle=False)
        else:
            dim = result.vectors.shape[1]
            values = pa.array(result.vectors.reshape(-1), type=pa.float32())
            column = pa.FixedSizeListArray.from_arrays(values, dim)
            pq.write_table(pa.table({"id": result.ids, "embedding": column}), tmp)
