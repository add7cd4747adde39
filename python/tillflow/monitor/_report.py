"""The HTML report: sales, data quality, runs and anomalies in one file.

:func:`write_report` writes a single HTML page that opens offline: plotly.js
is inlined once (from the plotly package, no CDN) and every chart draws from
data embedded beside it. It reads the warehouse only through the public
readers (the metrics, ``rule_results()``, ``loads()`` and ``journal()``), so
it works on DuckDB, PostgreSQL and the Parquet lake alike. A section whose
data is missing (no orders, no rule results, no runs, no anomalies) says so
instead of failing, and every value from the warehouse is HTML-escaped.

>>> import tillflow as tl
>>> tl.monitor.write_report(tl.warehouse.duckdb("shop.duckdb"), "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from tillflow.exceptions import ConfigError, TillflowError
from tillflow.monitor import _report_charts as charts

__all__ = ["render_report", "write_report"]

# The seed's health rule: below 95% successful runs a pipeline is degraded,
# above 10 errors in the window it is critical.
MIN_SUCCESS_RATE = 0.95
MAX_ERRORS = 10
TOP_PRODUCTS = 10
RECENT_RUNS = 20
RECENT_ANOMALIES = 50


def write_report(
    warehouse: Any,
    path: str | Path,
    *,
    pipeline: str | None = None,
    days: int = 90,
    title: str = "tillflow report",
) -> Path:
    """Write the report of ``warehouse`` to ``path`` (one HTML file that works
    offline) and return the path. See :func:`render_report`."""
    page = render_report(warehouse, pipeline=pipeline, days=days, title=title)
    target = Path(path)
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"invalid config: path: cannot write the report to {str(target)!r}: {exc}"
        ) from None
    return target


def render_report(
    warehouse: Any,
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
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"invalid config: days: expected a whole number of days >= 1, got {days!r}")
    now = dt.datetime.now(dt.timezone.utc)
    data = _gather(warehouse, pipeline, days, now)
    body = "\n".join(
        (_header(data, title), _sales(data), _quality(data), _runs(data), _anomalies(data), _footer())
    )
    # plotly.js (4-5 MB) goes in once, and only when there is a chart to draw.
    drawn = 'class="plotly-graph-div"' in body
    script = f"<script>{charts.plotly_js()}</script>" if drawn else ""
    return _PAGE.format(title=_e(title), css=_CSS, plotly=script, body=body)


# -- health


@dataclasses.dataclass(frozen=True)
class _Health:
    """A pipeline's runs in the report's window, judged by the seed's rule."""

    pipeline: str
    status: str  # 'healthy' | 'degraded' | 'critical'
    runs: int
    failed: int
    success_rate: float
    errors: int
    last_run: dt.datetime
    last_status: str
    last_error: str | None


def _health(runs: pl.DataFrame) -> list[_Health]:
    """Health per pipeline from ``_tf_runs`` rows (oldest first), in name order."""
    out = []
    for (name,), rows in runs.sort("pipeline", "started_at").group_by("pipeline", maintain_order=True):
        total = rows.height
        failed = rows.filter(pl.col("status") != "completed").height
        rate = (total - failed) / total
        errors = int(rows["errors"].fill_null(0).sum())
        status = "healthy"
        if rate < MIN_SUCCESS_RATE:
            status = "degraded"
        if errors > MAX_ERRORS:
            status = "critical"
        last = rows.row(-1, named=True)
        out.append(
            _Health(
                pipeline=str(name), status=status, runs=total, failed=failed, success_rate=rate,
                errors=errors, last_run=last["started_at"], last_status=last["status"],
                last_error=last["error"],
            )
        )  # fmt: skip
    return out


# -- reading the warehouse


@dataclasses.dataclass
class _Data:
    warehouse: str
    timezone: str
    generated_at: dt.datetime
    days: int
    pipeline: str | None
    pipelines: list[str]
    trend: pl.DataFrame | None = None
    segments: pl.DataFrame | None = None
    products: pl.DataFrame | None = None
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    rules: pl.DataFrame | None = None
    runs: pl.DataFrame | None = None
    anomalies: pl.DataFrame | None = None


def _gather(wh: Any, pipeline: str | None, days: int, now: dt.datetime) -> _Data:
    from tillflow.warehouse._journal import ANOMALIES, RUNS

    tz = getattr(wh, "timezone", "UTC") or "UTC"
    since = now - dt.timedelta(days=days)
    runs = _windowed(wh.journal(RUNS), "started_at", pipeline, since)
    anomalies = _windowed(wh.journal(ANOMALIES), "detected_at", pipeline, since)
    rules = _windowed(wh.rule_results(), "checked_at", pipeline, since)
    known = _pipelines(wh, runs, rules, anomalies) if pipeline is None else []
    if pipeline is not None:
        seen = _pipelines(wh, wh.journal(RUNS), wh.rule_results(), wh.journal(ANOMALIES))
        if pipeline not in seen:
            names = ", ".join(repr(p) for p in seen) or "none yet"
            raise ConfigError(
                f"invalid config: pipeline: no pipeline {pipeline!r} in the warehouse (known: {names})"
            )
        known = [pipeline]
    data = _Data(
        warehouse=_describe(wh), timezone=tz, generated_at=now, days=days, pipeline=pipeline, pipelines=known,
        rules=_local(rules, ["checked_at"], tz), runs=_local(runs, ["started_at", "finished_at"], tz),
        anomalies=_local(anomalies, ["detected_at"], tz),
    )  # fmt: skip
    _read_sales(wh, data)
    return data


def _windowed(frame: pl.DataFrame, column: str, pipeline: str | None, since: dt.datetime) -> pl.DataFrame:
    if frame.width == 0 or column not in frame.columns:
        return frame.clear()
    out = frame.filter(pl.col(column).is_null() | (pl.col(column) >= since))
    return out if pipeline is None else out.filter(pl.col("pipeline") == pipeline)


def _local(frame: pl.DataFrame, columns: Sequence[str], tz: str) -> pl.DataFrame:
    """``frame`` with its timestamps as wall time in ``tz`` (naive), which the
    tables print and plotly draws as they are."""
    zoned = [c for c in columns if isinstance(kind := frame.schema.get(c), pl.Datetime) and kind.time_zone]
    return frame.with_columns(pl.col(c).dt.convert_time_zone(tz).dt.replace_time_zone(None) for c in zoned)


def _pipelines(wh: Any, *frames: pl.DataFrame) -> list[str]:
    names: set[str] = set()
    loads = wh.loads()
    for frame in (*frames, loads):
        if "pipeline" in frame.columns:
            names.update(p for p in frame["pipeline"].drop_nulls().unique().to_list())
    return sorted(names)


def _describe(wh: Any) -> str:
    path = getattr(wh, "path", None)
    if isinstance(path, str):
        return f"DuckDB {path}"
    # The PostgreSQL warehouse's repr hides the password.
    return repr(wh).strip("<>")


def _read_sales(wh: Any, data: _Data) -> None:
    from tillflow import metrics

    if "orders" not in {t.lower() for t in wh.tables()}:
        note = "No orders loaded yet: load a shop's orders (e.g. <code>tillflow demo</code>) to see sales."
        data.notes.update(trend=note, segments=note, products=note)
        return
    data.trend = _metric(data, "trend", lambda: metrics.revenue_trend(wh, days=data.days))
    if data.trend is not None and data.trend.height == 0:
        data.trend, data.notes["trend"] = None, "No orders with a date yet."
    data.segments = _metric(data, "segments", lambda: metrics.customer_segments(wh))
    if data.segments is not None and not data.segments["customer_count"].sum():
        data.segments, data.notes["segments"] = None, "No orders with a customer yet."
    data.products = _metric(
        data, "products", lambda: metrics.product_performance(wh, days=data.days, top=TOP_PRODUCTS)
    )
    if data.products is not None and data.products.height == 0:
        data.products, data.notes["products"] = None, "No line items in the window yet."


def _metric(data: _Data, key: str, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame | None:
    try:
        return compute()
    except TillflowError as exc:
        # The report still shows every other section; the reason goes where the chart would be.
        data.notes[key] = f"Not available: {_e(exc)}"
        return None


# -- sections


class _Html(str):
    """Markup built here, which :func:`_e` leaves alone."""


def _e(value: Any) -> str:
    if isinstance(value, _Html):
        return value
    return html.escape("" if value is None else str(value), quote=True)


def _header(data: _Data, title: str) -> str:
    pipelines = ", ".join(_e(p) for p in data.pipelines) or "none yet"
    when = data.generated_at.astimezone(_zone(data.timezone)).strftime("%Y-%m-%d %H:%M")
    facts = (
        ("Generated", f"{when} ({_e(data.timezone)})"),
        ("Warehouse", _e(data.warehouse)),
        ("Pipeline" if data.pipeline else "Pipelines", pipelines),
        ("Window", f"last {data.days} days"),
    )
    meta = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    kpis = "".join(_kpis(data))
    tiles = f'<div class="kpis">{kpis}</div>' if kpis else ""
    return f'<header><h1>{_e(title)}</h1><dl class="meta">{meta}</dl>{tiles}</header>'


def _kpis(data: _Data) -> Iterable[str]:
    if data.trend is not None:
        revenue = float(data.trend["revenue"].cast(pl.Float64).fill_null(0).sum())
        orders = int(data.trend["total_orders"].sum())
        yield _kpi("Revenue", f"{revenue:,.2f}", f"{data.trend.height} days")
        yield _kpi("Orders", f"{orders:,}", f"avg {revenue / orders:,.2f}" if orders else "")
    if data.runs is not None and data.runs.height:
        ok = data.runs.filter(pl.col("status") == "completed").height
        tone = "ok" if ok / data.runs.height >= MIN_SUCCESS_RATE else "bad"
        yield _kpi("Runs", f"{data.runs.height:,}", f"{ok / data.runs.height:.0%} succeeded", tone)
    if data.rules is not None and data.rules.height:
        latest = _latest_rules(data.rules)
        failing = latest.filter(pl.col("status") == "failed").height
        yield _kpi(
            "Failing rules", f"{failing}", f"of {latest.height} latest checks", "bad" if failing else "ok"
        )
    # Zero anomalies means something only once runs were watched.
    if data.anomalies is not None and (data.anomalies.height or (data.runs is not None and data.runs.height)):
        n = data.anomalies.height
        yield _kpi("Anomalies", f"{n:,}", f"in {data.days} days", "warn" if n else "ok")


def _kpi(label: str, value: str, sub: str, tone: str = "") -> str:
    return (
        f'<div class="kpi {tone}"><div class="label">{label}</div><div class="value">{value}</div>'
        f'<div class="sub">{sub}</div></div>'
    )


def _sales(data: _Data) -> str:
    trend = (
        charts.embed(charts.revenue(data.trend), "chart-revenue")
        if data.trend is not None
        else _note(data.notes["trend"])
    )
    if data.segments is not None:
        segments = charts.embed(charts.segments(data.segments), "chart-segments") + _segments_table(
            data.segments
        )
    else:
        segments = _note(data.notes["segments"])
    if data.products is not None:
        products = charts.embed(charts.products(data.products), "chart-products") + _products_table(
            data.products
        )
    else:
        products = _note(data.notes["products"])
    return _section(
        "sales",
        "Sales",
        _card(f"Revenue per day (last {data.days} days with orders)", trend, wide=True)
        + _card("Customer segments", segments)
        + _card(f"Top {TOP_PRODUCTS} products by revenue", products),
    )


def _segments_table(frame: pl.DataFrame) -> str:
    rows = [
        (
            r["customer_segment"],
            f"{r['customer_count']:,}",
            _money(r["avg_lifetime_value"]),
            "" if r["avg_orders_per_customer"] is None else f"{r['avg_orders_per_customer']:,.1f}",
        )
        for r in frame.iter_rows(named=True)
    ]
    headers = ("segment", "customers", "avg spent", "avg orders")
    return _table(headers, rows, numeric=(1, 2, 3), compact=True)


def _products_table(frame: pl.DataFrame) -> str:
    rows = [
        (
            r["product_title"],
            f"{r['total_sold']:,}",
            _money(r["total_revenue"]),
            f"{r['orders_containing_product']:,}",
        )
        for r in frame.iter_rows(named=True)
    ]
    return _table(("product", "sold", "revenue", "orders"), rows, numeric=(1, 2, 3), compact=True)


def _quality(data: _Data) -> str:
    if data.rules is None or data.rules.height == 0:
        return _section(
            "quality",
            "Data quality",
            _card(
                "Rules",
                _note("No rule results yet: give a source rules (<code>.with_rules(...)</code>)."),
                wide=True,
            ),
        )
    points = _pass_rates(data.rules)
    chart = (
        charts.embed(charts.rule_pass_rates(points), "chart-rules")
        if points.height
        else _note("Every rule was skipped in the window.")
    )
    return _section(
        "quality",
        "Data quality",
        _card("Rows passing each rule, per check", chart, wide=True)
        + _card("Latest result of each rule", _rules_table(_latest_rules(data.rules)), wide=True),
    )


def _pass_rates(rules: pl.DataFrame) -> pl.DataFrame:
    """One point per rule check: the share of rows that passed; a rule over
    the whole table (no row count) is 100% or 0%."""
    rate = (
        pl.when(pl.col("fraction").is_not_null())
        .then((1 - pl.col("fraction")) * 100)
        .otherwise(pl.col("passed").cast(pl.Float64) * 100)
    )
    detail = (
        pl.when(pl.col("failing").is_not_null() & pl.col("rows").is_not_null())
        .then(pl.format("{} of {} rows failing", pl.col("failing"), pl.col("rows")))
        .otherwise(pl.col("status"))
    )
    return (
        rules.filter(pl.col("status") != "skipped", pl.col("checked_at").is_not_null())
        .with_columns(label=_rule_label(rules), pass_rate=rate, detail=detail)
        .filter(pl.col("pass_rate").is_not_null())
        .sort("label", "checked_at")
        .select("label", "checked_at", "pass_rate", "detail")
    )


def _rule_label(rules: pl.DataFrame) -> pl.Expr:
    # The table is part of the name only when rules of several tables are shown.
    if rules["table"].n_unique() > 1:
        return pl.format("{}: {}", pl.col("table").fill_null("?"), pl.col("rule").fill_null("?"))
    return pl.col("rule").fill_null("?")


def _latest_rules(rules: pl.DataFrame) -> pl.DataFrame:
    keys = ["pipeline", "table", "rule"]
    return (
        rules.sort("checked_at", nulls_last=False)
        .group_by(keys, maintain_order=True)
        .last()
        .sort(pl.col("status") != "failed", *keys, nulls_last=True)
    )


def _rules_table(latest: pl.DataFrame) -> str:
    rows = []
    for r in latest.iter_rows(named=True):
        failing = "" if r["failing"] is None else f"{r['failing']:,}"
        if r["failing"] is not None and r["rows"] is not None:
            failing += f" of {r['rows']:,}" + (f" ({r['fraction']:.2%})" if r["fraction"] is not None else "")
        rows.append(
            (r["table"], r["rule"], r["severity"], _rule_badge(r["status"], r["severity"]), failing,
             r["tolerance"], r["observed"], _when(r["checked_at"]))
        )  # fmt: skip
    headers = ("table", "rule", "severity", "status", "failing rows", "tolerance", "observed", "checked")
    return _table(headers, rows, times=(7,))


def _rule_badge(status: str | None, severity: str | None) -> _Html:
    if status == "passed":
        return _badge("passed", "ok")
    if status == "failed":
        return _badge("failed", "bad") if severity == "error" else _badge("warning", "warn")
    return _badge(status or "unknown", "muted")


def _runs(data: _Data) -> str:
    if data.runs is None or data.runs.height == 0:
        note = _note(
            "No runs recorded yet: runs appear here once a pipeline records them in <code>_tf_runs</code>."
        )
        return _section("runs", "Runs and health", _card("Runs", note, wide=True))
    runs = data.runs.with_columns(pl.col("status").fill_null("unknown"), pl.col("pipeline").fill_null("?"))
    health = '<div class="health">' + "".join(_health_card(h) for h in _health(runs)) + "</div>"
    chart = charts.embed(charts.run_durations(runs.sort("started_at"), _span(data)), "chart-runs")
    return _section(
        "runs",
        "Runs and health",
        _card("Health per pipeline", health, wide=True)
        + _card("Duration of each run", chart, wide=True)
        + _card(f"Latest {RECENT_RUNS} runs", _runs_table(runs), wide=True),
    )


def _health_card(h: _Health) -> str:
    tone = {"healthy": "ok", "degraded": "warn", "critical": "bad"}[h.status]
    last = f"{_when(h.last_run)} · {_e(h.last_status)}"
    error = f'<div class="error">{_e(charts._short(h.last_error, 200))}</div>' if h.last_error else ""
    return (
        f'<div class="pipeline {tone}"><div class="name">{_e(h.pipeline)} {_badge(h.status, tone)}</div>'
        f"<dl><div><dt>success rate</dt><dd>{h.success_rate:.1%} of {h.runs:,} runs</dd></div>"
        f"<div><dt>errors</dt><dd>{h.errors:,}</dd></div>"
        f"<div><dt>failed runs</dt><dd>{h.failed:,}</dd></div>"
        f"<div><dt>last run</dt><dd>{last}</dd></div></dl>{error}</div>"
    )


def _runs_table(runs: pl.DataFrame) -> str:
    recent = runs.sort("started_at", descending=True, nulls_last=True).head(RECENT_RUNS)
    tones = {"completed": "ok", "failed": "bad"}
    rows = [
        (_when(r["started_at"]), r["pipeline"], _badge(r["status"], tones.get(r["status"], "muted")),
         _seconds(r["duration_s"]), _count(r["total_rows"]), _count(r["retries"]), _count(r["errors"]),
         charts._short(r["error"], 300))
        for r in recent.iter_rows(named=True)
    ]  # fmt: skip
    headers = ("started", "pipeline", "status", "duration", "rows", "retries", "errors", "error")
    return _table(headers, rows, numeric=(3, 4, 5, 6), times=(0,))


def _anomalies(data: _Data) -> str:
    if data.anomalies is None or data.anomalies.height == 0:
        return _section(
            "anomalies", "Anomalies", _card("Anomalies", _note("No anomalies detected yet."), wide=True)
        )
    frame = data.anomalies.with_columns(
        pl.col("kind").fill_null("unknown"),
        pl.col("severity").fill_null("unknown"),
        pl.col("pipeline").fill_null("?"),
        where=pl.concat_str(pl.col("table"), pl.col("column"), separator=".", ignore_nulls=True).fill_null(
            ""
        ),
    )
    chart = charts.embed(
        charts.anomaly_timeline(frame.filter(pl.col("detected_at").is_not_null()), _span(data)),
        "chart-anomalies",
    )
    return _section(
        "anomalies",
        "Anomalies",
        _card("When and what", chart, wide=True)
        + _card(
            f"Latest {min(frame.height, RECENT_ANOMALIES)} anomalies, newest first",
            _anomaly_table(frame),
            wide=True,
        ),
    )


def _anomaly_table(frame: pl.DataFrame) -> str:
    tones = {"info": "muted", "warning": "warn", "critical": "bad"}
    recent = frame.sort("detected_at", descending=True, nulls_last=True).head(RECENT_ANOMALIES)
    rows = [
        (_when(r["detected_at"]), r["pipeline"], _badge(r["severity"], tones.get(r["severity"], "muted")),
         r["kind"], r["where"], r["metric"], _number(r["value"]), _number(r["expected"]), _number(r["z"]),
         r["message"])
        for r in recent.iter_rows(named=True)
    ]  # fmt: skip
    headers = (
        "detected",
        "pipeline",
        "severity",
        "kind",
        "where",
        "metric",
        "value",
        "expected",
        "z",
        "message",
    )
    return _table(headers, rows, numeric=(6, 7, 8), times=(0,))


def _span(data: _Data) -> charts.Span:
    """From the first to the last run or anomaly: the time axis both charts share."""
    times: list[dt.datetime] = [
        t
        for frame, column in (
            (data.runs, "started_at"),
            (data.runs, "finished_at"),
            (data.anomalies, "detected_at"),
        )
        if frame is not None and frame.height
        for t in (frame[column].min(), frame[column].max())
        if isinstance(t, dt.datetime)
    ]
    return (min(times), max(times)) if times else None


def _footer() -> str:
    from tillflow import __version__

    return f"<footer>tillflow {_e(__version__)} · this file works offline</footer>"


# -- HTML pieces


def _section(key: str, title: str, cards: str) -> str:
    return f'<section id="{key}"><h2>{title}</h2><div class="grid">{cards}</div></section>'


def _card(title: str, body: str, *, wide: bool = False) -> str:
    return f'<div class="card{" wide" if wide else ""}"><h3>{title}</h3>{body}</div>'


def _note(text: str) -> str:
    return f'<p class="empty">{text}</p>'


def _badge(text: Any, tone: str) -> _Html:
    return _Html(f'<span class="badge {tone}">{_e(text)}</span>')


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    times: Sequence[int] = (),
    compact: bool = False,
) -> str:
    def cell(i: int, value: Any, tag: str = "td") -> str:
        kind = " class=num" if i in numeric else " class=time" if i in times else ""
        return f"<{tag}{kind}>{_e(value)}</{tag}>"

    head = "".join(cell(i, h, "th") for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="{"compact" if compact else ""}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return dt.timezone.utc


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f} s" if value < 120 else f"{value / 60:,.1f} min"


def _count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _money(value: Any) -> str:
    return "" if value is None else f"{value:,.2f}"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tillflow">
<title>{title}</title>
<style>{css}</style>
{plotly}
</head>
<body>
{body}
</body>
</html>
"""

_CSS = """
:root { --ink:#1f2933; --muted:#66727f; --line:#e3e7ec; --bg:#f4f6f8; --ok:#2e9e5b; --warn:#c98a06;
  --bad:#d64545; --accent:#3b6fb6; }
* { box-sizing: border-box; }
body { margin:0; padding:24px 32px 40px; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }
h1 { margin:0 0 6px; font-size:26px; }
h2 { margin:28px 0 12px; font-size:19px; border-bottom:2px solid var(--line); padding-bottom:4px; }
h3 { margin:0 0 10px; font-size:14px; color:var(--muted); font-weight:600; }
code { background:#eef1f4; padding:1px 4px; border-radius:4px; }
dl.meta { display:flex; flex-wrap:wrap; gap:4px 28px; margin:0 0 16px; color:var(--muted); }
dl.meta div, .pipeline dl div { display:flex; gap:6px; }
dl.meta dt { font-weight:600; } dl.meta dd, .pipeline dd { margin:0; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px; }
.kpi { background:#fff; border-radius:10px; padding:12px 16px; box-shadow:0 1px 2px rgba(0,0,0,.06);
  border-top:4px solid var(--accent); }
.kpi.ok { border-top-color:var(--ok); } .kpi.warn { border-top-color:var(--warn); }
.kpi.bad { border-top-color:var(--bad); }
.kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.kpi .value { font-size:24px; font-weight:650; } .kpi .sub { color:var(--muted); font-size:12px; }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:16px;
  align-items:start; }
.card { background:#fff; border-radius:10px; padding:14px 16px; box-shadow:0 1px 2px rgba(0,0,0,.06);
  min-width:0; }
.card.wide { grid-column:1 / -1; }
.empty { color:var(--muted); font-style:italic; margin:8px 0; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.time { white-space:nowrap; font-variant-numeric:tabular-nums; }
table.compact { margin-top:8px; } table.compact td { padding:3px 8px; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600;
  background:#e9edf1; color:var(--muted); }
.badge.ok { background:#e3f4ea; color:#1f7a45; } .badge.warn { background:#fdf1d6; color:#8a5d00; }
.badge.bad { background:#fbe3e3; color:#a32c2c; }
.health { display:grid; grid-template-columns:repeat(auto-fit, minmax(260px, 1fr)); gap:12px; }
.pipeline { border:1px solid var(--line); border-left:5px solid var(--ok); border-radius:8px;
  padding:10px 14px; }
.pipeline.warn { border-left-color:var(--warn); } .pipeline.bad { border-left-color:var(--bad); }
.pipeline .name { font-weight:650; font-size:15px; margin-bottom:6px; }
.pipeline dl { margin:0; display:grid; gap:2px; } .pipeline dt { color:var(--muted); min-width:90px; }
.pipeline .error { margin-top:6px; color:#a32c2c; font-size:12px; overflow-wrap:anywhere; }
footer { margin-top:32px; color:var(--muted); font-size:12px; text-align:center; }
"""
