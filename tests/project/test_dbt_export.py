"""`tillflow export dbt`: the project as a dbt project that real dbt parses
and builds, its rules as dbt tests that pass and fail where tillflow's do.

dbt runs from its own virtualenv (its pins are not tillflow's): .ci/run puts
its executable in TILLFLOW_DBT."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

import tillflow as tl
from support import run_cli
from support.services import external_tool


def dbt_executable() -> str:
    return external_tool("TILLFLOW_DBT", "dbt executable with dbt-duckdb", on_path="dbt")


def dbt(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(cwd), "--profiles-dir", str(cwd)],
        capture_output=True, text=True, timeout=300, check=False, cwd=cwd,
    )  # fmt: skip


ORDERS = """\
id,customer,amount,status,email
1,a,10.50,paid,a@shop.example
2,b,-5.25,paid,b@shop.example
3,a,7.00,lost,not-an-email
4,,3.10,paid,c@shop.example
4,c,9.99,paid,c@shop.example
"""

RULES = """\
rules:
  - not_null: customer
  - unique: id
  - is_in: status
    values: [paid, refunded]
  - between: amount
    min: 0
  - matches: email
    pattern: "^[^@]+@[^@]+$"
  - compare: [amount, "<", id]
    severity: warn
  - between: amount
    min: 0
    when: "status = 'paid'"
    name: paid_amount_not_negative
  - not_null: customer
    when: "status = 'lost'"
    name: lost_order_has_customer
  - row_count:
      min: 1
      max: 100
"""


def make(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "orders.csv").write_text(ORDERS)
    (root / "rules").mkdir()
    (root / "rules" / "orders.yaml").write_text(RULES)
    (root / "rules" / "by_customer.yaml").write_text("rules:\n  - not_null: customer\n    severity: warn\n")
    (root / "models").mkdir()
    (root / "models" / "by_customer.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select customer, sum(amount) as total from {{ source('shop', 'orders') }} group by customer\n"
    )
    (root / "tillflow.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "exported"
            [warehouse]
            url = "duckdb:wh.duckdb"
            [sources.shop]
            files = "data/orders.csv"
            write_mode = "replace"
            rules = { orders = "rules/orders.yaml" }
            options = { columns = { amount = "double" } }
            [models.by_customer]
            rules = "rules/by_customer.yaml"
            [metrics]
            enabled = false
            """
        )
    )
    return root


def test_the_export_is_a_dbt_project_whose_tests_agree_with_tillflow(tmp_path):
    root = make(tmp_path / "project")
    result = tl.project.run(root)
    assert [s.status for s in result.steps] == ["ok", "ok"], result
    with tl.warehouse.duckdb(str(root / "wh.duckdb"), read_only=True) as wh:
        ours = {r["rule"]: r["passed"] for r in wh.rule_results().to_dicts() if r["table"] == "orders"}
    # The rows that break the orders' rules are quarantined, so the table itself holds only the good ones:
    # point dbt at the file as loaded, unquarantined, to compare verdicts on the same rows.
    out = tmp_path / "dbt"
    done = run_cli("export", "dbt", str(out), "--project", str(root))
    assert done.returncode == 0, done.stderr
    sources = yaml.safe_load((out / "models" / "sources.yml").read_text())
    [table] = [t for t in sources["sources"][0]["tables"] if t["name"] == "orders"]
    tests = {c["name"]: c["data_tests"] for c in table["columns"]}
    assert tests["customer"] == [
        "not_null",
        {
            "not_null": {
                "name": "shop__orders__lost_order_has_customer",
                "config": {"where": "status = 'lost'"},
            }
        },
    ]
    assert tests["id"] == ["unique"]
    assert tests["status"] == [{"accepted_values": {"arguments": {"values": ["paid", "refunded"]}}}]
    singular = sorted(p.name for p in (out / "tests").glob("*.sql"))
    assert singular == [
        "shop__orders__between_amount.sql", "shop__orders__compare_amount_lt_id.sql",
        "shop__orders__matches_email.sql", "shop__orders__paid_amount_not_negative.sql",
        "shop__orders__row_count.sql",
    ]  # fmt: skip
    assert "config(severity='warn')" in (out / "tests" / "shop__orders__compare_amount_lt_id.sql").read_text()

    parsed = dbt("parse", cwd=out)
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    with tl.warehouse.duckdb(
        str(root / "wh.duckdb")
    ) as wh:  # the raw rows, as dbt would see them unquarantined
        wh.connection.execute(
            f"CREATE OR REPLACE TABLE orders AS SELECT * FROM read_csv('{root / 'data' / 'orders.csv'}')"
        )
    built = dbt("build", cwd=out)
    verdicts = {}
    for r in json.loads((out / "target" / "run_results.json").read_text())["results"]:
        verdicts[r["unique_id"]] = r["status"]

    def status(fragment: str) -> str:
        [found] = [s for uid, s in verdicts.items() if fragment in uid]
        return found

    assert status("source_not_null_shop_orders_customer") == "fail" and ours["not_null_customer"] is False
    assert status("source_unique_shop_orders_id") == "fail" and ours["unique_id"] is False
    assert status("source_accepted_values_shop_orders_status") == "fail" and ours["is_in_status"] is False
    assert status("shop__orders__between_amount") == "fail" and ours["between_amount"] is False
    assert status("shop__orders__matches_email") == "fail" and ours["matches_email"] is False
    assert status("shop__orders__compare_amount_lt_id") == "warn"
    assert status("shop__orders__paid_amount_not_negative") == "fail"
    assert ours["paid_amount_not_negative"] is False
    assert status("shop__orders__lost_order_has_customer") == "pass"
    assert ours["lost_order_has_customer"] is True
    assert status("shop__orders__row_count") == "pass" and ours["row_count"] is True
    # dbt build stops the model downstream of failing tests, as tillflow stops models after failing rules.
    assert status("model.exported.by_customer") == "skipped"
    assert built.returncode == 1


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("  - is_email: email\n", "is_email: has no dbt test in the export"),
        ("  - not_null: email\n    tolerance: 1%\n", "tolerance: a share ('1%') has no dbt form"),
        ("  - row_count: {min: 1}\n    by: [status]\n", "by: grouped checks have no dbt test"),
    ],
)
def test_the_export_refuses_what_dbt_cannot_say_naming_the_rule(tmp_path, rule, says):
    root = make(tmp_path / "project")
    (root / "rules" / "orders.yaml").write_text("rules:\n" + rule)
    done = run_cli("export", "dbt", str(tmp_path / "dbt"), "--project", str(root))
    assert done.returncode != 0
    assert says in done.stderr
