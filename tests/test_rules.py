"""tillflow.rules: every expected count is worked out by hand from the small frame written beside it."""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tillflow as tl
from tillflow import rules as r

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
NAN = float("nan")
D = Decimal


def check(rule, df, **ruleset_kwargs):
    """Validate `df` against one single-column rule and return its only CheckResult."""
    report = tl.RuleSet([rule], **ruleset_kwargs).validate(df, now=NOW)
    (result,) = report.results
    return result


def failing(rule, df) -> int | None:
    return check(rule, df).failing


# --------------------------------------------------------------------------------------------- not_null


def test_not_null_counts_nulls():
    df = pl.DataFrame({"id": [1, None, 3, None, 5]})
    res = check(r.not_null("id"), df)
    assert (res.rule, res.kind, res.columns, res.severity) == ("not_null_id", "not_null", ("id",), "error")
    assert (res.passed, res.failing, res.fraction) == (False, 2, 2 / 5)


def test_not_null_counts_nan_as_missing():
    df = pl.DataFrame({"x": [1.0, NAN, None, 0.0, -0.0, math.inf]})
    assert failing(r.not_null("x"), df) == 2  # NaN and null; inf and -0.0 are values


def test_not_null_empty_and_unicode_strings_are_values():
    df = pl.DataFrame({"s": ["", None, "Zoë", "東京", "🍕", " "]})
    assert failing(r.not_null("s"), df) == 1


def test_not_null_expands_one_check_per_column():
    df = pl.DataFrame({"a": [1, None, None], "b": ["x", "y", None]})
    report = tl.RuleSet([r.not_null("a", "b")]).validate(df)
    assert [(c.rule, c.columns, c.failing) for c in report.results] == [
        ("not_null_a", ("a",), 2),
        ("not_null_b", ("b",), 1),
    ]
    named = tl.RuleSet([r.not_null("a", "b", name="filled")]).validate(df)
    assert [(c.rule, c.failing) for c in named.results] == [("filled[a]", 2), ("filled[b]", 1)]


def test_passing_check():
    res = check(r.not_null("id"), pl.DataFrame({"id": [1, 2, 3]}))
    assert (res.passed, res.failing, res.fraction) == (True, 0, 0.0)


# ----------------------------------------------------------------------------------------------- unique


def test_unique_counts_repeats_after_the_first_and_ignores_nulls():
    df = pl.DataFrame({"id": [1, 2, 2, 3, 3, 3, None, None]})
    res = check(r.unique("id"), df)
    # 2 repeats once, 3 repeats twice; the two nulls are ignored
    assert (res.rule, res.kind, res.failing, res.fraction) == ("unique_id", "unique", 3, 3 / 8)


def test_unique_nan_equals_nan():
    df = pl.DataFrame({"x": [NAN, 1.0, NAN, 1.0, None, None, NAN]})
    assert failing(r.unique("x"), df) == 3  # NaN three times -> 2, 1.0 twice -> 1


def test_unique_unicode_strings_compare_exactly():
    """Precomposed "Zoë" and "Zoe" + combining diaeresis are different strings."""
    df = pl.DataFrame({"name": ["Zoë", "Zoe", "Zoe\u0308", "東京", "東京", "🍕", "🍕", "🍕", "zoë"]})
    assert failing(r.unique("name"), df) == 3  # 東京 -> 1, 🍕 -> 2


def test_unique_huge_values():
    ints = pl.DataFrame({"n": [I64_MAX, I64_MIN, I64_MAX, 0, I64_MIN, -1, I64_MAX - 1]})
    floats = pl.DataFrame({"x": [1e308, -1e308, 1e308, math.inf, math.inf, -math.inf]})
    assert failing(r.unique("n"), ints) == 2
    assert failing(r.unique("x"), floats) == 2


def test_unique_compound_key():
    df = pl.DataFrame(
        {
            "order_id": [1, 1, 1, 2, 1, 1, 2, 2, 3],
            "line_no": [1, 2, 1, 1, None, None, 1, 1, 1],
        }
    )
    res = check(r.unique("order_id", "line_no"), df)
    # (1,1) twice -> 1, (2,1) three times -> 2, (1,null) ignored
    assert (res.rule, res.columns, res.failing) == ("unique_order_id_line_no", ("order_id", "line_no"), 3)
    assert check(r.unique("order_id", "line_no", name="line_key"), df).rule == "line_key"


def test_unique_compound_key_compares_tuples_not_joined_text():
    df = pl.DataFrame(
        {
            "a": ["a_b", "a", "a|b", "a", "ab", "a", "", "x", "1", "12"],
            "b": ["c", "b_c", "c", "b|c", "", "b", "x", "", "23", "3"],
        }
    )
    assert failing(r.unique("a", "b"), df) == 0


def test_unique_compound_key_mixed_types():
    df = pl.DataFrame({"sku": ["a", "a", "a", "b", None], "size": [1, 1, 2, 1, 1]})
    assert failing(r.unique("sku", "size"), df) == 1


# ---------------------------------------------------------------------------------------------- between


@pytest.mark.parametrize(
    ("min_inclusive", "max_inclusive", "expected"),
    [(True, True, 2), (False, True, 3), (True, False, 3), (False, False, 4)],
)
def test_between_inclusive_flags(min_inclusive, max_inclusive, expected):
    df = pl.DataFrame({"n": [0, 5, 10, -1, 11, None]})
    rule = r.between("n", min=0, max=10, min_inclusive=min_inclusive, max_inclusive=max_inclusive)
    res = check(rule, df)
    assert (res.rule, res.kind, res.failing) == ("between_n", "between", expected)


def test_between_floats_nan_fails_null_passes():
    df = pl.DataFrame({"x": [0.0, -0.0, 0.5, 1.0, 1.0000000000000002, -5e-324, NAN, None, math.inf]})
    # fail: 1.0000000000000002, -5e-324, NaN, inf
    assert failing(r.between("x", min=0.0, max=1.0), df) == 4


def test_between_int_column_with_float_bounds():
    df = pl.DataFrame({"n": [1, 2, 3]})
    assert failing(r.between("n", min=1.5, max=2.5), df) == 2


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(0, 10, 2), (D("0.01"), D("9.99"), 4), (D("-0.01"), D("10.01"), 0)],
)
def test_between_decimals(lo, hi, expected):
    values = [D("0.00"), D("9.99"), D("10.00"), D("10.01"), D("-0.01"), None]
    df = pl.DataFrame({"p": values}, schema={"p": pl.Decimal(10, 2)})
    assert failing(r.between("p", min=lo, max=hi), df) == expected


@pytest.mark.parametrize(("inclusive", "expected"), [(True, 2), (False, 4)])
def test_between_dates_with_iso_bounds(inclusive, expected):
    days = [dt.date(2024, 1, 1), dt.date(2024, 1, 31), dt.date(2023, 12, 31), dt.date(2024, 2, 1)]
    df = pl.DataFrame({"d": [*days, dt.date(2024, 1, 15), None]})
    rule = r.between(
        "d", min="2024-01-01", max="2024-01-31", min_inclusive=inclusive, max_inclusive=inclusive
    )
    assert failing(rule, df) == expected


def test_between_naive_datetimes_with_iso_bounds():
    df = pl.DataFrame(
        {
            "t": [
                dt.datetime(2024, 1, 1, 0, 0),
                dt.datetime(2024, 1, 1, 23, 59, 59, 999999),
                dt.datetime(2024, 1, 2, 0, 0),  # fails
                dt.datetime(2023, 12, 31, 23, 59, 59, 999999),  # fails
                None,
            ]
        }
    )
    rule = r.between("t", min="2024-01-01T00:00:00", max="2024-01-01T23:59:59.999999")
    assert failing(rule, df) == 2


def test_between_aware_datetimes_respect_bound_offsets():
    """The bound 09:00+09:00 is midnight UTC: only the 23:00 UTC row is too early."""
    df = pl.DataFrame(
        {"t": [dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC), dt.datetime(2023, 12, 31, 23, 0, tzinfo=UTC)]}
    )
    rule = r.between("t", min="2024-01-01T09:00:00+09:00", max="2024-12-31T00:00:00+00:00")
    assert failing(rule, df) == 1


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(I64_MIN, I64_MAX, 0), (I64_MIN + 1, I64_MAX, 1), (I64_MIN, I64_MAX - 1, 1), (0, I64_MAX, 2)],
)
def test_between_extreme_ints(lo, hi, expected):
    df = pl.DataFrame({"n": [I64_MIN, -1, 0, I64_MAX]})
    assert failing(r.between("n", min=lo, max=hi), df) == expected


def test_between_extreme_floats():
    df = pl.DataFrame({"x": [1e308, -1e308, 1.7976931348623157e308, math.inf, -math.inf]})
    assert failing(r.between("x", min=-1e308, max=1e308), df) == 3


# ---------------------------------------------------------------------------------------------- matches

EMAIL = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"


def test_matches_email_pattern():
    df = pl.DataFrame({"email": ["ann@shop.io", "bad", "", None, "zoë@例え.jp", "two@@x.io", " ann@shop.io"]})
    res = check(r.matches("email", EMAIL, name="email_format"), df)
    # fail: "bad", "", "two@@x.io", " ann@shop.io"; null passes
    assert (res.rule, res.kind, res.failing) == ("email_format", "matches", 4)


def test_matches_is_an_unanchored_case_sensitive_search():
    df = pl.DataFrame({"s": ["xaby", "ab", "ba", "AB", "a\nb"]})
    assert failing(r.matches("s", "ab"), df) == 3


def test_matches_counts_characters_not_bytes():
    df = pl.DataFrame({"s": ["東京都", "abc", "ab", "🍕🍕🍕", "Zoë", "Zoe\u0308"]})
    assert failing(r.matches("s", r"^.{3}$"), df) == 2  # "ab" and the 4-character "Zoe" + U+0308


def test_matches_word_class_is_unicode():
    df = pl.DataFrame({"s": ["東京", "Zoë", "a b", "🍕", "x_1"]})
    assert failing(r.matches("s", r"^\w+$"), df) == 2  # "a b" and the emoji


# ----------------------------------------------------------------------------------------------- is_in


def test_is_in_strings():
    df = pl.DataFrame({"status": ["paid", "pending", "refunded", "PAID", None, "", "東京", "paid "]})
    res = check(r.is_in("status", ["paid", "pending", "refunded", "東京"]), df)
    assert (res.kind, res.failing) == ("is_in", 3)  # "PAID", "", "paid "


def test_is_in_ints():
    df = pl.DataFrame({"n": [1, 2, 3, 4, None, I64_MAX, I64_MAX - 1]})
    assert failing(r.is_in("n", [1, 2, I64_MAX]), df) == 3  # 3, 4, I64_MAX - 1


@pytest.mark.parametrize(("values", "expected"), [([1.0], 2), ([1.0, NAN], 1)])
def test_is_in_nan_fails_unless_listed(values, expected):
    df = pl.DataFrame({"x": [1.0, NAN, 2.0, None]})
    assert failing(r.is_in("x", values), df) == expected


# ---------------------------------------------------------------------------------------- relationships


def test_relationships_against_a_frame():
    customers = pl.DataFrame({"id": [1, 2, 3, None]})
    orders = pl.DataFrame({"customer_id": [1, 2, 3, None, 99, 99, 0]})
    res = check(r.relationships("customer_id", to=customers, field="id"), orders)
    assert (res.kind, res.columns, res.failing) == ("relationships", ("customer_id",), 3)  # 99, 99, 0


def test_relationships_unicode_keys():
    parents = pl.DataFrame({"name": ["Zoë", "東京", "🍕"]})
    df = pl.DataFrame({"who": ["Zoë", "東京", "zoë", "🍕", None, "Zoe\u0308"]})
    assert failing(r.relationships("who", to=parents, field="name"), df) == 2  # "zoë", decomposed "Zoë"


def test_relationships_extreme_ints():
    parents = pl.DataFrame({"id": [I64_MAX, I64_MIN]})
    df = pl.DataFrame({"ref": [I64_MAX, I64_MIN, I64_MAX - 1, I64_MIN + 1]})
    assert failing(r.relationships("ref", to=parents, field="id"), df) == 2


# -------------------------------------------------------------------------------------------- row_count


@pytest.mark.parametrize(
    ("bounds", "passed"),
    [({"min": 3, "max": 3}, True), ({"min": 4}, False), ({"max": 2}, False), ({"min": 0, "max": 3}, True)],
)
def test_row_count_bounds_are_inclusive(bounds, passed):
    df = pl.DataFrame({"id": [1, 2, 3]})
    res = check(r.row_count(**bounds, name="rows"), df)
    assert (res.rule, res.kind, res.passed) == ("rows", "row_count", passed)
    assert (res.failing, res.fraction) == (None, None)
    assert "3" in res.observed


def test_row_count_of_an_empty_frame():
    res = check(r.row_count(min=1, name="rows"), pl.DataFrame(schema={"id": pl.Int64}))
    assert (res.passed, res.failing) == (False, None)
    assert "0" in res.observed


# -------------------------------------------------------------------------------------------- freshness


@pytest.mark.parametrize(
    ("max_age", "age"),
    [
        ("90s", dt.timedelta(seconds=90)),
        ("30m", dt.timedelta(minutes=30)),
        ("6h", dt.timedelta(hours=6)),
        ("2d", dt.timedelta(days=2)),
        ("1w", dt.timedelta(weeks=1)),
        (dt.timedelta(hours=36), dt.timedelta(hours=36)),
    ],
)
@pytest.mark.parametrize(("older_by", "passed"), [(dt.timedelta(0), True), (dt.timedelta(seconds=1), False)])
def test_freshness_boundary(max_age, age, older_by, passed):
    """Fails only when now - max(column) > max_age; the column is naive, so taken as UTC."""
    latest = (NOW - age - older_by).replace(tzinfo=None)
    df = pl.DataFrame({"at": [latest - dt.timedelta(days=30), latest, None]})
    res = check(r.freshness("at", max_age=max_age, name="fresh"), df)
    assert (res.rule, res.kind, res.passed) == ("fresh", "freshness", passed)
    assert (res.failing, res.fraction) == (None, None)
    assert res.observed


@pytest.mark.parametrize("now", [NOW, NOW.replace(tzinfo=None)], ids=["aware-now", "naive-now"])
@pytest.mark.parametrize(("max_age", "passed"), [("1h", True), ("59m", False)])
def test_freshness_with_a_time_zone_column(now, max_age, passed):
    """20:00 in Tokyo is 11:00 UTC, one hour before `now`."""
    df = pl.DataFrame({"at": [dt.datetime(2024, 3, 10, 20, 0)]}).with_columns(
        pl.col("at").dt.replace_time_zone("Asia/Tokyo")
    )
    report = tl.RuleSet([r.freshness("at", max_age=max_age, name="fresh")]).validate(df, now=now)
    assert report["fresh"].passed is passed


def test_freshness_future_rows_are_fresh():
    df = pl.DataFrame({"at": [(NOW + dt.timedelta(days=1)).replace(tzinfo=None)]})
    assert check(r.freshness("at", max_age="1h"), df).passed is True


@pytest.mark.parametrize("values", [[], [None, None]], ids=["empty", "all-null"])
def test_freshness_without_any_timestamp_fails(values):
    df = pl.DataFrame({"at": values}, schema={"at": pl.Datetime("us")})
    res = check(r.freshness("at", max_age="1w"), df)
    assert (res.passed, res.failing) == (False, None)


# ----------------------------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("dtype", "type_name", "passed"),
    [
        (pl.Int64, "int", True),
        (pl.Int32, "int", True),
        (pl.UInt16, "int", True),
        (pl.Float64, "int", False),
        (pl.Boolean, "int", False),
        (pl.Float64, "float", True),
        (pl.Float32, "float", True),
        (pl.Int64, "float", False),
        (pl.Decimal(10, 2), "decimal", True),
        (pl.Float64, "decimal", False),
        (pl.Int64, "number", True),
        (pl.Float64, "number", True),
        (pl.Decimal(10, 2), "number", True),
        (pl.String, "number", False),
        (pl.Boolean, "bool", True),
        (pl.Int8, "bool", False),
        (pl.String, "string", True),
        (pl.Int64, "string", False),
        (pl.Date, "date", True),
        (pl.Datetime("us"), "date", False),
        (pl.Datetime("us"), "datetime", True),
        (pl.Datetime("ns", "UTC"), "datetime", True),
        (pl.Date, "datetime", False),
    ],
)
def test_schema_types(dtype, type_name, passed):
    df = pl.DataFrame(schema={"c": dtype})
    res = check(r.schema({"c": type_name}, strict=False, name="shape"), df)
    assert (res.rule, res.kind, res.passed, res.failing) == ("shape", "schema", passed, None)


def test_schema_missing_column_fails_and_is_named():
    df = pl.DataFrame({"id": [1]})
    res = check(r.schema({"id": "int", "name": "string"}, strict=False), df)
    assert res.passed is False
    assert "name" in res.observed


@pytest.mark.parametrize(("strict", "passed"), [(False, True), (True, False)])
def test_schema_strict_rejects_unexpected_columns(strict, passed):
    df = pl.DataFrame({"id": [1], "extra": ["x"]})
    res = check(r.schema({"id": "int"}, strict=strict), df)
    assert res.passed is passed
    if not passed:
        assert "extra" in res.observed


# ------------------------------------------------------------------------------------------- expression

TOTALS = pl.DataFrame({"total": [10, 5, None, 3, 7], "subtotal": [5, 10, 1, 3, None]})


@pytest.mark.parametrize(
    "predicate",
    ["total >= subtotal", pl.col("total") >= pl.col("subtotal")],
    ids=["sql", "expr"],
)
def test_expression_false_fails_null_passes(predicate):
    res = check(r.expression(predicate, name="total_ge_subtotal"), TOTALS)
    assert (res.rule, res.kind, res.failing) == ("total_ge_subtotal", "expression", 1)  # only 5 >= 10


def test_expression_sql_with_unicode_literal():
    df = pl.DataFrame({"city": ["東京", "Zoë", None, "東京"]})
    assert failing(r.expression("city = '東京'", name="tokyo"), df) == 1


# ---------------------------------------------------------------------------------------------- compare


@pytest.mark.parametrize(("op", "expected"), [("<", 2), ("<=", 1), (">", 2), (">=", 1), ("==", 2), ("!=", 1)])
def test_compare_ops(op, expected):
    # non-null pairs (1,2) (2,2) (3,2); the rows with a null pass
    df = pl.DataFrame({"a": [1, 2, 3, None, 2], "b": [2, 2, 2, 2, None]})
    res = check(r.compare("a", op, "b", name="a_vs_b"), df)
    assert (res.rule, res.kind, res.columns, res.failing) == ("a_vs_b", "compare", ("a", "b"), expected)


@pytest.mark.parametrize(("op", "expected"), [("<", 3), ("<=", 3), (">", 4), (">=", 4), ("==", 4), ("!=", 3)])
def test_compare_nan_always_fails(op, expected):
    # rows 1-3 hold a NaN and fail for every op; (1.0, 2.0) decides the fourth
    df = pl.DataFrame({"a": [NAN, 1.0, NAN, 1.0], "b": [1.0, NAN, NAN, 2.0]})
    assert failing(r.compare("a", op, "b"), df) == expected


def test_compare_dates():
    ordered = [dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    shipped = [dt.date(2024, 1, 1), dt.date(2024, 1, 1), None]
    df = pl.DataFrame({"ordered": ordered, "shipped": shipped})
    assert failing(r.compare("ordered", "<=", "shipped"), df) == 1


def test_compare_decimals():
    df = pl.DataFrame(
        {"sub": [D("9.99"), D("10.01"), D("10.00")], "total": [D("10.00"), D("10.00"), D("10.00")]},
        schema={"sub": pl.Decimal(10, 2), "total": pl.Decimal(10, 2)},
    )
    assert failing(r.compare("sub", "<=", "total"), df) == 1


def test_compare_extreme_ints():
    df = pl.DataFrame({"a": [I64_MAX, I64_MIN, I64_MAX], "b": [I64_MIN, I64_MAX, I64_MAX - 1]})
    assert failing(r.compare("a", ">", "b"), df) == 1  # only I64_MIN > I64_MAX fails


# ------------------------------------------------------------------------------------- hostile names


def test_hostile_column_names():
    df = pl.DataFrame(
        {
            "order id": [1, 2, 2, None],
            'say "hi"': ["a", "b", "a", "a"],
            "it's": [1.0, -1.0, 2.0, 3.0],
            "a__b": ["x@y.io", "nope", None, "q@r.io"],
            "__": ["p", "p", "z", None],
        }
    )
    rs = tl.RuleSet(
        [
            r.not_null("order id"),  # 1
            r.unique("order id", 'say "hi"'),  # (1,a) (2,b) (2,a) (null,a): 0
            r.unique('say "hi"'),  # a b a a: 2
            r.between("it's", min=0, max=2.5),  # -1.0 and 3.0: 2
            r.matches("a__b", "@"),  # "nope": 1
            r.is_in("__", ["p"]),  # "z": 1
            r.expression(pl.col("it's") > 0, name="positive"),  # -1.0: 1
            r.expression('"order id" < 2', name="small_order"),  # 2, 2: 2
            r.compare("it's", "<=", "it's", name="self"),  # 0
            r.schema({"order id": "int", 'say "hi"': "string", "__": "string"}, strict=False),
        ],
        key=["order id"],
    )
    report = rs.validate(df)
    assert [c.failing for c in report.results] == [1, 0, 2, 2, 1, 1, 1, 2, 0, None]
    assert [c.passed for c in report.results] == [False, True, *[False] * 6, True, True]
    assert report.results[0].columns == ("order id",)
    sample = report.results[2].sample.select("order id", 'say "hi"')
    assert sample.to_dict(as_series=False) == {"order id": [2, None], 'say "hi"': ["a", "a"]}
    rows = rs.failing_rows(df)
    assert rows["order id"].to_list() == [2, 2, None]  # the first row breaks nothing
    assert rows.columns == [*df.columns, "_tf_failed_rules"]


# ---------------------------------------------------------------------------------------- empty frames

EMPTY = pl.DataFrame(
    schema={
        "id": pl.Int64,
        "email": pl.String,
        "price": pl.Float64,
        "cap": pl.Float64,
        "at": pl.Datetime("us"),
    }
)
PARENTS = pl.DataFrame({"id": [1, 2]})


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: r.not_null("id"), id="not_null"),
        pytest.param(lambda: r.unique("id"), id="unique"),
        pytest.param(lambda: r.unique("id", "email"), id="unique-compound"),
        pytest.param(lambda: r.between("price", min=0, max=1), id="between"),
        pytest.param(lambda: r.matches("email", "@"), id="matches"),
        pytest.param(lambda: r.is_in("email", ["a"]), id="is_in"),
        pytest.param(lambda: r.relationships("id", to=PARENTS, field="id"), id="relationships"),
        pytest.param(lambda: r.expression("price > 0", name="sql"), id="expression-sql"),
        pytest.param(lambda: r.expression(pl.col("price") > 0, name="expr"), id="expression-expr"),
        pytest.param(lambda: r.compare("price", "<=", "cap"), id="compare"),
    ],
)
def test_row_rules_pass_on_an_empty_frame(make):
    report = tl.RuleSet([make()]).validate(EMPTY, now=NOW)
    (res,) = report.results
    assert (report.rows, res.passed, res.failing, res.fraction) == (0, True, 0, 0.0)


def test_dataset_rules_on_an_empty_frame():
    rs = tl.RuleSet(
        [
            r.row_count(min=1, name="rows"),
            r.freshness("at", max_age="1d", name="fresh"),
            r.schema({"id": "int", "email": "string"}, strict=False, name="shape"),
        ]
    )
    report = rs.validate(EMPTY, now=NOW)
    assert [(c.rule, c.passed, c.failing) for c in report.results] == [
        ("rows", False, None),
        ("fresh", False, None),
        ("shape", True, None),
    ]


# ------------------------------------------------------------------------------------------- tolerance


def nulls(n_null: int, n_rows: int) -> pl.DataFrame:
    return pl.DataFrame({"x": [None] * n_null + [1] * (n_rows - n_null)}, schema={"x": pl.Int64})


@pytest.mark.parametrize(("n_null", "passed"), [(3, True), (4, False)])
def test_count_tolerance_boundary(n_null, passed):
    res = check(r.not_null("x", tolerance=3), nulls(n_null, 10))
    assert (res.passed, res.failing) == (passed, n_null)


@pytest.mark.parametrize(
    ("tolerance", "n_rows", "n_null", "passed"),
    [
        (0.01, 100, 1, True),
        (0.01, 100, 2, False),
        ("1%", 100, 1, True),
        ("1%", 100, 2, False),
        (0.29, 100, 29, True),  # 0.29 * 100 is 28.999999999999996 in floats; 29 / 100 == 0.29
        (0.29, 100, 30, False),
        ("2.5%", 200, 5, True),
        ("2.5%", 200, 6, False),
    ],
)
def test_fraction_tolerance_boundary(tolerance, n_rows, n_null, passed):
    res = check(r.not_null("x", tolerance=tolerance), nulls(n_null, n_rows))
    assert (res.passed, res.failing, res.fraction) == (passed, n_null, n_null / n_rows)


def test_default_tolerance_is_zero():
    assert check(r.not_null("x"), nulls(1, 100)).passed is False


def test_int_tolerance_one_is_a_count():
    assert check(r.not_null("x", tolerance=1), nulls(1, 2)).passed is True  # 50% of rows, but 1 row


def test_tolerance_applies_to_unique():
    df = pl.DataFrame({"id": [7, 7, 7, 8]})
    assert [check(r.unique("id", tolerance=t), df).passed for t in (1, 2)] == [False, True]


# ----------------------------------------------------------------------------------------- severities


def test_failing_warn_check_leaves_report_passed():
    df = pl.DataFrame({"sku": ["kiwi", "lime"], "qty": [-1, 2]})
    report = tl.RuleSet([r.between("qty", min=0, max=100, severity="warn")]).validate(df)
    assert report.passed is True
    assert [(c.rule, c.severity, c.passed, c.failing) for c in report.warnings] == [
        ("between_qty", "warn", False, 1)
    ]
    assert list(report.errors) == []
    assert report.raise_for_errors() is report


def test_raise_for_errors_names_check_count_and_keys():
    df = pl.DataFrame(
        {
            "sku": ["kiwi", "lime", "fig", "plum", "pear"],
            "qty": [-1, 2, -3, -4, None],
            "email": ["a@b.io", "a@b.io", "a@b.io", "a@b.io", None],
        }
    )
    rs = tl.RuleSet([r.between("qty", min=0, max=100), r.not_null("email", severity="warn")], key=["sku"])
    report = rs.validate(df)
    assert report.passed is False
    assert [c.rule for c in report.errors] == ["between_qty"]
    assert [c.rule for c in report.warnings] == ["not_null_email"]
    with pytest.raises(tl.ValidationError) as exc:
        report.raise_for_errors()
    message = str(exc.value)
    assert "between_qty" in message
    assert re.search(r"\b3\b", message)  # kiwi, fig, plum
    assert "kiwi" in message
    assert "not_null_email" not in message
    assert issubclass(tl.ValidationError, tl.TillflowError)


def test_passing_report_returns_itself():
    report = tl.RuleSet([r.not_null("id")]).validate(pl.DataFrame({"id": [1]}))
    assert report.passed is True
    assert report.raise_for_errors() is report


# --------------------------------------------------------------------------------------------- report

SHOP = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "email": ["a@b.io", None, "c@d.io", "e@f.io"],
        "price": [5.0, -1.0, 150.0, 20.0],
    }
)


def test_report_to_polars():
    rs = tl.RuleSet(
        [
            r.not_null("email"),  # fails 1 of 4
            r.unique("id"),  # passes
            r.between("price", min=0, max=100, severity="warn"),  # fails 2 of 4
            r.row_count(min=5, name="enough_rows"),  # 4 rows: fails
        ]
    )
    report = rs.validate(SHOP, now=NOW)
    assert (report.passed, report.rows) == (False, 4)
    table = report.to_polars()
    assert table.columns == [
        "rule", "kind", "columns", "severity", "status", "passed",
        "failing", "rows", "fraction", "tolerance", "observed",
    ]  # fmt: skip
    assert table["rule"].to_list() == ["not_null_email", "unique_id", "between_price", "enough_rows"]
    assert table["kind"].to_list() == ["not_null", "unique", "between", "row_count"]
    assert table["severity"].to_list() == ["error", "error", "warn", "error"]
    assert table["status"].to_list() == ["failed", "passed", "failed", "failed"]
    assert table["passed"].to_list() == [False, True, False, False]
    assert table["failing"].to_list() == [1, 0, 2, None]
    assert table["rows"].to_list() == [4, 4, 4, 4]
    assert table["fraction"].to_list() == [0.25, 0.0, 0.5, None]
    assert "4" in table["observed"][3]


def test_report_lookup_and_rendering():
    report = tl.RuleSet([r.not_null("email"), r.unique("id")]).validate(SHOP)
    assert report["unique_id"].rule == "unique_id"
    assert report["not_null_email"].failing == 1
    assert "not_null_email" in str(report)
    assert "not_null_email" in report._repr_html_()


def test_sample_is_capped_keyed_and_in_row_order():
    df = pl.DataFrame(
        {
            "id": [10, 11, 12, 13, 14, 15],
            "price": [-1.0, 5.0, 200.0, -3.0, 7.0, 999.0],
            "note": ["a", "b", "c", "d", "e", "f"],
        }
    )
    res = check(r.between("price", min=0, max=100), df, key=["id"], sample_size=2)
    assert res.failing == 4  # ids 10, 12, 13, 15
    # `_tf_row` is each failing row's position in the data, then the key and checked columns.
    assert res.sample.to_dict(as_series=False) == {"_tf_row": [0, 2], "id": [10, 12], "price": [-1.0, 200.0]}


def test_sample_default_size_is_ten():
    df = pl.DataFrame({"id": list(range(12)), "x": [None] * 12}, schema={"id": pl.Int64, "x": pl.Int64})
    res = check(r.not_null("x"), df, key=["id"])
    assert res.failing == 12
    assert res.sample.to_dict(as_series=False) == {
        "_tf_row": list(range(10)),
        "id": list(range(10)),
        "x": [None] * 10,
    }


def test_sample_with_compound_key():
    df = pl.DataFrame({"order_id": [1, 1, 2], "line_no": [1, 2, 1], "sku": ["a", None, None]})
    res = check(r.not_null("sku"), df, key=["order_id", "line_no"])
    assert res.sample.drop("_tf_row").to_dict(as_series=False) == {
        "order_id": [1, 2],
        "line_no": [2, 1],
        "sku": [None, None],
    }


def test_sample_when_the_checked_column_is_the_key():
    df = pl.DataFrame({"id": [5, 6, 5, 7, 6, 5]})
    res = check(r.unique("id"), df, key=["id"])
    assert res.sample.to_dict(as_series=False) == {"_tf_row": [2, 4, 5], "id": [5, 6, 5]}


def test_sample_without_key_holds_the_checked_columns():
    df = pl.DataFrame({"a": [1, 3, 5], "b": [2, 2, 9], "other": ["x", "y", "z"]})
    res = check(r.compare("a", "<", "b"), df)
    assert res.sample.to_dict(as_series=False) == {"_tf_row": [1], "a": [3], "b": [2]}


@pytest.mark.parametrize(
    ("mode", "passed", "status"),
    [
        ("collect_all", [True, False, False], ["passed", "failed", "failed"]),
        ("fail_fast", [True, False, None], ["passed", "failed", "skipped"]),
    ],
)
def test_fail_fast_skips_checks_after_the_first_failure(mode, passed, status):
    df = pl.DataFrame({"a": [1, 2], "b": [-1, 1], "c": [3, 3]})
    rs = tl.RuleSet([r.not_null("a"), r.between("b", min=0, max=9), r.unique("c")])
    report = rs.validate(df, mode=mode)
    assert [c.passed for c in report.results] == passed
    assert report.to_polars()["status"].to_list() == status
    assert report.passed is False
    if mode == "fail_fast":
        assert report.results[2].failing is None


# ------------------------------------------------------------------------------------------ streaming


def batch(ids, prices, days):
    return pl.DataFrame(
        {"id": ids, "price": prices, "at": [dt.datetime(2024, 3, d[0], d[1]) for d in days]},
        schema={"id": pl.Int64, "price": pl.Float64, "at": pl.Datetime("us")},
    )


BATCHES = [
    batch([1, 2, 3], [5.0, -1.0, 7.0], [(1, 0), (2, 0), (3, 0)]),
    batch([3, 4, 1], [None, 20.0, -2.0], [(9, 12), (4, 0), (5, 0)]),  # the latest row is in here
    batch([1], [0.0], [(6, 0)]),
    batch([], [], []),
]


def stream_rules() -> tl.RuleSet:
    return tl.RuleSet(
        [
            r.unique("id"),  # 1 2 3 | 3 4 1 | 1: three repeats
            r.between("price", min=0, max=10),  # -1, 20, -2
            r.not_null("price"),  # 1
            r.relationships("id", to=pl.DataFrame({"id": [1, 2, 3]}), field="id"),  # 4
            r.row_count(min=7, max=7, name="seven_rows"),
            r.freshness("at", max_age="1d", name="fresh"),  # latest 03-09 12:00, exactly 1 day old
        ],
        key=["id"],
        sample_size=2,
    )


def test_stream_of_batches_counts():
    report = stream_rules().validate(iter(BATCHES), now=NOW)
    assert report.rows == 7
    assert [c.failing for c in report.results] == [3, 3, 1, 1, None, None]
    assert [c.passed for c in report.results] == [False, False, False, False, True, True]
    # the sample's columns are test_sample_*'s concern; here: which rows, across batches
    assert report.results[0].sample["id"].to_list() == [3, 1]
    assert report.results[1].sample.select("id", "price").rows() == [(2, -1.0), (4, 20.0)]


@pytest.mark.parametrize(
    "source",
    [lambda: iter(BATCHES), lambda: BATCHES, lambda: pl.concat(BATCHES).lazy()],
    ids=["generator", "list", "lazy"],
)
def test_stream_and_lazy_match_one_frame(source):
    whole = stream_rules().validate(pl.concat(BATCHES), now=NOW)
    other = stream_rules().validate(source(), now=NOW)
    assert_frame_equal(other.to_polars(), whole.to_polars())
    for a, b in zip(other.results, whole.results, strict=True):
        assert_frame_equal(a.sample, b.sample)


# -------------------------------------------------------------------------------------- failing rows

ORDERS = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5],
        "email": ["a@x.io", None, "bad", "b@x.io", None],
        "price": [10, -1, 5, 20000, 3],
    }
)


def order_rules() -> tl.RuleSet:
    return tl.RuleSet(
        [
            r.not_null("email"),
            r.matches("email", "@", name="email_format"),
            r.between("price", min=0, max=10000),
            r.unique("id"),
            r.row_count(min=100, name="enough_rows"),  # fails, but names no row
        ]
    )


def test_failing_rows():
    rows = order_rules().failing_rows(ORDERS)
    assert rows.columns == ["id", "email", "price", "_tf_failed_rules"]
    assert rows.schema["_tf_failed_rules"] == pl.List(pl.String)
    assert rows.drop("_tf_failed_rules").to_dict(as_series=False) == {
        "id": [2, 3, 4, 5],
        "email": [None, "bad", "b@x.io", None],
        "price": [-1, 5, 20000, 3],
    }
    assert [sorted(x) for x in rows["_tf_failed_rules"].to_list()] == [
        ["between_price", "not_null_email"],
        ["email_format"],
        ["between_price"],
        ["not_null_email"],
    ]


def test_failing_rows_of_unique_are_the_repeats():
    df = pl.DataFrame({"pos": [0, 1, 2, 3, 4], "id": [1, 2, 1, 3, 1]})
    rows = tl.RuleSet([r.unique("id")]).failing_rows(df)
    assert rows["pos"].to_list() == [2, 4]
    assert rows["_tf_failed_rules"].to_list() == [["unique_id"], ["unique_id"]]


def test_failing_rows_of_a_clean_frame_is_empty():
    rows = order_rules().failing_rows(ORDERS.filter(pl.col("id") == 1))
    assert rows.height == 0
    assert rows.columns == ["id", "email", "price", "_tf_failed_rules"]


def joined(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(pl.col("_tf_failed_rules").list.join("; "))


def test_export_failures_csv(tmp_path):
    path = tmp_path / "bad.csv"
    order_rules().export_failures(ORDERS, str(path))
    assert_frame_equal(pl.read_csv(path), joined(order_rules().failing_rows(ORDERS)))


def test_export_failures_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    order_rules().export_failures(ORDERS, str(path))
    assert_frame_equal(pl.read_parquet(path), order_rules().failing_rows(ORDERS))


def read_xlsx(path: Path) -> list[list[str | None]]:
    """The first sheet of an .xlsx as rows of cell text, read with the standard library only."""
    m = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        shared = []
        if "xl/sharedStrings.xml" in names:
            root = ET.fromstring(z.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{m}t")) for si in root.iter(f"{m}si")]
        sheet = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))[0]
        root = ET.fromstring(z.read(sheet))
    table = []
    for row in root.iter(f"{m}row"):
        cells: dict[int, str | None] = {}
        for c in row.iter(f"{m}c"):
            ref = c.get("r")
            col = len(cells) if ref is None else column_index(re.match(r"[A-Z]+", ref).group())
            if c.get("t") == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(f"{m}t"))
            else:
                v = c.find(f"{m}v")
                text = None if v is None else v.text
                if c.get("t") == "s" and text is not None:
                    text = shared[int(text)]
            cells[col] = text
        table.append([cells.get(i) for i in range(max(cells) + 1)] if cells else [])
    return table


def column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - ord("A") + 1
    return n - 1


def test_export_failures_xlsx(tmp_path):
    path = tmp_path / "bad.xlsx"
    order_rules().export_failures(ORDERS, str(path))
    expected = joined(order_rules().failing_rows(ORDERS))
    sheet = read_xlsx(path)
    assert sheet[0] == expected.columns
    assert len(sheet) == 1 + expected.height
    for got, want in zip(sheet[1:], expected.rows(), strict=True):
        got = got + [None] * (len(want) - len(got))
        for cell, value in zip(got, want, strict=True):
            if value is None:
                assert cell in (None, "")
            elif isinstance(value, int):
                assert float(cell) == value
            else:
                assert cell == value


# ----------------------------------------------------------------------------------------- bad configs

CONFIG = pl.DataFrame(
    {
        "qty": [1, 2],
        "email": ["a@b.io", "x"],
        "price": [1.5, 2.0],
        "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
        "at": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)],
    }
)
CODES = pl.DataFrame({"code": ["1", "2"]})


@pytest.mark.parametrize(
    "make",
    [
        lambda: r.not_null("nope", name="bad_rule"),
        lambda: r.unique("nope", name="bad_rule"),
        lambda: r.unique("qty", "nope", name="bad_rule"),
        lambda: r.between("nope", min=0, max=1, name="bad_rule"),
        lambda: r.matches("nope", "x", name="bad_rule"),
        lambda: r.is_in("nope", ["a"], name="bad_rule"),
        lambda: r.relationships("nope", to=CODES, field="code", name="bad_rule"),
        lambda: r.relationships("email", to=CODES, field="nope", name="bad_rule"),
        lambda: r.freshness("nope", max_age="1d", name="bad_rule"),
        lambda: r.compare("qty", "<", "nope", name="bad_rule"),
        lambda: r.expression("nope > 1", name="bad_rule"),
        lambda: r.expression(pl.col("nope") > 1, name="bad_rule"),
    ],
)
def test_unknown_column_raises_rule_error(make):
    with pytest.raises(tl.RuleError) as exc:
        tl.RuleSet([make()]).validate(CONFIG, now=NOW)
    assert "bad_rule" in str(exc.value)
    assert "nope" in str(exc.value)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: r.between("email", min=0, max=1, name="bad_rule"), id="between-string"),
        pytest.param(lambda: r.is_in("qty", ["1", "2"], name="bad_rule"), id="is_in-str-values-on-int"),
        pytest.param(lambda: r.is_in("email", [1, 2], name="bad_rule"), id="is_in-int-values-on-str"),
        pytest.param(lambda: r.is_in("qty", [1, "2"], name="bad_rule"), id="is_in-mixed-values"),
        pytest.param(lambda: r.matches("qty", "1", name="bad_rule"), id="matches-int"),
        pytest.param(lambda: r.compare("qty", "<", "email", name="bad_rule"), id="compare-int-string"),
        pytest.param(
            lambda: r.relationships("qty", to=CODES, field="code", name="bad_rule"),
            id="relationships-int-string",
        ),
        pytest.param(lambda: r.freshness("email", max_age="1d", name="bad_rule"), id="freshness-string"),
        pytest.param(
            lambda: r.between("day", min="yesterday", max="2024-12-31", name="bad_rule"),
            id="between-bad-date",
        ),
    ],
)
def test_type_mismatch_raises_rule_error(make):
    """The message names the rule; the contract's "field" is the config field, not the data column."""
    with pytest.raises(tl.RuleError, match="bad_rule"):
        tl.RuleSet([make()]).validate(CONFIG, now=NOW)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: r.matches("email", "(", name="bad_rule"), id="regex-open-paren"),
        pytest.param(lambda: r.matches("email", "[a-", name="bad_rule"), id="regex-open-class"),
        pytest.param(lambda: r.matches("email", "a{2,1}", name="bad_rule"), id="regex-bad-range"),
        pytest.param(lambda: r.matches("email", "(?<=a)b", name="bad_rule"), id="regex-lookbehind"),
        pytest.param(lambda: r.compare("qty", "=>", "price", name="bad_rule"), id="op-=>"),
        pytest.param(lambda: r.compare("qty", "<>", "price", name="bad_rule"), id="op-<>"),
        pytest.param(lambda: r.compare("qty", "=", "price", name="bad_rule"), id="op-="),
        pytest.param(lambda: r.compare("qty", "lt", "price", name="bad_rule"), id="op-lt"),
        pytest.param(lambda: r.not_null("qty", tolerance=1.0, name="bad_rule"), id="tolerance-1.0"),
        pytest.param(lambda: r.not_null("qty", tolerance=1.5, name="bad_rule"), id="tolerance-1.5"),
        pytest.param(lambda: r.unique("qty", tolerance=2.0, name="bad_rule"), id="tolerance-2.0"),
        pytest.param(lambda: r.unique("qty", tolerance="lots", name="bad_rule"), id="tolerance-text"),
        pytest.param(lambda: r.not_null("qty", severity="fatal", name="bad_rule"), id="severity"),
        pytest.param(lambda: r.freshness("at", max_age="2x", name="bad_rule"), id="max-age-unit"),
        pytest.param(lambda: r.schema({"qty": "banana"}, name="bad_rule"), id="schema-type"),
        pytest.param(lambda: r.expression("qty >>> 0", name="bad_rule"), id="sql-syntax"),
        pytest.param(lambda: r.expression(pl.col("qty") + 1, name="bad_rule"), id="expr-not-boolean"),
    ],
)
def test_bad_config_raises_rule_error(make):
    with pytest.raises(tl.RuleError, match="bad_rule"):
        tl.RuleSet([make()]).validate(CONFIG, now=NOW)


# ------------------------------------------------------------------------------------- pytest helper


def test_assert_valid():
    from tillflow.testing import assert_valid

    assert_valid(pl.DataFrame({"id": [1, 2]}), [r.not_null("id"), r.unique("id")])
    with pytest.raises(AssertionError, match="unique_id"):
        assert_valid(pl.DataFrame({"id": [1, 1]}), [r.not_null("id"), r.unique("id")])
