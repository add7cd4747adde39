"""A shop's own web analytics, from access logs loaded by ``tl.sources.logs``."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.metrics.kernels._base import Frame, _OneFrame, _seconds

WEB_COLUMNS = ("time", "method", "path", "status", "bytes", "remote_addr", "user_agent")


class WebTraffic(_OneFrame):
    """Requests, page views, unique visitors, bytes, status classes and bot
    requests per shop day; top pages and referrers by page views.

    A page view is a request by a person (not a bot by its user agent) for a
    page: ``GET``, answered 2xx or 304, whose path is not a static file.
    Unique visitors are distinct (address, user agent) pairs among people's
    requests, estimated with HyperLogLog++ (exact at small counts, about
    0.8 % error at scale). Batches are rows of a Combined-format log table.

    Parameters
    ----------
    tz
        The shop's IANA time zone, which days are cut in.
    day_start
        When a shop day begins (``"04:00"``).
    """

    def __init__(self, *, tz: str = "UTC", day_start: str | dt.time | dt.timedelta = "00:00") -> None:
        self._k = _native.WebKernel(tz, _seconds(day_start))
        self._reads = WEB_COLUMNS

    def partial(self, rows: Frame) -> _native.Partial:
        """The state of one batch of log rows (``referer`` is read when present)."""
        frame = rows.collect() if isinstance(rows, pl.LazyFrame) else rows
        missing = [c for c in WEB_COLUMNS if c not in frame.columns]
        if missing:
            raise config_error(
                f"logs: no column {missing[0]!r}; load the table with tl.sources.logs (combined)"
            )
        wanted = [*WEB_COLUMNS, *(["referer"] if "referer" in frame.columns else [])]
        return self._k.partial(frame.select(wanted))

    def finalize(self, state: _native.Partial) -> pl.DataFrame:
        """One row per shop day.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.

        Returns
        -------
        polars.DataFrame
            ``day``, ``requests``, ``page_views``, ``unique_visitors``,
            ``bot_requests``, ``bytes`` and ``status_2xx`` … ``status_5xx``.
        """
        return self._k.finalize(state)

    def top(self, state: _native.Partial, by: str = "pages", n: int = 20) -> pl.DataFrame:
        """The ``n`` pages (``by="pages"``, paths without their query) or
        referrers (``by="referrers"``) with the most page views, most first.

        Parameters
        ----------
        state
            A state from ``partial`` or ``merge``.
        by
            ``"pages"`` or ``"referrers"``.
        n
            How many rows.

        Returns
        -------
        polars.DataFrame
            ``path`` (or ``referer``) and ``page_views``.
        """
        if n < 0:
            raise config_error(f"n: must not be negative, got {n}")
        return self._k.top(state, by, n)


def web_traffic(rows: Frame, *, tz: str = "UTC", day_start: str = "00:00") -> pl.DataFrame:
    """[WebTraffic][tillflow.metrics.kernels.WebTraffic] per day over one frame of log rows.

    Parameters
    ----------
    rows
        Rows of a Combined-format log table.
    tz
        The shop's IANA time zone.
    day_start
        When a shop day begins.

    Returns
    -------
    polars.DataFrame
        One row per shop day.
    """
    kernel = WebTraffic(tz=tz, day_start=day_start)
    return kernel.finalize(kernel.partial(rows))
