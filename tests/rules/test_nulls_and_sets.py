"""not_null and is_in: missing values (null, NaN) and values outside an allowed set."""

from __future__ import annotations

import math

import polars as pl
import pytest

import tillflow as tl
from support.rules import I64_MAX, NAN, check, failing
from tillflow import rules as r

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
