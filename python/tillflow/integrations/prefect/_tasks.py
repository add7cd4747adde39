"""tillflow's steps as Prefect tasks: extract and load, validate a table,
refresh the metrics, write the report and check a pipeline's health."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tillflow._core.errors import config_error
from tillflow.exceptions import TillflowError
from tillflow.integrations.prefect._base import (
    Location,
    _logger,
    _report_dict,
    _shown,
    _source,
    _warehouse,
    retryable,
)
from tillflow.rules import RuleSet

_HEALTH_RANK = {"healthy": 0, "degraded": 1, "critical": 2}


@task(
    name="tillflow-extract-load",
    task_run_name="extract-load-{pipeline_name}",
    cache_policy=NO_CACHE,
    retry_condition_fn=retryable,
)
def extract_load(
    source: Any,
    warehouse: Location,
    pipeline_name: str,
    *,
    write_mode: str | None = None,
    full_refresh: bool = False,
    resources: Sequence[str] | None = None,
    monitor: Any = None,
) -> dict[str, Any]:
    """Runs ``tl.pipeline(pipeline_name, source, warehouse, monitor=monitor)``.

    ``source`` is a tillflow source, or a REST spec (file path or dict) for
    [rest][tillflow.sources.rest]. Returns ``{pipeline, run_id, status,
    row_counts, total_rows, seconds, rules}`` (``rules``: each checked
    resource's report summary; with a monitor also ``anomalies`` and
    ``alerts``). A failed run raises tillflow's error; what it loaded stays,
    and ``_tf_runs`` records it.

    Parameters
    ----------
    source
        A [Source][tillflow.sources.Source], or a REST spec's file path or
        mapping.
    warehouse
        Where the warehouse is: a DuckDB file path, ``delta:PATH`` or a
        ``postgresql://`` URL, also as a ``SecretStr`` or
        [Secret][tillflow.Secret].
    pipeline_name
        The pipeline's name (the key of its stored state).
    write_mode
        A write mode for every resource; ``None`` keeps each one's own.
    full_refresh
        Ignore the stored cursors.
    resources
        Names of the resources to load; ``None`` for all.
    monitor
        A [Monitor][tillflow.monitor.Monitor] that checks the run.

    Returns
    -------
    dict[str, Any]
        The run's outcome in plain data.

    Raises
    ------
    ConfigError
        If the source, the location or an option is invalid.
    SourceError
        If a source cannot be read (``HttpError``, ``AuthError``).
    SchemaError
        If records do not fit their table.
    WarehouseError
        If the warehouse cannot be opened or written.
    """
    from tillflow import pipeline

    log = _logger()
    src = _source(source)
    with _warehouse(warehouse) as wh:
        try:
            run = pipeline(pipeline_name, src, wh, monitor=monitor).run(
                write_mode=write_mode, full_refresh=full_refresh, resources=resources
            )
        except TillflowError as exc:
            done = getattr(exc, "run_summary", None)
            if done is not None:
                log.error(
                    "pipeline %r: run %s failed after loading %s rows into %s; the next run resumes after "
                    "the last committed batch",
                    pipeline_name, done.run_id, f"{done.total_rows:,}", _shown(warehouse),
                )  # fmt: skip
            raise
    result: dict[str, Any] = {
        "pipeline": pipeline_name,
        "run_id": run.run_id,
        "status": "completed",
        # As _tf_runs records them: a resource that brought nothing shows 0.
        "row_counts": dict(run.record.row_counts),
        "total_rows": run.total_rows,
        "seconds": run.seconds,
        "rules": {resource: _report_dict(report) for resource, report in run.reports.items()},
    }
    log.info("%s into %s", run, _shown(warehouse))
    for resource, report in run.reports.items():
        level = logging.INFO if report.passed and not report.warnings else logging.WARNING
        log.log(level, "rules on %s: %s", resource, report)
    if run.monitor is not None:
        result["anomalies"] = [a.message for a in run.monitor.anomalies]
        result["alerts"] = [a.title for a in run.monitor.alerts]
        for anomaly in run.monitor.anomalies:
            log.warning("anomaly: %s", anomaly.message)
    return result


@task(
    name="tillflow-validate",
    task_run_name="validate-{table}",
    cache_policy=NO_CACHE,
    retry_condition_fn=retryable,
)
def validate(
    warehouse: Location,
    table: str,
    rules: Any,
    *,
    mode: str = "collect_all",
    record: bool = True,
    fail_on_error: bool = True,
) -> dict[str, Any]:
    """Checks a warehouse table against ``rules`` (a RuleSet, a rules file or
    a dict), as ``tillflow validate TABLE --warehouse ...`` does.

    Returns ``{table, rows, passed, summary, failed_rules, checks}``. With
    ``record`` the results go to ``_tf_rule_results`` (pipeline
    ``"validate"``) for their history. When an error-severity rule fails the
    task fails with [ValidationError][tillflow.exceptions.ValidationError] naming the failed
    checks (``tillflow validate`` exits 1), unless ``fail_on_error`` is off.

    Parameters
    ----------
    warehouse
        Where the warehouse is: a DuckDB file path, ``delta:PATH`` or a
        ``postgresql://`` URL, also as a ``SecretStr`` or
        [Secret][tillflow.Secret].
    table
        The table to check (read whole).
    rules
        A [RuleSet][tillflow.rules.RuleSet], rules, their file form or a
        rules file's path.
    mode
        ``"collect_all"`` or ``"fail_fast"``.
    record
        Whether to append the results to ``_tf_rule_results``.
    fail_on_error
        Whether a failed error-severity check fails the task.

    Returns
    -------
    dict[str, Any]
        The report in plain data.

    Raises
    ------
    ConfigError
        If the table does not exist, or the rules, location or ``mode`` is
        invalid.
    RuleError
        If the rules are invalid or cannot be applied to the table.
    ValidationError
        If an error-severity check failed (with ``fail_on_error``).
    WarehouseError
        If the warehouse cannot be opened, read or written.
    """
    from tillflow.warehouse.loads import new_load_id
    from tillflow.warehouse.sql import quote_identifier

    log = _logger()
    ruleset = RuleSet.coerce(rules, "rules")
    with _warehouse(warehouse) as wh:
        if table not in wh.tables():
            raise config_error(f"table: no table {table!r} in {_shown(warehouse)}")
        data = wh.query(f"SELECT * FROM {quote_identifier(table)}")
        report = ruleset.validate(data, mode=mode, warehouse=wh)
        if record:
            wh.record_rule_results(
                report.to_polars(), run_id=new_load_id()[0], pipeline="validate", resource=table, table=table
            )
    (log.info if report.passed else log.error)("rules on %s: %s", table, report)
    if fail_on_error:
        report.raise_for_errors()
    return {"table": table, **_report_dict(report)}


@task(name="tillflow-metrics", cache_policy=NO_CACHE, retry_condition_fn=retryable)
def compute_metrics(
    warehouse: Location,
    only: str | Sequence[str] | None = None,
    *,
    tz: str | None = None,
    day_start: str = "00:00",
) -> dict[str, int]:
    """Refreshes the shop's metrics (all, or ``only`` those named, as a list
    or comma-separated) into ``metrics_*`` tables in one transaction, as
    ``tl.metrics.refresh`` does. Returns rows per table written.

    Parameters
    ----------
    warehouse
        Where the warehouse is: a DuckDB file path, ``delta:PATH`` or a
        ``postgresql://`` URL, also as a ``SecretStr`` or
        [Secret][tillflow.Secret].
    only
        The metrics to refresh (names from ``tl.metrics.METRICS``); ``None``
        for all.
    tz
        The shop's IANA time zone; by default the warehouse's.
    day_start
        When a shop day begins (``"HH:MM"``).

    Returns
    -------
    dict[str, int]
        Rows by ``metrics_*`` table written.

    Raises
    ------
    ConfigError
        If a name is not a metric, or an option or the location is invalid.
    WarehouseError
        If the warehouse cannot be opened, lacks the orders (or, for
        product metrics, the line items), or the tables cannot be written.
    SchemaError
        If a column has a type the metrics cannot read.
    """
    from tillflow import metrics

    names = (
        list(metrics.METRICS)
        if only is None
        else [n.strip() for n in only.split(",") if n.strip()]
        if isinstance(only, str)
        else list(only)
    )
    with _warehouse(warehouse) as wh:
        frames = metrics.refresh(wh, names, tz=tz, day_start=day_start)
    rows = {f"metrics_{name}": frame.height for name, frame in frames.items()}
    _logger().info(
        "stored %s metrics tables: %s", len(rows), ", ".join(f"{t} ({n:,})" for t, n in rows.items())
    )
    return rows


@task(name="tillflow-report", cache_policy=NO_CACHE, retry_condition_fn=retryable)
def build_report(
    warehouse: Location,
    path: str | os.PathLike[str],
    *,
    pipeline: str | None = None,
    days: int = 90,
) -> str:
    """Writes tillflow's HTML report (runs, health, anomalies, rules) to
    ``path`` and returns where it went.

    Parameters
    ----------
    warehouse
        Where the warehouse is: a DuckDB file path, ``delta:PATH`` or a
        ``postgresql://`` URL, also as a ``SecretStr`` or
        [Secret][tillflow.Secret].
    path
        The HTML file to write.
    pipeline
        Limit runs, rules and anomalies to this pipeline.
    days
        The report's window in days.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ConfigError
        If ``days`` is below 1, ``pipeline`` is unknown, the file cannot be
        written, or the location is invalid.
    WarehouseError
        If the warehouse cannot be opened.
    """
    from tillflow.monitor import write_report

    with _warehouse(warehouse) as wh:
        out = write_report(wh, Path(path), pipeline=pipeline, days=days)
    _logger().info("wrote the report to %s", out)
    return str(out)


@task(
    name="tillflow-health",
    task_run_name="health-{pipeline}",
    cache_policy=NO_CACHE,
    retry_condition_fn=retryable,
)
def check_health(
    warehouse: Location,
    pipeline: str,
    *,
    window: dt.timedelta | int = dt.timedelta(days=7),
    thresholds: Any = None,
    fail_on: str | None = None,
) -> dict[str, Any]:
    """``pipeline``'s health from its run history (``tl.monitor.health``) as
    a dict. With ``fail_on`` (``"critical"`` or ``"degraded"``) the task
    fails when the pipeline is that unhealthy or worse.

    Parameters
    ----------
    warehouse
        Where the warehouse is: a DuckDB file path, ``delta:PATH`` or a
        ``postgresql://`` URL, also as a ``SecretStr`` or
        [Secret][tillflow.Secret].
    pipeline
        The pipeline's name.
    window
        A ``timedelta`` back from now, or a number of runs.
    thresholds
        A [HealthThresholds][tillflow.monitor.HealthThresholds]; by default
        its defaults.
    fail_on
        ``"degraded"`` or ``"critical"`` to fail the task at that status or
        worse; ``None`` never fails it.

    Returns
    -------
    dict[str, Any]
        [Health.to_dict][tillflow.monitor.Health.to_dict].

    Raises
    ------
    ConfigError
        If ``fail_on`` or ``window`` is invalid, or the location is.
    TillflowError
        If the pipeline is as unhealthy as ``fail_on`` or worse.
    WarehouseError
        If the warehouse cannot be opened or read.
    """
    from tillflow.monitor import health

    if fail_on is not None and fail_on not in ("degraded", "critical"):
        raise config_error(f"fail_on: must be 'degraded', 'critical' or None, got {fail_on!r}")
    with _warehouse(warehouse) as wh:
        found = health(wh, pipeline, window=window, thresholds=thresholds)
    log = _logger()
    rank = _HEALTH_RANK.get(found.status, 0)
    (log.info, log.warning, log.error)[rank]("%s", found)
    if fail_on is not None and rank >= _HEALTH_RANK[fail_on]:
        why = "; ".join(found.reasons)
        raise TillflowError(f"pipeline {pipeline!r} is {found.status}: {why}")
    return found.to_dict()
