"""Memory maps that stream: drop the pages of a read-only map once a pass has read them.

A ``.npy`` opened with ``mmap_mode="r"`` is read through the page cache, and every page a
pass touches stays mapped into the process (its resident set) until the map is closed: a
streamed pass over a 1.5 GB file leaves the process 1.5 GB larger, although it only ever
needed one chunk at a time. :func:`release_pages` tells the kernel that the process is done
with the map's pages (``madvise(MADV_DONTNEED)``): they leave the resident set (they stay in
the page cache, so a later pass reads them back without disk I/O), and the process's peak
memory stays at what it holds itself. For a read-only file mapping this never loses data.
Scattered rows are read with ``pread`` instead (:func:`read_rows`), which maps nothing.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
def release_pages(array: np.ndarray) -> None:
    """Drop the resident pages of the read-only memory map behind ``array``, if it has one.

    Anything else (an in-memory array, a writable map, a platform without ``madvise``) is
    left alone. Cheap when few pages are resident (a few microseconds), so streamed passes
    call it after every chunk.

    Args:
        array: the array a chunk was just read from (an ``np.memmap`` or a view of one).

    Example:
        >>> import numpy as np
        >>> release_pages(np.zeros(3))  # not a map: nothing happens
    """
    handle = getattr(array, "_mmap", None)
    if _DONTNEED is None or not isinstance(handle, mmap.mmap) or getattr(array, "mode", "") != "r":
        return
    try:
        handle.madvise(_DONTNEED)
    except (OSError, ValueError):  # a closed map or a kernel that refuses: nothing to drop
        return



def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """``array[rows]`` read with ``pread`` from the file behind a read-only memory map of a
    whole ``.npy``; None for any other array (index it instead).

    A walk over clusters (SemDeDup) reads each cluster's rows from all over the file.
    Through the map, every row read makes the kernel map 64 KiB around it ("fault-around"),
    so the whole file ends up in the process's resident set, and releasing the pages after
    each cluster makes every later read fault again (measured 1.2x slower on
    ``benchmarks/bench_prune_1m.py``). ``pread`` copies the rows from the page cache
    without mapping anything: the resident set holds the rows read and no more, at about
    a microsecond a row. Runs of consecutive rows are one read each.

    Args:
        array: a C-contiguous ``np.memmap`` opened read-only on a whole ``.npy`` file.
        rows: row numbers (any order; repeats allowed).
    """
    if not isinstance(array, np.memmap) or getattr(array, "mode", "") != "r":
        return None
    if array.filename is None or not array.flags.c_contiguous or array.ndim != 2:
        return None
    try:
        if array.offset + array.nbytes != os.path.getsize(array.filename):
            return None  # a slice of a map: its offset is its parent's
        fd = os.open(array.filename, os.O_RDONLY)
    except OSError:
        return None
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), array.shape[1]), dtype=array.dtype)
    if len(rows) == 0:
        os.close(fd)
        return out
    row_bytes = array.shape[1] * array.dtype.itemsize
    view = memoryview(out.reshape(-1).view(np.uint8))
    try:
        # runs of consecutive rows (in the order given): one read per run
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate(([0], breaks)).tolist()
        stops = np.concatenate((breaks, [len(rows)])).tolist()
        first = rows[starts].tolist()
        for a, b, row in zip(starts, stops, first, strict=True):
            want = (b - a) * row_bytes
            got = os.preadv(fd, [view[a * row_bytes : b * row_bytes]],
                            array.offset + row * row_bytes)  # fmt: skip
            if got != want:
                return None  # a short read (the file changed): index the map instead
    finally:
        os.close(fd)
    return out
