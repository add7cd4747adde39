"""Benchmark P4: the shop's dashboards over 2.5M orders and 10M line items,
with tillflow's native kernels and their peers.

The dashboards: the seed's four (daily summary, 30-day revenue trend,
customer segments, product performance over 30 days, top 20) plus RFM and
monthly cohort retention. A first child process generates the shop once
(numpy + polars, fixed seed, untimed): orders in time order as a load leaves
them, ~12 % guest checkouts, ~0.5 % refunds (negative totals), a Pareto spread
of repeat customers, 1-7 line items per order over 2,000 titles, money as
DECIMAL(38, 2) as tillflow loads Shopify amounts. It writes them into a DuckDB
warehouse file (the tables tillflow loads: ``orders``, ``orders__line_items``,
with a few more columns than the metrics read) and into two Parquet files.

Each contender runs in its own child process (see p3_rules.py for why) and
computes all six dashboards --repeat times; the best total counts, and each
dashboard's best time is printed too. Contenders:

  tillflow         tl.metrics.<dashboard>(warehouse) six times: each call reads its columns from
                   the DuckDB file as Arrow and runs the native kernel
  tillflow_refresh tl.metrics.refresh(warehouse, six, write=False): one read, six results
  tillflow_frames  tl.metrics.kernels.<dashboard>(orders, items) on polars frames already in memory
  duckdb           the SQL formulations the tests check the kernels against (tests/support/metrics_sql.py),
                   on the same warehouse file (data already in DuckDB), results fetched as polars
  polars           the dashboards as Polars lazy queries on frames in memory (Decimal money)
  pandas           the dashboards in pandas on frames in memory (float64 money: Decimal objects
                   would make pandas far slower still)

Every contender's results are checked against DuckDB's: exact for counts,
days, titles, segments and scores, 1e-6 relative for money and averages.
The script exits 1 on any disagreement.

Run by hand, never in the test suite:

    python benchmarks/p4_metrics.py --orders 2500000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # metrics_sql: the DuckDB contender

import harness  # noqa: E402

DASHBOARDS = (
    "daily_summary",
    "revenue_trend",
    "customer_segments",
    "product_performance",
    "rfm",
    "cohort_retention",
)
ALL = ("tillflow", "tillflow_refresh", "tillflow_frames", "duckdb", "polars", "pandas")
Run = Callable[[], dict[str, Any]]

# ---------------------------------------------------------------------------------------- data


def generate(n_orders: int, seed: int, out: Path) -> None:
    import duckdb
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    start = int(np.datetime64("2023-01-01T00:00:00", "us").astype(np.int64))
    created = np.sort(rng.integers(0, 730 * 86_400 * 10**6, n_orders)) + start
    n_customers = max(n_orders // 8, 1)
    weight = rng.pareto(1.2, n_customers) + 1
    customer = rng.choice(n_customers, n_orders, p=weight / weight.sum()).astype(np.int64) + 7_000_000_000
    guest = rng.random(n_orders) < 0.12
    per_order = 1 + rng.binomial(6, 0.5, n_orders)
    parent = np.repeat(np.arange(n_orders), per_order)
    n_items = int(per_order.sum())
    n_titles = 2000
    title_weight = 1 / np.arange(1, n_titles + 1) ** 0.8
    product = rng.choice(n_titles, n_items, p=title_weight / title_weight.sum())
    list_cents = rng.integers(199, 19_999, n_titles)
    quantity = 1 + rng.binomial(2, 0.25, n_items)
    cents = list_cents[product]
    line = quantity * cents
    starts = np.concatenate(([0], np.cumsum(per_order)[:-1]))
    total = np.add.reduceat(line, starts)
    total[rng.random(n_orders) < 0.005] *= -1  # refunds
    order_ids = rng.choice(np.iinfo(np.int64).max, n_orders, replace=False).astype(np.uint64)
    item_ids = rng.integers(1, np.iinfo(np.int64).max, n_items, dtype=np.int64).astype(np.uint64)
    titles = pl.Series(
        [f"Product {i:04d} {['mug', 'apron', 'bowl', 'tea', 'candle'][i % 5]}" for i in range(n_titles)]
    )

    def money(values: Any) -> pl.Expr:
        return pl.lit(pl.Series(values, dtype=pl.Int64)).cast(pl.Decimal(38, 0)) * pl.lit(0.01).cast(
            pl.Decimal(38, 2)
        )

    orders = pl.DataFrame(
        {
            "_tf_id": order_ids,
            "id": np.arange(n_orders, dtype=np.int64) + 5_000_000_000,
            "created_at": pl.Series(created).cast(pl.Datetime("us", "UTC")),
            "customer__id": pl.Series(customer).scatter(np.flatnonzero(guest), None),
            "currency": "EUR",
            "financial_status": pl.Series(["paid", "refunded"]).gather((total < 0).astype(np.int64)),
        }
    ).with_columns(money(total).alias("total_price"))
    items = pl.DataFrame(
        {
            "_tf_id": item_ids,
            "_tf_parent_id": order_ids[parent],
            "_tf_idx": (np.arange(n_items) - starts[parent]).astype(np.int64),
            "title": titles.gather(product),
            "quantity": quantity.astype(np.int64),
            "sku": pl.Series([f"SKU-{i:05d}" for i in range(n_titles)]).gather(product),
        }
    ).with_columns(money(cents).alias("price"))
    assert orders.schema["total_price"] == pl.Decimal(38, 2), orders.schema
    orders.write_parquet(out / "orders.parquet")
    items.write_parquet(out / "items.parquet")
    con = duckdb.connect(str(out / "shop.duckdb"))
    con.register("o", orders.to_arrow())
    con.register("i", items.to_arrow())
    con.execute("CREATE TABLE orders AS SELECT * FROM o")
    con.execute("CREATE TABLE orders__line_items AS SELECT * FROM i")
    con.close()
    print(f"generated {n_orders:,} orders and {n_items:,} line items (seed {seed})", flush=True)


# ---------------------------------------------------------------------------------------- contenders


def setup_tillflow(data: Path) -> Run:
    import tillflow as tl

    wh = tl.warehouse.duckdb(str(data / "shop.duckdb"))
    m = tl.metrics
    calls = {
        "daily_summary": lambda: m.daily_summary(wh),
        "revenue_trend": lambda: m.revenue_trend(wh),
        "customer_segments": lambda: m.customer_segments(wh),
        "product_performance": lambda: m.product_performance(wh),
        "rfm": lambda: m.rfm(wh),
        "cohort_retention": lambda: m.cohort_retention(wh),
    }
    return timed(calls)


def setup_tillflow_refresh(data: Path) -> Run:
    import tillflow as tl

    wh = tl.warehouse.duckdb(str(data / "shop.duckdb"))

    def run() -> dict[str, Any]:
        t0 = time.perf_counter()
        results = tl.metrics.refresh(wh, DASHBOARDS, write=False)
        return {"results": results, "times": {"all six": time.perf_counter() - t0}}

    return run


def setup_tillflow_frames(data: Path) -> Run:
    import polars as pl

    import tillflow as tl

    k = tl.metrics.kernels
    orders = pl.read_parquet(data / "orders.parquet")
    items = pl.read_parquet(data / "items.parquet")
    calls = {
        "daily_summary": lambda: k.daily_summary(orders, items),
        "revenue_trend": lambda: k.revenue_trend(orders),
        "customer_segments": lambda: k.customer_segments(orders),
        "product_performance": lambda: k.product_performance(orders, items),
        "rfm": lambda: k.rfm(orders),
        "cohort_retention": lambda: k.cohort_retention(orders),
    }
    return timed(calls)


def setup_duckdb(data: Path) -> Run:
    import tillflow as tl
    from support import metrics_sql as sql

    wh = tl.warehouse.duckdb(str(data / "shop.duckdb"))
    queries = {name: getattr(sql, name) for name in DASHBOARDS}
    return timed({name: (lambda f=f: f(wh)) for name, f in queries.items()})


def timed(calls: dict[str, Callable[[], Any]]) -> Run:
    def run() -> dict[str, Any]:
        results, times = {}, {}
        for name, call in calls.items():
            t0 = time.perf_counter()
            results[name] = call()
            times[name] = time.perf_counter() - t0
        return {"results": results, "times": times}

    return run


def setup_polars(data: Path) -> Run:
    import datetime as dt

    import polars as pl

    orders = pl.read_parquet(data / "orders.parquet")
    items = pl.read_parquet(data / "items.parquet")
    o = orders.lazy().select("_tf_id", "customer__id", "total_price", day=pl.col("created_at").dt.date())
    li = items.lazy().select("_tf_parent_id", "title", "quantity", "price")
    customers = pl.col("customer__id").drop_nulls().n_unique()

    def per_day(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.group_by("day").agg(
            total_orders=pl.len(),
            revenue=pl.col("total_price").sum(),
            average_order_value=pl.col("total_price").cast(pl.Float64).mean(),
            unique_customers=customers,
        )

    def daily() -> pl.DataFrame:
        top = (
            li.filter(pl.col("title").is_not_null())
            .join(o.select("_tf_id", "day"), left_on="_tf_parent_id", right_on="_tf_id")
            .group_by("day", "title")
            .agg(value=(pl.col("quantity") * pl.col("price")).sum())
            .sort(["day", "value", "title"], descending=[False, True, False], nulls_last=True)
            .group_by("day")
            .agg(top_product=pl.col("title").first())
        )
        return (
            per_day(o).join(top, on="day", how="left").sort("day", descending=True)
            .rename({"day": "date"}).collect()
        )  # fmt: skip

    def last_day() -> dt.date:
        return o.select(pl.col("day").max()).collect().item()

    def trend() -> pl.DataFrame:
        end = last_day()
        first = end - dt.timedelta(days=29)
        calendar = pl.LazyFrame({"day": pl.date_range(first, end, eager=True)})
        window = per_day(o.filter(pl.col("day").is_between(first, end)))
        return (
            calendar.join(window, on="day", how="left")
            .with_columns(pl.col("total_orders", "revenue", "unique_customers").fill_null(0))
            .sort("day", descending=True).rename({"day": "date"}).collect()
        )  # fmt: skip

    def per_customer() -> pl.LazyFrame:
        return (
            o.filter(pl.col("customer__id").is_not_null())
            .group_by("customer__id")
            .agg(
                n=pl.len(),
                spent=pl.col("total_price").sum().fill_null(0),
                first=pl.col("day").min(),
                last=pl.col("day").max(),
            )
        )

    def segments() -> pl.DataFrame:
        seg = (
            pl.when((pl.col("n") >= 10) & (pl.col("spent") >= 1000)).then(pl.lit("VIP"))
            .when((pl.col("n") >= 5) | (pl.col("spent") >= 500)).then(pl.lit("Loyal"))
            .when(pl.col("n") >= 2).then(pl.lit("Regular")).otherwise(pl.lit("New"))
        )  # fmt: skip
        labelled = (
            per_customer().group_by(seg.alias("customer_segment"))
            .agg(
                customer_count=pl.len(),
                avg_lifetime_value=pl.col("spent").cast(pl.Float64).mean(),
                avg_orders_per_customer=pl.col("n").cast(pl.Float64).mean(),
            )
        )  # fmt: skip
        names = pl.LazyFrame({"customer_segment": ["VIP", "Loyal", "Regular", "New"]})
        return (
            names.join(labelled, on="customer_segment", how="left", maintain_order="left")
            .with_columns(pl.col("customer_count").fill_null(0)).collect()
        )  # fmt: skip

    def products() -> pl.DataFrame:
        end = last_day()
        window = o.filter(pl.col("day").is_between(end - dt.timedelta(days=29), end)).select("_tf_id")
        return (
            li.filter(pl.col("title").is_not_null())
            .join(window, left_on="_tf_parent_id", right_on="_tf_id")
            .group_by("title")
            .agg(
                total_sold=pl.col("quantity").sum(),
                total_revenue=(pl.col("quantity") * pl.col("price")).sum(),
                orders_containing_product=pl.col("_tf_parent_id").n_unique(),
                avg_selling_price=pl.col("price").cast(pl.Float64).mean(),
            )
            .sort(["total_revenue", "title"], descending=[True, False], nulls_last=True)
            .head(20).rename({"title": "product_title"}).collect()
        )  # fmt: skip

    def score(rank: pl.Expr) -> pl.Expr:
        n = pl.len()
        return ((5 * rank + n - 1) // n).cast(pl.Int32)

    def rfm() -> pl.DataFrame:
        per = per_customer().collect()
        as_of = per["last"].max() + dt.timedelta(days=1) if per.height else None
        r, f = pl.col("r_score"), pl.col("f_score")
        segment = (
            pl.when((r >= 4) & (f >= 4)).then(pl.lit("Champions"))
            .when((r == 3) & (f >= 4)).then(pl.lit("Loyal Customers"))
            .when((r <= 2) & (f == 5)).then(pl.lit("Can't Lose Them"))
            .when((r <= 2) & (f >= 3)).then(pl.lit("At Risk"))
            .when((r >= 4) & (f >= 2)).then(pl.lit("Potential Loyalists"))
            .when((r == 3) & (f == 3)).then(pl.lit("Need Attention"))
            .when(r == 5).then(pl.lit("New Customers"))
            .when(r == 4).then(pl.lit("Promising"))
            .when(r == 3).then(pl.lit("About to Sleep"))
            .otherwise(pl.lit("Hibernating"))
        )  # fmt: skip
        return (
            per.lazy()
            .select(
                customer=pl.col("customer__id"),
                recency_days=(pl.lit(as_of) - pl.col("last")).dt.total_days(),
                frequency=pl.col("n"),
                monetary=pl.col("spent"),
            )
            .with_columns(
                r_score=score((-pl.col("recency_days")).rank("max")),
                f_score=score(pl.col("frequency").rank("max")),
                m_score=score(pl.col("monetary").rank("max")),
            )
            .with_columns(rfm=pl.concat_str("r_score", "f_score", "m_score"), segment=segment)
            .sort("customer").collect()
        )  # fmt: skip

    def cohorts() -> pl.DataFrame:
        month = pl.col("day").dt.year() * 12 + pl.col("day").dt.month() - 1
        visits = o.filter(pl.col("customer__id").is_not_null()).select("customer__id", m=month).unique()
        first = visits.group_by("customer__id").agg(first=pl.col("m").min())
        last_month = visits.select(pl.col("m").max()).collect().item()
        active = (
            visits.join(first, on="customer__id").group_by("first", k=pl.col("m") - pl.col("first"))
            .agg(customers=pl.len())
        )  # fmt: skip
        grid = (
            first.group_by("first").agg(cohort_size=pl.len())
            .with_columns(k=pl.int_ranges(0, last_month - pl.col("first") + 1)).explode("k")
        )  # fmt: skip
        return (
            grid.join(active, on=["first", "k"], how="left")
            .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64))
            .select(
                cohort_month=pl.date(pl.col("first") // 12, pl.col("first") % 12 + 1, 1),
                months_since_first=pl.col("k").cast(pl.Int32),
                cohort_size=pl.col("cohort_size").cast(pl.Int64),
                customers="customers",
                retention=pl.col("customers") / pl.col("cohort_size"),
            )
            .sort("cohort_month", "months_since_first").collect()
        )  # fmt: skip

    return timed({
        "daily_summary": daily, "revenue_trend": trend, "customer_segments": segments,
        "product_performance": products, "rfm": rfm, "cohort_retention": cohorts,
    })  # fmt: skip


def setup_pandas(data: Path) -> Run:
    import numpy as np
    import pandas as pd
    import polars as pl

    orders = (
        pl.read_parquet(data / "orders.parquet")
        .select("_tf_id", "customer__id", pl.col("total_price").cast(pl.Float64), "created_at")
        .to_pandas()
    )
    items = (
        pl.read_parquet(data / "items.parquet")
        .select("_tf_parent_id", "title", "quantity", pl.col("price").cast(pl.Float64))
        .to_pandas()
    )
    orders["customer__id"] = orders["customer__id"].astype("Int64")

    def days() -> pd.Series:
        return orders["created_at"].dt.tz_convert("UTC").dt.floor("D").dt.date

    def per_day(frame: pd.DataFrame) -> pd.DataFrame:
        g = frame.groupby("day")
        return pd.DataFrame({
            "total_orders": g.size(), "revenue": g["total_price"].sum(),
            "average_order_value": g["total_price"].mean(), "unique_customers": g["customer__id"].nunique(),
        })  # fmt: skip

    def daily() -> pd.DataFrame:
        o = orders.assign(day=days())
        out = per_day(o)
        joined = items[items["title"].notna()].merge(
            o[["_tf_id", "day"]], left_on="_tf_parent_id", right_on="_tf_id"
        )
        joined["value"] = joined["quantity"] * joined["price"]
        per_title = joined.groupby(["day", "title"], as_index=False)["value"].sum()
        per_title = per_title.sort_values(["day", "value", "title"], ascending=[True, False, True])
        out["top_product"] = per_title.drop_duplicates("day").set_index("day")["title"]
        return out.reset_index().rename(columns={"day": "date"}).sort_values("date", ascending=False)

    def trend() -> pd.DataFrame:
        o = orders.assign(day=days())
        end = o["day"].max()
        calendar = pd.date_range(end=pd.Timestamp(end), periods=30, freq="D").date
        out = per_day(o[o["day"].isin(set(calendar))]).reindex(calendar)
        out[["total_orders", "revenue", "unique_customers"]] = out[
            ["total_orders", "revenue", "unique_customers"]
        ].fillna(0)
        return out.rename_axis("date").reset_index().iloc[::-1]

    def per_customer() -> pd.DataFrame:
        o = orders.assign(day=days())
        o = o[o["customer__id"].notna()]
        return o.groupby("customer__id").agg(
            n=("_tf_id", "size"), spent=("total_price", "sum"), first=("day", "min"), last=("day", "max")
        )

    def segments() -> pd.DataFrame:
        per = per_customer()
        n, spent = per["n"], per["spent"]
        per["segment"] = np.select(
            [(n >= 10) & (spent >= 1000), (n >= 5) | (spent >= 500), n >= 2],
            ["VIP", "Loyal", "Regular"], "New",
        )  # fmt: skip
        g = per.groupby("segment")
        out = pd.DataFrame({
            "customer_count": g.size(), "avg_lifetime_value": g["spent"].mean(),
            "avg_orders_per_customer": g["n"].mean(),
        }).reindex(["VIP", "Loyal", "Regular", "New"])  # fmt: skip
        out["customer_count"] = out["customer_count"].fillna(0).astype(int)
        return out.rename_axis("customer_segment").reset_index()

    def products() -> pd.DataFrame:
        o = orders.assign(day=days())
        end = o["day"].max()
        first = end - pd.Timedelta(days=29)
        window = o.loc[(o["day"] >= first) & (o["day"] <= end), ["_tf_id"]]
        joined = items[items["title"].notna()].merge(window, left_on="_tf_parent_id", right_on="_tf_id")
        joined["revenue"] = joined["quantity"] * joined["price"]
        out = joined.groupby("title").agg(
            total_sold=("quantity", "sum"), total_revenue=("revenue", "sum"),
            orders_containing_product=("_tf_parent_id", "nunique"), avg_selling_price=("price", "mean"),
        )  # fmt: skip
        out = out.reset_index().sort_values(["total_revenue", "title"], ascending=[False, True]).head(20)
        return out.rename(columns={"title": "product_title"})

    def score(rank: pd.Series) -> pd.Series:
        n = len(rank)
        return ((5 * rank.astype("int64") + n - 1) // n).astype("int32")

    def rfm() -> pd.DataFrame:
        per = per_customer().reset_index()
        as_of = per["last"].max() + pd.Timedelta(days=1)
        out = pd.DataFrame({
            "customer": per["customer__id"],
            "recency_days": [(as_of - d).days for d in per["last"]],
            "frequency": per["n"], "monetary": per["spent"],
        })  # fmt: skip
        out["r_score"] = score((-out["recency_days"]).rank(method="max"))
        out["f_score"] = score(out["frequency"].rank(method="max"))
        out["m_score"] = score(out["monetary"].rank(method="max"))
        out["rfm"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
        r, f = out["r_score"], out["f_score"]
        out["segment"] = np.select(
            [(r >= 4) & (f >= 4), (r == 3) & (f >= 4), (r <= 2) & (f == 5), (r <= 2) & (f >= 3),
             (r >= 4) & (f >= 2), (r == 3) & (f == 3), r == 5, r == 4, r == 3],
            ["Champions", "Loyal Customers", "Can't Lose Them", "At Risk", "Potential Loyalists",
             "Need Attention", "New Customers", "Promising", "About to Sleep"],
            "Hibernating",
        )  # fmt: skip
        return out.sort_values("customer")

    def cohorts() -> pd.DataFrame:
        o = orders[orders["customer__id"].notna()]
        ts = o["created_at"].dt.tz_convert("UTC")
        visits = pd.DataFrame(
            {"c": o["customer__id"], "m": ts.dt.year * 12 + ts.dt.month - 1}
        ).drop_duplicates()
        visits["first"] = visits.groupby("c")["m"].transform("min")
        visits["k"] = visits["m"] - visits["first"]
        active = visits.groupby(["first", "k"]).size()
        sizes = visits.drop_duplicates("c").groupby("first").size()
        last = visits["m"].max()
        rows = [
            (first, k, size, int(active.get((first, k), 0)))
            for first, size in sizes.items() for k in range(last - first + 1)
        ]  # fmt: skip
        out = pd.DataFrame(rows, columns=["first", "months_since_first", "cohort_size", "customers"])
        out["retention"] = out["customers"] / out["cohort_size"]
        out["cohort_month"] = pd.to_datetime(
            {"year": out["first"] // 12, "month": out["first"] % 12 + 1, "day": 1}
        ).dt.date
        return out.drop(columns="first")

    return timed({
        "daily_summary": daily, "revenue_trend": trend, "customer_segments": segments,
        "product_performance": products, "rfm": rfm, "cohort_retention": cohorts,
    })  # fmt: skip


SETUPS: dict[str, Callable[[Path], Run]] = {
    "tillflow": setup_tillflow,
    "tillflow_refresh": setup_tillflow_refresh,
    "tillflow_frames": setup_tillflow_frames,
    "duckdb": setup_duckdb,
    "polars": setup_polars,
    "pandas": setup_pandas,
}

# ---------------------------------------------------------------------------------------- checks

# Per dashboard: (sort key, exact columns, approximate columns).
SHAPES = {
    "daily_summary": (["date"], ["date", "total_orders", "unique_customers", "top_product"],
                      ["revenue", "average_order_value"]),
    "revenue_trend": (["date"], ["date", "total_orders", "unique_customers"],
                      ["revenue", "average_order_value"]),
    "customer_segments": (None, ["customer_segment", "customer_count"],
                          ["avg_lifetime_value", "avg_orders_per_customer"]),
    "product_performance": (None, ["product_title", "total_sold", "orders_containing_product"],
                            ["total_revenue", "avg_selling_price"]),
    "rfm": (["customer"],
            ["customer", "recency_days", "frequency", "r_score", "f_score", "m_score", "segment"],
            ["monetary"]),
    "cohort_retention": (["cohort_month", "months_since_first"],
                         ["cohort_month", "months_since_first", "cohort_size", "customers"], ["retention"]),
}  # fmt: skip


def digest(name: str, frame: Any) -> dict[str, Any]:
    """A dashboard's result in a comparable, JSON-friendly form."""
    import polars as pl

    df = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    key, exact, approx = SHAPES[name]
    if key:
        df = df.sort(key)
    out: dict[str, Any] = {"rows": df.height}
    for c in exact:
        values = df[c]
        if values.dtype == pl.Date:
            values = values.cast(pl.String)
        out[c] = values.cast(pl.String).to_list() if values.dtype != pl.String else values.to_list()
    for c in approx:
        out[c] = df[c].cast(pl.Float64).to_list()
    return out


def disagreements(name: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    import math

    if got["rows"] != want["rows"]:
        return [f"{name}: {got['rows']:,} rows vs {want['rows']:,}"]
    problems = []
    _, exact, approx = SHAPES[name]
    for c in exact:
        bad = sum(a != b for a, b in zip(got[c], want[c], strict=True))
        if bad:
            problems.append(f"{name}.{c}: {bad:,} values differ")
    for c in approx:
        bad = sum(
            not (
                (a is None and b is None)
                or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6))
            )
            for a, b in zip(got[c], want[c], strict=True)
        )
        if bad:
            problems.append(f"{name}.{c}: {bad:,} values differ beyond 1e-6")
    return problems


# ---------------------------------------------------------------------------------------- processes


def child_main(args: argparse.Namespace) -> int:
    contender = args.child
    result: dict[str, Any] = {"contender": contender}
    packages = {"tillflow": ["tillflow", "duckdb", "polars"], "duckdb": ["duckdb"], "polars": ["polars"],
                "pandas": ["pandas", "numpy"]}  # fmt: skip
    result["versions"] = harness.versions(packages[contender.split("_")[0]])
    try:
        t0 = time.perf_counter()
        run = SETUPS[contender](Path(args.data))
        result["setup_seconds"] = time.perf_counter() - t0
        result.update(harness.settle())
        totals: list[float] = []
        per: dict[str, float] = {}
        for _ in range(args.repeat):
            got = run()
            totals.append(sum(got["times"].values()))
            for name, t in got["times"].items():
                per[name] = min(per.get(name, t), t)
        result.update(
            times=totals, per_dashboard=per,
            digests={name: digest(name, frame) for name, frame in got["results"].items()},
        )  # fmt: skip
    except Exception as exc:
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    return harness.write_result(result)


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    duck = next((r for r in rows if r["contender"] == "duckdb" and "seconds" in r), None)
    columns = [
        harness.Column("contender", 17, "contender", left=True),
        harness.Column("seconds", 8, "seconds", ".3f"),
        harness.Column("vs duckdb", 10, lambda r: f"{duck['seconds'] / r['seconds']:.2f}×" if duck else "-"),
        harness.Column("peak RSS MiB", 12, "rss_mib", ",.0f"),
        harness.Column("resident MiB", 12, "resident_mib", ",.0f"),
        harness.Column("setup s", 8, "setup_seconds", ".2f"),
    ]
    harness.print_table(
        rows,
        columns,
        title=f"P4: {args.orders:,} orders, six dashboards, best of {args.repeat}",
        status=lambda r: None if "seconds" in r else f"FAILED: {r.get('error')}",
    )
    print("\nseconds per dashboard (best of the runs):")
    names = [*DASHBOARDS, "all six"]
    print(f"{'contender':<17}" + "".join(f" {n[:12]:>12}" for n in names))
    for r in rows:
        if "per_dashboard" in r:
            print(f"{r['contender']:<17}" + "".join(
                f" {r['per_dashboard'][n]:>12.3f}" if n in r["per_dashboard"] else f" {'':>12}" for n in names
            ))  # fmt: skip
    print(
        "\n'vs duckdb' = DuckDB's seconds ÷ the contender's (above 1 is faster than DuckDB). seconds: the"
        "\nsix dashboards, in-child, excluding interpreter start, imports and setup (opening the warehouse,"
        "\nor reading the Parquet files into memory for the in-memory contenders). peak RSS: the child's"
        "\nru_maxrss with the high-water mark reset after setup; resident: RSS before the first run."
    )
    harness.print_notes(rows)


def parent_main(args: argparse.Namespace) -> int:
    contenders = harness.chosen_contenders(args, ALL)
    with harness.parent_run(args, "tillflow_p4_") as out:
        if not (out / "shop.duckdb").exists():
            cmd = [sys.executable, __file__, "--generate", "--orders", str(args.orders),
                   "--seed", str(args.seed),
                   "--out", str(out)]  # fmt: skip
            subprocess.run(cmd, check=True)
        rows = []
        for contender in harness.contenders_in_turn(args, contenders):
            argv = ["--data", str(out), "--repeat", str(args.repeat)]
            row = harness.run_child(__file__, contender, argv, timeout=args.timeout)
            print(
                f"  {contender}: " + (f"{row['seconds']:.3f}s" if "seconds" in row else row.get("error", "?"))
            )
            rows.append(row)
        print_table(rows, args)
        status = 0
        duck = next((r for r in rows if r["contender"] == "duckdb" and "digests" in r), None)
        for r in rows:
            if duck is None or "digests" not in r or r is duck:
                continue
            problems = [p for n in DASHBOARDS for p in disagreements(n, r["digests"][n], duck["digests"][n])
                        if n in r["digests"]]  # fmt: skip
            if problems:
                status = 1
                print(f"DISAGREES with duckdb: {r['contender']}:\n  " + "\n  ".join(problems))
            else:
                print(f"{r['contender']}: every dashboard agrees with duckdb")
        if any("error" in r for r in rows):
            status = 1
        print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
        return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=2_500_000, help="orders to generate (~4 line items each)")
    p.add_argument("--seed", type=int, default=20261121, help="data generator seed")
    harness.add_options(p, ALL, out="work folder; an existing shop.duckdb there is reused")
    return harness.dispatch(
        p, argv, lambda a: generate(a.orders, a.seed, Path(a.out)), child_main, parent_main
    )


if __name__ == "__main__":
    sys.exit(main())
