"""The monitor's tables, one definition for every warehouse.

``_tf_runs`` holds a row per pipeline run: written ``running`` when the run
starts, with its owner (host, process id and the process's start time),
and replaced by its final row (``completed``, ``failed`` or
``interrupted``, with its loads' warnings as a JSON list) when it ends;
``_tf_run_metrics`` the numbers each run measured (rows per table, null
rates, freshness lag, duration, rule failure rates), one row per value,
which the anomaly detector reads as time series; ``_tf_anomalies`` what the
detector found; ``_tf_alerts`` every alert sent, suppressed or failed, which
also de-duplicates them. Apart from a run's own row they are append-only:
a warehouse writes a set of frames in one transaction and reads a table
back whole.

A run whose process died (SIGKILL, a power cut) never writes its final row.
[close_interrupted][tillflow.warehouse.Warehouse.close_interrupted] finds such runs and their loads, still
``running`` though their owner is gone, and closes them as ``interrupted``
in one transaction; each warehouse says how it knows a run is alive (see
`tillflow.warehouse.owners`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse import owners

__all__ = ["ALERTS", "ANOMALIES", "JOURNAL", "LINEAGE", "RUNS", "RUN_METRICS", "Journal", "conform", "empty"]

RUNS = "_tf_runs"
RUN_METRICS = "_tf_run_metrics"
ANOMALIES = "_tf_anomalies"
ALERTS = "_tf_alerts"
LINEAGE = "_tf_lineage"

_TSTZ = "TIMESTAMP WITH TIME ZONE"
# name -> [(column, DuckDB type)]; JSON travels as text so every warehouse stores it alike.
JOURNAL: dict[str, list[tuple[str, str]]] = {
    RUNS: [
        ("run_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("status", "VARCHAR"),
        ("started_at", _TSTZ), ("finished_at", _TSTZ), ("duration_s", "DOUBLE"),
        ("resources", "VARCHAR"), ("row_counts", "VARCHAR"), ("total_rows", "BIGINT"),
        ("retries", "BIGINT"), ("errors", "BIGINT"), ("error", "VARCHAR"), ("schemas", "VARCHAR"),
        ("host", "VARCHAR"), ("pid", "BIGINT"), ("process_started_at", _TSTZ), ("heartbeat_at", _TSTZ),
        ("warnings", "VARCHAR"),
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
    # One row per edge a project run used: source -> table -> model -> metric.
    LINEAGE: [
        ("run_id", "VARCHAR"), ("project", "VARCHAR"), ("upstream_kind", "VARCHAR"), ("upstream", "VARCHAR"),
        ("downstream_kind", "VARCHAR"), ("downstream", "VARCHAR"), ("recorded_at", _TSTZ),
    ],
}  # fmt: skip

# Columns added after a table's first release: warehouses made before gain them when opened.
ADDED: dict[str, list[str]] = {RUNS: ["host", "pid", "process_started_at", "heartbeat_at", "warnings"]}

RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"
INTERRUPTED_ERROR = "interrupted: found still running after its process had ended"

# Each table's time column, which reads sort by.
_ORDER = {
    RUNS: "started_at", RUN_METRICS: "recorded_at", ANOMALIES: "detected_at", ALERTS: "sent_at",
    LINEAGE: "recorded_at",
}  # fmt: skip

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
    """``CREATE TABLE IF NOT EXISTS`` for every monitor table, and the
    columns added since (``ADD COLUMN IF NOT EXISTS``, in DuckDB and PostgreSQL)."""
    out = []
    for table, columns in JOURNAL.items():
        body = ", ".join(f'"{name}" {sql_type(kind, dialect)}' for name, kind in columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {qualify}{table} ({body})")
        kinds = dict(columns)
        out += [
            f'ALTER TABLE {qualify}{table} ADD COLUMN IF NOT EXISTS "{name}" {sql_type(kinds[name], dialect)}'
            for name in ADDED.get(table, ())
        ]
    return out


# Closing the runs found interrupted and their loads; ``$n`` parameters read
# the same in DuckDB and PostgreSQL. Only rows still ``running`` change, so
# two processes closing the same run at once close it once.
def interrupt_sql(qualify: str = "") -> tuple[str, str]:
    runs = (
        f"UPDATE {qualify}{RUNS} SET status = '{INTERRUPTED}', finished_at = $1, duration_s = $2, "
        f"errors = 1, error = $3 WHERE run_id = $4 AND status = '{RUNNING}'"
    )
    loads = (
        f"UPDATE {qualify}_tf_loads SET status = '{INTERRUPTED}', finished_at = $1, error = $2 "
        f"WHERE load_id = $3 AND status = '{RUNNING}'"
    )
    return runs, loads


def conform_all(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return {table: conform(table, frame) for table, frame in frames.items() if frame.height}


class Journal:
    """The monitor tables' side of a warehouse: it supplies ``_lock``,
    ``query``, ``loads``, ``_append_journal`` (one transaction for all
    frames, replacing the rows of the runs named), ``_interrupt`` (closing
    runs and loads in one transaction) and ``_alive`` (which running runs
    still have an owner)."""

    _lock: Any
    #: Opened read-only: interrupted runs are shown as such, not written.
    read_only: bool = False

    def write_journal(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Append rows to monitor tables (``_tf_runs``, ``_tf_run_metrics``,
        ``_tf_anomalies``, ``_tf_alerts``), all of them in one transaction."""
        conformed = conform_all(frames)
        if conformed:
            with self._lock:
                self._append_journal(conformed, ())

    def journal(self, table: str) -> pl.DataFrame:
        """A monitor table, oldest row first."""
        schema(table)  # names the monitor tables when ``table`` is none of them
        frame = self.query(f"SELECT * FROM {table} ORDER BY {order_by(table)}")  # type: ignore[attr-defined]
        return conform(table, frame) if frame.width else empty(table)

    # -- a run's own row

    def begin_run(self, row: pl.DataFrame) -> None:
        """Record a run as ``running`` (one row of ``_tf_runs``); until
        `finish_run`, this process counts it as alive."""
        frame = conform(RUNS, row)
        run_id = frame["run_id"].item()
        with self._lock:
            owners.started(run_id)
            try:
                self._hold_run(run_id)
                self._append_journal({RUNS: frame}, ())
            except BaseException:
                self._release_run(run_id)
                owners.ended(run_id)
                raise

    def finish_run(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Replace a run's ``running`` row with its final one (in
        ``frames[_tf_runs]``) and add its other rows, in one transaction."""
        conformed = conform_all(frames)
        run_ids = conformed[RUNS]["run_id"].to_list() if RUNS in conformed else []
        with self._lock:
            try:
                self._append_journal(conformed, run_ids)
            finally:
                for run_id in run_ids:
                    self._release_run(run_id)
                    owners.ended(run_id)

    def abandon_run(self, run_id: str) -> None:
        """Stop counting a run as alive without writing it (its final row
        could not be written): the next check finds it interrupted."""
        with self._lock:
            self._release_run(run_id)
            owners.ended(run_id)

    # -- runs whose owner is gone

    def close_interrupted(self, *, now: dt.datetime | None = None) -> pl.DataFrame:
        """``_tf_runs`` with every run still ``running`` whose owner is gone
        closed as ``interrupted`` (finished now, with an error saying so),
        and the loads of those runs with it, in one transaction. A warehouse
        opened read-only writes nothing and shows them so in the frame."""
        now = now or dt.datetime.now(dt.timezone.utc)
        with self._lock:
            frame = self.journal(RUNS)
            running = frame.filter(pl.col("status") == RUNNING)
            if running.height == 0:
                return frame
            alive = self._alive(running, now)
            dead = running.filter(~pl.col("run_id").is_in(list(alive)))
            if dead.height == 0:
                return frame
            closed = dead.with_columns(
                pl.lit(INTERRUPTED).alias("status"),
                pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("finished_at"),
                ((pl.lit(now, dtype=pl.Datetime("us", "UTC")) - pl.col("started_at")).dt.total_microseconds()
                 / 1e6).clip(lower_bound=0.0).alias("duration_s"),
                pl.lit(1, dtype=pl.Int64).alias("errors"),
                pl.lit(INTERRUPTED_ERROR).alias("error"),
            )  # fmt: skip
            if not self.read_only:
                loads = self.loads()  # type: ignore[attr-defined]
                mine = []
                if "run_id" in loads.columns:
                    ids = dead["run_id"].to_list()
                    mine = loads.filter((pl.col("status") == RUNNING) & pl.col("run_id").is_in(ids))[
                        "load_id"
                    ].to_list()
                self._interrupt(closed, mine, now)
            by_id = {row["run_id"]: row for row in closed.iter_rows(named=True)}
            rows = [by_id.get(row["run_id"], row) for row in frame.iter_rows(named=True)]
            return pl.DataFrame(rows, schema=frame.schema)

    def _append_journal(
        self, frames: Mapping[str, pl.DataFrame], replacing: Sequence[str]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _interrupt(
        self, runs: pl.DataFrame, loads: Sequence[str], now: dt.datetime
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _alive(self, running: pl.DataFrame, now: dt.datetime) -> set[str]:  # pragma: no cover
        raise NotImplementedError

    def _hold_run(self, run_id: str) -> None:
        """Take what tells other processes that the run is alive (PostgreSQL: a lock)."""

    def _release_run(self, run_id: str) -> None:
        """Give up what `_hold_run` took."""
