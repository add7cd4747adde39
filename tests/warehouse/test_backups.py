"""Backups and restores of DuckDB and PostgreSQL warehouses: a warehouse lost
after a backup, restored and loaded incrementally, ends exactly where one
that was never lost ends; failures change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import tillflow as tl
from support.services import drop_schema
from tillflow.exceptions import ConfigError, RunLocked, WarehouseError


def _metrics(location: str) -> dict[str, pl.DataFrame]:
    with tl.warehouse.from_url(location, create=False) as wh:
        return {
            "daily": tl.metrics.daily_summary(wh, tz="UTC"),
            "segments": tl.metrics.customer_segments(wh),
            "orders": wh.query("SELECT id, financial_status FROM orders ORDER BY id"),
            "items": wh.query("SELECT _tf_id FROM orders__line_items ORDER BY _tf_id"),
        }


def _run(shop: tl.demo.DemoShop, location: str) -> None:
    with tl.warehouse.from_url(location) as wh:
        tl.pipeline("shop", shop.source(resources=["orders"]), wh).run()


def _lost_and_restored(control: str, main: str, wipe: object, tmp_path: Path) -> None:
    """Both warehouses load the shop; ``main`` is backed up, the shop edits
    orders, ``main`` is lost (``wipe``) and restored; both then run again."""
    with tl.demo_shop(orders=250, seed=5) as shop:
        _run(shop, control)
        _run(shop, main)
        taken = tl.warehouse.backup(main, tmp_path / "backups")
        assert taken.tables["orders"] == 250
        edited = shop.edit_orders(6)
        wipe()  # type: ignore[operator]
        restored = tl.warehouse.restore(taken.path, main)
        assert restored.tables == taken.tables
        _run(shop, control)
        _run(shop, main)
    want, got = _metrics(control), _metrics(main)
    for name in want:
        assert got[name].equals(want[name]), name
    # The rerun after the restore loaded the edits only, merged: no duplicates.
    assert got["orders"]["id"].n_unique() == got["orders"].height == 250
    statuses = got["orders"].filter(pl.col("id").is_in(edited))["financial_status"]
    assert statuses.to_list() == ["refunded"] * 6


def test_a_lost_duckdb_warehouse_restores_and_resumes_exactly(tmp_path: Path) -> None:
    main = tmp_path / "main.duckdb"
    _lost_and_restored(str(tmp_path / "control.duckdb"), str(main), main.unlink, tmp_path)


@pytest.fixture
def two_schemas(postgres_url: str, unique_name: str) -> Iterator[tuple[str, str]]:
    names = (f"{unique_name}_c", f"{unique_name}_m")
    try:
        yield names
    finally:
        for n in names:
            drop_schema(postgres_url, n)


def test_a_lost_postgres_schema_restores_and_resumes_exactly(
    tmp_path: Path, postgres_url: str, two_schemas: tuple[str, str]
) -> None:
    control, main = (f"{postgres_url}?schema={n}" for n in two_schemas)
    _lost_and_restored(control, main, lambda: drop_schema(postgres_url, two_schemas[1]), tmp_path)


def test_a_postgres_restore_replaces_the_schema_whole(
    tmp_path: Path, postgres_url: str, postgres_warehouse: tl.warehouse.PostgresWarehouse, unique_name: str
) -> None:
    import psycopg

    location = f"{postgres_url}?schema={unique_name}"
    postgres_warehouse.replace_tables({"kept": pl.DataFrame({"a": [1, 2, 3]})})
    taken = tl.warehouse.backup(location, tmp_path)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{unique_name}".extra (b int)')
        conn.execute(f'DELETE FROM "{unique_name}".kept WHERE a = 1')
    tl.warehouse.restore(taken.path, location)
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [unique_name]
        ).fetchall()
        assert ("extra",) not in tables
        assert conn.execute(f'SELECT count(*) FROM "{unique_name}".kept').fetchone() == (3,)
    # A broken dump changes nothing: the restore is one transaction.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{unique_name}".kept WHERE a = 2')
    (taken.path / "dump.pgc").write_bytes(b"PGDMP not really")
    with pytest.raises(WarehouseError, match="dump.pgc"):
        tl.warehouse.restore(taken.path, location)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{unique_name}".kept').fetchone() == (2,)
    # Another schema is refused by name: the dump restores into its own.
    with pytest.raises(ConfigError, match=unique_name):
        tl.warehouse.restore(taken.path, f"{postgres_url}?schema=elsewhere")


def _small(path: Path, rows: int = 3) -> str:
    with tl.warehouse.duckdb(str(path)) as wh:
        wh.replace_tables({"t": pl.DataFrame({"a": list(range(rows)), "b": ["é", None, "x"][:rows]})})
    return str(path)


def test_keep_prunes_to_the_newest_backups_of_that_warehouse(tmp_path: Path) -> None:
    a, b = _small(tmp_path / "a.duckdb"), _small(tmp_path / "b.duckdb")
    dest = tmp_path / "backups"
    other = tl.warehouse.backup(b, dest)
    taken = [tl.warehouse.backup(a, dest, keep=2) for _ in range(4)]
    assert [x.path for x in tl.warehouse.backups(dest, a)] == [t.path for t in taken[-2:]]
    # Another warehouse's backups in the same folder are not touched.
    assert [x.path for x in tl.warehouse.backups(dest, b)] == [other.path]
    assert len(tl.warehouse.backups(dest)) == 3
    manifest = json.loads((taken[-1].path / "manifest.json").read_text())
    assert manifest["kind"] == "duckdb" and manifest["tables"]["t"] == 3
    with pytest.raises(ConfigError, match="keep"):
        tl.warehouse.backup(a, dest, keep=0)


def test_a_failed_duckdb_restore_leaves_the_warehouse_as_it_was(tmp_path: Path) -> None:
    path = _small(tmp_path / "w.duckdb")
    taken = tl.warehouse.backup(path, tmp_path / "backups")
    with tl.warehouse.duckdb(path) as wh:
        wh.replace_tables({"t": pl.DataFrame({"a": [7]})})
    for parquet in (taken.path / "export").glob("*.parquet"):
        parquet.write_bytes(b"not parquet")
    with pytest.raises(WarehouseError, match="cannot restore"):
        tl.warehouse.restore(taken.path, path)
    with tl.warehouse.duckdb(path) as wh:
        assert wh.query("SELECT a FROM t")["a"].to_list() == [7]
    assert not list(tmp_path.glob("*.restoring*"))


def test_bad_input_is_refused_by_name_and_leaves_nothing_behind(tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    with pytest.raises(WarehouseError, match="no DuckDB warehouse"):
        tl.warehouse.backup(str(tmp_path / "missing.duckdb"), dest)
    assert list(dest.iterdir()) == []
    with pytest.raises(ConfigError, match="Delta lake"):
        tl.warehouse.backup(f"delta:{tmp_path / 'lake'}", dest)
    not_a_backup = tmp_path / "folder"
    not_a_backup.mkdir()
    with pytest.raises(WarehouseError, match="not a tillflow backup"):
        tl.warehouse.restore(not_a_backup, str(tmp_path / "w.duckdb"))
    taken = tl.warehouse.backup(_small(tmp_path / "w.duckdb"), dest)
    with pytest.raises(ConfigError, match="duckdb"):
        tl.warehouse.restore(taken.path, "postgresql://postgres@127.0.0.1:5432/test?schema=x")


def test_a_running_run_holds_off_a_backup(tmp_path: Path) -> None:
    path = _small(tmp_path / "w.duckdb")
    with tl.warehouse.run_lock(path), pytest.raises(RunLocked):
        tl.warehouse.backup(path, tmp_path / "backups")
    assert tl.warehouse.backups(tmp_path / "backups") == []


def test_the_commands_back_up_restore_and_say_what_they_did(tmp_path: Path) -> None:
    from support import run_cli

    path = _small(tmp_path / "shop.duckdb")
    dest = tmp_path / "backups"
    for _ in range(3):
        done = run_cli("backup", "--warehouse", path, "--to", str(dest), "--keep", "2")
        assert done.returncode == 0, done.stderr
    assert "tables, 3 rows, into" in done.stdout
    kept = tl.warehouse.backups(dest)
    assert len(kept) == 2
    Path(path).unlink()
    done = run_cli("restore", str(kept[-1].path), "--warehouse", path)
    assert done.returncode == 0, done.stderr
    assert "3 rows" in done.stdout
    with tl.warehouse.duckdb(path, create=False) as wh:
        assert wh.row_counts() == {"t": 3}
    # A missing warehouse is a warehouse error (exit 4), named; a held run lock exits 75.
    missing = run_cli("backup", "--warehouse", str(tmp_path / "nope.duckdb"), "--to", str(dest))
    assert missing.returncode != 0 and "no DuckDB warehouse" in missing.stderr
    with tl.warehouse.run_lock(path):
        locked = run_cli("backup", "--warehouse", path, "--to", str(dest))
    assert locked.returncode == 75, locked.stderr


def test_a_restore_waits_for_no_writer_of_the_duckdb_file(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    path = _small(tmp_path / "w.duckdb")
    taken = tl.warehouse.backup(path, tmp_path / "backups")
    # Another process (a notebook, say) holds the warehouse open for writing.
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({path!r})
            print("open", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseError, match="another connection has it open"):
            tl.warehouse.restore(taken.path, path)
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=60)
        holder.stdout.close()
    assert not list(tmp_path.glob("*.restoring*"))
    assert tl.warehouse.restore(taken.path, path).tables["t"] == 3


def test_backups_kept_on_s3_restore_and_prune(
    tmp_path: Path, s3_url: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support import run_cli

    s3 = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
          "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}  # fmt: skip
    for name, value in s3.items():
        monkeypatch.setenv(name, value)
    dest = s3_url.replace("/lake", "/backups")
    path = _small(tmp_path / "w.duckdb")
    taken = [tl.warehouse.backup(path, dest, keep=2) for _ in range(3)]
    assert all(str(t.path).startswith(dest + "/w-") for t in taken)
    listed = tl.warehouse.backups(dest, path)
    assert [b.path for b in listed] == [t.path for t in taken[-2:]]
    assert listed[-1].tables == taken[-1].tables and listed[-1].tables["t"] == 3
    Path(path).unlink()
    restored = tl.warehouse.restore(str(taken[-1].path), path)
    assert restored.path == taken[-1].path
    with tl.warehouse.duckdb(path, create=False) as wh:
        assert wh.row_counts() == {"t": 3}
    # From the command line too, the URL kept as it is written.
    done = run_cli("backup", "--warehouse", path, "--to", dest, "--keep", "1", env=s3)
    assert done.returncode == 0, done.stderr
    assert dest + "/w-" in done.stdout
    assert len(tl.warehouse.backups(dest)) == 1
    # A bucket that does not exist is named.
    with pytest.raises(WarehouseError, match="no-such-bucket"):
        tl.warehouse.backup(path, "s3://no-such-bucket/backups")
