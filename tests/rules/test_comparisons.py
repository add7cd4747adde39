"""expression and compare: predicates over the columns of a row, as SQL, polars expressions or
operators between two columns."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from support.rules import I64_MAX, I64_MIN, NAN, D, check, failing
from tillflow import rules as r

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
