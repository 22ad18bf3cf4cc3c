"""Benchmark: k-means training on the engine (local, Ray) against faiss's Kmeans on the driver.

lessdata trains k-means as engine maps (the sample drawn shard by shard, each Lloyd step a
map of per-block sums and counts reduced on the driver, :func:`lessdata.kmeans.fit_centroids`).
This script measures, in one run on one machine:

* ``faiss``: ``faiss.Kmeans`` on the same number of sample rows, on the driver (how lessdata
  trained before; the baseline);
* ``local``: ``fit_centroids`` on the local engine;
* ``ray``: ``fit_centroids`` on a local Ray cluster of ``--workers`` workers;

with the wall time of each, the inertia of each (mean squared distance to the nearest
centroid on 100,000 rows drawn independently of either training sample: a sample flatters
the centroids trained on it), and whether local and Ray gave identical centroids.
Embeddings are random clustered float32 rows in a memory-mapped ``.npy`` (the workers read
them by path).

Usage::

    python benchmarks/bench_kmeans_engines.py --n 1000000 --d 64 --k 1000
    python benchmarks/bench_kmeans_engines.py --n 50000 --k 100        # smoke, seconds
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def make_data(path: Path, n: int, d: int, seed: int = 0) -> np.ndarray:
    """Clustered rows written chunk by chunk into a memory-mapped ``.npy``."""
    if not path.exists():
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(512, d)).astype(np.float32)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
        for a in range(0, n, 100_000):
            b = min(n, a + 100_000)
            out[a:b] = centres[rng.integers(0, 512, b - a)] + 0.5 * rng.normal(size=(b - a, d))
        out.flush()
        del out
    return np.load(path, mmap_mode="r")


def inertia(sample: np.ndarray, centroids: np.ndarray) -> float:
    from lessdata.kmeans import _nearest

    _, distance = _nearest(np.ascontiguousarray(sample), centroids, False)
    return float((distance**2).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--niter", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()

    import faiss

    from lessdata import kmeans
    from lessdata.engines import get_engine

    args.workdir.mkdir(parents=True, exist_ok=True)
    x = make_data(args.workdir / f"kmeans-{args.n}x{args.d}.npy", args.n, args.d)
    n_train = min(args.n, kmeans.MAX_POINTS_PER_CENTROID * args.k)
    rows = np.sort(np.random.default_rng(0).choice(args.n, n_train, replace=False))
    sample = np.ascontiguousarray(x[rows], dtype=np.float32)
    # inertia on an independent draw of rows (a training sample flatters its own centroids)
    probe = np.random.default_rng(99).choice(args.n, min(args.n, 100_000), replace=False)
    probe = np.ascontiguousarray(x[np.sort(probe)], dtype=np.float32)
    results: dict[str, dict[str, float]] = {}

    start = time.perf_counter()
    reference = faiss.Kmeans(args.d, args.k, niter=args.niter, seed=1, max_points_per_centroid=256)
    reference.train(sample)
    results["faiss on the driver"] = {"seconds": time.perf_counter() - start,
                                      "inertia": inertia(probe, reference.centroids)}  # fmt: skip

    start = time.perf_counter()
    local = kmeans.fit_centroids(x, args.k, spherical=False, seed=0, niter=args.niter)
    results["lessdata, local engine"] = {"seconds": time.perf_counter() - start,
                                         "inertia": inertia(probe, local)}  # fmt: skip

    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    engine = get_engine("ray")
    start = time.perf_counter()
    remote = kmeans.fit_centroids(x, args.k, spherical=False, seed=0, niter=args.niter,
                                  engine=engine)  # fmt: skip
    results[f"lessdata, Ray ({args.workers} workers)"] = {
        "seconds": time.perf_counter() - start, "inertia": inertia(probe, remote)
    }  # fmt: skip
    ray.shutdown()

    base = results["faiss on the driver"]["seconds"]
    print(f"k-means: n = {args.n:,} × {args.d}, k = {args.k}, {n_train:,} sample rows, "
          f"{args.niter} iterations")  # fmt: skip
    print("| trainer | wall s | vs faiss | inertia (100k other rows) |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['seconds']:.1f} | {base / r['seconds']:.2f}× | {r['inertia']:.4f} |")
    same = bool(np.array_equal(local, remote))
    print(f"local and Ray centroids identical: {same}")
    out = args.workdir / "bench_kmeans_engines.json"
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                               "results": results, "identical": same}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
