"""The shop's metrics as native kernels over polars frames.

Each kernel splits into partial → merge → finalize: ``kernel.partial(batch)``
turns a batch of orders (with their line items, where the metric needs them)
into a state, ``kernel.merge(a, b)`` combines states in any grouping, and
``kernel.finalize(state)`` gives the metric. Money is summed exactly (in
millionths), so any split of the rows gives the same result as one pass.

>>> import tillflow as tl
>>> tl.metrics.kernels.daily_summary(orders, line_items, tz="Europe/Berlin")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from tillflow import _native
from tillflow._core.errors import config_error

__all__ = [
    "ApproxDistinct",
    "CohortRetention",
    "CustomerLifetimeValue",
    "CustomerSegments",
    "DailySummary",
    "OrderValueBuckets",
    "ProductPerformance",
    "Rfm",
    "approx_distinct",
    "cohort_retention",
    "customer_lifetime_value",
    "customer_segments",
    "daily_summary",
    "order_value_buckets",
    "product_performance",
    "revenue_trend",
    "rfm",
]

Frame = pl.DataFrame | pl.LazyFrame


def _frame(data: Frame | None, what: str, columns: Sequence[str] = ()) -> pl.DataFrame | None:
    """A DataFrame as it is; a LazyFrame collected (streaming), with only
    ``columns`` when it has them all (else whole, so the kernel's error
    names the missing one)."""
    if data is None:
        return None
    if isinstance(data, pl.LazyFrame):
        if columns and set(columns) <= set(data.collect_schema().names()):
            data = data.select(list(dict.fromkeys(columns)))
        return data.collect(engine="streaming")
    if isinstance(data, pl.DataFrame):
        return data
    raise config_error(f"{what}: expected a polars DataFrame or LazyFrame, got {type(data).__name__}")


def _required(data: Frame, what: str, columns: Sequence[str] = ()) -> pl.DataFrame:
    frame = _frame(data, what, columns)
    assert frame is not None
    return frame


def _amount(value: Any, field: str) -> str:
    """An amount as exact text for the engine."""
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal, str)):
        raise config_error(f"{field}: expected an amount, got {value!r}")
    if isinstance(value, float):
        return format(decimal.Decimal(repr(value)).normalize(), "f")
    return str(value)


def _seconds(day_start: str | dt.time | dt.timedelta) -> int:
    if isinstance(day_start, dt.timedelta):
        return int(day_start.total_seconds())
    if isinstance(day_start, dt.time):
        return day_start.hour * 3600 + day_start.minute * 60 + day_start.second
    try:
        parsed = dt.time.fromisoformat(day_start)
    except (TypeError, ValueError):
        raise config_error(f"day_start: expected a time such as '04:00', got {day_start!r}") from None
    return parsed.hour * 3600 + parsed.minute * 60 + parsed.second


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


# The column of each role a kernel reads, by default (the normalizer's names for Shopify orders).
_ROLES = {
    "created_at": "created_at",
    "total_price": "total_price",
    "customer": "customer__id",
    "order_id": "_tf_id",
    "parent_id": "_tf_parent_id",
    "title": "title",
    "quantity": "quantity",
    "price": "price",
}
_ITEM_ROLES = ("parent_id", "title", "quantity", "price")


class _Kernel:
    """What every kernel shares: its native kernel, the columns it reads
    (a LazyFrame is collected with only those), and merging states."""

    _k: Any
    _reads: tuple[str, ...] = ()
    _reads_items: tuple[str, ...] = ()

    def merge(self, a: _native.Partial, b: _native.Partial) -> _native.Partial:
        """Both states as one; in any grouping and order."""
        return self._k.merge(a, b)


class _OneFrame(_Kernel):
    """A kernel whose batch is one frame of orders."""

    def partial(self, orders: Frame) -> _native.Partial:
        """The state of one batch of orders."""
        return self._k.partial(_required(orders, "orders", self._reads))


class _ShopDays(_Kernel):
    """A kernel that counts shop days: a day in the IANA time zone ``tz``,
    beginning at ``day_start``; ``columns`` renames the column roles."""

    _native_kernel: Any
    _roles: tuple[str, ...] = ("created_at", "total_price", "customer")

    def __init__(
        self,
        *,
        tz: str = "UTC",
        day_start: str | dt.time | dt.timedelta = "00:00",
        columns: Mapping[str, str] | None = None,
    ) -> None:
        self._k = self._native_kernel(tz, _seconds(day_start), dict(columns or {}))
        names = {**_ROLES, **dict(columns or {})}
        self._reads = tuple(names[r] for r in self._roles)
        self._reads_items = tuple(names[r] for r in _ITEM_ROLES)


class DailySummary(_ShopDays):
    """Per shop day: orders, revenue, average order value, unique customers
    and the top product (by ``quantity * price``; ties to the first title).

    ``tz`` is the shop's IANA time zone and ``day_start`` the time a day
    begins (``"04:00"`` counts 02:00 sales to the day before). ``columns``
    renames the roles ``created_at``, ``total_price``, ``customer``
    (default ``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
    (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

    Parameters
    ----------
    tz
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

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
            The batch's state, to merge and finalize.

        Raises
        ------
        ConfigError
            If a frame is not a DataFrame or LazyFrame.
        SchemaError
            If a column the kernel reads is missing or of a type it cannot read.
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
            If a frame is not a DataFrame or LazyFrame.
        SchemaError
            If a column the kernel reads is missing or of a type it cannot read.
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
            If a frame is not a DataFrame or LazyFrame.
        SchemaError
            If a column the kernel reads is missing or of a type it cannot read.
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


class ProductPerformance(_ShopDays):
    """The best-selling line-item titles over a window of shop days: units
    sold, revenue (``quantity * price``), orders containing each title and
    its average selling price; sorted by revenue (nulls last), then title.

    Parameters
    ----------
    tz
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

    Raises
    ------
    ConfigError
        If ``tz`` is not an IANA time zone, ``day_start`` is not a time
        within the day, or ``columns`` names an unknown role.
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
            The batch's state, to merge and finalize.

        Raises
        ------
        ConfigError
            If a frame is not a DataFrame or LazyFrame.
        SchemaError
            If a column the kernel reads is missing or of a type it cannot read.
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


def _check_window(days: int | None, top: int | None) -> None:
    if days is not None and days < 1:
        raise config_error(f"days: must be at least 1, got {days}")
    if top is not None and top < 0:
        raise config_error(f"top: must not be negative, got {top}")


class OrderValueBuckets(_OneFrame):
    """Orders and revenue per order-value bucket: bucket ``i`` holds totals in
    ``(edges[i], edges[i+1]]``, the last one everything above the last edge;
    a total equal to the first edge goes to the first bucket.

    Parameters
    ----------
    edges
        The buckets' lower edges, strictly increasing amounts (numbers,
        decimals or text, up to 6 decimals), one per label.
    labels
        The buckets' names, unique.
    column
        The order total's column.

    Raises
    ------
    ConfigError
        If ``edges`` and ``labels`` differ in length or are empty, an edge is
        not an amount, the edges do not increase, or a label repeats.
    """

    def __init__(
        self,
        edges: Sequence[Any] = (0, 50, 100, 200),
        labels: Sequence[str] = ("Low", "Medium", "High", "Premium"),
        *,
        column: str = "total_price",
    ) -> None:
        self._k = _native.BucketKernel([_amount(e, "edges") for e in edges], list(labels), column)
        self._reads = (column,)

    def finalize(self, state: _native.Partial) -> pl.DataFrame:
        """One row per bucket, in the labels' order.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.

        Returns
        -------
        polars.DataFrame
            ``bucket``, ``orders``, ``revenue`` and ``share_of_orders``.
        """
        return self._k.finalize(state)


class CustomerSegments(_OneFrame):
    """Customers per segment at the seed's thresholds (configurable): VIP,
    Loyal, Regular, New. Guest checkouts (no customer) are left out.

    Parameters
    ----------
    vip_orders
        The orders that make a customer VIP, with ``vip_spent``.
    vip_spent
        The amount spent that makes a customer VIP, with ``vip_orders``.
    loyal_orders
        The orders that make a customer Loyal, with ``loyal_spent``.
    loyal_spent
        The amount spent that makes a customer Loyal, with ``loyal_orders``.
    regular_orders
        The orders that make a customer Regular; fewer make them New.
    customer
        The customer id's column.
    amount
        The order total's column.

    Raises
    ------
    ConfigError
        If an amount is not an amount (up to 6 decimals).
    """

    def __init__(
        self,
        *,
        vip_orders: int = 10,
        vip_spent: Any = 1000,
        loyal_orders: int = 5,
        loyal_spent: Any = 500,
        regular_orders: int = 2,
        customer: str = "customer__id",
        amount: str = "total_price",
    ) -> None:
        self._k = _native.SegmentKernel(
            vip_orders, _amount(vip_spent, "vip_spent"), loyal_orders, _amount(loyal_spent, "loyal_spent"),
            regular_orders, customer, amount,
        )  # fmt: skip
        self._reads = (customer, amount)

    def finalize(self, state: _native.Partial) -> pl.DataFrame:
        """One row per segment: VIP, Loyal, Regular, New.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.

        Returns
        -------
        polars.DataFrame
            ``customer_segment``, ``customer_count``, ``avg_lifetime_value``
            and ``avg_orders_per_customer``.
        """
        return self._k.finalize(state)


class CohortRetention(_ShopDays, _OneFrame):
    """Customers by the month of their first order (their cohort), and for
    each month since, how many of them ordered: ``cohort_month``,
    ``months_since_first``, ``cohort_size``, ``customers``, ``retention``.
    Months are calendar months of shop days; guest checkouts are left out.

    Parameters
    ----------
    tz
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

    Raises
    ------
    ConfigError
        If ``tz`` is not an IANA time zone, ``day_start`` is not a time
        within the day, or ``columns`` names an unknown role.
    """

    _native_kernel = _native.CohortKernel
    _roles = ("created_at", "customer")

    def finalize(self, state: _native.Partial) -> pl.DataFrame:
        """The long form: one row per cohort and month since its first.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.

        Returns
        -------
        polars.DataFrame
            ``cohort_month``, ``months_since_first``, ``cohort_size``,
            ``customers`` and ``retention``.
        """
        return self._k.finalize(state)

    def matrix(self, state: _native.Partial) -> pl.DataFrame:
        """The same as a cohort × months-since-first table of retention.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.

        Returns
        -------
        polars.DataFrame
            One row per cohort: ``cohort_month``, ``cohort_size`` and a
            retention column per month since the first.
        """
        long = self.finalize(state)
        if long.height == 0:
            return pl.DataFrame(schema={"cohort_month": pl.Date, "cohort_size": pl.Int64})
        return long.pivot(
            on="months_since_first", index=["cohort_month", "cohort_size"], values="retention"
        ).sort("cohort_month")


def cohort_retention(orders: Frame, **options: Any) -> pl.DataFrame:
    """[CohortRetention][tillflow.metrics.kernels.CohortRetention] over one frame of orders (the long form).

    Parameters
    ----------
    orders
        The orders.
    **options
        ``tz``, ``day_start`` and ``columns``, as
        [CohortRetention][tillflow.metrics.kernels.CohortRetention] takes them.

    Returns
    -------
    polars.DataFrame
        As [CohortRetention.finalize][tillflow.metrics.kernels.CohortRetention.finalize] gives it.

    Raises
    ------
    ConfigError
        If an option is invalid.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = CohortRetention(**options)
    return k.finalize(k.partial(orders))


class Rfm(_ShopDays, _OneFrame):
    """Recency, frequency and monetary scores (1–5 by quintile, ties sharing
    a score) per customer, and the named segment of each (Champions, Loyal
    Customers, Potential Loyalists, New Customers, Promising, Need Attention,
    About to Sleep, At Risk, Can't Lose Them, Hibernating). Recency counts
    shop days to ``as_of`` (default: the day after the latest order).

    Parameters
    ----------
    tz
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

    Raises
    ------
    ConfigError
        If ``tz`` is not an IANA time zone, ``day_start`` is not a time
        within the day, or ``columns`` names an unknown role.
    """

    _native_kernel = _native.RfmKernel

    def finalize(self, state: _native.Partial, *, as_of: dt.date | None = None) -> pl.DataFrame:
        """One row per customer: customer, recency_days, frequency, monetary,
        r_score, f_score, m_score, rfm (e.g. ``"545"``) and segment.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.
        as_of
            The shop day recency counts to; by default the day after the
            latest order.

        Returns
        -------
        polars.DataFrame
            The scores per customer.
        """
        return self._k.table(state, _iso(as_of))


def rfm(orders: Frame, *, as_of: dt.date | None = None, **options: Any) -> pl.DataFrame:
    """[Rfm][tillflow.metrics.kernels.Rfm] over one frame of orders.

    Parameters
    ----------
    orders
        The orders.
    as_of
        The shop day recency counts to; by default the day after the latest
        order.
    **options
        ``tz``, ``day_start`` and ``columns``, as [Rfm][tillflow.metrics.kernels.Rfm] takes them.

    Returns
    -------
    polars.DataFrame
        As [Rfm.finalize][tillflow.metrics.kernels.Rfm.finalize] gives it.

    Raises
    ------
    ConfigError
        If an option is invalid.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = Rfm(**options)
    return k.finalize(k.partial(orders), as_of=as_of)


class CustomerLifetimeValue(_ShopDays, _OneFrame):
    """What each customer has spent (``historical_value``) and a simple
    prediction over ``horizon_days``: average order value × orders per day
    since the first order × horizon (tenure counted to ``as_of``, default the
    day after the latest order, at least one day). A ranking aid that assumes
    each customer keeps their pace; not a forecast with error bars.

    Parameters
    ----------
    tz
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

    Raises
    ------
    ConfigError
        If ``tz`` is not an IANA time zone, ``day_start`` is not a time
        within the day, or ``columns`` names an unknown role.
    """

    _native_kernel = _native.ClvKernel

    def finalize(
        self, state: _native.Partial, *, as_of: dt.date | None = None, horizon_days: int = 365
    ) -> pl.DataFrame:
        """One row per customer, highest historical value first.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.
        as_of
            The shop day tenure counts to; by default the day after the
            latest order.
        horizon_days
            The days the prediction covers, at least 1.

        Returns
        -------
        polars.DataFrame
            Per customer: ``customer``, ``orders``, ``first_order``, ``last_order``,
            ``historical_value``, ``average_order_value``, ``tenure_days`` and
            ``predicted_value``.

        Raises
        ------
        ConfigError
            If ``horizon_days`` is below 1.
        """
        if horizon_days < 1:
            raise config_error(f"horizon_days: must be at least 1, got {horizon_days}")
        return self._k.table(state, _iso(as_of), horizon_days)


def customer_lifetime_value(
    orders: Frame, *, as_of: dt.date | None = None, horizon_days: int = 365, **options: Any
) -> pl.DataFrame:
    """[CustomerLifetimeValue][tillflow.metrics.kernels.CustomerLifetimeValue] over one frame of orders.

    Parameters
    ----------
    orders
        The orders.
    as_of
        The shop day tenure counts to; by default the day after the latest
        order.
    horizon_days
        The days the prediction covers, at least 1.
    **options
        ``tz``, ``day_start`` and ``columns``, as
        [CustomerLifetimeValue][tillflow.metrics.kernels.CustomerLifetimeValue] takes them.

    Returns
    -------
    polars.DataFrame
        As [CustomerLifetimeValue.finalize][tillflow.metrics.kernels.CustomerLifetimeValue.finalize]
        gives it.

    Raises
    ------
    ConfigError
        If an option is invalid or ``horizon_days`` is below 1.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = CustomerLifetimeValue(**options)
    return k.finalize(k.partial(orders), as_of=as_of, horizon_days=horizon_days)


class ApproxDistinct(_Kernel):
    """The number of distinct values of ``column``, estimated with
    HyperLogLog++; the standard error is about ``1.04 / sqrt(2**precision)``
    (0.81 % at the default 14). Sketches merge across batches and processes.
    Nulls are not counted; 5 and 5.0 are one value.

    Parameters
    ----------
    column
        The column whose values are counted.
    precision
        The sketch's precision, 4 to 18; higher is more exact and larger.

    Raises
    ------
    ConfigError
        If ``precision`` is not an integer from 4 to 18.
    """

    def __init__(self, column: str, *, precision: int = 14) -> None:
        if isinstance(precision, bool) or not isinstance(precision, int) or not 4 <= precision <= 18:
            raise config_error(f"precision: must be 4 to 18, got {precision!r}")
        self._k = _native.DistinctKernel(column, precision)
        self._reads = (column,)

    @property
    def standard_error(self) -> float:
        return self._k.standard_error

    def partial(self, data: Frame) -> _native.Partial:
        """The sketch of one batch.

        Parameters
        ----------
        data
            A frame holding ``column``.

        Returns
        -------
        Partial
            The batch's sketch, to merge and finalize.

        Raises
        ------
        ConfigError
            If a frame is not a DataFrame or LazyFrame.
        SchemaError
            If a column the kernel reads is missing or of a type it cannot read.
        """
        return self._k.partial(_required(data, "data", self._reads))

    def finalize(self, state: _native.Partial) -> float:
        """The estimate (a float; round it for a count).

        Parameters
        ----------
        state
            A sketch from ``partial`` or ``merge``.

        Returns
        -------
        float
            The estimated number of distinct values.
        """
        return self._k.estimate(state)


def approx_distinct(data: Frame, column: str, *, precision: int = 14) -> float:
    """[ApproxDistinct][tillflow.metrics.kernels.ApproxDistinct] over one frame.

    Parameters
    ----------
    data
        The frame.
    column
        The column whose values are counted.
    precision
        The sketch's precision, 4 to 18.

    Returns
    -------
    float
        The estimated number of distinct values.

    Raises
    ------
    ConfigError
        If ``precision`` is out of range or ``data`` is not a frame.
    SchemaError
        If ``column`` is missing or of a type the sketch cannot read.
    """
    k = ApproxDistinct(column, precision=precision)
    return k.finalize(k.partial(data))


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
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    start
        The first shop day to include; by default the earliest.
    end
        The last shop day to include; by default the latest.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

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
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

    Returns
    -------
    polars.DataFrame
        One row per day (or week), newest first.

    Raises
    ------
    ConfigError
        If ``days`` is below 1, an option is invalid or ``orders`` is not a frame.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = DailySummary(tz=tz, day_start=day_start, columns=columns)
    return k.trend(k.partial(orders), days=days, end=end, weekly=weekly)


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
        The shop's IANA time zone (``"Europe/Berlin"``); shop days are cut in it.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.
    columns
        Column names for the roles read, where they differ from the
        defaults: ``created_at``, ``total_price``, ``customer``
        (``customer__id``), ``order_id`` (``_tf_id``), ``parent_id``
        (``_tf_parent_id``), ``title``, ``quantity`` and ``price``.

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


def order_value_buckets(orders: Frame, **options: Any) -> pl.DataFrame:
    """[OrderValueBuckets][tillflow.metrics.kernels.OrderValueBuckets] over one frame of orders.

    Parameters
    ----------
    orders
        The orders.
    **options
        ``edges``, ``labels`` and ``column``, as
        [OrderValueBuckets][tillflow.metrics.kernels.OrderValueBuckets] takes them.

    Returns
    -------
    polars.DataFrame
        One row per bucket.

    Raises
    ------
    ConfigError
        If an option is invalid or ``orders`` is not a frame.
    SchemaError
        If the total's column is missing or of a type the kernel cannot read.
    """
    k = OrderValueBuckets(**options)
    return k.finalize(k.partial(orders))


def customer_segments(orders: Frame, **options: Any) -> pl.DataFrame:
    """[CustomerSegments][tillflow.metrics.kernels.CustomerSegments] over one frame of orders.

    Parameters
    ----------
    orders
        The orders.
    **options
        The thresholds and column names, as
        [CustomerSegments][tillflow.metrics.kernels.CustomerSegments] takes them.

    Returns
    -------
    polars.DataFrame
        One row per segment.

    Raises
    ------
    ConfigError
        If an option is invalid or ``orders`` is not a frame.
    SchemaError
        If a column the kernel reads is missing or of a type it cannot read.
    """
    k = CustomerSegments(**options)
    return k.finalize(k.partial(orders))
