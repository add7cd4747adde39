"""Benchmark P1: load N Shopify-shaped orders (and their line items) from
tillflow's demo shop into DuckDB, with tillflow and its peers.

The parent starts ONE demo shop, dumps its orders to NDJSON (untimed, for
DuckDB's local-file reference and for checking row counts), then runs each
contender in its own child process against the same shop, timing it by wall
clock and reading the child's own peak RSS with ``os.wait4``.

Contenders:
  tillflow      tillflow pipeline, shop.source(): 8 concurrent time windows
  tillflow_seq  tillflow pipeline, tl.sources.shopify(): one sequential Link chain
  tillflow_delta  the tillflow pipeline into a Delta lake on local disk (tl.warehouse.delta)
  dlt           dlt's rest_api source (header_link paginator) -> duckdb destination
  pandas        requests + Link header, pd.DataFrame, iterrows, to_sql (duckdb_engine)
  duckdb_ref    DuckDB read_json + unnest of the same orders from a local NDJSON file

Run by hand, never in the test suite:

    python benchmarks/p1_load.py --orders 1000000 --slow-orders 100000
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

API = "admin/api/2024-01"
PAGE = 250
ALL = ["duckdb_ref", "tillflow", "tillflow_seq", "tillflow_delta", "dlt", "pandas"]
SLOW = {"dlt", "pandas"}
# Table names each contender writes: (orders table, line items table).
TABLES = {
    "tillflow": ("main.orders", "main.orders__line_items"),
    "tillflow_seq": ("main.orders", "main.orders__line_items"),
    "tillflow_delta": ("orders", "orders__line_items"),  # Delta tables under the lake folder
    "dlt": ("p1.orders", "p1.orders__line_items"),
    "pandas": ("main.orders", "main.order_line_items"),
    "duckdb_ref": ("main.orders", "main.line_items"),
}


# --------------------------------------------------------------------------
# Contenders (each runs inside its own child process)
# --------------------------------------------------------------------------


def run_tillflow(args: argparse.Namespace, db: Path, sequential: bool, lake: Path | None = None) -> dict:
    import tillflow as tl
    from tillflow.demo import DATA_END, DATA_START

    if sequential:
        source = tl.sources.shopify(args.url, args.token, resources=["orders"])
    else:
        # Exactly what DemoShop.source() builds: the shop's window in 8 slices.
        source = tl.sources.shopify(
            args.url, args.token, resources=["orders"], start=DATA_START, end=DATA_END
        )
    t0 = time.perf_counter()
    wh = tl.warehouse.delta(str(lake)) if lake is not None else tl.warehouse.duckdb(str(db))
    summary = tl.pipeline("p1", source, wh).run()
    wh.close()
    return {"inner_seconds": time.perf_counter() - t0, "reported": summary.row_counts}


def run_dlt(args: argparse.Namespace, db: Path) -> dict:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    config = {
        "client": {
            "base_url": f"{args.url}/{API}/",
            "auth": {
                "type": "api_key",
                "name": "X-Shopify-Access-Token",
                "api_key": args.token,
                "location": "header",
            },
            "paginator": {"type": "header_link"},
        },
        "resources": [
            {
                "name": "orders",
                "primary_key": "id",
                "write_disposition": "replace",
                "endpoint": {
                    "path": "orders.json",
                    "params": {"limit": PAGE, "status": "any"},
                    "data_selector": "orders",
                },
            }
        ],
    }
    source = rest_api_source(config)
    if args.limit_orders:
        source.add_limit(args.limit_orders // PAGE)  # rest_api yields one page per item
    t0 = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="p1",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="p1",
        pipelines_dir=str(Path(args.out) / "dlt_pipelines"),
    )
    info = pipeline.run(source)
    return {"inner_seconds": time.perf_counter() - t0, "loads": len(info.loads_ids)}


def run_pandas(args: argparse.Namespace, db: Path) -> dict:
    """The seed's EcommercePipeline (extract -> transform -> load), made correct:
    mixed UTC offsets are parsed with utc=True, and the nested ``customer`` and
    ``line_items`` columns are dropped before to_sql (it cannot write them)."""
    import pandas as pd
    import requests
    from sqlalchemy import create_engine

    t0 = time.perf_counter()
    engine = create_engine(f"duckdb:///{db}")
    next_link = re.compile(r'<([^>]+)>;\s*rel="next"')

    # Extract
    headers = {"X-Shopify-Access-Token": args.token, "Content-Type": "application/json"}
    url = f"{args.url}/{API}/orders.json"
    params = {"status": "any", "limit": PAGE}
    all_orders = []
    while url:
        response = requests.get(url, headers=headers, params=params)
        response.raise_for_status()
        data = response.json()
        all_orders.extend(data["orders"])
        if args.limit_orders and len(all_orders) >= args.limit_orders:
            break
        m = next_link.search(response.headers.get("Link", ""))
        url = m.group(1) if m else None
        params = None
    orders_df = pd.DataFrame(all_orders)

    # Transform
    orders_df["created_at"] = pd.to_datetime(orders_df["created_at"], utc=True)
    orders_df["updated_at"] = pd.to_datetime(orders_df["updated_at"], utc=True)
    orders_df["total_price"] = pd.to_numeric(orders_df["total_price"])
    orders_df["customer_id"] = orders_df["customer"].apply(lambda x: x["id"] if x else None)
    orders_df["customer_email"] = orders_df["customer"].apply(lambda x: x["email"] if x else None)
    orders_df["order_value_bucket"] = pd.cut(
        orders_df["total_price"],
        bins=[0, 50, 100, 200, float("inf")],
        labels=["Low", "Medium", "High", "Premium"],
    ).astype(str)
    line_items = []
    for _, order in orders_df.iterrows():
        for item in order["line_items"]:
            line_items.append(
                {
                    "order_id": order["id"],
                    "id": item["id"],
                    "product_id": item["product_id"],
                    "variant_id": item["variant_id"],
                    "quantity": item["quantity"],
                    "price": item["price"],
                    "product_title": item["title"],
                    "vendor": item["vendor"],
                    "sku": item["sku"],
                }
            )
    line_items_df = pd.DataFrame(line_items)
    line_items_df["price"] = pd.to_numeric(line_items_df["price"])
    orders_df = orders_df.drop(columns=["customer", "line_items"])

    # Load
    orders_df.to_sql(
        "orders", engine, if_exists="replace", index=False, method="multi", chunksize=args.chunksize
    )
    line_items_df.to_sql(
        "order_line_items", engine, if_exists="replace", index=False, method="multi", chunksize=args.chunksize
    )
    engine.dispose()
    return {"inner_seconds": time.perf_counter() - t0}


def run_duckdb_ref(args: argparse.Namespace, db: Path) -> dict:
    import duckdb

    src = str(Path(args.out) / "orders.ndjson").replace("'", "''")
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM read_json('{src}', format = 'newline_delimited')")
    con.execute("CREATE TABLE orders AS SELECT * EXCLUDE (line_items) FROM raw")
    con.execute(
        "CREATE TABLE line_items AS SELECT id AS order_id, unnest(line_items, recursive := true) FROM raw"
    )
    con.close()
    return {"inner_seconds": time.perf_counter() - t0}


def child_main(args: argparse.Namespace) -> int:
    out = Path(args.out)
    db = out / f"{args.child}.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    if args.child == "tillflow":
        result = run_tillflow(args, db, sequential=False)
    elif args.child == "tillflow_seq":
        result = run_tillflow(args, db, sequential=True)
    elif args.child == "tillflow_delta":
        lake = out / "tillflow_delta.lake"
        shutil.rmtree(lake, ignore_errors=True)
        result = run_tillflow(args, db, sequential=False, lake=lake)
    elif args.child == "dlt":
        result = run_dlt(args, db)
    elif args.child == "pandas":
        result = run_pandas(args, db)
    elif args.child == "duckdb_ref":
        result = run_duckdb_ref(args, db)
    else:
        raise SystemExit(f"unknown contender {args.child!r}")
    return harness.write_result(result)


# --------------------------------------------------------------------------
# Parent: one shop, NDJSON dump, children, verification, table
# --------------------------------------------------------------------------


def run_child(contender: str, args: argparse.Namespace, url: str, token: str, limit: int | None) -> dict:
    argv = [
        "--url", url,
        "--token", token,
        "--orders", str(args.orders),
        "--out", str(args.out),
        "--chunksize", str(args.chunksize),
    ]  # fmt: skip
    if limit:
        argv += ["--limit-orders", str(limit)]
    env = {"RUNTIME__DLTHUB_TELEMETRY": "false"}
    server_cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    row = harness.run_child(__file__, contender, argv, timeout=args.timeout, env=env)
    server_cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    if "error" in row:
        raise SystemExit(f"{contender} failed: {row['error']}")
    return {
        "contender": contender,
        "seconds": row["wall_seconds"],
        "inner_seconds": row["inner_seconds"],
        "rss_mib": row["rss_mib"],
        "client_cpu": row["cpu_seconds"],
        # The shop's threads live in this (otherwise idle) parent process.
        "server_cpu": (server_cpu1.ru_utime + server_cpu1.ru_stime)
        - (server_cpu0.ru_utime + server_cpu0.ru_stime),
        "limit": limit,
        "heavy": row["heavy"],
        "heavy_share": row["heavy_share"],
    }


def verify(row: dict, out: Path, expected: Any) -> None:
    """Counts the contender's rows; line items are checked against the NDJSON
    dump's line items of exactly the orders the contender loaded."""
    orders_t, items_t = TABLES[row["contender"]]
    lake = row["contender"] == "tillflow_delta"
    if lake:  # Delta tables, read as other tools read them
        from deltalake import DeltaTable

        expected.execute("ATTACH ':memory:' AS c")
        for name in (orders_t, items_t):
            dataset = DeltaTable(str(out / "tillflow_delta.lake" / name)).to_pyarrow_dataset()
            expected.register(f"lake_{name}", dataset)
            expected.execute(f"CREATE VIEW c.main.{name} AS SELECT * FROM lake_{name}")
        orders_t, items_t = f"main.{orders_t}", f"main.{items_t}"
    else:
        expected.execute(f"ATTACH '{out / (row['contender'] + '.duckdb')}' AS c (READ_ONLY)")
    o_schema, o_name = orders_t.split(".")
    i_schema, i_name = items_t.split(".")
    o = f"c.{o_schema}.{o_name}"
    i = f"c.{i_schema}.{i_name}"
    n_orders, n_distinct = expected.execute(f"SELECT count(*), count(DISTINCT id) FROM {o}").fetchone()
    n_items = expected.execute(f"SELECT count(*) FROM {i}").fetchone()[0]
    want_items = expected.execute(
        f"SELECT coalesce(sum(n), 0) FROM expected WHERE id IN (SELECT id FROM {o})"
    ).fetchone()[0]
    expected.execute("DETACH c")
    want_orders = row["limit"] or row["n_total"]
    row.update(orders=n_orders, line_items=n_items)
    ok = n_orders == want_orders and n_distinct == n_orders and n_items == want_items
    row["ok"] = ok
    print(
        f"  verify {row['contender']}: orders={n_orders:,} (want {want_orders:,}, distinct {n_distinct:,}) "
        f"line_items={n_items:,} (want {want_items:,}) -> {'OK' if ok else 'MISMATCH'}",
        flush=True,
    )


def print_table(rows: list[dict], n: int) -> None:
    base = next((r for r in rows if r["contender"] == "tillflow"), None)
    base_rate = base["rows"] / base["seconds"] if base else None
    columns = [
        harness.Column("contender", 13, lambda r: r["contender"] + (" *" if r["limit"] else ""), left=True),
        harness.Column("orders", 10, "orders", ","),
        harness.Column("line items", 11, "line_items", ","),
        harness.Column("seconds", 8, "seconds", ".2f"),
        harness.Column("orders/s", 10, lambda r: r["orders"] / r["seconds"], ",.0f"),
        harness.Column("rows/s", 10, lambda r: r["rows"] / r["seconds"], ",.0f"),
        harness.Column("peak RSS MiB", 12, "rss_mib", ",.0f"),
        harness.Column("client CPU s", 12, "client_cpu", ".1f"),
        harness.Column("server CPU s", 12, "server_cpu", ".1f"),
        harness.Column(
            "tillflow ×", 10, lambda r: f"{base_rate / (r['rows'] / r['seconds']):.1f}×" if base_rate else "-"
        ),
    ]
    harness.print_table(rows, columns)
    print(
        "\nseconds: wall clock in the parent from Popen to wait4 (includes interpreter start and imports);"
        "\nrows = orders + line items; peak RSS is the child's own ru_maxrss; server CPU is the demo shop's"
        "\n(in the parent); 'tillflow ×' = tillflow's rows/s divided by the contender's rows/s."
    )
    capped = [r for r in rows if r["limit"]]
    if capped:
        names = ", ".join(r["contender"] for r in capped)
        print(
            f"* CAPPED: {names} loaded only the first {capped[0]['limit']:,} of the shop's {n:,} orders "
            "(same server); their rates are measured at that cap."
        )
    ref = next((r for r in rows if r["contender"] == "duckdb_ref"), None)
    if base and ref:
        ref_rate = ref["rows"] / ref["seconds"]
        print(
            f"tillflow end-to-end over HTTP = {base_rate / ref_rate:.2f}× DuckDB's local-file read_json "
            f"({base_rate:,.0f} vs {ref_rate:,.0f} rows/s; target >= 1.0), peak RSS "
            f"{base['rss_mib']:,.0f} vs {ref['rss_mib']:,.0f} MiB (target: no higher)"
        )
    for r in rows:
        if r["heavy"]:
            print(
                f"WARNING: {'/'.join(r['heavy'])} ran during {r['contender']} "
                f"(~{r['heavy_share']:.0%} of its run): its figure is suspect"
            )
    print(
        "in-child load time (excludes interpreter start/imports): "
        + ", ".join(f"{r['contender']} {r['inner_seconds']:.2f}s" for r in rows)
    )


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def parent_main(args: argparse.Namespace) -> int:
    import duckdb

    import tillflow as tl

    contenders = harness.chosen_contenders(args, ALL)
    caps = {"dlt": args.dlt_orders or args.slow_orders, "pandas": args.pandas_orders or args.slow_orders}
    for c, cap in caps.items():
        if cap and (cap % PAGE or cap > args.orders):
            raise SystemExit(f"--{c}-orders/--slow-orders must be a multiple of {PAGE} and <= --orders")
    harness.check_machine(args, first=True)
    out, tmp = harness.work_folder(args, "tillflow_p1_")

    from tillflow import _native

    native = Path(_native.__file__)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=native.parent,
    )
    print(
        f"tillflow native module: {native.name}, built {_utc(native.stat().st_mtime)} UTC; "
        f"git HEAD {commit.stdout.strip() or '?'}; python {sys.version.split()[0]}; "
        + ", ".join(
            f"{p} {v}"
            for p, v in harness.versions(
                ("duckdb", "deltalake", "dlt", "pandas", "SQLAlchemy", "duckdb_engine", "requests"),
                missing="not installed",
            ).items()
        ),
        flush=True,
    )
    native_mtime = native.stat().st_mtime
    print(f"starting the demo shop with {args.orders:,} orders ...", flush=True)
    shop = tl.demo_shop(orders=args.orders)
    try:
        t0 = time.perf_counter()
        n = harness.dump_orders(shop.url, shop.token, out / "orders.ndjson", API, PAGE)[0]
        print(f"dumped {n:,} orders to NDJSON in {time.perf_counter() - t0:.1f}s (untimed)", flush=True)
        if n != args.orders:
            raise SystemExit(f"the shop served {n:,} orders, expected {args.orders:,}")
        expected = duckdb.connect()
        src = str(out / "orders.ndjson").replace("'", "''")
        expected.execute(
            "CREATE TABLE expected AS SELECT id, len(line_items) AS n "
            f"FROM read_json('{src}', format = 'newline_delimited')"
        )
        total_items = expected.execute("SELECT sum(n) FROM expected").fetchone()[0]
        print(f"expected: {n:,} orders, {total_items:,} line items", flush=True)

        rows = []
        for c in contenders:
            limit = caps.get(c) if c in SLOW else None
            harness.check_machine(args)
            if native.stat().st_mtime != native_mtime:
                print("WARNING: tillflow's native module was rebuilt during this benchmark", flush=True)
                native_mtime = native.stat().st_mtime
            print(f"running {c}" + (f" (capped at {limit:,} orders)" if limit else "") + " ...", flush=True)
            row = run_child(c, args, shop.url, shop.token, limit)
            row["n_total"] = n
            verify(row, out, expected)
            row["rows"] = row["orders"] + row["line_items"]
            print(
                f"  {c}: {row['seconds']:.2f}s, {row['rows'] / row['seconds']:,.0f} rows/s, "
                f"peak RSS {row['rss_mib']:,.0f} MiB",
                flush=True,
            )
            rows.append(row)
            if not args.keep:
                for p in out.glob(f"{c}.duckdb*"):
                    p.unlink()
        print_table(rows, n)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        if not all(r["ok"] for r in rows):
            print("ERROR: some contender's row counts did not match", file=sys.stderr)
            return 1
    finally:
        shop.stop()
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--orders", type=int, default=1_000_000, help="orders in the demo shop (default 1,000,000)"
    )
    p.add_argument(
        "--slow-orders", type=int, default=None, help="cap for dlt and pandas (orders, multiple of 250)"
    )
    p.add_argument("--dlt-orders", type=int, default=None, help="cap for dlt alone (overrides --slow-orders)")
    p.add_argument(
        "--pandas-orders", type=int, default=None, help="cap for pandas alone (overrides --slow-orders)"
    )
    p.add_argument("--chunksize", type=int, default=1000, help="pandas to_sql chunksize (default 1000)")
    harness.add_options(p, ALL, repeat=None, keep="keep the DuckDB files and the NDJSON dump")
    # Child mode (used by the parent; not for direct use).
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.add_argument("--limit-orders", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
