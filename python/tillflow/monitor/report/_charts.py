"""The report's charts: plotly figures built from the report's frames.

Every text a chart shows that came from the warehouse (rule, product and
pipeline names, messages) is HTML-escaped first: plotly.js renders a subset
of HTML in labels and hover text, and decodes the entities back for display.
Times arrive as naive datetimes in the warehouse's time zone, since plotly.js
would otherwise drop the zone and show UTC wall time.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.offline import get_plotlyjs

from tillflow.monitor.report._page import short

__all__ = [
    "STATUS_COLOURS",
    "anomaly_timeline",
    "embed",
    "plotly_js",
    "products",
    "revenue",
    "rule_pass_rates",
    "run_durations",
    "segments",
    "web",
]

# The first and last moment a time axis shows (naive, local), or None for plotly's own.
Span = tuple[dt.datetime, dt.datetime] | None

BLUE = "#3b6fb6"
ORANGE = "#e8893a"
GREY = "#9aa3ad"
STATUS_COLOURS = {"completed": "#2e9e5b", "failed": "#d64545"}
SEVERITY_COLOURS = {"info": "#3b6fb6", "warning": "#e0a020", "critical": "#d64545"}
# Distinct line colours for many rules (plotly's default cycle repeats after ten).
_LINES = (
    "#3b6fb6", "#e8893a", "#2e9e5b", "#d64545", "#8e6bbf", "#8c564b", "#d36fb0", "#7f7f7f",
    "#b5b82e", "#21a9b8", "#1f3f73", "#a8551b",
)  # fmt: skip
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
# Drawn charts keep plotly's zoom and hover; the toolbar's cloud and logo
# buttons are of no use in a file read offline.
_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "zoomIn2d", "zoomOut2d", "autoScale2d"],
}


def plotly_js() -> str:
    """The plotly.js bundle that ships inside the plotly package (no network)."""
    return str(get_plotlyjs())


def embed(fig: go.Figure, div_id: str) -> str:
    """The figure as a ``<div>`` and the script that draws it; plotly.js itself
    is loaded once by the page."""
    return str(pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG))


def _e(value: Any) -> str:
    # Quotes stay: plotly.js decodes &lt; &gt; &amp; for display but shows &quot; as it is.
    return html.escape("" if value is None else str(value), quote=False)


def _layout(fig: go.Figure, *, height: int = 320, legend: bool = True, **kwargs: Any) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 56, "r": 16, "t": 30, "b": 40},  # the top margin holds the toolbar
        font={"family": _FONT, "size": 12, "color": "#2b3440"},
        showlegend=legend,
        # Above the plot, where two-line date ticks cannot run into it.
        legend={"orientation": "h", "y": 1.0, "x": 0, "yanchor": "bottom"},
        hovermode="closest",
        **kwargs,
    )
    return fig


def _floats(series: pl.Series) -> list[float | None]:
    # Decimal money becomes float for drawing only; the tables show exact values.
    return series.cast(pl.Float64, strict=False).to_list()


def revenue(trend: pl.DataFrame, *, window: int = 7) -> go.Figure:
    """Daily revenue (oldest first) and its ``window``-day moving average."""
    days = trend.sort("date")
    amounts = days["revenue"].cast(pl.Float64, strict=False).fill_null(0.0)
    average = amounts.rolling_mean(window_size=window, min_samples=1)
    dates = days["date"].to_list()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=dates, y=amounts.to_list(), name="revenue", mode="lines+markers",
            line={"color": BLUE, "width": 2}, marker={"size": 4},
            customdata=days["total_orders"].to_list(),
            hovertemplate="%{x|%a %d %b %Y}<br>revenue %{y:,.2f}<br>%{customdata:,} orders<extra></extra>",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=dates, y=average.to_list(), name=f"{window}-day average", mode="lines",
            line={"color": ORANGE, "width": 2, "dash": "dash"},
            hovertemplate=f"%{{x|%d %b %Y}}<br>{window}-day average %{{y:,.2f}}<extra></extra>",
        )
    )  # fmt: skip
    return _layout(fig, yaxis={"rangemode": "tozero", "tickformat": ",.0f"})


def web(daily: pl.DataFrame) -> go.Figure:
    """Page views and unique visitors per day (oldest first)."""
    days = daily.sort("day")
    dates = days["day"].to_list()
    fig = go.Figure()
    for column, label, color in (("page_views", "page views", BLUE), ("unique_visitors", "visitors", ORANGE)):
        fig.add_trace(
            go.Scatter(
                x=dates, y=days[column].to_list(), name=label, mode="lines+markers",
                line={"color": color, "width": 2}, marker={"size": 4},
                hovertemplate=f"%{{x|%a %d %b %Y}}<br>{label} %{{y:,}}<extra></extra>",
            )
        )  # fmt: skip
    return _layout(fig, yaxis={"rangemode": "tozero", "tickformat": ",.0f"})


def segments(frame: pl.DataFrame) -> go.Figure:
    """Customers per segment, in the metric's order."""
    fig = go.Figure(
        go.Bar(
            x=[_e(s) for s in frame["customer_segment"].to_list()],
            y=frame["customer_count"].to_list(),
            text=frame["customer_count"].to_list(),
            textposition="auto",
            marker={"color": BLUE},
            customdata=list(
                zip(
                    _floats(frame["avg_lifetime_value"]),
                    _floats(frame["avg_orders_per_customer"]),
                    strict=True,
                )
            ),
            hovertemplate=(
                "%{x}: %{y:,} customers<br>avg spent %{customdata[0]:,.2f}"
                "<br>avg orders %{customdata[1]:.1f}<extra></extra>"
            ),
        )
    )
    return _layout(fig, legend=False, yaxis={"title": {"text": "customers"}})


def products(frame: pl.DataFrame) -> go.Figure:
    """Revenue of the best-selling products, the best on top."""
    titles = [_e(t) for t in frame["product_title"].to_list()]
    fig = go.Figure(
        go.Bar(
            x=_floats(frame["total_revenue"]),
            y=titles,
            orientation="h",
            marker={"color": BLUE},
            customdata=frame["total_sold"].to_list(),
            hovertemplate="%{y}<br>revenue %{x:,.2f}<br>%{customdata:,} sold<extra></extra>",
        )
    )
    height = max(260, 40 + 26 * len(titles))
    return _layout(
        fig,
        height=height,
        legend=False,
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"tickformat": ",.0f"},
    )


def rule_pass_rates(points: pl.DataFrame) -> go.Figure:
    """One line per rule: the share of rows that passed it (%) at each check.

    ``points`` has ``label``, ``checked_at`` (naive, local), ``pass_rate`` and
    ``detail``, sorted by label then time.
    """
    fig = go.Figure()
    for i, (label, rows) in enumerate(points.group_by("label", maintain_order=True)):
        name = _e(label[0])
        fig.add_trace(
            go.Scatter(
                x=rows["checked_at"].to_list(), y=rows["pass_rate"].to_list(), name=name,
                mode="lines+markers", line={"color": _LINES[i % len(_LINES)], "width": 2},
                marker={"size": 6}, customdata=[_e(d) for d in rows["detail"].to_list()],
                hovertemplate=f"{name}<br>%{{x|%d %b %Y %H:%M}}<br>%{{y:.2f}}% passed"
                "<br>%{customdata}<extra></extra>",
            )
        )  # fmt: skip
    low = min(float(points["pass_rate"].cast(pl.Float64).min() or 100.0), 100.0)  # type: ignore[arg-type]
    # Nearly every rule passes nearly always: start the axis near the lowest rate so dips show.
    bottom = max(0.0, low - max(1.0, (100.0 - low) * 0.1))
    return _layout(fig, yaxis={"range": [bottom, 100.0 + (100.0 - bottom) * 0.03], "ticksuffix": "%"})


def run_durations(runs: pl.DataFrame, span: Span = None) -> go.Figure:
    """Seconds per run over time, a marker per run coloured by its status.

    ``runs`` has ``started_at`` (naive, local), ``pipeline``, ``status``,
    ``duration_s``, ``total_rows``, ``error``, oldest first.
    """
    fig = go.Figure()
    for pipeline, rows in runs.group_by("pipeline", maintain_order=True):
        fig.add_trace(
            go.Scatter(
                x=rows["started_at"].to_list(), y=rows["duration_s"].to_list(), mode="lines",
                line={"color": GREY, "width": 1}, name=_e(pipeline[0]), showlegend=False,
                hoverinfo="skip",
            )
        )  # fmt: skip
    for status in _ordered(runs["status"].unique().to_list(), tuple(STATUS_COLOURS)):
        rows = runs.filter(pl.col("status").eq_missing(status))
        fig.add_trace(
            go.Scatter(
                x=rows["started_at"].to_list(), y=rows["duration_s"].to_list(), mode="markers",
                name=_e(status), marker={"size": 10, "color": STATUS_COLOURS.get(status or "", GREY),
                                         "line": {"width": 1, "color": "white"}},
                customdata=list(zip(
                    [_e(p) for p in rows["pipeline"].to_list()],
                    [f"{n:,} rows" if n is not None else "" for n in rows["total_rows"].to_list()],
                    [_e(short(m)) for m in rows["error"].to_list()],
                    strict=True,
                )),
                hovertemplate="%{customdata[0]}: " + _e(status) + "<br>%{x|%d %b %Y %H:%M}"
                "<br>%{y:,.2f} s, %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
            )
        )  # fmt: skip
    return _layout(fig, yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"}, xaxis=_span(span))


def anomaly_timeline(anomalies: pl.DataFrame, span: Span = None) -> go.Figure:
    """A marker per anomaly on a row per kind, coloured by severity.

    ``anomalies`` has ``detected_at`` (naive, local), ``kind``, ``severity``,
    ``pipeline``, ``where`` and ``message``.
    """
    fig = go.Figure()
    for severity in _ordered(anomalies["severity"].unique().to_list(), tuple(SEVERITY_COLOURS)):
        rows = anomalies.filter(pl.col("severity").eq_missing(severity))
        fig.add_trace(
            go.Scatter(
                x=rows["detected_at"].to_list(), y=[_e(k) for k in rows["kind"].to_list()],
                mode="markers", name=_e(severity or "unknown"),
                marker={"size": 13, "symbol": "diamond", "color": SEVERITY_COLOURS.get(severity or "", GREY),
                        "line": {"width": 1, "color": "white"}},
                customdata=list(zip(
                    [_e(p) for p in rows["pipeline"].to_list()], [_e(w) for w in rows["where"].to_list()],
                    [_e(short(m)) for m in rows["message"].to_list()],
                    strict=True,
                )),
                hovertemplate="%{customdata[0]} · %{customdata[1]}<br>%{x|%d %b %Y %H:%M}"
                "<br>%{customdata[2]}<extra></extra>",
            )
        )  # fmt: skip
    kinds = anomalies["kind"].n_unique()
    return _layout(
        fig,
        height=max(220, 120 + 40 * kinds),
        yaxis={"type": "category", "automargin": True},
        xaxis=_span(span),
    )


def _span(span: Span) -> dict[str, Any]:
    """An x axis over ``span`` with a margin, so the runs and anomaly charts line up."""
    if span is None:
        return {}
    first, last = span
    pad = max((last - first) * 0.04, dt.timedelta(hours=6))
    return {"range": [first - pad, last + pad]}


def _ordered(values: Sequence[str | None], known: Sequence[str]) -> list[str | None]:
    """``values`` in ``known``'s order, unknown ones after (sorted)."""
    present = set(values)
    return [v for v in known if v in present] + sorted(
        (v for v in present if v not in known), key=lambda v: (v is None, v or "")
    )
