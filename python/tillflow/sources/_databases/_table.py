"""Database sources: PostgreSQL and MySQL/MariaDB tables read as Arrow.

Rows are read by connectorx, which fetches them in Rust straight into Arrow
(PostgreSQL's binary COPY, MySQL's binary protocol) and runs partitioned
queries in parallel; tillflow never holds a row as a Python object.

A table with a **cursor** column loads incrementally. Each batch is one
keyset page, ``WHERE (cursor, key) > (last cursor, last key) ORDER BY
cursor, key LIMIT batch_size``, and commits ``{"cursor": ..., "key": [...]}``
of its last row with its rows, so a run stopped between any two batches
resumes right after the last committed row. A row whose cursor moved
forward since the last run (an update) is read again and, by default,
merged on the primary key. A table without a cursor loads whole (``replace``
by default), optionally split into parallel range queries over an integer
column.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tillflow.exceptions import ConfigError, SourceError
from tillflow.rules import RuleSet
from tillflow.sources._databases._reads import TableReads
from tillflow.sources._databases._sql_types import Column, Table, json_value
from tillflow.sources._databases._url import Url
from tillflow.sources._source import SCHEMA_CONTRACTS, WRITE_MODES, BatchStream

__all__ = ["SqlTable"]

NULL_CURSOR = ("error", "first_run")
_DURATION = ((dt.timedelta,), "a positive datetime.timedelta")
_LOOKBACK_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "date": _DURATION,
    "timestamp": _DURATION,
    "timestamptz": _DURATION,
    "int": ((int,), "a positive integer"),
    "decimal": ((int, decimal.Decimal), "a positive integer or Decimal"),
    "float": ((int, float), "a positive number"),
}


@dataclass
class SqlTable(TableReads):
    """One database table as a resource of the batch protocol (see
    [sql_database][tillflow.sources.sql_database] for what each option means). ``catalog`` is the
    table as the database described it when the source was made; ``open``
    reads the catalog again, so columns added since then load too.

    [sql_database][tillflow.sources.sql_database] makes these; the options
    below are its options for one table.

    Parameters
    ----------
    url
        The parsed database URL.
    catalog
        The table's columns and primary key, as the catalog gave them.
    cursor
        The column incremental reads follow; ``None`` loads the table whole.
    primary_key
        The key columns; by default the catalog's.
    write_mode
        By default ``replace`` without a cursor, else ``merge`` with a
        primary key and ``append`` without one.
    initial
        Where a first incremental run starts (inclusive).
    batch_size
        Rows per batch.
    partitions
        Parallel range queries for a full load.
    partition_on
        The integer column partitions split on.
    null_cursor
        ``"error"`` or ``"first_run"``.
    lookback
        How far before the stored cursor each run starts.
    rules
        A [RuleSet][tillflow.rules.RuleSet] or anything
        [RuleSet.coerce][tillflow.rules.RuleSet.coerce] takes.
    schema_contract
        ``evolve``, ``freeze``, ``discard_row`` or ``discard_value``.
    table
        The warehouse table the rows load into; by default the database
        table's name. [Source.with_table_prefix][tillflow.sources.Source.with_table_prefix]
        sets it.

    Raises
    ------
    ConfigError
        If an option is invalid or does not fit the table's columns.
    RuleError
        If ``rules`` holds invalid rules.
    """

    url: Url = dataclasses.field(repr=False)
    catalog: Table = dataclasses.field(repr=False)
    cursor: str | None = None
    primary_key: list[str] = dataclasses.field(default_factory=list)
    write_mode: str | None = None
    initial: Any = None
    batch_size: int = 50_000
    partitions: int | None = None
    partition_on: str | None = None
    null_cursor: str = "error"
    lookback: Any = None
    rules: Any = None
    schema_contract: str | None = None
    table: str | None = None
    _initial: Any = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.table is not None and (not isinstance(self.table, str) or not self.table):
            raise ConfigError(f"invalid config: {self.catalog.name}.table: must be a non-empty name")
        where = f"invalid config: {self.name}"
        if self.rules is not None:
            self.rules = RuleSet.coerce(self.rules, f"{self.name}.rules")
        if isinstance(self.primary_key, str):
            self.primary_key = [self.primary_key]
        self.primary_key = list(self.primary_key or self.catalog.primary_key)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"{where}.batch_size: must be a positive integer, got {self.batch_size!r}")
        if self.partitions is not None and (
            isinstance(self.partitions, bool) or not isinstance(self.partitions, int) or self.partitions < 1
        ):
            raise ConfigError(f"{where}.partitions: must be a positive integer, got {self.partitions!r}")
        if self.null_cursor not in NULL_CURSOR:
            raise ConfigError(
                f"{where}.null_cursor: must be one of {', '.join(NULL_CURSOR)}, got {self.null_cursor!r}"
            )
        if self.schema_contract is not None and self.schema_contract not in SCHEMA_CONTRACTS:
            raise ConfigError(
                f"{where}.schema_contract: must be one of {', '.join(SCHEMA_CONTRACTS)}, "
                f"got {self.schema_contract!r}"
            )
        if self.write_mode is None:
            self.write_mode = "replace" if self.cursor is None else "merge" if self.primary_key else "append"
        if self.write_mode not in WRITE_MODES:
            raise ConfigError(
                f"{where}.write_mode: must be one of {', '.join(WRITE_MODES)}, got {self.write_mode!r}"
            )
        if self.write_mode == "merge" and not self.primary_key:
            raise ConfigError(
                f"{where}.write_mode: merge needs a primary key; table {self._label} has none, "
                f"pass primary_key="
            )
        if self.partition_on is not None and self.partitions is None:
            self.partitions = os.cpu_count() or 2
        self._check(self.catalog)
        if self.cursor is not None and self.initial is not None:
            column = self.catalog.column(self.cursor)
            assert column is not None
            try:
                self._initial = json_value(column, self.initial)
            except ValueError as exc:
                raise ConfigError(
                    f"{where}.initial: {self.initial!r} does not fit the cursor column {self.cursor!r} "
                    f"({column.type}): {exc}"
                ) from None
        else:
            self._initial = None
        if self.lookback is not None:
            self._check_lookback(where)

    def _check_lookback(self, where: str) -> None:
        column = self.catalog.column(self.cursor or "")
        if column is None:
            raise ConfigError(f"{where}.lookback: a lookback needs a cursor")
        if self.write_mode != "merge":
            raise ConfigError(
                f"{where}.lookback: a lookback reads rows again, so it needs write_mode='merge' "
                f"(with {self.write_mode!r} they would load twice)"
            )
        wanted = _LOOKBACK_TYPES.get(column.key or "")
        back: Any = self.lookback
        fits = wanted is not None and isinstance(back, wanted[0]) and not isinstance(back, bool)
        if not fits or back <= (dt.timedelta(0) if isinstance(back, dt.timedelta) else 0):
            need = wanted[1] if wanted else "a date, timestamp or number cursor"
            raise ConfigError(
                f"{where}.lookback: the cursor {column.name!r} is {column.type}, so lookback must be "
                f"{need}, got {back!r}"
            )

    def _start_before(self, column: Column, stored: Any) -> Any:
        """The stored cursor less the lookback, as a cursor value."""
        back = self.lookback
        if column.key == "date":
            return json_value(column, dt.date.fromisoformat(stored) - back)
        if column.key in ("timestamp", "timestamptz"):
            return json_value(column, dt.datetime.fromisoformat(stored) - back)
        if column.key == "decimal":
            return json_value(column, decimal.Decimal(stored) - decimal.Decimal(back))
        return json_value(column, stored - back)

    @property
    def name(self) -> str:
        """The resource's name: the warehouse table it loads."""
        return self.table or self.catalog.name

    def renamed(self, name: str) -> SqlTable:
        """The same table loading into the warehouse table ``name``."""
        return dataclasses.replace(self, table=name)

    @property
    def _label(self) -> str:
        return f"{self.catalog.schema}.{self.catalog.name}"

    def _check(self, table: Table) -> None:
        """The options against the table's columns: each named column
        exists and can do its job."""
        where = f"invalid config: {self.name}"
        names = [c.name for c in table.columns]
        for option, column_name in [
            *(("primary_key", k) for k in self.primary_key),
            ("cursor", self.cursor),
            ("partition_on", self.partition_on),
        ]:
            if column_name is not None and table.column(column_name) is None:
                raise ConfigError(
                    f"{where}.{option}: table {self._label} has no column {column_name!r} (it has {names})"
                )
        if self.cursor is not None:
            for option, column_name in [
                ("cursor", self.cursor),
                *(("primary_key", k) for k in self.primary_key),
            ]:
                column = table.column(column_name)
                assert column is not None
                if column.key is None:
                    raise ConfigError(
                        f"{where}.{option}: column {column_name!r} of {self._label} has type {column.type}, "
                        f"which cannot order incremental reads; use a number, text, date or timestamp column"
                    )
            if self.null_cursor == "first_run" and not self.primary_key:
                raise ConfigError(f"{where}.null_cursor: 'first_run' needs a primary key; pass primary_key=")
        if (self.partitions or 1) > 1 and self.cursor is None:
            column = self._partition_column(table)
            if column is None or column.key != "int":
                found = (
                    f"column {column.name!r} is {column.type}"
                    if column is not None and self.partition_on is not None
                    else "it has no single-column integer primary key"
                )
                raise ConfigError(
                    f"{where}.partition_on: partitions split on an integer column, and in "
                    f"{self._label} {found}; pass partition_on= an integer column"
                )

    def _partition_column(self, table: Table) -> Column | None:
        if self.partition_on is not None:
            return table.column(self.partition_on)
        if len(self.primary_key) == 1:
            return table.column(self.primary_key[0])
        return None

    def open(self, state: Mapping[str, Any] | None = None) -> BatchStream:
        """Reads the catalog again and starts reading. ``state`` is the
        last committed ``{"cursor", "key"}``; without it an incremental
        table starts at ``initial`` (inclusive), or at its first row.

        Parameters
        ----------
        state
            The state the last committed batch carried, or ``None``.

        Returns
        -------
        BatchStream
            The table's batches.

        Raises
        ------
        ConfigError
            If the options no longer fit the table's columns.
        SourceError
            If the database cannot be reached or the catalog read, the
            stored state does not match the cursor and key (run with
            ``full_refresh=True``), or, with ``null_cursor="error"``, a row's
            cursor is NULL. Errors while reading rows are raised as the stream
            is read.
        """
        dialect = self.url.dialect
        conn = dialect.connect(self.url)
        try:
            tables = dialect.reflect(conn, self.catalog.schema, [self.catalog.name])
            table = tables[self.catalog.name]
            self._check(table)
            queries: list[str] = []
            resume, start = None, self._initial
            if self.cursor is None:
                queries = self._full_queries(conn, table)
            else:
                resume = self._checked_state(table, state)
                if resume is not None and self.lookback is not None and resume["cursor"] is not None:
                    # Start again lookback before the stored cursor, to catch rows whose
                    # transactions committed after the last run read past their cursor.
                    column = table.column(self.cursor)
                    assert column is not None
                    start, resume = self._start_before(column, resume["cursor"]), None
                if self.null_cursor == "error":
                    self._refuse_null_cursors(conn, table)
        except (ConfigError, SourceError):
            raise
        except Exception as exc:  # driver errors while reading the catalog
            raise SourceError(f"{self._where}: cannot read the catalog: {self.url.scrub(str(exc))}") from None
        finally:
            conn.close()
        if self.cursor is None:
            return _Stream(self, table, self._full(table, queries))
        return _Stream(self, table, self._pages(table, resume, start, first_run=not state))

    @property
    def _where(self) -> str:
        return f"{self.url.dialect.name} {self.url.redacted}, table {self._label}"

    def _checked_state(self, table: Table, state: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not state:
            return None
        keys = state.get("key")
        if "cursor" not in state or not isinstance(keys, list) or len(keys) != len(self.primary_key):
            raise SourceError(
                f"{self._where}: the stored state {dict(state)!r} does not match cursor {self.cursor!r} and "
                f"primary key {self.primary_key}; run with full_refresh=True to start over"
            )
        columns = [table.column(c) for c in [self.cursor or "", *self.primary_key]]
        for column, value in zip(columns, [state["cursor"], *keys], strict=True):
            assert column is not None
            if value is None and column.name == self.cursor and self.null_cursor == "first_run":
                continue
            try:
                self.url.dialect.literal(column, value)
            except (ValueError, TypeError) as exc:
                raise SourceError(
                    f"{self._where}: the stored state holds {value!r} for column {column.name!r} "
                    f"({column.type}): {exc}; run with full_refresh=True to start over"
                ) from None
        return {"cursor": state["cursor"], "key": list(keys)}

    def _refuse_null_cursors(self, conn: Any, table: Table) -> None:
        column = table.column(self.cursor or "")
        if column is None or not column.nullable:
            return
        dialect = self.url.dialect
        sql = f"SELECT count(*) FROM {dialect.table_ref(table)} WHERE {dialect.quote(column.name)} IS NULL"
        with contextlib.closing(conn.cursor()) as cur:
            cur.execute(sql)
            nulls = cur.fetchone()[0]
        if nulls:
            raise SourceError(
                f"{self._where}: {nulls} rows have NULL in the cursor column {column.name!r}, so no "
                f"incremental read would ever load them; make the column NOT NULL, or pass "
                f"null_cursor='first_run' to load them on a first run only"
            )

    def __repr__(self) -> str:
        return (
            f"SqlTable({self.name!r}, url={self.url.redacted!r}, cursor={self.cursor!r}, "
            f"primary_key={self.primary_key!r}, write_mode={self.write_mode!r})"
        )


class _Stream:
    """A table's batches in the batch protocol."""

    def __init__(self, resource: SqlTable, table: Table, batches: Iterator[dict[str, Any]]) -> None:
        self.resource = resource
        self.table = table
        self._batches = batches

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._batches

    def close(self) -> None:
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()
