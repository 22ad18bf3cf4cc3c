"""The scaling results store: records, resume after a kill, export round trips."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from lessdata.errors import LessdataError
from lessdata.labs.scaling.store import ResultsStore, RunKey
from lessdata.labs.scaling.sweep import SweepSpec, run_sweep

HOOK_MODULE = textwrap.dedent(
    '''
    """A train_and_eval hook shared by the test and its killed subprocess (same identity)."""
    import json
    import os
    import signal
    from pathlib import Path

    import numpy as np

    from lessdata.labs.scaling.tasks import Task

    LOG = Path(os.environ["SCALE_TEST_LOG"])
    LIMIT = int(os.environ.get("SCALE_TEST_KILL_AFTER", "-1"))


    def make_task():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(120, 6)).astype(np.float32)
        y = (x[:, 0] > 0).astype(np.int64)
        return Task("toy", x, y, x[:20], y[:20], (6,), 2)


    def train(train_ids):
        done = len(LOG.read_text().splitlines()) if LOG.exists() else 0
        if 0 <= LIMIT <= done:
            os.kill(os.getpid(), signal.SIGKILL)  # a hard kill, in the middle of a run
        with LOG.open("a") as f:
            f.write(json.dumps(sorted(int(i) for i in train_ids)) + "\\n")
        return {"accuracy": len(train_ids) / 120}
    '''
)


def _key(**changes) -> RunKey:
    fields = dict(
        task="toy", model="m", width=8, metric="-", policy="random", keep=0.5, seed=0, config="c"
    )
    fields.update(changes)
    return RunKey(**fields)


def test_record_done_and_retry_of_failed_runs(tmp_path):
    store = ResultsStore(tmp_path / "store")
    ok, failed = _key(), _key(seed=1)
    store.record(ok, {"accuracy": 0.9, "error": 0.1, "extra": 3}, n_kept=50, n_train=100)
    store.record(failed, {}, status="failed", message="boom", n_kept=50, n_train=100)
    assert store.done(ok) and not store.done(failed)
    assert not store.done(_key(keep=50))  # a count is a different budget from a fraction
    store.record(failed, {"accuracy": 0.8}, n_kept=50, n_train=100)  # the retry succeeds
    assert store.done(failed)
    rows = {r["seed"]: r for r in store.rows()}
    assert len(rows) == 2 and rows[1]["attempts"] == 2 and rows[1]["message"] is None
    assert rows[0]["extra"] == 3 and rows[0]["fraction"] == 0.5
    store.close()
    with ResultsStore(tmp_path / "store") as again:  # committed: visible to a new connection
        assert again.count("ok") == 2


def test_store_refuses_a_file_as_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(LessdataError, match="is a file"):
        ResultsStore(tmp_path / "file")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json"])
def test_export_round_trips(tmp_path, suffix):
    store = ResultsStore(tmp_path / "s")
    store.record(
        _key(),
        {"accuracy": 0.75, "error": 0.25, "loss": 0.6, "note": "hi"},
        n_kept=5,
        n_train=10,
        seconds=1.5,
    )
    store.record(
        _key(policy="keep-hard", metric="prototypes", keep=3),
        {},
        status="failed",
        message='exit 1: "quoted", comma',
        n_kept=3,
        n_train=10,
    )
    out = store.export(tmp_path / f"runs{suffix}")
    if suffix == ".parquet":
        back = pq.read_table(out).to_pylist()
    elif suffix == ".csv":
        options = pacsv.ConvertOptions(column_types={"keep": pa.string()}, strings_can_be_null=True)
        back = pacsv.read_csv(out, convert_options=options).to_pylist()
    else:
        back = json.loads(out.read_text())
    rows = store.rows()
    assert len(back) == len(rows) == 2
    for got, want in zip(back, rows, strict=True):
        for name, value in want.items():
            if isinstance(value, float):
                assert got[name] == pytest.approx(value), name
            elif name == "keep" and suffix == ".csv":
                assert str(got[name]) == value  # CSV readers guess "0.5" is a number
            else:
                assert got[name] == value, name
    with pytest.raises(LessdataError, match=r"\.parquet, \.csv or \.json"):
        store.export(tmp_path / "runs.xlsx")


class _Killed(BaseException):
    """Stands in for a kill: not an Exception, so the sweep does not record it as a failure."""


class _Hook:
    def __init__(self, die_after: int | None = None) -> None:
        self.calls: list[tuple[int, ...]] = []
        self.die_after = die_after

    def __call__(self, train_ids: np.ndarray) -> dict[str, float]:
        if self.die_after is not None and len(self.calls) >= self.die_after:
            raise _Killed
        self.calls.append(tuple(int(i) for i in train_ids))
        return {"accuracy": len(train_ids) / 100}


def _toy_spec():
    from lessdata.labs.scaling.tasks import Task

    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 5)).astype(np.float32)
    y = (x[:, 1] > 0).astype(np.int64)
    task = Task("toy", x, y, x[:10], y[:10], (5,), 2)
    return SweepSpec(
        task=task,
        model="hook",
        metrics=["prototypes"],
        policies=["random", "keep-hard"],
        fractions=[0.2, 0.5, 1.0],
        seeds=2,
        score_options={"k": 4},
    )


def test_resume_after_interruption_repeats_nothing(tmp_path):
    spec = _toy_spec()
    hook = _Hook(die_after=4)
    with pytest.raises(_Killed):
        run_sweep(spec, tmp_path / "s", train_and_eval=hook)
    first = list(hook.calls)
    with ResultsStore(tmp_path / "s") as store:
        assert store.count() == 4  # the four finished runs were committed one by one
    hook.die_after = None
    hook.calls.clear()
    summary = run_sweep(spec, tmp_path / "s", train_and_eval=hook)
    assert summary.planned == 10 and summary.skipped == 4 and summary.ok == 6
    assert len(hook.calls) == 6  # only the missing runs were trained
    with ResultsStore(tmp_path / "s") as store:
        rows = store.rows()
    keys = [(r["policy"], r["metric"], r["keep"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 10
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in rows)
    # every subset was trained exactly once over the two calls
    assert len(first) + len(hook.calls) == 10


def test_resume_after_sigkill_loses_nothing_and_repeats_nothing(tmp_path, monkeypatch):
    (tmp_path / "scale_hook_mod.py").write_text(HOOK_MODULE)
    log = tmp_path / "calls.log"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import scale_hook_mod
        from lessdata.labs.scaling.sweep import SweepSpec, run_sweep
        spec = SweepSpec(task=scale_hook_mod.make_task(), model="hook", metrics=["random"],
                         policies=["random", "keep-hard"], fractions=[0.25, 0.5], seeds=2)
        run_sweep(spec, {str(tmp_path / "store")!r}, train_and_eval=scale_hook_mod.train)
        """
    )
    env = {"SCALE_TEST_LOG": str(log), "SCALE_TEST_KILL_AFTER": "3", "LESSDATA_QUIET": "1"}
    import os

    proc = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]  # killed by SIGKILL
    before = log.read_text().splitlines()
    assert len(before) == 3
    with ResultsStore(tmp_path / "store") as store:
        assert store.count("ok") == 3  # every finished run survived the kill

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SCALE_TEST_LOG", str(log))
    monkeypatch.setenv("SCALE_TEST_KILL_AFTER", "-1")
    import importlib

    import scale_hook_mod  # type: ignore[import-not-found]

    importlib.reload(scale_hook_mod)
    spec = SweepSpec(
        task=scale_hook_mod.make_task(),
        model="hook",
        metrics=["random"],
        policies=["random", "keep-hard"],
        fractions=[0.25, 0.5],
        seeds=2,
    )
    summary = run_sweep(spec, tmp_path / "store", train_and_eval=scale_hook_mod.train)
    assert summary.planned == 10 and summary.skipped == 3 and summary.ok == 7
    after = log.read_text().splitlines()
    assert len(after) == 10  # 3 before the kill + 7 missing ones, none repeated
    with ResultsStore(tmp_path / "store") as store:
        rows = store.rows()
    assert len(rows) == 10 and all(r["attempts"] == 1 and r["status"] == "ok" for r in rows)


def test_store_path_may_be_a_sqlite_file(tmp_path):
    with ResultsStore(tmp_path / "x" / "runs.sqlite") as store:
        store.record(_key(), {"error": 0.2})
        assert store.dir == tmp_path / "x"
        assert Path(store.db_path).exists()
