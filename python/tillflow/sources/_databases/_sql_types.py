"""Column types of database tables: how each is read, what polars type it
lands as, and how a cursor or key value is kept in the state exactly.

A `Column` carries the decisions the dialects make from the catalog;
`adjusted` applies them to each Arrow batch connectorx returns, and
`json_value` turns a value read (or an ``initial`` a user passed) into
the JSON-safe form the state keeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
import uuid
from typing import Any

import polars as pl

from tillflow.exceptions import SourceError

__all__ = ["Column", "Table", "adjusted", "decimal_type", "json_value"]

_DECIMAL_DIGITS = 38  # the widest decimal polars and DuckDB hold


@dataclasses.dataclass(frozen=True)
class Column:
    """One column and how it is read.

    ``select`` is the SQL expression reading it (the quoted name, or a
    cast); ``adjust`` what is done to the Arrow column afterwards
    (``decimal``: cast to ``Decimal(precision, scale)``; ``bool``: 0/1 to
    booleans; ``time``: text to a time of day; ``utc``: a UTC wall time
    gets its zone). ``key`` is how a value goes back into SQL for keyset
    paging, or None when the type cannot order a keyset."""

    name: str
    type: str
    nullable: bool
    select: str
    adjust: str | None = None
    precision: int | None = None
    scale: int | None = None
    key: str | None = None
    cast: str = ""  # PostgreSQL: the type a literal is cast to
    #: The polars type a numeric column is pinned to (connectorx's streamed
    #: reads widen small integers and floats).
    dtype: str | None = None


@dataclasses.dataclass(frozen=True)
class Table:
    """A table (or view) as the catalog describes it."""

    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None


def json_value(column: Column, value: Any) -> Any:
    """A cursor or key value as the state keeps it: JSON-safe and exact
    (integers as numbers; decimals, dates, times and timestamps as ISO text;
    bytes as hex). Accepts what a read returns and what a user passes as
    ``initial`` (naive datetimes for a zoned column are taken as UTC)."""
    kind = column.key
    if value is None:
        return None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("expected an integer")
        return int(value)
    if kind == "decimal":
        number = decimal.Decimal(str(value))
        if not number.is_finite():
            raise ValueError("expected a finite number")
        return format(number, "f")
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        if not math.isfinite(value):
            raise ValueError("NaN and infinities cannot order a keyset")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("expected a boolean")
        return value
    if kind == "binary":
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ValueError("expected bytes")
        return bytes(value).hex()
    if kind == "date":
        if isinstance(value, dt.datetime) or not isinstance(value, (dt.date, str)):
            raise ValueError("expected a date")
        return value.isoformat() if isinstance(value, dt.date) else dt.date.fromisoformat(value).isoformat()
    if kind in ("timestamp", "timestamptz"):
        stamp = _datetime(value)
        if kind == "timestamptz":
            zone = stamp.tzinfo or dt.timezone.utc
            return stamp.replace(tzinfo=zone).astimezone(dt.timezone.utc).isoformat()
        if stamp.tzinfo is not None:
            raise ValueError("expected a datetime without a time zone")
        return stamp.isoformat()
    if kind == "time":
        if isinstance(value, str):
            value = dt.time.fromisoformat(value)
        if not isinstance(value, dt.time):
            raise ValueError("expected a time")
        return value.isoformat()
    if kind in ("text", "cast"):
        if isinstance(value, (dt.date, dt.time, decimal.Decimal, int, float, uuid.UUID)) and kind == "cast":
            return str(value)
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    raise ValueError(f"a column of type {column.type} cannot be a cursor or a keyset key")


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        text = value.strip()
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    raise ValueError("expected a datetime or an ISO 8601 string")


def decimal_type(precision: int | None, scale: int | None) -> bool:
    """Whether a decimal column loads as a decimal (else as its exact text).

    Decimals are read as text and cast exactly either way: connectorx's own
    decimal is decimal128(38, 10) through a 96-bit decimal, which rounds
    finer scales and fails on NaN without naming the column."""
    return precision is not None and scale is not None and 0 <= scale <= precision <= _DECIMAL_DIGITS


def adjusted(frame: pl.DataFrame, table: Table, where: str) -> pl.DataFrame:
    """Each column as its catalog type says: numbers pinned to their width,
    decimals to their precision and scale, MySQL booleans, times of day and
    UTC timestamps."""
    out = []
    for column in table.columns:
        if column.name not in frame.columns:
            continue
        series = frame[column.name]
        target = _target(column)
        if target is None:
            continue
        try:
            if column.adjust == "bool":
                wrong = series.filter(~series.is_in([0, 1]))
                if wrong.len():
                    raise ValueError(f"values other than 0 and 1: {wrong.unique().head(3).to_list()}")
                series = series.cast(pl.Boolean)
            elif column.adjust == "time":
                series = series.str.to_time("%H:%M:%S%.f")
            elif column.adjust == "utc":
                series = series.dt.replace_time_zone("UTC")
            else:
                series = series.cast(target)
        except (pl.exceptions.PolarsError, ValueError) as exc:
            raise SourceError(f"{where}: column {column.name!r} ({column.type}) cannot load as {target}: "
                              f"{_bad_values(series, target) or exc}") from None  # fmt: skip
        out.append(series)
    return frame.with_columns(out) if out else frame


def _target(column: Column) -> Any:
    if column.adjust == "decimal":
        return pl.Decimal(column.precision, column.scale or 0)
    if column.adjust == "bool":
        return pl.Boolean
    if column.adjust == "time":
        return pl.Time
    if column.adjust == "utc":
        return pl.Datetime("us", "UTC")
    if column.dtype is not None:
        return getattr(pl, column.dtype)
    return None


def _bad_values(series: pl.Series, target: Any) -> str:
    if series.dtype != pl.String:
        return ""
    parsed = (
        series.str.to_time("%H:%M:%S%.f", strict=False)
        if target == pl.Time
        else series.cast(target, strict=False)
    )
    bad = series.filter(parsed.is_null() & series.is_not_null()).unique(maintain_order=True).head(3)
    return f"values {bad.to_list()} do not fit" if bad.len() else ""
