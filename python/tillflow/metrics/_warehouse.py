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

The metrics live by family, as their kernels do: ``_daily`` (daily summary,
revenue trend, product performance), ``_customers`` (segments, RFM, cohort
retention, lifetime value), ``_orders`` (order-value buckets, approximate
distinct counts) and ``_refresh`` (every metric at once). This module holds
what they share: storing a result as a table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tillflow._core.errors import config_error
from tillflow.metrics._shop import Write

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse


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
