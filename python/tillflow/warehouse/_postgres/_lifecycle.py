"""What a PostgreSQL warehouse writes around the rows of a load: the
load's row in ``_tf_loads`` from its start to its end, each batch's counts
and source state committed with it, the rule results, the monitor's journal,
and the session-level advisory locks that mark a run as live.

A part of [PostgresWarehouse][tillflow.warehouse.PostgresWarehouse]: the
statements of each step of the load lifecycle `WarehouseBase` runs (see
`tillflow.warehouse._base`); the rows of each table go through `_writes`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse import _batch, _scd2, journal
from tillflow.warehouse._base import Batch
from tillflow.warehouse._batch import Step
from tillflow.warehouse._postgres import _types as _pgtypes
from tillflow.warehouse._postgres._writes import _SETTING, _Batch, _prepare, _Prepared
from tillflow.warehouse.loads import LoadHandle
from tillflow.warehouse.sql import quote_identifier as q

__all__ = ["PostgresLifecycle"]


class PostgresLifecycle:
    """The load lifecycle's statements, the bookkeeping writes and the run locks (see the module)."""

    _s: str
    _seen: dict[str, str]  # load id -> temp table of the keys an scd2 load brought
    _psycopg: Any
    _con: Any  # the connection batches are written through; None once closed

    if TYPE_CHECKING:

        @property
        def connection(self) -> Any: ...
        def _run(self, sql: str, params: Sequence[Any] | None = None) -> int: ...
        def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...
        def _table(self, name: str) -> str: ...
        def _rollback(self) -> None: ...
        def _temp_name(self, kind: str) -> str: ...
        def _all_tables(self) -> list[str]: ...
        def _resolve(self, table: str, existing: Sequence[str]) -> str: ...
        def _write(self, load: LoadHandle, item: _Prepared, batch: _Batch, step: Step) -> int: ...
        def _ingest(self, table: str, frame: pl.DataFrame, *, temporary: bool = False) -> None: ...
        def _version_links(
            self, load: LoadHandle, root: str, given: str, existing: Sequence[str], step: Step | None = None
        ) -> list[tuple[str, list[tuple[str, str, str]]]]: ...

    # -- load lifecycle

    def _record_begin(self, load: LoadHandle) -> None:
        try:
            self._run(
                f"INSERT INTO {self._s}._tf_loads "
                "VALUES ($1, $2, $3, $4, 'running', $5, NULL, '{}', 0, NULL, $6)",
                [
                    load.load_id,
                    load.pipeline,
                    load.resource,
                    load.write_mode.value,
                    load.started_at,
                    load.run_id,
                ],
            )
            self.connection.commit()
        except self._psycopg.Error as exc:
            self._rollback()
            raise WarehouseError(f"cannot record load {load.load_id}: {exc}") from exc

    def _stage(
        self, load: LoadHandle, table: str, frame: pl.DataFrame, *, is_root: bool, plain: bool = False
    ) -> _Prepared:
        return _prepare(load, table, frame, is_root=is_root, plain=plain)

    def _start_batch(self, batch: Batch) -> None:
        self._run(f"SELECT set_config('{_SETTING}', $1, true)", [batch.load.load_id])
        existing = self._all_tables()
        batch.engine = _Batch(
            batch.root, self._resolve(batch.root, existing), existing, batch.load.schema_contract
        )

    def _empty_family(self, batch: Batch) -> None:
        existing = self._all_tables()
        for table in _batch.family(existing, self._resolve(batch.root, existing)):
            batch.step.table = table
            self._run(f"DELETE FROM {self._table(table)}")

    def _write_table(self, batch: Batch, item: _Prepared) -> int:
        return self._write(batch.load, item, batch.engine, batch.step)

    def _commit_batch(self, batch: Batch, counts: dict[str, int], state: Mapping[str, Any] | None) -> None:
        batch.step.table = "_tf_loads"
        self._run(
            f"UPDATE {self._s}._tf_loads SET row_counts = $1::jsonb, total_rows = $2 WHERE load_id = $3",
            [json.dumps(counts), sum(counts.values()), batch.load.load_id],
        )
        if state is not None:
            batch.step.table = "_tf_state"
            self._save_state(batch.load, state)
        self.connection.commit()

    def _abort(self, batch: Batch, exc: BaseException) -> None:
        self._rollback()

    def _column_at_fault(self, batch: Batch, exc: BaseException) -> str | None:
        return exc.column if isinstance(exc, _pgtypes.CastFailure) else None

    def _close_missing(self, batch: Batch) -> None:
        load = batch.load
        existing = self._all_tables()
        root = self._resolve(batch.root, existing)
        if root not in existing:
            return
        seen = self._seen.get(load.load_id)
        if seen is None:  # no batch: every current version is gone from the source
            seen = self._temp_name("seen")
            keys = ", ".join(q(k) for k in load.primary_key or ())
            self._run(
                f"CREATE TEMP TABLE {seen} ON COMMIT DROP AS SELECT {keys} FROM {self._table(root)} LIMIT 0"
            )
        for table, links in self._version_links(load, root, batch.root, existing):
            self._run(_scd2.close_missing(self._table(table), links, seen, load.started_at))

    def _commit_finish(self, batch: Batch, status: str, finished_at: dt.datetime, error: str | None) -> None:
        load = batch.load
        seen = self._seen.pop(load.load_id, None)
        if seen is not None:
            self._run(f"DROP TABLE IF EXISTS pg_temp.{seen}")
        self._run(
            f"UPDATE {self._s}._tf_loads SET status = $1, finished_at = $2, row_counts = $3::jsonb, "
            "total_rows = $4, error = $5 WHERE load_id = $6",
            [status, finished_at, json.dumps(load.row_counts), load.total_rows, error, load.load_id],
        )
        self.connection.commit()

    def _end_finish(self, batch: Batch) -> None:
        self._seen.pop(batch.load.load_id, None)

    # -- bookkeeping and the monitor's journal

    def _save_state(self, load: LoadHandle, state: Mapping[str, Any]) -> None:
        self._run(
            f"INSERT INTO {self._s}._tf_state VALUES ($1, $2, $3::jsonb, $4, $5) "
            "ON CONFLICT (pipeline, resource) DO UPDATE SET state = excluded.state, "
            "load_id = excluded.load_id, updated_at = excluded.updated_at",
            [
                load.pipeline,
                load.resource,
                _batch.state_text(load, state),
                load.load_id,
                dt.datetime.now(dt.timezone.utc),
            ],
        )

    def _append_rule_results(self, frame: pl.DataFrame) -> None:
        try:
            self._ingest("_tf_rule_results", frame)
            self.connection.commit()
        except BaseException:
            self._rollback()
            raise

    def _append_journal(self, frames: Mapping[str, pl.DataFrame], replacing: Sequence[str]) -> None:
        try:
            for run_id in replacing:
                self._run(f"DELETE FROM {self._s}.{journal.RUNS} WHERE run_id = $1", [run_id])
            for table, frame in frames.items():
                self._ingest(table, frame)
            self.connection.commit()
        except self._psycopg.Error as exc:
            self._rollback()
            raise WarehouseError(f"cannot write {', '.join(frames)}: {exc}") from exc

    def _interrupt(self, runs: pl.DataFrame, loads: Sequence[str], now: dt.datetime) -> None:
        run_sql, load_sql = journal.interrupt_sql(f"{self._s}.")
        try:
            for row in runs.iter_rows(named=True):
                self._run(run_sql, [now, row["duration_s"], row["error"], row["run_id"]])
            for load_id in loads:
                self._run(load_sql, [now, journal.INTERRUPTED_ERROR, load_id])
            self.connection.commit()
        except self._psycopg.Error as exc:
            self._rollback()
            raise WarehouseError(f"cannot close interrupted runs: {exc}") from exc

    # A live run holds a session-level advisory lock (see owners): the
    # server releases it when the session ends, however the process ended.
    def _hold_run(self, run_id: str) -> None:
        try:
            self._run("SELECT pg_advisory_lock($1)", [_run_lock(run_id)])
            self.connection.commit()
        except self._psycopg.Error as exc:
            self._rollback()
            raise WarehouseError(f"cannot lock run {run_id}: {exc}") from exc

    def _release_run(self, run_id: str) -> None:
        if self._con is None or self._con.closed:
            return  # the session is gone, and its locks with it
        try:
            self._run("SELECT pg_advisory_unlock($1)", [_run_lock(run_id)])
            self.connection.commit()
        except self._psycopg.Error:
            self._rollback()

    def _alive(self, running: pl.DataFrame, now: dt.datetime) -> set[str]:
        rows = self._rows(
            "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        self._rollback()
        held = {int(r[0]) for r in rows}
        return {r for r in running["run_id"].to_list() if _run_lock(r) in held}


def _run_lock(run_id: str) -> int:
    """The advisory lock key of a run: 63 bits of a hash of its id."""
    return int.from_bytes(hashlib.sha256(f"tillflow run {run_id}".encode()).digest()[:8], "big") >> 1
