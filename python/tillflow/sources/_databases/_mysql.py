"""MySQL and MariaDB: their catalog, quoting, literals and column plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from tillflow._core.errors import config_error
from tillflow.exceptions import SourceError
from tillflow.sources._databases._dialect import Dialect, chosen_tables, first_line, require
from tillflow.sources._databases._sql_types import Column, Table, decimal_type

if TYPE_CHECKING:
    from tillflow.sources._databases._url import Url


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
                f"cannot connect to MySQL at {url.redacted}: {first_line(url.scrub(_mysql_message(exc)))}"
            ) from None

    def default_schema(self, url: Url) -> str:
        if not url.database:
            raise config_error(f"url: {url.redacted} names no database; add /dbname or schema=")
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
                    raise config_error(f"schema: MySQL has no database {schema!r}")
            base = [name for name, is_base in rows if is_base]
            chosen = chosen_tables(names, [name for name, _ in rows], base, f"database {schema!r}")
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


def _mysql_message(exc: Exception) -> str:
    args: tuple[Any, ...] = exc.args
    return str(args[1]) if len(args) >= 2 else str(exc)


MYSQL = _MySQL()
