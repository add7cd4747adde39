"""File sources end to end: files on disk → native reader → DuckDB."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

import tillflow as tl
from tillflow.exceptions import ConfigError, SourceError


def run(source: tl.sources.Source, wh: tl.warehouse.DuckDBWarehouse, name: str = "files") -> dict[str, int]:
    return tl.pipeline(name, source, wh).run().row_counts


def rows(wh: tl.warehouse.DuckDBWarehouse, sql: str) -> list[tuple]:
    return wh.connection.execute(sql).fetchall()


def types(wh: tl.warehouse.DuckDBWarehouse, table: str) -> dict[str, str]:
    return dict(rows(wh, f"SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{table}'"))


# -- CSV


BIG = 123456789012345678901234567890  # beyond 64 bits: an exact decimal


def test_csv_types_quotes_and_values(tmp_path, warehouse):
    (tmp_path / "orders.csv").write_text(
        "id,total,created_at,day,paid,note,big\n"
        '1,12.50,2024-03-05T10:20:30Z,2024-03-05,true,"two\nlines, quoted",9223372036854775808\n'
        '2,7,2024-03-06 08:00:00,2024-03-06,false,"say ""hi""",1\n'
        "3,0.125,,2024-03-07,TRUE,,123456789012345678901234567890\n",
        encoding="utf-8",
    )
    assert run(tl.sources.files(tmp_path / "orders.csv"), warehouse) == {"orders": 3}
    t = types(warehouse, "orders")
    assert t["id"] == "BIGINT"
    assert t["total"] == "DECIMAL(38,3)"
    assert t["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert t["day"] == "DATE"
    assert t["paid"] == "BOOLEAN"
    assert t["note"] == "VARCHAR"
    assert t["big"] == "DECIMAL(38,0)"
    assert t["_tf_file"] == "VARCHAR"
    got = rows(warehouse, "SELECT id, total, day, paid, note, big, _tf_file FROM orders ORDER BY id")
    assert got == [
        (1, Decimal("12.500"), dt.date(2024, 3, 5), True, "two\nlines, quoted", Decimal(2**63), "orders.csv"),
        (2, Decimal("7.000"), dt.date(2024, 3, 6), False, 'say "hi"', Decimal(1), "orders.csv"),
        (3, Decimal("0.125"), dt.date(2024, 3, 7), True, None, Decimal(BIG), "orders.csv"),
    ]  # fmt: skip


def test_semicolon_latin1_with_accents_and_euro(tmp_path, warehouse):
    text = (
        "Produkt;Preis;Stadt;Währung;Notiz\nCrème brûlée;4,50;Zürich;€;1,5 kg\nGâteau;1.234,00;Köln;€;2,0\n"
    )
    (tmp_path / "prices.csv").write_bytes(text.encode("cp1252"))
    assert run(tl.sources.files(tmp_path / "prices.csv", decimal=","), warehouse) == {"prices": 2}
    assert types(warehouse, "prices")["Preis"] == "DECIMAL(38,2)"
    got = rows(warehouse, 'SELECT "Produkt", "Preis", "Stadt", "Währung", "Notiz" FROM prices ORDER BY 1')
    assert got == [
        ("Crème brûlée", Decimal("4.50"), "Zürich", "€", "1,5 kg"),
        ("Gâteau", Decimal("1234.00"), "Köln", "€", "2,0"),
    ]


def test_tab_with_bom_and_utf16(tmp_path, warehouse):
    (tmp_path / "a.tsv").write_bytes("\ufeffsku\tqty\nü-1\t3\n".encode())
    (tmp_path / "b.csv").write_bytes("sku,qty\nü-2,4\n".encode("utf-16"))  # with a BOM
    (tmp_path / "c.csv").write_text("sku|qty\nü-3|5\n", encoding="utf-8")
    for name in ("a.tsv", "b.csv", "c.csv"):
        run(tl.sources.files(tmp_path / name, name="items"), warehouse)
    assert rows(warehouse, "SELECT sku, qty FROM items ORDER BY sku") == [("ü-1", 3), ("ü-2", 4), ("ü-3", 5)]
    assert "\ufeffsku" not in types(warehouse, "items")


def test_headerless_csv_and_json_with_a_bom(tmp_path, warehouse):
    (tmp_path / "raw.csv").write_text("a,1\nb,2\nNA,N/A\n")
    src = tl.sources.files(tmp_path / "raw.csv", header=False, null_values=["NA", "N/A"])
    assert run(src, warehouse) == {"raw": 3}
    got = rows(warehouse, "SELECT column_1, column_2 FROM raw ORDER BY 2")
    assert got == [("a", 1), ("b", 2), (None, None)]
    (tmp_path / "one.json").write_bytes('\ufeff{"id": 7, "lines": [{"n": 1}, {"n": 2}]}'.encode())
    assert run(tl.sources.files(tmp_path / "one.json"), warehouse) == {"one": 1, "one__lines": 2}


def test_declared_encoding_and_delimiter(tmp_path, warehouse):
    (tmp_path / "x.txt").write_bytes("a:b\né:1\n".encode("latin-1"))
    src = tl.sources.files(tmp_path / "x.txt", delimiter=":", encoding="latin-1", name="x")
    assert run(src, warehouse) == {"x": 1}
    assert rows(warehouse, "SELECT a, b FROM x") == [("é", 1)]
    with pytest.raises(ConfigError, match="klingon"):
        run(tl.sources.files(tmp_path / "x.txt", encoding="klingon", name="x"), warehouse)


def test_utf8_file_with_a_stray_latin1_byte_names_line_and_field(tmp_path, warehouse):
    body = "a,b\n" + "x,1\n" * 20000 + "caf\xe9,2\n"
    (tmp_path / "mixed.csv").write_bytes(body.encode("latin-1"))
    with pytest.raises(SourceError, match=r"mixed\.csv: line 20002, field 1: not valid UTF-8"):
        run(tl.sources.files(tmp_path / "mixed.csv"), warehouse)


# -- bad rows


def test_bad_row_error_names_file_line_column_value_and_type(tmp_path, warehouse):
    lines = ["id,amount"] + [f"{i},{i}.25" for i in range(1, 6)] + ["6,lots", "7,1.00"]
    (tmp_path / "pay.csv").write_text("\n".join(lines) + "\n")
    src = tl.sources.files(tmp_path / "pay.csv", columns={"amount": "decimal(18,2)"}, batch_size=4)
    with pytest.raises(SourceError) as info:
        run(src, warehouse)
    msg = str(info.value)
    assert "pay.csv" in msg and "line 7" in msg and '"amount"' in msg and '"lots"' in msg
    assert "decimal(18,2)" in msg
    # The first batch (rows 1-4) is loaded; nothing of the failing batch is.
    assert rows(warehouse, "SELECT count(*), max(id) FROM pay") == [(4, 4)]
    assert warehouse.loads()["status"].to_list() == ["failed"]


def test_bad_rows_quarantined_with_file_line_column_and_reason(tmp_path, warehouse):
    (tmp_path / "pay.csv").write_text("id,amount\n1,10.00\n2,abc\n3,4,extra\n4,5.5\n5,1.234\n")
    src = tl.sources.files(tmp_path / "pay.csv", columns={"amount": "decimal(18,2)"}, on_bad_row="quarantine")
    assert run(src, warehouse) == {"pay": 2, "pay__quarantine": 3}
    assert rows(warehouse, "SELECT id, amount FROM pay ORDER BY id") == [
        (1, Decimal("10.00")),
        (4, Decimal("5.50")),
    ]
    q = rows(
        warehouse,
        "SELECT id, amount, _tf_extra, _tf_file, _tf_line, _tf_column, _tf_reason "
        "FROM pay__quarantine ORDER BY _tf_line",
    )
    assert q == [
        ("2", "abc", None, "pay.csv", 3, "amount", 'value "abc" is not a decimal(18,2)'),
        ("3", "4", "extra", "pay.csv", 4, None, "expected 2 fields, found 3"),
        ("5", "1.234", None, "pay.csv", 6, "amount", 'value "1.234" is not a decimal(18,2)'),
    ]


def test_inferred_types_are_committed_across_batches_and_runs(tmp_path, warehouse):
    (tmp_path / "n-1.csv").write_text("n,code\n1,A\n2,B\n")
    src = tl.sources.files(tmp_path / "n-*.csv", name="n", on_bad_row="quarantine")
    run(src, warehouse)
    # A later file: a decimal widens the int column; text does not fit it.
    (tmp_path / "n-2.csv").write_text("n,code\n2.5,C\nmany,D\n")
    assert run(src, warehouse) == {"n": 1, "n__quarantine": 1}
    assert types(warehouse, "n")["n"] == "DECIMAL(38,1)"
    assert rows(warehouse, "SELECT n, code FROM n ORDER BY code") == [
        (Decimal("1.0"), "A"), (Decimal("2.0"), "B"), (Decimal("2.5"), "C"),
    ]  # fmt: skip
    assert rows(warehouse, "SELECT n, _tf_reason FROM n__quarantine") == [
        ("many", 'value "many" is not a bigint')
    ]


# -- JSON


def test_ndjson_nested_records_split_like_api_records(tmp_path, warehouse):
    records = [
        {
            "id": 1,
            "customer": {"email": "a@x.io"},
            "line_items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
        },
        {"id": 2, "customer": {"email": "b@x.io"}, "line_items": [{"sku": "C", "qty": 5}]},
    ]
    (tmp_path / "orders.ndjson").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    src = tl.sources.files(tmp_path / "orders.ndjson", primary_key="id")
    assert run(src, warehouse) == {"orders": 2, "orders__line_items": 3}
    assert rows(warehouse, "SELECT id, customer__email, _tf_file FROM orders ORDER BY id") == [
        (1, "a@x.io", "orders.ndjson"), (2, "b@x.io", "orders.ndjson"),
    ]  # fmt: skip
    joined = rows(
        warehouse,
        "SELECT o.id, li.sku, li.qty, li.orders_id FROM orders__line_items li "
        "JOIN orders o ON li._tf_parent_id = o._tf_id ORDER BY li.sku",
    )
    assert joined == [(1, "A", 2, 1), (1, "B", 1, 1), (2, "C", 5, 2)]
    # Objects twenty levels down: flattened to max_depth (10), the rest kept as JSON text.
    deep: dict = {"leaf": [1, 2]}
    for i in range(20):
        deep = {f"k{i}": deep}
    (tmp_path / "deep.ndjson").write_text(json.dumps({"id": 1, "v": deep}) + "\n")
    assert run(tl.sources.files(tmp_path / "deep.ndjson", name="deep"), warehouse) == {"deep": 1}
    (name, kind), *_ = [(c, t) for c, t in types(warehouse, "deep").items() if c.startswith("v__")]
    assert name.count("__") == 9 and kind == "VARCHAR"
    text = rows(warehouse, f'SELECT "{name}" FROM deep')[0][0]
    assert json.loads(text) == {
        "k10": deep["k19"]["k18"]["k17"]["k16"]["k15"]["k14"]["k13"]["k12"]["k11"]["k10"]
    }


def test_json_array_and_deep_nesting(tmp_path, warehouse):
    deep: dict = {"leaf": 1}
    for i in range(14):
        deep = {f"l{i}": deep}
    data = [{"id": i, "tags": ["a", "b"][: i % 3], "deep": deep} for i in range(5)]
    (tmp_path / "things.json").write_text(json.dumps(data, indent=2))
    assert run(tl.sources.files(tmp_path / "things.json"), warehouse) == {"things": 5, "things__tags": 4}
    cols = types(warehouse, "things")
    # Past max_depth (10) the rest of the record is kept as JSON text.
    kept = [c for c in cols if c.startswith("deep__")]
    assert len(kept) == 1 and cols[kept[0]] == "VARCHAR"
    assert json.loads(rows(warehouse, f'SELECT "{kept[0]}" FROM things LIMIT 1')[0][0])


def test_bad_json_records(tmp_path, warehouse):
    (tmp_path / "e.ndjson").write_text('{"id": 1}\n{"id": \n[1, 2]\n{"id": 4}\n')
    with pytest.raises(SourceError, match=r"e\.ndjson: bad record at line 2: not valid JSON"):
        run(tl.sources.files(tmp_path / "e.ndjson"), warehouse)
    src = tl.sources.files(tmp_path / "e.ndjson", on_bad_row="quarantine", name="e2")
    assert run(src, warehouse) == {"e2": 2, "e2__quarantine": 2}
    assert rows(warehouse, "SELECT _tf_line, _tf_raw FROM e2__quarantine ORDER BY 1") == [
        (2, '{"id":'), (3, "[1, 2]"),
    ]  # fmt: skip


# -- gzip and globs


def test_gzip_variants(tmp_path, warehouse):
    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        f.write("k,v\nx,1\ny,2\n")
    with gzip.open(tmp_path / "b.ndjson.gz", "wt") as f:
        f.write('{"k": "z", "v": 3}\n')
    with gzip.open(tmp_path / "c.json.gz", "wt") as f:
        f.write('[{"k": "w", "v": 4}]')
    assert run(tl.sources.files(tmp_path / "a.csv.gz", name="kv"), warehouse) == {"kv": 2}
    assert run(tl.sources.files(tmp_path / "b.ndjson.gz", name="kv"), warehouse) == {"kv": 1}
    assert run(tl.sources.files(tmp_path / "c.json.gz", name="kv"), warehouse) == {"kv": 1}
    assert rows(warehouse, "SELECT k, v, _tf_file FROM kv ORDER BY v") == [
        ("x", 1, "a.csv.gz"), ("y", 2, "a.csv.gz"), ("z", 3, "b.ndjson.gz"), ("w", 4, "c.json.gz"),
    ]  # fmt: skip


def test_bzip2_xz_and_zstd_load_like_gzip(tmp_path, warehouse):
    import bz2
    import lzma

    import duckdb

    (tmp_path / "a.csv.bz2").write_bytes(bz2.compress(b"k,v\nx,1\n") + bz2.compress(b"y,2\n"))
    (tmp_path / "b.ndjson.xz").write_bytes(lzma.compress('{"k": "ü", "v": 3}\n'.encode()))
    duckdb.sql(f"COPY (SELECT 'w' AS k, 4 AS v) TO '{tmp_path / 'c.csv.zst'}' (HEADER, COMPRESSION zstd)")
    assert run(tl.sources.files(tmp_path / "a.csv.bz2"), warehouse) == {"a": 2}
    assert run(tl.sources.files(tmp_path / "b.ndjson.xz", name="a"), warehouse) == {"a": 1}
    assert run(tl.sources.files(tmp_path / "c.csv.zst", name="a"), warehouse) == {"a": 1}
    assert rows(warehouse, "SELECT k, v, _tf_file FROM a ORDER BY v") == [
        ("x", 1, "a.csv.bz2"), ("y", 2, "a.csv.bz2"), ("ü", 3, "b.ndjson.xz"), ("w", 4, "c.csv.zst"),
    ]  # fmt: skip
    (tmp_path / "d.parquet.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    with pytest.raises(tl.exceptions.SourceError, match="apply to CSV, NDJSON and JSON files only"):
        run(tl.sources.files(tmp_path / "d.parquet.zst"), warehouse)


def test_zip_archives_load_member_by_member(tmp_path, warehouse):
    import zipfile

    (tmp_path / "in").mkdir()
    archive = tmp_path / "in" / "exports.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("orders/2024-01.csv", "id,price\n1,1.50\n2,NA\n")
        z.writestr("orders/2024-02.csv", "id,price\n3,2.00\n")
        z.writestr("__MACOSX/orders/._2024-01.csv", "resource fork")
        z.writestr("orders/", "")
    source = tl.sources.files(archive, name="orders", primary_key="id")
    assert run(source, warehouse) == {"orders": 3}
    files = rows(warehouse, "SELECT DISTINCT _tf_file FROM orders ORDER BY 1")
    assert files == [("exports.zip/orders/2024-01.csv",), ("exports.zip/orders/2024-02.csv",)]
    assert run(source, warehouse) == {}  # unchanged members are not read again
    # One member changes: only it is read again, and its earlier rows are replaced.
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("orders/2024-01.csv", "id,price\n1,1.50\n2,NA\n")
        z.writestr("orders/2024-02.csv", "id,price\n3,2.00\n4,5.00\n")
    assert run(source, warehouse) == {"orders": 2}
    assert rows(warehouse, "SELECT count(*) FROM orders") == [(4,)]
    # A glob takes archives and plain files together.
    (tmp_path / "in" / "more.csv").write_text("id,price\n5,1.00\n")
    assert run(tl.sources.files(tmp_path / "in" / "*", name="all"), warehouse) == {"all": 5}


def test_a_broken_zip_member_is_named(tmp_path, warehouse):
    import zipfile

    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.csv", "id\n" + "\n".join(str(i) for i in range(5000)) + "\n")
    data = bytearray(archive.read_bytes())
    data[60] ^= 0xFF  # inside the compressed bytes of a.csv
    archive.write_bytes(bytes(data))
    with pytest.raises(tl.exceptions.SourceError, match=r"bad\.zip:a\.csv"):
        run(tl.sources.files(archive), warehouse)
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(tl.exceptions.SourceError, match="x.zip.*not a readable zip archive"):
        run(tl.sources.files(tmp_path / "x.zip"), warehouse)
    with zipfile.ZipFile(tmp_path / "p.zip", "w") as z:
        z.writestr("t.parquet", b"PAR1")
    with pytest.raises(tl.exceptions.SourceError, match="unzip Parquet and Excel files first"):
        run(tl.sources.files(tmp_path / "p.zip"), warehouse)


def test_common_null_markers_are_null_by_default(tmp_path, warehouse):
    import zipfile

    text = "id,price,country,note\n1,NA,NA,N/A\n2,2.50,DE,#N/A\n3,NULL,US,null\n4,n/a,FR,None\n5,NaN,,-\n"
    with zipfile.ZipFile(tmp_path / "export.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("orders.csv", text)
    assert run(tl.sources.files(tmp_path / "export.zip", name="t"), warehouse) == {"t": 5}
    got = warehouse.query("SELECT id, price, country, note FROM t ORDER BY id")
    assert got.schema["price"] == pl.Float64  # "NaN" is a double's NaN, the markers are nulls
    assert got["price"].is_null().to_list() == [True, False, True, True, False]
    assert got["price"].is_nan().to_list()[4] is True
    assert got["country"].to_list() == [None, "DE", "US", "FR", None]
    assert got["note"].to_list() == [None, None, None, "None", "-"]
    # The null count a not_null rule sees matches DuckDB reading the file with the same markers.
    (tmp_path / "orders.csv").write_text(text)
    markers = ", ".join(f"'{m}'" for m in tl.sources.DEFAULT_NULL_VALUES)
    expected = duckdb.sql(
        f"SELECT count(*) FILTER (WHERE country IS NULL) FROM read_csv('{tmp_path / 'orders.csv'}', "
        f"nullstr = [{markers}, ''], all_varchar = true)"
    ).fetchall()[0][0]
    assert warehouse.query("SELECT count(*) FROM t WHERE country IS NULL").item() == expected == 2
    # null_values=[] keeps the markers as text: Namibia stays "NA".
    assert run(tl.sources.files(tmp_path / "orders.csv", name="kept", null_values=[]), warehouse) == {
        "kept": 5
    }
    assert warehouse.query("SELECT country FROM kept WHERE id = 1").item() == "NA"


def _orders(path: Path, first: int, count: int, price: str = "1.50") -> None:
    lines = ["id,price"] + [f"{i},{price}" for i in range(first, first + count)]
    path.write_text("\n".join(lines) + "\n")


def test_glob_and_incremental_reruns(tmp_path, warehouse):
    exports = tmp_path / "exports"
    exports.mkdir()
    _orders(exports / "orders-1.csv", 1, 10)
    _orders(exports / "orders-2.csv", 11, 20)
    _orders(exports / "orders-3.csv", 31, 5)
    (exports / "customers.csv").write_text("id\n1\n")
    src = tl.sources.files(str(exports / "orders-*.csv"), batch_size=7)
    assert src.resources[0].name == "orders"
    assert run(src, warehouse) == {"orders": 35}
    first_load = rows(warehouse, "SELECT DISTINCT _tf_load_id FROM orders")[0][0]
    # Nothing new: nothing loaded.
    assert run(src, warehouse) == {}
    # One new file, one changed file (same size, new content), one touched only.
    _orders(exports / "orders-4.csv", 41, 3)
    _orders(exports / "orders-2.csv", 11, 20, price="2.50")
    os.utime(exports / "orders-3.csv", ns=(10**18, 10**18))
    assert run(src, warehouse) == {"orders": 23}
    assert rows(warehouse, "SELECT count(*), count(DISTINCT id) FROM orders") == [(38, 38)]
    by_file = rows(
        warehouse, "SELECT _tf_file, count(*), min(price), max(price) FROM orders GROUP BY 1 ORDER BY 1"
    )
    assert by_file == [
        ("orders-1.csv", 10, Decimal("1.50"), Decimal("1.50")),
        ("orders-2.csv", 20, Decimal("2.50"), Decimal("2.50")),
        ("orders-3.csv", 5, Decimal("1.50"), Decimal("1.50")),
        ("orders-4.csv", 3, Decimal("1.50"), Decimal("1.50")),
    ]
    # Unchanged files were not touched.
    untouched = rows(
        warehouse,
        "SELECT DISTINCT _tf_load_id FROM orders WHERE _tf_file IN ('orders-1.csv', 'orders-3.csv')",
    )
    assert untouched == [(first_load,)]
    state = warehouse.get_state("files", "orders")
    assert sorted(state["files"]) == ["orders-1.csv", "orders-2.csv", "orders-3.csv", "orders-4.csv"]
    assert all(e["done"] for e in state["files"].values())
    # A file leaves the folder: its entry leaves the state, its rows stay.
    (exports / "orders-1.csv").unlink()
    assert run(src, warehouse) == {}
    assert "orders-1.csv" not in warehouse.get_state("files", "orders")["files"]
    assert rows(warehouse, "SELECT count(*) FROM orders") == [(38,)]


def test_changed_file_with_primary_key_merges(tmp_path, warehouse):
    _orders(tmp_path / "o.csv", 1, 4)
    src = tl.sources.files(tmp_path / "o.csv", primary_key="id")
    run(src, warehouse)
    (tmp_path / "o.csv").write_text("id,price\n2,9.99\n5,1.00\n")
    assert run(src, warehouse) == {"o": 2}
    # The file's earlier rows are replaced by its current ones.
    assert rows(warehouse, "SELECT id, price FROM o ORDER BY id") == [
        (2, Decimal("9.99")),
        (5, Decimal("1.00")),
    ]


def test_glob_matching_nothing_loads_nothing_but_a_missing_path_fails(tmp_path, warehouse):
    assert run(tl.sources.files(str(tmp_path / "orders-*.csv")), warehouse) == {}
    with pytest.raises(SourceError, match=r"nope\.csv: no such file"):
        run(tl.sources.files(tmp_path / "nope.csv"), warehouse)
    with pytest.raises(SourceError, match="no such directory"):
        run(tl.sources.files(str(tmp_path / "missing" / "*.csv"), name="m"), warehouse)
    (tmp_path / "data.bin").write_text("x")
    with pytest.raises(SourceError, match=r"data\.bin: cannot tell the format"):
        run(tl.sources.files(tmp_path / "data.bin"), warehouse)
    with pytest.raises(ConfigError, match="format"):
        tl.sources.files(tmp_path / "data.bin", format="avro")
    with pytest.raises(ConfigError, match="on_bad_row"):
        tl.sources.files(tmp_path / "data.bin", on_bad_row="skip")
    with pytest.raises(ConfigError, match="columns.amount"):
        (tmp_path / "p.csv").write_text("amount\n1\n")
        run(tl.sources.files(tmp_path / "p.csv", columns={"amount": "money"}), warehouse)


# -- resume after a crash


_CRASHING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import tillflow as tl
    from tillflow.warehouse import DuckDBWarehouse

    db, pattern, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    real = DuckDBWarehouse.write_batch
    done = 0

    def write_batch(self, *args, **kwargs):
        global done
        out = real(self, *args, **kwargs)
        done += 1
        if done == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    DuckDBWarehouse.write_batch = write_batch
    with tl.warehouse.duckdb(db) as wh:
        tl.pipeline("files", tl.sources.files(pattern, name="orders", batch_size=4), wh).run()
    """
)


@pytest.mark.parametrize("kill_after", [1, 3, 5])
def test_resume_after_sigkill_loads_every_row_once(tmp_path, kill_after):
    _orders(tmp_path / "orders-a.csv", 1, 10)  # batches of 4, 4, 2
    _orders(tmp_path / "orders-b.csv", 11, 6)  # batches of 4, 2
    db = str(tmp_path / "wh.duckdb")
    pattern = str(tmp_path / "orders-*.csv")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHING_RUN, db, pattern, str(kill_after)], env=env, capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    with tl.warehouse.duckdb(db) as wh:
        committed = rows(wh, "SELECT count(*) FROM orders")[0][0]
        assert committed == [4, 8, 10, 14, 16][kill_after - 1]
        tl.pipeline("files", tl.sources.files(pattern, name="orders", batch_size=4), wh).run()
        assert rows(wh, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM orders") == [
            (16, 16, 1, 16)
        ]


# -- edge cases


def test_empty_header_only_and_all_null_columns(tmp_path, warehouse):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "head.csv").write_text("a,b\n")
    assert run(tl.sources.files(tmp_path / "empty.csv"), warehouse) == {}
    assert run(tl.sources.files(tmp_path / "head.csv"), warehouse) == {}
    assert warehouse.get_state("files", "head")["files"]["head.csv"]["done"] is True
    (tmp_path / "nulls.csv").write_text("id,never\n1,\n2,\n")
    assert run(tl.sources.files(tmp_path / "nulls.csv"), warehouse) == {"nulls": 2}
    # A column that has only ever been null waits for a value to get a type.
    assert "never" not in types(warehouse, "nulls")
    (tmp_path / "nulls.csv").write_text("id,never\n1,\n2,\n3,x\n")
    run(tl.sources.files(tmp_path / "nulls.csv"), warehouse)
    assert rows(warehouse, "SELECT id, never FROM nulls ORDER BY id") == [(1, None), (2, None), (3, "x")]


def test_nan_inf_and_hostile_names(tmp_path, warehouse):
    (tmp_path / "m.csv").write_text(
        'x,"we""ird col",Ünïcode 名前,,x,_tf_id,"drop table"\n'
        "1.5,a,日本,p,2,q,r\n"
        "NaN,b,c,p,3,q,r\n"
        "-inf,c,d,p,4,q,r\n"
        "1e3,d,e,p,5,q,r\n"
    )
    assert run(tl.sources.files(tmp_path / "m.csv"), warehouse) == {"m": 4}
    t = types(warehouse, "m")
    assert t["x"] == "DOUBLE"
    assert {'we"ird col', "Ünïcode 名前", "column_4", "x_2", "_tf_id_2", "drop table"} <= set(t)
    got = [r[0] for r in rows(warehouse, "SELECT x FROM m ORDER BY x_2")]
    assert got[0] == 1.5 and math.isnan(got[1]) and got[2] == -math.inf and got[3] == 1000.0
    assert rows(warehouse, 'SELECT "Ünïcode 名前" FROM m WHERE x_2 = 2') == [("日本",)]


def test_xlsx_with_dates_and_empty_cells(tmp_path, warehouse):
    import xlsxwriter

    path = tmp_path / "report.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Notes").write(0, 0, "ignore me")
    sheet = book.add_worksheet("Sales")
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp_fmt = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, ["Shop sales export"])
    sheet.write_row(2, 0, ["day", "sold_at", "qty", "price", "note"])
    data = [
        (dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, 9, 30), 3, 4.5, "first"),
        (dt.date(2024, 1, 6), None, 2, 12.25, None),
        (dt.date(2024, 1, 7), dt.datetime(2024, 1, 7, 18, 0), None, 3.0, "last"),
    ]
    for r, (day, sold, qty, price, note) in enumerate(data, start=3):
        sheet.write_datetime(r, 0, dt.datetime.combine(day, dt.time()), date_fmt)
        if sold is not None:
            sheet.write_datetime(r, 1, sold, stamp_fmt)
        if qty is not None:
            sheet.write_number(r, 2, qty)
        sheet.write_number(r, 3, price)
        if note is not None:
            sheet.write_string(r, 4, note)
    book.close()
    src = tl.sources.files(path, sheet="Sales", skip_rows=1)
    assert run(src, warehouse) == {"report": 3}
    t = types(warehouse, "report")
    assert (t["day"], t["sold_at"], t["qty"], t["price"]) == (
        "DATE", "TIMESTAMP WITH TIME ZONE", "BIGINT", "DECIMAL(38,2)",
    )  # fmt: skip
    got = rows(warehouse, "SELECT day, CAST(sold_at AS VARCHAR), qty, price, note FROM report ORDER BY day")
    assert got == [
        (dt.date(2024, 1, 5), "2024-01-05 09:30:00+00", 3, Decimal("4.50"), "first"),
        (dt.date(2024, 1, 6), None, 2, Decimal("12.25"), None),
        (dt.date(2024, 1, 7), "2024-01-07 18:00:00+00", None, Decimal("3.00"), "last"),
    ]
    # The same sheet by number (from 0), into another table.
    assert run(tl.sources.files(path, sheet=1, skip_rows=1, name="by_number"), warehouse) == {"by_number": 3}
    with pytest.raises(SourceError, match=r"no sheet \"Nope\"; the sheets are Notes, Sales"):
        run(tl.sources.files(path, sheet="Nope", name="r2"), warehouse)


def test_parquet_flat_keeps_types_in_row_groups(tmp_path, warehouse):
    df = pl.DataFrame(
        {
            "id": pl.Series(range(1, 1001), dtype=pl.Int32),
            "amount": pl.Series([Decimal(i) / 100 for i in range(1000)], dtype=pl.Decimal(10, 2)),
            "code": [f"{i:05d}" for i in range(1000)],
            "at": pl.Series([dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i) for i in range(1000)]),
            "ratio": pl.Series([i / 7 for i in range(1000)], dtype=pl.Float32),
        }
    )
    df.write_parquet(tmp_path / "facts.parquet", row_group_size=300)
    assert run(tl.sources.files(tmp_path / "facts.parquet", batch_size=128), warehouse) == {"facts": 1000}
    t = types(warehouse, "facts")
    assert (t["id"], t["amount"], t["code"], t["at"], t["ratio"]) == (
        "BIGINT", "DECIMAL(10,2)", "VARCHAR", "TIMESTAMP WITH TIME ZONE", "DOUBLE",
    )  # fmt: skip
    assert rows(warehouse, "SELECT count(DISTINCT id), sum(amount), min(code) FROM facts") == [
        (1000, Decimal("4995.00"), "00000"),
    ]  # fmt: skip


def test_parquet_nested_lists_become_child_tables(tmp_path, warehouse):
    df = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "customer": [{"name": "a", "zip": "01234"}, {"name": "b", "zip": "99999"}, None],
            "items": [[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}], [], [{"sku": "C", "qty": 3}]],
            "tags": [["x"], ["y", "z"], None],
        }
    )
    df.write_parquet(tmp_path / "orders.parquet")
    src = tl.sources.files(tmp_path / "orders.parquet", primary_key="id")
    assert run(src, warehouse) == {"orders": 3, "orders__items": 3, "orders__tags": 3}
    assert rows(warehouse, "SELECT id, customer__name, customer__zip FROM orders ORDER BY id") == [
        (1, "a", "01234"), (2, "b", "99999"), (3, None, None),
    ]  # fmt: skip
    assert rows(warehouse, "SELECT orders_id, sku, qty FROM orders__items ORDER BY sku") == [
        (1, "A", 1), (1, "B", 2), (3, "C", 3),
    ]  # fmt: skip


def test_file_resource_in_a_source_with_rules(tmp_path, warehouse):
    (tmp_path / "p.csv").write_text("id,qty\n1,5\n2,-1\n3,x\n")
    res = tl.sources.FileResource(
        {"name": "p", "path": str(tmp_path / "p.csv"), "on_bad_row": "quarantine", "columns": {"qty": "int"}},
        write_mode="append",
    )
    source = tl.sources.Source("mixed", [res]).with_rules(p=tl.RuleSet([tl.rules.between("qty", 0)]))
    counts = run(source, warehouse)
    # Row 3 does not fit the int column (bad row); row 2 breaks the rule.
    assert counts == {"p": 1, "p__quarantine": 2}
    assert rows(warehouse, "SELECT count(*) FROM p__quarantine WHERE _tf_reason IS NOT NULL") == [(1,)]
    assert "FileResource" in repr(res)


def test_changed_nested_file_replaces_its_rows_in_a_delta_lake(tmp_path):
    def write(name: str, orders: list[tuple[int, list[str]]]) -> None:
        lines = [json.dumps({"id": i, "items": [{"sku": s} for s in skus]}) for i, skus in orders]
        (tmp_path / name).write_text("\n".join(lines) + "\n")

    write("orders-1.ndjson", [(1, ["a", "b"]), (2, ["c"])])
    write("orders-2.ndjson", [(3, ["d"])])
    src = tl.sources.files(str(tmp_path / "orders-*.ndjson"))
    with tl.warehouse.delta(str(tmp_path / "lake")) as lake:
        tl.pipeline("files", src, lake).run()
        assert lake.row_counts() == {"orders": 3, "orders__items": 4}
        write("orders-1.ndjson", [(1, ["a"]), (4, ["e", "f"])])
        assert tl.pipeline("files", src, lake).run().row_counts == {"orders": 2, "orders__items": 3}
        assert lake.row_counts() == {"orders": 3, "orders__items": 4}
        got = lake.query(
            "SELECT o.id, i.sku FROM orders o JOIN orders__items i ON i._tf_parent_id = o._tf_id "
            "ORDER BY 1, 2"
        )
        assert got.rows() == [(1, "a"), (3, "d"), (4, "e"), (4, "f")]


def test_a_changed_file_replaces_its_rows_and_bad_rows_on_every_warehouse(tmp_path, any_warehouse):
    wh = any_warehouse
    _orders(tmp_path / "o-1.csv", 1, 4)
    _orders(tmp_path / "o-2.csv", 5, 2)
    src = tl.sources.files(str(tmp_path / "o-*.csv"), name="o", on_bad_row="quarantine")
    tl.pipeline("files", src, wh).run()
    (tmp_path / "o-1.csv").write_text("id,price\n2,9.99\nx,1.00\n")  # ids are committed as integers
    assert tl.pipeline("files", src, wh).run().row_counts == {"o": 1, "o__quarantine": 1}
    got = wh.query("SELECT id, price, _tf_file FROM o ORDER BY id").rows()
    assert got == [
        (2, Decimal("9.99"), "o-1.csv"),
        (5, Decimal("1.50"), "o-2.csv"),
        (6, Decimal("1.50"), "o-2.csv"),
    ]
    (tmp_path / "o-1.csv").write_text("id,price\n3,1.00\n")
    assert tl.pipeline("files", src, wh).run().row_counts == {"o": 1}
    assert wh.query("SELECT count(*) AS n FROM o__quarantine")["n"][0] == 0
    assert wh.query("SELECT id FROM o ORDER BY id")["id"].to_list() == [3, 5, 6]
