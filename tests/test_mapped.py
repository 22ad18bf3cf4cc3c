"""Memory maps release their pages after a read, and still read the same values."""

from __future__ import annotations

import numpy as np

from lessdata.data import mapped
from lessdata.kmeans import rows_as_float32


def _resident_file_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    return 0


def test_released_pages_read_back_the_same_values(tmp_path):
    x = np.random.default_rng(0).normal(size=(20_000, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mapped_x = np.load(tmp_path / "x.npy", mmap_mode="r")
    before = _resident_file_kb()
    first = rows_as_float32(mapped_x, slice(0, 20_000), normalize=False)  # releases
    assert _resident_file_kb() - before < 2_000  # not the 5 MB file
    mapped.release_pages(mapped_x)
    np.testing.assert_array_equal(first, x)
    np.testing.assert_array_equal(np.asarray(mapped_x[123:456]), x[123:456])
    mapped.release_pages(x)  # an in-memory array: nothing happens
    mapped.release_pages(np.zeros(3))


def test_scattered_reads_release_every_so_many_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(mapped, "SCATTERED_ROWS", 100)
    monkeypatch.setattr(mapped, "_READ_SINCE_RELEASE", {})
    calls = []
    monkeypatch.setattr(mapped, "release_pages", lambda array: calls.append(array))
    np.save(tmp_path / "x.npy", np.ones((1000, 8), dtype=np.float32))
    mapped_x = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = np.arange(0, 1000, 7)
    for _ in range(10):
        block = rows_as_float32(mapped_x, rows[:40], normalize=True, release=False)
        assert block.shape == (40, 8)
    assert len(calls) == 3  # 400 rows in reads of 40: a release at 120, 240 and 360
    mapped.release_after(np.ones(3), 10_000)  # not a map: nothing counted
    assert len(calls) == 3
