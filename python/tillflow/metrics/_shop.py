"""What the warehouse metrics read: a shop's orders and line items, as Arrow,
only the columns a metric uses, with the line items read ahead in batches."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.metrics import kernels

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse


SEGMENTS = ("VIP", "Loyal", "Regular", "New")  # in report order

ORDER_COLUMNS = ("_tf_id", "created_at", "total_price", "customer__id")
ITEM_COLUMNS = ("_tf_parent_id", "title", "quantity", "price")
CUSTOMER = "customer__id"

Write = bool | str
DayStart = str | dt.time | dt.timedelta


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Shop:
    """The warehouse's orders and line items, each read once (only the needed columns).

    With a ``window`` of ``(days, end)``, only orders created from two days
    before the window's first day on are read (and only their line items):
    the margin covers any time zone and day start, and the kernels then cut
    the window exactly. ``end=None`` anchors the window on the latest order.
    """

    def __init__(
        self, wh: Warehouse, orders: str, line_items: str, window: tuple[int, dt.date | None] | None = None
    ) -> None:
        self.wh = wh
        self.orders_table = orders
        self.items_table = line_items
        self.window = window
        self._orders: pl.DataFrame | None = None
        self._items: pl.DataFrame | None = None
        self._items_read = False
        self._since: tuple[dt.datetime | None] | None = None
        self._daily: dict[tuple[str, Any], tuple[kernels.DailySummary, Any]] = {}

    def since(self) -> dt.datetime | None:
        """The earliest ``created_at`` the window needs (None: every order)."""
        if self._since is None:
            self._since = (self._lower_bound(),)
        return self._since[0]

    def _lower_bound(self) -> dt.datetime | None:
        if self.window is None:
            return None
        days, end = self.window
        if end is None:
            if not self.wh.has_column(self.orders_table, "created_at"):
                return None  # the read names the missing column
            latest = self.wh.query(f"SELECT max(created_at) FROM {_ident(self.orders_table)}").item()
            if latest is None:
                return None
            if isinstance(latest, dt.datetime):
                # A timestamp without a zone is taken as UTC; the margin covers any shop zone.
                utc = latest if latest.tzinfo else latest.replace(tzinfo=dt.timezone.utc)
                latest = utc.astimezone(dt.timezone.utc).date()
            end = latest
        first = end - dt.timedelta(days=max(days, 1) + 1)
        return dt.datetime.combine(first, dt.time(), tzinfo=dt.timezone.utc)

    def orders(self) -> pl.DataFrame:
        if self._orders is None:
            guests_only = not self.wh.has_column(self.orders_table, CUSTOMER)
            wanted = [c for c in ORDER_COLUMNS if not (guests_only and c == CUSTOMER)]
            since = self.since()
            where, params = ("created_at >= ?", [since]) if since else (None, [])
            frame = self.wh.read(self.orders_table, wanted, where, params)
            if frame is None:
                raise WarehouseError(
                    f"the warehouse has no table {self.orders_table!r}: load orders before computing metrics"
                )
            if guests_only:
                # A shop whose every order so far was a guest checkout has no customer column yet.
                frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(CUSTOMER))
            self._orders = frame
        return self._orders

    def items(self, *, required: bool) -> pl.DataFrame | None:
        if not self._items_read:
            self._items = self.wh.read(self.items_table, ITEM_COLUMNS, *self._items_filter())
            self._items_read = True
        if self._items is None and required:
            raise self.no_items()
        return self._items

    def no_items(self) -> WarehouseError:
        return WarehouseError(
            f"the warehouse has no table {self.items_table!r}: product metrics need the orders' line items"
        )

    def items_read_as_missing(self) -> bool:
        """Whether a read found no line-item table."""
        return self._items_read and self._items is None

    def _items_filter(self) -> tuple[str | None, list[Any]]:
        since = self.since()
        if since is None:
            return None, []
        orders = _ident(self.orders_table)
        return f"_tf_parent_id IN (SELECT _tf_id FROM {orders} WHERE created_at >= ?)", [since]

    def daily(self, tz: str | None, day_start: DayStart) -> tuple[kernels.DailySummary, Any]:
        """The daily kernel and its state over every order and line item (computed once)."""
        key = (shop_tz(self.wh, tz), day_start)
        if key not in self._daily:
            k = kernels.DailySummary(tz=key[0], day_start=day_start)
            self._daily[key] = (k, self._daily_state(k))
        return self._daily[key]

    def _daily_state(self, k: kernels.DailySummary) -> Any:
        """The daily state, the line items streamed from the warehouse in
        batches while the kernel sums them (bounded memory, reading and
        summing overlapped); in one batch when they are already read."""
        orders = self.orders()
        if self._items_read:
            return k.partial(orders, self._items)
        where, params = self._items_filter()
        batches = self.wh.read_batches(self.items_table, ITEM_COLUMNS, where, params)
        if batches is None:  # no line-item table at all
            self._items_read = True
            return k.partial(orders)
        stream = k.stream(orders)
        for batch in prefetched(batches):
            stream.push(batch)
        state = stream.finish()
        if state is None:  # the items are not in their orders' order: sum them in one batch
            state = k.partial(orders, self.items(required=False))
        return state


def prefetched(batches: Iterator[pl.DataFrame], depth: int = 2) -> Iterator[pl.DataFrame]:
    """``batches``, read ahead by a thread (up to ``depth`` waiting), so the
    warehouse reads the next batch while a kernel sums this one."""
    done = object()
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put(exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            ready.put(done)

    reader = threading.Thread(target=produce, name="tillflow-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # let the reader see the stop and release the warehouse
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass
        reader.join()


def shop_tz(wh: Warehouse, tz: str | None) -> str:
    return wh.timezone if tz is None else tz
