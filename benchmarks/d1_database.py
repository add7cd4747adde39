"""D1: load a database table into DuckDB.

Creates an orders table of N rows in a scratch schema (PostgreSQL) or table
(MariaDB), then runs each contender in its own child process into a fresh
DuckDB file and prints wall time, rows/s and the child's peak RSS:

- ``floor``: connectorx reads the whole table into one Arrow table and DuckDB
  copies it (``CREATE TABLE AS``): no batches, no state, unbounded memory.
- ``full``: ``tl.sources.sql_database`` without a cursor (replace, batches of 50k).
- ``full_p2``: the same split into 2 parallel range queries on the primary key.
- ``incremental``: a first run with ``cursor="updated_at"`` (keyset pages of 50k).
- ``rerun``: after 1% of the rows were updated, the next incremental run.
- ``ceiling`` (PostgreSQL only): the server's own egress, ``COPY (SELECT * FROM ...) TO STDOUT
  (FORMAT binary)`` through ``psql`` into ``/dev/null``. No client can read the table faster;
  the target is ``full`` at 0.7x or more of it.

    python benchmarks/d1_database.py --db postgres --rows 1000000
    python benchmarks/d1_database.py --db mariadb --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

import harness

URLS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql://root@127.0.0.1:3306/test",
}

CHILD = """
import sys, time, duckdb, connectorx as cx, tillflow as tl
kind, url, schema, table, path, contender = sys.argv[1:7]
started = time.perf_counter()
if contender == "floor":
    ref = f'"{schema}"."{table}"' if kind == "postgres" else f"`{table}`"
    frame = cx.read_sql(url, f"SELECT * FROM {ref}", return_type="arrow")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE orders AS SELECT * FROM frame")
    rows = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    con.close()
else:
    options = {"partitions": 2} if contender == "full_p2" else {}
    if contender in ("incremental", "rerun"):
        options["cursor"] = "updated_at"
    source = tl.sources.sql_database(url, schema=schema, tables=[table], **options)
    with tl.warehouse.duckdb(path) as wh:
        rows = tl.pipeline("d1", source, wh).run().total_rows
print(rows, time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=sorted(URLS), default="postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    harness.add_machine_options(parser)
    args = parser.parse_args()
    harness.check_machine(args, first=True)
    url, name = URLS[args.db], f"d1_{uuid.uuid4().hex[:8]}"
    conn, schema, table = setup(args.db, url, name, args.rows)
    try:
        with tempfile.TemporaryDirectory() as work:
            print(f"{args.db}, {args.rows:,} rows, {os.cpu_count()} cores")
            contenders = ["floor", "full", "full_p2", "incremental", "rerun"]
            if args.db == "postgres":
                contenders.insert(0, "ceiling")
            for contender in contenders:
                path = os.path.join(
                    work, "incremental.duckdb" if contender == "rerun" else f"{contender}.duckdb"
                )
                if contender == "rerun":
                    touch(conn, args.db, schema, table, args.rows // 100)
                run(args.db, url, schema, table, path, contender, args.rows)
    finally:
        teardown(conn, args.db, schema, table)


def run(kind: str, url: str, schema: str, table: str, path: str, contender: str, rows: int) -> None:
    if contender == "ceiling":
        copy = f'COPY (SELECT * FROM "{schema}"."{table}") TO STDOUT (FORMAT binary)'
        command = ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", copy]
        output = subprocess.DEVNULL
    else:
        command = [sys.executable, "-c", CHILD, kind, url, schema, table, path, contender]
        output = subprocess.PIPE
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=output, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if contender == "ceiling":
        # psql's own wall time is the whole run: it starts in milliseconds and only streams.
        out = [str(rows), str(wall)] if status == 0 else []
    else:
        out = child.stdout.read().split() if child.stdout else []
    if status != 0 or len(out) != 2:
        raise SystemExit(f"{contender} failed ({status})")
    rows, inner = int(out[0]), float(out[1])
    print(
        f"{contender:12} {rows:>10,} rows  {wall:6.2f} s wall ({inner:5.2f} s in process)  "
        f"{rows / inner:>10,.0f} rows/s  peak RSS {usage.ru_maxrss / 1024:6.0f} MiB"
    )


def setup(kind: str, url: str, name: str, rows: int) -> tuple[object, str, str]:
    if kind == "postgres":
        import psycopg

        conn = psycopg.connect(url, autocommit=True)
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f"""CREATE TABLE "{name}".orders AS SELECT g::bigint AS id,
            (g % 5000)::int AS customer_id, (ARRAY['paid','refunded','pending'])[1 + g % 3] AS status,
            round((g % 100000) / 7.0, 2)::numeric(12,2) AS total,
            timestamptz '2024-01-01' + g * interval '1 second' AS created_at,
            timestamptz '2024-01-01' + g * interval '1 second' AS updated_at, md5(g::text) AS note
            FROM generate_series(1, {rows}) g""")
        conn.execute(f'ALTER TABLE "{name}".orders ADD PRIMARY KEY (id)')
        conn.execute(f'CREATE INDEX ON "{name}".orders (updated_at, id)')
        conn.execute(f'ANALYZE "{name}".orders')
        return conn, name, "orders"
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"""CREATE TABLE `{name}` (id bigint PRIMARY KEY, customer_id int, status varchar(10),
            total decimal(12,2), created_at timestamp(6) NULL, updated_at timestamp(6) NULL, note char(32),
            KEY (updated_at, id))""")
        cur.execute(f"""INSERT INTO `{name}` SELECT seq, seq % 5000, ELT(1 + seq % 3, 'paid', 'refunded',
            'pending'), ROUND((seq % 100000) / 7.0, 2), TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND,
            TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND, MD5(seq) FROM seq_1_to_{rows}""")
    return conn, "test", name


def touch(conn: object, kind: str, schema: str, table: str, count: int) -> None:
    ref = f'"{schema}"."{table}"' if kind == "postgres" else f"`{table}`"
    sql = f"UPDATE {ref} SET updated_at = updated_at + INTERVAL '3650' DAY WHERE id % 100 = 0"
    if kind == "postgres":
        sql = f"UPDATE {ref} SET updated_at = updated_at + interval '10 years' WHERE id % 100 = 0"
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(sql)
    print(f"(updated {count:,} rows)")


def teardown(conn: object, kind: str, schema: str, table: str) -> None:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(f'DROP SCHEMA "{schema}" CASCADE' if kind == "postgres" else f"DROP TABLE `{table}`")
    conn.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
