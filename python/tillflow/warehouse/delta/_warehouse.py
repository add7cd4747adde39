"""The Delta lake: tillflow's warehouse as Delta Lake tables on a local disk
or an S3-compatible store, with the same loads, write modes, schema
contracts and bookkeeping as the DuckDB warehouse, in a format Polars,
DuckDB, Spark, Trino, Athena and Databricks read.

Every table, tillflow's own ``_tf_*`` tables included, is a Delta table
(``deltalake``, delta-rs): zstd Parquet files and a commit log that
``deltalake`` writes atomically on a local disk and on S3. A batch commits
to several tables; :mod:`._commits` explains how it still lands whole or
not at all. Reads (:meth:`DeltaLake.query` and the rest) run DuckDB over
each table's committed version. One writer at a time per pipeline resource;
any number of readers, which never wait for a writer.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb as _duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from tillflow.exceptions import SchemaError, WarehouseError
from tillflow.warehouse import _batch, _owners
from tillflow.warehouse._batch import Staged, Step
from tillflow.warehouse._journal import INTERRUPTED, INTERRUPTED_ERROR, RUNS, Journal
from tillflow.warehouse._reads import _Reads, check_replaceable
from tillflow.warehouse._schema import Change
from tillflow.warehouse.delta._bookkeeping import (
    BOOKKEEPING_COLUMNS,
    CHANGES,
    LOADS,
    RULES,
    STATE,
    is_bookkeeping,
    load_row,
    rows_frame,
    select_cast,
    utc_now,
)
from tillflow.warehouse.delta._commits import Log, Stamp, app_id, roll_back, uncommitted_since
from tillflow.warehouse.delta._layout import Location, encode_segment, parse_partitions
from tillflow.warehouse.delta._writes import ZSTD, Columns, DeltaWrites, delta_ident, merger
from tillflow.warehouse.loads import LoadHandle, LoadSummary, SchemaContract, WriteMode
from tillflow.warehouse.sql import quote_identifier as _q

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["DeltaLake"]

_RAW_LOADS = "__tf_raw_loads"
_RAW_STATE = "__tf_raw_state"


class DeltaLake(DeltaWrites, _Reads, Journal):
    """A Delta lake tillflow loads into, at a local path or ``s3://bucket/prefix``.

    ``partition_by`` maps table names to a column, or ``year``/``month``/
    ``day``/``hour`` of a date or timestamp column (zoned timestamps in UTC;
    the lake adds it as a text column ``<column>_<unit>``), or a list of
    those: ``{"orders": "day(created_at)"}``. For S3, ``endpoint_url``
    (e.g. ``http://127.0.0.1:9000`` for MinIO), ``region`` and the keys
    default to the usual ``AWS_*`` environment variables. ``timezone`` is
    the session time zone of :meth:`query`. ``create=False`` opens only a
    lake that has a table; ``read_only=True`` refuses every write.
    ``run_lease``: a run recorded as running by another host counts as
    interrupted once it has been running that long without finishing.
    """

    def __init__(
        self,
        url: str,
        *,
        partition_by: Mapping[str, str | Sequence[str]] | None = None,
        timezone: str = "UTC",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        create: bool = True,
        read_only: bool = False,
        run_lease: dt.timedelta = dt.timedelta(hours=6),
    ) -> None:
        self.url = str(url)
        self.timezone = timezone
        self.read_only = read_only
        self.run_lease = run_lease
        self.partition_by = parse_partitions(partition_by)
        self._lock = threading.RLock()
        self._views = 0
        self._seen = {}
        self._open: dict[str, DeltaTable] = {}  # lowercase name -> the newest version, kept up to date
        self._schemas: dict[tuple[str, int], Columns] = {}
        self._view_versions: dict[str, int] | None = None
        self._scans: list[str] = []
        self._where = Location(
            self.url, endpoint_url=endpoint_url, region=region, access_key=access_key,
            secret_key=secret_key, session_token=session_token, create=create and not read_only,
        )  # fmt: skip
        self._con: _duckdb.DuckDBPyConnection | None = _duckdb.connect()
        self._con.execute(f"SET TimeZone = '{timezone.replace(chr(39), chr(39) * 2)}'")
        if (not create or read_only) and not self._where.table_names():
            self.close()
            raise WarehouseError(f"no Delta lake at {self.url!r}: it holds no table")

    # -- plumbing

    @property
    def _duck(self) -> _duckdb.DuckDBPyConnection:
        if self._con is None:
            raise WarehouseError(f"Delta lake {self.url!r} is closed")
        return self._con

    @property
    def connection(self) -> _duckdb.DuckDBPyConnection:
        """The DuckDB session reading the lake, its views on every table's committed version."""
        with self._lock:
            self._sync_views()
            return self._duck

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DeltaLake url={self.url!r}{' closed' if self._con is None else ''}>"

    def _rollback(self) -> None:
        pass  # reads change nothing

    def _writable(self) -> None:
        if self.read_only:
            raise WarehouseError(f"Delta lake {self.url!r} is opened read-only")

    def _names(self) -> list[str]:
        return sorted(self._where.table_names())

    def _table(self, name: str) -> DeltaTable | None:
        """``name``'s newest version (names match case-insensitively), or None."""
        key = name.lower()
        table = self._open.get(key)
        if table is not None:
            try:
                table.update_incremental()
                return table
            except (TableNotFoundError, DeltaError, OSError):
                del self._open[key]
        found = [n for n in self._where.table_names() if n.lower() == key]
        if not found:
            return None
        try:
            table = DeltaTable(self._where.table_uri(found[0]), storage_options=self._where.options or None)
        except TableNotFoundError:
            return None
        self._open[key] = table
        return table

    def _log(self, name: str) -> Log:
        return Log(self._where.fs, self._where.table_path(name))

    def _columns_of(self, table: DeltaTable) -> Columns:
        """A table version's columns as DuckDB names their types."""
        key = (table.table_uri, table.version())
        if key not in self._schemas:
            schema = pa.schema(table.schema().to_arrow())
            view = self._register(schema.empty_table())
            try:
                rows = self._rows(f"DESCRIBE SELECT * FROM {view}")
            finally:
                self._duck.unregister(view)
            self._schemas[key] = {n.lower(): (n, t) for n, t, *_ in rows}
        return self._schemas[key]

    def _committed(self) -> dict[str, int]:
        """Each pipeline resource's committed batch number."""
        state = self._table(STATE)
        if state is None:
            return {}
        rows = state.to_pyarrow_table(columns=["app", "seq"]).to_pylist()
        return {row["app"]: int(row["seq"] or 0) for row in rows}

    def _readable(self) -> dict[str, DeltaTable]:
        """Every table at its committed version (a killed or running batch's
        commits left out); tables only such a batch made are left out."""
        committed = self._committed()
        out = {}
        for name in self._names():
            table = self._table(name)
            if table is None:
                continue
            first = uncommitted_since(table, self._log(name), committed) if committed else None
            if first == 0:
                continue
            if first is not None:
                table = DeltaTable(self._where.table_uri(name), version=first - 1,
                                   storage_options=self._where.options or None)  # fmt: skip
            out[name] = table
        return out

    def _sync_views(self) -> None:
        """One DuckDB view per table over its committed version; ``_tf_loads``
        shows a running load's counts from its last committed batch."""
        tables = self._readable()
        versions = {name: table.version() for name, table in tables.items()}
        if versions == self._view_versions:
            return
        con = self._duck
        for scan in self._scans:
            con.unregister(scan)
        self._scans = []
        for name, table in tables.items():
            scan = self._register(self._where.dataset(name, table))
            self._scans.append(scan)
            view = {LOADS: _RAW_LOADS, STATE: _RAW_STATE}.get(name, name)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS SELECT * FROM {scan}")
        for name, columns in BOOKKEEPING_COLUMNS.items():
            if name not in tables:
                view = {LOADS: _RAW_LOADS, STATE: _RAW_STATE}.get(name, name)
                nulls = ", ".join(f"CAST(NULL AS {t}) AS {_q(n)}" for n, t in columns)
                con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS SELECT {nulls} WHERE false")
        running = "l.status = 'running' AND s.row_counts IS NOT NULL"
        totals = "list_sum(map_values(CAST(CAST(s.row_counts AS JSON) AS MAP(VARCHAR, BIGINT))))"
        select = [
            f"CASE WHEN {running} THEN s.row_counts ELSE l.row_counts END AS row_counts" if n == "row_counts"
            else f"CASE WHEN {running} THEN coalesce({totals}, 0) ELSE l.total_rows END AS total_rows"
            if n == "total_rows"
            else f"l.{_q(n)}"
            for n, _ in BOOKKEEPING_COLUMNS[LOADS]
        ]  # fmt: skip
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {LOADS} AS SELECT {', '.join(select)} FROM {_RAW_LOADS} AS l "
            f"LEFT JOIN {_RAW_STATE} AS s ON s.load_id = l.load_id"
        )
        con.execute(f"CREATE OR REPLACE TEMP VIEW {STATE} AS SELECT * FROM {_RAW_STATE}")
        self._view_versions = versions

    # -- reading

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run SQL over the committed tables (and ``_tf_*`` bookkeeping) and
        return a polars frame. Tables are views: statements that write
        change nothing in the lake."""
        with self._lock:
            con = self.connection
            try:
                relation = con.sql(sql, params=params)
                return pl.DataFrame() if relation is None else relation.pl()
            except _duckdb.Error as exc:
                raise WarehouseError(f"query failed: {exc}") from exc

    def tables(self) -> list[str]:
        """User tables, bookkeeping (``_tf_*``) left out."""
        with self._lock:
            return sorted(n for n in self._readable() if not is_bookkeeping(n))

    def row_counts(self) -> dict[str, int]:
        """Rows per user table, from the Delta log (no data file is read)."""
        with self._lock:
            tables = self._readable()
            return {n: _rows_in(t) for n, t in sorted(tables.items()) if not is_bookkeeping(n)}

    def delta_table(self, table: str) -> DeltaTable:
        """The ``deltalake`` table behind ``table``, at its committed version."""
        with self._lock:
            for name, found in self._readable().items():
                if name.lower() == table.lower():
                    return found
        raise WarehouseError(f"Delta lake {self.url!r} has no table {table!r}")

    def table_uri(self, table: str) -> str:
        """Where ``table`` lives, for ``polars.scan_delta`` and other readers."""
        return self._where.table_uri(table)

    def files(self, table: str) -> list[str]:
        """The data files of ``table``'s committed version, relative to the lake."""
        found = self.delta_table(table)
        paths = _add_actions(found).column("path").to_pylist()
        return sorted(f"{encode_segment(_name_of(found))}/{p}" for p in paths)

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None:
        """The source state committed with the last successful batch, or None."""
        with self._lock:
            state = self._table(STATE)
            if state is None:
                return None
            rows = state.to_pyarrow_table(columns=["app", "state"]).to_pylist()
        text = next((r["state"] for r in rows if r["app"] == app_id(pipeline, resource)), None)
        return json.loads(text) if text else None

    def loads(self) -> pl.DataFrame:
        """``_tf_loads``, oldest first (``row_counts`` is JSON text)."""
        return self.query(f"SELECT * FROM {LOADS} ORDER BY load_id")

    def schema_changes(self) -> pl.DataFrame:
        """``_tf_schema_changes``: every table created, column added and type widened, oldest first."""
        frame = self.query(f"SELECT * FROM {CHANGES}")
        return frame.sort("changed_at", maintain_order=True)  # a batch's rows share a stamp, in order

    def rule_results(self) -> pl.DataFrame:
        """``_tf_rule_results``, oldest first."""
        return self.query(f"SELECT * FROM {RULES} ORDER BY checked_at, run_id")

    def _columns(self, table: str) -> Columns | None:
        with self._lock:
            for name, found in self._readable().items():
                if name.lower() == table.lower():
                    return self._columns_of(found)
            return None

    # -- the load lifecycle

    def begin_load(
        self,
        pipeline: str,
        resource: str,
        write_mode: str | WriteMode = WriteMode.APPEND,
        primary_key: Sequence[str] | None = None,
        *,
        root_table: str | None = None,
        schema_contract: str | SchemaContract = SchemaContract.EVOLVE,
        scd2_close_missing: bool = False,
        run_id: str | None = None,
    ) -> LoadHandle:
        """Start a load and commit its ``running`` row to ``_tf_loads``, after
        rolling back what an earlier load of this pipeline resource left
        uncommitted (it was killed mid-batch). The rest is as in
        :meth:`DuckDBWarehouse.begin_load`."""
        load = _batch.start_load(
            pipeline, resource, write_mode, primary_key, root_table=root_table,
            schema_contract=schema_contract, scd2_close_missing=scd2_close_missing, run_id=run_id,
        )  # fmt: skip
        with self._lock:
            self._writable()
            app = app_id(pipeline, resource)
            try:
                committed = self._committed()
                seq = committed.get(app, 0)
                self._recover(app, seq)
                stamp = Stamp(app, seq, load.load_id)
                if app not in committed:  # known from now on, so readers can tell its batches apart
                    self._save_state(load, stamp, None, {}, new=True)
                self._append(LOADS, _bookkeeping_arrow(self, LOADS, [load_row(load, "running", None, None)]),
                             stamp)  # fmt: skip
            except (DeltaError, OSError) as exc:
                raise WarehouseError(f"cannot record load {load.load_id}: {exc}") from exc
        return load

    def _recover(self, app: str, committed: int) -> None:
        """Roll back every commit ``app`` made after its committed batch."""
        for name in self._names():
            table = self._table(name)
            if table is None or (table.transaction_version(app) or 0) <= committed:
                continue
            if not roll_back(table, self._log(name), name, app, committed):
                self._open.pop(name.lower(), None)
                self._where.drop(name)
        self._view_versions = None

    def write_batch(
        self,
        load: LoadHandle,
        tables: Mapping[str, pl.DataFrame],
        state: Mapping[str, Any] | None = None,
        *,
        quarantine: Mapping[str, pl.DataFrame] | None = None,
        delete_where: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, int]:
        """Write one batch (root table first); returns rows written per table.

        The batch's rows, its schema changes, the load's counts and ``state``
        become visible together or not at all (see :mod:`._commits`).
        ``quarantine`` frames (``"<table>__quarantine"``) are appended
        whatever the write mode. ``delete_where`` (``{column: values}``)
        first drops the rows of the root table, its child tables and its
        quarantine table whose column holds one of the values. On failure
        the batch's commits are rolled back, earlier batches stay, and a
        ``WarehouseError`` names the table.
        """
        root = _batch.check_batch(load, tables, state, quarantine)
        if state is not None:
            _batch.state_text(load, state)  # refused before anything is written
        written: dict[str, int] = {}
        with self._lock:
            self._writable()
            app = app_id(load.pipeline, load.resource)
            stamp = Stamp(app, self._committed().get(app, 0) + 1, load.load_id)
            step = Step(root)
            staged: list[Staged] = []
            dropped = None
            try:
                try:
                    for position, (table, frame) in enumerate(tables.items()):
                        step.table = table
                        staged.append(self._stage(load, table, frame, is_root=position == 0))
                    for table, frame in (quarantine or {}).items():
                        step.table = table
                        if frame.height:
                            staged.append(self._stage(load, table, frame, is_root=False, plain=True))
                    if load.write_mode is WriteMode.REPLACE and load.batches == 0 and tables:
                        for table in self._family(root):
                            step.table = table
                            self._empty(table, stamp)
                    if delete_where:
                        self._delete_where(root, delete_where, step, stamp)
                    if (
                        load.schema_contract is SchemaContract.DISCARD_ROW
                        or load.write_mode is WriteMode.SCD2
                    ):
                        dropped = self._name("dropped")
                        self._run(f"CREATE TEMP TABLE {dropped} (id VARCHAR)")
                    changes: list[tuple[str, Change]] = []
                    for item in staged:
                        step.table, step.column = item.table, None
                        written[item.table] = self._write_staged(load, item, step, dropped, stamp, changes)
                    counts = _batch.add_counts(load.row_counts, written)
                    step.table, step.column = CHANGES, None
                    if changes:
                        at = utc_now()  # one stamp per batch, as one transaction has
                        rows = [_change_row(load, table, c, at) for table, c in changes]
                        self._append(CHANGES, _bookkeeping_arrow(self, CHANGES, rows), stamp)
                    step.table = STATE
                    self._save_state(load, stamp, state, counts)
                finally:
                    for item in staged:
                        if item.view is not None:
                            self._duck.unregister(item.view)
                    if dropped is not None:
                        self._run(f"DROP TABLE IF EXISTS {dropped}")
                    for scan in self._scans_in_batch():
                        self._duck.unregister(scan)
            except BaseException as exc:
                self._undo(stamp, exc)
                if isinstance(exc, (WarehouseError, SchemaError)) or not isinstance(exc, Exception):
                    raise
                where = f"table {step.table!r}" + (f", column {step.column!r}" if step.column else "")
                raise WarehouseError(f"load {load.load_id}: batch failed at {where}: {exc}") from exc
        load.row_counts = counts
        _batch.batch_written(load, tables, root)
        return written

    def _scans_in_batch(self) -> list[str]:
        """The scans a batch registered, whatever registered them (view scans stay)."""
        keep = set(self._scans)
        for (name,) in self._rows(
            "SELECT view_name FROM duckdb_views() WHERE temporary AND view_name LIKE '__tf_scan_%'"
        ):
            self._run(f"DROP VIEW IF EXISTS {_q(name)}")
        return [
            name for (name,) in self._rows("SELECT name FROM (SHOW TABLES) WHERE name LIKE '__tf_scan_%'")
            if name not in keep
        ]  # fmt: skip

    def _undo(self, stamp: Stamp, exc: BaseException) -> None:
        """Roll back a failed batch's commits; a rollback that fails too is
        noted on the batch's error (the next load of the resource retries it)."""
        try:
            self._recover(stamp.app, stamp.seq - 1)
        except Exception as undo:
            exc.add_note(f"rolling the batch back failed too (the next load retries): {undo}")

    def _empty(self, table: str, stamp: Stamp) -> None:
        target = self._table(table)
        if target is not None and _rows_in(target):
            target.delete(commit_properties=stamp.properties())

    def _save_state(
        self,
        load: LoadHandle,
        stamp: Stamp,
        state: Mapping[str, Any] | None,
        counts: Mapping[str, int],
        *,
        new: bool = False,
    ) -> None:
        """The batch's commit point: its row of ``_tf_state`` (the state, when
        given, the load's counts and the batch number), in one commit."""
        row = {
            "app": stamp.app, "pipeline": load.pipeline, "resource": load.resource,
            "state": None if state is None else _batch.state_text(load, state), "load_id": load.load_id,
            "updated_at": utc_now(), "seq": stamp.seq, "row_counts": json.dumps(dict(counts)),
        }  # fmt: skip
        arrow = _bookkeeping_arrow(self, STATE, [row])
        target = self._table(STATE)
        if target is None or new:
            self._append(STATE, arrow, stamp)
            return
        updates = {
            delta_ident(n): f"s.{delta_ident(n)}"
            for n in arrow.column_names
            if n != "state" or state is not None
        }
        (
            merger(target, arrow, 't."app" = s."app"', stamp)
            .when_matched_update(updates)
            .when_not_matched_insert_all()
            .execute()
        )

    def finish_load(
        self, load: LoadHandle, status: str = "completed", error: str | None = None
    ) -> LoadSummary:
        """Close a load: commit its final row to ``_tf_loads``. A completed
        replace load that wrote no batch empties its tables first, and a
        completed scd2 load with ``scd2_close_missing`` closes the current
        versions of the keys it did not bring, as one more batch."""
        _batch.check_finish(load, status)
        finished_at = utc_now()
        with self._lock:
            self._writable()
            app = app_id(load.pipeline, load.resource)
            seen_key = load.load_id
            try:
                closing = load.scd2_close_missing and status == "completed"
                if _batch.empties_at_finish(load, status) or closing:
                    stamp = Stamp(app, self._committed().get(app, 0) + 1, load.load_id)
                    try:
                        if _batch.empties_at_finish(load, status):
                            for table in self._family(load.root_table or load.resource):
                                self._empty(table, stamp)
                        if closing:
                            self._close_missing(load, stamp)
                        self._save_state(load, stamp, None, load.row_counts)
                    except BaseException as exc:
                        self._undo(stamp, exc)
                        raise
                stamp = Stamp(app, self._committed().get(app, 0), load.load_id)
                row = load_row(load, status, finished_at, error, load.row_counts)
                self._upsert(LOADS, _bookkeeping_arrow(self, LOADS, [row]), "load_id", stamp)
            except (DeltaError, OSError, _duckdb.Error) as exc:
                raise WarehouseError(f"cannot finish load {load.load_id}: {exc}") from exc
            finally:
                self._seen.pop(seen_key, None)
        return _batch.finished(load, status, finished_at, error)

    def _upsert(self, table: str, arrow: pa.Table, key: str, stamp: Stamp | None) -> None:
        """Insert or replace rows of a bookkeeping table by ``key``, in one commit."""
        target = self._table(table)
        if target is None:
            write_deltalake(self._where.table_uri(table), arrow, mode="append", writer_properties=ZSTD,
                            commit_properties=stamp.properties() if stamp else None,
                            storage_options=self._where.options or None)  # fmt: skip
            return
        (
            merger(target, arrow, f"t.{delta_ident(key)} = s.{delta_ident(key)}", stamp)
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )

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
        ``_tf_rule_results`` in one commit. Returns rows written."""
        if results.height == 0:
            return 0
        frame = _batch.rule_results_frame(results, run_id, pipeline, resource, table, checked_at)
        with self._lock:
            self._writable()
            try:
                self._write_rows(RULES, frame)
            except (DeltaError, OSError, _duckdb.Error) as exc:
                raise WarehouseError(f"cannot record rule results of {pipeline}/{resource}: {exc}") from exc
        return frame.height

    def replace_tables(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Creates or replaces each table with its frame, one commit per table."""
        check_replaceable(frames)
        with self._lock:
            self._writable()
            try:
                for name, frame in frames.items():
                    target = self._table(name)
                    arrow = _storable_arrow(self, frame)
                    write_deltalake(
                        target if target is not None else self._where.table_uri(name), arrow,
                        mode="overwrite", schema_mode="overwrite", writer_properties=ZSTD,
                        storage_options=None if target is not None else self._where.options or None,
                    )  # fmt: skip
            except (DeltaError, OSError, _duckdb.Error, WarehouseError) as exc:
                raise WarehouseError(f"cannot write tables {', '.join(map(repr, frames))}: {exc}") from exc
            self._view_versions = None

    # -- the monitor's journal

    def _write_rows(self, table: str, frame: pl.DataFrame) -> None:
        arrow = _bookkeeping_arrow(self, table, frame)
        if arrow.num_rows:
            self._append(table, arrow, Stamp("tillflow:journal", 0, ""))

    def _append_journal(self, frames: Mapping[str, pl.DataFrame], replacing: Sequence[str]) -> None:
        self._writable()
        try:
            for table, frame in frames.items():
                if table == RUNS:
                    self._upsert(RUNS, _bookkeeping_arrow(self, RUNS, frame), "run_id", None)
                else:
                    self._write_rows(table, frame)
        except (DeltaError, OSError, _duckdb.Error) as exc:
            raise WarehouseError(f"cannot write the monitor's tables: {exc}") from exc

    def _interrupt(self, runs: pl.DataFrame, loads: Sequence[str], now: dt.datetime) -> None:
        with self._lock:
            self._writable()
            self._upsert(RUNS, _bookkeeping_arrow(self, RUNS, runs), "run_id", None)
            if loads:
                rows = self.query(
                    f"SELECT * FROM {LOADS} WHERE list_contains($ids, load_id)", {"ids": list(loads)}
                )
                closed = rows.with_columns(
                    pl.lit(INTERRUPTED).alias("status"),
                    pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("finished_at"),
                    pl.lit(INTERRUPTED_ERROR).alias("error"),
                )
                self._upsert(LOADS, _bookkeeping_arrow(self, LOADS, closed), "load_id", None)

    def _alive(self, running: pl.DataFrame, now: dt.datetime) -> set[str]:
        alive = set()
        for row in running.iter_rows(named=True):
            here = _owners.process_alive(row)
            if here is None:  # another host: alive while its lease lasts
                seen = row.get("heartbeat_at") or row.get("started_at")
                here = seen is not None and now - seen < self.run_lease
            if here:
                alive.add(row["run_id"])
        return alive

    # -- upkeep

    def compact(self, tables: Sequence[str] | None = None, *, min_files: int = 2) -> dict[str, int]:
        """Merge small files (of ``tables``, default every user table with at
        least ``min_files`` files) with Delta's ``optimize.compact``, one
        commit per table. Returns the files removed per table; :meth:`vacuum`
        later deletes them."""
        with self._lock:
            self._writable()
            names = (
                list(tables) if tables is not None else [n for n in self._names() if not is_bookkeeping(n)]
            )
            removed = {}
            for name in names:
                target = self._table(name)
                if target is None:
                    raise WarehouseError(f"Delta lake {self.url!r} has no table {name!r}")
                if len(target.file_uris()) < max(2, min_files):
                    continue
                metrics = target.optimize.compact(writer_properties=ZSTD)
                if metrics.get("numFilesRemoved"):
                    removed[_name_of(target)] = int(metrics["numFilesRemoved"])
            self._view_versions = None
            return removed

    def vacuum(self, *, retain: dt.timedelta | float = dt.timedelta(hours=1)) -> list[str]:
        """Delete the data files no version younger than ``retain`` (seconds
        or a timedelta, rounded up to whole hours as Delta counts them)
        needs: those replace, merge and compact left behind, and those of
        commits that never happened (a write that failed or was killed).
        Files younger than ``retain`` stay, so a writer in flight keeps its
        own. Returns the deleted paths, relative to the lake."""
        keep_for = retain if isinstance(retain, dt.timedelta) else dt.timedelta(seconds=retain)
        hours = math.ceil(keep_for.total_seconds() / 3600)
        with self._lock:
            self._writable()
            deleted = []
            for name in self._names():
                target = self._table(name)
                if target is None:
                    continue
                gone = target.vacuum(
                    retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=True
                )
                deleted += [f"{encode_segment(name)}/{path}" for path in gone]
            return sorted(deleted)


# -- helpers without state


def _add_actions(table: DeltaTable) -> pa.Table:
    """The table version's data files (path, size, rows, partition values) as Arrow."""
    return pa.table(table.get_add_actions(flatten=True))


def _rows_in(table: DeltaTable) -> int:
    return int(sum(_add_actions(table).column("num_records").to_pylist()))


def _name_of(table: DeltaTable) -> str:
    from tillflow.warehouse.delta._layout import decode_segment

    return decode_segment(table.table_uri.rstrip("/").rsplit("/", 1)[-1])


def _bookkeeping_arrow(lake: DeltaLake, table: str, rows: list[dict[str, Any]] | pl.DataFrame) -> pa.Table:
    """Rows of a bookkeeping table in its exact column types."""
    frame = rows if isinstance(rows, pl.DataFrame) else rows_frame(table, rows)
    view = lake._register(frame.to_arrow())
    try:
        return lake._arrow(select_cast(BOOKKEEPING_COLUMNS[table], _q(view), frame.columns))
    finally:
        lake._duck.unregister(view)


def _storable_arrow(lake: DeltaLake, frame: pl.DataFrame) -> pa.Table:
    from tillflow.warehouse.delta._writes import _storable

    frame = _storable("table", frame)
    view = lake._register(frame.to_arrow())
    try:
        return lake._arrow(f"SELECT * FROM {view}")
    finally:
        lake._duck.unregister(view)


def _change_row(load: LoadHandle, table: str, c: Change, at: dt.datetime) -> dict[str, Any]:
    return {
        "load_id": load.load_id, "pipeline": load.pipeline, "resource": load.resource, "table": table,
        "column": c.column, "change": c.change, "old_type": c.old_type, "new_type": c.new_type,
        "changed_at": at,
    }  # fmt: skip
