"""The results store of a scaling sweep: one SQLite row per training run, committed at once.

A sweep may run for hours; killing it must lose at most the runs in progress. Every finished
run is written in its own transaction (WAL journal, ``synchronous=FULL``) the moment it
completes, and a rerun asks :meth:`ResultsStore.done` before training, so it repeats nothing
that finished. A run is identified by a :class:`RunKey`: the task, model, width, metric,
policy, budget and seed, plus a hash of everything else that changes the result (training
settings, the data's fingerprint, hook identity). Change any of those and the old rows stay,
under their own hash, next to the new ones.

Only the sweep's parent process writes (workers return their results to it), but several
processes may safely open the same store: SQLite serialises writers and readers never block
in WAL mode.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from lessdata.data.atomic import atomic_path
from lessdata.data.standard_json import dumps_standard
from lessdata.errors import LessdataError

#: file name of the database inside a store folder
DB_NAME = "results.sqlite"
#: policy name of the full-data reference run (every example kept), shared by all policies
FULL = "full"
#: metric name of runs that do not depend on a score (the full-data run, random, d4)
NO_METRIC = "-"
#: result values promoted to their own columns; any other metric lives in the JSON column
RESULT_COLUMNS = ("accuracy", "error", "loss", "train_seconds", "steps")
STATUSES = ("ok", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    width INTEGER NOT NULL,
    metric TEXT NOT NULL,
    policy TEXT NOT NULL,
    keep TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    n_kept INTEGER,
    n_train INTEGER,
    fraction REAL,
    accuracy REAL,
    error REAL,
    loss REAL,
    train_seconds REAL,
    steps REAL,
    seconds REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    message TEXT,
    finished REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (task, model, width, metric, policy, keep, seed, config)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: columns of :meth:`ResultsStore.rows` and of exports, in this order (then extra metrics)
KEY_COLUMNS = ("task", "model", "width", "metric", "policy", "keep", "seed", "config")
ROW_COLUMNS = (
    *KEY_COLUMNS,
    "status",
    "n_kept",
    "n_train",
    "fraction",
    *RESULT_COLUMNS,
    "seconds",
    "message",
    "finished",
    "attempts",
)
_ARROW_TYPES: dict[str, pa.DataType] = {
    "task": pa.string(),
    "model": pa.string(),
    "width": pa.int64(),
    "metric": pa.string(),
    "policy": pa.string(),
    "keep": pa.string(),
    "seed": pa.int64(),
    "config": pa.string(),
    "status": pa.string(),
    "n_kept": pa.int64(),
    "n_train": pa.int64(),
    "fraction": pa.float64(),
    "accuracy": pa.float64(),
    "error": pa.float64(),
    "loss": pa.float64(),
    "train_seconds": pa.float64(),
    "steps": pa.float64(),
    "seconds": pa.float64(),
    "message": pa.string(),
    "finished": pa.float64(),
    "attempts": pa.int64(),
}


def keep_text(keep: float | int) -> str:
    """The canonical text of a budget: ``"0.1"`` for a fraction, ``"3000"`` for a count."""
    if isinstance(keep, bool):
        raise LessdataError(f"a budget must be a fraction or a count, got {keep!r}")
    if isinstance(keep, float):
        return repr(float(keep))
    return str(int(keep))


@dataclass(frozen=True)
class RunKey:
    """What identifies one training run of a sweep.

    ``keep`` is the budget as asked: a fraction (float, ``0.1``) or a count (int, ``3000``);
    the full-data reference run has ``policy="full"``, ``metric="-"`` and ``keep=1.0``.
    ``config`` is a hash of every other setting that changes the result.
    """

    task: str
    model: str
    width: int
    metric: str
    policy: str
    keep: float | int
    seed: int
    config: str

    def values(self) -> tuple[Any, ...]:
        """The key as stored: ``keep`` as its canonical text."""
        return (
            self.task, self.model, int(self.width), self.metric, self.policy,
            keep_text(self.keep), int(self.seed), self.config,
        )  # fmt: skip

    def label(self) -> str:
        """A short human-readable name for logs and error lists."""
        what = self.policy if self.metric == NO_METRIC else f"{self.policy}/{self.metric}"
        budget = keep_text(self.keep)
        return f"{self.task} {self.model} w{self.width} {what} keep={budget} seed={self.seed}"


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _jsonable(value: Any) -> Any:
    """A metric value as JSON can hold it: numbers (non-finite → null), text, bools, lists."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):  # e.g. a learning curve of (tokens, loss) pairs
        return [_jsonable(v) for v in value]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return int(value)
    return number if math.isfinite(number) else None


class ResultsStore:
    """A sweep's results in SQLite: ``done``/``record`` per run, ``rows``/``export`` for all.

    Args:
        path: a folder (the database is ``FOLDER/results.sqlite``, created on demand) or a
            ``.sqlite``/``.db`` file. The folder also holds the sweep's score cache
            (``scores/``) and command-hook manifests (``manifests/``).

    Example:
        >>> store = ResultsStore("runs/scale")  # doctest: +SKIP
        >>> key = RunKey("digits", "logreg", 64, "-", "random", 0.5, 0, "abc")  # doctest: +SKIP
        >>> store.record(key, {"accuracy": 0.93, "error": 0.07})  # doctest: +SKIP
        >>> store.done(key)  # doctest: +SKIP
        True
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix in (".sqlite", ".db", ".sqlite3"):
            self.db_path = path
            self.dir = path.parent
        else:
            if path.exists() and not path.is_dir():
                raise LessdataError(
                    f"store {path} is a file; give a folder (or a .sqlite file) for the results",
                    param="store",
                )
            self.dir = path
            self.db_path = path / DB_NAME
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.db_path, timeout=60.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=60000")
            with self._conn:
                self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise LessdataError(
                f"{self.db_path} is not a usable results database ({exc}); "
                "point `store` at another folder"
            ) from None

    # --- context management -------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (the store cannot be used afterwards)."""
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.db_path)!r})"

    # --- runs ---------------------------------------------------------------------------

    def done(self, key: RunKey) -> bool:
        """True when ``key`` finished successfully (a failed run is retried by a rerun)."""
        row = self._conn.execute(
            "SELECT 1 FROM runs WHERE task=? AND model=? AND width=? AND metric=? AND policy=? "
            "AND keep=? AND seed=? AND config=? AND status='ok'",
            key.values(),
        ).fetchone()
        return row is not None

    def done_keys(self) -> set[tuple[Any, ...]]:
        """The stored values (:meth:`RunKey.values`) of every successful run, for bulk checks."""
        rows = self._conn.execute(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM runs WHERE status='ok'"
        ).fetchall()
        return {tuple(r) for r in rows}

    def record(
        self,
        key: RunKey,
        metrics: Mapping[str, Any],
        *,
        status: str = "ok",
        message: str | None = None,
        n_kept: int | None = None,
        n_train: int | None = None,
        seconds: float | None = None,
    ) -> None:
        """Store one run's result, committed immediately in its own transaction.

        ``metrics`` is what the trainer returned (``accuracy``, ``error``, ``loss``, ... and
        any other values, kept in the JSON column). ``status="failed"`` records a failure
        with ``message`` (e.g. the stderr tail); a later successful record replaces it.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        extra = {str(k): _jsonable(v) for k, v in metrics.items()}
        promoted = [_finite_or_none(metrics.get(name)) for name in RESULT_COLUMNS]
        fraction = n_kept / n_train if n_kept is not None and n_train else None
        values = (
            *key.values(), status, n_kept, n_train, fraction, *promoted, seconds,
            dumps_standard(extra, sort_keys=True), message, time.time(),
        )  # fmt: skip
        columns = (*KEY_COLUMNS, "status", "n_kept", "n_train", "fraction", *RESULT_COLUMNS)
        columns = (*columns, "seconds", "metrics", "message", "finished")
        marks = ", ".join("?" for _ in columns)
        with self._conn:  # one transaction per run: commit on success, roll back on error
            self._conn.execute(
                f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks}) "
                "ON CONFLICT (task, model, width, metric, policy, keep, seed, config) DO UPDATE "
                "SET "
                + ", ".join(f"{c}=excluded.{c}" for c in columns[len(KEY_COLUMNS) :])
                + ", attempts=runs.attempts+1",
                values,
            )

    def count(self, status: str | None = None) -> int:
        """How many runs are stored (with ``status`` if given)."""
        if status is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        query = "SELECT COUNT(*) FROM runs WHERE status=?"
        return int(self._conn.execute(query, (status,)).fetchone()[0])

    def rows(self) -> list[dict[str, Any]]:
        """Every run as a flat dict: :data:`ROW_COLUMNS`, then any extra metric by name.

        Rows come in key order (task, model, width, metric, policy, seed, budget).
        """
        cursor = self._conn.execute(
            f"SELECT {', '.join(ROW_COLUMNS)}, metrics FROM runs "
            "ORDER BY task, model, config, width, metric, policy, seed, n_kept, keep"
        )
        out = []
        for record in cursor.fetchall():
            row = dict(zip(ROW_COLUMNS, record[:-1], strict=True))
            for name, value in json.loads(record[-1] or "{}").items():
                if name not in row:
                    row[name] = value
            out.append(row)
        return out

    # --- metadata -----------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Remember a JSON value under ``key`` (e.g. the sweep's settings), committed at once."""
        text = dumps_standard(value, sort_keys=True, default=str)
        with self._conn:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, text),
            )

    def meta(self) -> dict[str, Any]:
        """Every remembered value."""
        rows = self._conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        return {k: json.loads(v) for k, v in rows}

    # --- export -------------------------------------------------------------------------

    def to_arrow(self) -> pa.Table:
        """The runs as an Arrow table (see :func:`rows_to_arrow`)."""
        return rows_to_arrow(self.rows())

    def export(self, path: str | Path) -> Path:
        """Write every run to ``path`` (.parquet, .csv or .json by suffix), atomically."""
        return export_rows(self.rows(), path)


def rows_to_arrow(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Runs as an Arrow table: the fixed columns typed, extra metrics as float64 (or string).

    An extra metric holding anything but numbers becomes a string column.
    """
    rows = list(rows)
    extra: list[str] = []
    for row in rows:
        extra.extend(k for k in row if k not in _ARROW_TYPES and k not in extra)
    arrays: dict[str, pa.Array] = {}
    for name in ROW_COLUMNS:
        arrays[name] = pa.array([r.get(name) for r in rows], type=_ARROW_TYPES[name])
    for name in extra:
        values = [r.get(name) for r in rows]
        numeric = all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
        )
        if numeric:
            arrays[name] = pa.array(values, type=pa.float64())
        else:
            arrays[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(arrays)


def export_rows(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write runs to ``path``: Parquet, CSV or JSON (a list of objects) by its suffix."""
    path = Path(path)
    check_export_path(path)
    return write_table(rows_to_arrow(rows), path)


def check_export_path(path: Path, flag: str = "") -> None:
    """Refuse a path that is not a .parquet, .csv or .json file (``flag`` names the option)."""
    where = f"{flag} " if flag else ""
    if path.suffix.lower() not in (".parquet", ".csv", ".json"):
        raise LessdataError(
            f"cannot export to {where}{path.name}: name a .parquet, .csv or .json file"
        )
    if path.is_dir():
        raise LessdataError(
            f"cannot export to {where}{path}: it is a folder; name a .parquet, .csv or .json file"
        )


def write_table(table: pa.Table, path: str | Path) -> Path:
    """Write an Arrow table atomically as Parquet, CSV or JSON (a list of objects) by suffix."""
    path = Path(path)
    check_export_path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif suffix == ".csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        else:
            records = table.to_pylist()
            tmp.write_text(dumps_standard(records, indent=1) + "\n", encoding="utf-8")
    return path
