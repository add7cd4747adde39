"""Run history: what one pipeline run did, measured while it ran. Its row in
``_tf_runs`` is written ``running`` when it starts and replaced, with its
``_tf_run_metrics``, when it ends: completed, failed or interrupted.

The recorder sees every batch the pipeline writes. It keeps, per table, the
rows, the null count of each column and the column types (the run's
schema), and per resource the state it ended with, so the row can say how
fresh the data is. All of it is a few counters per column: a run of
millions of rows costs a ``null_count`` per batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.warehouse import owners
from tillflow.warehouse.journal import COMPLETED, FAILED, INTERRUPTED, RUN_METRICS, RUNNING, RUNS

if TYPE_CHECKING:
    from tillflow.warehouse import JournalReader, Warehouse

__all__ = ["RunRecord", "RunRecorder", "runs"]

log = logging.getLogger("tillflow.monitor")

# Columns tillflow adds itself; their null rates and types say nothing of the source.
_OWN_PREFIX = "_tf_"


@dataclasses.dataclass
class _TableStats:
    rows: int = 0
    nulls: dict[str, int] = dataclasses.field(default_factory=dict)
    types: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of ``_tf_runs`` and the metrics measured with it.

    Parameters
    ----------
    run_id
        The run's id.
    pipeline
        The pipeline's name.
    status
        ``completed``, ``failed`` or ``interrupted``.
    started_at
        When the run started (UTC).
    finished_at
        When it ended (UTC).
    resources
        The resources it loaded.
    row_counts
        Rows loaded, by table.
    retries
        Requests the sources sent again.
    errors
        Errors the run hit.
    error
        What stopped it, if anything.
    schemas
        Each table's columns and types as the run loaded them.
    metrics
        The run's rows of ``_tf_run_metrics``.
    owner
        The process that ran it: ``host``, ``pid``, ``process_started_at``.
    warnings
        What its loads warned of, such as a text column that is mostly one
        null marker.
    """

    run_id: str
    pipeline: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime
    resources: list[str]
    row_counts: dict[str, int]
    retries: int
    errors: int
    error: str | None
    schemas: dict[str, dict[str, str]]
    metrics: pl.DataFrame
    #: The process that ran it: ``host``, ``pid``, ``process_started_at``.
    owner: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: What its loads warned of (a text column that is mostly a null marker).
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    def run_row(self) -> pl.DataFrame:
        """The run as its row of ``_tf_runs``.

        Returns
        -------
        polars.DataFrame
            One row; lists and mappings as JSON text.
        """
        return pl.DataFrame(
            [{
                "run_id": self.run_id, "pipeline": self.pipeline, "status": self.status,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "duration_s": self.duration_s, "resources": json.dumps(self.resources),
                "row_counts": json.dumps(self.row_counts), "total_rows": self.total_rows,
                "retries": self.retries, "errors": self.errors, "error": self.error,
                "schemas": json.dumps(self.schemas), **self.owner, "heartbeat_at": self.finished_at,
                "warnings": json.dumps(self.warnings),
            }]
        )  # fmt: skip


class RunRecorder:
    """Collects what a run measures, batch by batch."""

    def __init__(self, pipeline: str, run_id: str, *, clock: Any = None) -> None:
        self.pipeline = pipeline
        self.run_id = run_id
        self._now = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.started_at: dt.datetime = self._now()
        self._tables: dict[str, _TableStats] = {}
        self._resources: list[str] = []
        self._roots: dict[str, str] = {}  # resource -> its root table
        self._states: dict[str, Any] = {}
        self._rule_rates: list[tuple[str, str, float]] = []
        self.retries = 0
        self.errors = 0
        self.error: str | None = None
        self.interrupted = False
        self.owner = owners.owner()
        self.warnings: list[str] = []

    def start_row(self) -> pl.DataFrame:
        """The run's ``running`` row, written when it starts."""
        return pl.DataFrame(
            [{
                "run_id": self.run_id, "pipeline": self.pipeline, "status": RUNNING,
                "started_at": self.started_at, "resources": "[]", "row_counts": "{}", "total_rows": 0,
                "retries": 0, "errors": 0, "schemas": "{}", **self.owner, "heartbeat_at": self.started_at,
                "warnings": "[]",
            }]
        )  # fmt: skip

    def resource(self, name: str) -> None:
        self._resources.append(name)

    def batch(self, resource: str, tables: Mapping[str, pl.DataFrame], state: Any) -> None:
        """A batch as written (after quarantine): rows, nulls and types per table."""
        for i, (name, frame) in enumerate(tables.items()):
            if i == 0:
                self._roots.setdefault(resource, name)
            stats = self._tables.setdefault(name, _TableStats())
            stats.rows += frame.height
            mine = [c for c in frame.columns if not c.startswith(_OWN_PREFIX)]
            if not mine:
                continue
            counts = frame.select(mine).null_count().row(0)
            for column, nulls in zip(mine, counts, strict=True):
                stats.nulls[column] = stats.nulls.get(column, 0) + nulls
                dtype = frame.schema[column]
                if dtype != pl.Null or column not in stats.types:
                    stats.types[column] = str(dtype)
        if state is not None:
            self._states[resource] = state

    def rule_rates(self, table: str, report_rows: pl.DataFrame) -> None:
        """Each rule's share of failing rows, from a validation report's rows."""
        for rule, fraction in zip(report_rows["rule"], report_rows["fraction"], strict=True):
            if fraction is not None:
                self._rule_rates.append((table, rule, float(fraction)))

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.error = f"{type(exc).__name__}: {exc}"

    def stopped(self, why: str) -> None:
        """A signal stopped the run (``why`` names it): interrupted, not failed."""
        self.interrupted = True
        self.errors += 1
        self.error = f"interrupted: {why}"

    def finish(self, row_counts: Mapping[str, int]) -> RunRecord:
        finished = self._now()
        record_counts = dict(row_counts)
        for name, stats in self._tables.items():
            record_counts.setdefault(name, stats.rows)
        rows: list[tuple[str, str | None, str | None, float]] = []
        for name, stats in self._tables.items():
            rows.append(("rows", name, None, float(record_counts.get(name, stats.rows))))
            if stats.rows:
                rows.extend(("null_rate", name, c, n / stats.rows) for c, n in stats.nulls.items())
        for resource in self._resources:
            root = self._roots.get(resource, resource)
            if root not in self._tables:  # a resource that brought nothing this run
                rows.append(("rows", root, None, 0.0))
                record_counts.setdefault(root, 0)
            lag = freshness_lag(self._states.get(resource), finished)
            if lag is not None:
                rows.append(("freshness_lag_s", root, None, lag))
        rows.extend(("rule_fail_rate", table, rule, rate) for table, rule, rate in self._rule_rates)
        rows.append(("duration_s", None, None, (finished - self.started_at).total_seconds()))
        rows.append(("retries", None, None, float(self.retries)))
        metrics = pl.DataFrame(
            {
                "run_id": [self.run_id] * len(rows),
                "pipeline": [self.pipeline] * len(rows),
                "metric": [r[0] for r in rows],
                "table": [r[1] for r in rows],
                "column": [r[2] for r in rows],
                "value": [r[3] for r in rows],
                "recorded_at": [finished] * len(rows),
            },
            schema_overrides={"table": pl.String, "column": pl.String, "value": pl.Float64},
        )
        return RunRecord(
            run_id=self.run_id,
            pipeline=self.pipeline,
            status=INTERRUPTED if self.interrupted else FAILED if self.error else COMPLETED,
            started_at=self.started_at,
            finished_at=finished,
            resources=list(self._resources),
            row_counts=record_counts,
            retries=self.retries,
            errors=self.errors,
            error=self.error,
            schemas={name: dict(s.types) for name, s in self._tables.items() if s.types},
            metrics=metrics,
            owner=dict(self.owner),
            warnings=list(self.warnings),
        )


def write_run(warehouse: Warehouse, record: RunRecord) -> None:
    """The run's final row (replacing its ``running`` one) and metrics, in one transaction."""
    warehouse.finish_run({RUNS: record.run_row(), RUN_METRICS: record.metrics})


def freshness_lag(state: Any, now: dt.datetime) -> float | None:
    """Seconds from the newest record's cursor value to ``now``, when the
    state holds a cursor that reads as a timestamp (incremental loads)."""
    cursor = state.get("cursor") if isinstance(state, Mapping) else None
    if not isinstance(cursor, str) or not cursor:
        return None
    try:
        stamp = dt.datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return max((now - stamp).total_seconds(), 0.0)


def runs(warehouse: JournalReader, pipeline: str | None = None) -> pl.DataFrame:
    """``_tf_runs``, oldest first; only ``pipeline``'s runs when it is given.
    Runs still ``running`` whose process is gone are closed as ``interrupted``
    first (shown so, without writing, when the warehouse is read-only).

    Parameters
    ----------
    warehouse
        The warehouse (or anything that reads its monitor tables).
    pipeline
        A pipeline's name; ``None`` for every pipeline.

    Returns
    -------
    polars.DataFrame
        One row per run.

    Raises
    ------
    WarehouseError
        If ``_tf_runs`` cannot be read, or interrupted runs cannot be closed.
    """
    settle = getattr(warehouse, "close_interrupted", None)
    frame = settle() if settle is not None else warehouse.journal(RUNS)
    return frame if pipeline is None else frame.filter(pl.col("pipeline") == pipeline)
