"""Scaling sweeps end to end: digits + logreg, shared scores, hooks, parallel runs, report."""

from __future__ import annotations

import shlex
import shutil
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

import lessdata
from lessdata.cli.scale import parse_fractions, scale_app
from lessdata.errors import LessdataError
from lessdata.labs.scaling.analysis import analyse
from lessdata.labs.scaling.report import write_scaling_report
from lessdata.labs.scaling.store import ResultsStore
from lessdata.labs.scaling.sweep import SweepSpec, run_sweep
from lessdata.labs.scaling.tasks import Task, load_task

DIGITS = dict(
    task="digits",
    model="logreg",
    n_train=400,
    metrics=["prototypes"],
    policies=["random", "keep-hard"],
    fractions=[0.25, 0.5],
    seeds=2,
)


class _CountingScore:
    """Wraps ``lessdata.score`` to count how often scores are computed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.batches: list[list[str]] = []
        self.real = lessdata.score

    def __call__(self, data, metrics, **options):
        self.calls.extend((metric, options["seed"]) for metric in metrics)
        self.batches.append(list(metrics))
        return self.real(data, metrics, **options)


@pytest.fixture(scope="module")
def digits_sweep(tmp_path_factory):
    """One tiny sweep: 2 fractions × 2 policies × 2 seeds on digits with logreg."""
    store = tmp_path_factory.mktemp("digits") / "store"
    counter = _CountingScore()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lessdata, "score", counter)
        summary = run_sweep(SweepSpec(**DIGITS), store)
    return store, summary, counter.calls


def _toy_task(n: int = 80) -> Task:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return Task("toy", x, y, x[:10], y[:10], (4,), 2)


def test_tiny_digits_sweep_records_every_run_once(digits_sweep):
    store_dir, summary, calls = digits_sweep
    # per seed: 1 shared full-data run + 2 random + 2 keep-hard
    assert (summary.planned, summary.ok, summary.failed, summary.skipped) == (10, 10, 0, 0)
    with ResultsStore(store_dir) as store:
        rows = store.rows()
    assert len(rows) == 10 and all(r["status"] == "ok" for r in rows)
    full = [r for r in rows if r["policy"] == "full"]
    assert sorted(r["seed"] for r in full) == [0, 1] and all(r["n_kept"] == 400 for r in full)
    assert {r["metric"] for r in rows if r["policy"] == "random"} == {"-"}  # metric-free
    hard = [r for r in rows if r["policy"] == "keep-hard"]
    assert sorted(r["n_kept"] for r in hard) == [100, 100, 200, 200]
    assert all(
        0.5 < r["accuracy"] <= 1 and r["error"] == pytest.approx(1 - r["accuracy"]) for r in rows
    )
    # scores: once per (metric, seed), reused by both fractions; cached on disk
    assert sorted(calls) == [("prototypes", 0), ("prototypes", 1)]
    assert summary.scores_computed == 2
    assert len(list((store_dir / "scores").glob("prototypes-seed*.npy"))) == 2


def test_rerun_skips_done_runs_and_reads_cached_scores(digits_sweep, tmp_path, monkeypatch):
    store_dir = tmp_path / "store"
    shutil.copytree(digits_sweep[0], store_dir)
    counter = _CountingScore()
    monkeypatch.setattr(lessdata, "score", counter)
    summary = run_sweep(SweepSpec(**{**DIGITS, "fractions": [0.25, 0.5, 0.75]}), store_dir)
    assert (summary.planned, summary.skipped, summary.ok) == (14, 10, 4)  # only 0.75 is new
    assert counter.calls == [] and summary.scores_loaded == 2  # read back, not recomputed


def test_scores_are_shared_by_policies_and_fractions(tmp_path, monkeypatch):
    counter = _CountingScore()
    monkeypatch.setattr(lessdata, "score", counter)
    spec = SweepSpec(
        task=_toy_task(),
        metrics=["prototypes"],
        fractions=[0.25, 0.5, 0.75],
        policies=["keep-hard", "keep-easy", "moderate"],
        seeds=[3, 4],
        score_options={"k": 4},
    )
    summary = run_sweep(spec, tmp_path / "s", train_and_eval=lambda ids: {"error": 1 / len(ids)})
    assert summary.ok == 2 * (1 + 3 * 3)
    assert sorted(counter.calls) == [("prototypes", 3), ("prototypes", 4)]


def test_metrics_of_a_seed_are_scored_together_with_their_options(tmp_path, monkeypatch):
    counter = _CountingScore()
    monkeypatch.setattr(lessdata, "score", counter)
    options = {"k": 4, "proxy_model": "logreg", "proxy_epochs": 2, "proxy_runs": 1}
    spec = SweepSpec(
        task=_toy_task(),
        metrics=["el2n", "forgetting", "prototypes"],
        policies=["keep-hard"],
        fractions=[0.5],
        seeds=1,
        score_options=options,
    )
    summary = run_sweep(spec, tmp_path / "s", train_and_eval=lambda ids: {"error": 0.5})
    assert summary.ok == 4 and summary.scores_computed == 3
    assert counter.batches == [["el2n", "forgetting", "prototypes"]]  # one proxy run, one k-means
    with pytest.raises(LessdataError, match="take no option"):
        bad = SweepSpec(task=_toy_task(), metrics=["prototypes"], score_options={"proxy_runs": 2})
        run_sweep(bad, tmp_path / "t", train_and_eval=lambda ids: {"error": 0.5})


def test_parallel_jobs_match_serial_results(digits_sweep, tmp_path):
    spec = SweepSpec(**{**DIGITS, "seeds": [0], "fractions": [0.25]})
    summary = run_sweep(spec, tmp_path / "p", jobs=2)
    assert summary.ok == 3
    with ResultsStore(tmp_path / "p") as parallel, ResultsStore(digits_sweep[0]) as serial:
        want = {(r["policy"], r["keep"]): r["accuracy"] for r in serial.rows() if r["seed"] == 0}
        for row in parallel.rows():
            assert row["accuracy"] == pytest.approx(want[(row["policy"], row["keep"])])


TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import pyarrow.parquet as pq

    table = pq.read_table(sys.argv[1])
    assert table.column_names == ["id", "row", "kept"], table.column_names
    flag = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    if flag is not None and not flag.exists() and sys.argv[4] == "keep-hard":
        sys.stderr.write("boom: the GPU caught fire\\n")
        sys.exit(3)
    kept = int(table["kept"].to_numpy().sum())
    print("training on", kept, "examples")  # chatter before the result line
    print(json.dumps({"accuracy": kept / table.num_rows, "seed_seen": int(sys.argv[2])}))
    """
)


def test_command_hook_runs_a_script_per_subset(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {{manifest}} {{seed}}"
    spec = SweepSpec(
        task=_toy_task(),
        metrics=["random"],
        policies=["random", "keep-hard"],
        fractions=[0.25, 0.5],
        seeds=[1],
    )
    summary = run_sweep(spec, tmp_path / "s", command=command)
    assert (summary.ok, summary.failed) == (5, 0)
    with ResultsStore(tmp_path / "s") as store:
        rows = store.rows()
    for row in rows:
        assert row["accuracy"] == pytest.approx(row["n_kept"] / 80)
        assert row["seed_seen"] == row["seed"] and row["model"] == "command"
    assert not list((tmp_path / "s" / "manifests").glob("*.parquet"))  # cleaned up on success


def test_failing_command_is_recorded_reported_and_retried(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    flag = tmp_path / "fixed"
    command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {{manifest}} {{seed}} "
        f"{shlex.quote(str(flag))} {{policy}}"
    )
    spec = SweepSpec(
        task=_toy_task(),
        metrics=["random"],
        policies=["random", "keep-hard"],
        fractions=[0.25, 0.5],
        seeds=1,
    )
    summary = run_sweep(spec, tmp_path / "s", command=command)  # does not raise
    assert (summary.ok, summary.failed) == (3, 2)
    assert all("boom: the GPU caught fire" in f["message"] for f in summary.failures)
    assert all("exit code 3" in f["message"] for f in summary.failures)
    flag.write_text("fixed")
    again = run_sweep(spec, tmp_path / "s", command=command)
    assert (again.skipped, again.ok, again.failed) == (3, 2, 0)  # only the failures rerun
    with ResultsStore(tmp_path / "s") as store:
        attempts = {r["policy"]: r["attempts"] for r in store.rows() if r["keep"] == "0.5"}
    assert attempts == {"random": 1, "keep-hard": 2}


def test_command_without_json_result_is_a_failed_run(tmp_path):
    command = f"{shlex.quote(sys.executable)} -c \"print('all good, no JSON')\""
    spec = SweepSpec(
        task=_toy_task(), metrics=["random"], policies=["random"], fractions=[0.5], seeds=1
    )
    summary = run_sweep(spec, tmp_path / "s", command=command)
    assert summary.failed == 2 and summary.ok == 0
    assert "JSON object" in summary.failures[0]["message"]
    assert "all good, no JSON" in summary.failures[0]["message"]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"policies": ["keep-weird"]}, "unknown policy"),
        ({"metrics": ["nope"]}, "unknown metric"),
        ({"fractions": [1.5]}, r"\(0, 1\]"),
        ({"widths": [0]}, "widths"),
        ({"class_balanced": True, "policies": ["d4"]}, "d4"),
        ({"seeds": 0}, "seeds"),
        ({"metrics": ["forgetting@ssl"]}, "only metrics measured on vectors"),
    ],
)
def test_bad_specs_fail_before_any_run(tmp_path, changes, match):
    spec = SweepSpec(**{**dict(task=_toy_task(), metrics=["random"]), **changes})
    with pytest.raises(LessdataError, match=match):
        run_sweep(spec, tmp_path / "s", train_and_eval=lambda ids: {"error": 0.1})
    assert (
        not (tmp_path / "s" / "results.sqlite").exists() or not ResultsStore(tmp_path / "s").rows()
    )


def test_bad_hooks_are_refused(tmp_path):
    spec = SweepSpec(task=_toy_task(), metrics=["random"])
    with pytest.raises(LessdataError, match="not both"):
        run_sweep(spec, tmp_path / "s", train_and_eval=lambda ids: {}, command="true")
    with pytest.raises(LessdataError, match="template"):
        run_sweep(spec, tmp_path / "s", command="python train.py {subset}")
    with pytest.raises(LessdataError, match="picklable"):
        run_sweep(spec, tmp_path / "s", jobs=2, train_and_eval=lambda ids: {})


def test_report_writes_png_and_html(digits_sweep, tmp_path):
    paths = write_scaling_report(digits_sweep[0], tmp_path / "report", n_boot=20)
    assert set(paths) == {"plot", "html"}
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["html"].read_text()
    assert "data:image/png;base64," in html
    for text in (
        "random",
        "keep-hard · prototypes",
        "exponent b",
        "data saved vs random",
        "digits",
        "Pareto frontier",
    ):
        assert text in html, text
    assert not list((tmp_path / "report").glob(".*.tmp"))  # atomic writes leave no temporaries


def _synthetic_rows() -> list[dict]:
    """Random's error is n^-1/2; keep-hard reaches random's error with half the examples."""
    rows = []
    n_train = 1000
    rng = np.random.default_rng(0)
    for width in (32, 64):
        for seed in (0, 1):
            base = dict(
                task="toy",
                model="mlp",
                width=width,
                seed=seed,
                config="c",
                status="ok",
                n_train=n_train,
            )

            def add(policy, metric, keep, n, err, base=base):
                err *= 1 + 1e-3 * rng.normal()
                rows.append(
                    {
                        **base,
                        "policy": policy,
                        "metric": metric,
                        "keep": keep,
                        "n_kept": n,
                        "error": err,
                        "accuracy": 1 - err,
                    }
                )

            add("full", "-", "1.0", n_train, n_train**-0.5)
            for frac in (0.1, 0.2, 0.3, 0.5, 0.7):
                n = int(frac * n_train)
                add("random", "-", str(frac), n, n**-0.5)
                add("keep-hard", "prototypes", str(frac), n, (2 * n) ** -0.5)
    rows.append(
        {
            **rows[-1],
            "status": "failed",
            "seed": 9,
            "error": None,
            "accuracy": None,
            "message": "exit code 1 <script>",
        }
    )
    return rows


def test_report_numbers_and_width_panels_on_synthetic_curves(tmp_path):
    (analysis,) = analyse(_synthetic_rows(), n_boot=20)
    assert analysis.widths == [32, 64] and analysis.main_width == 64
    table = {row.label: row for row in analysis.table}
    hard = table["keep-hard · prototypes"]
    assert hard.saved_vs_random == pytest.approx(0.5, abs=0.01)
    assert hard.examples_to_full == pytest.approx(500, rel=0.01)
    assert table["random"].b == pytest.approx(0.5, abs=0.05)
    assert hard.gap_to_random == pytest.approx((100**-0.5 - 200**-0.5), abs=1e-3)
    assert len(analysis.failures) == 1
    paths = write_scaling_report(_synthetic_rows(), tmp_path / "r", n_boot=20)
    assert set(paths) == {"plot", "widths", "html"}
    html = paths["html"].read_text()
    assert "+50.0%" in html and "Model widths" in html
    assert "exit code 1 &lt;script&gt;" in html  # failure messages are escaped


def test_report_keeps_different_settings_apart(tmp_path):
    rows = _synthetic_rows()
    other = [{**r, "config": "d", "error": r["error"] and r["error"] / 2} for r in rows]
    paths = write_scaling_report(rows + other, tmp_path / "r", n_boot=10)
    assert {"plot", "plot-2", "widths", "widths-2", "html"} == set(paths)
    assert paths["html"].read_text().count("<h2>toy · mlp · ") == 2


def test_report_without_finished_runs_says_what_to_do(tmp_path):
    with pytest.raises(LessdataError, match="scale run"):
        write_scaling_report(tmp_path / "empty", tmp_path / "out")


def test_cli_run_export_report(tmp_path):
    runner = CliRunner()
    store = tmp_path / "store"
    result = runner.invoke(
        scale_app,
        [
            "run",
            "--task",
            "digits",
            "--model",
            "logreg",
            "--n-train",
            "300",
            "--policy",
            "random",
            "--fractions",
            "0.5",
            "--seeds",
            "1",
            "--store",
            str(store),
            "--quiet",
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 runs: 2 trained, 0 failed" in result.output
    result = runner.invoke(
        scale_app, ["export", "--store", str(store), "--out", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.csv").read_text().count("\n") == 3  # header + 2 runs
    result = runner.invoke(
        scale_app, ["report", "--store", str(store), "--out", str(tmp_path / "rep")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep" / "report.html").exists()


def test_parse_fractions_expands_progressions():
    assert parse_fractions("0.1,0.2,...,0.5") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert parse_fractions("0.05, 0.1, 1000") == [0.05, 0.1, 1000]
    with pytest.raises(LessdataError):
        parse_fractions("0.1,...,1.0")


def test_digits_task_is_split_stratified_and_seeded():
    a, b = load_task("digits", seed=0), load_task("digits", seed=0)
    assert np.array_equal(a.x_train, b.x_train) and a.input_shape == (8, 8)
    assert len(a.x_train) + len(a.x_test) == 1797
    assert np.bincount(a.y_test).min() >= 30  # every class is in the test set
    assert not np.array_equal(a.ids_train, load_task("digits", seed=1).ids_train)
    assert len(load_task("digits", n_train=100).x_train) == 100


def test_mnist1d_task_has_a_fixed_test_set(tmp_path):
    small = load_task("mnist1d", n_train=50, seed=0, cache_dir=tmp_path)
    other = load_task("mnist1d", n_train=30, seed=1, cache_dir=tmp_path)
    assert small.x_train.shape == (50, 40) and small.input_shape == (40,)
    assert np.array_equal(small.x_test, other.x_test) and len(small.x_test) == 5000
    assert set(np.unique(small.y_test)) == set(range(10))
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 3  # test set + two training sets
    again = load_task("mnist1d", n_train=50, seed=0, cache_dir=tmp_path)  # from the cache
    assert np.array_equal(again.x_train, small.x_train)


def test_ssl_metrics_and_d2_in_a_sweep(tmp_path, monkeypatch):
    """``prototypes@ssl`` scores the SSL embedding (not the raw rows), cached apart from
    ``prototypes``; d2 builds its graph in the metric's own space."""
    pytest.importorskip("torch")
    monkeypatch.setenv("LESSDATA_CACHE", str(tmp_path / "cache"))
    counter = _CountingScore()
    seen: list[bool] = []  # per call: were the rows unit vectors (the SSL embedding)?

    def score(data, metrics, **options):
        seen.append(bool(np.allclose(np.linalg.norm(np.asarray(data), axis=1), 1, atol=1e-4)))
        return counter(data, metrics, **options)

    monkeypatch.setattr(lessdata, "score", score)
    spec = SweepSpec(**{**DIGITS, "metrics": ["prototypes", "prototypes@ssl"],
                        "policies": ["random", "d2"], "fractions": [0.5], "seeds": 1,
                        "score_options": {"ssl_steps": 3}})  # fmt: skip
    summary = run_sweep(spec, tmp_path / "store")
    assert summary.failed == 0
    rows = ResultsStore(tmp_path / "store").rows()
    assert {(r["metric"], r["policy"]) for r in rows} == {
        ("-", "full"),
        ("-", "random"),
        ("prototypes", "d2"),
        ("prototypes@ssl", "d2"),
    }
    assert sorted(seen) == [False, True]  # raw pixels once, the SSL embedding once
    cached = sorted(p.name.split("-seed")[0] for p in (tmp_path / "store").rglob("*.npy"))
    assert cached == ["prototypes", "prototypes_ssl"]


def test_dynamic_pruning_runs_beside_the_static_ones(tmp_path):
    """``dynamic=[0.5]`` adds an InfoBatch run on the full data at the same budget of
    example-forwards, spent in epochs, that records how many forwards it saved."""
    pytest.importorskip("torch")
    spec = SweepSpec(**{**DIGITS, "model": "mlp", "policies": ["random"], "fractions": [0.5],
                        "seeds": 1, "train": {"steps": 60}, "dynamic": [0.5]})  # fmt: skip
    summary = run_sweep(spec, tmp_path / "store")
    assert summary.failed == 0
    rows = {r["policy"]: r for r in ResultsStore(tmp_path / "store").rows()}
    assert set(rows) == {"full", "random", "dynamic-0.5"}
    dynamic = rows["dynamic-0.5"]
    assert dynamic["n_kept"] == 400 and dynamic["keep"] == "1.0"
    assert 0.05 < dynamic["forwards_saved"] < 0.5
    assert dynamic["epochs"] == round(60 * 128 / 400)  # the static runs' budget, in epochs
    write_scaling_report(tmp_path / "store", tmp_path / "report")  # the report takes it


@pytest.mark.parametrize("dynamic", [[1.0], [0.5, 0.5], [-0.1]])
def test_bad_dynamic_ratios_are_refused(tmp_path, dynamic):
    spec = SweepSpec(**{**DIGITS, "dynamic": dynamic})
    with pytest.raises(LessdataError, match="dynamic prune ratios"):
        run_sweep(spec, tmp_path / "s")


def test_dynamic_runs_need_the_builtin_trainer(tmp_path):
    spec = SweepSpec(task=_toy_task(), metrics=["random"], dynamic=[0.5])
    with pytest.raises(LessdataError, match="built-in trainer"):
        run_sweep(spec, tmp_path / "s", train_and_eval=lambda ids: {"error": 0.1})
