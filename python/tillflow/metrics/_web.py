"""Web analytics read from the warehouse: the access-log table that
``tl.sources.logs`` loads, through the native kernel batch by batch."""

from __future__ import annotations

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.metrics import kernels
from tillflow.metrics._shop import shop_tz
from tillflow.metrics.kernels._web import WEB_COLUMNS
from tillflow.warehouse import Warehouse

__all__ = ["web_traffic"]


def web_traffic(
    wh: Warehouse,
    table: str = "access",
    *,
    tz: str | None = None,
    day_start: str = "00:00",
    top: int = 20,
) -> dict[str, pl.DataFrame]:
    """A shop's web traffic from its access logs: per shop day, and its top
    pages and referrers (see [WebTraffic][tillflow.metrics.kernels.WebTraffic]
    for what counts as a page view, a visitor and a bot).

    Parameters
    ----------
    wh
        The warehouse.
    table
        The log table (``tl.sources.logs``, Combined format).
    tz
        The shop's IANA time zone; by default the warehouse's.
    day_start
        When a shop day begins.
    top
        Rows of the top pages and referrers.

    Returns
    -------
    dict[str, polars.DataFrame]
        ``daily`` (one row per day), ``pages`` and ``referrers``.

    Raises
    ------
    WarehouseError
        If the table does not exist.
    ConfigError
        If it lacks a column the metric reads, or an option is invalid.
    """
    from tillflow.warehouse.sql import quote_identifier

    if table not in wh.tables():
        raise WarehouseError(f"the warehouse has no table {table!r}")
    kernel = kernels.WebTraffic(tz=shop_tz(wh, tz), day_start=day_start)
    empty = wh.query(f"SELECT * FROM {quote_identifier(table)} LIMIT 0")
    columns = [*WEB_COLUMNS, *(["referer"] if "referer" in empty.columns else [])]
    state = kernel.partial(empty)  # the empty state, and the columns checked
    for frame in wh.read_batches(table, columns) or []:
        state = kernel.merge(state, kernel.partial(frame))
    return {
        "daily": kernel.finalize(state),
        "pages": kernel.top(state, "pages", top),
        "referrers": kernel.top(state, "referrers", top),
    }
