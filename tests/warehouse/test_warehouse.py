"""Every warehouse against its real engine (a DuckDB file, the local
PostgreSQL): write modes, schema evolution, contracts, rollback. Tests
taking ``wh`` run on each warehouse; the DuckDB-only ones are at the end."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest

from support.warehouses import MONEY, STAMP, items_frame, load, orders_frame, type_name
from tillflow.exceptions import TillflowError, WarehouseError
from tillflow.warehouse import DuckDBWarehouse, LoadSummary, widen_type

UTC = dt.timezone.utc


def tax_frame(rows: list[tuple[int, int, str]]) -> pl.DataFrame:
    """Grandchild rows: (order id, item position, tax name)."""
    return pl.DataFrame(
        {
            "name": [r[2] for r in rows],
            "_tf_id": [f"o{r[0]}-{r[1]}-t" for r in rows],
            "_tf_parent_id": [f"o{r[0]}-{r[1]}" for r in rows],
            "_tf_idx": [0 for _ in rows],
            "orders_id": [r[0] for r in rows],
        }
    )


def content(wh, table, order_by):
    return wh.query(f'SELECT * FROM "{table}" ORDER BY {order_by}').drop("_tf_load_id")


@pytest.fixture
def wh(any_warehouse):
    return any_warehouse


def test_append_parent_and_child_tables(wh):
    first = {
        "orders": orders_frame([(1, "10.00", 7), (2, "20.50", None)]),
        "orders__line_items": items_frame([(1, 0, "mug", 2)]),
    }
    second = {
        "orders": orders_frame([(3, "5.25", 8)]),
        "orders__line_items": items_frame([(3, 0, "tea", 1), (3, 1, "mug", 4)]),
    }
    summary = load(wh, "append", [first, second])

    assert wh.tables() == ["orders", "orders__line_items"]
    assert wh.row_counts() == {"orders": 3, "orders__line_items": 3}
    assert summary.row_counts == {"orders": 3, "orders__line_items": 3}
    assert summary.total_rows == 6 and summary.status == "completed"
    loaded = wh.query("SELECT DISTINCT _tf_load_id FROM orders")["_tf_load_id"].to_list()
    assert loaded == [summary.load_id]
    schema = wh.query("SELECT * FROM orders LIMIT 0").schema
    assert schema["total_price"] == MONEY and schema["created_at"] == STAMP
    totals = wh.query("SELECT total_price FROM orders ORDER BY id")["total_price"].to_list()
    assert totals == [Decimal("10.00"), Decimal("20.50"), Decimal("5.25")]

    loads = wh.loads()
    assert loads.height == 1
    row = loads.row(0, named=True)
    assert row["status"] == "completed" and row["total_rows"] == 6 and row["write_mode"] == "append"
    assert json.loads(row["row_counts"]) == {"orders": 3, "orders__line_items": 3}
    assert row["started_at"] <= row["finished_at"]

    load(wh, "append", [second])
    assert wh.row_counts() == {"orders": 4, "orders__line_items": 5}


def test_replace_empties_root_and_children_but_not_quarantine(wh):
    load(wh, "append", [{
        "orders": orders_frame([(1, "1.00", 1), (2, "2.00", 2)]),
        "orders__line_items": items_frame([(1, 0, "a", 1), (2, 0, "b", 1)]),
        "orders__line_items__tax_lines": tax_frame([(1, 0, "vat")]),
    }])  # fmt: skip
    load(wh, "append", [{"orders__quarantine": pl.DataFrame({"reason": ["bad"]})}])
    load(wh, "append", [{"customers": pl.DataFrame({"id": [1]})}], resource="customers")

    first = {"orders": orders_frame([(5, "5.00", 1)]), "orders__line_items": items_frame([(5, 0, "c", 3)])}
    second = {"orders": orders_frame([(6, "6.00", 1)])}
    summary = load(wh, "replace", [first, second])

    assert wh.row_counts() == {
        "customers": 1,
        "orders": 2,
        "orders__line_items": 1,
        "orders__line_items__tax_lines": 0,  # absent from the batch, still part of the family
        "orders__quarantine": 1,
    }
    assert wh.query("SELECT id FROM orders ORDER BY id")["id"].to_list() == [5, 6]
    assert summary.row_counts == {"orders": 2, "orders__line_items": 1}


def test_replace_without_batches_empties_at_finish_only_when_completed(wh):
    load(
        wh,
        "append",
        [{"orders": orders_frame([(1, "1.00", 1)]), "orders__line_items": items_frame([(1, 0, "a", 1)])}],
    )

    failed = wh.begin_load("shop", "orders", "replace")
    wh.finish_load(failed, "failed", error="source down")
    assert wh.row_counts() == {"orders": 1, "orders__line_items": 1}

    summary = load(wh, "replace", [])
    assert wh.row_counts() == {"orders": 0, "orders__line_items": 0}
    assert summary.total_rows == 0
    statuses = wh.loads()["status"].to_list()
    assert statuses == ["completed", "failed", "completed"]
    assert wh.loads()["error"].to_list() == [None, "source down", None]


def merge_batch():
    return {
        "orders": orders_frame([(1, "10.00", 1), (2, "20.00", 2), (3, "30.00", 3)]),
        "orders__line_items": items_frame([(1, 0, "a", 1), (1, 1, "b", 2), (2, 0, "c", 3), (3, 0, "d", 4)]),
        "orders__line_items__tax_lines": tax_frame([(1, 0, "vat"), (1, 1, "vat"), (3, 0, "gst")]),
    }


def test_merge_twice_leaves_identical_tables(wh):
    load(wh, "merge", [merge_batch()], pk=["id"])
    counts = wh.row_counts()
    snapshot = {t: content(wh, t, "_tf_id") for t in counts}
    summary = load(wh, "merge", [merge_batch()], pk=["id"])

    assert counts == {"orders": 3, "orders__line_items": 4, "orders__line_items__tax_lines": 3}
    assert wh.row_counts() == counts
    for table, before in snapshot.items():
        assert content(wh, table, "_tf_id").equals(before)
    assert wh.query("SELECT DISTINCT _tf_load_id FROM orders")["_tf_load_id"].to_list() == [summary.load_id]


def test_merge_replaces_children_of_updated_orders(wh):
    load(wh, "merge", [merge_batch()], pk=["id"])
    # Order 1 loses item 1, and its items' tax lines are not in the batch at all.
    update = {
        "orders": orders_frame([(1, "5.00", 1), (4, "40.00", 4)]),
        "orders__line_items": items_frame([(1, 0, "a", 9)]),
    }
    summary = load(wh, "merge", [update], pk=["id"])

    assert wh.query("SELECT id, total_price FROM orders ORDER BY id").rows() == [
        (1, Decimal("5.00")), (2, Decimal("20.00")), (3, Decimal("30.00")), (4, Decimal("40.00")),
    ]  # fmt: skip
    items = wh.query("SELECT _tf_id, quantity FROM orders__line_items ORDER BY _tf_id").rows()
    assert items == [("o1-0", 9), ("o2-0", 3), ("o3-0", 4)]
    taxes = wh.query("SELECT _tf_id FROM orders__line_items__tax_lines ORDER BY _tf_id")["_tf_id"].to_list()
    assert taxes == ["o3-0-t"]
    assert summary.row_counts == {"orders": 2, "orders__line_items": 1}


def test_merge_replaces_whole_rows_and_adds_new_keys(wh):
    first = pl.DataFrame({"id": [1, 2], "note": ["a", "b"], "qty": [1, 2]})
    load(wh, "merge", [{"orders": first}], pk=["id"])
    # A later record of order 1 has no note (the field is gone from it) and a new field.
    later = pl.DataFrame({"id": [1, 3], "qty": [10, 30], "tag": ["x", "y"]})
    summary = load(wh, "merge", [{"orders": later}], pk=["id"])
    rows = wh.query("SELECT id, note, qty, tag FROM orders ORDER BY id").rows()
    assert rows == [(1, None, 10, "x"), (2, "b", 2, None), (3, None, 30, "y")]
    assert summary.row_counts == {"orders": 2}
    ids = wh.query("SELECT id, _tf_load_id FROM orders ORDER BY id")["_tf_load_id"].to_list()
    assert ids[0] == ids[2] == summary.load_id != ids[1]


def test_merge_keeps_the_last_duplicate_within_a_batch(wh):
    batch = {
        "orders": orders_frame([(1, "1.00", 1), (2, "2.00", 2), (1, "3.00", 1)]),
        "orders__line_items": items_frame([(1, 0, "first", 1), (1, 0, "second", 2)]),
    }
    summary = load(wh, "merge", [batch], pk=["id"])
    assert wh.query("SELECT id, total_price FROM orders ORDER BY id").rows() == [
        (1, Decimal("3.00")),
        (2, Decimal("2.00")),
    ]
    assert wh.query("SELECT title, quantity FROM orders__line_items").rows() == [("second", 2)]
    assert summary.row_counts == {"orders": 2, "orders__line_items": 1}


def test_merge_with_composite_key_and_across_batches(wh):
    def frame(rows):
        return pl.DataFrame(
            {"shop": [r[0] for r in rows], "sku": [r[1] for r in rows], "qty": [r[2] for r in rows]}
        )

    handle = wh.begin_load("shop", "stock", "merge", ["shop", "sku"])
    wh.write_batch(handle, {"stock": frame([("a", "x", 1), ("a", "y", 2), ("b", "x", 3)])})
    wh.write_batch(handle, {"stock": frame([("a", "x", 10), ("b", "y", 4)])})
    wh.finish_load(handle)
    assert wh.query("SELECT shop, sku, qty FROM stock ORDER BY shop, sku").rows() == [
        ("a", "x", 10), ("a", "y", 2), ("b", "x", 3), ("b", "y", 4),
    ]  # fmt: skip


def test_merge_needs_a_primary_key_and_modes_are_checked(wh):
    with pytest.raises(WarehouseError, match="primary_key"):
        wh.begin_load("shop", "orders", "merge")
    with pytest.raises(WarehouseError, match="write mode"):
        wh.begin_load("shop", "orders", "upsert")
    handle = wh.begin_load("shop", "orders", "merge", ["order_number"])
    with pytest.raises(WarehouseError, match="order_number"):
        wh.write_batch(handle, {"orders": orders_frame([(1, "1.00", 1)])})
    assert issubclass(WarehouseError, TillflowError)


def test_schema_widens_across_batches_and_keeps_earlier_values(wh):
    first = pl.DataFrame(
        {
            "id": [1],
            "amount": [5],
            "code": [42],
            "price": [Decimal("1.25")],
            "day": [dt.date(2024, 1, 2)],
        },
        schema_overrides={"price": MONEY},
    )
    second = pl.DataFrame(
        {
            "id": [2],
            "amount": [2.5],
            "code": ["A-7"],
            "price": [Decimal("0.125")],
            "day": [dt.datetime(2024, 1, 3, 4, 5, tzinfo=UTC)],
            "note": ["new"],
        },
        schema_overrides={"price": pl.Decimal(38, 3), "day": STAMP},
    )
    third = pl.DataFrame({"id": [3], "amount": [7]})  # narrower again: stored as the wider type
    load(wh, "append", [{"t": first}, {"t": second}, {"t": third}])

    result = content(wh, "t", "id")
    assert result.schema == pl.Schema(
        {
            "id": pl.Int64,
            "amount": pl.Float64,
            "code": pl.String,
            "price": pl.Decimal(38, 3),
            "day": STAMP,
            "note": pl.String,
        }
    )
    assert result.rows() == [
        (1, 5.0, "42", Decimal("1.250"), dt.datetime(2024, 1, 2, tzinfo=UTC), None),
        (2, 2.5, "A-7", Decimal("0.125"), dt.datetime(2024, 1, 3, 4, 5, tzinfo=UTC), "new"),
        (3, 7.0, None, None, None, None),
    ]


def test_int_widens_to_decimal(wh):
    load(
        wh,
        "append",
        [{"t": pl.DataFrame({"v": [3]})}, {"t": pl.DataFrame({"v": [Decimal("1.50")]}, schema={"v": MONEY})}],
    )
    assert wh.query("SELECT v FROM t ORDER BY v")["v"].to_list() == [Decimal("1.50"), Decimal("3.00")]


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [
        ("BIGINT", "BIGINT", "BIGINT"),
        ("BIGINT", "DOUBLE", "DOUBLE"),
        ("DOUBLE", "BIGINT", "DOUBLE"),
        ("BIGINT", "DECIMAL(38,2)", "DECIMAL(38,2)"),
        ("DECIMAL(38,2)", "DECIMAL(38,3)", "DECIMAL(38,3)"),
        ("DECIMAL(10,2)", "DECIMAL(12,4)", "DECIMAL(12,4)"),
        ("DECIMAL(38,2)", "DOUBLE", "DOUBLE"),
        ("INTEGER", "BIGINT", "BIGINT"),
        ("UINTEGER", "INTEGER", "BIGINT"),
        ("DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE"),
        ("TIMESTAMP", "DATE", "TIMESTAMP"),
        ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_NS"),
        ("BOOLEAN", "VARCHAR", "VARCHAR"),
        ("VARCHAR", "BIGINT", "VARCHAR"),
        ("BOOLEAN", "BIGINT", None),
        ("DATE", "BIGINT", None),
    ],
)
def test_widen_type(existing, incoming, expected):
    assert widen_type(existing, incoming) == expected


def test_missing_columns_and_nulls_load_as_null(wh):
    full = pl.DataFrame({"id": [1, 2], "name": ["a", None], "score": [1.5, None]})
    partial = pl.DataFrame({"id": [3], "extra": [None]})  # no name/score; an all-null column of Null type
    summary = load(wh, "append", [{"t": full}, {"t": partial}])
    assert wh.query("SELECT id, name, score FROM t ORDER BY id").rows() == [
        (1, "a", 1.5),
        (2, None, None),
        (3, None, None),
    ]
    assert "extra" not in wh.query("SELECT * FROM t LIMIT 0").columns  # typed once a value arrives
    assert summary.row_counts == {"t": 3}


def test_hostile_table_and_column_names(wh):
    table = 'weird "name'
    columns = {
        "select": [1, 2],
        "prix_€": [Decimal("9.99"), Decimal("1.00")],
        "with space": ["a", "b"],
        '"q"': [True, False],
    }
    frame = pl.DataFrame(columns, schema_overrides={"prix_€": MONEY})
    child = pl.DataFrame(
        {"order": ["x"], "_tf_id": ["c1"], "_tf_parent_id": ["p1"], "_tf_idx": [0], f"{table}_select": [1]}
    )
    load(wh, "merge", [{table: frame, f"{table}__group": child}], pk=["select"], resource=table)
    load(wh, "merge", [{table: frame.head(1), f"{table}__group": child}], pk=["select"], resource=table)

    assert wh.tables() == [table, f"{table}__group"]
    stored = wh.query(
        'SELECT "select", "prix_€", "with space", """q""" FROM "weird ""name" ORDER BY "select"'
    )
    assert stored.rows() == [(1, Decimal("9.99"), "a", True), (2, Decimal("1.00"), "b", False)]
    assert wh.row_counts() == {table: 2, f"{table}__group": 1}


def test_empty_frames_create_tables(wh):
    empty = orders_frame([]).head(0)
    summary = load(
        wh,
        "append",
        [{"orders": empty, "orders__line_items": items_frame([]), "orders__nothing": pl.DataFrame()}],
    )
    assert wh.row_counts() == {"orders": 0, "orders__line_items": 0}
    assert wh.query("SELECT * FROM orders LIMIT 0").schema["total_price"] == MONEY
    assert summary.row_counts == {"orders": 0, "orders__line_items": 0, "orders__nothing": 0}


def test_failed_batch_rolls_back_only_itself_with_its_state(wh):
    handle = wh.begin_load("shop", "orders", "append")
    first = {"orders": orders_frame([(1, "1.00", 1)]), "orders__line_items": items_frame([(1, 0, "a", 1)])}
    wh.write_batch(handle, first, state={"page": 1})
    assert wh.get_state("shop", "orders") == {"page": 1}

    # The root writes fine (with a new column), then the child's quantity cannot widen from BIGINT to BOOLEAN.
    bad_items = items_frame([(2, 0, "b", 1)]).with_columns(pl.lit(True).alias("quantity"))
    bad = {
        "orders": orders_frame([(2, "2.00", 2)]).with_columns(pl.lit("x").alias("note")),
        "orders__line_items": bad_items,
    }
    with pytest.raises(WarehouseError, match=r"orders__line_items.*quantity"):
        wh.write_batch(handle, bad, state={"page": 2})

    assert wh.row_counts() == {"orders": 1, "orders__line_items": 1}
    assert "note" not in wh.query("SELECT * FROM orders LIMIT 0").columns
    assert wh.get_state("shop", "orders") == {"page": 1}
    running = wh.loads().row(0, named=True)
    assert running["status"] == "running" and json.loads(running["row_counts"]) == {
        "orders": 1,
        "orders__line_items": 1,
    }

    # The load goes on after a failed batch, and the next batch commits with its state.
    wh.write_batch(handle, {"orders": orders_frame([(3, "3.00", 3)])}, state={"page": 3})
    summary = wh.finish_load(handle, "failed", error="one batch failed")
    assert summary.row_counts == {"orders": 2, "orders__line_items": 1}
    assert wh.get_state("shop", "orders") == {"page": 3}
    row = wh.loads().row(0, named=True)
    assert (row["status"], row["total_rows"], row["error"]) == ("failed", 3, "one batch failed")


def test_insert_failure_names_the_column_and_rolls_back(wh):
    handle = wh.begin_load("shop", "t", "append")
    wh.write_batch(
        handle,
        {
            "t": pl.DataFrame(
                {"id": [1], "rate": [Decimal("0.5")]}, schema={"id": pl.Int64, "rate": pl.Decimal(38, 30)}
            )
        },
    )
    # A BIGINT does fit DECIMAL(38,30)'s type rules but 10**12 overflows its 8 integer digits.
    with pytest.raises(WarehouseError, match=r"table 't', column 'rate'"):
        wh.write_batch(handle, {"t": pl.DataFrame({"id": [2], "rate": [10**12]})}, state={"cursor": "b"})
    assert wh.row_counts() == {"t": 1}
    assert wh.get_state("shop", "t") is None


def test_merge_child_without_root_key_column_fails_cleanly(wh):
    load(
        wh,
        "append",
        [{"orders": orders_frame([(1, "1.00", 1)]), "orders__notes": pl.DataFrame({"text": ["hi"]})}],
    )
    with pytest.raises(WarehouseError, match="orders__notes.*orders_id"):
        load(wh, "merge", [{"orders": orders_frame([(1, "2.00", 1)])}], pk=["id"])
    assert wh.query("SELECT total_price FROM orders").item() == Decimal("1.00")


def test_load_lifecycle_guards(wh):
    handle = wh.begin_load("shop", "orders", "append")
    summary = wh.finish_load(handle)
    with pytest.raises(WarehouseError, match="already finished"):
        wh.write_batch(handle, {"orders": orders_frame([(1, "1.00", 1)])})
    with pytest.raises(WarehouseError, match="already finished"):
        wh.finish_load(handle)
    with pytest.raises(WarehouseError, match="status"):
        wh.finish_load(wh.begin_load("shop", "orders", "append"), "done")
    with pytest.raises(WarehouseError, match="invalid table name"):
        wh.write_batch(wh.begin_load("shop", "x", "append"), {"_tf_loads": pl.DataFrame({"a": [1]})})
    with pytest.raises(WarehouseError, match="query failed"):
        wh.query("SELECT * FROM no_such_table")
    assert summary.status == "completed"


def test_load_ids_are_unique_and_sortable(wh):
    ids = [wh.begin_load("shop", "orders", "append").load_id for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_summary_renders(wh):
    summary = load(
        wh,
        "append",
        [{"orders": orders_frame([(1, "1.00", 1)]), "orders__line_items": items_frame([(1, 0, "<b>", 1)])}],
    )
    assert isinstance(summary, LoadSummary)
    text = str(summary)
    assert summary.load_id in text and "orders__line_items: 1" in text and "completed" in text
    page = summary._repr_html_()
    assert "<table>" in page and "orders__line_items" in page
    frame = summary.to_polars()
    assert frame.height == 1 and frame["total_rows"].item() == 2
    assert json.loads(frame["row_counts"].item()) == {"orders": 1, "orders__line_items": 1}
    assert set(frame.columns) == set(wh.loads().columns)


def test_reopen_keeps_data_loads_and_state(tmp_path):
    path = str(tmp_path / "shop.duckdb")
    with DuckDBWarehouse(path) as first:
        handle = first.begin_load("shop", "orders", "merge", ["id"])
        first.write_batch(handle, merge_batch(), state={"since": "2024-03-01"})
        first.finish_load(handle)
        assert "shop.duckdb" in repr(first)
    with DuckDBWarehouse(path) as again:
        assert again.row_counts() == {
            "orders": 3,
            "orders__line_items": 4,
            "orders__line_items__tax_lines": 3,
        }
        assert again.get_state("shop", "orders") == {"since": "2024-03-01"}
        assert again.loads()["status"].to_list() == ["completed"]
    with pytest.raises(WarehouseError, match="closed"):
        _ = again.connection


def test_timezone_and_factory(tmp_path):
    from tillflow import warehouse

    wh = warehouse.duckdb(str(tmp_path / "tz.duckdb"), timezone="America/New_York")
    try:
        assert isinstance(wh, warehouse.DuckDBWarehouse)
        assert wh.query("SELECT current_setting('TimeZone') AS tz").item() == "America/New_York"
        stamp = pl.DataFrame({"at": [dt.datetime(2024, 3, 1, 3, 0, tzinfo=UTC)]}, schema={"at": STAMP})
        load(wh, "append", [{"events": stamp}], resource="events")
        assert wh.query('SELECT CAST("at" AS DATE) AS d FROM events').item() == dt.date(2024, 2, 29)
    finally:
        wh.close()
    assert warehouse.WriteMode("merge") is warehouse.WriteMode.MERGE
    with warehouse.duckdb(":memory:") as memory:
        assert memory.tables() == []


def test_schema_changes_are_recorded_with_their_batch(wh):
    first = pl.DataFrame({"id": [1, 2], "qty": [1, 2]}, schema={"id": pl.Int64, "qty": pl.Int32})
    load(wh, "append", [{"things": first}], resource="things")
    wider = pl.DataFrame({"id": [3], "qty": [2.5], "note": ["new"]})  # qty widens, note is new
    load(wh, "append", [{"things": wider}], resource="things")
    changes = wh.schema_changes().select("table", "column", "change", "old_type", "new_type").rows()
    bigint, integer, double, text = (type_name(wh, t) for t in ("BIGINT", "INTEGER", "DOUBLE", "VARCHAR"))
    assert changes == [
        ("things", None, "table_created", None, None),
        ("things", "id", "column_added", None, bigint),
        ("things", "qty", "column_added", None, integer),
        ("things", "qty", "type_widened", integer, double),  # in the batch's column order
        ("things", "note", "column_added", None, text),
    ]
    loads = wh.loads()["load_id"].to_list()
    per_load = wh.query("SELECT load_id, count(*) AS n FROM _tf_schema_changes GROUP BY 1 ORDER BY 1").rows()
    assert per_load == [(loads[0], 3), (loads[1], 2)]
    # A batch that fails rolls back its schema changes with its rows.
    handle = wh.begin_load("shop", "things", "append")
    bad = pl.DataFrame({"id": ["not a number"], "extra": [1]})
    with pytest.raises(WarehouseError):
        wh.write_batch(handle, {"things": bad.with_columns(pl.col("id").cast(pl.Binary))})
    wh.finish_load(handle, "failed", "bad batch")
    assert wh.schema_changes().height == 5
    assert "extra" not in content(wh, "things", "id").columns


def test_freeze_refuses_new_columns_and_wider_types_naming_both(wh):
    first = pl.DataFrame({"id": [1], "qty": [1]}, schema={"id": pl.Int64, "qty": pl.Int32})
    handle = wh.begin_load("shop", "things", "append", schema_contract="freeze")
    wh.write_batch(handle, {"things": first})  # a new table: the first load defines it
    same = pl.DataFrame({"id": [2], "qty": [7]}, schema={"id": pl.Int64, "qty": pl.Int16})  # fits INTEGER
    wh.write_batch(handle, {"things": same})
    integer, double = type_name(wh, "INTEGER"), type_name(wh, "DOUBLE")
    with pytest.raises(TillflowError, match=rf"freeze.*'things'.*'qty' is {integer}.*{double}"):
        wh.write_batch(handle, {"things": pl.DataFrame({"id": [3], "qty": [2.5]})})
    with pytest.raises(
        TillflowError, match=rf"freeze.*'things' has no column 'note'.*{type_name(wh, 'VARCHAR')}"
    ):
        note = pl.DataFrame({"id": [4], "qty": [1], "note": ["x"]}, schema_overrides={"qty": pl.Int32})
        wh.write_batch(handle, {"things": note})
    wh.finish_load(handle)
    assert content(wh, "things", "id")["id"].to_list() == [1, 2]  # nothing of the refused batches
    assert content(wh, "things", "id").schema["qty"] == pl.Int32
    with pytest.raises(WarehouseError, match="unknown schema contract 'melt'.*evolve, freeze"):
        wh.begin_load("shop", "things", "append", schema_contract="melt")


def test_discard_row_keeps_the_tables_and_drops_rows_that_do_not_fit_with_their_children(wh):
    load(
        wh,
        "append",
        [{"orders": orders_frame([(1, "10.00", 5)]), "orders__line_items": items_frame([(1, 0, "Mug", 1)])}],
    )
    changes_before = wh.schema_changes().height
    # Order 2 fits; order 3 brings a customer id that is text and not a number; order 4 fills a new
    # column; order 5 a total with more decimals than the column holds. 3, 4 and 5 go, with their items.
    orders = pl.DataFrame(
        {
            "id": [2, 3, 4, 5],
            "total_price": ["20.00", "30.00", "40.00", "50.005"],
            "customer__id": ["6", "seven", "8", "9"],
            "coupon": [None, None, "SPRING", None],
            "_tf_id": ["o2", "o3", "o4", "o5"],
        }
    )
    items = items_frame(
        [(2, 0, "Bowl", 1), (3, 0, "Cup", 2), (4, 0, "Jar", 1), (5, 0, "Tea", 3), (5, 1, "Pot", 1)]
    )
    handle = wh.begin_load("shop", "orders", "append", schema_contract="discard_row")
    written = wh.write_batch(handle, {"orders": orders, "orders__line_items": items})
    wh.finish_load(handle)
    assert written == {"orders": 1, "orders__line_items": 1}
    kept = content(wh, "orders", "id")
    assert kept["id"].to_list() == [1, 2] and kept["customer__id"].to_list() == [5, 6]
    assert kept["total_price"].to_list() == [Decimal("10.00"), Decimal("20.00")]
    assert "coupon" not in kept.columns and kept.schema["customer__id"] == pl.Int64
    assert content(wh, "orders__line_items", "_tf_id")["title"].to_list() == ["Mug", "Bowl"]
    assert wh.schema_changes().height == changes_before  # the tables did not change
    assert wh.loads()["row_counts"].to_list()[-1] == json.dumps({"orders": 1, "orders__line_items": 1})


def test_discard_value_nulls_what_does_not_fit_and_keeps_the_rows(wh):
    load(wh, "append", [{"orders": orders_frame([(1, "10.00", 5)])}])
    orders = pl.DataFrame(
        {
            "id": [2, 3],
            "total_price": ["20.5", "oops"],  # 20.5 is 20.50 exactly
            "customer__id": ["6", "seven"],
            "coupon": ["SPRING", None],
            "_tf_id": ["o2", "o3"],
        }
    )
    handle = wh.begin_load("shop", "orders", "append", schema_contract="discard_value")
    assert wh.write_batch(handle, {"orders": orders}) == {"orders": 2}
    wh.finish_load(handle)
    kept = content(wh, "orders", "id")
    assert kept.select("id", "total_price", "customer__id").rows() == [
        (1, Decimal("10.00"), 5), (2, Decimal("20.50"), 6), (3, None, None),
    ]  # fmt: skip
    assert "coupon" not in kept.columns


def test_discard_row_under_merge_keeps_the_old_version_of_a_row_it_leaves_out(wh):
    load(wh, "merge", [{"orders": orders_frame([(1, "10.00", 5), (3, "30.00", 7)])}], pk=["id"])
    update = pl.DataFrame(
        {
            "id": [1, 3],
            "total_price": ["11.00", "not a price"],  # order 3's new version does not fit
            "customer__id": [5, 7],
            "_tf_id": ["o1", "o3"],
        }
    )
    handle = wh.begin_load("shop", "orders", "merge", ["id"], schema_contract="discard_row")
    assert wh.write_batch(handle, {"orders": update}) == {"orders": 1}
    wh.finish_load(handle)
    rows = content(wh, "orders", "id").select("id", "total_price").rows()
    assert rows == [(1, Decimal("11.00")), (3, Decimal("30.00"))]  # 1 updated; 3 kept as it was


def test_a_duckdb_only_run_imports_no_optional_engine(tmp_path):
    """Start-up stays cheap: pandas, the lake's engines, the database drivers, the
    report's plotly, the alerts' HTTP client and Prometheus load only when used."""
    import subprocess
    import sys

    script = (
        "import sys, tillflow as tl\n"
        "with tl.demo_shop(orders=30) as shop, tl.warehouse.duckdb(sys.argv[1]) as wh:\n"
        "    tl.pipeline('p', shop.source(resources=['orders']), wh).run()\n"
        "optional = ('pandas', 'deltalake', 'pyarrow.dataset', 'psycopg', 'connectorx', 'pymysql',\n"
        "            'pgpq', 'adbc_driver_postgresql', 'plotly', 'prometheus_client', 'httpx', 'tenacity',\n"
        "            'rich', 'pythonjsonlogger')\n"
        "print(sorted(m for m in optional if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "wh.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
