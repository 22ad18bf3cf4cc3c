"""The code-LM mixture axis: at a fixed token budget, does some non-Python text help Python?

"A coding model needs much less Python than all the Python ever written, but many other
things too in representative quantities." This experiment asks the smallest version of
that: the same tiny byte-level LM, the same training compute, the same byte budget of
training text (``fraction`` of the Python pool's bytes), with a share ``mix`` of that budget
filled by the prose that installed packages ship (``.rst``/``.md``/``.txt`` files: docs,
changelogs, licences, READMEs) instead of Python, drawn at random, for mixes 0 ... 0.5.
Each run is evaluated on held-out Python (bits per byte, as the code-LM experiment) *and*
on held-out prose (files split by path hash, so no file feeds both sides).

The Python side is the code-LM experiment's corpus (:func:`~lessdata.labs.scaling.code_lm.
build_corpus`); prose files are cut at blank lines into documents of at most
:data:`CHUNK_BYTES`; files that are not UTF-8 or cannot be read are skipped. Runs go to a
:class:`~lessdata.labs.scaling.store.ResultsStore`: a killed experiment resumes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lessdata.data.atomic import atomic_path
from lessdata.data.standard_json import dumps_standard
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.labs.scaling.code_lm import MODEL, CodeLMSpec, _config, _split_of, build_corpus
from lessdata.labs.scaling.store import NO_METRIC, ResultsStore, RunKey
from lessdata.progress import log

TASK = "pycode-mix"
PROSE_EXTENSIONS = (".rst", ".md", ".txt")
#: prose documents are cut at blank lines into pieces of at most this many bytes
CHUNK_BYTES = 4_000
_PROSE_VERSION = "v1"


@dataclass
class MixtureSpec:
    """What to run.

    Attributes:
        code: the code-LM settings (corpus, LM, tokens, evaluation); its ``fractions`` and
            ``selections`` are not used.
        mixes: shares of the byte budget given to prose, each in [0, 1).
        fraction: the byte budget as a fraction of the Python pool's bytes.
        seeds: seeds 0, 1, ... (seed the draws and the LM).
        prose_docs, prose_heldout_docs: prose documents sampled for training and evaluation.
    """

    code: CodeLMSpec = field(default_factory=CodeLMSpec)
    mixes: Sequence[float] = (0.0, 0.1, 0.3, 0.5)
    fraction: float = 0.3
    seeds: int = 3
    prose_docs: int = 3_000
    prose_heldout_docs: int = 500

    def check(self) -> None:
        """Validate every setting before any work."""
        self.code.check()
        if not self.mixes or any(not 0 <= float(m) < 1 for m in self.mixes):
            raise LessdataError(f"mixes must lie in [0, 1), got {list(self.mixes)}")
        if len(set(map(float, self.mixes))) != len(self.mixes):
            raise LessdataError(f"mixes repeat a value: {list(self.mixes)}")
        if not 0 < self.fraction <= 1:
            raise LessdataError(f"fraction must lie in (0, 1], got {self.fraction}")
        for name in ("seeds", "prose_docs", "prose_heldout_docs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LessdataError(f"{name} must be a whole number >= 1, got {value!r}")


def _chunks(text: str) -> list[str]:
    """``text`` cut at blank lines into pieces of at most CHUNK_BYTES (longer paragraphs are
    cut at CHUNK_BYTES characters' worth)."""
    pieces, current, size = [], [], 0
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        length = len(paragraph.encode())
        if current and size + length > CHUNK_BYTES:
            pieces.append("\n\n".join(current))
            current, size = [], 0
        while len(paragraph.encode()) > CHUNK_BYTES:
            pieces.append(paragraph[: CHUNK_BYTES // 4])
            paragraph = paragraph[CHUNK_BYTES // 4 :]
        current.append(paragraph)
        size += len(paragraph.encode()) + 2
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def build_prose(spec: MixtureSpec, folder: Path) -> tuple[pa.Array, pa.Array]:
    """Prose documents for training and held out (cached as Parquet, keyed by settings)."""
    from lessdata.data.source_files import walk_sources

    code = spec.code
    roots = code.root_list()
    wanted = {"pool": spec.prose_docs, "heldout": spec.prose_heldout_docs}
    key = json.dumps([_PROSE_VERSION, [str(r) for r in roots], code.heldout_share,
                      code.data_seed, wanted, CHUNK_BYTES])  # fmt: skip
    cache = folder / f"prose-{hashlib.sha256(key.encode()).hexdigest()[:12]}.parquet"
    if not cache.exists():
        log("listing the prose files of " + ", ".join(str(r) for r in roots))
        files: dict[str, list[Path]] = {"pool": [], "heldout": []}
        for root in roots:
            for rel, problem in walk_sources(root, PROSE_EXTENSIONS):
                if problem is None:
                    split = _split_of(f"{root.name}/{rel}", code)
                    files["heldout" if split == "heldout" else "pool"].append(root / rel)
        rng = np.random.default_rng(code.data_seed)
        rows = []
        for split, paths in files.items():
            docs: list[str] = []
            for index in rng.permutation(len(paths)):
                if len(docs) >= 4 * wanted[split]:
                    break
                path = paths[int(index)]
                if path.is_symlink():
                    continue  # never follow a link out of what we were given
                try:
                    text = path.read_bytes().decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                docs += [c for c in _chunks(text) if len(c) >= 200]
            take = np.sort(rng.choice(len(docs), size=min(len(docs), wanted[split]), replace=False))
            rows += [{"split": split, "text": docs[i]} for i in take]
        with atomic_path(cache) as tmp:
            pq.write_table(pa.Table.from_pylist(rows), tmp, compression="zstd")
    table = pq.read_table(cache)
    pool = table.filter(pc.equal(table["split"], "pool"))["text"].combine_chunks()
    heldout = table.filter(pc.equal(table["split"], "heldout"))["text"].combine_chunks()
    if len(pool) < 2 or len(heldout) < 2:
        raise LessdataError(
            f"found {len(pool)} training and {len(heldout)} held-out prose documents under "
            f"{', '.join(map(str, roots))}; the mixture needs .rst/.md/.txt files"
        )
    return pool, heldout


def _byte_sizes(texts: pa.Array) -> np.ndarray:
    return pc.binary_length(pc.cast(texts, pa.binary())).to_numpy()


def fill(sizes: np.ndarray, budget: float, rng: np.random.Generator) -> np.ndarray:
    """Rows in a seeded random order, as many as fit ``budget`` bytes (the longest prefix)."""
    order = rng.permutation(len(sizes))
    count = int(np.searchsorted(np.cumsum(sizes[order]), budget, side="right"))
    return np.sort(order[:count])


def run_code_mixture(spec: MixtureSpec, out: str | Path) -> dict[str, int]:
    """Run every (mix, seed) not yet in ``out``'s store."""
    require("torch", "the code-LM experiment", "labs")
    from lessdata.train.tiny_lm import TinyLMConfig, heldout_bits_per_byte, train_tiny_lm

    spec.check()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(spec.code, folder)
    prose, prose_heldout = build_prose(spec, folder)
    python = corpus.texts("pool")
    python_sizes, prose_sizes = _byte_sizes(python), _byte_sizes(prose)
    budget = spec.fraction * float(python_sizes.sum())
    if budget * max(map(float, spec.mixes)) > prose_sizes.sum():
        raise LessdataError(
            f"the largest mix needs {budget * max(spec.mixes):,.0f} bytes of prose; the sample "
            f"holds {int(prose_sizes.sum()):,}: raise prose_docs or lower the mixes"
        )
    config, settings = _config(spec.code)
    settings = {**settings, "fraction": spec.fraction, "prose_docs": spec.prose_docs,
                "prose_heldout_docs": spec.prose_heldout_docs}  # fmt: skip
    config = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    counts = {"done": 0, "ran": 0}
    heldout = corpus.texts("heldout")
    with ResultsStore(folder) as store:
        store.set_meta(f"code-mix/{config}", settings)
        for seed in range(spec.seeds):
            for mix in map(float, spec.mixes):
                lm = TinyLMConfig(**{**spec.code.lm, "tokens": spec.code.tokens, "seed": seed})
                key = RunKey(TASK, MODEL, lm.d_model, NO_METRIC, "mix", mix, seed, config)
                if store.done(key):
                    counts["done"] += 1
                    continue
                rng = np.random.default_rng([seed, round(mix * 1000)])
                kept_python = fill(python_sizes, (1 - mix) * budget, rng)
                kept_prose = fill(prose_sizes, mix * budget, rng) if mix > 0 else np.array([], int)
                texts = pa.concat_arrays(
                    [
                        python.take(pa.array(kept_python)),
                        prose.take(pa.array(kept_prose, pa.int64())),
                    ]
                )
                texts = texts.take(pa.array(rng.permutation(len(texts))))  # interleave the two
                log(f"mix {mix:g} seed {seed}: {len(kept_python):,} Python + "
                    f"{len(kept_prose):,} prose documents")  # fmt: skip
                trained = train_tiny_lm(
                    texts, lm, eval_texts=heldout, eval_points=spec.code.eval_points,
                    eval_tokens=spec.code.eval_tokens,
                )  # fmt: skip
                prose_bits = heldout_bits_per_byte(
                    trained.model, prose_heldout, max_tokens=spec.code.eval_tokens
                )
                metrics: dict[str, Any] = {
                    "loss": trained.history[-1][1],
                    "measure": "held-out Python bits per byte",
                    "prose_bits": prose_bits,
                    "python_bytes": int(python_sizes[kept_python].sum()),
                    "prose_bytes": int(prose_sizes[kept_prose].sum()),
                    "history": trained.history,
                    "mix": mix,
                }
                store.record(key, metrics, n_kept=len(texts), n_train=len(python))
                counts["ran"] += 1
    return counts


def summarize_mixture(rows: list[dict[str, Any]]) -> dict[float, dict[str, Any]]:
    """mix → held-out Python and prose bits/byte over seeds (mean, 95% t-interval)."""
    from lessdata.labs.icl.findings import seed_stat

    groups: dict[float, list[dict[str, Any]]] = {}
    for row in rows:
        if row["task"] == TASK and row["status"] == "ok":
            groups.setdefault(float(row["keep"]), []).append(row)
    return {
        mix: {
            "python": seed_stat([float(r["loss"]) for r in members]),
            "prose": seed_stat([float(r["prose_bits"]) for r in members]),
            "python_bytes": float(np.mean([r["python_bytes"] for r in members])),
            "prose_bytes": float(np.mean([r["prose_bytes"] for r in members])),
        }
        for mix, members in sorted(groups.items())
    }


def write_mixture_report(out: str | Path) -> dict[str, Path]:
    """``code_mix.png`` (held-out Python and prose bits/byte against the prose share) and
    ``code_mix.json``."""
    from lessdata.labs.icl.plotting import plt as pyplot
    from lessdata.labs.icl.plotting import png

    folder = Path(out)
    with ResultsStore(folder) as store:
        summary = summarize_mixture(store.rows())
    if not summary:
        raise LessdataError(f"{folder}: no mixture runs; run `lessdata scale code-mix` first")
    fig, axes = pyplot().subplots(1, 2, figsize=(9, 3.4))
    mixes = np.array(sorted(summary))
    for ax, what, title in ((axes[0], "python", "held-out Python"),
                            (axes[1], "prose", "held-out prose")):  # fmt: skip
        mean = np.array([summary[m][what].mean for m in mixes])
        low = np.array([summary[m][what].low for m in mixes])
        high = np.array([summary[m][what].high for m in mixes])
        ax.plot(mixes, mean, "o-", color="#9467bd")
        if np.isfinite(low).all():
            ax.fill_between(mixes, low, high, color="#9467bd", alpha=0.2, lw=0)
        ax.set_xlabel("share of the byte budget given to prose")
        ax.set_ylabel("bits per byte")
        ax.set_title(title, fontsize=10)
    paths = {"png": folder / "code_mix.png", "json": folder / "code_mix.json"}
    with atomic_path(paths["png"]) as tmp:
        tmp.write_bytes(png(fig))
    data = {str(m): {k: (v.__dict__ if hasattr(v, "__dict__") else v) for k, v in s.items()}
            for m, s in summary.items()}  # fmt: skip
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(dumps_standard(data, indent=1))
    return paths
