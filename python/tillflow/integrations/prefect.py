"""tillflow as Prefect 3 tasks, and a ready flow for a shop.

>>> from tillflow.integrations.prefect import shop_flow
>>> shop_flow()  # the demo shop into tillflow.duckdb: load, metrics, health  # doctest: +SKIP

Each task takes the warehouse as a *location* (a DuckDB file path or a
``postgresql://`` URL), not an open warehouse: connections do not pickle and
a task may run in another thread or process. A task opens the warehouse,
does its work, closes it and returns plain data (dicts of text, numbers and
lists), which any Prefect result serializer stores. A failure raises
tillflow's own exception, unwrapped, so the task run's state message names
its type and text (``AuthError: ... 401 ...``).

Tasks are never cached (they load and write data). Retries are off by
default, since tillflow retries each HTTP request itself; turn them on with
``extract_load.with_options(retries=2, retry_delay_seconds=60)``. A retried
load resumes after its last committed batch, and errors that trying again
cannot fix (bad config, refused credentials, broken rules) are not retried.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from pydantic import SecretStr

from tillflow._core.errors import config_error
from tillflow._core.secrets import MASK, Secret
from tillflow.exceptions import (
    AuthError,
    ConfigError,
    HttpError,
    RuleError,
    SchemaError,
    TillflowError,
    ValidationError,
)
from tillflow.rules import RuleSet

if TYPE_CHECKING:
    from tillflow.warehouse import DeltaLake, DuckDBWarehouse, PostgresWarehouse

__all__ = [
    "build_report",
    "check_health",
    "compute_metrics",
    "extract_load",
    "open_warehouse",
    "retryable",
    "shop_flow",
    "validate",
]

_module_log = logging.getLogger("tillflow.integrations.prefect")


def _store_secrets_masked() -> None:
    """Prefect stores a flow run's parameters as FastAPI's ``jsonable_encoder``
    writes them. Taught that a [Secret][tillflow.Secret] is ``***``, it stores a source
    passed to a flow with its credentials masked; otherwise it could not
    encode the source at all and would keep only a placeholder for it."""
    try:
        from fastapi.encoders import ENCODERS_BY_TYPE
    except ImportError:  # pragma: no cover - a Prefect without FastAPI stores the placeholder
        return
    ENCODERS_BY_TYPE.setdefault(Secret, lambda _: MASK)


_store_secrets_masked()

# Failures that come back the same however often a task is retried.
_PERMANENT = (ConfigError, AuthError, SchemaError, RuleError, ValidationError)
_HEALTH_RANK = {"healthy": 0, "degraded": 1, "critical": 2}


# -- helpers


Location = str | os.PathLike[str] | SecretStr | Secret
"""Where a task finds the warehouse. A URL holding a password may be passed
as ``pydantic.SecretStr`` (or ``tl.monitor.Secret``): Prefect then stores the
flow-run parameter masked."""


def open_warehouse(location: Location) -> DuckDBWarehouse | PostgresWarehouse | DeltaLake:
    """The warehouse at ``location``: a ``postgresql://`` URL (its ``schema``
    query parameter picks the schema, default ``public``), ``delta:PATH`` for
    a Delta lake, or a DuckDB file path, any of them also as a ``SecretStr``
    or ``Secret`` (see [from_url][tillflow.warehouse.from_url]).

    Parameters
    ----------
    location
        The location, as text, a path, a ``SecretStr`` or a
        [Secret][tillflow.Secret].

    Returns
    -------
    DuckDBWarehouse | PostgresWarehouse | DeltaLake
        The open warehouse; the caller closes it.

    Raises
    ------
    ConfigError
        If the location is not one of those forms.
    WarehouseError
        If the warehouse cannot be opened.
    """
    location = _revealed(location)
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if not isinstance(location, str) or not location:
        raise config_error(
            "warehouse: expected a DuckDB file path, delta:PATH or a postgresql:// URL, "
            f"got {type(location).__name__} {location!r}"
        )
    from tillflow import warehouse

    return warehouse.from_url(location)


def _revealed(location: Location) -> str | os.PathLike[str]:
    if isinstance(location, SecretStr):
        return location.get_secret_value()
    if isinstance(location, Secret):
        return location.reveal()
    return location


def _shown(location: Location) -> str:
    """A warehouse location fit for a log line: a URL's password as ``***``."""
    from tillflow._core.secrets import mask_password

    return mask_password(os.fspath(_revealed(location)))


@contextlib.contextmanager
def _warehouse(location: Location) -> Iterator[Any]:
    wh = open_warehouse(location)
    try:
        yield wh
    finally:
        wh.close()


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a run; tillflow's own when a task's ``.fn`` is called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return _module_log


def _source(source: Any) -> Any:
    from tillflow.sources import Source, rest

    if isinstance(source, Source):
        return source
    if isinstance(source, (str, os.PathLike, Mapping)):
        return rest(source)
    raise config_error(
        "source: expected a tillflow source (tl.sources.*), a spec file path or a spec dict, "
        f"got {type(source).__name__}"
    )


def _report_dict(report: Any) -> dict[str, Any]:
    return {
        "rows": report.rows,
        "passed": report.passed,
        "summary": report.summary(),
        "failed_rules": [r.rule for r in report.failed],
        "checks": report.to_polars().to_dicts(),
    }


def retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn`` for tillflow's tasks: retry what may
    pass next time (server errors, rate limits, timeouts, an unreachable
    warehouse), not config errors, refused credentials, other 4xx answers,
    schema or rule errors.

    Parameters
    ----------
    task
        The task (unused).
    task_run
        The task run (unused).
    state
        The failed run's state; its ``data`` is the exception.

    Returns
    -------
    bool
        Whether to retry.
    """
    exc = getattr(state, "data", None)
    if not isinstance(exc, BaseException):
        return True
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, HttpError):
        status = getattr(exc, "status", None)
        return status is None or status >= 500 or status in (408, 429)
    return True


# -- tasks


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


# -- the flow


@flow(name="tillflow-shop")
def shop_flow(
    shop_url: str | None = None,
    # str first: Prefect's parameter validation would turn a plain string into a SecretStr otherwise.
    token: str | SecretStr | None = None,
    warehouse: str | Path | SecretStr = "tillflow.duckdb",
    *,
    orders: int = 2000,
    report_path: str | Path | None = None,
    rules: bool = True,
    pipeline: str | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """A shop's whole day in one flow: load its Shopify orders, customers and
    products (incrementally), refresh the metrics, check the pipeline's
    health and, with ``report_path``, write the HTML report.

    Without ``shop_url`` the built-in demo shop (``orders`` orders) serves on
    127.0.0.1 while the flow loads. A real store takes its URL and Admin API
    ``token``: pass it as a ``pydantic.SecretStr``, which Prefect stores
    masked with the flow run's parameters (a plain string is stored as is);
    so is a ``warehouse`` URL passed as a ``SecretStr``. ``rules`` checks
    orders against the seed's order rules (bad rows to ``orders__quarantine``).
    ``pipeline`` defaults to ``demo_shop`` or ``shopify``. Returns
    ``{pipeline, warehouse, load, metrics, health, report}``.

    Parameters
    ----------
    shop_url
        The store's URL; ``None`` for the demo shop.
    token
        The store's Admin API access token.
    warehouse
        Where the warehouse is: a DuckDB file path, ``delta:PATH`` or a
        ``postgresql://`` URL (also as a ``SecretStr``).
    orders
        The demo shop's orders.
    report_path
        Where to write the HTML report; ``None`` for none.
    rules
        Check orders against the seed's order rules.
    pipeline
        The pipeline's name.
    full_refresh
        Ignore the stored cursors.

    Returns
    -------
    dict[str, Any]
        What each step returned, and the warehouse with its password masked.

    Raises
    ------
    ConfigError
        If ``shop_url`` is given without ``token``, or as the tasks raise.
    TillflowError
        As the tasks raise: a failed load, or metrics the warehouse cannot
        compute.
    """
    from tillflow.demo import demo_shop, order_rules
    from tillflow.sources import shopify

    with contextlib.ExitStack() as stack:
        if shop_url is None:
            shop = stack.enter_context(demo_shop(orders=orders))
            source = shop.source(rules=rules)
            name = pipeline or "demo_shop"
        else:
            if token is None:
                raise config_error("token: a Shopify store needs its Admin API access token")
            if isinstance(token, SecretStr):
                secret = token.get_secret_value()
            else:
                secret = token
                _logger().warning(
                    "token: a plain string is stored with the flow run's parameters in Prefect's API; "
                    "pass pydantic.SecretStr(token) to keep it masked"
                )
            source = shopify(shop_url, secret)
            if rules:
                source = source.with_rules(orders=order_rules())
            name = pipeline or "shopify"
        load = extract_load(source, warehouse, name, full_refresh=full_refresh)
    metrics = compute_metrics(warehouse)
    health = check_health(warehouse, name)
    report = build_report(warehouse, report_path, pipeline=name) if report_path else None
    return {
        "pipeline": name,
        "warehouse": _shown(warehouse),
        "load": load,
        "metrics": metrics,
        "health": health,
        "report": report,
    }
