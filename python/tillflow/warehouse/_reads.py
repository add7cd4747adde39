"""Reading out of a DuckDB warehouse for the metrics, and writing their tables.

A part of [DuckDBWarehouse][tillflow.warehouse.DuckDBWarehouse]: only the named
columns leave DuckDB, as Arrow, whole or in batches; results go back as
tables replaced together in one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import duckdb as _duckdb
import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse.sql import quote_identifier

BOOKKEEPING_PREFIX = "_tf_"


def check_replaceable(names: Iterable[str]) -> None:
    """Refuses to replace tillflow's own ``_tf_*`` tables (or a table without a name)."""
    for name in names:
        if not name or name.lower().startswith(BOOKKEEPING_PREFIX):
            raise WarehouseError(
                f"cannot replace table {name!r}: names starting with _tf_ are tillflow's own"
            )


class _Reads:
    """What the warehouse reads for metrics and writes back for dashboards."""

    _lock: threading.RLock
    _views: int

    if TYPE_CHECKING:

        @property
        def connection(self) -> _duckdb.DuckDBPyConnection: ...
        def _columns(self, table: str) -> dict[str, tuple[str, str]] | None: ...
        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...
        def _rollback(self) -> None: ...

    def read(
        self, table: str, columns: Sequence[str], where: str | None = None, params: Sequence[Any] = ()
    ) -> pl.DataFrame | None:
        """``columns`` of ``table`` as a polars frame, read through Arrow; None when the table does not exist.

        Only the named columns leave DuckDB, and only the rows matching the SQL
        condition ``where`` (with ``?`` placeholders for ``params``). A column
        the table lacks raises [WarehouseError][tillflow.exceptions.WarehouseError] naming the table, the
        column and the columns it has.
        """
        with self._lock:
            sql = self._select(table, columns, where)
            if sql is None:
                return None
            try:
                return self.connection.sql(sql, params=list(params) or None).pl()
            except _duckdb.Error as exc:
                raise WarehouseError(f"cannot read {table!r}: {exc}") from exc

    def read_batches(
        self,
        table: str,
        columns: Sequence[str],
        where: str | None = None,
        params: Sequence[Any] = (),
        *,
        rows: int = 262_144,
    ) -> Iterator[pl.DataFrame] | None:
        """[read][tillflow.warehouse.Warehouse.read] as a stream of frames of up to ``rows`` rows, in table
        order; None when the table does not exist. The warehouse stays locked
        until the stream is exhausted or closed."""
        with self._lock:
            sql = self._select(table, columns, where)
            if sql is None:
                return None

        def stream() -> Iterator[pl.DataFrame]:
            with self._lock:
                try:
                    relation = self.connection.sql(sql, params=list(params) or None)
                    to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
                    for batch in to_reader(rows):
                        yield pl.from_arrow(batch)  # type: ignore[misc]
                except _duckdb.Error as exc:
                    raise WarehouseError(f"cannot read {table!r}: {exc}") from exc

        return stream()

    def _select(self, table: str, columns: Sequence[str], where: str | None) -> str | None:
        """The SELECT of ``columns`` of ``table``; None when the table does not
        exist, [WarehouseError][tillflow.exceptions.WarehouseError] naming a column it lacks."""
        existing = self._columns(table)
        if existing is None:
            return None
        missing = [c for c in columns if c.lower() not in existing]
        if missing:
            raise WarehouseError(
                f"table {table!r} has no column {missing[0]!r} "
                f"(it has {', '.join(name for name, _ in existing.values())})"
            )
        select = ", ".join(quote_identifier(c) for c in columns) or "*"
        return f"SELECT {select} FROM {quote_identifier(table)}" + (f" WHERE {where}" if where else "")

    def has_column(self, table: str, column: str) -> bool:
        with self._lock:
            existing = self._columns(table)
            return existing is not None and column.lower() in existing
