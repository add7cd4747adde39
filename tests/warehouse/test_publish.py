"""Snapshots for BI tools: a copy of the DuckDB warehouse swapped in whole,
which a reader keeps open while the warehouse loads and publishes again."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pytest

import tillflow as tl
from support import run_cli
from tillflow.exceptions import ConfigError, RunLocked, WarehouseError

FRAME = pl.DataFrame({"id": [1, 2, 3], "name": ["Zoë", None, 'a"b'], "total": [1.5, float("nan"), None]})


def _warehouse(path: Path, frame: pl.DataFrame = FRAME) -> str:
    with tl.warehouse.duckdb(str(path)) as wh:
        wh.replace_tables({"orders": frame})
    return str(path)


def test_a_duckdb_snapshot_holds_the_same_rows_and_types(tmp_path: Path) -> None:
    source = _warehouse(tmp_path / "shop.duckdb")
    made = tl.warehouse.publish(source, tmp_path / "bi" / "snapshot.duckdb")
    assert made.tables["orders"] == 3
    with duckdb.connect(str(made.path), read_only=True) as con:
        got = con.sql("SELECT * FROM orders ORDER BY id").pl()
    with tl.warehouse.duckdb(source) as wh:
        want = wh.query("SELECT * FROM orders ORDER BY id")
    assert got.equals(want, null_equal=True)
    assert not list((tmp_path / "bi").glob("*.publishing*"))


def test_a_reader_keeps_its_snapshot_while_the_next_one_is_published(tmp_path: Path) -> None:
    source = _warehouse(tmp_path / "shop.duckdb")
    snapshot = tmp_path / "snapshot.duckdb"
    tl.warehouse.publish(source, snapshot)
    # A BI tool in another process holds the snapshot open, reading it twice.
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({str(snapshot)!r}, read_only=True)
            print(con.execute("SELECT count(*) FROM orders").fetchall()[0][0], flush=True)
            sys.stdin.readline()
            print(con.execute("SELECT count(*) FROM orders").fetchall()[0][0], flush=True)
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert reader.stdout is not None and reader.stdin is not None
    assert reader.stdout.readline().strip() == "3"
    # Meanwhile the warehouse loads (the reader does not hold it) and publishes again.
    _warehouse(tmp_path / "shop.duckdb", pl.concat([FRAME, FRAME.with_columns(pl.col("id") + 10)]))
    made = tl.warehouse.publish(source, snapshot)
    assert made.tables["orders"] == 6
    reader.stdin.write("\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == "3"  # its snapshot, whole
    assert reader.wait(timeout=60) == 0
    reader.stdin.close()
    reader.stdout.close()
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchall()[0][0] == 6


def test_a_parquet_snapshot_is_a_folder_of_tables(tmp_path: Path) -> None:
    source = _warehouse(tmp_path / "shop.duckdb")
    folder = tmp_path / "bi"
    for _ in range(2):  # the second replaces the first
        made = tl.warehouse.publish(source, folder, format="parquet")
    assert made.format == "parquet"
    back = pl.read_parquet(folder / "orders.parquet").sort("id")
    assert back["name"].to_list() == ["Zoë", None, 'a"b'] and back["total"].is_nan().to_list()[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bi", "shop.duckdb", "shop.duckdb.run.lock"]


def test_bad_input_is_refused_by_name_and_the_old_snapshot_stays(tmp_path: Path) -> None:
    source = _warehouse(tmp_path / "shop.duckdb")
    snapshot = tmp_path / "snapshot.duckdb"
    tl.warehouse.publish(source, snapshot)
    with pytest.raises(WarehouseError, match="no DuckDB warehouse"):
        tl.warehouse.publish(str(tmp_path / "missing.duckdb"), snapshot)
    with pytest.raises(ConfigError, match="itself"):
        tl.warehouse.publish(source, source)
    with pytest.raises(ConfigError, match="point the BI tool at it"):
        tl.warehouse.publish("postgresql://postgres@127.0.0.1:5432/test?schema=x", snapshot)
    with pytest.raises(ConfigError, match="format"):
        tl.warehouse.publish(source, snapshot, format="csv")  # type: ignore[arg-type]
    with tl.warehouse.run_lock(source), pytest.raises(RunLocked):
        tl.warehouse.publish(source, snapshot)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchall()[0][0] == 3
    assert not list(tmp_path.glob("*.publishing*"))


def test_the_command_publishes(tmp_path: Path) -> None:
    source = _warehouse(tmp_path / "shop.duckdb")
    done = run_cli("publish", "--warehouse", source, "--to", str(tmp_path / "snap.duckdb"))
    assert done.returncode == 0, done.stderr
    assert "rows" in done.stdout and "snap.duckdb" in done.stdout
    done = run_cli("publish", "--warehouse", source, "--to", str(tmp_path / "pq"), "--format", "parquet")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pq" / "orders.parquet").is_file()
