"""Running a project: sources, SQL models in dependency order with their
rules, metrics; on DuckDB, PostgreSQL and the Delta lake."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

import tillflow as tl
from support import run_cli
from support.services import drop_schema

ORDERS = """\
id,day,customer,amount,status
1,2024-03-01,a,10.50,paid
2,2024-03-01,b,5.25,paid
3,2024-03-02,a,7.00,refunded
4,2024-03-02,c,3.10,paid
5,2024-03-03,b,9.99,paid
"""

PROJECT = """\
[project]
name = "files_shop"

[warehouse]
url = "{url}"

[sources.shop]
files = "data/orders.csv"
write_mode = "replace"
options = {{ columns = {{ day = "date", amount = "decimal(10,2)" }} }}

[metrics]
enabled = false
"""

PAID = """\
{{ config(materialized='view') }}
select id, day, customer, amount from {{ source('shop', 'orders') }} where status = 'paid'
"""

DAILY = """\
{{ config(materialized='incremental', unique_key='day') }}
select day, count(*) as orders, sum(amount) as revenue
from {{ ref('paid') }}
{% if is_incremental() %}
where day >= (select max(day) from {{ this }})
{% endif %}
group by day
"""

CUSTOMERS = """\
{{ config(materialized='table') }}
select customer, count(*) as orders from {{ ref('paid') }} group by customer
"""


@pytest.fixture(params=["duckdb", "postgres", "delta"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A warehouse location as tillflow.toml writes it, one engine in turn."""
    if request.param == "duckdb":
        yield "duckdb:wh.duckdb"
    elif request.param == "delta":
        yield "delta:lake"
    else:
        url, schema = request.getfixturevalue("postgres_url"), request.getfixturevalue("unique_name")
        try:
            yield f"{url}?schema={schema}"
        finally:
            drop_schema(url, schema)


def make(
    root: Path, url: str, models: dict[str, str], extra: str = "", rules: dict[str, str] | None = None
) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "orders.csv").write_text(ORDERS)
    (root / "tillflow.toml").write_text(PROJECT.format(url=url) + textwrap.dedent(extra))
    (root / "models").mkdir(exist_ok=True)
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    for name, text in (rules or {}).items():
        (root / "rules").mkdir(exist_ok=True)
        (root / "rules" / name).write_text(textwrap.dedent(text))
    return root


def open_warehouse(root: Path, url: str) -> tl.warehouse.Warehouse:
    location = (
        url if url.startswith("postgresql") else url.split(":", 1)[0] + ":" + str(root / url.split(":", 1)[1])
    )
    return tl.warehouse.from_url(location, read_only=True)


def expected_daily(orders_csv: str) -> list[tuple[str, int, str]]:
    rows = duckdb.sql(
        "select day::varchar, count(*), sum(amount)::decimal(18,2)::varchar from "
        f"read_csv_auto('{orders_csv}') where status = 'paid' group by day order by day"
    ).fetchall()
    return [(d, int(n), str(r)) for d, n, r in rows]


def daily(wh: tl.warehouse.Warehouse) -> list[tuple[str, int, str]]:
    frame = wh.query(
        "select cast(day as varchar) as d, orders, cast(revenue as decimal(18,2)) as r from daily"
    )
    return sorted((str(d), int(n), str(r)) for d, n, r in frame.rows())


def test_models_build_in_order_and_incremental_runs_merge_by_key(tmp_path, location):
    root = make(tmp_path, location, {"paid": PAID, "daily": DAILY, "customers": CUSTOMERS})
    first = tl.project.run(root)
    assert first.status == "ok", first
    assert [(s.name, s.kind, s.status) for s in first.steps] == [
        ("shop", "source", "ok"),
        ("paid", "model", "ok"),
        ("customers", "model", "ok"),
        ("daily", "model", "ok"),
    ] or [s.name for s in first.steps] == ["shop", "paid", "daily", "customers"]
    assert {s.name: s.rows for s in first.steps}["daily"] == 3
    with open_warehouse(root, location) as wh:
        assert daily(wh) == expected_daily(str(root / "data" / "orders.csv"))
        assert dict(wh.query("select customer, orders from customers").rows()) == {"a": 1, "b": 2, "c": 1}
    # A new day, and a late order on the last day stored: the incremental run rewrites that day, adds the new.
    with open(root / "data" / "orders.csv", "a") as f:
        f.write("6,2024-03-03,c,1.01,paid\n7,2024-03-04,a,2.00,paid\n")
    second = tl.project.run(root)
    assert second.status == "ok", second
    assert {s.name: s.rows for s in second.steps}["daily"] == 2  # 2024-03-03 again, and 2024-03-04
    with open_warehouse(root, location) as wh:
        assert daily(wh) == expected_daily(str(root / "data" / "orders.csv"))
        assert wh.query("select count(*) from paid").item() == 6
    rebuilt = tl.project.run(root, full_refresh=True)
    assert {s.name: s.rows for s in rebuilt.steps}["daily"] == 4


def test_a_failing_rule_stops_the_models_downstream(tmp_path):
    negative = (
        "{{ config(materialized='table') }}\n"
        "select id, -amount as amount from {{ source('shop', 'orders') }}\n"
    )
    after = "select count(*) as n from {{ ref('refunds') }}\n"
    models = {"refunds": negative, "refund_count": after, "paid": PAID}
    extra = '\n[models.refunds]\nrules = "rules/refunds.yaml"\n'
    rules = {"refunds.yaml": "rules:\n  - between: amount\n    min: 0\n"}
    root = make(tmp_path, "duckdb:wh.duckdb", models, extra, rules)
    result = tl.project.run(root)
    steps = {s.name: s for s in result.steps}
    assert result.status == "failed"
    assert steps["refunds"].status == "failed" and "rules:" in steps["refunds"].message
    assert (steps["refund_count"].status, steps["refund_count"].message) == (
        "skipped",
        "upstream refunds failed",
    )
    assert steps["paid"].status == "ok" and steps["shop"].status == "ok"
    with open_warehouse(root, "duckdb:wh.duckdb") as wh:
        assert "refund_count" not in wh.tables()
        results = wh.rule_results()
        assert results.filter(pl.col("table") == "refunds")["failing"].to_list() == [5]
    done = run_cli("run", "--json", cwd=root)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "failed"
    assert [s["status"] for s in summary["steps"] if s["name"] == "refund_count"] == ["skipped"]


def test_select_runs_a_model_with_what_it_reads(tmp_path):
    root = make(tmp_path, "duckdb:wh.duckdb", {"paid": PAID, "daily": DAILY, "customers": CUSTOMERS})
    result = tl.project.run(root, select=["daily"])
    assert [s.name for s in result.steps] == ["shop", "paid", "daily"]
    only_source = tl.project.run(root, select=["shop"])
    assert [s.name for s in only_source.steps] == ["shop"]
    with pytest.raises(tl.ConfigError, match="--select: no source or model 'dialy'"):
        tl.project.run(root, select=["dialy"])


def test_a_failed_source_skips_the_models_reading_it(tmp_path):
    extra = """
    [sources.api]
    spec = "specs/api.yaml"
    """
    root = make(
        tmp_path,
        "duckdb:wh.duckdb",
        {"paid": PAID, "things": "select * from {{ source('api', 'things') }}\n"},
        extra,
    )
    (root / "specs").mkdir()
    (root / "specs" / "api.yaml").write_text(
        "name: api\ndefaults:\n  base_url: http://127.0.0.1:9\n  retry: { max_attempts: 1 }\n"
        "resources:\n  - name: things\n    path: /things\n"
    )
    result = tl.project.run(root)
    steps = {s.name: s for s in result.steps}
    assert steps["api"].status == "failed" and steps["api"].message.startswith(
        "HttpError: GET http://127.0.0.1:9/things"
    )
    assert steps["things"].status == "skipped" and steps["things"].message == "upstream api.things failed"
    assert steps["paid"].status == "ok"


def test_init_then_run_works_offline_from_the_command_line(tmp_path):
    assert run_cli("init", "demo_project", cwd=tmp_path).returncode == 0
    root = tmp_path / "demo_project"
    done = run_cli("run", cwd=root)
    assert done.returncode == 0, done.stderr + done.stdout
    with tl.warehouse.duckdb(str(root / "warehouse.duckdb"), read_only=True) as wh:
        tables = set(wh.tables())
        assert {"orders", "customers", "products", "daily_revenue", "metrics_daily_summary"} <= tables
        views = wh.query("select table_name from information_schema.tables where table_type = 'VIEW'")
        assert views["table_name"].to_list() == ["paid_orders"]
        paid = wh.query(
            "select cast(created_at as date) as d, count(*) as n, sum(total_price) as r from orders "
            "where financial_status = 'paid' group by 1 order by 1"
        )
        model = wh.query("select order_date as d, orders as n, revenue as r from daily_revenue order by 1")
        assert model["d"].to_list() == paid["d"].to_list() and model["n"].to_list() == paid["n"].to_list()
        assert [float(x) for x in model["r"]] == pytest.approx([float(x) for x in paid["r"]])
        checked = set(wh.rule_results()["table"].to_list())
        assert checked == {"orders", "paid_orders", "daily_revenue"}
    again = run_cli("run", "--json", cwd=root)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "ok"


def test_lineage_is_recorded_by_each_run_and_shown(tmp_path):
    root = make(tmp_path, "duckdb:wh.duckdb", {"paid": PAID, "daily": DAILY})
    before = run_cli("lineage", "--json", cwd=root)
    assert before.returncode == 0, before.stderr
    assert {
        "upstream_kind": "model",
        "upstream": "paid",
        "downstream_kind": "model",
        "downstream": "daily",
    } in (json.loads(before.stdout))
    tl.project.run(root)
    shown = run_cli("lineage", cwd=root)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "# lineage of files_shop, from the latest run",
        "source shop",
        "  -> table orders",
        "    -> model paid",
        "      -> model daily",
    ]
    with tl.warehouse.duckdb(str(root / "wh.duckdb"), read_only=True) as wh:
        rows = wh.query("select upstream, downstream from _tf_lineage order by 1, 2").rows()
    assert rows == [("orders", "paid"), ("paid", "daily"), ("shop", "orders")]


def test_a_logs_source_in_a_project_feeds_a_model(tmp_path):
    root = make(
        tmp_path,
        "duckdb:wh.duckdb",
        {"hits": "select status, count(*) as n from {{ source('web', 'access') }} group by status\n"},
        '\n[sources.web]\nlogs = "logs/access.log*"\n',
    )
    (root / "logs").mkdir()
    (root / "logs" / "access.log").write_text(
        '1.2.3.4 - - [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "a"\n'
        '1.2.3.4 - - [01/Mar/2024:10:00:01 +0000] "GET /x HTTP/1.1" 404 0 "-" "a"\n'
        '1.2.3.5 - - [01/Mar/2024:10:00:02 +0000] "GET / HTTP/1.1" 200 10 "-" "b"\n'
    )
    result = tl.project.run(root, select=["hits"])
    assert result.status == "ok", result
    with open_warehouse(root, "duckdb:wh.duckdb") as wh:
        assert dict(wh.query("select status, n from hits").rows()) == {200: 2, 404: 1}


def test_a_project_without_a_shop_skips_the_metrics_unless_asked(tmp_path):
    (tmp_path / "visits.csv").write_text("day,visits\n2024-03-01,10\n")
    toml = tmp_path / "tillflow.toml"
    toml.write_text('[project]\nname = "site"\n[warehouse]\nurl = "duckdb:wh.duckdb"\n'
                    '[sources.site]\nfiles = "visits.csv"\n')  # fmt: skip
    result = tl.project.run(tmp_path)
    assert result.status == "ok", result
    assert result.steps[-1].kind == "metrics" and result.steps[-1].message.startswith("no orders table")
    toml.write_text(toml.read_text().replace("[sources.site]", "[metrics]\nenabled = true\n[sources.site]"))
    asked = tl.project.run(tmp_path)
    assert asked.status == "failed" and "orders" in asked.steps[-1].message


def test_views_reading_views_are_replaced_on_postgres(tmp_path, postgres_url, unique_name):
    url = f"{postgres_url}?schema={unique_name}"
    counted = "select count(*) as n from {{ ref('paid') }}\n"
    root = make(tmp_path, url, {"paid": PAID, "paid_count": counted})
    try:
        assert tl.project.run(root).status == "ok"
        # Again, with the same columns: replaced in place, the view reading it kept.
        assert tl.project.run(root).status == "ok"
        # A column fewer: PostgreSQL cannot replace it in place, and a view still reads it.
        (root / "models" / "paid.sql").write_text(PAID.replace("customer, amount", "amount"))
        again = tl.project.run(root)
        steps = {s.name: s for s in again.steps}
        assert steps["paid"].status == "failed" and "depend" in steps["paid"].message
        assert steps["paid_count"].status == "skipped"
        with open_warehouse(root, url) as wh:
            assert wh.query("select n from paid_count").item() == 4  # the old views still answer
    finally:
        drop_schema(postgres_url, unique_name)
