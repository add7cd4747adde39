"""tillflow's kernels as polars expressions (expression plugins).

Polars runs them itself, in ``select``, ``with_columns`` and
``group_by().agg``, on every core and without the GIL, eager or lazy:

>>> import polars as pl, tillflow as tl
>>> orders.group_by(tl.metrics.expr.shop_day("created_at", tz="Europe/Berlin")).agg(
...     tl.metrics.expr.approx_distinct("customer__id"),
...     pl.len(),
... )  # doctest: +SKIP
>>> orders.with_columns(tl.metrics.expr.bucket("total_price").alias("bucket"))  # doctest: +SKIP

Each gives exactly what the matching kernel in `tillflow.metrics.kernels`
computes: [approx_distinct][tillflow.metrics.expr.approx_distinct] the HyperLogLog++ estimate of
[kernels.approx_distinct][tillflow.metrics.kernels.approx_distinct], [bucket][tillflow.metrics.expr.bucket]
the buckets of [kernels.order_value_buckets][tillflow.metrics.kernels.order_value_buckets],
[shop_day][tillflow.metrics.expr.shop_day] the days of
[kernels.daily_summary][tillflow.metrics.kernels.daily_summary]. Options are checked when the
expression is built; a value that cannot be used (NaN money) fails when the
query runs, with polars' ComputeError carrying tillflow's message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from polars.plugins import register_plugin_function

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.metrics.kernels._base import _amount, _seconds

__all__ = ["approx_distinct", "bucket", "shop_day"]

_LIBRARY = Path(_native.__file__)

IntoExpr = pl.Expr | str


def _expr(value: IntoExpr, what: str) -> pl.Expr:
    if isinstance(value, str):
        return pl.col(value)
    if isinstance(value, pl.Expr):
        return value
    raise config_error(f"{what}: expected a column name or a polars expression, got {value!r}")


def approx_distinct(expr: IntoExpr, *, precision: int = 14) -> pl.Expr:
    """The approximate number of distinct non-null values (a float; HyperLogLog++,
    standard error ``1.04 / sqrt(2**precision)``, 0.81 % at 14). 5 and 5.0 are one value.

    Parameters
    ----------
    expr
        A column name, or a polars expression.
    precision
        The sketch's precision, 4 to 18.

    Returns
    -------
    polars.Expr
        A scalar expression (one value per group in ``group_by().agg``).

    Raises
    ------
    ConfigError
        If ``precision`` is not an integer from 4 to 18, or ``expr`` is
        neither a name nor an expression.
    """
    if isinstance(precision, bool) or not isinstance(precision, int) or not 4 <= precision <= 18:
        raise config_error(f"precision: must be 4 to 18, got {precision!r}")
    return register_plugin_function(
        plugin_path=_LIBRARY,
        function_name="approx_distinct",
        args=_expr(expr, "approx_distinct"),
        kwargs={"precision": precision},
        returns_scalar=True,
    )


def bucket(
    expr: IntoExpr,
    edges: Sequence[Any] = (0, 50, 100, 200),
    labels: Sequence[str] = ("Low", "Medium", "High", "Premium"),
) -> pl.Expr:
    """The label of each amount's bucket: bucket ``i`` holds ``(edges[i], edges[i+1]]``,
    the last everything above the last edge, and an amount equal to the first edge goes
    to the first bucket; null below the first edge (and for null).

    Parameters
    ----------
    expr
        A column name, or a polars expression.
    edges
        The buckets' lower edges, strictly increasing amounts (up to 6
        decimals), one per label.
    labels
        The buckets' names, unique.

    Returns
    -------
    polars.Expr
        An elementwise expression of the labels (text).

    Raises
    ------
    ConfigError
        If the edges and labels differ in length or are empty, an edge is not
        an amount, the edges do not increase, a label repeats, or ``expr`` is
        neither a name nor an expression.
    """
    exact = [_amount(e, "edges") for e in edges]
    names = [str(label) for label in labels]
    _native.BucketKernel(exact, names, "value")  # checks the edges and labels now, not at collect
    return register_plugin_function(
        plugin_path=_LIBRARY,
        function_name="bucket",
        args=_expr(expr, "bucket"),
        kwargs={"edges": exact, "labels": names},
        is_elementwise=True,
    )


def shop_day(
    expr: IntoExpr, *, tz: str = "UTC", day_start: str | dt.time | dt.timedelta = "00:00"
) -> pl.Expr:
    """The shop day of each timestamp: its date in the IANA zone ``tz``, a day
    beginning at ``day_start`` (``"04:00"`` counts 02:00 to the day before).

    Parameters
    ----------
    expr
        A column name, or a polars expression.
    tz
        The shop's IANA time zone.
    day_start
        When a shop day begins: ``"HH:MM"`` text, a ``datetime.time`` or a
        ``timedelta``, within the first 24 hours.

    Returns
    -------
    polars.Expr
        An elementwise expression of dates.

    Raises
    ------
    ConfigError
        If ``tz`` is not an IANA time zone, ``day_start`` is not a time within
        the day, or ``expr`` is neither a name nor an expression.
    """
    seconds = _seconds(day_start)
    _native.DailyKernel(tz, seconds, {})  # checks the zone and day start now
    return register_plugin_function(
        plugin_path=_LIBRARY,
        function_name="shop_day",
        args=_expr(expr, "shop_day"),
        kwargs={"tz": tz, "day_start_seconds": seconds},
        is_elementwise=True,
    )
