"""relationships: keys that must be found in another table."""

from __future__ import annotations

import polars as pl

from support.rules import I64_MAX, I64_MIN, check, failing
from tillflow import rules as r

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


def _calendar_case(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sales by (store, day) and a calendar of open days, with nulls, keys
    below and above the calendar's range in each part, and repeats."""
    import datetime as dt
    import random

    rng = random.Random(seed)
    start = dt.date(2024, 1, 1)
    open_days = {
        (s, start + dt.timedelta(days=d)) for s in range(1, 41) for d in range(366) if rng.random() < 0.8
    }
    calendar = pl.DataFrame(sorted(open_days), schema={"store_id": pl.Int64, "day": pl.Date}, orient="row")
    stores = [None, 0, 41, -5, 2**40, *range(1, 41)]
    days = [None, start - dt.timedelta(days=1), start + dt.timedelta(days=400), dt.date(1900, 1, 1)]
    days += [start + dt.timedelta(days=d) for d in range(366)]
    sales = pl.DataFrame(
        {
            "store_id": [rng.choice(stores) for _ in range(20_000)],
            "day": [rng.choice(days) for _ in range(20_000)],
        },
        schema={"store_id": pl.Int64, "day": pl.Date},
    )
    return sales, calendar


def test_compound_integer_keys_agree_with_sql_whether_looked_up_in_a_grid_or_hashed():
    """(store_id, day) into a calendar takes a bitmap over the combinations; the same
    keys as text take the hash table. Both count what an anti-join counts: rows with
    no null part whose pair is not in the calendar."""
    import duckdb

    for seed in (1, 2, 3):
        sales, calendar = _calendar_case(seed)
        sql = """select count(*) from sales s where s.store_id is not null and s.day is not null
                 and not exists (select 1 from calendar c where c.store_id = s.store_id and c.day = s.day)"""
        expected = duckdb.sql(sql).fetchall()[0][0]
        assert expected > 0
        grid = failing(r.relationships(["store_id", "day"], to=calendar), sales)
        as_text = [pl.col("store_id").cast(pl.String), pl.col("day")]
        hashed = failing(
            r.relationships(["store_id", "day"], to=calendar.with_columns(as_text)),
            sales.with_columns(as_text),
        )
        assert grid == hashed == expected
