"""What the report reads from a warehouse, through its public readers only."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from tillflow._core.errors import config_error
from tillflow.exceptions import TillflowError
from tillflow.monitor._health import Health, health
from tillflow.monitor.report import _page as page

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

WEB_TABLE = "access"
TOP_PRODUCTS = 10
RECENT_RUNS = 20
RECENT_ANOMALIES = 50


# -- reading the warehouse


@dataclasses.dataclass
class Data:
    warehouse: str
    timezone: str
    generated_at: dt.datetime
    days: int
    pipeline: str | None
    pipelines: list[str]
    trend: pl.DataFrame | None = None
    segments: pl.DataFrame | None = None
    products: pl.DataFrame | None = None
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    rules: pl.DataFrame | None = None
    runs: pl.DataFrame | None = None
    anomalies: pl.DataFrame | None = None
    health: list[Health] = dataclasses.field(default_factory=list)
    web: dict[str, pl.DataFrame] | None = None


def gather(wh: Warehouse, pipeline: str | None, days: int, now: dt.datetime) -> Data:
    from tillflow.monitor._runs import runs as run_history
    from tillflow.warehouse.journal import ANOMALIES

    tz = getattr(wh, "timezone", "UTC") or "UTC"
    since = now - dt.timedelta(days=days)
    history = run_history(wh)  # runs whose process died show as interrupted
    runs = _windowed(history, "started_at", pipeline, since)
    anomalies = _windowed(wh.journal(ANOMALIES), "detected_at", pipeline, since)
    rules = _windowed(wh.rule_results(), "checked_at", pipeline, since)
    if pipeline is None:
        known = _pipelines(wh, runs, rules, anomalies)
    else:
        seen = _pipelines(wh, history, wh.rule_results(), wh.journal(ANOMALIES))
        if pipeline not in seen:
            names = ", ".join(repr(p) for p in seen) or "none yet"
            raise config_error(f"pipeline: no pipeline {pipeline!r} in the warehouse (known: {names})")
        known = [pipeline]
    data = Data(
        warehouse=_describe(wh), timezone=tz, generated_at=now, days=days, pipeline=pipeline, pipelines=known,
        rules=_local(rules, ["checked_at"], tz), runs=_local(runs, ["started_at", "finished_at"], tz),
        anomalies=_local(anomalies, ["detected_at"], tz),
    )  # fmt: skip
    # Judged by the monitor's own rule (the seed's thresholds) over the report's window.
    window = dt.timedelta(days=days)
    watched = sorted(runs["pipeline"].drop_nulls().unique().to_list())
    data.health = [health(wh, name, window=window, now=now) for name in watched]
    _read_sales(wh, data)
    _read_web(wh, data)
    return data


def _windowed(frame: pl.DataFrame, column: str, pipeline: str | None, since: dt.datetime) -> pl.DataFrame:
    if frame.width == 0 or column not in frame.columns:
        return frame.clear()
    out = frame.filter(pl.col(column).is_null() | (pl.col(column) >= since))
    return out if pipeline is None else out.filter(pl.col("pipeline") == pipeline)


def _local(frame: pl.DataFrame, columns: Sequence[str], tz: str) -> pl.DataFrame:
    """``frame`` with its timestamps as wall time in ``tz`` (naive), which the
    tables print and plotly draws as they are."""
    zoned = [c for c in columns if isinstance(kind := frame.schema.get(c), pl.Datetime) and kind.time_zone]
    return frame.with_columns(pl.col(c).dt.convert_time_zone(tz).dt.replace_time_zone(None) for c in zoned)


def _pipelines(wh: Warehouse, *frames: pl.DataFrame) -> list[str]:
    names: set[str] = set()
    loads = wh.loads()
    for frame in (*frames, loads):
        if "pipeline" in frame.columns:
            names.update(p for p in frame["pipeline"].drop_nulls().unique().to_list())
    return sorted(names)


def _describe(wh: Warehouse) -> str:
    path = getattr(wh, "path", None)
    if isinstance(path, str):
        return f"DuckDB {path}"
    # The PostgreSQL warehouse's repr hides the password.
    return repr(wh).strip("<>")


def _read_sales(wh: Warehouse, data: Data) -> None:
    from tillflow import metrics

    if "orders" not in {t.lower() for t in wh.tables()}:
        note = "No orders loaded yet: load a shop's orders (e.g. <code>tillflow demo</code>) to see sales."
        data.notes.update(trend=note, segments=note, products=note)
        return
    data.trend = _metric(data, "trend", lambda: metrics.revenue_trend(wh, days=data.days))
    if data.trend is not None and data.trend.height == 0:
        data.trend, data.notes["trend"] = None, "No orders with a date yet."
    data.segments = _metric(data, "segments", lambda: metrics.customer_segments(wh))
    if data.segments is not None and not data.segments["customer_count"].sum():
        data.segments, data.notes["segments"] = None, "No orders with a customer yet."
    data.products = _metric(
        data, "products", lambda: metrics.product_performance(wh, days=data.days, top=TOP_PRODUCTS)
    )
    if data.products is not None and data.products.height == 0:
        data.products, data.notes["products"] = None, "No line items in the window yet."


def _read_web(wh: Warehouse, data: Data) -> None:
    """The web traffic of the access logs ``tl.sources.logs`` loads (table ``access``), when there are any."""
    from tillflow import metrics

    if WEB_TABLE not in {t.lower() for t in wh.tables()}:
        return
    try:
        found = metrics.web_traffic(wh, WEB_TABLE, top=TOP_PRODUCTS)
    except TillflowError as exc:
        data.notes["web"] = f"Not available: {page.e(exc)}"
        data.web = {}
        return
    daily = found["daily"].sort("day").tail(data.days)
    data.web = {**found, "daily": daily}


def _metric(data: Data, key: str, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame | None:
    try:
        return compute()
    except TillflowError as exc:
        # The report still shows every other section; the reason goes where the chart would be.
        data.notes[key] = f"Not available: {page.e(exc)}"
        return None


# -- sections
