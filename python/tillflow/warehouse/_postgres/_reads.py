"""Reading out of a PostgreSQL warehouse for the metrics, and writing their tables.

A part of [PostgresWarehouse][tillflow.warehouse.PostgresWarehouse], with the interface
of the DuckDB warehouse's (`_reads`): only the named columns leave the
database, as Arrow, whole or in batches; results go back as tables replaced
together in one transaction. Conditions use ``?`` placeholders, as the
metrics write them for every warehouse.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse._postgres import _types as _pgtypes
from tillflow.warehouse._schema import Columns
from tillflow.warehouse.loads import SchemaContract
from tillflow.warehouse.sql import quote_identifier as q

# A quoted literal or name (left as it is), or a ? placeholder.
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")


def numbered(sql: str) -> str:
    """``sql`` with each ``?`` placeholder (outside quotes) as ``$1, $2 …``."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match[0] != "?":
            return match[0]
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


class _PostgresReads:
    """What the warehouse reads for metrics and writes back for dashboards."""

    _lock: threading.RLock
    timezone: str
    _errors: tuple[type[Exception], ...]

    if TYPE_CHECKING:

        @property
        def connection(self) -> Any: ...
        @property
        def arrow_connection(self) -> Any: ...
        def _all_tables(self) -> list[str]: ...
        def _resolve(self, table: str, existing: Sequence[str]) -> str: ...
        def _columns(self, table: str) -> Columns | None: ...
        def _table(self, name: str) -> str: ...
        def _run(self, sql: str, params: Sequence[Any] | None = None) -> int: ...
        def _rollback(self) -> None: ...
        def _ingest(self, table: str, frame: pl.DataFrame, *, temporary: bool = False) -> None: ...

    def read(
        self, table: str, columns: Sequence[str], where: str | None = None, params: Sequence[Any] = ()
    ) -> pl.DataFrame | None:
        """``columns`` of ``table`` as a polars frame, read through Arrow; None
        when the table does not exist. Only the rows matching the SQL condition
        ``where`` (with ``?`` placeholders for ``params``) are read. A column
        the table lacks raises [WarehouseError][tillflow.exceptions.WarehouseError] naming it."""
        with self._lock:
            try:
                sql = self._select(table, columns, where)
                if sql is None:
                    return None
                self._rollback()  # the catalog was read on the connection batches are written through
                reader = self.arrow_connection
                with reader.cursor() as cur:
                    cur.execute(sql, list(params) or None)
                    result = cur.fetch_arrow_table()
                reader.commit()
                return _pgtypes.to_polars(result)
            except self._errors as exc:
                raise WarehouseError(f"cannot read {table!r}: {exc}") from exc
            finally:
                self._rollback()

    def read_batches(
        self,
        table: str,
        columns: Sequence[str],
        where: str | None = None,
        params: Sequence[Any] = (),
        *,
        rows: int = 262_144,
    ) -> Iterator[pl.DataFrame] | None:
        """[read][tillflow.warehouse.Warehouse.read] as a stream of frames of up to ``rows`` rows; None when
        the table does not exist. The warehouse stays locked until the stream
        is exhausted or closed."""
        with self._lock:
            try:
                sql = self._select(table, columns, where)
            finally:
                self._rollback()
        if sql is None:
            return None

        def stream() -> Iterator[pl.DataFrame]:
            with self._lock:
                reader = self.arrow_connection
                try:
                    with reader.cursor() as cur:
                        cur.execute(sql, list(params) or None)
                        pending: list[pl.DataFrame] = []
                        held = 0
                        for batch in cur.fetch_record_batch():
                            pending.append(_pgtypes.to_polars(_table_of(batch)))
                            held += batch.num_rows
                            if held >= rows:
                                yield from _sliced(pl.concat(pending), rows)
                                pending, held = [], 0
                        if pending:
                            yield from _sliced(pl.concat(pending), rows)
                    reader.commit()
                except self._errors as exc:
                    reader.rollback()
                    raise WarehouseError(f"cannot read {table!r}: {exc}") from exc

        return stream()

    def _select(self, table: str, columns: Sequence[str], where: str | None) -> str | None:
        stored = self._resolve(table, self._all_tables())
        existing = self._columns(stored)
        if existing is None:
            return None
        missing = [c for c in columns if c.lower() not in existing]
        if missing:
            raise WarehouseError(
                f"table {table!r} has no column {missing[0]!r} "
                f"(it has {', '.join(name for name, _ in existing.values())})"
            )
        select = ", ".join(q(existing[c.lower()][0]) for c in columns) or "*"
        condition = f" WHERE {numbered(where)}" if where else ""
        return f"SELECT {select} FROM {self._table(stored)}{condition}"

    def has_column(self, table: str, column: str) -> bool:
        with self._lock:
            try:
                existing = self._columns(self._resolve(table, self._all_tables()))
            finally:
                self._rollback()
            return existing is not None and column.lower() in existing

    def _replace(self, frames: Mapping[str, pl.DataFrame]) -> None:
        try:
            for name, frame in frames.items():
                frame = _pgtypes.tillflow_ids(frame)
                types = _pgtypes.frame_types(frame)
                columns = {n.lower(): (n, t) for n, t in types}
                select, _ = _pgtypes.conform(frame, types, columns, SchemaContract.EVOLVE, self.timezone)
                stored = self._resolve(name, self._all_tables())
                defs = ", ".join(f"{q(n)} {_pgtypes.to_postgres(t)}" for n, t in types)
                self._run(f"DROP TABLE IF EXISTS {self._table(stored)}")
                self._run(f"CREATE TABLE {self._table(stored)} ({defs})")
                self._ingest(stored, _pgtypes.apply(frame, select))
            self.connection.commit()
        except BaseException:
            self._rollback()
            raise


def _table_of(batch: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def _sliced(frame: pl.DataFrame, rows: int) -> Iterator[pl.DataFrame]:
    for offset in range(0, frame.height, rows):
        yield frame.slice(offset, rows)
