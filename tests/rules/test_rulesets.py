"""Rule sets: every rule kind at once on hostile names and empty frames, tolerance, severities,
fail-fast, streams of batches and the pytest helper."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tillflow as tl
from support.rules import NOW, check
from tillflow import rules as r

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
            r.unique("order id", 'say "hi"', count="extra"),  # (1,a) (2,b) (2,a) (null,a): 0
            r.unique('say "hi"', count="extra"),  # a b a a: 2
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
        pytest.param(lambda: r.unique("id", count="extra"), id="unique"),
        pytest.param(lambda: r.unique("id", "email", count="extra"), id="unique-compound"),
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
        ("0.35%", 2000, 7, True),  # 0.35 / 100 in floats is a step below 0.0035; the text is exact
        ("0.35%", 2000, 8, False),
        ("0.07%", 10000, 7, True),
    ],
)
def test_fraction_tolerance_boundary(tolerance, n_rows, n_null, passed):
    res = check(r.not_null("x", tolerance=tolerance), nulls(n_null, n_rows))
    assert (res.passed, res.failing, res.fraction) == (passed, n_null, n_null / n_rows)


@pytest.mark.parametrize(("tolerance", "passed"), [("50%", True), ("49%", False), (0.5, True)])
def test_fraction_tolerance_is_a_share_of_the_rows_when_admits(tolerance, passed):
    """With when=, a share counts only the rows the check applies to: here 2 of
    the 4 non-null values fail (50%), although they are 2 of 10 rows."""
    df = pl.DataFrame({"x": [1, 200, None, 300, 4, None, None, None, None, None]})
    rule = r.between("x", 0, 100, when="x IS NOT NULL", tolerance=tolerance)
    res = check(rule, df)
    assert (res.passed, res.failing, res.rows, res.fraction) == (passed, 2, 4, 0.5)


def test_fail_fast_stops_on_a_share_of_the_admitted_rows():
    df = pl.DataFrame({"x": [1, 200, None, None, None, None]})
    rules = [r.between("x", 0, 100, when="x IS NOT NULL", tolerance="40%"), r.not_null("x", severity="warn")]
    report = tl.RuleSet(rules).validate(df, mode="fail_fast")
    assert [(c.status, c.failing, c.rows) for c in report.results] == [("failed", 1, 2), ("skipped", None, 6)]


def test_default_tolerance_is_zero():
    assert check(r.not_null("x"), nulls(1, 100)).passed is False


def test_int_tolerance_one_is_a_count():
    assert check(r.not_null("x", tolerance=1), nulls(1, 2)).passed is True  # 50% of rows, but 1 row


def test_tolerance_applies_to_unique():
    df = pl.DataFrame({"id": [7, 7, 7, 8]})
    assert [check(r.unique("id", tolerance=t, count="extra"), df).passed for t in (1, 2)] == [False, True]


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


# ----------------------------------------------------------------------------------------- fail fast


@pytest.mark.parametrize(
    ("mode", "passed", "status"),
    [
        ("collect_all", [True, False, False], ["passed", "failed", "failed"]),
        ("fail_fast", [True, False, None], ["passed", "failed", "skipped"]),
    ],
)
def test_fail_fast_skips_checks_after_the_first_failure(mode, passed, status):
    df = pl.DataFrame({"a": [1, 2], "b": [-1, 1], "c": [3, 3]})
    rs = tl.RuleSet([r.not_null("a"), r.between("b", min=0, max=9), r.unique("c", count="extra")])
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
            r.unique("id", count="extra"),  # 1 2 3 | 3 4 1 | 1: three repeats
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


# ------------------------------------------------------------------------------------- pytest helper


def test_assert_valid():
    from tillflow.testing import assert_valid

    assert_valid(pl.DataFrame({"id": [1, 2]}), [r.not_null("id"), r.unique("id", count="extra")])
    with pytest.raises(AssertionError, match="unique_id"):
        assert_valid(pl.DataFrame({"id": [1, 1]}), [r.not_null("id"), r.unique("id", count="extra")])
