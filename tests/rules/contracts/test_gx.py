"""Great Expectations suites: read as GX's docs write them (1.x and 0.x), each
expectation's failing count and verdict checked against DuckDB computing what
GX counts; written back, and read back, unchanged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from tillflow import rules as r
from tillflow.exceptions import RuleError
from tillflow.rules import RuleSet, contracts

NAN = math.nan

FRAME = pl.DataFrame(
    {
        "id": list(range(1, 13)),
        "email": [
            "a@x.io",
            None,
            "bø@x.dk",
            "nope",
            None,
            "ü@x.de",
            "c@x.io",
            None,
            "d@x.io",
            "zz",
            "e@y.io",
            "日本@x.jp",
        ],
        "price": [5.0, 12.5, None, 150.0, NAN, 0.0, 99.0, 100.0, None, 40.0, -3.0, 7.5],
        "dup": ["x", "y", "x", None, "z", "y", "x", None, "w", "v", "u", "t"],
        "status": [
            "paid",
            "open",
            "paid",
            "void",
            None,
            "paid",
            "open",
            "paid",
            "void",
            "paid",
            "open",
            "paid",
        ],
        "code": ["abc", "ab", "日本語", "abcd", None, "xyz", "äöü", "", "abc", "a c", "ééé", "abc"],
        "total": [10, 5, None, 7, None, 3, 8, 8, 1, None, 4, 9],
        "sub": [9, 5, 2, None, None, 4, 8, 1, 1, None, 4, 10],
        "a": ["k", "k", "k", None, "m", None, "m", "n", None, "p", "q", "q"],
        "b": [1, 1, 2, None, None, None, None, 3, None, 4, 5, 5],
        "x": [50, 40, None, 100, 30, None, 60, 0, 25, None, 70, 100],
        "y": [50, 60, 20, None, 70, None, 40, 100, 75, 1, 30, 0],
        "payload": [
            '{"a": 1}',
            "[1, 2]",
            "not json",
            None,
            "true",
            '{"a":',
            '"ü"',
            "{}",
            "",
            "1e5",
            "[",
            "null",
        ],
    }
)

# A suite as GX 1.x saves it (gx/expectations/orders.json): ids, meta, notes.
SUITE_1X = {
    "name": "orders",
    "id": "5b3c8e9a-1f2d-4c6b-9a7e-0d1c2b3a4f5e",
    "expectations": [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "email", "mostly": 0.75},
            "meta": {},
            "id": "0a6e9a4c-7d0b-4b84-9a43-3f1f4f0c5a01",
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "price"},
            "meta": {},
            "id": "0a6e9a4c-7d0b-4b84-9a43-3f1f4f0c5a02",
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {
                "column": "price",
                "mostly": 0.6,
                "min_value": 0,
                "max_value": 100,
                "strict_min": True,
            },
            "meta": {},
            "id": "0a6e9a4c-7d0b-4b84-9a43-3f1f4f0c5a03",
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "email", "mostly": 0.8, "regex": "@"},
            "meta": {},
            "notes": "checked at signup",
            "severity": "warning",
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "dup"}, "meta": {}},
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {
                "column": "status",
                "row_condition": 'col("price") > 10',
                "condition_parser": "great_expectations",
                "value_set": ["paid", "open"],
            },
            "meta": {},
            "description": "Known statuses",
        },
        {
            "type": "expect_column_value_lengths_to_equal",
            "kwargs": {"column": "code", "value": 3},
            "meta": {},
        },
        {"type": "expect_column_values_to_be_json_parseable", "kwargs": {"column": "payload"}, "meta": {}},
        {
            "type": "expect_column_pair_values_a_to_be_greater_than_b",
            "kwargs": {"column_A": "total", "column_B": "sub", "or_equal": True},
            "meta": {},
        },
        {
            "type": "expect_column_pair_values_to_be_equal",
            "kwargs": {
                "column_A": "total",
                "column_B": "sub",
                "mostly": 0.5,
                "ignore_row_if": "either_value_is_missing",
            },
            "meta": {},
        },
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "b"]}, "meta": {}},
        {
            "type": "expect_multicolumn_sum_to_equal",
            "kwargs": {"column_list": ["x", "y"], "sum_total": 100},
            "meta": {},
        },
        {
            "type": "expect_select_column_values_to_be_unique_within_record",
            "kwargs": {"column_list": ["x", "y"]},
            "meta": {},
        },
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1, "max_value": 10},
            "meta": {},
        },
        {
            "type": "expect_column_values_to_be_increasing",
            "kwargs": {"column": "id", "strictly": True},
            "meta": {},
        },
        {
            "type": "expect_column_distinct_values_to_contain_set",
            "kwargs": {"column": "status", "value_set": ["paid", "void", "refunded"]},
            "meta": {},
        },
        {
            "type": "expect_column_unique_value_count_to_be_between",
            "kwargs": {"column": "status", "min_value": 3, "max_value": 3},
            "meta": {},
        },
        {
            "type": "expect_column_proportion_of_unique_values_to_be_between",
            "kwargs": {"column": "dup", "min_value": 0.7, "max_value": 1},
            "meta": {},
        },
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "x", "min_value": 50, "max_value": 55},
            "meta": {},
        },
        {
            "type": "expect_column_median_to_be_between",
            "kwargs": {"column": "x", "min_value": 51},
            "meta": {},
        },
        {"type": "expect_column_stdev_to_be_between", "kwargs": {"column": "x", "max_value": 30}, "meta": {}},
        {
            "type": "expect_column_sum_to_be_between",
            "kwargs": {"column": "x", "min_value": 475, "max_value": 475},
            "meta": {},
        },
        {
            "type": "expect_column_min_to_be_between",
            "kwargs": {"column": "x", "min_value": 0, "strict_min": True},
            "meta": {},
        },
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "x", "max_value": 100}, "meta": {}},
    ],
    "meta": {"great_expectations_version": "1.2.0"},
    "notes": None,
}

# A suite as GX 0.x saved it (great_expectations/expectations/orders/warning.json).
SUITE_0X = {
    "data_asset_type": None,
    "expectation_suite_name": "orders.warning",
    "expectations": [
        {"expectation_type": "expect_table_row_count_to_equal", "kwargs": {"value": 12}, "meta": {}},
        {
            "expectation_type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "status", "mostly": 0.9},
            "meta": {"notes": {"format": "markdown", "content": ["Status is set on **every** order."]}},
        },
        {
            "expectation_type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "email", "row_condition": 'status != "paid"', "condition_parser": "pandas"},
            "meta": {},
        },
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "kwargs": {
                "column": "status",
                "value_set": ["paid", "open"],
                "row_condition": 'col("id") > 6',
                "condition_parser": "great_expectations__experimental__",
            },
            "meta": {},
        },
        {
            "expectation_type": "expect_column_pair_values_A_to_be_greater_than_B",
            "kwargs": {"column_A": "total", "column_B": "sub", "ignore_row_if": "either_value_is_missing"},
            "meta": {},
        },
        {
            "expectation_type": "expect_column_distinct_values_to_equal_set",
            "kwargs": {"column": "status", "value_set": ["paid", "open", "void"]},
            "meta": {},
        },
        {
            "expectation_type": "expect_column_values_to_not_match_regex_list",
            "kwargs": {"column": "email", "regex_list": ["^z", "\\.de$"]},
            "meta": {},
        },
        {
            "expectation_type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["a", "b"], "ignore_row_if": "any_value_is_missing"},
            "meta": {},
        },
        {
            "expectation_type": "expect_select_column_values_to_be_unique_within_record",
            "kwargs": {"column_list": ["x", "y", "total"], "ignore_row_if": "any_value_is_missing"},
            "meta": {},
        },
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {
                "column": "id",
                "min_value": 1,
                "max_value": 12,
                "parse_strings_as_datetimes": False,
                "allow_cross_type_comparisons": None,
                "result_format": "BASIC",
                "include_config": True,
                "catch_exceptions": False,
            },
            "meta": {},
        },
    ],
    "ge_cloud_id": None,
    "meta": {"great_expectations_version": "0.15.50"},
}


def _sql(query: str) -> Any:
    con = duckdb.connect()
    con.register("t", FRAME.to_arrow())
    return con.execute(query).fetchone()


def _map(failing: str, considered: str, mostly: float = 1.0, from_: str = "t") -> tuple[int, bool]:
    """GX's column-map verdict: ``failing`` of the ``considered`` rows, and
    whether the passing share reaches ``mostly`` (vacuously true on none)."""
    bad, n = _sql(
        f"SELECT count(*) FILTER (WHERE {failing}), count(*) FILTER (WHERE {considered}) FROM {from_}"
    )
    return bad, n == 0 or (n - bad) / n >= mostly


def _json_failing() -> int:
    """GX's pandas engine: ``json.loads`` of each non-null value."""

    def parses(text: str) -> bool:
        try:
            json.loads(text)
            return True
        except ValueError:
            return False

    return sum(1 for v in FRAME["payload"] if v is not None and not parses(v))


def _aggregate(expr: str, lo: float | None, hi: float | None, strict_min: bool = False) -> bool:
    (value,) = _sql(f"SELECT {expr} FROM t")
    above = lo is None or (value > lo if strict_min else value >= lo)
    return above and (hi is None or value <= hi)


def test_a_1x_suite_counts_as_gx_does():
    tables = contracts.from_gx(SUITE_1X)
    report = tables["orders"].validate(FRAME)
    got = {c.rule: (c.failing, c.passed) for c in report}
    dup_all = "dup IN (SELECT dup FROM t GROUP BY dup HAVING count(*) > 1)"
    # every copy of a repeated key; GROUP BY groups missing values, as pandas' duplicated() does
    compound = (
        "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) n FROM t WHERE a IS NOT NULL OR b IS NOT NULL "
        "GROUP BY a, b HAVING count(*) > 1)"
    )
    expected = {
        # not-null's mostly is a share of every row: 9 of 12 present is exactly 0.75
        "not_null_email": _map("email IS NULL", "true", 0.75),
        # GX's docs: pandas' NaN is missing as much as NULL is
        "not_null_price": _map("price IS NULL OR isnan(price)", "true"),
        # 6 of the 10 non-null prices pass (NaN is outside every range): exactly 0.6
        "between_price": _map(
            "price IS NOT NULL AND NOT (price > 0 AND price <= 100)", "price IS NOT NULL", 0.6
        ),
        # 7 of 9 non-null emails pass: below 0.8 (of all 12 rows, 10 pass: above it)
        "matches_email": _map("NOT regexp_matches(email, '@')", "email IS NOT NULL", 0.8),
        "unique_dup": _map(dup_all, "dup IS NOT NULL"),
        "is_in_status": _map(
            "price > 10 AND status NOT IN ('paid', 'open')", "price > 10 AND status IS NOT NULL"
        ),
        "length_between_code": _map("length(code) <> 3", "code IS NOT NULL"),
        "is_json_payload": (_json_failing(), _json_failing() == 0),
        # a row with one value missing fails; one with both missing is left out
        "compare_total_ge_sub": _map(
            "NOT coalesce(total >= sub, false) AND (total IS NOT NULL OR sub IS NOT NULL)",
            "total IS NOT NULL OR sub IS NOT NULL",
        ),
        "compare_total_eq_sub": _map("total <> sub", "total IS NOT NULL AND sub IS NOT NULL", 0.5),
        "unique_a_b": (_sql(compound)[0], _sql(compound)[0] == 0),
        "multicolumn_sum_x_y": _map(
            "NOT coalesce(x + y = 100, false) AND (x IS NOT NULL OR y IS NOT NULL)",
            "x IS NOT NULL OR y IS NOT NULL",
        ),
        "distinct_across_x_y": _map("x = y", "x IS NOT NULL OR y IS NOT NULL"),
        "row_count": (None, _sql("SELECT count(*) BETWEEN 1 AND 10 FROM t")[0]),
        "increasing_id": _map(
            "id <= prev", "prev IS NOT NULL", from_="(SELECT id, lag(id) OVER (ORDER BY id) prev FROM t)"
        ),
        "contains_values_status": (
            None,
            _sql(
                "SELECT count(DISTINCT status) FILTER (WHERE status IN "
                "('paid', 'void', 'refunded')) = 3 FROM t"
            )[0],
        ),
        "distinct_count_status": (None, _sql("SELECT count(DISTINCT status) = 3 FROM t")[0]),
        "distinct_ratio_dup": (None, _aggregate("count(DISTINCT dup) / count(dup)", 0.7, 1)),
        "mean_between_x": (None, _aggregate("avg(x)", 50, 55)),
        "median_between_x": (None, _aggregate("median(x)", 51, None)),
        "stddev_between_x": (None, _aggregate("stddev_samp(x)", None, 30)),
        "sum_between_x": (None, _aggregate("sum(x)", 475, 475)),
        "min_between_x": (None, _aggregate("min(x)", 0, None, strict_min=True)),
        "max_between_x": (None, _aggregate("max(x)", None, 100)),
    }
    assert got == expected
    # the counts themselves, so that agreement is not agreement on nothing
    assert got["not_null_email"] == (3, True) and got["between_price"] == (4, True)
    assert got["matches_email"] == (2, False) and got["unique_dup"] == (5, False)
    assert got["compare_total_ge_sub"] == (4, False) and got["unique_a_b"] == (6, False)
    assert [c.rule for c in report.warnings] == ["matches_email"]


def test_decreasing_is_checked_against_the_previous_present_value():
    # GX's pandas engine diffs the non-null values in order: a rise fails
    (bad,) = _sql(
        "SELECT count(*) FROM (SELECT x, lag(x) OVER (ORDER BY id) p FROM t WHERE x IS NOT NULL) WHERE x > p"
    )
    doc = {
        "name": "t",
        "expectations": [{"type": "expect_column_values_to_be_decreasing", "kwargs": {"column": "x"}}],
    }
    res = contracts.from_gx(doc)["t"].validate(FRAME)["decreasing_x"]
    assert (res.failing, res.passed) == (bad, False) == (5, False)


def test_a_0x_suite_counts_as_gx_does():
    tables = contracts.from_gx(SUITE_0X, table="orders")
    assert list(tables) == ["orders"]
    got = {c.rule: (c.failing, c.passed) for c in tables["orders"].validate(FRAME)}
    expected = {
        "row_count": (None, _sql("SELECT count(*) = 12 FROM t")[0]),
        "not_null_status": _map("status IS NULL", "true", 0.9),
        # pandas' query keeps a row whose status is missing for !=
        "not_null_email": _map(
            "email IS NULL AND (status <> 'paid' OR status IS NULL)", "status <> 'paid' OR status IS NULL"
        ),
        "is_in_status": _map("id > 6 AND status NOT IN ('paid', 'open')", "id > 6 AND status IS NOT NULL"),
        "compare_total_gt_sub": _map("NOT total > sub", "total IS NOT NULL AND sub IS NOT NULL"),
        # distinct values equal to a set: none outside it, and each of it present
        "is_in_status_2": _map("status NOT IN ('paid', 'open', 'void')", "status IS NOT NULL"),
        "contains_values_status": (
            None,
            _sql(
                "SELECT count(DISTINCT status) FILTER (WHERE status IN ('paid', 'open', 'void')) = 3 FROM t"
            )[0],
        ),
        "not_matches_email": _map(
            "regexp_matches(email, '^z') OR regexp_matches(email, '\\.de$')", "email IS NOT NULL"
        ),
        "unique_a_b": _map(
            "(a, b) IN (SELECT (a, b) FROM t WHERE a IS NOT NULL AND b IS NOT NULL "
            "GROUP BY a, b HAVING count(*) > 1)",
            "a IS NOT NULL AND b IS NOT NULL",
        ),
        "distinct_across_x_y_total": _map(
            "x = y OR x = total OR y = total", "x IS NOT NULL AND y IS NOT NULL AND total IS NOT NULL"
        ),
        "between_id": _map("NOT id BETWEEN 1 AND 12", "id IS NOT NULL"),
    }
    assert got == expected
    assert got["not_null_email"] == (2, False)  # 1 where a NULL status compared to nothing, as in SQL
    assert got["compare_total_gt_sub"] == (6, False) and got["unique_a_b"] == (4, False)


def test_mostly_is_a_share_of_the_non_null_values_at_its_boundary():
    def verdict(mostly: float) -> tuple[int | None, bool | None]:
        doc = {
            "name": "t",
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "price", "min_value": 0, "max_value": 100, "mostly": mostly},
                }
            ],
        }
        res = contracts.from_gx(doc)["t"].validate(FRAME)["between_price"]
        return res.failing, res.passed

    # failing: 150, NaN, -3; of 10 non-null prices, 7 pass
    for mostly in (0.7, 0.71, 0.75):
        assert verdict(mostly) == _map("NOT (price BETWEEN 0 AND 100)", "price IS NOT NULL", mostly)
    assert [verdict(m)[1] for m in (0.7, 0.71, 0.75)] == [True, False, False]  # all 12 rows would pass 0.75


# ---------------------------------------------------------------------------------------------- round trips

ALL_KINDS = RuleSet(
    [
        r.not_null("id"),
        r.not_null("email", tolerance="25%"),
        r.not_null("status", name="status_present", severity="warn"),
        r.is_null("legacy", tolerance="10%"),
        r.unique("id", count="all"),
        r.unique("dup", count="all", tolerance="5%", when="dup IS NOT NULL"),
        r.between("price", 0, 100, min_inclusive=False, tolerance="40%", when="price IS NOT NULL"),
        r.between("shipped", "2024-01-01", "2024-12-31", max_inclusive=False),
        r.is_in("status", ["paid", "open"], when="price > 10"),
        r.not_in("status", ["void", 0, True], when="(status <> 'paid' OR status IS NULL)"),
        r.matches("email", "@", when="status IS NULL"),
        r.not_matches("email", "^z", when="\"odd col\" = 'ü'"),
        r.length_between("code", 1, 4),
        r.length_between("sku", 3, 3),
        r.is_json("payload"),
        r.matches_json_schema("payload", {"type": "object", "required": ["a"]}),
        r.increasing("id", strict=True),
        r.decreasing("x"),
        r.contains_values("status", ["paid"]),
        r.distinct_count("status", min=1, max=5),
        r.distinct_ratio("dup", min=0.5),
        r.mean_between("x", 10, 90),
        r.median_between("x", 10, 90, when="id >= 3"),
        r.stddev_between("x", max=50),
        r.sum_between("x", min=0, min_inclusive=False),
        r.min_between("x", min=0),
        r.max_between("x", max=100, max_inclusive=False),
        r.row_count(min=1, max=100),
        r.row_count(min=12, max=12, when="status = 'paid'", name="paid_orders"),
        r.row_count_matches("orders_source"),
        r.compare("total", ">=", "sub"),
        r.compare("total", "==", "sub", tolerance="10%", when="total IS NOT NULL AND sub IS NOT NULL"),
        r.expression(
            "COALESCE(total > sub, FALSE)",
            name="compare_total_gt_sub",
            when="(total IS NOT NULL OR sub IS NOT NULL)",
        ),
        r.expression("COALESCE(x = y, FALSE)", name="compare_x_eq_y", tolerance="50%"),
        r.unique("a", "b", count="all", nulls="equal", when="(a IS NOT NULL OR b IS NOT NULL)"),
        r.unique("a", "c", count="all", nulls="equal", when="id > 2"),
        r.unique("b", "c", count="all", tolerance="1%", when="b IS NOT NULL AND c IS NOT NULL"),
        r.distinct_across("x", "y"),
        r.distinct_across("x", "y", "total", when="x IS NOT NULL AND y IS NOT NULL AND total IS NOT NULL"),
        r.expression(
            "COALESCE(x + y = 100, FALSE)",
            name="multicolumn_sum_x_y",
            when="(x IS NOT NULL OR y IS NOT NULL)",
        ),
        r.expression("COALESCE(x + y + total = 100.5, FALSE)", name="multicolumn_sum_x_y_total"),
    ]
)


@pytest.mark.parametrize("version", ["1", "0"])
def test_rules_come_back_from_a_suite(version: str):
    rules = ALL_KINDS if version == "1" else RuleSet([x.with_options(severity=None) for x in ALL_KINDS.rules])
    doc = contracts.to_gx({"orders": rules}, version=version)
    back = contracts.from_gx(json.loads(json.dumps(doc)))
    assert list(back) == ["orders"]
    assert back["orders"].rules == rules.rules


def _canonical(suite: dict[str, Any]) -> dict[str, Any]:
    """``suite`` as GX writes one not yet saved: no ids, notes or version
    stamp, defaults left out; without distinct values equal to a set (read
    as two rules) and regex lists (read as one alternation), written back
    in those forms."""
    out = json.loads(json.dumps(suite))
    out.update({"id": None, "meta": {}} if "name" in out else {"meta": {}})
    items = []
    for item in out["expectations"]:
        if "equal_set" in str(item) or "regex_list" in str(item):
            continue
        for key in ("id", "notes", "description"):
            item.pop(key, None)
        item["meta"] = {}
        for key in (
            "parse_strings_as_datetimes",
            "allow_cross_type_comparisons",
            "result_format",
            "include_config",
            "catch_exceptions",
        ):
            item["kwargs"].pop(key, None)
        items.append(item)
    out["expectations"] = items
    return out


@pytest.mark.parametrize(("suite", "version"), [(SUITE_1X, "1"), (SUITE_0X, "0")], ids=["1.x", "0.x"])
def test_a_canonical_suite_comes_back(suite: dict[str, Any], version: str):
    canonical = _canonical(suite)
    assert contracts.to_gx(contracts.from_gx(canonical), version=version) == canonical


def test_a_regex_list_is_one_alternation():
    doc = _one(
        "expect_column_values_to_not_match_regex_list", {"column": "email", "regex_list": ["^z", "\\.de$"]}
    )
    (rule,) = contracts.from_gx(doc)["t"].rules
    assert rule == r.not_matches("email", "(?:^z)|(?:\\.de$)")
    (item,) = contracts.to_gx(contracts.from_gx(doc))["expectations"]
    assert item["kwargs"] == {"column": "email", "regex": "(?:^z)|(?:\\.de$)"}
    one = _one(
        "expect_column_values_to_match_regex_list", {"column": "e", "regex_list": ["a"], "match_on": "all"}
    )
    assert contracts.from_gx(one)["t"].rules == [r.matches("e", "a")]


def test_distinct_values_equal_to_a_set_are_two_rules_both_ways():
    item = {"column": "status", "value_set": ["paid", "open", "void"]}
    doc = {
        "expectation_suite_name": "t",
        "expectations": [{"expectation_type": "expect_column_distinct_values_to_equal_set", "kwargs": item}],
    }
    rules = contracts.from_gx(doc)["t"].rules
    assert rules == [r.is_in("status", item["value_set"]), r.contains_values("status", item["value_set"])]
    written = contracts.to_gx(contracts.from_gx(doc), version="0")["expectations"]
    assert [(e["expectation_type"], e["kwargs"]) for e in written] == [
        ("expect_column_values_to_be_in_set", item),
        ("expect_column_distinct_values_to_contain_set", item),
    ]


def test_a_written_suite_file_reads_back(tmp_path: Path):
    tables = {"orders": ALL_KINDS}
    path = contracts.write(tables, tmp_path / "orders.json", format="gx")
    assert json.loads(path.read_text(encoding="utf-8"))["name"] == "orders"
    assert contracts.read(path)["orders"].rules == ALL_KINDS.rules
    assert contracts.read(path, table="sales")["sales"].rules == ALL_KINDS.rules


def test_a_name_met_twice_is_told_apart_and_kept():
    item = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}
    tables = contracts.from_gx({"name": "t", "expectations": [item, item]})
    assert [x.name for x in tables["t"].rules] == ["not_null_id", "not_null_id_2"]
    doc = contracts.to_gx(tables)
    assert [e["meta"] for e in doc["expectations"]] == [{}, {"name": "not_null_id_2"}]
    assert contracts.from_gx(doc)["t"].rules == tables["t"].rules


# ------------------------------------------------------------------------------------------------ unsupported


def _one(etype: str, kwargs: dict[str, Any], **item: Any) -> dict[str, Any]:
    return {"name": "t", "expectations": [{"type": etype, "kwargs": kwargs, **item}]}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_one("expect_column_to_exist", {"column": "id"}), "expect_column_to_exist: not supported"),
        (
            _one("expect_column_values_to_be_of_type", {"column": "id", "type_": "int64"}),
            "of_type: not supported",
        ),
        (
            _one(
                "expect_column_quantile_values_to_be_between",
                {"column": "x", "quantile_ranges": {"quantiles": [0.5], "value_ranges": [[0, 1]]}},
            ),
            "nearest-rank",
        ),
        (
            _one("expect_column_values_to_match_strftime_format", {"column": "d", "strftime_format": "%Y"}),
            "strftime",
        ),
        (
            _one(
                "expect_column_values_to_match_regex_list",
                {"column": "e", "regex_list": ["a", "b"], "match_on": "all"},
            ),
            "match_on 'all'",
        ),
        (
            _one("expect_select_column_values_to_be_unique_within_record", {"column_list": ["x", "y", "z"]}),
            "ignore_row_if 'all_values_are_missing' with 3 columns",
        ),
        (
            _one(
                "expect_column_values_to_not_be_null",
                {
                    "column": "a",
                    "row_condition": 'col("a") > 5 & col("b") < 3',
                    "condition_parser": "great_expectations",
                },
            ),
            'row_condition \'col("a") > 5 & col("b") < 3\': not supported',
        ),
        (
            _one(
                "expect_column_values_to_not_be_null",
                {"column": "a", "row_condition": 'col("s") > "m"', "condition_parser": "great_expectations"},
            ),
            "row_condition",
        ),
        (
            _one(
                "expect_column_values_to_not_be_null",
                {"column": "a", "row_condition": "a > 5 AND b < 2", "condition_parser": "spark"},
            ),
            "row_condition",
        ),
        (
            _one("expect_column_values_to_not_be_null", {"column": "a", "row_condition": "a > 5"}),
            "a row_condition needs its condition_parser",
        ),
        (_one("expect_column_values_to_not_be_null", {"column": "a"}, severity="info"), "severity 'info'"),
        (
            _one("expect_column_values_to_be_between", {"column": "a", "min_value": {"$PARAMETER": "lo"}}),
            "a suite parameter",
        ),
        (
            _one(
                "expect_column_values_to_be_increasing", {"column": "a", "parse_strings_as_datetimes": True}
            ),
            "parse_strings_as_datetimes True: not supported",
        ),
        (
            _one(
                "expect_column_proportion_of_unique_values_to_be_between",
                {"column": "a", "min_value": 0.5, "strict_min": True},
            ),
            "strict_min: not supported",
        ),
        (
            _one("expect_column_distinct_values_to_be_in_set", {"column": "a", "value_set": []}),
            "empty value_set",
        ),
        (
            _one("expect_column_values_to_not_be_null", {"column": "a", "mostlyy": 0.5}),
            "mostlyy: unknown argument",
        ),
        (_one("expect_column_values_to_not_be_null", {"column": "a"}, kwarg={}), "kwarg: unknown key"),
        (_one("expect_column_values_to_be_between", {"column": "a"}), "give min_value, max_value or both"),
        (
            _one("expect_column_values_to_match_regex", {"column": "a", "regex": "(?<=a)b"}),
            "expectations[0]:",
        ),
        (
            {"expectation_suite_name": "t", "expectations": [], "evaluation_parameters": {"lo": 1}},
            "evaluation_parameters: not supported",
        ),
    ],
)
def test_what_tillflow_cannot_count_the_same_is_named(doc: dict[str, Any], message: str):
    with pytest.raises(RuleError) as exc:
        contracts.from_gx(doc)
    assert message in str(exc.value)
    assert str(exc.value).startswith("gx contract")


def test_an_error_in_a_suite_file_names_its_line(tmp_path: Path):
    doc = _one("expect_column_values_to_not_be_null", {"column": "id"})
    doc["expectations"].append({"type": "expect_column_to_exist", "kwargs": {"column": "id"}})
    path = tmp_path / "suite.json"
    text = json.dumps(doc, indent=2)
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index('      "type": "expect_column_to_exist",')  # the item's first key
    with pytest.raises(RuleError) as exc:
        contracts.read(path)
    assert str(exc.value).startswith(f"{path}:{line}: gx contract expectations[1]: expect_column_to_exist")


# ------------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([r.not_null("a", tolerance=3)], "rule not_null_a: tolerance: a count of failing rows (3)"),
        ([r.row_count(min=1, by="status")], "rule row_count: by:"),
        ([r.expression(pl.col("a") > 1, name="positive")], "rule positive: expression"),
        ([r.not_null("a", when=pl.col("b") > 1)], "rule not_null_a: when: a Polars expression"),
        ([r.freshness("ts", "1d")], "rule freshness_ts: freshness: no GX expectation"),
        ([r.unique("a")], "rule unique_a: count: GX counts every copy"),
        ([r.between("a", 0, 1, tolerance="5%")], "rule between_a: tolerance: GX's mostly is a share"),
        ([r.quantile_between("a", 0.5, 0, 1)], "rule quantile_between_a: quantile_between: no GX"),
        ([r.compare("a", "!=", "b")], "rule compare_a_ne_b: compare: GX has no expectation for '!='"),
        ([r.distinct_across("a", "b", "c")], "rule distinct_across_a_b_c: distinct_across"),
        ([r.expression("a > 1")], "rule expression_a_1: expression: GX has no expectation"),
        ([r.not_null("a", when="a > 1 OR b < 2")], "rule not_null_a: when: 'a > 1 OR b < 2' has no GX"),
        ([r.distinct_ratio("a", min=0.1, by="b")], "by: GX judges a whole batch"),
    ],
)
def test_a_rule_without_an_expectation_is_named(rules: list[Any], message: str):
    with pytest.raises(RuleError) as exc:
        contracts.to_gx(RuleSet(rules), table="t")
    assert message in str(exc.value)


def test_a_suite_holds_one_table_and_0x_has_no_severity():
    with pytest.raises(RuleError, match="one table's expectations, got 2 tables"):
        contracts.to_gx({"a": RuleSet([r.not_null("x")]), "b": RuleSet([r.not_null("x")])})
    with pytest.raises(RuleError, match="rule not_null_x: severity: a GX 0.x suite has no severity"):
        contracts.to_gx(RuleSet([r.not_null("x", severity="warn")]), table="t", version="0")
