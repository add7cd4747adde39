"""A scratch area on the local PostgreSQL or MariaDB for the database source
tests; the ``pg``, ``maria`` and ``db`` fixtures of ``conftest.py`` hand one out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tillflow as tl


@dataclass
class Db:
    """A scratch area on one server: a fresh schema on PostgreSQL, table
    names with a fresh prefix on MariaDB."""

    kind: str
    url: str
    schema: str
    prefix: str
    conn: Any

    @property
    def is_pg(self) -> bool:
        return self.kind == "postgres"

    def q(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"' if self.is_pg else "`" + name.replace("`", "``") + "`"

    def name(self, base: str) -> str:
        return base if self.is_pg else f"{self.prefix}_{base}"

    def ref(self, base: str) -> str:
        return f"{self.q(self.schema)}.{self.q(base)}" if self.is_pg else self.q(self.name(base))

    def run(self, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
        with self.conn.cursor() as cur:
            if rows is None:
                cur.execute(sql)
            else:
                cur.executemany(sql, rows)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    @property
    def stamp(self) -> str:
        """A microsecond timestamp type for cursors."""
        return "timestamptz" if self.is_pg else "datetime(6)"

    def source(self, *tables: str, **options: Any) -> tl.sources.Source:
        names = [self.name(t) for t in tables]
        return tl.sources.sql_database(self.url, schema=self.schema, tables=names, **options)
