"""The Parquet lake on a local disk and on S3 (moto's server on loopback):
the demo shop's pipeline with the same counts as DuckDB, hive partitions and
zstd files, write modes, schema contracts, atomic commits under injected
failures and SIGKILL, vacuum, hostile names and empty batches. The DuckDB
warehouse's own tests run against the lake too (imported below)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from test_warehouse import (  # the warehouse tests every engine shares, run here with a lake as `wh`
    items_frame,
    load,
    orders_frame,
    test_append_parent_and_child_tables,
    test_discard_row_keeps_the_tables_and_drops_rows_that_do_not_fit_with_their_children,
    test_discard_row_under_merge_keeps_the_old_version_of_a_row_it_leaves_out,
    test_discard_value_nulls_what_does_not_fit_and_keeps_the_rows,
    test_empty_frames_create_tables,
    test_failed_batch_rolls_back_only_itself_with_its_state,
    test_freeze_refuses_new_columns_and_wider_types_naming_both,
    test_hostile_table_and_column_names,
    test_insert_failure_names_the_column_and_rolls_back,
    test_int_widens_to_decimal,
    test_load_ids_are_unique_and_sortable,
    test_load_lifecycle_guards,
    test_merge_child_without_root_key_column_fails_cleanly,
    test_merge_keeps_the_last_duplicate_within_a_batch,
    test_merge_needs_a_primary_key_and_modes_are_checked,
    test_merge_replaces_children_of_updated_orders,
    test_merge_twice_leaves_identical_tables,
    test_merge_with_composite_key_and_across_batches,
    test_missing_columns_and_nulls_load_as_null,
    test_replace_empties_root_and_children_but_not_quarantine,
    test_replace_without_batches_empties_at_finish_only_when_completed,
    test_schema_changes_are_recorded_with_their_batch,
    test_schema_widens_across_batches_and_keeps_earlier_values,
    test_summary_renders,
)

import tillflow as tl
from tillflow.exceptions import ConfigError, SchemaError, WarehouseError
from tillflow.warehouse import ParquetLake

SHARED_TESTS = (
    test_append_parent_and_child_tables,
    test_discard_row_keeps_the_tables_and_drops_rows_that_do_not_fit_with_their_children,
    test_discard_row_under_merge_keeps_the_old_version_of_a_row_it_leaves_out,
    test_discard_value_nulls_what_does_not_fit_and_keeps_the_rows,
    test_empty_frames_create_tables,
    test_failed_batch_rolls_back_only_itself_with_its_state,
    test_freeze_refuses_new_columns_and_wider_types_naming_both,
    test_hostile_table_and_column_names,
    test_insert_failure_names_the_column_and_rolls_back,
    test_int_widens_to_decimal,
    test_load_ids_are_unique_and_sortable,
    test_load_lifecycle_guards,
    test_merge_child_without_root_key_column_fails_cleanly,
    test_merge_keeps_the_last_duplicate_within_a_batch,
    test_merge_needs_a_primary_key_and_modes_are_checked,
    test_merge_replaces_children_of_updated_orders,
    test_merge_twice_leaves_identical_tables,
    test_merge_with_composite_key_and_across_batches,
    test_missing_columns_and_nulls_load_as_null,
    test_replace_empties_root_and_children_but_not_quarantine,
    test_replace_without_batches_empties_at_finish_only_when_completed,
    test_schema_changes_are_recorded_with_their_batch,
    test_schema_widens_across_batches_and_keeps_earlier_values,
    test_summary_renders,
)

DEMO_COUNTS = {
    "customers": 200,
    "orders": 1000,
    "products": 24,
    "products__variants": 72,
}
BY_DAY = {"orders": "day(created_at)"}
UTC = dt.timezone.utc


# -- S3 on loopback


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 and a free port, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


S3_KEYS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


@pytest.fixture
def s3_url(s3_endpoint: str, unique_name: str) -> str:
    """A fresh bucket on the loopback S3 server; the lake lives under a prefix in it."""
    fs = pafs.S3FileSystem(
        endpoint_override=s3_endpoint.removeprefix("http://"), scheme="http", allow_bucket_creation=True,
        **S3_KEYS,
    )  # fmt: skip
    bucket = unique_name.replace("_", "-")
    fs.create_dir(bucket)
    return f"s3://{bucket}/lake"


def open_s3(url: str, endpoint: str, **kwargs) -> ParquetLake:
    return tl.warehouse.parquet_lake(url, endpoint_url=endpoint, **S3_KEYS, **kwargs)


@pytest.fixture(params=["local", "s3"])
def wh(request, tmp_path) -> Iterator[ParquetLake]:
    """A lake on local disk, then one on S3: the DuckDB warehouse's tests run on both."""
    if request.param == "local":
        lake = ParquetLake(str(tmp_path / "lake"))
    else:
        lake = open_s3(request.getfixturevalue("s3_url"), request.getfixturevalue("s3_endpoint"))
    with lake:
        yield lake


# -- helpers


def relative_files(lake: ParquetLake) -> set[str]:
    """Every file under the lake's root, committed or not, relative to it."""
    return {e.path for e in lake._store.walk()}


def committed(lake: ParquetLake) -> set[str]:
    return {path for meta in lake._snap.tables.values() for path in meta.files}


def assert_zstd(lake: ParquetLake, table: str) -> None:
    files = lake._snap.tables[table].files
    assert files
    for path in files:
        with lake._store.fs.open_input_file(lake._store.full(path)) as handle:
            meta = pq.ParquetFile(handle).metadata
        codecs = {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups)
                  for c in range(meta.num_columns)}  # fmt: skip
        assert codecs == {"ZSTD"}, path


def order_days(duck) -> set[str]:
    days = duck.query("SELECT DISTINCT strftime(timezone('UTC', created_at), '%Y-%m-%d') AS d FROM orders")
    return set(days["d"])


# -- the demo shop end to end


def test_demo_pipeline_into_a_local_lake_matches_duckdb(shop, tmp_path):
    lake = tl.warehouse.parquet_lake(str(tmp_path / "lake"), partition_by=BY_DAY)
    with lake, tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as duck:
        run = tl.pipeline("shop", shop.source(), lake).run()
        tl.pipeline("shop", shop.source(), duck).run()
        counts = lake.row_counts()
        assert counts == duck.row_counts()
        assert {t: counts[t] for t in DEMO_COUNTS} == DEMO_COUNTS
        assert run.row_counts == counts
        assert lake.tables() == duck.tables()
        assert lake.loads()["status"].to_list() == ["completed"] * 3
        assert lake.get_state("shop", "orders") == duck.get_state("shop", "orders")
        q = "SELECT id, total_price, created_at, customer__id, _tf_id FROM orders ORDER BY id"
        assert lake.query(q).equals(duck.query(q))
        q = "SELECT _tf_id, _tf_parent_id, orders_id, price, quantity FROM orders__line_items ORDER BY _tf_id"
        assert lake.query(q).equals(duck.query(q))
        # One folder per UTC day that has orders, and only orders are partitioned.
        folders = {p.split("/")[1] for p in committed(lake) if p.startswith("orders/")}
        assert folders == {f"created_at_day={d}" for d in order_days(duck)}
        assert all(p.count("/") == 1 for p in committed(lake) if p.startswith("customers/"))
        for table in ("orders", "orders__line_items", "customers", "_tf_loads"):
            assert_zstd(lake, table)
        # Each day's folder holds only that day's orders.
        day_of = lake.query(
            "SELECT count(*) FROM read_parquet($files, hive_partitioning = true) "
            "WHERE created_at_day <> strftime(timezone('UTC', created_at), '%Y-%m-%d')",
            {"files": lake.files("orders")},
        ).item()
        assert day_of == 0
        # The metrics read the lake as they read DuckDB.
        assert tl.metrics.daily_summary(lake).sort("date").equals(tl.metrics.daily_summary(duck).sort("date"))


def test_demo_pipeline_into_s3_matches_duckdb_and_reopens(shop, s3_url, s3_endpoint, tmp_path):
    with open_s3(s3_url, s3_endpoint, partition_by={"orders": "month(created_at)"}) as lake:
        tl.pipeline("shop", shop.source(), lake).run()
        with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as duck:
            tl.pipeline("shop", shop.source(), duck).run()
            assert lake.row_counts() == duck.row_counts()
            months = {d[:7] for d in order_days(duck)}
            q = "SELECT id, total_price, financial_status, _tf_id FROM orders ORDER BY id"
            expected = duck.query(q)
        assert lake.query(q).equals(expected)
        assert_zstd(lake, "orders")
        keys = {p for p in relative_files(lake) if p.startswith("orders/")}
        assert {k.split("/")[1] for k in keys} == {f"created_at_month={m}" for m in months}
        assert all(k.endswith(".zstd.parquet") for k in keys)
        counts = lake.row_counts()
    # A new lake object (as another process would) sees the same committed data.
    with open_s3(s3_url, s3_endpoint) as again:
        assert again.row_counts() == counts
        assert again.query(q).equals(expected)
        assert again.get_state("shop", "orders") is not None


def test_incremental_rerun_rewrites_only_the_files_of_edited_orders(tmp_path):
    with (
        tl.demo_shop(orders=400, seed=11) as shop,
        ParquetLake(str(tmp_path / "l"), partition_by=BY_DAY) as lake,
    ):
        p = tl.pipeline("shop", shop.source(resources=["orders"]), lake)
        p.run()
        first = lake.row_counts()
        before = set(lake.files("orders"))
        quiet = p.run()
        # The order(s) at the stored cursor come back and are known by their keys.
        assert quiet.row_counts.get("orders", 0) == 0
        assert lake.row_counts() == first
        edited = shop.edit_orders(5)
        days = lake.query(
            "SELECT DISTINCT strftime(timezone('UTC', created_at), '%Y-%m-%d') AS d FROM orders "
            "WHERE id IN (SELECT unnest($ids))",
            {"ids": edited},
        )["d"].to_list()
        again = p.run()
        assert again.row_counts["orders"] == 5
        assert lake.row_counts() == first  # merged: the edits replaced their orders and their line items
        statuses = lake.query(
            "SELECT financial_status FROM orders WHERE id IN (SELECT unnest($ids))", {"ids": edited}
        )["financial_status"]
        assert statuses.to_list() == ["refunded"] * 5
        items = lake.query("SELECT count(*) FROM orders__line_items WHERE orders_id IN (SELECT unnest($ids))",
                           {"ids": edited}).item()  # fmt: skip
        assert items > 0
        after = set(lake.files("orders"))
        # Only the folders of the edited orders' days changed; the rest kept their files.
        touched = {f.split("/created_at_day=")[1].split("/")[0] for f in before ^ after}
        assert touched <= set(days)
        assert len(before & after) > len(before) - 3 * len(days) - 4


def test_replace_and_append_then_vacuum(shop, tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        p = tl.pipeline("shop", shop.source(resources=["products"]), lake)
        p.run(write_mode="append")
        p.run(write_mode="append")
        assert lake.row_counts() == {"products": 48, "products__variants": 144}
        stale = committed(lake)
        p.run(write_mode="replace")
        assert lake.row_counts() == {"products": 24, "products__variants": 72}
        stale = {p for p in stale if not p.startswith("_tf_")}
        assert stale and not stale & committed(lake)
        assert lake.vacuum() == []  # replaced files are kept for readers of older versions, for an hour
        mine = tmp_path / "lake" / "products" / "my-own.parquet"
        mine.write_bytes(b"not the lake's")
        gone = lake.vacuum(retain=0)
        assert mine.exists()  # files the lake did not write are never deleted
        assert set(gone) == stale
        left = relative_files(lake) - committed(lake)
        assert left - {"products/my-own.parquet"} <= {p for p in left if p.startswith("_tf_lake/")}
        assert lake.row_counts() == {"products": 24, "products__variants": 72}
        assert lake.query("SELECT count(*) FROM products__variants").item() == 72


def test_merge_is_exact_and_reads_only_files_whose_key_range_may_hold_a_key(tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        for start in range(0, 500, 100):  # five files of orders 0-99, 100-199, ...
            rows = [(i, "1.00", i % 7) for i in range(start, start + 100)]
            items = [(i, 0, "x", 1) for i in range(start, start + 100)]
            load(
                lake,
                "merge",
                [{"orders": orders_frame(rows), "orders__line_items": items_frame(items)}],
                pk="id",
            )
        untouched = {f for f in lake.files("orders")}
        read: list[str] = []
        original = lake._read_raw

        def spy(meta, f, columns):
            read.append(f.path)
            return original(meta, f, columns)

        lake._read_raw = spy
        update = orders_frame([(150, "9.99", 1), (151, "9.99", 1), (1000, "5.00", 2)])
        load(
            lake,
            "merge",
            [{"orders": update, "orders__line_items": items_frame([(150, 0, "y", 2)])}],
            pk="id",
        )
        # Only the file of orders 100-199 and the file of their line items were read.
        assert sorted(p.split("/")[0] for p in read) == [
            "orders",
            "orders",
            "orders__line_items",
            "orders__line_items",
        ]
        assert lake.row_counts() == {"orders": 501, "orders__line_items": 499}
        got = lake.query("SELECT id, total_price FROM orders WHERE id IN (150, 151, 152, 1000) ORDER BY id")
        assert got.rows() == [(150, Decimal("9.99")), (151, Decimal("9.99")), (152, Decimal("1.00")),
                              (1000, Decimal("5.00"))]  # fmt: skip
        items = lake.query("SELECT orders_id, title FROM orders__line_items WHERE orders_id IN (150, 151)")
        assert items.rows() == [(150, "y")]  # 151's old line item went with its old row
        assert len(untouched - set(lake.files("orders"))) == 1


def test_compact_merges_each_partitions_files_and_keeps_rows_and_merge_pruning(tmp_path):
    with ParquetLake(str(tmp_path / "lake"), partition_by={"orders": "day(created_at)"}) as lake:
        for start in range(0, 60, 10):  # six loads over the same two days
            rows = [(i, "1.00", 1) for i in range(start, start + 10)]
            frame = orders_frame(rows).with_columns(
                created_at=pl.when(pl.col("id") % 2 == 0).then(pl.col("created_at"))
                .otherwise(pl.col("created_at") + pl.duration(days=1))
            )  # fmt: skip
            load(lake, "merge", [{"orders": frame}], pk="id")
        load(lake, "append", [{"notes": pl.DataFrame({"n": [1]})}])
        q = "SELECT * FROM orders ORDER BY id"
        before = lake.query(q)
        assert len(lake.files("orders")) == 12
        assert lake.compact(min_files=3) == {"orders": 12}
        assert len(lake.files("orders")) == 2
        assert lake.query(q).equals(before)
        assert lake.row_counts() == {"notes": 1, "orders": 60}
        assert all(f.stats["id"] for f in lake._snap.tables["orders"].files.values())
        assert lake.compact() == {}  # nothing left to merge: no commit
        load(lake, "merge", [{"orders": orders_frame([(5, "9.00", 1)])}], pk="id")
        assert lake.query("SELECT total_price FROM orders WHERE id = 5").item() == Decimal("9.00")
        assert lake.row_counts()["orders"] == 60
        assert len(lake.vacuum(retain=0)) >= 12
        assert lake.query(q).height == 60
        with pytest.raises(WarehouseError, match="has no table 'nope'"):
            lake.compact(["nope"])


# -- schema contracts


def test_schema_evolves_across_files_into_one_schema(tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        a = pl.DataFrame({"id": [1, 2], "n": [1, 2]}, schema={"id": pl.Int32, "n": pl.Int16})
        b = pl.DataFrame({"id": [3], "n": [2**40], "note": ["ünï"]})
        c = pl.DataFrame({"id": [4], "n": ["many"], "amount": [Decimal("1.50")]})
        load(lake, "append", [{"t": a}, {"t": b}, {"t": c}])
        assert len(lake.files("t")) == 3
        types = dict(lake.query("DESCRIBE SELECT * FROM t").select("column_name", "column_type").rows())
        assert types == {"id": "BIGINT", "n": "VARCHAR", "_tf_load_id": "VARCHAR", "note": "VARCHAR",
                         "amount": "DECIMAL(38,2)"}  # fmt: skip
        rows = lake.query("SELECT id, n, note, amount FROM t ORDER BY id").rows()
        assert rows == [(1, "1", None, None), (2, "2", None, None), (3, str(2**40), "ünï", None),
                        (4, "many", None, Decimal("1.50"))]  # fmt: skip
        changes = lake.schema_changes().filter(pl.col("table") == "t")
        widened = changes.filter(pl.col("change") == "type_widened").select("column", "old_type", "new_type")
        assert widened.rows() == [
            ("id", "INTEGER", "BIGINT"),
            ("n", "SMALLINT", "BIGINT"),
            ("n", "BIGINT", "VARCHAR"),
        ]
        added = changes.filter(pl.col("change") == "column_added")["column"].to_list()
        assert added[-2:] == ["note", "amount"]


def test_freeze_names_the_column_and_both_types_and_commits_nothing(tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        load(
            lake,
            "append",
            [{"t": pl.DataFrame({"id": [1], "price": [1]}, schema={"id": pl.Int64, "price": pl.Int32})}],
        )
        version = lake.version
        handle = lake.begin_load("p", "t", "append", schema_contract="freeze")
        with pytest.raises(SchemaError, match=r"freeze.*table 't', column 'price' is INTEGER.*DOUBLE"):
            lake.write_batch(handle, {"t": pl.DataFrame({"id": [2], "price": [1.5]})}, state={"c": 2})
        with pytest.raises(
            SchemaError, match=r"table 't' has no column 'extra' \(the batch brings it as VARCHAR\)"
        ):
            lake.write_batch(handle, {"t": pl.DataFrame({"id": [2], "extra": ["x"]})})
        assert lake.version == version + 1  # begin_load's commit only
        assert lake.get_state("p", "t") is None
        assert lake.row_counts() == {"t": 1}
        lake.write_batch(
            handle, {"t": pl.DataFrame({"id": [3], "price": [7]}, schema={"id": pl.Int64, "price": pl.Int32})}
        )
        lake.finish_load(handle)
        assert lake.query("SELECT sum(price) FROM t").item() == 8


def test_widening_checks_committed_values_fit(tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        big = pl.DataFrame(
            {"v": [Decimal("123456789012345678901234567890123456.78")]}, schema={"v": pl.Decimal(38, 2)}
        )
        load(lake, "append", [{"t": big}])
        finer = pl.DataFrame({"v": [Decimal("0.0001")]}, schema={"v": pl.Decimal(38, 4)})
        with pytest.raises(
            WarehouseError, match=r"table 't', column 'v': 1 stored values do not fit DECIMAL\(38,4\)"
        ):
            load(lake, "append", [{"t": finer}])
        assert lake.query("SELECT v FROM t").item() == Decimal("123456789012345678901234567890123456.78")


# -- atomic commits


def test_a_frame_parquet_cannot_store_fails_naming_table_and_column(tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        load(lake, "append", [{"t": pl.DataFrame({"id": [1]})}], state={"cursor": 1})
        handle = lake.begin_load("shop", "orders", "append")
        bad = pl.DataFrame({"id": [2], "wait": [dt.timedelta(seconds=5)]})
        with pytest.raises(WarehouseError, match=r"table 't', column 'wait': Parquet cannot store"):
            lake.write_batch(handle, {"t": bad}, state={"cursor": 2})
        lake.finish_load(handle, "failed", "bad frame")
        assert lake.row_counts() == {"t": 1}
        assert lake.get_state("shop", "orders") == {"cursor": 1}
        assert relative_files(lake) - committed(lake) <= {
            p for p in relative_files(lake) if p.startswith("_tf_lake/")
        }
        assert "wait" not in lake.query("SELECT * FROM t").columns


def test_a_failure_between_data_files_and_the_commit_leaves_nothing_visible(tmp_path, monkeypatch):
    with ParquetLake(str(tmp_path / "lake"), partition_by=BY_DAY) as lake:
        first = orders_frame([(i, "2.00", 1) for i in range(10)])
        load(lake, "append", [{"orders": first}], state={"page": 1})
        handle = lake.begin_load("shop", "orders", "append")
        before = relative_files(lake)
        written: list[str] = []

        def fail(rel, data):
            written.extend(relative_files(lake) - before)
            raise OSError("connection reset while publishing")

        monkeypatch.setattr(lake._store, "publish", fail)
        with pytest.raises(WarehouseError, match="connection reset"):
            lake.write_batch(
                handle, {"orders": orders_frame([(i, "3.00", 1) for i in range(10, 20)])}, state={"page": 2}
            )
        monkeypatch.undo()
        assert any(p.startswith("orders/") for p in written)  # data files were there before the commit failed
        assert not set(written) & relative_files(lake)  # and are gone again
        assert lake.row_counts() == {"orders": 10}
        assert lake.get_state("shop", "orders") == {"page": 1}
        lake.write_batch(
            handle, {"orders": orders_frame([(i, "3.00", 1) for i in range(10, 20)])}, state={"page": 2}
        )
        lake.finish_load(handle)
        assert lake.row_counts() == {"orders": 20}


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import polars as pl
    from tillflow.warehouse import ParquetLake

    root, point = sys.argv[1:]
    lake = ParquetLake(root, partition_by={"t": "day(at)"}, threads=1)
    load = lake.begin_load("p", "t", "append")
    first = pl.select(id=pl.int_range(0, 50), at=pl.datetime(2024, 5, 1))
    lake.write_batch(load, {"t": first}, state={"page": 1})

    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    store, calls = lake._store, []
    write = store.write
    def second_write_dies(rel, data):  # the first data file is on disk, the next is not
        calls.append(rel)
        (die if len(calls) == 2 else write)(rel, data)

    if point == "data":
        store.write = second_write_dies
    elif point == "publish":
        store.publish = die
    else:  # the commit is published; the snapshot after it never gets written
        lake._log.snapshot_every = 1
        store.replace = die
    days = pl.duration(days=pl.int_range(0, 50) % 3)  # three days: three data files
    second = pl.select(id=pl.int_range(50, 100), at=pl.datetime(2024, 5, 2) + days)
    lake.write_batch(load, {"t": second}, state={"page": 2})
    print("not reached")
    """
)


@pytest.mark.parametrize("point", ["data", "publish", "snapshot"])
def test_sigkill_anywhere_in_a_batch_leaves_all_or_nothing_and_vacuum_clears_the_rest(tmp_path, point):
    root = tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(root), point], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert b"not reached" not in done.stdout
    with ParquetLake(str(root)) as lake:
        loaded = 100 if point == "snapshot" else 50
        assert lake.row_counts() == {"t": loaded}
        assert lake.query("SELECT count(DISTINCT id), min(id), max(id) FROM t").rows() == [
            (loaded, 0, loaded - 1)
        ]
        assert lake.get_state("p", "t") == {"page": 2 if point == "snapshot" else 1}
        assert lake.loads()["status"].to_list() == ["running"]  # as a killed load stays in DuckDB
        orphans = {p for p in relative_files(lake) - committed(lake) if not p.startswith("_tf_lake/")}
        expected = {"data": 1, "publish": 3, "snapshot": 0}[point]
        assert len(orphans) == expected
        assert all(p.startswith("t/at_day=2024-05-0") for p in orphans)
        assert lake.vacuum(retain=dt.timedelta(minutes=5)) == []  # a writer in flight may still own them
        assert set(lake.vacuum(retain=0)) == orphans
        assert relative_files(lake) - committed(lake) <= {
            p for p in relative_files(lake) if p.startswith("_tf_lake/")
        }
        load(lake, "append", [{"t": pl.DataFrame({"id": [100], "at": [dt.datetime(2024, 5, 2)]})}])
        assert lake.row_counts() == {"t": loaded + 1}


def test_the_commit_log_stays_bounded_and_bookkeeping_files_are_folded(tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        lake._log.snapshot_every = 5
        for i in range(40):
            load(lake, "append", [{"t": pl.DataFrame({"id": [i]})}], state={"i": i})
        # 40 loads are 120 commits: the log keeps those since the snapshot before the newest.
        log = [p for p in relative_files(lake) if p.startswith("_tf_lake/log/")]
        snapshots = [p for p in relative_files(lake) if p.startswith("_tf_lake/snapshots/")]
        assert lake.version == 120
        assert len(snapshots) == 2 and len(log) <= 10
        assert len(lake._snap.tables["_tf_loads"].files) < 32
        counts = lake.row_counts()
        loads = lake.loads()
    with ParquetLake(str(tmp_path / "lake")) as again:
        assert again.version == 120
        assert again.row_counts() == counts == {"t": 40}
        assert again.loads().equals(loads)
        assert loads.height == 40 and set(loads["status"]) == {"completed"}
        assert again.get_state("shop", "orders") == {"i": 39}


# -- names, partitions, empty input


def test_hostile_names_unicode_and_partition_values(tmp_path):
    table = 'we"ird ta/ble ü 表'
    frame = pl.DataFrame(
        {
            "sp ace": ["a/b", "..", "x y", None, "ü"],
            '"quoted"': [1, 2, 3, 4, 5],
            "ünï 表": ["α", "β", "γ", "δ", "ε"],
        }
    )
    with ParquetLake(str(tmp_path / "lake"), partition_by={table: "sp ace"}) as lake:
        load(lake, "append", [{table: frame}])
        assert lake.tables() == [table]
        assert lake.row_counts() == {table: 5}
        folders = {p.split("/")[1] for p in committed(lake) if not p.startswith("_tf_")}
        values = {"a%2Fb", "%2E%2E", "x%20y", "__HIVE_DEFAULT_PARTITION__", "%C3%BC"}
        assert folders == {f"sp%20ace={v}" for v in values}
        assert {p.split("/")[0] for p in committed(lake) if not p.startswith("_tf_")} == {
            "we%22ird%20ta%2Fble%20%C3%BC%20%E8%A1%A8"
        }
        got = lake.query(
            f'SELECT "sp ace", """quoted""", "ünï 表" FROM "{table.replace(chr(34), 2 * chr(34))}" ORDER BY 2'
        )
        assert got.rows() == list(zip(*frame.to_dict(as_series=False).values(), strict=True))
    with ParquetLake(str(tmp_path / "lake")) as again:
        assert again.row_counts() == {table: 5}


def test_empty_batches_and_state_only_batches(tmp_path):
    with ParquetLake(str(tmp_path / "lake"), partition_by={"t": "day(at)"}) as lake:
        handle = lake.begin_load("p", "t", "append")
        empty = pl.DataFrame({"id": [], "at": []}, schema={"id": pl.Int64, "at": pl.Datetime("us", "UTC")})
        assert lake.write_batch(handle, {"t": empty}, state={"page": 0}) == {"t": 0}
        assert lake.write_batch(handle, {}, state={"page": 1}) == {}
        assert lake.write_batch(handle, {"u": pl.DataFrame()}) == {"u": 0}
        lake.finish_load(handle)
        assert lake.row_counts() == {"t": 0}
        assert lake.files("t") == []
        assert lake.get_state("p", "t") == {"page": 1}
        assert lake.query("SELECT count(*) FROM t").item() == 0
        assert lake.loads()["row_counts"].to_list() == [json.dumps({"t": 0, "u": 0})]


def test_partition_specs_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"partition_by\['orders'\]: 'week\(created_at\)' is not"):
        ParquetLake(str(tmp_path / "a"), partition_by={"orders": "week(created_at)"})
    with pytest.raises(ConfigError, match="partition_by must map table names"):
        ParquetLake(str(tmp_path / "b"), partition_by="day(created_at)")  # type: ignore[arg-type]
    with ParquetLake(str(tmp_path / "c"), partition_by={"t": "month(id)", "u": "day(missing)"}) as lake:
        with pytest.raises(
            WarehouseError, match=r"table 't': cannot partition by month\(id\): column 'id' is BIGINT"
        ):
            load(lake, "append", [{"t": pl.DataFrame({"id": [1]})}])
        with pytest.raises(
            WarehouseError, match=r"table 'u' has no column 'missing' to partition by \(it has id"
        ):
            load(lake, "append", [{"u": pl.DataFrame({"id": [1]})}])
        assert lake.row_counts() == {}


def test_month_and_nested_partitions(tmp_path):
    stamps = [dt.datetime(2024, 1, 31, 23, tzinfo=UTC), dt.datetime(2024, 2, 1, 1, tzinfo=UTC),
              dt.datetime(2024, 2, 9, tzinfo=UTC)]  # fmt: skip
    frame = pl.DataFrame({"at": stamps, "shop": ["b", "a", "a"], "id": [1, 2, 3]})
    with ParquetLake(
        str(tmp_path / "lake"), partition_by={"t": ["month(at)", "shop"]}, timezone="Asia/Tokyo"
    ) as lake:
        load(lake, "append", [{"t": frame}])
        folders = sorted(p.rsplit("/", 1)[0] for p in lake._snap.tables["t"].files)
        assert folders == ["t/at_month=2024-01/shop=b", "t/at_month=2024-02/shop=a"]
        assert lake.query('SELECT CAST("at" AS DATE) AS d FROM t WHERE id = 1').item() == dt.date(
            2024, 2, 1
        )  # Tokyo


def test_s3_settings_come_from_the_usual_aws_variables(s3_url, s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with tl.warehouse.parquet_lake(s3_url) as lake:
        load(lake, "append", [{"t": pl.DataFrame({"id": [1, 2]})}], state={"page": 1})
    with open_s3(s3_url, s3_endpoint) as again:  # the same objects, reached with explicit settings
        assert again.row_counts() == {"t": 2}
        assert again.get_state("shop", "orders") == {"page": 1}


def test_s3_errors_are_clear(s3_endpoint, unique_name):
    missing = f"s3://{unique_name.replace('_', '-')}-missing/lake"
    with pytest.raises(WarehouseError, match=r"cannot (open|read) Parquet lake 's3://.*-missing/lake'"):
        open_s3(missing, s3_endpoint)
    with pytest.raises(WarehouseError, match="names no bucket"):
        tl.warehouse.parquet_lake("s3:///lake", endpoint_url=s3_endpoint)
    with pytest.raises(WarehouseError, match="must be an http"):
        tl.warehouse.parquet_lake("s3://b/lake", endpoint_url="127.0.0.1:9")
    with pytest.raises(WarehouseError, match="unsupported scheme 'gs'"):
        tl.warehouse.parquet_lake("gs://b/lake")


def test_rule_results_and_metric_tables_live_in_the_lake(shop, tmp_path):
    with ParquetLake(str(tmp_path / "lake")) as lake:
        run = tl.pipeline("checked", shop.source(resources=["orders"], rules=True), lake).run()
        results = lake.rule_results()
        assert results.height == len(run.reports["orders"]) > 0
        assert set(results["run_id"]) == set(lake.loads()["load_id"])
        assert lake.row_counts()["orders__quarantine"] == run.loads[0].row_counts["orders__quarantine"] > 0
        lake.replace_tables({"metrics_daily": pl.DataFrame({"day": [dt.date(2024, 1, 1)], "n": [3]})})
        lake.replace_tables({"metrics_daily": pl.DataFrame({"day": [dt.date(2024, 1, 2)], "orders": [4]})})
        assert lake.query("SELECT * FROM metrics_daily").rows() == [(dt.date(2024, 1, 2), 4)]
        with pytest.raises(WarehouseError, match="_tf_ are tillflow's own"):
            lake.replace_tables({"_tf_loads": pl.DataFrame({"x": [1]})})


def test_a_second_writer_that_loses_the_race_commits_nothing(tmp_path):
    root = str(tmp_path / "lake")
    with ParquetLake(root) as first, ParquetLake(root) as second:
        handle = second.begin_load("p", "t", "append")
        load(first, "append", [{"t": pl.DataFrame({"id": [1]})}])
        # The second writer read the log before the first committed: it sees the
        # same version number taken, and its batch is not published.
        second._refresh = lambda: None  # type: ignore[method-assign]
        with pytest.raises(WarehouseError, match="another writer committed version"):
            second.write_batch(handle, {"t": pl.DataFrame({"id": [2]})})
    with ParquetLake(root) as lake:
        assert lake.query("SELECT id FROM t").rows() == [(1,)]


@pytest.mark.skipif(
    not hasattr(tl.warehouse.WriteMode, "SCD2"), reason="this tillflow has no scd2 write mode"
)
def test_scd2_is_refused_with_what_to_use_instead(wh):
    with pytest.raises(
        WarehouseError, match=r"Parquet lake writes append, replace and merge loads, not 'scd2'"
    ):
        wh.begin_load("p", "t", "scd2", ["id"])
    assert wh.loads().height == 0


def test_unknown_modes_are_refused(wh):
    with pytest.raises(WarehouseError, match="unknown write mode 'upsert'"):
        wh.begin_load("p", "t", "upsert")
    assert wh.loads().height == 0
