"""PostgreSQL column types, seen through the DuckDB type names the schema
planner (`_schema`) speaks, and frames made to fit them.

Every type goes through one table: a polars dtype has the DuckDB name of the
narrowest PostgreSQL type that holds it (``UTINYINT`` is ``SMALLINT``,
``UBIGINT`` is ``DECIMAL(20,0)``, nanosecond timestamps are ``TIMESTAMP``,
lists and structs are ``JSON``), so planning and widening follow the DuckDB
warehouse's rules (integer → bigint → double or decimal → text) without a
second set. `conform` then casts a frame, in polars, to exactly the
table's types, so it can be copied into the table as it is, and computes
which rows fit a table that a discard contract keeps narrower.
`to_polars` reads query results back (numerics as decimals).
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pyarrow as pa

from tillflow.exceptions import WarehouseError
from tillflow.warehouse._batch import ID_COLUMN, PARENT_ID_COLUMN
from tillflow.warehouse._schema import Columns
from tillflow.warehouse.loads import SchemaContract
from tillflow.warehouse.sql import widen_type

__all__ = [
    "CastFailure",
    "apply",
    "conform",
    "frame_types",
    "from_postgres",
    "show",
    "tillflow_ids",
    "to_postgres",
]

TIMESTAMP_TZ = "TIMESTAMP WITH TIME ZONE"
OPAQUE = "PG:"  # a type tillflow never creates: only itself widens to it
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_PG_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")
_NUMBERS = ("SMALLINT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE")

# DuckDB name -> (PostgreSQL type, the polars dtype copied into it)
_TYPES: dict[str, tuple[str, pl.DataType]] = {
    "SMALLINT": ("smallint", pl.Int16()),
    "INTEGER": ("integer", pl.Int32()),
    "BIGINT": ("bigint", pl.Int64()),
    "FLOAT": ("real", pl.Float32()),
    "DOUBLE": ("double precision", pl.Float64()),
    "VARCHAR": ("text", pl.String()),
    "BOOLEAN": ("boolean", pl.Boolean()),
    "DATE": ("date", pl.Date()),
    "TIME": ("time", pl.Time()),
    "TIMESTAMP": ("timestamp", pl.Datetime("us")),
    TIMESTAMP_TZ: ("timestamptz", pl.Datetime("us", "UTC")),
    "INTERVAL": ("interval", pl.Duration("us")),
    "BLOB": ("bytea", pl.Binary()),
    # Copied as text behind jsonb's binary version byte (see _json).
    "JSON": ("jsonb", pl.String()),
}
_FROM_POSTGRES = {
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "real": "FLOAT",
    "double precision": "DOUBLE",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "time without time zone": "TIME",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": TIMESTAMP_TZ,
    "interval": "INTERVAL",
    "bytea": "BLOB",
    "jsonb": "JSON",
}
_INTEGERS: dict[type[pl.DataType], str] = {
    pl.Int8: "SMALLINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt8: "SMALLINT",
    pl.UInt16: "INTEGER",
    pl.UInt32: "BIGINT",
    pl.UInt64: "DECIMAL(20,0)",
    pl.Int128: "DECIMAL(38,0)",
}


def duckdb_name(dtype: pl.DataType) -> str | None:
    """The DuckDB name of the PostgreSQL type holding ``dtype``; None for the
    null type (a column with no value yet gets no column)."""
    base = dtype.base_type()
    if base in _INTEGERS:
        return _INTEGERS[base]
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision or 38},{dtype.scale or 0})"
    if isinstance(dtype, pl.Datetime):
        return TIMESTAMP_TZ if dtype.time_zone else "TIMESTAMP"
    simple: dict[type[pl.DataType], str] = {
        pl.Float32: "FLOAT", pl.Float64: "DOUBLE", pl.String: "VARCHAR", pl.Categorical: "VARCHAR",
        pl.Enum: "VARCHAR", pl.Boolean: "BOOLEAN", pl.Date: "DATE", pl.Time: "TIME",
        pl.Duration: "INTERVAL", pl.Binary: "BLOB", pl.List: "JSON", pl.Array: "JSON", pl.Struct: "JSON",
    }  # fmt: skip
    if base in simple:
        return simple[base]
    if base is pl.Null:
        return None
    raise WarehouseError(f"cannot store polars {dtype} values in PostgreSQL")


def tillflow_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """tillflow's 64-bit row ids (``_tf_id``, ``_tf_parent_id``) as bigint
    holding the same 64 bits: they are opaque hashes, matched only for
    equality, and bigint joins and stores far cheaper than numeric(20,0)."""
    ids = [c for c in (ID_COLUMN, PARENT_ID_COLUMN) if frame.schema.get(c) == pl.UInt64]
    return frame.with_columns(pl.col(c).reinterpret(signed=True) for c in ids) if ids else frame


def frame_types(frame: pl.DataFrame) -> list[tuple[str, str]]:
    """(name, DuckDB name) of each column with a type, in frame order."""
    out = []
    for name, dtype in frame.schema.items():
        try:
            type_name = duckdb_name(dtype)
        except WarehouseError as exc:
            raise WarehouseError(f"column {name!r}: {exc}") from None
        if type_name is not None:
            out.append((name, type_name))
    return out


def to_postgres(type_name: str) -> str:
    """The PostgreSQL type for a DuckDB type name."""
    if type_name.startswith(OPAQUE):
        return type_name[len(OPAQUE) :]
    decimal = _DECIMAL.fullmatch(type_name)
    if decimal:
        return f"numeric({decimal[1]},{decimal[2]})"
    return _TYPES[type_name][0]


def show(type_name: str) -> str:
    """A type as PostgreSQL names it, for messages and ``_tf_schema_changes``."""
    try:
        return to_postgres(type_name)
    except KeyError:
        return type_name


def from_postgres(formatted: str) -> str:
    """The DuckDB name for a column type as ``format_type`` spells it; a type
    tillflow does not create stays opaque (``PG:<type>``)."""
    numeric = _PG_NUMERIC.fullmatch(formatted)
    if numeric:
        return f"DECIMAL({numeric[1]},{numeric[2]})"
    if formatted.startswith(("character varying", "character(")):
        return "VARCHAR"
    plain = re.sub(r"\(\d+\)", "", formatted)  # timestamp(3) with time zone: any precision
    return _FROM_POSTGRES.get(plain, OPAQUE + formatted)


def _dtype(type_name: str) -> pl.DataType | None:
    decimal = _DECIMAL.fullmatch(type_name)
    if decimal:
        return pl.Decimal(int(decimal[1]), int(decimal[2]))
    found = _TYPES.get(type_name)
    return found[1] if found else None


def _json(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Values as JSON text; nested values encoded, text and numbers as they are."""
    if isinstance(dtype, pl.Struct):
        text = expr.struct.json_encode()
    elif isinstance(dtype, (pl.List, pl.Array)):
        # polars encodes structs only: wrap the list and cut the wrapper off again.
        wrapped = pl.struct(expr.alias("v")).struct.json_encode()
        text = wrapped.str.slice(5, wrapped.str.len_bytes() - 6)
    else:
        return expr.cast(pl.String)
    return pl.when(expr.is_not_null()).then(text)


def _to(expr: pl.Expr, source: pl.DataType, target: str, timezone: str, *, strict: bool) -> pl.Expr:
    """``expr`` (of polars type ``source``) cast to the dtype of ``target``."""
    dtype = _dtype(target)
    if dtype is None:
        raise WarehouseError(f"cannot write into a {show(target)} column")
    if target == "JSON":
        # jsonb's binary input is a version byte (1) followed by the JSON text.
        return pl.lit("\x01") + _json(expr, source)
    if target == "VARCHAR" and isinstance(source, (pl.Struct, pl.List, pl.Array)):
        return _json(expr, source)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        if isinstance(source, pl.Date):
            expr = expr.cast(pl.Datetime("us"))
        if isinstance(source, (pl.Date, pl.Datetime)) and not getattr(source, "time_zone", None):
            # A time without a zone is taken as the warehouse's, as DuckDB's TimeZone does.
            expr = expr.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        if isinstance(source, (pl.Date, pl.Datetime)):
            return expr.dt.convert_time_zone("UTC").cast(dtype)
    if isinstance(source, pl.Datetime) and source.time_zone and isinstance(dtype, pl.Datetime):
        return expr.dt.convert_time_zone(timezone).dt.replace_time_zone(None).cast(dtype)
    if source == pl.String() and not strict:
        if isinstance(dtype, pl.Date):
            return expr.str.to_date(strict=False)
        if isinstance(dtype, pl.Datetime):
            parsed = expr.str.to_datetime(strict=False, time_unit="us")
            return parsed.dt.replace_time_zone(None).cast(dtype) if not dtype.time_zone else parsed
        if isinstance(dtype, pl.Boolean):
            words = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}
            return expr.str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.Boolean)
    return expr.cast(dtype, strict=strict)


def _fits_exactly(expr: pl.Expr, cast: pl.Expr, source: pl.DataType, incoming: str, target: str) -> pl.Expr:
    """True when ``cast`` holds the value of ``expr`` exactly (null fits
    anywhere); the rules of `_schema.fits_exactly`, in polars."""
    if incoming == "VARCHAR" and (target in _NUMBERS or target.startswith("DECIMAL")):
        same = expr.cast(pl.Float64, strict=False) == cast.cast(pl.Float64)
    elif incoming == "VARCHAR":
        same = cast.is_not_null()
    else:
        same = cast.cast(source, strict=False) == expr
    return (expr.is_null() | same).fill_null(False)


def conform(
    frame: pl.DataFrame,
    incoming: list[tuple[str, str]],
    columns: Columns,
    contract: SchemaContract,
    timezone: str,
) -> tuple[dict[str, pl.Expr], list[tuple[str, pl.Expr]]]:
    """How each ``incoming`` column goes into a table with ``columns``: an
    expression per table column name casting it to the table's exact type,
    and the conditions (with the column each is about) a row must meet to
    fit the table. A column the table lacks (kept out by a discard contract)
    must be null; a value wider than its column must be held exactly, or
    under ``discard_value`` becomes null."""
    select: dict[str, pl.Expr] = {}
    fits: list[tuple[str, pl.Expr]] = []
    for name, type_name in incoming:
        expr, source = pl.col(name), frame.schema[name]
        current = columns.get(name.lower())
        if current is None:
            fits.append((name, expr.is_null()))
            continue
        table_name, target = current
        if target == type_name or widen_type(target, type_name) == target:
            cast = expr if source == _dtype(target) else _to(expr, source, target, timezone, strict=True)
            select[table_name] = cast.alias(table_name)
            continue
        cast = _to(expr, source, target, timezone, strict=False)
        exact = _fits_exactly(expr, cast, source, type_name, target)
        if contract is SchemaContract.DISCARD_VALUE:
            select[table_name] = pl.when(exact).then(cast).alias(table_name)
        else:
            select[table_name] = cast.alias(table_name)
            fits.append((name, exact))
    return select, fits


class CastFailure(Exception):
    """A column's values do not cast to its table's type."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def apply(frame: pl.DataFrame, select: dict[str, pl.Expr]) -> pl.DataFrame:
    """``frame`` cast by ``select``; CastFailure names the first column whose values do not cast."""
    try:
        return frame.select(list(select.values()))
    except pl.exceptions.PolarsError as exc:
        failure = exc
    for name, expr in select.items():
        try:
            frame.select(expr)
        except pl.exceptions.PolarsError as exc:
            raise CastFailure(name, _first_line(exc)) from exc
    raise failure


def _first_line(exc: Any) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def to_polars(table: pa.Table) -> pl.DataFrame:
    """A query result as polars: numeric columns (which the driver hands over
    as text) become decimals of their declared precision and scale."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        meta = field.metadata or {}
        if isinstance(field.type, pa.BaseExtensionType):
            column = pa.chunked_array(
                [chunk.storage for chunk in column.chunks], type=field.type.storage_type
            )
        if pa.types.is_interval(field.type):
            column = _interval_as_duration(column)
        series = pl.from_arrow(column)
        assert isinstance(series, pl.Series)
        series = series.alias(field.name)
        if meta.get(b"POSTGRESQL:type") == b"numeric":
            series = _numeric(series, int(meta.get(b"POSTGRESQL:typmod", b"-1")))
        columns.append(series)
    return pl.DataFrame(columns)


def for_copy(table: pa.Table) -> pa.Table:
    """An Arrow table ready for the binary COPY encoder: times (which polars
    keeps in nanoseconds) in PostgreSQL's microseconds."""
    for i, field in enumerate(table.schema):
        if pa.types.is_time64(field.type) and field.type.unit == "ns":
            table = table.set_column(i, field.name, table.column(i).cast(pa.time64("us"), safe=False))
    return table


def _interval_as_duration(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Intervals (months, days, nanoseconds) as microsecond durations, a month
    counted as 30 days as PostgreSQL's own interval arithmetic does."""
    import numpy as np

    parts = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])
    chunks = []
    for chunk in column.chunks:
        values = np.frombuffer(chunk.buffers()[1], dtype=parts, count=len(chunk) + chunk.offset)[
            chunk.offset :
        ]
        micros = (values["months"].astype("i8") * 30 + values["days"]) * 86_400_000_000 + values[
            "nanos"
        ] // 1000
        nulls = chunk.is_null().to_numpy(zero_copy_only=False)
        chunks.append(pa.array(micros, type=pa.duration("us"), mask=nulls))
    return pa.chunked_array(chunks, type=pa.duration("us"))


def _numeric(series: pl.Series, typmod: int) -> pl.Series:
    """numeric text as a polars decimal: of the column's declared precision
    and scale, or for an undeclared one (sums, averages) the widest scale
    among the values; text where a value (NaN, too many digits) does not fit."""
    if typmod >= 4:
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
    else:
        digits = series.str.extract(r"\.(\d+)$").str.len_chars().max()
        precision, scale = 38, int(digits) if isinstance(digits, int) else 0
    if precision > 38 or scale > 38:
        return series
    try:
        return series.cast(pl.Decimal(precision, scale))
    except pl.exceptions.PolarsError:
        return series
