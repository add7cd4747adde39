"""Customer kernels: segments, cohort retention, RFM scores and lifetime value."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.metrics.kernels._base import Frame, _amount, _iso, _OneFrame, _ShopDays


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


def customer_segments(orders: Frame, **options: Any) -> pl.DataFrame:
    """[CustomerSegments][tillflow.metrics.kernels.CustomerSegments] over one frame of orders.

    Parameters
    ----------
    orders
        The orders, each with its customer and total; guest checkouts are
        left out.
    **options
        The thresholds and column names, as
        [CustomerSegments][tillflow.metrics.kernels.CustomerSegments] takes them.

    Returns
    -------
    polars.DataFrame
        One row per segment: VIP, Loyal, Regular and New.

    Raises
    ------
    ConfigError
        If a threshold is not an amount or ``orders`` is not a frame.
    SchemaError
        If the customer or total column is missing or of a type the kernel
        cannot read.
    """
    k = CustomerSegments(**options)
    return k.finalize(k.partial(orders))


class CohortRetention(_ShopDays, _OneFrame):
    """Customers by the month of their first order (their cohort), and for
    each month since, how many of them ordered: ``cohort_month``,
    ``months_since_first``, ``cohort_size``, ``customers``, ``retention``.
    Months are calendar months of shop days; guest checkouts are left out.

    Parameters
    ----------
    tz
        The time zone whose calendar months make the cohorts, as
        [DailySummary][tillflow.metrics.kernels.DailySummary] takes it.
    day_start
        When a shop day begins, so when a month does (likewise).
    columns
        Columns for the ``created_at`` and ``customer`` roles, where they
        differ from the defaults.

    Raises
    ------
    ConfigError
        If ``tz``, ``day_start`` or ``columns`` is not valid.
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
        The orders, their first per customer making the cohorts.
    **options
        ``tz``, ``day_start`` and ``columns``, as
        [CohortRetention][tillflow.metrics.kernels.CohortRetention] takes them.

    Returns
    -------
    polars.DataFrame
        One row per cohort and month since its first, as
        [CohortRetention.finalize][tillflow.metrics.kernels.CohortRetention.finalize] gives it.

    Raises
    ------
    ConfigError
        If an option is invalid or ``orders`` is not a frame.
    SchemaError
        If the ``created_at`` or ``customer`` column is missing or unreadable.
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
        The time zone recency's shop days are counted in (see
        [DailySummary][tillflow.metrics.kernels.DailySummary]).
    day_start
        When each of those days begins.
    columns
        Columns for ``created_at``, ``total_price`` and ``customer``, where
        they differ from the defaults.

    Raises
    ------
    ConfigError
        If the time zone, the day's start or a role is not valid; see
        [DailySummary][tillflow.metrics.kernels.DailySummary].
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
        The orders of the customers to score.
    as_of
        The shop day recency counts to; by default the day after the latest
        order.
    **options
        ``tz``, ``day_start`` and ``columns``, as [Rfm][tillflow.metrics.kernels.Rfm] takes them.

    Returns
    -------
    polars.DataFrame
        The scores and segment per customer, as
        [Rfm.finalize][tillflow.metrics.kernels.Rfm.finalize] gives them.

    Raises
    ------
    ConfigError
        If an option is invalid, or ``orders`` is not a DataFrame or LazyFrame.
    SchemaError
        If the ``created_at``, ``total_price`` or ``customer`` column is
        missing or of a type the kernel cannot read.
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
        The shop's time zone; tenure and the first and last orders are
        counted in its shop days, as for
        [DailySummary][tillflow.metrics.kernels.DailySummary].
    day_start
        The time a shop day begins at.
    columns
        The order columns read (roles ``created_at``, ``total_price`` and
        ``customer``), renamed where they differ from the defaults.

    Raises
    ------
    ConfigError
        As [DailySummary][tillflow.metrics.kernels.DailySummary] raises it
        for a time zone, day start or role that is not valid.
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
