"""The options the commands share (typer ``Annotated`` types) and their parsers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from lessdata.errors import LessdataError

Input = Annotated[
    str,
    typer.Argument(
        help="Dataset: .npy/.npz, .parquet, .jsonl, .csv, a Hugging Face save_to_disk folder, "
        "a folder of source files, or builtin:digits.",
        show_default=False,
    ),
]
Split = Annotated[
    str,
    typer.Option(
        help="For a folder of source files: one document per file, or per top-level "
        "function/class (`function`; id = path:first-last line)."
    ),
]
Extensions = Annotated[
    str,
    typer.Option(help="For a folder of source files: the file suffixes to read, comma-separated."),
]
KeepRule = Annotated[
    str | None,
    typer.Option(
        help="Which member of an exact or near duplicate cluster stays: first (lowest row, "
        "as text-dedup does; the default) or longest.",
        show_default=False,
    ),
]
Ngram = Annotated[
    int | None,
    typer.Option(
        help="Near dedup: word n-gram length of the shingles (default 5).", show_default=False
    ),
]
NumPerm = Annotated[
    int | None,
    typer.Option(help="Near dedup: MinHash permutations (default 256).", show_default=False),
]
Jaccard = Annotated[
    float | None,
    typer.Option(
        help="Near dedup: Jaccard similarity at which two documents are linked (default 0.7).",
        show_default=False,
    ),
]
Bands = Annotated[
    int | None,
    typer.Option(help="Near dedup: LSH bands (default: tuned to --jaccard, as datasketch does)."),
]
Rows = Annotated[int | None, typer.Option(help="Near dedup: LSH rows per band (with --bands).")]
Verify = Annotated[
    bool,
    typer.Option(
        help="Near dedup: check each LSH candidate pair's exact Jaccard (slower, no false "
        "positives) instead of the MinHash estimate."
    ),
]
TextColumn = Annotated[
    str | None,
    typer.Option(help="Column with the text to embed (default: text, content, code, ...)."),
]
EmbeddingColumn = Annotated[
    str | None,
    typer.Option(help="Column (or .npz array) with precomputed vectors (default: embedding, ...)."),
]
LabelColumn = Annotated[
    str | None, typer.Option(help="Column (or .npz array) with class labels (default: label, y).")
]
IdColumn = Annotated[
    str | None, typer.Option(help="Column with unique example ids (default: id, else row number).")
]
LabelsFile = Annotated[
    Path | None, typer.Option("--labels", help="Labels for a bare .npy input, as a .npy file.")
]
Encoder = Annotated[
    str,
    typer.Option(
        help="How to embed text: static (model2vec distilled once from the packaged MiniLM; "
        "~100x faster on CPU), minilm (packaged all-MiniLM-L6-v2, offline), tfidf "
        "(TF-IDF + truncated SVD), or a local sentence-transformers model folder. "
        "Embeddings are cached on disk ($LESSDATA_CACHE, default ~/.cache/lessdata)."
    ),
]
K = Annotated[
    int | None,
    typer.Option(
        "--k",
        help="Number of k-means clusters. Default round(sqrt(N)): ~32 for 1k examples, "
        "1,000 for 1M.",
    ),
]
Distance = Annotated[
    str | None,
    typer.Option(
        help="Geometry for prototypes: cosine (spherical k-means, score 1 - cos; the "
        "default) or euclidean.",
        show_default=False,
    ),
]
Eps = Annotated[
    float | None,
    typer.Option(
        help="SemDeDup threshold: two examples are duplicates when their cosine similarity "
        "exceeds 1 - eps (default 0.05 → similarity > 0.95).",
        show_default=False,
    ),
]
Against = Annotated[
    list[Path] | None,
    typer.Option(
        help="A reference corpus (any readable text format) or an index folder from "
        "`lessdata index build`: documents that duplicate one of its documents are removed "
        "(the manifest names it by its corpus's path), the reference itself is not "
        "deduplicated. An index is checked first: one whose corpus has changed since it was "
        "built, or that is damaged, is refused (rebuild it). Repeatable.",
        show_default=False,
    ),
]
TargetSize = Annotated[
    str | None,
    typer.Option(
        "--keep",
        help="Semantic dedup to a target size instead of --eps: a number of documents "
        "(1000) or a fraction of the input (0.8). The most redundant go first; the "
        "threshold this amounts to is reported.",
        show_default=False,
    ),
]
Survivor = Annotated[
    str | None,
    typer.Option(
        help="Which member of a duplicate group SemDeDup keeps: hard (farthest from the "
        "centroid, the paper's choice; the default), easy (closest) or random.",
        show_default=False,
    ),
]
Scope = Annotated[
    str | None,
    typer.Option(
        help="Where SemDeDup looks for a document's duplicates: neighbours (its k-means "
        "cluster and the two next-nearest, so pairs split by a border are found; the "
        "default) or cluster (within its cluster only, the paper's rule). A target size "
        "(--keep) looks within clusters.",
        show_default=False,
    ),
]
ZeroVectors = Annotated[
    str,
    typer.Option(
        help="All-zero vectors (failed or padded embeddings) have no direction for the "
        "cosine metrics: refuse (stop, naming them) or drop (leave them out, never kept)."
    ),
]
Seed = Annotated[int, typer.Option(help="Seed for k-means, tie-breaking and random draws.")]
EngineName = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where the row-parallel steps run: local (this process) or ray (Ray tasks; "
        "pip install 'lessdata\\[ray]'). Both give the same results.",
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        help="With --engine ray: join this Ray cluster (auto, host:6379 or ray://host:10001) "
        "instead of starting a local one."
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(help="With --engine ray and no --address: CPUs of the local Ray cluster."),
]
MetricOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metric-option",
        help="KEY=VALUE passed to the metric; repeatable. The training-dynamics metrics "
        "(el2n, grand, forgetting, aum, cartography-*, margin, entropy) take proxy_model "
        "(logreg|mlp|cnn1d|cnn2d), proxy_epochs, proxy_runs, width, early_epoch.",
    ),
]


def parse_pairs(pairs: list[str] | None) -> dict:
    """Parse ``--metric-option`` KEY=VALUE pairs; values become int, float or stay text."""
    options: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LessdataError(f"--metric-option takes KEY=VALUE, got {pair!r}")
        for cast in (int, float):
            try:
                options[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            options[key] = value
    return options


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or status lines.")]
Parts = Annotated[
    bool,
    typer.Option(
        help="For embeddings too large for one process (a .npy): the workers write the "
        "manifest as a folder of Parquet parts and the driver's memory stays independent of "
        "the rows (prototypes; keep-hard, keep-easy, random, auto). Same ids as without."
    ),
]


def refuse_with_parts(**options: tuple[object, object]) -> None:
    """``--parts`` reads a ``.npy`` and runs prototypes only: any other option given
    (``name=(value, default)``) is an error naming its flag."""
    for name, (value, default) in options.items():
        if value != default:
            flag = "--" + name.replace("_", "-")
            raise LessdataError(f"{flag} does not apply with --parts", param=name)


def load_options(
    text_column, embedding_column, label_column, id_column, labels, split="file",
    extensions=".py",
) -> dict:  # fmt: skip
    return dict(
        text_column=text_column,
        embedding_column=embedding_column,
        label_column=label_column,
        id_column=id_column,
        labels=labels,
        split=split,
        extensions=parse_extensions(extensions),
    )


def parse_extensions(text: str) -> tuple[str, ...]:
    """``".py,.pyi"`` → ``(".py", ".pyi")``; a missing dot is added."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise LessdataError("--extensions needs at least one file suffix, such as .py")
    return tuple(p if p.startswith(".") else f".{p}" for p in parts)


def parse_target_size(text: str | None) -> int | float | None:
    """``--keep``: a whole number of documents, or a fraction with a decimal point."""
    if text is None:
        return None
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise LessdataError(
            f"--keep {text!r} is neither a number of documents nor a fraction", param="keep"
        ) from None


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (flags left at None are not passed on)."""
    return {name: value for name, value in options.items() if value is not None}


def set_quiet(quiet: bool) -> None:
    """``-q``: no progress bars or status lines, in this process and its children."""
    if quiet:
        os.environ["LESSDATA_QUIET"] = "1"


@contextlib.contextmanager
def engine_option(name: str, address: str | None, workers: int | None) -> Iterator[Any]:
    """``--engine/--address/--workers`` as what the Python API takes: ``"local"``, or an
    engine (checkpointing under the cache folder) that is closed after the command."""
    if name == "local" and address is None and workers is None:
        yield "local"
        return
    from lessdata.data.cache_dir import default_cache_dir
    from lessdata.engines import get_engine

    engine = get_engine(
        name, address=address, workers=workers, work_dir=default_cache_dir() / "work"
    )
    try:
        yield engine
    finally:
        engine.close()


def parse_thresholds(pairs: list[str] | None) -> dict[str, float | None] | None:
    """Parse min_RULE=VALUE / max_RULE=VALUE pairs (``none`` switches a bound off)."""
    if not pairs:
        return None
    parsed: dict[str, float | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LessdataError(f"--threshold takes min_RULE=VALUE or max_RULE=VALUE, got {pair!r}")
        if value.strip().lower() == "none":
            parsed[key] = None
            continue
        try:
            parsed[key] = float(value)
        except ValueError:
            message = f"--threshold {key} needs a number or none, got {value!r}"
            raise LessdataError(message) from None
    return parsed
