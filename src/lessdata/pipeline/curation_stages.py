"""The stages of a curation run: which stage removed each document and why, the shard
steps that engines run (quality and exact hashes, MinHash signatures, exact Jaccard of
pairs), and the stages that join their results (quality, exact, near, semantic)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata.data.corpus_shards import ShardedCorpus, read_rows, shard_texts
from lessdata.data.dataset import Dataset
from lessdata.data.manifest import CURATION_STAGES
from lessdata.duplicates.exact_match import exact_duplicates_from_hashes, exact_hashes
from lessdata.duplicates.lsh import NearOptions, near_duplicates_from_signatures
from lessdata.duplicates.minhash import minhash_signatures, pair_jaccard
from lessdata.duplicates.reference import Match, ReferenceIndex
from lessdata.duplicates.semdedup import (
    chosen_threshold,
    most_redundant,
    redundancy,
    resolve_chains,
)
from lessdata.engines.base import Engine
from lessdata.filters.quality import failure_reasons, quality_values
from lessdata.kmeans import check_k
from lessdata.metrics.registry import ScoreInputs, get_metric
from lessdata.pipeline.inputs import vectors_of
from lessdata.pipeline.options import DedupOptions
from lessdata.progress import log

#: candidate pairs per shard of exact Jaccard similarities (``verify``)
VERIFY_PAIRS = 1 << 14


class Outcome:
    """Which stage removed each row, and why (reason strings are dictionary-coded)."""

    def __init__(self, n: int) -> None:
        self.alive = np.ones(n, dtype=bool)
        self.stage = np.full(n, -1, dtype=np.int8)
        self.reason = np.zeros(n, dtype=np.int32)
        self.vocabulary = ["kept"]
        self.removed: dict[str, int] = {}

    def remove(self, rows: np.ndarray, stage: str, reasons: Sequence[str] | str) -> None:
        """Mark ``rows`` as removed by ``stage``, each with its reason."""
        rows = np.asarray(rows, dtype=np.int64)
        texts = [reasons] * len(rows) if isinstance(reasons, str) else list(reasons)
        codes = {text: i for i, text in enumerate(self.vocabulary)}
        for row, text in zip(rows, texts, strict=True):
            if text not in codes:
                codes[text] = len(self.vocabulary)
                self.vocabulary.append(text)
            self.reason[row] = codes[text]
        self.alive[rows] = False
        self.stage[rows] = CURATION_STAGES.index(stage)
        self.removed[stage] = self.removed.get(stage, 0) + len(rows)
        log(f"{stage}: removed {len(rows)}, {int(self.alive.sum())} remain")

    def survivors(self) -> np.ndarray:
        return np.flatnonzero(self.alive)


class Against:
    """Which reference-corpus document (``--against``) each removed row matched.

    References are namespaced: the manifest names the reference (``against_source``) and
    the id within it (``against_id``), so equal ids of two references never merge.
    """

    def __init__(self, n: int, references: Sequence[ReferenceIndex]) -> None:
        self.references = list(references)
        self.reference = np.full(n, -1, dtype=np.int32)
        self.row = np.full(n, -1, dtype=np.int64)
        self.similarity = np.full(n, np.nan)

    def best(self, query: Callable[[ReferenceIndex], Match]) -> tuple[Match, np.ndarray]:
        """The best match over every reference, and which reference gave it."""
        found: Match | None = None
        which: np.ndarray | None = None
        for r, reference in enumerate(self.references):
            match = query(reference)
            if found is None or which is None:
                found, which = match, np.full(len(match.row), r, dtype=np.int32)
                continue
            better = match.similarity > found.similarity
            which[better] = r
            found.update(match)
        assert found is not None and which is not None
        which[found.row < 0] = -1
        return found, which

    def record(self, rows: np.ndarray, match: Match, which: np.ndarray, hit: np.ndarray) -> None:
        """Note the matches ``hit`` of the corpus ``rows``."""
        self.reference[rows[hit]] = which[hit]
        self.row[rows[hit]] = match.row[hit]
        self.similarity[rows[hit]] = match.similarity[hit]

    def drop(
        self, outcome: Outcome, rows: np.ndarray, match: Match, which: np.ndarray,
        hit: np.ndarray, stage: str, how: str,
    ) -> np.ndarray:  # fmt: skip
        """Record the matches ``hit`` of the corpus ``rows`` and remove those rows; return
        the rows that stay."""
        self.record(rows, match, which, hit)
        if hit.any():
            self.remove(outcome, rows, hit, stage, how)
        return rows[~hit]

    def remove(self, outcome: Outcome, rows: np.ndarray, hit: np.ndarray, stage: str,
               how: str) -> None:  # fmt: skip
        """Remove the corpus ``rows[hit]``: ``how`` a document of their reference."""
        names = [ref.source for ref in self.references]
        which = self.reference[rows[hit]]
        reasons = [f"{how} a document of {names[r]} (against_id)" for r in which]
        outcome.remove(rows[hit], stage, reasons)

    def columns(self) -> dict[str, pa.Array | np.ndarray]:
        """``against_source``, ``against_id`` and ``against_similarity`` (empty: none)."""
        if not self.references:
            return {}
        ids: list[str | None] = [None] * len(self.row)
        for r, reference in enumerate(self.references):
            mine = np.flatnonzero(self.reference == r)
            if len(mine):
                found = reference.ids.take(pa.array(self.row[mine])).cast(pa.string())
                for i, value in zip(mine.tolist(), found.to_pylist(), strict=True):
                    ids[i] = value
        return {
            "against_source": pa.DictionaryArray.from_arrays(
                pa.array(self.reference, mask=self.reference < 0),
                pa.array([ref.source for ref in self.references]),
            ),
            "against_id": pa.array(ids, pa.string()),
            "against_similarity": self.similarity,
        }


@dataclass
class ShardQuality:
    """What :func:`quality_shard` found in one shard (rows are the shard's own)."""

    values: dict[str, np.ndarray] | None  # per rule, NaN where the text is null
    failed: np.ndarray  # rows that failed a quality rule, ascending
    reasons: list[str]  # the reason of each failed row
    digests: np.ndarray | None  # (rows,) V16 exact hashes of the rows that passed; else 0


def quality_shard(path: str, kind: str | None, rules: Any, hashes: bool) -> ShardQuality:
    """One shard: quality values and failures of its readable texts (with ``kind``), and
    the exact hashes of those that pass (with ``hashes``)."""
    texts = shard_texts(path)
    n = len(texts)
    passed = np.flatnonzero(pc.is_valid(texts).to_numpy(zero_copy_only=False))
    values = None
    failed = np.empty(0, dtype=np.int64)
    reasons: list[str] = []
    if kind is not None:
        local = quality_values(texts.take(pa.array(passed)), kind=kind)
        why = failure_reasons(local, rules)
        bad = np.array([i for i, reason in enumerate(why) if reason is not None], dtype=np.int64)
        failed, reasons = passed[bad], [str(why[i]) for i in bad]
        values = {}
        for name, column in local.items():
            full = np.full(n, np.nan)
            full[passed] = column
            values[name] = full
        passed = np.delete(passed, bad)
    digests = None
    if hashes:
        digests = np.zeros(n, dtype="V16")
        digests[passed] = exact_hashes(texts.take(pa.array(passed)))
    return ShardQuality(values, failed, reasons, digests)


def minhash_shard(item: tuple[str, np.ndarray], ngram: int, num_perm: int, seed: int) -> np.ndarray:
    """One shard: MinHash signatures (rows, num_perm) of the shard rows ``item[1]``."""

    path, rows = item
    if len(rows) == 0:
        return np.empty((0, num_perm), dtype=np.uint32)
    texts = shard_texts(path).take(pa.array(rows))
    return minhash_signatures(texts, ngram=ngram, num_perm=num_perm, seed=seed)


def jaccard_shard(
    pairs: np.ndarray, paths: Sequence[str], starts: np.ndarray, ngram: int
) -> np.ndarray:
    """One shard of pairs of corpus rows: their exact Jaccard similarity, reading the texts
    of the rows involved from the shard files."""

    rows = np.unique(pairs)
    texts = read_rows(paths, starts, rows)
    return pair_jaccard(texts, np.searchsorted(rows, pairs), ngram=ngram)


class CurationRun:
    """The stages of one curation run over a sharded corpus, through one engine."""

    def __init__(self, corpus: ShardedCorpus, engine: Engine, folder: Path) -> None:
        self.corpus = corpus
        self.engine = engine
        self.folder = folder

    def _key(self, step: str, *inputs: Any) -> tuple:
        """A step's checkpoint key: the corpus content (not the run folder's paths) and
        ``inputs``. The engine's run clears the checkpoints once the results are stored."""
        return (step, self.corpus.fingerprint, *inputs)

    def stages(
        self, options: DedupOptions, quality: str | None, rules: Any, seed: int,
        semantic: dict[str, Any], references: Sequence[ReferenceIndex] = (),
    ) -> tuple[Outcome, dict[str, np.ndarray | pa.Array]]:  # fmt: skip
        """Run the stages in order; the outcome per row and the manifest's columns.

        With ``references``, each dedup stage first removes the documents that duplicate a
        reference document, then deduplicates the rest among themselves.
        """
        kinds, keep, near = options.methods, options.keep_rule, options.near
        corpus = self.corpus
        target = options.target_size(corpus.n)  # refused now if larger than the corpus
        semantic = dict(
            semantic, eps=options.eps, survivor=options.survivor, k=options.k, target=target,
            scope=options.scope,
        )  # fmt: skip
        self.against = Against(corpus.n, references)
        self.threshold: float | None = None  # chosen by the semantic stage for `target`
        outcome = Outcome(corpus.n)
        columns: dict[str, np.ndarray | pa.Array] = {"problem": corpus.problem, **corpus.extras}
        bad = np.flatnonzero(~corpus.readable)
        problems = corpus.problem.take(pa.array(bad)).to_pylist()
        outcome.remove(bad, "read", [f"skipped: {p}" for p in problems])
        if rules is not None or "exact" in kinds:
            columns.update(self.quality_and_hashes(outcome, quality, rules, "exact" in kinds, keep))
        if "near" in kinds:
            columns.update(self.near(outcome, keep, near, seed))
        if "semantic" in kinds:
            columns.update(self.semantic(outcome, seed=seed, **semantic))
        columns.update(self.against.columns())
        columns["removed_by"] = pa.DictionaryArray.from_arrays(
            pa.array(outcome.stage.astype(np.int32), mask=outcome.stage < 0),
            pa.array(list(CURATION_STAGES)),
        )
        columns["preview"] = corpus.preview  # where build_manifest puts it for other commands
        return outcome, columns

    def quality_and_hashes(
        self, outcome: Outcome, kind: str | None, rules: Any, exact: bool, keep: str
    ) -> dict[str, np.ndarray]:
        """The quality stage (when ``kind``) and the exact stage (when ``exact``)."""
        corpus = self.corpus
        n = corpus.n
        values: dict[str, np.ndarray] = {}
        digests = np.zeros(n, dtype="V16") if exact else None
        failed: list[np.ndarray] = []
        reasons: dict[int, str] = {}
        label = " and ".join(["quality"] * bool(kind) + ["exact hashes"] * exact)
        results = self.engine.imap(
            quality_shard, corpus.paths, shared=(kind, rules, exact), label=label,
            checkpoint=self._key("curate-quality", kind, rules, exact),
        )  # fmt: skip
        for index, found in results:
            start = corpus.shards[index].start
            stop = start + corpus.shards[index].rows
            for name, column in (found.values or {}).items():
                values.setdefault(name, np.full(n, np.nan))[start:stop] = column
            failed.append(found.failed + start)
            reasons.update(zip((found.failed + start).tolist(), found.reasons, strict=True))
            if digests is not None and found.digests is not None:
                digests[start:stop] = found.digests
        columns: dict[str, np.ndarray] = {}
        if kind is not None:
            gone = np.sort(np.concatenate(failed)) if failed else np.empty(0, np.int64)
            outcome.remove(gone, "quality", [reasons[int(row)] for row in gone])
            columns.update({f"quality_{name}": column for name, column in values.items()})
        if digests is not None:
            columns.update(self._exact(outcome, digests, keep))
        return columns

    def _exact(self, outcome: Outcome, digests: np.ndarray, keep: str) -> dict[str, np.ndarray]:

        rows = outcome.survivors()
        if self.against.references:
            match, which = self.against.best(lambda ref: ref.match_exact(digests[rows]))
            rows = self.against.drop(
                outcome, rows, match, which, match.row >= 0, "exact", "exact duplicate of"
            )
        lengths = self.corpus.lengths[rows] if keep == "longest" else None
        local = exact_duplicates_from_hashes(digests[rows], keep=keep, lengths=lengths)
        duplicate_of = np.full(len(outcome.alive), -1, dtype=np.int64)
        gone = np.flatnonzero(local >= 0)
        duplicate_of[rows[gone]] = rows[local[gone]]
        outcome.remove(
            rows[gone], "exact", "exact duplicate (same normalised text as exact_duplicate_of)"
        )
        return {"exact_duplicate_of": duplicate_of}

    def signatures(self, rows: np.ndarray, near: NearOptions, seed: int) -> np.ndarray:
        """MinHash signatures of the sorted corpus ``rows``, as a read-only memory map."""
        corpus = self.corpus
        starts = corpus.starts
        bounds = np.searchsorted(rows, starts)
        items = [
            (shard.path, (rows[bounds[i] : bounds[i + 1]] - shard.start).astype(np.int32))
            for i, shard in enumerate(corpus.shards)
        ]
        path = self.folder / "signatures.npy"
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.uint32, shape=(len(rows), near.num_perm)
        )
        results = self.engine.imap(
            minhash_shard, items, shared=(near.ngram, near.num_perm, seed),
            label="minhash signatures",
            checkpoint=self._key("curate-minhash", rows, near.ngram, near.num_perm, seed),
        )  # fmt: skip
        for index, block in results:
            out[bounds[index] : bounds[index] + len(block)] = block
        out.flush()
        del out
        return np.load(path, mmap_mode="r")

    def _subset(self, signatures: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """The signatures of rows ``keep``, copied a block at a time into a new memory map."""
        path = self.folder / "signatures-rest.npy"
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.uint32, shape=(len(keep), signatures.shape[1])
        )
        for b0 in range(0, len(keep), 1 << 16):
            out[b0 : b0 + (1 << 16)] = signatures[keep[b0 : b0 + (1 << 16)]]
        out.flush()
        del out
        return np.load(path, mmap_mode="r")

    def _verifier(self, rows: np.ndarray, ngram: int) -> Callable[[np.ndarray], np.ndarray]:
        """Exact Jaccard of pairs of the near stage's ``rows``, in engine shards of
        :data:`VERIFY_PAIRS` pairs that read their texts from the shard files."""
        corpus, engine = self.corpus, self.engine

        def exact(pairs: np.ndarray) -> np.ndarray:
            blocks = [rows[pairs[i : i + VERIFY_PAIRS]] for i in range(0, len(pairs), VERIFY_PAIRS)]
            sims = engine.map(
                jaccard_shard, blocks, shared=(corpus.paths, corpus.starts, ngram),
                label="exact Jaccard of pairs",
            )  # fmt: skip
            return np.concatenate([np.empty(0), *sims])

        return exact

    def near(
        self, outcome: Outcome, keep: str, near: NearOptions, seed: int
    ) -> dict[str, np.ndarray]:
        """The near stage: signatures by shard, LSH bands by shard, components here."""

        rows = outcome.survivors()
        signatures = self.signatures(rows, near, seed)
        if self.against.references:  # their settings were checked when they were opened
            match, which = self.against.best(lambda ref: ref.match_near(signatures, near.threshold))
            hit = match.row >= 0
            how = f"near duplicate (estimated Jaccard >= {near.threshold:g}) of"
            rows = self.against.drop(outcome, rows, match, which, hit, "near", how)
            if hit.any():
                signatures = self._subset(signatures, np.flatnonzero(~hit))
        exact = self._verifier(rows, near.ngram) if near.verify else None
        found = near_duplicates_from_signatures(
            signatures, threshold=near.threshold, bands=near.bands, rows=near.rows, keep=keep,
            lengths=self.corpus.lengths[rows] if keep == "longest" else None,
            exact_jaccard=exact, engine=self.engine,
        )  # fmt: skip
        n = len(outcome.alive)
        duplicate_of = np.full(n, -1, dtype=np.int64)
        cluster = np.full(n, -1, dtype=np.int64)
        similarity = np.full(n, np.nan)
        gone = np.flatnonzero(found.duplicate_of >= 0)
        duplicate_of[rows[gone]] = rows[found.duplicate_of[gone]]
        cluster[rows] = found.cluster
        similarity[rows[gone]] = found.similarity[gone]
        how = "exact" if near.verify else "estimated"
        outcome.remove(
            rows[gone], "near",
            f"near duplicate ({how} Jaccard >= {near.threshold:g} with near_duplicate_of)",
        )  # fmt: skip
        return {
            "near_duplicate_of": duplicate_of,
            "near_cluster": cluster,
            "near_jaccard": similarity,
        }

    def semantic(
        self, outcome: Outcome, *, eps: float, survivor: str, k: int | None, encoder: str,
        cache_dir: Any, seed: int, target: int | None = None, scope: str = "neighbours",
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """SemDeDup of the survivors (to ``target`` documents when given, within clusters);
        their texts are gathered here for the encoder. ``scope``: where a document's
        duplicates are looked for (``neighbours`` or ``cluster``)."""

        rows = outcome.survivors()
        n = len(outcome.alive)
        if target is not None and len(rows) <= target:
            log(f"semantic: {len(rows)} documents remain, at or under the target of {target}")
            return {}
        if len(rows) < 2:
            return {}
        corpus = self.corpus
        sub = Dataset(source=corpus.source, format="array", ids=corpus.ids.take(pa.array(rows)))
        if k is not None:
            check_k(k, len(rows))
        sub.texts = corpus.gather(rows)
        vectors = vectors_of(
            sub, encoder=encoder, cache_dir=cache_dir, seed=seed, engine=self.engine
        )
        del sub
        outside = Match.none(len(rows))
        which = np.full(len(rows), -1, dtype=np.int32)
        if self.against.references:  # their encoder was checked when they were opened
            outside, which = self.against.best(lambda ref: ref.match_semantic(vectors))
        if target is not None:
            return self._semantic_to_size(
                outcome, rows, vectors, outside, which, target, k=k, survivor=survivor,
                seed=seed,
            )  # fmt: skip
        if self.against.references:
            hit = outside.similarity > 1.0 - eps
            how = f"semantic duplicate (cosine similarity above {1 - eps:g}) of"
            rows = self.against.drop(outcome, rows, outside, which, hit, "semantic", how)
            if hit.any():
                vectors = np.asarray(vectors)[~hit]
            if len(rows) < 2:
                return {}
        found = get_metric("semdedup")(
            ScoreInputs(n=len(rows), vectors=vectors, seed=seed, engine=self.engine),
            k=k, eps=eps, survivor=survivor, scope=scope,
        )  # fmt: skip
        columns = _spread(found, rows, n)
        gone = rows[found["semdedup_duplicate_of"] >= 0]
        outcome.remove(
            gone, "semantic",
            f"semantic duplicate (cosine similarity above {1 - eps:g} to semdedup_duplicate_of)",
        )  # fmt: skip
        return columns

    def _semantic_to_size(
        self, outcome: Outcome, rows: np.ndarray, vectors: np.ndarray, outside: Match,
        which: np.ndarray, target: int, *, k: int | None, survivor: str, seed: int,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """Remove the most redundant survivors until ``target`` documents remain.

        A document's redundancy is its highest cosine similarity to an earlier document of
        its cluster (SemDeDup's paper rule) or to a reference document; removals nest as the
        threshold falls, so one sort finds exactly ``target`` (see
        :func:`lessdata.duplicates.semdedup.redundancy`). The similarity of the last one
        removed is the threshold chosen, reported in the manifest's settings.
        """
        n = len(outcome.alive)
        found = redundancy(vectors, k=k, survivor=survivor, seed=seed, engine=self.engine)
        use_outside = outside.similarity >= found.similarity
        similarity = np.where(use_outside, outside.similarity, found.similarity)
        removed = most_redundant(similarity, found.rank, len(rows) - target)
        external = np.where(use_outside, outside.row, -1)
        duplicate_of, matched = resolve_chains(removed, found.nearest, found.rank, external)
        # a chain that ends at a reference document names that document
        via = np.where(use_outside, which, -1)
        for i in np.flatnonzero(removed & (matched >= 0) & (external < 0)):
            j = i
            while external[j] < 0 and found.nearest[j] >= 0:
                j = int(found.nearest[j])
            via[i] = via[j]
        self.threshold = chosen_threshold(similarity, removed)
        hit = removed & (matched >= 0)
        how = "semantically redundant with"
        self.against.drop(outcome, rows, Match(matched, similarity), via, hit, "semantic", how)
        local = removed & ~hit
        threshold = "" if self.threshold is None else f" >= {self.threshold:.4f}"
        outcome.remove(
            rows[local], "semantic",
            f"semantically redundant (cosine similarity{threshold} to an earlier document of "
            "its cluster, semdedup_duplicate_of; removed to reach the target size)",
        )  # fmt: skip
        distance = np.where(np.isfinite(similarity), 1.0 - similarity, 2.0)
        return _spread(
            {"semdedup": distance, "semdedup_cluster": found.cluster,
             "semdedup_duplicate_of": duplicate_of},
            rows, n,
        )  # fmt: skip


def _spread(found: dict[str, np.ndarray], rows: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Columns over the semantic stage's ``rows`` spread to the whole corpus; duplicate
    positions become corpus rows."""
    columns: dict[str, np.ndarray] = {}
    for name, local in found.items():
        if name.endswith("_duplicate_of"):
            full = np.full(n, -1, dtype=np.int64)
            hit = local >= 0
            full[rows[hit]] = rows[local[hit]]
        else:
            full = np.full(n, -1 if np.issubdtype(local.dtype, np.integer) else np.nan)
            full = full.astype(local.dtype)
            full[rows] = local
        columns[name] = full
    return columns
