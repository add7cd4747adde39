"""Database faults on the local PostgreSQL and MariaDB: the source's
connection killed from another session while it reads (between keyset pages,
and in the middle of one streamed full read), the table altered between
runs, and rows committed behind the cursor while a run reads. Each ends with
the warehouse holding exactly the table's rows."""

# ruff: noqa: F811  (the fixture imported from faultkit is a parameter here)

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pymysql
import pytest
from faultkit import (
    after_batches,
    assert_names,
    each_warehouse,  # noqa: F401  (a fixture)
    fails,
    load_statuses,
    run_pipeline,
)

import tillflow as tl
from support.databases import Db

pytestmark = pytest.mark.services

ROWS = 200
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, tzinfo=UTC)


def create_items(db: Db, n: int = ROWS, *, name: str = "items") -> None:
    """``items(id, name, qty, updated_at)``, ``updated_at`` one second apart in id order."""
    db.run(f"CREATE TABLE {db.ref(name)} (id int PRIMARY KEY, name varchar(40) NOT NULL, qty int, "
           f"updated_at {db.stamp} NOT NULL)")  # fmt: skip
    insert(db, [(i, f"item {i}", i * 7 % 13, at(i)) for i in range(1, n + 1)], name=name)


def insert(db: Db, rows: list[tuple[Any, ...]], *, name: str = "items") -> None:
    marks = ", ".join(["%s"] * len(rows[0]))
    db.run(f"INSERT INTO {db.ref(name)} VALUES ({marks})", [tuple(_naive(db, v) for v in r) for r in rows])


def at(second: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=second)


def _naive(db: Db, value: Any) -> Any:
    # MariaDB's DATETIME holds no zone; the tests' instants are UTC.
    if isinstance(value, dt.datetime) and not db.is_pg:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def table_rows(db: Db, name: str = "items", columns: str = "id, name, qty") -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in db.fetch(f"SELECT {columns} FROM {db.ref(name)}"))


def assert_same_rows(db: Db, wh: Any, name: str = "items", columns: str = "id, name, qty") -> None:
    """The warehouse holds the table's rows, each once."""
    table = db.name(name)
    got = wh.query(f'SELECT {columns} FROM "{table}" ORDER BY id').rows()
    ids = [r[0] for r in got]
    assert len(ids) == len(set(ids)), f"duplicated ids in {table}: {len(ids) - len(set(ids))}"
    want = table_rows(db, name, columns)
    lost = sorted({r[0] for r in want} - set(ids))
    assert not lost, f"{len(lost)} rows of {table} lost: {lost[:10]}"
    assert [tuple(r) for r in got] == want


# -- killing the source's connection from another session


class Killer:
    """Blocks the source's next read behind a lock held by another session,
    then kills the blocked session the way an operator or a failover does
    (``pg_terminate_backend``, MariaDB's ``KILL``), and lets go of the lock."""

    def __init__(self, db: Db, block: Callable[[], None], release: Callable[[], None], waiting: str, *,
                 wait_here: bool = False) -> None:  # fmt: skip
        self.db = db
        self.block = block
        self.release = release
        self.waiting = waiting
        self.killed: list[Any] = []
        # A read already under way is killed from the hook itself: connectorx
        # holds the GIL while its stream waits, so no other thread would run.
        self.thread = threading.Thread(target=self._kill)
        self.wait_here = wait_here

    def arm(self) -> None:
        self.block()
        if self.wait_here:
            self._kill()
        else:
            self.thread.start()

    def join(self) -> None:
        if self.thread.is_alive() or self.thread.ident is not None:
            self.thread.join()

    def _kill(self) -> None:
        conn = _connect(self.db)
        try:
            for _ in range(1000):
                with conn.cursor() as cur:
                    cur.execute(self.waiting)
                    found = [r[0] for r in cur.fetchall()]
                    for session in found:
                        if self.db.is_pg:
                            cur.execute("SELECT pg_terminate_backend(%s)", [session])
                        else:
                            cur.execute(f"KILL {int(session)}")
                if found:
                    self.killed = found
                    return
                time.sleep(0.01)
        finally:
            self.release()
            conn.close()


def _connect(db: Db) -> Any:
    if db.is_pg:
        return psycopg.connect(db.url, autocommit=True)
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test", autocommit=True)


def table_lock_killer(db: Db, name: str) -> Killer:
    """Kills the session that waits on a lock of table ``name``."""
    holder = _connect(db)
    if db.is_pg:
        holder.autocommit = False

        def block() -> None:
            holder.execute(f"LOCK TABLE {db.ref(name)} IN ACCESS EXCLUSIVE MODE")

        def release() -> None:
            holder.rollback()
            holder.close()

        waiting = (
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            f"AND pid <> pg_backend_pid() AND query LIKE '%{db.schema}%'"
        )
    else:

        def block() -> None:
            with holder.cursor() as cur:
                cur.execute(f"LOCK TABLES {db.ref(name)} WRITE")

        def release() -> None:
            with holder.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            holder.close()

        waiting = (f"SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                   f"AND STATE LIKE '%%metadata lock%%' AND INFO LIKE '%%{db.name(name)}%%'")  # fmt: skip
    return Killer(db, block, release, waiting)


def gated_view(db: Db, name: str, stop_at: int) -> Killer:
    """A view over ``<name>_data`` that streams rows in id order and, at row
    ``stop_at``, waits for a lock another session holds: the read is mid-way
    (rows before it already sent) when the killer ends it."""
    data, gate = db.name(f"{name}_data"), db.name(f"{name}_gate")
    lock_key = 4242 if db.is_pg else db.prefix
    holder = _connect(db)
    if db.is_pg:
        db.run(
            f"CREATE FUNCTION {db.q(db.schema)}.{db.q(gate)}(i int) RETURNS boolean LANGUAGE plpgsql "
            f"VOLATILE AS $$ BEGIN IF i = {stop_at} THEN PERFORM pg_advisory_lock_shared({lock_key}); "
            f"PERFORM pg_advisory_unlock_shared({lock_key}); END IF; RETURN true; END $$"
        )
        db.run(f"CREATE VIEW {db.ref(name)} AS SELECT id, name, qty FROM {db.ref(f'{name}_data')} "
               f"WHERE {db.q(db.schema)}.{db.q(gate)}(id)")  # fmt: skip
        holder.execute(f"SELECT pg_advisory_lock({lock_key})")
        release_sql = f"SELECT pg_advisory_unlock({lock_key})"
        waiting = "SELECT pid FROM pg_stat_activity WHERE wait_event = 'advisory' AND pid <> pg_backend_pid()"
    else:
        db.run(f"CREATE FUNCTION {db.q(gate)}(i INT) RETURNS INT NOT DETERMINISTIC BEGIN "
               f"IF i = {stop_at} THEN DO GET_LOCK('{lock_key}', 60); DO RELEASE_LOCK('{lock_key}'); END IF; "
               f"RETURN 1; END")  # fmt: skip
        db.run(
            f"CREATE VIEW {db.ref(name)} AS SELECT id, name, qty FROM {db.q(data)} WHERE {db.q(gate)}(id) = 1"
        )
        with holder.cursor() as cur:
            cur.execute(f"SELECT GET_LOCK('{lock_key}', 10)")
        release_sql = f"SELECT RELEASE_LOCK('{lock_key}')"
        waiting = ("SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                   "AND STATE = 'User lock'")  # fmt: skip

    def release() -> None:
        with holder.cursor() as cur:
            cur.execute(release_sql)
        holder.close()

    # The lock is held from now on, so the read stops at ``stop_at`` whenever it gets there.
    return Killer(db, lambda: None, release, waiting, wait_here=True)


def drop_gated_view(db: Db, name: str) -> None:
    db.run(f"DROP VIEW IF EXISTS {db.ref(name)}")
    gate = db.name(f"{name}_gate")
    if db.is_pg:
        db.run(f"DROP FUNCTION IF EXISTS {db.q(db.schema)}.{db.q(gate)}(int)")
    else:
        db.run(f"DROP FUNCTION IF EXISTS {db.q(gate)}")


def test_the_connection_killed_between_keyset_pages_keeps_the_committed_pages_and_the_rerun_resumes(
    db, warehouse
):
    create_items(db)
    source = db.source("items", cursor="updated_at", batch_size=20)
    killer = table_lock_killer(db, "items")
    after_batches(warehouse, 2, killer.arm)
    error = fails(tl.SourceError, lambda: run_pipeline("db", source, warehouse))
    killer.join()
    assert killer.killed, "no read was waiting to be killed"
    assert_names(error, f"table {db.schema}.{db.name('items')}", "read failed")
    assert warehouse.row_counts()[db.name("items")] == 40
    assert warehouse.get_state("db", db.name("items"))["key"] == [40]
    run = run_pipeline("db", source, warehouse)
    assert run.row_counts[db.name("items")] == ROWS - 40  # resumed after the last committed row
    assert_same_rows(db, warehouse)
    assert load_statuses(warehouse) == ["failed", "completed"]


def test_the_connection_killed_mid_stream_in_a_full_read_is_rerun_whole(db, warehouse):
    """A full (replace) read streamed in batches: two batches are committed
    when the session is killed. The table then holds part of the new
    snapshot (a replace load is restartable, not atomic); the rerun replaces
    it whole."""
    db.run(f"CREATE TABLE {db.ref('items_data')} (id int PRIMARY KEY, name varchar(40), qty int)")
    insert(db, [(i, f"item {i}", i % 11) for i in range(1, 3001)], name="items_data")
    killer = gated_view(db, "items", stop_at=2500)
    try:
        source = db.source("items", batch_size=1000)
        after_batches(warehouse, 2, killer.arm)
        error = fails(tl.SourceError, lambda: run_pipeline("db", source, warehouse))
        killer.join()
        assert killer.killed, "no read was waiting to be killed"
        assert_names(error, f"table {db.schema}.{db.name('items')}", "read failed")
        assert warehouse.row_counts()[db.name("items")] == 2000
        run_pipeline("db", source, warehouse)
        assert_same_rows(db, warehouse)
        assert load_statuses(warehouse) == ["failed", "completed"]
    finally:
        drop_gated_view(db, "items")


# -- the table changes between runs


def test_a_table_altered_between_runs_loads_the_new_columns_and_wider_types(db, each_warehouse):
    wh = each_warehouse
    create_items(db)
    source = lambda: db.source("items", cursor="updated_at", batch_size=50)  # noqa: E731  (reads the catalog)
    run_pipeline("db", source(), wh)
    # A column added, two types widened, values that need the wider types, and edits.
    db.run(f"ALTER TABLE {db.ref('items')} ADD COLUMN note varchar(200)")
    if db.is_pg:
        db.run(f"ALTER TABLE {db.ref('items')} ALTER COLUMN qty TYPE bigint, ALTER COLUMN name TYPE text")
    else:
        db.run(f"ALTER TABLE {db.ref('items')} MODIFY qty bigint, MODIFY name text NOT NULL")
    big = 2**40 + 7
    db.run(f"UPDATE {db.ref('items')} SET qty = {big}, note = 'widened', updated_at = %s WHERE id = 3",
           [(_naive(db, at(ROWS + 1)),)])  # fmt: skip
    long_name = "a name longer than forty characters, in the wider column ✓"
    insert(db, [(ROWS + 1, long_name, big + 1, at(ROWS + 2), "new")])
    run = run_pipeline("db", source(), wh)
    assert run.row_counts[db.name("items")] == 2
    assert_same_rows(db, wh, columns="id, name, qty, note")
    table = db.name("items").lower()
    changes = {(c, k) for t, c, k in wh.schema_changes().select("table", "column", "change").rows()
               if t.lower() == table and c is not None}  # fmt: skip
    assert ("note", "column_added") in changes
    assert ("qty", "type_widened") in changes


def test_a_column_dropped_between_runs_keeps_its_old_values_and_loads_the_rest(db, warehouse):
    create_items(db)
    run_pipeline("db", db.source("items", cursor="updated_at"), warehouse)
    db.run(f"ALTER TABLE {db.ref('items')} DROP COLUMN qty")
    db.run(f"UPDATE {db.ref('items')} SET name = 'renamed', updated_at = %s WHERE id = 9",
           [(_naive(db, at(ROWS + 5)),)])  # fmt: skip
    run_pipeline("db", db.source("items", cursor="updated_at"), warehouse)
    assert_same_rows(db, warehouse, columns="id, name")
    table = db.name("items")
    # The warehouse keeps the column; the merged row has no value for it any more.
    assert warehouse.query(f'SELECT qty FROM "{table}" WHERE id = 9').item() is None
    assert warehouse.query(f'SELECT qty FROM "{table}" WHERE id = 10').item() == 10 * 7 % 13


# -- rows committed behind the cursor


def test_rows_committed_behind_the_cursor_during_a_read_are_caught_by_the_lookback(db, warehouse):
    """While a run reads page by page, another transaction commits rows whose
    cursor values lie behind the pages already read (a transaction that took
    its timestamp early and committed late). The run cannot see them; the
    next run starts ``lookback`` before the stored cursor and merges them in."""
    create_items(db)
    source = db.source("items", cursor="updated_at", batch_size=25, lookback=dt.timedelta(minutes=5))
    late = [(ROWS + 1, "late 1", 1, at(10.5)), (ROWS + 2, "late 2", 2, at(60.25))]
    after_batches(warehouse, 4, lambda: insert(db, late))
    run_pipeline("db", source, warehouse)
    ids = set(warehouse.query(f'SELECT id FROM "{db.name("items")}"')["id"].to_list())
    assert ids == set(range(1, ROWS + 1)), "the late rows were behind the cursor, so this run missed them"
    run = run_pipeline("db", source, warehouse)
    assert run.row_counts[db.name("items")] > 0
    assert_same_rows(db, warehouse)
    assert load_statuses(warehouse) == ["completed", "completed"]


def test_rows_updated_during_a_read_arrive_once_with_their_latest_values(db, warehouse):
    """Rows already read are updated while the run goes on (their cursor moves
    ahead of the read): the same run meets them again further on, and merge
    keeps one row per key with the latest values."""
    create_items(db)
    source = db.source("items", cursor="updated_at", batch_size=25)

    def edit() -> None:
        for i in (3, 30, 77):
            db.run(f"UPDATE {db.ref('items')} SET qty = {1000 + i}, updated_at = %s WHERE id = {i}",
                   [(_naive(db, at(ROWS + i)),)])  # fmt: skip

    after_batches(warehouse, 4, edit)
    run_pipeline("db", source, warehouse)
    assert_same_rows(db, warehouse)
    run_pipeline("db", source, warehouse)
    assert_same_rows(db, warehouse)
