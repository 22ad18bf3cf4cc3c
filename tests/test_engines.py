"""The engines: the same shards give the same results locally and on Ray; shards retry and resume.

One local Ray cluster (2 CPUs) is shared by the module's Ray tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import ray

import lessdata
from lessdata import kmeans
from lessdata.duplicates import semdedup
from lessdata.engines import MappedArray, ShardCheckpoint, get_engine
from lessdata.engines.base import fingerprint
from lessdata.errors import LessdataError


@pytest.fixture(scope="module")
def ray_engine():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # workers cannot import this test module: send its step functions by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    engine = get_engine("ray")
    yield engine
    ray.shutdown()


def square_plus(item: int, offset: int) -> int:
    return item * item + offset


def row_sums(rows: tuple[int, int], array: np.ndarray) -> np.ndarray:
    return np.asarray(array[rows[0] : rows[1]]).sum(axis=1)


def fail_on(item: int, bad: int) -> int:
    if item == bad:
        raise LessdataError(f"shard {item} is bad")
    return item


def die_once(item: tuple[int, str]) -> int:
    """Kill this worker process the first time shard 2 runs; a retry finds the marker."""
    index, marker_dir = item
    marker = Path(marker_dir) / f"attempt-{index}"
    if index == 2 and not marker.exists():
        marker.touch()
        os._exit(1)
    return index * 10


def _clusters(n: int = 3000, d: int = 16, seed: int = 0) -> np.ndarray:
    """Gaussian clusters with planted exact and near duplicates (so SemDeDup has work)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d))
    x = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, d))
    copies = rng.choice(n, n // 10, replace=False)
    x[copies[: len(copies) // 2]] = x[copies[len(copies) // 2 :]] + 1e-4 * rng.normal(
        size=(len(copies) // 2, d)
    )
    return x.astype(np.float32)


# --- local engine, checkpoints, memory maps ------------------------------------------------


def test_local_map_is_the_plain_loop():
    engine = get_engine("local")
    assert engine.map(square_plus, [1, 2, 3], shared=(5,)) == [6, 9, 14]
    assert engine.map(square_plus, [], shared=(5,)) == []


def test_unknown_engine_and_misplaced_ray_options_are_clear_errors():
    with pytest.raises(LessdataError, match="unknown engine 'spark'"):
        get_engine("spark")
    with pytest.raises(LessdataError, match="`address` and `workers` apply to the ray engine"):
        get_engine("local", address="auto")
    with pytest.raises(LessdataError, match="unknown engine"):
        lessdata.score(np.zeros((10, 2), np.float32) + np.eye(10, 2, dtype=np.float32),
                       "prototypes", metric_options={"k": 2}, engine="dask")  # fmt: skip


def test_checkpoint_resumes_only_unfinished_shards(tmp_path):
    engine = get_engine("local", work_dir=tmp_path)
    calls: list[int] = []

    def counted(item: int) -> int:
        calls.append(item)
        if item == 3 and len(calls) < 5:
            raise KeyboardInterrupt  # the driver stops after shards 0, 1, 2
        return item + 100

    checkpoint = engine.checkpoint("counted", "inputs")
    assert checkpoint is not None and checkpoint.folder.parent == tmp_path
    with pytest.raises(KeyboardInterrupt):
        engine.map(counted, list(range(6)), checkpoint=checkpoint)
    assert [checkpoint.done(i) for i in range(6)] == [True] * 3 + [False] * 3
    calls.clear()
    calls.extend([-1] * 10)  # the rerun must not fail again
    result = engine.map(counted, list(range(6)), checkpoint=checkpoint)
    assert result == [100, 101, 102, 103, 104, 105]
    assert calls[10:] == [3, 4, 5]  # finished shards were loaded, not recomputed


def test_checkpoint_folder_depends_on_the_inputs(tmp_path):
    engine = get_engine("local", work_dir=tmp_path)
    a = engine.checkpoint("step", np.arange(5), 1)
    b = engine.checkpoint("step", np.arange(5), 2)
    c = engine.checkpoint("step", np.arange(5) + 1, 1)
    assert len({a.folder, b.folder, c.folder}) == 3
    assert get_engine("local").checkpoint("step", 1) is None  # no work_dir, no checkpoints


def test_mapped_array_travels_by_path_and_refuses_slices(tmp_path):
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.save(tmp_path / "x.npy", x)
    m = np.load(tmp_path / "x.npy", mmap_mode="r")
    record = MappedArray.of(m)
    assert record is not None and record.shape == (20, 3)
    np.testing.assert_array_equal(record.open(), x)
    assert MappedArray.of(m[5:]) is None  # a view of part of the file: not the whole file
    assert MappedArray.of(m[:5]) is None
    assert MappedArray.of(x) is None


def test_fingerprint_of_a_memory_map_changes_with_the_file(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((4, 2), np.float32))
    before = fingerprint(np.load(path, mmap_mode="r"))
    np.save(path, np.ones((4, 2), np.float32))
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock
    assert fingerprint(np.load(path, mmap_mode="r")) != before


def test_a_killed_driver_resumes_from_finished_shards(tmp_path):
    """SIGKILL the driver itself in the middle of a local run; the rerun finishes the rest."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from lessdata.engines import get_engine

        work, log = Path({str(tmp_path)!r}), Path({str(tmp_path / "log")!r})
        kill_at = int(sys.argv[1])

        def step(item):
            if item == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            with open(log, "a") as f:
                f.write(f"{{item}}\\n")
            return item * 2

        engine = get_engine("local", work_dir=work)
        print(sum(engine.map(step, list(range(8)), checkpoint=engine.checkpoint("s", 1))))
        """
    )
    run = [sys.executable, "-c", script]
    env = {**os.environ, "LESSDATA_QUIET": "1"}
    first = subprocess.run([*run, "5"], capture_output=True, text=True, env=env)
    assert first.returncode == -signal.SIGKILL
    second = subprocess.run([*run, "-1"], capture_output=True, text=True, env=env, check=True)
    assert second.stdout.strip() == str(2 * sum(range(8)))
    computed = (tmp_path / "log").read_text().split()
    assert computed == ["0", "1", "2", "3", "4", "5", "6", "7"]  # 0-4 once, then 5-7 once


# --- Ray ------------------------------------------------------------------------------------


def test_ray_map_equals_local_and_reads_memory_maps_by_path(ray_engine, tmp_path):
    assert ray_engine.workers == 2
    items = list(range(7))
    assert ray_engine.map(square_plus, items, shared=(1,)) == [i * i + 1 for i in items]
    x = np.random.default_rng(0).normal(size=(5000, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert isinstance(ray_engine.share(mapped), MappedArray)
    shards = [(i, min(i + 1000, 5000)) for i in range(0, 5000, 1000)]
    local = get_engine("local").map(row_sums, shards, shared=(x,))
    for shared in (mapped, x):  # by path, and through the object store
        remote = ray_engine.map(row_sums, shards, shared=(shared,))
        for a, b in zip(local, remote, strict=True):
            np.testing.assert_array_equal(a, b)


def test_kmeans_sample_plan_is_per_chunk_and_seeded(monkeypatch):
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 700)
    plan = kmeans.sample_plan(5000, 1200, seed=4)
    assert sum(count for _, _, count, _ in plan) == 1200
    assert all(0 < count <= stop - start <= 700 for start, stop, count, _ in plan)
    assert plan == kmeans.sample_plan(5000, 1200, seed=4)
    assert plan != kmeans.sample_plan(5000, 1200, seed=5)
    assert [count for _, _, count, _ in kmeans.sample_plan(1000, 1000, 0)] == [700, 300]


def test_kmeans_training_gives_the_same_centroids_on_ray_and_locally(
    ray_engine, tmp_path, monkeypatch
):
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 700)  # several sample shards and Lloyd blocks
    monkeypatch.setattr(kmeans, "MAX_POINTS_PER_CENTROID", 100)  # a sample of 2,000 of 3,000
    x = _clusters()
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    for spherical in (True, False):
        local = kmeans.fit_centroids(x, 20, spherical=spherical, seed=2)
        for data in (x, mapped):
            remote = kmeans.fit_centroids(data, 20, spherical=spherical, seed=2, engine=ray_engine)
            np.testing.assert_array_equal(local, remote)


def test_kmeans_fits_as_well_as_faiss_on_planted_clusters():
    faiss = pytest.importorskip("faiss")
    x = _clusters().astype(np.float32)
    ours, theirs = [], []
    for seed in range(3):
        centroids = kmeans.fit_centroids(x, 20, spherical=False, seed=seed)
        ours.append((kmeans.assign(x, centroids, spherical=False)[1] ** 2).mean())
        reference = faiss.Kmeans(16, 20, niter=20, seed=seed + 1)
        reference.train(x)
        theirs.append((kmeans.assign(x, reference.centroids, spherical=False)[1] ** 2).mean())
    assert np.mean(ours) <= 1.05 * np.mean(theirs)  # inertia: as tight as faiss's own k-means


def test_ray_step_errors_arrive_as_lessdata_errors(ray_engine):
    with pytest.raises(LessdataError, match="shard 3 is bad"):
        ray_engine.map(fail_on, list(range(6)), shared=(3,))


def test_ray_retries_the_shard_of_a_killed_worker(ray_engine, tmp_path):
    items = [(i, str(tmp_path)) for i in range(5)]
    assert ray_engine.map(die_once, items) == [0, 10, 20, 30, 40]
    assert (tmp_path / "attempt-2").exists()  # the first attempt did run, and died


def test_prune_and_dedup_keep_the_same_ids_on_ray_and_locally(ray_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 700)  # several shards from a small array
    monkeypatch.setattr(semdedup, "SHARD_ROWS", 400)
    path = tmp_path / "emb.npy"
    np.save(path, _clusters())
    cache = tmp_path / "cache"
    for keep, policy in ((0.3, "keep-easy"), (0.7, "keep-hard"), (0.5, "d4")):
        runs = [
            lessdata.prune(path, keep=keep, policy=policy, seed=3, engine=e, cache_dir=cache)
            for e in ("local", ray_engine)
        ]
        np.testing.assert_array_equal(runs[0].kept, runs[1].kept)
        assert runs[0].manifest.equals(runs[1].manifest)
    found = [
        lessdata.dedup(
            path, method="semantic", method_options={"eps": 0.01}, engine=e, cache_dir=cache
        )
        for e in ("local", ray_engine)
    ]
    np.testing.assert_array_equal(found[0].kept, found[1].kept)
    assert 150 <= len(_clusters()) - len(found[0].kept) <= 400  # the planted copies went
    assert not any((cache / "work").iterdir())  # checkpoints are cleared after success


def test_embedding_shards_agree_with_the_whole_and_across_engines(
    ray_engine, tmp_path, monkeypatch
):
    from lessdata.embed import cache as embed_cache

    texts = [f"def f{i}(x):\n    return x * {i % 37} + {i % 11}" for i in range(600)]
    whole = lessdata.embed.embed_texts(texts, "minilm", use_cache=False)
    monkeypatch.setattr(embed_cache, "SHARD_TEXTS", 256)  # three shards, batch-aligned
    local = lessdata.embed.embed_texts(texts, "minilm", cache_dir=tmp_path / "a")
    remote = lessdata.embed.embed_texts(
        texts, "minilm", cache_dir=tmp_path / "b", engine=ray_engine
    )
    assert isinstance(local, np.memmap)  # read back from the cache file written shard-wise
    np.testing.assert_allclose(local, whole, atol=1e-6)
    np.testing.assert_allclose(remote, local, atol=1e-5)


def test_a_checkpoint_written_by_one_engine_serves_the_other(ray_engine, tmp_path):
    checkpoint = ShardCheckpoint(tmp_path / "ck")
    items = list(range(4))
    first = get_engine("local").map(square_plus, items, shared=(0,), checkpoint=checkpoint)
    again = ray_engine.map(fail_on, items, shared=(0,), checkpoint=checkpoint)  # not rerun
    assert first == again == [0, 1, 4, 9]


def test_ray_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(LessdataError, match=r"pip install 'lessdata\[ray\]'"):
        get_engine("ray")


def test_cli_joins_an_existing_cluster_by_address(ray_engine, tmp_path):
    """A second process joins the module's running cluster with --address; same kept ids."""
    path = tmp_path / "emb.npy"
    np.save(path, _clusters(n=800))
    address = ray.get_runtime_context().gcs_address
    env = {**os.environ, "LESSDATA_QUIET": "1", "LESSDATA_CACHE": str(tmp_path / "cache")}
    lessdata_cli = Path(sys.executable).with_name("lessdata")
    outs = {}
    for name, extra in (("local", []), ("ray", ["--engine", "ray", "--address", address])):
        outs[name] = tmp_path / name
        subprocess.run(
            [str(lessdata_cli), "prune", str(path), "--keep", "0.4", "--out", str(outs[name]),
             "--seed", "1", *extra],
            check=True, capture_output=True, text=True, env=env,
        )  # fmt: skip
    import pyarrow.parquet as pq

    kept = {n: pq.read_table(o / "manifest.parquet")["kept"].to_numpy() for n, o in outs.items()}
    np.testing.assert_array_equal(kept["local"], kept["ray"])
    assert kept["ray"].sum() == 320
    assert ray.is_initialized()  # the joining process left the cluster running


def test_dedup_resumes_semdedup_shards_after_a_crash(tmp_path, monkeypatch):
    """A run that dies inside SemDeDup resumes its finished cluster shards on the rerun."""
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 700)
    monkeypatch.setattr(semdedup, "SHARD_ROWS", 400)
    path = tmp_path / "emb.npy"
    np.save(path, _clusters())
    real = semdedup.dedup_shard
    calls: list[int] = []
    crash_at: list[int] = []

    def counted(shard, vectors, threshold):
        calls.append(len(shard[0]))
        if len(calls) in crash_at:
            raise KeyboardInterrupt  # the driver dies here
        return real(shard, vectors, threshold)

    monkeypatch.setattr(semdedup, "dedup_shard", counted)
    whole = lessdata.dedup(
        path, method="semantic", method_options={"eps": 0.01}, cache_dir=tmp_path / "c0"
    )
    n_shards = len(calls)
    assert n_shards >= 4
    calls.clear()
    crash_at.append(3)  # after two finished shards
    with pytest.raises(KeyboardInterrupt):
        lessdata.dedup(
            path, method="semantic", method_options={"eps": 0.01}, cache_dir=tmp_path / "c1"
        )
    calls.clear()
    crash_at.clear()
    again = lessdata.dedup(
        path, method="semantic", method_options={"eps": 0.01}, cache_dir=tmp_path / "c1"
    )
    assert len(calls) == n_shards - 2  # the two finished shards were loaded, not recomputed
    np.testing.assert_array_equal(again.kept, whole.kept)
    assert again.manifest.equals(whole.manifest)


def test_prune_of_texts_embeds_on_ray_and_keeps_the_same_ids(ray_engine, tmp_path, monkeypatch):
    """Text in, MiniLM embeddings computed by Ray workers, prototypes: same ids as locally."""
    import json

    from lessdata.embed import cache as embed_cache

    monkeypatch.setattr(embed_cache, "SHARD_TEXTS", 256)
    rng = np.random.default_rng(0)
    words = ["parse", "tokens", "matrix", "server", "request", "cache", "graph", "model"]
    lines = [
        json.dumps({"text": " ".join(rng.choice(words, 6)) + f" case {i % 50}"}) for i in range(700)
    ]
    path = tmp_path / "texts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    runs = [
        lessdata.prune(path, keep=0.5, seed=2, engine=e, cache_dir=tmp_path / name)
        for name, e in (("a", "local"), ("b", ray_engine))
    ]
    np.testing.assert_array_equal(runs[0].kept, runs[1].kept)
    assert len(runs[0].kept) == 350


def test_an_address_without_a_cluster_fails_fast(ray_engine):
    from lessdata.engines.ray_engine import _check_reachable

    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(LessdataError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        _check_reachable(f"127.0.0.1:{port}", timeout=2)
    with pytest.raises(LessdataError, match="is not a Ray address"):
        _check_reachable("head-node")
    _check_reachable(ray.get_runtime_context().gcs_address)  # the running cluster answers


def test_kmeans_training_memory_does_not_grow_with_the_rows(tmp_path, monkeypatch):
    """The driver's allocations while training are O(k·d + chunks), not O(N): measured at
    two sizes on memory-mapped inputs (issue 17's bound: at most 20 bytes per extra row)."""
    import tracemalloc

    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 4096)
    kmeans.fit_centroids(np.ones((50, 16), np.float32), 2, spherical=True, niter=1)  # warm up
    peaks = {}
    for n in (40_000, 160_000):
        x = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
        np.save(tmp_path / f"x{n}.npy", x)
        del x
        mapped = np.load(tmp_path / f"x{n}.npy", mmap_mode="r")
        tracemalloc.start()
        kmeans.fit_centroids(mapped, 20, spherical=True, seed=0, niter=3)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[160_000] - peaks[40_000] <= 20 * 120_000, peaks
    assert peaks[160_000] < 160_000 * 16 * 4  # less than one copy of the input


def test_parts_mode_keeps_the_same_ids_on_ray(ray_engine, tmp_path):
    """Issue 17: prune --parts at a multi-shard size (3 shards of 65,536 rows, the radix
    select's histogram passes included) keeps the same ids, writes the same manifest parts
    and the same kept rows on Ray as locally, and those are the in-memory prune's."""
    import lessdata

    x = np.random.default_rng(0).normal(size=(150_000, 8)).astype(np.float32)
    x[:500] = x[0]  # ties
    np.save(tmp_path / "x.npy", x)
    options = dict(policy="keep-hard", metric_options={"k": 20}, seed=2)
    on_ray = lessdata.prune_parts(tmp_path / "x.npy", 0.4, tmp_path / "r", engine=ray_engine,
                                  **options)  # fmt: skip
    local = lessdata.prune_parts(tmp_path / "x.npy", 0.4, tmp_path / "l", **options)
    memory = lessdata.prune(str(tmp_path / "x.npy"), 0.4, report=False, **options)
    np.testing.assert_array_equal(on_ray.kept(), local.kept())
    np.testing.assert_array_equal(local.kept(), memory.kept)
    assert on_ray.manifest().equals(local.manifest())
    np.testing.assert_array_equal(np.load(tmp_path / "r/x.npy"), np.load(tmp_path / "l/x.npy"))


def test_semdedup_parts_give_the_same_duplicates_on_ray(ray_engine, tmp_path):
    """Issue 17: dedup --parts (the shuffle to cluster buckets runs as Ray tasks) finds the
    same duplicates on Ray as locally, at 3 row shards."""
    import lessdata

    rng = np.random.default_rng(3)
    x = rng.normal(size=(150_000, 8)).astype(np.float32)
    x[100_000:] = x[:50_000] + 0.001 * rng.normal(size=(50_000, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    options = {"k": 20, "eps": 0.01}
    on_ray = lessdata.dedup_parts(tmp_path / "x.npy", tmp_path / "r", method_options=options,
                                  engine=ray_engine)  # fmt: skip
    local = lessdata.dedup_parts(tmp_path / "x.npy", tmp_path / "l", method_options=options)
    assert 45_000 < on_ray.n - on_ray.n_kept < 55_000  # the copies, and a few close pairs
    np.testing.assert_array_equal(on_ray.kept(), local.kept())
    assert on_ray.manifest().equals(local.manifest())
    metrics = ["prototypes", "semdedup"]  # score --parts: the same scores on both engines
    scored = [
        lessdata.score_parts(tmp_path / "x.npy", tmp_path / f"s{i}", metrics,
                             metric_options=options, engine=engine).manifest()
        for i, engine in enumerate((ray_engine, "local"))
    ]  # fmt: skip
    assert scored[0].equals(scored[1])
    assert scored[0]["semdedup_duplicate_of"].equals(local.manifest()["semdedup_duplicate_of"])
