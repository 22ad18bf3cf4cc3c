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
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_parts import (  # noqa: E402
    MODES,
    PeakSampler,
    earlier_runs,
    kept_digest,
    rss_anon_bytes,
    run_child,
    save_summary,
)
from bench_scale_out import PhaseTimer, write_corpus  # noqa: E402

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
    runs = earlier_runs(args.save, modes, sizes)
    for n in sizes:
        data = root / f"code_{n}_from_{args.base}.parquet"
        make_corpus(data, n, base)
        for mode in modes:
            runs.append(run_child(__file__, mode, n, [
                "--data", str(data), "--out", str(root / f"out-{name}-{mode}-{n}"),
                "--cache", str(root / f"cache-{mode}"), "--workers", str(args.workers),
                "--dedup", args.dedup,
            ]))  # fmt: skip
    summary: dict[str, object] = {"runs": runs, "base": args.base, "workers": args.workers,
                                  "dedup": args.dedup}  # fmt: skip
    save_summary(summary, runs, "doc", args.save)


if __name__ == "__main__":
    main()
