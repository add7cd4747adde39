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
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb as _duckdb
import polars as pl

from tillflow.exceptions import SchemaError, WarehouseError, WarehouseLocked
from tillflow.warehouse import _batch, _journal, _owners, _scd2
from tillflow.warehouse._batch import (
    BOOKKEEPING_PREFIX,
    ID_COLUMN,
    PARENT_ID_COLUMN,
    Staged,
    Step,
    WarehouseBase,
)
from tillflow.warehouse._reads import _Reads
from tillflow.warehouse._schema import Change, insert_columns, plan_changes
from tillflow.warehouse.loads import LOAD_ID_COLUMN, LoadHandle, LoadSummary, SchemaContract, WriteMode
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


class DuckDBWarehouse(WarehouseBase, _Reads):
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
    raises :class:`~tillflow.exceptions.WarehouseLocked` naming that process
    (its pid and start time).
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
            for ddl in () if read_only else (*_BOOKKEEPING_DDL, *_journal.ddl("duckdb")):
                self._con.execute(ddl)
        except _duckdb.Error as exc:
            self._con.close()
            raise WarehouseError(f"cannot prepare DuckDB warehouse {self.path!r}: {exc}") from exc

    # -- plumbing

    @property
    def connection(self) -> _duckdb.DuckDBPyConnection:
        if self._con is None:
            raise WarehouseError(f"warehouse {self.path!r} is closed")
        return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __repr__(self) -> str:
        state = " closed" if self._con is None else " read-only" if self.read_only else ""
        return f"<DuckDBWarehouse path={self.path!r} timezone={self.timezone!r}{state}>"

    def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        # duckdb 2 keeps a SELECT's result open on the connection until it is fetched.
        return self.connection.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.connection.execute(sql, params)

    def _rollback(self) -> None:
        try:
            self.connection.rollback()
        except _duckdb.Error:
            pass  # DuckDB already rolled back a failed commit

    # -- read helpers

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run SQL and return the result as a polars frame (empty for statements without rows)."""
        with self._lock:
            try:
                relation = self.connection.sql(sql, params=params)
                return pl.DataFrame() if relation is None else relation.pl()
            except _duckdb.Error as exc:
                raise WarehouseError(f"query failed: {exc}") from exc

    def tables(self) -> list[str]:
        """User tables in the main schema, bookkeeping (``_tf_*``) left out."""
        with self._lock:
            return [name for name in self._all_tables() if not name.startswith(BOOKKEEPING_PREFIX)]

    def row_counts(self) -> dict[str, int]:
        with self._lock:
            return {t: self._rows(f"SELECT count(*) FROM {quote_identifier(t)}")[0][0] for t in self.tables()}

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None:
        """The source state committed with the last successful batch, or None."""
        with self._lock:
            rows = self._rows(
                "SELECT CAST(state AS VARCHAR) FROM _tf_state WHERE pipeline = ? AND resource = ?",
                [pipeline, resource],
            )
        return json.loads(rows[0][0]) if rows else None

    def loads(self) -> pl.DataFrame:
        """``_tf_loads``, oldest first (``row_counts`` is JSON text)."""
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

    def write_batch(
        self,
        load: LoadHandle,
        tables: Mapping[str, pl.DataFrame],
        state: Mapping[str, Any] | None = None,
        *,
        quarantine: Mapping[str, pl.DataFrame] | None = None,
        delete_where: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, int]:
        """Write one batch (root table first) in one transaction; returns rows written per table.

        ``quarantine`` holds rows held back by validation, as
        ``{"<table>__quarantine": frame}``; they are appended (whatever the
        write mode) in the same transaction. ``delete_where`` (``{column:
        values}``) first deletes the rows of the root table, its child tables
        and its quarantine table whose column holds one of the values (a
        source replacing what it loaded before, e.g. a changed file). On
        failure the whole batch, its schema changes and its state are rolled
        back, earlier batches stay, and a ``WarehouseError`` names the table.
        """
        root = _batch.check_batch(load, tables, state, quarantine)
        written: dict[str, int] = {}
        with self._lock:
            con = self.connection
            step = Step(table=root)
            staged: list[Staged] = []
            try:
                # Registered before BEGIN: a view registered inside the transaction
                # would vanish with the rollback, before the failure is diagnosed.
                for position, (table, frame) in enumerate(tables.items()):
                    step.table = table
                    staged.append(self._stage(load, table, frame, is_root=position == 0))
                for table, frame in (quarantine or {}).items():
                    step.table = table
                    if frame.height:
                        staged.append(self._stage(load, table, frame, is_root=False, plain=True))
                con.begin()
                try:
                    if load.write_mode is WriteMode.REPLACE and load.batches == 0 and tables:
                        for table in self._family(root):
                            step.table = table
                            self._run(f"DELETE FROM {quote_identifier(table)}")
                    if delete_where:
                        self._delete_where(root, delete_where, step)
                    dropped = None
                    if (
                        load.schema_contract is SchemaContract.DISCARD_ROW
                        or load.write_mode is WriteMode.SCD2
                    ):
                        self._views += 1
                        dropped = f"__tf_dropped_{self._views}"
                        self._run(f"CREATE OR REPLACE TEMP TABLE {dropped} (id VARCHAR)")
                    for item in staged:
                        step.table, step.column = item.table, None
                        written[item.table] = self._write_staged(load, item, step, dropped)
                    counts = _batch.add_counts(load.row_counts, written)
                    if dropped is not None:
                        self._run(f"DROP TABLE {dropped}")
                    step.table = "_tf_loads"
                    self._run(
                        "UPDATE _tf_loads SET row_counts = ?, total_rows = ? WHERE load_id = ?",
                        [json.dumps(counts), sum(counts.values()), load.load_id],
                    )
                    if state is not None:
                        step.table = "_tf_state"
                        self._save_state(load, state)
                    con.commit()
                except BaseException:
                    self._rollback()
                    raise
            except (WarehouseError, SchemaError):
                raise
            except Exception as exc:
                if step.failed_insert is not None:
                    step.column = self._uncastable_column(*step.failed_insert)
                where = f"table {step.table!r}" + (f", column {step.column!r}" if step.column else "")
                raise WarehouseError(f"load {load.load_id}: batch failed at {where}: {exc}") from exc
            finally:
                for item in staged:
                    if item.view is not None:
                        con.unregister(item.view)
        load.row_counts = counts
        _batch.batch_written(load, tables, root)
        return written

    def finish_load(
        self, load: LoadHandle, status: str = "completed", error: str | None = None
    ) -> LoadSummary:
        """Close a load: record its end, status, error and row counts.

        A completed replace load that wrote no batch empties its root table and
        child tables here, in the same transaction; a failed one leaves them.
        A completed scd2 load with ``scd2_close_missing`` closes the current
        versions of the keys it did not bring, in the same transaction.
        """
        _batch.check_finish(load, status)
        finished_at = dt.datetime.now(dt.timezone.utc)
        with self._lock:
            con = self.connection
            seen = self._seen.pop(load.load_id, None)
            con.begin()
            try:
                if _batch.empties_at_finish(load, status):
                    for table in self._family(load.root_table or load.resource):
                        self._run(f"DELETE FROM {quote_identifier(table)}")
                if load.scd2_close_missing and status == "completed":
                    self._close_missing(load, seen)
                self._run(
                    "UPDATE _tf_loads SET status = ?, finished_at = ?, row_counts = ?, total_rows = ?, "
                    "error = ? "
                    "WHERE load_id = ?",
                    [status, finished_at, json.dumps(load.row_counts), load.total_rows, error, load.load_id],
                )
                con.commit()
            except (_duckdb.Error, WarehouseError) as exc:
                self._rollback()
                raise WarehouseError(f"cannot finish load {load.load_id}: {exc}") from exc
            finally:
                if seen is not None:
                    self._run(f"DROP TABLE IF EXISTS {seen}")
        return _batch.finished(load, status, finished_at, error)

    def _close_missing(self, load: LoadHandle, seen: str | None) -> None:
        """Close the current versions of the keys the load did not bring (all
        of them when it brought none)."""
        root = load.root_table or load.resource
        if self._columns(root) is None:
            return
        empty = seen is None
        if seen is None:  # no batch: every current version is gone from the source
            seen = "__tf_seen_none"
            key = ", ".join(quote_identifier(k) for k in load.primary_key or ())
            self._run(
                f"CREATE OR REPLACE TEMP TABLE {seen} AS SELECT {key} FROM {quote_identifier(root)} LIMIT 0"
            )
        for table, links in self._version_links(load, root):
            self._run(_scd2.close_missing(quote_identifier(table), links, seen, load.started_at))
        if empty:
            self._run(f"DROP TABLE {seen}")

    def _delete_where(self, root: str, where: Mapping[str, Sequence[Any]], step: Step) -> None:
        """Delete the rows of ``root``, its child tables and its quarantine
        table whose column holds one of the values; tables without the
        column hold no such row."""
        quarantine = (root + _batch.QUARANTINE_SUFFIX).lower()
        tables = self._family(root) + [t for t in self._all_tables() if t.lower() == quarantine]
        for table in tables:
            step.table = table
            columns = self._columns(table) or {}
            for column, values in where.items():
                found = columns.get(column.lower())
                if found is None or not values:
                    continue
                step.column = found[0]
                self._run(
                    f"DELETE FROM {quote_identifier(table)} "
                    f"WHERE list_contains(?, CAST({quote_identifier(found[0])} AS VARCHAR))",
                    [[str(v) for v in values]],
                )
        step.table, step.column = root, None

    # -- one table of a batch

    def _stage(
        self, load: LoadHandle, table: str, frame: pl.DataFrame, *, is_root: bool, plain: bool = False
    ) -> Staged:
        """Check and dedupe one frame, register it with DuckDB and read its column types.
        A ``plain`` frame (quarantine) is appended as it is, whatever the write mode."""
        frame = frame.drop(LOAD_ID_COLUMN, strict=False)  # the load id is ours to set
        if frame.width == 0:
            return Staged(
                table, is_root, None, [], 0, plain
            )  # DuckDB cannot scan an Arrow table without columns
        if load.write_mode.keyed and not plain:
            frame = _batch.match_key(load, frame, table, is_root=is_root)
        self._views += 1
        view = f"__tf_batch_{self._views}"
        self.connection.register(view, frame.to_arrow())
        staged = Staged(table, is_root, view, [], frame.height, plain)
        staged.columns = [
            (name, type_name)
            for name, type_name, *_ in self._rows(f"DESCRIBE SELECT * FROM {quote_identifier(view)}")
            # Arrow's null type (no value yet) reads as "NULL"; the column waits for a batch with a type.
            if type_name.strip('"') != "NULL"
        ]
        lowered = [name.lower() for name, _ in staged.columns]
        if len(set(lowered)) != len(lowered):
            raise WarehouseError(
                f"table {table!r}: column names differ only by case, which DuckDB cannot hold"
            )
        return staged

    def _write_staged(self, load: LoadHandle, item: Staged, step: Step, dropped: str | None) -> int:
        """Write one table of a batch; returns the rows written. ``dropped``
        is the batch's temporary table of the row ids a ``discard_row``
        contract left out (their child rows go too)."""
        if item.view is None:
            return 0
        columns = self._evolve(load, item.table, item.columns, step, plain=item.plain)
        step.column = None
        source = item.view
        select, fits = insert_columns(item.columns, columns, load.schema_contract)
        if dropped is not None:
            names = {name.lower() for name, _ in item.columns}
            keep = " AND ".join(fits) if fits else "true"
            if PARENT_ID_COLUMN in names and not item.plain:
                keep += f" AND CAST(_tf_parent_id AS VARCHAR) NOT IN (SELECT id FROM {dropped})"
            if ID_COLUMN in names and not item.plain:
                view = quote_identifier(item.view)
                self._run(
                    f"INSERT INTO {dropped} SELECT CAST(_tf_id AS VARCHAR) FROM {view} "
                    f"WHERE _tf_id IS NOT NULL AND NOT ({keep})"
                )
            self._views += 1
            source = f"__tf_kept_{self._views}"
            self._run(
                f"CREATE TEMP VIEW {source} AS SELECT * FROM {quote_identifier(item.view)} WHERE {keep}"
            )
        try:
            versioned = load.write_mode is WriteMode.SCD2 and not item.plain
            if versioned and item.is_root:
                return self._write_versions(load, item, source, select, columns, dropped)
            if load.write_mode is WriteMode.MERGE and item.is_root:
                self._delete_merged(load, item.table, source, columns, step)
            if versioned:
                select += _scd2.version_columns(load.started_at)
            select.append(f"? AS {quote_identifier(LOAD_ID_COLUMN)}")
            try:
                inserted = self._rows(
                    f"INSERT INTO {quote_identifier(item.table)} BY NAME SELECT {', '.join(select)} "
                    f"FROM {quote_identifier(source)}",
                    [load.load_id],
                )
            except _duckdb.Error:
                step.failed_insert = (item.view, item.columns, columns)  # diagnosed after the rollback
                raise
        finally:
            if source != item.view:
                self._run(f"DROP VIEW IF EXISTS {source}")
        return int(inserted[0][0]) if inserted else item.rows

    def _evolve(
        self, load: LoadHandle, table: str, incoming: list[tuple[str, str]], step: Step, *, plain: bool
    ) -> dict[str, tuple[str, str]]:
        """Create the table or add and widen its columns, as the load's schema
        contract allows (see :func:`plan_changes`); every change goes to
        ``_tf_schema_changes`` in the batch's transaction. Returns the
        table's columns after the change."""
        columns = self._columns(table)
        bookkeeping = _batch.bookkeeping_columns(load, plain=plain)
        changes = plan_changes(table, columns, incoming, load.schema_contract, bookkeeping=bookkeeping)
        qtable = quote_identifier(table)
        if columns is None:
            defs = [f"{quote_identifier(n)} {t}" for n, t in [*incoming, *bookkeeping]]
            self._run(f"CREATE TABLE {qtable} ({', '.join(defs)})")
        for c in changes:
            step.column = c.column
            if columns is not None and c.column is not None:
                column = quote_identifier(c.column)
                if c.change == "column_added":
                    self._run(f"ALTER TABLE {qtable} ADD COLUMN {column} {c.new_type}")
                else:
                    self._run(f"ALTER TABLE {qtable} ALTER COLUMN {column} SET DATA TYPE {c.new_type}")
            self._record_change(load, table, c)
        return self._columns(table) or {}

    def _record_change(self, load: LoadHandle, table: str, c: Change) -> None:
        if c.column in _batch.OWN_COLUMNS:
            return
        self._run(
            "INSERT INTO _tf_schema_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
            [load.load_id, load.pipeline, load.resource, table, c.column, c.change, c.old_type, c.new_type],
        )

    def schema_changes(self) -> pl.DataFrame:
        """``_tf_schema_changes``: every table created, column added and type widened, oldest first."""
        return self.query("SELECT * FROM _tf_schema_changes ORDER BY changed_at, rowid")

    def _delete_merged(
        self, load: LoadHandle, root: str, view: str, columns: dict[str, tuple[str, str]], step: Step
    ) -> None:
        """Delete the root rows the batch replaces, and every child row hanging under them."""
        key = load.primary_key or ()
        keys_sql = ", ".join(
            f"CAST({quote_identifier(k)} AS {columns[k.lower()][1]}) AS {quote_identifier(k)}" for k in key
        )
        distinct_keys = f"(SELECT DISTINCT {keys_sql} FROM {quote_identifier(view)})"
        match = " AND ".join(f"tgt.{quote_identifier(columns[k.lower()][0])} IS NOT DISTINCT FROM "
                             f"k.{quote_identifier(k)}" for k in key)  # fmt: skip
        deleted = self.connection.execute(
            f"DELETE FROM {quote_identifier(root)} AS tgt USING {distinct_keys} AS k WHERE {match}"
        ).fetchone()
        if not deleted or deleted[0] == 0:
            # Children are only ever written with their root row, so no root
            # row replaced means no child row to replace either.
            return
        for child in self._family(root):
            if child.lower() == root.lower():
                continue
            step.table = child
            child_columns = self._columns(child) or {}
            conditions = [
                f"tgt.{quote_identifier(link)} IS NOT DISTINCT FROM "
                f"CAST(k.{quote_identifier(k)} AS {child_columns[link.lower()][1]})"
                for link, k in zip(_batch.root_links(load, root, child, child_columns), key, strict=True)
            ]
            self._run(
                f"DELETE FROM {quote_identifier(child)} AS tgt USING {distinct_keys} AS k "
                f"WHERE {' AND '.join(conditions)}"
            )
        step.table, step.column = root, None

    def _write_versions(
        self,
        load: LoadHandle,
        item: Staged,
        source: str,
        select: list[str],
        columns: dict[str, tuple[str, str]],
        dropped: str | None,
    ) -> int:
        """Write the root rows of an scd2 batch (see :mod:`._scd2`): close the
        current versions of changed rows, add their new versions, and put the
        ids of unchanged rows into ``dropped`` so their child rows stay out."""
        self._views += 1
        incoming, changed = f"__tf_incoming_{self._views}", f"__tf_changed_{self._views}"
        table = quote_identifier(item.table)
        key = [columns[k.lower()][0] for k in load.primary_key or ()]
        names = {name.lower() for name, _ in item.columns}
        compared = [name for name, _ in columns.values() if not name.startswith(BOOKKEEPING_PREFIX)]
        present = [c for c in compared if c.lower() in names]
        absent = [c for c in compared if c.lower() not in names]
        try:
            self._run(
                f"CREATE TEMP TABLE {incoming} AS SELECT {', '.join(select)} FROM {quote_identifier(source)}"
            )
            self._run(
                f"CREATE TEMP TABLE {changed} AS {_scd2.changed_rows(table, incoming, key, present, absent)}"
            )
            if dropped is not None and ID_COLUMN in names:
                unchanged = _scd2.unchanged_ids(incoming, changed, key)
                self._run(f"INSERT INTO {dropped} SELECT CAST(id AS VARCHAR) FROM ({unchanged})")
            if load.scd2_close_missing:
                self._remember_keys(load, incoming, key)
            for target, links in self._version_links(load, item.table):
                for sql in _scd2.retire(
                    quote_identifier(target), links, changed, load.load_id, load.started_at
                ):
                    self._run(sql)
            versions = ", ".join(_scd2.version_columns(load.started_at))
            inserted = self._rows(
                f"INSERT INTO {table} BY NAME SELECT *, {versions}, ? AS {quote_identifier(LOAD_ID_COLUMN)} "
                f"FROM {changed}",
                [load.load_id],
            )
        finally:
            self._run(f"DROP TABLE IF EXISTS {incoming}")
            self._run(f"DROP TABLE IF EXISTS {changed}")
        return int(inserted[0][0]) if inserted else 0

    def _remember_keys(self, load: LoadHandle, incoming: str, key: list[str]) -> None:
        """Keep the keys an scd2 load brought, for closing the others when it ends."""
        seen = self._seen.get(load.load_id)
        keys = ", ".join(quote_identifier(k) for k in key)
        if seen is None:
            self._views += 1
            seen = self._seen[load.load_id] = f"__tf_seen_{self._views}"
        # Created inside the batch's transaction: a rolled-back first batch takes it along.
        self._run(f"CREATE TEMP TABLE IF NOT EXISTS {seen} AS SELECT {keys} FROM {incoming} LIMIT 0")
        self._run(f"INSERT INTO {seen} SELECT {keys} FROM {incoming}")

    def _version_links(self, load: LoadHandle, root: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """Each table of the root's family with the columns matching it to a
        root key: (its column, the key column, its column's type)."""
        out = []
        for table in self._family(root):
            columns = self._columns(table) or {}
            if table.lower() == root.lower():
                links = [columns[k.lower()][0] for k in load.primary_key or ()]
            else:
                links = _batch.root_links(load, root, table, columns)
            types = [columns[link.lower()][1] for link in links]
            out.append((table, list(zip(links, load.primary_key or (), types, strict=True))))
        return out

    def _uncastable_column(
        self, view: str, incoming: list[tuple[str, str]], columns: dict[str, tuple[str, str]]
    ) -> str | None:
        """After a failed insert, find the first column whose values do not cast to the table's type."""
        for name, type_name in incoming:
            target = columns[name.lower()][1]
            if target == type_name:
                continue
            ident = quote_identifier(name)
            try:
                bad = self._rows(
                    f"SELECT count(*) FROM {quote_identifier(view)} "
                    f"WHERE {ident} IS NOT NULL AND TRY_CAST({ident} AS {target}) IS NULL"
                )[0][0]
            except _duckdb.Error:
                return None
            if bad:
                return name
        return None

    def record_rule_results(
        self,
        results: pl.DataFrame,
        *,
        run_id: str,
        pipeline: str,
        resource: str,
        table: str,
        checked_at: dt.datetime | None = None,
    ) -> int:
        """Append a validation report's rows (``Report.to_polars()``) to
        ``_tf_rule_results``, so rule outcomes have a history. Returns rows written."""
        if results.height == 0:
            return 0
        frame = _batch.rule_results_frame(
            results, run_id=run_id, pipeline=pipeline, resource=resource, table=table, checked_at=checked_at
        )
        with self._lock:
            self._views += 1
            view = f"__tf_rules_{self._views}"
            con = self.connection
            con.register(view, frame.to_arrow())
            try:
                self._run(f"INSERT INTO _tf_rule_results BY NAME SELECT * FROM {quote_identifier(view)}")
            except _duckdb.Error as exc:
                raise WarehouseError(f"cannot record rule results of {pipeline}/{resource}: {exc}") from exc
            finally:
                con.unregister(view)
        return frame.height

    def rule_results(self) -> pl.DataFrame:
        """``_tf_rule_results``, oldest first."""
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
                self._run(f"DELETE FROM {_journal.RUNS} WHERE run_id = ?", [run_id])
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
        run_sql, load_sql = _journal.interrupt_sql()
        try:
            self._run("BEGIN")
            for row in runs.iter_rows(named=True):
                self._run(run_sql, [now, row["duration_s"], row["error"], row["run_id"]])
            for load_id in loads:
                self._run(load_sql, [now, _journal.INTERRUPTED_ERROR, load_id])
            self._run("COMMIT")
        except _duckdb.Error as exc:
            self._rollback()
            raise WarehouseError(f"cannot close interrupted runs: {exc}") from exc

    def _alive(self, running: pl.DataFrame, now: dt.datetime) -> set[str]:
        # The file lock keeps every other process out while this one has the
        # file open, so only this process's own runs can be alive.
        return _owners.live_here(running)

    def _save_state(self, load: LoadHandle, state: Mapping[str, Any]) -> None:
        text = _batch.state_text(load, state)
        self._run("DELETE FROM _tf_state WHERE pipeline = ? AND resource = ?", [load.pipeline, load.resource])
        self._run(
            "INSERT INTO _tf_state VALUES (?, ?, ?, ?, ?)",
            [load.pipeline, load.resource, text, load.load_id, dt.datetime.now(dt.timezone.utc)],
        )


def connect(path: str, *, read_only: bool, lock_timeout: float = 0.0) -> _duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file at ``path``, waiting up to
    ``lock_timeout`` seconds while another process holds its lock."""
    deadline = time.monotonic() + max(lock_timeout, 0.0)
    pause = 0.05
    while True:
        try:
            return _duckdb.connect(path, read_only=read_only)
        except _duckdb.ConnectionException as exc:
            # One process cannot hold a file with two different settings.
            raise WarehouseError(
                f"cannot open DuckDB warehouse {path!r}: this process has it open "
                f"{'for writing' if read_only else 'read-only'}; pass that warehouse object instead "
                f"of its path ({exc})"
            ) from None
        except _duckdb.Error as exc:
            holder = _lock_holder(str(exc))
            if holder is None:
                raise WarehouseError(
                    f"cannot open DuckDB warehouse {path!r}: not a readable DuckDB file ({exc})"
                ) from exc
            if time.monotonic() >= deadline:
                pid, started = holder
                who = f"pid {pid}" if pid is not None else "pid unknown"
                since = f", started {started}" if started else ""
                raise WarehouseLocked(
                    f"DuckDB warehouse {path!r} is locked: another process holds it "
                    f"({who}{since}); waited {lock_timeout:g}s",
                    path=path,
                    pid=pid,
                    started=started,
                ) from None
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _lock_holder(message: str) -> tuple[int | None, str | None] | None:
    """The (pid, start time) of the process holding a DuckDB file's lock,
    from DuckDB's refusal; None when the error is not about a lock."""
    if "lock" not in message.lower():
        return None
    found = re.search(r"\(PID (\d+)\)", message)
    if found is None:
        return None, None
    pid = int(found.group(1))
    try:
        import psutil

        started = dt.datetime.fromtimestamp(psutil.Process(pid).create_time(), dt.timezone.utc)
        return pid, started.isoformat(timespec="seconds")
    except Exception:  # gone since, or not ours to look at
        return pid, None
