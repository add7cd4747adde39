"""The product kernel: the best-selling line-item titles over a window of shop days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from tillflow import _native
from tillflow.metrics.kernels._base import Frame, _check_window, _iso, _required, _ShopDays


class ProductPerformance(_ShopDays):
    """The best-selling line-item titles over a window of shop days: units
    sold, revenue (``quantity * price``), orders containing each title and
    its average selling price; sorted by revenue (nulls last), then title.

    Parameters
    ----------
    tz
        The time zone the window's shop days are cut in, as
        [DailySummary][tillflow.metrics.kernels.DailySummary] takes it.
    day_start
        When a shop day of the window begins (likewise).
    columns
        Columns for the roles read here, where they differ from the
        defaults: ``created_at`` and ``order_id`` of the orders, ``parent_id``,
        ``title``, ``quantity`` and ``price`` of the line items.

    Raises
    ------
    ConfigError
        If ``tz``, ``day_start`` or ``columns`` is not valid (see
        [DailySummary][tillflow.metrics.kernels.DailySummary]).
    """

    _native_kernel = _native.ProductKernel
    _roles = ("created_at", "order_id")

    def partial(self, orders: Frame, line_items: Frame) -> _native.Partial:
        """The state of one batch: orders and the line items of exactly those orders.

        Parameters
        ----------
        orders
            A batch of orders.
        line_items
            The line items of exactly those orders.

        Returns
        -------
        Partial
            The batch's sums per title and shop day, to merge and finalize.

        Raises
        ------
        ConfigError
            If ``orders`` or ``line_items`` (both required here) is not a
            DataFrame or LazyFrame.
        SchemaError
            If a role's column is missing from its frame or of a type the
            kernel cannot read.
        """
        return self._k.partial(
            _required(orders, "orders", self._reads), _required(line_items, "line_items", self._reads_items)
        )

    def finalize(
        self,
        state: _native.Partial,
        *,
        days: int | None = 30,
        end: dt.date | None = None,
        top: int | None = 20,
    ) -> pl.DataFrame:
        """Titles over the ``days`` days ending at ``end`` (default: the latest
        order day; ``days=None`` is all time), the ``top`` best first.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.
        days
            The window in shop days; ``None`` for all time.
        end
            The window's last day; by default the latest order day.
        top
            How many titles; ``None`` for all.

        Returns
        -------
        polars.DataFrame
            One row per title: ``product_title``, ``total_sold``,
            ``total_revenue``, ``orders_containing_product`` and
            ``avg_selling_price``.

        Raises
        ------
        ConfigError
            If ``days`` is below 1 or ``top`` is negative.
        """
        _check_window(days, top)
        return self._k.report(state, days, _iso(end), top)


def product_performance(
    orders: Frame,
    line_items: Frame,
    *,
    days: int | None = 30,
    end: dt.date | None = None,
    top: int | None = 20,
    tz: str = "UTC",
    day_start: str | dt.time | dt.timedelta = "00:00",
    columns: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """[ProductPerformance][tillflow.metrics.kernels.ProductPerformance] over one frame of orders
    and their line items.

    Parameters
    ----------
    orders
        The orders.
    line_items
        Their line items.
    days
        The window in shop days, ending at ``end``; ``None`` for all time.
    end
        The window's last day; by default the latest order day.
    top
        How many titles, best first; ``None`` for all.
    tz
        The time zone of the window's shop days, as
        [ProductPerformance][tillflow.metrics.kernels.ProductPerformance] takes it.
    day_start
        When each shop day begins (likewise).
    columns
        The roles' columns, where they differ from the defaults (likewise).

    Returns
    -------
    polars.DataFrame
        One row per title, by revenue.

    Raises
    ------
    ConfigError
        If ``days`` is below 1, ``top`` negative, an option invalid or a
        frame not a DataFrame or LazyFrame.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = ProductPerformance(tz=tz, day_start=day_start, columns=columns)
    return k.finalize(k.partial(orders, line_items), days=days, end=end, top=top)
