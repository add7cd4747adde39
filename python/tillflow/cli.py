"""The ``tillflow`` command: ``demo``, ``demo-shop``, ``run``, ``validate``,
``metrics``, ``serve-metrics``, ``metrics-textfile``, ``report`` and ``health``.

Long steps show progress bars on stderr when it is a terminal; ``--quiet``
turns them off, and a pipe or a log file never gets them. Exit codes are
one table for every command (:mod:`tillflow._exits`). Commands that read a
warehouse open an existing file read-only and never create one."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from tillflow import _exits
from tillflow._cli_monitor import (
    WAREHOUSE_HELP,
    add_alerts_option,
    add_health,
    env_monitor,
    open_existing,
    open_warehouse,
)
from tillflow._cli_sources import add_source_commands
from tillflow.exceptions import Interrupted, TillflowError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        return _version(args)
    if not getattr(args, "command", None):
        parser.print_help()
        return _exits.USAGE
    with _sigterm_stops(), _log_to_stderr():
        try:
            return int(args.func(args))
        except (KeyboardInterrupt, Interrupted) as e:
            print(f"stopped: {e or 'interrupted'}", file=sys.stderr)
            return _exits.for_error(e)
        except TillflowError as e:
            print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
            return _exits.for_error(e)
        except Exception as e:
            traceback.print_exc()
            print(f"error: internal error (a bug in tillflow): {type(e).__name__}: {e}", file=sys.stderr)
            return _exits.INTERNAL


@contextlib.contextmanager
def _log_to_stderr() -> Iterator[None]:
    """tillflow's warnings on stderr, as Python shows them when logging is not
    configured, except a run's own failure: the command prints that error once,
    as its last line."""
    import logging

    tillflow_log = logging.getLogger("tillflow")
    if tillflow_log.handlers or logging.getLogger().handlers:
        yield  # the user configured logging: leave it alone
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(lambda r: getattr(r, "status", None) not in ("failed", "interrupted"))
    tillflow_log.addHandler(handler)
    try:
        yield
    finally:
        tillflow_log.removeHandler(handler)


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM raises :class:`Interrupted` (as Ctrl-C raises KeyboardInterrupt),
    so every command exits 143 after its cleanup; a running pipeline handles
    it itself, at a safe point."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tillflow", description="A small business's data stack.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

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
    _quiet(demo)
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

    add_source_commands(sub)

    run = sub.add_parser("run", help="load a REST spec file (TOML/YAML/JSON) into a DuckDB warehouse")
    run.add_argument("spec", type=Path)
    run.add_argument(
        "--warehouse", default="tillflow.duckdb", help=f"{WAREHOUSE_HELP} (default tillflow.duckdb)"
    )
    run.add_argument("--pipeline", default=None, help="pipeline name (default: the spec's name)")
    run.add_argument("--write-mode", choices=("append", "replace", "merge"), default=None)
    run.add_argument("--full-refresh", action="store_true")
    _quiet(run)
    add_alerts_option(run)
    run.set_defaults(func=_run)

    val = sub.add_parser(
        "validate",
        help="check a data file (or a warehouse table) against rules; exit 1 when an error rule fails",
    )
    val.add_argument(
        "data", help="a .csv, .parquet, .ndjson/.jsonl, .json or .xlsx file, or a table with --warehouse"
    )
    val.add_argument("--rules", required=True, type=Path, help="rules file (.yaml, .toml or .json)")
    val.add_argument("--warehouse", default=None, help=f"{WAREHOUSE_HELP}: read DATA as a table of it")
    val.add_argument("--fail-fast", action="store_true", help="stop at the first failing error rule")
    val.add_argument(
        "--export", type=Path, default=None, help="write failing rows to .csv, .parquet or .xlsx"
    )
    val.add_argument(
        "--record", action="store_true", help="append the results to _tf_rule_results (with --warehouse)"
    )
    _quiet(val)
    val.set_defaults(func=_validate)

    met = sub.add_parser(
        "metrics",
        help="compute the shop's metrics from a warehouse and store them as metrics_* tables",
    )
    met.add_argument(
        "--warehouse", default="tillflow.duckdb", help=f"{WAREHOUSE_HELP} (default tillflow.duckdb)"
    )
    met.add_argument("--only", default=None, help="comma-separated metrics (default: all of them)")
    met.add_argument("--tz", default=None, help="the shop's IANA time zone (default: the warehouse's)")
    met.add_argument("--day-start", default="00:00", help="when a shop day begins (default 00:00)")
    met.add_argument("--no-write", action="store_true", help="print the row counts, store nothing")
    _quiet(met)
    met.set_defaults(func=_metrics)

    serve = sub.add_parser(
        "serve-metrics",
        help="serve the warehouse's run history, rule results, anomalies and alerts to Prometheus",
    )
    serve.add_argument(
        "--warehouse", default="tillflow.duckdb", help=f"{WAREHOUSE_HELP}, opened read-only on each scrape"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9464, help="port to listen on (default 9464)")
    serve.add_argument(
        "--lock-timeout", type=float, default=3.0,
        help="seconds a scrape waits while a pipeline writes the file (default 3)",
    )  # fmt: skip
    serve.add_argument("--quiet", action="store_true", help="print nothing while serving")
    serve.set_defaults(func=_serve_metrics)

    textfile = sub.add_parser(
        "metrics-textfile",
        help="write the Prometheus metrics to a .prom file for node_exporter's textfile collector",
    )
    textfile.add_argument(
        "--warehouse", default="tillflow.duckdb", help=f"{WAREHOUSE_HELP} (default tillflow.duckdb)"
    )
    textfile.add_argument(
        "-o", "--output", required=True, help="the .prom file, replaced atomically; - prints to stdout"
    )
    textfile.add_argument("--quiet", action="store_true", help="no confirmation line")
    textfile.set_defaults(func=_metrics_textfile)

    rep = sub.add_parser(
        "report", help="write the HTML report of a warehouse: sales, data quality, runs, anomalies"
    )
    rep.add_argument("--warehouse", required=True, help=f"{WAREHOUSE_HELP}, to report on (must exist)")
    rep.add_argument(
        "-o", "--output", default="tillflow_report.html", type=Path,
        help="HTML file to write (default tillflow_report.html)",
    )  # fmt: skip
    rep.add_argument("--pipeline", default=None, help="only this pipeline's runs, rules and anomalies")
    rep.add_argument("--days", type=int, default=90, help="days the report covers (default 90)")
    rep.add_argument("--title", default="tillflow report", help="the page's title")
    rep.set_defaults(func=_report)

    add_health(sub)
    return p


def _quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars (they show only when stderr is a terminal)"
    )


def _serve_metrics(args: argparse.Namespace) -> int:
    from tillflow.monitor import serve_metrics

    server = serve_metrics(_scraped(args.warehouse), args.host, args.port, lock_timeout=args.lock_timeout)
    try:
        if not args.quiet:
            print(
                f"serving Prometheus metrics of {args.warehouse} at {server.url}   (Ctrl-C stops)", flush=True
            )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        if not args.quiet:
            print("stopped")
    finally:
        server.shutdown()
    return 0


def _scraped(spec: str) -> Any:
    """What a scrape reads: a DuckDB file by its path (opened read-only each
    time, waiting for a writer's lock), any other warehouse opened read-only
    each time (it never waits for a loader)."""
    if spec.startswith(("delta:", "postgresql://", "postgres://")):
        open_existing(spec).close()  # a missing warehouse fails now, not at the first scrape
        return lambda: open_existing(spec)
    return spec.removeprefix("duckdb:")


def _metrics_textfile(args: argparse.Namespace) -> int:
    from tillflow.monitor import prometheus_text, write_textfile

    if args.output == "-":
        sys.stdout.write(prometheus_text(_scraped(args.warehouse)))
        return 0
    path = write_textfile(_scraped(args.warehouse), args.output)
    if not args.quiet:
        print(f"wrote {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from tillflow.monitor import write_report

    with open_existing(args.warehouse) as wh:
        path = write_report(wh, args.output, pipeline=args.pipeline, days=args.days, title=args.title)
    print(path)
    return 0


def _metrics(args: argparse.Namespace) -> int:
    import tillflow as tl

    names = (
        tl.metrics.METRICS if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    )
    opened = open_existing(args.warehouse, read_only=args.no_write)
    with opened as wh, _progress(not args.quiet, "metrics") as bar:
        step = _steps(bar, "metrics", len(set(names)))
        results = tl.metrics.refresh(
            wh, names, tz=args.tz, day_start=args.day_start, write=not args.no_write, on_metric=step
        )
    verb = "computed" if args.no_write else "wrote"
    for name, frame in results.items():
        table = name if args.no_write else f"metrics_{name}"
        print(f"{verb} {table}: {frame.height:,} rows")
    return 0


def _version(args: argparse.Namespace) -> int:
    from tillflow import _native

    print(f"tillflow {_native.__version__}")
    return 0


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
                console.print(_rules_table(f"rules on {resource}: {report.summary()}", report))
            counts = wh.row_counts()
            console.print(
                _table("tables", pl.DataFrame({"table": list(counts), "rows": list(counts.values())}))
            )
            # The metrics: native kernels over the loaded tables (read as Arrow), stored as metrics_* tables.
            with _progress(not args.quiet, "metrics") as bar:
                metrics = tl.metrics.refresh(wh, on_metric=_steps(bar, "metrics", len(tl.metrics.METRICS)))
            console.print(f"stored {len(metrics)} metrics tables for dashboards (metrics_daily_summary, ...)")
            summary = (
                metrics["daily_summary"]
                .head(args.days)
                # Short headers keep the table inside an 80-column terminal.
                .rename(
                    {"total_orders": "orders", "average_order_value": "AOV", "unique_customers": "customers"}
                )
            )
            console.print(_table(f"daily summary (latest {len(summary)} days)", summary))
            segments = metrics["customer_segments"].rename(
                {"customer_segment": "segment", "customer_count": "customers",
                 "avg_lifetime_value": "avg spent", "avg_orders_per_customer": "avg orders"}
            )  # fmt: skip
            console.print(_table("customer segments", segments))
        finally:
            wh.close()
    return 0


def _demo_estate(args: argparse.Namespace) -> int:
    import tempfile

    from rich.console import Console

    from tillflow._estate_demo import ESTATE_SIZE, cross_source, load_estate
    from tillflow.demo import DemoEstate

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
            _table(f"customers whose payments differ from the store ({differing.height})", differing)
        )
        orders = view.mismatches.drop("order_id")
        console.print(_table(f"orders that explain it ({orders.height})", orders))
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


def _run(args: argparse.Namespace) -> int:
    import tillflow as tl

    # Everything the user wrote is checked before the warehouse is opened: a
    # bad file creates no warehouse and records no run.
    source = tl.sources.rest(args.spec)
    if args.alerts is not None:
        tl.monitor.alerter_from_config(args.alerts)
    with open_warehouse(args.warehouse) as wh:
        run = tl.pipeline(args.pipeline or source.name, source, wh, monitor=env_monitor(wh, args.alerts)).run(
            write_mode=args.write_mode, full_refresh=args.full_refresh, progress=not args.quiet
        )
        print(run)
    return 0


def _validate(args: argparse.Namespace) -> int:
    import tillflow as tl
    from tillflow.exceptions import ConfigError

    rules = tl.RuleSet.from_file(args.rules)
    if args.record and not args.warehouse:
        raise ConfigError("invalid config: --record: needs --warehouse")
    wh = open_existing(args.warehouse, read_only=not args.record) if args.warehouse else None
    try:
        if wh is not None:
            if args.data not in wh.tables():
                raise ConfigError(f"invalid config: data: no table {args.data!r} in {args.warehouse}")
            from tillflow.warehouse.sql import quote_identifier

            data: pl.DataFrame | pl.LazyFrame = wh.query(f"SELECT * FROM {quote_identifier(args.data)}")
        else:
            data = _scan(Path(args.data))
        mode = "fail_fast" if args.fail_fast else "collect_all"
        with _progress(not args.quiet, "rows") as bar:
            total = _row_total(data, Path(args.data).suffix.lower()) if bar is not None else None
            checked = _steps(bar, "validate", total, by_rows=True)
            report = rules.validate(data, mode=mode, warehouse=wh, on_batch=checked)
        print(report)
        if args.export is not None:
            frame = data.collect() if isinstance(data, pl.LazyFrame) else data
            rows = rules.export_failures(frame, args.export, warehouse=wh)
            print(f"wrote {rows.height:,} failing rows to {args.export}")
        if args.record and wh is not None:
            from tillflow.warehouse.loads import new_load_id

            wh.record_rule_results(
                report.to_polars(), run_id=new_load_id()[0], pipeline="validate", resource=args.data,
                table=args.data,
            )  # fmt: skip
    finally:
        if wh is not None:
            wh.close()
    return _exits.OK if report.passed else _exits.NEGATIVE


def _progress(enabled: bool, unit: str) -> Any:
    from tillflow._pipeline import _progress as progress

    return progress(enabled, unit)


def _steps(bar: Any, description: str, total: int | None, *, by_rows: bool = False) -> Any:
    """A callback advancing a new task of ``bar`` (None without a bar): by the
    rows it is given, or by one step per call."""
    if bar is None:
        return None
    task = bar.add_task(description, total=total)
    if by_rows:
        return lambda rows: bar.update(task, advance=rows)
    return lambda _name: bar.update(task, advance=1)


def _row_total(data: pl.DataFrame | pl.LazyFrame, suffix: str) -> int | None:
    """Rows to check, where that is cheap to know: a Parquet file's footer says;
    counting a CSV or NDJSON file's lines would read it twice."""
    if isinstance(data, pl.DataFrame):
        return data.height
    if suffix == ".parquet":
        return int(data.select(pl.len()).collect().item())
    return None


def _scan(path: Path) -> pl.DataFrame | pl.LazyFrame:
    """A data file as a lazy frame where polars can stream it."""
    from tillflow.exceptions import ConfigError

    if not path.exists():
        raise ConfigError(f"invalid config: data: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.scan_csv(path)
        if suffix == ".parquet":
            return pl.scan_parquet(path)
        if suffix in (".ndjson", ".jsonl"):
            return pl.scan_ndjson(path)
        if suffix == ".json":
            return pl.read_json(path)
        if suffix == ".xlsx":
            return pl.read_excel(path)
    except (pl.exceptions.PolarsError, OSError, ImportError) as exc:
        raise ConfigError(f"invalid config: data: cannot read {str(path)!r}: {exc}") from None
    raise ConfigError(
        f"invalid config: data: use a .csv, .parquet, .ndjson, .jsonl, .json or .xlsx file, not {path.name!r}"
    )


def _rules_table(title: str, report: object) -> object:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for name, justify in (("rule", "left"), ("status", "left"), ("failing", "right"), ("detail", "left")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    colour = {"passed": "green", "failed": "red", "skipped": "dim"}
    for r in report.results:  # type: ignore[attr-defined]
        status = r.status if r.status != "failed" or r.severity == "error" else "warning"
        style = "yellow" if status == "warning" else colour[r.status]
        failing = "" if r.failing is None else f"{r.failing:,} ({r.fraction:.2%})"
        detail = r.observed or "; ".join(r.sample_keys(report.key, limit=2))  # type: ignore[attr-defined]
        t.add_row(r.rule, f"[{style}]{status}[/]", failing, detail)
    return t


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
