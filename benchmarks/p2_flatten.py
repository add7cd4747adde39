"""Benchmark P2: flatten an NDJSON file of N Shopify-shaped orders (nested
line items) into two DuckDB tables, orders and line items, with tillflow,
DuckDB and polars; and the tillflow normalizer alone, with no load.

The file is written once (untimed) by paging the demo shop, the same way
``p1_load.py --keep`` writes it, and reused from ``--out``. Each contender
runs in its own child process; every timed run starts from a fresh DuckDB
file. After the runs the parent counts both tables in what each contender
wrote and checks them against the counts taken while writing the file.

Contenders:
  tillflow       tl.pipeline(tl.sources.files(path, primary_key="id"), tl.warehouse.duckdb(file)).run()
  duckdb         CREATE TABLE orders AS SELECT * EXCLUDE (line_items) FROM read_json(...), and
                 CREATE TABLE line_items AS SELECT id AS order_id, unnest(line_items, recursive := true) ...
  polars         pl.read_ndjson, explode + unnest into two frames, written to DuckDB through Arrow
  normalize      tillflow's file stream alone: the file's batches of normalized tables, not loaded
  normalize_mem  tillflow's normalizer alone on bytes already in memory (50,000-record JSON arrays)

Run by hand, never in the test suite:

    python benchmarks/p2_flatten.py --orders 1000000 --out /tmp/p2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

BATCH = 50_000  # records per normalize_mem chunk: tl.sources.files' default batch_size
DATA = "orders.ndjson"
COUNTS = "orders.counts.json"  # the counts taken while writing DATA
ALL = ["tillflow", "duckdb", "polars", "normalize", "normalize_mem"]
LOADS = {"tillflow", "duckdb", "polars"}  # the contenders that write a DuckDB file
# (orders table, line items table, the line items' column holding the order's id)
TABLES = {
    "tillflow": ("orders", "orders__line_items", "orders_id"),
    "duckdb": ("orders", "line_items", "order_id"),
    "polars": ("orders", "line_items", "order_id"),
}
PACKAGES = {
    "tillflow": ["tillflow", "duckdb", "polars"],
    "duckdb": ["duckdb"],
    "polars": ["polars", "pyarrow", "duckdb"],
    "normalize": ["tillflow", "polars"],
    "normalize_mem": ["tillflow", "polars"],
}

# ----------------------------------------------------------------------------------------- the data


def generate(orders: int, out: Path) -> dict[str, int]:
    """Starts a demo shop with ``orders`` orders, pages it once (one Link chain)
    and writes each order as a line of ``out/orders.ndjson``, counting orders and
    line items; the counts go to ``out/orders.counts.json``."""
    import tillflow as tl

    with tl.demo_shop(orders=orders) as shop:
        n_orders, n_items = harness.dump_orders(shop.url, shop.token, out / DATA)
    counts = {"orders": n_orders, "line_items": n_items, "bytes": (out / DATA).stat().st_size}
    (out / COUNTS).write_text(json.dumps(counts))
    return counts


def data_counts(out: Path, orders: int) -> dict[str, int] | None:
    """The counts of an earlier file of ``orders`` orders in ``out``, if it is there whole."""
    try:
        counts = json.loads((out / COUNTS).read_text())
    except (OSError, ValueError):
        return None
    ok = counts.get("orders") == orders and (out / DATA).exists()
    return counts if ok and (out / DATA).stat().st_size == counts.get("bytes") else None


# ---------------------------------------------------------------------------------------- contenders
# Each setup does the untimed part (imports, reading into memory) and returns the
# timed run; a run that loads writes ``db`` from scratch, one that does not returns
# its row counts.

Run = Callable[[], Any]


def fresh(db: Path) -> None:
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)


def setup_tillflow(path: Path, db: Path) -> Run:
    import tillflow as tl

    def run() -> dict[str, int]:
        wh = tl.warehouse.duckdb(str(db))
        summary = tl.pipeline("p2", tl.sources.files(str(path), primary_key="id"), wh).run()
        wh.close()
        return dict(summary.row_counts)

    return run


def setup_duckdb(path: Path, db: Path) -> Run:
    import duckdb

    src = f"read_json('{str(path).replace(chr(39), chr(39) * 2)}', format = 'newline_delimited')"

    def run() -> None:
        con = duckdb.connect(str(db))
        con.execute(f"CREATE TABLE orders AS SELECT * EXCLUDE (line_items) FROM {src}")
        con.execute(
            "CREATE TABLE line_items AS "
            f"SELECT id AS order_id, unnest(line_items, recursive := true) FROM {src}"
        )
        con.close()

    return run


def setup_polars(path: Path, db: Path) -> Run:
    import duckdb
    import polars as pl

    def run() -> None:
        df = pl.read_ndjson(path)
        orders = df.drop("line_items").unnest("customer", separator="__")
        items = (
            df.select(pl.col("id").alias("order_id"), "line_items")
            .explode("line_items", empty_as_null=False, keep_nulls=False)
            .unnest("line_items")
        )
        del df
        con = duckdb.connect(str(db))
        for name, frame in (("orders", orders), ("line_items", items)):
            con.register(f"{name}_arrow", frame.to_arrow())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
            con.unregister(f"{name}_arrow")
        con.close()

    return run


def count_batch(tables: dict[str, Any], counts: dict[str, int]) -> None:
    for name, frame in tables.items():
        counts[name] = counts.get(name, 0) + frame.height


def setup_normalize(path: Path, db: Path) -> Run:
    import tillflow as tl

    def run() -> dict[str, int]:
        (resource_,) = tl.sources.files(str(path), primary_key="id").resources
        stream = resource_.open(None)
        counts: dict[str, int] = {}
        try:
            for batch in stream:
                count_batch(batch["tables"], counts)
        finally:
            stream.close()
        return counts

    return run


def setup_normalize_mem(path: Path, db: Path) -> Run:
    from tillflow import _native

    lines = path.read_bytes().splitlines()
    chunks = [b"[" + b",".join(lines[i : i + BATCH]) + b"]" for i in range(0, len(lines), BATCH)]
    del lines

    def run() -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in chunks:
            count_batch(_native.normalize_records("orders", chunk, ["id"]), counts)
        return counts

    return run


SETUPS: dict[str, Callable[[Path, Path], Run]] = {
    "tillflow": setup_tillflow,
    "duckdb": setup_duckdb,
    "polars": setup_polars,
    "normalize": setup_normalize,
    "normalize_mem": setup_normalize_mem,
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def child_main(args: argparse.Namespace) -> int:
    contender = args.child
    result: dict[str, Any] = {"contender": contender, "versions": harness.versions(PACKAGES[contender])}
    path = Path(args.out) / DATA
    db = Path(args.out) / f"{contender}.duckdb"
    try:
        t0 = time.perf_counter()
        run = SETUPS[contender](path, db)
        result["setup_seconds"] = time.perf_counter() - t0
        result.update(harness.settle())
        times, cpus, got = [], [], None
        for _ in range(args.repeat):
            fresh(db)
            c0, t0 = cpu_seconds(), time.perf_counter()
            got = run()
            times.append(time.perf_counter() - t0)
            cpus.append(cpu_seconds() - c0)
        best = times.index(min(times))
        result.update(times=times, cpus=cpus, cpu_best=cpus[best])
        if contender not in LOADS:
            result["counts"] = got
        elif isinstance(got, dict):
            result["reported"] = got  # tillflow's own summary, beside the counts of its tables
    except Exception as exc:
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    return harness.write_result(result)


# ------------------------------------------------------------------------------------ the parent


def verify(row: dict[str, Any], out: Path, want: dict[str, int]) -> bool:
    """Counts the two tables the contender wrote (or the rows it normalized) and
    checks them against the file's counts; prints the counts."""
    import duckdb

    name = row["contender"]
    if name in LOADS:
        orders_t, items_t, key = TABLES[name]
        con = duckdb.connect(str(out / f"{name}.duckdb"), read_only=True)
        n_orders, n_ids = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {orders_t}").fetchone()
        n_items, orphans = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {key} NOT IN (SELECT id FROM {orders_t})) "
            f"FROM {items_t}"
        ).fetchone()
        con.close()
    else:
        counts = row.get("counts") or {}
        n_orders, n_items = counts.get("orders", 0), counts.get("orders__line_items", 0)
        n_ids, orphans = n_orders, 0  # batches are not loaded: no keys to look up
    ok = (n_orders, n_ids, n_items, orphans) == (want["orders"], want["orders"], want["line_items"], 0)
    row.update(orders=n_orders, line_items=n_items, ok=ok)
    print(
        f"  verify {name}: orders={n_orders:,} (distinct ids {n_ids:,}; want {want['orders']:,}) "
        f"line_items={n_items:,} (want {want['line_items']:,}; without their order {orphans:,}) -> "
        + ("OK" if ok else "MISMATCH"),
        flush=True,
    )
    return ok


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, want: dict[str, int]) -> None:
    mb = want["bytes"] / 1e6
    duck = next((r for r in rows if r["contender"] == "duckdb" and "seconds" in r), None)
    columns = [
        harness.Column("contender", 13, "contender", left=True),
        harness.Column("orders", 10, "orders", ","),
        harness.Column("line items", 11, "line_items", ","),
        harness.Column("seconds", 8, "seconds", ".3f"),
        harness.Column("rows/s", 10, lambda r: (r["orders"] + r["line_items"]) / r["seconds"], ",.0f"),
        harness.Column("MB/s", 7, lambda r: mb / r["seconds"], ",.0f"),
        harness.Column("CPU s", 6, "cpu_best", ".2f"),
        harness.Column("cores", 5, lambda r: r["cpu_best"] / r["seconds"], ".2f"),
        harness.Column("MB/s/core", 9, lambda r: mb / r["cpu_best"], ",.0f"),
        harness.Column("peak RSS MiB", 12, "rss_mib", ",.0f"),
        harness.Column("resident MiB", 12, "resident_mib", ",.0f"),
        harness.Column("vs duckdb", 9, lambda r: f"{duck['seconds'] / r['seconds']:.2f}×" if duck else "-"),
    ]
    harness.print_table(
        rows,
        columns,
        title=f"P2: {want['orders']:,} orders, {mb:,.0f} MB of NDJSON, best of {args.repeat}",
        status=harness.run_status,
    )
    print(
        "\nseconds: the best timed run, in-child (no interpreter start, imports or setup). CPU s: user +"
        "\nsystem time of every thread of the child during that run; cores = CPU s ÷ seconds; MB/s/core ="
        "\nfile MB ÷ CPU s. peak RSS: the child's ru_maxrss, the high-water mark reset after setup;"
        "\nresident: RSS before the first run (normalize_mem holds the file's bytes). 'vs duckdb' = DuckDB's"
        "\nseconds ÷ the contender's. normalize and normalize_mem load nothing."
    )
    harness.print_notes(rows)


def parent_main(args: argparse.Namespace) -> int:
    contenders = harness.chosen_contenders(args, ALL)
    with harness.parent_run(args, "tillflow_p2_") as out:
        want = data_counts(out, args.orders)
        if want is None:
            print(f"writing {args.orders:,} orders to {out / DATA} (untimed) ...", flush=True)
            t0 = time.perf_counter()
            cmd = [sys.executable, __file__, "--generate", "--orders", str(args.orders), "--out", str(out)]
            subprocess.run(cmd, check=True)
            want = data_counts(out, args.orders)
            if want is None:
                raise SystemExit(f"writing {out / DATA} failed")
            print(f"  written in {time.perf_counter() - t0:.1f}s", flush=True)
        else:
            print(f"reusing {out / DATA}", flush=True)
        print(
            f"the file: {want['orders']:,} orders, {want['line_items']:,} line items, "
            f"{want['bytes'] / 1e6:,.1f} MB",
            flush=True,
        )
        rows = []
        for contender in harness.contenders_in_turn(args, contenders):
            argv = ["--out", str(out), "--repeat", str(args.repeat)]
            row = harness.run_child(__file__, contender, argv, timeout=args.timeout)
            if "seconds" in row:
                print(f"  {contender}: best {row['seconds']:.3f}s of {len(row['times'])}", flush=True)
                verify(row, out, want)
            else:
                print(f"  {contender}: FAILED: {row.get('error')}", flush=True)
            rows.append(row)
            if not args.keep:
                for p in out.glob(f"{contender}.duckdb*"):
                    p.unlink()
        print_table(rows, args, want)
        print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
        if any("error" in r for r in rows):
            print("ERROR: some contender failed", file=sys.stderr)
            return 1
        if not all(r.get("ok") for r in rows):
            print("ERROR: some contender's row counts did not match", file=sys.stderr)
            return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=1_000_000, help="orders in the file (default 1,000,000)")
    harness.add_options(
        p,
        ALL,
        out=f"work folder for {DATA} and the DuckDB files (default: a temp folder, removed afterwards); "
        f"a {DATA} of the same --orders written there earlier is reused",
        keep="keep the temp folder and the DuckDB files",
    )
    return harness.dispatch(p, argv, lambda a: generate(a.orders, Path(a.out)), child_main, parent_main)


if __name__ == "__main__":
    sys.exit(main())
