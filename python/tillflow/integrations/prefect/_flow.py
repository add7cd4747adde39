"""The ready flow for a shop: load, metrics, health and, on request, the report."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import SecretStr

from tillflow._core.errors import config_error
from tillflow.integrations._common import shown
from tillflow.integrations.prefect._base import _logger
from tillflow.integrations.prefect._tasks import (
    build_report,
    check_health,
    compute_metrics,
    extract_load,
    run_project,
)


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
        "warehouse": shown(warehouse),
        "load": load,
        "metrics": metrics,
        "health": health,
        "report": report,
    }


@flow(name="tillflow-project")
def project_flow(
    project: str | Path = ".",
    *,
    select: list[str] | None = None,
    full_refresh: bool = False,
    wait: float | None = None,
) -> dict[str, Any]:
    """A [project][tillflow.project.run] as a flow: each source loads in a
    task of its own (so Prefect shows and retries them one by one), then one
    task builds the models with their rules, then one refreshes the metrics.
    Each task takes the warehouse's run lock for its part.

    Parameters
    ----------
    project
        The project's folder, or its ``tillflow.toml``.
    select
        Sources, models or ``metrics`` to run, with what they need; ``None`` for all.
    full_refresh
        Reload sources from scratch and rebuild incremental models.
    wait
        Seconds each task waits for a running run of the same warehouse.

    Returns
    -------
    dict[str, Any]
        ``{project, sources, models, metrics}``: each task's summary.

    Raises
    ------
    ConfigError
        If the project is invalid (nothing ran).
    StepsFailed
        If a source, a model or the metrics failed; what ran before stays.
    """
    from tillflow import project as projects

    config, models = projects.check(project)
    planned = projects.plan(config, models, select)
    options: dict[str, Any] = {"full_refresh": full_refresh, "wait": wait}
    loaded = [run_project(project, select=[name], kinds=["source"], **options) for name in planned.sources]
    built = (
        run_project(project, select=planned.models, kinds=["model"], **options) if planned.models else None
    )
    metrics = run_project(project, kinds=["metrics"], **options) if planned.metrics else None
    upkept = config.publish is not None or config.backup is not None
    upkeep = run_project(project, kinds=["publish", "backup"], **options) if upkept else None
    return {"project": config.name, "sources": loaded, "models": built, "metrics": metrics, "upkeep": upkeep}
