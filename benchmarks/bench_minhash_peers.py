"""Benchmark: lessdata's MinHash signatures beside rensa and datasketch, on one core.

Same documents (real Python functions and classes, ``bench_minhash.load_corpus``), same
shingles (lowercased word 5-grams: ``lessdata.duplicates.minhash.shingles``), same number
of permutations (256), one core (the process is pinned to one CPU, BLAS/OpenMP one thread),
in one run:

- **lessdata**: ``minhash_signatures(texts)`` (its time includes its own tokenising);
- **rensa** ``RMinHash`` (``digest_matrix_from_token_sets``, its bulk API) and
  ``CMinHash`` (``digests_from_token_sets``), fed the shingle lists;
- **datasketch** ``MinHash(num_perm=256).update_batch`` per document.

The peers take tokens, not texts, so their time is printed twice: hashing only (the
shingles handed to them for free) and text to signature (plus the Python shingling they
need, ``shingles()``, timed once and added to each).

Quality, against exact Jaccard of the shingle sets: all pairs of a random subsample
(``--quality-docs``) are compared by brute force; each tool's signatures go through the
same LSH (25 bands x 10 rows, BigCode's banding for threshold 0.7) and the same filter
(estimated Jaccard >= 0.7). Pair precision = reported pairs whose exact J >= 0.7; recall =
pairs with exact J >= 0.7 whose documents end up in one duplicate group (connected
components of the reported pairs; identical signatures are linked as a star, not all
pairs).

Usage::

    python benchmarks/bench_minhash_peers.py                 # 20,000 docs, about 1 minute
    python benchmarks/bench_minhash_peers.py --docs 3000 --quality-docs 1000

Writes ``benchmarks/results/minhash_peers.json``. Needs the benchmark extra
(``pip install -e '.[bench]'``: rensa, datasketch).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("LESSDATA_QUIET", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_minhash import brute_force_pairs, load_corpus  # noqa: E402

from lessdata.duplicates import lsh  # noqa: E402
from lessdata.duplicates import minhash as mh  # noqa: E402

NUM_PERM = 256
THRESHOLD = 0.7


def peers() -> dict[str, Any]:
    """The peers' signature functions: shingle lists → (n, NUM_PERM) uint32."""
    try:
        import datasketch
        import rensa
    except ImportError as exc:
        raise SystemExit(f"{exc}: install the benchmark extra: pip install -e '.[bench]'") from None

    def rensa_r(sets: list[list[str]]) -> np.ndarray:
        matrix = rensa.RMinHash.digest_matrix_from_token_sets(sets, num_perm=NUM_PERM, seed=0)
        return np.asarray(matrix.to_rows(), dtype=np.uint32)

    def rensa_c(sets: list[list[str]]) -> np.ndarray:
        digests = rensa.CMinHash.digests_from_token_sets(sets, num_perm=NUM_PERM, seed=0)
        return np.asarray(digests, dtype=np.uint32)

    def datasketch_mh(sets: list[list[str]]) -> np.ndarray:
        out = np.empty((len(sets), NUM_PERM), dtype=np.uint32)
        for i, items in enumerate(sets):
            m = datasketch.MinHash(num_perm=NUM_PERM, seed=1)
            m.update_batch([s.encode("utf-8") for s in items])
            out[i] = m.hashvalues  # values below 2^32 (datasketch's max hash)
        return out

    return {"rensa RMinHash": rensa_r, "rensa CMinHash": rensa_c, "datasketch": datasketch_mh}


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def pair_quality(sig: np.ndarray, docs: list[str], positives: set) -> dict[str, float]:
    """Pairs reported by LSH + the estimate filter, against exact Jaccard."""
    bands, rows = lsh.optimal_bands(THRESHOLD, NUM_PERM)
    cand = lsh.lsh_candidate_pairs(sig, bands, rows)
    reported = cand[mh.estimated_jaccard(sig, cand) >= THRESHOLD]
    exact = mh.pair_jaccard(docs, reported) if len(reported) else np.empty(0)
    true = int((exact >= THRESHOLD).sum())
    # identical signatures are linked as a star: a positive pair is found when both of its
    # documents end up in one duplicate group
    group = lsh.connected_components(len(docs), reported)
    found = sum(group[i] == group[j] for i, j in positives)
    return {
        "reported": len(reported),
        "precision": true / len(reported) if len(reported) else float("nan"),
        "recall": found / len(positives) if positives else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--quality-docs", type=int, default=5_000)
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: last)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/minhash_peers.json"))
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1] if args.cpu is None else args.cpu})
    functions = peers()
    docs, _, _ = load_corpus(args.docs)
    n = len(docs)
    print(f"{n:,} Python functions/classes, word 5-gram shingles, {NUM_PERM} permutations, 1 core")
    fig: dict[str, Any] = {"docs": n, "num_perm": NUM_PERM, "ngram": 5}

    mh.minhash_signatures(docs[:100])  # warm-up
    ours, ours_s = timed(mh.minhash_signatures, docs)
    sets, shingle_s = timed(lambda d: [sorted(mh.shingles(t)) for t in d], docs)
    rates = {"lessdata": {"text_to_signature": n / ours_s}}
    print(f"  python shingling for the peers: {shingle_s:.2f} s ({n / shingle_s:,.0f} docs/s)")
    print(f"  {'lessdata':16s} text→signature {n / ours_s:9,.0f} docs/s")
    signatures = {"lessdata": ours}
    for name, fn in functions.items():
        fn(sets[:50])  # warm-up
        sig, hash_s = timed(fn, sets)
        signatures[name] = sig
        rates[name] = {"hashing_only": n / hash_s, "text_to_signature": n / (hash_s + shingle_s)}
        print(
            f"  {name:16s} text→signature {n / (hash_s + shingle_s):9,.0f} docs/s; hashing only "
            f"(shingles given) {n / hash_s:9,.0f} docs/s"
        )
    fig["docs_per_s_one_core"] = rates
    fastest = max((v["text_to_signature"], k) for k, v in rates.items() if k != "lessdata")
    fastest_hash = max((v["hashing_only"], k) for k, v in rates.items() if k != "lessdata")
    fig["lessdata_vs_fastest_peer"] = {
        "text_to_signature": rates["lessdata"]["text_to_signature"] / fastest[0],
        "vs_hashing_only": rates["lessdata"]["text_to_signature"] / fastest_hash[0],
        "fastest_peer": fastest[1],
    }
    print(
        f"  lessdata / fastest peer ({fastest[1]}), text→signature: "
        f"{fig['lessdata_vs_fastest_peer']['text_to_signature']:.2f}x; against {fastest_hash[1]}"
        f"'s hashing alone: {fig['lessdata_vs_fastest_peer']['vs_hashing_only']:.2f}x"
    )

    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(n, size=min(args.quality_docs, n), replace=False))
    sub = [docs[i] for i in rows]
    pairs, jac = brute_force_pairs(sub, np.arange(len(sub)))
    positives = {tuple(p) for p in pairs[jac >= THRESHOLD].tolist()}
    print(f"\nquality on {len(sub):,} random docs: {len(positives):,} pairs with exact J >= 0.7")
    fig["quality"] = {"docs": len(sub), "positives": len(positives)}
    for name, sig in signatures.items():
        q = pair_quality(np.ascontiguousarray(sig[rows]), sub, positives)
        fig["quality"][name] = q
        print(
            f"  {name:16s} reported {q['reported']:5,d} pairs: precision {q['precision']:.3f}, "
            f"recall {q['recall']:.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fig, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
