"""The shop's dashboard metrics over a warehouse, computed by the native kernels.

Each function reads the loaded tables (``orders`` and, where the metric needs
them, ``orders__line_items``) straight from the warehouse as Arrow, only the
columns the metric uses, and runs the kernel of `tillflow.metrics.kernels` over
them. The revenue trend and product performance read only their window's
orders; the daily summary streams the line items in batches while the kernel
sums them, so memory holds the orders and a few batches. ``write=True``
also stores the result as the table ``metrics_<name>`` (or the table named
by ``write``) for dashboards and BI tools;
[refresh][tillflow.metrics.refresh] computes every metric from one read and replaces all the
``metrics_*`` tables in one transaction.

>>> import tillflow as tl
>>> wh = tl.warehouse.duckdb("shop.duckdb")  # doctest: +SKIP
>>> tl.metrics.daily_summary(wh)  # doctest: +SKIP
>>> tl.metrics.refresh(wh)  # doctest: +SKIP

Days are shop days: calendar days in ``tz`` (default: the warehouse's time
zone, UTC unless it was opened with another), beginning at ``day_start``.
Money is summed exactly and keeps the stored type (Decimal stays Decimal,
Float stays Float); averages and shares are floats. Orders without a
``customer__id`` (guest checkouts) count as orders and revenue but belong to
no customer; a null total counts as an order with nothing spent; refunds
and negative totals are summed as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._core.errors import config_error
from tillflow.exceptions import WarehouseError
from tillflow.metrics import kernels

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = [
    "METRICS",
    "approx_distinct",
    "cohort_retention",
    "customer_lifetime_value",
    "customer_segments",
    "daily_summary",
    "order_value_buckets",
    "product_performance",
    "refresh",
    "revenue_trend",
    "rfm",
]

from tillflow.metrics._shop import DayStart, Shop, Write, shop_tz


def _store(wh: Warehouse, name: str, frame: pl.DataFrame, write: Write) -> pl.DataFrame:
    if write is False:
        return frame
    if write is True:
        table = f"metrics_{name}"
    elif isinstance(write, str) and write:
        table = write
    else:
        raise config_error(f"write: expected True, False or a table name, got {write!r}")
    wh.replace_tables({table: frame})
    return frame


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
        The shop's IANA time zone; by default the warehouse's ``timezone``.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table.
    line_items
        The orders' line-item table. Without it, ``top_product`` is null.
    write
        ``True`` also stores the result as the table ``metrics_daily_summary``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

    Returns
    -------
    polars.DataFrame
        One row per shop day, as described above.

    Raises
    ------
    ConfigError
        If an option is invalid.
    WarehouseError
        If the warehouse has no orders table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
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
        The shop's IANA time zone; by default the warehouse's ``timezone``.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table.
    write
        ``True`` also stores the result as the table ``metrics_revenue_trend``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

    Returns
    -------
    polars.DataFrame
        One row per day (or week), newest first.

    Raises
    ------
    ConfigError
        If an option is invalid, or ``days`` is below 1.
    WarehouseError
        If the warehouse has no orders table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    shop = Shop(wh, orders, "", window=(days, end))
    result = kernels.revenue_trend(
        shop.orders(), days=days, end=end, weekly=weekly, tz=shop_tz(wh, tz), day_start=day_start
    )
    return _store(wh, "revenue_trend", result, write)


def customer_segments(
    wh: Warehouse,
    *,
    vip_orders: int = 10,
    vip_spent: Any = 1000,
    loyal_orders: int = 5,
    loyal_spent: Any = 500,
    regular_orders: int = 2,
    orders: str = "orders",
    write: Write = False,
) -> pl.DataFrame:
    """Customers per segment, with the seed's rule applied in order.

    VIP: ``orders >= vip_orders AND spent >= vip_spent``; Loyal:
    ``orders >= loyal_orders OR spent >= loyal_spent``; Regular:
    ``orders >= regular_orders``; otherwise New. Only orders with a
    ``customer__id`` count; a customer whose totals are all null has spent 0.
    Columns: ``customer_segment``, ``customer_count``, ``avg_lifetime_value``
    and ``avg_orders_per_customer`` (null for an empty segment). All four
    segments appear, in the order VIP, Loyal, Regular, New.

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    vip_orders
        The orders a VIP has at least (with ``vip_spent``).
    vip_spent
        The amount a VIP has spent at least (a number, decimal or text).
    loyal_orders
        The orders that make a customer Loyal (or ``loyal_spent``).
    loyal_spent
        The amount that makes a customer Loyal (or ``loyal_orders``).
    regular_orders
        The orders that make a customer Regular.
    orders
        The orders table.
    write
        ``True`` also stores the result as the table ``metrics_customer_segments``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

    Returns
    -------
    polars.DataFrame
        One row per segment.

    Raises
    ------
    ConfigError
        If an option is invalid, such as an amount that is not one.
    WarehouseError
        If the warehouse has no orders table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    thresholds = {
        "vip_orders": vip_orders,
        "vip_spent": vip_spent,
        "loyal_orders": loyal_orders,
        "loyal_spent": loyal_spent,
        "regular_orders": regular_orders,
    }
    return _customer_segments(Shop(wh, orders, ""), thresholds, write)


def _customer_segments(shop: Shop, thresholds: Mapping[str, Any], write: Write) -> pl.DataFrame:
    result = kernels.customer_segments(shop.orders(), **thresholds)
    return _store(shop.wh, "customer_segments", result, write)


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
        The shop's IANA time zone; by default the warehouse's ``timezone``.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table.
    line_items
        The orders' line-item table.
    write
        ``True`` also stores the result as the table ``metrics_product_performance``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

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


def order_value_buckets(
    wh: Warehouse,
    *,
    edges: Sequence[Any] = (0, 50, 100, 200),
    labels: Sequence[str] = ("Low", "Medium", "High", "Premium"),
    orders: str = "orders",
    write: Write = False,
) -> pl.DataFrame:
    """Orders per order-value bucket, like ``pandas.cut`` with right-closed bins.

    Bucket ``i`` holds totals in ``(edges[i], edges[i+1]]``, the last bucket
    everything above ``edges[-1]``; a total equal to ``edges[0]`` goes to the
    first bucket. Orders with a null total or one below ``edges[0]`` are left
    out, of the counts and of the ``share_of_orders`` denominator. Columns:
    ``bucket``, ``orders``, ``revenue`` (0 for an empty bucket),
    ``share_of_orders`` (null when no order is bucketed). Every label
    appears, in label order.

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    edges
        The buckets' lower edges, strictly increasing amounts (up to 6
        decimals), one per label.
    labels
        The buckets' names, unique.
    orders
        The orders table.
    write
        ``True`` also stores the result as the table ``metrics_order_value_buckets``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

    Returns
    -------
    polars.DataFrame
        One row per bucket.

    Raises
    ------
    ConfigError
        If an option is invalid, such as edges that do not increase or labels of another length.
    WarehouseError
        If the warehouse has no orders table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    return _order_value_buckets(Shop(wh, orders, ""), edges, labels, write)


def _order_value_buckets(
    shop: Shop, edges: Sequence[Any], labels: Sequence[str], write: Write
) -> pl.DataFrame:
    result = kernels.order_value_buckets(shop.orders(), edges=edges, labels=labels)
    return _store(shop.wh, "order_value_buckets", result, write)


def rfm(
    wh: Warehouse,
    *,
    as_of: dt.date | None = None,
    tz: str | None = None,
    day_start: DayStart = "00:00",
    orders: str = "orders",
    write: Write = False,
) -> pl.DataFrame:
    """Recency, frequency and monetary scores per customer, and their named segment.

    See [Rfm][tillflow.metrics.kernels.Rfm]; recency counts shop days to ``as_of``
    (default: the day after the latest order).

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    as_of
        The shop day recency counts to.
    tz
        The shop's IANA time zone; by default the warehouse's ``timezone``.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table.
    write
        ``True`` also stores the result as the table ``metrics_rfm``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

    Returns
    -------
    polars.DataFrame
        One row per customer: scores, ``rfm`` code and segment.

    Raises
    ------
    ConfigError
        If an option is invalid.
    WarehouseError
        If the warehouse has no orders table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    return _rfm(Shop(wh, orders, ""), as_of, tz, day_start, write)


def _rfm(
    shop: Shop, as_of: dt.date | None, tz: str | None, day_start: DayStart, write: Write
) -> pl.DataFrame:
    result = kernels.rfm(shop.orders(), as_of=as_of, tz=shop_tz(shop.wh, tz), day_start=day_start)
    return _store(shop.wh, "rfm", result, write)


def cohort_retention(
    wh: Warehouse,
    *,
    matrix: bool = False,
    tz: str | None = None,
    day_start: DayStart = "00:00",
    orders: str = "orders",
    write: Write = False,
) -> pl.DataFrame:
    """Customers by the month of their first order and, for each month since,
    how many of them ordered: ``cohort_month``, ``months_since_first``,
    ``cohort_size``, ``customers``, ``retention``. ``matrix=True`` returns the
    cohort × months-since-first table instead (the long form is what
    ``write`` stores either way: BI tools pivot it themselves).

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    matrix
        Return the cohort × months-since-first table.
    tz
        The shop's IANA time zone; by default the warehouse's ``timezone``.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table.
    write
        ``True`` also stores the result as the table ``metrics_cohort_retention``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

    Returns
    -------
    polars.DataFrame
        The long form, or the matrix.

    Raises
    ------
    ConfigError
        If an option is invalid.
    WarehouseError
        If the warehouse has no orders table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    return _cohort_retention(Shop(wh, orders, ""), matrix, tz, day_start, write)


def _cohort_retention(
    shop: Shop, matrix: bool, tz: str | None, day_start: DayStart, write: Write
) -> pl.DataFrame:
    k = kernels.CohortRetention(tz=shop_tz(shop.wh, tz), day_start=day_start)
    state = k.partial(shop.orders())
    _store(shop.wh, "cohort_retention", k.finalize(state), write)
    return k.matrix(state) if matrix else k.finalize(state)


def customer_lifetime_value(
    wh: Warehouse,
    *,
    as_of: dt.date | None = None,
    horizon_days: int = 365,
    tz: str | None = None,
    day_start: DayStart = "00:00",
    orders: str = "orders",
    write: Write = False,
) -> pl.DataFrame:
    """Historical spend and a simple predicted value per customer; see
    [CustomerLifetimeValue][tillflow.metrics.kernels.CustomerLifetimeValue] for the formula.

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    as_of
        The shop day tenure counts to; by default the day after the latest
        order.
    horizon_days
        The days the prediction covers, at least 1.
    tz
        The shop's IANA time zone; by default the warehouse's ``timezone``.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table.
    write
        ``True`` also stores the result as the table ``metrics_customer_lifetime_value``, a
        table name stores it under that name; ``False`` (the default)
        stores nothing.

    Returns
    -------
    polars.DataFrame
        One row per customer, highest historical value first.

    Raises
    ------
    ConfigError
        If an option is invalid, or ``horizon_days`` is below 1.
    WarehouseError
        If the warehouse has no orders table, a
        column the metric reads is missing, or the result cannot be stored.
    SchemaError
        If a column has a type the kernel cannot read.
    """
    return _customer_lifetime_value(Shop(wh, orders, ""), as_of, horizon_days, tz, day_start, write)


def _customer_lifetime_value(
    shop: Shop, as_of: dt.date | None, horizon_days: int, tz: str | None, day_start: DayStart, write: Write
) -> pl.DataFrame:
    result = kernels.customer_lifetime_value(
        shop.orders(), as_of=as_of, horizon_days=horizon_days, tz=shop_tz(shop.wh, tz), day_start=day_start
    )
    return _store(shop.wh, "customer_lifetime_value", result, write)


def approx_distinct(wh: Warehouse, table: str, column: str, *, precision: int = 14) -> float:
    """The approximate number of distinct values of ``table.column`` (HyperLogLog++;
    see [ApproxDistinct][tillflow.metrics.kernels.ApproxDistinct]).

    Parameters
    ----------
    wh
        The warehouse.
    table
        The table.
    column
        The column whose values are counted.
    precision
        The sketch's precision, 4 to 18.

    Returns
    -------
    float
        The estimate (round it for a count).

    Raises
    ------
    ConfigError
        If ``precision`` is not an integer from 4 to 18.
    WarehouseError
        If the table does not exist or has no such column.
    SchemaError
        If the column has a type the sketch cannot read.
    """
    frame = wh.read(table, [column])
    if frame is None:
        raise WarehouseError(f"the warehouse has no table {table!r}")
    return kernels.approx_distinct(frame, column, precision=precision)


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

    Parameters
    ----------
    wh
        The warehouse the shop's orders were loaded into.
    metrics
        Names from `METRICS`; by default all of them.
    tz
        The shop's IANA time zone; by default the warehouse's ``timezone``.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    orders
        The orders table.
    line_items
        The orders' line-item table.
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
