"""``tillflow demo`` and ``tillflow demo-shop``: the demo shop (or the whole
demo SaaS estate) loaded offline, and the shop served on its own."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import polars as pl

from tillflow.cli._common import (
    WAREHOUSE_HELP,
    add_alerts_option,
    env_monitor,
    open_warehouse,
    progress_bar,
    quiet,
    rules_table,
    steps,
    table,
)


def add_commands(sub: Any) -> None:
    demo = sub.add_parser("demo", help="load the built-in demo shop into DuckDB and print the daily summary")
    demo.add_argument("--orders", type=int, default=2000, help="orders in the demo shop (default 2000)")
    demo.add_argument(
        "--warehouse", default="tillflow_demo.duckdb", help=f"{WAREHOUSE_HELP} (default tillflow_demo.duckdb)"
    )
    demo.add_argument("--days", type=int, default=14, help="days of the daily summary to print (default 14)")
    demo.add_argument("--seed", type=int, default=42, help="seed of the synthetic data")
    demo.add_argument(
        "--sources",
        choices=("shop", "all"),
        default="shop",
        help="shop: the demo shop (default); all: the whole demo SaaS estate (store, Stripe, PayPal, "
        "Square, HubSpot, Zendesk, Mailchimp, QuickBooks, Xero, GA4) and the store-against-payments view",
    )
    demo.add_argument(
        "--full-refresh", action="store_true", help="ignore the stored cursor and reload everything"
    )
    demo.add_argument(
        "--edit-orders",
        type=int,
        default=0,
        metavar="N",
        help="refund N orders in the shop before loading, so an incremental rerun has changes to fetch",
    )
    quiet(demo)
    add_alerts_option(demo)
    demo.set_defaults(func=_demo)

    shop = sub.add_parser("demo-shop", help="serve the demo shop until interrupted")
    shop.add_argument("--port", type=int, default=8000)
    shop.add_argument("--host", default="127.0.0.1")
    shop.add_argument("--orders", type=int, default=2000)
    shop.add_argument("--seed", type=int, default=42)
    shop.add_argument("--token", default="shpat_demo")
    shop.add_argument("--quiet", action="store_true", help="print nothing while serving")
    shop.set_defaults(func=_demo_shop)


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    import tillflow as tl

    if args.sources == "all":
        return _demo_estate(args)

    # Piped output gets rich's 80 columns; the summary needs more to stay readable.
    console = Console(width=None if sys.stdout.isatty() else 120)
    if args.alerts is not None:
        tl.monitor.alerter_from_config(args.alerts)  # a bad file fails before anything starts
    with tl.demo_shop(orders=args.orders, seed=args.seed) as shop:
        console.print(f"demo shop: {shop.url} ({shop.orders:,} orders)")
        if args.edit_orders:
            edited = shop.edit_orders(args.edit_orders)
            console.print(f"refunded {len(edited)} orders in the shop since the last run")
        wh = open_warehouse(args.warehouse)
        try:
            monitor = env_monitor(wh, args.alerts)
            run = tl.pipeline("demo_shop", shop.source(rules=True), wh, monitor=monitor).run(
                full_refresh=args.full_refresh, progress=not args.quiet
            )
            console.print(f"loaded {run.total_rows:,} rows in {run.seconds:.2f}s into {args.warehouse}")
            if run.monitor is not None and run.monitor.health is not None:
                console.print(f"health: {run.monitor.health}")
                for anomaly in run.monitor.anomalies:
                    console.print(f"anomaly ({anomaly.severity}): {anomaly.message}")
            for resource, report in run.reports.items():
                console.print(rules_table(f"rules on {resource}: {report.summary()}", report))
            counts = wh.row_counts()
            console.print(
                table("tables", pl.DataFrame({"table": list(counts), "rows": list(counts.values())}))
            )
            # The metrics: native kernels over the loaded tables (read as Arrow), stored as metrics_* tables.
            with progress_bar(not args.quiet, "metrics") as bar:
                metrics = tl.metrics.refresh(wh, on_metric=steps(bar, "metrics", len(tl.metrics.METRICS)))
            console.print(f"stored {len(metrics)} metrics tables for dashboards (metrics_daily_summary, ...)")
            summary = (
                metrics["daily_summary"]
                .head(args.days)
                # Short headers keep the table inside an 80-column terminal.
                .rename(
                    {"total_orders": "orders", "average_order_value": "AOV", "unique_customers": "customers"}
                )
            )
            console.print(table(f"daily summary (latest {len(summary)} days)", summary))
            segments = metrics["customer_segments"].rename(
                {"customer_segment": "segment", "customer_count": "customers",
                 "avg_lifetime_value": "avg spent", "avg_orders_per_customer": "avg orders"}
            )  # fmt: skip
            console.print(table("customer segments", segments))
        finally:
            wh.close()
    return 0


def _demo_estate(args: argparse.Namespace) -> int:
    import tempfile

    from rich.console import Console

    from tillflow.demo import DemoEstate
    from tillflow.demo.estate import ESTATE_SIZE, cross_source, load_estate

    console = Console(width=None if sys.stdout.isatty() else 120)
    # The estate lives as long as this command, and so do its rotated refresh tokens.
    with (
        DemoEstate(
            seed=args.seed, customers=ESTATE_SIZE["customers"], orders=ESTATE_SIZE["orders"]
        ) as estate,
        tempfile.TemporaryDirectory(prefix="tillflow-estate-tokens-") as tokens,
        open_warehouse(args.warehouse) as wh,
    ):
        console.print(f"demo estate: {len(estate.vendors)} vendors on 127.0.0.1, limits enforced")
        runs = load_estate(estate, wh, token_dir=tokens, progress=not args.quiet)
        for run in runs:
            console.print(f"{run.pipeline}: {run.total_rows:,} rows in {run.seconds:.2f}s")
        view = cross_source(wh)
        t = view.totals
        console.print(
            f"store revenue {t['store_cents'] / 100:,.2f} = Stripe {t['stripe_cents'] / 100:,.2f} "
            f"+ PayPal {t['paypal_cents'] / 100:,.2f} + unexplained {t['difference_cents'] / 100:,.2f}"
        )
        differing = view.customers.filter(pl.col("difference_cents") != 0)
        console.print(
            table(f"customers whose payments differ from the store ({differing.height})", differing)
        )
        orders = view.mismatches.drop("order_id")
        console.print(table(f"orders that explain it ({orders.height})", orders))
    return 0


def _demo_shop(args: argparse.Namespace) -> int:
    import tillflow as tl

    with tl.demo_shop(
        orders=args.orders, seed=args.seed, token=args.token, port=args.port, host=args.host
    ) as shop:
        if not args.quiet:
            print(f"demo shop serving {shop.orders:,} orders at {shop.url}/admin/api/2024-01/orders.json")
            print(f"header: X-Shopify-Access-Token: {args.token}   (Ctrl-C stops)")
            sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            if not args.quiet:
                print("stopped")
    return 0
