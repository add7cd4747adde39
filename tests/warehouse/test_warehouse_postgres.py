"""PostgresWarehouse against the local PostgreSQL: what only it has (types,
63-byte names, case, the driver's own failures) and the demo shop loaded into
it with the same counts as into DuckDB. The tests every warehouse shares are
in test_warehouse.py and test_warehouse_scd2.py."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

import tillflow as tl
from support.services import drop_schema
from tillflow.exceptions import WarehouseError
from tillflow.warehouse import PostgresWarehouse, postgres_name

UTC = dt.timezone.utc


@pytest.fixture
def wh(postgres_warehouse):
    return postgres_warehouse


def load(wh, batches, mode="append", pk=None, resource="t", **kwargs):
    handle = wh.begin_load("p", resource, mode, pk, **kwargs)
    for batch in batches:
        wh.write_batch(handle, batch)
    return wh.finish_load(handle)


def column_types(wh, table):
    rows = wh.query(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [wh.schema, table],
    )
    return dict(rows.rows())


def test_values_and_types_round_trip(wh):
    paris = ZoneInfo("Europe/Paris")
    frame = pl.DataFrame(
        {
            "i8": pl.Series([-128, 127, None], dtype=pl.Int8),
            "u32": pl.Series([0, 2**32 - 1, None], dtype=pl.UInt32),
            "big": [-(2**63), 2**63 - 1, None],
            "u64": pl.Series([0, 2**64 - 1, None], dtype=pl.UInt64),
            "money": pl.Series(
                [Decimal("-" + "9" * 36 + ".99"), Decimal("0.01"), None], dtype=pl.Decimal(38, 2)
            ),
            "f": [math.nan, math.inf, None],
            "f32": pl.Series([1.5, -math.inf, None], dtype=pl.Float32),
            "text": ["naïve 'quoted' \"text\"", "日本語 🎉", None],
            "flag": [True, False, None],
            "day": [dt.date(1970, 1, 1), dt.date(9999, 12, 31), None],
            "at": [dt.datetime(2024, 3, 31, 2, 30, tzinfo=UTC), dt.datetime(1900, 1, 1, tzinfo=UTC), None],
            "local": pl.Series(
                [dt.datetime(2024, 7, 1, 12, 0), dt.datetime(2024, 1, 1), None]
            ).dt.replace_time_zone("Europe/Paris"),
            "naive": [dt.datetime(2024, 7, 1, 12, 0, 0, 123456), dt.datetime(2000, 2, 29), None],
            "clock": [dt.time(23, 59, 59, 999999), dt.time(0), None],
            "took": [dt.timedelta(days=2, microseconds=5), dt.timedelta(0), None],
            "blob": [b"\x00\xff", b"", None],
            "tags": [["a", "b"], [], None],
            "address": [{"city": "Köln", "zip": 50667}, {"city": None, "zip": None}, None],
            "_tf_id": pl.Series([0, 2**64 - 1, 2**63], dtype=pl.UInt64),
        }
    )
    load(wh, [{"t": frame}])
    types = column_types(wh, "t")
    assert types == {
        "i8": "smallint", "u32": "bigint", "big": "bigint", "u64": "numeric(20,0)", "money": "numeric(38,2)",
        "f": "double precision", "f32": "real", "text": "text", "flag": "boolean", "day": "date",
        "at": "timestamp with time zone", "local": "timestamp with time zone",
        "naive": "timestamp without time zone", "clock": "time without time zone", "took": "interval",
        "blob": "bytea", "tags": "jsonb", "address": "jsonb", "_tf_id": "bigint", "_tf_load_id": "text",
    }  # fmt: skip
    back = wh.query(
        "SELECT i8, u32, big, u64::text AS u64, money, f, f32, text, flag, day, at, local, naive, clock, "
        'took, blob, tags::text AS tags, address::text AS address, "_tf_id" FROM t ORDER BY big NULLS LAST'
    )
    first, second, nulls = back.rows()
    assert first[:5] == (-128, 0, -(2**63), "0", Decimal("-" + "9" * 36 + ".99"))
    assert math.isnan(first[5]) and first[6] == 1.5
    assert second[:7] == (127, 2**32 - 1, 2**63 - 1, str(2**64 - 1), Decimal("0.01"), math.inf, -math.inf)
    assert (first[7], second[7]) == ("naïve 'quoted' \"text\"", "日本語 🎉")
    assert (first[8], first[9], second[9]) == (True, dt.date(1970, 1, 1), dt.date(9999, 12, 31))
    assert first[10] == dt.datetime(2024, 3, 31, 2, 30, tzinfo=UTC)
    assert first[11] == dt.datetime(2024, 7, 1, 12, 0, tzinfo=paris)  # the same instant, read in UTC
    assert first[11].hour == 10 and second[11] == dt.datetime(2024, 1, 1, tzinfo=paris)
    assert first[12] == dt.datetime(2024, 7, 1, 12, 0, 0, 123456) and first[13] == dt.time(23, 59, 59, 999999)
    assert (
        first[14] == dt.timedelta(days=2, microseconds=5) and first[15] == b"\x00\xff" and second[15] == b""
    )
    assert json.loads(first[16]) == ["a", "b"] and json.loads(second[16]) == []
    assert json.loads(first[17]) == {"city": "Köln", "zip": 50667}
    # tillflow's 64-bit row ids keep their bits in a bigint: equal ids stay equal, distinct stay distinct.
    ids = [first[18], second[18], nulls[18]]
    assert [i & (2**64 - 1) for i in ids] == [0, 2**64 - 1, 2**63]
    assert all(v is None for v in nulls[:18])


def test_types_widen_with_postgres_names(wh):
    load(wh, [{"t": pl.DataFrame({"v": pl.Series([1], dtype=pl.Int16), "d": [dt.date(2024, 1, 2)]})}])
    load(wh, [{"t": pl.DataFrame({"v": [2**40], "d": [dt.datetime(2024, 1, 3, 4, tzinfo=UTC)]})}])
    load(wh, [{"t": pl.DataFrame({"v": [Decimal("0.5")]}, schema={"v": pl.Decimal(38, 1)})}])
    load(wh, [{"t": pl.DataFrame({"v": ["n/a"], "d": ["soon"]})}])
    load(wh, [{"t": pl.DataFrame({"d": [[1, 2]]})}])  # a list (jsonb) into text
    assert column_types(wh, "t") == {"v": "text", "d": "text", "_tf_load_id": "text"}
    changes = (
        wh.schema_changes()
        .filter(pl.col("change") == "type_widened")
        .select("column", "old_type", "new_type")
    )
    assert changes.rows() == [
        ("v", "smallint", "bigint"),
        ("d", "date", "timestamptz"),
        ("v", "bigint", "numeric(38,1)"),
        ("v", "numeric(38,1)", "text"),
        ("d", "timestamptz", "text"),
    ]
    values = wh.query("SELECT v, d FROM t ORDER BY _tf_load_id").rows()
    assert values == [
        ("1.0", "2024-01-02 00:00:00+00"),
        ("1099511627776.0", "2024-01-03 04:00:00+00"),
        ("0.5", None),
        ("n/a", "soon"),
        (None, "[1,2]"),
    ]


def test_long_names_are_shortened_the_same_way_every_time(wh):
    long_table = "orders_" + "x" * 70
    twin = "orders_" + "x" * 69 + "y"  # the same first 63 bytes
    long_column = "é" * 40  # 80 bytes
    assert len(postgres_name(long_table).encode()) == 63 and postgres_name(long_table) != postgres_name(twin)
    assert postgres_name(long_column).startswith("é" * 27) and len(postgres_name(long_column).encode()) == 63
    frame = pl.DataFrame({"id": [1], long_column: ["a"]})
    load(wh, [{long_table: frame}, {twin: frame}], resource=long_table)
    load(wh, [{long_table: frame.with_columns(pl.lit("b").alias(long_column))}], resource=long_table)
    assert sorted(wh.tables()) == sorted([postgres_name(long_table), postgres_name(twin)])
    assert wh.row_counts() == {postgres_name(long_table): 2, postgres_name(twin): 1}
    stored = wh.query(
        f'SELECT "{postgres_name(long_column)}" AS v FROM "{postgres_name(long_table)}" ORDER BY 1'
    )
    assert stored["v"].to_list() == ["a", "b"]
    with pytest.raises(WarehouseError, match="NUL"):
        load(wh, [{"bad\x00name": frame}])


def test_names_keep_their_case_and_match_case_insensitively(wh):
    load(wh, [{"Orders": pl.DataFrame({"ID": [1], "Total Price": [1.5]})}], resource="Orders")
    load(wh, [{"orders": pl.DataFrame({"id": [2], "total price": [2.5], "Note": ["x"]})}], resource="Orders")
    assert wh.tables() == ["Orders"]
    assert column_types(wh, "Orders") == {
        "ID": "bigint", "Total Price": "double precision", "_tf_load_id": "text", "Note": "text",
    }  # fmt: skip
    assert wh.query('SELECT "ID", "Total Price" FROM "Orders" ORDER BY 1').rows() == [(1, 1.5), (2, 2.5)]
    with pytest.raises(WarehouseError, match="differ only by case"):
        load(wh, [{"orders": pl.DataFrame({"a": [1], "A": [2]})}])


def test_a_failure_inside_postgres_names_the_table_and_rolls_back(wh):
    wh.query('CREATE TABLE "checked" (qty bigint CHECK (qty > 0), "_tf_load_id" text)')
    handle = wh.begin_load("p", "checked", "append")
    wh.write_batch(handle, {"checked": pl.DataFrame({"qty": [1, 2]})}, state={"page": 1})
    with pytest.raises(WarehouseError, match=r"batch failed at table 'checked'.*check constraint"):
        wh.write_batch(
            handle, {"checked": pl.DataFrame({"qty": [3, -1], "note": ["a", "b"]})}, state={"page": 2}
        )
    wh.finish_load(handle, "failed", "bad rows")
    assert wh.query("SELECT qty FROM checked ORDER BY 1")["qty"].to_list() == [1, 2]
    assert "note" not in column_types(wh, "checked")
    assert wh.get_state("p", "checked") == {"page": 1}
    assert wh.query("SELECT DISTINCT _tf_load_id FROM checked").item() == handle.load_id


def test_a_lost_connection_keeps_every_committed_batch(wh, postgres_url):
    handle = wh.begin_load("p", "t", "merge", ["id"])
    wh.write_batch(handle, {"t": pl.DataFrame({"id": [1, 2]})}, state={"page": 1})
    pid = wh.connection.info.backend_pid  # the connection batches are written through
    with tl.warehouse.postgres(postgres_url, schema=wh.schema) as other:
        assert other.query("SELECT pg_terminate_backend($1::int) AS ok", [pid]).item() is True
    with pytest.raises(WarehouseError):
        wh.write_batch(handle, {"t": pl.DataFrame({"id": [3]})}, state={"page": 2})
    with tl.warehouse.postgres(postgres_url, schema=wh.schema) as again:
        assert again.row_counts() == {"t": 2}
        assert again.get_state("p", "t") == {"page": 1}
        running = again.loads().row(0, named=True)
        assert running["status"] == "running" and json.loads(running["row_counts"]) == {"t": 2}


def test_merge_and_scd2_tables_are_indexed_on_their_key(wh):
    batch = {
        "o": pl.DataFrame({"id": [1], "_tf_id": [1]}),
        "o__items": pl.DataFrame({"_tf_id": [2], "_tf_parent_id": [1], "o_id": [1]}),
    }
    load(wh, [batch], "merge", ["id"], resource="o")
    load(wh, [{"v": pl.DataFrame({"id": [1]})}], "scd2", ["id"], resource="v")
    indexes = wh.query(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1", [wh.schema]
    )
    defs = {t: d for t, d in indexes.filter(~pl.col("tablename").str.starts_with("_tf_")).rows()}
    assert defs["o"].endswith("(id)") and defs["o__items"].endswith("(o_id)")
    assert defs["v"].endswith("(id) WHERE (_tf_valid_to IS NULL)")


def test_demo_shop_loads_the_same_rows_as_into_duckdb(shop, wh, tmp_path):
    source = shop.source(rules=True)
    with tl.warehouse.duckdb(str(tmp_path / "ref.duckdb")) as duck:
        reference = tl.pipeline("shop", source, duck).run()
        ref_counts = duck.row_counts()
        ref_rules = duck.rule_results().select("rule", "failing", "rows").sort("rule")
        ref_ids = duck.query("SELECT id FROM orders ORDER BY id")
        ref_prices = duck.query("SELECT id, total_price FROM orders ORDER BY id")
        ref_daily = tl.metrics.daily_summary(duck).sort("date")
        ref_products = tl.metrics.product_performance(duck, days=30)

    p = tl.pipeline("shop", source, wh)
    run = p.run()
    assert wh.row_counts() == ref_counts and run.row_counts == reference.row_counts
    assert ref_counts["orders"] + ref_counts.get("orders__quarantine", 0) == 1000
    assert ref_counts.get("orders__quarantine", 0) > 0  # the shop's bad rows were held back
    assert wh.rule_results().select("rule", "failing", "rows").sort("rule").equals(ref_rules)
    assert wh.query("SELECT id, total_price FROM orders ORDER BY id").equals(ref_prices)
    assert wh.loads()["status"].to_list() == ["completed"] * 3
    # The metrics read the PostgreSQL warehouse as they read DuckDB, and write their tables back.
    assert tl.metrics.daily_summary(wh).sort("date").equals(ref_daily)
    assert tl.metrics.product_performance(wh, days=30).equals(ref_products)
    tl.metrics.refresh(wh, ["daily_summary"])
    assert wh.query("SELECT * FROM metrics_daily_summary ORDER BY date").equals(ref_daily)

    again = p.run()  # incremental: only the order at the stored cursor comes back
    assert again.row_counts.get("orders", 0) <= 2 and wh.row_counts()["orders"] == ref_counts["orders"]
    p.run(full_refresh=True)  # merge: every order again, no duplicate
    assert wh.query("SELECT id FROM orders ORDER BY id").equals(ref_ids)
    items = wh.query('SELECT count(*) AS n, count(DISTINCT "_tf_id") AS d FROM orders__line_items').row(0)
    assert items == (ref_counts["orders__line_items"], ref_counts["orders__line_items"])
    assert wh.query("SELECT count(DISTINCT _tf_load_id) FROM orders").item() >= 1


def test_factory_repr_and_closed(postgres_url, unique_name):
    try:
        wh = tl.warehouse.postgres(postgres_url.replace("postgres@", "postgres:secret@"), schema=unique_name)
        assert isinstance(wh, PostgresWarehouse) and "secret" not in repr(wh) and unique_name in repr(wh)
        assert wh.query("SELECT current_setting('TimeZone') AS tz").item() == "UTC"
        wh.close()
        with pytest.raises(WarehouseError, match="closed"):
            wh.tables()
        with pytest.raises(WarehouseError, match="cannot connect"):
            tl.warehouse.postgres("postgresql://postgres@127.0.0.1:1/test")
    finally:
        drop_schema(postgres_url, unique_name)


def test_read_only_opens_refuse_every_write_and_create_nothing(wh, postgres_url, unique_name):
    load(wh, [{"t": pl.DataFrame({"id": [1, 2], "_tf_id": ["a", "b"]})}])
    url = f"{postgres_url}?schema={unique_name}"
    with tl.warehouse.from_url(url, read_only=True) as reader:
        assert reader.read_only and reader.row_counts() == {"t": 2}
        with pytest.raises(WarehouseError, match="read-only; it cannot load 'more'"):
            reader.begin_load("p", "more", "append")
        # PostgreSQL itself refuses a write sent through the read-only session.
        with pytest.raises(WarehouseError, match="read-only transaction"):
            reader.query("DELETE FROM t")
    assert wh.row_counts() == {"t": 2}
    absent = f"{unique_name}_none"
    with pytest.raises(WarehouseError, match="no tillflow warehouse"):
        tl.warehouse.postgres(postgres_url, schema=absent, read_only=True)
    gone = wh.query("SELECT count(*) FROM pg_namespace WHERE nspname = $1", [absent]).item()
    assert gone == 0


def test_without_the_extra_the_postgres_warehouse_says_how_to_install_it(monkeypatch):
    """A missing driver is a configuration error naming the extra, not a ModuleNotFoundError."""
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(
        tl.ConfigError,
        match=r"'psycopg' is needed for the PostgreSQL warehouse; pip install 'tillflow\[postgres\]'",
    ):
        tl.warehouse.postgres("postgresql://app@127.0.0.1:1/shop")
