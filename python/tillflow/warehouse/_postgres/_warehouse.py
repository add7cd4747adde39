"""The PostgreSQL warehouse: loads normalized batches into a schema of a
PostgreSQL database.

It keeps the DuckDB warehouse's contract (see [PostgresWarehouse][tillflow.warehouse.PostgresWarehouse]).
Rows travel by binary COPY: each frame is first cast in polars to exactly
the types of its table (`_types`), pgpq encodes its Arrow data in
PostgreSQL's binary format and psycopg streams it in, so append and child
rows go straight into their table. Merge and scd2 root rows go through a
temporary table first, since matching them to stored rows is SQL (merge is
a ``MERGE`` on the primary key). The load
id reaches every row through its column's default, a setting of the batch's
transaction, so it never travels as a column of the frame. Results are read
back as Arrow through the ADBC PostgreSQL driver, on a second connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from tillflow._core.extras import require
from tillflow._core.secrets import mask_password
from tillflow.exceptions import WarehouseError
from tillflow.warehouse import _scd2, journal
from tillflow.warehouse._base import WarehouseBase
from tillflow.warehouse._postgres import _types as _pgtypes
from tillflow.warehouse._postgres._lifecycle import PostgresLifecycle
from tillflow.warehouse._postgres._reads import _PostgresReads
from tillflow.warehouse._postgres._writes import (
    _CHANGE_COLUMNS,
    _SETTING,
    PostgresWrites,
    postgres_name,
)
from tillflow.warehouse._reads import BOOKKEEPING_PREFIX
from tillflow.warehouse._schema import Columns
from tillflow.warehouse.loads import LOAD_ID_COLUMN
from tillflow.warehouse.sql import quote_identifier as q

__all__ = ["PostgresWarehouse", "postgres_name"]


_BOOKKEEPING_DDL = (
    """CREATE TABLE IF NOT EXISTS {s}._tf_loads (
        load_id text PRIMARY KEY, pipeline text, resource text, write_mode text,
        status text, started_at timestamptz, finished_at timestamptz,
        row_counts jsonb, total_rows bigint, error text, run_id text)""",
    "ALTER TABLE {s}._tf_loads ADD COLUMN IF NOT EXISTS run_id text",
    """CREATE TABLE IF NOT EXISTS {s}._tf_state (
        pipeline text, resource text, state jsonb, load_id text,
        updated_at timestamptz, PRIMARY KEY (pipeline, resource))""",
    """CREATE TABLE IF NOT EXISTS {s}._tf_schema_changes (
        load_id text, pipeline text, resource text, "table" text, "column" text,
        change text, old_type text, new_type text, changed_at timestamptz,
        seq bigint GENERATED ALWAYS AS IDENTITY)""",
    """CREATE TABLE IF NOT EXISTS {s}._tf_rule_results (
        run_id text, pipeline text, resource text, "table" text,
        rule text, kind text, columns text[], severity text,
        status text, passed boolean, failing bigint, "rows" bigint,
        fraction double precision, tolerance text, observed text, checked_at timestamptz)""",
)


class PostgresWarehouse(PostgresLifecycle, PostgresWrites, WarehouseBase, _PostgresReads):
    """A schema of a PostgreSQL database that tillflow loads into.

    It behaves as [DuckDBWarehouse][tillflow.warehouse.DuckDBWarehouse] does: one
    transaction per batch (schema changes, rows, the load's running counts,
    the source state), write modes append, replace, merge and scd2, schema
    contracts, and the bookkeeping tables ``_tf_loads``, ``_tf_state``,
    ``_tf_schema_changes`` and ``_tf_rule_results`` in ``schema``.

    Names: tables and columns keep the names the batch gives them, quoted,
    and match existing ones case-insensitively, as in DuckDB, so a pipeline
    loads the same tables into both (SQL on mixed-case names needs quotes).
    A name over PostgreSQL's 63 bytes is shortened by
    [postgres_name][tillflow.warehouse.postgres_name]. Types: see
    `tillflow.warehouse._postgres._types`; tillflow's 64-bit row ids are
    stored as bigint with the same bits. The connection's ``TimeZone`` is
    ``timezone``; ``search_path`` starts with ``schema``, so
    [query][tillflow.warehouse.PostgresWarehouse.query] can name tables
    without it. Parameters in [query][tillflow.warehouse.PostgresWarehouse.query]
    are ``$1, $2 …``.
    ``create=False`` opens only a schema that already holds a warehouse.
    The metrics read from it and write their tables into it as from DuckDB.

    Needs the ``postgres`` extra: ``pip install 'tillflow[postgres]'``.

    Parameters
    ----------
    url
        The database, ``postgresql://user:password@host:port/database``.
    schema
        The schema to load into, created when missing (unless ``create=False``).
    timezone
        The session ``TimeZone``.
    create
        Whether to create the schema and tillflow's tables when missing.
    read_only
        Open an existing warehouse for reading only: every transaction is
        read-only, so PostgreSQL refuses any write, and loads are refused
        before they start.

    Raises
    ------
    WarehouseError
        If the database cannot be reached, the schema cannot be prepared,
        or (with ``create=False`` or ``read_only=True``) the schema holds no
        warehouse.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "public",
        timezone: str = "UTC",
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        psycopg: Any = require("psycopg", "postgres", "the PostgreSQL warehouse")
        require("pgpq", "postgres", "the PostgreSQL warehouse")  # its bulk path: fail now, not mid-load

        self._psycopg = psycopg
        self.url = url
        self.schema = schema
        self.timezone = timezone
        self.read_only = read_only
        create = create and not read_only
        self._s = q(postgres_name(schema))
        self._temps = 0
        self._seen: dict[str, str] = {}  # load id -> temp table of the keys an scd2 load brought
        self._stamped: dict[str, bool] = {}  # table -> whether its load id column defaults to the load's
        self._reader: Any = None  # the ADBC connection results are read through, opened when first needed
        self._errors: tuple[type[Exception], ...] = (psycopg.Error,)
        try:
            self._con: Any = psycopg.connect(url, application_name="tillflow")
        except psycopg.Error as exc:
            raise WarehouseError(
                f"cannot connect to PostgreSQL warehouse {mask_password(url)}: {exc}"
            ) from exc
        try:
            for sql in self._session():
                self._run(sql)
            if not create and self._rows("SELECT to_regclass($1)", [f"{self._s}._tf_loads"])[0][0] is None:
                self._con.close()
                raise WarehouseError(f"no tillflow warehouse in schema {schema!r} of {mask_password(url)}")
            if not read_only:
                self._run(f"CREATE SCHEMA IF NOT EXISTS {self._s}")
                for ddl in _BOOKKEEPING_DDL:
                    self._run(ddl.format(s=self._s))
                for ddl in journal.ddl("postgres", f"{self._s}."):
                    self._run(ddl)
            self._con.commit()
        except psycopg.Error as exc:
            self._con.close()
            raise WarehouseError(f"cannot prepare PostgreSQL warehouse {self!r}: {exc}") from exc

    def _session(self) -> list[str]:
        """The settings every connection of the warehouse starts with."""
        return [
            f"SET TimeZone TO {_scd2.text_literal(self.timezone)}",
            f"SET search_path TO {self._s}, public",
            f"SET default_transaction_read_only TO {'on' if self.read_only else 'off'}",
        ]

    # -- plumbing

    @property
    def connection(self) -> Any:
        """The psycopg connection batches are written through (autocommit off).

        Raises
        ------
        WarehouseError
            If the warehouse is closed.
        """
        if self._con is None:
            raise WarehouseError(f"warehouse {self!r} is closed")
        return self._con

    @property
    def arrow_connection(self) -> Any:
        """The ADBC connection that results are read through, as Arrow (opened on first use).

        Raises
        ------
        WarehouseError
            If the warehouse is closed, or the connection cannot be opened.
        """
        if self._reader is None:
            from adbc_driver_postgresql import dbapi  # type: ignore[import-untyped]

            self.connection  # noqa: B018 - refuses a closed warehouse
            self._errors = (self._psycopg.Error, dbapi.Error)
            try:
                self._reader = dbapi.connect(self.url)
                with self._reader.cursor() as cur:
                    for sql in self._session():
                        cur.execute(sql)
                self._reader.commit()
            except dbapi.Error as exc:
                self._reader = None
                raise WarehouseError(
                    f"cannot connect to PostgreSQL warehouse {mask_password(self.url)}: {exc}"
                ) from exc
        return self._reader

    def close(self) -> None:
        """Close both connections; the warehouse cannot be used afterwards."""
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._con is not None:
                self._con.close()
                self._con = None

    def __repr__(self) -> str:
        state = " closed" if getattr(self, "_con", None) is None else ""
        where = f"{mask_password(self.url)} schema={self.schema!r} timezone={self.timezone!r}"
        return f"<PostgresWarehouse {where}{state}>"

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> int:
        with self.connection.cursor() as cur:
            cur.execute(_placeholders(sql, params), params)
            return int(cur.rowcount)

    def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cur:
            cur.execute(_placeholders(sql, params), params)
            return list(cur.fetchall())

    def _table(self, name: str) -> str:
        return f"{self._s}.{q(name)}"

    def _rollback(self) -> None:
        try:
            self.connection.rollback()
        except self._psycopg.Error:
            pass  # the connection is gone: nothing of the batch was committed

    def _temp_name(self, kind: str) -> str:
        self._temps += 1
        return f"__tf_{kind}_{self._temps}"

    # -- reads

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run PostgreSQL SQL (``$1, $2 …`` placeholders) through the Arrow
        connection and return the rows as a polars frame (empty for statements
        without rows). A statement that changes data is committed, one that
        fails is rolled back, and a closed warehouse raises ``WarehouseError``.
        See [Warehouse.query][tillflow.warehouse.Warehouse.query].
        """
        with self._lock:
            reader = self.arrow_connection
            try:
                with reader.cursor() as cur:
                    cur.execute(sql, params)
                    table = cur.fetch_arrow_table() if cur.description else None
                reader.commit()
            except self._errors as exc:
                reader.rollback()
                raise WarehouseError(f"query failed: {exc}") from exc
        return pl.DataFrame() if table is None else _pgtypes.to_polars(table)

    def tables(self) -> list[str]:
        """The user tables (plain and partitioned) of the warehouse's schema,
        sorted, bookkeeping (``_tf_*``) left out. See [Warehouse.tables][tillflow.warehouse.Warehouse.tables].
        """
        with self._lock:
            names = [t for t in self._all_tables() if not t.startswith(BOOKKEEPING_PREFIX)]
            self._rollback()
            return names

    def row_counts(self) -> dict[str, int]:
        """The rows of every user table, counted in one ``UNION ALL`` query. See
        [Warehouse.row_counts][tillflow.warehouse.Warehouse.row_counts].
        """
        tables = self.tables()
        if not tables:
            return {}
        counts = " UNION ALL ".join(
            f"SELECT {i} AS i, count(*) AS n FROM {self._table(t)}" for i, t in enumerate(tables)
        )
        with self._lock:
            rows = dict(self._rows(counts))
            self._rollback()
        return {t: int(rows[i]) for i, t in enumerate(tables)}

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None:
        """The source state committed with the last successful batch, read from
        the schema's ``_tf_state`` as text and parsed (``None`` when none was
        stored). See [Warehouse.get_state][tillflow.warehouse.Warehouse.get_state].
        """
        with self._lock:
            rows = self._rows(
                f"SELECT state::text FROM {self._s}._tf_state WHERE pipeline = $1 AND resource = $2",
                [pipeline, resource],
            )
            self._rollback()
        return json.loads(rows[0][0]) if rows else None

    def loads(self) -> pl.DataFrame:
        """``_tf_loads`` by ``load_id``, oldest first, its ``jsonb`` column
        ``row_counts`` read as JSON text. See [Warehouse.loads][tillflow.warehouse.Warehouse.loads].
        """
        return self.query(
            "SELECT load_id, pipeline, resource, write_mode, status, started_at, finished_at, "
            "row_counts::text AS row_counts, total_rows, error, run_id "
            f"FROM {self._s}._tf_loads ORDER BY load_id"
        )

    def schema_changes(self) -> pl.DataFrame:
        """``_tf_schema_changes`` in the order the changes were recorded (its
        sequence column). See [Warehouse.schema_changes][tillflow.warehouse.Warehouse.schema_changes].
        """
        return self.query(f"SELECT {_CHANGE_COLUMNS} FROM {self._s}._tf_schema_changes ORDER BY seq")

    def rule_results(self) -> pl.DataFrame:
        """``_tf_rule_results`` of the warehouse's schema, by ``checked_at``,
        then ``run_id``. See [Warehouse.rule_results][tillflow.warehouse.Warehouse.rule_results].
        """
        return self.query(f"SELECT * FROM {self._s}._tf_rule_results ORDER BY checked_at, run_id")

    def _all_tables(self) -> list[str]:
        rows = self._rows(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
            [postgres_name(self.schema)],
        )
        return sorted(r[0] for r in rows)

    def _resolve(self, table: str, existing: Sequence[str]) -> str:
        """The stored name of ``table``: an existing one matching case-insensitively, or its own."""
        name = postgres_name(table)
        for other in existing:
            if other.lower() == name.lower():
                return other
        return name

    def _columns(self, table: str) -> Columns | None:
        """``{lowercase name: (name, DuckDB type name)}``, or None when the table is missing."""
        rows = self._rows(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            [postgres_name(self.schema), table],
        )
        if not rows:
            return None
        self._stamped[table] = any(
            n == LOAD_ID_COLUMN and _SETTING in (default or "") for n, _, default in rows
        )
        return {name.lower(): (name, _pgtypes.from_postgres(type_name)) for name, type_name, _ in rows}


def _placeholders(sql: str, params: Sequence[Any] | None) -> str:
    """``$1, $2 …`` (in order) as psycopg's ``%s``; without parameters the SQL is sent as it is."""
    return sql if params is None else re.sub(r"\$\d+", "%s", sql.replace("%", "%%"))
