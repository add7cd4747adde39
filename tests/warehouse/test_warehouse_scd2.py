"""The scd2 write mode on every warehouse: each version of a row kept, with
its validity; children versioned with their root row."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

import tillflow as tl
from tillflow.exceptions import ConfigError, WarehouseError

CURRENT = '"_tf_valid_to" IS NULL'


@pytest.fixture
def wh(any_warehouse):
    return any_warehouse


def orders(rows: list[tuple[int, str | None, int | None]]) -> pl.DataFrame:
    """Root rows (id, status, quantity) with the normalizer's ids (fixed by key)."""
    return pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "status": [r[1] for r in rows],
            "qty": [r[2] for r in rows],
            "_tf_id": [1000 + r[0] for r in rows],
        },
        schema={"id": pl.Int64, "status": pl.String, "qty": pl.Int64, "_tf_id": pl.UInt64},
    )


def items(rows: list[tuple[int, int, str]]) -> pl.DataFrame:
    """Child rows (order id, position, title)."""
    return pl.DataFrame(
        {
            "title": [r[2] for r in rows],
            "_tf_id": [100_000 + r[0] * 10 + r[1] for r in rows],
            "_tf_parent_id": [1000 + r[0] for r in rows],
            "_tf_idx": [r[1] for r in rows],
            "orders_id": [r[0] for r in rows],
        },
        schema_overrides={"_tf_id": pl.UInt64, "_tf_parent_id": pl.UInt64},
    )


def load(wh, *batches, close_missing=False, status="completed"):
    handle = wh.begin_load("shop", "orders", "scd2", ["id"], scd2_close_missing=close_missing)
    written = [wh.write_batch(handle, batch) for batch in batches]
    summary = wh.finish_load(handle, status)
    return summary, written


def versions(wh, table="orders", columns="id, status, qty"):
    return wh.query(
        f'SELECT {columns}, "_tf_valid_from", "_tf_valid_to" FROM "{table}" ORDER BY 1, "_tf_valid_from"'
    )


def test_changed_rows_get_new_versions_and_unchanged_ones_nothing(wh):
    first, _ = load(wh, {"orders": orders([(1, "paid", 1), (2, "paid", 2), (3, "paid", 3)])})
    second, written = load(wh, {"orders": orders([(1, "paid", 1), (2, "refunded", 2), (4, "paid", 4)])})
    third, _ = load(wh, {"orders": orders([(2, "voided", 2)])})
    reload, reload_written = load(wh, {"orders": orders([(1, "paid", 1), (2, "voided", 2), (4, "paid", 4)])})

    assert written == [{"orders": 2}]  # 2 changed, 4 is new, 1 is unchanged
    assert reload_written == [{"orders": 0}] and reload.row_counts == {"orders": 0}
    rows = versions(wh).rows()
    t1, t2, t3 = first.started_at, second.started_at, third.started_at
    assert [r[:3] for r in rows] == [
        (1, "paid", 1),
        (2, "paid", 2), (2, "refunded", 2), (2, "voided", 2),  # changed twice: three versions
        (3, "paid", 3),  # missing from later loads: still current (no close_missing)
        (4, "paid", 4),
    ]  # fmt: skip
    assert [r[3:] for r in rows] == [(t1, None), (t1, t2), (t2, t3), (t3, None), (t1, None), (t2, None)]
    assert wh.query(f"SELECT count(*) AS n FROM orders WHERE {CURRENT}").item() == 4
    assert wh.query("SELECT count(DISTINCT _tf_load_id) AS n FROM orders").item() == 3


def test_nulls_in_compared_columns(wh):
    load(wh, {"orders": orders([(1, None, None), (2, "paid", None), (3, None, 3)])})
    # Null to null is no change; a value to null and null to a value are.
    _, written = load(wh, {"orders": orders([(1, None, None), (2, None, None), (3, "paid", 3)])})
    assert written == [{"orders": 2}]
    assert [r[:3] for r in versions(wh).rows()] == [
        (1, None, None),
        (2, "paid", None), (2, None, None),
        (3, None, 3), (3, "paid", 3),
    ]  # fmt: skip
    # A batch without a column compares it as null: qty of 3 was 3, so 3 changes; 1 does not.
    no_qty = orders([(1, None, None), (3, "paid", None)]).drop("qty")
    _, written = load(wh, {"orders": no_qty})
    assert written == [{"orders": 1}]
    current = wh.query(f"SELECT id, qty FROM orders WHERE {CURRENT} ORDER BY id").rows()
    assert current == [(1, None), (2, None), (3, None)]


def test_children_are_versioned_with_their_root(wh):
    load(
        wh,
        {
            "orders": orders([(1, "paid", 1), (2, "paid", 1)]),
            "orders__items": items([(1, 0, "mug"), (1, 1, "tea"), (2, 0, "jar")]),
        },
    )
    # Order 1 changes and now has one item; order 2 is unchanged, so its items are not written again.
    summary, written = load(
        wh,
        {
            "orders": orders([(1, "refunded", 1), (2, "paid", 1)]),
            "orders__items": items([(1, 0, "mug"), (2, 0, "jar")]),
        },
    )
    assert written == [{"orders": 1, "orders__items": 1}]
    assert wh.row_counts() == {"orders": 3, "orders__items": 4}
    current = wh.query(
        'SELECT o.id, i.title FROM orders o JOIN orders__items i ON i."_tf_parent_id" = o."_tf_id" '
        f'AND i."_tf_valid_from" = o."_tf_valid_from" WHERE o.{CURRENT} AND i.{CURRENT} ORDER BY 1, 2'
    ).rows()
    assert current == [(1, "mug"), (2, "jar")]
    closed = wh.query(f"SELECT title FROM orders__items WHERE NOT {CURRENT} ORDER BY 1")["title"].to_list()
    assert closed == ["mug", "tea"]  # order 1's first version's items, closed with it
    closed_at = wh.query(f"SELECT DISTINCT _tf_valid_to FROM orders__items WHERE NOT {CURRENT}")
    assert closed_at["_tf_valid_to"].to_list() == [summary.started_at]


def test_one_version_per_key_and_load(wh):
    # The same key twice in a batch keeps the last row; a key again in a later batch of the same
    # load replaces the version that load wrote, children included.
    summary, written = load(
        wh,
        {"orders": orders([(1, "a", 1), (1, "b", 1)]), "orders__items": items([(1, 0, "first")])},
        {"orders": orders([(1, "c", 1)]), "orders__items": items([(1, 0, "second")])},
        {"orders": orders([(1, "c", 1)])},
    )
    assert written == [{"orders": 1, "orders__items": 1}, {"orders": 1, "orders__items": 1}, {"orders": 0}]
    assert [r[:3] for r in versions(wh).rows()] == [(1, "c", 1)]
    assert wh.query("SELECT title FROM orders__items")["title"].to_list() == ["second"]
    assert summary.row_counts == {"orders": 2, "orders__items": 2}


def test_close_missing_closes_keys_a_full_extract_lacks(wh):
    load(wh, {"orders": orders([(1, "paid", 1), (2, "paid", 2)]), "orders__items": items([(2, 0, "jar")])})
    # A failed load closes nothing.
    load(wh, {"orders": orders([(1, "paid", 1)])}, close_missing=True, status="failed")
    assert wh.query(f"SELECT count(*) FROM orders WHERE {CURRENT}").item() == 2
    summary, _ = load(wh, {"orders": orders([(1, "paid", 1)])}, {"orders": orders([(3, "new", 3)])},
                      close_missing=True)  # fmt: skip
    current = wh.query(f"SELECT id FROM orders WHERE {CURRENT} ORDER BY id")["id"].to_list()
    assert current == [1, 3]
    assert versions(wh).filter(pl.col("id") == 2)["_tf_valid_to"].to_list() == [summary.started_at]
    assert wh.query(f"SELECT count(*) FROM orders__items WHERE {CURRENT}").item() == 0
    # A full extract with no rows at all closes every current version.
    load(wh, close_missing=True)
    assert wh.query(f"SELECT count(*) FROM orders WHERE {CURRENT}").item() == 0
    assert wh.row_counts() == {"orders": 3, "orders__items": 1}


def test_new_columns_and_existing_merge_tables(wh):
    handle = wh.begin_load("shop", "orders", "merge", ["id"])
    wh.write_batch(handle, {"orders": orders([(1, "paid", 1)])})
    wh.finish_load(handle)
    # A merge table takes scd2 loads: its rows become current versions valid since always.
    _, written = load(wh, {"orders": orders([(1, "paid", 1)])})
    assert written == [{"orders": 0}]
    with_note = orders([(1, "paid", 1), (2, "paid", 2)]).with_columns(pl.Series("note", [None, "gift"]))
    _, written = load(wh, {"orders": with_note})
    assert written == [{"orders": 1}]  # a new column that is null changes nothing
    assert versions(wh, columns="id, note").rows()[0][1:] == (None, None, None)


def test_a_merge_table_with_child_tables_takes_scd2_loads(wh):
    handle = wh.begin_load("shop", "orders", "merge", ["id"])
    first = {
        "orders": orders([(1, "paid", 1), (2, "paid", 1)]),
        "orders__items": items([(1, 0, "mug"), (1, 1, "tea"), (2, 0, "jar")]),
    }
    wh.write_batch(handle, first)
    wh.finish_load(handle)
    # Order 1 changes: its row and its items become closed versions; order 2 stays as it was.
    summary, written = load(
        wh, {"orders": orders([(1, "refunded", 1), (2, "paid", 1)]), "orders__items": items([(1, 0, "mug")])}
    )
    assert written == [{"orders": 1, "orders__items": 1}]
    assert wh.row_counts() == {"orders": 3, "orders__items": 4}
    closed = wh.query(f"SELECT title, _tf_valid_to FROM orders__items WHERE NOT {CURRENT} ORDER BY 1").rows()
    assert closed == [("mug", summary.started_at), ("tea", summary.started_at)]
    current = wh.query(f"SELECT title FROM orders__items WHERE {CURRENT} ORDER BY 1")["title"].to_list()
    assert current == ["jar", "mug"]
    # The merge load's rows are current versions valid since always.
    since_always = wh.query(f"SELECT title FROM orders__items WHERE _tf_valid_from IS NULL AND {CURRENT}")
    assert since_always["title"].to_list() == ["jar"]


def test_scd2_needs_a_key_and_close_missing_needs_scd2(wh):
    with pytest.raises(WarehouseError, match="scd2 load of shop/orders needs a primary_key"):
        wh.begin_load("shop", "orders", "scd2")
    with pytest.raises(WarehouseError, match="scd2_close_missing needs write mode 'scd2'"):
        wh.begin_load("shop", "orders", "merge", ["id"], scd2_close_missing=True)
    handle = wh.begin_load("shop", "orders", "scd2", ["id"])
    with pytest.raises(WarehouseError, match=r"key column 'id' is null in 1 rows"):
        wh.write_batch(
            handle, {"orders": orders([(1, "a", 1)]).with_columns(pl.lit(None, pl.Int64).alias("id"))}
        )
    source = tl.sources.Source("s", [FramesResource("things", [pl.DataFrame({"a": [1]})])])
    with pytest.raises(ConfigError, match="things: scd2 needs a primary_key"):
        tl.pipeline("p", source, wh).run(write_mode="scd2")


@dataclasses.dataclass
class FramesResource:
    """A resource of frames in memory, one batch each."""

    name: str
    frames: list[pl.DataFrame]
    primary_key: list[str] = dataclasses.field(default_factory=list)
    write_mode: str | None = None
    rules: None = None
    schema_contract: str | None = None

    def open(self, state):
        return iter([{"tables": {self.name: f}, "records": f.height, "state": None} for f in self.frames])


def test_pipeline_scd2_keeps_every_version_of_edited_orders(any_warehouse):
    wh = any_warehouse
    with tl.demo_shop(orders=300) as shop:
        p = tl.pipeline("shop", shop.source(resources=["orders"]), wh)
        first = p.run(write_mode="scd2")
        counts = wh.row_counts()
        assert counts["orders"] == 300 and first.row_counts == counts
        edited = shop.edit_orders(7)
        again = p.run(write_mode="scd2")
    # The incremental rerun fetches the edited orders and the one at the stored cursor; only the
    # edited ones changed.
    assert again.row_counts["orders"] == 7
    assert wh.row_counts()["orders"] == 307
    changed = wh.query(f"SELECT id FROM orders WHERE {CURRENT} AND financial_status = 'refunded' ORDER BY id")
    assert sorted(edited) == [i for i in changed["id"].to_list() if i in edited]
    per_key = wh.query("SELECT id, count(*) AS n FROM orders GROUP BY id HAVING count(*) > 1 ORDER BY id")
    assert per_key["id"].to_list() == sorted(edited) and set(per_key["n"].to_list()) == {2}
    assert wh.query(f"SELECT count(*) FROM orders WHERE {CURRENT}").item() == 300
    items_now = wh.query(f"SELECT count(*) FROM orders__line_items WHERE {CURRENT}").item()
    items_per_order = wh.query(
        f'SELECT count(*) FROM orders__line_items i JOIN orders o ON i."_tf_parent_id" = o."_tf_id" '
        f'AND i."_tf_valid_from" = o."_tf_valid_from" WHERE o.{CURRENT}'
    ).item()
    assert items_now == items_per_order == counts["orders__line_items"]
