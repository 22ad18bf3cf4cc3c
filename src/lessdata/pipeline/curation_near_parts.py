"""``curate --parts``'s near stage: MinHash + LSH and connected components, all sharded.

The in-memory near stage (:func:`lessdata.duplicates.lsh.near_duplicates_from_signatures`)
links documents whose signatures share an LSH band and whose estimated Jaccard reaches the
threshold, takes connected components, and keeps one member of each. Here every step is an
engine map over row shards or hash partitions, through the files of
:mod:`lessdata.data.partitioned`; the driver holds per-shard and per-partition counts:

1. **signatures** (row shards): MinHash of the shard's documents that reach the stage,
   saved with their rows and lengths; each row's full-signature key scattered by partition;
2. **identical** (partitions): rows of equal signatures (compared value by value) linked as
   a star to their lowest row, which alone takes part in the banding (as in memory);
3. **bands** (row shards): each representative's key in every band, scattered by partition;
4. **pairs** (partitions): rows that share a band key paired as in memory (all pairs, or a
   star to the lowest row above ``MAX_BUCKET`` members), scattered by lower row so that
   the copies of a pair found in several bands meet; each pair once, and those whose
   estimated Jaccard reaches the threshold become edges, scattered by node both ways;
5. **components**: min-label propagation (each round, every node whose label changed
   sends it along its edges and every node takes the smallest label it is sent: two maps,
   until no label changes; as many rounds as the longest shortest path in a component), so
   a label ends as its component's lowest row;
6. **keepers** (one task per partition, over a contiguous run of row shards of the
   labels): each component's kept row by the keep rule, the others' estimated Jaccard to
   it, and the component's number (components in order of their lowest row: the driver
   adds per-task offsets), written back by row shard.

The result equals the in-memory stage's (tested): the same candidate pairs give the same
edges, the same components, keepers, numbers and similarities.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from lessdata.data.atomic import atomic_path
from lessdata.data.corpus_shards import shard_texts
from lessdata.data.partitioned import read_partition, write_partitioned
from lessdata.duplicates.groups import survivor_rank
from lessdata.duplicates.lsh import MAX_BUCKET, _band_keys, _group_pairs, _row_keys
from lessdata.engines import Engine, ShardCheckpoint
from lessdata.pipeline.curation_stages import minhash_shard
from lessdata.progress import log

#: candidate pairs per block of :func:`similarity` (≤ 2 × this many signatures in memory)
PAIR_BLOCK = 1 << 15
#: rounds of label propagation before the run stops with an error (a chain that long is
#: not a duplicate group)
MAX_ROUNDS = 10_000


@dataclass(frozen=True)
class NearPlan:
    """What every near-stage task needs (small)."""

    folder: str
    starts: np.ndarray  # each row shard's first row, then N
    paths: tuple[str, ...]  # the row shards' files
    partitions: int
    ngram: int
    num_perm: int
    seed: int
    bands: int
    rows: int
    threshold: float
    keep: str
    exact_partitions: int  # partitions of the exact stage's results (0: no exact stage)


def _file(plan: NearPlan, name: str, shard: int) -> Path:
    return Path(plan.folder) / f"{name}-{shard:06d}.npy"


def _save(path: Path, values: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, values)


def _owner(plan: NearPlan, rows: np.ndarray) -> np.ndarray:
    return np.searchsorted(plan.starts, rows, side="right") - 1


class ShardArrays:
    """Reads per-row values of near-stage rows from the row shards' files, keeping the
    files of the shards it has opened (memory-mapped, up to ``max_open`` of them)."""

    def __init__(self, plan: NearPlan, max_open: int = 512) -> None:
        self.plan = plan
        self.max_open = max_open
        self.open: dict[tuple[str, int], np.ndarray] = {}

    def _array(self, name: str, shard: int) -> np.ndarray:
        key = (name, shard)
        if key not in self.open:
            if len(self.open) >= self.max_open:
                self.open.pop(next(iter(self.open)))
            # a plain ndarray over the map: fancy indexing without np.memmap's overhead
            path = _file(self.plan, name, shard)
            self.open[key] = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        return self.open[key]

    def read(self, name: str, rows: np.ndarray) -> np.ndarray:
        """``name``'s values (``near-signatures``, ``near-lengths``) of ``rows``, any order."""
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        bounds = np.searchsorted(ascending, self.plan.starts)
        width = (self.plan.num_perm,) if name == "near-signatures" else ()
        dtype = np.uint32 if width else np.int64
        out = np.empty((len(rows), *width), dtype=dtype)
        for shard in np.flatnonzero(np.diff(bounds)):
            a, b = int(bounds[shard]), int(bounds[shard + 1])
            known = self._array("near-rows", shard)
            out[order[a:b]] = self._array(name, shard)[np.searchsorted(known, ascending[a:b])]
        return out


def signatures_shard(shard: int, plan: NearPlan) -> int:
    """Step 1: MinHash of the shard's documents that reach the near stage (readable, not
    failed by quality, not an exact duplicate), saved with their rows and lengths; their
    full-signature keys scattered by partition."""
    texts = shard_texts(plan.paths[shard])
    alive = pc.is_valid(texts).to_numpy(zero_copy_only=False).copy()
    with np.load(Path(plan.folder) / f"profile-{shard:06d}.npz") as saved:
        alive[saved["failed"]] = False
    if plan.exact_partitions:
        found = read_partition(plan.folder, "exactres", range(plan.exact_partitions), shard,
                               ["row"])  # fmt: skip
        alive[found["row"] - plan.starts[shard]] = False
    local = np.flatnonzero(alive).astype(np.int32)
    rows = local.astype(np.int64) + plan.starts[shard]
    lengths = np.asarray(pc.fill_null(pc.utf8_length(texts), 0).to_numpy())[local]
    signatures = minhash_shard((plan.paths[shard], local), plan.ngram, plan.num_perm, plan.seed)
    _save(_file(plan, "near-rows", shard), rows.astype(np.int64))
    _save(_file(plan, "near-lengths", shard), lengths.astype(np.int64))
    _save(_file(plan, "near-signatures", shard), signatures)
    key = _row_keys(signatures, 0, plan.num_perm) if len(rows) else np.empty(0, np.uint64)
    write_partitioned(plan.folder, "near-ident", shard, key % np.uint64(plan.partitions),
                      plan.partitions, key=key, row=rows.astype(np.int64))  # fmt: skip
    return len(rows)


def _scatter_edges(plan: NearPlan, name: str, source: int, pairs: np.ndarray) -> None:
    """Edges in both directions, by the partition of their first node."""
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else pairs.reshape(0, 2)
    write_partitioned(plan.folder, name, source, both[:, 0] % plan.partitions,
                      plan.partitions, src=both[:, 0], dst=both[:, 1])  # fmt: skip


def identical_partition(partition: int, plan: NearPlan) -> int:
    """Step 2: rows of one partition with equal signatures: edges to each class's lowest
    row; the other rows (copies, out of the banding) written back by row shard."""
    shards = len(plan.starts) - 1
    found = read_partition(plan.folder, "near-ident", range(shards), partition, ["key", "row"])
    key, rows = found["key"], found["row"].astype(np.int64)
    order = np.lexsort((rows, key))
    key, rows = key[order], rows[order]
    shared = np.zeros(len(rows), dtype=bool)
    same = key[1:] == key[:-1]
    shared[1:] |= same
    shared[:-1] |= same
    candidates = rows[shared]
    pairs = np.empty((0, 2), dtype=np.int64)
    if len(candidates):
        signatures = ShardArrays(plan).read("near-signatures", candidates)
        # classes of exactly equal signatures, each in ascending row order
        _, cls = np.unique(signatures, axis=0, return_inverse=True)
        cls = cls.reshape(-1)
        by = np.lexsort((candidates, cls))
        first = np.ones(len(by), dtype=bool)
        first[1:] = cls[by][1:] != cls[by][:-1]
        lowest = candidates[by][np.maximum.accumulate(np.where(first, np.arange(len(by)), 0))]
        copies = ~first
        pairs = np.stack([lowest[copies], candidates[by][copies]], axis=1)
    _scatter_edges(plan, "near-ident-edges", partition, pairs)
    copies_rows = pairs[:, 1]
    write_partitioned(plan.folder, "near-copies", partition, _owner(plan, copies_rows), shards,
                      row=copies_rows)  # fmt: skip
    return len(pairs)


def bands_shard(shard: int, plan: NearPlan) -> int:
    """Step 3: each representative row's key in every band, scattered by partition."""
    rows = np.load(_file(plan, "near-rows", shard))
    copies = read_partition(plan.folder, "near-copies", range(plan.partitions), shard, ["row"])
    keep = ~np.isin(rows, copies["row"])
    signatures = np.load(_file(plan, "near-signatures", shard))[keep]
    rows = rows[keep]
    band = np.repeat(np.arange(plan.bands, dtype=np.int64), len(rows))
    keys = [_band_keys(signatures, b * plan.rows, (b + 1) * plan.rows, None)
            for b in range(plan.bands)] if len(rows) else []  # fmt: skip
    key = np.concatenate(keys) if keys else np.empty(0, np.uint64)
    spread = (key ^ (band.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))) % np.uint64(
        plan.partitions
    )
    write_partitioned(plan.folder, "near-bands", shard, spread, plan.partitions, band=band,
                      key=key, row=np.tile(rows, plan.bands))  # fmt: skip
    return len(rows)


def pairs_partition(partition: int, plan: NearPlan) -> int:
    """Step 4a: candidate pairs of one partition (as in memory), scattered by lower row."""
    shards = len(plan.starts) - 1
    found = read_partition(plan.folder, "near-bands", range(shards), partition,
                           ["band", "key", "row"])  # fmt: skip
    chunks = []
    for b in np.unique(found["band"]):
        mine = found["band"] == b
        rows, key = found["row"][mine], found["key"][mine]
        order = np.argsort(rows, kind="stable")  # members in ascending order, as in memory
        _, pairs = _group_pairs(key[order], rows[order].astype(np.int64), star_above=MAX_BUCKET)
        chunks.append(pairs)
    pairs = np.concatenate(chunks) if chunks else np.empty((0, 2), np.int64)
    # a pair found in several bands lies in several partitions: bring its copies together
    write_partitioned(plan.folder, "near-pairs", partition, pairs[:, 0] % plan.partitions,
                      plan.partitions, lo=pairs[:, 0], hi=pairs[:, 1])  # fmt: skip
    return len(pairs)


def _unique_pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Each (lo, hi) row pair once (rows < 2^31.5: the codes fit in int64)."""
    n = np.int64(max(int(hi.max(initial=0)), int(lo.max(initial=0))) + 1)
    codes = np.unique(lo.astype(np.int64) * n + hi.astype(np.int64))
    return np.stack([codes // n, codes % n], axis=1)


def edges_partition(partition: int, plan: NearPlan) -> int:
    """Step 4b: the partition's candidate pairs, each once; those whose estimated Jaccard
    reaches the threshold become edges, scattered by node in both directions."""
    found = read_partition(plan.folder, "near-pairs", range(plan.partitions), partition,
                           ["lo", "hi"])  # fmt: skip
    pairs = _unique_pairs(found["lo"], found["hi"])
    edges = pairs[similarity(ShardArrays(plan), pairs) >= plan.threshold] if len(pairs) else pairs
    _scatter_edges(plan, "near-edges", partition, edges)
    return len(edges)


def similarity(arrays: ShardArrays, pairs: np.ndarray) -> np.ndarray:
    """Estimated Jaccard (the fraction of equal signature values) of row ``pairs``, a block
    of pairs at a time (each row's signature read once per block)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for p0 in range(0, len(pairs), PAIR_BLOCK):
        block = pairs[p0 : p0 + PAIR_BLOCK]
        rows, at = np.unique(block, return_inverse=True)
        signatures = arrays.read("near-signatures", rows)
        at = at.reshape(block.shape)
        out[p0 : p0 + len(block)] = (signatures[at[:, 0]] == signatures[at[:, 1]]).mean(axis=1)
    return out


def _adjacency(plan: NearPlan, partition: int) -> tuple[np.ndarray, np.ndarray]:
    """The partition's edges (each once, by source row), saved by :func:`labels_init`."""
    return (np.load(_file(plan, "near-adj-src", partition)),
            np.load(_file(plan, "near-adj-dst", partition)))  # fmt: skip


def labels_init(partition: int, plan: NearPlan) -> int:
    """Step 5a: the partition's edges, each once (a pair found in several bands arrives
    several times), and every node labelled by its own row."""
    found = [
        read_partition(plan.folder, name, range(plan.partitions), partition, ["src", "dst"])
        for name in ("near-ident-edges", "near-edges")
    ]
    src = np.concatenate([f["src"] for f in found]).astype(np.int64)
    dst = np.concatenate([f["dst"] for f in found]).astype(np.int64)
    edges = _unique_pairs(src, dst)  # sorted by source row
    nodes = np.unique(edges[:, 0])
    _save(_file(plan, "near-adj-src", partition), edges[:, 0].copy())
    _save(_file(plan, "near-adj-dst", partition), edges[:, 1].copy())
    _save(_file(plan, "near-nodes", partition), nodes)
    _save(_file(plan, "near-labels-0", partition), nodes)
    _save(_file(plan, "near-changed-0", partition), np.ones(len(nodes), dtype=bool))
    return len(nodes)


def propagate(partition: int, plan: NearPlan, round_: int) -> int:
    """Step 5b: each edge whose source's label changed in the last round sends that label
    to its destination's partition; returns how many it sent."""
    src, dst = _adjacency(plan, partition)
    nodes = np.load(_file(plan, "near-nodes", partition))
    labels = np.load(_file(plan, f"near-labels-{round_ % 2}", partition))
    changed = np.load(_file(plan, f"near-changed-{round_ % 2}", partition))
    at = np.searchsorted(nodes, src)
    live = changed[at]
    write_partitioned(plan.folder, "near-messages", partition, dst[live] % plan.partitions,
                      plan.partitions, node=dst[live], label=labels[at[live]])  # fmt: skip
    return int(live.sum())


def absorb(partition: int, plan: NearPlan, round_: int) -> int:
    """Step 5c: each node takes the smallest label it was sent; returns how many changed."""
    nodes = np.load(_file(plan, "near-nodes", partition))
    before = np.load(_file(plan, f"near-labels-{round_ % 2}", partition))
    labels = before.copy()
    found = read_partition(plan.folder, "near-messages", range(plan.partitions), partition,
                           ["node", "label"])  # fmt: skip
    if len(found["node"]):
        at = np.searchsorted(nodes, found["node"].astype(np.int64))
        np.minimum.at(labels, at, found["label"].astype(np.int64))
    changed = labels != before
    _save(_file(plan, f"near-labels-{(round_ + 1) % 2}", partition), labels)
    _save(_file(plan, f"near-changed-{(round_ + 1) % 2}", partition), changed)
    return int(changed.sum())


def _label_group(plan: NearPlan, labels: np.ndarray) -> np.ndarray:
    """The keeper task of each label: contiguous runs of row shards, one per partition, so
    that component numbers follow the lowest rows across tasks in order."""
    shards = len(plan.starts) - 1
    per = -(-shards // plan.partitions)
    return _owner(plan, labels) // per


def members_scatter(partition: int, plan: NearPlan, round_: int) -> int:
    """Step 6a: each node and its final label, sent to the keeper task of the label."""
    nodes = np.load(_file(plan, "near-nodes", partition))
    labels = np.load(_file(plan, f"near-labels-{round_ % 2}", partition))
    write_partitioned(plan.folder, "near-members", partition, _label_group(plan, labels),
                      plan.partitions, node=nodes, label=labels)  # fmt: skip
    return len(nodes)


def keepers_group(group: int, plan: NearPlan) -> int:
    """Step 6b: components whose lowest row lies in this task's shards: the kept row, each
    other member's estimated Jaccard to it, and the component's number within the task."""
    found = read_partition(plan.folder, "near-members", range(plan.partitions), group,
                           ["node", "label"])  # fmt: skip
    node, label = found["node"].astype(np.int64), found["label"].astype(np.int64)
    arrays = ShardArrays(plan)
    lengths = arrays.read("near-lengths", node) if plan.keep == "longest" else None
    rank = survivor_rank(len(node), plan.keep, lengths)
    order = np.lexsort((node, rank, label))
    node, label = node[order], label[order]
    first = np.ones(len(node), dtype=bool)
    first[1:] = label[1:] != label[:-1]
    keeper = node[np.maximum.accumulate(np.where(first, np.arange(len(node)), 0))]
    number = np.cumsum(first) - 1  # components in order of their label: the lowest row
    gone = ~first
    sims = np.full(len(node), np.nan)
    sims[gone] = similarity(arrays, np.stack([node[gone], keeper[gone]], axis=1))
    duplicate_of = np.where(gone, keeper, -1)
    write_partitioned(plan.folder, "near-result", group, _owner(plan, node),
                      len(plan.starts) - 1, row=node, duplicate_of=duplicate_of,
                      number=number, similarity=sims,
                      group=np.full(len(node), group, dtype=np.int64))  # fmt: skip
    return int(first.sum())


def near_stage(engine: Engine, plan: NearPlan, checkpoint: ShardCheckpoint | None) -> np.ndarray:
    """Run steps 1-6 (the signatures checkpointed in ``checkpoint``); return each keeper
    task's first component number (the driver's per-task offsets)."""
    shards = list(range(len(plan.starts) - 1))
    parts = list(range(plan.partitions))
    engine.map(signatures_shard, shards, shared=(plan,), label="minhash signatures",
               checkpoint=checkpoint)  # fmt: skip
    engine.map(identical_partition, parts, shared=(plan,), label="identical signatures")
    engine.map(bands_shard, shards, shared=(plan,), label="LSH bands")
    engine.map(pairs_partition, parts, shared=(plan,), label="candidate pairs")
    edges = sum(engine.map(edges_partition, parts, shared=(plan,), label="near edges"))
    engine.map(labels_init, parts, shared=(plan,), label="components")
    for round_ in itertools.count():
        if round_ >= MAX_ROUNDS:
            raise RuntimeError(f"near components did not settle in {MAX_ROUNDS} rounds")
        engine.map(propagate, parts, shared=(plan, round_), label=f"components: round {round_}")
        changed = sum(engine.map(absorb, parts, shared=(plan, round_), label="components"))
        if not changed:
            break
    log(f"near: {edges} edges, components settled in {round_ + 1} rounds")
    engine.map(members_scatter, parts, shared=(plan, round_ + 1), label="components")
    counts = engine.map(keepers_group, parts, shared=(plan,), label="near keepers")
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
