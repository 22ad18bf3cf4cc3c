"""The code-LM experiment: which selection of real Python code trains a tiny LM best?

The corpus is the installed Python itself: top-level functions and classes of the
standard library and of site-packages (``split="function"``). Files, not functions, are
split three ways by a hash of their path, so no file contributes to two of them:

* **held-out** files: the evaluation set (held-out bits per byte);
* **target** files: a small sample of "the code we want to model", the DSIR target and the
  reference the perplexity metric's model is trained on;
* **training** files: the pool that each selection prunes.

Selections, each at every kept fraction: ``random``; ``dedup`` (exact + near duplicates
removed, then a random draw among the survivors); ``prototypes`` (k-means on embeddings,
the ``auto`` policy); ``perplexity`` (keep-easy: the documents a reference LM finds least
surprising); ``dsir`` (importance resampling toward the target sample); ``classifier``
(keep-hard: the documents a linear classifier finds most like the target sample, DCLM's
quality filter, :mod:`lessdata.metrics.quality_classifier`); ``dsir-lengths`` (random
documents with DSIR's length distribution: per decile of the pool's document lengths, as
many as DSIR keeps there, the control that separates target-matching from document length).
With ``budget="tokens"``
every selection keeps the same number of *bytes* (the LM's tokens) rather than documents,
so that "better documents" is not confounded with "more text". Every run trains
the same tiny LM for the **same number of tokens** (fixed compute), so a small subset is
repeated for more epochs, and records held-out bits per byte along the way. Runs go to a
:class:`~lessdata.labs.scaling.store.ResultsStore`, so a killed experiment resumes.
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.labs.scaling.store import FULL, NO_METRIC, ResultsStore, RunKey
from lessdata.progress import log

TASK = "pycode"
MODEL = "tiny-lm"
#: selection name → (metric it scores by, policy); "-" = no score
SELECTIONS: dict[str, tuple[str, str]] = {
    "random": (NO_METRIC, "random"),
    "dedup": ("exact+near", "random"),
    "prototypes": ("prototypes", "auto"),
    "perplexity": ("perplexity", "keep-easy"),
    "dsir": ("dsir", "importance"),
    "classifier": ("classifier", "keep-hard"),
    "dsir-lengths": ("dsir", "length-matched"),
}
#: ``<selection>-lengths``: random documents drawn to match that selection's document
#: lengths (same count per length bin), the control for "better documents or just shorter
#: ones?" under a byte budget
LENGTH_BINS = 10
#: what a kept fraction is a fraction of: documents, or tokens (bytes: the LM reads bytes)
BUDGETS = ("documents", "tokens")
_CORPUS_VERSION = "v2"


@dataclass
class CodeLMSpec:
    """What to run.

    Attributes:
        roots: folders of ``.py`` files; default the standard library and site-packages of
            the running interpreter.
        pool_docs: training documents sampled (seeded by ``data_seed``) from the training files.
        heldout_docs, target_docs: documents sampled from the held-out and target files.
        heldout_share, target_share: the share of files (by path hash) in each split.
        fractions: kept fractions of the pool (the full pool is always run as reference).
        selections: names from :data:`SELECTIONS`.
        seeds: number of seeds (0, 1, ...); a seed seeds the scores, the draw and training.
        tokens: training tokens per run, the same for every subset (fixed compute).
        eval_points: held-out evaluations along each run; eval_tokens caps each one.
        encoder: text encoder for ``prototypes`` (``tfidf`` is fast; ``minilm`` the model).
        lm: :class:`~lessdata.train.tiny_lm.TinyLMConfig` overrides (``n_layer``, ...).
        max_doc_bytes: longer documents are left out of every split (huge generated tables).
        perplexity_tokens: training tokens of the perplexity metric's reference LM.
        budget: a kept fraction counts ``documents`` or ``tokens`` (bytes of text).
    """

    roots: Sequence[str] = ()
    pool_docs: int = 4_000
    heldout_docs: int = 1_500
    target_docs: int = 600
    heldout_share: float = 0.1
    target_share: float = 0.03
    fractions: Sequence[float] = (0.1, 0.3)
    selections: Sequence[str] = tuple(SELECTIONS)
    seeds: int = 1
    tokens: int = 2_000_000
    eval_points: int = 6
    eval_tokens: int = 100_000
    encoder: str = "tfidf"
    lm: dict[str, Any] = field(default_factory=dict)
    max_doc_bytes: int = 20_000
    perplexity_tokens: int = 300_000
    data_seed: int = 0
    budget: str = "documents"

    def root_list(self) -> list[Path]:
        """The corpus folders (the defaults when none are given), each checked to exist."""
        if self.roots:
            roots = [Path(r) for r in self.roots]
        else:
            paths = sysconfig.get_paths()
            roots = [Path(paths["stdlib"]), Path(paths["purelib"])]
        for root in roots:
            if not root.is_dir():
                raise LessdataError(f"{root}: not a folder of source files")
        return roots

    def check(self) -> None:
        """Validate every setting before any work."""
        unknown = [s for s in self.selections if s not in SELECTIONS]
        if unknown or not self.selections:
            raise LessdataError(
                f"unknown selection {unknown[:1] or '(none)'}; choose among {', '.join(SELECTIONS)}"
            )
        if not self.fractions or any(not 0 < f < 1 for f in self.fractions):
            raise LessdataError(f"fractions must lie in (0, 1), got {list(self.fractions)}")
        for name in ("pool_docs", "heldout_docs", "target_docs", "seeds", "tokens", "eval_tokens"):
            if int(getattr(self, name)) < 1:
                raise LessdataError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.heldout_share <= 0 or self.target_share <= 0:
            raise LessdataError("heldout_share and target_share must be positive")
        if self.budget not in BUDGETS:
            raise LessdataError(f"budget must be one of {', '.join(BUDGETS)}, got {self.budget!r}")
        if self.heldout_share + self.target_share >= 1:
            raise LessdataError("heldout_share + target_share must leave files for training")


@dataclass
class CodeCorpus:
    """The three splits, as Arrow tables with ``id`` and ``text``."""

    pool: pa.Table
    heldout: pa.Table
    target: pa.Table
    files: dict[str, int]

    def texts(self, split: str) -> pa.Array:
        return getattr(self, split)["text"].combine_chunks()


# --- the corpus --------------------------------------------------------------------------


def _split_of(path: str, spec: CodeLMSpec) -> str:
    """``heldout``, ``target`` or ``pool`` from a hash of the file's path (stable, seeded)."""
    digest = hashlib.blake2b(f"{spec.data_seed}:{path}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "little") / 2**64
    if u < spec.heldout_share:
        return "heldout"
    if u < spec.heldout_share + spec.target_share:
        return "target"
    return "pool"


#: documents read per split before the uniform draw, as a multiple of the split's size, so the
#: draw spans many files (a file holds a few dozen functions) without parsing every file
_OVERSAMPLE = 4


def build_corpus(spec: CodeLMSpec, folder: Path) -> CodeCorpus:
    """List the roots' files, split them three ways, and sample each split to its size.

    Only file names are listed up front; each split then reads its files in a seeded random
    order until it holds :data:`_OVERSAMPLE` times the documents it needs, and draws its
    sample uniformly from those. The smallest settings thus parse a few hundred files, not
    all 79,000 functions of the standard library. The sample is cached as Parquet in
    ``folder``, keyed by every setting it depends on.
    """
    names = ("pool", "heldout", "target")
    wanted = {"pool": spec.pool_docs, "heldout": spec.heldout_docs, "target": spec.target_docs}
    key = json.dumps(
        [_CORPUS_VERSION, [str(r) for r in spec.root_list()], spec.heldout_share,
         spec.target_share, spec.max_doc_bytes, spec.data_seed, wanted],
    )  # fmt: skip
    cache = folder / f"corpus-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if not all((cache / f"{n}.parquet").exists() for n in (*names, "files")):
        _sample_roots(spec, wanted, cache)
    tables = {n: pq.read_table(cache / f"{n}.parquet") for n in names}
    files = {r["split"]: r["files"] for r in pq.read_table(cache / "files.parquet").to_pylist()}
    for name in names:
        if tables[name].num_rows < 2:
            raise LessdataError(
                f"the {name} split holds {tables[name].num_rows} documents; add roots or files"
            )
    return CodeCorpus(**tables, files=files)


def _list_files(spec: CodeLMSpec) -> dict[str, list[tuple[Path, str, str]]]:
    """Every ``.py`` file under the roots as ``(root, relative path, shown name)``, by split."""
    from lessdata.data.source_files import walk_sources

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found: dict[str, list[tuple[Path, str, str]]] = {"pool": [], "heldout": [], "target": []}
    for root in spec.root_list():
        prefix = "stdlib" if root == stdlib else root.name
        for rel, problem in walk_sources(root, (".py",)):
            if problem is None:
                found[_split_of(f"{prefix}/{rel}", spec)].append((root, rel, f"{prefix}/{rel}"))
    return found


def _sample_roots(spec: CodeLMSpec, wanted: dict[str, int], cache: Path) -> None:
    """Read each split's files in a seeded random order until it has enough documents, draw
    the split's sample uniformly from them, and write the three samples to ``cache``."""
    from lessdata.data.corpus_rows import CorpusLimits
    from lessdata.data.source_files import file_rows

    log("listing the Python files of " + ", ".join(str(r) for r in spec.root_list()))
    listed = _list_files(spec)
    limits = CorpusLimits()
    rng = np.random.default_rng(spec.data_seed)
    cache.mkdir(parents=True, exist_ok=True)
    for name, entries in listed.items():
        ids: list[str] = []
        texts: list[str] = []
        for index in rng.permutation(len(entries)):
            if len(ids) >= _OVERSAMPLE * wanted[name]:
                break
            root, rel, shown = entries[int(index)]
            prefix = shown[: len(shown) - len(rel)]
            for doc_id, text, problem, *_ in file_rows(root, [(rel, None)], "function", limits):
                if problem is None and len(text.encode()) <= spec.max_doc_bytes:
                    ids.append(prefix + doc_id)
                    texts.append(text)
        take = np.sort(rng.choice(len(ids), size=min(len(ids), wanted[name]), replace=False))
        table = pa.table(
            {"id": pa.array([ids[i] for i in take], pa.string()),
             "text": pa.array([texts[i] for i in take], pa.string())}
        )  # fmt: skip
        with atomic_path(cache / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
    counts = pa.table({"split": list(listed), "files": [len(v) for v in listed.values()]})
    with atomic_path(cache / "files.parquet") as tmp:  # last: marks the cache complete
        pq.write_table(counts, tmp)


# --- selections --------------------------------------------------------------------------


def _scores(corpus: CodeCorpus, metric: str, seed: int, spec: CodeLMSpec, folder: Path) -> Any:
    """The pool's scores under ``metric`` (cached as ``.npy``); for dedup, the survivors mask."""
    ids = hashlib.sha256("\n".join(corpus.pool["id"].to_pylist()).encode()).hexdigest()
    relevant = [metric, seed, ids, corpus.target.num_rows, spec.encoder, spec.perplexity_tokens]
    digest = hashlib.sha256(json.dumps(relevant).encode()).hexdigest()[:12]
    path = folder / "scores" / f"{metric}-seed{seed}-{digest}.npy"
    if path.exists():
        return np.load(path)
    texts = corpus.texts("pool")
    if metric == "exact+near":
        from lessdata.duplicates.exact_match import exact_duplicates
        from lessdata.duplicates.lsh import near_duplicates

        exact = exact_duplicates(texts)
        unique = np.flatnonzero(exact < 0)
        near = near_duplicates(texts.take(pa.array(unique)), seed=seed)
        values = np.zeros(len(texts))  # 0 = survivor, 1 = duplicate
        values[exact >= 0] = 1
        values[unique[near.duplicate_of >= 0]] = 1
    else:
        import lessdata
        from lessdata.data.dataset import Dataset

        ds = Dataset(source="<pycode pool>", format="array", ids=corpus.pool["id"].combine_chunks())
        ds.texts = texts
        options: dict[str, Any] = {}
        if metric in ("dsir", "classifier"):
            options["target"] = corpus.texts("target").to_pylist()
        if metric == "perplexity":
            options["reference"] = corpus.texts("target").to_pylist()
            options["lm_tokens"] = spec.perplexity_tokens
        table = lessdata.score(
            ds, metric, encoder=spec.encoder, seed=seed, metric_options=options or None
        )
        values = table[metric].to_numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, values)
    return values


def select_subset(
    corpus: CodeCorpus, selection: str, fraction: float, seed: int, spec: CodeLMSpec,
    folder: Path,
) -> np.ndarray:  # fmt: skip
    """The kept rows of the pool for ``selection`` at ``fraction`` of its documents, or
    (``spec.budget == "tokens"``) of its bytes: then the most documents whose bytes fit."""
    import lessdata

    metric, policy = SELECTIONS[selection]
    if policy == "length-matched":
        reference = selection.removesuffix("-lengths")
        kept = select_subset(corpus, reference, fraction, seed, spec, folder)
        return length_matched(_pool_sizes(corpus), kept, seed)
    n = corpus.pool.num_rows
    scores = np.zeros(n) if metric == NO_METRIC else _scores(corpus, metric, seed, spec, folder)
    if metric == NO_METRIC:
        policy = "random"

    def keep(count: int) -> np.ndarray:
        if metric == "exact+near":  # a random draw among survivors, topped up with duplicates
            rng = np.random.default_rng(seed)
            return np.sort(np.lexsort((rng.random(n), scores))[:count])
        return np.sort(lessdata.select(scores, count, policy=policy, seed=seed))

    if spec.budget == "documents":
        return keep(max(1, round(fraction * n)))
    sizes = _pool_sizes(corpus)
    budget = fraction * float(sizes.sum())
    low, high = 1, n  # the selections nest as the count grows: bisect on the count
    while low < high:
        middle = (low + high + 1) // 2
        if sizes[keep(middle)].sum() <= budget:
            low = middle
        else:
            high = middle - 1
    return keep(low)


def _pool_sizes(corpus: CodeCorpus) -> np.ndarray:
    """Bytes of each pool document."""
    return pc.binary_length(pc.cast(corpus.pool["text"], pa.binary())).to_numpy()


def length_matched(sizes: np.ndarray, kept: np.ndarray, seed: int) -> np.ndarray:
    """Random rows with the length distribution of ``kept``: the pool's document lengths are
    cut into :data:`LENGTH_BINS` quantile bins, and from each bin as many rows are drawn at
    random (seeded) as ``kept`` holds there (all of the bin's rows when it has fewer). The
    draw ignores which documents ``kept`` chose, only how long they are."""
    edges = np.quantile(sizes, np.linspace(0, 1, LENGTH_BINS + 1)[1:-1])
    bins = np.searchsorted(edges, sizes, side="right")
    wanted = np.bincount(bins[kept], minlength=LENGTH_BINS)
    rng = np.random.default_rng([seed, 17])
    chosen = [rng.permutation(np.flatnonzero(bins == b))[:count]
              for b, count in enumerate(wanted) if count]  # fmt: skip
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


# --- runs --------------------------------------------------------------------------------


def _config(spec: CodeLMSpec) -> tuple[str, dict[str, Any]]:
    from lessdata.train.tiny_lm import TinyLMConfig

    lm = asdict(TinyLMConfig(**{**spec.lm, "tokens": spec.tokens}))
    lm.pop("seed", None)
    settings = dict(
        lm=lm, pool_docs=spec.pool_docs, heldout_docs=spec.heldout_docs,
        target_docs=spec.target_docs, eval_tokens=spec.eval_tokens, encoder=spec.encoder,
        roots=[str(r) for r in spec.root_list()], data_seed=spec.data_seed,
        max_doc_bytes=spec.max_doc_bytes, shares=[spec.heldout_share, spec.target_share],
        eval_points=spec.eval_points, perplexity_tokens=spec.perplexity_tokens,
    )  # fmt: skip
    if spec.budget != "documents":  # earlier stores' configs stay the same
        settings["budget"] = spec.budget
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return digest, settings


def plan(spec: CodeLMSpec) -> list[tuple[str, float, int]]:
    """Every run as ``(selection, fraction, seed)``; the full pool once per seed."""
    runs = []
    for seed in range(spec.seeds):
        runs.append((FULL, 1.0, seed))
        for fraction in spec.fractions:
            for selection in spec.selections:
                runs.append((selection, float(fraction), seed))
    return runs


def _key(selection: str, fraction: float, seed: int, width: int, config: str) -> RunKey:
    metric, policy = (NO_METRIC, FULL) if selection == FULL else SELECTIONS[selection]
    if selection == "dedup":
        policy = "dedup"
    if policy == "length-matched":
        metric, policy = NO_METRIC, selection  # a random draw: keyed apart from random
    return RunKey(TASK, MODEL, width, metric, policy, float(fraction), seed, config)


def run_code_lm(spec: CodeLMSpec, out: str | Path) -> dict[str, int]:
    """Run every run of ``spec`` not yet in ``out``'s store, then write the report."""
    require("torch", "the code-LM experiment", "labs")
    from lessdata.train.tiny_lm import TinyLMConfig, train_tiny_lm

    spec.check()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(spec, folder)
    log(
        f"pool {corpus.pool.num_rows:,} documents, held out {corpus.heldout.num_rows:,}, "
        f"target {corpus.target.num_rows:,} (files: {corpus.files})"
    )
    config, settings = _config(spec)
    counts = {"done": 0, "ran": 0}
    heldout = corpus.texts("heldout")
    pool_bytes = pc.binary_length(pc.cast(corpus.pool["text"], pa.binary())).to_numpy()
    with ResultsStore(folder) as store:
        store.set_meta(f"code-lm/{config}", settings)
        for selection, fraction, seed in plan(spec):
            lm = TinyLMConfig(**{**spec.lm, "tokens": spec.tokens, "seed": seed})
            key = _key(selection, fraction, seed, lm.d_model, config)
            if store.done(key):
                counts["done"] += 1
                continue
            if selection == FULL:
                kept = np.arange(corpus.pool.num_rows)
            else:
                kept = select_subset(corpus, selection, fraction, seed, spec, folder)
            log(f"training on {key.label()}: {len(kept):,} documents")
            texts = corpus.texts("pool").take(pa.array(kept))
            trained = train_tiny_lm(
                texts, lm, eval_texts=heldout, eval_points=spec.eval_points,
                eval_tokens=spec.eval_tokens,
            )  # fmt: skip
            kept_bytes = int(pool_bytes[kept].sum())
            metrics = {
                "loss": trained.history[-1][1],
                "measure": "held-out bits per byte",
                "history": trained.history,
                "kept_bytes": kept_bytes,
                "epochs": spec.tokens / max(kept_bytes + len(kept), 1),
                "tokens_per_second": trained.tokens_per_second,
                "train_seconds": trained.train_seconds,
                "steps": trained.steps,
                "selection": selection,
            }
            store.record(key, metrics, n_kept=len(kept), n_train=corpus.pool.num_rows)
            counts["ran"] += 1
    return counts
