"""What every kernel shares: reading polars frames, amounts and day starts as
the engine takes them, the columns each role reads by default, and the
``_Kernel`` bases the kernels build on."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from tillflow import _native
from tillflow._core.errors import config_error

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


def _check_window(days: int | None, top: int | None) -> None:
    if days is not None and days < 1:
        raise config_error(f"days: must be at least 1, got {days}")
    if top is not None and top < 0:
        raise config_error(f"top: must not be negative, got {top}")
