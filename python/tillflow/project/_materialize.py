"""Writing a model's SQL into the warehouse, each change in one transaction.

- ``view``: the view is replaced.
- ``table``: the table is rebuilt from the query and swapped in.
- ``incremental``: the first run (or a full refresh) builds the table; later
  runs evaluate the query once, delete the rows whose ``unique_key`` it
  brings again, and insert its rows. Columns the query gains are added.

DuckDB and PostgreSQL run the SQL in the engine. The Delta lake runs the
query through its DuckDB reader and writes the result as a load
(``replace`` for a table, ``merge`` on the key for an incremental model), so
the model's table gets the lake's atomic commits; a view is kept as its SQL
in the lake (see [DeltaLake.create_view][tillflow.warehouse.DeltaLake.create_view]).
"""

from __future__ import annotations

from typing import Any

from tillflow.exceptions import WarehouseError
from tillflow.warehouse.sql import quote_identifier as q

__all__ = ["materialize", "relation_exists"]


def relation_exists(wh: Any, name: str) -> bool:
    """Whether ``name`` is a table or view of the warehouse (case-insensitively)."""
    return name.lower() in {t.lower() for t in _relations(wh)}


def _relations(wh: Any) -> list[str]:
    from tillflow.warehouse import DeltaLake, PostgresWarehouse

    if isinstance(wh, DeltaLake):
        return [*wh.tables(), *wh.views()]
    if isinstance(wh, PostgresWarehouse):
        rows = wh.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [wh.schema]
        )
    else:
        rows = wh.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return [str(v) for v in rows["table_name"].to_list()] if rows.height else []


def materialize(
    wh: Any, name: str, sql: str, materialized: str, unique_key: list[str] | None, *, full_refresh: bool
) -> int | None:
    """Write model ``name`` from ``sql``; returns the rows written (None for a view).

    Raises
    ------
    WarehouseError
        If the SQL fails; nothing of the model changed.
    ConfigError
        If the warehouse cannot hold that materialization.
    """
    from tillflow.warehouse import DeltaLake, PostgresWarehouse

    if isinstance(wh, DeltaLake):
        return _lake(wh, name, sql, materialized, unique_key, full_refresh=full_refresh)
    engine = _Postgres(wh) if isinstance(wh, PostgresWarehouse) else _DuckDB(wh)
    exists = relation_exists(wh, name)
    try:
        if materialized == "view":
            engine.view(name, sql)
            return None
        if materialized == "table" or not exists or full_refresh:
            return engine.table(name, sql)
        return engine.incremental(name, sql, unique_key)
    except WarehouseError:
        raise
    except Exception as exc:  # the engine's own error: the SQL or a type
        engine.rollback()
        raise WarehouseError(f"model {name!r}: {type(exc).__name__}: {exc}".rstrip()) from exc


class _DuckDB:
    def __init__(self, wh: Any) -> None:
        self.con = wh.connection

    def run(self, sql: str) -> Any:
        return self.con.execute(sql)

    def rollback(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except Exception:  # no transaction open
            pass

    def view(self, name: str, sql: str) -> None:
        self.run("BEGIN")
        if self._kind(name) == "table":
            self.run(f"DROP TABLE {q(name)}")
        self.run(f"CREATE OR REPLACE VIEW {q(name)} AS {sql}")
        self.run("COMMIT")

    def table(self, name: str, sql: str) -> int:
        self.run("BEGIN")
        if self._kind(name) == "view":
            self.run(f"DROP VIEW {q(name)}")
        self.run(f"CREATE OR REPLACE TABLE {q(name)} AS {sql}")
        rows = int(self.run(f"SELECT count(*) FROM {q(name)}").fetchone()[0])
        self.run("COMMIT")
        return rows

    def incremental(self, name: str, sql: str, key: list[str] | None) -> int:
        staged = f"__tf_model_{name}"
        self.run("BEGIN")
        self.run(f"CREATE OR REPLACE TEMP TABLE {q(staged)} AS {sql}")
        have = {r[0].lower() for r in self.run(f"DESCRIBE {q(name)}").fetchall()}
        for column, type_name, *_ in self.run(f"DESCRIBE {q(staged)}").fetchall():
            if column.lower() not in have:
                self.run(f"ALTER TABLE {q(name)} ADD COLUMN {q(column)} {type_name}")
        if key:
            match = " AND ".join(f"t.{q(k)} IS NOT DISTINCT FROM s.{q(k)}" for k in key)
            self.run(f"DELETE FROM {q(name)} AS t USING {q(staged)} AS s WHERE {match}")
        rows = int(self.run(f"INSERT INTO {q(name)} BY NAME SELECT * FROM {q(staged)}").fetchone()[0])
        self.run(f"DROP TABLE {q(staged)}")
        self.run("COMMIT")
        return rows

    def _kind(self, name: str) -> str | None:
        row = self.con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND lower(table_name) = lower(?)",
            [name],
        ).fetchone()
        return None if row is None else "view" if row[0] == "VIEW" else "table"


class _Postgres:
    def __init__(self, wh: Any) -> None:
        self.con = wh.connection
        self.schema = q(wh.schema)
        from tillflow._core.extras import require

        self.errors: tuple[type[Exception], ...] = (
            require("psycopg", "postgres", "PostgreSQL models").Error,
        )

    def run(self, sql: str) -> Any:
        cur = self.con.cursor()
        cur.execute(sql)
        return cur

    def rollback(self) -> None:
        self.con.rollback()

    def ref(self, name: str) -> str:
        return f"{self.schema}.{q(name)}"

    def view(self, name: str, sql: str) -> None:
        kind = self._kind(name)
        if kind == "view":
            # Replacing in place keeps the views that read this one; PostgreSQL allows it while the
            # columns stay (new ones at the end). Otherwise the view is dropped and made again.
            try:
                self.run(f"CREATE OR REPLACE VIEW {self.ref(name)} AS {sql}")
                self.con.commit()
                return
            except self.errors:
                self.con.rollback()
            self.run(f"DROP VIEW {self.ref(name)}")
        elif kind == "table":
            self.run(f"DROP TABLE {self.ref(name)}")
        self.run(f"CREATE VIEW {self.ref(name)} AS {sql}")
        self.con.commit()

    def table(self, name: str, sql: str) -> int:
        fresh = f"__tf_new_{name}"[:63]
        self.run(f"DROP TABLE IF EXISTS {self.ref(fresh)}")
        rows = self.run(f"CREATE TABLE {self.ref(fresh)} AS {sql}").rowcount
        kind = self._kind(name)
        if kind is not None:
            self.run(f"DROP {kind.upper()} {self.ref(name)}")
        self.run(f"ALTER TABLE {self.ref(fresh)} RENAME TO {q(name)}")
        self.con.commit()
        return int(rows)

    def incremental(self, name: str, sql: str, key: list[str] | None) -> int:
        staged = q(f"__tf_model_{name}"[:63])
        self.run(f"CREATE TEMP TABLE {staged} ON COMMIT DROP AS {sql}")
        have = {c.lower() for c in self._columns(name, temp=False)}
        incoming = self._columns(f"__tf_model_{name}"[:63], temp=True)
        for column, type_name in incoming.items():
            if column.lower() not in have:
                self.run(f"ALTER TABLE {self.ref(name)} ADD COLUMN {q(column)} {type_name}")
        if key:
            match = " AND ".join(f"t.{q(k)} IS NOT DISTINCT FROM s.{q(k)}" for k in key)
            self.run(f"DELETE FROM {self.ref(name)} AS t USING {staged} AS s WHERE {match}")
        listed = ", ".join(q(c) for c in incoming)
        rows = self.run(f"INSERT INTO {self.ref(name)} ({listed}) SELECT {listed} FROM {staged}").rowcount
        self.con.commit()
        return int(rows)

    def _kind(self, name: str) -> str | None:
        row = self.run(
            "SELECT table_type FROM information_schema.tables WHERE table_schema = current_schema() "
            f"AND lower(table_name) = lower('{name.replace(chr(39), chr(39) * 2)}')"
        ).fetchone()
        if row is None:
            return None
        return "view" if row[0] == "VIEW" else "table"

    def _columns(self, name: str, *, temp: bool) -> dict[str, str]:
        schema = "pg_my_temp_schema()" if temp else "current_schema()::regnamespace"
        rows = self.run(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            f"WHERE c.relnamespace = {schema} AND c.relname = '{name.replace(chr(39), chr(39) * 2)}' "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        ).fetchall()
        return {r[0]: r[1] for r in rows}


def _lake(
    wh: Any, name: str, sql: str, materialized: str, key: list[str] | None, *, full_refresh: bool
) -> int | None:
    if materialized == "view":
        wh.create_view(name, sql)
        return None
    wh.drop_view(name)  # a model that was a view becomes a table
    frame = wh.query(sql)
    incremental = materialized == "incremental" and not full_refresh and relation_exists(wh, name)
    mode = "merge" if incremental and key else "append" if incremental else "replace"
    load = wh.begin_load("models", name, mode, key if mode == "merge" else None, root_table=name)
    try:
        wh.write_batch(load, {name: frame})
    except BaseException:
        wh.finish_load(load, "failed")
        raise
    wh.finish_load(load)
    return frame.height
