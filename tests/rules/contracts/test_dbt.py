"""dbt's schema.yml: tests, contracts and source freshness read into rules
that count what dbt's SQL counts, checked against that SQL run in DuckDB
(the macros of dbt and dbt-utils, compiled by hand), written back, and
every item tillflow cannot check the same way named in an error."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
import yaml

import tillflow as tl
from tillflow import rules as r
from tillflow.exceptions import RuleError
from tillflow.rules import contracts

NOW = dt.datetime(2024, 3, 10, 12, 0)

# As dbt's docs write a properties file: tests on columns and on the model,
# arguments under `arguments:` (dbt 1.10.5+) and at the top level (before),
# configs, a custom name, the old `tests:` key, a contract, source freshness.
DOC = """\
version: 2

models:
  - name: orders
    description: One record per order
    columns:
      - name: order_id
        description: Primary key
        data_tests:
          - unique
          - not_null
          - not_null:
              name: order_id_present_when_kept
              config:
                where: "status <> 'returned'"
      - name: status
        data_tests:
          - accepted_values:
              arguments:
                values: ['placed', 'shipped', 'completed', 'returned']
          - dbt_utils.not_accepted_values:
              values: ['lost', 'cancelled']
      - name: customer_id
        data_tests:
          - relationships:
              arguments:
                to: ref('customers')
                field: id
          - not_null:
              config:
                severity: error
                error_if: ">5"
                warn_if: ">1"
      - name: amount
        data_tests:
          - dbt_utils.accepted_range:
              arguments:
                min_value: 0
                max_value: 1000
      - name: discount
        data_tests:
          - dbt_utils.accepted_range:
              arguments:
                min_value: 0
                inclusive: false
              config:
                severity: WARN
          - dbt_utils.expression_is_true:
              arguments:
                expression: ">= 0"
      - name: email
        data_tests:
          - dbt_utils.not_empty_string
          - dbt_utils.not_null_proportion:
              arguments:
                at_least: 0.8
      - name: note
        data_tests:
          - dbt_utils.not_empty_string:
              arguments:
                trim_whitespace: false
      - name: coupon
        data_tests:
          - dbt_utils.at_least_one
    data_tests:
      - dbt_utils.unique_combination_of_columns:
          arguments:
            combination_of_columns:
              - order_id
              - status
      - dbt_utils.expression_is_true:
          arguments:
            expression: "discount <= 10"
      - dbt_utils.recency:
          arguments:
            datepart: hour
            field: created_at
            interval: 12
      - dbt_utils.equal_rowcount:
          arguments:
            compare_model: ref('customers')
          config:
            severity: warn

  - name: customers
    config:
      contract:
        enforced: true
    columns:
      - name: id
        data_type: integer
        constraints:
          - type: primary_key
        data_tests:
          - unique
      - name: name
        data_type: varchar(100)
        constraints:
          - type: check
            expression: "length(name) > 1"

sources:
  - name: jaffle_shop
    config:
      freshness:
        warn_after: {count: 12, period: hour}
        error_after: {count: 24, period: hour}
      loaded_at_field: _etl_loaded_at
    tables:
      - name: raw_orders
        columns:
          - name: id
            tests:
              - unique
              - not_null
      - name: raw_customers
        config:
          freshness: null
"""

ORDERS = pl.DataFrame(
    {
        "order_id": [1, 2, 2, 3, None, None, 6, 6, 6, 10, 11, 12],
        "customer_id": [10, 11, 12, 99, None, 10, 77, 11, 11, 77, 13, None],
        "status": [
            "placed",
            "shipped",
            "shipped",
            "returned",
            None,
            None,
            "Placed",
            "completed",
            "completed",
            "🚚 shipped",
            "lost",
            "returned",
        ],
        "amount": [10.0, float("nan"), None, 250.5, -1.0, 0.0, 1000.0, 1000.01, 5.5, 20.0, 30.0, 40.0],
        "discount": [0, 5, None, -2, 3, 0, 1, 2, -7, 10, 0, 40],
        "email": [
            "ann@example.com",
            "zoë@bücher.example",
            None,
            "",
            "  ",
            "東京@例え.jp",
            "a@b.co",
            "\t",
            "c@d.co",
            "e@f.co",
            None,
            "x@y.z",
        ],
        "note": ["ok", "", "  ", "\t", None, "東京", " x ", "🍕", "ok", "ok", "ok", "ok"],
        "coupon": [None, None, None, "SPRING", None, None, None, None, None, None, None, None],
        "created_at": [dt.datetime(2024, 3, 9, h) for h in (10, 11, 12, 13)]
        + [None]
        + [dt.datetime(2024, 3, 8, 9)]
        + [dt.datetime(2024, 3, 9, h) for h in (14, 15, 16, 17, 18, 19)],
    }
)
CUSTOMERS = pl.DataFrame({"id": [10, 11, 12, 13], "name": ["Ann", "Zoë", "東京", "B"]})
RAW_ORDERS = pl.DataFrame(
    {"id": [1, 2, 2, None], "_etl_loaded_at": [NOW - dt.timedelta(hours=h) for h in (40, 30, 18, 20)]}
)


def dbt(query: str, **frames: pl.DataFrame) -> Any:
    """The first value of ``query`` run by DuckDB over ``frames``."""
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    return con.sql(query).fetchall()[0][0]


def failures(main_sql: str, **frames: pl.DataFrame) -> int:
    """dbt's failure count: ``count(*)`` over the test's query (get_test_sql)."""
    return int(dbt(f"select count(*) from ({main_sql}) dbt_internal_test", **frames))


def verdict(report: Any, *names: str) -> str:
    """A dbt test's outcome from the rules it became: error, warn or pass."""
    failed = [report[n] for n in names if report[n].status == "failed"]
    if any(c.severity == "error" for c in failed):
        return "error"
    return "warn" if failed else "pass"


def dbt_verdict(count: int, error_if: str = "!=0", warn_if: str = "!=0", severity: str = "error") -> str:
    """dbt's outcome for a failure count: error_if first unless the
    severity is warn, then warn_if (the conditions evaluated by DuckDB)."""
    should_warn, should_error = duckdb.sql(f"select {count} {warn_if}, {count} {error_if}").fetchall()[0]
    if severity.lower() == "error" and should_error:
        return "error"
    return "warn" if should_warn else "pass"


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tl.RuleSet]:
    path = tmp_path_factory.mktemp("dbt") / "schema.yml"
    path.write_text(DOC, encoding="utf-8")
    return contracts.read(path)


@pytest.fixture(scope="module")
def report(tables: dict[str, tl.RuleSet]) -> Any:
    return tables["orders"].validate(ORDERS, now=NOW, references={"customers": CUSTOMERS})


def test_the_file_becomes_these_rules(tables: dict[str, tl.RuleSet]) -> None:
    assert list(tables) == ["orders", "customers", "jaffle_shop.raw_orders", "jaffle_shop.raw_customers"]
    assert tables["orders"].rules == [
        r.unique("order_id", count="keys"),
        r.not_null("order_id"),
        r.not_null("order_id", name="order_id_present_when_kept", when="status <> 'returned'"),
        r.is_in("status", ["placed", "shipped", "completed", "returned"]),
        r.not_in("status", ["lost", "cancelled"]),
        r.relationships("customer_id", to="customers.id"),
        r.not_null("customer_id", tolerance=5),
        r.not_null("customer_id", tolerance=1, severity="warn", name="not_null_customer_id__warn"),
        r.between("amount", 0, 1000),
        r.between("discount", min=0, min_inclusive=False, severity="warn"),
        r.expression("discount >= 0", columns=["discount"]),
        r.not_matches("email", "^ *$"),
        r.not_null("email", tolerance="20%"),
        r.length_between("note", min=1),
        r.row_count(min=1, when="coupon IS NOT NULL"),
        r.unique("order_id", "status", count="keys", nulls="equal"),
        r.expression("discount <= 10"),
        r.freshness("created_at", "12h"),
        r.row_count_matches("customers", severity="warn"),
    ]
    assert tables["customers"].key == ("id",)
    assert tables["customers"].rules == [
        r.unique("id", count="keys"),  # the test; the primary key's unique repeats it
        r.not_null("id"),
        r.expression("length(name) > 1"),
        r.schema({"id": "int", "name": "string"}, strict=True),
    ]
    assert tables["jaffle_shop.raw_orders"].rules == [
        r.unique("id", count="keys"),
        r.not_null("id"),
        r.freshness("_etl_loaded_at", "24h"),
        r.freshness("_etl_loaded_at", "12h", severity="warn", name="freshness__etl_loaded_at__warn"),
    ]
    assert tables["jaffle_shop.raw_customers"].rules == []


# Each row test's failing count against the query its macro runs (where= as
# dbt's get_where_subquery wraps the model).
ROW_TESTS = [
    ("unique_order_id", "select order_id from orders where order_id is not null group by order_id "
     "having count(*) > 1", 2),
    ("not_null_order_id", "select * from orders where order_id is null", 2),
    ("order_id_present_when_kept", "select * from (select * from orders where status <> 'returned') "
     "dbt_subquery where order_id is null", 0),
    ("relationships_customer_id", "select from_field from (select customer_id as from_field from orders "
     "where customer_id is not null) child left join (select id as to_field from customers) parent "
     "on child.from_field = parent.to_field where parent.to_field is null", 3),
    ("not_null_customer_id", "select * from orders where customer_id is null", 2),
    ("between_amount", "select * from orders where 1 = 2 or not amount >= 0 or not amount <= 1000", 3),
    ("between_discount", "select * from orders where 1 = 2 or not discount > 0", 5),
    ("expression_discount_0", "select 1 from orders where not (discount >= 0)", 2),
    ("not_matches_email", "select * from (select trim(email) as email from orders) where email = ''", 2),
    ("length_between_note", "select * from (select note from orders) where note = ''", 1),
    ("unique_order_id_status", "select order_id, status from orders group by order_id, status "
     "having count(*) > 1", 3),
    ("expression_discount_10", "select 1 from orders where not (discount <= 10)", 1),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "query", "count"), ROW_TESTS, ids=[t[0] for t in ROW_TESTS])
def test_row_tests_count_what_dbt_counts(report: Any, rule: str, query: str, count: int) -> None:
    assert failures(query, orders=ORDERS, customers=CUSTOMERS) == count
    assert report[rule].failing == count


def test_unique_combination_counts_null_keys_as_sql_groups_them(report: Any) -> None:
    # (null, null) twice is a repeated group in SQL; tillflow's default skips keys with a null.
    skipped = tl.RuleSet([r.unique("order_id", "status", count="keys")]).validate(ORDERS)
    assert skipped.results[0].failing == 2
    assert report["unique_order_id_status"].failing == 3


def test_accepted_values_fail_as_dbt_does_though_dbt_counts_distinct_values(report: Any) -> None:
    query = (
        "select value_field, count(*) as n_records from (select status as value_field from orders) "
        "group by value_field having value_field not in ('placed', 'shipped', 'completed', 'returned')"
    )
    assert failures(query, orders=ORDERS) == 3  # 'Placed', '🚚 shipped', 'lost': nulls pass
    assert report["is_in_status"].status == "failed"
    assert report["is_in_status"].failing == 3  # rows; here one row each
    bad = "select distinct status as value_field from orders where status in ('lost', 'cancelled')"
    assert failures(bad, orders=ORDERS) == 1
    assert report["not_in_status"].failing == 1


def test_thresholds_end_where_dbt_ends(report: Any) -> None:
    nulls = failures("select * from orders where customer_id is null", orders=ORDERS)
    assert nulls == 2
    assert dbt_verdict(nulls, error_if=">5", warn_if=">1") == "warn"
    assert verdict(report, "not_null_customer_id", "not_null_customer_id__warn") == "warn"
    bad = failures("select * from orders where not discount > 0", orders=ORDERS)
    assert dbt_verdict(bad, severity="WARN") == "warn"
    assert verdict(report, "between_discount") == "warn"


@pytest.mark.parametrize("nulls", [1, 2, 3, 6, 7])
def test_a_warn_and_an_error_threshold_become_two_rules(nulls: int) -> None:
    doc = yaml.safe_load(
        "models: [{name: t, columns: [{name: x, data_tests: [{not_null: {config: "
        "{error_if: '>5', warn_if: '>=3'}}}]}]}]"
    )
    rules = contracts.from_dbt(doc)["t"]
    frame = pl.DataFrame({"x": [None] * nulls + [1] * 4}, schema={"x": pl.Int64})
    got = verdict(rules.validate(frame), "not_null_x", "not_null_x__warn")
    assert got == dbt_verdict(nulls, error_if=">5", warn_if=">=3")


@pytest.mark.parametrize("nulls", [1, 2, 5])
def test_limit_caps_the_count_dbt_compares(nulls: int) -> None:
    # limit 2 caps the count at 2, so error_if '>2' can never be met: every failure only warns.
    doc = model({"not_null": {"config": {"limit": 2, "error_if": ">2"}}})
    rules = contracts.from_dbt(doc)["t"]
    assert rules.rules == [r.not_null("c", severity="warn")]
    frame = pl.DataFrame({"c": [None] * nulls + [1]}, schema={"c": pl.Int64})
    count = failures("select * from t where c is null limit 2", t=frame)
    assert verdict(rules.validate(frame), "not_null_c") == dbt_verdict(count, error_if=">2") == "warn"


def test_where_filters_the_rows_before_a_test_counts() -> None:
    doc = {"models": [{
        "name": "t",
        "columns": [{"name": "order_id", "data_tests": [
            {"unique": {"config": {"where": "status <> 'shipped'"}}},
            {"dbt_utils.relationships_where": {"arguments": {
                "to": "ref('customers')", "field": "id", "from_condition": "status <> 'returned'"}}},
        ]}],
        "data_tests": [
            {"unique": {"name": "late_ids", "column_name": "order_id", "config": {"where": "k > 2"}}}],
    }]}  # fmt: skip
    rules = contracts.from_dbt(doc)["t"]
    assert rules.rules == [
        r.unique("order_id", count="keys", when="status <> 'shipped'"),
        r.relationships("order_id", to="customers.id", when="status <> 'returned'"),
        r.unique("order_id", count="keys", when="k > 2", name="late_ids"),
    ]
    frame = ORDERS.with_row_index("k")
    parents = CUSTOMERS.with_columns(id=pl.col("id") - 9)  # 1 to 4
    got = rules.validate(frame, references={"customers": parents})
    kept = "select order_id from (select * from t where status <> 'shipped') dbt_subquery "
    assert failures(kept + "where order_id is not null group by order_id having count(*) > 1", t=frame) == 1
    assert got["unique_order_id"].failing == 1  # 6 repeats; 2 repeats only among the 'shipped'
    orphans = (
        "select * from (select order_id as id from t where order_id is not null and status <> 'returned') a "
        "left join (select id from c where id is not null) b on a.id = b.id where b.id is null"
    )
    assert failures(orphans, t=frame, c=parents) == got["relationships_order_id"].failing == 5
    late = "select order_id from t where k > 2 and order_id is not null group by order_id having count(*) > 1"
    assert failures(late, t=frame) == got["late_ids"].failing == 1


def test_seeds_and_snapshots_are_tables_too() -> None:
    doc = {
        "seeds": [{"name": "country_codes", "columns": [{"name": "code", "data_tests": ["unique"]}]}],
        "snapshots": [{"name": "orders_snapshot", "data_tests": [{"dbt_utils.expression_is_true": {
            "arguments": {"expression": "dbt_valid_from < dbt_valid_to"}}}]}],
    }  # fmt: skip
    assert contracts.from_dbt(doc) == {
        "country_codes": tl.RuleSet([r.unique("code", count="keys")]),
        "orders_snapshot": tl.RuleSet([r.expression("dbt_valid_from < dbt_valid_to")]),
    }


def test_whole_table_tests_pass_and_fail_as_dbt_does(report: Any) -> None:
    at_least_one = (
        "select count(coupon) from (select coupon from orders where coupon is not null limit 1) "
        "having count(coupon) = 0"
    )
    assert failures(at_least_one, orders=ORDERS) == 0
    assert report["row_count"].status == "passed"
    recency = (
        "select most_recent from (select max(created_at) as most_recent from orders) "
        f"where most_recent < timestamp '{NOW}' - interval 12 hour or most_recent is null"
    )
    assert failures(recency, orders=ORDERS) == 1  # newest 19:00, at 12:00 the next day
    assert report["freshness_created_at"].status == "failed"
    proportion = (
        "select * from (select sum(case when email is null then 0 else 1 end) / "
        "cast(count(*) as numeric) as p from orders) where p < 0.8 or p > 1"
    )
    assert failures(proportion, orders=ORDERS) == 0  # 10 of 12
    assert report["not_null_email"].status == "passed"
    rowcount = "select abs((select count(*) from orders) - (select count(*) from customers))"
    assert dbt(rowcount, orders=ORDERS, customers=CUSTOMERS) == 8
    assert report["row_count_matches"].status == "failed"
    assert report["row_count_matches"].severity == "warn"


def test_at_least_one_fails_on_a_column_without_values() -> None:
    rules = contracts.from_dbt(model("dbt_utils.at_least_one"))
    frame = pl.DataFrame({"c": [None, None, float("nan")]})
    sql = "select count(c) from (select c from t where c is not null limit 1) having count(c) = 0"
    assert failures(sql, t=frame) == 0  # NaN is a value to SQL
    assert rules["t"].validate(frame).results[0].status == "passed"
    empty = frame.filter(pl.col("c").is_null())
    assert failures(sql, t=empty) == 1
    assert rules["t"].validate(empty).results[0].status == "failed"


def test_not_null_proportion_is_a_share_of_all_rows() -> None:
    rules = contracts.from_dbt(
        model(
            {"dbt_utils.not_null_proportion": {"arguments": {"at_least": 0.6}, "config": {"where": "k < 5"}}}
        )
    )
    frame = pl.DataFrame({"c": [1, None, 3, 4, None, None], "k": [1, 2, 3, 4, 5, 6]})
    sql = (
        "select * from (select sum(case when c is null then 0 else 1 end) / cast(count(*) as numeric) p "
        "from (select * from t where k < 5) dbt_subquery) where p < 0.6"
    )
    assert failures(sql, t=frame) == 0  # 3 of the 4 rows with k < 5
    assert rules["t"].validate(frame).results[0].status == "passed"
    frame = frame.with_columns(pl.when(pl.col("k") == 3).then(None).otherwise(pl.col("c")).alias("c"))
    assert failures(sql, t=frame) == 1  # 2 of 4: the share is of the rows where= keeps (2 of 6 would pass)
    assert rules["t"].validate(frame).results[0].status == "failed"


def test_the_contract_and_its_constraints(tables: dict[str, tl.RuleSet]) -> None:
    got = tables["customers"].validate(CUSTOMERS)
    assert [c.rule for c in got.results if c.status == "failed"] == ["expression_length_name_1"]
    short = dbt("select count(*) from c where not (length(name) > 1)", c=CUSTOMERS)
    assert got["expression_length_name_1"].failing == short == 1
    wrong = CUSTOMERS.with_columns(pl.col("id").cast(pl.Float64))
    assert tables["customers"].validate(wrong)["schema"].status == "failed"
    extra = CUSTOMERS.with_columns(pl.lit(1).alias("extra"))  # a contract lists every column
    assert tables["customers"].validate(extra)["schema"].status == "failed"


def test_source_freshness_warns_between_its_two_ages(tables: dict[str, tl.RuleSet]) -> None:
    got = tables["jaffle_shop.raw_orders"].validate(RAW_ORDERS, now=NOW)
    age = dbt(f"select extract(epoch from (timestamp '{NOW}' - max(_etl_loaded_at))) from t", t=RAW_ORDERS)
    assert age == 18 * 3600  # more than warn_after's 12 hours, less than error_after's 24
    assert verdict(got, "freshness__etl_loaded_at", "freshness__etl_loaded_at__warn") == "warn"
    assert got["unique_id"].failing == 1
    assert got["not_null_id"].failing == 1


def test_nan_is_where_warehouse_sql_and_tillflow_differ() -> None:
    # dbt's not_null runs `is null`, which NaN is not; tillflow counts NaN missing. Documented in
    # tillflow.rules.contracts._dbt; the two agree on every column without NaN.
    rules = contracts.from_dbt(model("not_null"))
    frame = ORDERS.select(pl.col("amount").alias("c"))
    assert failures("select * from t where c is null", t=frame) == 1
    assert rules["t"].validate(frame).results[0].failing == 2


# -- writing


def every_kind() -> dict[str, tl.RuleSet]:
    """A rule of every kind dbt can hold, in the order a file read back lists them."""
    return {
        "orders": tl.RuleSet(
            [
                r.unique("order_id", count="keys"),
                r.not_null("order_id", when="status <> 'returned'", name="order_id_present"),
                r.is_in("status", ["placed", "shipped"]),
                r.not_in("status", ["lost"], severity="warn"),
                r.is_in("status_id", [1, 2, decimal.Decimal("2.5")]),
                r.relationships("customer_id", to="customers.id", when="amount > 0"),
                r.not_null("customer_id", tolerance=5),
                r.not_null("customer_id", tolerance=1, severity="warn", name="not_null_customer_id__warn"),
                r.unique("email", count="keys", tolerance=3, severity="warn"),
                r.not_matches("email", "^ *$"),
                r.not_null("email", tolerance="20%"),
                r.between("amount", 0, decimal.Decimal("1000.50")),
                r.between("discount", min=0, max=10, min_inclusive=False, max_inclusive=False),
                r.expression("discount >= 0", columns=["discount"]),
                r.between("created_at", min="2024-01-01", name="recent_enough"),
                r.length_between("note", min=1),
                r.row_count(min=1, when="coupon IS NOT NULL"),
                r.row_count(min=1, when="(status = 'placed') AND (coupon IS NOT NULL)", name="placed_coupon"),
                r.unique("order_id", "status", count="keys", nulls="equal"),
                r.expression("discount <= amount", tolerance=2),
                r.freshness("created_at", "90m"),
                r.row_count_matches("shop.orders"),
            ]
        ),
        "customers": tl.RuleSet([r.not_null("id"), r.schema({"id": "int", "name": "string"}, strict=True)]),
        "shop.orders": tl.RuleSet(
            [
                r.not_null("Order ID"),
                r.freshness("loaded_at", "2d"),
                r.freshness("loaded_at", "6h", severity="warn", name="freshness_loaded_at__warn"),
            ]
        ),
    }


def test_rules_written_and_read_back_are_the_same() -> None:
    tables = every_kind()
    back = contracts.from_dbt(contracts.to_dbt(tables))
    assert list(back) == list(tables)
    for name, rules in tables.items():
        assert back[name].rules == rules.rules


CANONICAL: dict[str, Any] = {
    "version": 2,
    "models": [
        {
            "name": "orders",
            "columns": [
                {"name": "order_id", "data_tests": ["unique", "not_null"]},
                {"name": "status", "data_tests": [
                    {"accepted_values": {"arguments": {"values": ["placed", "shipped", "completed"]}}},
                    {"dbt_utils.not_accepted_values": {"arguments": {"values": ["lost"]},
                                                       "config": {"severity": "warn"}}},
                ]},
                {"name": "status_id", "data_tests": [
                    {"accepted_values": {"arguments": {"values": [1, 2, 3], "quote": False}}}]},
                {"name": "customer_id", "data_tests": [
                    {"relationships": {"arguments": {"to": "ref('customers')", "field": "id"},
                                       "config": {"where": "status <> 'returned'"}}},
                    {"not_null": {"name": "customer_known", "config": {"error_if": ">10", "warn_if": ">2"}}},
                ]},
                {"name": "amount", "data_tests": [
                    {"dbt_utils.accepted_range": {"arguments": {"min_value": 0, "max_value": 1000}}}]},
                {"name": "discount", "data_tests": [
                    {"dbt_utils.accepted_range": {"arguments": {"min_value": 0, "inclusive": False}}},
                    {"dbt_utils.expression_is_true": {"arguments": {"expression": ">= -10"}}},
                ]},
                {"name": "email", "data_tests": [
                    "dbt_utils.not_empty_string",
                    {"dbt_utils.not_null_proportion": {"arguments": {"at_least": 0.95}}},
                    {"unique": {"config": {"severity": "warn", "warn_if": ">3"}}},
                ]},
                {"name": "note", "data_tests": [
                    {"dbt_utils.not_empty_string": {"arguments": {"trim_whitespace": False}}}]},
                {"name": "coupon", "data_tests": ["dbt_utils.at_least_one"]},
            ],
            "data_tests": [
                {"dbt_utils.unique_combination_of_columns": {
                    "arguments": {"combination_of_columns": ["order_id", "status"]}}},
                {"dbt_utils.expression_is_true": {"arguments": {"expression": "discount <= amount"},
                                                  "config": {"error_if": ">2", "warn_if": ">2"}}},
                {"dbt_utils.recency": {"arguments": {"field": "created_at", "datepart": "day",
                                                     "interval": 1}}},
                {"dbt_utils.equal_rowcount": {"arguments": {"compare_model": "source('shop', 'orders')"}}},
            ],
        },
        {
            "name": "customers",
            "config": {"contract": {"enforced": True}},
            "columns": [
                {"name": "id", "data_type": "integer", "data_tests": ["unique", "not_null"]},
                {"name": "name", "data_type": "text"},
                {"name": "joined", "data_type": "date"},
            ],
        },
    ],
    "sources": [
        {
            "name": "shop",
            "tables": [
                {
                    "name": "orders",
                    "config": {
                        "freshness": {"warn_after": {"count": 12, "period": "hour"},
                                      "error_after": {"count": 1, "period": "day"}},
                        "loaded_at_field": "_loaded_at",
                    },
                    "columns": [{"name": "Order ID", "quote": True, "data_tests": ["not_null"]}],
                }
            ],
        }
    ],
}  # fmt: skip


def test_a_canonical_file_read_and_written_is_the_same() -> None:
    assert contracts.to_dbt(contracts.from_dbt(CANONICAL)) == CANONICAL


def test_written_to_a_file_and_read_back(tmp_path: Path) -> None:
    tables = every_kind()
    path = contracts.write(tables, tmp_path / "schema.yml", format="dbt")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("version: 2\nmodels:\n")
    assert "data_tests:" in text and "arguments:" in text and "\ntests:" not in text
    back = contracts.read(path)
    assert {name: rules.rules for name, rules in back.items()} == {n: s.rules for n, s in tables.items()}


def test_the_written_file_tests_what_the_rules_test() -> None:
    rules = tl.RuleSet([r.between("amount", 0, 1000, tolerance=2), r.unique("order_id", count="keys")])
    doc = contracts.to_dbt({"orders": rules})
    test = {"arguments": {"min_value": 0, "max_value": 1000}, "config": {"error_if": ">2", "warn_if": ">2"}}
    assert doc["models"][0]["columns"] == [
        {"name": "amount", "data_tests": [{"dbt_utils.accepted_range": test}]},
        {"name": "order_id", "data_tests": ["unique"]},
    ]
    count = failures("select * from orders where not amount >= 0 or not amount <= 1000", orders=ORDERS)
    assert dbt_verdict(count, error_if=">2", warn_if=">2") == "error"
    assert verdict(rules.validate(ORDERS), "between_amount") == "error"


WRITE_ERRORS = [
    (r.compare("a", "<", "b"), "rule compare_a_lt_b: compare: no dbt generic test"),
    (r.matches("email", "@"), "rule matches_email: matches: no dbt generic test"),
    (r.not_empty("email"), "rule not_empty_email: not_empty trims all whitespace"),
    (r.unique("id", count="all"), "rule unique_id: count: dbt counts repeated values"),
    (r.unique("a", "b"), "rule unique_a_b: dbt_utils.unique_combination_of_columns repeats a key"),
    (r.unique("id", tolerance="1%"), "rule unique_id: tolerance: dbt counts failures; a share"),
    (r.is_in("status", ["a"], tolerance=2), "rule is_in_status: tolerance: accepted_values counts distinct"),
    (r.is_in("status", ["a", 1]), "rule is_in_status: values: dbt quotes all values or none"),
    (r.between("x", 0, 1, min_inclusive=False), "rule between_x: accepted_range has one 'inclusive'"),
    (r.relationships("a", to=pl.DataFrame({"a": [1]})), "rule relationships_a: to: a frame"),
    (r.expression(pl.col("a") > 0, name="positive"), "rule positive: expression: a Polars expression"),
    (r.not_null("a", when=pl.col("b") > 0), "rule not_null_a: when: a Polars expression"),
    (r.row_count(min=5), "rule row_count: row_count: no dbt generic test"),
    (r.row_count(min=1, by="day"), "rule row_count: by: dbt's tests have no groups"),
    (r.schema({"a": "int"}), "rule schema: schema: a dbt contract is strict"),
    (r.schema({"a": "number"}, strict=True), "rule schema: columns.a: number is no single warehouse type"),
    (r.freshness("t", "90s"), None),  # recency counts seconds: written
    (r.freshness("t", 1.5), "rule freshness_t: max_age: dbt_utils.recency counts whole seconds"),
    (r.row_count_matches("x", within=0.01), "rule row_count_matches: dbt_utils.equal_rowcount compares"),
]


@pytest.mark.parametrize(("rule", "message"), WRITE_ERRORS, ids=[str(i) for i in range(len(WRITE_ERRORS))])
def test_a_rule_without_a_dbt_test_is_an_error_naming_it(rule: r.Rule, message: str | None) -> None:
    if message is None:
        contracts.to_dbt({"t": tl.RuleSet([rule])})
        return
    with pytest.raises(RuleError, match=re.escape(message)):
        contracts.to_dbt({"t": tl.RuleSet([rule])})


def test_several_columns_not_null_is_a_test_on_each() -> None:
    doc = contracts.to_dbt({"t": tl.RuleSet([r.not_null("a", "b", name="present", severity="warn")])})
    test = {"not_null": {"config": {"severity": "warn"}}}
    assert doc["models"][0]["columns"] == [
        {"name": "a", "data_tests": [{"not_null": {"name": "present[a]", **test["not_null"]}}]},
        {"name": "b", "data_tests": [{"not_null": {"name": "present[b]", **test["not_null"]}}]},
    ]


def test_a_contract_types_every_column() -> None:
    rules = tl.RuleSet([r.not_null("other"), r.schema({"id": "int"}, strict=True)])
    with pytest.raises(RuleError, match="column other is not in the schema rule"):
        contracts.to_dbt({"t": rules})


# -- what tillflow does not read, each named


def model(*tests: Any, column: bool = True, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"name": "t", **extra}
    if column:
        node["columns"] = [{"name": "c", "data_tests": list(tests)}]
    else:
        node["data_tests"] = list(tests)
    return {"version": 2, "models": [node]}


UNSUPPORTED = [
    (model("dbt_expectations.expect_column_values_to_be_unique"),
     "test dbt_expectations.expect_column_values_to_be_unique: not supported"),
    (model("primary_key"), "test primary_key: not supported"),
    (model({"dbt_utils.sequential_values": {"arguments": {"interval": 1}}}),
     "test dbt_utils.sequential_values: not supported by tillflow; it fails every row"),
    (model("dbt_utils.not_constant"), "test dbt_utils.not_constant: not supported"),
    (model({"dbt_utils.equality": {"arguments": {"compare_model": "ref('x')"}}}, column=False),
     "test dbt_utils.equality: not supported"),
    (model({"dbt_utils.fewer_rows_than": {"arguments": {"compare_model": "ref('x')"}}}, column=False),
     "test dbt_utils.fewer_rows_than: not supported"),
    (model({"accepted_values": {"arguments": {"values": ["a"]}, "config": {"error_if": ">2"}}}),
     "accepted_values with error_if/warn_if: not supported by tillflow; it counts distinct values"),
    (model({"dbt_utils.not_accepted_values": {"arguments": {"values": ["a"]},
                                              "config": {"severity": "warn", "warn_if": ">=2"}}}),
     "dbt_utils.not_accepted_values with error_if/warn_if: not supported"),
    (model({"accepted_values": {"arguments": {"values": ["upper('a')"], "quote": False}}}),
     "value \"upper('a')\": not supported"),
    (model({"not_null": {"config": {"error_if": "=0"}}}), "error_if '=0': not supported"),
    (model({"not_null": {"config": {"warn_if": "between 1 and 5", "severity": "warn"}}}),
     "warn_if 'between 1 and 5': not supported"),
    (model({"not_null": {"config": {"fail_calc": "sum(n)"}}}), "fail_calc 'sum(n)': not supported"),
    (model({"not_null": {"config": {"sql_header": "set x = 1"}}}), "sql_header: not supported"),
    (model({"not_null": {"config": {"limit": 3, "error_if": ">5", "warn_if": ">5"}}}),
     "test not_null: not supported by tillflow; its error_if, warn_if and limit"),
    (model({"not_null": {"config": {"where": "{{ var('since') }} < day"}}}), "where \"{{ var('since') }}"),
    (model({"not_null": {"config": {"enabled": "{{ target.name == 'prod' }}"}}}), "enabled \"{{ target.name"),
    (model({"relationships": {"arguments": {"to": "source('shop', 'customers')", "field": "id"}}}),
     "to \"source('shop', 'customers')\": not supported"),
    (model({"relationships": {"arguments": {"to": "ref('pkg', 'customers')", "field": "id"}}}),
     "to \"ref('pkg', 'customers')\": not supported"),
    (model({"unique": {"column_name": "a || '-' || b"}}, column=False),
     "column_name \"a || '-' || b\": not supported"),
    (model({"dbt_utils.accepted_range": {"arguments": {"min_value": "current_date"}}}),
     "min_value 'current_date': not supported"),
    (model({"dbt_utils.recency": {"arguments": {"field": "d", "datepart": "month", "interval": 1}}},
           column=False), "datepart 'month': not supported"),
    (model({"dbt_utils.recency": {"arguments": {"field": "d", "datepart": "day", "interval": 1},
                                  "config": {"where": "k > 1"}}}, column=False),
     "dbt_utils.recency where: not supported"),
    (model({"dbt_utils.at_least_one": {"arguments": {"group_by_columns": ["g"]}}}),
     "dbt_utils.at_least_one group_by_columns: not supported"),
    (model({"dbt_utils.not_null_proportion": {"arguments": {"at_least": 0.5, "at_most": 0.9}}}),
     "not_null_proportion at_most: not supported"),
    (model({"dbt_utils.equal_rowcount": {"arguments": {"compare_model": "ref('x')"},
                                         "config": {"error_if": ">3"}}}, column=False),
     "dbt_utils.equal_rowcount with error_if/warn_if: not supported"),
    (model({"dbt_utils.relationships_where": {"arguments": {"to": "ref('x')", "field": "id",
                                                            "to_condition": "active"}}}),
     "relationships_where to_condition: not supported"),
    ({"models": [{"name": "t", "versions": [{"v": 2}]}]}, "model versions: not supported"),
    ({"models": [{"name": "t", "config": {"contract": {"enforced": True}},
                  "columns": [{"name": "c", "data_type": "variant"}]}]},
     "data_type 'variant': not supported"),
    ({"models": [{"name": "t", "config": {"contract": {"enforced": True}},
                  "columns": [{"name": "c", "data_type": "int", "constraints": [{"type": "custom",
                                                                                  "expression": "x"}]}]}]},
     "custom constraint: not supported"),
    ({"models": [{"name": "t", "config": {"contract": {"enforced": True}},
                  "columns": [{"name": "c", "data_type": "int", "constraints": [
                      {"type": "foreign_key", "expression": "other.t (id)"}]}]}]},
     "foreign_key: not supported"),
    ({"sources": [{"name": "s", "freshness": {"error_after": {"count": 1, "period": "day"}},
                   "tables": [{"name": "t"}]}]}, "freshness without loaded_at_field: not supported"),
    ({"sources": [{"name": "s", "loaded_at_field": "convert_timezone('UTC', ts)",
                   "freshness": {"error_after": {"count": 1, "period": "day"}}, "tables": [{"name": "t"}]}]},
     "loaded_at_field \"convert_timezone('UTC', ts)\": not supported"),
    ({"sources": [{"name": "s", "loaded_at_field": "ts", "tables": [{"name": "t", "config": {
        "freshness": {"error_after": {"count": 1, "period": "day"}, "filter": "ts > '2024-01-01'"}}}]}]},
     "freshness filter: not supported"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "message"), UNSUPPORTED, ids=[str(i) for i in range(len(UNSUPPORTED))])
def test_every_unsupported_item_is_named(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        contracts.from_dbt(doc)


INVALID = [
    (model("not_null", **{"tests": ["unique"]}, column=False), "both tests and data_tests are given"),
    ({"models": [{"name": "t", "columns": [{"name": "c", "tests": ["unique"], "data_tests": ["not_null"]}]}]},
     "models[0].columns[0].tests: both tests and data_tests are given"),
    (model({"accepted_values": {"arguments": {"values": ["a"]}, "value": ["b"]}}),
     "value: unknown argument of accepted_values"),
    (model({"accepted_values": {"config": {"severity": "fatal"}, "arguments": {"values": ["a"]}}}),
     "severity: expected warn or error"),
    (model({"not_null": {"config": {"colour": "red"}}}), "colour: unknown test config"),
    (model({"not_null": {"severity": "warn", "config": {"severity": "error"}}}), "severity is given twice"),
    (model("relationships"), "relationships needs the argument to"),
    (model("not_null", column=False), "not_null tests a column"),
    (model({"dbt_utils.recency": {"arguments": {"field": "d", "datepart": "day", "interval": 1}}}),
     "dbt_utils.recency tests the model"),
    ({"version": 1, "models": []}, "version: expected 2"),
    ({"models": [{"name": "t", "colour": "red"}]}, "models[0].colour: unknown property of a model"),
    ({"models": [{"name": "t"}, {"name": "t"}]}, "'t' is listed twice"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "message"), INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_malformed_items_are_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        contracts.from_dbt(doc)


def test_configs_that_describe_are_passed_over_and_disabled_tests_make_no_rule() -> None:
    doc = model(
        {"unique": {"description": "ids repeat nowhere", "config": {
            "tags": ["nightly"], "meta": {"owner": "ann"}, "store_failures": True,
            "store_failures_as": "view", "alias": "uid", "schema": "audit", "database": "dq", "limit": 100}}},
        {"not_null": {"config": {"enabled": False}}},
        {"dbt_expectations.expect_column_values_to_be_unique": {"config": {"enabled": False}}},
        description="all orders", meta={"team": "ops"}, tags=["core"],
    )  # fmt: skip
    assert contracts.from_dbt(doc)["t"].rules == [r.unique("c", count="keys")]
    assert contracts.from_dbt(model("unique", config={"enabled": False})) == {}


def test_old_forms_read_as_the_new() -> None:
    old = model({"accepted_values": {"values": ["a", "b"], "severity": "warn", "where": "k > 1"}})
    config = {"severity": "warn", "where": "k > 1"}
    multi = model({"name": "known_c", "test_name": "accepted_values", "values": ["a", "b"], "config": config})
    new = model({"accepted_values": {"arguments": {"values": ["a", "b"]}, "config": config}})
    want = r.is_in("c", ["a", "b"], severity="warn", when="k > 1")
    assert contracts.from_dbt(old)["t"].rules == [want]
    assert contracts.from_dbt(new)["t"].rules == [want]
    assert contracts.from_dbt(multi)["t"].rules == [want.with_options(name="known_c")]


def test_a_file_error_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "schema.yml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 2
            models:
              - name: orders
                columns:
                  - name: id
                    data_tests:
                      - unique
                      - dbt_utils.sequential_values:
                          arguments:
                            interval: 1
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as caught:
        contracts.read(path)
    assert str(caught.value).startswith(f"{path}:8: dbt contract models[0].columns[0].data_tests[1]: ")
    assert "dbt_utils.sequential_values" in str(caught.value)
    path.write_text(DOC.replace("severity: WARN", "severity: sometimes"), encoding="utf-8")
    line = DOC.splitlines().index("                severity: WARN") + 1
    with pytest.raises(RuleError, match=re.escape(f"{path}:{line}: ")):
        contracts.read(path)


def test_detected_among_the_formats() -> None:
    assert contracts.detect(yaml.safe_load(DOC)) == "dbt"
    assert contracts.detect({"models": [{"name": "t"}]}) == "dbt"  # dbt 1.5+ needs no version
