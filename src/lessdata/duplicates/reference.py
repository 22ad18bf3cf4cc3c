"""A reference corpus's duplicate index: find the new documents that repeat an old corpus.

``lessdata dedup NEW --against OLD`` removes from NEW what duplicates OLD without
deduplicating OLD again. What it needs of OLD is small and computed once
(``lessdata index build OLD --out INDEX/``), so that a nightly run over new data costs
O(new data) plus reading the index:

- ``exact``: the 16-byte hashes of OLD's normalised texts, sorted (a new hash is looked up
  by binary search);
- ``near``: OLD's MinHash signatures and, per LSH band, its band keys sorted (a new
  document's candidates are the OLD rows that share a band key; their estimated Jaccard
  decides);
- ``semantic``: OLD's spherical k-means centroids and its embeddings grouped by cluster (a
  new embedding is assigned to its nearest centroid and compared with the OLD embeddings of
  that cluster only, as SemDeDup compares within clusters).

The index folder holds ``index.json`` (settings, counts, the encoder's name, what
identifies OLD: its resolved path and a fingerprint of its files, and each file's size and
SHA-256) and NumPy ``.npy`` arrays and a Parquet file of OLD's ids: data, never pickles.
:meth:`ReferenceIndex.load` checks all of it before any work
(:mod:`lessdata.duplicates.index_files`). A run whose settings differ from the index's
(n-gram size, permutations, MinHash seed, bands, encoder) is refused, naming the mismatch,
because its signatures or embeddings would not be comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.data.fingerprint import file_checksums
from lessdata.data.standard_json import dumps_standard
from lessdata.duplicates.index_files import (
    ARRAYS,
    IDS_FILE,
    INDEX_FILE,
    INDEX_FORMAT,
    INDEX_VERSION,
    check_arrays,
    check_files,
    digest_of,
    load_array,
    load_ids,
    read_meta,
)
from lessdata.duplicates.lsh import band_keys
from lessdata.errors import LessdataError

#: new rows compared with the OLD rows of a cluster at a time
QUERY_BLOCK = 1024
#: OLD rows of one LSH bucket compared with a new row at most (the most common keys of
#: boilerplate would otherwise give quadratic work); the first ones in OLD's order
MAX_BUCKET_MATCHES = 64


@dataclass
class Match:
    """For each queried row: the best matching OLD row (-1 for none) and its similarity."""

    row: np.ndarray
    similarity: np.ndarray

    @classmethod
    def none(cls, n: int) -> Match:
        return cls(np.full(n, -1, dtype=np.int64), np.full(n, -np.inf))

    def update(self, other: Match) -> None:
        """Keep, per row, the better of the two matches."""
        better = other.similarity > self.similarity
        self.row[better] = other.row[better]
        self.similarity[better] = other.similarity[better]


@dataclass
class ReferenceIndex:
    """A reference corpus's exact hashes, MinHash signatures and embeddings (any subset).

    Attributes:
        source: the name of the corpus it was built from, which a run's manifest gives it
            (``against_source``): its path, made absolute and distinct from the other
            references' by :func:`lessdata.pipeline.indexing.open_references`.
        ids: OLD's document ids (Arrow), one per indexed row.
        settings: per method, the settings the run must share (``near``: ngram, num_perm,
            seed, bands, rows; ``semantic``: encoder, k, seed, dim).
        origin: what identified the corpus when it was indexed
            (:func:`lessdata.data.fingerprint.fingerprint_source`); None for a corpus
            indexed in memory by the run itself.
        folder: the index folder it was read from (None: built in memory).
    """

    source: str
    ids: pa.Array
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: dict[str, Any] | None = None
    folder: Path | None = None
    hashes: np.ndarray | None = None  # (n, 2) uint64, sorted rows
    hash_rows: np.ndarray | None = None  # OLD row of each sorted hash
    signatures: np.ndarray | None = None  # (n, num_perm) uint32
    band_keys: np.ndarray | None = None  # (bands, n) uint64, each band sorted
    band_rows: np.ndarray | None = None  # (bands, n) int64: OLD row of each sorted key
    centroids: np.ndarray | None = None  # (k, d) float32, unit rows
    embeddings: np.ndarray | None = None  # (n, d) float32, rows grouped by cluster
    embedding_rows: np.ndarray | None = None  # OLD row of each grouped embedding
    cluster_starts: np.ndarray | None = None  # (k + 1,) offsets into the grouped rows

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.settings)

    def __len__(self) -> int:
        return len(self.ids)

    # --- building ------------------------------------------------------------------------

    def add_exact(self, digests: np.ndarray) -> None:
        """Index OLD's :func:`~lessdata.duplicates.exact_match.exact_hashes`."""
        words = np.ascontiguousarray(digests).view(np.uint64).reshape(len(digests), 2)
        order = np.lexsort((words[:, 1], words[:, 0]))
        self.hashes, self.hash_rows = words[order], order.astype(np.int64)
        self.settings["exact"] = {}

    def add_near(
        self, signatures: np.ndarray, *, ngram: int, seed: int, bands: int, rows: int
    ) -> None:
        """Index OLD's MinHash signatures and their LSH band keys, sorted per band."""
        keys = band_keys(signatures, bands, rows)
        order = np.argsort(keys, axis=1, kind="stable")
        self.signatures = np.ascontiguousarray(signatures, dtype=np.uint32)
        self.band_keys = np.take_along_axis(keys, order, axis=1)
        self.band_rows = order.astype(np.int64)
        self.settings["near"] = dict(
            ngram=ngram, num_perm=int(signatures.shape[1]), seed=seed, bands=bands, rows=rows
        )

    def add_semantic(
        self, vectors: np.ndarray, centroids: np.ndarray, cluster: np.ndarray, *,
        encoder: str, seed: int,
    ) -> None:  # fmt: skip
        """Index OLD's unit embeddings grouped by their k-means ``cluster``."""
        order = np.argsort(cluster, kind="stable")
        k = len(centroids)
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.embeddings = _unit(np.asarray(vectors)[order])
        self.embedding_rows = order.astype(np.int64)
        self.cluster_starts = np.searchsorted(cluster[order], np.arange(k + 1)).astype(np.int64)
        self.settings["semantic"] = dict(
            encoder=encoder, k=k, seed=seed, dim=int(self.centroids.shape[1])
        )

    # --- queries -------------------------------------------------------------------------

    def match_exact(self, digests: np.ndarray) -> Match:
        """For each new digest, the OLD row with the same normalised text (similarity 1)."""
        assert self.hashes is not None and self.hash_rows is not None
        n = len(digests)
        found = Match.none(n)
        if n == 0 or len(self.hashes) == 0:
            return found
        words = np.ascontiguousarray(digests).view(np.uint64).reshape(n, 2)
        old = self.hashes
        lo = np.searchsorted(old[:, 0], words[:, 0], side="left")
        hi = np.searchsorted(old[:, 0], words[:, 0], side="right")
        for i in np.flatnonzero(hi > lo):  # same first word: compare the second (rarely > 1)
            hit = np.flatnonzero(old[lo[i] : hi[i], 1] == words[i, 1])
            if len(hit):
                found.row[i] = self.hash_rows[lo[i] + hit[0]]
                found.similarity[i] = 1.0
        return found

    def match_near(self, signatures: np.ndarray, threshold: float) -> Match:
        """For each new signature, the OLD row of highest estimated Jaccard among those that
        share an LSH band with it, when that estimate reaches ``threshold``."""
        assert self.signatures is not None and self.band_keys is not None
        near = self.settings["near"]
        bands, rows = near["bands"], near["rows"]
        n = len(signatures)
        found = Match.none(n)
        if n == 0 or len(self.signatures) == 0:
            return found
        keys = band_keys(signatures, bands, rows)
        pairs = []
        for band in range(bands):
            old_keys = self.band_keys[band]
            lo = np.searchsorted(old_keys, keys[band], side="left")
            hi = np.minimum(np.searchsorted(old_keys, keys[band], side="right"),
                            lo + MAX_BUCKET_MATCHES)  # fmt: skip
            count = hi - lo
            new_rows = np.repeat(np.arange(n), count)
            offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            old_rows = self.band_rows[band][np.repeat(lo, count) + offsets]
            pairs.append(np.stack((new_rows, old_rows), axis=1))
        candidates = np.unique(np.concatenate(pairs), axis=0) if pairs else np.empty((0, 2))
        for p0 in range(0, len(candidates), 1 << 14):
            block = candidates[p0 : p0 + (1 << 14)]
            sims = (signatures[block[:, 0]] == self.signatures[block[:, 1]]).mean(axis=1)
            _best_per_row(found, block[:, 0], block[:, 1], sims)
        missed = found.similarity < threshold
        found.row[missed], found.similarity[missed] = -1, -np.inf
        return found

    def match_semantic(self, vectors: np.ndarray) -> Match:
        """For each new vector, the most cosine-similar OLD embedding of its nearest OLD
        centroid's cluster (the similarity is returned; the caller applies its threshold)."""
        assert self.centroids is not None and self.embeddings is not None
        assert self.cluster_starts is not None and self.embedding_rows is not None
        n = len(vectors)
        found = Match.none(n)
        if n == 0:
            return found
        x = _unit(np.asarray(vectors))
        cluster = np.empty(n, dtype=np.int64)
        for r0 in range(0, n, QUERY_BLOCK):
            cluster[r0 : r0 + QUERY_BLOCK] = (x[r0 : r0 + QUERY_BLOCK] @ self.centroids.T).argmax(1)
        order = np.argsort(cluster, kind="stable")
        bounds = np.searchsorted(cluster[order], np.arange(len(self.centroids) + 1))
        for c in np.flatnonzero(np.diff(bounds)):
            old0, old1 = self.cluster_starts[c], self.cluster_starts[c + 1]
            if old1 == old0:
                continue
            old = self.embeddings[old0:old1]
            mine = order[bounds[c] : bounds[c + 1]]
            for r0 in range(0, len(mine), QUERY_BLOCK):
                rows = mine[r0 : r0 + QUERY_BLOCK]
                sims = x[rows] @ old.T
                j = sims.argmax(axis=1)
                found.row[rows] = self.embedding_rows[old0 + j]
                found.similarity[rows] = sims[np.arange(len(rows)), j]
        return found

    # --- checks ---------------------------------------------------------------------------

    @property
    def where(self) -> str:
        """How messages name this reference: the index folder and its corpus, or the corpus."""
        return f"the index {self.folder} (of {self.source})" if self.folder else self.source

    def check_settings(self, method: str, wanted: dict[str, Any]) -> None:
        """Refuse a run whose ``method`` settings differ from what the index was built with."""
        if method not in self.settings:
            built = ", ".join(self.methods) or "nothing"
            raise LessdataError(
                f"{self.where} holds no {method} data (built for {built}); "
                f"rebuild it with `lessdata index build ... --method {method}`",
                param="against",
            )
        have = self.settings[method]
        for name, value in wanted.items():
            if name in have and have[name] != value:
                raise LessdataError(
                    f"{self.where} was built with {method} `{name}` {have[name]!r} but this run "
                    f"asks for `{name}` {value!r}; run with the index's `{name}` or rebuild the "
                    "index with the run's",
                    param="against",
                )

    # --- files ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the index into the (empty, new) ``folder``, with each file's checksum and a
        digest of ``index.json`` (see :mod:`lessdata.duplicates.index_files`)."""
        if self.origin is None:
            raise ValueError("an index to save needs the fingerprint of its source (origin)")
        arrays = {name: getattr(self, name) for name in ARRAYS}
        for name, array in arrays.items():
            if array is not None:
                with open(folder / f"{name}.npy", "wb") as handle:
                    np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        pq.write_table(pa.table({"id": self.ids}), folder / IDS_FILE)
        names = sorted(k for k, v in arrays.items() if v is not None)
        meta: dict[str, Any] = dict(
            format=INDEX_FORMAT, version=INDEX_VERSION, source=self.origin, rows=len(self),
            methods=self.settings, arrays=names,
            files=file_checksums(folder, [f"{n}.npy" for n in names] + [IDS_FILE]),
        )  # fmt: skip
        meta["digest"] = digest_of(meta)
        (folder / INDEX_FILE).write_text(dumps_standard(meta, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> ReferenceIndex:
        """Read an index folder (arrays memory-mapped) after checking all of it: refuse a
        foreign, edited, incomplete or damaged one, naming the file and what is wrong."""
        meta = read_meta(folder)
        check_files(folder, meta)
        ids = load_ids(folder, meta["rows"])
        arrays = {name: load_array(folder, name) for name in meta["arrays"]}
        check_arrays(folder, meta, arrays)
        index = cls(
            source=meta["source"]["path"], ids=ids, settings=dict(meta["methods"]),
            origin=meta["source"], folder=folder,
        )  # fmt: skip
        for name, array in arrays.items():
            setattr(index, name, array)
        return index


def is_index(path: Path) -> bool:
    """True for a folder that holds a lessdata index."""
    return path.is_dir() and (path / INDEX_FILE).is_file()


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _best_per_row(found: Match, rows: np.ndarray, old: np.ndarray, sims: np.ndarray) -> None:
    """Update ``found`` with the best (highest; ties: lowest OLD row) of each row's pairs."""
    order = np.lexsort((old, -sims, rows))
    rows, old, sims = rows[order], old[order], sims[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    found.update(_as_match(len(found.row), rows[first], old[first], sims[first]))


def _as_match(n: int, rows: np.ndarray, old: np.ndarray, sims: np.ndarray) -> Match:
    match = Match.none(n)
    match.row[rows] = old
    match.similarity[rows] = sims
    return match
