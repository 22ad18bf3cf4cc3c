"""The core commands: ``score``, ``prune``, ``dedup``, ``curate``, ``embed``, ``calibrate``,
``inspect``, ``metrics``.

Each parses its options and calls the public function of the same name; flags the user left
unset are not passed on, so the library's defaults apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lessdata.cli.options import (
    Address,
    Against,
    Bands,
    Distance,
    EmbeddingColumn,
    Encoder,
    EngineName,
    Eps,
    Extensions,
    IdColumn,
    Input,
    Jaccard,
    K,
    KeepRule,
    LabelColumn,
    LabelsFile,
    MetricOption,
    Ngram,
    NumPerm,
    Parts,
    Quiet,
    Rows,
    Scope,
    Seed,
    Split,
    Survivor,
    TargetSize,
    TextColumn,
    Verify,
    Workers,
    ZeroVectors,
    engine_option,
    given,
    load_options,
    parse_extensions,
    parse_pairs,
    parse_target_size,
    parse_thresholds,
    refuse_with_parts,
    set_quiet,
)
from lessdata.embed.encoders import DEFAULT_ENCODER
from lessdata.errors import LessdataError

core_app = typer.Typer()


@core_app.command()
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
    encoder: Encoder = DEFAULT_ENCODER,
    k: K = None,
    distance: Distance = None,
    eps: Eps = None,
    survivor: Survivor = None,
    seed: Seed = 0,
    zero_vectors: ZeroVectors = "refuse",
    metric_option: MetricOption = None,
    engine: EngineName = "local",
    address: Address = None,
    workers: Workers = None,
    parts: Parts = False,
    quiet: Quiet = False,
) -> None:
    """Score every example; write a table of id and one column per metric.

    Scores follow one direction for every metric: higher = harder, more informative or
    more unique. Example: lessdata score train.parquet --metric prototypes --out scores.parquet
    · with --parts, --out is a folder of manifest parts: lessdata score emb.npy --parts --out s/
    """
    from lessdata.pipeline import score as run
    from lessdata.pipeline import score_parts

    set_quiet(quiet)
    options = given(k=k, distance=distance, eps=eps, survivor=survivor)
    loading = load_options(
        text_column, embedding_column, label_column, id_column, labels, split, extensions
    )
    if parts:
        refuse_with_parts(
            text_column=(text_column, None),
            embedding_column=(embedding_column, None), label_column=(label_column, None),
            id_column=(id_column, None), labels=(labels, None), eps=(eps, None),
            survivor=(survivor, None), zero_vectors=(zero_vectors, "refuse"),
            encoder=(encoder, DEFAULT_ENCODER),
        )  # fmt: skip
        with engine_option(engine, address, workers) as chosen:
            done = score_parts(
                data, out, metric, metric_options={**options, **parse_pairs(metric_option)},
                seed=seed, engine=chosen,
            )  # fmt: skip
        typer.echo(f"scored {done.n} examples with {', '.join(metric)} → {out} (manifest parts)")
        return
    with engine_option(engine, address, workers) as chosen:
        table = run(
            data, metric, metric_options={**options, **parse_pairs(metric_option)},
            encoder=encoder, seed=seed, engine=chosen, out=out, zero_vectors=zero_vectors,
            **loading,
        )  # fmt: skip
    typer.echo(f"scored {table.num_rows} examples with {', '.join(metric)} → {out}")


@core_app.command()
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
            help="keep-hard | keep-easy | auto (with --calibration: the policy measured best on "
            "this data; without: hard when keeping >= --auto-threshold of the data, random "
            "below) | random | moderate (scores nearest the "
            "median) | ccs (coverage-centric) | importance (sample in proportion to exp(score), "
            "DSIR's Gumbel top-k; use with --metric dsir) | d2 (difficulty spread over a kNN "
            "graph, then coverage-aware picks: Maharana et al. 2023) | d4 (SemDeDup, then "
            "prototypes)."
        ),
    ] = "auto",
    class_balanced: Annotated[
        bool, typer.Option(help="Split the budget evenly across classes (needs labels).")
    ] = False,
    auto_threshold: Annotated[
        float | None,
        typer.Option(
            help="Kept fraction at and above which uncalibrated `auto` keeps hard examples "
            "(default 0.9; random below).",
            show_default=False,
        ),
    ] = None,
    ccs_beta: Annotated[
        float | None,
        typer.Option(help="CCS: fraction of hardest examples dropped first (default 0.1)."),
    ] = None,
    ccs_strata: Annotated[
        int | None, typer.Option(help="CCS: number of score strata (default 50).")
    ] = None,
    d2_k: Annotated[
        int | None, typer.Option(help="D2: neighbours per example in the graph (default 10).")
    ] = None,
    d2_gamma: Annotated[
        float | None,
        typer.Option(help="D2: decay of messages with distance / mean distance (default 1)."),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="Your own score per example instead of --metric's (higher = harder): an .npy, "
            "or Parquet with id and a column named by --metric (as `lessdata score` writes).",
            show_default=False,
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="With --policy auto: a calibration.json from `lessdata calibrate` on this data "
            "and metric; auto then uses the policy measured best at the nearest fraction."
        ),
    ] = None,
    text_column: TextColumn = None,
    embedding_column: EmbeddingColumn = None,
    label_column: LabelColumn = None,
    id_column: IdColumn = None,
    labels: LabelsFile = None,
    split: Split = "file",
    extensions: Extensions = ".py",
    encoder: Encoder = DEFAULT_ENCODER,
    k: K = None,
    distance: Distance = None,
    eps: Eps = None,
    survivor: Survivor = None,
    seed: Seed = 0,
    zero_vectors: ZeroVectors = "refuse",
    metric_option: MetricOption = None,
    engine: EngineName = "local",
    address: Address = None,
    workers: Workers = None,
    parts: Parts = False,
    quiet: Quiet = False,
) -> None:
    """Keep a budget of examples chosen by a metric and a policy; write data, manifest, report.

    Example: lessdata prune train.parquet --metric prototypes --keep 0.5 --policy auto --out pruned/
    · at a billion rows: lessdata prune emb.npy --keep 0.5 --parts --engine ray --out pruned/
    """
    from lessdata.budget import describe_budget, one_is_a_count, parse_keep
    from lessdata.pipeline import prune as run
    from lessdata.pipeline import prune_parts

    set_quiet(quiet)
    budget = parse_keep(keep)
    options = given(k=k, distance=distance, eps=eps, survivor=survivor)
    policies = given(
        auto_threshold=auto_threshold, ccs_beta=ccs_beta, ccs_strata=ccs_strata, d2_k=d2_k,
        d2_gamma=d2_gamma,
    )  # fmt: skip
    loading = load_options(
        text_column, embedding_column, label_column, id_column, labels, split, extensions
    )
    if parts:
        refuse_with_parts(
            text_column=(text_column, None), embedding_column=(embedding_column, None),
            label_column=(label_column, None), id_column=(id_column, None),
            labels=(labels, None), eps=(eps, None), survivor=(survivor, None),
            zero_vectors=(zero_vectors, "refuse"), encoder=(encoder, DEFAULT_ENCODER),
            class_balanced=(class_balanced, False), calibration=(calibration, None),
            scores=(scores, None),
        )  # fmt: skip
        with engine_option(engine, address, workers) as chosen:
            done = prune_parts(
                data, budget, out, metric=metric, policy=policy,
                metric_options={**options, **parse_pairs(metric_option)},
                policy_options=policies, seed=seed, engine=chosen,
            )  # fmt: skip
        kept_line = f"kept {done.n_kept} of {done.n} examples ({describe_budget(budget)})"
        typer.echo(f"{kept_line} → {out} (manifest parts in {out}/manifest)")
        return
    with engine_option(engine, address, workers) as chosen:
        result = run(
            data, budget, metric=metric, policy=policy, scores=scores,
            metric_options={**options, **parse_pairs(metric_option)}, policy_options=policies,
            class_balanced=class_balanced, seed=seed, engine=chosen, out=out, encoder=encoder,
            zero_vectors=zero_vectors, calibration=calibration, **loading,
        )  # fmt: skip
    n = result.manifest.num_rows
    typer.echo(f"kept {result.n_kept} of {n} examples ({describe_budget(budget)}) → {out}")
    if warning := one_is_a_count(budget):  # after the run: an error stays one line
        typer.echo(f"warning: {warning}", err=True)


@core_app.command()
def dedup(
    data: Input,
    out: Annotated[
        Path, typer.Option(help="Folder for manifest.parquet, the deduplicated data and report.")
    ],
    method: Annotated[
        list[str],
        typer.Option(
            help="exact (same normalised text) | near (MinHash + LSH on word 5-grams, "
            "BigCode's settings) | semantic (SemDeDup on embeddings, within and across "
            "neighbouring k-means clusters). Repeat to chain; they run exact → near → "
            "semantic."
        ),
    ] = ["semantic"],  # noqa: B006
    eps: Eps = None,
    keep: TargetSize = None,
    against: Against = None,
    survivor: Survivor = None,
    scope: Scope = None,
    keep_rule: KeepRule = None,
    ngram: Ngram = None,
    num_perm: NumPerm = None,
    jaccard: Jaccard = None,
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
    encoder: Encoder = DEFAULT_ENCODER,
    k: K = None,
    seed: Seed = 0,
    zero_vectors: ZeroVectors = "refuse",
    engine: EngineName = "local",
    address: Address = None,
    workers: Workers = None,
    parts: Parts = False,
    quiet: Quiet = False,
) -> None:
    """Drop duplicates; the manifest names, for each, the kept example it duplicates.

    Examples: lessdata dedup corpus.jsonl --method exact --method near --out deduped/ ·
    lessdata dedup new.jsonl --against old-index/ --method exact --method near --out d/ ·
    lessdata dedup corpus.jsonl --method semantic --keep 10000 --encoder static --out d/ ·
    lessdata dedup emb.npy --method semantic --eps 0.05 --parts --engine ray --out d/
    """
    from lessdata.pipeline import dedup as run
    from lessdata.pipeline import dedup_parts

    set_quiet(quiet)
    loading = load_options(
        text_column, embedding_column, label_column, id_column, labels, split, extensions
    )
    options = given(
        eps=eps, survivor=survivor, scope=scope, k=k, keep_rule=keep_rule, ngram=ngram,
        num_perm=num_perm,
        threshold=jaccard, bands=bands, rows=rows, verify=verify or None,
        keep=parse_target_size(keep),
    )  # fmt: skip
    if parts:
        if other := [m for m in method if m != "semantic"]:
            raise LessdataError(
                f"--method {other[0]} does not run with --parts: parts mode runs --method "
                "semantic only (SemDeDup on a .npy of embeddings); leave out --parts for "
                f"{other[0]}"
            )
        refuse_with_parts(
            text_column=(text_column, None),
            embedding_column=(embedding_column, None), label_column=(label_column, None),
            id_column=(id_column, None), labels=(labels, None), against=(against, None),
            zero_vectors=(zero_vectors, "refuse"), encoder=(encoder, DEFAULT_ENCODER),
        )  # fmt: skip
        with engine_option(engine, address, workers) as chosen:
            done = dedup_parts(data, out, method_options=options, seed=seed, engine=chosen)
        typer.echo(f"removed {done.n - (done.n_kept or 0)} examples, kept {done.n_kept} → {out}")
        return
    with engine_option(engine, address, workers) as chosen:
        result = run(
            data, method=method, method_options=options, seed=seed, engine=chosen, out=out,
            encoder=encoder, zero_vectors=zero_vectors, against=against or (), **loading,
        )  # fmt: skip
    removed = result.manifest.num_rows - result.n_kept
    typer.echo(f"removed {removed} documents, kept {result.n_kept} → {out}")


@core_app.command()
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
    keep_rule: KeepRule = None,
    ngram: Ngram = None,
    num_perm: NumPerm = None,
    jaccard: Jaccard = None,
    bands: Bands = None,
    rows: Rows = None,
    verify: Verify = False,
    eps: Eps = None,
    keep: TargetSize = None,
    against: Against = None,
    survivor: Survivor = None,
    scope: Scope = None,
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
    parts: Annotated[
        bool,
        typer.Option(
            help="For corpora too large for one process: the workers write the manifest and "
            "the kept documents as Parquet parts, and the driver holds no per-document "
            "state (quality filters, --dedup exact and near). Same kept ids as without."
        ),
    ] = False,
    merge: Annotated[
        bool, typer.Option(help="With --parts: also stream the document parts into one file.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Skip unusable documents, filter by quality, then deduplicate: exact → near → semantic.

    Every document gets a manifest row with its quality values, the stage that removed it
    and why; report.html shows the counts per stage and the largest duplicate clusters side
    by side. Example: lessdata curate src/ --split function --quality code --out curated/ ·
    at a billion documents: lessdata curate corpus/ --parts --engine ray --out c/
    """
    from lessdata.pipeline import curate as run
    from lessdata.pipeline import curate_parts

    set_quiet(quiet)
    options = given(
        eps=eps, survivor=survivor, scope=scope, k=k, keep_rule=keep_rule, ngram=ngram,
        num_perm=num_perm,
        threshold=jaccard, bands=bands, rows=rows, verify=verify or None,
        keep=parse_target_size(keep),
    )  # fmt: skip
    if merge and not parts:
        raise LessdataError("--merge applies with --parts", param="merge")
    if parts:
        refuse_with_parts(against=(against, None), encoder=(encoder, DEFAULT_ENCODER))
        with engine_option(engine, address, workers) as chosen:
            done = curate_parts(
                data, out, dedup=[] if dedup == ["none"] else dedup, dedup_options=options,
                quality=None if quality == "none" else quality,
                thresholds=parse_thresholds(threshold), seed=seed, engine=chosen,
                text_column=text_column, id_column=id_column, split=split,
                extensions=parse_extensions(extensions), merge=merge,
            )  # fmt: skip
        for stage, removed in done.stages.items():
            typer.echo(f"{stage:>9}: removed {removed:,}")
        typer.echo(f"kept {done.n_kept:,} of {done.n:,} documents → {out} (parts)")
        return
    with engine_option(engine, address, workers) as chosen:
        result = run(
            data, dedup=[] if dedup == ["none"] else dedup, dedup_options=options,
            against=against or (),
            quality=None if quality == "none" else quality, thresholds=parse_thresholds(threshold),
            seed=seed, engine=chosen, out=out, encoder=encoder, text_column=text_column,
            id_column=id_column, split=split, extensions=parse_extensions(extensions),
        )  # fmt: skip
    n = result.manifest.num_rows
    for stage, removed in result.stages.items():
        typer.echo(f"{stage:>9}: removed {removed:,}")
    typer.echo(f"kept {result.n_kept:,} of {n:,} documents → {out}")


@core_app.command()
def embed(
    data: Annotated[
        str,
        typer.Argument(
            help="Data to embed: .npy (2-D signals or vectors; 3-D/4-D images), .npz, a "
            "folder of image files, a table with a text or embedding column, a folder of "
            "source files, or builtin:digits.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Output: .npy (vectors in input order) or .parquet (id, embedding)."),
    ],
    method: Annotated[
        str,
        typer.Option(
            help="ssl: train a small SimCLR encoder on the data itself (arrays, images); or a "
            "text encoder: static, minilm, tfidf, or a local sentence-transformers folder."
        ),
    ] = "ssl",
    kind: Annotated[
        str,
        typer.Option(
            help="For ssl: signal (1-D signals: shift, stretch, noise, masking), vectors "
            "(features without order), image (crops, flips, colour jitter), or auto "
            "(3-D/4-D arrays and image folders are images, 2-D arrays vectors)."
        ),
    ] = "auto",
    dim: Annotated[int, typer.Option(help="For ssl: size of the embedding.")] = 64,
    steps: Annotated[int, typer.Option(help="For ssl: training steps (batches of 256).")] = 1500,
    text_column: TextColumn = None,
    embedding_column: EmbeddingColumn = None,
    id_column: IdColumn = None,
    split: Split = "file",
    extensions: Extensions = ".py",
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Embed every example; the output feeds prototypes, semdedup, D4 and D2 pruning.

    With --method ssl an encoder is trained on the data by SimCLR (seeded, resumable after
    a kill, cached). Example: lessdata embed signals.npy --kind signal --out emb.npy, then
    lessdata prune emb.npy --keep 0.3 --labels labels.npy --out pruned
    """
    from lessdata.pipeline import embed_data

    set_quiet(quiet)
    loading = load_options(text_column, embedding_column, None, id_column, None, split, extensions)
    result = embed_data(
        data, method=method, out=out, kind=kind, dim=dim, steps=steps, seed=seed, **loading
    )
    n, d = result.vectors.shape
    typer.echo(f"embedded {n:,} examples ({d} dimensions, {method}) → {out}")


def _fractions(text: str) -> list[float]:
    """``"0.1,0.3"`` → ``[0.1, 0.3]``; anything else is a one-line error."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        message = f"--fractions takes numbers such as 0.1,0.3,0.5; got {text!r}"
        raise LessdataError(message) from None


@core_app.command()
def calibrate(
    data: Input,
    out: Annotated[
        Path, typer.Option(help="Folder for calibration.json, calibration.png and .html.")
    ],
    metric: Annotated[
        str, typer.Option(help="Score the policies rank by (see `lessdata metrics`).")
    ] = "prototypes",
    scores: Annotated[
        Path | None,
        typer.Option(help="Scores from `lessdata score` (its --metric column), not recomputed."),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(
            help="An .npy of what the proxy classifier sees, one row per example (default: "
            "the data's vectors). Give a representation about as good as your model's, e.g. "
            "from `lessdata embed --method ssl`."
        ),
    ] = None,
    fractions: Annotated[
        str, typer.Option(help="Kept fractions to calibrate, comma-separated.")
    ] = "0.1,0.2,0.3,0.5,0.7,0.9",
    policy: Annotated[
        list[str],
        typer.Option(help="Candidate policy; repeat for several. random is always one."),
    ] = ["keep-easy", "keep-hard", "random", "ccs", "d2"],  # noqa: B006
    proxy: Annotated[
        str,
        typer.Option(
            help="The learner trained on each subset: logistic (cross-entropy, like your "
            "classifier), ridge (cheapest) or mlp (one hidden layer of 64)."
        ),
    ] = "logistic",
    pools: Annotated[
        int, typer.Option(help="Pool sizes measured (at least 2): --largest-pool, then halves.")
    ] = 3,
    largest_pool: Annotated[
        float, typer.Option(help="The largest pool's share of the data (the rest validates).")
    ] = 0.8,
    pool_share: Annotated[
        float, typer.Option(help="Ratio between successive pool sizes.")
    ] = 0.5,
    seeds: Annotated[
        int | None,
        typer.Option(
            help="Repeats per pool size, at least 3 (default: ceil(10,000 / rows) within "
            "5..20).",
            show_default=False,
        ),
    ] = None,
    confidence: Annotated[
        float,
        typer.Option(
            help="One-sided confidence a policy's gain at the full data must clear "
            "(Bonferroni over the candidates) to replace random."
        ),
    ] = 0.95,
    budget_share: Annotated[
        float | None,
        typer.Option(
            help="Most the pilot may cost, as a share of one full training run (counted, not "
            "timed; default: no cap).",
            show_default=False,
        ),
    ] = None,
    full_run_flops: Annotated[
        float | None,
        typer.Option(
            help="Floating-point operations of one full training run of your model (default: "
            "a reference MLP, 2x256, 20 epochs).",
            show_default=False,
        ),
    ] = None,
    text_column: TextColumn = None,
    embedding_column: EmbeddingColumn = None,
    label_column: LabelColumn = None,
    id_column: IdColumn = None,
    labels: LabelsFile = None,
    split: Split = "file",
    extensions: Extensions = ".py",
    encoder: Encoder = DEFAULT_ENCODER,
    k: K = None,
    metric_option: MetricOption = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Measure which policy beats random at which kept fraction, on your data (a pilot).

    Trains a cheap proxy on subsets chosen by each candidate policy from pools of growing
    size, reads each policy's gain over random off its trend at the full data, and uses a
    policy only where the lower bound of that gain is above zero (random otherwise). The
    same data, options and seed give the same calibration.json. Example: lessdata calibrate
    emb.npy --labels y.npy --out calib, then lessdata prune emb.npy --keep 0.2
    --calibration calib/calibration.json --out pruned (with --scores S: prune --scores S).
    """
    from lessdata.pipeline import calibrate as run

    set_quiet(quiet)
    loading = load_options(
        text_column, embedding_column, label_column, id_column, labels, split, extensions
    )
    options = {**given(k=k), **parse_pairs(metric_option)}
    result = run(
        data, metric=metric, scores=scores, features=features, proxy=proxy,
        fractions=_fractions(fractions), policies=policy, pools=pools,
        largest_pool=largest_pool, pool_share=pool_share, seeds=seeds, confidence=confidence,
        budget_share=budget_share, full_run_flops=full_run_flops, metric_options=options,
        out=out, encoder=encoder, seed=seed, **loading,
    )  # fmt: skip
    for row in result.record["fractions"]:
        typer.echo(f"keep {row['fraction']:g} → {row['reason']}")
    cost = result.record["cost"]
    if cost["note"]:
        typer.echo(f"warning: {cost['note']}", err=True)
    typer.echo(
        f"pilot cost {cost['pilot_share_of_full_run']:.1%} of one full run "
        f"({cost['full_run']}) → {result.path}"
    )


@core_app.command()
def inspect(
    manifest: Annotated[
        Path,
        typer.Argument(
            help="A manifest.parquet or scores file, a run folder (the --out of prune, dedup "
            "or curate) or a folder of manifest parts."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="A new or empty folder (or an earlier lessdata output, replaced whole) for "
            "scores.png and report.html. Default: the run folder the manifest is in (the "
            "--out of prune, dedup or score --parts); elsewhere nothing is written."
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="How many examples and groups to list.")] = 10,
) -> None:
    """Summarise a manifest: scores, extremes, duplicate groups; write scores.png + report.html.

    Shows the score distribution, the most and least prototypical examples and the largest
    duplicate groups; for a `lessdata curate` manifest, the documents removed per stage and
    reason (the report is redrawn only with --out). Like every command, inspect writes only
    into a folder lessdata owns: --out, or the output folder of the run that wrote the
    manifest; never beside a scores file among your own files (pass --out there).
    Example: lessdata inspect pruned/ · lessdata inspect scores.parquet --out report/
    """
    from lessdata.report import inspect_manifest
    from lessdata.report.outputs import report_folder

    paths = inspect_manifest(manifest, out, top=top)
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")
    if not paths:
        folder = report_folder(manifest)
        why = (
            f"{manifest} is not in a folder lessdata wrote"
            if folder is None
            else f"the report curate wrote in {folder} is kept"
        )
        typer.echo(f"no report written ({why}): pass --out DIR to write the plot and "
                   "report.html there")  # fmt: skip


@core_app.command()
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
