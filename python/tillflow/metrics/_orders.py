"""Metrics over single orders' values and any column: order-value buckets,
and the approximate number of distinct values of a table's column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.metrics import kernels
from tillflow.metrics._shop import Shop, Write
from tillflow.metrics._warehouse import _store

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse


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
        ``True`` also stores the buckets as ``metrics_order_value_buckets``,
        a table name under that name.

    Returns
    -------
    polars.DataFrame
        One row per bucket.

    Raises
    ------
    ConfigError
        If an option is invalid, such as edges that do not increase or labels of another length.
    WarehouseError
        If the orders table or a column read from it (see [refresh][tillflow.metrics.refresh]) is
        missing, or the buckets cannot be stored.
    SchemaError
        If ``total_price`` has a type the kernel cannot read.
    """
    return _order_value_buckets(Shop(wh, orders, ""), edges, labels, write)


def _order_value_buckets(
    shop: Shop, edges: Sequence[Any], labels: Sequence[str], write: Write
) -> pl.DataFrame:
    result = kernels.order_value_buckets(shop.orders(), edges=edges, labels=labels)
    return _store(shop.wh, "order_value_buckets", result, write)


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
