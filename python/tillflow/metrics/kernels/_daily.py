"""The daily kernel: per shop day orders, revenue, customers and the top
product, the revenue trend and (from the same state) the best-selling
titles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import polars as pl

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.metrics.kernels._base import Frame, _check_window, _frame, _iso, _required, _ShopDays


class DailySummary(_ShopDays):
    """Per shop day: orders, revenue, average order value, unique customers
    and the top product (by ``quantity * price``; ties to the first title).

    Every kernel that counts shop days (this one,
    [ProductPerformance][tillflow.metrics.kernels.ProductPerformance],
    [CohortRetention][tillflow.metrics.kernels.CohortRetention],
    [Rfm][tillflow.metrics.kernels.Rfm] and
    [CustomerLifetimeValue][tillflow.metrics.kernels.CustomerLifetimeValue])
    takes ``tz``, ``day_start`` and ``columns`` as described here.

    Parameters
    ----------
    tz
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours. ``"04:00"`` counts 02:00
        sales to the day before.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``. Each
        kernel reads some of these roles.

    Raises
    ------
    ConfigError
        If ``tz`` is not an IANA time zone, ``day_start`` is not a time
        within the day, or ``columns`` names an unknown role.
    """

    _native_kernel = _native.DailyKernel
    _roles = ("created_at", "total_price", "customer", "order_id")

    def partial(self, orders: Frame, line_items: Frame | None = None) -> _native.Partial:
        """The state of one batch: orders, and the line items of exactly those orders.

        Parameters
        ----------
        orders
            A batch of orders.
        line_items
            The line items of exactly those orders; without them there is no
            top product.

        Returns
        -------
        Partial
            The batch's sums per shop day (with the line items' sums per
            title when given), to merge and finalize.

        Raises
        ------
        ConfigError
            If ``orders`` or ``line_items`` is not a DataFrame or LazyFrame.
        SchemaError
            If the column of a role read from the orders or the line items
            is missing or of a type the kernel cannot read.
        """
        return self._k.partial(
            _required(orders, "orders", self._reads), _frame(line_items, "line_items", self._reads_items)
        )

    def finalize(
        self, state: _native.Partial, *, start: dt.date | None = None, end: dt.date | None = None
    ) -> pl.DataFrame:
        """One row per day, newest first; ``start``/``end`` are inclusive.

        Parameters
        ----------
        state
            A state from ``partial``, ``merge`` or ``run``.
        start
            The first shop day to include; by default the earliest.
        end
            The last shop day to include; by default the latest.

        Returns
        -------
        polars.DataFrame
            One row per shop day with orders: ``date``, ``total_orders``,
            ``revenue``, ``average_order_value``, ``unique_customers`` and
            ``top_product``.
        """
        return self._k.summary(state, _iso(start), _iso(end))

    def trend(
        self, state: _native.Partial, *, days: int = 30, end: dt.date | None = None, weekly: bool = False
    ) -> pl.DataFrame:
        """The ``days`` days ending at ``end`` (default: the latest order day),
        newest first, empty days as zeros; ``weekly`` sums them into weeks
        starting on Monday.

        Parameters
        ----------
        state
            A state from ``partial``, ``merge`` or ``run``.
        days
            How many shop days, at least 1.
        end
            The last shop day; by default the latest order day.
        weekly
            Sum the days into weeks starting on Monday.

        Returns
        -------
        polars.DataFrame
            One row per day (or week), newest first.

        Raises
        ------
        ConfigError
            If ``days`` is below 1.
        """
        if days < 1:
            raise config_error(f"days: must be at least 1, got {days}")
        return self._k.trend(state, days, _iso(end), weekly)

    def products(
        self,
        state: _native.Partial,
        *,
        days: int | None = 30,
        end: dt.date | None = None,
        top: int | None = 20,
    ) -> pl.DataFrame:
        """The best-selling titles, exactly as
        [ProductPerformance][tillflow.metrics.kernels.ProductPerformance] gives them: a daily
        state holds the same line-item sums, so one pass serves the summary,
        the trend and the products.

        Parameters
        ----------
        state
            A state whose batches included line items.
        days
            The window in shop days, ending at ``end``; ``None`` for all time.
        end
            The window's last day; by default the latest order day.
        top
            How many titles, best first; ``None`` for all.

        Returns
        -------
        polars.DataFrame
            One row per title, by revenue.

        Raises
        ------
        ConfigError
            If ``days`` is below 1 or ``top`` is negative.
        """
        _check_window(days, top)
        return self._k.products(state, days, _iso(end), top)

    def stream(self, orders: Frame) -> _native.LineItemStream:
        """The state of ``orders`` waiting for their line items, pushed in
        batches of any size with ``.push(items)``; ``.finish()`` gives the
        state, the same as ``partial(orders, all_items)``. The items must come
        in their orders' order, as a load leaves them in the warehouse (an
        order's items may straddle batches); when they do not, ``finish()``
        returns None and the items must be summed in one ``partial``.

        Parameters
        ----------
        orders
            The orders whose items follow.

        Returns
        -------
        LineItemStream
            The stream to push line items into.

        Raises
        ------
        ConfigError
            If ``orders`` is not a DataFrame or LazyFrame.
        SchemaError
            If an order column the kernel reads is missing or unreadable.
        """
        return self._k.stream(_required(orders, "orders", self._reads))

    def run(self, batches: Iterable[tuple[Frame, Frame | None]]) -> _native.Partial:
        """The merged state of ``(orders, line_items)`` batches.

        Parameters
        ----------
        batches
            ``(orders, line_items)`` pairs; ``line_items`` may be ``None``.

        Returns
        -------
        Partial
            The state of every batch (an empty state when there is none).

        Raises
        ------
        ConfigError
            If a frame in ``batches`` is not a DataFrame or LazyFrame.
        SchemaError
            As [partial][tillflow.metrics.kernels.DailySummary.partial] raises
            it, for the first batch that lacks a column.
        """
        state: _native.Partial | None = None
        for orders, items in batches:
            part = self.partial(orders, items)
            state = part if state is None else self.merge(state, part)
        if state is None:
            state = self.partial(pl.DataFrame(schema=_EMPTY_ORDERS))
        return state


_EMPTY_ORDERS: dict[str, pl.DataType | type[pl.DataType]] = {
    "_tf_id": pl.UInt64,
    "created_at": pl.Datetime("us", "UTC"),
    "total_price": pl.Decimal(38, 2),
    "customer__id": pl.Int64,
}


def daily_summary(
    orders: Frame,
    line_items: Frame | None = None,
    *,
    tz: str = "UTC",
    day_start: str | dt.time | dt.timedelta = "00:00",
    start: dt.date | None = None,
    end: dt.date | None = None,
    columns: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """[DailySummary][tillflow.metrics.kernels.DailySummary] over one frame of orders (and their line items).

    Parameters
    ----------
    orders
        The orders.
    line_items
        Their line items, for the top product; ``None`` leaves it out.
    tz
        The shop's time zone, as [DailySummary][tillflow.metrics.kernels.DailySummary] takes it.
    day_start
        When each shop day begins (likewise).
    start
        The first shop day to include; by default the earliest.
    end
        The last shop day to include; by default the latest.
    columns
        The roles' columns where they differ from the defaults (likewise).

    Returns
    -------
    polars.DataFrame
        One row per shop day, newest first (see
        [DailySummary.finalize][tillflow.metrics.kernels.DailySummary.finalize]).

    Raises
    ------
    ConfigError
        If an option is invalid or a frame is not a DataFrame or LazyFrame.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = DailySummary(tz=tz, day_start=day_start, columns=columns)
    return k.finalize(k.partial(orders, line_items), start=start, end=end)


def revenue_trend(
    orders: Frame,
    *,
    days: int = 30,
    end: dt.date | None = None,
    weekly: bool = False,
    tz: str = "UTC",
    day_start: str | dt.time | dt.timedelta = "00:00",
    columns: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """The last ``days`` days of orders and revenue, empty days as zeros.

    Parameters
    ----------
    orders
        The orders.
    days
        How many shop days, at least 1.
    end
        The last shop day; by default the latest order day.
    weekly
        Sum the days into weeks starting on Monday.
    tz
        The time zone the days are counted in; see
        [DailySummary][tillflow.metrics.kernels.DailySummary].
    day_start
        The time of day the days begin at; see the same.
    columns
        Columns for the ``created_at``, ``total_price``, ``customer`` and
        ``order_id`` roles, where they differ from the defaults.

    Returns
    -------
    polars.DataFrame
        One row per day (or week), newest first, empty days as zeros, as
        [DailySummary.trend][tillflow.metrics.kernels.DailySummary.trend] gives them.

    Raises
    ------
    ConfigError
        If ``days`` is below 1, an option is invalid or ``orders`` is not a frame.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = DailySummary(tz=tz, day_start=day_start, columns=columns)
    return k.trend(k.partial(orders), days=days, end=end, weekly=weekly)
