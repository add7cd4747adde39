"""Database sources on the real local PostgreSQL and MariaDB: every common
type loads exactly, incremental runs bring exactly the changed rows, a run
stopped between batches resumes with every row once, partitioned reads equal
plain ones, and bad input gets errors that name what was wrong."""

from __future__ import annotations

import datetime as dt
import math
import socket
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from support.databases import Db
from tillflow.warehouse import DuckDBWarehouse

pytestmark = pytest.mark.services

UTC = dt.timezone.utc


def rows(wh: DuckDBWarehouse, table: str, order: str = "1") -> list[dict[str, Any]]:
    quoted = tl.warehouse.quote_identifier(table)
    return wh.query(f"SELECT * EXCLUDE (_tf_load_id) FROM {quoted} ORDER BY {order}").to_dicts()


def column_types(wh: DuckDBWarehouse, table: str) -> dict[str, str]:
    frame = wh.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "AND column_name <> '_tf_load_id' ORDER BY ordinal_position",
        [table],
    )
    # polars holds times of day in nanoseconds, which recent DuckDB keeps as TIME_NS
    types = [t.replace("TIME_NS", "TIME") for t in frame["data_type"]]
    return dict(zip(frame["column_name"], types, strict=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- types


def test_postgres_types_round_trip(pg: Db, warehouse: DuckDBWarehouse) -> None:
    pg.run(f"CREATE TYPE {pg.q(pg.schema)}.mood AS ENUM ('sad', 'happy')")
    pg.run(f"CREATE DOMAIN {pg.q(pg.schema)}.cents AS numeric(8,2) CHECK (VALUE >= 0)")
    pg.run(f"CREATE DOMAIN {pg.q(pg.schema)}.small AS int2")
    pg.run(f"""CREATE TABLE {pg.ref("every type")} (
        id int PRIMARY KEY, i2 int2, i8 int8, num numeric(12,2), num_wide numeric(38,0),
        num_fine numeric(20,15), num_free numeric, num_huge numeric(60,5), f4 real, f8 double precision,
        b bool, t text, vc varchar(10), ch char(3), d date, tm time, ts timestamp, tstz timestamptz,
        js json, jb jsonb, u uuid, bin bytea, iv interval, ints int4[], texts text[],
        mood {pg.q(pg.schema)}.mood, ip inet, ttz timetz, {pg.q('we"ird col ✓')} text,
        price {pg.q(pg.schema)}.cents, qty {pg.q(pg.schema)}.small)""")
    hostile = 'it\'s a "quote", a back\\slash,\nnewline, ünïcödé ✓ 😀'
    pg.run(
        f"INSERT INTO {pg.ref('every type')} VALUES (1, 32767, -9223372036854775808, 9999999999.99, "
        "99999999999999999999999999999999999999, 12345.123456789012345, "
        "123456789012345678901234567890.123456789, "
        "1234567890123456789012345678901234567890123456789012345.12345, "
        "'NaN', '-Infinity', true, %s, 'ab', 'ab', '2024-02-29', '23:59:59.999999', "
        "'1970-01-01 00:00:00.000001', '2024-06-30 23:59:59.999999+05:30', '{\"a\": [1, 2.50]}', "
        "'{\"b\": 12345678901234567890}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', "
        "'1 day 02:03:04', '{1,NULL,-3}', '{\"x y\",NULL}', 'happy', '10.1.2.3/8', '10:00:00+02', %s, "
        "123456.78, 7)",
        [(hostile, hostile)],
    )
    pg.run(f"INSERT INTO {pg.ref('every type')} (id, i2, f8) VALUES (2, -32768, 'NaN'), (3, 0, 1e308)")
    run = tl.pipeline("types", pg.source("every type"), warehouse).run()
    assert run.row_counts == {"every type": 3}

    assert column_types(warehouse, "every type") == {
        "id": "INTEGER", "i2": "SMALLINT", "i8": "BIGINT", "num": "DECIMAL(12,2)",
        "num_wide": "DECIMAL(38,0)", "num_fine": "DECIMAL(20,15)", "num_free": "VARCHAR",
        "num_huge": "VARCHAR", "f4": "FLOAT", "f8": "DOUBLE", "b": "BOOLEAN", "t": "VARCHAR",
        "vc": "VARCHAR", "ch": "VARCHAR", "d": "DATE", "tm": "TIME", "ts": "TIMESTAMP",
        "tstz": "TIMESTAMP WITH TIME ZONE", "js": "VARCHAR", "jb": "VARCHAR", "u": "VARCHAR",
        "bin": "BLOB", "iv": "VARCHAR", "ints": "INTEGER[]", "texts": "VARCHAR[]", "mood": "VARCHAR",
        "ip": "VARCHAR", "ttz": "VARCHAR", 'we"ird col ✓': "VARCHAR", "price": "DECIMAL(8,2)",
        "qty": "SMALLINT",
    }  # fmt: skip
    first, second, third = rows(warehouse, "every type", "id")
    assert math.isnan(first.pop("f4"))
    assert first == {
        "id": 1, "i2": 32767, "i8": -9223372036854775808, "num": Decimal("9999999999.99"),
        "num_wide": Decimal("9" * 38), "num_fine": Decimal("12345.123456789012345"),
        "num_free": "123456789012345678901234567890.123456789",
        "num_huge": "1234567890123456789012345678901234567890123456789012345.12345",
        "f8": float("-inf"), "b": True, "t": hostile, "vc": "ab", "ch": "ab ",
        "d": dt.date(2024, 2, 29), "tm": dt.time(23, 59, 59, 999999),
        "ts": dt.datetime(1970, 1, 1, 0, 0, 0, 1),
        "tstz": dt.datetime(2024, 6, 30, 18, 29, 59, 999999, tzinfo=UTC),
        "js": '{"a": [1, 2.50]}', "jb": '{"b": 12345678901234567890}',
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "bin": b"\x00\xff\x10", "iv": "1 day 02:03:04",
        "ints": [1, None, -3], "texts": ["x y", None], "mood": "happy", "ip": "10.1.2.3/8",
        "ttz": "10:00:00+02", 'we"ird col ✓': hostile, "price": Decimal("123456.78"), "qty": 7,
    }  # fmt: skip
    assert math.isnan(second.pop("f8")) and second.pop("i2") == -32768
    assert set(second.values()) == {None, 2}
    assert third["f8"] == 1e308 and third["i2"] == 0


def test_mariadb_types_round_trip(maria: Db, warehouse: DuckDBWarehouse) -> None:
    table = maria.name("every type")
    maria.run(f"""CREATE TABLE {maria.ref("every type")} (
        id bigint unsigned PRIMARY KEY, flag boolean, i1 tinyint, u1 tinyint unsigned, i2 smallint,
        i3 mediumint unsigned, i4 int, i8 bigint, num decimal(12,2), num_wide decimal(38,0),
        num_fine decimal(20,12), num_huge decimal(65,30), f4 float, f8 double, s varchar(80), ch char(3),
        txt longtext, dtm datetime(6), tsz timestamp(6) NULL, d date, tm time(6), y year, js json,
        e enum('a','b c'), st set('x','y'), bl blob, vb varbinary(8), bits bit(3), u uuid, g point,
        {maria.q("we`ird col ✓")} text)""")
    hostile = 'it\'s a "quote", a back\\slash,\nnewline, ünïcödé ✓ 😀'
    maria.run(
        f"INSERT INTO {maria.ref('every type')} VALUES (18446744073709551615, true, -128, 255, -32768, "
        "16777215, -2147483648, -9223372036854775808, 9999999999.99, 99999999999999999999999999999999999999, "
        "12345678.123456789012, 12345678901234567890123456789012345.123456789012345678901234567890, "
        "1.5, 1e308, %s, 'ab', %s, '2024-01-01 12:34:56.123456', '2038-01-19 03:14:07.999999', "
        "'2024-02-29', '23:59:59.999999', 2024, '{\"a\": [1, 2.50]}', 'b c', 'x,y', x'00ff', x'01', b'101', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ST_GeomFromText('POINT(1 2)'), %s)",
        [(hostile, hostile, hostile)],
    )
    maria.run(f"INSERT INTO {maria.ref('every type')} (id, flag) VALUES (0, false), (1, NULL)")
    run = tl.pipeline("types", maria.source("every type"), warehouse).run()
    assert run.row_counts == {table: 3}

    assert column_types(warehouse, table) == {
        "id": "UBIGINT", "flag": "BOOLEAN", "i1": "TINYINT", "u1": "UTINYINT", "i2": "SMALLINT",
        "i3": "UINTEGER", "i4": "INTEGER", "i8": "BIGINT", "num": "DECIMAL(12,2)",
        "num_wide": "DECIMAL(38,0)", "num_fine": "DECIMAL(20,12)", "num_huge": "VARCHAR", "f4": "FLOAT",
        "f8": "DOUBLE", "s": "VARCHAR", "ch": "VARCHAR", "txt": "VARCHAR", "dtm": "TIMESTAMP",
        "tsz": "TIMESTAMP WITH TIME ZONE", "d": "DATE", "tm": "TIME", "y": "SMALLINT", "js": "VARCHAR",
        "e": "VARCHAR", "st": "VARCHAR", "bl": "BLOB", "vb": "BLOB", "bits": "UBIGINT", "u": "VARCHAR",
        "g": "VARCHAR", "we`ird col ✓": "VARCHAR",
    }  # fmt: skip
    zero, one, full = rows(warehouse, table, "id")
    assert zero["flag"] is False and one["flag"] is None
    assert {k: v for k, v in one.items() if k != "id"} == dict.fromkeys(one.keys() - {"id"})
    assert full == {
        "id": 18446744073709551615, "flag": True, "i1": -128, "u1": 255, "i2": -32768, "i3": 16777215,
        "i4": -2147483648, "i8": -9223372036854775808, "num": Decimal("9999999999.99"),
        "num_wide": Decimal("9" * 38), "num_fine": Decimal("12345678.123456789012"),
        "num_huge": "12345678901234567890123456789012345.123456789012345678901234567890",
        "f4": 1.5, "f8": 1e308, "s": hostile, "ch": "ab", "txt": hostile,
        "dtm": dt.datetime(2024, 1, 1, 12, 34, 56, 123456),
        "tsz": dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
        "d": dt.date(2024, 2, 29), "tm": dt.time(23, 59, 59, 999999), "y": 2024,
        "js": '{"a": [1, 2.50]}', "e": "b c", "st": "x,y", "bl": b"\x00\xff", "vb": b"\x01", "bits": 5,
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "g": "POINT(1 2)", "we`ird col ✓": hostile,
    }  # fmt: skip


def test_values_that_do_not_fit_name_the_column(pg: Db, maria: Db, warehouse: DuckDBWarehouse) -> None:
    pg.run(f"CREATE TABLE {pg.ref('prices')} (id int PRIMARY KEY, price numeric(10,2))")
    pg.run(f"INSERT INTO {pg.ref('prices')} VALUES (1, 1.50), (2, 'NaN')")
    with pytest.raises(tl.SourceError, match=r"column 'price' \(numeric\(10,2\)\).*\['NaN'\] do not fit"):
        tl.pipeline("nan", pg.source("prices"), warehouse).run()
    maria.run(f"CREATE TABLE {maria.ref('spans')} (id int PRIMARY KEY, span time, flag boolean)")
    maria.run(f"INSERT INTO {maria.ref('spans')} VALUES (1, '-838:59:59', 1)")
    with pytest.raises(tl.SourceError, match=r"column 'span' \(time\).*'-838:59:59'"):
        tl.pipeline("span", maria.source("spans"), warehouse).run()
    maria.run(f"UPDATE {maria.ref('spans')} SET span = '01:00:00', flag = 2")
    with pytest.raises(tl.SourceError, match=r"column 'flag' \(tinyint\(1\)\).*other than 0 and 1: \[2\]"):
        tl.pipeline("flag", maria.source("spans"), warehouse).run()


# -- full loads


def test_full_load_replaces_and_an_empty_table_keeps_its_columns(db: Db, warehouse: DuckDBWarehouse) -> None:
    db.run(f"CREATE TABLE {db.ref('items')} (id int PRIMARY KEY, label varchar(20))")
    db.run(f"CREATE TABLE {db.ref('nothing')} (id int PRIMARY KEY, amount decimal(8,3))")
    db.run(f"INSERT INTO {db.ref('items')} VALUES (%s, %s)", [(i, f"item {i}") for i in range(25)])
    source = db.source("items", "nothing", batch_size=10)
    assert [r.write_mode for r in source.resources] == ["replace", "replace"]
    first = tl.pipeline("full", source, warehouse).run()
    assert first.row_counts == {db.name("items"): 25, db.name("nothing"): 0}
    assert column_types(warehouse, db.name("nothing")) == {"id": "INTEGER", "amount": "DECIMAL(8,3)"}
    db.run(f"DELETE FROM {db.ref('items')} WHERE id >= 5")
    db.run(f"UPDATE {db.ref('items')} SET label = 'renamed' WHERE id = 0")
    second = tl.pipeline("full", source, warehouse).run()
    assert second.row_counts == {db.name("items"): 5, db.name("nothing"): 0}
    assert rows(warehouse, db.name("items"), "id") == [{"id": 0, "label": "renamed"}] + [
        {"id": i, "label": f"item {i}"} for i in range(1, 5)
    ]


def test_partitioned_read_equals_plain_read(db: Db, tmp_path: Path) -> None:
    db.run(
        f"CREATE TABLE {db.ref('facts')} (id bigint PRIMARY KEY, grp int, amount decimal(12,4), note text)"
    )
    data = [
        (i * 7 - 3000, None if i % 13 == 0 else (i % 97) - 40, Decimal(i) / 8, f"n{i} ✓" if i % 5 else None)
        for i in range(1500)
    ]
    db.run(f"INSERT INTO {db.ref('facts')} VALUES (%s, %s, %s, %s)", data)
    frames = []
    for i, options in enumerate([{}, {"partitions": 3}, {"partitions": 4, "partition_on": "grp"}]):
        with tl.warehouse.duckdb(str(tmp_path / f"wh{i}.duckdb")) as wh:
            run = tl.pipeline("facts", db.source("facts", batch_size=200, **options), wh).run()
            assert run.row_counts == {db.name("facts"): 1500}
            frames.append(wh.query(f'SELECT * EXCLUDE (_tf_load_id) FROM "{db.name("facts")}" ORDER BY id'))
    assert frames[0].equals(frames[1]) and frames[0].equals(frames[2])
    assert frames[0]["grp"].null_count() == len([d for d in data if d[1] is None]) > 0
    assert frames[0]["id"].to_list() == sorted(d[0] for d in data)


def test_partitions_need_an_integer_column(db: Db) -> None:
    db.run(f"CREATE TABLE {db.ref('keyed')} (code varchar(10) PRIMARY KEY, n int)")
    with pytest.raises(tl.ConfigError, match="no single-column integer primary key; pass partition_on="):
        db.source("keyed", partitions=2)
    with pytest.raises(tl.ConfigError, match="column 'code' is (varchar|character varying)"):
        db.source("keyed", partitions=2, partition_on="code")
    assert db.source("keyed", partitions=2, partition_on="n").resources[0].partitions == 2


def test_every_table_of_a_schema(db: Db, unique_name: str, warehouse: DuckDBWarehouse) -> None:
    if db.is_pg:
        schema = db.schema
        db.run(f"CREATE TABLE {db.ref('a')} (id int PRIMARY KEY)")
        db.run(f"CREATE TABLE {db.ref('b b')} (x text)")
        db.run(f"CREATE VIEW {db.ref('v')} AS SELECT 1 AS one")
    else:
        schema = unique_name
        db.run(f"CREATE DATABASE {db.q(schema)}")
        db.run(f"CREATE TABLE {db.q(schema)}.a (id int PRIMARY KEY)")
        db.run(f"CREATE TABLE {db.q(schema)}.`b b` (x text)")
        db.run(f"CREATE VIEW {db.q(schema)}.v AS SELECT 1 AS one")
    try:
        source = tl.sources.sql_database(db.url, schema=schema, name="everything")
        assert [r.name for r in source.resources] == ["a", "b b"]  # views only when named
        assert source.name == "everything"
        assert [r.primary_key for r in source.resources] == [["id"], []]
        assert [r.write_mode for r in source.resources] == ["replace", "replace"]
        view = tl.sources.sql_database(db.url, schema=schema, tables=["v"])
        assert tl.pipeline("view", view, warehouse).run().row_counts == {"v": 1}
    finally:
        if not db.is_pg:
            db.run(f"DROP DATABASE {db.q(schema)}")


# -- incremental


def orders_table(db: Db, n: int = 50) -> list[tuple[Any, ...]]:
    db.run(f"CREATE TABLE {db.ref('orders')} (id int PRIMARY KEY, updated_at {db.stamp} NOT NULL, note text)")
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    data = [(i, base + dt.timedelta(minutes=i // 5, microseconds=i % 3), f"order {i}") for i in range(n)]
    db.run(f"INSERT INTO {db.ref('orders')} VALUES (%s, %s, %s)", [_naive(db, r) for r in data])
    return data


def _naive(db: Db, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """MariaDB's DATETIME holds wall times: give it the UTC wall time."""
    return (
        row if db.is_pg else tuple(v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v for v in row)
    )


def test_incremental_brings_exactly_the_changed_rows(db: Db, warehouse: DuckDBWarehouse) -> None:
    data = orders_table(db)
    source = db.source("orders", cursor="updated_at", batch_size=7)
    resource = source.resources[0]
    assert (resource.primary_key, resource.write_mode) == (["id"], "merge")
    table = db.name("orders")
    first = tl.pipeline("inc", source, warehouse).run()
    assert first.row_counts == {table: 50}
    last = max(data, key=lambda r: (r[1], r[0]))
    assert warehouse.get_state("inc", table) == {"cursor": _state_stamp(db, last[1]), "key": [last[0]]}

    assert tl.pipeline("inc", source, warehouse).run().row_counts == {}

    later = dt.datetime(2024, 2, 1, tzinfo=UTC)
    db.run(
        f"UPDATE {db.ref('orders')} SET updated_at = %s, note = %s WHERE id = %s",
        [_naive(db, (later, f"changed {i}", i)) for i in (3, 17, 42)],
    )
    db.run(
        f"INSERT INTO {db.ref('orders')} VALUES (%s, %s, %s)",
        [_naive(db, (i, later, f"new {i}")) for i in range(50, 54)],
    )
    second = tl.pipeline("inc", source, warehouse).run()
    assert second.row_counts == {table: 7}
    loaded = rows(warehouse, table, "id")
    assert [r["id"] for r in loaded] == list(range(54))
    assert {r["id"]: r["note"] for r in loaded if not r["note"].startswith("order")} == {
        3: "changed 3",
        17: "changed 17",
        42: "changed 42",
        50: "new 50",
        51: "new 51",
        52: "new 52",
        53: "new 53",
    }
    assert warehouse.get_state("inc", table) == {"cursor": _state_stamp(db, later), "key": [53]}


def test_a_table_prefix_renames_the_warehouse_table_and_its_state(db: Db, warehouse: DuckDBWarehouse) -> None:
    orders_table(db, 12)
    source = db.source("orders", cursor="updated_at", batch_size=5).with_table_prefix("app_")
    table = "app_" + db.name("orders")
    [resource] = source.resources
    assert resource.name == table and resource.catalog.name == db.name("orders")
    assert tl.pipeline("inc", source, warehouse).run().row_counts == {table: 12}
    assert warehouse.get_state("inc", table)["key"] == [11]
    assert db.name("orders") not in warehouse.tables()
    later = dt.datetime(2024, 2, 1, tzinfo=UTC)
    db.run(f"INSERT INTO {db.ref('orders')} VALUES (%s, %s, %s)", [_naive(db, (12, later, "new"))])
    assert tl.pipeline("inc", source, warehouse).run().row_counts == {table: 1}
    assert warehouse.row_counts()[table] == 13
    with pytest.raises(tl.ConfigError, match=r"\.table: must be a non-empty name"):
        resource.renamed("")


def _state_stamp(db: Db, stamp: dt.datetime) -> str:
    return stamp.isoformat() if db.is_pg else stamp.replace(tzinfo=None).isoformat()


class FailingWarehouse(DuckDBWarehouse):
    """A warehouse whose n-th batch write fails (nothing of that batch commits)."""

    def __init__(self, path: str, fail_at: int) -> None:
        super().__init__(path)
        self.fail_at, self.calls = fail_at, 0

    def write_batch(self, load: Any, tables: Any, state: Any = None, **kwargs: Any) -> dict[str, int]:
        self.calls += 1
        if self.calls == self.fail_at:
            raise tl.WarehouseError("injected failure")
        return super().write_batch(load, tables, state, **kwargs)


def test_resume_after_a_failed_batch_loads_every_row_once(db: Db, tmp_path: Path) -> None:
    data = orders_table(db)
    order = sorted(data, key=lambda r: (r[1], r[0]))
    source = db.source("orders", cursor="updated_at", batch_size=7, write_mode="append")
    table, path = db.name("orders"), str(tmp_path / "wh.duckdb")
    with FailingWarehouse(path, fail_at=4) as wh, pytest.raises(tl.WarehouseError, match="injected"):
        tl.pipeline("crash", source, wh).run()
    with tl.warehouse.duckdb(path) as wh:
        # Three batches committed, each with the state of its own last row.
        assert sorted(r["id"] for r in rows(wh, table)) == sorted(r[0] for r in order[:21])
        assert wh.get_state("crash", table) == {
            "cursor": _state_stamp(db, order[20][1]),
            "key": [order[20][0]],
        }
        assert wh.loads()["status"].to_list() == ["failed"]
        rerun = tl.pipeline("crash", source, wh).run()
        assert rerun.row_counts == {table: 29}
        ids = [r["id"] for r in rows(wh, table, "id")]
    assert ids == list(range(50))  # append mode: a duplicate would show here


def test_resume_after_the_process_is_killed_between_batches(db: Db, tmp_path: Path) -> None:
    data = orders_table(db)
    order = sorted(data, key=lambda r: (r[1], r[0]))
    table, path = db.name("orders"), str(tmp_path / "wh.duckdb")
    child = textwrap.dedent(f"""
        import os, signal
        import tillflow as tl
        from tillflow.warehouse import DuckDBWarehouse

        class Dying(DuckDBWarehouse):
            writes = 0
            def write_batch(self, *args, **kwargs):
                out = super().write_batch(*args, **kwargs)
                self.writes += 1
                if self.writes == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
                return out

        source = tl.sources.sql_database(
            {db.url!r}, schema={db.schema!r}, tables=[{table!r}], cursor="updated_at", batch_size=9,
            write_mode="append",
        )
        tl.pipeline("killed", source, Dying({path!r})).run()
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    with tl.warehouse.duckdb(path) as wh:
        assert sorted(r["id"] for r in rows(wh, table)) == sorted(r[0] for r in order[:18])
        assert wh.get_state("killed", table) == {
            "cursor": _state_stamp(db, order[17][1]),
            "key": [order[17][0]],
        }
        source = db.source("orders", cursor="updated_at", batch_size=9, write_mode="append")
        assert tl.pipeline("killed", source, wh).run().row_counts == {table: 32}
        assert [r["id"] for r in rows(wh, table, "id")] == list(range(50))


@pytest.mark.parametrize(
    "kind",
    ["bigint", "decimal(30,12)", "date", "naive", "zoned", "text"],
)
def test_cursor_types_keep_exact_state(db: Db, warehouse: DuckDBWarehouse, kind: str) -> None:
    sql_type, values, moved = _cursor_case(db, kind)
    db.run(f"CREATE TABLE {db.ref('c')} (id int PRIMARY KEY, cur {sql_type} NOT NULL)")
    db.run(f"INSERT INTO {db.ref('c')} VALUES (%s, %s)", list(enumerate(values)))
    source = db.source("c", cursor="cur", batch_size=4)
    table = db.name("c")
    assert tl.pipeline("kinds", source, warehouse).run().row_counts == {table: len(values)}
    assert tl.pipeline("kinds", source, warehouse).run().row_counts == {}
    db.run(f"UPDATE {db.ref('c')} SET cur = %s WHERE id = %s", [(moved, 2), (moved, 5)])
    db.run(f"INSERT INTO {db.ref('c')} VALUES (%s, %s)", [(len(values), moved)])
    assert tl.pipeline("kinds", source, warehouse).run().row_counts == {table: 3}
    state = warehouse.get_state("kinds", table)
    assert state is not None and state["key"] == [len(values)]
    loaded = {r["id"]: r["cur"] for r in rows(warehouse, table)}
    assert len(loaded) == len(values) + 1 and loaded[2] == loaded[5] == loaded[len(values)]
    assert state["cursor"] == _expected_state(kind, loaded[2])


def _cursor_case(db: Db, kind: str) -> tuple[str, list[Any], Any]:
    huge = 2**62
    stamps = [
        dt.datetime(2024, 3, 31, 1, 59, 59, 999999) + dt.timedelta(microseconds=i // 3) for i in range(10)
    ]
    cases: dict[str, tuple[str, list[Any], Any]] = {
        "bigint": ("bigint", [huge + i // 2 for i in range(10)], huge + 10**6 + 1),
        "decimal(30,12)": (
            "decimal(30,12)",
            [Decimal("123456789012345678.000000000001") * (i // 2 + 1) for i in range(10)],
            Decimal("999999999999999999.999999999999"),
        ),
        "date": (
            "date",
            [dt.date(2024, 2, 28) + dt.timedelta(days=i // 3) for i in range(10)],
            dt.date(2030, 1, 1),
        ),
        "naive": ("timestamp(6)" if db.is_pg else "datetime(6)", stamps, dt.datetime(2031, 1, 1, 0, 0, 0, 1)),
        "zoned": (
            "timestamptz" if db.is_pg else "timestamp(6)",
            [s.replace(tzinfo=UTC) if db.is_pg else s for s in stamps],
            dt.datetime(2031, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
            if db.is_pg
            else dt.datetime(2031, 1, 1, 0, 0, 0, 1),
        ),
        "text": ("varchar(40)", [f"k{i // 2}'\\\"✓" for i in range(10)], "zz'top\\"),
    }
    return cases[kind]


def _expected_state(kind: str, value: Any) -> Any:
    if kind == "bigint":
        return value
    if kind == "decimal(30,12)":
        return format(value, "f")
    if kind == "zoned":
        return value.astimezone(UTC).isoformat()
    if kind == "text":
        return value
    return value.isoformat()


def test_hostile_names_and_a_composite_text_key(db: Db, warehouse: DuckDBWarehouse) -> None:
    name = "we\"ird ta`ble 'x' ✓"
    cur, key, num = 'up`dated "at"', "k'ey \\ ✓", 'n"o'
    db.run(
        f"CREATE TABLE {db.ref(name)} ({db.q(key)} varchar(30), {db.q(num)} int, {db.q(cur)} int NOT NULL, "
        f"v text, PRIMARY KEY ({db.q(key)}, {db.q(num)}))"
    )
    keys = ["a", "a'b", "a\\b", 'a"b', "é", "😀", "x y", "'; DROP TABLE x; --"]
    data = [(k, n, n % 2, f"{k}/{n}") for k in keys for n in range(3)]
    db.run(f"INSERT INTO {db.ref(name)} VALUES (%s, %s, %s, %s)", data)
    source = db.source(name, cursor=cur, batch_size=5)
    assert source.resources[0].primary_key == [key, num]
    table = db.name(name)
    assert tl.pipeline("hostile", source, warehouse).run().row_counts == {table: len(data)}
    db.run(f"UPDATE {db.ref(name)} SET {db.q(cur)} = 7, v = 'moved' WHERE {db.q(num)} = 1")
    assert tl.pipeline("hostile", source, warehouse).run().row_counts == {table: len(keys)}
    loaded = rows(warehouse, table)
    assert len(loaded) == len(data)
    assert sorted((r[key], r[num], r["v"]) for r in loaded) == sorted(
        (k, n, "moved" if n == 1 else v) for k, n, _, v in data
    )


def test_a_table_without_key_pages_whole_cursor_values(db: Db, warehouse: DuckDBWarehouse) -> None:
    db.run(f"CREATE TABLE {db.ref('events')} (seq int NOT NULL, what text)")
    data = (
        [(1, f"a{i}") for i in range(30)]
        + [(2, f"b{i}") for i in range(5)]
        + [(3, f"c{i}") for i in range(12)]
    )
    db.run(f"INSERT INTO {db.ref('events')} VALUES (%s, %s)", data)
    source = db.source("events", cursor="seq", batch_size=10)
    assert (source.resources[0].primary_key, source.resources[0].write_mode) == ([], "append")
    table = db.name("events")
    assert tl.pipeline("ties", source, warehouse).run().row_counts == {table: 47}
    assert warehouse.get_state("ties", table) == {"cursor": 3, "key": []}
    assert tl.pipeline("ties", source, warehouse).run().row_counts == {}
    db.run(f"INSERT INTO {db.ref('events')} VALUES (4, 'd0'), (4, 'd1')")
    assert tl.pipeline("ties", source, warehouse).run().row_counts == {table: 2}
    assert sorted(r["what"] for r in rows(warehouse, table)) == sorted([w for _, w in data] + ["d0", "d1"])


def test_initial_value_and_an_empty_first_run(db: Db, warehouse: DuckDBWarehouse) -> None:
    db.run(
        f"CREATE TABLE {db.ref('later')} (id int PRIMARY KEY, at {db.stamp} NOT NULL, amount decimal(6,2))"
    )
    source = db.source("later", cursor="at", initial=_naive(db, (dt.datetime(2024, 5, 1, tzinfo=UTC),))[0])
    table = db.name("later")
    assert tl.pipeline("init", source, warehouse).run().row_counts == {table: 0}
    assert column_types(warehouse, table)["amount"] == "DECIMAL(6,2)"
    assert warehouse.get_state("init", table) is None
    stamps = [dt.datetime(2024, 4, 30, 23, 59, 59, 999999, tzinfo=UTC), dt.datetime(2024, 5, 1, tzinfo=UTC)]
    db.run(
        f"INSERT INTO {db.ref('later')} VALUES (%s, %s, 1.25)",
        [_naive(db, (i, s)) for i, s in enumerate(stamps)],
    )
    assert tl.pipeline("init", source, warehouse).run().row_counts == {table: 1}
    assert [r["id"] for r in rows(warehouse, table)] == [1]


def test_null_cursors_stop_the_load_or_load_on_the_first_run(db: Db, warehouse: DuckDBWarehouse) -> None:
    db.run(f"CREATE TABLE {db.ref('nullable')} (id int PRIMARY KEY, at {db.stamp} NULL)")
    stamp = dt.datetime(2024, 1, 1, tzinfo=UTC)
    db.run(
        f"INSERT INTO {db.ref('nullable')} VALUES (%s, %s)",
        [_naive(db, (i, None if i % 3 == 0 else stamp)) for i in range(10)],
    )
    table = db.name("nullable")
    with pytest.raises(tl.SourceError, match=rf"{table}: 4 rows have NULL in the cursor column 'at'"):
        tl.pipeline("nulls", db.source("nullable", cursor="at"), warehouse).run()
    source = db.source("nullable", cursor="at", null_cursor="first_run", batch_size=3)
    assert tl.pipeline("nulls", source, warehouse).run().row_counts == {table: 10}
    db.run(
        f"INSERT INTO {db.ref('nullable')} VALUES (%s, %s)", [_naive(db, (10, None)), _naive(db, (11, stamp))]
    )
    assert tl.pipeline("nulls", source, warehouse).run().row_counts == {table: 1}
    assert sorted(r["id"] for r in rows(warehouse, table)) == [*range(10), 11]


def test_a_crash_among_null_cursors_resumes_there(pg: Db, tmp_path: Path) -> None:
    pg.run(f"CREATE TABLE {pg.ref('n')} (id int PRIMARY KEY, at int NULL)")
    pg.run(f"INSERT INTO {pg.ref('n')} VALUES (%s, %s)", [(i, None if i < 7 else i) for i in range(12)])
    source = pg.source("n", cursor="at", null_cursor="first_run", batch_size=3, write_mode="append")
    path = str(tmp_path / "wh.duckdb")
    with FailingWarehouse(path, fail_at=2) as wh, pytest.raises(tl.WarehouseError):
        tl.pipeline("n", source, wh).run()
    with tl.warehouse.duckdb(path) as wh:
        assert wh.get_state("n", "n") == {"cursor": None, "key": [2]}
        assert tl.pipeline("n", source, wh).run().row_counts == {"n": 9}
        assert [r["id"] for r in rows(wh, "n", "id")] == list(range(12))


# -- errors


def test_connection_errors_are_clear_and_hide_the_password(pg: Db, maria: Db) -> None:
    port = free_port()
    for url in (
        f"postgresql://postgres:hunter2@127.0.0.1:{port}/test",
        f"mysql://root:hunter2@127.0.0.1:{port}/test",
    ):
        with pytest.raises(
            tl.SourceError, match=f"cannot connect to .*:\\*\\*\\*@127.0.0.1:{port}/test"
        ) as info:
            tl.sources.sql_database(url)
        assert "hunter2" not in str(info.value) and "refused" in str(info.value).lower()
    with pytest.raises(tl.SourceError, match="Access denied for user 'root'") as info:
        tl.sources.mysql("mysql://root:hunter2@127.0.0.1:3306/test")
    assert "hunter2" not in str(info.value)
    with pytest.raises(tl.SourceError, match='role "nobody_tf" does not exist') as info:
        tl.sources.postgres("postgresql://nobody_tf:hunter2@127.0.0.1:5432/test")
    assert "hunter2" not in str(info.value)
    with pytest.raises(tl.SourceError, match='database "no_such_db_tf" does not exist'):
        tl.sources.postgres("postgresql://postgres@127.0.0.1:5432/no_such_db_tf")
    with pytest.raises(tl.SourceError, match="Unknown database 'no_such_db_tf'"):
        tl.sources.mysql("mysql://root@127.0.0.1:3306/no_such_db_tf")


def test_config_errors_name_the_table_and_column(pg: Db, maria: Db) -> None:
    pg.run(f"CREATE TABLE {pg.ref('t')} (id int PRIMARY KEY, doc jsonb, at timestamptz)")
    pg.run(f"CREATE TABLE {pg.ref('keyless')} (x int)")
    with pytest.raises(tl.ConfigError, match=rf"schema '{pg.schema}' has no table 'missing'"):
        pg.source("missing")
    with pytest.raises(tl.ConfigError, match=r"no table 'T'; did you mean 't'\?"):
        pg.source("T")
    with pytest.raises(tl.ConfigError, match=rf"t.cursor: table {pg.schema}.t has no column 'updated_at'"):
        pg.source("t", cursor="updated_at")
    with pytest.raises(tl.ConfigError, match="column 'doc' of .* has type jsonb, which cannot order"):
        pg.source("t", cursor="doc")
    with pytest.raises(tl.ConfigError, match="keyless.write_mode: merge needs a primary key"):
        pg.source("keyless", write_mode="merge")
    with pytest.raises(tl.ConfigError, match=r"cursor: unknown tables \['nope'\]"):
        pg.source("t", cursor={"nope": "at"})
    with pytest.raises(tl.ConfigError, match="initial: 'yesterday' does not fit the cursor column 'at'"):
        pg.source("t", cursor="at", initial="yesterday")
    with pytest.raises(tl.ConfigError, match="no schema 'nope_tf'"):
        tl.sources.sql_database(pg.url, schema="nope_tf")
    with pytest.raises(tl.ConfigError, match="expected a PostgreSQL URL"):
        tl.sources.postgres(maria.url)
    with pytest.raises(tl.ConfigError, match="unsupported scheme 'sqlite'"):
        tl.sources.sql_database("sqlite:///x.db")
    maria.run(f"CREATE TABLE {maria.ref('m')} (id int PRIMARY KEY, e enum('a','b'))")
    with pytest.raises(tl.ConfigError, match=r"column 'e' .* has type enum\('a','b'\), which cannot order"):
        maria.source("m", cursor="e")


def test_a_stored_state_that_does_not_fit_is_refused(pg: Db) -> None:
    pg.run(f"CREATE TABLE {pg.ref('s')} (id int PRIMARY KEY, at timestamptz NOT NULL)")
    resource = pg.source("s", cursor="at").resources[0]
    with pytest.raises(tl.SourceError, match="does not match cursor 'at' and primary key"):
        resource.open({"cursor": "2024-01-01T00:00:00+00:00", "key": []})
    with pytest.raises(tl.SourceError, match="holds 'not a time' for column 'at'"):
        resource.open({"cursor": "not a time", "key": [1]})
    with pytest.raises(tl.SourceError, match="holds '1; DROP TABLE s' for column 'id'"):
        resource.open({"cursor": "2024-01-01T00:00:00+00:00", "key": ["1; DROP TABLE s"]})


def test_reprs_hide_the_password(pg: Db, warehouse: DuckDBWarehouse) -> None:
    pg.run(f"CREATE TABLE {pg.ref('r')} (id int PRIMARY KEY)")
    pg.run(f"INSERT INTO {pg.ref('r')} VALUES (1)")
    url = pg.url.replace("postgres@", "postgres:s3cret%2Fpw@")
    source = tl.sources.sql_database(url, schema=pg.schema)  # trust auth accepts any password
    text = repr(source.resources[0]) + repr(source) + repr(tl.pipeline("pw", source, warehouse))
    assert "s3cret" not in text and "postgres:***@127.0.0.1:5432/test" in text
    assert tl.pipeline("pw", source, warehouse).run().row_counts == {"r": 1}


def test_lookback_reads_late_commits_again_and_merges_them(db: Db, warehouse: DuckDBWarehouse) -> None:
    data = orders_table(db, n=20)
    source = db.source("orders", cursor="updated_at", batch_size=6, lookback=dt.timedelta(minutes=2))
    table = db.name("orders")
    assert tl.pipeline("late", source, warehouse).run().row_counts == {table: 20}
    # A row committed late, with a cursor value the last run had already passed.
    top = max(r[1] for r in data)
    db.run(
        f"INSERT INTO {db.ref('orders')} VALUES (%s, %s, %s)",
        [_naive(db, (99, top - dt.timedelta(minutes=1), "late"))],
    )
    second = tl.pipeline("late", source, warehouse).run()
    window = [r for r in data if r[1] >= top - dt.timedelta(minutes=2)]
    assert second.row_counts == {table: len(window) + 1}
    loaded = rows(warehouse, table, "id")
    assert [r["id"] for r in loaded] == [*range(20), 99]  # merged: read twice, stored once
    with pytest.raises(
        tl.ConfigError, match="lookback: a lookback reads rows again, so it needs write_mode='merge'"
    ):
        db.source("orders", cursor="updated_at", write_mode="append", lookback=dt.timedelta(hours=1))
    with pytest.raises(tl.ConfigError, match="lookback must be a positive datetime.timedelta, got 3600"):
        db.source("orders", cursor="updated_at", lookback=3600)
    with pytest.raises(tl.ConfigError, match="lookback must be a positive integer, got"):
        db.source("orders", cursor="id", lookback=dt.timedelta(hours=1))


def test_rules_and_schema_contracts_apply_to_database_tables(pg: Db, warehouse: DuckDBWarehouse) -> None:
    from tillflow import rules as r

    pg.run(f"CREATE TABLE {pg.ref('pay')} (id int PRIMARY KEY, amount numeric(8,2), at timestamptz NOT NULL)")
    stamp = dt.datetime(2024, 1, 1, tzinfo=UTC)
    pg.run(
        f"INSERT INTO {pg.ref('pay')} VALUES (%s, %s, %s)",
        [(i, Decimal(i) - Decimal("2.50"), stamp + dt.timedelta(seconds=i)) for i in range(10)],
    )
    rules = tl.RuleSet([r.between("amount", 0, 100, name="no_refunds")], key="id")
    source = pg.source("pay", cursor="at", batch_size=4).with_rules(pay=rules).with_schema_contract("freeze")
    resource = source.resources[0]
    assert (resource.cursor, resource.write_mode, resource.schema_contract) == ("at", "merge", "freeze")
    run = tl.pipeline("checked", source, warehouse).run()
    assert run.row_counts == {"pay": 7, "pay__quarantine": 3}
    assert warehouse.query("SELECT id FROM pay__quarantine ORDER BY id")["id"].to_list() == [0, 1, 2]
    pg.run(f"ALTER TABLE {pg.ref('pay')} ADD COLUMN note text")
    pg.run(f"UPDATE {pg.ref('pay')} SET note = 'x', at = at + interval '1 day' WHERE id = 9")
    with pytest.raises(tl.SchemaError, match="note"):  # the new column reaches the frozen table
        tl.pipeline("checked", source, warehouse).run()


def test_a_hostile_schema_name(pg: Db, warehouse: DuckDBWarehouse) -> None:
    schema = f'{pg.schema} "sch\'ema" ✓'
    pg.run(f"CREATE SCHEMA {pg.q(schema)}")
    try:
        pg.run(f"CREATE TABLE {pg.q(schema)}.items (id int PRIMARY KEY, v int NOT NULL)")
        pg.run(f"INSERT INTO {pg.q(schema)}.items SELECT g, g % 4 FROM generate_series(1, 30) g")
        source = tl.sources.postgres(pg.url, schema=schema, cursor="v", batch_size=7, partitions=2)
        assert tl.pipeline("hs", source, warehouse).run().row_counts == {"items": 30}
        full = tl.sources.postgres(pg.url, schema=schema, partitions=2, name="again")
        assert tl.pipeline("hs2", full, warehouse).run().row_counts == {"items": 30}
    finally:
        pg.run(f"DROP SCHEMA {pg.q(schema)} CASCADE")
