"""End to end: the demo shop over HTTP → native engine → DuckDB."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import polars as pl
import pytest

import tillflow as tl
from support import FAST_RETRY
from support.shop import fetch_all_orders
from tillflow.demo import DATA_END, DATA_START

ORDERS = 1000


def test_demo_pipeline_loads_every_table(shop, warehouse):
    run = tl.pipeline("shop", shop.source(), warehouse).run()
    counts = warehouse.row_counts()
    raw = fetch_all_orders(shop.url, shop.token)
    assert len(raw) == ORDERS
    assert counts["orders"] == ORDERS
    assert counts["orders__line_items"] == sum(len(o["line_items"]) for o in raw)
    assert counts["customers"] == 200
    assert counts["products"] == 24
    assert counts["products__variants"] == 72
    assert run.row_counts == counts
    loads = warehouse.loads()
    assert loads["status"].to_list() == ["completed"] * 3
    assert set(warehouse.tables()) == {
        "orders",
        "orders__line_items",
        "customers",
        "products",
        "products__variants",
    }
    # Every row carries the id of the load that wrote it.
    ids = warehouse.query("SELECT DISTINCT _tf_load_id FROM orders")["_tf_load_id"].to_list()
    assert ids == [loads.filter(pl.col("resource") == "orders")["load_id"][0]]


def test_types_and_nesting(shop, warehouse):
    tl.pipeline("shop", shop.source(resources=["orders"]), warehouse).run()
    types = dict(
        warehouse.connection.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'orders'"
        ).fetchall()
    )
    assert types["id"] == "BIGINT"
    assert types["total_price"] == "DECIMAL(38,2)"
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["customer__id"] == "BIGINT"
    assert types["customer__email"] == "VARCHAR"
    items = warehouse.query(
        "SELECT li.*, o.id AS oid FROM orders__line_items li JOIN orders o ON li._tf_parent_id = o._tf_id"
    )
    assert items.height == warehouse.row_counts()["orders__line_items"]
    assert (items["orders_id"] == items["oid"]).all()
    # Line items sum to their order's total.
    check = warehouse.query(
        "SELECT o.total_price, sum(li.quantity * li.price) AS s FROM orders o "
        "JOIN orders__line_items li ON li._tf_parent_id = o._tf_id GROUP BY o._tf_id, o.total_price"
    )
    assert (check["total_price"] == check["s"]).all()


def test_second_run_duplicates_nothing(shop, warehouse):
    p = tl.pipeline("shop", shop.source(), warehouse)
    p.run()
    first = warehouse.row_counts()
    ids_before = warehouse.query("SELECT _tf_id FROM orders__line_items ORDER BY 1")
    p.run(full_refresh=True)
    assert warehouse.row_counts() == first
    assert warehouse.query("SELECT _tf_id FROM orders__line_items ORDER BY 1").equals(ids_before)
    # Incremental: the run starts at the stored cursor, and the order(s) at
    # the cursor, fetched again, are known by their keys: nothing is loaded.
    again = p.run()
    assert warehouse.row_counts() == first
    assert again.row_counts.get("orders", 0) == 0


def test_cursor_state_is_stored(shop, warehouse):
    tl.pipeline("shop", shop.source(resources=["orders"]), warehouse).run()
    state = warehouse.get_state("shop", "orders")
    raw = fetch_all_orders(shop.url, shop.token)
    latest = max(pd.Timestamp(o["updated_at"]) for o in raw)
    assert pd.Timestamp(state["cursor"]) == latest


def test_daily_summary_matches_pandas(shop, warehouse):
    tl.pipeline("shop", shop.source(), warehouse).run()
    raw = fetch_all_orders(shop.url, shop.token)
    df = pd.DataFrame(
        {
            "day": [pd.Timestamp(o["created_at"]).tz_convert("UTC").date() for o in raw],
            "price": [Decimal(o["total_price"]) for o in raw],
            "customer": [o["customer"]["id"] if o["customer"] else None for o in raw],
        }
    )
    expected = df.groupby("day").agg(
        orders=("price", "size"), revenue=("price", "sum"), customers=("customer", "nunique")
    )
    got = tl.metrics.daily_summary(warehouse).sort("date")
    assert got["date"].to_list() == list(expected.index)
    assert got["total_orders"].to_list() == expected["orders"].tolist()
    assert [Decimal(str(x)) for x in got["revenue"].to_list()] == expected["revenue"].tolist()
    assert got["unique_customers"].to_list() == expected["customers"].tolist()


def test_windows_fetch_in_parallel_and_match_a_single_chain(shop, tmp_path):
    single = tl.warehouse.duckdb(str(tmp_path / "a.duckdb"))
    sliced = tl.warehouse.duckdb(str(tmp_path / "b.duckdb"))
    tl.pipeline("p", tl.sources.shopify(shop.url, shop.token, resources=["orders"]), single).run()
    src = tl.sources.shopify(
        shop.url, shop.token, resources=["orders"], start=DATA_START, end=DATA_END, windows=7
    )
    tl.pipeline("p", src, sliced).run()
    q = "SELECT id, total_price, _tf_id FROM orders ORDER BY id"
    assert single.query(q).equals(sliced.query(q))
    single.close()
    sliced.close()


def test_server_error_that_never_stops_keeps_loaded_rows(tmp_path):
    with tl.demo_shop(orders=500, fail_after_pages=3) as bad:
        src = tl.sources.shopify(bad.url, bad.token, resources=["orders"], page_size=50, retry=FAST_RETRY)
        with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
            with pytest.raises(tl.HttpError) as info:
                tl.pipeline("p", src, wh).run()
            assert info.value.status == 500
            assert "after 2 attempts" in str(info.value)
            assert "page_info=" in str(info.value)
            assert wh.row_counts()["orders"] == 150
            load = wh.loads().row(0, named=True)
            assert load["status"] == "failed"
            assert "HTTP 500" in load["error"]
            assert info.value.load_summary.row_counts["orders"] == 150


def test_a_page_served_broken_once_is_fetched_again_and_every_order_loads_once(tmp_path):
    # The shop's third order response is cut in half behind a matching
    # Content-Length: a broken transfer, fetched again like a dropped one.
    with tl.demo_shop(orders=500, malformed_page=2) as bad:
        src = tl.sources.shopify(bad.url, bad.token, resources=["orders"], page_size=50)
        with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
            tl.pipeline("p", src, wh).run()
            ids = wh.query("select id from orders")["id"].to_list()
            assert len(ids) == len(set(ids)) == 500
            assert wh.loads()["status"].to_list() == ["completed"]
            assert wh.query("select retries from _tf_runs")["retries"].to_list() == [1]


def test_wrong_token_is_an_auth_error_and_earlier_loads_survive(shop, warehouse):
    tl.pipeline("shop", shop.source(resources=["orders"]), warehouse).run()
    before = warehouse.row_counts()
    src = tl.sources.shopify(shop.url, "shpat_wrong_token", resources=["orders"])
    with pytest.raises(tl.AuthError) as info:
        tl.pipeline("shop", src, warehouse).run(full_refresh=True)
    assert info.value.status == 401
    assert "shpat_wrong_token" not in str(info.value)
    assert warehouse.row_counts() == before


def test_unknown_endpoint_is_a_404(shop, warehouse):
    src = tl.sources.shopify(shop.url, shop.token, resources=["orders"], api_version="1999-01")
    with pytest.raises(tl.HttpError) as info:
        tl.pipeline("shop", src, warehouse).run()
    assert info.value.status == 404
    assert isinstance(info.value, tl.SourceError) and isinstance(info.value, tl.TillflowError)
    assert not isinstance(info.value, tl.AuthError)


def test_replace_and_append_modes(shop, warehouse):
    p = tl.pipeline("shop", shop.source(resources=["products"]), warehouse)
    p.run(write_mode="append")
    p.run(write_mode="append")
    assert warehouse.row_counts()["products"] == 48
    p.run(write_mode="replace")
    assert warehouse.row_counts() == {"products": 24, "products__variants": 72}


def test_a_frozen_schema_stops_a_run_that_would_change_a_table(shop, tmp_path):
    wh = tl.warehouse.duckdb(str(tmp_path / "frozen.duckdb"))
    try:
        # The analyst's table has fewer columns than the shop sends.
        wh.query("CREATE TABLE orders (id BIGINT, email VARCHAR, _tf_id UBIGINT, _tf_load_id VARCHAR)")
        source = shop.source(resources=["orders"]).with_schema_contract("freeze")
        with pytest.raises(tl.SchemaError, match=r"freeze.*table 'orders' has no column"):
            tl.pipeline("frozen", source, wh).run()
        assert wh.row_counts()["orders"] == 0
        assert wh.schema_changes().filter(pl.col("table") == "orders").height == 0
        evolving = tl.pipeline("evolving", shop.source(resources=["orders"]), wh).run()
        assert wh.row_counts()["orders"] == evolving.row_counts["orders"] > 0
        added = wh.schema_changes().filter(
            (pl.col("table") == "orders") & (pl.col("change") == "column_added")
        )
        assert "total_price" in added["column"].to_list()
        with pytest.raises(tl.ConfigError, match="schema_contract"):
            shop.source(resources=["orders"]).with_schema_contract("melt")
        with pytest.raises(tl.ConfigError, match="unknown resources"):
            shop.source(resources=["orders"]).with_schema_contract("freeze", "refunds")
    finally:
        wh.close()


def test_a_lookback_fetches_the_recent_orders_again_without_duplicates(shop, warehouse):
    p = tl.pipeline("shop", shop.source(resources=["orders"], lookback="30days"), warehouse)
    p.run()
    first = warehouse.row_counts()
    again = p.run()
    raw = fetch_all_orders(shop.url, shop.token)
    latest = max(pd.Timestamp(o["updated_at"]) for o in raw)
    recent = sum(pd.Timestamp(o["updated_at"]) >= latest - pd.Timedelta(days=30) for o in raw)
    at_cursor = sum(pd.Timestamp(o["updated_at"]) == latest for o in raw)
    # The last 30 days of updates, fetched again, less the orders at the
    # cursor, which the stored state knows by their keys.
    assert again.row_counts["orders"] == recent - at_cursor > 5
    assert warehouse.row_counts() == first  # merged on id: nothing twice
    state = warehouse.get_state("shop", "orders")
    assert pd.Timestamp(state["cursor"]) == latest  # the stored cursor does not move back
    with pytest.raises(tl.ConfigError, match=r"incremental.lookback.*soon"):
        tl.pipeline("bad", shop.source(resources=["orders"], lookback="soon"), warehouse).run()


def test_an_incremental_rerun_fetches_only_the_edited_orders(warehouse):
    # A shop of its own: editing orders changes it for every later test.
    with tl.demo_shop(orders=600, seed=11) as shop:
        p = tl.pipeline("shop", shop.source(resources=["orders"]), warehouse)
        p.run()
        first = warehouse.row_counts()
        state = warehouse.get_state("shop", "orders")
        at_cursor = [
            str(o["id"])
            for o in fetch_all_orders(shop.url, shop.token)
            if pd.Timestamp(o["updated_at"]) == pd.Timestamp(state["cursor"])
        ]
        assert sorted(state["boundary"]) == sorted(at_cursor)
        quiet = p.run()
        # Nothing changed: the orders at the cursor come back and are known by their keys.
        assert quiet.row_counts.get("orders", 0) == 0
        edited = shop.edit_orders(7)
        assert len(set(edited)) == 7
        again = p.run()
        assert again.row_counts["orders"] == 7
        assert warehouse.row_counts() == first  # merged: the edits replaced their orders
        statuses = warehouse.query(
            "SELECT id, financial_status FROM orders WHERE id IN (SELECT unnest($ids))", {"ids": edited}
        )
        assert statuses.height == 7 and set(statuses["financial_status"]) == {"refunded"}
        # The cursor moved to the last edit: the next run loads nothing again.
        assert p.run().row_counts.get("orders", 0) == 0
        with pytest.raises(tl.ConfigError, match="count"):
            shop.edit_orders(-1)
