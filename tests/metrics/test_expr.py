"""tillflow.metrics.expr: kernels as polars expression plugins, checked against the kernels and by hand."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tillflow as tl
from tillflow.metrics import expr as tx
from tillflow.metrics import kernels as k

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def orders(shop, tmp_path_factory):
    wh = tl.warehouse.duckdb(str(tmp_path_factory.mktemp("expr") / "wh.duckdb"))
    tl.pipeline("x", shop.source(resources=["orders"]), wh).run()
    frame = wh.query("SELECT * FROM orders")
    wh.close()
    return frame


def test_approx_distinct_equals_the_kernel_in_select_group_by_and_lazy(orders):
    want = k.approx_distinct(orders, "customer__id")
    assert orders.select(tx.approx_distinct("customer__id")).item() == want
    assert orders.lazy().select(tx.approx_distinct(pl.col("customer__id"))).collect().item() == want
    exact = orders["customer__id"].drop_nulls().n_unique()
    assert abs(want - exact) <= 3 * 0.0081 * exact + 1
    per_status = (
        orders.group_by("financial_status")
        .agg(tx.approx_distinct("email", precision=10).alias("emails"))
        .sort("financial_status")
    )
    for status, estimate in per_status.rows():
        group = orders.filter(pl.col("financial_status") == status)
        assert estimate == k.approx_distinct(group, "email", precision=10)
    with pytest.raises(tl.ConfigError, match="precision"):
        tx.approx_distinct("id", precision=3)


def test_bucket_labels_match_the_kernel_counts(orders):
    counts = orders.group_by(tx.bucket("total_price").alias("bucket")).len()
    kernel = k.order_value_buckets(orders)
    for label, n in kernel.select("bucket", "orders").rows():
        got = counts.filter(pl.col("bucket") == label)["len"].to_list()
        assert got == ([n] if n else []), label
    left_out = counts.filter(pl.col("bucket").is_null())["len"].sum()
    assert left_out == orders.height - kernel["orders"].sum()


def test_bucket_edges_nulls_and_exact_decimals():
    values = pl.Series(
        "v", [Decimal("-0.01"), Decimal("0"), Decimal("50.00"), Decimal("50.01"), Decimal("200"),
              Decimal("200.01"), None], dtype=pl.Decimal(10, 2),
    )  # fmt: skip
    got = pl.DataFrame({"v": values}).select(tx.bucket("v"))["v"].to_list()
    assert got == [None, "Low", "Low", "Medium", "High", "Premium", None]
    floats = pl.DataFrame({"v": [0.1, 0.3, 99.95, 99.96]})
    edges = (0, "0.3", "99.95")
    assert floats.select(tx.bucket("v", edges, ["a", "b", "c"]))["v"].to_list() == ["a", "a", "b", "c"]
    lazy = floats.lazy().with_columns(tx.bucket("v", edges, ["a", "b", "c"]).alias("b")).collect()
    assert lazy["b"].to_list() == ["a", "a", "b", "c"]
    with pytest.raises(tl.ConfigError, match="increase"):
        tx.bucket("v", (0, 0), ("a", "b"))
    with pytest.raises(tl.ConfigError, match="unique"):
        tx.bucket("v", (0, 1), ("a", "a"))
    with pytest.raises(pl.exceptions.ComputeError, match="NaN"):
        pl.DataFrame({"v": [1.0, math.nan]}).select(tx.bucket("v"))


def test_shop_day_matches_the_daily_summary(orders):
    opts = {"tz": "America/New_York", "day_start": "04:00"}
    per_day = (
        orders.group_by(tx.shop_day("created_at", **opts).alias("date"))
        .agg(pl.len().alias("total_orders"))
        .drop_nulls("date")
        .sort("date", descending=True)
    )
    summary = k.daily_summary(orders, **opts).select("date", pl.col("total_orders").cast(pl.UInt32))
    assert_frame_equal(per_day, summary)


def test_shop_day_across_daylight_saving_and_day_start():
    stamps = [
        dt.datetime(2024, 3, 10, 6, 59, 59, tzinfo=UTC),  # 01:59:59 EST: before 04:00, the day before
        dt.datetime(2024, 3, 10, 7, 0, 0, tzinfo=UTC),  # 03:00 EDT (the clocks jumped): still the 9th
        dt.datetime(2024, 3, 10, 7, 59, 59, tzinfo=UTC),  # 03:59:59 EDT
        dt.datetime(2024, 3, 10, 8, 0, 0, tzinfo=UTC),  # 04:00 EDT: the 10th begins
        dt.datetime(2024, 11, 3, 5, 30, tzinfo=UTC),  # 01:30 EDT, the first of two
        dt.datetime(2024, 11, 3, 6, 30, tzinfo=UTC),  # 01:30 EST, the second
        None,
    ]
    frame = pl.DataFrame({"t": stamps}, schema={"t": pl.Datetime("us", "UTC")})
    got = frame.select(tx.shop_day("t", tz="America/New_York", day_start="04:00"))["t"].to_list()
    d = dt.date
    assert got == [
        d(2024, 3, 9),
        d(2024, 3, 9),
        d(2024, 3, 9),
        d(2024, 3, 10),
        d(2024, 11, 2),
        d(2024, 11, 2),
        None,
    ]
    midnight = frame.select(tx.shop_day("t", tz="Asia/Kathmandu"))["t"].to_list()  # UTC+05:45
    assert midnight[:4] == [d(2024, 3, 10)] * 4
    dates = pl.DataFrame({"d": [d(2024, 1, 1), None]})
    assert dates.select(tx.shop_day("d"))["d"].to_list() == [d(2024, 1, 1), None]
    with pytest.raises(tl.ConfigError, match="Mars/Olympus"):
        tx.shop_day("t", tz="Mars/Olympus")
    with pytest.raises(pl.exceptions.ComputeError, match="datetime or date"):
        pl.DataFrame({"t": ["2024-01-01"]}).select(tx.shop_day("t"))
