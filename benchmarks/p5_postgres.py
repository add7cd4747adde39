"""Benchmark P5: load N shop orders (a wide frame: ids, zoned timestamps,
decimals, text, booleans, nulls) into the local PostgreSQL, with tillflow's
PostgreSQL warehouse and its peers.

A first child process generates the orders once (numpy + polars, fixed seed,
untimed) as the normalizer leaves them, ``_tf_id`` included, and writes them
to one Parquet file. Each contender then runs in its own child process (see
p3_rules.py for why): it reads the file and converts it to what it loads
(untimed "setup"), then loads it --repeat times into a fresh schema (dropped
and created again, untimed, before each run); the best run is reported. Every
run's row count is read back and checked. Peak RSS is the child's own
ru_maxrss, with the high-water mark reset after setup.

Contenders:
  tillflow  tl.warehouse.postgres(url, schema=...): begin_load (append), write_batch of
            --batch-rows slices of the frame, each its own transaction with its bookkeeping
            (the load id, running counts, the state), as a pipeline loads them; finish_load
  adbc      cursor.adbc_ingest("orders", <the same Arrow table>, mode="create") and commit:
            the ADBC PostgreSQL driver's bulk ingest (binary COPY) in one call
  pandas    DataFrame.to_sql("orders", engine, method="multi", chunksize=--chunksize) through
            SQLAlchemy + psycopg 3 (postgresql+psycopg://); the frame is converted with
            to_pandas() in the setup (``_tf_id`` as int64 with the same bits: SQLAlchemy has
            no unsigned 64-bit type). Capped at --slow-rows rows (it is slow).
  ceiling   the server's own ingest ceiling: the table tillflow writes (its columns and types,
            ``_tf_load_id`` included) is staged once by tillflow and dumped with
            ``COPY ... TO ... (FORMAT binary)`` in the setup; a run creates the table and feeds
            that pre-encoded file back with ``\copy ... FROM ... (FORMAT binary)`` through psql.
            No client encodes faster than not encoding at all; the target is tillflow at 0.8x
            or more of it. Its peak RSS is the Python child's, not psql's.

Run by hand, never in the test suite:

    python benchmarks/p5_postgres.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

ALL = ["tillflow", "ceiling", "adbc", "pandas"]
URL = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "tillflow_p5"
BASE_ID = 5_000_000_000_000  # Shopify-sized order ids
START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
SPAN_US = 2 * 365 * 86_400 * 1_000_000


def generate(n: int, seed: int, out: Path) -> None:
    """N orders as the normalizer emits Shopify orders (nested objects flattened)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    created = START_US + np.sort(rng.integers(0, SPAN_US, n))
    cents = rng.integers(100, 200_000, n)
    tax = cents * 8 // 100
    discount = np.where(rng.random(n) < 0.2, cents // 10, 0)
    customers = rng.integers(0, n // 5 + 1, n)
    guest = rng.random(n) < 0.12

    def stamp(us: Any) -> pl.Series:
        return pl.Series(us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")

    def money(values: Any) -> pl.Series:
        return (pl.Series(values, dtype=pl.Int64).cast(pl.Decimal(38, 0)) / 100).cast(pl.Decimal(38, 2))

    def pick(choices: list[str], p: list[float] | None = None) -> pl.Series:
        return pl.Series(np.asarray(choices)[rng.choice(len(choices), n, p=p)])

    def some(series: pl.Series, share: float) -> pl.Series:
        return pl.select(pl.when(pl.Series(rng.random(n) < share)).then(series)).to_series()

    ids = BASE_ID + np.arange(n, dtype=np.int64) * 7
    frame = pl.DataFrame(
        {
            "id": ids,
            "order_number": np.arange(n, dtype=np.int64) + 1001,
            "name": pl.Series(np.arange(n) + 1001).cast(pl.String).str.pad_start(7, "#"),
            "email": pl.Series(customers)
            .cast(pl.String)
            .map_elements(lambda c: f"buyer{c}@example.com", pl.String),
            "created_at": stamp(created),
            "updated_at": stamp(created + rng.integers(0, 86_400_000_000 * 30, n)),
            "processed_at": stamp(created + 1_000_000),
            "cancelled_at": some(stamp(created + 3_600_000_000), 0.02),
            "currency": pick(["USD", "EUR", "GBP", "CAD"], [0.6, 0.2, 0.1, 0.1]),
            "total_price": money(cents + tax - discount),
            "subtotal_price": money(cents - discount),
            "total_tax": money(tax),
            "total_discounts": money(discount),
            "financial_status": pick(
                ["paid", "pending", "refunded", "partially_refunded", "voided"],
                [0.85, 0.05, 0.04, 0.03, 0.03],
            ),
            "fulfillment_status": some(pick(["fulfilled", "partial"]), 0.7),
            "test": rng.random(n) < 0.001,
            "buyer_accepts_marketing": rng.random(n) < 0.4,
            "total_weight": rng.integers(0, 20_000, n),
            "note": some(pick(["gift wrap please", "leave at the door", "call before delivery"]), 0.05),
            "tags": pick(["", "vip", "wholesale", "vip, repeat"]),
            "source_name": pick(["web", "pos", "iphone", "android"]),
            "customer__id": pl.select(
                pl.when(~pl.Series(guest)).then(pl.Series(customers + 7_000_000_000))
            ).to_series(),
            "customer__first_name": some(pick(["Anna", "Ben", "Carla", "Dev", "Elif", "Femi"]), 0.88),
            "customer__last_name": some(pick(["Smith", "Müller", "García", "Khan", "Nguyen"]), 0.88),
            "shipping_address__city": some(pick(["Berlin", "Paris", "London", "Toronto", "Austin"]), 0.9),
            "shipping_address__zip": some(pl.Series(rng.integers(10_000, 99_999, n)).cast(pl.String), 0.9),
            "shipping_address__country_code": some(pick(["DE", "FR", "GB", "CA", "US"]), 0.9),
            "shipping_address__latitude": some(pl.Series(rng.uniform(-60, 70, n)), 0.9),
            "_tf_id": pl.Series(rng.integers(0, 2**63, n, dtype=np.uint64) * 2 + 1, dtype=pl.UInt64),
        }
    )
    frame.write_parquet(out / "orders.parquet")
    size = frame.estimated_size() / 2**20
    print(f"generated {frame.height:,} orders × {frame.width} columns, {size:,.0f} MiB")


# ------------------------------------------------------------------------------------- contenders

Run = Callable[[], int]


def fresh_schema() -> None:
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(URL) as con, con.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        cur.execute(f"CREATE SCHEMA {SCHEMA}")
        con.commit()


def count_rows() -> int:
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(URL) as con, con.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {SCHEMA}.orders")
        return int(cur.fetchone()[0])


def setup_tillflow(data: Path, args: argparse.Namespace) -> Run:
    import polars as pl

    import tillflow as tl

    frame = pl.read_parquet(data / "orders.parquet")
    tl.warehouse.postgres  # noqa: B018 - imported in the setup, as the peers' modules are

    def run() -> int:
        with tl.warehouse.postgres(URL, schema=SCHEMA) as wh:
            load = wh.begin_load("p5", "orders", "append")
            for offset in range(0, frame.height, args.batch_rows):
                wh.write_batch(
                    load, {"orders": frame.slice(offset, args.batch_rows)}, state={"offset": offset}
                )
            return wh.finish_load(load).row_counts["orders"]

    return run


def setup_adbc(data: Path, args: argparse.Namespace) -> Run:
    import polars as pl
    from adbc_driver_postgresql import dbapi

    table = pl.read_parquet(data / "orders.parquet").to_arrow()

    def run() -> int:
        with dbapi.connect(URL) as con, con.cursor() as cur:
            rows = cur.adbc_ingest("orders", table, mode="create", db_schema_name=SCHEMA)
            con.commit()
        return int(rows)

    return run


def setup_pandas(data: Path, args: argparse.Namespace) -> Run:
    import polars as pl
    import sqlalchemy

    orders = pl.read_parquet(data / "orders.parquet", n_rows=min(args.rows, args.slow_rows))
    # SQLAlchemy has no unsigned 64-bit type: the row ids go as bigint with the same bits, as ADBC sends them.
    frame = orders.with_columns(pl.col("_tf_id").reinterpret(signed=True)).to_pandas()
    engine = sqlalchemy.create_engine(URL.replace("postgresql://", "postgresql+psycopg://"))

    def run() -> int:
        frame.to_sql("orders", engine, schema=SCHEMA, method="multi", chunksize=args.chunksize, index=False)
        return len(frame)

    return run


def psql(*commands: str) -> str:
    """Run commands through psql; its output ("COPY 1000000" after a copy) is returned."""
    argv = ["psql", URL, "-X", "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        argv += ["-c", command]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def setup_ceiling(data: Path, args: argparse.Namespace) -> Run:
    from adbc_driver_postgresql import dbapi

    fresh_schema()
    setup_tillflow(data, args)()
    dump = data / "orders.pgcopy"
    psql(f"\\copy {SCHEMA}.orders TO '{dump}' (FORMAT binary)")
    with dbapi.connect(URL) as con, con.cursor() as cur:
        cur.execute(
            "SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', '"
            f" ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{SCHEMA}.orders'::regclass"
            " AND attnum > 0 AND NOT attisdropped"
        )
        columns = cur.fetchone()[0]

    def run() -> int:
        create = f"CREATE TABLE {SCHEMA}.orders ({columns})"
        out = psql(create, f"\\copy {SCHEMA}.orders FROM '{dump}' (FORMAT binary)")
        return int(out.split()[-1])

    return run


SETUPS: dict[str, Callable[[Path, argparse.Namespace], Run]] = {
    "tillflow": setup_tillflow,
    "adbc": setup_adbc,
    "pandas": setup_pandas,
    "ceiling": setup_ceiling,
}


# ---------------------------------------------------------------------------------------- processes


def child_main(args: argparse.Namespace) -> int:
    contender = args.child
    config = json.loads((Path(args.data) / "config.json").read_text())
    for key, value in config.items():
        setattr(args, key, value)
    result: dict[str, Any] = {"contender": contender}
    packages = {
        "tillflow": ["tillflow", "polars", "psycopg", "pgpq"],
        "adbc": ["adbc-driver-postgresql", "pyarrow"],
        "pandas": ["pandas", "SQLAlchemy", "psycopg"],
        "ceiling": ["tillflow", "adbc-driver-postgresql"],
    }
    result["versions"] = harness.versions(packages[contender])
    try:
        t0 = time.perf_counter()
        run = SETUPS[contender](Path(args.data), args)
        result["setup_seconds"] = time.perf_counter() - t0
        result.update(harness.settle())
        times, rows = [], []
        for _ in range(args.repeat):
            fresh_schema()
            start = time.perf_counter()
            loaded = run()
            times.append(time.perf_counter() - start)
            stored = count_rows()
            if stored != loaded:
                raise RuntimeError(f"{contender} reported {loaded:,} rows but the table holds {stored:,}")
            rows.append(stored)
        result.update(times=times, rows=rows[-1])
    except Exception as exc:
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    return harness.write_result(result)


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    ours = next((r for r in rows if r["contender"] == "tillflow" and "seconds" in r), None)
    for r in rows:
        if "seconds" in r:
            r["rows_per_s"] = r["rows"] / r["seconds"]
    columns = [
        harness.Column(
            "contender", 10, lambda r: r["contender"] + (" *" if r["rows"] < args.rows else ""), left=True
        ),
        harness.Column("rows", 10, "rows", ","),
        harness.Column("seconds", 8, "seconds", ".2f"),
        harness.Column("rows/s", 10, "rows_per_s", ",.0f"),
        harness.Column("peak RSS MiB", 12, "rss_mib", ",.0f"),
        harness.Column("resident MiB", 12, "resident_mib", ",.0f"),
        harness.Column("setup s", 8, "setup_seconds", ".2f"),
        harness.Column(
            "tillflow ×",
            10,
            lambda r: f"{ours['rows'] / ours['seconds'] / r['rows_per_s']:.2f}×" if ours else "-",
        ),
    ]
    harness.print_table(
        rows,
        columns,
        title=f"P5: {args.rows:,} orders into PostgreSQL, best of {args.repeat}",
        status=lambda r: None if "seconds" in r else f"FAILED: {r.get('error')}",
    )
    print(
        "\nseconds: the load alone, in-child (fresh schema before each run, untimed); rows/s = rows ÷ s;"
        "\n'tillflow ×' = tillflow's rows/s ÷ the contender's. peak RSS: the child's ru_maxrss with the"
        "\nhigh-water mark reset after setup (reading the Parquet file); resident: RSS before the first run."
        f"\n* = capped at --slow-rows {args.slow_rows:,}."
    )
    harness.print_notes(rows, digits=2)


def parent_main(args: argparse.Namespace) -> int:
    contenders = harness.chosen_contenders(args, ALL)
    with harness.parent_run(args, "tillflow_p5_") as out:
        generated = out / "orders.parquet"
        if not generated.exists() or json.loads((out / "config.json").read_text()).get("rows") != args.rows:
            cmd = [sys.executable, __file__, "--generate", "--rows", str(args.rows),
                   "--seed", str(args.seed), "--out", str(out)]  # fmt: skip
            subprocess.run(cmd, check=True)
        config = {"rows": args.rows, "batch_rows": args.batch_rows, "chunksize": args.chunksize,
                  "slow_rows": args.slow_rows}  # fmt: skip
        (out / "config.json").write_text(json.dumps(config))
        rows = []
        for contender in harness.contenders_in_turn(args, contenders):
            argv = ["--data", str(out), "--repeat", str(args.repeat)]
            row = harness.run_child(__file__, contender, argv, timeout=args.timeout)
            print(
                f"  {contender}: " + (f"{row['seconds']:.2f}s" if "seconds" in row else row.get("error", "?"))
            )
            rows.append(row)
        fresh_schema()  # leave nothing big behind
        print_table(rows, args)
        print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
        return 1 if any("error" in r for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="orders to generate and load")
    p.add_argument("--batch-rows", type=int, default=100_000, help="rows per tillflow write_batch")
    p.add_argument("--chunksize", type=int, default=1_000, help="pandas to_sql chunksize")
    p.add_argument("--slow-rows", type=int, default=100_000, help="rows the pandas contender loads")
    p.add_argument("--seed", type=int, default=20261121, help="data generator seed")
    harness.add_options(p, ALL, out="work folder; an orders.parquet of --rows there is reused")
    return harness.dispatch(p, argv, lambda a: generate(a.rows, a.seed, Path(a.out)), child_main, parent_main)


if __name__ == "__main__":
    sys.exit(main())
