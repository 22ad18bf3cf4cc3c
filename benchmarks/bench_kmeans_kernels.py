"""Benchmark: lessdata's k-means kernels against the float32 matrix-product floor, one core.

One Lloyd block and one assignment chunk of ``bench_prune_1m.py``'s shapes (65,536 rows ×
384, k = 1,000 by default), each arm timed in turn ``--repeats`` times in one run, as CPU
time of this single-threaded process (``time.process_time``: time the scheduler gave to
other processes of a shared machine is not counted), the fastest of the repeats printed
beside the floor's:

- **floor**: ``np.matmul`` of the block by the (d × k) centroids into a preallocated output,
  the floor ``bench_prune_1m.py`` times;
- **faiss search**: ``IndexFlatIP(d).search(block, 1)``, the nearest-centroid call lessdata
  used before (and faiss's own k-means uses);
- **lessdata nearest**: :func:`lessdata.kmeans.nearest_centroids` (blocked product + argmax);
- **sums, sort + reduceat**: the per-cluster float64 sums lessdata used before (stable sort of
  the block by cluster, a float64 copy, ``np.add.reduceat``);
- **sums, sparse product**: the indicator-matrix product :func:`lessdata.kmeans.lloyd_shard`
  now uses;
- **Lloyd step** and **assign chunk**: lessdata's whole shard functions.

Usage::

    python benchmarks/bench_kmeans_kernels.py                # about a minute
    python benchmarks/bench_kmeans_kernels.py --rows 16384 --k 300 --repeats 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("LESSDATA_QUIET", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


def old_sums(block: np.ndarray, member: np.ndarray, k: int) -> np.ndarray:
    """The per-cluster sums of lessdata before this change: sort, float64 copy, reduceat."""
    order = np.argsort(member, kind="stable")
    ids, first = np.unique(member[order], return_index=True)
    sums = np.zeros((k, block.shape[1]), dtype=np.float64)
    sums[ids] = np.add.reduceat(block[order].astype(np.float64), first, axis=0)
    return sums


def sparse_sums(block: np.ndarray, member: np.ndarray, k: int) -> np.ndarray:
    """The per-cluster sums of :func:`lessdata.kmeans.lloyd_shard` (indicator product)."""
    from scipy import sparse

    indicator = sparse.csr_matrix(
        (np.ones(len(member), dtype=np.float32), member, np.arange(len(member) + 1)),
        shape=(len(member), k),
    )
    return np.asarray(indicator.T.tocsr() @ block, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=65_536)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import faiss
    from threadpoolctl import threadpool_limits

    from lessdata import kmeans

    faiss.omp_set_num_threads(1)
    threadpool_limits(1)
    rng = np.random.default_rng(0)
    block = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    centroids = block[rng.choice(args.rows, args.k, replace=False)].copy()
    cent_t = np.ascontiguousarray(centroids.T)
    out = np.empty((args.rows, args.k), dtype=np.float32)
    member = kmeans.nearest_centroids(block, centroids, True)

    def faiss_search() -> Any:
        index = faiss.IndexFlatIP(args.dim)
        index.add(centroids)
        return index.search(block, 1)

    arms: dict[str, Callable[[], Any]] = {
        "floor: matmul (rows×d)@(d×k)": lambda: np.matmul(block, cent_t, out=out),
        "faiss IndexFlatIP search, k=1": faiss_search,
        "lessdata nearest_centroids": lambda: kmeans.nearest_centroids(block, centroids, True),
        "sums: sort + float64 reduceat (old)": lambda: old_sums(block, member, args.k),
        "sums: sparse indicator product": lambda: sparse_sums(block, member, args.k),
        "lessdata lloyd_shard (nearest + sums)": lambda: kmeans.lloyd_shard(
            (0, args.rows), block, centroids, True
        ),
        "lessdata assign_shard (+ distances)": lambda: kmeans.assign_shard(
            (0, args.rows), block, centroids, True
        ),
    }
    agree = float((faiss_search()[1][:, 0] == member).mean())
    np.testing.assert_allclose(
        old_sums(block, member, args.k), sparse_sums(block, member, args.k), atol=1e-4
    )
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(args.repeats):
        for name, fn in arms.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    floor = min(times["floor: matmul (rows×d)@(d×k)"])
    floor_med = statistics.median(times["floor: matmul (rows×d)@(d×k)"])
    print(
        f"one core; block {args.rows:,} × {args.dim}, k = {args.k:,}; CPU seconds, fastest and "
        f"median of {args.repeats} interleaved runs; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"| {'arm':<40} | {'min s':>8} | {'× floor':>8} | {'median ×':>8} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for name, values in times.items():
        best, med = min(values), statistics.median(values)
        print(f"| {name:<40} | {best:8.4f} | {best / floor:7.2f}× | {med / floor_med:7.2f}× |")
    print(f"nearest centroid agrees with faiss on {agree:.4%} of rows (float32 rounding ties)")


if __name__ == "__main__":
    main()
