"""What the dbt reader and writer share: how a relation, a duration, a
column type and a failure threshold are written in a ``schema.yml``."""

from __future__ import annotations

import re
from typing import Any

FMT = "dbt"
# A warn rule that stands beside an error rule of the same test (``warn_if``
# below ``error_if``) is named after it with this suffix.
WARN_SUFFIX = "__warn"
# dbt-utils' not_empty_string trims as SQL's one-argument trim() does in
# PostgreSQL, DuckDB, Snowflake and Redshift: spaces only.
BLANK = "^ *$"
# Test configs dbt reads from ``config:``, or from the test's top level or
# ``arguments:`` (where older files put them).
CONFIG_KEYS = (
    "enabled", "severity", "tags", "warn_if", "error_if", "fail_calc", "where", "limit", "alias",
    "database", "schema", "group", "meta", "store_failures", "store_failures_as", "quoting",
    "static_analysis", "sql_header",
)  # fmt: skip
TEST_KEYS = ("name", "description", "config", "column_name", "arguments")

_REF = re.compile(r"""^\s*(?:\{\{\s*)?ref\(\s*(['"])([^'"]+)\1\s*\)(?:\s*\}\})?\s*$""")
_SOURCE = re.compile(
    r"""^\s*(?:\{\{\s*)?source\(\s*(['"])([^'"]+)\1\s*,\s*(['"])([^'"]+)\3\s*\)(?:\s*\}\})?\s*$"""
)


def relation(text: Any) -> tuple[str, str | None] | None:
    """``ref('x')`` -> ``("x", None)``; ``source('s', 't')`` -> ``("s", "t")``;
    anything else (another package's model, a version, a raw name) None."""
    if not isinstance(text, str):
        return None
    m = _REF.match(text)
    if m:
        return m.group(2), None
    m = _SOURCE.match(text)
    if m:
        return m.group(2), m.group(4)
    return None


def relation_of(table: str) -> str:
    """A table as a test names it: ``ref('orders')``, or ``source('shop',
    'orders')`` for a source's table (``"shop.orders"``)."""
    if "." in table:
        source, name = table.split(".", 1)
        return f"source('{source}', '{name}')"
    return f"ref('{table}')"


# dbt_utils.recency's datepart (fixed lengths only), and source freshness's period.
UNITS = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "w"}
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PERIODS = ("minute", "hour", "day")

# A contract's data_type -> tillflow's schema type. Types outside these
# (json, arrays, structs, time, intervals, Snowflake's number) have none.
_TYPES = {
    "int": ("int", "integer", "bigint", "smallint", "tinyint", "int2", "int4", "int8", "int16", "int32",
            "int64", "hugeint", "byteint", "ubigint", "uinteger", "usmallint", "utinyint"),
    "float": ("float", "float4", "float8", "float64", "double", "double precision", "real"),
    "decimal": ("decimal", "numeric"),
    "bool": ("bool", "boolean"),
    "string": ("text", "string", "varchar", "char", "character", "character varying", "nvarchar",
               "nchar", "bpchar"),
    "date": ("date",),
    "datetime": ("timestamp", "datetime", "timestamp_ntz", "timestamp_tz", "timestamp_ltz", "timestamptz",
                 "timestamp without time zone", "timestamp with time zone"),
}  # fmt: skip
_TYPE_OF = {name: ty for ty, names in _TYPES.items() for name in names}
_SIZED = re.compile(r"^\s*([a-z_ ]+?)\s*(?:\(\s*\d+\s*(?:,\s*\d+\s*)?\))?\s*$")
# The data_type the writer gives each tillflow type.
DATA_TYPES = {"int": "integer", "float": "float", "decimal": "numeric", "bool": "boolean",
              "string": "text", "date": "date", "datetime": "timestamp"}  # fmt: skip


def schema_type_of(data_type: Any) -> str | None:
    """The tillflow schema type of a contract's ``data_type`` (``varchar(20)``
    -> ``string``), or None when it has none."""
    if not isinstance(data_type, str):
        return None
    m = _SIZED.match(data_type.lower())
    return _TYPE_OF.get(m.group(1)) if m else None


_CONDITION = re.compile(r"^\s*(>=|>|!=|<>)\s*(\d+)\s*$")


def threshold(condition: str) -> int | None:
    """The count a ``warn_if``/``error_if`` condition is met above: ``>10``
    -> 10, ``>=1`` and ``!=0`` -> 0. None when the condition is not of the
    form "more than N failures" (``=0``, ``between 5 and 10``, ``>=0``)."""
    m = _CONDITION.match(condition)
    if m is None:
        return None
    op, n = m.group(1), int(m.group(2))
    if op == ">":
        return n
    if op == ">=":
        return n - 1 if n >= 1 else None
    return 0 if n == 0 else None


def is_template(value: Any) -> bool:
    """Whether text holds Jinja, which only dbt can render."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)
