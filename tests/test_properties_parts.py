"""Property tests: a damaged folder of manifest parts gives a right result or one error
naming the file, and nothing outside the output changes.

Hypothesis damages the folders ``prune --parts`` and ``score --parts`` write, the way a
disk, a copy or a hand does: a part cut short, a part overwritten with random bytes, a
foreign Parquet file named like a part (numbered past the count, or in place of a part), a
part of another run (another key), a part whose schema metadata (the run's settings) was
edited, a missing part. Every reader of a manifest folder (``read_manifest``,
``PrunedSampler(folder)``, ``lessdata inspect``) must then give the undamaged result or a
:class:`LessdataError` whose one line names the damaged file (exit 2 on the CLI), and
``inspect`` may write only its report: into ``--out``, or the run folder's own
``report.html`` and ``scores.png``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import lessdata
from lessdata import kmeans
from lessdata.cli import main
from lessdata.data.manifest import read_manifest
from lessdata.data.manifest_parts import list_parts, part_name
from lessdata.data.paths import REPORT_NAME, SCORES_PLOT_NAME
from lessdata.errors import LessdataError
from lessdata.torch import PrunedSampler

CASES = settings(
    max_examples=int(os.environ.get("LESSDATA_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same cases on every run: CI stays reproducible
)

#: a CLI case runs a whole command (draws a figure): fewer of them
CLI_CASES = settings(CASES, max_examples=max(1, CASES.max_examples // 5))

#: rows per shard while the folders are built: three parts of 400 rows
ROWS, SHARD = 1200, 400


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")


@dataclass(frozen=True)
class Built:
    """The undamaged folders, built once: copied for every case."""

    root: Path
    #: ``prune --parts --out run``: ``run/manifest/part-*``, ``run/x.npy``
    run: Path
    #: ``score --parts --out scores``: ``scores/part-*``
    scores: Path
    #: the parts of a second ``prune --parts`` run (another seed, so another key)
    other: list[Path]


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    with tempfile.TemporaryDirectory() as name, pytest.MonkeyPatch.context() as mp:
        root = Path(name)
        mp.setattr(kmeans, "CHUNK_ROWS", SHARD)
        mp.setenv("LESSDATA_CACHE", str(root / "cache"))
        x = np.random.default_rng(0).normal(size=(ROWS, 8)).astype(np.float32)
        np.save(root / "x.npy", x)
        options = dict(metric_options={"k": 4}, quiet=True)
        lessdata.prune_parts(root / "x.npy", 0.5, root / "run", policy="keep-hard", **options)
        lessdata.score_parts(root / "x.npy", root / "scores", **options)
        lessdata.prune_parts(root / "x.npy", 0.5, root / "other", seed=1, **options)
        other = list_parts(root / "other" / "manifest")
        assert len(list_parts(root / "run" / "manifest")) == len(other) == ROWS // SHARD
        yield Built(root, root / "run", root / "scores", other)


# --- the damage ------------------------------------------------------------------------------

which = st.integers(0, ROWS // SHARD - 1)
settings_values = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", b"{", b"[1]", b"null", b'{"metrics": "prototypes"}',
                     b'{"metrics": ["gone"]}', b'{"metrics": [1]}', b'{"seed": 9}',
                     b'{"command": "curate"}']),
    st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=4), max_size=3).map(
        lambda d: repr(d).replace("'", '"').encode()
    ),
)  # fmt: skip
foreign_tables = st.fixed_dictionaries(
    {"id": st.lists(st.integers(0, 5), max_size=5)},
    optional={
        "prototypes": st.lists(st.floats(allow_nan=True), min_size=5, max_size=5),
        "kept": st.lists(st.booleans(), min_size=5, max_size=5),
        "preview": st.lists(st.text(max_size=5), min_size=5, max_size=5),
    },
)
#: each kind of damage with what it needs; "none" leaves the folder whole (a right result)
DAMAGES = {
    "none": st.tuples(st.just("none"), which, st.none()),
    "truncate": st.tuples(st.just("truncate"), which, st.floats(0, 1, exclude_max=True)),
    "random bytes": st.tuples(st.just("random bytes"), which, st.integers(0, 3000)),
    "foreign past the count": st.tuples(
        st.just("foreign past the count"), st.integers(ROWS // SHARD, 99999), foreign_tables
    ),
    "foreign in place": st.tuples(st.just("foreign in place"), which, foreign_tables),
    "another key": st.tuples(st.just("another key"), which, st.booleans()),
    "settings": st.tuples(st.just("settings"), which, st.one_of(st.none(), settings_values)),
    "missing": st.tuples(st.just("missing"), which, st.none()),
}
damages = st.sampled_from(sorted(DAMAGES)).flatmap(DAMAGES.__getitem__)


def damage(folder: Path, how: tuple, other: list[Path]) -> str:
    """Damage the parts in ``folder`` as ``how`` says; return the file name an error must
    name."""
    kind, index, detail = how
    parts = list_parts(folder)
    key = parts[0].name.split("-")[1]
    count = len(parts)
    if kind == "truncate":
        data = parts[index].read_bytes()
        parts[index].write_bytes(data[: int(len(data) * detail)])
    elif kind == "random bytes":
        parts[index].write_bytes(np.random.default_rng(detail).bytes(detail))
    elif kind.startswith("foreign"):
        n = len(detail["id"])
        table = pa.table({name: values[:n] for name, values in detail.items()})
        target = (
            parts[index] if kind == "foreign in place" else folder / part_name(key, index, count)
        )
        pq.write_table(table, target)
        return target.name
    elif kind == "another key":  # beside the parts, or in place of one
        if detail:
            parts[index].unlink()
        shutil.copy(other[index], folder / other[index].name)
        return other[index].name
    elif kind == "settings":
        table = pq.read_table(parts[index])
        metadata = None if detail is None else {b"lessdata": detail}
        pq.write_table(table.replace_schema_metadata(metadata), parts[index])
    elif kind == "missing":
        parts[index].unlink()
    elif kind == "none":
        return "(no error may come)"
    return parts[index].name


@contextmanager
def damaged_copy(built: Built, source: Path, how: tuple) -> Iterator[tuple[Path, Path, str]]:
    """A temporary folder holding a copy of ``source`` (same name), damaged: ``(tmp, the
    copied folder, the damaged file's name)``."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        copy = tmp / source.name
        shutil.copytree(source, copy)
        parts = copy / "manifest" if (copy / "manifest").is_dir() else copy
        yield tmp, copy, damage(parts, how, built.other)


def read_or_refusal(read, target: Path, named: str):
    """``read(target)``, or None when it raised a LessdataError whose one line names
    ``named``."""
    try:
        return read(target)
    except LessdataError as exc:
        message = str(exc)
        assert "\n" not in message.strip() and named in message, (named, message)
        return None


# --- the readers -----------------------------------------------------------------------------


@CASES
@given(how=damages, shown=st.sampled_from(["run", "run/manifest", "scores"]))
def test_a_damaged_parts_folder_is_refused_by_name_and_a_whole_one_read(built, how, shown):
    source = built.scores if shown == "scores" else built.run
    expected = read_manifest(source)
    whole = how[0] == "none"
    with damaged_copy(built, source, how) as (tmp, _, named):
        table = read_or_refusal(read_manifest, tmp / shown, named)
        event(f"read_manifest, {how[0]}: {'read' if table is not None else 'refused'}")
        assert (table is not None) == whole, "a damaged folder must be refused, a whole one read"
        if table is not None:
            assert table.equals(expected, check_metadata=True)
        if shown != "scores":  # a prune manifest: the sampler reads its kept rows
            sampler = read_or_refusal(PrunedSampler, tmp / shown, named)
            assert (sampler is not None) == whole
            if sampler is not None:
                rows = np.flatnonzero(expected["kept"].to_numpy(zero_copy_only=False))
                np.testing.assert_array_equal(sampler.rows, rows)


# --- the CLI ---------------------------------------------------------------------------------


def snapshot(root: Path, skip: set[Path]) -> dict[str, str]:
    """Every path under ``root`` (but ``skip``) with a hash of what it holds."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in filenames:
            path = here / name
            if path not in skip:
                seen[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        seen.update({str((here / d).relative_to(root)) + "/": "" for d in dirnames})
    return seen


def run_cli(tmp: Path, *args: str) -> tuple[int, str]:
    """Run the CLI in-process in ``tmp``: its exit code and what it wrote to stderr."""
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stderr(err), redirect_stdout(io.StringIO()):
        mp.setattr(sys, "argv", ["lessdata", *args])
        mp.setenv("LESSDATA_CACHE", str(tmp / "cache"))
        mp.chdir(tmp)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


@CLI_CASES
@given(
    how=damages,
    shown=st.sampled_from(["run", "run/manifest", "scores"]),
    out=st.sampled_from([None, None, "report", "sub/report"]),
)
def test_inspect_of_a_damaged_parts_folder_is_one_line_and_writes_only_its_report(
    built, how, shown, out
):
    source = built.scores if shown == "scores" else built.run
    with damaged_copy(built, source, how) as (tmp, copy, named):
        (tmp / REPORT_NAME).write_text("mine\n")  # the user's own files beside the run
        (tmp / SCORES_PLOT_NAME).write_text("mine\n")
        mine = {tmp / "cache"}
        if out is None:  # the run folder's own report, and nothing else
            mine |= {copy / REPORT_NAME, copy / SCORES_PLOT_NAME}
        else:
            mine |= {tmp / out}
        before = snapshot(tmp, mine)
        code, err = run_cli(tmp, "inspect", shown, *(["--out", out] if out else []))
        event(f"inspect, {how[0]}: exit {code}")
        assert code == (0 if how[0] == "none" else 2), err
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            assert named in lines[0], (named, err)
        else:
            report = (tmp / out if out else copy) / REPORT_NAME
            assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        after = snapshot(tmp, mine)
        if code == 0 and out:  # a run that succeeded may have made the folder above --out
            after.pop(str(Path(out).parent) + "/", None)
        assert after == before, "a file outside the report changed"
