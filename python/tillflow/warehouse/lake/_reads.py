"""Reading the Delta lake: DuckDB views over every table's committed
version, and the warehouse's read methods on top of them."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb as _duckdb
import polars as pl
from deltalake import DeltaTable

from tillflow.exceptions import WarehouseError
from tillflow.warehouse._staging import Columns
from tillflow.warehouse.lake._bookkeeping import (
    BOOKKEEPING_COLUMNS,
    CHANGES,
    LOADS,
    RULES,
    STATE,
    VIEWS,
    is_bookkeeping,
)
from tillflow.warehouse.lake._commits import app_id
from tillflow.warehouse.lake._layout import encode_segment
from tillflow.warehouse.lake._tables import DeltaTables, add_actions, name_of, rows_in
from tillflow.warehouse.sql import quote_identifier as _q

__all__ = ["DeltaReads"]

log = logging.getLogger("tillflow.warehouse")

_RAW_LOADS = "__tf_raw_loads"
_RAW_STATE = "__tf_raw_state"


class DeltaReads(DeltaTables):
    """The lake's read side (see the module)."""

    _lock: Any
    _scans: list[str]
    url: str

    @property
    def connection(self) -> _duckdb.DuckDBPyConnection:
        """The DuckDB session reading the lake, its views on every table's committed version."""
        with self._lock:
            self._sync_views()
            return self._duck

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
        for name, sql in con.execute(f"SELECT name, sql FROM {VIEWS} ORDER BY position").fetchall():
            try:
                con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(name)} AS {sql}")
            except _duckdb.Error as exc:  # a table it reads is gone: the others still show
                log.warning("Delta lake %s: view %r cannot be created: %s", self.url, name, exc)
        self._view_versions = versions

    # -- reading

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run SQL over the committed tables (and ``_tf_*`` bookkeeping) and
        return a polars frame. Tables are views: statements that write
        change nothing in the lake. See [Warehouse.query][tillflow.warehouse.Warehouse.query].
        """
        with self._lock:
            con = self.connection
            try:
                relation = con.sql(sql, params=params)
                return pl.DataFrame() if relation is None else relation.pl()
            except _duckdb.Error as exc:
                raise WarehouseError(f"query failed: {exc}") from exc

    def tables(self) -> list[str]:
        """User tables, bookkeeping (``_tf_*``) left out, sorted. See
        [Warehouse.tables][tillflow.warehouse.Warehouse.tables].
        """
        with self._lock:
            return sorted(n for n in self._readable() if not is_bookkeeping(n))

    def views(self) -> dict[str, str]:
        """The lake's views (kept as SQL in ``_tf_views``; see
        [create_view][tillflow.warehouse.DeltaLake.create_view]): name to SQL, in creation order."""
        with self._lock:
            rows = self.connection.execute(f"SELECT name, sql FROM {VIEWS} ORDER BY position").fetchall()
        return {str(name): str(sql) for name, sql in rows}

    def row_counts(self) -> dict[str, int]:
        """Rows per user table, from the Delta log (no data file is read). See
        [Warehouse.row_counts][tillflow.warehouse.Warehouse.row_counts].
        """
        with self._lock:
            tables = self._readable()
            return {n: rows_in(t) for n, t in sorted(tables.items()) if not is_bookkeeping(n)}

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
        paths = add_actions(found).column("path").to_pylist()
        return sorted(f"{encode_segment(name_of(found))}/{p}" for p in paths)

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None:
        """The source state committed with the last successful batch, or None.
        See [Warehouse.get_state][tillflow.warehouse.Warehouse.get_state].
        """
        with self._lock:
            state = self._table(STATE)
            if state is None:
                return None
            rows = state.to_pyarrow_table(columns=["app", "state"]).to_pylist()
        text = next((r["state"] for r in rows if r["app"] == app_id(pipeline, resource)), None)
        return json.loads(text) if text else None

    def loads(self) -> pl.DataFrame:
        """``_tf_loads``, oldest first (``row_counts`` is JSON text). See
        [Warehouse.loads][tillflow.warehouse.Warehouse.loads].
        """
        return self.query(f"SELECT * FROM {LOADS} ORDER BY load_id")

    def schema_changes(self) -> pl.DataFrame:
        """``_tf_schema_changes``: every table created, column added and type
        widened, oldest first. See [Warehouse.schema_changes][tillflow.warehouse.Warehouse.schema_changes].
        """
        frame = self.query(f"SELECT * FROM {CHANGES}")
        return frame.sort("changed_at", maintain_order=True)  # a batch's rows share a stamp, in order

    def rule_results(self) -> pl.DataFrame:
        """``_tf_rule_results``, oldest first. See
        [Warehouse.rule_results][tillflow.warehouse.Warehouse.rule_results].
        """
        return self.query(f"SELECT * FROM {RULES} ORDER BY checked_at, run_id")

    def _columns(self, table: str) -> Columns | None:
        with self._lock:
            for name, found in self._readable().items():
                if name.lower() == table.lower():
                    return self._columns_of(found)
            return None

    # -- the load lifecycle
