"""The ``tillflow`` command: ``demo``, ``demo-shop`` and ``run``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import polars as pl

from tillflow.exceptions import TillflowError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        return _version(args)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except TillflowError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tillflow", description="A small business's data stack.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="load the built-in demo shop into DuckDB and print the daily summary")
    demo.add_argument("--orders", type=int, default=2000, help="orders in the demo shop (default 2000)")
    demo.add_argument(
        "--warehouse", default="tillflow_demo.duckdb", help="DuckDB file (default tillflow_demo.duckdb)"
    )
    demo.add_argument("--days", type=int, default=14, help="days of the daily summary to print (default 14)")
    demo.add_argument("--seed", type=int, default=42, help="seed of the synthetic data")
    demo.add_argument(
        "--full-refresh", action="store_true", help="ignore the stored cursor and reload everything"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)

    shop = sub.add_parser("demo-shop", help="serve the demo shop until interrupted")
    shop.add_argument("--port", type=int, default=8000)
    shop.add_argument("--host", default="127.0.0.1")
    shop.add_argument("--orders", type=int, default=2000)
    shop.add_argument("--seed", type=int, default=42)
    shop.add_argument("--token", default="shpat_demo")
    shop.set_defaults(func=_demo_shop)

    run = sub.add_parser("run", help="load a REST spec file (TOML/YAML/JSON) into a DuckDB warehouse")
    run.add_argument("spec", type=Path)
    run.add_argument("--warehouse", default="tillflow.duckdb")
    run.add_argument("--pipeline", default=None, help="pipeline name (default: the spec's name)")
    run.add_argument("--write-mode", choices=("append", "replace", "merge"), default=None)
    run.add_argument("--full-refresh", action="store_true")
    run.add_argument("--quiet", action="store_true")
    run.set_defaults(func=_run)

    return p


def _version(args: argparse.Namespace) -> int:
    from tillflow import _native

    print(f"tillflow {_native.__version__}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    import tillflow as tl

    # Piped output gets rich's 80 columns; the summary needs more to stay readable.
    console = Console(width=None if sys.stdout.isatty() else 120)
    with tl.demo_shop(orders=args.orders, seed=args.seed) as shop:
        console.print(f"demo shop: {shop.url} ({shop.orders:,} orders)")
        wh = tl.warehouse.duckdb(args.warehouse)
        try:
            run = tl.pipeline("demo_shop", shop.source(), wh).run(
                full_refresh=args.full_refresh, progress=not args.quiet
            )
            console.print(f"loaded {run.total_rows:,} rows in {run.seconds:.2f}s into {args.warehouse}")
            counts = wh.row_counts()
            console.print(
                _table("tables", pl.DataFrame({"table": list(counts), "rows": list(counts.values())}))
            )
            summary = (
                tl.metrics.daily_summary(wh)
                .head(args.days)
                # Short headers keep the table inside an 80-column terminal.
                .rename(
                    {"total_orders": "orders", "average_order_value": "AOV", "unique_customers": "customers"}
                )
            )
            console.print(_table(f"daily summary (latest {len(summary)} days)", summary))
        finally:
            wh.close()
    return 0


def _demo_shop(args: argparse.Namespace) -> int:
    import tillflow as tl

    with tl.demo_shop(
        orders=args.orders, seed=args.seed, token=args.token, port=args.port, host=args.host
    ) as shop:
        print(f"demo shop serving {shop.orders:,} orders at {shop.url}/admin/api/2024-01/orders.json")
        print(f"header: X-Shopify-Access-Token: {args.token}   (Ctrl-C stops)")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped")
    return 0


def _run(args: argparse.Namespace) -> int:
    import tillflow as tl

    source = tl.sources.rest(args.spec)
    with tl.warehouse.duckdb(args.warehouse) as wh:
        run = tl.pipeline(args.pipeline or source.name, source, wh).run(
            write_mode=args.write_mode, full_refresh=args.full_refresh, progress=not args.quiet
        )
        print(run)
    return 0


def _table(title: str, df: pl.DataFrame) -> object:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for name, dtype in df.schema.items():
        t.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in df.iter_rows():
        t.add_row(*(_fmt(v) for v in row))
    return t


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, (float, Decimal)):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


if __name__ == "__main__":
    raise SystemExit(main())
