"""Parts mode (issue 17): score and prune with the manifest written as parts by the workers.

Same ids as the in-memory path, the driver's memory independent of N, a missing or foreign
part refused by name, a failed run resumed, no partial part left by a killed writer.
"""

from __future__ import annotations

import shutil
import tracemalloc

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import lessdata
from lessdata import kmeans
from lessdata.cli import app
from lessdata.data import manifest_parts
from lessdata.data.manifest import read_manifest
from lessdata.errors import LessdataError
from lessdata.pipeline import rank_select, sharded


@pytest.fixture
def small_shards(monkeypatch):
    """Shards of 1,000 rows and a gather limit of 16 rows: the radix passes run."""
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(rank_select, "GATHER", 16)


def _data(tmp_path, n=5500, d=16):
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    x[100:300] = x[0]  # 201 identical rows: tied scores, broken by the seeded tie keys
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path


@pytest.mark.parametrize("policy", ["keep-hard", "keep-easy", "random", "auto"])
@pytest.mark.parametrize("keep", [0.3, 0.95, 5500])
def test_prune_parts_keeps_the_in_memory_ids(tmp_path, small_shards, policy, keep):
    path = _data(tmp_path)
    options = dict(policy=policy, metric_options={"k": 8}, seed=3, cache_dir=tmp_path / "c")
    parts = lessdata.prune_parts(path, keep, tmp_path / "parts", **options)
    memory = lessdata.prune(str(path), keep, out=tmp_path / "memory", report=False, **options)
    np.testing.assert_array_equal(parts.kept(), memory.kept)
    assert parts.n_kept == memory.n_kept
    table = parts.manifest()
    for column in ("id", "prototypes", "prototypes_cluster", "kept"):
        assert table[column].equals(memory.manifest[column]), column
    assert table["reason"].to_pylist() == memory.manifest["reason"].to_pylist()
    np.testing.assert_array_equal(
        np.load(tmp_path / "parts" / "x.npy"), np.load(tmp_path / "memory" / "x.npy")
    )
    assert len(manifest_parts.list_parts(tmp_path / "parts" / "manifest")) == 6
    assert not list((tmp_path / "c" / "work").iterdir())  # the run's work files are cleared


def test_score_parts_writes_the_in_memory_scores(tmp_path, small_shards):
    path = _data(tmp_path)
    done = lessdata.score_parts(path, tmp_path / "s", metric_options={"k": 8}, seed=1)
    memory = lessdata.score(str(path), "prototypes", metric_options={"k": 8}, seed=1)
    table = read_manifest(tmp_path / "s")  # a folder of parts reads as one manifest
    assert done.n == 5500 and table.num_rows == 5500
    for column in memory.column_names:
        assert table[column].equals(memory[column]), column


def test_rank_select_finds_every_rank_of_the_in_memory_order(tmp_path, monkeypatch):
    """The radix select against a full sort, with heavy ties and negative scores."""
    monkeypatch.setattr(rank_select, "GATHER", 4)
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=700), 1)  # few distinct values: ties everywhere
    scores[:5] = [-0.0, 0.0, np.inf, -np.inf, 1e-300]
    shards = []
    for start in range(0, 700, 250):
        np.save(tmp_path / f"s{start}.npy", scores[start : start + 250])
        shards.append((str(tmp_path / f"s{start}.npy"), start, len(scores[start : start + 250])))
    from lessdata.engines import LocalEngine
    from lessdata.ties import tie_keys

    ties = tie_keys(99, np.arange(700))
    order = np.lexsort((ties, scores + 0.0))
    for rank in (0, 1, 350, 698, 699):
        found = rank_select.find_rank(LocalEngine(), shards, 99, rank, 700)
        assert found[2] == order[rank], rank


def _peak(tmp_path, mode: str, n: int) -> int:
    """The traced peak of one prune of ``x<n>.npy``, in parts mode or in memory."""
    out = tmp_path / f"{mode}{n}"
    options = dict(policy="keep-hard", metric_options={"k": 20}, cache_dir=tmp_path / "c")
    tracemalloc.start()
    if mode == "parts":
        lessdata.prune_parts(tmp_path / f"x{n}.npy", 0.5, out, **options)
    else:
        lessdata.prune(str(tmp_path / f"x{n}.npy"), 0.5, out=out, report=False, **options)
    found = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return found


def test_driver_memory_does_not_grow_with_the_rows(tmp_path, monkeypatch):
    """Issue 17's bound: at most 20 bytes per extra row on the driver (numpy allocations
    traced), where the in-memory path grows by hundreds."""
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 4096)
    monkeypatch.setattr(rank_select, "GATHER", 1024)
    warm = _data(tmp_path, n=3000)  # imports and first calls allocate once: not measured
    lessdata.prune_parts(warm, 0.5, tmp_path / "w1", metric_options={"k": 5})
    lessdata.prune(str(warm), 0.5, out=tmp_path / "w2", metric_options={"k": 5}, report=False)
    peaks: dict[tuple[str, int], int] = {}
    for n in (40_000, 160_000):
        x = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
        np.save(tmp_path / f"x{n}.npy", x)
        del x
        for mode in ("parts", "memory"):
            # the smaller of two runs: the interpreter's tables resize now and then during a
            # run (names of files are interned), a one-off allocation of a few MB
            peaks[mode, n] = min(_peak(tmp_path, mode, n), _peak(tmp_path, mode, n))
    growth = {
        mode: (peaks[mode, 160_000] - peaks[mode, 40_000]) / 120_000 for mode in ("parts", "memory")
    }
    assert growth["parts"] <= 20, (growth, peaks)
    # the same measurement sees the in-memory path's O(N) columns (its Arrow tables, not
    # traced, add ~300 bytes per row more: benchmarks/bench_parts.py measures the process)
    assert growth["memory"] > 20, (growth, peaks)


def test_a_missing_or_foreign_part_is_refused_by_name(tmp_path, small_shards):
    path = _data(tmp_path)
    lessdata.score_parts(path, tmp_path / "a", metric_options={"k": 8}, seed=0)
    lessdata.score_parts(path, tmp_path / "b", metric_options={"k": 8}, seed=1)
    a = manifest_parts.list_parts(tmp_path / "a")
    b = manifest_parts.list_parts(tmp_path / "b")
    assert a[0].name != b[0].name  # other settings, other content key
    shutil.copy(b[2], tmp_path / "a" / b[2].name)
    with pytest.raises(LessdataError, match=f"part {b[2].name} belongs to another run"):
        read_manifest(tmp_path / "a")
    (tmp_path / "a" / b[2].name).unlink()
    a[3].unlink()
    with pytest.raises(LessdataError, match=f"part {a[3].name} is missing"):
        read_manifest(tmp_path / "a")
    (tmp_path / "a" / "notes.parquet").write_bytes(b"x")
    with pytest.raises(LessdataError, match=r"notes\.parquet is not a manifest part"):
        manifest_parts.list_parts(tmp_path / "a")


def test_a_failed_run_resumes_from_its_shards(tmp_path, small_shards, monkeypatch):
    path = _data(tmp_path)
    options = dict(policy="keep-hard", metric_options={"k": 8}, cache_dir=tmp_path / "c")
    clean = lessdata.prune_parts(path, 0.4, tmp_path / "clean", **options).kept()
    real, calls = sharded.assign_to_file, []

    def failing(rows, *args):
        calls.append(rows[0])
        if rows[0] == 3000 and calls.count(3000) == 1:
            raise RuntimeError("worker killed")
        return real(rows, *args)

    monkeypatch.setattr(sharded, "assign_to_file", failing)
    with pytest.raises(RuntimeError, match="worker killed"):
        lessdata.prune_parts(path, 0.4, tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()  # nothing half-written is visible
    first = len(calls)
    resumed = lessdata.prune_parts(path, 0.4, tmp_path / "out", **options)
    assert sorted(calls[first:]) == [3000, 4000, 5000]  # shards 0-2 came from the checkpoint
    np.testing.assert_array_equal(resumed.kept(), clean)


def test_a_writer_that_fails_leaves_no_partial_part(tmp_path, monkeypatch):
    class Broken(manifest_parts.pq.ParquetWriter):
        def write_batch(self, *args, **kwargs):
            raise OSError("killed mid-write")

    monkeypatch.setattr(manifest_parts.pq, "ParquetWriter", Broken)
    with pytest.raises(OSError, match="killed mid-write"):
        manifest_parts.write_part(tmp_path, "abc", 0, 1, pa.table({"id": [1, 2]}))
    assert list(tmp_path.iterdir()) == []


def test_parts_refuses_what_it_cannot_run(tmp_path):
    path = _data(tmp_path, n=300)
    with pytest.raises(LessdataError, match="parts mode runs the policies"):
        lessdata.prune_parts(path, 0.5, tmp_path / "o", policy="ccs")
    with pytest.raises(LessdataError, match="parts mode scores with prototypes and semdedup"):
        lessdata.prune_parts(path, 0.5, tmp_path / "o", metric="el2n")
    with pytest.raises(LessdataError, match=r"reads a \.npy"):
        lessdata.score_parts("builtin:digits", tmp_path / "o")
    x = np.load(path)
    x[7] = 0
    np.save(tmp_path / "z.npy", x)
    with pytest.raises(LessdataError, match=r"1 rows are zero vectors \(rows \[7\]\)"):
        lessdata.prune_parts(tmp_path / "z.npy", 0.5, tmp_path / "o")
    x[9, 2] = np.nan
    np.save(tmp_path / "n.npy", x)
    with pytest.raises(LessdataError, match=r"NaN or infinite values \(rows \[9\]\)"):
        lessdata.score_parts(tmp_path / "n.npy", tmp_path / "o")
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(
        app, ["prune", str(path), "--keep", "0.5", "--parts", "--labels", "y.npy", "--out", "o"]
    )
    assert result.exit_code != 0  # the entry point prints the error in one line
    assert str(result.exception) == "--labels does not apply with --parts"


def test_cli_prune_parts_then_inspect(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _data(tmp_path, n=2000)
    runner = CliRunner()
    done = runner.invoke(app, ["prune", str(path), "--keep", "0.25", "--parts", "--k", "5",
                               "--out", "pruned", "-q"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "kept 500 of 2000 examples" in done.output
    shown = runner.invoke(app, ["inspect", "pruned"])
    assert shown.exit_code == 0, shown.output
    assert "500" in shown.output and np.load(tmp_path / "pruned" / "x.npy").shape == (500, 16)


def _near_duplicates(tmp_path, n=6000, d=16):
    """Rows with planted near duplicates (a third of them) in a few dozen clusters."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, d))
    x = centres[rng.integers(0, 30, n)] + 0.3 * rng.normal(size=(n, d))
    copies = rng.choice(n, n // 3, replace=False)
    x[copies] = x[rng.integers(0, n, n // 3)] + 0.005 * rng.normal(size=(n // 3, d))
    path = tmp_path / "near.npy"
    np.save(path, x.astype(np.float32))
    return path


@pytest.mark.parametrize("survivor", ["hard", "easy", "random"])
def test_semdedup_parts_match_in_memory(tmp_path, small_shards, monkeypatch, survivor):
    """SemDeDup after the shuffle to cluster buckets (several buckets, several row shards)
    finds the in-memory duplicates, scores and survivors, for score and dedup."""
    from lessdata.duplicates import semdedup

    monkeypatch.setattr(semdedup, "SHARD_ROWS", 500)
    path = _near_duplicates(tmp_path)
    options = {"k": 12, "eps": 0.02, "survivor": survivor}
    lessdata.score_parts(path, tmp_path / "s", ["prototypes", "semdedup"],
                         metric_options=options, seed=4)  # fmt: skip
    memory = lessdata.score(str(path), ["prototypes", "semdedup"], metric_options=options, seed=4)
    table = read_manifest(tmp_path / "s")
    assert table.column_names == memory.column_names
    for column in memory.column_names:
        assert table[column].equals(memory[column]), column
    done = lessdata.dedup_parts(path, tmp_path / "d", method_options=options, seed=4)
    wanted = lessdata.dedup(str(path), method="semantic", method_options=options, seed=4,
                            out=tmp_path / "dm", report=False)  # fmt: skip
    assert 1000 < done.n - done.n_kept < 3000  # the planted copies are found
    np.testing.assert_array_equal(done.kept(), wanted.kept)
    found = done.manifest()
    for column in ("semdedup", "semdedup_duplicate_of", "kept"):
        assert found[column].equals(wanted.manifest[column]), column
    np.testing.assert_array_equal(
        np.load(tmp_path / "d" / "near.npy"), np.load(tmp_path / "dm" / "near.npy")
    )


def test_dedup_parts_refuses_a_target_size(tmp_path):
    with pytest.raises(LessdataError, match="parts mode deduplicates by a threshold"):
        lessdata.dedup_parts(_data(tmp_path, n=300), tmp_path / "o", method_options={"keep": 10})


# --- damaged parts folders (issue 25, item 4): one LessdataError naming the file -----------


def _three_parts(tmp_path, monkeypatch):
    """A ``prune --parts`` run folder whose manifest has three parts (shards of 400 rows)."""
    monkeypatch.setattr(kmeans, "CHUNK_ROWS", 400)
    path = _data(tmp_path, n=1200)
    lessdata.prune_parts(path, 0.5, tmp_path / "run", metric_options={"k": 4}, quiet=True)
    parts = manifest_parts.list_parts(tmp_path / "run" / "manifest")
    assert len(parts) == 3
    return parts


def _refused_everywhere(folder, named, monkeypatch, tmp_path):
    """read_manifest, PrunedSampler and ``lessdata inspect`` each refuse ``folder`` with
    one message naming the file ``named``."""
    from lessdata.torch import PrunedSampler

    for read in (read_manifest, PrunedSampler):
        with pytest.raises(LessdataError, match=named):
            read(folder)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["inspect", str(folder)])
    assert isinstance(result.exception, LessdataError), result.output
    assert named in str(result.exception) and "\n" not in str(result.exception)


@pytest.mark.parametrize("which", [0, 2])
@pytest.mark.parametrize("damage", ["truncated", "random bytes", "empty"])
def test_a_damaged_part_is_refused_by_name(tmp_path, monkeypatch, which, damage):
    parts = _three_parts(tmp_path, monkeypatch)
    data = parts[which].read_bytes()
    parts[which].write_bytes(
        {"truncated": data[: len(data) // 2],
         "random bytes": np.random.default_rng(0).bytes(len(data)),
         "empty": b""}[damage]
    )  # fmt: skip
    _refused_everywhere(tmp_path / "run", parts[which].name, monkeypatch, tmp_path)


def test_a_file_numbered_past_the_count_is_refused_by_name(tmp_path, monkeypatch):
    parts = _three_parts(tmp_path, monkeypatch)
    key = parts[0].name.split("-")[1]
    extra = parts[0].with_name(manifest_parts.part_name(key, 3, 3))
    shutil.copy(parts[1], extra)
    _refused_everywhere(tmp_path / "run", extra.name, monkeypatch, tmp_path)
    with pytest.raises(LessdataError, match="numbered past the part count"):
        manifest_parts.list_parts(extra.parent)


def test_a_part_of_another_count_is_refused_by_name(tmp_path, monkeypatch):
    parts = _three_parts(tmp_path, monkeypatch)
    key = parts[0].name.split("-")[1]
    extra = parts[0].with_name(manifest_parts.part_name(key, 0, 4))
    shutil.copy(parts[0], extra)
    _refused_everywhere(tmp_path / "run", extra.name, monkeypatch, tmp_path)


def test_a_part_with_another_schema_is_refused_by_name(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    parts = _three_parts(tmp_path, monkeypatch)
    table = pq.read_table(parts[1])
    changed = table.set_column(  # the same names, another type
        table.schema.get_field_index("prototypes"), "prototypes",
        table["prototypes"].cast(pa.float32()),
    )  # fmt: skip
    pq.write_table(changed, parts[1])
    _refused_everywhere(tmp_path / "run", parts[1].name, monkeypatch, tmp_path)


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("settings", [b"{not json", b'{"metrics": ["gone"]}', b'{"seed": 9}'])
def test_a_part_with_edited_settings_is_refused_by_name(tmp_path, monkeypatch, which, settings):
    import pyarrow.parquet as pq

    parts = _three_parts(tmp_path, monkeypatch)
    table = pq.read_table(parts[which])
    pq.write_table(table.replace_schema_metadata({b"lessdata": settings}), parts[which])
    _refused_everywhere(tmp_path / "run", parts[which].name, monkeypatch, tmp_path)


def test_edited_settings_in_every_part_are_refused_naming_the_first(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    parts = _three_parts(tmp_path, monkeypatch)
    for part in parts:
        table = pq.read_table(part)
        pq.write_table(table.replace_schema_metadata({b"lessdata": b"[1]"}), part)
    _refused_everywhere(tmp_path / "run", parts[0].name, monkeypatch, tmp_path)


def test_dedup_parts_names_the_methods_parts_mode_runs(tmp_path):
    path = _data(tmp_path, n=300)
    runner = CliRunner()
    for method in (["exact"], ["semantic", "near"]):
        flags = [f for m in method for f in ("--method", m)]
        result = runner.invoke(app, ["dedup", str(path), *flags, "--parts", "--out", "o"])
        message = str(result.exception)
        assert isinstance(result.exception, LessdataError), result.output
        assert message.startswith(f"--method {method[-1]} does not run with --parts")
        assert "runs --method semantic only" in message
    assert not (tmp_path / "o").exists()
