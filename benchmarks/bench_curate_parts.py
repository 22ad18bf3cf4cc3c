"""Benchmark: ``curate --parts`` on millions of code documents (issue 17).

The corpus: the first ``--base`` top-level functions and classes of this machine's Python
code (``bench_scale_out.write_corpus``: the standard library, then site-packages), repeated
until it holds ``n`` documents. Copy ``j`` ≥ 1 of a function is, with probability 1/2, the
same text (a planted exact duplicate), else the text with a comment line ``# copy j``
appended (a near copy, distinct for exact dedup). Ids are ``<base id>#<j>``. Written once
per size as Parquet in row groups of 8,192 rows.

Each run, in a fresh process (as ``bench_parts.py`` measures): ``memory``
(``lessdata.curate(dedup=...)``, ``--dedup`` exact,near by default: the in-memory path, the
baseline), ``parts-local`` and ``parts-ray`` (``lessdata.curate_parts``), at each size in
``--sizes``: wall time and its split (sharded phases / driver), the driver's peak anonymous
memory, and a hash of the kept ids; then the growth of the peak per added document, and
whether every run at a size kept the same ids.

Usage::

    python benchmarks/bench_curate_parts.py --sizes 200000,2000000     # ~40 min here
    python benchmarks/bench_curate_parts.py --sizes 200000,2000000 --dedup exact
    python benchmarks/bench_curate_parts.py --sizes 20000,80000 --base 20000   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_parts import PeakSampler, kept_digest, rss_anon_bytes  # noqa: E402
from bench_scale_out import PhaseTimer, write_corpus  # noqa: E402

MODES = ("memory", "parts-local", "parts-ray")
ROW_GROUP = 8_192


def make_corpus(path: Path, n: int, base: Path, seed: int = 0) -> None:
    """``n`` documents from the base functions, with planted copies (see the docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return
    table = pq.read_table(base)
    ids, texts = table["id"].to_pylist(), table["text"].to_pylist()
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp.parquet")
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    with pq.ParquetWriter(tmp, schema) as writer:
        for a in range(0, n, ROW_GROUP):
            rows = range(a, min(n, a + ROW_GROUP))
            same = rng.random(len(rows)) < 0.5
            out_ids, out_texts = [], []
            for row, exact in zip(rows, same, strict=True):
                copy, i = divmod(row, len(ids))
                out_ids.append(f"{ids[i]}#{copy}")
                text = texts[i]
                out_texts.append(text if copy == 0 or exact else f"{text}\n# copy {copy}\n")
            writer.write_table(pa.table({"id": out_ids, "text": out_texts}, schema=schema))
    os.replace(tmp, path)


def child(args: argparse.Namespace) -> None:
    """One run in this process; prints one JSON line."""
    import lessdata
    from lessdata.engines import Engine, get_engine

    timer = PhaseTimer()
    timer.install(Engine)
    engine: object = "local"
    if args.mode == "parts-ray":
        engine = get_engine("ray", workers=args.workers, work_dir=Path(args.cache) / "work")
        assert engine.workers == args.workers  # type: ignore[attr-defined]
    baseline = rss_anon_bytes()
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    options = dict(dedup=args.dedup.split(","), cache_dir=args.cache, quiet=True)
    if args.mode == "memory":
        result = lessdata.curate(args.data, out=args.out, report=False, **options)
    else:
        result = lessdata.curate_parts(args.data, args.out, engine=engine, **options)
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if args.mode == "parts-ray":
        engine.close()  # type: ignore[attr-defined]
    digest, n_kept = kept_digest(result)
    sharded = sum(phase["wall_s"] for phase in timer.phases.values())
    print(json.dumps({
        "mode": args.mode, "n": args.n, "wall_s": round(wall, 1), "kept": n_kept,
        "kept_sha": digest, "driver_peak_mb": round(sampler.peak / 2**20, 1),
        "driver_start_mb": round(baseline / 2**20, 1), "sharded_s": round(sharded, 1),
        "serial_s": round(wall - sharded, 1),
        "phases": {k: round(v["wall_s"], 2) for k, v in timer.phases.items()},
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,2000000")
    parser.add_argument("--base", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "lessdata-bench-cp"))
    parser.add_argument("--dedup", default="exact,near", help="exact, or exact,near")
    parser.add_argument("--save", default=None, help="default: results/curate-parts-<dedup>.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    name = args.dedup.replace(",", "-")
    args.save = args.save or str(HERE / "results" / f"curate-parts-{name}.json")
    if args.child:
        child(args)
        return
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    base = root / f"code_functions_{args.base}.parquet"
    if not base.exists():
        write_corpus(base, args.base)
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    runs = []
    if Path(args.save).exists():  # keep the other modes' runs of an earlier invocation
        earlier = json.loads(Path(args.save).read_text()).get("runs", [])
        runs = [r for r in earlier if r["mode"] not in modes or r["n"] not in sizes]
    for n in sizes:
        data = root / f"code_{n}_from_{args.base}.parquet"
        make_corpus(data, n, base)
        for mode in modes:
            command = [
                sys.executable, __file__, "--child", "--mode", mode, "--n", str(n),
                "--data", str(data), "--out", str(root / f"out-{name}-{mode}-{n}"),
                "--cache", str(root / f"cache-{mode}"), "--workers", str(args.workers),
                "--dedup", args.dedup,
            ]  # fmt: skip
            env = {**os.environ, "LESSDATA_QUIET": "1"}
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if done.returncode:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{mode} at {n} documents failed")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(json.dumps(run), flush=True)
    summary: dict[str, object] = {"runs": runs, "base": args.base, "workers": args.workers,
                                  "dedup": args.dedup}  # fmt: skip
    small, large = min(r["n"] for r in runs), max(r["n"] for r in runs)
    for mode in MODES:
        by_n = {r["n"]: r for r in runs if r["mode"] == mode}
        if small in by_n and large in by_n and large > small:
            growth = (by_n[large]["driver_peak_mb"] - by_n[small]["driver_peak_mb"]) * 2**20
            summary[f"{mode}_bytes_per_doc"] = round(growth / (large - small), 1)
            print(f"{mode}: driver peak {by_n[small]['driver_peak_mb']} MB at {small:,} docs, "
                  f"{by_n[large]['driver_peak_mb']} MB at {large:,}: "
                  f"{summary[f'{mode}_bytes_per_doc']} bytes per added document")  # fmt: skip
    for n in sorted({r["n"] for r in runs}):
        hashes = {r["kept_sha"] for r in runs if r["n"] == n}
        summary[f"identical_ids_{n}"] = len(hashes) == 1
        print(f"{n:,} documents: every mode kept the same ids: {len(hashes) == 1}")
    Path(args.save).parent.mkdir(parents=True, exist_ok=True)
    Path(args.save).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"saved {args.save}")


if __name__ == "__main__":
    main()
