"""``by=`` groups and time buckets: the checks judged per group (contains_values too, checked here
against Polars' own grouping), the checks that refuse groups (from a rules file too), the bucket
lengths accepted (those Polars truncates by), and groups shown by their columns' values."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re

import polars as pl
import pytest

import tillflow as tl
from tillflow import rules as r

D = decimal.Decimal

SALES = pl.DataFrame(
    {
        "store": [1, 1, 1, 2, 2, 3, 3, 3, None],
        "item": ["tea", "cake", "tea", "tea", "tea", "cake", None, "tea", "cake"],
        "day": [dt.date(2024, 1, d) for d in (1, 1, 2, 1, 2, 1, 2, 3, 1)],
    }
)


def _result(rule: r.Rule, frame: pl.DataFrame) -> tl.rules.CheckResult:
    return tl.RuleSet([rule]).validate(frame).results[0]


def _missing_per_group(frame: pl.DataFrame, group: pl.Expr, wanted: list) -> dict:
    """What Polars finds missing in each group: the listed values no row holds (None: a null)."""
    out = {}
    groups = frame.with_columns(group.alias("_g")).partition_by("_g", as_dict=True, include_key=False)
    for (key,), part in groups.items():
        items = part["item"]
        absent = [v for v in wanted if not (items.is_null().any() if v is None else (items == v).any())]
        if absent:
            out[key] = absent
    return out


@pytest.mark.parametrize(
    ("wanted", "by", "group", "when"),
    [
        (["tea", "cake"], "store", pl.col("store"), None),
        (["tea", None], "store", pl.col("store"), None),
        (["cake"], r.bucket("day", "1d"), pl.col("day").dt.truncate("1d"), "store IS NOT NULL"),
        (["tea", "cake", None], "day", pl.col("day"), "store > 1"),
    ],
)
def test_contains_values_is_judged_per_group_as_polars_groups(wanted, by, group, when):
    res = _result(r.contains_values("item", wanted, by=by, when=when), SALES)
    frame = SALES if when is None else SALES.filter(pl.sql_expr(when))
    expected = _missing_per_group(frame, group, wanted)
    groups = frame.select(group).n_unique()
    assert res.passed == (not expected)
    assert res.observed.startswith(f"{len(expected)} of {groups} groups fail")
    name = f"{by['column']}@{by['every']}" if isinstance(by, dict) else by
    shown = dict(zip(res.sample[name].to_list(), res.sample["observed"].to_list(), strict=True))
    assert shown.keys() == expected.keys()
    for key, absent in expected.items():
        listed = ", ".join("null" if v is None else f'"{v}"' for v in absent)
        assert shown[key] == f"{len(absent)} missing: {listed}"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"freshness": "at", "max_age": "1d", "by": "g"},
         "rule freshness_at: by: freshness measures the newest value of all the data, not per group"),
        ({"no_outliers": "x", "by": ["g"]},
         "rule no_outliers_x: by: no_outliers sets its fences from all the data, not per group"),
        ({"row_count_matches": "raw", "within": 0.1, "by": "g"},
         "rule row_count_matches: by: row_count_matches compares all the rows with the other table's count"),
        ({"schema": {"a": "int"}, "by": "g"}, "rule schema: by: schema reads the columns of all the data"),
        ({"not_null": "a", "by": "g"}, "rule not_null_a: by: not_null judges rows one at a time"),
    ],
)  # fmt: skip
def test_by_is_refused_where_a_check_is_not_judged_per_group(tmp_path, entry, says):
    with pytest.raises(tl.RuleError, match=re.escape(says)):
        r.Rule.from_dict(entry)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [entry]}))
    with pytest.raises(tl.RuleError, match=re.escape(says)):
        tl.RuleSet.from_file(path)


def test_the_constructors_of_checks_judged_on_all_the_data_take_no_by():
    for make in (r.freshness, r.no_outliers):
        with pytest.raises(TypeError):
            make("a", by="g")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        r.row_count_matches("raw", by="g")  # type: ignore[call-arg]


TIMES = pl.DataFrame(
    {
        "at": [dt.datetime(2024, 1, 17, 5, 30), dt.datetime(2024, 1, 3), dt.datetime(2024, 2, 29, 23)],
        "day": [dt.date(2024, 1, 17), dt.date(2024, 1, 3), dt.date(2024, 2, 29)],
    }
)
ACCEPTED = ["1ns", "1us", "1ms", "30s", "15m", "1h", "1h30m", "24h", "168h", "1d", "3d", "7d", "14d",
            "1w", "2w", "1mo", "3mo", "1q", "1y", "1y6mo"]  # fmt: skip
# Whole weeks however written are weeks, which start on a Monday; the rest as Polars reads them.
_AS_POLARS = {"7d": "1w", "14d": "2w", "168h": "1w"}


@pytest.mark.parametrize("every", ACCEPTED)
@pytest.mark.parametrize("column", ["at", "day"])
def test_a_bucket_polars_truncates_by_is_accepted(every, column):
    rule = r.row_count(min=2, by=r.bucket(column, every))
    res = _result(rule, TIMES)
    name = f"{column}@{every}"
    expected = TIMES.group_by(pl.col(column).dt.truncate(_AS_POLARS.get(every, every)).alias(name)).len()
    assert res.observed.startswith(f"{expected.filter(pl.col('len') < 2).height} of {expected.height} groups")
    lone = expected.filter(pl.col("len") < 2)[name].sort().to_list()
    if lone:
        assert res.sample[name].sort().to_list() == lone
        assert res.sample.schema[name] == TIMES.schema[column]
    else:
        assert res.passed and res.sample.height == 0
    assert r.Rule.from_dict(rule.to_dict()) == rule


@pytest.mark.parametrize(
    "every",
    ["1day", "1.5h", "1d12h", "1w1d", "1mo15d", "0d", "0s", "-1d", "1D", " 1d", "1 d", "1i", "", "d",
     86400, dt.timedelta(days=1), None],
)  # fmt: skip
def test_any_other_bucket_is_refused_when_the_rule_is_made_naming_it(every):
    says = rf"rule row_count: by: every: .*{re.escape(repr(every))}"
    with pytest.raises(tl.RuleError, match=says):
        r.row_count(min=1, by=r.bucket("at", every))
    with pytest.raises(tl.RuleError, match=says):
        r.Rule.from_dict({"row_count": {"min": 1}, "by": {"column": "at", "every": every}})


@pytest.mark.parametrize("every", ["1day", "1.5h", "1w1d", "1mo15d"])
def test_the_refused_buckets_are_those_polars_cannot_truncate_by(every):
    with pytest.raises(pl.exceptions.PolarsError):
        TIMES.select(pl.col("at").dt.truncate(every), pl.col("day").dt.truncate(every))
    # A mix of days and hours fails on dates only; "36h" says the same for both.
    with pytest.raises(pl.exceptions.PolarsError):
        TIMES["day"].dt.truncate("1d12h")


def test_month_buckets_are_calendar_months():
    res = _result(r.row_count(max=1, by=r.bucket("at", "1mo")), TIMES)
    assert res.observed == "1 of 2 groups fail; at@1mo=2024-01-01 00:00:00: 2 rows"
    res = _result(r.row_count(max=1, by=r.bucket("day", "1q")), TIMES)
    assert res.observed == "1 of 1 groups fail; day@1q=2024-01-01: 3 rows"


LABELS = pl.DataFrame(
    {
        "d": [dt.date(2024, 1, 1)],
        "p": [D("2.25")],
        "ts": [dt.datetime(2024, 1, 1, 5, 30)],
        "n": [7],
        "s": ["x"],
    }
).with_columns(pl.col("p").cast(pl.Decimal(10, 2)), utc=pl.col("ts").dt.replace_time_zone("UTC"))


@pytest.mark.parametrize(
    ("by", "label", "column", "value", "dtype"),
    [
        ("d", "d=2024-01-01", "d", dt.date(2024, 1, 1), pl.Date),
        ("p", "p=2.25", "p", D("2.25"), pl.Decimal(10, 2)),
        ("ts", "ts=2024-01-01 05:30:00", "ts", dt.datetime(2024, 1, 1, 5, 30), pl.Datetime("us")),
        (r.bucket("ts", "1d"), "ts@1d=2024-01-01 00:00:00", "ts@1d", dt.datetime(2024, 1, 1),
         pl.Datetime("us")),
        (r.bucket("d", "1w"), "d@1w=2024-01-01", "d@1w", dt.date(2024, 1, 1), pl.Date),
        ("utc", "utc=2024-01-01 05:30:00 UTC", "utc",
         dt.datetime(2024, 1, 1, 5, 30, tzinfo=dt.timezone.utc), pl.Datetime("us", "UTC")),
        ("n", "n=7", "n", 7, pl.Int64),
        ("s", "s=x", "s", "x", pl.String),
    ],
)  # fmt: skip
def test_groups_are_shown_by_their_columns_values(by, label, column, value, dtype):
    res = _result(r.row_count(min=2, by=by), LABELS)
    assert res.observed == f"1 of 1 groups fail; {label}: 1 rows"
    assert res.sample.schema[column] == dtype
    assert res.sample[column].to_list() == [value]


def test_a_grouped_check_over_no_rows_has_no_groups():
    empty = SALES.head(0)
    for rule in (r.row_count(min=1, by="store"), r.sum_between("store", 0, 1, by="item"),
                 r.contains_values("item", ["tea"], by="day")):  # fmt: skip
        res = _result(rule, empty)
        assert (res.passed, res.observed) == (True, "no groups (no rows)")
