"""PostgreSQL: its catalog, quoting, literals and column plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from tillflow._core.errors import config_error
from tillflow.exceptions import SourceError
from tillflow.sources._databases._dialect import Dialect, chosen_tables, first_line, require
from tillflow.sources._databases._sql_types import Column, Table, decimal_type

if TYPE_CHECKING:
    from tillflow.sources._databases._url import Url


class _Postgres(Dialect):
    name = "PostgreSQL"
    default_port = 5432
    pre_execution = ("SET TIME ZONE 'UTC'",)
    _NUMBERS: ClassVar[dict[str, str]] = {
        "int2": "Int16", "int4": "Int32", "int8": "Int64", "oid": "UInt32", "float4": "Float32",
        "float8": "Float64",
    }  # fmt: skip
    _NATIVE: ClassVar[dict[str, str]] = {  # typname -> keyset kind
        "int2": "int", "int4": "int", "int8": "int", "oid": "int",
        "float4": "float", "float8": "float", "bool": "bool",
        "text": "text", "varchar": "text", "bpchar": "text", "name": "text",
        "date": "date", "time": "time", "timestamp": "timestamp", "timestamptz": "timestamptz",
        "uuid": "cast", "bytea": "binary",
    }  # fmt: skip
    _ORDERED_TEXT: ClassVar[set[str]] = {
        "interval", "inet", "cidr", "macaddr", "macaddr8", "money", "timetz", "bit", "varbit", "citext",
    }  # fmt: skip
    _LIST_ITEMS: ClassVar[set[str]] = {"int2", "int4", "int8", "float4", "float8", "bool", "text", "varchar"}

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def string(self, text: str) -> str:
        # An escape string reads the same whatever standard_conforming_strings says.
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

    def connect(self, url: Url) -> Any:
        psycopg = require("psycopg")

        try:
            return psycopg.connect(url.conn.reveal(), connect_timeout=10, autocommit=True)
        except psycopg.Error as exc:
            raise SourceError(
                f"cannot connect to PostgreSQL at {url.redacted}: {first_line(url.scrub(str(exc)))}"
            ) from None

    def default_schema(self, url: Url) -> str:
        return "public"

    def reflect(self, conn: Any, schema: str, names: Sequence[str] | None) -> dict[str, Table]:
        rows = conn.execute(
            "SELECT c.relname, c.relkind IN ('r', 'p') AND NOT c.relispartition FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname",
            [schema],
        ).fetchall()
        if (
            not rows
            and conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone() is None
        ):
            raise config_error(f"schema: PostgreSQL has no schema {schema!r}")
        base = [name for name, is_base in rows if is_base]
        chosen = chosen_tables(names, [name for name, _ in rows], base, f"schema {schema!r}")
        columns: dict[str, list[Column]] = {n: [] for n in chosen}
        for row in conn.execute(_PG_COLUMNS, [schema, chosen]).fetchall():
            columns[row[0]].append(self._column(*row[1:]))
        keys: dict[str, list[str]] = {n: [] for n in chosen}
        for table, column in conn.execute(_PG_KEYS, [schema, chosen]).fetchall():
            keys[table].append(column)
        return {n: Table(schema, n, tuple(columns[n]), tuple(keys[n])) for n in chosen}

    def _column(
        self, name: str, full: str, cast: str, typname: str, typtype: str, element: str | None, nullable: bool
    ) -> Column:
        quoted = self.quote(name)
        as_text = Column(name, full, nullable, f"CAST({quoted} AS text) AS {quoted}", cast=cast)
        ordered_text = dataclasses.replace(as_text, key="cast")  # its text form casts back, same order
        if typtype == "e":
            return ordered_text
        if typtype != "b":  # composites, ranges, ...
            return as_text
        if typname == "numeric":
            match = re.fullmatch(r"numeric\((\d+),(-?\d+)\)", full)
            precision, scale = (int(match[1]), int(match[2])) if match else (None, None)
            if not decimal_type(precision, scale):
                return ordered_text
            return Column(name, full, nullable, as_text.select, "decimal", precision, scale, "decimal", cast)
        if typname in self._NATIVE:
            plain = f"{quoted} AS {quoted}"
            return Column(
                name,
                full,
                nullable,
                plain,
                key=self._NATIVE[typname],
                cast=cast,
                dtype=self._NUMBERS.get(typname),
            )
        if element in self._LIST_ITEMS:
            return Column(name, full, nullable, f"{quoted} AS {quoted}")
        if typname in self._ORDERED_TEXT:
            return ordered_text
        return as_text  # json, jsonb, xml, geometry, other arrays, ...

    def order_by(self, columns: Sequence[Column], nulls_first: bool) -> str:
        first, *rest = [self.quote(c.name) for c in columns]
        return ", ".join([first + (" NULLS FIRST" if nulls_first else ""), *rest])

    def after(self, columns: Sequence[Column], values: Sequence[Any]) -> str:
        if len(columns) == 1:
            return super().after(columns, values)
        names = ", ".join(self.quote(c.name) for c in columns)
        literals = ", ".join(self.literal(c, v) for c, v in zip(columns, values, strict=True))
        return f"(({names}) > ({literals}))"  # a row comparison, which a btree index serves

    def _float(self, column: Column, text: str) -> str:
        return f"CAST('{text}' AS {column.cast})"

    def _bool(self, value: bool) -> str:
        return "TRUE" if value else "FALSE"

    def _binary(self, value: bytes) -> str:
        return f"decode('{value.hex()}', 'hex')"

    def _temporal(self, column: Column, kind: str, text: str) -> str:
        parsed: dt.date | dt.time
        if kind == "date":
            parsed = dt.date.fromisoformat(text)
        elif kind == "time":
            parsed = dt.time.fromisoformat(text)
        else:
            parsed = dt.datetime.fromisoformat(text)
        return f"CAST('{parsed.isoformat()}' AS {column.cast})"

    def _text(self, column: Column, text: str) -> str:
        return f"CAST({self.string(text)} AS {column.cast})"


# A domain column reads as its base type.
_PG_COLUMNS = """
SELECT c.relname, a.attname,
       format_type(t.oid, CASE WHEN d.typtype = 'd' THEN d.typtypmod ELSE a.atttypmod END),
       format_type(t.oid, -1),
       t.typname, t.typtype::text,
       CASE WHEN t.typcategory = 'A' THEN e.typname END,
       NOT a.attnotnull
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type d ON d.oid = a.atttypid
JOIN pg_type t ON t.oid = CASE WHEN d.typtype = 'd' THEN d.typbasetype ELSE d.oid END
LEFT JOIN pg_type e ON e.oid = t.typelem
WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_PG_KEYS = """
SELECT c.relname, a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE i.indisprimary AND n.nspname = %s AND c.relname = ANY(%s)
ORDER BY c.relname, k.position
"""


POSTGRES = _Postgres()
