"""The Delta lake: tillflow's warehouse as Delta Lake tables on a local disk
or an S3-compatible store, with the same loads, write modes, schema
contracts and bookkeeping as the DuckDB warehouse, in a format Polars,
DuckDB, Spark, Trino, Athena and Databricks read.

Every table, tillflow's own ``_tf_*`` tables included, is a Delta table
(``deltalake``, delta-rs): zstd Parquet files and a commit log that
``deltalake`` writes atomically on a local disk and on S3. A batch commits
to several tables; `_commits` explains how it still lands whole or
not at all. Reads ([DeltaLake.query][tillflow.warehouse.Warehouse.query] and the rest) run DuckDB over
each table's committed version. One writer at a time per pipeline resource;
any number of readers, which never wait for a writer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb as _duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from tillflow.exceptions import WarehouseError
from tillflow.warehouse import _batch, owners
from tillflow.warehouse._base import Batch, WarehouseBase
from tillflow.warehouse._batch import Staged
from tillflow.warehouse._reads import _Reads
from tillflow.warehouse._schema import Change
from tillflow.warehouse._staging import Columns
from tillflow.warehouse.journal import INTERRUPTED, INTERRUPTED_ERROR, RUNS
from tillflow.warehouse.lake._bookkeeping import (
    BOOKKEEPING_COLUMNS,
    CHANGES,
    LOADS,
    RULES,
    STATE,
    load_row,
    rows_frame,
    select_cast,
    utc_now,
)
from tillflow.warehouse.lake._commits import Stamp, app_id
from tillflow.warehouse.lake._layout import Location, parse_partitions
from tillflow.warehouse.lake._tables import rows_in
from tillflow.warehouse.lake._upkeep import DeltaUpkeep
from tillflow.warehouse.lake._views import DeltaViews
from tillflow.warehouse.lake._writes import ZSTD, DeltaWrites, delta_ident, merger
from tillflow.warehouse.loads import LoadHandle
from tillflow.warehouse.sql import quote_identifier as _q

if TYPE_CHECKING:
    pass

__all__ = ["DeltaLake"]


@dataclasses.dataclass
class _Commit:
    """What a batch's steps share: its stamp, the temporary table of the row
    ids it leaves out, and its schema changes (recorded before its commit point)."""

    stamp: Stamp
    dropped: str | None = None
    changes: list[tuple[str, Change]] = dataclasses.field(default_factory=list)


class DeltaLake(DeltaWrites, DeltaUpkeep, DeltaViews, WarehouseBase, _Reads):
    """A Delta lake tillflow loads into, at a local path or ``s3://bucket/prefix``.

    ``partition_by`` maps table names to a column, or ``year``/``month``/
    ``day``/``hour`` of a date or timestamp column (zoned timestamps in UTC;
    the lake adds it as a text column ``<column>_<unit>``), or a list of
    those: ``{"orders": "day(created_at)"}``. For S3, ``endpoint_url``
    (e.g. ``http://127.0.0.1:9000`` for MinIO), ``region`` and the keys
    default to the usual ``AWS_*`` environment variables. ``timezone`` is
    the session time zone of `query`. ``create=False`` opens only a
    lake that has a table; ``read_only=True`` refuses every write.
    ``run_lease``: a run recorded as running by another host counts as
    interrupted once it has shown no sign of life (its start, or the
    heartbeat its batches renew) for that long.

    A lake is a context manager: leaving the ``with`` block closes it.

    Parameters
    ----------
    url
        A local folder, or ``s3://bucket/prefix``.
    partition_by
        Table names mapped to partition specs (a column, ``day(column)`` and
        the like, or a list of them).
    timezone
        The session time zone of queries.
    endpoint_url
        An S3-compatible endpoint (``http://`` or ``https://``).
    region
        The S3 region.
    access_key
        The S3 access key; needs ``secret_key``.
    secret_key
        The S3 secret key.
    session_token
        A temporary credential's session token.
    create
        Whether a lake may be created where there is none.
    read_only
        Refuse every write.
    run_lease
        How long a run another host recorded as running counts as alive
        without a sign of life.

    Raises
    ------
    ConfigError
        If ``partition_by`` is not a mapping of tables to partition specs.
    WarehouseError
        If the location cannot be opened or set up (a local path that is a
        file, a missing folder or bucket, a bad endpoint, an access key
        without its secret), or, with ``create=False`` or ``read_only=True``,
        it holds no table.
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
        super().__init__()
        self._views = 0
        self._seen: dict[str, pa.Table] = {}
        self._beats: dict[str, dt.datetime] = {}  # run id -> its last heartbeat
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

    def _where_named(self) -> str:
        return f"Delta lake {self.url!r}"

    def __repr__(self) -> str:
        return f"<DeltaLake url={self.url!r}{' closed' if self._con is None else ''}>"

    def _rollback(self) -> None:
        pass  # reads change nothing

    def _bookkeeping(self, table: str, rows: list[dict[str, Any]] | pl.DataFrame) -> pa.Table:
        """Rows of a bookkeeping table in its exact column types."""
        frame = rows if isinstance(rows, pl.DataFrame) else rows_frame(table, rows)
        view = self._register(frame.to_arrow())
        try:
            return self._arrow(select_cast(BOOKKEEPING_COLUMNS[table], _q(view), frame.columns))
        finally:
            self._duck.unregister(view)

    def _storable_arrow(self, frame: pl.DataFrame) -> pa.Table:
        view = self._register(self._storable("table", frame).to_arrow())
        try:
            return self._arrow(f"SELECT * FROM {view}")
        finally:
            self._duck.unregister(view)

    def _writable(self) -> None:
        if self.read_only:
            raise WarehouseError(f"Delta lake {self.url!r} is opened read-only")

    def _record_begin(self, load: LoadHandle) -> None:
        """Commit the load's ``running`` row, after rolling back what an
        earlier load of the same pipeline resource left uncommitted (it was
        killed mid-batch)."""
        self._writable()
        app = app_id(load.pipeline, load.resource)
        try:
            committed = self._committed()
            seq = committed.get(app, 0)
            self._recover(app, seq)
            stamp = Stamp(app, seq, load.load_id)
            if app not in committed:  # known from now on, so readers can tell its batches apart
                self._save_state(load, stamp, None, {}, new=True)
            self._append(LOADS, self._bookkeeping(LOADS, [load_row(load, "running", None, None)]), stamp)
        except (DeltaError, OSError) as exc:
            raise WarehouseError(f"cannot record load {load.load_id}: {exc}") from exc

    def _next_stamp(self, load: LoadHandle) -> Stamp:
        app = app_id(load.pipeline, load.resource)
        return Stamp(app, self._committed().get(app, 0) + 1, load.load_id)

    def _start_batch(self, batch: Batch) -> None:
        self._writable()
        batch.engine = _Commit(self._next_stamp(batch.load))
        if batch.drops_rows:
            batch.engine.dropped = self._name("dropped")
            self._run(f"CREATE TEMP TABLE {batch.engine.dropped} (id VARCHAR)")

    def _empty_family(self, batch: Batch) -> None:
        for table in self._family(batch.root):
            batch.step.table = table
            target = self._table(table)
            if target is not None and rows_in(target):
                target.delete(commit_properties=batch.engine.stamp.properties())

    def _write_table(self, batch: Batch, item: Staged) -> int:
        commit: _Commit = batch.engine
        return self._write_staged(batch.load, item, batch.step, commit.dropped, commit.stamp, commit.changes)

    def _commit_batch(self, batch: Batch, counts: dict[str, int], state: Mapping[str, Any] | None) -> None:
        """The schema changes, then the batch's commit point: its row of ``_tf_state``."""
        commit: _Commit = batch.engine
        batch.step.table = CHANGES
        if commit.changes:
            at = utc_now()  # one stamp per batch, as one transaction has
            rows = [_change_row(batch.load, table, c, at) for table, c in commit.changes]
            self._append(CHANGES, self._bookkeeping(CHANGES, rows), commit.stamp)
        batch.step.table = STATE
        self._save_state(batch.load, commit.stamp, state, counts)
        self._renew(batch.load.run_id)

    def _renew(self, run_id: str | None) -> None:
        """The run's sign of life for readers on other hosts (``run_lease``),
        at most once a minute; best effort, after the batch committed."""
        now = utc_now()
        last = self._beats.get(run_id or "")
        target = self._table(RUNS) if run_id else None
        if target is None or (last is not None and now - last < dt.timedelta(minutes=1)):
            return
        self._beats[run_id or ""] = now
        beat = pa.table({"run_id": [run_id], "heartbeat_at": pa.array([now], pa.timestamp("us", "UTC"))})
        try:
            match = 't."run_id" = s."run_id" AND t."status" = \'running\''
            renew = merger(target, beat, match, None)
            renew.when_matched_update({'"heartbeat_at"': 's."heartbeat_at"'}).execute()
        except (DeltaError, OSError):
            pass  # the next batch renews it

    def _end_batch(self, batch: Batch) -> None:
        self._unstage(batch.staged)
        if batch.engine is not None and batch.engine.dropped is not None:
            self._run(f"DROP TABLE IF EXISTS {batch.engine.dropped}")
        keep = set(self._scans)
        for (name,) in self._rows(
            "SELECT view_name FROM duckdb_views() WHERE temporary AND view_name LIKE '__tf_scan_%'"
        ):
            self._run(f"DROP VIEW IF EXISTS {_q(name)}")
        for (name,) in self._rows("SELECT name FROM (SHOW TABLES) WHERE name LIKE '__tf_scan_%'"):
            if name not in keep:
                self._duck.unregister(name)

    def _abort(self, batch: Batch, exc: BaseException) -> None:
        """Roll back the commits of a failed batch; a rollback that fails too
        is noted on the batch's error (the next load of the resource retries it)."""
        if batch.engine is None:
            return
        stamp = batch.engine.stamp
        try:
            self._recover(stamp.app, stamp.seq - 1)
        except Exception as undo:
            exc.add_note(f"rolling the batch back failed too (the next load retries): {undo}")

    def _start_finish(self, batch: Batch, changes_tables: bool) -> None:
        self._writable()
        if changes_tables:  # emptying tables or closing versions: one more batch
            batch.engine = _Commit(self._next_stamp(batch.load))

    def _close_missing(self, batch: Batch) -> None:
        self._close_versions(batch.load, batch.engine.stamp)

    def _commit_finish(self, batch: Batch, status: str, finished_at: dt.datetime, error: str | None) -> None:
        load = batch.load
        if batch.engine is not None:
            self._save_state(load, batch.engine.stamp, None, load.row_counts)
        app = app_id(load.pipeline, load.resource)
        committed = Stamp(app, self._committed().get(app, 0), load.load_id)
        row = load_row(load, status, finished_at, error, load.row_counts)
        self._upsert(LOADS, self._bookkeeping(LOADS, [row]), "load_id", committed)

    def _end_finish(self, batch: Batch) -> None:
        self._seen.pop(batch.load.load_id, None)

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
        arrow = self._bookkeeping(STATE, [row])
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

    def _append_rule_results(self, frame: pl.DataFrame) -> None:
        self._writable()
        self._write_rows(RULES, frame)

    def _replace(self, frames: Mapping[str, pl.DataFrame]) -> None:
        self._writable()
        try:
            for name, frame in frames.items():
                target = self._table(name)
                where = target if target is not None else self._where.table_uri(name)
                write_deltalake(
                    where, self._storable_arrow(frame), mode="overwrite", schema_mode="overwrite",
                    writer_properties=ZSTD,
                    storage_options=None if target is not None else self._where.options or None,
                )  # fmt: skip
        finally:
            self._view_versions = None

    # -- the monitor's journal

    def _write_rows(self, table: str, frame: pl.DataFrame) -> None:
        arrow = self._bookkeeping(table, frame)
        if arrow.num_rows:
            self._append(table, arrow, Stamp("tillflow:journal", 0, ""))

    def _append_journal(self, frames: Mapping[str, pl.DataFrame], replacing: Sequence[str]) -> None:
        self._writable()
        try:
            for table, frame in frames.items():
                if table == RUNS:
                    self._upsert(RUNS, self._bookkeeping(RUNS, frame), "run_id", None)
                else:
                    self._write_rows(table, frame)
        except (DeltaError, OSError, _duckdb.Error) as exc:
            raise WarehouseError(f"cannot write the monitor's tables: {exc}") from exc

    def _interrupt(self, runs: pl.DataFrame, loads: Sequence[str], now: dt.datetime) -> None:
        with self._lock:
            self._writable()
            self._upsert(RUNS, self._bookkeeping(RUNS, runs), "run_id", None)
            if loads:
                rows = self.query(
                    f"SELECT * FROM {LOADS} WHERE list_contains($ids, load_id)", {"ids": list(loads)}
                )
                closed = rows.with_columns(
                    pl.lit(INTERRUPTED).alias("status"),
                    pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("finished_at"),
                    pl.lit(INTERRUPTED_ERROR).alias("error"),
                )
                self._upsert(LOADS, self._bookkeeping(LOADS, closed), "load_id", None)

    def _alive(self, running: pl.DataFrame, now: dt.datetime) -> set[str]:
        alive = set()
        for row in running.iter_rows(named=True):
            here = owners.process_alive(row)
            if here is None:  # another host: alive while its lease lasts
                seen = row.get("heartbeat_at") or row.get("started_at")
                here = seen is not None and now - seen < self.run_lease
            if here:
                alive.add(row["run_id"])
        return alive


# -- helpers without state


def _change_row(load: LoadHandle, table: str, c: Change, at: dt.datetime) -> dict[str, Any]:
    return {
        "load_id": load.load_id, "pipeline": load.pipeline, "resource": load.resource, "table": table,
        "column": c.column, "change": c.change, "old_type": c.old_type, "new_type": c.new_type,
        "changed_at": at,
    }  # fmt: skip
