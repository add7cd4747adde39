"""The shop's metrics as native kernels over polars frames.

Each kernel splits into partial → merge → finalize: ``kernel.partial(batch)``
turns a batch of orders (with their line items, where the metric needs them)
into a state, ``kernel.merge(a, b)`` combines states in any grouping, and
``kernel.finalize(state)`` gives the metric. Money is summed exactly (in
millionths), so any split of the rows gives the same result as one pass.

>>> import tillflow as tl
>>> tl.kernels.daily_summary(orders, line_items, tz="Europe/Berlin")  # doctest: +SKIP
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
    """

    _native_kernel = _native.DailyKernel
    _roles = ("created_at", "total_price", "customer", "order_id")

    def partial(self, orders: Frame, line_items: Frame | None = None) -> _native.Partial:
        """The state of one batch: orders, and the line items of exactly those orders."""
        return self._k.partial(
            _required(orders, "orders", self._reads), _frame(line_items, "line_items", self._reads_items)
        )

    def finalize(
        self, state: _native.Partial, *, start: dt.date | None = None, end: dt.date | None = None
    ) -> pl.DataFrame:
        """One row per day, newest first; ``start``/``end`` are inclusive."""
        return self._k.summary(state, _iso(start), _iso(end))

    def trend(
        self, state: _native.Partial, *, days: int = 30, end: dt.date | None = None, weekly: bool = False
    ) -> pl.DataFrame:
        """The ``days`` days ending at ``end`` (default: the latest order day),
        newest first, empty days as zeros; ``weekly`` sums them into weeks
        starting on Monday."""
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
        """The best-selling titles, exactly as :class:`ProductPerformance`
        gives them: a daily state holds the same line-item sums, so one pass
        serves the summary, the trend and the products."""
        _check_window(days, top)
        return self._k.products(state, days, _iso(end), top)

    def stream(self, orders: Frame) -> _native.LineItemStream:
        """The state of ``orders`` waiting for their line items, pushed in
        batches of any size with ``.push(items)``; ``.finish()`` gives the
        state, the same as ``partial(orders, all_items)``. The items must come
        in their orders' order, as a load leaves them in the warehouse (an
        order's items may straddle batches); when they do not, ``finish()``
        returns None and the items must be summed in one ``partial``."""
        return self._k.stream(_required(orders, "orders", self._reads))

    def run(self, batches: Iterable[tuple[Frame, Frame | None]]) -> _native.Partial:
        """The merged state of ``(orders, line_items)`` batches."""
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
    its average selling price; sorted by revenue (nulls last), then title."""

    _native_kernel = _native.ProductKernel
    _roles = ("created_at", "order_id")

    def partial(self, orders: Frame, line_items: Frame) -> _native.Partial:
        """The state of one batch: orders and the line items of exactly those orders."""
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
        order day; ``days=None`` is all time), the ``top`` best first."""
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
    a total equal to the first edge goes to the first bucket."""

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
        return self._k.finalize(state)


class CustomerSegments(_OneFrame):
    """Customers per segment at the seed's thresholds (configurable): VIP,
    Loyal, Regular, New. Guest checkouts (no customer) are left out."""

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
        return self._k.finalize(state)


class CohortRetention(_ShopDays, _OneFrame):
    """Customers by the month of their first order (their cohort), and for
    each month since, how many of them ordered: ``cohort_month``,
    ``months_since_first``, ``cohort_size``, ``customers``, ``retention``.
    Months are calendar months of shop days; guest checkouts are left out."""

    _native_kernel = _native.CohortKernel
    _roles = ("created_at", "customer")

    def finalize(self, state: _native.Partial) -> pl.DataFrame:
        return self._k.finalize(state)

    def matrix(self, state: _native.Partial) -> pl.DataFrame:
        """The same as a cohort × months-since-first table of retention."""
        long = self.finalize(state)
        if long.height == 0:
            return pl.DataFrame(schema={"cohort_month": pl.Date, "cohort_size": pl.Int64})
        return long.pivot(
            on="months_since_first", index=["cohort_month", "cohort_size"], values="retention"
        ).sort("cohort_month")


def cohort_retention(orders: Frame, **options: Any) -> pl.DataFrame:
    """:class:`CohortRetention` over one frame of orders (the long form)."""
    k = CohortRetention(**options)
    return k.finalize(k.partial(orders))


class Rfm(_ShopDays, _OneFrame):
    """Recency, frequency and monetary scores (1–5 by quintile, ties sharing
    a score) per customer, and the named segment of each (Champions, Loyal
    Customers, Potential Loyalists, New Customers, Promising, Need Attention,
    About to Sleep, At Risk, Can't Lose Them, Hibernating). Recency counts
    shop days to ``as_of`` (default: the day after the latest order)."""

    _native_kernel = _native.RfmKernel

    def finalize(self, state: _native.Partial, *, as_of: dt.date | None = None) -> pl.DataFrame:
        """One row per customer: customer, recency_days, frequency, monetary,
        r_score, f_score, m_score, rfm (e.g. ``"545"``) and segment."""
        return self._k.table(state, _iso(as_of))


def rfm(orders: Frame, *, as_of: dt.date | None = None, **options: Any) -> pl.DataFrame:
    """:class:`Rfm` over one frame of orders."""
    k = Rfm(**options)
    return k.finalize(k.partial(orders), as_of=as_of)


class CustomerLifetimeValue(_ShopDays, _OneFrame):
    """What each customer has spent (``historical_value``) and a simple
    prediction over ``horizon_days``: average order value × orders per day
    since the first order × horizon (tenure counted to ``as_of``, default the
    day after the latest order, at least one day). A ranking aid that assumes
    each customer keeps their pace; not a forecast with error bars."""

    _native_kernel = _native.ClvKernel

    def finalize(
        self, state: _native.Partial, *, as_of: dt.date | None = None, horizon_days: int = 365
    ) -> pl.DataFrame:
        """One row per customer, highest historical value first."""
        if horizon_days < 1:
            raise config_error(f"horizon_days: must be at least 1, got {horizon_days}")
        return self._k.table(state, _iso(as_of), horizon_days)


def customer_lifetime_value(
    orders: Frame, *, as_of: dt.date | None = None, horizon_days: int = 365, **options: Any
) -> pl.DataFrame:
    """:class:`CustomerLifetimeValue` over one frame of orders."""
    k = CustomerLifetimeValue(**options)
    return k.finalize(k.partial(orders), as_of=as_of, horizon_days=horizon_days)


class ApproxDistinct(_Kernel):
    """The number of distinct values of ``column``, estimated with
    HyperLogLog++; the standard error is about ``1.04 / sqrt(2**precision)``
    (0.81 % at the default 14). Sketches merge across batches and processes.
    Nulls are not counted; 5 and 5.0 are one value."""

    def __init__(self, column: str, *, precision: int = 14) -> None:
        if isinstance(precision, bool) or not isinstance(precision, int) or not 4 <= precision <= 18:
            raise config_error(f"precision: must be 4 to 18, got {precision!r}")
        self._k = _native.DistinctKernel(column, precision)
        self._reads = (column,)

    @property
    def standard_error(self) -> float:
        return self._k.standard_error

    def partial(self, data: Frame) -> _native.Partial:
        return self._k.partial(_required(data, "data", self._reads))

    def finalize(self, state: _native.Partial) -> float:
        """The estimate (a float; round it for a count)."""
        return self._k.estimate(state)


def approx_distinct(data: Frame, column: str, *, precision: int = 14) -> float:
    """:class:`ApproxDistinct` over one frame."""
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
    """:class:`DailySummary` over one frame of orders (and their line items)."""
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
    """The last ``days`` days of orders and revenue, empty days as zeros."""
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
    """:class:`ProductPerformance` over one frame of orders and their line items."""
    k = ProductPerformance(tz=tz, day_start=day_start, columns=columns)
    return k.finalize(k.partial(orders, line_items), days=days, end=end, top=top)


def order_value_buckets(orders: Frame, **options: Any) -> pl.DataFrame:
    """:class:`OrderValueBuckets` over one frame of orders."""
    k = OrderValueBuckets(**options)
    return k.finalize(k.partial(orders))


def customer_segments(orders: Frame, **options: Any) -> pl.DataFrame:
    """:class:`CustomerSegments` over one frame of orders."""
    k = CustomerSegments(**options)
    return k.finalize(k.partial(orders))
