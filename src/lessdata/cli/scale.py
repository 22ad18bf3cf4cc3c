"""``lessdata scale``: measure how much data a pruning policy saves, with scaling curves.

Mounted by the main CLI as ``lessdata scale`` (``app.add_typer(scale_app, name="scale")``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from lessdata.errors import LessdataError

Encoder = Annotated[
    str,
    typer.Option(help="Text encoder for the prototypes selection: tfidf (fast) or minilm."),
]

scale_app = typer.Typer(
    name="scale",
    help=(
        "Prove the savings: train a model on subsets of growing size chosen by each policy, "
        "measure held-out error, and compare the curves with random selection.\n\n"
        "Workflow: `lessdata scale run` trains every (seed, width, metric, policy, fraction) "
        "and records each run in a SQLite store as it finishes (rerun the same command to "
        "resume: finished runs are skipped, failed ones retried); `lessdata scale report` "
        "draws the log-log curves and tests every policy against random seed by seed (95% "
        "t-intervals, Holm-corrected claims, examples to the target with bootstrap "
        "intervals); `lessdata scale export` writes the raw runs and those statistics to "
        "Parquet/CSV/JSON."
    ),
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_STORE = Path("runs/scale")

Store = Annotated[
    Path,
    typer.Option(
        help="Folder of the results store (results.sqlite, cached scores). One store can "
        "hold several sweeps; runs with different settings are kept apart."
    ),
]


def parse_fractions(text: str) -> list[float | int]:
    """Read ``--fractions``: comma-separated fractions (``0.1``) or counts (``3000``).

    ``a,b,...,z`` expands the arithmetic progression from ``a`` in steps of ``b - a`` up to
    ``z``: ``"0.1,0.2,...,1.0"`` is the ten tenths.
    """
    from lessdata.budget import parse_keep

    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise LessdataError("--fractions is empty; give e.g. 0.1,0.2,0.5,1.0")
    if "..." in items:
        i = items.index("...")
        if i < 2 or i != len(items) - 2 or items.count("...") > 1:
            raise LessdataError(
                "--fractions: write a progression as FIRST,SECOND,...,LAST (e.g. 0.1,0.2,...,1.0)"
            )
        try:
            first, second, last = (Decimal(items[j]) for j in (i - 2, i - 1, i + 1))
        except InvalidOperation:
            raise LessdataError(
                f"--fractions: {text!r} holds a value that is not a number"
            ) from None
        step = second - first
        if step <= 0 or last < second:
            raise LessdataError("--fractions: a progression must increase, e.g. 0.1,0.2,...,1.0")
        values = [str(v) for v in items[: i - 2]]
        current = first
        while current <= last + step / 1000:
            values.append(str(current))
            current += step
        if Decimal(values[-1]) != last:
            values.append(items[i + 1])
        items = values
    return [parse_keep(item) for item in items]


def parse_options(pairs: list[str] | None) -> dict[str, int | float | str]:
    """Read ``--metric-option KEY=VALUE`` pairs; values become int, float or stay text."""
    options: dict[str, int | float | str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LessdataError(f"--metric-option takes KEY=VALUE, got {pair!r}")
        parsed: int | float | str = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        options[key.strip()] = parsed
    return options


@scale_app.command("run")
def run(
    task: Annotated[
        str,
        typer.Option(
            help="What to train on: mnist1d (generated locally, fixed 5,000-example test "
            "set), digits (scikit-learn's 8x8 digits, split by --data-seed) or a dataset "
            "PATH that `lessdata score` reads (split into train/test, or see --test)."
        ),
    ] = "mnist1d",
    label_column: Annotated[
        str | None, typer.Option(help="Label column of a PATH task (default: label, y, ...).")
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(help="A separate held-out test file for a PATH task (nothing is split off)."),
    ] = None,
    test_fraction: Annotated[
        float, typer.Option(help="Share of a PATH task (or digits) held out for testing.")
    ] = 0.2,
    model: Annotated[
        str | None,
        typer.Option(
            help="Built-in model: logreg (scikit-learn, fast), mlp (the default), cnn1d "
            "(signals such as mnist1d), cnn2d (images such as digits). With --command, only a "
            "label for the runs (default: command).",
            show_default=False,
        ),
    ] = None,
    width: Annotated[
        list[int],
        typer.Option(
            help="Hidden width / channels of the model; repeat (--width 32 --width 128) to "
            "sweep model size as well as data size."
        ),
    ] = [64],  # noqa: B006  (typer reads list defaults this way)
    metric: Annotated[
        list[str],
        typer.Option(
            help="Score to prune by; repeat for several (see `lessdata metrics`). Training-"
            "dynamics metrics (el2n, forgetting, ...) use the labels. NAME@ssl (e.g. "
            "prototypes@ssl) measures a vector metric in a self-supervised embedding of the "
            "training set (lessdata embed --method ssl)."
        ),
    ] = ["prototypes"],  # noqa: B006
    policy: Annotated[
        list[str],
        typer.Option(
            help="Selection policy; repeat for several: random (the baseline), keep-easy, "
            "keep-hard, auto, moderate, ccs, d2, d4. Keep random to measure data saved."
        ),
    ] = ["random", "keep-easy", "keep-hard"],  # noqa: B006
    fractions: Annotated[
        str,
        typer.Option(
            help="Budgets: fractions of the training set and/or counts, comma-separated; "
            "'0.1,0.2,...,1.0' expands a progression. The full-data run (1.0) is always "
            "trained, once per seed and width, as the reference."
        ),
    ] = "0.05,0.1,0.2,0.3,0.5,0.7,1.0",
    seeds: Annotated[
        int,
        typer.Option(
            help="Number of seeds (0, 1, ...): each seeds the scores, the selection and the "
            "training; the report shows the mean and the spread over seeds."
        ),
    ] = 3,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Optimizer steps per run, whatever the subset size (default 1000), so "
            "every budget gets the same compute."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per step (default 128).")] = None,
    lr: Annotated[float | None, typer.Option(help="AdamW learning rate (default 1e-3).")] = None,
    n_train: Annotated[
        int | None,
        typer.Option(
            help="Training examples: mnist1d generates exactly this many (default 10,000; up "
            "to 100k and more); digits and PATH tasks keep a seeded sample of their training split."
        ),
    ] = None,
    data_seed: Annotated[
        int, typer.Option(help="Seed of the train/test split (or of mnist1d's training set).")
    ] = 0,
    class_balanced: Annotated[
        bool, typer.Option(help="Split every budget evenly across classes (not with d4).")
    ] = False,
    k: Annotated[
        int | None, typer.Option("--k", help="k-means clusters for prototypes/semdedup.")
    ] = None,
    metric_option: Annotated[
        list[str] | None,
        typer.Option(
            "--metric-option",
            help="KEY=VALUE passed to the metrics; repeatable. The training-dynamics metrics "
            "take proxy_model, proxy_epochs, proxy_runs, width (of the proxy) and early_epoch.",
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="Runs trained in parallel (worker processes, one thread each). Scores are "
            "computed once, in the main process."
        ),
    ] = 1,
    store: Store = DEFAULT_STORE,
    command: Annotated[
        str | None,
        typer.Option(
            help="Train with your own script instead: a shell command template run once per "
            "subset, e.g. 'python train.py --subset {manifest}'. {manifest} is a Parquet "
            "file (id, row, kept); {seed}, {width}, {policy}, {metric}, {keep}, {n_kept} are "
            "also filled in. The script must print a JSON object such as "
            '{"accuracy": 0.93} on its last stdout line; a non-zero exit is recorded as a '
            "failed run with its stderr."
        ),
    ] = None,
    report: Annotated[
        bool, typer.Option(help="Write the report to STORE/report when the sweep finishes.")
    ] = True,
    dynamic: Annotated[
        list[float],
        typer.Option(
            help="Also train a dynamic-pruning run (InfoBatch: lessdata.torch."
            "DynamicPruningSampler) on the full data at this prune ratio; repeatable. Same "
            "budget of example-forwards as the other runs, in epochs; records forwards_saved.",
        ),
    ] = [],  # noqa: B006
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train on pruned subsets of growing size and record held-out error for each.

    Runs seeds x widths x (metric, policy) x fractions, plus the full-data reference; each
    run is committed to the store as it finishes, so an interrupted sweep resumes where it
    stopped. Example: lessdata scale run --task digits --model logreg --policy random
    --policy keep-hard --fractions 0.1,0.2,...,1.0 --seeds 3
    """
    from lessdata.labs.scaling.sweep import SweepSpec, format_failures, run_sweep

    if quiet:
        import os

        os.environ["LESSDATA_QUIET"] = "1"
    train = {
        name: value
        for name, value in (("steps", steps), ("batch_size", batch_size), ("lr", lr))
        if value is not None
    }
    spec = SweepSpec(
        task=task, model=model, widths=list(width), metrics=list(metric),
        policies=list(policy), fractions=parse_fractions(fractions), seeds=seeds,
        train=train, class_balanced=class_balanced, n_train=n_train, data_seed=data_seed,
        label_column=label_column, test=test, test_fraction=test_fraction,
        score_options={**parse_options(metric_option), **({"k": k} if k is not None else {})},
        dynamic=list(dynamic),
    )  # fmt: skip
    summary = run_sweep(spec, store, jobs=jobs, command=command)
    typer.echo(
        f"{summary.planned} runs: {summary.ok} trained, {summary.failed} failed, "
        f"{summary.skipped} already done → {store}"
    )
    if summary.failures:
        typer.echo(format_failures(summary), err=True)
    if summary.aborted:
        typer.echo(f"stopped early: {summary.aborted}", err=True)
    if report and summary.ok + summary.skipped > 0:
        from lessdata.labs.scaling.report import write_scaling_report

        paths = write_scaling_report(store, store / "report")
        typer.echo(f"report: {paths['html']}")
    if summary.failed or summary.aborted:
        typer.echo(
            f"{summary.failed} runs failed; fix the cause and rerun the same command to retry "
            "them (finished runs are skipped)",
            err=True,
        )
        raise SystemExit(1)


def parse_seeds(text: str | None) -> list[int] | None:
    """Read ``--confirm-seeds``: comma-separated seed numbers (``3,4``); None when not given."""
    if text is None:
        return None
    try:
        seeds = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise LessdataError(
            f"--confirm-seeds takes seed numbers separated by commas (e.g. 3,4), got {text!r}"
        ) from None
    if not seeds:
        raise LessdataError("--confirm-seeds is empty; give the held-back seeds, e.g. 3,4")
    return seeds


Target = Annotated[
    float | None,
    typer.Option(
        help="Test error to reach (default: the full-data error): how many examples each "
        "policy needs to get there, read within the measured sizes with a seed-bootstrap "
        "interval, and the data it saves vs random."
    ),
]
ConfirmSeeds = Annotated[
    str | None,
    typer.Option(
        help="Seeds held back (e.g. 3,4): each budget's best policy is picked on the other "
        "seeds and tested on these alone, as a check beside the Holm-corrected claims."
    ),
]


@scale_app.command("report")
def report_command(
    store: Store = DEFAULT_STORE,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for scaling.png and report.html (default STORE/report)."),
    ] = None,
    target: Target = None,
    confirm_seeds: ConfirmSeeds = None,
) -> None:
    """Draw the scaling curves; test every policy against random, seed by seed.

    Writes scaling.png (log-log error vs examples with fitted power laws and the Pareto
    frontier; accuracy vs fraction kept), widths.png for width sweeps, and a self-contained
    report.html: per (metric, policy, fraction) the paired per-seed gain over random with a
    95% t-interval, the seeds and Holm-corrected p-values; a best-policy claim only when it
    survives Holm's correction over every cell (else "no policy beats random after
    correction"); examples to reach the target with bootstrap intervals ("not reached" past
    the largest size). Example: lessdata scale report --store runs/scale --out runs/scale/report
    """
    from lessdata.labs.scaling.report import write_scaling_report

    paths = write_scaling_report(
        store, out if out is not None else store / "report", target=target,
        confirm_seeds=parse_seeds(confirm_seeds),
    )  # fmt: skip
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")


@scale_app.command("export")
def export_command(
    out: Annotated[
        Path | None,
        typer.Option(
            help="File for the raw runs: .parquet, .csv or .json (by suffix). One row per run: "
            "its key (task, model, width, metric, policy, keep, seed, config), status, "
            "examples kept, accuracy, error, loss, timings and any extra metric.",
            show_default=False,
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            help="File for the paired cells (.parquet/.csv/.json): one row per (width, "
            "metric, policy, keep) against random: gain_mean (random's error − the policy's, "
            "per seed), ci_low, ci_high (95% t), n_seeds, p_value, p_holm, holm_family, "
            "survives_holm, verdict, best_at_fraction, best_overall, confirm_* columns.",
            show_default=False,
        ),
    ] = None,
    targets: Annotated[
        Path | None,
        typer.Option(
            help="File for the per-curve targets: examples to reach the target with its "
            "bootstrap interval and status (reached / not reached), data saved vs random "
            "with its interval, and the power-law exponent (a labelled fit).",
            show_default=False,
        ),
    ] = None,
    store: Store = DEFAULT_STORE,
    target: Target = None,
    confirm_seeds: ConfirmSeeds = None,
) -> None:
    """Write the recorded runs, and the report's paired statistics, to Parquet/CSV/JSON.

    Example: lessdata scale export --store runs/scale --out runs.parquet --summary cells.csv
    --targets targets.csv
    """
    from lessdata.labs.scaling.store import DB_NAME, ResultsStore

    if out is None and summary is None and targets is None:
        raise LessdataError("name a file to write: --out (runs), --summary (cells), --targets")
    if not (store / DB_NAME).exists() and store.suffix not in (".sqlite", ".db", ".sqlite3"):
        raise LessdataError(f"--store {store} holds no results; run `lessdata scale run` first")
    seeds = parse_seeds(confirm_seeds)
    if out is not None:
        with ResultsStore(store) as results:
            path = results.export(out)
            typer.echo(f"exported {results.count()} runs → {path}")
    if summary is not None or targets is not None:
        from lessdata.labs.scaling.export import write_summary

        written = write_summary(store, summary, targets, target=target, confirm_seeds=seeds)
        for name, path in written.items():
            typer.echo(f"{name}: {path}")


@scale_app.command("code-lm")
def code_lm_command(
    out: Annotated[
        Path,
        typer.Option(help="Folder for the corpus cache, scores, results.sqlite and the report."),
    ] = Path("runs/code-lm"),
    fractions: Annotated[
        str, typer.Option(help="Kept fractions of the pool, comma-separated (full pool added).")
    ] = "0.1,0.3",
    selection: Annotated[
        list[str],
        typer.Option(
            help="random | dedup (exact + near removed, then random) | prototypes (auto "
            "policy) | perplexity (keep-easy under an LM trained on the target sample) | "
            "dsir (importance resampling toward the target sample) | classifier (keep-hard "
            "under a linear classifier of target vs pool, DCLM's filter) | dsir-lengths "
            "(random documents with DSIR's length distribution: the length control). "
            "Repeatable."
        ),
    ] = ["random", "dedup", "prototypes", "perplexity", "dsir"],  # noqa: B006
    budget: Annotated[
        str,
        typer.Option(
            help="What a kept fraction counts: documents, or tokens (bytes; every selection "
            "then keeps the same amount of text, so quality is not confounded with length)."
        ),
    ] = "documents",
    seeds: Annotated[int, typer.Option(help="Seeds per run (0, 1, ...).")] = 1,
    tokens: Annotated[
        int, typer.Option(help="Training tokens (bytes) per run, the same for every subset.")
    ] = 2_000_000,
    pool_docs: Annotated[
        int, typer.Option(help="Functions and classes sampled from the training files.")
    ] = 4_000,
    encoder: Encoder = "tfidf",
    root: Annotated[
        list[Path] | None,
        typer.Option(
            help="Folder of .py files for the corpus; repeatable (default: the standard "
            "library and site-packages of this Python)."
        ),
    ] = None,
    report_only: Annotated[
        bool, typer.Option(help="Only redraw the report from the runs recorded so far.")
    ] = False,
) -> None:
    """Train a tiny byte-level code LM on each selection of real Python code; compare losses.

    The corpus is the top-level functions and classes of this Python's standard library and
    site-packages, split by file into training pool, target sample and held-out files. Each
    run trains for the same number of tokens and records held-out bits per byte. Rerun to
    resume. Writes code_lm.png and code_lm.html into --out.
    Example: lessdata scale code-lm --out runs/code-lm --fractions 0.1,0.3 --seeds 2
    """
    from lessdata.labs.scaling.code_lm import CodeLMSpec, run_code_lm
    from lessdata.labs.scaling.code_lm_report import write_code_lm_report

    if not report_only:
        spec = CodeLMSpec(
            roots=tuple(str(r) for r in root or ()),
            fractions=[float(f) for f in parse_fractions(fractions)],
            selections=tuple(selection), seeds=seeds, tokens=tokens, pool_docs=pool_docs,
            encoder=encoder, budget=budget,
        )  # fmt: skip
        counts = run_code_lm(spec, out)
        typer.echo(f"ran {counts['ran']} runs ({counts['done']} already recorded)")
    for name, path in write_code_lm_report(out).items():
        typer.echo(f"{name}: {path}")


@scale_app.command("code-mix")
def code_mix_command(
    out: Annotated[
        Path, typer.Option(help="Folder for the corpus caches, results.sqlite and the report.")
    ] = Path("runs/code-mix"),
    mixes: Annotated[
        str, typer.Option(help="Shares of the byte budget given to prose, comma-separated.")
    ] = "0,0.1,0.3,0.5",
    fraction: Annotated[
        float, typer.Option(help="Byte budget as a fraction of the Python pool's bytes.")
    ] = 0.3,
    seeds: Annotated[int, typer.Option(help="Seeds per mix (0, 1, ...).")] = 3,
    tokens: Annotated[
        int, typer.Option(help="Training tokens (bytes) per run, the same for every mix.")
    ] = 2_000_000,
    pool_docs: Annotated[
        int, typer.Option(help="Functions and classes sampled from the training files.")
    ] = 4_000,
    report_only: Annotated[
        bool, typer.Option(help="Only redraw the report from the runs recorded so far.")
    ] = False,
) -> None:
    """Replace a share of a fixed byte budget of Python by prose; evaluate on both.

    The same tiny LM and compute as `code-lm`; the budget is --fraction of the Python pool's
    bytes, of which each --mixes share is filled with random prose documents from the
    .rst/.md/.txt files that this Python's packages ship. Each run records held-out Python
    and held-out prose bits per byte. Rerun to resume. Writes code_mix.png and code_mix.json.
    Example: lessdata scale code-mix --out runs/code-mix --mixes 0,0.1,0.3,0.5 --seeds 3
    """
    from lessdata.labs.scaling.code_lm import CodeLMSpec
    from lessdata.labs.scaling.code_mixture import (
        MixtureSpec,
        run_code_mixture,
        write_mixture_report,
    )

    if not report_only:
        try:
            values = [float(m) for m in mixes.split(",") if m.strip()]
        except ValueError:
            raise typer.BadParameter(f"not numbers: {mixes!r}", param_hint="--mixes") from None
        spec = MixtureSpec(
            code=CodeLMSpec(tokens=tokens, pool_docs=pool_docs), mixes=values,
            fraction=fraction, seeds=seeds,
        )  # fmt: skip
        counts = run_code_mixture(spec, out)
        typer.echo(f"ran {counts['ran']} runs ({counts['done']} already recorded)")
    for name, path in write_mixture_report(out).items():
        typer.echo(f"{name}: {path}")
