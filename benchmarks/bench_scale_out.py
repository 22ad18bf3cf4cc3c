"""Benchmark: the same pipelines on the local engine and on Ray, and a projection to 1B examples.

One run, on one machine, prints a table and writes ``<workdir>/bench_scale_out.json``:

1. **Embeddings**: 1,000,000 × 384 float32 embeddings (the memory-mapped ``.npy`` of
   ``bench_prune_1m.py``, generated once by a separate process) scored with
   ``lessdata.score(path, ["prototypes", "semdedup"], seed=0, engine=E, ...)``.
2. **Documents**: 200,000 real Python functions and classes (the top-level ones of this
   Python's standard library, the venv's site-packages and then the base interpreter's,
   split as ``read_corpus(folder, split="function")`` splits them; written once to a
   Parquet corpus)
   curated with ``lessdata.curate(corpus, quality="code", dedup=["exact", "near"], ...)``.

Each (workload, engine) runs in a fresh process, for ``E = local`` and for ``E = ray`` with
``--workers`` workers (a local Ray cluster that ``engine="ray"`` starts itself). For each run
it measures the wall time of the call, the driver's peak RSS (``VmHWM``) and the peak over
time of the summed PSS of the driver and all its descendants (Ray's GCS, raylet and
workers), sampled every 0.5 s from this process. It checks that both engines keep the same
ids, times MiniLM on about 1,000 of the documents on one core, and projects the time of 1B
embeddings and 1B documents on a cluster from the per-core throughput (assumptions printed).

Usage::

    python benchmarks/bench_scale_out.py                                  # full size
    python benchmarks/bench_scale_out.py --n-embeddings 20000 --n-docs 5000   # smoke, ~1 min
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is a plain folder

import numpy as np
from bench_prune_1m import data_paths, proc_status

HERE = Path(__file__).resolve()
DIM = 384
ENGINES = ("local", "ray")
WORKLOADS = ("embeddings", "docs")
SAMPLE_S = 0.5  # PSS sampling interval
#: driver functions timed in the measured process (module, attribute, key); absent ones skip
TIMED = (
    ("lessdata.kmeans", "_fit", "kmeans_fit_s"),
    ("lessdata.pipeline.inputs", "load", "load_and_validate_s"),
    ("lessdata.pipeline.scoring", "build_manifest", "score_manifest_s"),
    ("lessdata.pipeline.curation", "_read", "read_corpus_s"),
    ("lessdata.pipeline.curation", "build_manifest", "curate_manifest_s"),
    ("lessdata.pipeline.curation", "_write", "write_outputs_s"),
)
GB = 1e9


# --- data (each written once, by a separate process) --------------------------------------


def corpus_path(workdir: Path, n_docs: int) -> Path:
    """Where the corpus of the first ``n_docs`` functions/classes is written."""
    return workdir / f"code_functions_{n_docs}.parquet"


def source_files() -> list[tuple[str, Path, Path]]:
    """(id prefix, root, relative path) of every ``.py`` file of the corpus, in reading order.

    First ``bench_minhash.python_files``: the standard library (without its site-packages),
    then the venv's site-packages, each sorted by path. Those hold about 150k top-level
    functions/classes here, so the base interpreter's own site-packages (``sys.base_prefix``)
    follow, sorted: it shares many packages with the venv, in other versions, which adds
    the exact and near duplicates that real code collections have.
    """
    import sysconfig

    from bench_minhash import python_files  # sets 1 thread, for the corpus process only

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    venv = Path(sysconfig.get_paths()["purelib"])
    base_vars = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    base = Path(sysconfig.get_paths(vars=base_vars)["purelib"])
    files = [
        ("site", venv, p.relative_to(venv))
        if p.is_relative_to(venv)
        else ("stdlib", stdlib, p.relative_to(stdlib))
        for p in python_files()
    ]
    if base != venv and base.is_dir():
        files += [("base-site", base, p.relative_to(base)) for p in sorted(base.rglob("*.py"))]
    return files


#: rows per row group of the benchmark corpus
CORPUS_ROW_GROUP = 8_192


def write_corpus(path: Path, n_docs: int) -> None:
    """Write the first ``n_docs`` top-level functions/classes of this machine's Python code.

    Files come in :func:`source_files` order; each is split with lessdata's own
    ``split_functions`` (what ``read_corpus(folder, split="function")`` uses), so the texts
    are exact line spans of the files. Files that do not parse are skipped. The ids are
    ``<stdlib|site|base-site>/<path>:<first>-<last>``.
    """
    import warnings

    import pyarrow as pa
    import pyarrow.parquet as pq

    from lessdata.data.source_files import split_functions

    ids: list[str] = []
    texts: list[str] = []
    read = skipped = 0
    start = time.perf_counter()
    for prefix, root, rel in source_files():
        try:
            source = (root / rel).read_text(encoding="utf-8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spans = split_functions(source)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
            skipped += 1
            continue
        read += 1
        for span in spans:
            ids.append(f"{prefix}/{rel}:{span.start_line}-{span.end_line}")
            texts.append(span.text)
        if read % 2000 == 0:
            print(f"  corpus: {len(texts):,} docs from {read:,} files", flush=True)
        if len(texts) >= n_docs:
            break
    if len(texts) < n_docs:
        raise SystemExit(
            f"only {len(texts):,} top-level functions/classes exist in the stdlib and the venv; "
            f"ask for --n-docs {len(texts)} or fewer"
        )
    table = pa.table({"id": ids[:n_docs], "text": texts[:n_docs]})
    tmp = path.with_suffix(".tmp.parquet")
    # row groups of CORPUS_ROW_GROUP rows, as a corpus meant for sharded reading is written:
    # each run of row groups is one piece that a worker reads (one group would be one piece)
    pq.write_table(table, tmp, row_group_size=CORPUS_ROW_GROUP)
    os.replace(tmp, path)
    stats = {
        "docs": n_docs,
        "files_read": read,
        "files_skipped": skipped,
        "chars": int(sum(map(len, texts[:n_docs]))),
        "bytes": int(sum(len(t.encode("utf-8")) for t in texts[:n_docs])),
        "seconds": time.perf_counter() - start,
    }
    path.with_suffix(".json").write_text(json.dumps(stats, indent=2))


def ensure_data(args: argparse.Namespace) -> None:
    """Generate the embeddings and the corpus that are missing, each in its own process."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    if "embeddings" in args.workloads:
        emb, planted = data_paths(args.workdir, args.n_embeddings, DIM)
        if not emb.exists() or not planted.exists():
            print(f"generating {emb} (bench_prune_1m.py --_generate) ...", flush=True)
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, str(HERE.parent / "bench_prune_1m.py"), "--n",
                 str(args.n_embeddings), "--dim", str(DIM), "--seed", "0", "--workdir",
                 str(args.workdir), "--_generate"],
                check=True,
            )  # fmt: skip
            print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)
    if "docs" in args.workloads:
        path = corpus_path(args.workdir, args.n_docs)
        if not path.exists() or not path.with_suffix(".json").exists():
            print(f"writing the code corpus {path} ...", flush=True)
            t = time.perf_counter()
            subprocess.run(
                [*me(), "--_corpus", "--n-docs", str(args.n_docs), "--workdir", str(args.workdir)],
                check=True,
            )
            print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)


def warm_page_cache(path: Path) -> float:
    """Read ``path`` once into the page cache (a reused buffer: no memory kept); seconds."""
    t = time.perf_counter()
    buf = bytearray(1 << 24)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - t


# --- the measured process ---------------------------------------------------------------------


class PhaseTimer:
    """Wall and driver-CPU time spent inside ``Engine.imap`` (the sharded, parallel steps).

    Patches the class method, so every engine call is seen whatever module makes it; the
    time between the first shard and the last includes the driver's handling of each
    result. Everything outside these phases is the driver's serial work.
    """

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    def install(self, engine_class: type) -> None:
        """Wrap ``engine_class.imap``."""
        original = engine_class.imap
        phases = self.phases

        def imap(engine: Any, step: Callable[..., Any], items: Any, **kw: Any) -> Any:
            label = kw.get("label") or getattr(step, "__name__", "step")
            t, c = time.perf_counter(), time.process_time()
            try:
                yield from original(engine, step, items, **kw)
            finally:
                rec = phases.setdefault(
                    label, {"wall_s": 0.0, "driver_cpu_s": 0.0, "shards": 0, "calls": 0}
                )
                rec["wall_s"] += time.perf_counter() - t
                rec["driver_cpu_s"] += time.process_time() - c
                rec["shards"] += len(items)
                rec["calls"] += 1

        engine_class.imap = imap


def time_attribute(owner: Any, name: str, timings: dict[str, float], key: str) -> None:
    """Add the wall time of calls to ``owner.<name>`` to ``timings[key]`` (if it exists)."""
    original = getattr(owner, name, None)
    if original is None:
        return

    def wrapper(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t

    setattr(owner, name, wrapper)


def engine_kwargs(
    fn: Callable[..., Any], engine: str, workers: int, work_dir: Path, omit: bool = False
) -> dict[str, Any]:
    """The engine keywords for ``fn``; ``omit`` passes none (plumbing tests before they exist).

    Ray: an engine of ``workers`` CPUs that checkpoints under ``work_dir``, as the CLI makes.
    """
    import inspect

    from lessdata.engines import get_engine

    if omit:
        return {}
    if "engine" not in inspect.signature(fn).parameters:
        raise SystemExit(f"lessdata.{fn.__name__} has no engine= keyword yet; use --_omit-engine")
    if engine == "local":
        return {"engine": "local"}
    return {"engine": get_engine("ray", workers=workers, work_dir=work_dir)}


def child(args: argparse.Namespace) -> None:
    """Run one (workload, engine) in this fresh process; write its figures to ``--_result``."""
    t_import = time.perf_counter()
    import faiss
    import pyarrow.parquet as pq

    import lessdata
    from lessdata.engines.base import Engine

    import_s = time.perf_counter() - t_import
    timer = PhaseTimer()
    timer.install(Engine)
    timings: dict[str, float] = {}
    for module, name, key in TIMED:
        time_attribute(importlib.import_module(module), name, timings, key)
    if args._engine == "ray":
        from lessdata.engines.ray_engine import RayEngine

        time_attribute(RayEngine, "_connect", timings, "ray_start_s")
        time_attribute(RayEngine, "close", timings, "ray_stop_s")

    workload, engine = args._child, args._engine
    out_prefix = args.workdir / f"scale_out_{workload}_{engine}"
    with tempfile.TemporaryDirectory(prefix="bench_scale_out_") as tmp:
        if workload == "embeddings":
            path, _ = data_paths(args.workdir, args.n_embeddings, DIM)
            kw = engine_kwargs(
                lessdata.score, engine, args.workers, Path(tmp) / "work", args._omit_engine
            )
            t, c = time.perf_counter(), time.process_time()
            table = lessdata.score(
                str(path), ["prototypes", "semdedup"], seed=0, cache_dir=tmp, **kw
            )
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            if not isinstance(kw.get("engine", "local"), str):
                kw["engine"].close()  # the caller's engine: stop the cluster it started
            removed = (
                table.column("semdedup_duplicate_of").is_valid().to_numpy(zero_copy_only=False)
            )
            kept = np.flatnonzero(~removed)
            n = table.num_rows
            extra = {"removed_by_semdedup": int(removed.sum())}
        else:
            corpus = corpus_path(args.workdir, args.n_docs)
            kw = engine_kwargs(
                lessdata.curate, engine, args.workers, Path(tmp) / "work", args._omit_engine
            )
            t, c = time.perf_counter(), time.process_time()
            result = lessdata.curate(
                str(corpus), quality="code", dedup=["exact", "near"], seed=0,
                out=Path(tmp) / "out", report=False, cache_dir=tmp, **kw,
            )  # fmt: skip
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            if not isinstance(kw.get("engine", "local"), str):
                kw["engine"].close()  # the caller's engine: stop the cluster it started
            table = result.manifest
            kept = np.asarray(result.kept, dtype=np.int64)
            column = np.flatnonzero(table.column("kept").to_numpy(zero_copy_only=False))
            n = table.num_rows
            extra = {
                "stages_removed": result.stages,
                "kept_column_matches_result": bool(np.array_equal(column, kept)),
            }
    status = proc_status()
    np.save(f"{out_prefix}_kept.npy", kept)
    pq.write_table(table.replace_schema_metadata(None), f"{out_prefix}_manifest.parquet")
    from threadpoolctl import threadpool_info

    figures = {
        "workload": workload,
        "engine": engine,
        "workers": args.workers if engine == "ray" else 1,
        "n": n,
        "kept": len(kept),
        "import_s": import_s,
        "wall_s": wall,
        "driver_cpu_s": cpu,
        "phases": timer.phases,
        "timings": timings,
        "driver_vmhwm": status["VmHWM"],
        "driver_threads": {
            "faiss_omp": faiss.omp_get_max_threads(),
            **{p["internal_api"]: p["num_threads"] for p in threadpool_info()},
        },
        **extra,
    }
    args._result.write_text(json.dumps(figures))


def embed_child(args: argparse.Namespace) -> None:
    """Time MiniLM on evenly spaced documents of the corpus, on one core (one torch thread)."""
    import pyarrow.parquet as pq
    import torch

    from lessdata.embed import embed_texts
    from lessdata.embed.encoders import _load_sentence_transformer, get_encoder

    torch.set_num_threads(1)
    texts = pq.read_table(corpus_path(args.workdir, args.n_docs), columns=["text"])["text"]
    n = min(args.embed_docs, len(texts))
    rows = np.linspace(0, len(texts) - 1, n).astype(np.int64)
    docs = texts.take(rows).to_pylist()
    embed_texts(docs[:8], "minilm", use_cache=False)  # load the model, warm up
    t, c = time.perf_counter(), time.process_time()
    vectors = embed_texts(docs, "minilm", use_cache=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    # tokens actually seen (truncated at max_seq_length) and parameters, for a FLOP estimate
    model = _load_sentence_transformer(get_encoder("minilm").path)
    max_len = int(model.max_seq_length)
    lengths = [
        len(ids) for ids in model.tokenizer(docs, truncation=True, max_length=max_len)["input_ids"]
    ]
    bert = model[0].auto_model
    params = sum(p.numel() for p in bert.parameters())
    embedding_params = sum(p.numel() for p in bert.embeddings.parameters())
    layers, width = bert.config.num_hidden_layers, bert.config.hidden_size
    tokens = np.asarray(lengths, dtype=np.float64)
    flops = float((2 * (params - embedding_params) * tokens + 4 * layers * width * tokens**2).sum())
    figures = {
        "docs": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "torch_threads": torch.get_num_threads(),
        "docs_per_s_core": n / wall,
        "dim": int(vectors.shape[1]),
        "max_seq_length": max_len,
        "mean_tokens": float(tokens.mean()),
        "truncated_fraction": float((tokens >= max_len).mean()),
        "mean_chars": float(np.mean([len(d) for d in docs])),
        "flops_per_doc": flops / n,
        "achieved_gflops": flops / wall / 1e9,
    }
    args._result.write_text(json.dumps(figures))


def thread_probe(_shard: int) -> dict[str, Any]:
    """An engine step that reports the BLAS/OpenMP threads of the process that runs it."""
    import faiss
    from threadpoolctl import threadpool_info

    import lessdata.kmeans  # noqa: F401  (what the real steps import)

    pools = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
    return {
        "pid": os.getpid(),
        "faiss_omp": faiss.omp_get_max_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        **pools,
    }


def probe_child(args: argparse.Namespace) -> None:
    """Ask Ray workers started as ``engine="ray"`` starts them how many threads they use."""
    from lessdata.engines import running_engine

    with running_engine("ray", workers=args.workers) as engine:
        reports = engine.map(thread_probe, list(range(4 * args.workers)), label="probe")
    unique = {json.dumps(r, sort_keys=True) for r in reports}
    args._result.write_text(json.dumps([json.loads(u) for u in sorted(unique)]))


# --- the measuring process ----------------------------------------------------------------------


def process_kind(proc: Any, root_pid: int) -> str:
    """driver, gcs, raylet, workers or other (Ray's agents and monitors)."""
    if proc.pid == root_pid:
        return "driver"
    name = proc.name()
    if name == "gcs_server":
        return "gcs"
    if name == "raylet":
        return "raylet"
    if name.startswith("ray::") or "default_worker.py" in " ".join(proc.cmdline()):
        return "workers"
    return "other"


class TreeSampler(threading.Thread):
    """Samples the summed PSS and the CPU time of a process and all its descendants.

    PSS divides each shared page (the memory map, Ray's shared-memory object store, shared
    libraries) among the processes that map it, so the sum counts every page once. The
    peak is over samples every ``interval`` seconds, so a spike shorter than that may be
    missed. CPU time is each process's last sampled user + system time; a process that
    exits loses at most one interval.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_S) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop = threading.Event()
        self.peak = 0
        self.peak_parts: dict[str, int] = {}
        self.peak_procs = 0
        self.cpu: dict[int, tuple[str, float]] = {}
        self.samples = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        """One sample of the tree."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total, parts = 0, {}
        for proc in procs:
            try:
                with proc.oneshot():
                    kind = process_kind(proc, self.pid)
                    pss = proc.memory_full_info().pss
                    times = proc.cpu_times()
            except psutil.Error:
                continue
            total += pss
            parts[kind] = parts.get(kind, 0) + pss
            self.cpu[proc.pid] = (kind, times.user + times.system)
        self.samples += 1
        if total > self.peak:
            self.peak, self.peak_parts, self.peak_procs = total, parts, len(procs)

    def cpu_by_kind(self) -> dict[str, float]:
        """CPU seconds per kind of process over the whole run."""
        out: dict[str, float] = {}
        for kind, seconds in self.cpu.values():
            out[kind] = out.get(kind, 0.0) + seconds
        return out


def me() -> list[str]:
    """The command that runs this script."""
    return [sys.executable, str(HERE)]


def run_child(
    args: argparse.Namespace, extra: list[str], result: Path, threads: int | None
) -> dict:
    """Run this script's child mode in a fresh process under a TreeSampler; its figures."""
    env = {**os.environ, "LESSDATA_QUIET": "1"}
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    cmd = [*me(), *extra, "--n-embeddings", str(args.n_embeddings), "--n-docs", str(args.n_docs),
           "--workers", str(args.workers), "--workdir", str(args.workdir), "--embed-docs",
           str(args.embed_docs), "--_result", str(result)]  # fmt: skip
    result.unlink(missing_ok=True)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    code = proc.wait()
    sampler.stop.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"child {' '.join(extra)} failed with exit code {code}")
    figures = json.loads(result.read_text())
    figures.update(
        process_wall_s=time.perf_counter() - t,
        peak_pss_tree=sampler.peak,
        peak_pss_parts=sampler.peak_parts,
        peak_processes=sampler.peak_procs,
        pss_samples=sampler.samples,
        cpu_s_by_process=sampler.cpu_by_kind(),
    )
    return figures


def worker_threads(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The threads a Ray worker's steps use (the --_probe child, a separate short run)."""
    result = args.workdir / "scale_out_probe.json"
    cmd = [*me(), "--_probe", "--workers", str(args.workers), "--_result", str(result)]
    subprocess.run(cmd, check=True, env={**os.environ, "LESSDATA_QUIET": "1"})
    return json.loads(result.read_text())


def columns_equal(x: Any, y: Any) -> bool:
    """Arrow columns with the same type, nulls and values (NaN equal to NaN, unlike ``equals``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if x.type != y.type or len(x) != len(y):
        return False
    if not pa.types.is_floating(x.type):
        return bool(x.equals(y))
    same_nulls = pc.is_null(x).equals(pc.is_null(y))
    a, b = (c.to_numpy(zero_copy_only=False) for c in (x, y))
    return bool(same_nulls and np.array_equal(a, b, equal_nan=True))


def compare(workdir: Path, workload: str) -> dict[str, Any]:
    """Do the local and Ray runs keep the same ids, and write the same manifest columns?"""
    import pyarrow.parquet as pq

    prefix = [workdir / f"scale_out_{workload}_{e}" for e in ENGINES]
    kept = [np.load(f"{p}_kept.npy") for p in prefix]
    tables = [pq.read_table(f"{p}_manifest.parquet") for p in prefix]
    same_columns = tables[0].column_names == tables[1].column_names
    differing = [
        name for name in tables[0].column_names
        if same_columns and not columns_equal(tables[0].column(name), tables[1].column(name))
    ]  # fmt: skip
    return {
        "kept_identical": bool(np.array_equal(kept[0], kept[1])),
        "kept": [len(k) for k in kept],
        "kept_symmetric_difference": len(np.setxor1d(kept[0], kept[1])),
        "manifest_columns_identical": same_columns and not differing,
        "differing_columns": differing,
    }


# --- report and projection ----------------------------------------------------------------------


def derived(run: dict[str, Any]) -> dict[str, float]:
    """Per-core throughput, CPU use and the split into sharded (parallel) and serial time."""
    mapped = sum(p["wall_s"] for p in run["phases"].values())
    cpu = run["cpu_s_by_process"]
    worker_cpu = cpu.get("workers", 0.0)
    cores = run["workers"]
    return {
        "examples_per_s": run["n"] / run["wall_s"],
        "examples_per_s_core": run["n"] / run["wall_s"] / cores,
        "mapped_s": mapped,
        "serial_s": run["wall_s"] - mapped,
        "mapped_driver_threads": (
            sum(p["driver_cpu_s"] for p in run["phases"].values()) / mapped if mapped else 0.0
        ),
        "driver_cores_busy": run["driver_cpu_s"] / run["wall_s"],
        "worker_cpu_s": worker_cpu,
        "worker_busy_fraction": worker_cpu / (cores * mapped) if mapped and cores else 0.0,
        "total_cpu_s": sum(cpu.values()),
    }


def table_lines(runs: dict[str, dict[str, dict]]) -> list[str]:
    """The main table: one row per (workload, engine)."""
    head = (
        f"| {'workload':<10} | {'engine':<6} | {'n':>9} | {'wall s':>7} | {'local/ray':>9} | "
        f"{'ex/s':>8} | {'ex/s/core':>9} | {'driver HWM GB':>13} | {'peak PSS GB':>11} | "
        f"{'CPU s':>7} | {'mapped s':>8} | {'serial s':>8} |"
    )
    lines = [head, "|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|"]
    for workload, by_engine in runs.items():
        for engine, run in by_engine.items():
            d = derived(run)
            ratio = (
                f"{by_engine['local']['wall_s'] / run['wall_s']:8.2f}×"
                if engine == "ray" and "local" in by_engine else f"{'':>9}"
            )  # fmt: skip
            lines.append(
                f"| {workload:<10} | {engine:<6} | {run['n']:>9,} | {run['wall_s']:>7.1f} | "
                f"{ratio} | {d['examples_per_s']:>8,.0f} | {d['examples_per_s_core']:>9,.0f} | "
                f"{run['driver_vmhwm'] / GB:>13.2f} | {run['peak_pss_tree'] / GB:>11.2f} | "
                f"{d['total_cpu_s']:>7.1f} | {d['mapped_s']:>8.1f} | {d['serial_s']:>8.1f} |"
            )
    return lines


def detail_lines(runs: dict[str, dict[str, dict]]) -> list[str]:
    """Per run: the phases, threads, CPU by process and the PSS at its peak."""
    lines = []
    for workload, by_engine in runs.items():
        for engine, run in by_engine.items():
            d = derived(run)
            phases = "; ".join(
                f"{label} {p['wall_s']:.1f} s / {p['shards']} shards"
                for label, p in run["phases"].items()
            )
            t = run["timings"]
            serial_parts = [f"{key[:-2].replace('_', ' ')} {t[key]:.1f} s" for key in t]
            cpu = ", ".join(f"{k} {v:.1f}" for k, v in sorted(run["cpu_s_by_process"].items()))
            pss = ", ".join(f"{k} {v / GB:.2f}" for k, v in sorted(run["peak_pss_parts"].items()))
            threads = ", ".join(f"{k}={v}" for k, v in run["driver_threads"].items())
            lines += [
                f"{workload} / {engine}: sharded phases: {phases or 'none'}",
                f"  serial (driver) {d['serial_s']:.1f} s; timed calls (a call may contain "
                f"sharded phases): {', '.join(serial_parts) or 'none'}",
                f"  driver threads: {threads}; driver CPU/wall over the call "
                f"{d['driver_cores_busy']:.2f}; in sharded phases {d['mapped_driver_threads']:.2f}",
                f"  CPU s by process: {cpu}"
                + (
                    f"; Ray workers' CPU = {d['worker_busy_fraction']:.0%} of {run['workers']} × "
                    "the sharded wall (their start-up included)"
                    if engine == "ray"
                    else ""
                ),
                f"  peak PSS {run['peak_pss_tree'] / GB:.2f} GB over {run['peak_processes']} "
                f"processes ({pss}); driver VmHWM {run['driver_vmhwm'] / GB:.2f} GB; "
                f"{run['pss_samples']} samples; kept {run['kept']:,} of {run['n']:,}",
            ]
    return lines


def hms(seconds: float) -> str:
    """Seconds as a short human duration."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def project(
    runs: dict[str, dict[str, dict]], embed: dict | None, corpus: dict | None,
    args: argparse.Namespace,
) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """The projected time for ``args.target`` embeddings and documents on the cluster."""
    N = float(args.target)
    cores = args.nodes * args.cores_per_node
    lines = [
        f"projection to {N:.0e} examples on {args.nodes} nodes × {args.cores_per_node} cores "
        f"= {cores:,} cores (EXTRAPOLATION from one 2-core machine; assumptions below)",
    ]
    out: dict[str, Any] = {"target": N, "nodes": args.nodes, "cores": cores}
    local_cores = os.cpu_count() or 1

    def efficiency(workload: str) -> tuple[float, float, float]:
        local, ray = derived(runs[workload]["local"]), derived(runs[workload]["ray"])
        e12 = local["mapped_s"] / (args.workers * ray["mapped_s"]) if ray["mapped_s"] else 0.0
        return e12, local["mapped_s"], ray["mapped_s"]

    if "embeddings" in runs and set(ENGINES) <= set(runs["embeddings"]):
        ray_run = runs["embeddings"]["ray"]
        n = ray_run["n"]
        e12, m_local, m_ray = efficiency("embeddings")
        local_threads = derived(runs["embeddings"]["local"])["mapped_driver_threads"]
        growth = N / n
        par_scale = growth * math.sqrt(growth)  # k = sqrt(N): n·k and Σ n_c² both ∝ N^1.5
        t_par = m_ray * args.workers * par_scale / cores
        fit = ray_run["timings"].get("kmeans_fit_s", 0.0)
        t_fit = fit * growth * local_cores / args.cores_per_node
        ray_fixed = ray_run["timings"].get("ray_start_s", 0.0) + ray_run["timings"].get(
            "ray_stop_s", 0.0
        )
        other = max(0.0, derived(ray_run)["serial_s"] - fit - ray_fixed)
        t_other = other * growth
        emb_bytes = N * DIM * 4
        t_io = 2 * emb_bytes / (args.storage_gb_s * GB)
        total = t_fit + t_other + t_par + t_io
        overlapped = t_fit + t_other + max(t_par, t_io)
        k_n, k_N = round(math.sqrt(n)), round(math.sqrt(N))
        lines += [
            "",
            f"1B embeddings, prototypes + semdedup (measured n = {n:,}, k = {k_n} → k = {k_N:,}):",
            f"  sharded steps (assignment, per-cluster semdedup): {m_local:.1f} s on 1 local "
            f"process, {m_ray:.1f} s on {args.workers} Ray workers → efficiency E = "
            f"{m_local:.1f}/({args.workers}×{m_ray:.1f}) = {e12:.2f} (1 → {args.workers} workers; "
            f"the local process used {local_threads:.1f} cores in them (BLAS/faiss threads), "
            "so E understates the efficiency when that exceeds 1)",
            f"  work grows as N^1.5 at the default k = round(√N) (assignment ∝ N·k, semdedup ∝ "
            f"Σ n_c² ≈ N²/k): ×{par_scale:.3g}; time = {m_local:.1f} s × {par_scale:.3g} / "
            f"({cores:,} cores × E {e12:.2f}) = {hms(t_par)} (assumes E holds at {cores:,} cores)",
            f"  k-means training on the driver: {fit:.1f} s here on {local_cores} cores; its "
            f"sample is 256·k rows, so its cost ∝ k² ∝ N: ×{growth:.3g}, on one "
            f"{args.cores_per_node}-core driver with perfect thread scaling → {hms(t_fit)} "
            "(serial; a GPU driver or a distributed k-means would cut it)",
            f"  other driver work (load/validate, gathering results, manifest): {other:.1f} s, "
            f"linear in N and single-threaded → {hms(t_other)}",
            f"  reading {emb_bytes / 1e12:.2f} TB of embeddings twice (assignment pass, then by "
            f"cluster) at {args.storage_gb_s:g} GB/s aggregate shared storage → {hms(t_io)} "
            "(the by-cluster pass needs rows grouped by cluster to stay sequential)",
            f"  total ≈ {hms(total)} without overlap, {hms(overlapped)} with I/O hidden behind "
            "compute (Ray start excluded: the cluster is already up)",
        ]
        out["embeddings"] = dict(
            n=n, efficiency=e12, par_scale=par_scale, sharded_s=t_par, kmeans_fit_s=t_fit,
            other_serial_s=t_other, io_s=t_io, total_s=total, total_overlapped_s=overlapped,
        )  # fmt: skip
        if embed is not None:
            cpu_rate = embed["docs_per_s_core"]
            t_cpu = N / (cpu_rate * cores)
            gpus = args.nodes * args.gpus_per_node
            t_gpu = N * embed["flops_per_doc"] / (gpus * args.gpu_tflops * 1e12)
            lines += [
                f"  + producing the embeddings with MiniLM (measured {cpu_rate:.1f} docs/s on one "
                f"core, {embed['mean_tokens']:.0f} tokens/doc after truncation at "
                f"{embed['max_seq_length']}, ≈{embed['flops_per_doc'] / 1e9:.1f} GFLOP/doc): on "
                f"{cores:,} CPU cores, perfectly parallel → {hms(t_cpu)}; on {gpus} GPUs at an "
                f"assumed sustained {args.gpu_tflops:g} TFLOP/s each (not measured here) → "
                f"{hms(t_gpu)}",
            ]
            out["embeddings"].update(embed_cpu_s=t_cpu, embed_gpu_s=t_gpu, gpus=gpus)

    if "docs" in runs and set(ENGINES) <= set(runs["docs"]):
        ray_run = runs["docs"]["ray"]
        n = ray_run["n"]
        e12, m_local, m_ray = efficiency("docs")
        growth = N / n
        t_par = m_ray * args.workers * growth / cores
        ray_fixed = ray_run["timings"].get("ray_start_s", 0.0) + ray_run["timings"].get(
            "ray_stop_s", 0.0
        )
        serial = max(0.0, derived(ray_run)["serial_s"] - ray_fixed)
        t_serial = serial * growth
        parts = ", ".join(
            f"{key[:-2].replace('_', ' ')} {value:.1f} s"
            for key, value in ray_run["timings"].items()
            if not key.startswith("ray_")
        )
        doc_bytes = corpus["bytes"] / corpus["docs"] if corpus else 0.0
        t_io = N * doc_bytes / (args.storage_gb_s * GB)
        total = t_serial + t_par + t_io
        lines += [
            "",
            f"1B documents, quality + exact + near (measured n = {n:,}):",
            f"  sharded steps (quality, MinHash signatures, ...): {m_local:.1f} s on 1 local "
            f"process, {m_ray:.1f} s on {args.workers} Ray workers → E = {e12:.2f}; linear in N: "
            f"{m_local:.1f} s × {growth:.3g} / ({cores:,} cores × E) → {hms(t_par)}",
            f"  driver work outside the sharded phases (timed calls: {parts or 'none'}): "
            f"{serial:.1f} s, linear in N and serial → {hms(t_serial)}; at 1B it must stream: "
            "the signatures alone are 1 KiB/doc = 1 TB",
            f"  reading {N * doc_bytes / 1e12:.2f} TB of text ({doc_bytes:.0f} B/doc) at "
            f"{args.storage_gb_s:g} GB/s → {hms(t_io)}",
            f"  total ≈ {hms(total)} (no overlap)",
        ]
        out["docs"] = dict(
            n=n, efficiency=e12, sharded_s=t_par, serial_s=t_serial, io_s=t_io, total_s=total
        )
    lines += [
        "",
        "assumptions: per-core speed of the cluster = this machine's; efficiency E at "
        f"{cores:,} cores = E measured at 1 → {args.workers} workers (optimistic: no stragglers, "
        "no scheduler or network limits); the driver's serial work scales as stated and is "
        "never overlapped; shared storage bandwidth as given; nothing retried.",
    ]
    return lines, out


# --- main ---------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options (child modes are hidden)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-embeddings", type=int, default=1_000_000)
    p.add_argument("--n-docs", type=int, default=200_000)
    p.add_argument("--workers", type=int, default=2, help="Ray workers (default 2)")
    p.add_argument("--only", choices=WORKLOADS, help="run one workload only")
    p.add_argument(
        "--embed-docs",
        type=int,
        default=None,
        help="docs for the MiniLM timing (default min(1000, n_docs/10); 0 skips)",
    )
    p.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    p.add_argument("--target", type=float, default=1e9, help="examples to project to")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--cores-per-node", type=int, default=32)
    p.add_argument(
        "--storage-gb-s",
        type=float,
        default=10.0,
        help="aggregate shared-storage read bandwidth, GB/s (assumption)",
    )
    p.add_argument("--gpus-per-node", type=int, default=1)
    p.add_argument(
        "--gpu-tflops",
        type=float,
        default=100.0,
        help="assumed sustained TFLOP/s per GPU for MiniLM (not measured)",
    )
    p.add_argument("--_omit-engine", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_corpus", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_child", choices=WORKLOADS, help=argparse.SUPPRESS)
    p.add_argument("--_embed", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_engine", choices=ENGINES, help=argparse.SUPPRESS)
    p.add_argument("--_result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)  # fmt: skip
    if args.embed_docs is None:
        args.embed_docs = min(1000, max(100, args.n_docs // 10))
    args.workloads = (args.only,) if args.only else WORKLOADS
    return args


def main(argv: list[str] | None = None) -> None:
    """Generate the data, run every (workload, engine) in a fresh process, report."""
    args = parse(argv)
    if args._corpus:
        return write_corpus(corpus_path(args.workdir, args.n_docs), args.n_docs)
    if args._child:
        return child(args)
    if args._embed:
        return embed_child(args)
    if args._probe:
        return probe_child(args)

    ensure_data(args)
    runs: dict[str, dict[str, dict]] = {}
    checks: dict[str, dict] = {}
    load_before = os.getloadavg()
    todo = [(w, e) for w in args.workloads for e in ENGINES]
    for i, (workload, engine) in enumerate(todo, 1):
        if workload == "embeddings" and engine == ENGINES[0]:
            path, _ = data_paths(args.workdir, args.n_embeddings, DIM)
            print(f"warming the page cache: {path} ({warm_page_cache(path):.1f} s)", flush=True)
        print(f"[{i}/{len(todo)}] {workload} on {engine} (fresh process) ...", flush=True)
        result = args.workdir / f"scale_out_{workload}_{engine}.json"
        extra = ["--_child", workload, "--_engine", engine]
        extra += ["--_omit-engine"] if args._omit_engine else []
        run = run_child(args, extra, result, None)
        run["engine"], run["workers"] = engine, args.workers if engine == "ray" else 1
        runs.setdefault(workload, {})[engine] = run
        print(f"  {run['wall_s']:.1f} s, peak PSS {run['peak_pss_tree'] / GB:.2f} GB", flush=True)
    for workload in runs:
        checks[workload] = compare(args.workdir, workload)
    probe = worker_threads(args) if not args._omit_engine else []

    embed = corpus = None
    if "docs" in args.workloads:
        corpus = json.loads(corpus_path(args.workdir, args.n_docs).with_suffix(".json").read_text())
        if args.embed_docs > 0:
            print(f"timing MiniLM on {args.embed_docs} documents, one core ...", flush=True)
            result = args.workdir / "scale_out_embed.json"
            embed = run_child(args, ["--_embed"], result, threads=1)
    load_after = os.getloadavg()

    lines = [
        f"scale-out: local engine vs Ray with {args.workers} workers, same machine "
        f"({os.cpu_count()} CPUs; 1-min load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after)",
    ]
    if corpus:
        lines.append(
            f"code corpus: {corpus['docs']:,} top-level functions/classes from "
            f"{corpus['files_read']:,} .py files ({corpus['files_skipped']} unparsable skipped), "
            f"{corpus['bytes'] / 1e6:.0f} MB"
        )
    lines += ["", *table_lines(runs), "",
              "ex/s/core: local divides by 1 process (its BLAS/faiss threads are shown below), "
              f"ray by {args.workers} workers; peak PSS = driver + all descendants (GCS, raylet, "
              f"workers), sampled every {SAMPLE_S} s", ""]  # fmt: skip
    lines += detail_lines(runs)
    lines.append("")
    for workload, c in checks.items():
        columns = "yes" if c["manifest_columns_identical"] else f"no {c['differing_columns']}"
        lines.append(
            f"same kept ids, local vs ray ({workload}): "
            f"{'YES' if c['kept_identical'] else 'NO'} ({c['kept'][0]:,} vs {c['kept'][1]:,}; "
            f"symmetric difference {c['kept_symmetric_difference']}); all manifest columns "
            f"identical: {columns}"
        )
    for report in probe:
        pools = ", ".join(f"{k}={v}" for k, v in report.items() if k != "pid")
        lines.append(f"a Ray worker (pid {report['pid']}) runs steps with {pools}")
    if embed:
        lines.append(
            f"MiniLM on {embed['docs']} code docs, {embed['torch_threads']} torch thread: "
            f"{embed['docs_per_s_core']:.1f} docs/s/core ({embed['mean_tokens']:.0f} tokens/doc, "
            f"{embed['truncated_fraction']:.0%} truncated at {embed['max_seq_length']}; "
            f"{embed['achieved_gflops']:.0f} GFLOP/s)"
        )
    summary: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "runs": runs,
        "checks": checks,
        "ray_worker_threads": probe,
        "embed": embed,
        "corpus": corpus,
        "derived": {w: {e: derived(r) for e, r in by.items()} for w, by in runs.items()},
        "loadavg": [load_before, load_after],
    }
    if all(set(ENGINES) <= set(by) for by in runs.values()):
        proj_lines, summary["projection"] = project(runs, embed, corpus, args)
        lines += ["", *proj_lines]
    print("\n" + "\n".join(lines), flush=True)
    default = args.n_embeddings == 1_000_000 and args.n_docs == 200_000 and not args.only
    only = f"_{args.only}" if args.only else ""
    name = f"bench_scale_out_{args.n_embeddings}_{args.n_docs}{only}.json"
    name = "bench_scale_out.json" if default else name
    out = args.workdir / name
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
