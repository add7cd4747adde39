"""tillflow.metrics (the kernels over a warehouse) checked against an independent pandas
computation and against the SQL formulations in support/metrics_sql.py, on a hand-made shop."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pandas as pd
import polars as pl
import pytest

import tillflow as tl
from support import metrics_sql as sql
from tillflow import metrics
from tillflow.warehouse import DuckDBWarehouse

UTC = dt.timezone.utc
D = Decimal


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


# (id, created_at, total_price, customer id). Customers 101 (VIP), 102-104 (Loyal by count, by spend,
# many cheap orders), 105/106/109 (Regular), 107/108/110 (New); orders 34/35 have no customer.
VIP_DAYS = ["03-01", "03-02", "03-03", "03-05", "03-06", "03-07", "03-09", "03-10", "01-20", "03-01"]
ORDERS = (
    [(i + 1, at(f"2024-{day}T10:{i:02d}:00+00:00"), D("150.00"), 101) for i, day in enumerate(VIP_DAYS)]
    + [
        (11 + i, at(f"2024-{day}T08:00:00+00:00"), D("20.00"), 102)
        for i, day in enumerate(["03-01", "03-02", "03-05", "03-06", "03-10"])
    ]
    + [(16, at("2024-03-03T12:00:00+00:00"), D("600.00"), 103)]
    + [
        (17 + i, at(f"2024-03-{1 + i % 9 if i % 9 != 3 else 9:02d}T15:00:00+00:00"), D("50.00"), 104)
        for i in range(10)
    ]
    + [
        (27, at("2024-03-02T09:00:00+00:00"), D("100.00"), 105),
        (28, at("2024-03-07T09:00:00+00:00"), D("0.00"), 105),
        (29, at("2024-03-01T11:00:00+00:00"), D("200.00"), 106),
        (30, at("2024-03-05T11:00:00+00:00"), D("200.01"), 106),
        (31, at("2024-03-10T11:00:00+00:00"), D("49.99"), 106),
        (32, at("2024-03-06T07:00:00+00:00"), D("50.00"), 107),
        (33, at("2024-03-09T07:00:00+00:00"), None, 108),
        (34, at("2024-03-03T13:00:00+00:00"), D("75.50"), None),
        (35, at("2024-03-06T13:00:00+00:00"), D("-5.00"), None),
        (36, at("2024-03-02T23:59:59.999999+00:00"), D("10.00"), 109),  # last instant of a UTC day
        (37, at("2024-03-03T00:00:00+00:00"), D("12.00"), 109),  # first instant of the next
        (38, at("2024-03-06T01:30:00+05:00"), D("300.00"), 110),  # 2024-03-05 in UTC
    ]
)
# (order id, title, quantity, price). Ties: Apron and Bowl make 30.00 each on 03-01; Fork and Glass
# make 12.00 each overall.
ITEMS = [
    (1, "Apron", 2, D("15.00")), (1, "Bowl", 1, D("30.00")), (11, "Cup", 1, D("10.00")),
    (2, "Cup", 2, D("10.00")), (36, "Bowl", 5, D("9.00")), (27, "Apron", 1, D("17.50")),
    (16, "Cup", 3, D("10.00")), (16, "Dish", 1, D("45.50")), (37, "Egg cup", 10, D("5.00")),
    (38, "Dish", 2, D("44.00")), (30, "Apron", 1, D("16.00")), (30, None, 1, D("1.00")),
    (6, "Fork", 1, D("12.00")), (7, "Glass", 2, D("6.00")), (9, "Dish", 9, D("40.00")),
    (34, "Bowl", 1, D("30.00")), (25, "Cup", 4, D("11.00")), (31, "Egg cup", 1, D("5.50")),
]  # fmt: skip


def orders_batch(rows) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "created_at": [r[1] for r in rows],
            "total_price": [r[2] for r in rows],
            "customer__id": [r[3] for r in rows],
            "_tf_id": [f"o{r[0]}" for r in rows],
        },
        schema={"id": pl.Int64, "created_at": pl.Datetime("us", "UTC"), "total_price": pl.Decimal(38, 2),
                "customer__id": pl.Int64, "_tf_id": pl.String},
    )  # fmt: skip


def items_batch(rows) -> pl.DataFrame:
    positions: dict[int, int] = {}
    idx = [positions.__setitem__(r[0], positions.get(r[0], -1) + 1) or positions[r[0]] for r in rows]
    return pl.DataFrame(
        {
            "title": [r[1] for r in rows],
            "quantity": [r[2] for r in rows],
            "price": [r[3] for r in rows],
            "_tf_id": [f"o{r[0]}-{i}" for r, i in zip(rows, idx, strict=False)],
            "_tf_parent_id": [f"o{r[0]}" for r in rows],
            "_tf_idx": idx,
            "orders_id": [r[0] for r in rows],
        },
        schema={"title": pl.String, "quantity": pl.Int64, "price": pl.Decimal(38, 2), "_tf_id": pl.String,
                "_tf_parent_id": pl.String, "_tf_idx": pl.Int64, "orders_id": pl.Int64},
    )  # fmt: skip


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    warehouse = DuckDBWarehouse(str(tmp_path_factory.mktemp("metrics") / "shop.duckdb"))
    load = warehouse.begin_load("shop", "orders", "merge", ["id"])
    half = len(ORDERS) // 2
    for part in (ORDERS[:half], ORDERS[half:]):
        ids = {r[0] for r in part}
        warehouse.write_batch(
            load,
            {
                "orders": orders_batch(part),
                "orders__line_items": items_batch([i for i in ITEMS if i[0] in ids]),
            },
        )
    warehouse.finish_load(load)
    yield warehouse
    warehouse.close()


# ---------------------------------------------------------------- the independent pandas side


@pytest.fixture(scope="module")
def frames():
    orders = pd.DataFrame(ORDERS, columns=["id", "created_at", "total", "customer"])
    orders["customer"] = orders["customer"].astype("Int64")
    orders["date"] = pd.to_datetime(orders["created_at"], utc=True).dt.date
    items = pd.DataFrame(ITEMS, columns=["order_id", "title", "quantity", "price"])
    items["revenue"] = [q * p for q, p in zip(items["quantity"], items["price"], strict=False)]
    items = items.merge(orders[["id", "date"]], left_on="order_id", right_on="id", how="inner")
    return orders, items


def decimal_sum(values) -> Decimal:
    return sum((v for v in values if v is not None), D("0.00"))


def float_mean(values) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def daily_expected(orders, items, days=None):
    if days is not None:
        orders = orders[orders["date"].isin(days)]
    grouped = orders.groupby("date")
    out = pd.DataFrame(
        {
            "total_orders": grouped.size(),
            "revenue": grouped["total"].agg(decimal_sum),
            "average_order_value": grouped["total"].agg(float_mean),
            "unique_customers": grouped["customer"].nunique(),
        }
    )
    titled = items.dropna(subset=["title"])
    per_title = titled.groupby(["date", "title"], as_index=False)["revenue"].agg(decimal_sum)
    per_title = per_title.sort_values(["date", "revenue", "title"], ascending=[True, False, True])
    out["top_product"] = per_title.drop_duplicates("date").set_index("date")["title"]
    out = out.reset_index().sort_values("date", ascending=False)
    return records(out)


def records(frame: pd.DataFrame) -> list[dict]:
    rows = frame.to_dict("records")
    return [
        {k: (None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v) for k, v in r.items()}
        for r in rows
    ]


def assert_rows(actual: pl.DataFrame, expected: list[dict]) -> None:
    got = actual.to_dicts()
    assert len(got) == len(expected), (got, expected)
    for row, want in zip(got, expected, strict=False):
        assert set(row) == set(want), (row, want)
        for key, value in want.items():
            if isinstance(value, float) and not isinstance(row[key], Decimal):
                assert row[key] == pytest.approx(value, rel=0, abs=1e-9), (key, row, want)
            else:
                assert row[key] == value, (key, row, want)


# ---------------------------------------------------------------- tests


def test_daily_summary_matches_pandas(wh, frames):
    orders, items = frames
    result = metrics.daily_summary(wh)
    assert result.columns == [
        "date",
        "total_orders",
        "revenue",
        "average_order_value",
        "unique_customers",
        "top_product",
    ]
    assert (
        result.schema["revenue"] == pl.Decimal(38, 2) and result.schema["average_order_value"] == pl.Float64
    )
    expected = daily_expected(orders, items)
    assert_rows(result, expected)
    by_day = {r["date"]: r for r in result.to_dicts()}
    assert by_day[dt.date(2024, 3, 1)]["top_product"] == "Apron"  # tie with Bowl at 30.00
    assert by_day[dt.date(2024, 3, 3)]["top_product"] == "Egg cup"  # from the order at 00:00:00 UTC
    assert by_day[dt.date(2024, 3, 2)]["top_product"] == "Bowl"  # from the order at 23:59:59.999999
    assert dt.date(2024, 3, 4) not in by_day


def test_daily_summary_window(wh, frames):
    orders, items = frames
    start, end = dt.date(2024, 3, 2), dt.date(2024, 3, 5)
    result = metrics.daily_summary(wh, start=start, end=end)
    days = [start + dt.timedelta(days=n) for n in range(4)]
    assert_rows(result, daily_expected(orders, items, days))
    assert result["date"].to_list() == [dt.date(2024, 3, 5), dt.date(2024, 3, 3), dt.date(2024, 3, 2)]


def trend_expected(orders, end, days):
    calendar = pd.date_range(end=pd.Timestamp(end), periods=days, freq="D").date
    window = orders[orders["date"].isin(calendar)]
    grouped = window.groupby("date")
    out = pd.DataFrame(index=pd.Index(calendar, name="date"))
    out["total_orders"] = grouped.size().reindex(calendar, fill_value=0).astype(int)
    out["revenue"] = grouped["total"].agg(decimal_sum).reindex(calendar, fill_value=D("0.00"))
    out["average_order_value"] = grouped["total"].agg(float_mean).reindex(calendar)
    out["unique_customers"] = grouped["customer"].nunique().reindex(calendar, fill_value=0).astype(int)
    return records(out.reset_index().iloc[::-1])


@pytest.mark.parametrize(("days", "end"), [(30, None), (10, dt.date(2024, 3, 12)), (1, dt.date(2024, 3, 4))])
def test_revenue_trend_matches_pandas(wh, frames, days, end):
    orders, _ = frames
    result = metrics.revenue_trend(wh, days=days, end=end)
    assert result.columns == ["date", "total_orders", "revenue", "average_order_value", "unique_customers"]
    assert result.height == days
    assert_rows(result, trend_expected(orders, end or dt.date(2024, 3, 10), days))
    gap = result.filter(pl.col("date") == dt.date(2024, 3, 4)).to_dicts()[0]  # inside every window here
    assert (gap["total_orders"], gap["revenue"], gap["average_order_value"]) == (0, D("0.00"), None)


def segments_expected(orders, vip=(10, 1000), loyal=(5, 500), regular=2):
    known = orders.dropna(subset=["customer"])
    per_customer = known.groupby("customer").agg(
        order_count=("id", "size"), spent=("total", lambda s: float(decimal_sum(s)))
    )

    def segment(row) -> str:
        if row.order_count >= vip[0] and row.spent >= vip[1]:
            return "VIP"
        if row.order_count >= loyal[0] or row.spent >= loyal[1]:
            return "Loyal"
        return "Regular" if row.order_count >= regular else "New"

    per_customer["segment"] = per_customer.apply(segment, axis=1)
    grouped = per_customer.groupby("segment")
    order = ["VIP", "Loyal", "Regular", "New"]
    out = pd.DataFrame(
        {
            "customer_segment": order,
            "customer_count": grouped.size().reindex(order, fill_value=0).astype(int).to_list(),
            "avg_lifetime_value": grouped["spent"].mean().reindex(order).to_list(),
            "avg_orders_per_customer": grouped["order_count"].mean().reindex(order).to_list(),
        }
    )
    return records(out)


def test_customer_segments_match_pandas(wh, frames):
    orders, _ = frames
    result = metrics.customer_segments(wh)
    assert result.columns == [
        "customer_segment",
        "customer_count",
        "avg_lifetime_value",
        "avg_orders_per_customer",
    ]
    expected = segments_expected(orders)
    assert_rows(result, expected)
    assert result["customer_count"].to_list() == [1, 3, 3, 3]


def test_customer_segments_custom_thresholds_and_empty_segment(wh, frames):
    orders, _ = frames
    result = metrics.customer_segments(
        wh, vip_orders=50, vip_spent=1, loyal_orders=3, loyal_spent=10_000, regular_orders=2
    )
    assert_rows(result, segments_expected(orders, vip=(50, 1), loyal=(3, 10_000), regular=2))
    assert result.row(0) == ("VIP", 0, None, None)


def products_expected(items, first, last, top):
    window = (
        items[(items["date"] >= first) & (items["date"] <= last)] if first else items[items["date"] <= last]
    )
    titled = window.dropna(subset=["title"])
    grouped = titled.groupby("title")
    out = pd.DataFrame(
        {
            "total_sold": grouped["quantity"].sum(),
            "total_revenue": grouped["revenue"].agg(decimal_sum),
            "orders_containing_product": grouped["order_id"].nunique(),
            "avg_selling_price": grouped["price"].agg(float_mean),
        }
    )
    out = out.rename_axis("product_title").reset_index()
    out = out.sort_values(
        ["total_revenue", "product_title"], ascending=[False, True], key=lambda c: c.map(_sort_key)
    )
    return records(out.head(top) if top is not None else out)


def _sort_key(value):
    # Decimals sort as floats here; titles stay strings.
    return float(value) if isinstance(value, Decimal) else value


@pytest.mark.parametrize(
    ("days", "end", "top", "first"),
    [
        (30, None, 20, dt.date(2024, 2, 10)),
        (3, None, 2, dt.date(2024, 3, 8)),
        (None, None, None, None),
        (5, dt.date(2024, 3, 3), 20, dt.date(2024, 2, 28)),
    ],
)
def test_product_performance_matches_pandas(wh, frames, days, end, top, first):
    _, items = frames
    result = metrics.product_performance(wh, days=days, end=end, top=top)
    assert result.columns == [
        "product_title",
        "total_sold",
        "total_revenue",
        "orders_containing_product",
        "avg_selling_price",
    ]
    assert [result.schema[c] for c in result.columns[1:]] == [
        pl.Int64,
        pl.Decimal(38, 2),
        pl.Int64,
        pl.Float64,
    ]
    assert_rows(result, products_expected(items, first, end or dt.date(2024, 3, 10), top))


def test_product_performance_breaks_revenue_ties_by_title(wh):
    result = metrics.product_performance(wh, days=None, top=None)
    ranked = result.select("product_title", "total_revenue").rows()
    assert ranked[-2:] == [("Fork", D("12.00")), ("Glass", D("12.00"))]


def test_order_value_buckets_match_pandas_cut(wh, frames):
    orders, _ = frames
    result = metrics.order_value_buckets(wh)
    totals = orders["total"].map(lambda v: None if v is None else float(v)).astype("float64")
    labels = ["Low", "Medium", "High", "Premium"]
    cut = pd.cut(totals, bins=[0, 50, 100, 200, float("inf")], labels=labels, right=True, include_lowest=True)
    frame = pd.DataFrame({"bucket": cut, "total": orders["total"]}).dropna(subset=["bucket"])
    grouped = frame.groupby("bucket", observed=False)
    counts = grouped.size().reindex(labels, fill_value=0)
    expected = records(
        pd.DataFrame(
            {
                "bucket": labels,
                "orders": counts.astype(int).to_list(),
                "revenue": grouped["total"].agg(decimal_sum).reindex(labels).to_list(),
                "share_of_orders": (counts / counts.sum()).to_list(),
            }
        )
    )
    assert result.columns == ["bucket", "orders", "revenue", "share_of_orders"]
    assert_rows(result, expected)
    assert result["orders"].sum() == len(ORDERS) - 2  # the null total and the refund are left out


def test_order_value_buckets_custom_edges_keep_empty_labels(wh):
    result = metrics.order_value_buckets(wh, edges=(0, 1000, 5000), labels=("small", "big", "huge"))
    assert result.select("bucket", "orders").rows() == [("small", 36), ("big", 0), ("huge", 0)]
    assert result["revenue"].to_list()[1:] == [D("0.00"), D("0.00")]
    with pytest.raises(tl.ConfigError, match="same"):
        metrics.order_value_buckets(wh, edges=(0, 1), labels=("a",))
    with pytest.raises(tl.ConfigError, match="increase"):
        metrics.order_value_buckets(wh, edges=(0, 0), labels=("a", "b"))


def test_metrics_on_an_empty_warehouse(tmp_path):
    with DuckDBWarehouse(str(tmp_path / "empty.duckdb")) as empty:
        load = empty.begin_load("shop", "orders", "append")
        empty.write_batch(load, {"orders": orders_batch([])})
        empty.finish_load(load)
        assert metrics.daily_summary(empty).height == 0  # no line-item table at all
        assert metrics.revenue_trend(empty).columns == [
            "date",
            "total_orders",
            "revenue",
            "average_order_value",
            "unique_customers",
        ]
        assert metrics.revenue_trend(empty).height == 0
        assert metrics.revenue_trend(empty, days=2, end=dt.date(2024, 1, 2)).rows() == [
            (dt.date(2024, 1, 2), 0, D("0.00"), None, 0), (dt.date(2024, 1, 1), 0, D("0.00"), None, 0),
        ]  # fmt: skip
        assert metrics.customer_segments(empty).rows() == [
            (s, 0, None, None) for s in ("VIP", "Loyal", "Regular", "New")
        ]
        buckets = metrics.order_value_buckets(empty)
        assert (
            buckets["orders"].to_list() == [0, 0, 0, 0] and buckets["share_of_orders"].to_list() == [None] * 4
        )


def test_float_money_and_warehouse_time_zone(tmp_path):
    # Money stored as Float stays Float; days follow the warehouse's time zone.
    with DuckDBWarehouse(str(tmp_path / "ny.duckdb"), timezone="America/New_York") as ny:
        frame = orders_batch([(1, at("2024-03-02T03:00:00+00:00"), None, 1)]).with_columns(
            pl.Series("total_price", [12.5], dtype=pl.Float64)
        )
        load = ny.begin_load("shop", "orders", "append")
        ny.write_batch(load, {"orders": frame})
        ny.finish_load(load)
        summary = metrics.daily_summary(ny)
        assert summary.schema["revenue"] == pl.Float64
        assert summary.select("date", "revenue", "top_product").rows() == [(dt.date(2024, 3, 1), 12.5, None)]


# ---------------------------------------------------------------- the kernels against SQL, on a warehouse

AVERAGES = {
    "daily_summary": ("average_order_value",),
    "revenue_trend": ("average_order_value",),
    "customer_segments": ("avg_lifetime_value", "avg_orders_per_customer"),
    "product_performance": ("avg_selling_price",),
    "order_value_buckets": ("share_of_orders",),
    "rfm": (),
    "cohort_retention": ("retention",),
    "customer_lifetime_value": ("average_order_value", "predicted_value"),
}


def same(got: pl.DataFrame, want: pl.DataFrame, approx: tuple[str, ...] = ()) -> None:
    """Equal values column by column; ``approx`` columns (means of doubles) to 1e-9 relative."""
    assert got.columns == want.columns
    assert got.height == want.height, (got, want)
    for column in want.columns:
        a, b = got[column].to_list(), want[column].to_list()
        if column in approx:
            assert [x is None for x in a] == [y is None for y in b], column
            kept = [(x, y) for x, y in zip(a, b, strict=True) if y is not None]
            assert [x for x, _ in kept] == pytest.approx([y for _, y in kept], rel=1e-9), column
        else:
            assert a == b, column


CASES = [
    ("daily_summary", {}),
    ("daily_summary", {"start": dt.date(2024, 3, 2), "end": dt.date(2024, 3, 5)}),
    ("revenue_trend", {}),
    ("revenue_trend", {"days": 3, "end": dt.date(2024, 3, 5)}),
    ("customer_segments", {}),
    ("customer_segments", {"vip_orders": 2, "vip_spent": 300, "loyal_orders": 1, "loyal_spent": 200.01}),
    ("product_performance", {}),
    ("product_performance", {"days": None, "top": None}),
    ("product_performance", {"days": 2, "end": dt.date(2024, 3, 2), "top": 1}),
    ("order_value_buckets", {}),
    ("order_value_buckets", {"edges": (-10, 20, 150), "labels": ("a", "b", "c")}),
    ("rfm", {}),
    ("cohort_retention", {}),
    ("customer_lifetime_value", {}),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_each_metric_equals_its_sql_formulation(wh, name, options):
    # The hand-made shop has ties for the top product, guests, a refund (-5.00), a null total
    # and a 0.00 order.
    same(getattr(metrics, name)(wh, **options), getattr(sql, name)(wh, **options), AVERAGES[name])


def load_orders(path, rows, items=()) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(str(path))
    load = warehouse.begin_load("shop", "orders", "append")
    batch = {"orders": orders_batch(rows)}
    if items:
        batch["orders__line_items"] = items_batch(list(items))
    warehouse.write_batch(load, batch)
    warehouse.finish_load(load)
    return warehouse


def test_a_single_day_with_tied_products_guests_and_refunds_equals_sql(tmp_path):
    rows = [
        (1, at("2024-06-01T00:00:00+00:00"), D("10.00"), 7),
        (2, at("2024-06-01T12:00:00+00:00"), D("-10.00"), 7),  # a refund
        (3, at("2024-06-01T23:59:59+00:00"), D("30.00"), None),  # a guest
        (4, at("2024-06-01T18:00:00+00:00"), None, 8),
    ]
    items = [(1, "Zebra mug", 1, D("10.00")), (3, "Apple mug", 2, D("5.00")), (3, "Mango mug", 1, D("10.00"))]
    with load_orders(tmp_path / "one.duckdb", rows, items) as one:
        for name, options in CASES:
            if "end" in options or "start" in options:
                continue
            same(getattr(metrics, name)(one, **options), getattr(sql, name)(one, **options), AVERAGES[name])
        day = metrics.daily_summary(one).row(0, named=True)
        assert (day["total_orders"], day["revenue"], day["unique_customers"]) == (4, D("30.00"), 2)
        assert day["top_product"] == "Apple mug"  # three titles tie at 10.00; the first title wins
        assert metrics.cohort_retention(one, matrix=True).rows() == [(dt.date(2024, 6, 1), 2, 1.0)]


def test_an_empty_warehouse_equals_sql(tmp_path):
    with load_orders(tmp_path / "empty.duckdb", []) as empty:
        for name, options in CASES:
            if name in ("product_performance", "daily_summary") or "end" in options:
                continue  # no line-item table: see below
            same(
                getattr(metrics, name)(empty, **options), getattr(sql, name)(empty, **options), AVERAGES[name]
            )
        assert metrics.daily_summary(empty).height == 0
        with pytest.raises(tl.WarehouseError, match="orders__line_items"):
            metrics.product_performance(empty)


def test_write_stores_tables_for_dashboards(tmp_path):
    with load_orders(tmp_path / "w.duckdb", ORDERS, ITEMS) as w:
        summary = metrics.daily_summary(w, write=True)
        assert_frame(w.query("SELECT * FROM metrics_daily_summary ORDER BY date DESC"), summary)
        metrics.customer_segments(w, write="seg")
        assert w.query("SELECT sum(customer_count) AS n FROM seg").item() == 10
        results = metrics.refresh(w)
        assert list(results) == list(metrics.METRICS)
        stored = set(w.tables())
        assert {f"metrics_{name}" for name in metrics.METRICS} <= stored
        for name, frame in results.items():
            assert w.query(f"SELECT count(*) FROM metrics_{name}").item() == frame.height, name
        same(results["rfm"], sql.rfm(w))
        # A second refresh replaces the tables; nothing else in the warehouse moves.
        before = w.row_counts()["orders"]
        again = metrics.refresh(w, ["daily_summary", "rfm"])
        assert list(again) == ["daily_summary", "rfm"] and w.row_counts()["orders"] == before
        assert w.query("SELECT count(*) FROM metrics_daily_summary").item() == summary.height
        with pytest.raises(tl.ConfigError, match="'weekly_magic'"):
            metrics.refresh(w, ["weekly_magic"])
        with pytest.raises(tl.WarehouseError, match="_tf_"):
            w.replace_tables({"_tf_runs": summary})
        with pytest.raises(tl.ConfigError, match="write"):
            metrics.rfm(w, write="")


def assert_frame(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.rows() == want.rows() and got.columns == want.columns


def test_clear_errors_for_missing_tables_and_columns(tmp_path):
    with DuckDBWarehouse(str(tmp_path / "bare.duckdb")) as bare:
        with pytest.raises(tl.WarehouseError, match="no table 'orders'"):
            metrics.daily_summary(bare)
        bare.query("CREATE TABLE sales (id BIGINT, created_at TIMESTAMPTZ)")
        with pytest.raises(tl.WarehouseError, match="'sales' has no column '_tf_id'"):
            metrics.rfm(bare, orders="sales")
        with pytest.raises(tl.WarehouseError, match="no table 'nope'"):
            metrics.approx_distinct(bare, "nope", "id")


def test_a_shop_of_guests_has_no_customer_column(tmp_path):
    with DuckDBWarehouse(str(tmp_path / "guests.duckdb")) as guests:
        guests.query(
            "CREATE TABLE orders AS SELECT 'o' || i AS _tf_id,"
            " TIMESTAMPTZ '2024-01-01 10:00:00+00' AS created_at,"
            " CAST(i AS DECIMAL(18, 2)) AS total_price FROM range(1, 4) t(i)"
        )
        day = metrics.daily_summary(guests).row(0, named=True)
        assert (day["total_orders"], day["revenue"], day["unique_customers"]) == (3, D("6.00"), 0)
        assert metrics.customer_segments(guests)["customer_count"].to_list() == [0, 0, 0, 0]
        assert metrics.rfm(guests).height == 0


def test_approx_distinct_on_a_warehouse(wh):
    estimate = metrics.approx_distinct(wh, "orders", "customer__id")
    assert round(estimate) == 10  # HyperLogLog++ is exact at small counts (sparse representation)


@pytest.mark.parametrize(
    ("tz", "day_start"), [("UTC", "00:00"), ("Pacific/Kiritimati", "04:00"), ("Pacific/Pago_Pago", "23:30")]
)
def test_windowed_reads_equal_the_kernels_over_every_row(wh, tz, day_start):
    # revenue_trend and product_performance read only the window's orders (with a margin); the
    # kernels over every row are the reference, at the extremes of UTC offsets and day starts.
    orders = wh.query("SELECT * FROM orders")
    items = wh.query("SELECT * FROM orders__line_items")
    zone = {"tz": tz, "day_start": day_start}
    for days, end in [(1, None), (3, None), (2, dt.date(2024, 3, 6)), (40, None)]:
        assert_frame(
            metrics.revenue_trend(wh, days=days, end=end, **zone),
            tl.metrics.kernels.revenue_trend(orders, days=days, end=end, **zone),
        )
        assert_frame(
            metrics.product_performance(wh, days=days, end=end, top=None, **zone),
            tl.metrics.kernels.product_performance(orders, items, days=days, end=end, top=None, **zone),
        )
    refreshed = metrics.refresh(wh, ["daily_summary", "revenue_trend", "product_performance"], tz=tz,
                                day_start=day_start, write=False)  # fmt: skip
    assert_frame(refreshed["daily_summary"], metrics.daily_summary(wh, **zone))
    assert_frame(refreshed["revenue_trend"], metrics.revenue_trend(wh, **zone))
    assert_frame(refreshed["product_performance"], metrics.product_performance(wh, **zone))


def test_windows_over_timestamps_without_a_zone(tmp_path):
    with DuckDBWarehouse(str(tmp_path / "naive.duckdb")) as naive:
        naive.query(
            "CREATE TABLE orders AS SELECT 'o' || i AS _tf_id,"
            " TIMESTAMP '2024-01-01 23:30:00' + INTERVAL (i) HOUR AS created_at,"
            " CAST(i AS DECIMAL(18, 2)) AS total_price, i % 7 AS customer__id FROM range(0, 200) t(i)"
        )
        orders = naive.query("SELECT * FROM orders")
        for days in (1, 3):
            assert_frame(
                metrics.revenue_trend(naive, days=days), tl.metrics.kernels.revenue_trend(orders, days=days)
            )
        assert metrics.revenue_trend(naive, days=3)["total_orders"].to_list() == [7, 24, 24]
