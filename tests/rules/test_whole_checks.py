"""Whole-data checks at their edges: row_count_matches' exact bounds, week buckets of no_gaps,
a null listed in contains_values, a standard deviation of one value, and no_outliers' samples.
Every expected value is worked out by hand from the frame beside it."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import tillflow as tl
from support.rules import check
from tillflow import rules as r

# -------------------------------------------------------------------------------------- row_count_matches


@pytest.mark.parametrize(
    ("rows", "other", "within", "passed"),
    [
        (10, 10, 0, True),
        (9, 10, 0, False),
        (9, 10, 0.05, False),  # 5% of 10 is half a row: no whole row either way
        (11, 10, 0.05, False),
        (9, 10, 0.1, True),
        (11, 10, 0.1, True),
        (8, 10, 0.1, False),
        (12, 10, 0.1, False),
        (71, 100, 0.29, True),  # the boundary, exactly
        (70, 100, 0.29, False),
        (129, 100, 0.29, True),
        (130, 100, 0.29, False),
        (0, 0, 0.5, True),
        (1, 0, 0.5, False),
    ],
)
def test_row_count_matches_allows_exactly_within_times_the_other_count(rows, other, within, passed):
    rule = r.row_count_matches("source", within=within)
    report = tl.RuleSet([rule]).validate(
        pl.DataFrame({"x": range(rows)}), references={"source": pl.DataFrame({"x": range(other)})}
    )
    res = report.results[0]
    assert res.passed == passed
    assert res.observed == f"{rows} rows vs {other} in source"


def test_row_count_matches_a_frame_shows_both_counts():
    res = check(r.row_count_matches(pl.DataFrame({"x": range(3)})), pl.DataFrame({"x": range(4)}))
    assert (res.passed, res.kind) == (False, "row_count_matches")
    assert res.observed == "4 rows vs 3 in the other table"


# ------------------------------------------------------------------------------------------------ no_gaps

MONDAYS = [dt.date(2024, 1, 1) + dt.timedelta(weeks=w) for w in range(6)]


@pytest.mark.parametrize("every", ["1w", "7d", "168h"])
@pytest.mark.parametrize("as_datetime", [False, True])
def test_week_buckets_start_on_monday_as_bucket_weeks_do(every, as_datetime):
    # A Wednesday and a Sunday in weeks 0, 1, 3 and 5: the weeks of 2024-01-15 and 2024-01-29 are missing.
    weeks = [MONDAYS[0], MONDAYS[1], MONDAYS[3], MONDAYS[5]]
    days = [m + dt.timedelta(days=d) for m in weeks for d in (2, 6)]
    frame = pl.DataFrame({"d": days})
    if as_datetime:
        frame = frame.with_columns(pl.col("d").cast(pl.Datetime("us")) + pl.duration(hours=13))
    res = check(r.no_gaps("d", every), frame)
    assert res.observed == "2 missing: 2024-01-15, 2024-01-29"
    # The weeks bucket() groups by start on the same Mondays.
    grouped = check(r.row_count(max=1, by=r.bucket("d", every)), frame)
    assert grouped.sample[f"d@{every}"].cast(pl.Date).to_list() == weeks


def test_buckets_of_two_weeks_count_from_a_monday_as_polars_does():
    days = [dt.date(2024, 1, 3), dt.date(2024, 2, 1)]  # 2w buckets start on 2023-12-25 and 2024-01-22
    frame = pl.DataFrame({"d": days})
    starts = frame["d"].dt.truncate("2w").to_list()
    assert starts == [dt.date(2023, 12, 25), dt.date(2024, 1, 22)]
    assert check(r.no_gaps("d", "14d"), frame).observed == "1 missing: 2024-01-08"


def test_day_buckets_still_count_from_midnight_utc():
    frame = pl.DataFrame({"d": [dt.date(2024, 1, 1), dt.date(2024, 1, 4)]})
    assert check(r.no_gaps("d", "1d"), frame).observed == "2 missing: 2024-01-02, 2024-01-03"
    early = pl.DataFrame({"d": [dt.date(1970, 1, 1), dt.date(1970, 1, 10)]})
    assert check(r.no_gaps("d", "3d"), early).observed == "2 missing: 1970-01-04, 1970-01-07"


# -------------------------------------------------------------------------------------- contains_values


@pytest.mark.parametrize(
    ("values", "passed", "observed"),
    [
        (["a", None], True, "all present"),
        ([None], True, "all present"),
        (["a", "b", None], False, '1 missing: "b"'),
    ],
)
def test_a_listed_null_is_found_where_the_column_has_one(values, passed, observed):
    res = check(r.contains_values("s", values), pl.DataFrame({"s": ["a", None, "c"]}))
    assert (res.passed, res.observed) == (passed, observed)


def test_a_listed_null_is_missing_where_the_column_has_none():
    res = check(r.contains_values("s", ["a", None]), pl.DataFrame({"s": ["a", "b"]}))
    assert (res.passed, res.observed) == (False, "1 missing: null")
    # NaN is a value, not a null; when= leaves the null row out.
    res = check(r.contains_values("x", [None]), pl.DataFrame({"x": [1.0, float("nan")]}))
    assert not res.passed
    assert check(r.contains_values("x", [None]), pl.DataFrame({"x": [1.0, None]})).passed
    frame = pl.DataFrame({"x": [1.0, None], "k": [1, 2]})
    assert not check(r.contains_values("x", [None], when="k = 1"), frame).passed
    # A column of nothing but nulls holds a null.
    assert check(r.contains_values("x", [None]), pl.DataFrame({"x": [None, None]})).passed


def test_contains_values_across_batches_of_different_types():
    # A first batch of nothing but nulls (type Null) does not hide the values of later ones.
    rs = tl.RuleSet([r.contains_values("s", ["a", "b", None])])
    batches = [pl.DataFrame({"s": [None]}), pl.DataFrame({"s": ["a"]}), pl.DataFrame({"s": ["b"]})]
    assert rs.validate(batches).results[0].observed == "all present"
    with pytest.raises(tl.RuleError, match=r"values\[1\]"):
        tl.RuleSet([r.contains_values("n", [1, "b"])]).validate(pl.DataFrame({"n": [1]}))


# -------------------------------------------------------------------------------------- stddev of one value


def test_a_standard_deviation_of_one_value_says_it_needs_two():
    res = check(r.stddev_between("x", 0, 1), pl.DataFrame({"x": [1.0, None, float("nan")]}))
    assert (res.passed, res.observed) == (False, "no stddev (one value; the sample stddev needs two)")
    res = check(r.stddev_between("x", 0, 1), pl.DataFrame({"x": [None]}, schema={"x": pl.Float64}))
    assert res.observed == "no stddev (no values)"
    frame = pl.DataFrame({"a": [1.0, 2.0], "b": [3.0, None]})
    res = check(r.aggregate_compare("a", "stddev", "<=", other="b"), frame)
    assert (res.passed, res.observed) == (False, "no stddev of b (one value; the sample stddev needs two)")


# ------------------------------------------------------------------------------------------ no_outliers

VALUES = pl.DataFrame(
    {
        "shop": ["n", "n", "n", "s", "s", "s", "s", "n", "s", "n"],
        "id": list(range(100, 110)),
        "x": [10, 11, 12, 500, 11, 10, -300, 12, 11, 40],
    }
)


def test_outlier_samples_show_the_key_columns_as_every_check_does():
    rs = tl.RuleSet([r.no_outliers("x"), r.between("x", 0, 100)], key=["shop", "id"])
    report = rs.validate(VALUES)
    outliers, between = report.results
    assert outliers.failing == 3  # Q1 10.25, Q3 12: fences 7.625 and 14.625
    assert outliers.sample.columns == between.sample.columns == ["_tf_row", "shop", "id", "x"]
    assert outliers.sample.rows() == [(3, "s", 103, 500), (6, "s", 106, -300), (9, "n", 109, 40)]
    assert outliers.sample.schema == between.sample.schema
    assert outliers.sample_keys(report.key) == ["shop='s', id=103", "shop='s', id=106", "shop='n', id=109"]


def test_outlier_samples_across_batches_keep_the_most_extreme():
    rs = tl.RuleSet([r.no_outliers("x")], key="id", sample_size=2)
    res = rs.validate([VALUES.head(4), VALUES.slice(4, 3), VALUES.tail(3)]).results[0]
    assert res.failing == 3
    # 40 is the least extreme of the three; the two kept are shown in the data's order.
    assert res.sample.rows() == [(3, 103, 500), (6, 106, -300)]
    none = tl.RuleSet([r.no_outliers("x")], key="id", sample_size=0).validate(VALUES).results[0]
    assert (none.failing, none.sample.height) == (3, 0)


# ------------------------------------------------------------------------------------ aggregate_compare


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"other": "b", "to": "payments"}, "rule aggregate_compare_a: other: .* not both"),
        ({"to_column": "amount"}, "rule aggregate_compare_a: to_column: .* give the table as to="),
    ],
)
def test_aggregate_compare_refuses_options_it_would_ignore(options, says):
    with pytest.raises(tl.RuleError, match=says):
        r.aggregate_compare("a", "sum", "==", **options)
    with pytest.raises(tl.RuleError, match=says):
        r.Rule.from_dict({"aggregate_compare": "a", **options})
