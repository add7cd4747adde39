"""The Delta lake on a local disk and on S3 (moto's server on loopback): the
demo shop's pipeline with the same counts as DuckDB, tables other tools
read (Polars, deltalake, DuckDB's delta extension where it installs),
partitions and zstd files, upkeep, hostile names, and batches that land
whole or not at all under injected failures and SIGKILL. The tests every
warehouse shares run on the lake through ``any_warehouse`` (conftest)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

import tillflow as tl
from support.services import S3_KEYS, open_s3_lake
from support.warehouses import items_frame, load, orders_frame
from tillflow.exceptions import ConfigError, SchemaError, WarehouseError
from tillflow.warehouse import DeltaLake

DEMO_COUNTS = {"customers": 200, "orders": 1000, "products": 24, "products__variants": 72}
BY_DAY = {"orders": "day(created_at)"}
UTC = dt.timezone.utc


def order_days(duck) -> set[str]:
    days = duck.query("SELECT DISTINCT strftime(timezone('UTC', created_at), '%Y-%m-%d') AS d FROM orders")
    return set(days["d"])


def assert_zstd(lake: DeltaLake, table: str) -> None:
    found = lake.delta_table(table)
    uris = found.file_uris()
    assert uris
    for uri in uris:
        meta = pq.ParquetFile(uri).metadata
        codecs = {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups)
                  for c in range(meta.num_columns)}  # fmt: skip
        assert codecs == {"ZSTD"}, uri


def external_rows(lake: DeltaLake, table: str, **storage) -> pl.DataFrame:
    """``table`` as Polars reads it straight from the Delta log."""
    return pl.read_delta(lake.table_uri(table), storage_options=storage or None)


# -- the demo shop end to end


def test_demo_pipeline_into_a_local_lake_matches_duckdb(shop, tmp_path):
    lake = tl.warehouse.delta(str(tmp_path / "lake"), partition_by=BY_DAY)
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
        # One partition per UTC day that has orders, and only orders are partitioned.
        folders = {p.split("/")[1] for p in lake.files("orders")}
        assert folders == {f"created_at_day={d}" for d in order_days(duck)}
        assert all(p.count("/") == 1 for p in lake.files("customers"))
        for table in ("orders", "orders__line_items", "customers", "_tf_loads"):
            assert_zstd(lake, table)
        wrong_day = lake.query(
            "SELECT count(*) FROM orders "
            "WHERE created_at_day <> strftime(timezone('UTC', created_at), '%Y-%m-%d')"
        ).item()
        assert wrong_day == 0
        # The metrics read the lake as they read DuckDB.
        assert tl.metrics.daily_summary(lake).sort("date").equals(tl.metrics.daily_summary(duck).sort("date"))
        # Every table reads back through Polars with the same counts.
        for table, rows in counts.items():
            assert pl.scan_delta(lake.table_uri(table)).select(pl.len()).collect().item() == rows, table


def test_demo_pipeline_into_s3_matches_duckdb_and_reopens(shop, s3_url, s3_endpoint, tmp_path):
    with open_s3_lake(s3_url, s3_endpoint, partition_by={"orders": "month(created_at)"}) as lake:
        tl.pipeline("shop", shop.source(), lake).run()
        with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as duck:
            tl.pipeline("shop", shop.source(), duck).run()
            assert lake.row_counts() == duck.row_counts()
            months = {d[:7] for d in order_days(duck)}
            q = "SELECT id, total_price, financial_status, _tf_id FROM orders ORDER BY id"
            expected = duck.query(q)
        assert lake.query(q).equals(expected)
        assert {p.split("/")[1] for p in lake.files("orders")} == {f"created_at_month={m}" for m in months}
        counts = lake.row_counts()
    # A new lake object (as another process would) sees the same committed data.
    with open_s3_lake(s3_url, s3_endpoint, read_only=True) as again:
        assert again.row_counts() == counts
        assert again.query(q).equals(expected)
        assert again.get_state("shop", "orders") is not None
        storage = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
        assert external_rows(again, "orders", **storage).height == counts["orders"]


def test_incremental_rerun_rewrites_only_the_files_of_edited_orders(tmp_path):
    with (
        tl.demo_shop(orders=400, seed=11) as shop,
        DeltaLake(str(tmp_path / "l"), partition_by=BY_DAY) as lake,
    ):
        p = tl.pipeline("shop", shop.source(resources=["orders"]), lake)
        p.run()
        first = lake.row_counts()
        before = set(lake.files("orders"))
        quiet = p.run()
        assert quiet.row_counts.get("orders", 0) == 0
        assert lake.row_counts() == first
        edited = shop.edit_orders(5)
        days = lake.query(
            "SELECT DISTINCT created_at_day AS d FROM orders WHERE id IN (SELECT unnest($ids))",
            {"ids": edited},
        )["d"].to_list()
        again = p.run()
        assert again.row_counts["orders"] == 5
        assert lake.row_counts() == first  # merged: the edits replaced their orders and their line items
        statuses = lake.query(
            "SELECT financial_status FROM orders WHERE id IN (SELECT unnest($ids))", {"ids": edited}
        )["financial_status"]
        assert statuses.to_list() == ["refunded"] * 5
        after = set(lake.files("orders"))
        # Only the partitions of the edited orders' days changed; the rest kept their files.
        touched = {f.split("/created_at_day=")[1].split("/")[0] for f in before ^ after}
        assert touched <= set(days)
        assert external_rows(lake, "orders").height == first["orders"]


def test_merge_then_scd2_reads_back_exactly_through_polars_and_deltalake(tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
        rows = [(i, f"{i}.50", i % 3) for i in range(1, 6)]
        items = [(i, 0, f"item {i}", i) for i in range(1, 6)]
        load(
            lake, "merge", [{"orders": orders_frame(rows), "orders__line_items": items_frame(items)}], pk="id"
        )
        update = orders_frame([(2, "9.99", 1), (7, "7.00", 2)])
        load(
            lake,
            "merge",
            [{"orders": update, "orders__line_items": items_frame([(2, 0, "new", 9)])}],
            pk="id",
        )
        load(lake, "scd2", [{"customers": pl.DataFrame({"id": [1, 2], "name": ["Ann", "Bo"]})}], pk="id",
             resource="customers")  # fmt: skip
        load(lake, "scd2", [{"customers": pl.DataFrame({"id": [1, 2], "name": ["Ann", "Bob"]})}], pk="id",
             resource="customers")  # fmt: skip
        for table, order in (("orders", "id"), ("orders__line_items", "_tf_id"),
                             ("customers", ["id", "_tf_valid_from"])):  # fmt: skip
            ours = lake.query(f"SELECT * FROM {table}").sort(order)
            by_polars = pl.scan_delta(lake.table_uri(table)).collect().sort(order)
            by_deltalake = pl.from_arrow(DeltaTable(lake.table_uri(table)).to_pyarrow_table()).sort(order)
            assert by_polars.select(ours.columns).equals(ours), table
            assert by_deltalake.select(ours.columns).equals(ours), table
        customers = lake.query(
            "SELECT id, name, _tf_valid_to IS NULL AS current FROM customers ORDER BY id, name"
        )
        assert customers.rows() == [(1, "Ann", True), (2, "Bo", False), (2, "Bob", True)]
        assert lake.query("SELECT count(*) FROM orders").item() == 6


def test_duckdb_delta_extension_reads_the_lake_when_it_installs(tmp_path):
    import duckdb

    with DeltaLake(str(tmp_path / "lake")) as lake:
        load(lake, "append", [{"t": pl.DataFrame({"id": [1, 2, 3]})}])
        con = duckdb.connect()
        try:
            con.execute("INSTALL delta")
            con.execute("LOAD delta")
        except duckdb.Error as exc:
            pytest.skip(f"DuckDB's delta extension does not install here: {exc}")
        got = con.execute(f"SELECT sum(id) FROM delta_scan('{lake.table_uri('t')}')").fetchone()
        assert got == (6,)


def test_replace_and_append_then_vacuum(shop, tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
        p = tl.pipeline("shop", shop.source(resources=["products"]), lake)
        p.run(write_mode="append")
        p.run(write_mode="append")
        assert lake.row_counts() == {"products": 48, "products__variants": 144}
        stale = set(lake.files("products"))
        p.run(write_mode="replace")
        assert lake.row_counts() == {"products": 24, "products__variants": 72}
        assert not stale & set(lake.files("products"))
        assert lake.vacuum() == []  # replaced files are kept for readers of older versions, for an hour
        gone = set(lake.vacuum(retain=0))
        assert stale <= gone
        assert all(os.path.exists(tmp_path / "lake" / f) for f in lake.files("products"))
        assert not any(os.path.exists(tmp_path / "lake" / f) for f in stale)
        assert lake.row_counts() == {"products": 24, "products__variants": 72}
        assert lake.query("SELECT count(*) FROM products__variants").item() == 72


def test_compact_merges_small_files_and_keeps_rows(tmp_path):
    with DeltaLake(str(tmp_path / "lake"), partition_by={"orders": "day(created_at)"}) as lake:
        for start in range(0, 60, 10):  # six loads over the same two days
            rows = [(i, "1.00", 1) for i in range(start, start + 10)]
            frame = orders_frame(rows).with_columns(
                created_at=pl.when(pl.col("id") % 2 == 0).then(pl.col("created_at"))
                .otherwise(pl.col("created_at") + pl.duration(days=1))
            )  # fmt: skip
            load(lake, "merge", [{"orders": frame}], pk="id")
        load(lake, "append", [{"notes": pl.DataFrame({"n": [1]})}])
        q = "SELECT * EXCLUDE (_tf_load_id) FROM orders ORDER BY id"
        before = lake.query(q)
        assert len(lake.files("orders")) == 12
        assert lake.compact(min_files=3) == {"orders": 12}
        assert len(lake.files("orders")) == 2
        assert lake.query(q).equals(before)
        assert lake.row_counts() == {"notes": 1, "orders": 60}
        assert lake.compact() == {}  # nothing left to merge: no commit
        load(lake, "merge", [{"orders": orders_frame([(5, "9.00", 1)])}], pk="id")
        assert lake.query("SELECT total_price FROM orders WHERE id = 5").item() == Decimal("9.00")
        assert lake.row_counts()["orders"] == 60
        assert len(lake.vacuum(retain=0)) >= 12
        assert lake.query(q).height == 60
        with pytest.raises(WarehouseError, match="has no table 'nope'"):
            lake.compact(["nope"])


# -- schema contracts


def test_schema_evolves_and_widening_rewrites_the_table_in_its_new_types(tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
        a = pl.DataFrame({"id": [1, 2], "n": [1, 2]}, schema={"id": pl.Int32, "n": pl.Int16})
        b = pl.DataFrame({"id": [3], "n": [2**40], "note": ["ünï"]})
        c = pl.DataFrame({"id": [4], "n": ["many"], "amount": [Decimal("1.50")]})
        load(lake, "append", [{"t": a}, {"t": b}, {"t": c}])
        types = dict(lake.query("DESCRIBE SELECT * FROM t").select("column_name", "column_type").rows())
        assert types == {"id": "BIGINT", "n": "VARCHAR", "_tf_load_id": "VARCHAR", "note": "VARCHAR",
                         "amount": "DECIMAL(38,2)"}  # fmt: skip
        rows = lake.query("SELECT id, n, note, amount FROM t ORDER BY id").rows()
        assert rows == [(1, "1", None, None), (2, "2", None, None), (3, str(2**40), "ünï", None),
                        (4, "many", None, Decimal("1.50"))]  # fmt: skip
        # Every file holds the table's types, so any reader reads them alike.
        assert external_rows(lake, "t").sort("id")["n"].to_list() == ["1", "2", str(2**40), "many"]
        widened = lake.schema_changes().filter(
            (pl.col("table") == "t") & (pl.col("change") == "type_widened")
        )
        assert widened.select("column", "old_type", "new_type").rows() == [
            ("id", "INTEGER", "BIGINT"),
            ("n", "SMALLINT", "BIGINT"),
            ("n", "BIGINT", "VARCHAR"),
        ]


def test_freeze_names_the_column_and_both_types_and_commits_nothing(tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
        frame = pl.DataFrame({"id": [1], "price": [1]}, schema={"id": pl.Int64, "price": pl.Int32})
        load(lake, "append", [{"t": frame}])
        version = lake.delta_table("t").version()
        handle = lake.begin_load("p", "t", "append", schema_contract="freeze")
        with pytest.raises(SchemaError, match=r"freeze.*table 't', column 'price' is INTEGER.*DOUBLE"):
            lake.write_batch(handle, {"t": pl.DataFrame({"id": [2], "price": [1.5]})}, state={"c": 2})
        assert lake.delta_table("t").version() == version
        assert lake.get_state("p", "t") is None
        lake.write_batch(handle, {"t": frame.with_columns(price=pl.lit(7, pl.Int32))})
        lake.finish_load(handle)
        assert lake.query("SELECT sum(price) FROM t").item() == 8


def test_widening_checks_committed_values_fit(tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
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


# -- all or nothing


def test_a_type_delta_cannot_store_fails_naming_table_and_column(tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
        load(lake, "append", [{"t": pl.DataFrame({"id": [1]})}], state={"cursor": 1})
        handle = lake.begin_load("shop", "orders", "append")
        bad = pl.DataFrame({"id": [2], "wait": [dt.timedelta(seconds=5)]})
        with pytest.raises(WarehouseError, match=r"table 't', column 'wait': Delta Lake cannot store"):
            lake.write_batch(handle, {"t": bad}, state={"cursor": 2})
        lake.finish_load(handle, "failed", "bad frame")
        assert lake.row_counts() == {"t": 1}
        assert lake.get_state("shop", "orders") == {"cursor": 1}
        assert "wait" not in lake.query("SELECT * FROM t").columns


def test_a_failure_after_some_tables_committed_rolls_the_batch_back_everywhere(tmp_path, monkeypatch):
    with DeltaLake(str(tmp_path / "lake")) as lake:
        rows = [(i, "2.00", 1) for i in range(10)]
        items = [(i, 0, "x", 1) for i in range(10)]
        load(lake, "merge", [{"orders": orders_frame(rows), "orders__line_items": items_frame(items)}],
             pk="id", state={"page": 1})  # fmt: skip
        before = {t: external_rows(lake, t).sort("_tf_id") for t in ("orders", "orders__line_items")}
        handle = lake.begin_load("shop", "orders", "merge", ["id"])

        def fail(*args, **kwargs):
            raise OSError("connection reset while committing the state")

        monkeypatch.setattr(lake, "_save_state", fail)
        update = {"orders": orders_frame([(3, "9.00", 1), (11, "1.00", 1)]),
                  "orders__line_items": items_frame([(3, 0, "y", 2), (11, 0, "z", 1)])}  # fmt: skip
        with pytest.raises(WarehouseError, match=r"batch failed at table '_tf_state'.*connection reset"):
            lake.write_batch(handle, update, state={"page": 2})
        monkeypatch.undo()
        # The data tables had committed; the rollback restored them for every reader.
        for table, frame in before.items():
            assert external_rows(lake, table).sort("_tf_id").equals(frame), table
        assert lake.get_state("shop", "orders") == {"page": 1}
        lake.write_batch(handle, update, state={"page": 2})
        lake.finish_load(handle)
        assert lake.row_counts() == {"orders": 11, "orders__line_items": 11}


def test_readers_see_a_batch_only_once_it_reaches_its_commit_point_and_never_wait(tmp_path, monkeypatch):
    path = str(tmp_path / "lake")
    with DeltaLake(path) as lake:
        load(lake, "append", [{"t": pl.DataFrame({"id": [1, 2]})}], state={"page": 1})
        handle = lake.begin_load("shop", "orders", "append")
        seen = {}
        save = DeltaLake._save_state

        def peek(self, *args, **kwargs):  # another reader, while the batch's rows are committed
            with DeltaLake(path, read_only=True) as reader:
                seen.update(counts=reader.row_counts(), state=reader.get_state("shop", "orders"),
                            rows=reader.query("SELECT count(*) FROM t").item())  # fmt: skip
            seen["log"] = external_rows(lake, "t").height
            return save(self, *args, **kwargs)

        monkeypatch.setattr(DeltaLake, "_save_state", peek)
        lake.write_batch(handle, {"t": pl.DataFrame({"id": [3]})}, state={"page": 2})
        monkeypatch.undo()
        assert seen == {"counts": {"t": 2}, "state": {"page": 1}, "rows": 2, "log": 3}
        lake.finish_load(handle)
        assert lake.row_counts() == {"t": 3}
        assert lake.get_state("shop", "orders") == {"page": 2}


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import polars as pl
    import tillflow as tl
    from tillflow.warehouse import _base
    from tillflow.warehouse.lake import _warehouse

    url, endpoint, point = sys.argv[1:]
    options = {"endpoint_url": endpoint, "access_key": "testing", "secret_key": "testing",
               "region": "us-east-1"} if endpoint else {}
    lake = tl.warehouse.delta(url, partition_by={"t": "day(at)"}, **options)
    load = lake.begin_load("p", "t", "merge", ["id"])
    first = pl.select(id=pl.int_range(0, 50), at=pl.datetime(2024, 5, 1))
    children = pl.select(_tf_id=pl.int_range(0, 50).cast(str), t_id=pl.int_range(0, 50))
    lake.write_batch(load, {"t": first, "t__c": children}, state={"page": 1})

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    appends = []
    append = _warehouse.DeltaLake._append
    def second_append_dies(self, *args, **kwargs):  # the root table committed, its child table not
        appends.append(args[0])
        (die if len(appends) == 2 else append)(self, *args, **kwargs)

    if point == "between-tables":
        _warehouse.DeltaLake._append = second_append_dies
    elif point == "before-state":
        _warehouse.DeltaLake._save_state = die
    else:  # the state committed; the process dies before the batch returns
        _base.batch_written = die
    days = pl.duration(days=pl.int_range(0, 50) % 3)
    second = pl.select(id=pl.int_range(25, 75), at=pl.datetime(2024, 5, 2) + days)
    children = pl.select(_tf_id=(pl.int_range(25, 75) + 1000).cast(str), t_id=pl.int_range(25, 75))
    lake.write_batch(load, {"t": second, "t__c": children}, state={"page": 2})
    print("not reached")
    """
)


@pytest.mark.parametrize("where", ["local", "s3"])
@pytest.mark.parametrize("point", ["between-tables", "before-state", "after-state"])
def test_sigkill_anywhere_in_a_batch_leaves_all_or_nothing(tmp_path, request, where, point):
    if where == "local":
        url, endpoint = str(tmp_path / "lake"), ""
    else:
        url, endpoint = request.getfixturevalue("s3_url"), request.getfixturevalue("s3_endpoint")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, url, endpoint, point], env=env, capture_output=True, timeout=90
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert b"not reached" not in done.stdout
    options = {"endpoint_url": endpoint, **S3_KEYS} if endpoint else {}
    landed = point == "after-state"
    # Merged: the second batch replaces orders 25-49 and their child rows.
    expected = {"t": 75, "t__c": 75} if landed else {"t": 50, "t__c": 50}
    with tl.warehouse.delta(url, **options) as lake:
        # Readers see only committed batches, even before anything is rolled back.
        assert lake.row_counts() == expected
        assert lake.query("SELECT count(DISTINCT id), min(id), max(id) FROM t").rows() == [
            (expected["t"], 0, expected["t"] - 1)
        ]
        assert lake.get_state("p", "t") == {"page": 2 if landed else 1}
        assert lake.loads()["status"].to_list() == ["running"]  # as a killed load stays in DuckDB
        # Rows written by the load's committed batches.
        written = {"t": 100, "t__c": 100} if landed else {"t": 50, "t__c": 50}
        assert json.loads(lake.loads()["row_counts"].item()) == written
        # The next load of the resource rolls the killed batch back for every reader,
        # then a rerun of the same batch never duplicates.
        handle = lake.begin_load("p", "t", "merge", ["id"])
        storage = ({"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"} if endpoint
                   else {})  # fmt: skip
        assert external_rows(lake, "t", **storage).height == expected["t"]
        assert external_rows(lake, "t__c", **storage).height == expected["t__c"]
        days = pl.duration(days=pl.int_range(0, 50) % 3)
        second = pl.select(id=pl.int_range(25, 75), at=pl.datetime(2024, 5, 2) + days)
        children = pl.select(_tf_id=(pl.int_range(25, 75) + 1000).cast(str), t_id=pl.int_range(25, 75))
        lake.write_batch(handle, {"t": second, "t__c": children}, state={"page": 2})
        lake.finish_load(handle)
        assert lake.row_counts() == {"t": 75, "t__c": 75}
        assert (
            lake.query("SELECT count(*) FROM t").item()
            == lake.query("SELECT count(DISTINCT id) FROM t").item()
        )


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
    with DeltaLake(str(tmp_path / "lake"), partition_by={table: "sp ace"}) as lake:
        load(lake, "append", [{table: frame}])
        assert lake.tables() == [table]
        assert lake.row_counts() == {table: 5}
        assert {p.split("/")[0] for p in lake.files(table)} == {"we~22ird~20ta~2Fble~20~C3~BC~20~E8~A1~A8"}
        got = lake.query(
            f'SELECT "sp ace", """quoted""", "ünï 表" FROM "{table.replace(chr(34), 2 * chr(34))}" ORDER BY 2'
        )
        assert got.rows() == list(zip(*frame.to_dict(as_series=False).values(), strict=True))
        assert external_rows(lake, table).sort('"quoted"').select(frame.columns).equals(frame)
    with DeltaLake(str(tmp_path / "lake")) as again:
        assert again.row_counts() == {table: 5}


def test_empty_batches_and_state_only_batches(tmp_path):
    with DeltaLake(str(tmp_path / "lake"), partition_by={"t": "day(at)"}) as lake:
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
        DeltaLake(str(tmp_path / "a"), partition_by={"orders": "week(created_at)"})
    with pytest.raises(ConfigError, match="partition_by must map table names"):
        DeltaLake(str(tmp_path / "b"), partition_by="day(created_at)")  # type: ignore[arg-type]
    with DeltaLake(str(tmp_path / "c"), partition_by={"t": "month(id)", "u": "day(missing)"}) as lake:
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
    with DeltaLake(
        str(tmp_path / "lake"), partition_by={"t": ["month(at)", "shop"]}, timezone="Asia/Tokyo"
    ) as lake:
        load(lake, "append", [{"t": frame}])
        folders = sorted({p.rsplit("/", 1)[0] for p in lake.files("t")})
        assert folders == ["t/at_month=2024-01/shop=b", "t/at_month=2024-02/shop=a"]
        assert lake.query('SELECT CAST("at" AS DATE) AS d FROM t WHERE id = 1').item() == dt.date(2024, 2, 1)


def test_s3_settings_come_from_the_usual_aws_variables(s3_url, s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with tl.warehouse.delta(s3_url) as lake:
        load(lake, "append", [{"t": pl.DataFrame({"id": [1, 2]})}], state={"page": 1})
    with open_s3_lake(s3_url, s3_endpoint) as again:  # the same objects, reached with explicit settings
        assert again.row_counts() == {"t": 2}
        assert again.get_state("shop", "orders") == {"page": 1}


def test_s3_errors_are_clear(s3_endpoint, unique_name):
    missing = f"s3://{unique_name.replace('_', '-')}-missing/lake"
    with pytest.raises(WarehouseError, match=r"cannot open Delta lake 's3://.*-missing/lake'"):
        open_s3_lake(missing, s3_endpoint)
    with pytest.raises(WarehouseError, match="names no bucket"):
        tl.warehouse.delta("s3:///lake", endpoint_url=s3_endpoint)
    with pytest.raises(WarehouseError, match="must be an http"):
        tl.warehouse.delta("s3://b/lake", endpoint_url="127.0.0.1:9")
    with pytest.raises(WarehouseError, match="unsupported scheme 'gs'"):
        tl.warehouse.delta("gs://b/lake")


def test_opening_what_is_not_a_lake_is_refused(tmp_path):
    with pytest.raises(WarehouseError, match="no Delta lake at .*: the folder does not exist"):
        tl.warehouse.delta(str(tmp_path / "nowhere"), create=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WarehouseError, match="no Delta lake at .*: it holds no table"):
        tl.warehouse.delta(str(tmp_path / "empty"), read_only=True)
    with DeltaLake(str(tmp_path / "lake")) as lake:
        load(lake, "append", [{"t": pl.DataFrame({"id": [1]})}])
    with DeltaLake(str(tmp_path / "lake"), read_only=True) as reader:
        assert reader.row_counts() == {"t": 1}
        with pytest.raises(WarehouseError, match="opened read-only"):
            reader.begin_load("p", "t")


def test_rule_results_and_metric_tables_live_in_the_lake(shop, tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
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


def test_unknown_modes_are_refused(tmp_path):
    with DeltaLake(str(tmp_path / "lake")) as lake:
        with pytest.raises(WarehouseError, match="unknown write mode 'upsert'"):
            lake.begin_load("p", "t", "upsert")
        assert lake.loads().height == 0


# -- the command line


def test_the_demo_into_a_delta_lake_reads_back_through_polars_with_duckdbs_counts(tmp_path):
    from support import run_cli

    lake, duck = tmp_path / "lake", str(tmp_path / "demo.duckdb")
    for where in (f"delta:{lake}", duck):
        done = run_cli("demo", "--orders", "300", "--warehouse", where, "--quiet")
        assert done.returncode == 0, done.stderr
    with tl.warehouse.duckdb(duck, read_only=True) as wh:
        expected = {t: wh.query(f'SELECT count(*) FROM "{t}"').item()
                    for t in wh.query("SELECT table_name FROM duckdb_tables()")["table_name"]}  # fmt: skip
    with DeltaLake(str(lake), read_only=True) as reader:
        names = reader._names()
    user = [n for n in names if not n.startswith("_tf_")]
    assert set(user) == {t for t in expected if not t.startswith("_tf_")}
    assert {"customers", "orders", "orders__line_items", "metrics_daily_summary"} <= set(user)
    for name in names:
        rows = pl.scan_delta(str(lake / name)).select(pl.len()).collect().item()
        assert rows == expected[name], name
    # The commands that read a warehouse read the lake too, without waiting for anyone.
    for args in (("health", "--warehouse", f"delta:{lake}"),
                 ("report", "--warehouse", f"delta:{lake}", "--output", str(tmp_path / "r.html")),
                 ("metrics", "--warehouse", f"delta:{lake}", "--no-write", "--quiet"),
                 ("metrics-textfile", "--warehouse", f"delta:{lake}", "--output", "-")):  # fmt: skip
        done = run_cli(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    done = run_cli("health", "--warehouse", f"delta:{tmp_path / 'nowhere'}")
    assert done.returncode != 0 and "no Delta lake at" in done.stderr
