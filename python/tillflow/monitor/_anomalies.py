"""Anomaly detection on what runs measure, and on the schemas they load.

Each measure of a run (``_tf_run_metrics``: rows per table, a column's null
rate, freshness lag, duration, a rule's failure rate) is one point of a
series keyed by pipeline, metric, table and column. A run's point is judged
against the same series over the previous successful runs (the trailing
``window``): its z-score is its distance from their mean in units of their
spread. A point further out than ``sensitivity`` is an anomaly, in the
directions that matter for that metric (fewer rows and more rows; only
more nulls, more lag, longer runs and more failing rows). Until a series
has ``min_points`` training points nothing is judged.

The spread has a floor per metric, so a flat series (a full load of the
same 2,000 orders each night) does not turn a one-row change into an
infinite z-score: rows use 5% of the mean (at least one row), rates one
percentage point, durations 10% of the mean or half a second, lag 5% or a
minute.

Schema changes compare the columns and types a run loaded into each table
with the last successful run that loaded that table: columns added,
removed or retyped are each an anomaly of kind ``schema``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import math
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._core.errors import config_error
from tillflow.exceptions import ConfigError
from tillflow.warehouse.journal import ANOMALIES, RUN_METRICS, RUNS

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = ["Anomaly", "AnomalyConfig", "anomalies", "detect_anomalies"]

# metric -> (kind, directions judged (+1 up, -1 down), relative floor, absolute floor)
_METRICS: dict[str, tuple[str, tuple[int, ...], float, float]] = {
    "rows": ("volume", (1, -1), 0.05, 1.0),
    "null_rate": ("null_rate", (1,), 0.0, 0.01),
    "freshness_lag_s": ("freshness", (1,), 0.05, 60.0),
    "duration_s": ("duration", (1,), 0.10, 0.5),
    "rule_fail_rate": ("rule", (1,), 0.0, 0.01),
}
_WARNING, _CRITICAL, _INFO = "warning", "critical", "info"


@dataclasses.dataclass(frozen=True)
class AnomalyConfig:
    """How anomalies are found: ``sensitivity`` is the z-score beyond which a
    point is an anomaly (twice that is critical), ``min_points`` the
    training points a series needs first, ``window`` how many previous
    successful runs train it; ``metrics`` the series judged and
    ``schema_changes`` whether added, removed and retyped columns count.

    Parameters
    ----------
    sensitivity
        The z-score beyond which a point is an anomaly (above 0).
    min_points
        The training points a series needs before it is judged (at least 2).
    window
        How many previous successful runs train a series (at least
        ``min_points``).
    metrics
        The metrics judged, of ``rows``, ``null_rate``, ``freshness_lag_s``,
        ``duration_s`` and ``rule_fail_rate``.
    schema_changes
        Whether added, removed and retyped columns are anomalies.

    Raises
    ------
    ConfigError
        If a value is out of range or a metric is unknown.
    """

    sensitivity: float = 3.0
    min_points: int = 7
    window: int = 30
    metrics: tuple[str, ...] = tuple(_METRICS)
    schema_changes: bool = True

    def __post_init__(self) -> None:
        if not self.sensitivity > 0:
            raise config_error(f"sensitivity must be above 0, got {self.sensitivity!r}")
        if self.min_points < 2:
            raise config_error(f"min_points must be at least 2, got {self.min_points!r}")
        if self.window < self.min_points:
            raise config_error(f"window ({self.window}) must hold at least min_points ({self.min_points})")
        unknown = [m for m in self.metrics if m not in _METRICS]
        if unknown:
            raise config_error(f"unknown metric {unknown[0]!r} (known: {', '.join(_METRICS)})")


@dataclasses.dataclass(frozen=True)
class Anomaly:
    """One anomaly, as ``_tf_anomalies`` stores it.

    Parameters
    ----------
    run_id
        The run it was found in.
    pipeline
        The pipeline's name.
    kind
        ``volume``, ``null_rate``, ``freshness``, ``duration``, ``rule`` or
        ``schema``.
    metric
        The measure judged (``rows``, ``null_rate``, ...).
    table
        The table it is about, if any.
    column
        The column it is about, if any.
    value
        The run's value.
    expected
        The training runs' mean.
    spread
        The spread the z-score divides by.
    z
        How many spreads the value is from the mean.
    severity
        ``info`` (an added column), ``warning`` or ``critical``.
    message
        The anomaly in words.
    anomaly_id
        A unique id.
    detected_at
        When it was found.
    """

    run_id: str
    pipeline: str
    kind: str
    metric: str
    table: str | None
    column: str | None
    value: float | None
    expected: float | None
    spread: float | None
    z: float | None
    severity: str
    message: str
    anomaly_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    detected_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def key(self) -> str:
        """What the anomaly is about, the same from run to run (alerts de-duplicate on it)."""
        parts = [self.pipeline, "anomaly", self.kind, self.metric, self.table or "", self.column or ""]
        return ":".join(parts).rstrip(":")

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.severity)}</b> {html.escape(self.message)}"


def detect_anomalies(
    warehouse: Warehouse,
    pipeline: str,
    *,
    run_id: str | None = None,
    config: AnomalyConfig | None = None,
    store: bool = True,
) -> list[Anomaly]:
    """Judge one run of ``pipeline`` (its latest by default) against the
    runs before it; the anomalies found are stored in ``_tf_anomalies``
    unless ``store`` is false, or unless they are there already for that run.
    A failed run is not judged: its measures stop where it failed, and the
    failure is news of its own.

    Parameters
    ----------
    warehouse
        The warehouse holding the pipeline's runs.
    pipeline
        The pipeline's name.
    run_id
        The run to judge; by default the pipeline's latest.
    config
        How anomalies are found; by default
        [AnomalyConfig][tillflow.monitor.AnomalyConfig]'s defaults.
    store
        Whether to store new anomalies in ``_tf_anomalies``.

    Returns
    -------
    list[Anomaly]
        The anomalies of the run; empty for a pipeline without runs or a
        run that did not complete.

    Raises
    ------
    ConfigError
        If the pipeline has no run ``run_id``.
    WarehouseError
        If the monitor tables cannot be read or written.
    """
    config = config or AnomalyConfig()
    history = warehouse.journal(RUNS).filter(pl.col("pipeline") == pipeline)
    if history.height == 0:
        return []
    if run_id is None:
        run = history.row(-1, named=True)
    else:
        found = history.filter(pl.col("run_id") == run_id)
        if found.height == 0:
            raise ConfigError(f"pipeline {pipeline!r} has no run {run_id!r} in _tf_runs")
        run = found.row(0, named=True)
    if run["status"] != "completed":
        return []
    before = history.filter((pl.col("started_at") < run["started_at"]) & (pl.col("status") == "completed"))
    metrics = warehouse.journal(RUN_METRICS).filter(pl.col("pipeline") == pipeline)
    found_now = _series_anomalies(run, before.tail(config.window)["run_id"], metrics, config)
    if config.schema_changes:
        found_now += _schema_anomalies(run, before)
    if store and found_now:
        stored = warehouse.journal(ANOMALIES).filter(pl.col("run_id") == run["run_id"])
        seen = set(zip(stored["kind"], stored["metric"], stored["table"], stored["column"], strict=True))
        fresh = [a for a in found_now if (a.kind, a.metric, a.table, a.column) not in seen]
        if fresh:
            warehouse.write_journal({ANOMALIES: to_frame(fresh)})
    return found_now


def anomalies(warehouse: Warehouse, pipeline: str | None = None) -> pl.DataFrame:
    """``_tf_anomalies``, oldest first; only ``pipeline``'s when it is given.

    Parameters
    ----------
    warehouse
        The warehouse.
    pipeline
        A pipeline's name; ``None`` for every pipeline.

    Returns
    -------
    polars.DataFrame
        One row per anomaly.

    Raises
    ------
    WarehouseError
        If the table cannot be read.
    """
    frame = warehouse.journal(ANOMALIES)
    return frame if pipeline is None else frame.filter(pl.col("pipeline") == pipeline)


def to_frame(found: list[Anomaly]) -> pl.DataFrame:
    return pl.DataFrame(
        [dataclasses.asdict(a) for a in found],
        schema_overrides={k: pl.Float64 for k in ("value", "expected", "spread", "z")}
        | {"table": pl.String, "column": pl.String},
    )


def _series_anomalies(
    run: Mapping[str, Any], training_runs: pl.Series, metrics: pl.DataFrame, config: AnomalyConfig
) -> list[Anomaly]:
    keys = ["metric", "table", "column"]
    judged = metrics.filter(pl.col("metric").is_in(list(config.metrics)))
    current = judged.filter(pl.col("run_id") == run["run_id"])
    if current.height == 0 or training_runs.len() < config.min_points:
        return []
    trained = (
        judged.filter(pl.col("run_id").is_in(training_runs.implode()))
        .group_by(keys)
        .agg(
            pl.len().alias("points"),
            pl.col("value").mean().alias("mean"),
            pl.col("value").std(ddof=1).alias("std"),
        )
    )
    # nulls_equal: a run-wide metric (duration) has a null table and column.
    joined = current.join(trained, on=keys, how="inner", nulls_equal=True)
    out = []
    for row in joined.iter_rows(named=True):
        if row["points"] < config.min_points or row["value"] is None or math.isnan(row["value"]):
            continue
        kind, directions, relative, absolute = _METRICS[row["metric"]]
        mean, std = row["mean"], row["std"] or 0.0
        spread = max(std if math.isfinite(std) else 0.0, relative * abs(mean), absolute)
        z = (row["value"] - mean) / spread
        if abs(z) <= config.sensitivity or (1 if z > 0 else -1) not in directions:
            continue
        severity = _CRITICAL if abs(z) > 2 * config.sensitivity else _WARNING
        if row["metric"] == "rows" and row["value"] == 0 and mean >= 1:
            severity = _CRITICAL
        out.append(
            Anomaly(
                run_id=run["run_id"], pipeline=run["pipeline"], kind=kind, metric=row["metric"],
                table=row["table"], column=row["column"], value=row["value"], expected=mean,
                spread=spread, z=z, severity=severity,
                message=_describe(run["pipeline"], row, mean, z, row["points"]),
            )
        )  # fmt: skip
    return out


def _describe(pipeline: str, row: Mapping[str, Any], mean: float, z: float, points: int) -> str:
    what = {
        "rows": "rows loaded",
        "null_rate": "null rate",
        "freshness_lag_s": "freshness lag (s)",
        "duration_s": "run duration (s)",
        "rule_fail_rate": "failing share",
    }[row["metric"]]
    where = ".".join(p for p in (row["table"], row["column"]) if p)
    subject = f"{what} of {where}" if where else what
    if row["metric"] == "rule_fail_rate":
        subject = f"failing share of rule {row['column']!r} on {row['table']}"
    direction = "above" if z > 0 else "below"
    return (
        f"{pipeline}: {subject} was {_num(row['value'])}, {abs(z):.1f} spreads {direction} "
        f"the mean of {_num(mean)} over the last {points} runs"
    )


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.4g}"


def _schema_anomalies(run: Mapping[str, Any], before: pl.DataFrame) -> list[Anomaly]:
    now = json.loads(run["schemas"] or "{}")
    earlier: dict[str, dict[str, str]] = {}
    for text in reversed(before["schemas"].to_list()):  # newest first: the last run that loaded each table
        for table, columns in json.loads(text or "{}").items():
            earlier.setdefault(table, columns)
    out = []
    for table, columns in now.items():
        old = earlier.get(table)
        if old is None:
            continue
        changes: list[tuple[str, str, str | None, str | None]]
        changes = [(c, "added", None, t) for c, t in columns.items() if c not in old]
        changes += [(c, "removed", t, None) for c, t in old.items() if c not in columns]
        changes += [
            (c, "retyped", old[c], t) for c, t in columns.items()
            if c in old and old[c] != t and "Null" not in (old[c], t)
        ]  # fmt: skip
        for column, change, was, now_type in changes:
            detail = {"added": f"new column of type {now_type}", "removed": f"column (was {was}) not loaded",
                      "retyped": f"type changed from {was} to {now_type}"}[change]  # fmt: skip
            out.append(
                Anomaly(
                    run_id=run["run_id"], pipeline=run["pipeline"], kind="schema", metric=f"column_{change}",
                    table=table, column=column, value=None, expected=None, spread=None, z=None,
                    severity=_INFO if change == "added" else _WARNING,
                    message=f"{run['pipeline']}: {table}.{column}: {detail}",
                )
            )  # fmt: skip
    return out
