"""Benchmark: the driver's memory with the manifest written as parts (issue 17).

``lessdata.prune_parts`` scores and prunes a memory-mapped ``.npy`` shard by shard; the
driver holds only centroids, per-shard counts and selection histograms. This script runs,
each in a fresh process so that peaks do not mix:

* ``memory``: ``lessdata.prune`` (the in-memory path, the baseline) on the local engine;
* ``parts-local``: ``lessdata.prune_parts`` on the local engine (shards run in the driver);
* ``parts-ray``: ``lessdata.prune_parts`` on a local Ray cluster of ``--workers`` workers;

(with ``--task dedup``: ``lessdata.dedup(method="semantic")`` and ``lessdata.dedup_parts``,
on data where 10% of the rows are planted near copies)

at each size in ``--sizes`` (rows of one clustered float32 file, d = ``--d``), and prints
per run: the wall time, and its split into the time inside ``Engine.imap`` (the sharded
phases) and the rest (the driver's serial work), timed as in ``bench_scale_out.py``; the
driver's peak anonymous memory (``RssAnon`` sampled every 20 ms, from after the engine has
started: memory-mapped input pages are file-backed and not counted; the local engine's
shard work is, since it runs in the driver); and a hash of the kept ids. Then the growth of
the peak per added row between the smallest and largest size, and whether every run at a
size kept the same ids.

Usage::

    python benchmarks/bench_parts.py --sizes 1000000,10000000 --k 1000   # ~10 min here
    python benchmarks/bench_parts.py --sizes 1000000,10000000 --k 1000 --task dedup
    python benchmarks/bench_parts.py --sizes 100000,400000 --k 100       # smoke, a minute

Runs of other modes or sizes already in ``--save`` are kept (``--modes parts-ray`` reruns
one mode).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_scale_out import PhaseTimer  # noqa: E402  (the same timer as the scale-out run)

MODES = ("memory", "parts-local", "parts-ray")


def make_data(path: Path, n: int, d: int, duplicates: float = 0.0, seed: int = 0) -> None:
    """Clustered rows written chunk by chunk into a ``.npy`` (never held whole); a fraction
    ``duplicates`` of each chunk are near copies (noise 0.01) of other rows of the chunk."""
    if path.exists():
        return
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2048, d)).astype(np.float32)
    tmp = path.with_suffix(".tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
    for a in range(0, n, 250_000):
        b = min(n, a + 250_000)
        noise = rng.normal(size=(b - a, d)).astype(np.float32)
        block = centres[rng.integers(0, len(centres), b - a)] + 0.6 * noise
        copies = rng.choice(b - a, int(duplicates * (b - a)), replace=False)
        originals = rng.integers(0, b - a, len(copies))
        block[copies] = block[originals] + 0.01 * rng.normal(size=(len(copies), d))
        out[a:b] = block
    out.flush()
    del out
    os.replace(tmp, path)


def rss_anon_bytes() -> int:
    """This process's resident anonymous memory (Linux ``/proc/self/status``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakSampler(threading.Thread):
    """Samples :func:`rss_anon_bytes` every 20 ms until stopped; keeps the peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_anon_bytes()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, rss_anon_bytes())


def kept_digest(result: object) -> tuple[str, int]:
    """A hash of the kept row numbers (int64, ascending) and their count; a parts result
    is read part by part, after the measurement (holding the ids is the caller's choice)."""
    from lessdata.data.manifest_parts import iter_parts, list_parts

    digest, count = hashlib.sha256(), 0
    if hasattr(result, "manifest_folder"):
        start = 0
        for part in iter_parts(list_parts(result.manifest_folder), ["kept"]):
            rows = np.flatnonzero(part["kept"].to_numpy(zero_copy_only=False)) + start
            digest.update(rows.astype(np.int64).tobytes())
            count, start = count + len(rows), start + part.num_rows
    else:
        kept = np.asarray(result.kept, dtype=np.int64)  # type: ignore[attr-defined]
        digest.update(kept.tobytes())
        count = len(kept)
    return digest.hexdigest()[:16], count


def child(args: argparse.Namespace) -> None:
    """One run in this process; prints one JSON line."""
    import lessdata
    from lessdata import kmeans
    from lessdata.engines import Engine, get_engine

    timer = PhaseTimer()  # the time inside Engine.imap: the sharded phases
    timer.install(Engine)

    engine: object = "local"
    if args.mode == "parts-ray":
        engine = get_engine("ray", workers=args.workers, work_dir=Path(args.cache) / "work")
        assert engine.workers == args.workers  # start the cluster now: not part of the run
    baseline = rss_anon_bytes()
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    options = dict(policy="keep-hard", metric_options={"k": args.k}, seed=0,
                   cache_dir=args.cache, quiet=True)  # fmt: skip
    if args.task == "dedup":
        dedup_options = dict(method_options={"k": args.k, "eps": 0.05}, seed=0,
                             cache_dir=args.cache, quiet=True)  # fmt: skip
        if args.mode == "memory":
            result = lessdata.dedup(args.data, method="semantic", out=args.out, report=False,
                                    **dedup_options)  # fmt: skip
        else:
            result = lessdata.dedup_parts(args.data, args.out, engine=engine, **dedup_options)
    elif args.mode == "memory":
        result = lessdata.prune(args.data, args.keep, out=args.out, report=False, **options)
    else:
        result = lessdata.prune_parts(args.data, args.keep, args.out, engine=engine, **options)
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if args.mode == "parts-ray":
        engine.close()  # type: ignore[attr-defined]
    digest, n_kept = kept_digest(result)
    sharded = sum(phase["wall_s"] for phase in timer.phases.values())
    print(json.dumps({
        "task": args.task, "mode": args.mode, "n": args.n, "wall_s": round(wall, 1), "kept": n_kept,
        "kept_sha": digest, "driver_peak_mb": round(sampler.peak / 2**20, 1),
        "driver_start_mb": round(baseline / 2**20, 1), "sharded_s": round(sharded, 1),
        "serial_s": round(wall - sharded, 1), "shards": -(-args.n // kmeans.CHUNK_ROWS),
        "phases": {k: round(v["wall_s"], 2) for k, v in timer.phases.items()},
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--keep", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--task",
        choices=("prune", "dedup"),
        default="prune",
        help="prune: prototypes, keep-hard; dedup: SemDeDup at eps 0.05",
    )
    parser.add_argument(
        "--duplicates",
        type=float,
        default=None,
        help="fraction of planted near copies (default: 0.1 for dedup, else 0)",
    )
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "lessdata-bench-parts"))
    parser.add_argument("--save", default=None, help="default: results/parts-<task>.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.save = args.save or str(HERE / "results" / f"parts-{args.task}.json")
    if args.child:
        child(args)
        return
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    runs = earlier_runs(args.save, modes, sizes)
    duplicates = args.duplicates if args.duplicates is not None else 0.1 * (args.task == "dedup")
    for n in sizes:
        data = root / f"x{n}-{args.d}-dup{duplicates:g}.npy"
        make_data(data, n, args.d, duplicates)
        for mode in modes:
            runs.append(run_child(__file__, mode, n, [
                "--data", str(data), "--out", str(root / f"out-{args.task}-{mode}-{n}"),
                "--cache", str(root / f"cache-{mode}"), "--k", str(args.k),
                "--keep", str(args.keep), "--workers", str(args.workers), "--task", args.task,
            ]))  # fmt: skip
    summary: dict[str, object] = {"task": args.task, "runs": runs, "d": args.d, "k": args.k,
                                  "keep": args.keep, "workers": args.workers,
                                  "duplicates": duplicates}  # fmt: skip
    save_summary(summary, runs, "row", args.save)


def earlier_runs(save: str, modes: list[str], sizes: list[int]) -> list[dict]:
    """The runs already in ``save`` of other modes or sizes (kept when one mode reruns)."""
    if not Path(save).exists():
        return []
    earlier = json.loads(Path(save).read_text()).get("runs", [])
    return [r for r in earlier if r["mode"] not in modes or r["n"] not in sizes]


def run_child(script: str, mode: str, n: int, options: list[str]) -> dict:
    """Run ``script --child`` for one mode and size in a fresh process; its JSON line."""
    command = [sys.executable, script, "--child", "--mode", mode, "--n", str(n), *options]
    env = {**os.environ, "LESSDATA_QUIET": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{mode} at {n} failed")
    run = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(run), flush=True)
    return run


def save_summary(summary: dict[str, object], runs: list[dict], unit: str, save: str) -> None:
    """Add the growth of each mode's driver peak per added ``unit`` (smallest to largest
    size) and whether every mode kept the same ids at each size; print and save."""
    small, large = min(r["n"] for r in runs), max(r["n"] for r in runs)
    for mode in MODES:
        by_n = {r["n"]: r for r in runs if r["mode"] == mode}
        if small in by_n and large in by_n and large > small:
            growth = (by_n[large]["driver_peak_mb"] - by_n[small]["driver_peak_mb"]) * 2**20
            summary[f"{mode}_bytes_per_{unit}"] = round(growth / (large - small), 1)
            print(f"{mode}: driver peak {by_n[small]['driver_peak_mb']} MB at {small:,}, "
                  f"{by_n[large]['driver_peak_mb']} MB at {large:,}: "
                  f"{summary[f'{mode}_bytes_per_{unit}']} bytes per added {unit}")  # fmt: skip
    for n in sorted({r["n"] for r in runs}):
        hashes = {r["kept_sha"] for r in runs if r["n"] == n}
        summary[f"identical_ids_{n}"] = len(hashes) == 1
        print(f"{n:,}: every mode kept the same ids: {len(hashes) == 1}")
    Path(save).parent.mkdir(parents=True, exist_ok=True)
    Path(save).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"saved {save}")


if __name__ == "__main__":
    main()
