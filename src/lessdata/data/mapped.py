"""Memory maps that stream: drop the pages of a read-only map once a pass has read them.

A ``.npy`` opened with ``mmap_mode="r"`` is read through the page cache, and every page a
pass touches stays mapped into the process (its resident set) until the map is closed: a
streamed pass over a 1.5 GB file leaves the process 1.5 GB larger, although it only ever
needed one chunk at a time. :func:`release_pages` tells the kernel that the process is done
with the map's pages (``madvise(MADV_DONTNEED)``): they leave the resident set (they stay in
the page cache, so a later pass reads them back without disk I/O), and the process's peak
memory stays at what it holds itself. For a read-only file mapping this never loses data.
"""

from __future__ import annotations

import mmap

import numpy as np

_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
#: scattered rows read from one map between two releases (:func:`release_after`): the
#: kernel maps up to 64 KiB around each faulting page ("fault-around"), so a row read
#: anywhere can make 64 KiB resident; 4,096 rows keep that under 256 MiB
SCATTERED_ROWS = 4096
_READ_SINCE_RELEASE: dict[int, int] = {}


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


def release_after(array: np.ndarray, rows: int) -> None:
    """Count ``rows`` scattered rows just read from ``array``'s memory map; release its
    pages (:func:`release_pages`) once :data:`SCATTERED_ROWS` have been read since the last
    release.

    A walk over clusters reads each cluster's rows from all over the file: without
    releases the whole file ends up resident (fault-around maps 64 KiB per row read), with
    a release per cluster every row's page faults again. Counting rows bounds the resident
    pages at a small cost (measured in ``benchmarks/bench_prune_1m.py``).
    """
    handle = getattr(array, "_mmap", None)
    if not isinstance(handle, mmap.mmap):
        return
    key = id(handle)
    count = _READ_SINCE_RELEASE.get(key, 0) + rows
    if count >= SCATTERED_ROWS:
        release_pages(array)
        count = 0
    _READ_SINCE_RELEASE[key] = count
