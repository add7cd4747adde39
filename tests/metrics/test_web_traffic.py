"""Web analytics from access logs: the native kernel against the same
definitions written as DuckDB SQL, in a shop time zone that moves days."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

import tillflow as tl

BOTS = (
    "bot|crawl|spider|slurp|curl/|wget/|python-requests|python-urllib|httpclient|go-http-client|headless|"
    "lighthouse|facebookexternalhit|preview|monitor|uptime"
)
ASSETS = (
    "css|js|mjs|map|png|jpg|jpeg|gif|svg|ico|webp|avif|woff|woff2|ttf|eot|txt|xml|json|webmanifest|mp4|pdf"
)
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "curl/8.4.0",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0)",
]
PATHS = ["/", "/products/mug?variant=2", "/cart", "/static/app.JS?v=3", "/favicon.ico", "/blog/v1.2/post#top"]
REFERERS = ["-", "https://www.google.com/", "https://instagram.com/"]


def write_log(path, lines: int) -> None:
    rng = random.Random(11)
    start = dt.datetime(2024, 3, 1, 20, 0, tzinfo=dt.timezone.utc)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            stamp = (start + dt.timedelta(minutes=7 * i)).strftime("%d/%b/%Y:%H:%M:%S +0000")
            method = "POST" if i % 13 == 0 else "GET"
            status = rng.choice((200, 200, 200, 304, 301, 404, 500))
            size = "-" if i % 17 == 0 else str(rng.randint(100, 9000))
            host = f"203.0.113.{rng.randint(1, 40)}"
            f.write(
                f'{host} - - [{stamp}] "{method} {rng.choice(PATHS)} HTTP/1.1" {status} {size} '
                f'"{rng.choice(REFERERS)}" "{rng.choice(AGENTS)}"\n'
            )


REFERENCE = f"""
WITH r AS (
    SELECT *, CAST(timezone('America/New_York', time) AS DATE) AS day,
           user_agent IS NULL OR regexp_matches(lower(user_agent), '{BOTS}') AS bot,
           split_part(split_part(path, '?', 1), '#', 1) AS page
    FROM access
), v AS (
    SELECT *, NOT bot AND method = 'GET' AND (status BETWEEN 200 AND 299 OR status = 304)
              AND NOT regexp_matches(lower(page), '\\.({ASSETS})$') AS viewed
    FROM r
)
SELECT day, count(*) AS requests, count(*) FILTER (WHERE viewed) AS page_views,
       count(DISTINCT (remote_addr, user_agent)) FILTER (WHERE NOT bot) AS unique_visitors,
       count(*) FILTER (WHERE bot) AS bot_requests, coalesce(sum(bytes), 0) AS bytes,
       count(*) FILTER (WHERE status BETWEEN 200 AND 299) AS status_2xx,
       count(*) FILTER (WHERE status BETWEEN 300 AND 399) AS status_3xx,
       count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS status_4xx,
       count(*) FILTER (WHERE status BETWEEN 500 AND 599) AS status_5xx
FROM v GROUP BY day ORDER BY day
"""


@pytest.mark.parametrize("batch_size", [100_000, 97])
def test_web_traffic_matches_sql(tmp_path, warehouse, batch_size):
    log = tmp_path / "access.log"
    write_log(log, 3000)
    source = tl.sources.logs(str(log), batch_size=batch_size)
    tl.pipeline("web", source, warehouse).run()
    got = tl.metrics.web_traffic(warehouse, tz="America/New_York", top=3)
    want = warehouse.query(REFERENCE)
    daily = got["daily"]
    assert daily.columns == want.columns
    exact = [c for c in want.columns if c != "unique_visitors"]
    assert daily.select(exact).cast({c: pl.Int64 for c in exact if c != "day"}).to_dicts() == (
        want.select(exact).cast({c: pl.Int64 for c in exact if c != "day"}).to_dicts()
    )
    # HyperLogLog++ counts small sets exactly (its sparse form).
    assert daily["unique_visitors"].to_list() == want["unique_visitors"].cast(pl.Int64).to_list()
    assert daily.height == 16 and daily["requests"].sum() == 3000

    pages = warehouse.query(
        f"""SELECT split_part(split_part(path, '?', 1), '#', 1) AS path, count(*) AS page_views FROM access
        WHERE NOT (user_agent IS NULL OR regexp_matches(lower(user_agent), '{BOTS}')) AND method = 'GET'
          AND (status BETWEEN 200 AND 299 OR status = 304)
          AND NOT regexp_matches(lower(split_part(split_part(path, '?', 1), '#', 1)), '\\.({ASSETS})$')
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3"""
    )
    assert got["pages"].to_dicts() == pages.cast({"page_views": pl.Int64}).to_dicts()
    assert set(got["referrers"]["referer"]) <= {"https://www.google.com/", "https://instagram.com/"}


def test_a_table_without_log_columns_is_refused(warehouse):
    warehouse.query("CREATE TABLE access AS SELECT 1 AS id")
    with pytest.raises(tl.ConfigError, match="logs: no column 'time'"):
        tl.metrics.web_traffic(warehouse)
    with pytest.raises(tl.WarehouseError, match="no table 'nginx'"):
        tl.metrics.web_traffic(warehouse, "nginx")


def test_the_report_shows_web_traffic_when_logs_are_loaded(tmp_path, warehouse):
    before = tl.monitor.render_report(warehouse)
    assert "Web traffic" not in before
    log = tmp_path / "access.log"
    write_log(log, 400)
    tl.pipeline("web", tl.sources.logs(str(log)), warehouse).run()
    html = tl.monitor.render_report(warehouse, days=365)
    assert 'id="web"' in html and "Top pages" in html and "Top referrers" in html
    daily = tl.metrics.web_traffic(warehouse)["daily"]
    assert f"{int(daily['page_views'].sum()):,}" in html
    assert "chart-web" in html
