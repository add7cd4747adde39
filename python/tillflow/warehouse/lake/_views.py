"""Views of the Delta lake. Delta Lake keeps tables only, so the lake keeps
each view as its SQL in the bookkeeping table ``_tf_views``, and every
reader's DuckDB session creates them over the tables' committed versions,
in the order they were first created. A view whose tables are gone is left
out of the session with a warning; the others still show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb as _duckdb

from tillflow.exceptions import WarehouseError
from tillflow.warehouse.lake._bookkeeping import VIEWS, utc_now
from tillflow.warehouse.lake._tables import DeltaTables
from tillflow.warehouse.sql import quote_identifier as _q

if TYPE_CHECKING:
    import pyarrow as pa

    from tillflow.warehouse.lake._commits import Stamp

__all__ = ["DeltaViews"]


class DeltaViews(DeltaTables):
    """Creating and dropping the lake's views (see the module)."""

    _lock: Any
    _view_versions: Any
    url: str

    if TYPE_CHECKING:

        def _writable(self) -> None: ...
        def _upsert(self, table: str, arrow: pa.Table, key: str, stamp: Stamp | None) -> None: ...
        def _bookkeeping(self, table: str, rows: list[dict[str, Any]]) -> pa.Table: ...
        def views(self) -> dict[str, str]: ...
        @property
        def connection(self) -> _duckdb.DuckDBPyConnection: ...

    def create_view(self, name: str, sql: str) -> None:
        """Create or replace the view ``name`` over the lake's tables, in one commit.

        Parameters
        ----------
        name
            The view's name; a table of that name is refused.
        sql
            A ``SELECT`` in DuckDB's dialect, over the lake's tables and views.

        Raises
        ------
        WarehouseError
            If the lake is read-only, a table has that name, or the SQL does
            not run (checked before anything is written).
        """
        with self._lock:
            self._writable()
            if any(t.lower() == name.lower() for t in self._readable()):
                raise WarehouseError(f"Delta lake {self.url!r}: {name!r} is a table, not a view")
            try:
                self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {_q(name)} AS {sql}")
            except _duckdb.Error as exc:
                raise WarehouseError(f"Delta lake {self.url!r}: view {name!r}: {exc}") from None
            existing = list(self.views())
            position = existing.index(name) if name in existing else len(existing)
            row = {"name": name, "sql": sql, "position": position, "updated_at": utc_now()}
            try:
                self._upsert(VIEWS, self._bookkeeping(VIEWS, [row]), "name", None)
            finally:
                self._view_versions = None

    def drop_view(self, name: str) -> bool:
        """Drop the view ``name``; returns whether there was one.

        Raises
        ------
        WarehouseError
            If the lake is read-only.
        """
        with self._lock:
            self._writable()
            if name not in self.views():
                return False
            target = self._table(VIEWS)
            assert target is not None
            target.delete(f"name = '{name.replace(chr(39), chr(39) * 2)}'")
            self.connection.execute(f"DROP VIEW IF EXISTS {_q(name)}")
            self._view_versions = None
            return True
