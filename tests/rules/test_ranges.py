"""between: values within bounds, inclusive or not, for numbers, decimals, dates and times."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from support.rules import I64_MAX, I64_MIN, NAN, UTC, D, check, failing
from tillflow import rules as r

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
