"""SodaCL checks files: each check read into rules that count what Soda Core
counts, checked against the SQL Soda runs (written out here and run in
DuckDB) and the arithmetic it does after (percentages rounded to two
decimals, thresholds compared as floats); files written back; and every
check tillflow cannot hold the same way named in an error."""

from __future__ import annotations

import datetime as dt
import math
import re
import textwrap
from collections.abc import Callable
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
NAN = math.nan

ORDERS = pl.DataFrame(
    {
        "id": [1, 2, 2, 3, None, 5, 6, 6, 6, 9, 10, 11],
        "email": [
            "ann@example.com",
            "zoë@bücher.example",
            None,
            "bob@example.com",
            "N/A",
            "",
            "東京@例え.jp",
            None,
            "x@y.z",
            "n/a",
            "a@b.co",
            "NA",
        ],
        "status": [
            "paid",
            "paid",
            "refunded",
            None,
            "void",
            "paid",
            "PAID",
            "paid",
            "open",
            "open",
            "paid",
            "paid",
        ],
        "amount": [10.0, NAN, None, 250.5, -1.0, 0.0, 1000.0, 1000.01, 5.5, 20.0, 30.0, 40.0],
        "quantity": [1, 2, 3, None, 5, 0, 7, 8, 9, 10, 11, 12],
        "code": [
            "123e4567-e89b-12d3-a456-426614174000",
            "123E4567-E89B-12D3-A456-426614174000",
            None,
            "not-a-uuid",
            "123e4567e89b12d3a456426614174000",
            "00000000-0000-0000-0000-000000000000",
            "123e4567-e89b-12d3-a456-42661417400g",
            " 123e4567-e89b-12d3-a456-426614174000",
            "123e4567-e89b-12d3-a456-426614174000\n",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "123e4567-e89b-12d3-a456-4266141740000",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        ],
        "name": ["Ann", "Zoë", "Zoe\u0308", "東京", "🍕🍕", None, "", "Alexander", "Bo", "Al ", "Eve", "Ü"],
        "customer_id": [1, 2, 3, 99, None, 1, 2, 77, 3, 3, 1, 2],
        "shop": ["a", "a", "b", None, "b", "c", None, "a", "a", "b", "b", "a"],
        "sku": [1, 2, 1, 2, None, 1, None, 9, 1, None, 2, 1],
        "created_at": [dt.datetime(2024, 3, 9, h) for h in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13)],
    }
)
CUSTOMERS = pl.DataFrame({"id": [1, 2, 3, None]})
SKUS = pl.DataFrame({"shop_id": ["a", "a", "b", "b", "c"], "sku_id": [1, 2, 1, 2, 1]})
REFERENCES = {"customers": CUSTOMERS, "skus": SKUS, "orders_raw": ORDERS.head(11)}

# As Soda's docs write a checks file, in the form tillflow writes it back.
DOC = """\
checks for orders:
  - row_count > 0
  - row_count between 10 and 15
  - missing_count(email) = 0
  - missing_count(status) < 5
  - missing_percent(quantity) < 10%
  - missing_count(email) < 5:
      name: email given
      missing values: [N/A, n/a, NA, '']
  - missing_count(status) = 0:
      name: status present
      missing regex: ^(?:NA|N/A)$
  - invalid_count(status) = 0:
      valid values: [paid, refunded, void, open]
  - invalid_count(status) < 3:
      invalid values: [void, PAID]
  - invalid_percent(amount) <= 20%:
      valid min: 0
      valid max: 1000
  - invalid_count(name) = 0:
      valid min length: 1
      valid max length: 3
  - invalid_count(code) < 4:
      valid format: uuid
  - invalid_count(email) = 0:
      valid regex: ^[^@]+@[^@]+$
  - invalid_count(email) < 4:
      invalid regex: example
  - duplicate_count(id) = 0
  - duplicate_percent(shop, sku) < 20%
  - min(quantity) >= 0
  - max(quantity) < 12
  - avg(quantity) between 5 and 10
  - sum(quantity) <= 50
  - stddev(quantity) > 1
  - freshness(created_at) < 1d
  - values in (customer_id) must exist in customers (id)
  - values in (shop, sku) must exist in skus (shop_id, sku_id)
  - row_count same as orders_raw
  - failed rows:
      name: no negative amounts
      fail condition: amount < 0
  - schema:
      fail:
        when wrong column type:
          id: int
          email: string
  - duplicate_count(customer_id):
      warn: when > 0
      fail: when > 3
"""


def sql(query: str, **frames: pl.DataFrame) -> Any:
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    return con.sql(query).fetchall()[0][0]


def soda_percent(count: int, rows: int) -> float:
    """Soda Core's derived percentage: computed in Python, rounded to two decimals."""
    return float(round(count * 100 / rows, 2)) if rows else 0.0


def results(tables: dict[str, tl.RuleSet], frame: pl.DataFrame = ORDERS) -> dict[str, Any]:
    report = tables["orders"].validate(frame, now=NOW, references=REFERENCES)
    return {res.rule: res for res in report.results}


ROWS = 12
# rule name -> (Soda's SQL for its metric, the value, whether Soda passes it); for a row rule
# tillflow's failing rows equal the counted value (for a percentage: the count before dividing).
CASES: dict[str, tuple[str, Any, Callable[[Any], bool]]] = {
    "row_count": ("SELECT count(*) FROM t", 12, lambda v: v > 0),
    "row_count between 10 and 15": ("SELECT count(*) FROM t", 12, lambda v: 10 <= v <= 15),
    "not_null_email": ("SELECT count(*) FROM t WHERE email IS NULL", 2, lambda v: v == 0),
    "not_null_status": ("SELECT count(*) FROM t WHERE status IS NULL", 1, lambda v: v < 5),
    "not_null_quantity": (
        "SELECT count(*) FROM t WHERE quantity IS NULL",
        1,
        lambda v: soda_percent(v, ROWS) < 10,
    ),
    "email given": (
        "SELECT count(*) FROM t WHERE email IS NULL OR email IN ('N/A', 'n/a', 'NA', '')",
        6,
        lambda v: v < 5,
    ),
    "status present": (
        "SELECT count(*) FROM t WHERE status IS NULL OR regexp_matches(status, '^(?:NA|N/A)$')",
        1,
        lambda v: v == 0,
    ),
    "is_in_status": (
        "SELECT count(*) FROM t WHERE NOT (status IS NULL) AND NOT (status IN ('paid', 'refunded', 'void', 'open'))",  # noqa: E501
        1,
        lambda v: v == 0,
    ),
    "not_in_status": (
        "SELECT count(*) FROM t WHERE NOT (status IS NULL) AND (status IN ('void', 'PAID'))",
        2,
        lambda v: v < 3,
    ),
    "between_amount": (  # NaN >= 0 holds in DuckDB, NaN <= 1000 does not: NaN is invalid, as in tillflow
        "SELECT count(*) FROM t WHERE NOT (amount IS NULL) AND NOT (amount >= 0 AND amount <= 1000)",
        3,
        lambda v: soda_percent(v, ROWS) <= 20,
    ),
    "length_between_name": (
        "SELECT count(*) FROM t WHERE NOT (name IS NULL) AND NOT (length(name) >= 1 AND length(name) <= 3)",
        3,
        lambda v: v == 0,
    ),
    "is_uuid_code": (  # Soda's uuid format, spelt out: 36 characters, hyphens at 8, 13, 18, 23, hex elsewhere
        "SELECT count(*) FROM t WHERE NOT (code IS NULL) AND NOT (length(code) = 36 AND "
        "regexp_full_match(replace(code, '-', ''), '[0-9a-fA-F]{32}') AND substr(code, 9, 1) = '-' AND "
        "substr(code, 14, 1) = '-' AND substr(code, 19, 1) = '-' AND substr(code, 24, 1) = '-')",
        6,
        lambda v: v < 4,
    ),
    "matches_email": (
        "SELECT count(*) FROM t WHERE NOT (email IS NULL) AND NOT regexp_matches(email, '^[^@]+@[^@]+$')",
        4,
        lambda v: v == 0,
    ),
    "not_matches_email": (
        "SELECT count(*) FROM t WHERE NOT (email IS NULL) AND regexp_matches(email, 'example')",
        3,
        lambda v: v < 4,
    ),
    "unique_id": (
        "WITH frequencies AS (SELECT count(*) AS frequency FROM t WHERE id IS NOT NULL GROUP BY id) "
        "SELECT count(*) FROM frequencies WHERE frequency > 1",
        2,
        lambda v: v == 0,
    ),
    "unique_shop_sku": (
        "WITH frequencies AS (SELECT count(*) AS frequency FROM t WHERE shop IS NOT NULL AND sku IS NOT NULL "
        "GROUP BY shop, sku) SELECT count(*) FROM frequencies WHERE frequency > 1",
        1,
        lambda v: soda_percent(v, ROWS) < 20,
    ),
    "min_between_quantity": ("SELECT min(quantity) FROM t", 0, lambda v: v >= 0),
    "max_between_quantity": ("SELECT max(quantity) FROM t", 12, lambda v: v < 12),
    "mean_between_quantity": ("SELECT avg(quantity) FROM t", 68 / 11, lambda v: 5 <= v <= 10),
    "sum_between_quantity": ("SELECT sum(quantity) FROM t", 68, lambda v: v <= 50),
    "stddev_between_quantity": (
        "SELECT stddev(quantity) FROM t",
        pytest.approx(4.2146929, abs=1e-6),
        lambda v: v > 1,
    ),
    "freshness_created_at": (  # Soda fails when now - max(column) is above the duration
        f"SELECT epoch(TIMESTAMP '{NOW}' - max(created_at)) FROM t",
        23 * 3600,
        lambda v: not v > 86400,
    ),
    "relationships_customer_id": (  # Soda's reference query
        "SELECT count(*) FROM t AS SOURCE LEFT JOIN customers AS TARGET ON SOURCE.customer_id = TARGET.id "
        "WHERE (SOURCE.customer_id IS NOT NULL AND TARGET.id IS NULL)",
        2,
        lambda v: v == 0,
    ),
    "row_count_matches": ("SELECT count(*) FROM t", 12, lambda v: v == 11),
    "no negative amounts": ("SELECT count(*) FROM t WHERE amount < 0", 1, lambda v: v == 0),
    "unique_customer_id": (
        "WITH frequencies AS (SELECT count(*) AS frequency FROM t WHERE customer_id IS NOT NULL "
        "GROUP BY customer_id) SELECT count(*) FROM frequencies WHERE frequency > 1",
        3,
        lambda v: not v > 3,
    ),
    "unique_customer_id_warn": (
        "WITH frequencies AS (SELECT count(*) AS frequency FROM t WHERE customer_id IS NOT NULL "
        "GROUP BY customer_id) SELECT count(*) FROM frequencies WHERE frequency > 1",
        3,
        lambda v: not v > 0,
    ),
}
DATASET_CHECKS = {"row_count", "row_count between 10 and 15", "min_between_quantity", "max_between_quantity",
                  "mean_between_quantity", "sum_between_quantity", "stddev_between_quantity",
                  "freshness_created_at", "row_count_matches"}  # fmt: skip


def test_each_check_counts_what_soda_counts() -> None:
    got = results(contracts.from_soda(yaml.safe_load(DOC)))
    assert set(got) == set(CASES) | {"schema", "relationships_shop_sku", "relationships_shop_sku_partial_key"}
    for name, (query, value, soda_passes) in CASES.items():
        measured = sql(query, t=ORDERS, customers=CUSTOMERS)
        assert measured == value, name
        res = got[name]
        assert (res.status == "passed") == soda_passes(measured), name
        if name not in DATASET_CHECKS:
            assert res.failing == measured, name
    # the verdicts, spelt out: the warn alert fires, the fail alert does not
    assert (got["unique_customer_id"].status, got["unique_customer_id_warn"].status) == ("passed", "failed")
    assert got["unique_customer_id_warn"].severity == "warn"
    assert [n for n in CASES if got[n].status == "passed"] == [
        "row_count", "row_count between 10 and 15", "not_null_status", "not_null_quantity", "not_in_status",
        "not_matches_email", "unique_shop_sku", "min_between_quantity", "mean_between_quantity",
        "stddev_between_quantity", "freshness_created_at", "unique_customer_id",
    ]  # fmt: skip


def test_a_compound_reference_fails_partly_null_keys_as_soda_does() -> None:
    got = results(contracts.from_soda(yaml.safe_load(DOC)))
    soda = sql(
        "SELECT count(*) FROM t AS SOURCE LEFT JOIN skus AS TARGET "
        "ON SOURCE.shop = TARGET.shop_id AND SOURCE.sku = TARGET.sku_id "
        "WHERE (SOURCE.shop IS NOT NULL AND TARGET.shop_id IS NULL) OR (SOURCE.sku IS NOT NULL AND TARGET.sku_id IS NULL)",  # noqa: E501
        t=ORDERS,
        skus=SKUS,
    )
    assert soda == 4  # (a, 9) has no match; (null, 2), (b, null) twice cannot join; (null, null) passes
    assert got["relationships_shop_sku"].failing == 1
    assert got["relationships_shop_sku_partial_key"].failing == 3
    assert all(
        got[n].status == "failed" for n in ("relationships_shop_sku", "relationships_shop_sku_partial_key")
    )


def test_schema_check() -> None:
    got = results(contracts.from_soda(yaml.safe_load(DOC)))
    assert got["schema"].status == "passed"
    bad = ORDERS.with_columns(pl.col("id").cast(pl.Utf8))
    assert results(contracts.from_soda(yaml.safe_load(DOC)), bad)["schema"].status == "failed"


# -- percentages


@pytest.mark.parametrize(
    ("threshold", "missing", "rows"),
    [
        ("< 5%", 999, 20000),  # 4.995% rounds to 5.0: fails
        ("< 5%", 998, 20000),  # 4.99%: passes
        ("<= 5%", 1001, 20000),  # 5.005% rounds to 5.0: passes, though above 5%
        ("<= 5%", 1002, 20000),  # 5.01%: fails
        ("= 0%", 1, 20000),  # 0.005% rounds to 0.01: fails
        ("= 0%", 1, 20001),  # 0.0049...% rounds to 0.0: passes with a missing value
        ("<= 2", 401, 20000),  # 2.005% rounds to 2.0: passes
        ("< 33.34%", 6667, 20000),  # 33.335% rounds to 33.34: fails
    ],
)
def test_percentages_are_rounded_as_soda_rounds_them(threshold: str, missing: int, rows: int) -> None:
    frame = pl.DataFrame({"x": [None] * missing + [1] * (rows - missing)}, schema={"x": pl.Int64})
    tables = contracts.from_soda({"checks for t": [f"missing_percent(x) {threshold}"]})
    count = sql("SELECT count(*) FROM t WHERE x IS NULL", t=frame)
    limit = float(threshold.split()[1].rstrip("%"))
    value = soda_percent(count, rows)
    soda_passes = value < limit if threshold.startswith("<") and "=" not in threshold else value <= limit
    res = tables["t"].validate(frame).results[0]
    assert res.failing == missing
    assert (res.status == "passed") == soda_passes


def test_a_percentage_is_of_the_rows_a_filter_keeps_nulls_included() -> None:
    # 1 of the 6 paid orders lacks an email: 16.67%, not under 10% (of all 12 rows it would be 8.33%)
    doc = {"checks for orders": [{"missing_percent(email) < 10%": {"filter": "status = 'paid'"}},
                                 {"invalid_percent(amount) < 30%": {"valid max": 100}}]}  # fmt: skip
    got = results(contracts.from_soda(doc))
    paid = sql("SELECT count(*) FROM t WHERE status = 'paid'", t=ORDERS)
    missing = sql("SELECT count(*) FROM t WHERE status = 'paid' AND email IS NULL", t=ORDERS)
    assert (paid, missing, soda_percent(missing, paid)) == (6, 1, 16.67)
    assert (got["not_null_email"].failing, got["not_null_email"].status) == (1, "failed")
    invalid = sql("SELECT count(*) FROM t WHERE amount IS NOT NULL AND NOT amount <= 100", t=ORDERS)
    # 4 of 12 rows (the null counts in the 12): 33.33% fails < 30%; of the 11 non-null it would be 36.36%
    assert (invalid, soda_percent(invalid, ROWS)) == (4, 33.33)
    assert (got["between_amount"].failing, got["between_amount"].status) == (4, "failed")
    small = contracts.from_soda(
        {"checks for orders": [{"invalid_percent(amount) < 34%": {"valid max": 100}}]}
    )
    assert results(small)["between_amount"].status == "passed"


# -- filters and alerts


def test_dataset_filters_and_check_filters() -> None:
    doc = yaml.safe_load(
        textwrap.dedent("""\
        filter orders [paid]:
          where: status = 'paid'
        checks for orders [paid]:
          - row_count = 6
          - missing_count(email) = 0:
              filter: quantity > 5
          - duplicate_count(customer_id) = 0
        """)
    )
    tables = contracts.from_soda(doc)
    assert list(tables["orders"]) == [
        r.row_count(min=6, max=6, when="status = 'paid'"),
        r.not_null("email", when="(status = 'paid') AND (quantity > 5)"),
        r.unique("customer_id", count="keys", when="status = 'paid'"),
    ]
    got = results(tables)
    assert got["row_count"].status == "passed"
    q = "SELECT count(*) FROM t WHERE (status = 'paid') AND (quantity > 5) AND email IS NULL"
    assert got["not_null_email"].failing == sql(q, t=ORDERS) == 1
    q = (
        "WITH frequencies AS (SELECT count(*) AS frequency FROM t WHERE customer_id IS NOT NULL "
        "AND status = 'paid' GROUP BY customer_id) SELECT count(*) FROM frequencies WHERE frequency > 1"
    )
    assert got["unique_customer_id"].failing == sql(q, t=ORDERS) == 2


def test_warn_and_fail_alerts_make_an_error_and_a_warn_rule() -> None:
    doc = {
        "checks for orders": [
            {"row_count": {"warn": "when not between 10 and 11", "fail": "when < 5"}},
            {"freshness(created_at)": {"warn": "when > 12h", "fail": "when > 2d"}},
            {"invalid_count(status)": {"valid values": ["paid"], "warn": "when > 2", "fail": "when >= 6"}},
            {"sum(quantity)": {"warn": "when > 60", "name": "quantities"}},
        ]
    }
    rules = list(contracts.from_soda(doc)["orders"])
    assert rules == [
        r.row_count(min=5),
        r.row_count(min=10, max=11, severity="warn", name="row_count_warn"),
        r.freshness("created_at", max_age="2d"),
        r.freshness("created_at", max_age="12h", severity="warn", name="freshness_created_at_warn"),
        r.is_in("status", ["paid"], tolerance=5),
        r.is_in("status", ["paid"], tolerance=2, severity="warn", name="is_in_status_warn"),
        r.sum_between("quantity", max=60, severity="warn", name="quantities"),
    ]
    got = results(contracts.from_soda(doc))
    # Soda: row_count 12 warns; freshness 23h warns; 5 invalid warns, not fails; sum 68 warns
    assert [got[n.name].status for n in rules] == ["passed", "failed"] * 3 + ["failed"]
    assert got["is_in_status"].failing == sql(
        "SELECT count(*) FROM t WHERE status IS NOT NULL AND status <> 'paid'", t=ORDERS
    ) == 5  # fmt: skip
    assert contracts.to_soda(contracts.from_soda(doc)) == {
        "checks for orders": [
            {"row_count": {"warn": "when not between 10 and 11", "fail": "when < 5"}},
            {"freshness(created_at)": {"warn": "when > 12h", "fail": "when > 2d"}},
            {"invalid_count(status)": {"valid values": ["paid"], "warn": "when > 2", "fail": "when > 5"}},
            {"sum(quantity)": {"name": "quantities", "warn": "when > 60"}},
        ]
    }


# -- NaN


def test_nan_is_where_warehouse_sql_and_tillflow_differ() -> None:
    # Soda's missing count runs `IS NULL`, which NaN is not; tillflow counts NaN missing. Documented in
    # tillflow.rules.contracts._soda; the two agree on every column without NaN.
    tables = contracts.from_soda({"checks for orders": ["missing_count(amount) = 0"]})
    assert sql("SELECT count(*) FROM t WHERE amount IS NULL", t=ORDERS) == 1
    assert results(tables)["not_null_amount"].failing == 2


# -- reading, check by check


@pytest.mark.parametrize(
    ("check", "rules"),
    [
        ("row_count >= 10", [r.row_count(min=10)]),
        ("row_count < 100", [r.row_count(max=99)]),
        ("row_count between (10 and 15)", [r.row_count(min=11, max=14)]),
        ("row_count = 0", [r.row_count(max=0)]),
        ("missing_count(a) <= 5", [r.not_null("a", tolerance=5)]),
        ("missing_count(a) < 5.5", [r.not_null("a", tolerance=5)]),
        ('missing_count("my col") = 0', [r.not_null("my col")]),
        ("missing_count(a) between 0 and 3", [r.not_null("a", tolerance=3)]),
        ("missing_percent(a) <= 5%", [r.not_null("a", tolerance=0.05005)]),
        ("missing_percent(a) < 5", [r.not_null("a", tolerance=math.nextafter(0.04995, 0))]),
        ({"invalid_count(a) = 0": {"valid length": 2}}, [r.length_between("a", min=2, max=2)]),
        ({"invalid_count(a) = 0": {"valid min": 1.5}}, [r.between("a", min=1.5)]),
        (
            {"invalid_count(a) = 0": {"valid values": ["x"], "missing values": ["n/a"]}},
            [r.is_in("a", ["x", "n/a"])],
        ),
        (
            {"invalid_count(a) = 0": {"invalid values": ["x", "n/a"], "missing values": ["n/a"]}},
            [r.not_in("a", ["x"])],
        ),
        (
            {"missing_percent(a) < 1%": {"valid length": 1, "samples limit": 5, "identity": "x"}},
            [r.not_null("a", tolerance=0.00995)],
        ),
        ("row_count != 0", [r.row_count(min=1)]),
        ("max_length(a) <= 20", [r.length_between("a", max=20)]),
        ("min_length(a) > 1", [r.length_between("a", min=2)]),
        ("avg(a) between (1 and 2]", [r.mean_between("a", min=1, max=2, min_inclusive=False)]),
        ("stddev_samp(a) < 3", [r.stddev_between("a", max=3, max_inclusive=False)]),
        ("max(a) = 7", [r.max_between("a", min=7, max=7)]),
        ({"min(a)": {"fail": "when not between -1 and 1"}}, [r.min_between("a", min=-1, max=1)]),
        ("freshness(t) <= 6h30m", [r.freshness("t", max_age="6h30m")]),
        ({"freshness(t)": {"fail": "when >= 1d"}}, [r.freshness("t", max_age="1d")]),
        ("values in a must exist in b c", [r.relationships("a", to="b.c")]),
        (
            {"failed rows": {"fail condition": "NOT (a > b)", "fail": "when > 2"}},
            [r.expression("a > b", tolerance=2)],
        ),
        (
            {"schema": {"warn": {"when mismatching columns": {"a": "int"}}}},
            [r.schema({"a": "int"}, strict=True, severity="warn")],
        ),
        (
            {
                "schema": {
                    "fail": {"when wrong column type": {"a": "int"}, "when required column missing": ["a"]}
                }
            },
            [r.schema({"a": "int"})],
        ),
        (
            {"row_count > 0": {"name": "has rows", "attributes": {"owner": "x"}}},
            [r.row_count(min=1, name="has rows")],
        ),
    ],
)
def test_reading_a_check(check: Any, rules: list[r.Rule]) -> None:
    assert list(contracts.from_soda({"checks for t": [check]})["t"]) == rules


def test_reading_passes_over_the_dataset_attributes() -> None:
    doc = {"checks for t": [{"attributes": {"owner": "x"}}, "row_count > 0"]}
    assert list(contracts.from_soda(doc)["t"]) == [r.row_count(min=1)]


# -- round trips


def test_the_docs_file_round_trips() -> None:
    doc = yaml.safe_load(DOC)
    assert contracts.to_soda(contracts.from_soda(doc)) == doc


def every_kind() -> dict[str, tl.RuleSet]:
    """A rule of every kind SodaCL can hold, as reading its file gives them."""
    return {
        "orders": tl.RuleSet(
            [
                r.row_count(min=1),
                r.row_count(min=10, max=20, name="busy", when="status = 'paid'"),
                r.row_count(max=100, name="small", severity="warn"),
                r.not_null("email"),
                r.not_null("status", tolerance=4, when="amount > 0"),
                r.not_null("quantity", tolerance=0.05005),
                r.not_null("code", tolerance=math.nextafter(0.00005, 0)),
                r.expression("email IS NOT NULL AND email NOT IN ('N/A', 'it''s')", tolerance=2),
                r.expression("name IS NOT NULL AND NOT regexp_like(name, '^\\s*$')", name="named"),
                r.is_in("status", ["paid", "open"]),
                r.not_in("quantity", [0, 99], tolerance=0.02005),
                r.between("amount", min=0, max=1000),
                r.between("quantity", max=50, name="few", severity="warn", tolerance=3),
                r.length_between("name", min=1, max=3),
                r.length_between("code", min=36, max=36, name="code_length"),
                r.matches("email", "^[^@]+@[^@]+$"),
                r.not_matches("email", "example"),
                r.is_uuid("code"),
                r.unique("id", count="keys"),
                r.unique("shop", "sku", count="keys", tolerance=0.01005, when="sku > 0"),
                r.unique("customer_id", count="keys", tolerance=3),
                r.unique("customer_id", count="keys", severity="warn", name="unique_customer_id_warn"),
                r.min_between("quantity", min=0),
                r.max_between("quantity", max=12, max_inclusive=False),
                r.mean_between("quantity", min=5, max=10),
                r.mean_between("amount", min=1.5, max=2, min_inclusive=False, name="mean_open"),
                r.sum_between("quantity", min=7, max=7),
                r.stddev_between("quantity", min=1, min_inclusive=False),
                r.freshness("created_at", "1d"),
                r.freshness("created_at", "12h", severity="warn", name="freshness_created_at_warn"),
                r.freshness("updated_at", "6h30m", name="fresh"),
                r.relationships("customer_id", to="customers.id"),
                r.relationships(["shop", "sku"], to="skus", field=["shop_id", "sku_id"]),
                r.expression(
                    "(shop IS NULL AND sku IS NULL) OR (shop IS NOT NULL AND sku IS NOT NULL)",
                    name="relationships_shop_sku_partial_key",
                ),
                r.row_count_matches("orders_raw"),
                r.expression("amount >= 0", name="no negative amounts", tolerance=1),
                r.schema({"id": "int", "email": "string"}),
                r.schema({"id": "int"}, strict=True, severity="warn", name="exact"),
            ]
        ),
        "customers": tl.RuleSet([r.unique("id", count="keys")]),
    }


def test_rules_round_trip() -> None:
    tables = every_kind()
    assert contracts.from_soda(contracts.to_soda(tables)) == tables


def test_writing_gives_the_modern_form() -> None:
    doc = contracts.to_soda(every_kind())
    assert list(doc) == ["checks for orders", "checks for customers"]
    checks = doc["checks for orders"]
    assert checks[:8] == [
        "row_count > 0",
        {"row_count between 10 and 20": {"name": "busy", "filter": "status = 'paid'"}},
        {"row_count": {"name": "small", "warn": "when > 100"}},
        "missing_count(email) = 0",
        {"missing_count(status) < 5": {"filter": "amount > 0"}},
        "missing_percent(quantity) <= 5%",
        "missing_percent(code) = 0%",
        {"missing_count(email) < 3": {"missing values": ["N/A", "it's"]}},
    ]
    failed = {"name": "no negative amounts", "fail condition": "NOT (amount >= 0)", "fail": "when > 1"}
    assert {"failed rows": failed} in checks
    assert {"schema": {"name": "exact", "warn": {"when mismatching columns": {"id": "int"}}}} in checks


def test_write_a_file_and_read_it(tmp_path: Path) -> None:
    tables = every_kind()
    path = contracts.write(tables, tmp_path / "checks.yml", format="soda")
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == contracts.to_soda(tables)
    assert contracts.read(path) == tables
    assert contracts.read(path, format="soda") == tables


def test_an_expression_with_when_carries_it_into_the_condition() -> None:
    doc = contracts.to_soda({"t": [r.expression("a > 0", when="b = 1", tolerance=2)]})
    assert doc == {
        "checks for t": [{"failed rows": {"fail condition": "(b = 1) AND (NOT (a > 0))", "fail": "when > 2"}}]
    }
    frame = pl.DataFrame({"a": [1, -1, -2, -3, None, -4], "b": [1, 1, 1, 2, 1, None]})
    back = contracts.from_soda(doc)["t"].validate(frame).results[0]
    assert back.failing == sql("SELECT count(*) FROM t WHERE (b = 1) AND (NOT (a > 0))", t=frame) == 2


# -- what tillflow cannot hold


@pytest.mark.parametrize(
    ("check", "named"),
    [
        ("anomaly detection for row_count", "anomaly detection for row_count"),
        ("change for row_count < 50%", "change for row_count"),
        ({"group by": {"query": "SELECT 1", "fields": ["a"], "checks": []}}, "group by"),
        ({"group evolution": {"query": "SELECT 1"}}, "group evolution"),
        ({"distribution_difference(a, r) > 0.05": {"distribution reference file": "x.yml"}}, "distribution"),
        (
            {"avg_surface < 1068": {"avg_surface expression": "AVG(size * distance)"}},
            "avg_surface expression",
        ),
        ({"failed rows": {"fail query": "SELECT * FROM t"}}, "fail query"),
        ("percentile(size, 0.95) > 50", "discrete"),
        ("stddev_pop(a) between 3 and 4", "stddev_pop"),
        ("variance(a) > 0", "variance"),
        ("var_pop(a) > 0", "var_pop"),
        ("var_samp(a) > 0", "var_samp"),
        ("avg_length(a) > 10", "avg_length"),
        ("valid_count(a) > 10", "valid_count"),
        ("max_length(a) = 25", "max_length(a) = 25"),
        ("min_length(a) = 5", "min_length(a) = 5"),
        ("missing_count(a) > 0", "does not fail exactly above"),
        ("missing_count(a) between 1 and 5", "does not fail exactly above"),
        ("missing_count(a) != 0", "does not fail exactly above"),
        ("missing_percent(a) > 5%", "does not fail exactly above a percentage"),
        ("missing_count(a) >= 0", "never fails"),
        ("missing_count(a) < 0", "never passes"),
        ("row_count not between 1 and 5", "more than one range"),
        ("avg(a) != 3", "more than one range"),
        ("row_count > ${MIN}", "${MIN}"),
        ({"invalid_count(a) = 0": {"valid format": "email"}}, "valid format: email"),
        ({"invalid_count(a) = 0": {"valid format": "ip address"}}, "valid format: ip address"),
        ({"invalid_count(a) = 0": {"valid format": "date iso 8601"}}, "valid format: date iso 8601"),
        ({"invalid_count(a) = 0": {"invalid format": "uuid"}}, "invalid format: uuid"),
        ({"invalid_count(a) = 0": {"valid min": 1, "valid regex": "x"}}, "valid min, valid regex together"),
        ({"invalid_count(a) = 0": {"valid min": 1, "missing values": [0]}}, "missing values"),
        ({"invalid_count(a) = 0": {"valid values": [1], "include null": True}}, "include null"),
        ({"invalid_count(a) = 0": {"invalid regex": "^(?!\\d{8}$).+$"}}, "look"),
        ({"missing_count(a) = 0": {"missing format": "date us"}}, "missing format"),
        ({"min(a) > 0": {"valid min": 0}}, "min(a) > 0: valid min"),
        ({"duplicate_count(a) = 0": {"missing values": ["x"]}}, "duplicate_count(a) = 0: missing values"),
        ("values in (a) must not exist in b (c)", "must not exist"),
        ("values in (a) must exist in s.b (c)", "schema"),
        ("row_count same as b in other_source", "row_count same as b in other_source"),
        ("freshness(t, NOW) < 1d", "NOW variable"),
        ("freshness using t with NOW < 1d", "freshness using"),
        ({"freshness(t) < 1d": {"filter": "a > 0"}}, "filter"),
        ("freshness(t) > 1d", "freshness(t) > 1d"),
        ({"schema": {"fail": {"when required column missing": ["a"]}}}, "needs each column's type"),
        (
            {
                "schema": {
                    "fail": {"when wrong column type": {"a": "int"}, "when required column missing": ["b"]}
                }
            },
            "b: required without a type",
        ),
        ({"schema": {"fail": {"when forbidden column present": ["pii*"]}}}, "when forbidden column present"),
        ({"schema": {"warn": {"when wrong column index": {"a": 1}}}}, "when wrong column index"),
        ({"schema": {"warn": {"when schema changes": "any"}}}, "when schema changes"),
        ({"schema": {"fail": {"when wrong column type": {"a": "varchar"}}}}, "'varchar'"),
        (
            {"schema": {"fail": {"when mismatching columns": {"a": "int"}, "with optional columns": ["b"]}}},
            "with optional columns",
        ),
    ],
)
def test_an_unsupported_check_is_named(check: Any, named: str) -> None:
    with pytest.raises(RuleError, match="not supported by tillflow") as err:
        contracts.from_soda({"checks for t": ["row_count > 0", check]})
    assert named in str(err.value)
    assert "checks for t[1]" in str(err.value)


@pytest.mark.parametrize(
    "section",
    [
        "for each dataset T",
        "configurations for t",
        "variables",
        "profile columns",
        "discover datasets",
        "sample datasets",
        "automated monitoring",
        "checks",
        "reconciliation Orders",
    ],
)
def test_an_unsupported_section_is_named(section: str) -> None:
    with pytest.raises(RuleError, match=f"section '{section}': not supported by tillflow"):
        contracts.from_soda({"checks for t": ["row_count > 0"], section: {}})


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"checks for t": ["row_count"]}, "no threshold"),
        ({"checks for t": ["row_count > 0 and more"]}, "not a SodaCL threshold"),
        (
            {"checks for t": [{"row_count > 0": {"fail": "when < 1"}}]},
            "a threshold in the line and warn:/fail:",
        ),
        ({"checks for t": [{"row_count": {"fail": "> 1"}}]}, "expected 'when'"),
        ({"checks for t": [{"row_count > 0": {"colour": "red"}}]}, "colour: not a configuration"),
        (
            {"checks for t": [{"failed rows": {"fail condition": "a > 0", "filter": "b"}}]},
            "filter: not a configuration",
        ),
        ({"checks for t": ["invalid_count(a) = 0"]}, "names no valid or invalid values"),
        (
            {"checks for t": [{"invalid_count(a) = 0": {"valid values": ["x", 1]}}]},
            "only strings or only numbers",
        ),
        ({"checks for t": ["row_count between 5 and 1"]}, "lower bound is above"),
        ({"checks for t": ["missing_count() = 0"]}, "expected one column"),
        ({"checks for t": ["2 + 2 = 4"]}, "is not a SodaCL check"),
        ({"checks for t": [{"row_count > 0": None, "name": "x"}]}, "one-key mapping"),
        ({"checks for t": ["row_count > 0"] * 3}, "two checks are named 'row_count > 0'"),
        ({"checks for t [daily]": ["row_count > 0"]}, "filter [daily] is not declared"),
        ({"checks for t": "row_count > 0"}, "a list of checks"),
        ({"filter t [d]": {"where": "a", "and": "b"}, "checks for t [d]": []}, "where: SQL condition"),
        ({"checks for t": ["row_count > 0"], "what is this": []}, "not a SodaCL section"),
    ],
)
def test_a_malformed_item_is_an_error(doc: dict[str, Any], says: str) -> None:
    with pytest.raises(RuleError, match="soda contract") as err:
        contracts.from_soda(doc)
    assert says in str(err.value)


def test_a_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "checks.yml"
    path.write_text(
        textwrap.dedent("""\
        checks for orders:
          - row_count > 0
          - missing_count(email) = 0
          - invalid_count(email) = 0:
              valid format: email
        """),
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as err:
        contracts.read(path)
    assert str(err.value).startswith(f"{path}:5: soda contract checks for orders[2]")
    assert "valid format: email: not supported by tillflow" in str(err.value)


def test_a_file_names_the_line_of_a_key_written_with_extra_spaces(tmp_path: Path) -> None:
    path = tmp_path / "checks.yml"
    path.write_text(
        "checks for orders:\n  - invalid_count(email)  =  0:\n      name: e\n      valid format: email\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=re.escape(f"{path}:4: soda contract checks for orders[0]")):
        contracts.read(path)


def test_a_table_name_with_a_space_has_no_section() -> None:
    with pytest.raises(RuleError, match="table 'my orders'"):
        contracts.to_soda({"my orders": [r.row_count(min=1)]})


def test_the_format_is_told_from_its_sections() -> None:
    assert contracts.detect(yaml.safe_load(DOC)) == "soda"
    assert contracts.detect({"filter t [p]": {"where": "a"}, "checks for t [p]": []}) == "soda"


# -- writing what SodaCL cannot hold


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (r.compare("a", "<", "b"), "compare: no SodaCL check"),
        (r.not_empty("a"), "not_empty: no SodaCL check"),
        (r.not_null("a", tolerance="5%"), "this share is none of those"),
        (r.not_null("a", tolerance=0.05), "rounded to two decimals"),
        (r.row_count(min=1, by="status"), "by: SodaCL judges"),
        (r.expression(pl.col("a") > 0), "a Polars expression"),
        (r.not_null("a", when=pl.col("b") > 0), "when: a Polars expression"),
        (r.expression("a > 0", tolerance="1%"), "give the tolerance as a count"),
        (r.relationships("a", to=pl.DataFrame({"a": [1]})), "to: a frame"),
        (r.relationships("a", to="b.c", tolerance=1), "tolerance"),
        (r.relationships("a", to="b.c", when="x > 0"), "when: Soda's check takes no filter"),
        (r.relationships("a", to="b.c", severity="warn"), "Soda cannot warn"),
        (r.relationships(["a", "b"], to="t", field=["x", "y"]), "_partial_key"),
        (r.row_count_matches("t", within=0.1), "within"),
        (r.between("a", 0, 10, max_inclusive=False), "an open bound"),
        (r.between("a", "2024-01-01"), "is not a number"),
        (r.is_in("a", ["x", 1]), "only text or only numbers"),
        (r.is_in("a", [True]), "only text or only numbers"),
        (r.is_in("a", [1.0, math.nan]), "only text or only numbers"),
        (r.relationships("a", to="my table.c"), "as a plain word"),
        (r.unique("a", count="all"), "count: Soda's duplicate_count counts the keys"),
        (r.unique("a", nulls="equal"), "nulls"),
        (r.is_uuid("a", version=4), "version"),
        (r.freshness("a", "90s"), "whole number of minutes"),
        (r.min_between("a", min="2024-01-01"), "is not a number"),
        (r.quantile_between("a", 0.5, 1, 2), "quantile_between: no SodaCL check"),
    ],
)
def test_writing_a_rule_without_a_soda_form_is_an_error(rule: r.Rule, says: str) -> None:
    with pytest.raises(RuleError, match=re.escape(f"rule {rule.name}: ")) as err:
        contracts.to_soda({"t": [rule]})
    assert says in str(err.value)
