"""Kernels over single orders' values: order-value buckets and the
approximate number of distinct values of a column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.metrics.kernels._base import Frame, _amount, _Kernel, _OneFrame, _required


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


def order_value_buckets(orders: Frame, **options: Any) -> pl.DataFrame:
    """[OrderValueBuckets][tillflow.metrics.kernels.OrderValueBuckets] over one frame of orders.

    Parameters
    ----------
    orders
        The orders whose totals are bucketed.
    **options
        ``edges``, ``labels`` and ``column``, as
        [OrderValueBuckets][tillflow.metrics.kernels.OrderValueBuckets] takes them.

    Returns
    -------
    polars.DataFrame
        One row per bucket, in the labels' order, with its orders, revenue
        and share of orders.

    Raises
    ------
    ConfigError
        If an option is invalid or ``orders`` is not a frame.
    SchemaError
        If the total's column is missing or of a type the kernel cannot read.
    """
    k = OrderValueBuckets(**options)
    return k.finalize(k.partial(orders))


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
            The batch's HyperLogLog++ sketch, to merge with others and finalize.

        Raises
        ------
        ConfigError
            If ``data`` is not a DataFrame or LazyFrame.
        SchemaError
            If ``column`` is missing from ``data`` or of a type the sketch
            cannot read.
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
