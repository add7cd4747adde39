"""The monitor's tables, one definition for every warehouse.

``_tf_runs`` holds a row per pipeline run (written when the run ends, failed
or not); ``_tf_run_metrics`` the numbers each run measured (rows per table,
null rates, freshness lag, duration, rule failure rates), one row per value,
which the anomaly detector reads as time series; ``_tf_anomalies`` what the
detector found; ``_tf_alerts`` every alert sent, suppressed or failed, which
also de-duplicates them. They are append-only: a warehouse writes a set of
frames in one transaction and reads a table back whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from tillflow.exceptions import WarehouseError

__all__ = ["ALERTS", "ANOMALIES", "JOURNAL", "RUNS", "RUN_METRICS", "Journal", "conform", "empty"]

RUNS = "_tf_runs"
RUN_METRICS = "_tf_run_metrics"
ANOMALIES = "_tf_anomalies"
ALERTS = "_tf_alerts"

_TSTZ = "TIMESTAMP WITH TIME ZONE"
# name -> [(column, DuckDB type)]; JSON travels as text so every warehouse stores it alike.
JOURNAL: dict[str, list[tuple[str, str]]] = {
    RUNS: [
        ("run_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("status", "VARCHAR"),
        ("started_at", _TSTZ), ("finished_at", _TSTZ), ("duration_s", "DOUBLE"),
        ("resources", "VARCHAR"), ("row_counts", "VARCHAR"), ("total_rows", "BIGINT"),
        ("retries", "BIGINT"), ("errors", "BIGINT"), ("error", "VARCHAR"), ("schemas", "VARCHAR"),
    ],
    RUN_METRICS: [
        ("run_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("metric", "VARCHAR"), ("table", "VARCHAR"),
        ("column", "VARCHAR"), ("value", "DOUBLE"), ("recorded_at", _TSTZ),
    ],
    ANOMALIES: [
        ("anomaly_id", "VARCHAR"), ("run_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("kind", "VARCHAR"),
        ("metric", "VARCHAR"), ("table", "VARCHAR"), ("column", "VARCHAR"), ("value", "DOUBLE"),
        ("expected", "DOUBLE"), ("spread", "DOUBLE"), ("z", "DOUBLE"), ("severity", "VARCHAR"),
        ("message", "VARCHAR"), ("detected_at", _TSTZ),
    ],
    ALERTS: [
        ("alert_key", "VARCHAR"), ("pipeline", "VARCHAR"), ("channel", "VARCHAR"), ("severity", "VARCHAR"),
        ("title", "VARCHAR"), ("status", "VARCHAR"), ("attempts", "BIGINT"), ("error", "VARCHAR"),
        ("sent_at", _TSTZ),
    ],
}  # fmt: skip

# Each table's time column, which reads sort by.
_ORDER = {RUNS: "started_at", RUN_METRICS: "recorded_at", ANOMALIES: "detected_at", ALERTS: "sent_at"}

_POLARS: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(),
    "BIGINT": pl.Int64(),
    "DOUBLE": pl.Float64(),
    "BOOLEAN": pl.Boolean(),
    _TSTZ: pl.Datetime("us", "UTC"),
}
_POSTGRES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    _TSTZ: "timestamptz",
}


def _columns(table: str) -> list[tuple[str, str]]:
    try:
        return JOURNAL[table]
    except KeyError:
        raise WarehouseError(f"{table!r} is not a monitor table (those are {', '.join(JOURNAL)})") from None


def schema(table: str) -> pl.Schema:
    return pl.Schema({name: _POLARS[kind] for name, kind in _columns(table)})


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=schema(table))


def order_by(table: str) -> str:
    return _ORDER[table]


def sql_type(kind: str, dialect: str) -> str:
    return _POSTGRES[kind] if dialect == "postgres" else kind


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly ``table``'s columns, in order and of its types;
    a missing column is null, an unknown one is an error that names it."""
    wanted = schema(table)
    unknown = [c for c in frame.columns if c not in wanted]
    if unknown:
        raise WarehouseError(f"{table} has no column {unknown[0]!r} (it has {', '.join(wanted)})")
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype, strict=False).alias(name)
        for name, dtype in wanted.items()
    )


def ddl(dialect: str, qualify: str = "") -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for every monitor table."""
    out = []
    for table, columns in JOURNAL.items():
        body = ", ".join(f'"{name}" {sql_type(kind, dialect)}' for name, kind in columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {qualify}{table} ({body})")
    return out


def conform_all(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return {table: conform(table, frame) for table, frame in frames.items() if frame.height}


class Journal:
    """The monitor tables' side of a warehouse: it supplies ``_lock``,
    ``query`` and ``_append_journal`` (one transaction for all frames)."""

    _lock: Any

    def write_journal(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Append rows to monitor tables (``_tf_runs``, ``_tf_run_metrics``,
        ``_tf_anomalies``, ``_tf_alerts``), all of them in one transaction."""
        conformed = conform_all(frames)
        if conformed:
            with self._lock:
                self._append_journal(conformed)

    def journal(self, table: str) -> pl.DataFrame:
        """A monitor table, oldest row first."""
        schema(table)  # names the monitor tables when ``table`` is none of them
        frame = self.query(f"SELECT * FROM {table} ORDER BY {order_by(table)}")  # type: ignore[attr-defined]
        return conform(table, frame) if frame.width else empty(table)

    def _append_journal(self, frames: Mapping[str, pl.DataFrame]) -> None:  # pragma: no cover
        raise NotImplementedError
