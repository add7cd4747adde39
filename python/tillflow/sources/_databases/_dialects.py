"""What tillflow needs to know about PostgreSQL and MySQL/MariaDB to read
their tables: connection URLs, catalog reads, quoting, literals and the plan
that says how each column type is read.

Rows never pass through this module: connectorx reads them as Arrow. The
catalog (tables, columns, primary keys) is read with the databases' own
drivers (psycopg, PyMySQL), which also fail fast and clearly on a bad URL,
password or database name before connectorx's connection pool would retry
for half a minute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import importlib
import math
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any, ClassVar

from tillflow._core.secrets import Secret, mask_password, redact
from tillflow.exceptions import ConfigError, SourceError
from tillflow.sources._databases._sql_types import Column, Table, decimal_type

__all__ = ["MYSQL", "POSTGRES", "Dialect", "Url", "parse_url", "require"]


@dataclasses.dataclass(frozen=True)
class Url:
    """A database URL: ``conn`` is what connectorx gets, ``redacted`` what
    messages show (the password as ``***``). The password, and so ``conn``,
    are held as :class:`Secret`: masked in reprs, logs and what Prefect
    stores of a flow's parameters."""

    conn: Secret
    redacted: str
    dialect: Dialect
    user: str | None
    password: Secret | None
    host: str
    port: int
    database: str
    query: str

    def scrub(self, text: str) -> str:
        """``text`` with the password taken out, in any form it takes on the
        wire (a short one only where it stands as a credential)."""
        return redact(text)


def parse_url(url: str) -> Url:
    """Check a ``postgresql://`` or ``mysql://`` URL and pick its dialect."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            "invalid config: url: expected postgresql://user@host:port/db or mysql://user@host:port/db"
        )
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower().split("+", 1)[0]  # SQLAlchemy-style "postgresql+psycopg"
    dialect: Dialect
    if scheme in ("postgresql", "postgres"):
        dialect, conn_scheme = POSTGRES, "postgresql"
    elif scheme in ("mysql", "mariadb"):
        dialect, conn_scheme = MYSQL, "mysql"
    else:
        raise ConfigError(
            f"invalid config: url: unsupported scheme {parts.scheme!r}; use postgresql:// or mysql://"
        )
    try:
        port = parts.port or dialect.default_port
    except ValueError as exc:
        raise ConfigError(f"invalid config: url: bad port in {_redact(parts)}: {exc}") from None
    if not parts.hostname:
        raise ConfigError(f"invalid config: url: no host in {_redact(parts)}")
    password = Secret(urllib.parse.unquote(parts.password)) if parts.password is not None else None
    # The password is registered on its own; the URL around it is no secret.
    conn = urllib.parse.urlunsplit((conn_scheme, parts.netloc, parts.path, parts.query, ""))
    return Url(
        conn=Secret(conn, register=False),
        redacted=_redact(parts._replace(scheme=conn_scheme)),
        dialect=dialect,
        user=urllib.parse.unquote(parts.username) if parts.username else None,
        password=password,
        host=parts.hostname,
        port=port,
        database=urllib.parse.unquote(parts.path.lstrip("/")),
        query=parts.query,
    )


def _redact(parts: urllib.parse.SplitResult) -> str:
    """The URL without its query, its password masked."""
    return mask_password(urllib.parse.urlunsplit(parts._replace(query="", fragment="")))


class Dialect:
    """Quoting, literals, catalog reads and the column plan of one database family."""

    name = ""
    default_port = 0
    #: Run by connectorx on each connection before a read.
    pre_execution: tuple[str, ...] = ()

    def quote(self, name: str) -> str:
        raise NotImplementedError

    def string(self, text: str) -> str:
        raise NotImplementedError

    def table_ref(self, table: Table) -> str:
        return f"{self.quote(table.schema)}.{self.quote(table.name)}"

    def connect(self, url: Url) -> Any:
        raise NotImplementedError

    def default_schema(self, url: Url) -> str:
        raise NotImplementedError

    def reflect(self, conn: Any, schema: str, names: Sequence[str] | None) -> dict[str, Table]:
        """The named tables (or every base table of ``schema``), in order."""
        raise NotImplementedError

    def order_by(self, columns: Sequence[Column], nulls_first: bool) -> str:
        # MySQL sorts NULLs first in ascending order, which is what a first run wants.
        return ", ".join(self.quote(c.name) for c in columns)

    def after(self, columns: Sequence[Column], values: Sequence[Any]) -> str:
        """Rows strictly after ``values`` in the order of ``columns``: the
        expanded form, which every engine's range optimizer takes."""
        pairs = [(self.quote(c.name), self.literal(c, v)) for c, v in zip(columns, values, strict=True)]
        column, value = pairs[-1]
        condition = f"{column} > {value}"
        for column, value in reversed(pairs[:-1]):
            condition = f"{column} > {value} OR ({column} = {value} AND ({condition}))"
        return f"({condition})"

    def literal(self, column: Column, value: Any) -> str:
        """``value`` (as :func:`json_value` keeps it) written as SQL for ``column``."""
        kind = column.key
        if kind == "int":
            if type(value) is not int:
                raise ValueError("not an integer")
            return str(value)
        if kind == "decimal":
            number = decimal.Decimal(str(value))
            if not number.is_finite():
                raise ValueError("not a finite number")
            return format(number, "f")
        if kind == "float":
            real = float(value)
            if not math.isfinite(real):
                raise ValueError("not a finite number")
            return self._float(column, repr(real))
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("not a boolean")
            return self._bool(value)
        if kind == "binary":
            return self._binary(bytes.fromhex(str(value)))
        if kind in ("date", "timestamp", "timestamptz", "time"):
            return self._temporal(column, kind, str(value))
        if kind in ("text", "cast"):
            if not isinstance(value, str):
                raise ValueError("not a string")
            return self._text(column, value)
        raise ValueError(f"type {column.type} cannot order a keyset")

    def _float(self, column: Column, text: str) -> str:
        raise NotImplementedError

    def _bool(self, value: bool) -> str:
        raise NotImplementedError

    def _binary(self, value: bytes) -> str:
        raise NotImplementedError

    def _temporal(self, column: Column, kind: str, text: str) -> str:
        raise NotImplementedError

    def _text(self, column: Column, text: str) -> str:
        raise NotImplementedError


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
                f"cannot connect to PostgreSQL at {url.redacted}: {_first_line(url.scrub(str(exc)))}"
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
            raise ConfigError(f"invalid config: schema: PostgreSQL has no schema {schema!r}")
        base = [name for name, is_base in rows if is_base]
        chosen = _chosen(names, [name for name, _ in rows], base, f"schema {schema!r}")
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


class _MySQL(Dialect):
    name = "MySQL"
    default_port = 3306
    # TIMESTAMP columns are read as UTC wall times and get their zone afterwards.
    pre_execution = ("SET time_zone = '+00:00'",)
    _INTEGERS: ClassVar[dict[str, int]] = {
        "tinyint": 8,
        "smallint": 16,
        "mediumint": 32,
        "int": 32,
        "integer": 32,
        "bigint": 64,
    }
    _TEXT: ClassVar[set[str]] = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}
    # DATA_TYPE -> keyset kind (None: read as it is, cannot order a keyset)
    _NATIVE: ClassVar[dict[str, str | None]] = {
        "float": "float", "double": "float", "real": "float",
        "date": "date", "datetime": "timestamp", "timestamp": "timestamptz",
        "binary": "binary", "varbinary": "binary", "tinyblob": "binary", "blob": "binary",
        "mediumblob": "binary", "longblob": "binary", "enum": None, "set": None,
    }  # fmt: skip
    _GEOMETRY: ClassVar[set[str]] = {
        "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
        "geometrycollection",
    }  # fmt: skip

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string(self, text: str) -> str:
        # A hex literal with a charset introducer needs no escaping under any sql_mode,
        # and yields to the column's collation when compared.
        return f"_utf8mb4 X'{text.encode('utf-8').hex()}'"

    def connect(self, url: Url) -> Any:
        pymysql = require("pymysql")

        try:
            return pymysql.connect(
                host=url.host,
                port=url.port,
                user=url.user or "",
                password=url.password.reveal() if url.password is not None else "",
                database=url.database or None,
                charset="utf8mb4",
                connect_timeout=10,
                autocommit=True,
            )
        except pymysql.MySQLError as exc:
            raise SourceError(
                f"cannot connect to MySQL at {url.redacted}: {_first_line(url.scrub(_mysql_message(exc)))}"
            ) from None

    def default_schema(self, url: Url) -> str:
        if not url.database:
            raise ConfigError(
                f"invalid config: url: {url.redacted} names no database; add /dbname or schema="
            )
        return url.database

    def reflect(self, conn: Any, schema: str, names: Sequence[str] | None) -> dict[str, Table]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME, TABLE_TYPE = 'BASE TABLE' FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
                [schema],
            )
            rows = cur.fetchall()
            if not rows:
                cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [schema])
                if cur.fetchone() is None:
                    raise ConfigError(f"invalid config: schema: MySQL has no database {schema!r}")
            base = [name for name, is_base in rows if is_base]
            chosen = _chosen(names, [name for name, _ in rows], base, f"database {schema!r}")
            columns: dict[str, list[Column]] = {n: [] for n in chosen}
            cur.execute(
                "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, "
                "IS_NULLABLE = 'YES' FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "ORDER BY TABLE_NAME, ORDINAL_POSITION",
                [schema],
            )
            for row in cur.fetchall():
                if row[0] in columns:
                    columns[row[0]].append(self._column(*row[1:]))
            keys: dict[str, list[str]] = {n: [] for n in chosen}
            cur.execute(
                "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = %s AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX",
                [schema],
            )
            for table, column in cur.fetchall():
                if table in keys:
                    keys[table].append(column)
        return {n: Table(schema, n, tuple(columns[n]), tuple(keys[n])) for n in chosen}

    def _column(
        self, name: str, data_type: str, column_type: str, precision: Any, scale: Any, nullable: Any
    ) -> Column:
        data_type, column_type, nullable = data_type.lower(), column_type.lower(), bool(nullable)
        quoted = self.quote(name)
        plain = f"{quoted} AS {quoted}"
        if data_type == "tinyint" and column_type.startswith("tinyint(1)") and "unsigned" not in column_type:
            return Column(name, column_type, nullable, plain, adjust="bool", key="bool")  # BOOL/BOOLEAN
        if data_type in self._INTEGERS:
            sign = "UInt" if "unsigned" in column_type else "Int"
            dtype = f"{sign}{self._INTEGERS[data_type]}"
            return Column(name, column_type, nullable, plain, key="int", dtype=dtype)
        if data_type == "year":
            return Column(name, column_type, nullable, plain, key="int", dtype="Int16")
        if data_type in ("decimal", "numeric"):
            p, s = int(precision), int(scale)
            adjust = "decimal" if decimal_type(p, s) else None
            select = f"CAST({quoted} AS CHAR) AS {quoted}"
            return Column(name, column_type, nullable, select, adjust, p, s, "decimal")
        if data_type in self._TEXT:
            return Column(name, column_type, nullable, plain, key="text")
        if data_type in self._NATIVE:
            zone = "utc" if data_type == "timestamp" else None
            floats = {"float": "Float32", "double": "Float64", "real": "Float64"}
            kind = self._NATIVE[data_type]
            return Column(name, column_type, nullable, plain, zone, key=kind, dtype=floats.get(data_type))
        if data_type == "bit":
            select = f"CAST({quoted} AS UNSIGNED) AS {quoted}"
            return Column(name, column_type, nullable, select, key="int", dtype="UInt64")
        if data_type == "time":
            # TIME spans -838:59:59 to 838:59:59; only times of day load (as TIME).
            return Column(name, column_type, nullable, f"CAST({quoted} AS CHAR) AS {quoted}", adjust="time")
        if data_type in self._GEOMETRY:
            return Column(name, column_type, nullable, f"ST_AsText({quoted}) AS {quoted}")
        # json, uuid, inet6, ...: their text form
        return Column(name, column_type, nullable, f"CAST({quoted} AS CHAR) AS {quoted}")

    def _float(self, column: Column, text: str) -> str:
        return text if "e" in text else text + "e0"  # an exponent makes it a DOUBLE, not a DECIMAL

    def _bool(self, value: bool) -> str:
        return "1" if value else "0"

    def _binary(self, value: bytes) -> str:
        return f"X'{value.hex()}'"

    def _temporal(self, column: Column, kind: str, text: str) -> str:
        if kind == "date":
            return f"'{dt.date.fromisoformat(text).isoformat()}'"
        stamp = dt.datetime.fromisoformat(text)
        if stamp.tzinfo is not None:  # TIMESTAMP: compared as a UTC wall time (see pre_execution)
            stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return f"'{stamp:%Y-%m-%d %H:%M:%S.%f}'"

    def _text(self, column: Column, text: str) -> str:
        return self.string(text)


def require(module: str) -> Any:
    """A module of the ``databases`` extra, or a ConfigError saying how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"invalid config: database sources need {module!r}; pip install 'tillflow[databases]'"
        ) from None


def _mysql_message(exc: Exception) -> str:
    args: tuple[Any, ...] = exc.args
    return str(args[1]) if len(args) >= 2 else str(exc)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _chosen(names: Sequence[str] | None, known: list[str], base: list[str], where: str) -> list[str]:
    if names is None:
        return base
    missing = [n for n in names if n not in known]
    if missing:
        close = {n: [k for k in known if k.lower() == n.lower()] for n in missing}
        hint = "".join(f"; did you mean {close[n][0]!r}?" for n in missing if close[n])
        raise ConfigError(
            f"invalid config: tables: {where} has no table {missing[0]!r}{hint} (it has {base})"
        )
    return list(names)


POSTGRES = _Postgres()
MYSQL = _MySQL()
