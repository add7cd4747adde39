"""The report's sections as HTML: header, sales, web traffic, data quality, runs, anomalies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

import polars as pl

from tillflow.monitor._health import Health, HealthThresholds
from tillflow.monitor.report import _charts as charts
from tillflow.monitor.report import _page as page
from tillflow.monitor.report._data import RECENT_ANOMALIES, RECENT_RUNS, TOP_PRODUCTS, Data

if TYPE_CHECKING:
    pass


def header(data: Data, title: str) -> str:
    pipelines = ", ".join(page.e(p) for p in data.pipelines) or "none yet"
    when = data.generated_at.astimezone(page.zone(data.timezone)).strftime("%Y-%m-%d %H:%M")
    facts = (
        ("Generated", f"{when} ({page.e(data.timezone)})"),
        ("Warehouse", page.e(data.warehouse)),
        ("Pipeline" if data.pipeline else "Pipelines", pipelines),
        ("Window", f"last {data.days} days"),
    )
    meta = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    kpis = "".join(_kpis(data))
    tiles = f'<div class="kpis">{kpis}</div>' if kpis else ""
    return f'<header><h1>{page.e(title)}</h1><dl class="meta">{meta}</dl>{tiles}</header>'


def _kpis(data: Data) -> Iterable[str]:
    if data.trend is not None:
        revenue = float(data.trend["revenue"].cast(pl.Float64).fill_null(0).sum())
        orders = int(data.trend["total_orders"].sum())
        yield _kpi("Revenue", f"{revenue:,.2f}", f"{data.trend.height} days")
        yield _kpi("Orders", f"{orders:,}", f"avg {revenue / orders:,.2f}" if orders else "")
    if data.runs is not None and data.runs.height:
        ok = data.runs.filter(pl.col("status") == "completed").height
        tone = "ok" if ok / data.runs.height >= HealthThresholds().min_success_rate else "bad"
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


def sales(data: Data) -> str:
    trend = (
        charts.embed(charts.revenue(data.trend), "chart-revenue")
        if data.trend is not None
        else page.note(data.notes["trend"])
    )
    if data.segments is not None:
        segments = charts.embed(charts.segments(data.segments), "chart-segments") + _segments_table(
            data.segments
        )
    else:
        segments = page.note(data.notes["segments"])
    if data.products is not None:
        products = charts.embed(charts.products(data.products), "chart-products") + _products_table(
            data.products
        )
    else:
        products = page.note(data.notes["products"])
    return page.section(
        "sales",
        "Sales",
        page.card(f"Revenue per day (last {data.days} days with orders)", trend, wide=True)
        + page.card("Customer segments", segments)
        + page.card(f"Top {TOP_PRODUCTS} products by revenue", products),
    )


def _segments_table(frame: pl.DataFrame) -> str:
    rows = [
        (
            r["customer_segment"],
            f"{r['customer_count']:,}",
            page.money(r["avg_lifetime_value"]),
            "" if r["avg_orders_per_customer"] is None else f"{r['avg_orders_per_customer']:,.1f}",
        )
        for r in frame.iter_rows(named=True)
    ]
    headers = ("segment", "customers", "avg spent", "avg orders")
    return page.table(headers, rows, numeric=(1, 2, 3), compact=True)


def _products_table(frame: pl.DataFrame) -> str:
    rows = [
        (
            r["product_title"],
            f"{r['total_sold']:,}",
            page.money(r["total_revenue"]),
            f"{r['orders_containing_product']:,}",
        )
        for r in frame.iter_rows(named=True)
    ]
    return page.table(("product", "sold", "revenue", "orders"), rows, numeric=(1, 2, 3), compact=True)


def web(data: Data) -> str:
    """Web traffic from the access logs, when the warehouse has them (else nothing)."""
    if data.web is None:
        return ""
    if not data.web:
        return page.section(
            "web", "Web traffic", page.card("Web traffic", page.note(data.notes["web"]), wide=True)
        )
    daily = data.web["daily"]
    views, bots, requests = (int(daily[c].sum()) for c in ("page_views", "bot_requests", "requests"))
    share = f"{bots / requests:.0%} of requests" if requests else "no requests"
    visitors = int(daily["unique_visitors"].sum() / daily.height) if daily.height else 0
    kpis = "".join((
        _kpi("Page views", f"{views:,}", f"last {daily.height} days"),
        _kpi("Visitors per day", f"{visitors:,}", "distinct address and browser"),
        _kpi("Bot requests", f"{bots:,}", share),
    ))  # fmt: skip
    chart = charts.embed(charts.web(daily), "chart-web") if daily.height else page.note("No requests yet.")
    pages = [(r["path"], f"{r['page_views']:,}") for r in data.web["pages"].iter_rows(named=True)]
    referrers = [(r["referer"], f"{r['page_views']:,}") for r in data.web["referrers"].iter_rows(named=True)]
    return page.section(
        "web",
        "Web traffic",
        f'<div class="kpis">{kpis}</div>'
        + page.card("Page views and visitors per day", chart, wide=True)
        + page.card("Top pages", page.table(("page", "views"), pages, numeric=(1,), compact=True))
        + page.card(
            "Top referrers", page.table(("referrer", "views"), referrers, numeric=(1,), compact=True)
        ),
    )


def quality(data: Data) -> str:
    if data.rules is None or data.rules.height == 0:
        return page.section(
            "quality",
            "Data quality",
            page.card(
                "Rules",
                page.note("No rule results yet: give a source rules (<code>.with_rules(...)</code>)."),
                wide=True,
            ),
        )
    points = _pass_rates(data.rules)
    chart = (
        charts.embed(charts.rule_pass_rates(points), "chart-rules")
        if points.height
        else page.note("Every rule was skipped in the window.")
    )
    return page.section(
        "quality",
        "Data quality",
        page.card("Rows passing each rule, per check", chart, wide=True)
        + page.card("Latest result of each rule", _rules_table(_latest_rules(data.rules)), wide=True),
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
             r["tolerance"], r["observed"], page.when(r["checked_at"]))
        )  # fmt: skip
    headers = ("table", "rule", "severity", "status", "failing rows", "tolerance", "observed", "checked")
    return page.table(headers, rows, times=(7,))


def _rule_badge(status: str | None, severity: str | None) -> page.Html:
    if status == "passed":
        return page.badge("passed", "ok")
    if status == "failed":
        return page.badge("failed", "bad") if severity == "error" else page.badge("warning", "warn")
    return page.badge(status or "unknown", "muted")


def runs(data: Data) -> str:
    if data.runs is None or data.runs.height == 0:
        note = page.note(
            "No runs recorded yet: runs appear here once a pipeline records them in <code>_tf_runs</code>."
        )
        return page.section("runs", "Runs and health", page.card("Runs", note, wide=True))
    runs = data.runs.with_columns(pl.col("status").fill_null("unknown"), pl.col("pipeline").fill_null("?"))
    boxes = "".join(_health_card(h, _last_error(runs, h.pipeline), data.timezone) for h in data.health)
    health = f'<div class="health">{boxes}</div>'
    chart = charts.embed(charts.run_durations(runs.sort("started_at"), _span(data)), "chart-runs")
    return page.section(
        "runs",
        "Runs and health",
        page.card("Health per pipeline", health, wide=True)
        + page.card("Duration of each run", chart, wide=True)
        + page.card(f"Latest {RECENT_RUNS} runs", _runs_table(runs), wide=True),
    )


def _health_card(h: Health, last_error: tuple[dt.datetime, str] | None, tz: str) -> str:
    tone = {"healthy": "ok", "degraded": "warn", "critical": "bad"}.get(h.status, "muted")
    rate = "n/a" if h.success_rate is None else f"{h.success_rate:.1%}"
    facts = [
        ("success rate", f"{rate} of {h.runs:,} run{'' if h.runs == 1 else 's'}"),
        ("errors", f"{h.error_count:,}"),
        ("failed runs", f"{h.failed_runs:,}"),
        ("last run", f"{page.when(page.wall(h.last_run, tz))} · {page.e(h.last_status)}"),
        ("last success", page.when(page.wall(h.last_success, tz)) or "never"),
    ]
    rows = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    why = f'<div class="why">{page.e("; ".join(h.reasons))}</div>' if h.reasons else ""
    error = ""
    if last_error is not None:
        when, message = last_error
        error = f'<div class="error">last error, {page.when(when)}: {page.e(page.short(message, 200))}</div>'
    name = f'<div class="name">{page.e(h.pipeline)} {page.badge(h.status, tone)}</div>'
    return f'<div class="pipeline {tone}">{name}<dl>{rows}</dl>{why}{error}</div>'


def _last_error(runs: pl.DataFrame, pipeline: str) -> tuple[dt.datetime, str] | None:
    """When ``pipeline``'s newest error in the window happened, and its message."""
    errors = runs.filter(pl.col("pipeline") == pipeline, pl.col("error").is_not_null())
    if errors.height == 0:
        return None
    last = errors.sort("started_at").row(-1, named=True)
    return last["started_at"], last["error"]


def _runs_table(runs: pl.DataFrame) -> str:
    recent = runs.sort("started_at", descending=True, nulls_last=True).head(RECENT_RUNS)
    tones = {"completed": "ok", "failed": "bad"}
    rows = [
        (
            page.when(r["started_at"]),
            r["pipeline"],
            page.badge(r["status"], tones.get(r["status"], "muted")),
            page.seconds(r["duration_s"]),
            *(page.count(r[c]) for c in ("total_rows", "retries", "errors")),
            page.short(r["error"], 300),
        )
        for r in recent.iter_rows(named=True)
    ]
    headers = ("started", "pipeline", "status", "duration", "rows", "retries", "errors", "error")
    return page.table(headers, rows, numeric=(3, 4, 5, 6), times=(0,))


def anomalies(data: Data) -> str:
    if data.anomalies is None or data.anomalies.height == 0:
        return page.section(
            "anomalies",
            "Anomalies",
            page.card("Anomalies", page.note("No anomalies detected yet."), wide=True),
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
    return page.section(
        "anomalies",
        "Anomalies",
        page.card("When and what", chart, wide=True)
        + page.card(
            f"Latest {min(frame.height, RECENT_ANOMALIES)} anomalies, newest first",
            _anomaly_table(frame),
            wide=True,
        ),
    )


def _anomaly_table(frame: pl.DataFrame) -> str:
    tones = {"info": "muted", "warning": "warn", "critical": "bad"}
    recent = frame.sort("detected_at", descending=True, nulls_last=True).head(RECENT_ANOMALIES)
    rows = [
        (
            page.when(r["detected_at"]),
            r["pipeline"],
            page.badge(r["severity"], tones.get(r["severity"], "muted")),
            *(r[c] for c in ("kind", "where", "metric")),
            *(page.number(r[c]) for c in ("value", "expected", "z")),
            r["message"],
        )
        for r in recent.iter_rows(named=True)
    ]
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
    return page.table(headers, rows, numeric=(6, 7, 8), times=(0,))


def _span(data: Data) -> charts.Span:
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


def footer() -> str:
    from tillflow import __version__

    return f"<footer>tillflow {page.e(__version__)} · this file works offline</footer>"
