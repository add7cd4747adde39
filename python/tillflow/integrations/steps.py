"""tillflow's steps for orchestrators, in plain functions: load a source,
validate a table, run a project's models (or the whole project), refresh the
metrics, write the report, check a pipeline's health.

The Prefect tasks (`tillflow.integrations.prefect`) and the Airflow
operators and TaskFlow tasks (`tillflow.integrations.airflow`) run these, so
each step behaves the same under both. Every step takes the warehouse as a
*location* (a DuckDB file path, ``delta:PATH`` or a ``postgresql://`` URL,
also as a secret string), opens it, does its work, closes it and returns
plain data (dicts of text, numbers and lists) that any result store keeps.
A failure raises tillflow's own exception, unwrapped;
[worth_retrying][tillflow.integrations.steps.worth_retrying] says whether
running the step again may help.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tillflow._core.errors import config_error
from tillflow.exceptions import TillflowError
from tillflow.integrations._common import (
    Location,
    Logger,
    _log,
    _report_dict,
    _source,
    _warehouse,
    open_warehouse,
    shown,
    worth_retrying,
)
from tillflow.project import KINDS
from tillflow.rules import RuleSet

__all__ = [
    "Location",
    "build_report",
    "check_health",
    "compute_metrics",
    "extract_load",
    "open_warehouse",
    "run_models",
    "run_project",
    "validate",
    "worth_retrying",
]

_HEALTH_RANK = {"healthy": 0, "degraded": 1, "critical": 2}


def extract_load(
    source: Any,
    warehouse: Location,
    pipeline_name: str,
    *,
    write_mode: str | None = None,
    full_refresh: bool = False,
    resources: Sequence[str] | None = None,
    monitor: Any = None,
    log: Logger | None = None,
) -> dict[str, Any]:
    """Runs ``tl.pipeline(pipeline_name, source, warehouse, monitor=monitor)``.

    ``source`` is a tillflow source, or a REST spec (file path or dict) for
    [rest][tillflow.sources.rest]. Returns ``{pipeline, run_id, status,
    row_counts, total_rows, seconds, rules, warnings}`` (``rules``: each
    checked resource's report summary; ``warnings``: what the loads warned
    of, each also logged; with a monitor also ``anomalies`` and
    ``alerts``). A failed run raises tillflow's error; what it loaded stays,
    and ``_tf_runs`` records it.

    Parameters
    ----------
    source
        A [Source][tillflow.sources.Source], or a REST spec's file path or
        mapping.
    warehouse
        Where the warehouse is ([open_warehouse][tillflow.integrations.steps.open_warehouse]).
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

    log
        Where progress is logged; by default the ``tillflow.integrations`` logger.

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

    log = _log(log)
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
                    pipeline_name, done.run_id, f"{done.total_rows:,}", shown(warehouse),
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
        "warnings": run.warnings,
    }
    log.info("%s into %s", run, shown(warehouse))
    for warning in run.warnings:
        log.warning("%s", warning)
    for resource, report in run.reports.items():
        level = logging.INFO if report.passed and not report.warnings else logging.WARNING
        log.log(level, "rules on %s: %s", resource, report)
    if run.monitor is not None:
        result["anomalies"] = [a.message for a in run.monitor.anomalies]
        result["alerts"] = [a.title for a in run.monitor.alerts]
        for anomaly in run.monitor.anomalies:
            log.warning("anomaly: %s", anomaly.message)
    return result


def validate(
    warehouse: Location,
    table: str,
    rules: Any,
    *,
    mode: str = "collect_all",
    record: bool = True,
    fail_on_error: bool = True,
    log: Logger | None = None,
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
        Where the warehouse is ([open_warehouse][tillflow.integrations.steps.open_warehouse]).
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
        Whether a failed error-severity check fails the step.

    log
        Where progress is logged; by default the ``tillflow.integrations`` logger.

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

    log = _log(log)
    ruleset = RuleSet.coerce(rules, "rules")
    with _warehouse(warehouse) as wh:
        if table not in wh.tables():
            raise config_error(f"table: no table {table!r} in {shown(warehouse)}")
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


def compute_metrics(
    warehouse: Location,
    only: str | Sequence[str] | None = None,
    *,
    tz: str | None = None,
    day_start: str = "00:00",
    log: Logger | None = None,
) -> dict[str, int]:
    """Refreshes the shop's metrics (all, or ``only`` those named, as a list
    or comma-separated) into ``metrics_*`` tables in one transaction, as
    ``tl.metrics.refresh`` does. Returns rows per table written.

    Parameters
    ----------
    warehouse
        Where the warehouse is ([open_warehouse][tillflow.integrations.steps.open_warehouse]).
    only
        The metrics to refresh (names from ``tl.metrics.METRICS``); ``None``
        for all.
    tz
        The shop's IANA time zone; by default the warehouse's.
    day_start
        When a shop day begins (``"HH:MM"``).

    log
        Where progress is logged; by default the ``tillflow.integrations`` logger.

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
    _log(log).info(
        "stored %s metrics tables: %s", len(rows), ", ".join(f"{t} ({n:,})" for t, n in rows.items())
    )
    return rows


def build_report(
    warehouse: Location,
    path: str | os.PathLike[str],
    *,
    pipeline: str | None = None,
    days: int = 90,
    log: Logger | None = None,
) -> str:
    """Writes tillflow's HTML report (runs, health, anomalies, rules) to
    ``path`` and returns where it went.

    Parameters
    ----------
    warehouse
        Where the warehouse is ([open_warehouse][tillflow.integrations.steps.open_warehouse]).
    path
        The HTML file to write.
    pipeline
        Limit runs, rules and anomalies to this pipeline.
    days
        The report's window in days.

    log
        Where progress is logged; by default the ``tillflow.integrations`` logger.

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
    _log(log).info("wrote the report to %s", out)
    return str(out)


def check_health(
    warehouse: Location,
    pipeline: str,
    *,
    window: dt.timedelta | int = dt.timedelta(days=7),
    thresholds: Any = None,
    fail_on: str | None = None,
    log: Logger | None = None,
) -> dict[str, Any]:
    """``pipeline``'s health from its run history (``tl.monitor.health``) as
    a dict. With ``fail_on`` (``"critical"`` or ``"degraded"``) the step
    fails when the pipeline is that unhealthy or worse.

    Parameters
    ----------
    warehouse
        Where the warehouse is ([open_warehouse][tillflow.integrations.steps.open_warehouse]).
    pipeline
        The pipeline's name.
    window
        A ``timedelta`` back from now, or a number of runs.
    thresholds
        A [HealthThresholds][tillflow.monitor.HealthThresholds]; by default
        its defaults.
    fail_on
        ``"degraded"`` or ``"critical"`` to fail the step at that status or
        worse; ``None`` never fails it.

    log
        Where progress is logged; by default the ``tillflow.integrations`` logger.

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
    log = _log(log)
    rank = _HEALTH_RANK.get(found.status, 0)
    (log.info, log.warning, log.error)[rank]("%s", found)
    if fail_on is not None and rank >= _HEALTH_RANK[fail_on]:
        why = "; ".join(found.reasons)
        raise TillflowError(f"pipeline {pipeline!r} is {found.status}: {why}")
    return found.to_dict()


def run_project(
    project: str | os.PathLike[str] = ".",
    *,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    wait: float | None = None,
    kinds: Sequence[str] = KINDS,
    fail_on_error: bool = True,
    log: Logger | None = None,
) -> dict[str, Any]:
    """Runs a [project][tillflow.project.run] (its sources, models and
    metrics, or the ``kinds`` of step named) and returns its summary as
    [ProjectRun.to_dict][tillflow.project.ProjectRun.to_dict] gives it.

    Parameters
    ----------
    project
        The project's folder, or its ``tillflow.toml``.
    select
        Sources, models or ``metrics`` to run, with what they need; ``None`` for all.
    full_refresh
        Reload sources from scratch and rebuild incremental models.
    wait
        Seconds to wait for a running run of the same warehouse; ``None``
        takes the project's ``warehouse.lock_timeout``.
    kinds
        Which kinds of step run: ``source``, ``model``, ``metrics``,
        ``publish``, ``backup`` (all by default).
    fail_on_error
        Whether a failed or skipped step fails the step that runs them.
    log
        Where progress is logged; by default the ``tillflow.integrations`` logger.

    Returns
    -------
    dict[str, Any]
        The run's summary, step by step.

    Raises
    ------
    ConfigError
        If the project is invalid (nothing ran).
    RunLocked
        If another run of the warehouse is running past ``wait``.
    StepsFailed
        If a step failed or was skipped (with ``fail_on_error``).
    """
    from tillflow import project as projects

    result = projects.run(project, select=select, full_refresh=full_refresh, wait=wait, kinds=kinds)
    logger = _log(log)
    for line in str(result).splitlines():
        (logger.info if result.status == "ok" else logger.warning)("%s", line)
    if fail_on_error:
        result.raise_for_failures()
    return result.to_dict()


def run_models(
    project: str | os.PathLike[str] = ".",
    models: Sequence[str] | None = None,
    *,
    full_refresh: bool = False,
    wait: float | None = None,
    fail_on_error: bool = True,
    log: Logger | None = None,
) -> dict[str, Any]:
    """Builds a project's SQL models (all, or ``models`` with the models they
    read) with their rules, without loading its sources: for a DAG whose
    sources load in tasks of their own.

    Parameters
    ----------
    project
        The project's folder, or its ``tillflow.toml``.
    models
        The models to build, with the models they read; ``None`` for all.
    full_refresh
        Rebuild incremental models from scratch.
    wait
        Seconds to wait for a running run of the same warehouse.
    fail_on_error
        Whether a model that failed (or was skipped after one) fails the step.
    log
        Where progress is logged; by default the ``tillflow.integrations`` logger.

    Returns
    -------
    dict[str, Any]
        The run's summary, model by model.

    Raises
    ------
    ConfigError
        If the project or a model is invalid.
    StepsFailed
        If a model failed or was skipped (with ``fail_on_error``).
    """
    return run_project(
        project, select=models, full_refresh=full_refresh, wait=wait, kinds=("model",),
        fail_on_error=fail_on_error, log=log,
    )  # fmt: skip
