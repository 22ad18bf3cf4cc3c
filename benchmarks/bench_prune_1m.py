"""Benchmark: score 1,000,000 × 384 float32 embeddings with ``prototypes`` and ``semdedup``.

One run prints, for the same data and the same machine:

1. lessdata's wall time per stage and the peak memory (VmHWM) of a fresh process that
   loads the ``.npy`` memory-mapped and calls ``lessdata.score(path, ["prototypes",
   "semdedup"], seed=0)``;
2. the floating-point floor of the same work, timed in this run as plain NumPy float32
   matrix products of the same shapes (k-means training, assignment, within-cluster
   similarities over the cluster sizes lessdata actually produced);
3. a naive baseline (scikit-learn ``KMeans`` + dense ``cosine_similarity`` per cluster),
   timed on a subsample and scaled to the full size (the scaling is printed).

Every arm runs on ``--threads`` threads (default 1: BLAS and OpenMP pinned in the child by
environment, in this process by threadpoolctl), and with one thread every time is CPU time
of the process (``time.process_time``), so that a machine shared with other work measures
per-core work and the ratios to the floor stay fair; with more threads, wall time.

Usage::

    python benchmarks/bench_prune_1m.py                 # full size, several minutes
    python benchmarks/bench_prune_1m.py --n 20000       # smoke test, seconds

The synthetic embeddings are written once to ``<workdir>/emb_<n>x<d>.npy`` (a mixture of
2,000 Gaussian clusters around unit-norm centres with varied spreads and sizes, plus 5%
planted near-duplicates whose (copy, source) rows go to ``..._planted.npy``), by a separate
process so that the generator's memory never counts against the measured one.
"""

from __future__ import annotations

import os
import sys

# BLAS/OpenMP threads of this process and the child, set before NumPy loads (--threads N)
_THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv[:-1] else "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _THREADS

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

CHUNK = 65_536
N_TRUE_CLUSTERS = 2_000
DUP_FRACTION = 0.05
NITER = 20  # lessdata's k-means iterations (fit_centroids default)
MAX_POINTS_PER_CENTROID = 256  # lessdata's (and faiss's) training-sample cap per centroid
FLOOR_ROW_BLOCK = 4_096  # row block of the within-cluster floor products (bounds memory)


# --- data -------------------------------------------------------------------------------


def data_paths(workdir: Path, n: int, d: int) -> tuple[Path, Path]:
    stem = workdir / f"emb_{n}x{d}"
    return stem.with_suffix(".npy"), Path(f"{stem}_planted.npy")


def generate(path: Path, planted_path: Path, n: int, d: int, seed: int) -> None:
    """Write the synthetic embeddings chunk by chunk into a memory-mapped ``.npy``.

    Rows are ``centre + noise`` with per-cluster noise norms log-uniform in [0.4, 1.2] (pairs
    inside one cluster have cosine similarity of about 0.4 to 0.86, below SemDeDup's 0.95
    threshold) and log-normal cluster sizes; each row's norm is jittered by ±5%. Then 5% of
    the rows are overwritten with a copy of another (non-copy) row plus noise of 3% of its
    norm (cosine similarity ≈ 0.9995 to the source).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_TRUE_CLUSTERS, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 1.0, N_TRUE_CLUSTERS)
    weights /= weights.sum()
    sigma = np.exp(rng.uniform(np.log(0.4), np.log(1.2), N_TRUE_CLUSTERS)) / np.sqrt(d)
    sigma = sigma.astype(np.float32)
    labels = rng.choice(N_TRUE_CLUSTERS, size=n, p=weights)

    tmp = path.with_suffix(".tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, CHUNK):
        lab = labels[start : start + CHUNK]
        block = rng.standard_normal((len(lab), d), dtype=np.float32)
        block *= sigma[lab, None]
        block += centres[lab]
        block *= (1.0 + 0.05 * rng.standard_normal(len(lab), dtype=np.float32))[:, None]
        out[start : start + len(lab)] = block

    n_dup = round(DUP_FRACTION * n)
    copies = rng.choice(n, n_dup, replace=False)
    is_copy = np.zeros(n, dtype=bool)
    is_copy[copies] = True
    sources = rng.choice(np.flatnonzero(~is_copy), n_dup, replace=True)
    by_source = np.argsort(sources, kind="stable")  # read the sources in file order
    copies, sources = copies[by_source], sources[by_source]
    for start in range(0, n_dup, CHUNK):
        src, dst = sources[start : start + CHUNK], copies[start : start + CHUNK]
        block = np.asarray(out[src])
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        block += rng.standard_normal(block.shape, dtype=np.float32) * (0.03 / np.sqrt(d)) * norms
        order = np.argsort(dst)
        out[dst[order]] = block[order]
    out.flush()
    del out
    os.replace(tmp, path)
    np.save(planted_path, np.stack([copies, sources], axis=1))


# --- the measured lessdata process -------------------------------------------------------


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process, in bytes."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values


class MemorySampler(threading.Thread):
    """Polls /proc/self/status to find the peak anonymous and file-backed RSS separately."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            s = proc_status()
            for key in self.peak:
                self.peak[key] = max(self.peak[key], s.get(key, 0))
            self.stop.wait(self.interval)


def clock_for(threads: int) -> Any:
    """CPU time of this process with one thread (fair on a shared machine), else wall time."""
    return time.process_time if threads == 1 else time.perf_counter


def child(
    path: Path, planted_path: Path, k: int | None, seed: int, result: Path, threads: int,
    scope: str = "neighbours",
) -> None:  # fmt: skip
    """Run lessdata.score on ``path`` with per-stage timers; write figures to ``result``."""
    clock = clock_for(threads)
    t_import = time.perf_counter()
    import faiss

    import lessdata.duplicates.semdedup as sem_mod
    import lessdata.duplicates.semdedup_cross as cross_mod
    import lessdata.metrics.prototype_metrics as proto_mod
    import lessdata.pipeline.inputs as inputs_mod
    import lessdata.pipeline.scoring as api

    import_s = time.perf_counter() - t_import
    rss_after_import = proc_status()["VmRSS"]
    timings: dict[str, float] = {}
    calls: dict[str, int] = {}
    hwm: dict[str, int] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = clock()
            try:
                return fn(*a, **kw)
            finally:
                timings[name] = timings.get(name, 0.0) + clock() - t
                calls[name] = calls.get(name, 0) + 1
                hwm[name] = proc_status()["VmHWM"]

        return wrapper

    # time the stages by wrapping the functions the library calls (library code untouched)
    inputs_mod.load = timed("load + validate", inputs_mod.load)
    proto_mod.fit_centroids = timed("prototypes: k-means fit", proto_mod.fit_centroids)
    proto_mod.assign = timed("prototypes: assign", proto_mod.assign)
    sem_mod.fit_centroids = timed("semdedup: k-means fit", sem_mod.fit_centroids)
    sem_mod.assign = timed("semdedup: assign", sem_mod.assign)
    sem_mod.dedup_cluster = timed("semdedup: within-cluster dedup", sem_mod.dedup_cluster)
    sem_mod._across_borders = timed("semdedup: across clusters", sem_mod._across_borders)
    cross_shapes: list[tuple[int, int]] = []  # (guests, hosts) of each cluster's cross step
    cross_pairs = cross_mod.cross_pairs

    def counted(vectors: Any, guests: Any, hosts: Any, *rest: Any) -> Any:
        cross_shapes.append((len(guests), len(hosts)))
        return cross_pairs(vectors, guests, hosts, *rest)

    cross_mod.cross_pairs = counted
    api.build_manifest = timed("build manifest", api.build_manifest)
    orig_prototypes, orig_semdedup = proto_mod.prototypes, sem_mod.semantic_duplicates

    sampler = MemorySampler()
    sampler.start()
    t0, w0 = clock(), time.perf_counter()
    options = {"k": k, "scope": scope}
    table = api.score(str(path), ["prototypes", "semdedup"], metric_options=options, seed=seed)
    wall, elapsed = clock() - t0, time.perf_counter() - w0
    sampler.stop.set()
    sampler.join()
    end = proc_status()
    assert orig_prototypes is proto_mod.prototypes
    assert orig_semdedup is sem_mod.semantic_duplicates

    n = table.num_rows
    cluster = table.column("semdedup_cluster").to_numpy()
    sizes = np.bincount(cluster)
    dup_of = table.column("semdedup_duplicate_of").fill_null(-1).to_numpy()
    removed = dup_of >= 0
    same_clusters = bool(np.array_equal(cluster, table.column("prototypes_cluster").to_numpy()))
    planted: dict[str, Any] = {}
    if planted_path.exists():
        copies, sources = np.load(planted_path).T
        resolved = removed[copies] | removed[sources]
        direct = (dup_of[copies] == sources) | (dup_of[sources] == copies)
        in_planted = np.zeros(n, dtype=bool)
        in_planted[copies] = in_planted[sources] = True
        planted = {
            "pairs": len(copies),
            "pairs_same_cluster": int((cluster[copies] == cluster[sources]).sum()),
            "pairs_one_member_removed": int(resolved.sum()),
            "pairs_matched_to_each_other": int(direct.sum()),
            "recall": float(resolved.mean()),
            "removed_outside_planted_pairs": int((removed & ~in_planted).sum()),
        }
    out = {
        "n": n,
        "import_s": import_s,
        "score_wall_s": wall,
        "score_elapsed_s": elapsed,
        "stages_s": timings,
        "stage_calls": calls,
        "vmhwm_after_stage": hwm,
        "rss_after_import": rss_after_import,
        "peak_rss": end["VmHWM"],
        "peak_sampled": sampler.peak,
        "cluster_sizes": sizes.tolist(),
        "cross_shapes": cross_shapes,
        "duplicates_removed": int(removed.sum()),
        "prototypes_and_semdedup_same_clusters": same_clusters,
        "planted": planted,
        "faiss_threads": faiss.omp_get_max_threads(),
    }
    result.write_text(json.dumps(out))


# --- floor and baseline (in the parent) --------------------------------------------------


def blas_threads() -> str:
    from threadpoolctl import threadpool_info

    return ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info())


def floor(
    n: int, d: int, k: int, sizes: np.ndarray, seed: int, clock: Any,
    cross_shapes: list[tuple[int, int]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Time the matrix products of the same k-means and similarity work in float32 NumPy.

    - training: ``NITER`` × (n_train × d) @ (d × k), n_train = min(n, 256 k), in row chunks;
    - assignment: (n × d) @ (d × k), in row chunks of one reused random block;
    - within-cluster: (n_c × d) @ (d × n_c) for every actual cluster size n_c (two distinct
      arrays so that BLAS runs a plain GEMM), in row blocks of at most 4,096;
    - across clusters (SemDeDup's default scope): (g_c × d) @ (d × h_c) for every cluster's
      actual guests and hosts (the full products; lessdata skips those its angle bound
      rules out, so it can beat this floor).
    """
    rng = np.random.default_rng(seed)
    n_train = min(n, MAX_POINTS_PER_CENTROID * k)
    cent_t = np.ascontiguousarray(rng.standard_normal((k, d), dtype=np.float32).T)
    buf = np.empty((CHUNK, max(k, FLOOR_ROW_BLOCK)), dtype=np.float32)

    sample = rng.standard_normal((n_train, d), dtype=np.float32)
    t = clock()
    for _ in range(NITER):
        for s in range(0, n_train, CHUNK):
            a = sample[s : s + CHUNK]
            np.matmul(a, cent_t, out=buf[: len(a), :k])
    train_s = clock() - t
    del sample

    block = rng.standard_normal((min(CHUNK, n), d), dtype=np.float32)
    t = clock()
    for s in range(0, n, CHUNK):
        m = min(CHUNK, n - s)
        np.matmul(block[:m], cent_t, out=buf[:m, :k])
    assign_s = clock() - t
    del block

    biggest = int(sizes.max())
    a_pool = rng.standard_normal((biggest, d), dtype=np.float32)
    b_pool = rng.standard_normal((biggest, d), dtype=np.float32)
    flat = buf.reshape(-1)
    t = clock()
    for nc in sizes[sizes >= 2]:
        nc = int(nc)
        b_t = b_pool[:nc].T
        for r0 in range(0, nc, FLOOR_ROW_BLOCK):
            r1 = min(r0 + FLOOR_ROW_BLOCK, nc)
            out = flat[: (r1 - r0) * nc].reshape(r1 - r0, nc)
            np.matmul(a_pool[r0:r1], b_t, out=out)
    pairwise_s = clock() - t
    shapes = [(g, h) for g, h in (cross_shapes or []) if g and h]
    biggest = max([max(g, h) for g, h in shapes] + [1])
    if biggest > len(a_pool):
        a_pool = rng.standard_normal((biggest, d), dtype=np.float32)
        b_pool = rng.standard_normal((biggest, d), dtype=np.float32)
    t = clock()
    for g, h in shapes:
        b_t = b_pool[:h].T
        for r0 in range(0, g, FLOOR_ROW_BLOCK):
            r1 = min(r0 + FLOOR_ROW_BLOCK, g)
            out = flat[: (r1 - r0) * h].reshape(r1 - r0, h)
            np.matmul(a_pool[r0:r1], b_t, out=out)
    cross_s = clock() - t
    flops = {
        "train": 2.0 * NITER * n_train * d * k,
        "assign": 2.0 * n * d * k,
        "pairwise_square": 2.0 * float((sizes.astype(np.float64) ** 2).sum()) * d,
        "cross": 2.0 * float(sum(g * h for g, h in shapes)) * d,
    }
    gflops = sum(flops.values()) / (train_s + assign_s + pairwise_s + cross_s) / 1e9
    return {
        "n_train": n_train,
        "train_s": train_s,
        "assign_s": assign_s,
        "pairwise_square_s": pairwise_s,
        "pairwise_triangle_s": pairwise_s / 2,
        "cross_s": cross_s,
        "flops": flops,
        "gflops": gflops,
    }


def naive(
    path: Path, n_sub: int, k_full: int, full_sizes: np.ndarray, seed: int, clock: Any
) -> dict:
    """scikit-learn KMeans + dense per-cluster cosine_similarity on a subsample, scaled up."""
    from sklearn.cluster import KMeans
    from sklearn.metrics.pairwise import cosine_similarity

    x_full = np.load(path, mmap_mode="r")
    n = len(x_full)
    n_sub = min(n_sub, n)
    rows = np.sort(np.random.default_rng(seed).choice(n, n_sub, replace=False))
    x = np.ascontiguousarray(x_full[rows], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    k_sub = max(1, round(np.sqrt(n_sub)))

    t = clock()
    km = KMeans(
        n_clusters=k_sub, n_init=1, max_iter=NITER, algorithm="lloyd", tol=0.0, random_state=seed
    ).fit(x)
    kmeans_s = clock() - t
    iters = int(km.n_iter_)

    labels = km.labels_
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = np.split(order, bounds)
    t = clock()
    n_dups = 0
    for g in groups:
        if len(g) < 2:
            continue
        sim = cosine_similarity(x[g])  # the full n_c × n_c matrix
        best_earlier = np.triu(sim, k=1).max(axis=0)  # SemDeDup reference: max over i < j
        n_dups += int((best_earlier > 0.95).sum())
    pairwise_s = clock() - t
    sub_sq = float(sum(float(len(g)) ** 2 for g in groups))
    full_sq = float((full_sizes.astype(np.float64) ** 2).sum())

    kmeans_scale = (n * k_full * NITER) / (n_sub * k_sub * iters)
    pairwise_scale = full_sq / sub_sq
    return {
        "n_sub": n_sub,
        "k_sub": k_sub,
        "iters": iters,
        "kmeans_sub_s": kmeans_s,
        "pairwise_sub_s": pairwise_s,
        "kmeans_scale": kmeans_scale,
        "pairwise_scale": pairwise_scale,
        "kmeans_est_s": kmeans_s * kmeans_scale,
        "pairwise_est_s": pairwise_s * pairwise_scale,
        "sum_nc2_sub": sub_sq,
        "sum_nc2_full": full_sq,
        "dups_sub": n_dups,
    }


# --- report ---------------------------------------------------------------------------------


def blocked_work_fraction(sizes: np.ndarray) -> float:
    """Products lessdata's SemDeDup walk computes, as a fraction of Σ n_c², all rows kept."""
    from lessdata.duplicates.semdedup import BLOCK

    work = 0.0
    for m in sizes.astype(np.int64):
        starts = np.arange(0, m, BLOCK, dtype=np.float64)
        widths = np.minimum(BLOCK, m - starts)
        work += float((widths * widths + widths * starts).sum())
    return work / float((sizes.astype(np.float64) ** 2).sum())


def report(args: argparse.Namespace, k: int, res: dict, fl: dict, nv: dict) -> dict:
    n, d = args.n, args.dim
    st = res["stages_s"]
    emb_bytes = n * d * 4
    sizes = np.asarray(res["cluster_sizes"])
    kmeans_fits = st["prototypes: k-means fit"] + st["semdedup: k-means fit"]
    assigns = st["prototypes: assign"] + st["semdedup: assign"]
    dedup = st["semdedup: within-cluster dedup"]
    accounted = sum(st.values())
    other = res["score_wall_s"] - accounted
    across = st.get("semdedup: across clusters", 0.0)
    floor_total = fl["train_s"] + fl["assign_s"] + fl["pairwise_square_s"] + fl["cross_s"]
    floor_strict = fl["train_s"] + fl["assign_s"] + fl["pairwise_triangle_s"] + fl["cross_s"]
    naive_total = nv["kmeans_est_s"] + nv["pairwise_est_s"]
    wall = res["score_wall_s"]

    def row(stage: str, ours: float | None, fl_s: float | None) -> str:
        o = f"{ours:9.2f}" if ours is not None else f"{'-':>9}"
        f = f"{fl_s:9.2f}" if fl_s is not None else f"{'-':>9}"
        r = f"{ours / fl_s:7.2f}×" if ours is not None and fl_s else f"{'':>8}"
        return f"| {stage:<38} | {o} | {f} | {r} |"

    lines = [
        f"lessdata prototypes + semdedup (scope {args.scope}), N={n:,} × d={d} float32, k={k}, "
        f"seed={args.seed}",
        f"threads: faiss OpenMP={res['faiss_threads']}; floor and baseline "
        f"{res['parent_threads']}; "
        f"{os.cpu_count()} CPUs; 1-min load average {res['loadavg_before'][0]:.2f} before the "
        f"lessdata run, {res['loadavg_after'][0]:.2f} after the baseline",
        f"clusters (semdedup_cluster): {len(sizes)} ids, {int((sizes > 0).sum())} non-empty, "
        f"sizes min/median/max = {int(sizes.min())}/{int(np.median(sizes))}/{int(sizes.max())}, "
        f"sum n_c^2 = {float((sizes.astype(float) ** 2).sum()):.3e}",
        "",
        f"| {'stage':<38} | {'lessdata':>9} | {'floor':>9} | {'ratio':>8} |",
        f"|{'-' * 40}|{'-' * 11}|{'-' * 11}|{'-' * 10}|",
        row("load + validate (mmap, finite check)", st["load + validate"], None),
        row("prototypes: k-means fit", st["prototypes: k-means fit"], fl["train_s"]),
        row("prototypes: assign", st["prototypes: assign"], fl["assign_s"]),
        row("semdedup: k-means fit (shared)", st["semdedup: k-means fit"], None),
        row("semdedup: assign (shared)", st["semdedup: assign"], None),
        row("semdedup: within-cluster dedup", dedup, fl["pairwise_square_s"]),
        row("  (vs triangle floor, square / 2)", dedup, fl["pairwise_triangle_s"]),
        *(
            [row("semdedup: across clusters", across, fl["cross_s"])]
            if args.scope == "neighbours"
            else []
        ),
        row("build manifest", st["build manifest"], None),
        row("other (sort, bookkeeping)", other, None),
        row("k-means fits, both metrics", kmeans_fits, fl["train_s"]),
        row("assignments, both metrics", assigns, fl["assign_s"]),
        row("TOTAL score() wall", wall, floor_total),
        row("  (vs strict floor: triangle pairwise)", wall, floor_strict),
        "",
        f"floor = float32 NumPy matmuls timed in this run ({fl['gflops']:.0f} GFLOP/s): training "
        f"{NITER} × ({fl['n_train']:,}×{d})@({d}×{k}); assignment ({n:,}×{d})@({d}×{k}); "
        f"pairwise Σ_c (n_c×{d})@({d}×n_c) over the actual sizes (full square; the strict "
        f"floor is the lower triangle = half); across clusters Σ_c (guests_c×{d})@({d}×hosts_c) "
        "over the actual guests and hosts of SemDeDup's default scope. lessdata's blocked walk "
        f"computes {blocked_work_fraction(sizes):.0%} of the full-square products for these sizes "
        "(each diagonal block in full, earlier blocks against kept rows only; upper bound "
        "with every row kept). One k-means only: both metrics need the same clustering.",
        "",
        f"peak RSS (VmHWM) {res['peak_rss'] / 1e9:.2f} GB; embeddings {emb_bytes / 1e9:.2f} GB; "
        f"ratio {res['peak_rss'] / emb_bytes:.2f}×  (sampled peaks: anon "
        f"{res['peak_sampled']['RssAnon'] / 1e9:.2f} GB, file-backed mmap "
        f"{res['peak_sampled']['RssFile'] / 1e9:.2f} GB; after imports "
        f"{res['rss_after_import'] / 1e9:.2f} GB)",
        "",
        f"naive baseline (sklearn KMeans lloyd, n_init=1, max_iter={NITER}, tol=0 + dense "
        "cosine_similarity per cluster), measured on a subsample and scaled:",
        f"  k-means: {nv['n_sub']:,} rows, k={nv['k_sub']}, {nv['iters']} iterations: "
        f"{nv['kmeans_sub_s']:.2f} s × (N·k·{NITER})/(n_sub·k_sub·iters) = "
        f"({n:,}·{k}·{NITER})/({nv['n_sub']:,}·{nv['k_sub']}·{nv['iters']}) = "
        f"{nv['kmeans_scale']:.1f} → {nv['kmeans_est_s']:.0f} s",
        f"  pairwise: {nv['pairwise_sub_s']:.3f} s × Σn_c² ratio ({nv['sum_nc2_full']:.3e} "
        f"lessdata clusters / {nv['sum_nc2_sub']:.3e} subsample clusters = "
        f"{nv['pairwise_scale']:.1f}) → {nv['pairwise_est_s']:.0f} s",
        f"  naive estimate {naive_total:.0f} s ({naive_total / 60:.1f} min) vs lessdata "
        f"{wall:.1f} s: speedup {naive_total / wall:.1f}×",
        "",
        f"duplicates removed by semdedup: {res['duplicates_removed']:,} "
        f"({res['duplicates_removed'] / n:.2%})",
    ]
    p = res["planted"]
    if p:
        lines.append(
            f"planted pairs: {p['pairs']:,}; same cluster {p['pairs_same_cluster']:,}; "
            f"one member removed {p['pairs_one_member_removed']:,} (recall {p['recall']:.2%}); "
            f"matched to each other {p['pairs_matched_to_each_other']:,}; removed rows outside "
            f"planted pairs {p['removed_outside_planted_pairs']:,}"
        )
    within = wall <= 1.3 * floor_total
    lloyd_ok = st["prototypes: k-means fit"] <= 1.2 * fl["train_s"]
    mem_ok = res["peak_rss"] <= 1.3 * emb_bytes
    lines += [
        "",
        f"clock: {'CPU time, one thread' if args.threads == 1 else 'wall time'} "
        f"(score() took {res['score_elapsed_s']:.1f} s of wall time; machine shared, load "
        "average above)",
        f"k-means fit within 1.2× its floor: {'yes' if lloyd_ok else 'no'} "
        f"({st['prototypes: k-means fit'] / fl['train_s']:.2f}×)",
        f"score() within 1.3× floor: {'yes' if within else 'no'} ({wall / floor_total:.2f}×; "
        f"{wall / floor_strict:.2f}× the strict triangle floor)",
        f"peak memory ≤ 1.3× embedding bytes: {'yes' if mem_ok else 'no'} "
        f"({res['peak_rss'] / emb_bytes:.2f}×)",
    ]
    print("\n".join(lines), flush=True)
    return {
        "n": n,
        "d": d,
        "k": k,
        "seed": args.seed,
        "lessdata": {key: v for key, v in res.items() if key != "cluster_sizes"},
        "cluster_size_stats": {
            "count": len(sizes),
            "min": int(sizes.min()),
            "median": float(np.median(sizes)),
            "max": int(sizes.max()),
            "sum_nc2": float((sizes.astype(float) ** 2).sum()),
        },
        "floor": fl,
        "lessdata_pairwise_fraction_of_square": blocked_work_fraction(sizes),
        "naive": nv,
        "embedding_bytes": emb_bytes,
        "ratio_to_floor": wall / floor_total,
        "ratio_to_strict_floor": wall / floor_strict,
        "peak_rss_over_embedding": res["peak_rss"] / emb_bytes,
        "naive_est_s": naive_total,
        "speedup_vs_naive": naive_total / wall,
        "threads": args.threads,
        "scope": args.scope,
        "kmeans_fit_within_1_2x_floor": lloyd_ok,
        "within_1_3x_floor": within,
        "memory_within_1_3x": mem_ok,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=None, help="clusters (default round(sqrt(N)))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    p.add_argument("--baseline-n", type=int, default=50_000, help="sklearn subsample rows")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads of every arm")
    p.add_argument("--scope", choices=("neighbours", "cluster"), default="neighbours",
                   help="SemDeDup's scope (default: lessdata's default)")  # fmt: skip
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_generate", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    path, planted = data_paths(args.workdir, args.n, args.dim)

    if args._generate:
        generate(path, planted, args.n, args.dim, args.seed)
        return
    if args._child:
        child(path, planted, args.k, args.seed, args._result, args.threads, args.scope)
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--n", str(args.n), "--dim", str(args.dim), "--seed", str(args.seed)]
    common += ["--workdir", str(args.workdir), "--threads", str(args.threads)]
    if not path.exists() or not planted.exists():
        print(f"generating {path} ...", flush=True)
        t = time.perf_counter()
        subprocess.run([*me, *common, "--_generate"], check=True)
        print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)

    k = args.k if args.k is not None else max(1, min(args.n, round(np.sqrt(args.n))))
    result = args.workdir / f"child_{args.n}x{args.dim}.json"
    child_cmd = [*me, *common, "--_child", "--_result", str(result)]
    if args.k is not None:
        child_cmd += ["--k", str(args.k)]
    child_cmd += ["--scope", args.scope]
    load_before = os.getloadavg()
    print("running lessdata.score in a fresh process ...", flush=True)
    t = time.perf_counter()
    pinned = {v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                             "MKL_NUM_THREADS")}  # fmt: skip
    subprocess.run(child_cmd, check=True, env={**os.environ, **pinned, "LESSDATA_QUIET": "1"})
    child_wall = time.perf_counter() - t
    res = json.loads(result.read_text())
    res["child_process_wall_s"] = child_wall
    sizes = np.asarray(res["cluster_sizes"])

    from threadpoolctl import threadpool_limits

    clock = clock_for(args.threads)
    limits = threadpool_limits(args.threads)  # the floor and the baseline, as the child
    print("timing the floating-point floor ...", flush=True)
    fl = floor(args.n, args.dim, k, sizes, args.seed, clock, res.get("cross_shapes"))
    res["parent_threads"] = blas_threads()
    print("timing the naive baseline on a subsample ...", flush=True)
    nv = naive(path, args.baseline_n, k, sizes, args.seed, clock)
    res["loadavg_before"], res["loadavg_after"] = load_before, os.getloadavg()
    limits.restore_original_limits()
    print(flush=True)
    summary = report(args, k, res, fl, nv)
    out = args.workdir / "bench_prune_1m.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
