"""Property tests: whatever happened to an index folder, ``dedup --against`` gives a right
result or one line.

Hypothesis damages a good index folder (``lessdata index build`` of a small corpus, with
semantic arrays added) the ways a disk, a copy or a person might: an array of another
shape or dtype, a value out of range, a file cut short, grown, replaced by foreign bytes
or deleted, ``index.json`` edited or cut. Half the time the damage is *re-signed* (each
file's checksum and index.json's digest recomputed, as another writer of the format
would), so that the checks of shapes, dtypes and ranges are exercised and not only the
checksums. Every case must end in:

- exit 0 with the same manifest as the undamaged index gives, when nothing that the index
  means changed (or, re-signed, with a well-formed manifest), or
- exit 2 and exactly one line on stderr;

and nothing outside ``--out`` may change (the index folder included). The loader alone is
held to the same rule from Python, and what it accepts must answer queries of every method.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lessdata.cli import main
from lessdata.data.fingerprint import file_checksums
from lessdata.duplicates.index_files import ARRAYS, digest_of
from lessdata.duplicates.reference import ReferenceIndex
from lessdata.errors import LessdataError
from lessdata.pipeline.indexing import build_index

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho".split()
N_OLD = 40
FILES = [f"{name}.npy" for name in ARRAYS] + ["ids.parquet", "index.json"]
RUNS = [["exact"], ["near"], ["exact", "near"]]


CASES = settings(
    max_examples=int(os.environ.get("LESSDATA_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same cases on every run: CI stays reproducible
)  # fmt: skip


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESSDATA_QUIET", "1")


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


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


def _doc(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(40))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with OLD (``old.jsonl``), NEW (``new.jsonl``: exact and near copies of OLD,
    its own copies) and OLD's index (``index/``: exact, near and a small semantic part)."""
    root = tmp_path_factory.mktemp("index-base")
    rng = random.Random(0)
    old = [{"id": f"d{i}", "text": _doc(rng)} for i in range(N_OLD)]
    new = [{"id": f"n{i}", "text": _doc(rng)} for i in range(20)]
    for i in range(4):
        new[i]["text"] = old[i]["text"]
        words = old[10 + i]["text"].split()
        words[20] = "changed"
        new[4 + i]["text"] = " ".join(words)
    new[10]["text"] = new[15]["text"]
    for name, rows in (("old.jsonl", old), ("new.jsonl", new)):
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    built = build_index(
        root / "old.jsonl", out=root / "built", method=["exact", "near"], quiet=True
    )
    index = ReferenceIndex.load(built)
    vectors = np.random.default_rng(0).normal(size=(N_OLD, 8)).astype(np.float32)
    centroids = vectors[:3] / np.linalg.norm(vectors[:3], axis=1, keepdims=True)
    cluster = (vectors @ centroids.T).argmax(axis=1)
    index.add_semantic(vectors, centroids, cluster, encoder="test-encoder", seed=0)
    (root / "index").mkdir()
    index.save(root / "index")
    return root


@pytest.fixture(scope="module")
def expected(base: Path) -> dict[str, list[dict]]:
    """The manifest rows of each run against the undamaged index."""
    found = {}
    for methods in RUNS:
        with folder() as tmp:
            _copy_corpora(base, tmp)
            code, err = run_cli(tmp, *_dedup_args(methods, "out"))
            assert code == 0, err
            found[" ".join(methods)] = _rows(tmp / "out")
    return found


def _copy_corpora(base: Path, tmp: Path) -> None:
    shutil.copy2(base / "new.jsonl", tmp / "new.jsonl")
    shutil.copytree(base / "index", tmp / "index")


def _dedup_args(methods: list[str], out: str) -> list[str]:
    flags = [arg for m in methods for arg in ("--method", m)]
    return ["dedup", "new.jsonl", "--against", "index", *flags, "--out", out]


def _rows(out: Path) -> list[dict]:
    table = pq.read_table(out / "manifest.parquet")
    keep = ["id", "kept", "removed_by", "against_source", "against_id"]
    return table.select([c for c in keep if c in table.column_names]).to_pylist()


# --- damage ----------------------------------------------------------------------------


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-3, 300), st.sampled_from([2**40, -(2**63)]),
        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
        st.sampled_from(["near", "exact", "semantic", "signatures", "/nonexistent/old.jsonl"]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4),
                                                                         inner, max_size=2)),
    max_leaves=5,
)  # fmt: skip
other_dtypes = st.sampled_from(
    ["int8", "int32", "int64", "uint32", "uint64", ">u8", ">i8", "float16", "float32",
     "float64", "bool", "complex64", "U3"]
)  # fmt: skip


def _paths(tree: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a JSON tree (dict keys and list positions)."""
    found = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found += _paths(value, (*prefix, i))
    return found


def _damage_array(data: st.DataObject, path: Path) -> str:
    array = np.load(path)
    how = data.draw(st.sampled_from(["shape", "dtype", "value", "reverse", "foreign"]))
    if how == "shape":
        change = data.draw(st.sampled_from(["fewer", "more", "flat", "deeper", "transposed"]))
        if change == "fewer":
            array = array[: data.draw(st.integers(0, max(0, len(array) - 1)))]
        elif change == "more":
            array = np.concatenate([array, array[:1]])
        elif change == "flat":
            array = array.reshape(-1)
        elif change == "deeper":
            array = array[None]
        else:
            array = array.T.copy()
        how = f"shape {change}"
    elif how == "dtype":
        dtype = data.draw(other_dtypes)
        with np.errstate(all="ignore"):
            array = array.astype(dtype)
        how = f"dtype {dtype}"
    elif how == "value" and array.size:
        at = data.draw(st.integers(0, array.size - 1))
        flat = array.reshape(-1).copy()
        flat[at] = data.draw(hnp.from_dtype(array.dtype))
        array = flat.reshape(array.shape)
    elif how == "reverse" and array.ndim:
        array = np.flip(array, axis=data.draw(st.integers(0, array.ndim - 1))).copy()
    elif how == "foreign":
        array = data.draw(hnp.arrays(data.draw(other_dtypes), hnp.array_shapes(max_dims=3)))
    np.save(path, array, allow_pickle=False)
    return how


def _damage_bytes(data: st.DataObject, path: Path) -> str:
    raw = path.read_bytes()
    kinds = ["cut", "grown", "foreign", "deleted", "emptied", "swapped", "linked", "beside"]
    how = data.draw(st.sampled_from(kinds))
    if how == "swapped":  # another file of the index copied over this one
        other = data.draw(st.sampled_from([f for f in FILES if f != path.name]))
        path.write_bytes((path.parent / other).read_bytes())
        how = f"swapped with {other}"
    elif how == "linked":  # the same bytes, behind a symbolic link
        outside = path.parent.parent / f"linked-{path.name}"
        outside.write_bytes(raw)
        path.unlink()
        path.symlink_to(outside)
    elif how == "beside":  # a foreign file beside the index's own: not the index's business
        (path.parent / f"{path.stem}-copy{path.suffix}").write_bytes(b"foreign")
    elif how == "cut":
        path.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))])
    elif how == "grown":
        path.write_bytes(raw + data.draw(st.binary(min_size=1, max_size=20)))
    elif how == "foreign":
        path.write_bytes(data.draw(st.binary(max_size=300)))
    elif how == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"")
    return how


def _damage_json(data: st.DataObject, path: Path) -> str:
    meta = json.loads(path.read_text())
    how = data.draw(st.sampled_from(["value", "delete", "text"]))
    if how == "text":
        text = path.read_text()
        path.write_text(text[: data.draw(st.integers(0, len(text) - 1))])
        return how
    key = data.draw(st.sampled_from(_paths(meta)))
    holder = meta
    for part in key[:-1]:
        holder = holder[part]
    if how == "value":
        holder[key[-1]] = data.draw(json_values)
    else:
        del holder[key[-1]]
    path.write_text(json.dumps(meta))
    return f"{how} {'.'.join(map(str, key))}"


def _resign(index: Path) -> None:
    """Recompute the checksums of the files index.json lists and its digest (when it can
    be read), as another writer of the format would."""
    try:
        meta = json.loads((index / "index.json").read_text())
        names = [n for n in meta["files"] if (index / n).is_file()]
        meta["files"].update(file_checksums(index, names))
        meta["digest"] = digest_of(meta)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return
    (index / "index.json").write_text(json.dumps(meta))


def damage(data: st.DataObject, index: Path) -> tuple[str, bool, bool]:
    """Damage one file of ``index`` as drawn; re-sign it or not. What was done, whether the
    index still means what it meant (every file's bytes and index.json's content), and
    whether it was re-signed."""
    before = _meaning(index)
    name = data.draw(st.sampled_from(FILES))
    path = index / name
    if name == "index.json":
        how = _damage_json(data, path)
    elif name.endswith(".npy") and data.draw(st.booleans()):
        how = _damage_array(data, path)
    else:
        how = _damage_bytes(data, path)
    resigned = data.draw(st.booleans())
    if resigned:
        _resign(index)
    event(f"{name}: {how.split(' ')[0]}{' (re-signed)' if resigned else ''}")
    return f"{name}: {how}", _meaning(index) == before, resigned


def _meaning(index: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for name in FILES:
        path = index / name
        if path.is_symlink() or not path.is_file():
            found[name] = "link" if path.is_symlink() else "gone"
            continue
        raw = path.read_bytes()
        if name == "index.json":
            try:
                found[name] = json.loads(raw)
            except ValueError:
                found[name] = raw
        else:
            found[name] = hashlib.sha256(raw).hexdigest()
    return found


# --- the properties ----------------------------------------------------------------------


@CASES
@given(data=st.data(), methods=st.sampled_from(RUNS))
def test_dedup_against_a_damaged_index_gives_a_result_or_one_line(base, expected, data, methods):
    with folder() as tmp:
        _copy_corpora(base, tmp)
        what, same, resigned = damage(data, tmp / "index")
        before = snapshot(tmp, {tmp / "out", tmp / "cache"})
        code, err = run_cli(tmp, *_dedup_args(methods, "out"))
        assert code in (0, 2), (what, err)
        event(f"exit {code}")
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (what, err)
        elif same:
            assert _rows(tmp / "out") == expected[" ".join(methods)], what
        else:  # only a re-signed index can be accepted once it means something else
            assert resigned, f"a damaged index was used: {what}"
            rows = _rows(tmp / "out")
            assert [r["id"] for r in rows] == [f"n{i}" for i in range(20)], what
            assert all(r["kept"] != bool(r["removed_by"]) for r in rows), what
        assert not same or code == 0, (what, err)  # an unchanged index is never refused
        after = snapshot(tmp, {tmp / "out", tmp / "cache"})
        assert after == before, f"a file outside --out changed ({what})"


@CASES
@given(data=st.data())
def test_a_damaged_index_loads_and_answers_or_is_refused(base, data):
    with folder() as tmp:
        shutil.copytree(base / "index", tmp / "index")
        what, same, _ = damage(data, tmp / "index")
        try:
            index = ReferenceIndex.load(tmp / "index")
        except LessdataError as exc:
            message = str(exc)
            assert message.strip() and "\n" not in message, what
            assert not same, f"an unchanged index was refused: {message}"
            return
        rng = np.random.default_rng(0)
        digests = rng.integers(0, 255, size=(5, 16), dtype=np.uint8).view("V16").reshape(5)
        index.match_exact(np.concatenate([digests, np.asarray(index.hashes[:2]).view("V16")
                                          .reshape(-1)]))  # fmt: skip
        near = index.settings["near"]
        signatures = np.asarray(index.signatures[:3])
        index.match_near(np.concatenate([signatures, signatures[:1] + 1]), 0.5)
        index.match_semantic(rng.normal(size=(4, index.settings["semantic"]["dim"])))
        assert len(index) == N_OLD and near["num_perm"] == signatures.shape[1], what


def test_the_fixture_index_is_whole(base):
    """The base index is accepted as built (the properties start from a good folder)."""
    index = ReferenceIndex.load(base / "index")
    assert index.methods == ("exact", "near", "semantic") and len(index) == N_OLD
    assert os.path.realpath(base / "old.jsonl") == index.source
