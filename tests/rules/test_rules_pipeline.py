"""Rules inside pipelines: quarantine, rule history, the CLI and the pytest plugin."""

from __future__ import annotations

import textwrap

import polars as pl
import pytest

import tillflow as tl
from support import run_cli  # the tillflow command as a user runs it
from tillflow import rules as r
from tillflow.demo import ORDER_RULES

EMAIL = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$"


@pytest.fixture(scope="module")
def unchecked(shop, tmp_path_factory):
    """Every order and line item of the shop, loaded without rules."""
    path = tmp_path_factory.mktemp("plain") / "wh.duckdb"
    with tl.warehouse.duckdb(str(path)) as wh:
        tl.pipeline("plain", shop.source(resources=["orders"]), wh).run()
        orders = wh.query("SELECT * EXCLUDE (_tf_load_id) FROM orders ORDER BY id")
        items = wh.query("SELECT * EXCLUDE (_tf_load_id) FROM orders__line_items")
    return orders, items


def test_bad_rows_land_in_quarantine_and_good_rows_load(shop, warehouse, unchecked):
    orders, items = unchecked
    # The truth, from Polars on the unchecked load: mistyped emails and orders above 300.
    bad_email = set(orders.filter(~pl.col("email").str.contains(EMAIL))["id"])
    too_big = set(orders.filter(pl.col("total_price") > 300)["id"])
    assert len(bad_email) >= 1 and len(too_big) >= 1  # the shop has both kinds
    rules = tl.RuleSet(
        [
            r.matches("email", EMAIL, name="email_format"),
            r.between("total_price", 0, 300, name="price_cap"),
            r.not_null("customer__id", severity="warn"),  # guests: warned, not held back
        ],
        key="id",
    )
    source = shop.source(resources=["orders"]).with_rules(orders=rules)
    run = tl.pipeline("checked", source, warehouse).run()

    held = warehouse.query("SELECT * FROM orders__quarantine ORDER BY id")
    loaded = warehouse.query("SELECT id FROM orders")
    assert set(held["id"]) == bad_email | too_big
    assert set(loaded["id"]) == set(orders["id"]) - bad_email - too_big
    assert held.height + loaded.height == orders.height
    expected_rules = {
        i: [n for n, ids in (("email_format", bad_email), ("price_cap", too_big)) if i in ids]
        for i in bad_email | too_big
    }
    assert {row["id"]: row["_tf_failed_rules"] for row in held.iter_rows(named=True)} == expected_rules

    # Line items follow their order, carrying its rules.
    held_items = warehouse.query("SELECT * FROM orders__line_items__quarantine")
    loaded_items = warehouse.query("SELECT orders_id FROM orders__line_items")
    want_held = items.filter(pl.col("orders_id").is_in(list(bad_email | too_big)))
    assert held_items.height == want_held.height
    assert set(held_items["_tf_id"]) == set(want_held["_tf_id"])
    assert loaded_items.height + held_items.height == items.height
    assert not set(loaded_items["orders_id"]) & (bad_email | too_big)
    for row in held_items.select("orders_id", "_tf_failed_rules").iter_rows():
        assert row[1] == expected_rules[row[0]]

    # The report and the load summary say the same.
    report = run.reports["orders"]
    assert report["email_format"].failing == len(bad_email)
    assert report["price_cap"].failing == len(too_big)
    assert report["not_null_customer__id"].status == "failed"
    assert report["not_null_customer__id"].failing == orders["customer__id"].null_count()
    assert run.loads[0].row_counts["orders__quarantine"] == held.height


def test_rule_results_are_recorded_per_run(shop, warehouse):
    source = shop.source(resources=["orders"], rules=True)
    for _ in range(2):
        run = tl.pipeline("history", source, warehouse).run(full_refresh=True)
    results = warehouse.rule_results()
    names = ["not_null_id", "not_null_email", "not_null_total_price", "unique_id", "between_total_price",
             "matches_email"]  # fmt: skip
    assert results.height == 2 * len(names)
    assert results["rule"].to_list() == names * 2
    loads = warehouse.loads().filter(pl.col("resource") == "orders")
    assert set(results["run_id"]) == set(loads["load_id"])
    last = results.tail(len(names))
    report = run.reports["orders"]
    assert last["failing"].to_list() == [c.failing for c in report]
    assert last["rows"].to_list() == [shop.orders] * len(names)
    assert last.filter(pl.col("rule") == "matches_email")["status"].item() == "failed"
    assert last.filter(pl.col("rule") == "not_null_email")["status"].item() == "passed"
    assert results["checked_at"].is_sorted()
    assert results.select(pl.col("pipeline").unique()).item() == "history"


def test_resource_rules_from_a_spec_file(tmp_path, shop, warehouse):
    rules = tmp_path / "order_rules.yaml"
    tl.RuleSet.from_dict(ORDER_RULES).save(rules)
    spec = tmp_path / "shop.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: shop
            base_url: {shop.url}/admin/api/2024-01
            auth: {{type: api_key, name: X-Shopify-Access-Token, value: {shop.token}}}
            paginator: {{type: link_header}}
            path: orders.json
            params: {{limit: 250, status: any}}
            records: orders
            primary_key: id
            rules: order_rules.yaml
            """
        )
    )
    source = tl.sources.rest(spec)
    assert source["shop"].rules == tl.RuleSet.from_dict(ORDER_RULES)
    tl.pipeline("spec", source, warehouse).run()
    counts = warehouse.row_counts()
    assert counts["shop"] + counts["shop__quarantine"] == shop.orders


def test_cli_validate_exit_codes_report_and_export(tmp_path):
    data = tmp_path / "orders.csv"
    pl.DataFrame(
        {
            "id": [1, 2, 2, 4],
            "email": ["a@x.io", "bad", "c@x.io", None],
            "total_price": [10.0, 20000.0, 5.0, 7.5],
        }
    ).write_csv(data)
    rules = tmp_path / "rules.yaml"
    rules.write_text(tl.RuleSet.from_dict(ORDER_RULES).to_yaml())
    out = run_cli("validate", str(data), "--rules", str(rules), "--export", str(tmp_path / "bad.csv"))
    assert out.returncode == 1, out.stderr
    assert "FAILED" in out.stdout
    for line in ("not_null_email", "unique_id", "between_total_price", "matches_email"):
        assert line in out.stdout
    assert "1 failing (25.00%)" in out.stdout  # unique_id: the second 2
    bad = pl.read_csv(tmp_path / "bad.csv")
    assert bad["id"].to_list() == [2, 2, 4]
    assert bad["_tf_failed_rules"].to_list() == ["between_total_price; matches_email", "unique_id",
                                                 "not_null_email"]  # fmt: skip

    good = tmp_path / "good.parquet"
    pl.DataFrame({"id": [1, 2], "email": ["a@x.io", "b@y.com"], "total_price": [1.0, 2.0]}).write_parquet(
        good
    )
    ok = run_cli("validate", str(good), "--rules", str(rules))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("PASSED: 6 passed of 6 checks over 2 rows")

    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - matches: email\n    pattern: '[a-'\n")
    err = run_cli("validate", str(good), "--rules", str(broken))
    assert err.returncode == 2  # a config error
    assert "RuleError" in err.stderr and "matches_email" in err.stderr and "pattern" in err.stderr


def test_cli_validate_a_warehouse_table_and_record(tmp_path, shop):
    db = tmp_path / "wh.duckdb"
    with tl.warehouse.duckdb(str(db)) as wh:
        tl.pipeline("p", shop.source(resources=["orders"]), wh).run()
    rules = tmp_path / "rules.toml"
    rules.write_text(tl.RuleSet.from_dict(ORDER_RULES).to_toml())
    out = run_cli("validate", "orders", "--warehouse", str(db), "--rules", str(rules), "--record")
    assert out.returncode == 1  # the shop's mistyped emails
    assert "matches_email" in out.stdout
    with tl.warehouse.duckdb(str(db)) as wh:
        recorded = wh.rule_results()
    assert recorded.height == 6 and set(recorded["table"]) == {"orders"}


def test_pytest_plugin_gives_a_readable_failure(pytester):
    pytester.makepyfile(
        """
        import polars as pl
        from tillflow import rules as r

        def test_orders(assert_valid):
            df = pl.DataFrame({"id": [1, 2, 2], "total": [5.0, -1.0, 3.0]})
            assert_valid(df, [r.unique("id"), r.between("total", 0, 100)], key="id")

        def test_clean(assert_valid):
            report = assert_valid(pl.DataFrame({"id": [1, 2]}), r.unique("id"))
            assert report.passed
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*data is not valid: 2 of 2 checks failed over 3 rows*",
            "*unique_id: 1 failing row (33.33%); e.g. id=2*",
            "*between_total: 1 failing row (33.33%); e.g. id=2*",
        ]
    )


def test_relationships_to_a_warehouse_table(shop, warehouse):
    tl.pipeline("refs", shop.source(resources=["customers"]), warehouse).run()
    known = warehouse.query("SELECT id FROM customers ORDER BY id")["id"]
    orders = pl.DataFrame({"id": [1, 2, 3, 4], "customer__id": [known[0], -5, None, known[-1]]})
    rule = r.relationships("customer__id", to="customers.id")
    report = tl.RuleSet([rule], key="id").validate(orders, warehouse=warehouse)
    assert report["relationships_customer__id"].failing == 1  # -5; null passes
    assert report["relationships_customer__id"].sample["id"].to_list() == [2]
    # The same table given as a frame instead of the warehouse.
    again = tl.RuleSet([rule]).validate(
        orders, references={"customers": warehouse.query("SELECT * FROM customers")}
    )
    assert again.results[0].failing == 1
    with pytest.raises(tl.RuleError, match="relationships_customer__id.*warehouse="):
        tl.RuleSet([rule]).validate(orders)
    with pytest.raises(tl.RuleError, match="relationships_customer__id.*cannot read 'nope.id'"):
        tl.RuleSet([r.relationships("customer__id", to="nope.id")]).validate(orders, warehouse=warehouse)


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_relationships_from_a_rules_file(tmp_path, suffix):
    customers = pl.DataFrame({"id": [10, 11, 12]})
    orders = pl.DataFrame({"id": [1, 2, 3, 4, 5], "customer_id": [10, 13, None, 12, 14]})
    path = tmp_path / f"rules{suffix}"
    if suffix == ".yaml":
        path.write_text(
            "key: id\nrules:\n  - relationships: customer_id\n    to: customers.id\n    tolerance: 1\n"
        )
    else:
        path.write_text(
            'key = "id"\n[[rules]]\nrelationships = "customer_id"\nto = "customers.id"\ntolerance = 1\n'
        )
    rules = tl.RuleSet.from_file(path)
    report = rules.validate(orders, references={"customers": customers})
    result = report["relationships_customer_id"]
    assert (result.failing, result.status) == (2, "failed")  # 13 and 14; tolerance 1
    assert result.sample["id"].to_list() == [2, 5]
    assert rules.to_dict() == (
        {"key": "id", "rules": [{"relationships": "customer_id", "to": "customers.id", "tolerance": 1}]}
    )
