"""Every metric at once: ``refresh`` computes them from one read of the
tables and replaces the ``metrics_*`` tables together, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import polars as pl

from tillflow._core.errors import config_error
from tillflow.metrics._customers import _cohort_retention, _customer_lifetime_value, _customer_segments, _rfm
from tillflow.metrics._daily import _daily_summary
from tillflow.metrics._orders import _order_value_buckets
from tillflow.metrics._shop import DayStart, Shop

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse


# The metrics refresh() computes, in the order it computes them.
METRICS = (
    "daily_summary",
    "revenue_trend",
    "customer_segments",
    "product_performance",
    "order_value_buckets",
    "rfm",
    "cohort_retention",
    "customer_lifetime_value",
)

#: The tables each metric reads by default (its ``orders`` and ``line_items`` arguments), for lineage.
INPUTS: dict[str, tuple[str, ...]] = {
    name: ("orders", "orders__line_items")
    if name in ("daily_summary", "product_performance")
    else ("orders",)
    for name in METRICS
}


def refresh(
    wh: Warehouse,
    metrics: Iterable[str] = METRICS,
    *,
    tz: str | None = None,
    day_start: DayStart = "00:00",
    orders: str = "orders",
    line_items: str = "orders__line_items",
    write: bool = True,
    on_metric: Callable[[str], None] | None = None,
) -> dict[str, pl.DataFrame]:
    """Every metric in ``metrics`` with its defaults, from one read of the
    tables; with ``write`` (the default), the ``metrics_<name>`` tables are
    replaced together in one transaction, so a dashboard never mixes two
    refreshes. Returns ``{name: frame}``. ``on_metric`` is called with each
    metric's name once it is computed (progress).

    The metric functions take ``wh``, ``tz``, ``day_start``, ``orders`` and
    ``line_items`` (those they use) as described here. Their ``write``
    stores the result as the table ``metrics_<name>`` when ``True``, under
    the table name given as text, and nowhere when ``False`` (the default).

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    metrics
        Names from `METRICS`; by default all of them.
    tz
        The shop's IANA time zone, in which shop days are cut; by default
        the warehouse's ``timezone`` (UTC unless it was opened with another).
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table; its ``_tf_id``, ``created_at``, ``total_price``
        and (where there is one) ``customer__id`` columns are read.
    line_items
        The orders' line-item table; its ``_tf_parent_id``, ``title``,
        ``quantity`` and ``price`` columns are read.
    write
        Replace the ``metrics_<name>`` tables (the default).
    on_metric
        Called with each metric's name once it is computed.

    Returns
    -------
    dict[str, polars.DataFrame]
        Each metric's result by name, in the order computed.

    Raises
    ------
    ConfigError
        If an option is invalid, or a name is not a metric.
    WarehouseError
        If the warehouse has no orders table (or, for
        ``product_performance``, no line-item table), a column a metric
        reads is missing, or the results cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    names = list(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise config_error(f"metrics: unknown metric {unknown[0]!r} (known: {', '.join(METRICS)})")
    shop = Shop(wh, orders, line_items)
    compute = {
        "daily_summary": lambda: _daily_summary(shop, None, None, tz, day_start, False),
        "revenue_trend": lambda: _trend(shop, tz, day_start),
        "customer_segments": lambda: _customer_segments(shop, {}, False),
        "product_performance": lambda: _products(shop, tz, day_start),
        "order_value_buckets": lambda: _order_value_buckets(
            shop, (0, 50, 100, 200), ("Low", "Medium", "High", "Premium"), False
        ),
        "rfm": lambda: _rfm(shop, None, tz, day_start, False),
        "cohort_retention": lambda: _cohort_retention(shop, False, tz, day_start, False),
        "customer_lifetime_value": lambda: _customer_lifetime_value(shop, None, 365, tz, day_start, False),
    }
    results = {}
    for name in dict.fromkeys(names):
        results[name] = compute[name]()
        if on_metric is not None:
            on_metric(name)
    if write and results:
        wh.replace_tables({f"metrics_{name}": frame for name, frame in results.items()})
    return results


def _trend(shop: Shop, tz: str | None, day_start: DayStart) -> pl.DataFrame:
    k, state = shop.daily(tz, day_start)
    return k.trend(state)


def _products(shop: Shop, tz: str | None, day_start: DayStart) -> pl.DataFrame:
    k, state = shop.daily(tz, day_start)
    if shop.items_read_as_missing():
        raise shop.no_items()
    return k.products(state)
