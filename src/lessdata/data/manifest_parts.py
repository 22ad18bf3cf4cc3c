"""A manifest as a folder of Parquet parts, one per shard, written by the workers.

At a billion rows no process should hold the whole manifest: each worker writes its
shard's rows as one part, and readers stream the parts in order. A part's name carries the
run's content key (a hash of the input and the settings) and its place among the parts:
``part-<key>-<index>-of-<count>.parquet``. So a part from another run (other input or
settings) is never mixed in: it has another key, and the folder is refused naming it; a
missing part is refused by name too. Every part is written atomically (a temporary
sibling, then a rename), so a worker killed while writing leaves no partial part.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
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

    Raises:
        LessdataError: no parts; a Parquet file that is not a part, or a part of another
            run (another key or count); a missing part (named).
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
                f"this manifest's parts are {key}); remove it, or rerun the command that "
                "wrote the folder"
            )
    have = {int(m["index"]) for _, m in named if m is not None}
    for index in range(int(count)):
        if index not in have:
            raise LessdataError(
                f"{folder}: part {part_name(key, index, int(count))} is missing; rerun the "
                "command that wrote the folder"
            )
    return [folder / part_name(key, index, int(count)) for index in range(int(count))]


def iter_parts(parts: list[Path], columns: list[str] | None = None) -> Iterator[pa.Table]:
    """Each part as a table, in order (only ``columns`` when given); refused when a part's
    schema differs from the first one's."""
    first = pq.read_schema(parts[0]).remove_metadata()
    for path in parts:
        try:
            if pq.read_schema(path).remove_metadata() != first:
                raise LessdataError(
                    f"part {path.name} has another schema than {parts[0].name}: it belongs to "
                    "another run; rerun the command that wrote the folder"
                )
            yield pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise LessdataError(
                f"could not read part {path} ({str(exc).splitlines()[0] if str(exc) else exc});"
                " rerun the command that wrote the folder"
            ) from exc


def read_parts(folder: str | Path, columns: list[str] | None = None) -> pa.Table:
    """The whole manifest in ``folder`` as one table (for reports; memory grows with N)."""
    parts = list_parts(folder)
    tables = list(iter_parts(parts, columns))
    table = pa.concat_tables(tables)
    return table.replace_schema_metadata(pq.read_schema(parts[0]).metadata)
