"""Everything the report shows, computed once from a manifest.

The HTML page and the terminal view render the same :class:`Summary`, so they cannot
disagree. Counting, sorting and grouping run in Arrow compute or numpy over whole columns;
only the handful of rows that are displayed become Python objects, so a million-row manifest
stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lessdata.data.manifest import manifest_settings, metric_columns, validate_schema

DUPLICATE_COLUMN = "semdedup_duplicate_of"
#: At most this many labels / reasons are listed; the rest are summarised as a count.
MAX_LABELS = 50
MAX_REASONS = 50
#: Duplicates shown per group (the closest ones); the rest are summarised as a count.
MAX_DUPLICATES_SHOWN = 5

_DIRECTIONS = {
    "prototypes": "distance to its k-means centroid (higher = less prototypical / harder)",
    "supervised-prototypes": "distance to its class prototype (higher = less prototypical)",
    "semdedup": "cosine distance to nearest kept example (higher = more unique)",
    "random": "uniform random score (no direction)",
    "el2n": "error L2 norm (higher = harder)",
    "forgetting": "forgetting events (higher = harder)",
}


def direction(metric: str) -> str:
    """What a score of ``metric`` measures and which way is harder, for axis labels."""
    return _DIRECTIONS.get(metric, "score (higher = harder / more informative)")


@dataclass(frozen=True)
class Example:
    """One displayed row: an example with the score being shown and what else is known."""

    id: Any
    score: float | None = None
    label: Any = None
    kept: bool | None = None
    preview: str | None = None


@dataclass(frozen=True)
class ReasonCount:
    """How many examples carry one ``reason`` (and how many of those were kept)."""

    reason: str | None
    count: int
    kept: int | None


@dataclass(frozen=True)
class LabelCount:
    """How many examples of one label there are, and how many were kept."""

    label: Any
    total: int
    kept: int | None


@dataclass(frozen=True)
class MetricStats:
    """Distribution of one score column, overall and for kept vs pruned examples."""

    name: str
    direction: str
    count: int
    missing: int
    min: float | None
    median: float | None
    max: float | None
    mean: float | None
    kept_mean: float | None
    pruned_mean: float | None


@dataclass(frozen=True)
class DuplicateGroup:
    """A kept example and the near-duplicates that were folded into it."""

    survivor: Example
    size: int
    duplicates: list[Example]


@dataclass(frozen=True)
class Summary:
    """All the numbers and rows that the report displays."""

    n: int
    kept: int | None
    pruned: int | None
    meta: dict[str, Any]
    metrics: list[MetricStats]
    has_label: bool = False
    has_preview: bool = False
    reasons: list[ReasonCount] = field(default_factory=list)
    reasons_total: int = 0
    labels: list[LabelCount] = field(default_factory=list)
    labels_total: int = 0
    labels_order: str = "label"
    extremes_metric: str | None = None
    lowest: list[Example] = field(default_factory=list)
    highest: list[Example] = field(default_factory=list)
    has_duplicates: bool = False
    duplicate_groups: list[DuplicateGroup] = field(default_factory=list)
    duplicate_group_count: int = 0
    duplicates_total: int = 0

    @property
    def extremes_titles(self) -> tuple[str, str]:
        """Headings for the lowest- and highest-scoring examples."""
        metric = self.extremes_metric or "score"
        if metric.endswith("prototypes"):
            return (
                f"Most prototypical (lowest {metric} score)",
                f"Least prototypical (highest {metric} score)",
            )
        return f"Lowest {metric} scores", f"Highest {metric} scores"


def decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` with dictionary encoding removed (grouping and display want plain values)."""
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, column.type.value_type)
    return column


def scores(manifest: pa.Table, metric: str) -> np.ndarray:
    """A score column as float64 numpy, nulls as NaN."""
    column = pc.cast(manifest.column(metric), pa.float64())
    return np.asarray(pc.fill_null(column, float("nan")).to_numpy(), dtype=np.float64)


def kept_mask(manifest: pa.Table) -> np.ndarray | None:
    """The ``kept`` column as a numpy bool array (null counts as pruned), or None if absent."""
    if "kept" not in manifest.column_names:
        return None
    column = pc.fill_null(manifest.column("kept"), False)
    return np.asarray(column.to_numpy(), dtype=bool)


def extremes_metric(metrics: list[str]) -> str | None:
    """The metric whose lowest/highest examples are shown: prototypes first, else the first."""
    if "prototypes" in metrics:
        return "prototypes"
    for name in metrics:
        if name.endswith("prototypes"):
            return name
    return metrics[0] if metrics else None


def _float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _metric_stats(name: str, values: np.ndarray, kept: np.ndarray | None) -> MetricStats:
    finite = np.isfinite(values)
    good = values[finite]
    return MetricStats(
        name=name,
        direction=direction(name),
        count=int(good.size),
        missing=int(values.size - good.size),
        min=_float(good.min()) if good.size else None,
        median=_float(np.median(good)) if good.size else None,
        max=_float(good.max()) if good.size else None,
        mean=_mean(good),
        kept_mean=None if kept is None else _mean(values[finite & kept]),
        pruned_mean=None if kept is None else _mean(values[finite & ~kept]),
    )


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _reasons(manifest: pa.Table, kept: np.ndarray | None) -> tuple[list[ReasonCount], int]:
    """Counts per reason, largest first."""
    columns: dict[str, Any] = {"reason": decoded(manifest.column("reason"))}
    aggregations: list[tuple[Any, str]] = [([], "count_all")]
    if kept is not None:
        columns["kept"] = pa.array(kept.astype(np.int64))
        aggregations.append(("kept", "sum"))
    groups = pa.table(columns).group_by("reason").aggregate(aggregations)
    order = pc.sort_indices(groups, [("count_all", "descending"), ("reason", "ascending")])
    top = groups.take(order[:MAX_REASONS])
    kept_sums = top.column("kept_sum").to_pylist() if kept is not None else [None] * top.num_rows
    rows = [
        ReasonCount(reason=r, count=c, kept=None if kept is None else _int(k))
        for r, c, k in zip(
            top.column("reason").to_pylist(),
            top.column("count_all").to_pylist(),
            kept_sums,
            strict=True,
        )
    ]
    return rows, groups.num_rows


def _labels(manifest: pa.Table, kept: np.ndarray | None) -> tuple[list[LabelCount], int, str]:
    """Kept-of-total per label: by label when few, else the most-pruned labels first."""
    columns: dict[str, Any] = {"label": decoded(manifest.column("label"))}
    aggregations: list[tuple[Any, str]] = [([], "count_all")]
    if kept is not None:
        columns["kept"] = pa.array(kept.astype(np.int64))
        aggregations.append(("kept", "sum"))
    groups = pa.table(columns).group_by("label").aggregate(aggregations)
    if groups.num_rows <= MAX_LABELS:
        order_name = "label"
        keys = [("label", "ascending")]
    elif kept is not None:
        order_name = "kept fraction"
        fraction = pc.divide(pc.cast(groups.column("kept_sum"), pa.float64()), groups["count_all"])
        groups = groups.append_column("fraction", fraction)
        keys = [("fraction", "ascending"), ("count_all", "descending"), ("label", "ascending")]
    else:
        order_name = "count"
        keys = [("count_all", "descending"), ("label", "ascending")]
    order = pc.sort_indices(groups, keys)  # nulls sort last by default
    top = groups.take(order[:MAX_LABELS])
    kept_sums = top.column("kept_sum").to_pylist() if kept is not None else [None] * top.num_rows
    rows = [
        LabelCount(label=lab, total=c, kept=None if kept is None else _int(k))
        for lab, c, k in zip(
            top.column("label").to_pylist(),
            top.column("count_all").to_pylist(),
            kept_sums,
            strict=True,
        )
    ]
    return rows, groups.num_rows, order_name


def _rows(manifest: pa.Table, indices: np.ndarray, score_column: str | None) -> list[Example]:
    """Materialise the displayed rows (only these few become Python objects)."""
    if len(indices) == 0:
        return []
    sub = manifest.take(pa.array(indices, type=pa.int64()))
    n = sub.num_rows

    def column(name: str | None) -> list[Any]:
        if name is None or name not in sub.column_names:
            return [None] * n
        return decoded(sub.column(name)).to_pylist()

    return [
        Example(id=i, score=s, label=lab, kept=k, preview=p)
        for i, s, lab, k, p in zip(
            column("id"),
            column(score_column),
            column("label"),
            column("kept"),
            column("preview"),
            strict=True,
        )
    ]


def _extremes(manifest: pa.Table, metric: str, top: int) -> tuple[list[Example], list[Example]]:
    """The ``top`` lowest- and highest-scoring examples (finite scores only), ties by row."""
    values = scores(manifest, metric)
    index = np.flatnonzero(np.isfinite(values))
    good = values[index]
    k = min(top, good.size)
    if k == 0:
        return [], []

    def pick(keys: np.ndarray) -> np.ndarray:
        candidates = np.argpartition(keys, k - 1)[:k] if k < keys.size else np.arange(keys.size)
        ordered = candidates[np.lexsort((index[candidates], keys[candidates]))]
        return index[ordered]

    return _rows(manifest, pick(good), metric), _rows(manifest, pick(-good), metric)


def _duplicate_groups(manifest: pa.Table, top: int) -> tuple[list[DuplicateGroup], int, int]:
    """The ``top`` largest groups of rows sharing a ``semdedup_duplicate_of`` survivor."""
    survivors_of = decoded(manifest.column(DUPLICATE_COLUMN))
    is_duplicate = pc.is_valid(survivors_of)
    duplicates_total = pc.sum(pc.cast(is_duplicate, pa.int64())).as_py() or 0
    if duplicates_total == 0 or top <= 0:
        return [], 0, duplicates_total
    groups = (
        pa.table({"survivor": survivors_of})
        .filter(is_duplicate)
        .group_by("survivor")
        .aggregate([([], "count_all")])
    )
    order = pc.sort_indices(groups, [("count_all", "descending"), ("survivor", "ascending")])
    biggest = groups.take(order[:top])
    survivor_ids = biggest.column("survivor").combine_chunks()

    # One pass over the table each for the survivors' own rows and for their duplicates.
    ids = decoded(manifest.column("id"))
    try:
        id_values = survivor_ids.cast(ids.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        id_values = survivor_ids
    survivor_rows = np.flatnonzero(
        pc.fill_null(pc.is_in(ids, value_set=id_values), False).to_numpy(zero_copy_only=False)
    )
    by_id = {e.id: e for e in _rows(manifest, survivor_rows, None)}
    members = np.flatnonzero(
        pc.fill_null(pc.is_in(survivors_of, value_set=survivor_ids), False).to_numpy(
            zero_copy_only=False
        )
    )
    member_survivor = survivors_of.take(pa.array(members, type=pa.int64()))
    score_column = "semdedup" if "semdedup" in manifest.column_names else None
    distance = (
        scores(manifest, score_column)[members]
        if score_column
        else np.zeros(members.size, dtype=np.float64)
    )

    result = []
    for survivor, size in zip(
        survivor_ids.to_pylist(), biggest.column("count_all").to_pylist(), strict=True
    ):
        mine = np.flatnonzero(pc.equal(member_survivor, survivor).to_numpy(zero_copy_only=False))
        # Closest duplicates first (NaN last), then table order.
        closest = mine[np.lexsort((members[mine], np.nan_to_num(distance[mine], nan=np.inf)))]
        shown = _rows(manifest, members[closest[:MAX_DUPLICATES_SHOWN]], score_column)
        result.append(
            DuplicateGroup(
                survivor=by_id.get(survivor, Example(id=survivor)),
                size=int(size) + 1,
                duplicates=shown,
            )
        )
    return result, groups.num_rows, duplicates_total


def summarize(manifest: pa.Table, *, top: int = 10) -> Summary:
    """Compute what the report shows; :class:`LessdataError` if it is not a manifest."""
    validate_schema(manifest.schema, "the manifest")
    top = max(int(top), 0)
    names = manifest.column_names
    metrics = metric_columns(manifest)
    kept = kept_mask(manifest)
    n = manifest.num_rows
    n_kept = int(kept.sum()) if kept is not None else None

    reasons, reasons_total = _reasons(manifest, kept) if "reason" in names else ([], 0)
    labels, labels_total, labels_order = (
        _labels(manifest, kept) if "label" in names else ([], 0, "label")
    )
    chosen = extremes_metric(metrics) if top else None
    lowest, highest = _extremes(manifest, chosen, top) if chosen else ([], [])
    groups, group_count, duplicates_total = (
        _duplicate_groups(manifest, top) if DUPLICATE_COLUMN in names else ([], 0, 0)
    )
    return Summary(
        n=n,
        kept=n_kept,
        pruned=None if n_kept is None else n - n_kept,
        meta=manifest_settings(manifest),
        metrics=[_metric_stats(m, scores(manifest, m), kept) for m in metrics],
        has_label="label" in names,
        has_preview="preview" in names,
        reasons=reasons,
        reasons_total=reasons_total,
        labels=labels,
        labels_total=labels_total,
        labels_order=labels_order,
        extremes_metric=chosen,
        lowest=lowest,
        highest=highest,
        has_duplicates=DUPLICATE_COLUMN in names,
        duplicate_groups=groups,
        duplicate_group_count=group_count,
        duplicates_total=duplicates_total,
    )
