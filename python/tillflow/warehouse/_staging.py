"""Batches staged in DuckDB, for the warehouses that write through it (the
DuckDB file itself, and the Delta lake, which shapes its rows there):
each frame registered as an Arrow view and its column types read back,
the rows a ``discard_row`` contract keeps, and the column to blame when a
cast fails."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb as _duckdb
import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse._batch import ID_COLUMN, PARENT_ID_COLUMN, Staged, match_key
from tillflow.warehouse.loads import LOAD_ID_COLUMN, LoadHandle
from tillflow.warehouse.sql import quote_identifier as _q

__all__ = ["DuckDBStaging"]

Columns = dict[str, tuple[str, str]]  # lowercase name -> (name, DuckDB type)


class DuckDBStaging:
    """Staging a batch in a DuckDB session (``_duck``)."""

    _views: int
    _lock: Any
    _con: _duckdb.DuckDBPyConnection | None
    #: What a warehouse calls its engine in messages.
    engine_name = "DuckDB"

    @property
    def _duck(self) -> _duckdb.DuckDBPyConnection:
        if self._con is None:
            raise WarehouseError(f"{self._where_named()} is closed")
        return self._con

    def _where_named(self) -> str:  # pragma: no cover - every warehouse overrides it
        """The warehouse as messages name it."""
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def _name(self, prefix: str) -> str:
        self._views += 1
        return f"__tf_{prefix}_{self._views}"

    def _register(self, data: Any) -> str:
        name = self._name("scan")
        self._duck.register(name, data)
        return name

    def _rows(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        # duckdb 2 keeps a SELECT's result open on the connection until it is fetched.
        return self._duck.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        self._duck.execute(sql, params)

    def _drop(self, kind: str, *names: str) -> None:
        """Drop temporary views or tables (``kind``). Called in a ``finally`` while a
        failure propagates, a refused drop (an aborted transaction refuses
        everything) is let go, so that the first failure is the one reported."""
        failing = sys.exc_info()[1] is not None
        for name in names:
            try:
                self._run(f"DROP {kind} IF EXISTS {name}")
            except Exception:
                if not failing:
                    raise

    def _storable(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame in types the engine stores (DuckDB: every polars type)."""
        return frame

    def _stage(
        self, load: LoadHandle, table: str, frame: pl.DataFrame, *, is_root: bool, plain: bool = False
    ) -> Staged:
        """Check and dedupe one frame, register it with DuckDB and read its column types.
        A ``plain`` frame (quarantine) is appended as it is, whatever the write mode."""
        frame = self._storable(table, frame.drop(LOAD_ID_COLUMN, strict=False))  # the load id is ours to set
        if frame.width == 0:
            return Staged(table, is_root, None, [], 0, plain)  # DuckDB cannot scan Arrow without columns
        if load.write_mode.keyed and not plain:
            frame = match_key(load, frame, table, is_root=is_root)
        view = self._register(frame.to_arrow())
        staged = Staged(table, is_root, view, [], frame.height, plain)
        staged.columns = [
            (name, type_name)
            for name, type_name, *_ in self._rows(f"DESCRIBE SELECT * FROM {_q(view)}")
            # Arrow's null type (no value yet) reads as "NULL"; the column waits for a batch with a type.
            if type_name.strip('"') != "NULL"
        ]
        lowered = [name.lower() for name, _ in staged.columns]
        if len(set(lowered)) != len(lowered):
            raise WarehouseError(
                f"table {table!r}: column names differ only by case, which {self.engine_name} cannot hold"
            )
        return staged

    def _unstage(self, staged: Sequence[Staged]) -> None:
        for item in staged:
            if item.view is not None:
                self._duck.unregister(item.view)

    def _kept(self, item: Staged, fits: Sequence[str], dropped: str | None) -> str:
        """The view of ``item``'s rows to write: under a ``discard_row``
        contract (or scd2, ``dropped`` given) those that fit the table and
        whose parent row was kept; the ids of the rows left out go into
        ``dropped`` so their own child rows stay out too."""
        if dropped is None:
            return item.view or ""
        names = {name.lower() for name, _ in item.columns}
        keep = " AND ".join(fits) if fits else "true"
        if PARENT_ID_COLUMN in names and not item.plain:
            keep += f" AND CAST(_tf_parent_id AS VARCHAR) NOT IN (SELECT id FROM {dropped})"
        if ID_COLUMN in names and not item.plain:
            self._run(
                f"INSERT INTO {dropped} SELECT CAST(_tf_id AS VARCHAR) FROM {_q(item.view or '')} "
                f"WHERE _tf_id IS NOT NULL AND NOT ({keep})"
            )
        source = self._name("kept")
        self._run(f"CREATE TEMP VIEW {source} AS SELECT * FROM {_q(item.view or '')} WHERE {keep}")
        return source

    def _uncastable_column(self, view: str, incoming: list[tuple[str, str]], columns: Columns) -> str | None:
        """After a failed cast, the first column whose values do not fit the table's type."""
        for name, type_name in incoming:
            found = columns.get(name.lower())
            if found is None or found[1] == type_name:
                continue
            ident = _q(name)
            try:
                bad = self._rows(
                    f"SELECT count(*) FROM {_q(view)} WHERE {ident} IS NOT NULL "
                    f"AND TRY_CAST({ident} AS {found[1]}) IS NULL"
                )[0][0]
            except _duckdb.Error:
                return None
            if bad:
                return name
        return None
