"""``lessdata index build``: index a reference corpus for ``dedup --against``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lessdata.cli.options import (
    Address,
    Bands,
    Encoder,
    EngineName,
    Extensions,
    IdColumn,
    Jaccard,
    K,
    Ngram,
    NumPerm,
    Quiet,
    Rows,
    Seed,
    Split,
    TextColumn,
    Workers,
    engine_option,
    given,
    parse_extensions,
    set_quiet,
)
from lessdata.embed.encoders import DEFAULT_ENCODER

index_app = typer.Typer(
    help="Index a reference corpus once, so that `lessdata dedup NEW --against INDEX/` costs "
    "O(new data): exact hashes, MinHash signatures and LSH bands, k-means centroids and "
    "embeddings.",
    no_args_is_help=True,
)


@index_app.command()
def build(
    data: Annotated[
        str,
        typer.Argument(
            help="The reference corpus: a folder of source files, or .jsonl / .parquet / "
            ".csv / a Hugging Face dataset folder with a text column.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="The index folder to write.")],
    method: Annotated[
        list[str],
        typer.Option(
            help="What to index: exact, near, semantic (repeat the option). A dedup run "
            "against the index may use any of them."
        ),
    ] = ["exact", "near"],  # noqa: B006
    ngram: Ngram = None,
    num_perm: NumPerm = None,
    jaccard: Jaccard = None,
    bands: Bands = None,
    rows: Rows = None,
    encoder: Encoder = DEFAULT_ENCODER,
    k: K = None,
    text_column: TextColumn = None,
    id_column: IdColumn = None,
    split: Split = "file",
    extensions: Extensions = ".py",
    seed: Seed = 0,
    engine: EngineName = "local",
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Index a corpus for `dedup --against`; runs against it must use the same n-gram,
    permutations, bands, seed and encoder (a mismatch is refused, naming it).

    The index records the corpus's path and a fingerprint of its files, and each of its own
    files' SHA-256: a run refuses it when the corpus has changed since or a file of it is
    damaged (rebuild it), and warns when the corpus is gone.

    Example: lessdata index build old.jsonl --method exact --method near --out old-index/
    """
    from lessdata.pipeline.indexing import build_index

    set_quiet(quiet)
    options = given(ngram=ngram, num_perm=num_perm, threshold=jaccard, bands=bands, rows=rows, k=k)
    with engine_option(engine, address, workers) as chosen:
        build_index(
            data, out=out, method=method, method_options=options, encoder=encoder, seed=seed,
            engine=chosen, text_column=text_column, id_column=id_column, split=split,
            extensions=parse_extensions(extensions),
        )  # fmt: skip
    typer.echo(f"indexed {data} ({', '.join(method)}) → {out}")
