"""Benchmark: the text encoders (static, minilm, tfidf): speed per core, and agreement.

One run, one core (the process is pinned to CPU 0; torch, BLAS, OpenMP and the tokenizers
use one thread; speeds are CPU time of the process, so that a machine shared with other
work measures per-core work), the same documents for every encoder:

1. **Speed**: documents per second of each encoder on code documents of 1,800 characters
   (consecutive slices of the standard library's ``.py`` files), after a warm-up; the
   static encoder's one-time distillation is timed separately. MiniLM runs on the first
   ``--minilm-docs`` documents only (it is ~100x slower).
2. **End to end**: ``lessdata.dedup(texts, method="semantic", encoder=E)`` on the same
   documents (embedding + k-means + SemDeDup), documents per second.
3. **Agreement on a labelled set** (``labelled_duplicates.build``: real code with renamed
   identifiers, reformatting, reordered statements and added comments; real prose with
   reordered or dropped sentences and re-wrapped lines; distinct functions and paragraphs
   as negatives). For each encoder, SemDeDup's removals at the default ``eps`` 0.05 and at a
   target size (``keep`` = documents - labelled pairs): precision (removed documents whose
   ``duplicate_of`` is their labelled partner) and recall (labelled pairs with one member
   removed as the other's duplicate); then the agreement of ``static``'s and ``tfidf``'s
   removals with ``minilm``'s (the share of documents given the same keep/remove decision,
   and the Jaccard index of the two removal sets), and of the ``prototypes`` rankings
   (Spearman's rho; overlap of the 50% each keeps with keep-hard).

Usage::

    python benchmarks/bench_text_encoders.py                    # about 4 minutes
    python benchmarks/bench_text_encoders.py --docs 2000 --minilm-docs 100 --pairs 100

Writes ``benchmarks/results/text_encoders.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("LESSDATA_QUIET", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from labelled_duplicates import build  # noqa: E402

import lessdata  # noqa: E402
from lessdata.duplicates.semdedup import most_redundant, redundancy, semantic_duplicates  # noqa: E402
from lessdata.embed import embed_texts, get_encoder  # noqa: E402
from lessdata.metrics import prototypes  # noqa: E402

ENCODERS = ("static", "minilm", "tfidf")
CHARS = 1_800


def code_documents(n: int) -> list[str]:
    """``n`` slices of 1,800 characters of the standard library's sources, in file order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs: list[str] = []
    for path in sorted(root.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for start in range(0, len(text) - CHARS + 1, CHARS):
            docs.append(text[start : start + CHARS])
            if len(docs) >= n:
                return docs
    return docs


def rate(fn: Any, docs: list[str]) -> float:
    fn(docs[: min(32, len(docs))])  # warm-up: load the model
    start = time.process_time()  # CPU time: one thread, so per-core work on a shared machine
    fn(docs)
    return len(docs) / (time.process_time() - start)


def removals_quality(removed: np.ndarray, duplicate_of: np.ndarray,
                     pairs: np.ndarray) -> dict[str, float]:  # fmt: skip
    partner = np.full(len(removed), -1)
    partner[pairs[:, 0]], partner[pairs[:, 1]] = pairs[:, 1], pairs[:, 0]
    correct = removed & (duplicate_of == partner) & (partner >= 0)
    found = correct[pairs[:, 0]] | correct[pairs[:, 1]]
    return {
        "removed": int(removed.sum()),
        "precision": float(correct.sum() / max(removed.sum(), 1)),
        "recall": float(found.mean()),
    }


def links(removed: np.ndarray, duplicate_of: np.ndarray) -> set[tuple[int, int]]:
    """The duplicate links an encoder found: {removed row, the row it duplicates}."""
    rows = np.flatnonzero(removed & (duplicate_of >= 0))
    pairs = zip(rows.tolist(), duplicate_of[rows].tolist(), strict=True)
    return {(min(i, j), max(i, j)) for i, j in pairs}


def agreement(a: np.ndarray, b: np.ndarray, links_a: set, links_b: set) -> dict[str, float]:
    """Same keep/remove decision per document, Jaccard of the removal sets, and F1 of the
    duplicate links (which pairs each found, whichever member it removed)."""
    union = (a | b).sum()
    both = len(links_a & links_b)
    return {
        "same_decision": float((a == b).mean()),
        "removal_jaccard": float((a & b).sum() / union) if union else 1.0,
        "link_f1": 2 * both / (len(links_a) + len(links_b)) if links_a or links_b else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--minilm-docs", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=500, help="labelled pairs (3:2 code:prose)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/text_encoders.json"))
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import torch

    torch.set_num_threads(1)
    cache = Path(tempfile.mkdtemp(prefix="bench-encoders-"))
    fig: dict[str, Any] = {"cpu_count_used": 1, "torch_threads": torch.get_num_threads()}

    start = time.perf_counter()
    get_encoder("static", cache_dir=cache).name  # noqa: B018  (distils once)
    fig["static_distill_s"] = time.perf_counter() - start
    print(f"static encoder distilled from the packaged MiniLM in {fig['static_distill_s']:.1f} s")

    docs = code_documents(args.docs)
    print(f"speed corpus: {len(docs):,} code documents of {CHARS:,} characters (stdlib)")
    speed: dict[str, float] = {}
    for name in ENCODERS:
        chosen = get_encoder(name, cache_dir=cache)
        part = docs[: args.minilm_docs] if name == "minilm" else docs
        speed[name] = rate(lambda t, c=chosen: embed_texts(t, c, use_cache=False), part)
        print(f"  {name:7s} {speed[name]:10,.0f} docs/s on one core ({len(part):,} docs)")
    fig["docs_per_s"] = speed
    fig["speed_docs"] = len(docs)

    start = time.process_time()
    result = lessdata.dedup(docs, method="semantic", encoder="static", cache_dir=cache)
    e2e = time.process_time() - start
    fig["end_to_end_static_docs_per_s"] = len(docs) / e2e
    print(
        f"end to end: dedup(semantic, encoder=static) on {len(docs):,} docs in {e2e:.1f} s "
        f"→ {len(docs) / e2e:,.0f} docs/s on one core ({len(docs) - result.n_kept} removed)"
    )

    labelled = build(code_pairs=args.pairs * 3 // 5, prose_pairs=args.pairs * 2 // 5,
                     negatives=args.pairs, seed=0)  # fmt: skip
    texts, pairs = labelled.texts, np.array(labelled.pairs)
    n = len(texts)
    edits = ", ".join(sorted(set(labelled.edits)))
    print(f"\nlabelled set: {n:,} documents, {len(pairs)} pairs ({edits})")
    fig["labelled"] = {"documents": n, "pairs": len(pairs)}
    removed_at: dict[str, dict[str, np.ndarray]] = {}
    found_links: dict[str, dict[str, set]] = {}
    scores: dict[str, np.ndarray] = {}
    quality: dict[str, Any] = {}
    for name in ENCODERS:
        x = np.asarray(embed_texts(texts, get_encoder(name, cache_dir=cache), use_cache=False))
        # the same seeded walk order in every space (survivor random), so that the encoders
        # remove the same member of a pair they all find
        found = semantic_duplicates(x, eps=0.05, seed=0, survivor="random")
        eps_removed = found.duplicate_of >= 0
        red = redundancy(x, seed=0, survivor="random")
        size_removed = most_redundant(red.similarity, red.rank, len(pairs))
        size_dup = np.where(size_removed, red.nearest, -1)
        removed_at[name] = {"eps": eps_removed, "size": size_removed}
        found_links[name] = {
            "eps": links(eps_removed, found.duplicate_of),
            "size": links(size_removed, size_dup),
        }
        scores[name] = prototypes(x, seed=0)
        quality[name] = {
            "eps_0.05": removals_quality(eps_removed, found.duplicate_of, pairs),
            "target_size": removals_quality(size_removed, size_dup, pairs),
            "threshold_at_target": float(red.similarity[size_removed].min()),
        }
        q = quality[name]
        print(
            f"  {name:7s} eps 0.05: removed {q['eps_0.05']['removed']:4d}, precision "
            f"{q['eps_0.05']['precision']:.3f}, recall {q['eps_0.05']['recall']:.3f} | "
            f"keep {n - len(pairs)}: precision {q['target_size']['precision']:.3f}, recall "
            f"{q['target_size']['recall']:.3f} (threshold {q['threshold_at_target']:.3f})"
        )
    fig["quality"] = quality
    fig["agreement_with_minilm"] = {}
    for name in ("static", "tfidf"):
        a: dict[str, Any] = {
            mode: agreement(
                removed_at[name][mode],
                removed_at["minilm"][mode],
                found_links[name][mode],
                found_links["minilm"][mode],
            )
            for mode in ("eps", "size")
        }
        rho = float(spearmanr(scores[name], scores["minilm"]).statistic)
        top = lambda s: set(np.argsort(-s, kind="stable")[: n // 2].tolist())  # noqa: E731
        overlap = len(top(scores[name]) & top(scores["minilm"])) / (n // 2)
        a["prototypes"] = {"spearman": rho, "keep_hard_50_overlap": overlap}
        fig["agreement_with_minilm"][name] = a
        for mode, label in (("eps", "eps 0.05"), ("size", "target size")):
            m = a[mode]
            print(
                f"  {name} vs minilm at {label}: same decision {m['same_decision']:.3f}, "
                f"removal Jaccard {m['removal_jaccard']:.3f}, link F1 {m['link_f1']:.3f}"
            )
        print(
            f"  {name} vs minilm prototypes: Spearman {rho:.3f}, "
            f"keep-hard 50% overlap {overlap:.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fig, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
