"""Rules about the whole data set: row_count (volume), freshness and schema."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import tillflow as tl
from support.rules import NOW, check
from tillflow import rules as r

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
        ("1.5h", dt.timedelta(minutes=90)),
        ("1d12h", dt.timedelta(hours=36)),
        ("2 hours 30 min", dt.timedelta(minutes=150)),
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
