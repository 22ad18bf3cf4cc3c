"""Shard checkpoints are data: atomic, checksummed, never pickles; a damaged one is
recomputed with a message instead of failing every rerun."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest

from lessdata.data.corpus_shards import PieceShards, ShardFile
from lessdata.engines import ShardCheckpoint, get_engine
from lessdata.engines.checkpoint import DamagedCheckpoint, decode_file, encode


def step(item: int) -> tuple[np.ndarray, list[str]]:
    return np.arange(item, dtype=np.int64), [f"shard {item}"]


def test_results_round_trip_as_data(tmp_path):
    piece = PieceShards(
        shards=[ShardFile("/x/piece-0.parquet", 0, 3, "abc")],
        columns={"id": pa.array(["a", "b", "c"]), "preview": pa.array(["x", None, "z"])},
        lengths=np.array([1, 0, 1]),
        readable=np.array([True, False, True]),
    )
    value = {"piece": piece, "digests": np.zeros(3, dtype="V16"), "n": 3, "t": (1.5, None)}
    path = tmp_path / "c.npz"
    path.write_bytes(encode(value))
    back = decode_file(path)
    assert back["piece"].shards == piece.shards
    assert back["piece"].columns["preview"].equals(piece.columns["preview"])
    assert np.array_equal(back["piece"].readable, piece.readable)
    assert back["digests"].dtype == np.dtype("V16") and back["t"] == (1.5, None)


def test_what_is_not_data_is_refused():
    with pytest.raises(TypeError, match="cannot store"):
        encode(object())
    with pytest.raises(TypeError, match="objects"):
        encode(np.array([{"a": 1}], dtype=object))


def test_a_damaged_checkpoint_is_recomputed_and_said(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LESSDATA_QUIET", raising=False)
    checkpoint = ShardCheckpoint(tmp_path / "ck")
    engine = get_engine("local")
    first = engine.map(step, [1, 2, 3], checkpoint=checkpoint)
    data = checkpoint.path(1).read_bytes()
    checkpoint.path(1).write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    flipped = bytearray(checkpoint.path(2).read_bytes())
    flipped[len(flipped) // 3] ^= 0xFF  # altered
    checkpoint.path(2).write_bytes(bytes(flipped))
    calls = []

    def counted(item: int):
        calls.append(item)
        return step(item)

    again = engine.map(counted, [1, 2, 3], checkpoint=checkpoint)
    assert calls == [2, 3]  # shards 1 and 2 were damaged: recomputed; shard 0 was loaded
    assert [a.tolist() for a, _ in again] == [a.tolist() for a, _ in first]
    err = capsys.readouterr().err
    assert "recomputing shard 1" in err and str(checkpoint.path(1)) in err
    assert decode_file(checkpoint.path(2))[1] == ["shard 3"]  # rewritten whole


def test_a_crafted_file_cannot_run_code(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    checkpoint = ShardCheckpoint(tmp_path / "ck")
    checkpoint.folder.mkdir()
    np.savez(checkpoint.path(0), __tree__=np.array([Boom()], dtype=object))  # a pickle inside
    (checkpoint.folder / "shard-000001.pkl").write_bytes(pickle.dumps(Boom()))  # old format
    with pytest.raises(DamagedCheckpoint):
        checkpoint.load(0)
    assert not checkpoint.done(1)  # .pkl files are not checkpoints any more
