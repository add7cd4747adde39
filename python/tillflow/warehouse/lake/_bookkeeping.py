"""The lake's own tables (``_tf_loads``, ``_tf_schema_changes``,
``_tf_rule_results``, ``_tf_state`` and the monitor's journal) as Delta
tables, and the Arrow shapes every write goes through."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from tillflow.warehouse.journal import JOURNAL
from tillflow.warehouse.loads import LoadHandle
from tillflow.warehouse.sql import quote_identifier as _q

_TSTZ = "TIMESTAMP WITH TIME ZONE"
LOADS = "_tf_loads"
CHANGES = "_tf_schema_changes"
RULES = "_tf_rule_results"
STATE = "_tf_state"
VIEWS = "_tf_views"
BOOKKEEPING_COLUMNS: dict[str, list[tuple[str, str]]] = {
    LOADS: [
        ("load_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("write_mode", "VARCHAR"),
        ("status", "VARCHAR"), ("started_at", _TSTZ), ("finished_at", _TSTZ), ("row_counts", "VARCHAR"),
        ("total_rows", "BIGINT"), ("error", "VARCHAR"), ("run_id", "VARCHAR"),
    ],
    CHANGES: [
        ("load_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("table", "VARCHAR"),
        ("column", "VARCHAR"), ("change", "VARCHAR"), ("old_type", "VARCHAR"), ("new_type", "VARCHAR"),
        ("changed_at", _TSTZ),
    ],
    RULES: [
        ("run_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("table", "VARCHAR"),
        ("rule", "VARCHAR"), ("kind", "VARCHAR"), ("columns", "VARCHAR[]"), ("severity", "VARCHAR"),
        ("status", "VARCHAR"), ("passed", "BOOLEAN"), ("failing", "BIGINT"), ("rows", "BIGINT"),
        ("fraction", "DOUBLE"), ("tolerance", "VARCHAR"), ("observed", "VARCHAR"), ("checked_at", _TSTZ),
    ],
    # One row per pipeline resource: its committed state, and the running
    # load's counts and batch number (the commit point of every batch).
    STATE: [
        ("app", "VARCHAR"), ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("state", "VARCHAR"),
        ("load_id", "VARCHAR"), ("updated_at", _TSTZ), ("seq", "BIGINT"), ("row_counts", "VARCHAR"),
    ],
    # The lake's views (a lake keeps no SQL of its own): each reader's session creates them, in order.
    VIEWS: [("name", "VARCHAR"), ("sql", "VARCHAR"), ("position", "BIGINT"), ("updated_at", _TSTZ)],
    **JOURNAL,
}  # fmt: skip


def is_bookkeeping(name: str) -> bool:
    return name.lower().startswith("_tf_")


def to_arrow(relation: Any) -> pa.Table:
    to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return to_table()


def for_delta(table: pa.Table) -> pa.Table:
    """Arrow as Delta stores it: zoned timestamps in UTC, microseconds."""
    for i, field in enumerate(table.schema):
        kind = field.type
        if pa.types.is_timestamp(kind) and (kind.tz not in (None, "UTC") or kind.unit != "us"):
            target = pa.timestamp("us", "UTC" if kind.tz else None)
            table = table.set_column(i, field.with_type(target), table.column(i).cast(target))
    return table


def select_cast(columns: Sequence[tuple[str, str]], source: str, present: Sequence[str]) -> str:
    """SELECT ``columns`` (name, type) from ``source``, which has ``present``; the rest read as null."""
    have = set(present)
    select = ", ".join(
        (f"CAST({_q(name)} AS {type_name})" if name in have else f"CAST(NULL AS {type_name})")
        + f" AS {_q(name)}"
        for name, type_name in columns
    )
    return f"SELECT {select} FROM {source}"


def rows_frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Bookkeeping rows as a frame of text, numbers and stamps (DuckDB casts the rest)."""
    schema: dict[str, Any] = {}
    for name, type_name in BOOKKEEPING_COLUMNS[table]:
        schema[name] = (
            pl.Datetime("us", "UTC") if type_name == _TSTZ
            else pl.Int64 if type_name == "BIGINT"
            else pl.String
        )  # fmt: skip
    return pl.DataFrame([{k: row.get(k) for k in schema} for row in rows], schema=schema)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def load_row(
    load: LoadHandle,
    status: str,
    finished_at: dt.datetime | None,
    error: str | None,
    counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    counts = dict(counts or {})
    return {
        "load_id": load.load_id, "pipeline": load.pipeline, "resource": load.resource,
        "write_mode": load.write_mode.value, "status": status, "started_at": load.started_at,
        "finished_at": finished_at, "row_counts": json.dumps(counts), "total_rows": sum(counts.values()),
        "error": error, "run_id": load.run_id,
    }  # fmt: skip
