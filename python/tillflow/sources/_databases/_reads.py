"""How a database table's rows are read: the whole table, as one query or
as range queries over an integer column read in parallel, or keyset pages
after the last committed cursor and key (see `_table` for the state each
page carries). connectorx runs the queries and hands the rows over as
Arrow; a failed read names the column at fault when the driver says which.

A part of [SqlTable][tillflow.sources.SqlTable], which checks the options
and the stored state and opens the stream.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import SourceError
from tillflow.sources._databases._sql_types import Column, Table, adjusted, json_value
from tillflow.sources._databases._url import Url, require

__all__ = ["TableReads"]

_COLUMN_INDEX = re.compile(r"column (\d+)")


class TableReads:
    """The queries and reads of a [SqlTable][tillflow.sources.SqlTable] (see the module)."""

    url: Url
    catalog: Table
    cursor: str | None
    primary_key: list[str]
    batch_size: int
    partitions: int | None
    null_cursor: str

    if TYPE_CHECKING:

        @property
        def name(self) -> str: ...
        @property
        def _where(self) -> str: ...
        def _partition_column(self, table: Table) -> Column | None: ...

    def _full_queries(self, conn: Any, table: Table) -> list[str]:
        """The whole table as one query, or as ``partitions`` range queries
        over an integer column (plus one for its NULLs), read in parallel."""
        dialect = self.url.dialect
        base = f"SELECT {_select_list(table)} FROM {dialect.table_ref(table)}"
        column = self._partition_column(table)
        if (self.partitions or 1) <= 1 or column is None:
            return [base]
        quoted = dialect.quote(column.name)
        with contextlib.closing(conn.cursor()) as cur:
            cur.execute(f"SELECT min({quoted}), max({quoted}) FROM {dialect.table_ref(table)}")
            low, high = cur.fetchone()
        if low is None:
            return [base]
        low, high = int(low), int(high)
        step = -(-(high - low + 1) // (self.partitions or 1))
        bounds = list(range(low + step, high + 1, step))
        if not bounds:
            return [base]
        ranges = [f"{quoted} < {bounds[0]}"]
        ranges += [f"{quoted} >= {a} AND {quoted} < {b}" for a, b in itertools.pairwise(bounds)]
        ranges.append(f"{quoted} >= {bounds[-1]}")
        if column.nullable:
            ranges.append(f"{quoted} IS NULL")
        return [f"{base} WHERE {r}" for r in ranges]

    def _full(self, table: Table, queries: list[str]) -> Iterator[dict[str, Any]]:
        reader = self._read(queries, stream=True)
        sent = False
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # connectorx errors, panics included
                    raise self._read_error(table, exc) from None
                if batch.num_rows == 0:
                    continue
                frame = self._frame(table, batch)
                sent = True
                yield {"tables": {self.name: frame}, "records": frame.height, "state": None}
            if not sent:  # an empty table still gets its columns in the warehouse
                frame = self._frame(table, reader.schema.empty_table())
                yield {"tables": {self.name: frame}, "records": 0, "state": None}
        finally:
            reader.close()

    def _pages(
        self, table: Table, state: dict[str, Any] | None, start: Any, *, first_run: bool
    ) -> Iterator[dict[str, Any]]:
        """Keyset pages after ``state``, or from ``start`` (inclusive) without one."""
        cursor = table.column(self.cursor or "")
        keys = [table.column(k) for k in self.primary_key]
        assert cursor is not None and all(k is not None for k in keys)
        key_columns: list[Column] = [k for k in keys if k is not None]
        while True:
            sql = self._page_sql(table, cursor, key_columns, state, start)
            frame = self._frame(table, self._read([sql], stream=False))
            if frame.height == 0:
                if first_run and state is None:
                    yield {"tables": {self.name: frame}, "records": 0, "state": None}
                return
            nulls = [k.name for k in key_columns if frame[k.name].null_count()]
            if nulls:
                raise SourceError(
                    f"{self._where}: key column {nulls[0]!r} is NULL in some rows; incremental reads need "
                    f"a key that is never NULL"
                )
            state = {
                "cursor": json_value(cursor, frame[cursor.name][-1]),
                "key": [json_value(k, frame[k.name][-1]) for k in key_columns],
            }
            yield {"tables": {self.name: frame}, "records": frame.height, "state": state}
            if frame.height < self.batch_size:
                return

    def _page_sql(
        self, table: Table, cursor: Column, keys: list[Column], state: dict[str, Any] | None, start: Any
    ) -> str:
        dialect = self.url.dialect
        quoted = dialect.quote(cursor.name)
        conditions = []
        if state is None:
            if start is not None:
                conditions.append(f"{quoted} >= {dialect.literal(cursor, start)}")
        elif state["cursor"] is None:  # still among the NULL cursors of a first run
            conditions.append(
                f"(({quoted} IS NULL AND {dialect.after(keys, state['key'])}) OR {quoted} IS NOT NULL)"
            )
        else:
            conditions.append(dialect.after([cursor, *keys], [state["cursor"], *state["key"]]))
        source = dialect.table_ref(table)
        sql = f"SELECT {_select_list(table)} FROM {source}"
        limit = f" LIMIT {self.batch_size}"
        if not keys:
            # Without a key, rows sharing a cursor value cannot be split across
            # pages: a page runs to the batch_size-th row's value, ties included.
            after = " AND ".join(conditions) or "1 = 1"
            boundary = (
                f"SELECT {quoted} FROM {source} WHERE {after} ORDER BY {quoted} "
                f"LIMIT 1 OFFSET {self.batch_size - 1}"
            )
            conditions.append(f"COALESCE({quoted} <= ({boundary}), 1 = 1)")
            limit = ""
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        order = dialect.order_by([cursor, *keys], nulls_first=self.null_cursor == "first_run")
        return f"{sql} ORDER BY {order}{limit}"

    def _read(self, queries: list[str], *, stream: bool) -> Any:
        cx = require("connectorx")
        try:
            return cx.read_sql(
                self.url.conn.reveal(),
                queries if len(queries) > 1 else queries[0],
                return_type="arrow_stream" if stream else "arrow",
                batch_size=self.batch_size,
                pre_execution_query=list(self.url.dialect.pre_execution),
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # connectorx raises RuntimeError, and panics on types it lacks
            raise self._read_error(self.catalog, exc) from None

    def _read_error(self, table: Table, exc: BaseException) -> SourceError:
        message = self.url.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        match = _COLUMN_INDEX.search(message)
        if match and int(match[1]) < len(table.columns):
            column = table.columns[int(match[1])]
            message += f" (column {column.name!r}, {column.type})"
        return SourceError(f"{self._where}: read failed: {message}")

    def _frame(self, table: Table, data: Any) -> pl.DataFrame:
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        return adjusted(frame, table, self._where)


def _select_list(table: Table) -> str:
    return ", ".join(c.select for c in table.columns)
