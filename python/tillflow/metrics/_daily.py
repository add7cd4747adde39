"""The daily metrics over a warehouse: the daily summary, the revenue trend
and product performance."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from tillflow.metrics import kernels
from tillflow.metrics._shop import DayStart, Shop, Write, shop_tz
from tillflow.metrics._warehouse import _store

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse


def daily_summary(
    wh: Warehouse,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tz: str | None = None,
    day_start: DayStart = "00:00",
    orders: str = "orders",
    line_items: str = "orders__line_items",
    write: Write = False,
) -> pl.DataFrame:
    """One row per shop day with orders, newest first.

    Columns: ``date``, ``total_orders``, ``revenue`` (sum of ``total_price``),
    ``average_order_value``, ``unique_customers`` (distinct non-null
    ``customer__id``) and ``top_product``: the line-item title with the highest
    ``quantity * price`` that day, ties going to the title first in ascending
    order (null when the day has no titled line items, or there is no
    line-item table). ``start`` and ``end`` are inclusive days; orders without
    ``created_at`` are left out.

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    start
        The first shop day to include; by default the earliest.
    end
        The last shop day to include; by default the latest.
    tz
        The time zone the days are cut in; by default the warehouse's (see
        [refresh][tillflow.metrics.refresh]).
    day_start
        When each day begins, as [refresh][tillflow.metrics.refresh] takes it.
    orders
        The orders table.
    line_items
        The orders' line-item table. Without it, ``top_product`` is null.
    write
        ``True`` also stores the summary as ``metrics_daily_summary``; a
        table name stores it under that name instead.

    Returns
    -------
    polars.DataFrame
        One row per shop day, as described above.

    Raises
    ------
    ConfigError
        If an option is invalid.
    WarehouseError
        If the warehouse has no orders table or one of the columns
        [refresh][tillflow.metrics.refresh] lists is missing, or the summary cannot be stored.
    SchemaError
        If an order or line-item column has a type the kernel cannot read.
    """
    return _daily_summary(Shop(wh, orders, line_items), start, end, tz, day_start, write)


def _daily_summary(
    shop: Shop, start: dt.date | None, end: dt.date | None, tz: str | None, day_start: DayStart, write: Write
) -> pl.DataFrame:
    k, state = shop.daily(tz, day_start)
    return _store(shop.wh, "daily_summary", k.finalize(state, start=start, end=end), write)


def revenue_trend(
    wh: Warehouse,
    *,
    days: int = 30,
    end: dt.date | None = None,
    weekly: bool = False,
    tz: str | None = None,
    day_start: DayStart = "00:00",
    orders: str = "orders",
    write: Write = False,
) -> pl.DataFrame:
    """One row for each of the ``days`` days ending at ``end``, newest first.

    ``end`` defaults to the latest order day. Days without orders show 0
    orders, 0 revenue, 0 customers and a null ``average_order_value``;
    ``weekly`` sums the same days into weeks starting on Monday (``week``
    instead of ``date``). Columns: ``date``, ``total_orders``, ``revenue``,
    ``average_order_value``, ``unique_customers``. Empty when there are no
    orders and no ``end``.

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    days
        How many shop days, at least 1.
    end
        The last shop day; by default the latest order day.
    weekly
        Sum the days into weeks starting on Monday.
    tz
        The shop's time zone for the window's days; by default the warehouse's.
    day_start
        The time each of those days begins (see [refresh][tillflow.metrics.refresh]).
    orders
        The orders table.
    write
        ``True`` also stores the trend as ``metrics_revenue_trend``, a table
        name under that name; ``False``, the default, stores nothing.

    Returns
    -------
    polars.DataFrame
        One row per day (or week), newest first.

    Raises
    ------
    ConfigError
        If an option is invalid, or ``days`` is below 1.
    WarehouseError
        If there is no orders table, an order column is missing, or the
        trend cannot be stored.
    SchemaError
        If an order column has a type the kernel cannot read.
    """
    shop = Shop(wh, orders, "", window=(days, end))
    result = kernels.revenue_trend(
        shop.orders(), days=days, end=end, weekly=weekly, tz=shop_tz(wh, tz), day_start=day_start
    )
    return _store(wh, "revenue_trend", result, write)


def product_performance(
    wh: Warehouse,
    *,
    days: int | None = 30,
    end: dt.date | None = None,
    top: int | None = 20,
    tz: str | None = None,
    day_start: DayStart = "00:00",
    orders: str = "orders",
    line_items: str = "orders__line_items",
    write: Write = False,
) -> pl.DataFrame:
    """The best-selling line-item titles over a window of shop days.

    The window is the ``days`` days ending at ``end`` (default: the latest
    order day); ``days=None`` covers all time. Line items join their order on
    ``_tf_parent_id = _tf_id``; items without a title are left out. Columns:
    ``product_title``, ``total_sold`` (sum of quantity), ``total_revenue`` (sum
    of quantity * price), ``orders_containing_product``, ``avg_selling_price``.
    Sorted by revenue descending (nulls last), then title; ``top=None`` keeps all.

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    days
        The window in shop days; ``None`` for all time.
    end
        The window's last day; by default the latest order day.
    top
        How many titles, best first; ``None`` for all.
    tz
        The time zone of the window's shop days, by default the warehouse's;
        see [refresh][tillflow.metrics.refresh].
    day_start
        When those days begin.
    orders
        The orders table.
    line_items
        The orders' line-item table.
    write
        ``True`` stores the titles as ``metrics_product_performance`` too; a
        table name stores them under that name.

    Returns
    -------
    polars.DataFrame
        One row per title.

    Raises
    ------
    ConfigError
        If an option is invalid, ``days`` is below 1 or ``top`` negative.
    WarehouseError
        If the warehouse has no orders table or no line-item table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    shop = Shop(wh, orders, line_items, window=None if days is None else (days, end))
    items = shop.items(required=True)
    assert items is not None  # required: a missing table raised
    result = kernels.product_performance(
        shop.orders(),
        items,
        days=days,
        end=end,
        top=top,
        tz=shop_tz(wh, tz),
        day_start=day_start,
    )
    return _store(wh, "product_performance", result, write)
