"""The ``lessdata`` command line: a thin layer over :mod:`lessdata.pipeline.api`.

Each command parses its options and calls the public function of the same name. Errors a
user can cause are printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lessdata.errors import LessdataError

app = typer.Typer(
    name="lessdata",
    help=(
        "Train on less data: score every example, keep the ones a model needs.\n\n"
        "Typical flow: `lessdata score` to see per-example difficulty, `lessdata prune` to "
        "keep a budget with a policy, `lessdata dedup` to drop near duplicates, and "
        "`lessdata inspect` to look at a manifest. Inputs: .npy/.npz arrays, Parquet/JSONL/"
        "CSV with a text or embedding column, a Hugging Face dataset folder, or "
        "builtin:digits."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# --- shared options ----------------------------------------------------------------------

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
    str,
    typer.Option(
        help="Which member of an exact or near duplicate cluster stays: first (lowest row, "
        "as text-dedup does) or longest."
    ),
]
Ngram = Annotated[int, typer.Option(help="Near dedup: word n-gram length of the shingles.")]
NumPerm = Annotated[int, typer.Option(help="Near dedup: MinHash permutations.")]
Jaccard = Annotated[
    float, typer.Option(help="Near dedup: Jaccard similarity at which two documents are linked.")
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
        help="How to embed text: minilm (packaged all-MiniLM-L6-v2, offline), tfidf "
        "(TF-IDF + truncated SVD, fast), or a local sentence-transformers model folder. "
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
    str,
    typer.Option(
        help="Geometry for prototypes: cosine (spherical k-means, score 1 - cos) or euclidean."
    ),
]
Eps = Annotated[
    float,
    typer.Option(
        help="SemDeDup threshold: two examples are duplicates when their cosine similarity "
        "exceeds 1 - eps (0.05 → similarity > 0.95)."
    ),
]
Survivor = Annotated[
    str,
    typer.Option(
        help="Which member of a duplicate group SemDeDup keeps: hard (farthest from the "
        "centroid, the paper's choice), easy (closest) or random."
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


def _metric_options(pairs: list[str] | None) -> dict:
    """Parse KEY=VALUE pairs; values become int, float or stay text."""
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


def _load_options(
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
        extensions=_extensions(extensions),
    )


def _extensions(text: str) -> tuple[str, ...]:
    """``".py,.pyi"`` → ``(".py", ".pyi")``; a missing dot is added."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise LessdataError("--extensions needs at least one file suffix, such as .py")
    return tuple(p if p.startswith(".") else f".{p}" for p in parts)


def _near(ngram: int, num_perm: int, jaccard: float, bands, rows, verify: bool):
    from lessdata.pipeline.curate import NearOptions

    return NearOptions(
        ngram=ngram, num_perm=num_perm, threshold=jaccard, bands=bands, rows=rows, verify=verify
    )


def _set_quiet(quiet: bool) -> None:
    if quiet:
        import os

        os.environ["LESSDATA_QUIET"] = "1"


# --- commands ----------------------------------------------------------------------------


@app.command()
def score(
    data: Input,
    out: Annotated[Path, typer.Option(help="Parquet file to write the scores to.")],
    metric: Annotated[
        list[str],
        typer.Option(
            help="Metric to compute; repeat for several. See `lessdata metrics`.",
        ),
    ] = ["prototypes"],  # noqa: B006  (typer reads list defaults this way)
    text_column: TextColumn = None,
    embedding_column: EmbeddingColumn = None,
    label_column: LabelColumn = None,
    id_column: IdColumn = None,
    labels: LabelsFile = None,
    split: Split = "file",
    extensions: Extensions = ".py",
    encoder: Encoder = "minilm",
    k: K = None,
    distance: Distance = "cosine",
    eps: Eps = 0.05,
    survivor: Survivor = "hard",
    seed: Seed = 0,
    metric_option: MetricOption = None,
    engine: EngineName = "local",
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Score every example; write a table of id and one column per metric.

    Scores follow one direction for every metric: higher = harder, more informative or
    more unique. Example: lessdata score train.parquet --metric prototypes --out scores.parquet
    """
    from lessdata.pipeline.api import score as run

    _set_quiet(quiet)
    table = run(
        data, metric, encoder=encoder, k=k, distance=distance, eps=eps, survivor=survivor,
        seed=seed, out=out, metric_options=_metric_options(metric_option), engine=engine,
        address=address, workers=workers,
        **_load_options(
            text_column, embedding_column, label_column, id_column, labels, split, extensions
        ),
    )  # fmt: skip
    typer.echo(f"scored {table.num_rows} examples with {', '.join(metric)} → {out}")


@app.command()
def prune(
    data: Input,
    keep: Annotated[
        str,
        typer.Option(
            help="Budget: a fraction in (0, 1] such as 0.5, or a count such as 10000.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Folder for manifest.parquet, the pruned data (input's format and name), "
            "scores.png and report.html."
        ),
    ],
    metric: Annotated[
        str, typer.Option(help="Score to prune by (see `lessdata metrics`).")
    ] = "prototypes",
    policy: Annotated[
        str,
        typer.Option(
            help="keep-hard | keep-easy | auto (hard when keeping >= --auto-threshold of the "
            "data, easy below: Sorscher et al. 2022) | random | moderate (scores nearest the "
            "median) | ccs (coverage-centric) | importance (sample in proportion to exp(score), "
            "DSIR's Gumbel top-k; use with --metric dsir) | d4 (SemDeDup, then prototypes)."
        ),
    ] = "auto",
    class_balanced: Annotated[
        bool, typer.Option(help="Split the budget evenly across classes (needs labels).")
    ] = False,
    auto_threshold: Annotated[
        float, typer.Option(help="Kept fraction at and above which `auto` keeps hard examples.")
    ] = 0.5,
    ccs_beta: Annotated[
        float | None,
        typer.Option(help="CCS: fraction of hardest examples dropped first (default 0.1)."),
    ] = None,
    ccs_strata: Annotated[
        int | None, typer.Option(help="CCS: number of score strata (default 50).")
    ] = None,
    text_column: TextColumn = None,
    embedding_column: EmbeddingColumn = None,
    label_column: LabelColumn = None,
    id_column: IdColumn = None,
    labels: LabelsFile = None,
    split: Split = "file",
    extensions: Extensions = ".py",
    encoder: Encoder = "minilm",
    k: K = None,
    distance: Distance = "cosine",
    eps: Eps = 0.05,
    survivor: Survivor = "hard",
    seed: Seed = 0,
    metric_option: MetricOption = None,
    engine: EngineName = "local",
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Keep a budget of examples chosen by a metric and a policy; write data, manifest, report.

    Example: lessdata prune train.parquet --metric prototypes --keep 0.5 --policy auto --out pruned/
    """
    from lessdata.budget import parse_keep
    from lessdata.pipeline.api import prune as run

    _set_quiet(quiet)
    result = run(
        data, keep=parse_keep(keep), out=out, metric=metric, policy=policy,
        class_balanced=class_balanced, auto_threshold=auto_threshold, ccs_beta=ccs_beta,
        ccs_strata=ccs_strata, encoder=encoder, k=k, distance=distance, eps=eps,
        survivor=survivor, seed=seed, metric_options=_metric_options(metric_option),
        engine=engine, address=address, workers=workers,
        **_load_options(
            text_column, embedding_column, label_column, id_column, labels, split, extensions
        ),
    )  # fmt: skip
    typer.echo(f"kept {result.n_kept} of {result.manifest.num_rows} examples → {out}")


@app.command()
def dedup(
    data: Input,
    out: Annotated[
        Path, typer.Option(help="Folder for manifest.parquet, the deduplicated data and report.")
    ],
    method: Annotated[
        list[str],
        typer.Option(
            help="exact (same normalised text) | near (MinHash + LSH on word 5-grams, "
            "BigCode's settings) | semantic (SemDeDup on embeddings, within k-means "
            "clusters). Repeat to chain; they run exact → near → semantic."
        ),
    ] = ["semantic"],  # noqa: B006
    eps: Eps = 0.05,
    survivor: Survivor = "hard",
    keep_rule: KeepRule = "first",
    ngram: Ngram = 5,
    num_perm: NumPerm = 256,
    jaccard: Jaccard = 0.7,
    bands: Bands = None,
    rows: Rows = None,
    verify: Verify = False,
    text_column: TextColumn = None,
    embedding_column: EmbeddingColumn = None,
    label_column: LabelColumn = None,
    id_column: IdColumn = None,
    labels: LabelsFile = None,
    split: Split = "file",
    extensions: Extensions = ".py",
    encoder: Encoder = "minilm",
    k: K = None,
    seed: Seed = 0,
    engine: EngineName = "local",
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Drop duplicates; the manifest names, for each, the kept example it duplicates.

    Example: lessdata dedup corpus.jsonl --method exact --method near --out deduped/
    """
    from lessdata.pipeline.api import dedup as run

    _set_quiet(quiet)
    options = _load_options(
        text_column, embedding_column, label_column, id_column, labels, split, extensions
    )
    result = run(
        data, out=out, method=method, eps=eps, survivor=survivor, encoder=encoder, k=k,
        seed=seed, keep_rule=keep_rule, near=_near(ngram, num_perm, jaccard, bands, rows, verify),
        engine=engine, address=address, workers=workers, **options,
    )  # fmt: skip
    removed = result.manifest.num_rows - result.n_kept
    typer.echo(f"removed {removed} documents, kept {result.n_kept} → {out}")


@app.command()
def curate(
    data: Annotated[
        str,
        typer.Argument(
            help="Corpus: a folder of source files, or .jsonl / .parquet / .csv / a Hugging "
            "Face dataset folder with a text column.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Folder for manifest.parquet, the kept documents (input's format; "
            "documents.parquet for a source folder), curation.png and report.html."
        ),
    ],
    quality: Annotated[
        str,
        typer.Option(
            help="Quality heuristics: code (StarCoder-style line lengths, alphanumeric "
            "fraction, comments, auto-generated markers, size), prose (Gopher-style word "
            "counts, symbols, repeated lines and n-grams) or none."
        ),
    ] = "none",
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            help="Override a quality bound: min_RULE=VALUE or max_RULE=VALUE (VALUE none "
            "switches it off), e.g. max_max_line_length=2000; repeatable."
        ),
    ] = None,
    dedup: Annotated[
        list[str],
        typer.Option(help="Dedup kinds to chain: exact, near, semantic (repeat the option)."),
    ] = ["exact", "near"],  # noqa: B006
    keep_rule: KeepRule = "first",
    ngram: Ngram = 5,
    num_perm: NumPerm = 256,
    jaccard: Jaccard = 0.7,
    bands: Bands = None,
    rows: Rows = None,
    verify: Verify = False,
    eps: Eps = 0.05,
    survivor: Survivor = "hard",
    encoder: Encoder = "minilm",
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
    """Skip unusable documents, filter by quality, then deduplicate: exact → near → semantic.

    Every document gets a manifest row with its quality values, the stage that removed it
    and why; report.html shows the counts per stage and the largest duplicate clusters side
    by side. Example: lessdata curate src/ --split function --quality code --out curated/
    """
    from lessdata.pipeline.curate import curate as run

    _set_quiet(quiet)
    result = run(
        data, out=out, dedup=[] if dedup == ["none"] else dedup,
        quality=None if quality == "none" else quality, thresholds=_thresholds(threshold),
        keep_rule=keep_rule, near=_near(ngram, num_perm, jaccard, bands, rows, verify),
        eps=eps, survivor=survivor, encoder=encoder, k=k, seed=seed,
        text_column=text_column, id_column=id_column, split=split,
        extensions=_extensions(extensions), engine=engine, address=address, workers=workers,
    )  # fmt: skip
    n = result.manifest.num_rows
    for stage, removed in result.stages.items():
        typer.echo(f"{stage:>9}: removed {removed:,}")
    typer.echo(f"kept {result.n_kept:,} of {n:,} documents → {out}")


def _thresholds(pairs: list[str] | None) -> dict[str, float | None] | None:
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


@app.command()
def inspect(
    manifest: Annotated[Path, typer.Argument(help="A manifest.parquet (or scores) file.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for scores.png and report.html (default: beside the manifest)."),
    ] = None,
    top: Annotated[int, typer.Option(help="How many examples and groups to list.")] = 10,
) -> None:
    """Summarise a manifest: scores, extremes, duplicate groups; write scores.png + report.html.

    Shows the score distribution, the most and least prototypical examples and the largest
    duplicate groups; for a `lessdata curate` manifest, the documents removed per stage and
    reason (the report is redrawn only with --out).
    Example: lessdata inspect pruned/manifest.parquet
    """
    from lessdata.report import inspect_manifest

    paths = inspect_manifest(manifest, out, top=top)
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")


@app.command()
def metrics() -> None:
    """List the metrics, what a high score means and what each needs."""
    from lessdata.metrics import REGISTRY

    for m in REGISTRY.values():
        needs = [
            w
            for w, flag in (
                ("vectors", m.needs_vectors),
                ("labels", m.needs_labels),
                ("text", m.needs_text),
                ("training", m.needs_training),
            )
            if flag
        ]
        typer.echo(f"{m.name:24s} {m.summary}")
        typer.echo(f"{'':24s}   high = {m.high_means}; needs: {', '.join(needs) or 'nothing'}")


def _mount_labs() -> None:
    """Attach the scaling lab (`lessdata scale`), the theory (`lessdata theory`) and the ICL
    lab (`lessdata icl`)."""
    from lessdata.cli.icl import icl_app
    from lessdata.cli.scale import scale_app
    from lessdata.cli.theory import theory_app

    app.add_typer(scale_app, name="scale")
    app.add_typer(theory_app, name="theory")
    app.add_typer(icl_app, name="icl")


_mount_labs()


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except LessdataError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
