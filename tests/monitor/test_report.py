"""The HTML report: built from a real demo warehouse, checked as text and drawn by headless Chromium."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from plotly.offline import get_plotlyjs

import tillflow as tl
from support import FAST_RETRY, run_cli
from support.services import require_services
from tillflow.exceptions import ConfigError
from tillflow.monitor import render_report, write_report
from tillflow.monitor.report._sections import _pass_rates

HOSTILE = '<img src=x onerror="alert(1)">&amp;</script>'
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
CHARTS = ("chart-revenue", "chart-segments", "chart-products", "chart-rules", "chart-runs", "chart-anomalies")


def _runs(pipeline: str = "demo_shop") -> pl.DataFrame:
    """Three runs of the last days: two completed, then one that failed."""
    started = [NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1), NOW - dt.timedelta(hours=2)]
    return pl.DataFrame(
        {
            "run_id": ["r1", "r2", "r3"],
            "pipeline": [pipeline] * 3,
            "status": ["completed", "completed", "failed"],
            "started_at": started,
            "finished_at": [
                s + dt.timedelta(seconds=d) for s, d in zip(started, (1.5, 2.25, 0.5), strict=True)
            ],
            "duration_s": [1.5, 2.25, 0.5],
            "total_rows": [1200, 40, 0],
            "retries": [0, 1, 3],
            "errors": [0, 0, 1],
            "error": [None, None, "HttpError: 503 from the shop after 3 retries"],
        }
    )


def _anomalies(pipeline: str = "demo_shop") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "anomaly_id": ["a1", "a2"],
            "run_id": ["r2", "r3"],
            "pipeline": [pipeline] * 2,
            "kind": ["volume", "duration"],
            "metric": ["rows", "duration_s"],
            "table": ["orders", None],
            "column": [None, None],
            "value": [40.0, 0.5],
            "expected": [1180.0, 1.9],
            "spread": [25.0, 0.3],
            "z": [-45.6, -4.67],
            "severity": ["critical", "warning"],
            "message": ["orders: 40 rows, expected about 1,180", "run took 0.50 s, expected about 1.90 s"],
            "detected_at": [NOW - dt.timedelta(days=1), NOW - dt.timedelta(hours=2)],
        }
    )


def _load_demo(wh: Any, orders: int = 300) -> None:
    """The demo pipeline twice (the second run after ten refunds), then a run the shop
    refuses (a wrong token), each recorded in ``_tf_runs``; and two anomalies."""
    with tl.demo_shop(orders=orders) as shop:
        tl.pipeline("demo_shop", shop.source(rules=True), wh).run()
        shop.edit_orders(10)
        tl.pipeline("demo_shop", shop.source(rules=True), wh).run()
        refused = tl.sources.shopify(shop.url, "wrong-token", resources=["orders"], retry=FAST_RETRY)
        with pytest.raises(tl.AuthError):
            tl.pipeline("demo_shop", refused, wh).run()
    wh.write_journal({"_tf_anomalies": _anomalies()})


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "demo.duckdb"
    with tl.warehouse.duckdb(str(path)) as wh:
        _load_demo(wh)
    return path


@pytest.fixture
def demo(demo_file: Path) -> Iterator[tl.warehouse.DuckDBWarehouse]:
    with tl.warehouse.duckdb(str(demo_file)) as wh:
        yield wh


@pytest.fixture(scope="module")
def demo_page(demo_file: Path) -> str:
    with tl.warehouse.duckdb(str(demo_file)) as wh:
        return render_report(wh, title="Shop <weekly>")


def _charts(page: str) -> int:
    """How many charts the page draws (plotly.js itself, in the head, is left out)."""
    return page.split("</head>")[1].count("Plotly.newPlot(")


def _card(page: str, title: str) -> str:
    """The HTML of the card whose heading is ``title``."""
    start = page.index(f"<h3>{title}</h3>")
    return (
        page[start : page.index('<div class="card', start)]
        if '<div class="card' in page[start:]
        else page[start:]
    )


# -- the page as text


def test_offline_single_plotly_and_every_section(demo_page: str) -> None:
    # Nothing is fetched: no script, stylesheet, image or frame names an address.
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=", demo_page, re.I)
    assert demo_page.count(get_plotlyjs()) == 1
    assert _charts(demo_page) == len(CHARTS)
    for chart in CHARTS:
        assert demo_page.count(f'id="{chart}"') == 1
    for section in ("sales", "quality", "runs", "anomalies"):
        assert f'<section id="{section}">' in demo_page
    assert "<title>Shop &lt;weekly&gt;</title>" in demo_page and "<h1>Shop &lt;weekly&gt;</h1>" in demo_page
    assert "no data yet" not in demo_page.lower() and 'class="empty"' not in demo_page


def test_header_and_kpis(demo_page: str, demo_file: Path) -> None:
    assert f"<dd>DuckDB {demo_file}</dd>" in demo_page
    assert "<dt>Pipelines</dt><dd>demo_shop</dd>" in demo_page
    assert "<dt>Window</dt><dd>last 90 days</dd>" in demo_page
    # The demo shop's last 90 days with orders: 147 orders worth 47,924.60.
    assert '<div class="label">Revenue</div><div class="value">47,924.60</div>' in demo_page
    assert '<div class="label">Orders</div><div class="value">147</div><div class="sub">avg 326.02</div>' in (
        demo_page
    )
    assert '<div class="kpi bad"><div class="label">Runs</div><div class="value">3</div>' in demo_page
    assert "67% succeeded" in demo_page
    assert '<div class="label">Anomalies</div><div class="value">2</div>' in demo_page


def test_health_box_uses_the_seed_thresholds(demo_page: str) -> None:
    card = _card(demo_page, "Health per pipeline")
    # 2 of 3 runs completed: 66.7% < 95%, so degraded; 1 error is not above 10, so not critical.
    assert (
        '<div class="pipeline warn"><div class="name">demo_shop <span class="badge warn">degraded</span>'
        in card
    )
    assert "<dd>66.7% of 3 runs</dd>" in card
    assert "<dt>errors</dt><dd>1</dd>" in card and "<dt>failed runs</dt><dd>1</dd>" in card
    assert re.search(r"<dt>last run</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d · failed</dd>", card)
    assert '<div class="why">success rate 67% is below 95%</div>' in card
    assert re.search(
        r'<div class="error">last error, [\d-]+ [\d:]+: '
        r"AuthError: GET http://127\.0\.0\.1:\d+/admin/api/[^<]* was refused",
        card,
    )


def test_critical_above_ten_errors(tmp_path: Path) -> None:
    runs = _runs("busy").with_columns(status=pl.lit("completed"), errors=pl.Series([4, 4, 3]))
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
        wh.write_journal({"_tf_runs": runs})
        page = render_report(wh)
    card = _card(page, "Health per pipeline")
    assert '<span class="badge bad">critical</span>' in card
    assert "<dd>100.0% of 3 runs</dd>" in card and "<dt>errors</dt><dd>11</dd>" in card


def test_latest_rule_table_and_pass_rates(demo: Any, demo_page: str) -> None:
    table = _card(demo_page, "Latest result of each rule")
    # The rerun checked only the ten refunded orders, and every rule passed there.
    rows = re.findall(r'<tr><td>orders</td><td>(\w+)</td><td>error</td><td><span class="badge (\w+)">', table)
    assert rows == [
        ("between_total_price", "ok"), ("matches_email", "ok"), ("not_null_email", "ok"),
        ("not_null_id", "ok"), ("not_null_total_price", "ok"), ("unique_id", "ok"),
    ]  # fmt: skip
    assert "<td>0 of 10 (0.00%)</td><td>0.01</td>" in table
    # Over both runs: one mistyped email among the first 300 orders, none among the ten.
    rates = _pass_rates(demo.rule_results())
    email = rates.filter(pl.col("label") == "matches_email")
    assert email["pass_rate"].to_list() == [pytest.approx(100 * 299 / 300), 100.0]
    assert email["detail"].to_list() == ["1 of 300 rows failing", "0 of 10 rows failing"]
    # The other rules passed every row of both runs.
    assert rates.height == 12 and rates.filter(pl.col("label") != "matches_email")[
        "pass_rate"
    ].unique().to_list() == [100.0]


def test_a_failing_rule_comes_first(tmp_path: Path) -> None:
    data = pl.DataFrame({"id": [1, 2, 2, None], "email": ["a@b.co", "x", "c@d.io", "e@f.gh"]})
    rules = tl.RuleSet.from_dict(
        {"rules": [{"unique": "id"}, {"not_null": "id", "severity": "warn"}, {"not_null": "email"}]}
    )
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
        wh.record_rule_results(
            rules.validate(data).to_polars(), run_id="v1", pipeline="p", resource="t", table="t"
        )
        page = render_report(wh)
    table = _card(page, "Latest result of each rule")
    rows = re.findall(
        r'<tr><td>t</td><td>(\w+)</td><td>(\w+)</td><td><span class="badge (\w+)">(\w+)<', table
    )
    assert rows == [
        ("not_null_id", "warn", "warn", "warning"), ("unique_id", "error", "bad", "failed"),
        ("not_null_email", "error", "ok", "passed"),
    ]  # fmt: skip
    assert "<td>1 of 4 (25.00%)</td>" in table
    assert '<div class="kpi bad"><div class="label">Failing rules</div><div class="value">2</div>' in page


def test_runs_and_anomalies_newest_first(demo_page: str) -> None:
    runs = _card(demo_page, "Latest 20 runs")
    statuses = re.findall(r'<span class="badge (?:ok|bad)">(completed|failed)</span>', runs)
    assert statuses == ["failed", "completed", "completed"]
    # rows, retries, errors of each run: the refused one, the ten refunds (and their
    # line items, customers, products), the first load.
    counts = re.findall(r"<td class=num>([\d,]+)</td><td class=num>(\d+)</td><td class=num>(\d+)</td>", runs)
    assert counts == [("0", "0", "1"), ("197", "0", "0"), ("1,189", "0", "0")]
    anomalies = _card(demo_page, "Latest 2 anomalies, newest first")
    messages = re.findall(r"<td>([^<]*expected about[^<]*)</td>", anomalies)
    assert messages == ["run took 0.50 s, expected about 1.90 s", "orders: 40 rows, expected about 1,180"]
    assert (
        '<td><span class="badge bad">critical</span></td><td>volume</td><td>orders</td><td>rows</td>'
        "<td class=num>40.00</td><td class=num>1,180.00</td><td class=num>-45.60</td>"
    ) in anomalies


def test_empty_warehouse_says_no_data_yet(tmp_path: Path) -> None:
    with tl.warehouse.duckdb(str(tmp_path / "empty.duckdb")) as wh:
        page = render_report(wh)
    assert page.count("No orders loaded yet") == 3  # revenue, segments, products
    for note in ("No rule results yet", "No runs recorded yet", "No anomalies detected yet"):
        assert page.count(note) == 1
    assert "<dt>Pipelines</dt><dd>none yet</dd>" in page
    # Nothing to draw, so no plotly.js either.
    assert _charts(page) == 0 and get_plotlyjs()[:2000] not in page
    assert 'class="kpis"' not in page


def test_orders_without_line_items_or_customers(tmp_path: Path) -> None:
    orders = pl.DataFrame(
        {
            "_tf_id": [1, 2, 3],
            "created_at": [dt.datetime(2024, 5, d, 12, tzinfo=dt.timezone.utc) for d in (1, 1, 3)],
            "total_price": [10.0, 20.5, 5.0],
        }
    )
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
        wh.replace_tables({"orders": orders})
        page = render_report(wh, days=7)
    assert _charts(page) == 1 and 'id="chart-revenue"' in page
    assert "No orders with a customer yet." in page
    assert "Not available: the warehouse has no table &#x27;orders__line_items&#x27;" in page
    assert '<div class="value">35.50</div><div class="sub">7 days</div>' in page
    assert '<div class="value">3</div><div class="sub">avg 11.83</div>' in page


def test_pipeline_filter_and_bad_arguments(tmp_path: Path) -> None:
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
        wh.write_journal({"_tf_runs": pl.concat([_runs("alpha"), _runs("beta").head(1)])})
        both = render_report(wh)
        beta = render_report(wh, pipeline="beta")
        with pytest.raises(
            ConfigError, match=r"no pipeline 'gamma' in the warehouse \(known: 'alpha', 'beta'\)"
        ):
            render_report(wh, pipeline="gamma")
        for days in (0, -3, 2.5, True):
            with pytest.raises(ConfigError, match="days: expected a whole number of days >= 1"):
                render_report(wh, days=days)  # type: ignore[arg-type]
    assert "<dt>Pipelines</dt><dd>alpha, beta</dd>" in both and both.count('<div class="pipeline ') == 2
    assert "<dt>Pipeline</dt><dd>beta</dd>" in beta and beta.count('<div class="pipeline ') == 1
    assert "<dd>100.0% of 1 run</dd>" in beta and "alpha" not in beta.split("</head>")[1]


def test_old_rows_fall_out_of_the_window(tmp_path: Path) -> None:
    old = _runs().with_columns(pl.col("started_at") - dt.timedelta(days=30))
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
        wh.write_journal({"_tf_runs": old})
        recent = render_report(wh, days=7)
        month = render_report(wh, days=60)
    assert "No runs recorded yet" in recent and "<dd>66.7% of 3 runs</dd>" in month


def _hostile_warehouse(path: Path) -> None:
    with tl.warehouse.duckdb(str(path)) as wh:
        orders = pl.DataFrame(
            {
                "_tf_id": [1, 2],
                "created_at": [dt.datetime(2024, 5, 1, 9, tzinfo=dt.timezone.utc)] * 2,
                "total_price": [12.0, 30.0],
                "customer__id": [7, 7],
            }
        )
        items = pl.DataFrame(
            {"_tf_parent_id": [1, 2], "title": [HOSTILE, "mug"], "quantity": [1, 2], "price": [12.0, 15.0]}
        )
        wh.replace_tables({"orders": orders, "orders__line_items": items})
        data = pl.DataFrame({HOSTILE: [1, None, 3]})
        report = tl.RuleSet.from_dict({"rules": [{"not_null": HOSTILE}]}).validate(data)
        wh.record_rule_results(
            report.to_polars(), run_id="h1", pipeline=HOSTILE, resource=HOSTILE, table=HOSTILE
        )
        runs = _runs(HOSTILE).with_columns(error=pl.lit(HOSTILE))
        anomalies = _anomalies(HOSTILE).with_columns(
            table=pl.lit(HOSTILE), column=pl.lit(HOSTILE), message=pl.lit(HOSTILE), kind=pl.lit(HOSTILE)
        )
        wh.write_journal({"_tf_runs": runs, "_tf_anomalies": anomalies})


def test_hostile_names_are_escaped(tmp_path: Path) -> None:
    _hostile_warehouse(tmp_path / "h.duckdb")
    with tl.warehouse.duckdb(str(tmp_path / "h.duckdb")) as wh:
        page = render_report(wh, title=HOSTILE)
    assert HOSTILE not in page and "<img" not in page
    assert html.escape(HOSTILE) in page
    assert _charts(page) == len(CHARTS)


# -- drawn by a browser


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "chromium is not installed (apt-get install chromium)"
        if require_services():
            pytest.fail(f"{message}; TILLFLOW_REQUIRE_SERVICES=1 requires it")
        pytest.skip(message)
    return found


def _dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, with every host name unresolvable (offline)."""
    out = subprocess.run(
        [
            _chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=20000", "--dump-dom", page.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


class _Elements(HTMLParser):
    """Every element's tag and attribute name in a document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def _drawn(dom: str, div_id: str) -> tuple[int, int]:
    """(plotly's main SVGs, traces drawn) inside the chart ``div_id``."""
    start = dom.index(f'<div id="{div_id}"')
    depth = 0
    for tag in re.finditer(r"<(/?)div\b", dom[start:]):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            chart = dom[start : start + tag.end()]
            break
    else:
        raise AssertionError(f"{div_id} is not closed")
    return chart.count('class="main-svg"'), len(re.findall(r'<g class="trace (?:scatter|bars)\b', chart))


def test_chromium_draws_every_chart(demo_file: Path, tmp_path: Path) -> None:
    _chromium()
    page = tmp_path / "report.html"
    with tl.warehouse.duckdb(str(demo_file)) as wh:
        write_report(wh, page)
        rules = wh.rule_results()["rule"].n_unique()
    dom = _dom(page, tmp_path / "profile")
    # Revenue and its average; one bar trace each; a line per rule; the runs' line and two statuses;
    # two severities of anomaly.
    expected = {
        "chart-revenue": 2, "chart-segments": 1, "chart-products": 1, "chart-rules": rules,
        "chart-runs": 3, "chart-anomalies": 2,
    }  # fmt: skip
    assert rules == 6
    for chart, traces in expected.items():
        svgs, drawn = _drawn(dom, chart)
        assert svgs >= 2, chart
        assert drawn == traces, chart


def test_chromium_runs_no_injected_markup(tmp_path: Path) -> None:
    _chromium()
    _hostile_warehouse(tmp_path / "h.duckdb")
    page = tmp_path / "hostile.html"
    with tl.warehouse.duckdb(str(tmp_path / "h.duckdb")) as wh:
        write_report(wh, page, title=HOSTILE)
    dom = _dom(page, tmp_path / "profile")
    # The names are shown as text (or kept in plotly's attributes), never parsed as elements.
    elements = _Elements()
    elements.feed(dom)
    assert "img" not in elements.tags and "script" in elements.tags
    assert not [name for name in elements.attributes if name.startswith("on")]
    assert html.escape(HOSTILE, quote=False) in dom[dom.index("<body") :]
    for chart in CHARTS:
        assert _drawn(dom, chart)[1] >= 1, chart
    # Plotly shows the product's title exactly as it is named, as text.
    products = dom[dom.index('<div id="chart-products"') :]
    assert f">{html.escape(HOSTILE, quote=False)}</text>" in products


# -- the command line and PostgreSQL


def test_cli_writes_the_report(demo_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = run_cli(
        "report", "--warehouse", str(demo_file), "-o", str(out), "--pipeline", "demo_shop", "--days", "30"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{out}\n"
    page = out.read_text(encoding="utf-8")
    assert "<dt>Pipeline</dt><dd>demo_shop</dd>" in page and "<dt>Window</dt><dd>last 30 days</dd>" in page
    assert _charts(page) == len(CHARTS)


def test_cli_refuses_a_missing_warehouse(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    done = run_cli("report", "--warehouse", str(missing), "-o", str(tmp_path / "r.html"))
    assert done.returncode == 2
    assert done.stderr == (
        "error: ConfigError: invalid config: --warehouse: "
        f"no DuckDB warehouse at {str(missing)!r} (no such file)\n"
    )
    assert not missing.exists() and not (tmp_path / "r.html").exists()
    unknown = run_cli("report", "--warehouse", str(tmp_path / "x"), "--days", "0")
    assert unknown.returncode == 2


def test_cli_unknown_pipeline(demo_file: Path, tmp_path: Path) -> None:
    done = run_cli(
        "report", "--warehouse", str(demo_file), "-o", str(tmp_path / "r.html"), "--pipeline", "nope"
    )
    assert done.returncode == 2
    assert "no pipeline 'nope' in the warehouse (known: 'demo_shop')" in done.stderr


@pytest.mark.services
def test_postgres_warehouse(postgres_warehouse: Any) -> None:
    _load_demo(postgres_warehouse)
    page = render_report(postgres_warehouse)
    assert _charts(page) == len(CHARTS)
    assert "<dt>Pipelines</dt><dd>demo_shop</dd>" in page and "PostgresWarehouse" in page
    assert "<dd>66.7% of 3 runs</dd>" in page
    assert re.search(r"<tr><td>orders</td><td>matches_email</td>", page)


def test_delta_lake(tmp_path: Path) -> None:
    with tl.warehouse.delta(str(tmp_path / "lake")) as lake:
        _load_demo(lake)
        page = render_report(lake)
    assert _charts(page) == len(CHARTS)
    assert f"DeltaLake url={str(tmp_path / 'lake')!r}" in html.unescape(page)
    assert "<dd>66.7% of 3 runs</dd>" in page
    assert '<div class="label">Revenue</div><div class="value">47,924.60</div>' in page
