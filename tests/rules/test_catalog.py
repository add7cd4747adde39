"""The catalog, check by check, against DuckDB SQL computed independently:
each row check's failing count, and each whole-data check's verdict, on
data with nulls, NaN, unicode and duplicates, and on an empty frame."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import polars as pl
import pytest

import tillflow as tl
from tillflow import rules as r

D = decimal.Decimal
NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.timezone.utc)

DATA = pl.DataFrame(
    {
        "id": [1, 2, 2, 3, None, 5, 5, 5, 9, 10],
        "amount": [1.5, float("nan"), None, 2.25, 100.0, -3.0, 2.0, 2.0, 1e9, 0.125],
        "price": [D("1.50"), D("2.00"), None, D("2.25"), D("0.10"), D("3.33"), D("2.00"), D("1.00"), D("9.99"), D("0.05")],  # noqa: E501
        "tax": [D("0.50"), D("0.00"), D("1.00"), None, D("0.90"), D("0.67"), D("1.00"), D("0.50"), D("0.01"), D("0.95")],  # noqa: E501
        "total": [D("2.00"), D("2.00"), D("1.00"), D("2.25"), D("1.00"), D("4.00"), D("3.00"), D("1.49"), D("10.00"), D("1.00")],  # noqa: E501
        "email": ["ann@example.com", "zoë@bücher.example", " bob@example.com", None, "", "no-at", "x@y.z", "東京@例え.jp", "a.b@c.co", "a..b@c.co"],  # noqa: E501
        "name": ["Ann", "Zoë", " Bob", None, "", "  ", "東京", "🍕🍕", "a b", "Al "],
        "currency": ["EUR", "usd", "GBP", None, "XXX", "EURO", "JPY", "", "CHF", "ZZZ"],
        "status": ["paid", "paid", "refunded", None, "void", "paid", "PAID", "paid", "open", "open"],
        "day": [dt.date(2024, 3, d) for d in (1, 1, 2, 4, 5, 5, 6, 8, 8, 11)],
        "ts": [dt.datetime(2024, 3, 10, h) for h in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)],
        "shipped": [dt.datetime(2024, 3, 10 + d, 1) for d in (0, 1, 5, 2, 0, 3, 4, 1, 9, 0)],
        "a": [1, 2, 3, None, 5, 5, 7, 8, None, 10],
        "b": [1, 3, 3, 4, None, 6, 7, 9, None, 11],
    }
).with_columns(pl.col("price").cast(pl.Decimal(10, 2)), pl.col("tax").cast(pl.Decimal(10, 2)),
               pl.col("total").cast(pl.Decimal(10, 2)))  # fmt: skip


def sql(query: str, frame: pl.DataFrame) -> int:
    con = duckdb.connect()
    con.register("t", frame.to_arrow())
    return int(con.sql(query).fetchall()[0][0])


def failing(rule: r.Rule, frame: pl.DataFrame) -> int | None:
    report = tl.RuleSet([rule]).validate(frame, now=NOW)
    return report.results[0].failing


ROW_CASES = [
    (r.not_null("amount"), "SELECT count(*) FROM t WHERE amount IS NULL OR isnan(amount)"),
    (r.is_null("amount"), "SELECT count(*) FROM t WHERE amount IS NOT NULL AND NOT isnan(amount)"),
    (r.unique("id"), "SELECT count(*) FROM (SELECT id FROM t WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1)"),  # noqa: E501
    (r.unique("id", count="all"),
     "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) n FROM t WHERE id IS NOT NULL GROUP BY id HAVING n > 1)"),  # noqa: E501
    (r.unique("id", count="extra"),
     "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM t WHERE id IS NOT NULL GROUP BY id HAVING n > 1)"),  # noqa: E501
    (r.unique("day", "status", count="all"),
     "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) n FROM t WHERE status IS NOT NULL GROUP BY day, status "  # noqa: E501
     "HAVING n > 1)"),
    (r.between("amount", 0, 100), "SELECT count(*) FROM t WHERE amount < 0 OR amount > 100 OR isnan(amount)"),
    (r.not_in("status", ["void", "refunded"]), "SELECT count(*) FROM t WHERE status IN ('void', 'refunded')"),
    (r.not_matches("email", r"\s"), "SELECT count(*) FROM t WHERE regexp_matches(email, '\\s')"),
    (r.not_empty("name"), "SELECT count(*) FROM t WHERE trim(name) = ''"),
    (r.trimmed("name"), "SELECT count(*) FROM t WHERE trim(name) <> name"),
    (r.length_between("name", 2, 3), "SELECT count(*) FROM t WHERE length(name) NOT BETWEEN 2 AND 3"),
    (r.starts_with("status", "pa"), "SELECT count(*) FROM t WHERE NOT starts_with(status, 'pa')"),
    (r.ends_with("email", ".com"), "SELECT count(*) FROM t WHERE NOT ends_with(email, '.com')"),
    (r.contains("email", "@"), "SELECT count(*) FROM t WHERE NOT contains(email, '@')"),
    (r.parses_as("currency", "int"), "SELECT count(*) FROM t WHERE TRY_CAST(currency AS BIGINT) IS NULL "
     "AND currency IS NOT NULL"),
    (r.is_finite("amount"), "SELECT count(*) FROM t WHERE NOT isfinite(amount)"),
    (r.decimal_places("amount", 1),
     "SELECT count(*) FROM t WHERE isfinite(amount) AND round(amount, 1) <> amount"),
    (r.decimal_places("price", 1), "SELECT count(*) FROM t WHERE round(price, 1) <> price"),
    (r.not_in_future("shipped"), "SELECT count(*) FROM t WHERE shipped > TIMESTAMP '2024-03-10 12:00:00'"),
    (r.not_in_future("shipped", slack="2d"),
     "SELECT count(*) FROM t WHERE shipped > TIMESTAMP '2024-03-12 12:00:00'"),
    (r.not_older_than("ts", "6h"), "SELECT count(*) FROM t WHERE ts < TIMESTAMP '2024-03-10 06:00:00'"),
    (r.not_older_than("day", "5d"), "SELECT count(*) FROM t WHERE day < DATE '2024-03-05'"),
    (r.within("ts", "shipped", max="3d"), "SELECT count(*) FROM t WHERE shipped - ts > INTERVAL 3 DAY"),
    (r.within("ts", "shipped", min="1d", max="4d"),
     "SELECT count(*) FROM t WHERE shipped - ts > INTERVAL 4 DAY OR shipped - ts < INTERVAL 1 DAY"),
    (r.sum_equals("total", ["price", "tax"]), "SELECT count(*) FROM t WHERE price + tax <> total"),
    (r.sum_equals("total", ["price", "tax"], within=0.01),
     "SELECT count(*) FROM t WHERE abs(price + tax - total) > 0.01"),
    (r.distinct_across("a", "b"), "SELECT count(*) FROM t WHERE a = b"),
    (r.complete("a", "b", "name"), "SELECT count(*) FROM t WHERE a IS NULL OR b IS NULL OR name IS NULL"),
    (r.any_present("a", "b"), "SELECT count(*) FROM t WHERE a IS NULL AND b IS NULL"),
    (r.compare("a", "<=", "b"), "SELECT count(*) FROM t WHERE a > b"),
    (r.increasing("a"), "SELECT count(*) FROM (SELECT a, lag(a IGNORE NULLS) OVER (ORDER BY rn) p FROM "
     "(SELECT a, row_number() OVER () rn FROM t)) WHERE a < p"),
    (r.increasing("a", strict=True), "SELECT count(*) FROM (SELECT a, lag(a IGNORE NULLS) OVER (ORDER BY rn) p "  # noqa: E501
     "FROM (SELECT a, row_number() OVER () rn FROM t)) WHERE a <= p"),
    (r.decreasing("b"), "SELECT count(*) FROM (SELECT b, lag(b IGNORE NULLS) OVER (ORDER BY rn) p FROM "
     "(SELECT b, row_number() OVER () rn FROM t)) WHERE b > p"),
    (r.is_currency_code("currency"),
     "SELECT count(*) FROM t WHERE currency NOT IN ('EUR', 'GBP', 'XXX', 'JPY', 'CHF')"),
    (r.is_email("email"), "SELECT count(*) FROM t WHERE email IN (' bob@example.com', '', 'no-at', 'a..b@c.co')"),  # noqa: E501
    (r.not_null("amount", when="status = 'paid'"),
     "SELECT count(*) FROM t WHERE status = 'paid' AND (amount IS NULL OR isnan(amount))"),
    (r.between("amount", 0, 10, when="a > 2"),
     "SELECT count(*) FROM t WHERE a > 2 AND (amount < 0 OR amount > 10 OR isnan(amount))"),
    (r.unique("status", count="all", when="id IS NOT NULL"),
     "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) n FROM t WHERE id IS NOT NULL AND status IS NOT NULL "
     "GROUP BY status HAVING n > 1)"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "query"), ROW_CASES, ids=[c[0].name for c in ROW_CASES])
def test_row_checks_count_what_sql_counts(rule, query):
    assert failing(rule, DATA) == sql(query, DATA)
    assert failing(rule, DATA.head(0)) == 0
    # Every value missing: only the checks about presence fail.
    nulls = pl.DataFrame([pl.Series(c, [None] * DATA.height, dtype=t) for c, t in DATA.schema.items()])
    assert failing(rule, nulls) == sql(query, nulls)


WHOLE_CASES = [
    (r.distinct_count("status", min=5, max=5), "SELECT count(DISTINCT status) = 5 FROM t"),
    (r.distinct_count("day", "status", min=9), "SELECT count(DISTINCT (day, status)) >= 9 FROM t "
     "WHERE status IS NOT NULL"),
    (r.distinct_ratio("id", min=0.7), "SELECT count(DISTINCT id) / count(id) >= 0.7 FROM t"),
    (r.sum_between("price", 0, D("24.22")), "SELECT sum(price) <= 24.22 FROM t"),
    (r.sum_between("price", 0, D("24.21")), "SELECT sum(price) <= 24.21 FROM t"),
    (r.mean_between("a", 5, 6), "SELECT avg(a) BETWEEN 5 AND 6 FROM t"),
    (r.stddev_between("b", 3, 3.3), "SELECT stddev_samp(b) BETWEEN 3 AND 3.3 FROM t"),
    (r.min_between("day", "2024-03-01", "2024-03-01"), "SELECT min(day) = DATE '2024-03-01' FROM t"),
    (r.max_between("amount", max=100), "SELECT max(amount) FILTER (WHERE NOT isnan(amount)) <= 100 FROM t"),
    (r.median_between("a", 5, 5), "SELECT median(a) = 5 FROM t"),
    (r.quantile_between("b", 0.9, 9, 10), "SELECT quantile_cont(b, 0.9) BETWEEN 9 AND 10 FROM t"),
    (r.aggregate_compare("price", "sum", "<=", other="total"), "SELECT sum(price) <= sum(total) FROM t"),
    (r.aggregate_compare("a", "max", ">", other="b", other_agg="min"), "SELECT max(a) > min(b) FROM t"),
    (r.contains_values("status", ["paid", "open"]), "SELECT count(DISTINCT status) FILTER "
     "(WHERE status IN ('paid', 'open')) = 2 FROM t"),
    (r.contains_values("status", ["paid", "shipped"]), "SELECT count(DISTINCT status) FILTER "
     "(WHERE status IN ('paid', 'shipped')) = 2 FROM t"),
    (r.no_sequence_gaps("a"), "SELECT max(a) - min(a) + 1 = count(DISTINCT a) FROM t"),
    (r.no_gaps("day", "1d"), "SELECT (max(day) - min(day)) + 1 = count(DISTINCT day) FROM t"),
    (r.row_count(min=2, by="status"), "SELECT min(n) >= 2 FROM (SELECT count(*) n FROM t GROUP BY status)"),
    (r.row_count(max=2, by=r.bucket("day", "1d")),
     "SELECT max(n) <= 2 FROM (SELECT count(*) n FROM t GROUP BY day)"),
    (r.sum_between("price", max=4, by="status"),
     "SELECT bool_and(s <= 4 OR s IS NULL) FROM (SELECT sum(price) s FROM t GROUP BY status)"),
    (r.mean_between("amount", 0, 10, when="status = 'paid'"),
     "SELECT avg(amount) BETWEEN 0 AND 10 FROM t WHERE status = 'paid' AND NOT isnan(amount)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "query"), WHOLE_CASES, ids=[f"{i}-{c[0].kind}" for i, c in enumerate(WHOLE_CASES)]
)
def test_whole_checks_judge_as_sql_does(rule, query):
    result = tl.RuleSet([rule]).validate(DATA, now=NOW).results[0]
    assert result.passed == bool(sql(query, DATA)), result.observed


def test_unique_modes_name_what_they_count():
    frame = pl.DataFrame({"k": ["a", "a", "a", "b", "b", "c", None, None]})
    counts = {m: failing(r.unique("k", count=m, name=m), frame) for m in ("keys", "all", "extra")}
    assert counts == {"keys": 2, "all": 5, "extra": 3}
    assert failing(r.unique("k"), frame) == 2  # dbt's unique test counts keys
    # Across batches, "all" still counts the first copy an earlier batch held.
    rs = tl.RuleSet([r.unique("k", count="all")])
    report = rs.validate([frame.head(1), frame.tail(7)])
    assert report.results[0].failing == 5


def test_grouped_checks_report_the_failing_groups():
    report = tl.RuleSet([r.row_count(min=2, by="status", name="per_status")]).validate(DATA)
    res = report.results[0]
    assert not res.passed
    assert res.observed.startswith("4 of 6 groups fail")
    assert sorted(res.sample["status"].to_list(), key=str) == sorted(
        ["refunded", None, "void", "PAID"], key=str
    )


def test_business_days_and_holidays():
    days = pl.DataFrame(
        {"d": [dt.date(2024, 1, x) for x in (1, 2, 3, 5, 8, 9)]}
    )  # Mon 1 .. Tue 9; Thu 4 missing
    assert not tl.RuleSet([r.is_daily("d")]).validate(days).results[0].passed
    rs = tl.RuleSet([r.is_daily("d", holidays=["2024-01-04"])])
    assert rs.validate(days).results[0].passed
    weekends = tl.RuleSet([r.no_gaps("d", "1d")]).validate(days).results[0]
    assert weekends.observed == "3 missing: 2024-01-04, 2024-01-06, 2024-01-07"


def test_compound_relationships_and_reconcile():
    stores = pl.DataFrame({"store_id": [1, 1, 2], "day": [dt.date(2024, 1, d) for d in (1, 2, 1)]})
    sales = pl.DataFrame(
        {"store_id": [1, 1, 2, 2, None], "day": [dt.date(2024, 1, d) for d in (1, 3, 1, 2, 2)]}
    )
    rule = r.relationships(["store_id", "day"], to=stores)
    assert rule.name == "relationships_store_id_day"
    assert failing(rule, sales) == 2  # (1, 3) and (2, 2); a null key part passes
    orders = pl.DataFrame({"id": [1, 2, 3], "total": [D("10.00"), D("5.50"), D("0.00")]})
    lines = pl.DataFrame({"order_id": [1, 1, 2], "price": [D("4.00"), D("6.00"), D("5.49")]})
    check = r.reconcile("total", to=lines, key="id", to_key="order_id", to_column="price")
    assert failing(check, orders) == 1  # order 2 is off by 0.01; order 3 has no lines and sums to 0
    loose = r.reconcile("total", to=lines, key="id", to_key="order_id", to_column="price", within=0.01)
    assert failing(loose, orders) == 0


def test_row_count_matches_another_table():
    assert tl.RuleSet([r.row_count_matches(DATA)]).validate(DATA).results[0].passed
    short = tl.RuleSet([r.row_count_matches(DATA.head(9))]).validate(DATA).results[0]
    assert not short.passed
    assert tl.RuleSet([r.row_count_matches(DATA.head(9), within=0.2)]).validate(DATA).results[0].passed


def test_outliers_by_each_method():
    frame = pl.DataFrame({"x": [10.0, 11, 12, 11, 10, 13, 12, 11, 95, None, float("nan")]})
    for method, expected in (("iqr", 1), ("zscore", 0), ("mad", 1)):
        res = tl.RuleSet([r.no_outliers("x", method=method)]).validate(frame).results[0]
        assert res.failing == expected, (method, res.observed)
    res = tl.RuleSet([r.no_outliers("x", method="zscore", threshold=2)]).validate(frame).results[0]
    assert res.failing == 1 and res.sample["_tf_row"].to_list() == [8]


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (lambda: r.length_between("a", 5, 2), "min 5 is above max 2"),
        (lambda: r.distinct_ratio("a", min=1.5), "between 0 and 1"),
        (lambda: r.quantile_between("a", 2.0, 0, 1), "between 0 and 1"),
        (lambda: r.is_postal_code("zip", "XX"), "rule is_postal_code_zip: country:"),
        (lambda: r.parses_as("a", "color"), "unknown type"),
        (lambda: r.Rule.from_dict({"not_null": "a", "by": "b"}), "by="),
        (lambda: r.sum_between("a", 0, 1, when=5), "when: expected SQL text"),
        (lambda: r.no_gaps("d", "1h", weekdays=["mon"]), "whole days"),
        (lambda: r.within("a", "b"), "give min, max or both"),
        (lambda: r.sum_between("a", 10, 1), "min 10 is above max 1"),
        (lambda: r.relationships(["a", "b"], to="t.c"), "compound key"),
    ],
)
def test_arguments_are_checked_when_a_rule_is_made(rule, says):
    with pytest.raises(tl.RuleError, match=says):
        rule()


def test_the_catalog_has_sixty_checks_and_every_one_round_trips_a_rules_file():
    assert len(r.KINDS) >= 60
    rs = tl.RuleSet([r.is_iban("iban", when="country = 'DE'"), r.row_count(min=1, by=r.bucket("day", "1d")),
                     r.no_gaps("day", "1d", weekdays=["mon", "tue"]), r.unique("id", count="all")])  # fmt: skip  # noqa: E501
    assert tl.RuleSet.from_dict(rs.to_dict()) == rs
