"""The Parquet lake: tillflow's warehouse as Parquet files on a local disk or
an S3-compatible store, with the same loads, write modes, schema contracts
and bookkeeping as the DuckDB warehouse.

Layout. Each table is a folder (its name percent-encoded, so any name is a
safe path), optionally hive-partitioned (``created_at_day=2024-05-01/``),
of zstd-compressed Parquet files written from Arrow. Every file holds all
of the table's columns as they were when it was written, the partition
column included, so each file reads on its own. ``_tf_loads``,
``_tf_schema_changes`` and ``_tf_rule_results`` are tables of the lake
too; ``_tf_lake/`` holds the commit log.

Commits. A file counts only once a commit names it. A batch first writes its
data files under fresh unique names, then publishes one commit file,
``_tf_lake/log/<version>.json``, listing the files it adds and removes per
table, the tables' columns, the source state and the load's running row
counts. Publishing is the one atomic step: on S3 a single PUT, on a local
disk a synced temporary file linked to its final name (which also refuses a
second writer taking the same version). A process killed at any point
leaves either the whole commit or none of it; the files of a commit that
never appeared are ignored by every reader and deleted by :meth:`vacuum`.

Bounded log. Every 50 commits the writer also stores the whole manifest as
a snapshot (``_tf_lake/snapshots/``) and deletes the commits and snapshots
older than the one before it, so opening or refreshing a lake reads one
snapshot and at most 100 small commit files, however long its history.
Data files removed by replace or merge stay on disk for readers still using
an older version until :meth:`vacuum` deletes them.

Schema evolution is metadata: a commit records the table's new columns and
types, and readers cast every file to them (missing columns read as null),
so old files are never rewritten for a new column or a wider type. Merge
(upsert) rewrites only the files holding a replaced key: files keep the
min and max of their key columns, so a merge reads the keys of only the
files whose range could hold one.

Small files. The bookkeeping tables fold their files into one once they
have 32; :meth:`compact` merges each partition's files of user tables.

Storage. Files go through ``pyarrow.fs`` (local or S3, with
``endpoint_override`` for S3-compatible stores): pyarrow is already
tillflow's dependency, writes Parquet straight to either, and needs no
second S3 client. :meth:`query` runs DuckDB over views of the committed
files, as pyarrow datasets: DuckDB's own S3 reader is an extension it would
download at run time. One writer at a time per lake; any number of readers.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb as _duckdb
import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs

from tillflow.exceptions import SchemaError, WarehouseError
from tillflow.warehouse import _owners
from tillflow.warehouse._batch import (
    check_batch,
    check_finish,
    family,
    finished,
    rule_results_frame,
    start_load,
    state_text,
)
from tillflow.warehouse._journal import INTERRUPTED, INTERRUPTED_ERROR, JOURNAL, RUNNING, RUNS, Journal
from tillflow.warehouse._lake_files import (
    BOOKKEEPING_COLUMNS,
    CHANGES,
    DATA_FILE,
    LOADS,
    RULES,
    STATE,
    PartitionSpec,
    Txn,
    is_bookkeeping,
    parse_partitions,
    rows_frame,
    select_cast,
    to_arrow,
    utc_now,
)
from tillflow.warehouse._lake_log import (
    LAKE_DIR,
    Log,
    TableMeta,
    open_store,
    state_key,
)
from tillflow.warehouse._lake_writes import LakeTableWrites, _Staged, _Step
from tillflow.warehouse._reads import _Reads, check_replaceable
from tillflow.warehouse.loads import (
    LoadHandle,
    LoadSummary,
    SchemaContract,
    WriteMode,
)
from tillflow.warehouse.sql import quote_identifier as _q

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ParquetLake", "PartitionSpec"]


class ParquetLake(LakeTableWrites, _Reads, Journal):
    """A lake of Parquet files that tillflow loads into, at a local path or ``s3://bucket/prefix``.

    ``partition_by`` maps table names to a column, or ``year``/``month``/
    ``day``/``hour`` of a date or timestamp column (zoned timestamps in UTC),
    or a list of those for nested folders: ``{"orders": "day(created_at)"}``.
    For S3, ``endpoint_url`` (e.g. ``http://127.0.0.1:9000`` for MinIO),
    ``region`` and the keys default to the usual ``AWS_*`` environment
    variables and files; ``filesystem`` takes any pyarrow file system
    instead. ``timezone`` is the session time zone of :meth:`query`, as in
    the DuckDB warehouse. ``threads`` is how many files are read or written
    at once. ``create=False`` opens only a lake that has a commit (a
    ``WarehouseError`` names the path otherwise). ``run_lease``: a run
    recorded as running by another host counts as interrupted once it has
    committed nothing for that long (see :mod:`tillflow.warehouse._owners`).
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
        filesystem: pafs.FileSystem | None = None,
        threads: int = 8,
        create: bool = True,
        run_lease: dt.timedelta = dt.timedelta(hours=6),
    ) -> None:
        self.url = str(url)
        self.run_lease = run_lease
        self.timezone = timezone
        self.partition_by = parse_partitions(partition_by)
        self._lock = threading.RLock()
        self._views = 0
        self._store = open_store(
            self.url, filesystem=filesystem, endpoint_url=endpoint_url, region=region,
            access_key=access_key, secret_key=secret_key, session_token=session_token, create=create,
        )  # fmt: skip
        self._log = Log(self._store)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max(1, threads), thread_name_prefix="tillflow-lake"
        )
        self._con: _duckdb.DuckDBPyConnection | None = _duckdb.connect()
        self._view_version = -1
        self._view_names: list[str] = []
        self._datasets: list[str] = []
        try:
            self._con.execute(f"SET TimeZone = '{timezone.replace(chr(39), chr(39) * 2)}'")
            self._snap = self._log.load(None)
        except (OSError, _duckdb.Error) as exc:
            self.close()
            raise WarehouseError(f"cannot open Parquet lake {self.url!r}: {exc}") from exc
        if not create and self._snap.version == 0:
            self.close()
            raise WarehouseError(f"no Parquet lake at {self.url!r}: it holds no commit")

    # -- plumbing

    @property
    def connection(self) -> _duckdb.DuckDBPyConnection:
        """The DuckDB session reading the lake, its views up to date with the newest commit."""
        with self._lock:
            self._refresh()
            self._sync_views()
            return self._duck

    @property
    def _duck(self) -> _duckdb.DuckDBPyConnection:
        if self._con is None:
            raise WarehouseError(f"Parquet lake {self.url!r} is closed")
        return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._con is None else ""
        return f"<ParquetLake url={self.url!r} version={self._snap.version}{state}>"

    def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self._duck.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._duck.execute(sql, params)

    def _rollback(self) -> None:
        pass  # nothing of a failed write is visible: its commit was never published

    def _refresh(self) -> None:
        try:
            self._snap = self._log.load(self._snap)
        except OSError as exc:
            raise WarehouseError(f"cannot read Parquet lake {self.url!r}: {exc}") from exc

    @property
    def version(self) -> int:
        """The number of the newest commit this lake object has read."""
        return self._snap.version

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
            self._refresh()
            return sorted(m.name for m in self._snap.tables.values() if not is_bookkeeping(m.name))

    def row_counts(self) -> dict[str, int]:
        """Rows per user table, from the manifest (no data file is read)."""
        with self._lock:
            self._refresh()
            metas = sorted(self._snap.tables.values(), key=lambda m: m.name)
            return {m.name: m.rows for m in metas if not is_bookkeeping(m.name)}

    def files(self, table: str) -> list[str]:
        """The committed data files of ``table``, as paths (or URLs) under the lake."""
        with self._lock:
            self._refresh()
            meta = self._snap.tables.get(table.lower())
            if meta is None:
                raise WarehouseError(f"Parquet lake {self.url!r} has no table {table!r}")
            return [self._store.describe(path) for path in meta.files]

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None:
        """The source state committed with the last successful batch, or None."""
        with self._lock:
            self._refresh()
            row = self._snap.states.get(state_key(pipeline, resource))
        return json.loads(row["state"]) if row else None

    def loads(self) -> pl.DataFrame:
        """``_tf_loads``, oldest first (``row_counts`` is JSON text)."""
        return self.query(f"SELECT * FROM {LOADS} ORDER BY load_id")

    def schema_changes(self) -> pl.DataFrame:
        """``_tf_schema_changes``: every table created, column added and type widened, oldest first."""
        frame = self.query(f"SELECT * FROM {CHANGES}")
        return frame.sort("changed_at", maintain_order=True)  # files are read in commit order

    def rule_results(self) -> pl.DataFrame:
        """``_tf_rule_results``, oldest first."""
        return self.query(f"SELECT * FROM {RULES} ORDER BY checked_at, run_id")

    def _append_journal(self, frames: Mapping[str, pl.DataFrame], replacing: Sequence[str]) -> None:
        # A running run lives in the manifest, as a running load does, until
        # its final row replaces it: files are never rewritten for it.
        tx = self._begin()
        try:
            for run_id in replacing:
                tx.runs[run_id] = None
            for table, frame in frames.items():
                if table == RUNS:
                    running = frame.filter(pl.col("status") == RUNNING)
                    for row in running.iter_rows(named=True):
                        tx.runs[row["run_id"]] = _json_row(row)
                    frame = frame.filter(pl.col("status") != RUNNING)
                if frame.height:
                    self._append_frame(tx, table, frame)
            self._commit(tx, None)
        except BaseException:
            self._discard(tx)
            raise

    def _interrupt(self, runs: pl.DataFrame, loads: Sequence[str], now: dt.datetime) -> None:
        with self._lock:
            tx = self._begin()
            try:
                closing = runs.filter(pl.col("run_id").is_in(list(tx.snapshot.open_runs)))
                for run_id in closing["run_id"]:
                    tx.runs[run_id] = None
                rows = []
                for load_id in loads:
                    row = tx.snapshot.open_loads.get(load_id)
                    if row is not None:
                        tx.loads[load_id] = None
                        rows.append({**row, "status": INTERRUPTED, "finished_at": now.isoformat(),
                                     "error": INTERRUPTED_ERROR})  # fmt: skip
                if closing.height:
                    self._append_frame(tx, RUNS, closing)
                if rows:
                    self._append_rows(tx, LOADS, rows)
                if closing.height or rows:
                    self._commit(tx, "cannot close interrupted runs")
            except BaseException:
                self._discard(tx)
                raise

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

    def _columns(self, table: str) -> dict[str, tuple[str, str]] | None:
        with self._lock:
            self._refresh()
            meta = self._snap.tables.get(table.lower())
            return None if meta is None else meta.column_map()

    def _sync_views(self) -> None:
        """One DuckDB view per table over its committed files, rebuilt when the version moves."""
        if self._view_version == self._snap.version:
            return
        con = self._duck
        for name in self._view_names:
            con.execute(f"DROP VIEW IF EXISTS {_q(name)}")
        for name in self._datasets:
            con.unregister(name)
        self._view_names, self._datasets = [], []
        metas = dict(self._snap.tables)
        for name, columns in BOOKKEEPING_COLUMNS.items():
            if name != STATE:
                metas.setdefault(name, TableMeta(name, list(columns)))
        for meta in metas.values():
            select = self._relation(meta, self._datasets)
            opened = {LOADS: self._snap.open_loads, RUNS: self._snap.open_runs}.get(meta.name)
            if opened:
                columns = BOOKKEEPING_COLUMNS[meta.name]
                running = self._register(rows_frame(meta.name, list(opened.values())).to_arrow())
                self._datasets.append(running)
                select += f" UNION ALL {select_cast(meta.columns, _q(running), columns)}"
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(meta.name)} AS {select}")
            self._view_names.append(meta.name)
        states = self._register(rows_frame(STATE, list(self._snap.states.values())).to_arrow())
        self._datasets.append(states)
        columns = BOOKKEEPING_COLUMNS[STATE]
        con.execute(f"CREATE OR REPLACE TEMP VIEW {STATE} AS {select_cast(columns, _q(states), columns)}")
        self._view_names.append(STATE)
        self._view_version = self._snap.version

    # -- load lifecycle

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
        """Start a load and commit its ``running`` row to ``_tf_loads``.

        The lake writes append, replace and merge loads; the rest is as in
        :meth:`DuckDBWarehouse.begin_load`.
        """
        load = start_load(
            pipeline,
            resource,
            write_mode,
            primary_key,
            root_table=root_table,
            schema_contract=schema_contract,
            scd2_close_missing=scd2_close_missing,
            run_id=run_id,
        )
        if load.write_mode.value not in ("append", "replace", "merge"):
            raise WarehouseError(
                f"load of {pipeline}/{resource}: the Parquet lake writes append, replace and merge loads, "
                f"not {load.write_mode.value!r}; load into a DuckDB or Postgres warehouse for it"
            )
        with self._lock:
            tx = self._begin()
            tx.loads[load.load_id] = _load_row(load, "running", None, None)
            self._commit(tx, f"cannot record load {load.load_id}")
        return load

    def write_batch(
        self,
        load: LoadHandle,
        tables: Mapping[str, pl.DataFrame],
        state: Mapping[str, Any] | None = None,
        *,
        quarantine: Mapping[str, pl.DataFrame] | None = None,
        delete_where: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, int]:
        """Write one batch (root table first) as one commit; returns rows written per table.

        The batch's files, its schema changes, the load's counts and
        ``state`` become visible together or not at all. ``quarantine``
        frames (``"<table>__quarantine"``) are appended whatever the write
        mode. ``delete_where`` (``{column: values}``) first drops the rows of
        the root table, its child tables and its quarantine table whose
        column holds one of the values (a changed file's earlier rows). On
        failure nothing of the batch is visible, earlier batches stay, and a
        ``WarehouseError`` names the table.
        """
        check_batch(load, tables, state, quarantine)
        root = next(iter(tables), load.root_table or load.resource)
        counts = dict(load.row_counts)
        written: dict[str, int] = {}
        with self._lock:
            tx = self._begin()
            step = _Step(root)
            staged: list[_Staged] = []
            dropped: str | None = None
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
                        for table in family(tx.names(), root):
                            tx.remove(table, list(tx.edit(table).files))
                    if delete_where:
                        self._delete_where(tx, root, delete_where, step)
                    if load.schema_contract is SchemaContract.DISCARD_ROW:
                        dropped = self._name("dropped")
                        self._run(f"CREATE TEMP TABLE {dropped} (id VARCHAR)")
                    for item in staged:
                        step.table, step.column = item.table, None
                        rows = self._write_staged(tx, load, root, item, step, dropped)
                        written[item.table] = rows
                        counts[item.table] = counts.get(item.table, 0) + rows
                    step.table, step.column = LOADS, None
                    tx.loads[load.load_id] = _load_row(load, "running", None, None, counts)
                    run = tx.snapshot.open_runs.get(load.run_id or "")
                    if run is not None:  # the run's sign of life, for readers on other hosts
                        tx.runs[run["run_id"]] = {**run, "heartbeat_at": utc_now().isoformat()}
                    if state is not None:
                        step.table = STATE
                        tx.states[state_key(load.pipeline, load.resource)] = {
                            "pipeline": load.pipeline, "resource": load.resource,
                            "state": state_text(load, state), "load_id": load.load_id,
                            "updated_at": utc_now().isoformat(),
                        }  # fmt: skip
                    self._commit(tx, None)
                except BaseException:
                    self._discard(tx)
                    raise
                finally:
                    for item in staged:
                        if item.view is not None:
                            self._duck.unregister(item.view)
                    if dropped is not None:
                        self._run(f"DROP TABLE IF EXISTS {dropped}")
            except (WarehouseError, SchemaError):
                raise
            except Exception as exc:
                where = f"table {step.table!r}" + (f", column {step.column!r}" if step.column else "")
                raise WarehouseError(f"load {load.load_id}: batch failed at {where}: {exc}") from exc
        load.row_counts = counts
        if tables:
            load.batches += 1
            load.root_table = load.root_table or root
        return written

    def finish_load(
        self, load: LoadHandle, status: str = "completed", error: str | None = None
    ) -> LoadSummary:
        """Close a load: commit its final row to ``_tf_loads``. A completed
        replace load that wrote no batch empties its tables in the same commit."""
        check_finish(load, status)
        finished_at = utc_now()
        with self._lock:
            tx = self._begin()
            try:
                if load.write_mode is WriteMode.REPLACE and load.batches == 0 and status == "completed":
                    for table in family(tx.names(), load.root_table or load.resource):
                        tx.remove(table, list(tx.edit(table).files))
                tx.loads[load.load_id] = None
                row = _load_row(load, status, finished_at, error, load.row_counts)
                self._append_rows(tx, LOADS, [row])
                self._commit(tx, None)
            except BaseException as exc:
                self._discard(tx)
                if isinstance(exc, WarehouseError) or not isinstance(exc, Exception):
                    raise
                raise WarehouseError(f"cannot finish load {load.load_id}: {exc}") from exc
        return finished(load, status, finished_at, error)

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
        frame = rule_results_frame(
            results, run_id=run_id, pipeline=pipeline, resource=resource, table=table, checked_at=checked_at
        )
        with self._lock:
            tx = self._begin()
            try:
                self._append_frame(tx, RULES, frame)
                self._commit(tx, None)
            except BaseException as exc:
                self._discard(tx)
                if isinstance(exc, WarehouseError) or not isinstance(exc, Exception):
                    raise
                raise WarehouseError(f"cannot record rule results of {pipeline}/{resource}: {exc}") from exc
        return frame.height

    def replace_tables(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Creates or replaces each table with its frame, all in one commit."""
        check_replaceable(frames)
        with self._lock:
            tx = self._begin()
            try:
                for name, frame in frames.items():
                    view = self._register(frame.to_arrow())
                    try:
                        columns = [
                            (n, "INTEGER" if t.strip('"') == "NULL" else t)
                            for n, t, *_ in self._rows(f"DESCRIBE SELECT * FROM {_q(view)}")
                        ]
                        old = tx.meta(name)
                        if old is not None:
                            tx.remove(name, list(tx.edit(name).files))
                        meta = tx.edit(name, columns)
                        meta.columns = columns
                        meta.layouts = []
                        arrow = to_arrow(self._duck.sql(select_cast(columns, _q(view), columns)))
                        tx.add(name, self._write_table(tx, meta, arrow, None))
                    finally:
                        self._duck.unregister(view)
                self._commit(tx, None)
            except BaseException as exc:
                self._discard(tx)
                if isinstance(exc, WarehouseError) or not isinstance(exc, Exception):
                    raise
                raise WarehouseError(f"cannot write tables {', '.join(map(repr, frames))}: {exc}") from exc

    def compact(self, tables: Sequence[str] | None = None, *, min_files: int = 2) -> dict[str, int]:
        """Merge the files of each partition (of ``tables``, default all user
        tables) that has at least ``min_files`` into one, in one commit, so
        frequent small loads do not leave many small files. Returns the
        files removed per table; :meth:`vacuum` later deletes them."""
        with self._lock:
            tx = self._begin()
            names = list(tables) if tables is not None else [n for n in tx.names() if not is_bookkeeping(n)]
            removed: dict[str, int] = {}
            try:
                for name in names:
                    meta = tx.meta(name)
                    if meta is None:
                        raise WarehouseError(f"Parquet lake {self.url!r} has no table {name!r}")
                    groups: dict[str, list[Any]] = {}
                    for f in meta.files.values():
                        groups.setdefault(f.partition, []).append(f)
                    for partition, files in groups.items():
                        if len(files) < max(2, min_files):
                            continue
                        meta = tx.edit(name)
                        raws = list(self._pool.map(lambda f, m=meta: self._read_raw(m, f, None), files))
                        parts = [
                            self._conform(meta, f, raw, None) for f, raw in zip(files, raws, strict=True)
                        ]
                        keys = sorted({column for f in files for column in f.stats})
                        tx.remove(name, [f.path for f in files])
                        merged = pa.concat_tables(parts)
                        tx.add(name, self._write_table(tx, meta, merged, None, keys, partition=partition))
                        removed[meta.name] = removed.get(meta.name, 0) + len(files)
                if removed:
                    self._commit(tx, None)
            except BaseException as exc:
                self._discard(tx)
                if isinstance(exc, WarehouseError) or not isinstance(exc, Exception):
                    raise
                raise WarehouseError(f"cannot compact Parquet lake {self.url!r}: {exc}") from exc
            return removed

    def vacuum(self, *, retain: dt.timedelta | float = dt.timedelta(hours=1)) -> list[str]:
        """Delete the lake's data files no committed version names (those of
        batches that failed or were killed before their commit, and those
        replace, merge and compact left behind; other files in the folder are
        never touched), when older than ``retain`` (seconds or a
        timedelta), so a writer's batch in flight and readers of a recent
        version keep theirs. Returns the deleted paths, relative to the lake."""
        keep_for = retain if isinstance(retain, dt.timedelta) else dt.timedelta(seconds=retain)
        with self._lock:
            self._refresh()
            named = {path for meta in self._snap.tables.values() for path in meta.files}
            cutoff = utc_now() - keep_for
            doomed = []
            for entry in self._store.walk():
                name = entry.path.rsplit("/", 1)[-1]
                in_log = entry.path.startswith(LAKE_DIR + "/")
                stale = entry.modified is None or entry.modified <= cutoff
                if not stale or entry.path in named:
                    continue
                if (in_log and name.startswith(".tmp-")) or (not in_log and DATA_FILE.fullmatch(name)):
                    doomed.append(entry.path)
            list(self._pool.map(self._store.delete, doomed))
            if self._store.local:
                _prune_empty_folders(self._store.root)
            return sorted(doomed)

    # -- one commit

    def _begin(self) -> Txn:
        self._refresh()
        return Txn(self._snap)

    def _commit(self, tx: Txn, failure: str | None) -> None:
        """Add the schema changes, fold small bookkeeping files, and publish the commit."""
        try:
            if tx.changes:
                self._append_rows(tx, CHANGES, tx.changes)
            for name in (LOADS, CHANGES, RULES, *JOURNAL):
                self._compact_bookkeeping(tx, name)
            commit = tx.commit()
            self._snap = self._log.commit(self._snap, commit)
            tx.published = True
        except OSError as exc:
            message = failure or f"cannot commit to Parquet lake {self.url!r}"
            raise WarehouseError(f"{message}: {exc}") from exc

    def _discard(self, tx: Txn) -> None:
        """Delete the files of a commit that was never published (best effort: vacuum gets the rest)."""
        try:
            if tx.published or self._log.exists(tx.snapshot.version + 1):
                return  # published after all (interrupted just after): its files are the lake's now
        except OSError:
            return  # cannot tell: leave them to vacuum, which knows what is committed
        for path in tx.written:
            try:
                self._store.delete(path)
            except OSError:
                pass


def _load_row(
    load: LoadHandle,
    status: str,
    finished_at: dt.datetime | None,
    error: str | None,
    counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    counts = dict(counts or {})
    return {
        "load_id": load.load_id, "pipeline": load.pipeline, "resource": load.resource,
        "write_mode": load.write_mode.value, "status": status, "started_at": load.started_at.isoformat(),
        "finished_at": finished_at.isoformat() if finished_at else None,
        "row_counts": json.dumps(counts), "total_rows": sum(counts.values()), "error": error,
        "run_id": load.run_id,
    }  # fmt: skip


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the manifest's JSON keeps it (stamps as ISO text)."""
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()}


def _prune_empty_folders(root: str) -> None:
    """Remove the partition and table folders vacuum emptied (never the lake's own)."""
    for folder, _subfolders, _files in os.walk(root, topdown=False):
        if folder == root or os.path.relpath(folder, root).split(os.sep)[0] == LAKE_DIR:
            continue
        try:
            os.rmdir(folder)  # fails, as it should, on a folder that still holds something
        except OSError:
            pass
