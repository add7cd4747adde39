"""The DuckDB warehouse: loads normalized batches into a DuckDB file.

Batches arrive as ``{table: polars.DataFrame}`` with the root table first. Each
batch is one transaction: schema changes, the writes for every table, the
load's running counts in ``_tf_loads`` and the source state in ``_tf_state``
commit together or not at all. Frames reach DuckDB as registered Arrow tables
(no Python object per row) and every statement quotes its identifiers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb as _duckdb
import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse import _batch, journal, owners
from tillflow.warehouse._base import Batch, WarehouseBase
from tillflow.warehouse._batch import Staged
from tillflow.warehouse._duckdb._connect import connect
from tillflow.warehouse._duckdb._writes import DuckDBWrites
from tillflow.warehouse._reads import BOOKKEEPING_PREFIX, _Reads
from tillflow.warehouse.loads import LoadHandle
from tillflow.warehouse.sql import quote_identifier

__all__ = ["DuckDBWarehouse", "connect"]

_BOOKKEEPING_DDL = (
    """CREATE TABLE IF NOT EXISTS _tf_loads (
        load_id VARCHAR, pipeline VARCHAR, resource VARCHAR, write_mode VARCHAR,
        status VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
        row_counts JSON, total_rows BIGINT, error VARCHAR, run_id VARCHAR)""",
    "ALTER TABLE _tf_loads ADD COLUMN IF NOT EXISTS run_id VARCHAR",
    """CREATE TABLE IF NOT EXISTS _tf_state (
        pipeline VARCHAR, resource VARCHAR, state JSON, load_id VARCHAR,
        updated_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS _tf_schema_changes (
        load_id VARCHAR, pipeline VARCHAR, resource VARCHAR, "table" VARCHAR, "column" VARCHAR,
        change VARCHAR, old_type VARCHAR, new_type VARCHAR, changed_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS _tf_rule_results (
        run_id VARCHAR, pipeline VARCHAR, resource VARCHAR, "table" VARCHAR,
        rule VARCHAR, kind VARCHAR, columns VARCHAR[], severity VARCHAR,
        status VARCHAR, passed BOOLEAN, failing BIGINT, "rows" BIGINT,
        fraction DOUBLE, tolerance VARCHAR, observed VARCHAR, checked_at TIMESTAMPTZ)""",
)


class DuckDBWarehouse(DuckDBWrites, WarehouseBase, _Reads):
    """A DuckDB file (or ``":memory:"``) that tillflow loads into.

    The connection's ``TimeZone`` is set to ``timezone``, so timestamps read
    back and ``CAST(ts AS DATE)`` in metrics use it. One warehouse object is
    one connection; its methods are serialized with a lock.

    ``checkpoint_threshold`` is how much write-ahead log DuckDB collects before
    it folds the log into the file. DuckDB's default (16 MB) made nearly every
    batch commit of a bulk load checkpoint; tillflow defers it to ``close()``
    or the threshold. Commits are durable either way (the log is synced).

    ``create=False`` opens only an existing file (a ``WarehouseError`` names
    the path otherwise); ``read_only=True`` also opens it without writing
    (other read-only processes may open it at the same time, a writer not).

    DuckDB lets one process write a file, or many read it. While another
    process holds it, opening waits up to ``lock_timeout`` seconds and then
    raises [WarehouseLocked][tillflow.exceptions.WarehouseLocked] naming that process
    (its pid and start time).

    A warehouse is a context manager: leaving the ``with`` block closes it.

    Parameters
    ----------
    path
        The DuckDB file, or ``":memory:"``.
    timezone
        The connection's ``TimeZone``.
    checkpoint_threshold
        The write-ahead log size that makes DuckDB checkpoint (DuckDB's
        size text, ``"1GB"``).
    read_only
        Open an existing file for reading only (no bookkeeping tables are
        created).
    create
        Whether a missing file may be created.
    lock_timeout
        Seconds to wait while another process holds the file.

    Raises
    ------
    WarehouseError
        If the file does not exist and may not be created, is not a DuckDB
        file, is open in this process with the other read-only setting, or
        cannot be prepared (a bad ``timezone`` or ``checkpoint_threshold``).
    WarehouseLocked
        If another process holds the file past ``lock_timeout``.
    """

    def __init__(
        self,
        path: str = "tillflow.duckdb",
        *,
        timezone: str = "UTC",
        checkpoint_threshold: str = "1GB",
        read_only: bool = False,
        create: bool = True,
        lock_timeout: float = 0.0,
    ) -> None:
        super().__init__()
        self.path = str(path)
        self.timezone = timezone
        self.read_only = read_only
        self._views = 0
        self._seen: dict[str, str] = {}  # load id -> temp table of the keys an scd2 load brought
        if (read_only or not create) and self.path != ":memory:" and not os.path.isfile(self.path):
            raise WarehouseError(f"no DuckDB warehouse at {self.path!r}: the file does not exist")
        self._con: _duckdb.DuckDBPyConnection | None = connect(
            self.path, read_only=read_only, lock_timeout=lock_timeout
        )
        try:
            zone = timezone.replace("'", "''")
            self._con.execute(f"SET TimeZone = '{zone}'")
            threshold = checkpoint_threshold.replace("'", "''")
            self._con.execute(f"SET checkpoint_threshold = '{threshold}'")
            for ddl in () if read_only else (*_BOOKKEEPING_DDL, *journal.ddl("duckdb")):
                self._con.execute(ddl)
        except _duckdb.Error as exc:
            self._con.close()
            raise WarehouseError(f"cannot prepare DuckDB warehouse {self.path!r}: {exc}") from exc

    # -- plumbing

    @property
    def connection(self) -> _duckdb.DuckDBPyConnection:
        """The DuckDB connection (for SQL the contract does not cover); an error once closed."""
        return self._duck

    def _where_named(self) -> str:
        return f"warehouse {self.path!r}"

    def __repr__(self) -> str:
        state = " closed" if self._con is None else " read-only" if self.read_only else ""
        return f"<DuckDBWarehouse path={self.path!r} timezone={self.timezone!r}{state}>"

    def _rollback(self) -> None:
        try:
            self.connection.rollback()
        except _duckdb.Error:
            pass  # DuckDB already rolled back a failed commit

    # -- read helpers

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run DuckDB SQL and return the rows as a polars frame (empty for
        statements without rows); ``params`` fills ``?`` placeholders (a
        sequence) or ``$name`` ones (a mapping). See [Warehouse.query][tillflow.warehouse.Warehouse.query].
        """
        with self._lock:
            try:
                relation = self.connection.sql(sql, params=params)
                return pl.DataFrame() if relation is None else relation.pl()
            except _duckdb.Error as exc:
                raise WarehouseError(f"query failed: {exc}") from exc

    def tables(self) -> list[str]:
        """The user tables in the main schema, sorted, bookkeeping
        (``_tf_*``) left out. See [Warehouse.tables][tillflow.warehouse.Warehouse.tables].
        """
        with self._lock:
            return [name for name in self._all_tables() if not name.startswith(BOOKKEEPING_PREFIX)]

    def row_counts(self) -> dict[str, int]:
        """The rows of every user table, a ``count(*)`` each. See
        [Warehouse.row_counts][tillflow.warehouse.Warehouse.row_counts].
        """
        with self._lock:
            return {t: self._rows(f"SELECT count(*) FROM {quote_identifier(t)}")[0][0] for t in self.tables()}

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None:
        """The source state committed with the last successful batch, read from
        ``_tf_state`` (``None`` when none was stored). See
        [Warehouse.get_state][tillflow.warehouse.Warehouse.get_state].
        """
        with self._lock:
            rows = self._rows(
                "SELECT CAST(state AS VARCHAR) FROM _tf_state WHERE pipeline = ? AND resource = ?",
                [pipeline, resource],
            )
        return json.loads(rows[0][0]) if rows else None

    def loads(self) -> pl.DataFrame:
        """``_tf_loads`` by ``load_id``, oldest first, ``row_counts`` as JSON
        text. See [Warehouse.loads][tillflow.warehouse.Warehouse.loads].
        """
        return self.query("SELECT * FROM _tf_loads ORDER BY load_id")

    def _all_tables(self) -> list[str]:
        rows = self._rows(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = current_schema() ORDER BY table_name"
        )
        return [r[0] for r in rows]

    def _columns(self, table: str) -> dict[str, tuple[str, str]] | None:
        """``{lowercase name: (name, type)}``, or None when the table is missing.

        Keys are lowercased because DuckDB matches identifiers case-insensitively.
        """
        rows = self._rows(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = current_schema() AND lower(table_name) = lower(?) ORDER BY column_index",
            [table],
        )
        if not rows:
            return None
        return {name.lower(): (name, type_name) for name, type_name in rows}

    def _family(self, root: str) -> list[str]:
        """The root table and its existing child tables, quarantine tables excluded."""
        return _batch.family(self._all_tables(), root)

    # -- load lifecycle

    def _record_begin(self, load: LoadHandle) -> None:
        try:
            self._run(
                "INSERT INTO _tf_loads VALUES (?, ?, ?, ?, 'running', ?, NULL, '{}', 0, NULL, ?)",
                [
                    load.load_id,
                    load.pipeline,
                    load.resource,
                    load.write_mode.value,
                    load.started_at,
                    load.run_id,
                ],
            )
        except _duckdb.Error as exc:
            raise WarehouseError(f"cannot record load {load.load_id}: {exc}") from exc

    def _start_batch(self, batch: Batch) -> None:
        self.connection.begin()
        if batch.drops_rows:
            batch.engine = self._name("dropped")
            self._run(f"CREATE OR REPLACE TEMP TABLE {batch.engine} (id VARCHAR)")

    def _empty_family(self, batch: Batch) -> None:
        for table in self._family(batch.root):
            batch.step.table = table
            self._run(f"DELETE FROM {quote_identifier(table)}")

    def _write_table(self, batch: Batch, item: Staged) -> int:
        return self._write_staged(batch.load, item, batch.step, batch.engine)

    def _commit_batch(self, batch: Batch, counts: dict[str, int], state: Mapping[str, Any] | None) -> None:
        if batch.engine is not None:
            self._run(f"DROP TABLE {batch.engine}")
        batch.step.table = "_tf_loads"
        self._run(
            "UPDATE _tf_loads SET row_counts = ?, total_rows = ? WHERE load_id = ?",
            [json.dumps(counts), sum(counts.values()), batch.load.load_id],
        )
        if state is not None:
            batch.step.table = "_tf_state"
            self._save_state(batch.load, state)
        self.connection.commit()

    def _end_batch(self, batch: Batch) -> None:
        self._unstage(batch.staged)

    def _abort(self, batch: Batch, exc: BaseException) -> None:
        self._rollback()

    def _column_at_fault(self, batch: Batch, exc: BaseException) -> str | None:
        failed = batch.step.failed_insert
        return None if failed is None else self._uncastable_column(*failed)  # diagnosed after the rollback

    def _start_finish(self, batch: Batch, changes_tables: bool) -> None:
        self.connection.begin()

    def _commit_finish(self, batch: Batch, status: str, finished_at: dt.datetime, error: str | None) -> None:
        load = batch.load
        self._run(
            "UPDATE _tf_loads SET status = ?, finished_at = ?, row_counts = ?, total_rows = ?, error = ? "
            "WHERE load_id = ?",
            [status, finished_at, json.dumps(load.row_counts), load.total_rows, error, load.load_id],
        )
        self.connection.commit()

    def _end_finish(self, batch: Batch) -> None:
        seen = self._seen.pop(batch.load.load_id, None)
        if seen is not None:
            self._run(f"DROP TABLE IF EXISTS {seen}")

    def schema_changes(self) -> pl.DataFrame:
        """``_tf_schema_changes`` by ``changed_at``, the changes of one batch in
        the order they were made. See [Warehouse.schema_changes][tillflow.warehouse.Warehouse.schema_changes].
        """
        return self.query("SELECT * FROM _tf_schema_changes ORDER BY changed_at, rowid")

    def _append_rule_results(self, frame: pl.DataFrame) -> None:
        view = self._register(frame.to_arrow())
        try:
            self._run(f"INSERT INTO _tf_rule_results BY NAME SELECT * FROM {quote_identifier(view)}")
        finally:
            self._duck.unregister(view)

    def _replace(self, frames: Mapping[str, pl.DataFrame]) -> None:
        views = [self._register(frame.to_arrow()) for frame in frames.values()]
        try:
            self.connection.begin()
            for name, view in zip(frames, views, strict=True):
                self._run(f"CREATE OR REPLACE TABLE {quote_identifier(name)} AS SELECT * FROM {view}")
            self.connection.commit()
        except BaseException:
            self._rollback()
            raise
        finally:
            for view in views:
                self._duck.unregister(view)

    def rule_results(self) -> pl.DataFrame:
        """``_tf_rule_results`` by ``checked_at``, then ``run_id``. See
        [Warehouse.rule_results][tillflow.warehouse.Warehouse.rule_results].
        """
        return self.query("SELECT * FROM _tf_rule_results ORDER BY checked_at, run_id")

    def _append_journal(self, frames: Mapping[str, pl.DataFrame], replacing: Sequence[str]) -> None:
        con = self.connection
        views = {}
        for table, frame in frames.items():
            self._views += 1
            views[table] = f"__tf_journal_{self._views}"
            con.register(views[table], frame.to_arrow())
        try:
            self._run("BEGIN")
            for run_id in replacing:
                self._run(f"DELETE FROM {journal.RUNS} WHERE run_id = ?", [run_id])
            for table, view in views.items():
                self._run(f"INSERT INTO {table} BY NAME SELECT * FROM {quote_identifier(view)}")
            self._run("COMMIT")
        except _duckdb.Error as exc:
            self._rollback()
            raise WarehouseError(f"cannot write {', '.join(frames)}: {exc}") from exc
        finally:
            for view in views.values():
                con.unregister(view)

    def _interrupt(self, runs: pl.DataFrame, loads: Sequence[str], now: dt.datetime) -> None:
        run_sql, load_sql = journal.interrupt_sql()
        try:
            self._run("BEGIN")
            for row in runs.iter_rows(named=True):
                self._run(run_sql, [now, row["duration_s"], row["error"], row["run_id"]])
            for load_id in loads:
                self._run(load_sql, [now, journal.INTERRUPTED_ERROR, load_id])
            self._run("COMMIT")
        except _duckdb.Error as exc:
            self._rollback()
            raise WarehouseError(f"cannot close interrupted runs: {exc}") from exc

    def _alive(self, running: pl.DataFrame, now: dt.datetime) -> set[str]:
        # The file lock keeps every other process out while this one has the
        # file open, so only this process's own runs can be alive.
        return owners.live_here(running)

    def _save_state(self, load: LoadHandle, state: Mapping[str, Any]) -> None:
        text = _batch.state_text(load, state)
        self._run("DELETE FROM _tf_state WHERE pipeline = ? AND resource = ?", [load.pipeline, load.resource])
        self._run(
            "INSERT INTO _tf_state VALUES (?, ?, ?, ?, ?)",
            [load.pipeline, load.resource, text, load.load_id, dt.datetime.now(dt.timezone.utc)],
        )
