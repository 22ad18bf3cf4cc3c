"""Benchmark: MinHash + LSH near-duplicate detection on 100,000 real Python functions and classes.

The corpus is the top-level functions and classes (found with ``ast``) of the ``.py`` files of
the installed standard library and of this virtual environment's site-packages, read in
sorted path order (standard library first); files that do not parse are skipped. One run
prints, single-threaded:

1. the throughput of ``minhash_signatures`` (docs/s on one core), next to datasketch's
   ``MinHash.bulk(num_perm=256)`` with a shingler as fast as Python allows
   (``bench_minhash_peers.py``, which also runs rensa), both timed on the same subsample in
   this run;
2. the time of LSH banding, the similarity filter and the connected components;
3. the quality of what was found, against exact Jaccard similarity of the shingle sets:
   precision of the reported pairs, recall (i) among LSH candidate pairs and (ii) against a
   brute-force exact all-pairs check on a random subsample of the corpus.

Usage::

    python benchmarks/bench_minhash.py                 # 100k docs, a few minutes
    python benchmarks/bench_minhash.py --docs 10000    # smoke test
"""

from __future__ import annotations

import os

# single-threaded: set before NumPy / SciPy load their thread pools
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("LESSDATA_QUIET", "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sysconfig  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy import sparse  # noqa: E402

from lessdata.duplicates import lsh  # noqa: E402
from lessdata.duplicates import minhash as mh  # noqa: E402

THRESHOLD = lsh.DEFAULT_THRESHOLD
ANCHOR = (
    "anchor: text-dedup (ChenghaoMou/text-dedup) reports MinHash F1 0.95 on the CORE near-dup "
    "benchmark at ~1.5k docs/s per process (a different, labelled corpus of papers)"
)


# --- corpus -----------------------------------------------------------------------------


def python_files() -> list[Path]:
    """The stdlib's .py files (without its site-packages), then the venv's, each sorted."""
    paths = sysconfig.get_paths()
    stdlib, purelib = Path(paths["stdlib"]), Path(paths["purelib"])
    std = sorted(
        p for p in stdlib.rglob("*.py") if "site-packages" not in p.relative_to(stdlib).parts
    )
    return std + sorted(purelib.rglob("*.py"))


def load_corpus(limit: int) -> tuple[list[str], int, int]:
    """The first ``limit`` top-level functions/classes; returns (docs, files read, skipped)."""
    docs: list[str] = []
    read = skipped = 0
    for path in python_files():
        try:
            source = path.read_text(encoding="utf-8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            skipped += 1
            continue
        read += 1
        lines = source.splitlines(keepends=True)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                docs.append("".join(lines[first - 1 : node.end_lineno]))
        if len(docs) >= limit:
            break
    return docs[:limit], read, skipped


# --- baselines and checks ---------------------------------------------------------------


def datasketch_rate(docs: list[str], per_shingle_docs: int) -> dict[str, float]:
    """docs/s (CPU time) of datasketch's fastest documented call, ``MinHash.bulk``, text in.

    Its shingles come from ``bench_minhash_peers.shingle_bytes`` (a byte ``translate`` +
    ``split`` + ``zip``: as fast as Python allows, the same sets as lessdata's), timed with
    it. Also the classic one-``update``-per-shingle loop on the first ``per_shingle_docs``.
    """
    from bench_minhash_peers import shingle_bytes
    from datasketch import MinHash

    start = time.process_time()
    shingle_lists = [shingle_bytes(t) for t in docs]
    shingle_s = time.process_time() - start
    start = time.process_time()
    MinHash.bulk(shingle_lists, num_perm=mh.DEFAULT_NUM_PERM)
    bulk_s = time.process_time() - start
    start = time.process_time()
    for items in shingle_lists[:per_shingle_docs]:
        m = MinHash(num_perm=mh.DEFAULT_NUM_PERM)
        for item in items:
            m.update(item)
    single_s = time.process_time() - start
    return {
        "shingle_s": shingle_s,
        "bulk_s": bulk_s,
        "docs_per_s": len(docs) / (shingle_s + bulk_s),
        "per_shingle_docs_per_s": per_shingle_docs
        / (single_s + shingle_s * per_shingle_docs / len(docs)),
    }


def brute_force_pairs(docs: list[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of ``rows`` that share a shingle, with their exact Jaccard similarity.

    A sparse (docs x shingles) incidence matrix times its transpose gives every pair's
    intersection size; pairs sharing nothing have Jaccard 0 and are left out.
    """
    vocab: dict[str, int] = {}
    ind_rows, ind_cols = [], []
    for k, row in enumerate(rows):
        for s in mh.shingles(docs[row]):
            ind_rows.append(k)
            ind_cols.append(vocab.setdefault(s, len(vocab)))
    x = sparse.csr_matrix(
        (np.ones(len(ind_rows), dtype=np.int32), (ind_rows, ind_cols)),
        shape=(len(rows), len(vocab)),
    )
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    size = np.asarray(x.sum(axis=1)).ravel()
    jac = inter.data / (size[inter.row] + size[inter.col] - inter.data)
    pairs = np.stack((rows[inter.row], rows[inter.col]), axis=1)
    return pairs, jac


def rate(part: int, whole: int) -> float:
    """part / whole, NaN when whole is 0."""
    return part / whole if whole else float("nan")


# --- main -------------------------------------------------------------------------------


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--baseline-docs", type=int, default=2_000)
    parser.add_argument("--per-shingle-docs", type=int, default=500)
    parser.add_argument("--brute-docs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    fig: dict[str, Any] = {"docs_requested": args.docs}

    start = time.perf_counter()
    docs, read, skipped = load_corpus(args.docs)
    n = len(docs)
    chars = sum(map(len, docs))
    print(
        f"corpus: {n:,} top-level functions/classes from {read:,} .py files "
        f"({skipped} unparsable skipped) of the stdlib + venv site-packages; "
        f"{chars / 1e6:.1f}M chars; loaded in {time.perf_counter() - start:.0f} s"
    )
    print(
        f"settings: ngram={mh.DEFAULT_NGRAM}, num_perm={mh.DEFAULT_NUM_PERM}, "
        f"threshold={THRESHOLD}, bands x rows = {lsh.optimal_bands(THRESHOLD, 256)}"
    )

    # 1. signatures, single-threaded
    mh.minhash_signatures(docs[:200])  # warm-up (imports, caches)
    wall, cpu = time.perf_counter(), time.process_time()
    sig = mh.minhash_signatures(docs, seed=args.seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # per-core rate from CPU time: on a shared machine the wall clock counts other work
    fig.update(n=n, signature_s=wall, signature_cpu_s=cpu, docs_per_s=n / cpu)
    print(
        f"\nminhash_signatures: {wall:.1f} s wall, {cpu:.1f} s CPU (CPU/wall "
        f"{cpu / wall:.2f}; one thread) -> {n / cpu:,.0f} docs/s per core (CPU time)"
    )

    sub = np.linspace(0, n - 1, min(args.baseline_docs, n)).astype(np.int64)
    sub_docs = [docs[i] for i in sub]
    t = time.process_time()
    mh.minhash_signatures(sub_docs, seed=args.seed)
    ours_sub = len(sub_docs) / (time.process_time() - t)
    ds = datasketch_rate(sub_docs, min(args.per_shingle_docs, len(sub_docs)))
    fig.update(subsample_docs=len(sub_docs), ours_subsample_docs_per_s=ours_sub, datasketch=ds)
    print(
        f"same {len(sub_docs):,}-doc subsample (evenly spaced), CPU time: lessdata "
        f"{ours_sub:,.0f} docs/s; datasketch MinHash.bulk(num_perm=256) "
        f"{ds['docs_per_s']:,.0f} docs/s (fast shingling {ds['shingle_s']:.2f} s + hashing "
        f"{ds['bulk_s']:.2f} s) -> {ours_sub / ds['docs_per_s']:.1f}x; "
        f"one update() per shingle {ds['per_shingle_docs_per_s']:,.0f} docs/s -> "
        f"{ours_sub / ds['per_shingle_docs_per_s']:.0f}x"
    )

    # 2. LSH, similarity filter, components
    bands, rows = lsh.optimal_bands(THRESHOLD, mh.DEFAULT_NUM_PERM)
    t0 = time.perf_counter()
    cand = lsh.lsh_candidate_pairs(sig, bands, rows)
    t1 = time.perf_counter()
    est = mh.estimated_jaccard(sig, cand)
    edges = cand[est >= THRESHOLD]
    t2 = time.perf_counter()
    lsh.connected_components(n, edges)
    t3 = time.perf_counter()
    result = lsh.near_duplicates(docs, signatures=sig, seed=args.seed)
    t4 = time.perf_counter()
    removed = int((result.duplicate_of >= 0).sum())
    groups = int(result.cluster.max() + 1)
    fig.update(
        lsh_s=t1 - t0,
        filter_s=t2 - t1,
        components_s=t3 - t2,
        near_duplicates_s=t4 - t3,
        candidate_pairs=len(cand),
        edges=len(edges),
        removed=removed,
        groups=groups,
    )
    print(
        f"\nLSH banding {t1 - t0:.2f} s -> {len(cand):,} candidate pairs; similarity filter "
        f"{t2 - t1:.3f} s -> {len(edges):,} pairs >= {THRESHOLD}; components "
        f"{t3 - t2:.3f} s"
    )
    print(
        f"near_duplicates(signatures=...) end to end after signatures: {t4 - t3:.2f} s; "
        f"{groups:,} duplicate groups, {removed:,} rows removed ({removed / n:.1%})"
    )

    # 3a. precision and recall (i) on the LSH candidate pairs
    t = time.perf_counter()
    exact = mh.pair_jaccard(docs, cand)
    reported = est >= THRESHOLD
    true = exact >= THRESHOLD
    precision = rate(int((reported & true).sum()), int(reported.sum()))
    recall_cand = rate(int((reported & true).sum()), int(true.sum()))
    mae = float(np.abs(est - exact).mean()) if len(cand) else float("nan")
    fig.update(edge_precision=precision, recall_among_candidates=recall_cand, candidate_mae=mae)
    print(
        f"\nexact Jaccard of all {len(cand):,} candidate pairs ({time.perf_counter() - t:.1f} s)"
        f": mean |estimate - exact| = {mae:.4f}"
    )
    print(
        f"  precision of reported pairs (estimate >= {THRESHOLD}): "
        f"{int((reported & true).sum()):,}/{int(reported.sum()):,} = {precision:.4f} have "
        f"exact J >= {THRESHOLD}"
    )
    print(
        f"  recall (i), among LSH candidates only: {int((reported & true).sum()):,}/"
        f"{int(true.sum()):,} = {recall_cand:.4f} of candidates with exact J >= {THRESHOLD} "
        f"are reported (pairs LSH never proposed are not counted here)"
    )

    # 3b. recall (ii): brute force on a random subsample
    rng = np.random.default_rng(args.seed)
    rows_sub = np.sort(rng.choice(n, size=min(args.brute_docs, n), replace=False))
    t = time.perf_counter()
    pairs, jac = brute_force_pairs(docs, rows_sub)
    brute_s = time.perf_counter() - t
    c = result.cluster
    together = (c[pairs[:, 0]] == c[pairs[:, 1]]) & (c[pairs[:, 0]] >= 0)
    positive = jac >= THRESHOLD
    recall_bf = rate(int((together & positive).sum()), int(positive.sum()))
    clear = jac >= THRESHOLD + 0.05
    recall_clear = rate(int((together & clear).sum()), int(clear.sum()))
    # co-clustered pairs of the subsample (pairs sharing no shingle have J = 0)
    labels = c[rows_sub]
    counts = np.bincount(labels[labels >= 0])
    co_pairs = int((counts * (counts - 1) // 2).sum())
    comp_precision = rate(int((together & positive).sum()), co_pairs)
    f1 = 2 * comp_precision * recall_bf / (comp_precision + recall_bf)
    fig.update(
        brute_docs=len(rows_sub),
        brute_pairs_positive=int(positive.sum()),
        recall_brute_force=recall_bf,
        recall_brute_force_clear=recall_clear,
        component_precision=comp_precision,
        component_f1=f1,
    )
    print(
        f"\nrecall (ii), brute force: exact Jaccard of all pairs of {len(rows_sub):,} random "
        f"docs ({brute_s:.1f} s): {int(positive.sum()):,} pairs with J >= {THRESHOLD}; "
        f"{int((together & positive).sum()):,} in one duplicate group of the full run -> "
        f"recall {recall_bf:.4f} (J >= {THRESHOLD + 0.05:.2f}: {recall_clear:.4f})"
    )
    print(
        f"  same subsample, pairs in one group: {co_pairs:,}, of which exact J >= "
        f"{THRESHOLD}: {comp_precision:.4f} (group-level precision; chains a~b~c put a, c "
        f"together) -> F1 {f1:.3f}"
    )
    print(f"\n{ANCHOR}")
    print(
        f"this run: {n / cpu:,.0f} docs/s per core (CPU time); pair precision {precision:.3f}, "
        f"brute-force recall {recall_bf:.3f}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    fig["peak_rss_gb"] = peak
    print(f"peak RSS {peak:.2f} GB (includes the corpus and the exact-Jaccard checks)")

    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "bench_minhash.json").write_text(json.dumps(fig, indent=2))


if __name__ == "__main__":
    main()
