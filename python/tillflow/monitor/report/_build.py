"""The HTML report: sales, data quality, runs and anomalies in one file.

[write_report][tillflow.monitor.report.write_report] writes a single HTML page that opens offline: plotly.js
is inlined once (from the plotly package, no CDN) and every chart draws from
data embedded beside it. It reads the warehouse only through the public
readers (the metrics, ``rule_results()``, ``loads()``, ``journal()`` and
[health][tillflow.monitor.health]), so it works on DuckDB, PostgreSQL and the
Delta lake alike. A section whose
data is missing (no orders, no rule results, no runs, no anomalies) says so
instead of failing, and every value from the warehouse is HTML-escaped.

>>> import tillflow as tl
>>> tl.monitor.write_report(tl.warehouse.duckdb("shop.duckdb"), "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from tillflow._core.errors import config_error
from tillflow.monitor.report import _charts as charts
from tillflow.monitor.report import _page as page
from tillflow.monitor.report._data import gather
from tillflow.monitor.report._sections import anomalies, footer, header, quality, runs, sales, web

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = ["render_report", "write_report"]


def write_report(
    warehouse: Warehouse,
    path: str | Path,
    *,
    pipeline: str | None = None,
    days: int = 90,
    title: str = "tillflow report",
) -> Path:
    """Write the report of ``warehouse`` to ``path`` (one HTML file that works
    offline) and return the path. See [render_report][tillflow.monitor.report.render_report].

    Parameters
    ----------
    warehouse
        The warehouse to report on.
    path
        The HTML file to write (replaced if it exists).
    pipeline
        Limit runs, rules and anomalies to this pipeline.
    days
        The window, in days (at least 1).
    title
        The page's title.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ConfigError
        If ``days`` is below 1, ``pipeline`` is unknown to the warehouse, or
        the file cannot be written.
    """
    text = render_report(warehouse, pipeline=pipeline, days=days, title=title)
    target = Path(path)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise config_error(f"path: cannot write the report to {str(target)!r}: {exc}") from None
    return target


def render_report(
    warehouse: Warehouse,
    *,
    pipeline: str | None = None,
    days: int = 90,
    title: str = "tillflow report",
) -> str:
    """The report as an HTML page.

    ``days`` is the window: the revenue trend and top products cover the
    last ``days`` shop days with orders, and runs, rule checks and anomalies
    those of the last ``days`` days. ``pipeline`` limits runs, rules and
    anomalies to one pipeline (the sales sections always cover the whole
    warehouse); naming a pipeline the warehouse has never seen is an error.

    Parameters
    ----------
    warehouse
        The warehouse to report on.
    pipeline
        Limit runs, rules and anomalies to this pipeline.
    days
        The window, in days (at least 1).
    title
        The page's title.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    ConfigError
        If ``days`` is below 1 or ``pipeline`` is unknown to the warehouse.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise config_error(f"days: expected a whole number of days >= 1, got {days!r}")
    now = dt.datetime.now(dt.timezone.utc)
    data = gather(warehouse, pipeline, days, now)
    sections = (
        header(data, title),
        sales(data),
        web(data),
        quality(data),
        runs(data),
        anomalies(data),
        footer(),
    )
    body = "\n".join(s for s in sections if s)
    # plotly.js (4-5 MB) goes in once, and only when there is a chart to draw.
    drawn = 'class="plotly-graph-div"' in body
    script = f"<script>{charts.plotly_js()}</script>" if drawn else ""
    return page.PAGE.format(title=page.e(title), css=page.CSS, plotly=script, body=body)
