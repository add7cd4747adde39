"""Metric kernels against independent DuckDB SQL (support/metrics_sql.py), on the demo shop's data."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tillflow as tl
from support import metrics_sql as sql
from tillflow.metrics import kernels as k


@pytest.fixture(scope="module")
def loaded(shop, tmp_path_factory):
    path = tmp_path_factory.mktemp("kernels") / "wh.duckdb"
    wh = tl.warehouse.duckdb(str(path))
    tl.pipeline("k", shop.source(resources=["orders"]), wh).run()
    orders = wh.query("SELECT * EXCLUDE (_tf_load_id) FROM orders ORDER BY id")
    items = wh.query("SELECT * EXCLUDE (_tf_load_id) FROM orders__line_items")
    yield wh, orders, items
    wh.close()


def same(kernel: pl.DataFrame, want: pl.DataFrame, approx: tuple[str, ...] = ()) -> None:
    """Equal frames; columns in ``approx`` (averages of doubles) to 1e-9 relative."""
    exact = [c for c in want.columns if c not in approx]
    assert_frame_equal(kernel.select(exact), want.select(exact), check_dtypes=False)
    for c in approx:
        assert_frame_equal(
            kernel.select(c), want.select(c), check_exact=False, rel_tol=1e-9, check_dtypes=False
        )


def test_daily_summary_equals_sql(loaded):
    wh, orders, items = loaded
    got = k.daily_summary(orders, items)
    want = sql.daily_summary(wh)
    assert got.height == want.height > 100
    same(got, want, approx=("average_order_value",))
    assert got.schema["revenue"] == orders.schema["total_price"]


def test_revenue_trend_equals_sql(loaded):
    wh, orders, _ = loaded
    aov = ("average_order_value",)
    for days in (1, 30, 400):
        same(k.revenue_trend(orders, days=days), sql.revenue_trend(wh, days=days), approx=aov)
    end = dt.date(2024, 3, 1)
    same(k.revenue_trend(orders, days=10, end=end), sql.revenue_trend(wh, days=10, end=end), approx=aov)


def test_segments_and_buckets_equal_sql(loaded):
    wh, orders, _ = loaded
    averages = ("avg_lifetime_value", "avg_orders_per_customer")
    same(k.customer_segments(orders), sql.customer_segments(wh), approx=averages)
    opts = {"vip_orders": 3, "vip_spent": 400, "loyal_orders": 2, "loyal_spent": "250.5", "regular_orders": 1}
    same(k.customer_segments(orders, **opts), sql.customer_segments(wh, **opts), approx=averages)
    same(k.order_value_buckets(orders), sql.order_value_buckets(wh), approx=("share_of_orders",))
    edges, labels = (25, 99.95, 300), ("a", "b", "c")
    got = k.order_value_buckets(orders, edges=edges, labels=labels)
    same(got, sql.order_value_buckets(wh, edges=edges, labels=labels), approx=("share_of_orders",))


def test_product_performance_equals_sql(loaded):
    wh, orders, items = loaded
    windows = [
        {},
        {"days": 7},
        {"days": None, "top": None},
        {"days": 90, "top": 3},
        {"end": dt.date(2024, 2, 29), "days": 14},
    ]
    for opts in windows:
        got = k.product_performance(orders, items, **opts)
        want = sql.product_performance(wh, **opts)
        assert got.height == want.height > 0
        same(got, want, approx=("avg_selling_price",))


def test_random_batch_splits_give_identical_results(loaded):
    _, orders, items = loaded
    rng = random.Random(7)
    daily = k.DailySummary(tz="America/New_York", day_start="04:00")
    buckets, segments = k.OrderValueBuckets(), k.CustomerSegments()
    products = k.ProductPerformance(tz="America/New_York", day_start="04:00")
    whole_daily = daily.partial(orders, items)
    whole_products = products.finalize(products.partial(orders, items), days=90, top=None)
    assert_frame_equal(daily.products(whole_daily, days=90, top=None), whole_products)
    whole = (
        whole_products,
        daily.finalize(whole_daily),
        daily.trend(whole_daily, days=60, weekly=True),
        buckets.finalize(buckets.partial(orders)),
        segments.finalize(segments.partial(orders)),
    )
    for _ in range(3):
        cuts = sorted(rng.sample(range(1, orders.height), 9))
        parts = [orders[a:b] for a, b in zip([0, *cuts], [*cuts, orders.height], strict=True)]
        rng.shuffle(parts)  # merge order must not matter either
        states = []
        for p in parts:
            own_items = items.filter(pl.col("_tf_parent_id").is_in(p["_tf_id"].implode()))
            states.append(
                (
                    daily.partial(p, own_items),
                    buckets.partial(p),
                    segments.partial(p),
                    products.partial(p, own_items),
                )
            )
        d, b, s, pp = states[0]
        for d2, b2, s2, p2 in states[1:]:
            d, b, s, pp = (
                daily.merge(d, d2),
                buckets.merge(b, b2),
                segments.merge(s, s2),
                products.merge(pp, p2),
            )
        # The daily state holds the same line-item sums as the product kernel's.
        assert_frame_equal(daily.products(d, days=90, top=None), whole_products)
        got = (
            products.finalize(pp, days=90, top=None),
            daily.finalize(d),
            daily.trend(d, days=60, weekly=True),
            buckets.finalize(b),
            segments.finalize(s),
        )
        for g, w in zip(got, whole, strict=True):
            assert_frame_equal(g, w)


def test_edge_cases_empty_guests_refunds_and_float_money():
    ts = [dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)] * 3 + [None]
    orders = pl.DataFrame(
        {
            "_tf_id": pl.Series([1, 2, 3, 4], dtype=pl.UInt64),
            "created_at": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
            "total_price": [0.1, 0.2, -5.0, 1.0],  # floats, and a refund booked negative
            "customer__id": [None, 7, 7, None],  # guest checkouts have no customer
        }
    )
    day = k.daily_summary(orders)
    assert day.to_dicts() == [
        {
            "date": dt.date(2024, 5, 1),
            "total_orders": 3,
            "revenue": pytest.approx(-4.7),
            "average_order_value": pytest.approx(-4.7 / 3),
            "unique_customers": 1,
            "top_product": None,
        }
    ]
    buckets = k.order_value_buckets(orders)
    assert buckets["orders"].to_list() == [3, 0, 0, 0]  # the refund is below the first edge
    empty = k.daily_summary(orders.clear())
    assert empty.height == 0 and empty.columns == day.columns
    assert k.customer_segments(orders)["customer_count"].to_list() == [0, 0, 1, 0]
    with pytest.raises(tl.ConfigError, match="tz"):
        k.DailySummary(tz="Mars/Base")
    with pytest.raises(tl.ConfigError, match="edges"):
        k.OrderValueBuckets(edges=(0, 0), labels=("a", "b"))
    with pytest.raises(tl.SchemaError, match="created_at"):
        k.daily_summary(orders.drop("created_at"))


def test_approx_distinct_within_its_error_and_mergeable(loaded):
    _, _, items = loaded
    truth = items["product_id"].n_unique()
    assert round(k.approx_distinct(items, "product_id")) == truth  # small counts are exact
    big = pl.DataFrame({"v": [i * 7919 % 300_000 for i in range(600_000)]})
    exact = big["v"].n_unique()
    kernel = k.ApproxDistinct("v", precision=12)
    parts = [kernel.partial(big[i : i + 100_000]) for i in range(0, big.height, 100_000)]
    merged = parts[0]
    for p in parts[1:]:
        merged = kernel.merge(merged, p)
    for estimate in (kernel.finalize(merged), k.approx_distinct(big, "v", precision=12)):
        assert abs(estimate - exact) / exact < 3 * kernel.standard_error
    with pytest.raises(tl.ConfigError, match="precision"):
        k.ApproxDistinct("v", precision=30)


def test_cohort_retention_equals_sql_and_splits(loaded):
    wh, orders, _ = loaded
    got = k.cohort_retention(orders)
    want = sql.cohort_retention(wh)
    assert got.height == want.height > 6
    same(got, want, approx=("retention",))
    kernel = k.CohortRetention()
    parts = [kernel.partial(orders[i : i + 137]) for i in range(0, orders.height, 137)]
    state = parts[-1]
    for p in reversed(parts[:-1]):
        state = kernel.merge(p, state)
    assert_frame_equal(kernel.finalize(state), got)
    matrix = kernel.matrix(state)
    assert matrix["0"].to_list() == [1.0] * matrix.height  # everyone orders in their own month


def test_rfm_equals_sql_and_splits(loaded):
    wh, orders, _ = loaded
    got = k.rfm(orders)
    want = sql.rfm(wh)
    assert got.height == want.height > 50
    same(got, want)
    assert got["segment"].n_unique() >= 5
    kernel = k.Rfm()
    parts = [kernel.partial(orders[i : i + 211]) for i in range(0, orders.height, 211)]
    state = parts[-1]
    for p in reversed(parts[:-1]):
        state = kernel.merge(p, state)
    assert_frame_equal(kernel.finalize(state), got)
    later = kernel.finalize(state, as_of=dt.date(2025, 1, 1))
    assert (later["recency_days"] > got["recency_days"]).all()


def test_customer_lifetime_value_equals_sql_and_splits(loaded):
    wh, orders, _ = loaded
    got = k.customer_lifetime_value(orders)
    want = sql.customer_lifetime_value(wh)
    assert got.height == want.height > 50
    same(got, want, approx=("average_order_value", "predicted_value"))
    kernel = k.CustomerLifetimeValue()
    parts = [kernel.partial(orders[i : i + 301]) for i in range(0, orders.height, 301)]
    state = parts[-1]
    for p in reversed(parts[:-1]):
        state = kernel.merge(p, state)
    assert_frame_equal(kernel.finalize(state), got)
    twice = kernel.finalize(state, horizon_days=730)
    assert twice["predicted_value"].to_list() == pytest.approx([2 * v for v in got["predicted_value"]])


def big_shop(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` orders in time order with ~2.5 line items each: enough rows for the kernels' threads."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    stamps = sorted(rng.randrange(0, 400 * 86_400) for _ in range(n))
    orders = pl.DataFrame(
        {
            "_tf_id": [f"o{i}" for i in range(n)],
            "created_at": [start + dt.timedelta(seconds=s) for s in stamps],
            "total_price": [rng.randrange(-500, 40_000) for _ in range(n)],
            "customer__id": [rng.randrange(n // 5) if rng.random() > 0.1 else None for _ in range(n)],
        },
        schema_overrides={"created_at": pl.Datetime("us", "UTC")},
    ).with_columns(pl.col("total_price").cast(pl.Decimal(38, 2)) / 100)
    parents, titles, qty, price = [], [], [], []
    for i in range(n):
        for _ in range(rng.randrange(1, 5)):
            parents.append(f"o{i}")
            titles.append(rng.choice(["Mug", "Bowl", "Tea", None, "Apron", "Cup", "Jar"]))
            qty.append(rng.randrange(1, 4))
            price.append(rng.randrange(100, 5000))
    items = pl.DataFrame(
        {"_tf_parent_id": parents, "title": titles, "quantity": qty, "price": price}
    ).with_columns(pl.col("price").cast(pl.Decimal(38, 2)) / 100)
    return orders, items


def test_threads_on_large_batches_give_the_single_thread_results():
    # A batch of 450k orders is summed on several threads (slices of 200k rows and more); slices of
    # 30k orders are summed on one. Both must give identical frames.
    orders, items = big_shop(450_000, 11)
    kernels = {
        "daily": (
            k.DailySummary(tz="Europe/Berlin"),
            lambda kk, s: (kk.finalize(s), kk.products(s, days=None)),
        ),
        "products": (k.ProductPerformance(), lambda kk, s: kk.finalize(s, days=None, top=None)),
        "segments": (k.CustomerSegments(), lambda kk, s: kk.finalize(s)),
        "rfm": (k.Rfm(), lambda kk, s: kk.finalize(s)),
        "clv": (k.CustomerLifetimeValue(), lambda kk, s: kk.finalize(s)),
        "cohorts": (k.CohortRetention(), lambda kk, s: kk.finalize(s)),
    }
    step = 30_000
    for name, (kernel, final) in kernels.items():
        with_items = name in ("daily", "products")
        whole = kernel.partial(orders, items) if with_items else kernel.partial(orders)
        state = None
        for lo in range(0, orders.height, step):
            part = orders[lo : lo + step]
            if with_items:
                own = items.filter(pl.col("_tf_parent_id").is_in(part["_tf_id"].implode()))
                piece = kernel.partial(part, own)
            else:
                piece = kernel.partial(part)
            state = piece if state is None else kernel.merge(state, piece)
        got, want = final(kernel, whole), final(kernel, state)
        if with_items:  # items out of order: joined through the hash index, counted through a set
            shuffled = kernel.partial(orders, items.sample(fraction=1.0, shuffle=True, seed=3))
            for g, w in zip(final(kernel, shuffled) if name == "daily" else (final(kernel, shuffled),),
                            want if isinstance(want, tuple) else (want,), strict=True):  # fmt: skip
                assert_frame_equal(g, w)
        for g, w in zip(
            got if isinstance(got, tuple) else (got,),
            want if isinstance(want, tuple) else (want,),
            strict=True,
        ):
            assert g.height > 0, name
            assert_frame_equal(g, w)


def test_lazy_frames_give_the_eager_results(loaded):
    _, orders, items = loaded
    lo, li = orders.lazy(), items.lazy()  # every column: the kernels select what they read
    assert_frame_equal(
        k.daily_summary(lo, li, tz="Europe/Berlin"), k.daily_summary(orders, items, tz="Europe/Berlin")
    )
    assert_frame_equal(k.revenue_trend(lo, days=40), k.revenue_trend(orders, days=40))
    assert_frame_equal(
        k.product_performance(lo, li, days=None), k.product_performance(orders, items, days=None)
    )
    for name in (
        "customer_segments",
        "order_value_buckets",
        "rfm",
        "cohort_retention",
        "customer_lifetime_value",
    ):
        assert_frame_equal(getattr(k, name)(lo), getattr(k, name)(orders), check_exact=True)
    assert k.approx_distinct(lo, "customer__id") == k.approx_distinct(orders, "customer__id")
    renamed = lo.rename({"customer__id": "buyer"})
    assert_frame_equal(k.rfm(renamed, columns={"customer": "buyer"}), k.rfm(orders), check_exact=True)
    with pytest.raises(tl.SchemaError, match="customer__id"):
        k.customer_segments(renamed)


def test_line_items_streamed_in_batches_give_the_one_pass_state(loaded):
    wh, _, items = loaded
    orders = wh.query("SELECT * FROM orders")  # in load order, which the items follow
    daily = k.DailySummary(tz="Asia/Kolkata", day_start="03:30")
    whole = daily.partial(orders, items)
    rng = random.Random(5)
    for _ in range(4):
        stream = daily.stream(orders)
        at = 0
        while at < items.height:  # batches of 1 to 400 rows: orders straddle them
            size = rng.choice([1, 2, 3, 7, 50, 400])
            stream.push(items[at : at + size])
            at += size
        state = stream.finish()
        assert state is not None
        assert_frame_equal(daily.finalize(state), daily.finalize(whole))
        assert_frame_equal(
            daily.products(state, days=None, top=None), daily.products(whole, days=None, top=None)
        )
    with pytest.raises(tl.TillflowError, match="finished"):
        stream.push(items)
    # Out of their orders' order, a stream cannot count orders per title: it says so.
    backwards = daily.stream(orders)
    half = items.height // 2
    backwards.push(items[half:])
    backwards.push(items[:half])
    assert backwards.finish() is None
    empty = daily.stream(orders)
    assert_frame_equal(daily.finalize(empty.finish()), daily.finalize(daily.partial(orders)))


def test_warehouse_metrics_stream_the_line_items_and_equal_sql(loaded, monkeypatch):
    wh, _, _ = loaded
    batches = []
    read_batches = wh.read_batches

    def small_batches(*args, **kwargs):
        stream = read_batches(*args, **{**kwargs, "rows": 97})
        for batch in stream:
            batches.append(batch.height)
            yield batch

    monkeypatch.setattr(wh, "read_batches", small_batches)
    same(tl.metrics.daily_summary(wh), sql.daily_summary(wh), approx=("average_order_value",))
    assert len(batches) > 10 and max(batches) == 97  # the items came in many batches
    got = tl.metrics.refresh(wh, ["daily_summary", "product_performance", "revenue_trend"], write=False)
    same(got["product_performance"], sql.product_performance(wh), approx=("avg_selling_price",))
    same(got["revenue_trend"], sql.revenue_trend(wh), approx=("average_order_value",))
