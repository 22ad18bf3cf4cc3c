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


def test_scattered_rows_are_read_without_mapping_them(tmp_path):
    x = np.random.default_rng(1).normal(size=(30_000, 48)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mapped_x = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = np.concatenate([np.arange(10, 20), np.arange(500, 29_000, 37), [5, 5, 29_999]])
    before = _resident_file_kb()
    found = mapped.read_rows(mapped_x, rows)
    assert _resident_file_kb() - before < 1_000  # the file is 5.8 MB: nothing mapped
    np.testing.assert_array_equal(found, x[rows])
    block = rows_as_float32(mapped_x, rows, normalize=False, release=False)
    np.testing.assert_array_equal(block, x[rows])
    assert mapped.read_rows(x, rows) is None  # in memory: index it
    assert mapped.read_rows(mapped_x[100:], rows[:3]) is None  # a slice of a map
    assert mapped.read_rows(mapped_x, rows[:0]).shape == (0, 48)
