"""unique: repeats after the first, on one column or a compound key."""

from __future__ import annotations

import math

import polars as pl

import tillflow as tl
from support.rules import I64_MAX, I64_MIN, NAN, check, failing
from tillflow import rules as r

# ----------------------------------------------------------------------------------------------- unique


def test_unique_counts_repeats_after_the_first_and_ignores_nulls():
    df = pl.DataFrame({"id": [1, 2, 2, 3, 3, 3, None, None]})
    res = check(r.unique("id", count="extra"), df)
    # 2 repeats once, 3 repeats twice; the two nulls are ignored
    assert (res.rule, res.kind, res.failing, res.fraction) == ("unique_id", "unique", 3, 3 / 8)


def test_unique_nulls_equal_groups_null_keys_as_sql_group_by():
    df = pl.DataFrame({"a": [1, 1, None, None, 2, None, 3], "b": ["x", "x", None, None, None, "y", None]})
    import duckdb

    sql = "select count(*) from (select a, b from df group by a, b having count(*) > 1)"
    groups = duckdb.sql(sql).fetchall()[0][0]  # (1, x) and (null, null)
    assert groups == 2
    assert failing(r.unique("a", "b", nulls="equal"), df) == groups
    assert failing(r.unique("a", "b"), df) == 1  # a key with a null never repeats
    assert failing(r.unique("a", "b", nulls="equal", count="all"), df) == 4
    assert failing(r.unique("a", nulls="equal", count="extra"), df) == 3  # 1 once, null twice


def test_unique_nulls_equal_across_batches_and_on_small_integer_ranges():
    """Narrow integer keys take a bitmap, which has no bit for null: nulls="equal" keys
    stay exact across batches."""
    df = pl.DataFrame({"id": [None, 1, 2, 3] * 50_000})
    for batch in (7, 1_000, 200_000):
        report = tl.RuleSet([r.unique("id", nulls="equal", count="keys")]).validate(df.iter_slices(batch))
        assert report.results[0].failing == 4


def test_unique_nan_equals_nan():
    df = pl.DataFrame({"x": [NAN, 1.0, NAN, 1.0, None, None, NAN]})
    assert failing(r.unique("x", count="extra"), df) == 3  # NaN three times -> 2, 1.0 twice -> 1


def test_unique_unicode_strings_compare_exactly():
    """Precomposed "Zoë" and "Zoe" + combining diaeresis are different strings."""
    df = pl.DataFrame({"name": ["Zoë", "Zoe", "Zoe\u0308", "東京", "東京", "🍕", "🍕", "🍕", "zoë"]})
    assert failing(r.unique("name", count="extra"), df) == 3  # 東京 -> 1, 🍕 -> 2


def test_unique_huge_values():
    ints = pl.DataFrame({"n": [I64_MAX, I64_MIN, I64_MAX, 0, I64_MIN, -1, I64_MAX - 1]})
    floats = pl.DataFrame({"x": [1e308, -1e308, 1e308, math.inf, math.inf, -math.inf]})
    assert failing(r.unique("n", count="extra"), ints) == 2
    assert failing(r.unique("x", count="extra"), floats) == 2


def test_unique_compound_key():
    df = pl.DataFrame(
        {
            "order_id": [1, 1, 1, 2, 1, 1, 2, 2, 3],
            "line_no": [1, 2, 1, 1, None, None, 1, 1, 1],
        }
    )
    res = check(r.unique("order_id", "line_no", count="extra"), df)
    # (1,1) twice -> 1, (2,1) three times -> 2, (1,null) ignored
    assert (res.rule, res.columns, res.failing) == ("unique_order_id_line_no", ("order_id", "line_no"), 3)
    assert check(r.unique("order_id", "line_no", name="line_key", count="extra"), df).rule == "line_key"


def test_unique_compound_key_compares_tuples_not_joined_text():
    df = pl.DataFrame(
        {
            "a": ["a_b", "a", "a|b", "a", "ab", "a", "", "x", "1", "12"],
            "b": ["c", "b_c", "c", "b|c", "", "b", "x", "", "23", "3"],
        }
    )
    assert failing(r.unique("a", "b", count="extra"), df) == 0


def test_unique_compound_key_mixed_types():
    df = pl.DataFrame({"sku": ["a", "a", "a", "b", None], "size": [1, 1, 2, 1, 1]})
    assert failing(r.unique("sku", "size", count="extra"), df) == 1


def test_unique_all_counts_every_copy_on_large_batches_as_sql_does():
    """Past 100,000 rows the first copies are found by threads over row ranges."""
    import duckdb
    import numpy as np

    rng = np.random.default_rng(7)
    n = 300_000
    df = pl.DataFrame({"a": rng.integers(0, 200_000, n), "b": rng.integers(0, 3, n)}).with_columns(
        pl.when(pl.int_range(n) % 97 == 0).then(None).otherwise(pl.col("b")).alias("b")
    )
    sql = """select coalesce(sum(n), 0) from
             (select count(*) n from df where b is not null group by a, b having n > 1)"""
    expected = duckdb.sql(sql).fetchall()[0][0]
    report = tl.RuleSet([r.unique("a", "b", count="all")]).validate(df)
    flagged = tl.RuleSet([r.unique("a", "b", count="all")]).failing_rows(df)
    assert report.results[0].failing == expected > 0
    assert flagged.height == expected
