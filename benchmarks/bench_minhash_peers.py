"""Benchmark: lessdata's MinHash signatures beside rensa and datasketch, text in, one core.

Every arm turns the same texts (real Python functions and classes,
``bench_minhash.load_corpus``) into (n, 256) signatures of the same shingle sets (lowercased
word 5-grams, lessdata's definition, :func:`lessdata.duplicates.minhash.shingles`), in one
process pinned to one CPU (BLAS, OpenMP and Rayon at one thread), timed as CPU time of the
process (``time.process_time``: a shared machine's other work is not counted), the fastest
of ``--repeats`` interleaved runs, Python's garbage collector off in every arm.

The peers take shingles, not text, so each is handed a shingler written here to be as fast
as Python allows, and timed with it (the old version of this script charged every peer for
lessdata's own ``sorted(shingles(t))``): the tokens of an ASCII text come from one byte
``translate`` and ``split`` (a regex for other text), the 5-grams from one ``zip``, as a
list (every peer treats repeats as one, and a list is cheaper than a set); for the
pre-hashed APIs, Python's ``hash`` of the 5-token tuples. That the shingle sets equal
lessdata's is checked on every document before timing. Each peer gets every documented fast
call, and the fastest is its figure:

- **rensa** (0.5): ``RMinHash.digest_matrix_from_token_sets`` (bulk, one compact matrix),
  ``RMinHash.digest_matrix_from_token_hash_sets`` (bulk, pre-hashed shingles), one
  ``RMinHash`` per document (``update`` + ``digest``), ``CMinHash.digests_from_token_sets``;
- **datasketch**: ``MinHash.bulk`` with its default SHA-1 and with ``hashfunc`` =
  ``xxhash.xxh32_intdigest`` (the documented way to swap the hash), on a subsample
  (``--datasketch-docs``), as docs/s.

Quality, against exact Jaccard of the shingle sets on ``--quality-docs`` random documents
(all pairs by brute force), for each algorithm over ``--seeds`` seeds (mean and range):

- the estimator: RMSE of the estimate against exact Jaccard over pairs with J in
  [0.4, 0.95), beside the theory of 256 independent permutations, sqrt(J(1-J)/256);
  and the share of pairs with exact J >= 0.7 whose estimate reaches 0.7;
- the pipeline: LSH (25 bands x 10 rows, BigCode's banding for 0.7) + estimate >= 0.7;
  precision = reported pairs with exact J >= 0.7; recall = pairs with exact J >= 0.7 whose
  documents end up in one duplicate group (connected components). One missed edge can split
  a large group of near-identical functions, so recall moves by several points from seed to
  seed for every tool: the mean over seeds is the comparable figure.

Usage::

    python benchmarks/bench_minhash_peers.py                 # 20,000 docs, a few minutes
    python benchmarks/bench_minhash_peers.py --docs 3000 --quality-docs 1000 --seeds 2

Writes ``benchmarks/results/minhash_peers.json``. Needs the benchmark extra
(``pip install -e '.[bench]'``: rensa, datasketch).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("LESSDATA_QUIET", "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_minhash import brute_force_pairs, load_corpus  # noqa: E402

from lessdata.duplicates import lsh  # noqa: E402
from lessdata.duplicates import minhash as mh  # noqa: E402

NUM_PERM = 256
THRESHOLD = 0.7
NGRAM = 5

# --- the peers' shingler: as fast as Python allows ------------------------------------

#: lower-cases ASCII letters, keeps [a-z0-9_], every other byte a space (``\w`` on ASCII)
_WORD_BYTES = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95) else 32
    for c in range(256)
)
_NON_WORD = re.compile(r"\W+")
_MASK64 = (1 << 64) - 1


def _tokens(text: str) -> list[bytes]:
    if text.isascii():
        return text.encode("ascii").translate(_WORD_BYTES).split()
    return _NON_WORD.sub(" ", text.lower()).encode("utf-8", "surrogatepass").split()


def shingle_bytes(text: str) -> list[bytes]:
    """The word 5-grams of ``text`` as bytes (repeats kept: the peers ignore them)."""
    toks = _tokens(text)
    if len(toks) < NGRAM:
        return [b" ".join(toks)]
    return list(map(b" ".join, zip(toks, toks[1:], toks[2:], toks[3:], toks[4:], strict=False)))


def shingle_hashes(text: str) -> list[int]:
    """Python's 64-bit ``hash`` of each 5-gram's token tuple (for pre-hashed APIs)."""
    toks = _tokens(text)
    if len(toks) < NGRAM:
        return [hash(tuple(toks)) & _MASK64]
    grams = zip(toks, toks[1:], toks[2:], toks[3:], toks[4:], strict=False)
    return [h & _MASK64 for h in map(hash, grams)]


def check_shingles(docs: list[str]) -> None:
    """The peers' shingle sets are lessdata's, on every document."""
    for text in docs:
        ours = mh.shingles(text, NGRAM)
        theirs = {s.decode("utf-8", "surrogatepass") for s in shingle_bytes(text)}
        if ours != theirs or len(set(shingle_hashes(text))) != len(ours):
            raise SystemExit(f"shingle sets differ on a document: {text[:80]!r}")


# --- the arms: text -> (n, NUM_PERM) uint32 ------------------------------------------


def arms(seed: int) -> dict[str, Callable[[list[str]], np.ndarray]]:
    """Every arm, text in, signatures out (the peers' shingling included)."""
    try:
        import rensa
    except ImportError as exc:
        raise SystemExit(f"{exc}: install the benchmark extra: pip install -e '.[bench]'") from None

    def rensa_matrix(docs: list[str]) -> np.ndarray:
        sets = [shingle_bytes(t) for t in docs]
        matrix = rensa.RMinHash.digest_matrix_from_token_sets(sets, num_perm=NUM_PERM, seed=seed)
        return np.asarray(matrix.to_rows(), dtype=np.uint32)

    def rensa_matrix_hashed(docs: list[str]) -> np.ndarray:
        sets = [shingle_hashes(t) for t in docs]
        matrix = rensa.RMinHash.digest_matrix_from_token_hash_sets(
            sets, num_perm=NUM_PERM, seed=seed
        )
        return np.asarray(matrix.to_rows(), dtype=np.uint32)

    def rensa_per_document(docs: list[str]) -> np.ndarray:
        out = np.empty((len(docs), NUM_PERM), dtype=np.uint32)
        for i, text in enumerate(docs):
            m = rensa.RMinHash(NUM_PERM, seed)
            m.update(shingle_bytes(text))
            out[i] = m.digest()
        return out

    def rensa_c(docs: list[str]) -> np.ndarray:
        sets = [shingle_bytes(t) for t in docs]
        digests = rensa.CMinHash.digests_from_token_sets(sets, num_perm=NUM_PERM, seed=seed)
        return np.asarray(digests, dtype=np.uint32)

    return {
        "lessdata": lambda docs: mh.minhash_signatures(docs, num_perm=NUM_PERM, seed=seed),
        "rensa RMinHash matrix": rensa_matrix,
        "rensa RMinHash matrix, pre-hashed": rensa_matrix_hashed,
        "rensa RMinHash per document": rensa_per_document,
        "rensa CMinHash": rensa_c,
    }


def datasketch_arms(seed: int) -> dict[str, Callable[[list[str]], np.ndarray]]:
    """datasketch's ``MinHash.bulk``, default hash and xxh32 (its documented ``hashfunc``)."""
    import datasketch
    import xxhash

    def bulk(hashfunc: Any) -> Callable[[list[str]], np.ndarray]:
        def run(docs: list[str]) -> np.ndarray:
            sets = [shingle_bytes(t) for t in docs]
            kwargs = {} if hashfunc is None else {"hashfunc": hashfunc}
            found = datasketch.MinHash.bulk(sets, num_perm=NUM_PERM, seed=seed + 1, **kwargs)
            return np.stack([m.hashvalues for m in found]).astype(np.uint32)

        return run

    return {
        "datasketch MinHash.bulk (sha1)": bulk(None),
        "datasketch MinHash.bulk (xxh32)": bulk(xxhash.xxh32_intdigest),
    }


def cpu_time(fn: Callable[[list[str]], np.ndarray], docs: list[str]) -> tuple[np.ndarray, float]:
    """CPU seconds of ``fn(docs)``, with Python's cyclic garbage collector off (and a
    collection before): the bulk peers hold millions of shingle objects at once, and the
    collector's passes over them would otherwise be charged to them."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        out = fn(docs)
        return out, time.process_time() - start
    finally:
        gc.enable()


# --- quality ----------------------------------------------------------------------------


def quality(sig: np.ndarray, docs: list[str], pairs: np.ndarray, jac: np.ndarray,
            positives: set) -> dict[str, float]:  # fmt: skip
    """Estimator error and the LSH pipeline's pair precision and recall (see the module)."""
    band = (jac >= 0.4) & (jac < 0.95)
    est = mh.estimated_jaccard(sig, pairs[band])
    pos = jac >= THRESHOLD
    bands, rows = lsh.optimal_bands(THRESHOLD, NUM_PERM)
    cand = lsh.lsh_candidate_pairs(sig, bands, rows)
    reported = cand[mh.estimated_jaccard(sig, cand) >= THRESHOLD]
    exact = mh.pair_jaccard(docs, reported) if len(reported) else np.empty(0)
    group = lsh.connected_components(len(docs), reported)
    found = sum(group[i] == group[j] for i, j in positives)
    return {
        "rmse": float(np.sqrt(np.mean((est - jac[band]) ** 2))),
        "estimate_reaches_threshold": float(
            (mh.estimated_jaccard(sig, pairs[pos]) >= THRESHOLD).mean()
        ),
        "reported": len(reported),
        "precision": float((exact >= THRESHOLD).mean()) if len(reported) else float("nan"),
        "recall": found / len(positives) if positives else float("nan"),
    }


# --- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--datasketch-docs", type=int, default=2_000)
    parser.add_argument("--quality-docs", type=int, default=5_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: last)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/minhash_peers.json"))
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1] if args.cpu is None else args.cpu})
    docs, _, _ = load_corpus(args.docs)
    n = len(docs)
    check_shingles(docs)
    print(f"{n:,} Python functions/classes, word 5-grams, {NUM_PERM} permutations, one core "
          f"(CPU time, fastest of {args.repeats}); load average {os.getloadavg()[0]:.2f}; "
          "shingle sets checked equal on every document")  # fmt: skip
    fig: dict[str, Any] = {"docs": n, "num_perm": NUM_PERM, "ngram": NGRAM,
                           "clock": "process CPU time, one thread"}  # fmt: skip

    timed = arms(seed=0)
    for fn in timed.values():
        fn(docs[:200])  # warm-up
    best: dict[str, float] = {name: float("inf") for name in timed}
    for _ in range(args.repeats):
        for name, fn in timed.items():
            best[name] = min(best[name], cpu_time(fn, docs)[1])
    rates = {name: n / seconds for name, seconds in best.items()}
    sub = docs[: args.datasketch_docs]
    for name, fn in datasketch_arms(seed=0).items():
        fn(sub[:50])
        rates[name] = len(sub) / min(cpu_time(fn, sub)[1] for _ in range(args.repeats))
    peers = {k: v for k, v in rates.items() if k != "lessdata"}
    fastest = max(peers, key=peers.get)  # type: ignore[arg-type]
    shingler = min(cpu_time(lambda d: [shingle_bytes(t) for t in d], docs)[1]  # type: ignore
                   for _ in range(args.repeats))  # fmt: skip
    for name, rate in rates.items():
        print(f"  {name:36s} {rate:9,.0f} docs/s   lessdata / this: "
              f"{rates['lessdata'] / rate:5.2f}x")  # fmt: skip
    print(f"  (the peers' shingler alone: {n / shingler:,.0f} docs/s)")
    ratio = rates["lessdata"] / peers[fastest]
    print(f"lessdata / fastest peer ({fastest}): {ratio:.2f}x  (goal: 2x)")
    fig["docs_per_s_one_core"] = rates
    fig["peer_shingler_docs_per_s"] = n / shingler
    fig["lessdata_vs_fastest_peer"] = {"ratio": ratio, "fastest_peer": fastest}

    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(n, size=min(args.quality_docs, n), replace=False))
    qdocs = [docs[i] for i in rows]
    pairs, jac = brute_force_pairs(qdocs, np.arange(len(qdocs)))
    positives = {tuple(p) for p in pairs[jac >= THRESHOLD].tolist()}
    print(f"\nquality on {len(qdocs):,} random docs ({len(positives):,} pairs with exact J >= "
          f"{THRESHOLD}; {int(((jac >= 0.4) & (jac < 0.95)).sum()):,} with J in [0.4, 0.95)), "
          f"{args.seeds} seeds, mean [min, max]:")  # fmt: skip
    band = (jac >= 0.4) & (jac < 0.95)
    theory = float(np.sqrt(np.mean(jac[band] * (1 - jac[band]) / NUM_PERM)))
    print(f"  RMSE of 256 independent permutations (theory): {theory:.4f}")
    fig["quality"] = {"docs": len(qdocs), "positives": len(positives), "rmse_theory": theory}
    algorithms = {"lessdata": "lessdata", "rensa RMinHash": "rensa RMinHash matrix",
                  "rensa CMinHash": "rensa CMinHash",
                  "datasketch": "datasketch MinHash.bulk (sha1)"}  # fmt: skip
    for label, arm in algorithms.items():
        runs = []
        for seed in range(args.seeds):
            fn = {**arms(seed), **datasketch_arms(seed)}[arm]
            runs.append(quality(fn(qdocs), qdocs, pairs, jac, positives))
        summary = {
            key: {"mean": float(np.mean([r[key] for r in runs])),
                  "min": float(np.min([r[key] for r in runs])),
                  "max": float(np.max([r[key] for r in runs]))}
            for key in runs[0]
        }  # fmt: skip
        fig["quality"][label] = summary
        s = summary
        print(
            f"  {label:16s} RMSE {s['rmse']['mean']:.4f}; estimate >= 0.7 for "
            f"{s['estimate_reaches_threshold']['mean']:.3f} of positives; LSH precision "
            f"{s['precision']['mean']:.3f} [{s['precision']['min']:.3f}, "
            f"{s['precision']['max']:.3f}], recall {s['recall']['mean']:.3f} "
            f"[{s['recall']['min']:.3f}, {s['recall']['max']:.3f}]"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fig, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
