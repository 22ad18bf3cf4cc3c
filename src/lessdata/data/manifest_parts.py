"""A manifest as a folder of Parquet parts, one per shard, written by the workers.

At a billion rows no process should hold the whole manifest: each worker writes its
shard's rows as one part, and readers stream the parts in order. A part's name carries the
run's content key (a hash of the input and the settings) and its place among the parts:
``part-<key>-<index>-of-<count>.parquet``. So a part from another run (other input or
settings) is never mixed in: it has another key, and the folder is refused naming it; a
missing part, or a file named like a part but numbered past the count, is refused by name
too. Every part is written atomically (a temporary sibling, then a rename), so a worker
killed while writing leaves no partial part.

A part damaged afterwards (cut short, overwritten, replaced by another table, its settings
edited) is refused before any rows are read, naming the file: every part's footer is read
and must give the first part's columns, types and settings (:func:`check_parts`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError

_NAME = re.compile(r"^part-(?P<key>[0-9a-f]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
#: rows per Parquet row group of a part
PART_ROWS_PER_GROUP = 65_536


def part_name(key: str, index: int, count: int) -> str:
    """The file name of part ``index`` of ``count`` of the run keyed ``key``."""
    return f"part-{key}-{index:05d}-of-{count:05d}.parquet"


def is_parts_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding manifest parts."""
    path = Path(path)
    return path.is_dir() and any(_NAME.match(p.name) for p in path.glob("part-*.parquet"))


def write_part(folder: str | Path, key: str, index: int, count: int, table: pa.Table) -> Path:
    """Write ``table`` as part ``index`` of ``count`` in ``folder``, atomically."""
    path = Path(folder) / part_name(key, index, count)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=PART_ROWS_PER_GROUP):
            writer.write_batch(batch)
    return path


def list_parts(folder: str | Path) -> list[Path]:
    """The parts of the manifest in ``folder``, in order; refused when one is missing or
    foreign.

    Only file names are read here (:func:`check_parts` reads the parts' footers).

    Raises:
        LessdataError: no parts; a Parquet file that is not a part, or a part of another
            run (another key or count), or one numbered past the count; a missing part
            (each named).
    """
    folder = Path(folder)
    found = sorted(folder.glob("*.parquet"))
    if not found:
        raise LessdataError(f"{folder} holds no manifest parts (part-*.parquet)")
    named = [(path, _NAME.match(path.name)) for path in found]
    stranger = [path.name for path, match in named if match is None]
    if stranger:
        raise LessdataError(
            f"{folder}: {stranger[0]} is not a manifest part (part-<key>-<index>-of-<count>"
            ".parquet); a manifest folder holds only the parts of one run"
        )
    runs = Counter((m["key"], m["count"]) for _, m in named if m is not None)
    (key, count), _ = runs.most_common(1)[0]
    for path, match in named:
        assert match is not None
        if (match["key"], match["count"]) != (key, count):
            raise LessdataError(
                f"{folder}: part {path.name} belongs to another run (key {match['key']}, "
                f"{int(match['count'])} parts; this manifest's parts are key {key}, "
                f"{int(count)} parts); remove it, or rerun the command that wrote the folder"
            )
        if int(match["index"]) >= int(count):
            raise LessdataError(
                f"{folder}: {path.name} is numbered past the part count ({int(count)} parts "
                "count from 00000): it is not one of this run's parts; remove it, or rerun "
                "the command that wrote the folder"
            )
    have = {int(m["index"]) for _, m in named if m is not None}
    for index in range(int(count)):
        if index not in have:
            raise LessdataError(
                f"{folder}: part {part_name(key, index, int(count))} is missing; rerun the "
                "command that wrote the folder"
            )
    return [folder / part_name(key, index, int(count)) for index in range(int(count))]


#: the schema metadata key of a run's settings (``lessdata.data.manifest.META_KEY``)
_SETTINGS_KEY = b"lessdata"
_RERUN = "rerun the command that wrote the folder"


def _unreadable(path: Path, exc: BaseException) -> LessdataError:
    detail = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LessdataError(
        f"could not read part {path} ({detail}): it is damaged (cut short or overwritten); "
        + _RERUN
    )


def part_schema(path: Path) -> pa.Schema:
    """The schema of the part at ``path`` (its footer only); a damaged part is refused."""
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None


def check_parts(parts: list[Path]) -> pa.Schema:
    """Read every part's footer: each must be readable and have the first part's columns,
    types and settings. Returns the first part's schema (with the run's settings).

    A part cut short, overwritten with other bytes, replaced by another table or with its
    settings edited is refused here, naming it, before any rows are read; the footers are
    small, so this costs one read per part whatever the rows.

    Raises:
        LessdataError: an unreadable part, or one that differs from the first (named).
    """
    first = part_schema(parts[0])
    settings = (first.metadata or {}).get(_SETTINGS_KEY)
    for path in parts[1:]:
        schema = part_schema(path)
        if schema.remove_metadata() != first.remove_metadata():
            raise LessdataError(
                f"part {path} has other columns or types than {parts[0].name}: it belongs "
                f"to another run; {_RERUN}"
            )
        if (schema.metadata or {}).get(_SETTINGS_KEY) != settings:
            raise LessdataError(
                f"part {path} records other settings than {parts[0].name} (its schema "
                f"metadata differs): it was edited or belongs to another run; {_RERUN}"
            )
    return first


def _read_each(parts: list[Path], columns: list[str] | None) -> Iterator[pa.Table]:
    for path in parts:
        try:
            yield pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(path, exc) from None


def iter_parts(parts: list[Path], columns: list[str] | None = None) -> Iterator[pa.Table]:
    """Each part as a table, in order (only ``columns`` when given); every part's footer is
    checked first (:func:`check_parts`), so a damaged or foreign part is refused, named,
    before the first table is yielded.

    Raises:
        LessdataError: a damaged part, or one that differs from the first (named).
    """
    check_parts(parts)
    yield from _read_each(parts, columns)


def read_parts(
    folder: str | Path,
    columns: list[str] | None = None,
    *,
    check: Callable[[pa.Schema, Path], None] | None = None,
) -> pa.Table:
    """The whole manifest in ``folder`` as one table (for reports; memory grows with N).

    Args:
        folder: the folder of parts.
        columns: only these columns (default: all).
        check: called with the parts' schema (the run's settings in its metadata) and the
            first part's path after every footer was checked and before any rows are read:
            :func:`lessdata.data.manifest.read_manifest` validates the manifest there.

    Raises:
        LessdataError: a missing, foreign or damaged part (named; see :func:`list_parts`
            and :func:`check_parts`), or what ``check`` raises.
    """
    parts = list_parts(folder)
    schema = check_parts(parts)
    if check is not None:
        check(schema, parts[0])
    table = pa.concat_tables(list(_read_each(parts, columns)))
    return table.replace_schema_metadata(schema.metadata)
