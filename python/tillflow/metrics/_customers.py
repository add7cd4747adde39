"""The customer metrics over a warehouse: segments, RFM scores, cohort
retention and lifetime value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.metrics import kernels
from tillflow.metrics._shop import DayStart, Shop, Write, shop_tz
from tillflow.metrics._warehouse import _store

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse


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
        ``True`` also stores the segments as ``metrics_customer_segments``,
        a table name under that name.

    Returns
    -------
    polars.DataFrame
        One row per segment.

    Raises
    ------
    ConfigError
        If an option is invalid, such as an amount that is not one.
    WarehouseError
        If the orders table, or a column of it that the metric reads (see
        [refresh][tillflow.metrics.refresh]), is missing, or the segments cannot be stored.
    SchemaError
        If the customer or total column has a type the kernel cannot read.
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
        The time zone recency's shop days are counted in; by default the
        warehouse's.
    day_start
        When those days begin, as for [refresh][tillflow.metrics.refresh].
    orders
        The orders table.
    write
        ``True`` also stores the scores as ``metrics_rfm``; a table name
        stores them under that name.

    Returns
    -------
    polars.DataFrame
        One row per customer: scores, ``rfm`` code and segment.

    Raises
    ------
    ConfigError
        If an option is invalid.
    WarehouseError
        If there is no orders table or it lacks a column read (see
        [refresh][tillflow.metrics.refresh]), or the scores cannot be stored.
    SchemaError
        If an order column has a type the kernel cannot read.
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
        The zone whose calendar months make the cohorts; the warehouse's by
        default.
    day_start
        When a shop day (and so a month) begins; see [refresh][tillflow.metrics.refresh].
    orders
        The orders table.
    write
        ``True`` also stores the long form as ``metrics_cohort_retention``,
        a table name under that name (never the matrix).

    Returns
    -------
    polars.DataFrame
        The long form, or the matrix.

    Raises
    ------
    ConfigError
        If an option is invalid.
    WarehouseError
        If the orders table is missing or lacks ``created_at`` or another
        column [refresh][tillflow.metrics.refresh] lists, or the long form cannot be stored.
    SchemaError
        If a column read has a type the kernel cannot read.
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
        The time zone tenure's shop days are counted in, by default the
        warehouse's (see [refresh][tillflow.metrics.refresh]).
    day_start
        When a shop day begins.
    orders
        The orders table.
    write
        ``True`` also stores the values as ``metrics_customer_lifetime_value``;
        a table name stores them under it.

    Returns
    -------
    polars.DataFrame
        One row per customer, highest historical value first.

    Raises
    ------
    ConfigError
        If an option is invalid, or ``horizon_days`` is below 1.
    WarehouseError
        If there is no orders table, one of its columns read is missing, or
        the values cannot be stored.
    SchemaError
        If ``created_at``, ``total_price`` or ``customer__id`` has a type the
        kernel cannot read.
    """
    return _customer_lifetime_value(Shop(wh, orders, ""), as_of, horizon_days, tz, day_start, write)


def _customer_lifetime_value(
    shop: Shop, as_of: dt.date | None, horizon_days: int, tz: str | None, day_start: DayStart, write: Write
) -> pl.DataFrame:
    result = kernels.customer_lifetime_value(
        shop.orders(), as_of=as_of, horizon_days=horizon_days, tz=shop_tz(shop.wh, tz), day_start=day_start
    )
    return _store(shop.wh, "customer_lifetime_value", result, write)
