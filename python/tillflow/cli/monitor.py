"""``tillflow health``, ``serve-metrics``, ``metrics-textfile`` and ``report``:
the monitor's side of the command, over a warehouse's run history."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from tillflow._core import exits as _exits
from tillflow.cli._common import WAREHOUSE_HELP, open_existing

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
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

    dash = sub.add_parser(
        "grafana-dashboard",
        help="write the Grafana dashboard for the Prometheus metrics, to import in Grafana",
    )
    dash.add_argument("-o", "--output", default="tillflow-dashboard.json", help="the JSON file to write")
    dash.set_defaults(func=_grafana_dashboard)

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


def add_health(sub: Any) -> None:
    health = sub.add_parser(
        "health",
        help="print each pipeline's health from the run history; exit 1 when degraded, 3 when critical",
    )
    health.add_argument(
        "--warehouse", default="tillflow.duckdb", help=f"{WAREHOUSE_HELP} (default tillflow.duckdb)"
    )
    health.add_argument("--pipeline", default=None, help="one pipeline (default: every pipeline that ran)")
    health.add_argument("--days", type=float, default=7.0, help="the window of runs judged (default 7 days)")
    health.add_argument("--min-success-rate", type=float, default=0.95, help="below it: degraded (0.95)")
    health.add_argument("--max-errors", type=int, default=10, help="above it: critical (10)")
    health.add_argument("--json", action="store_true", help="one JSON object per pipeline")
    health.set_defaults(func=_health)


def _health(args: argparse.Namespace) -> int:
    import json

    import tillflow as tl

    thresholds = tl.monitor.HealthThresholds(
        min_success_rate=args.min_success_rate, max_errors=args.max_errors
    )
    with open_existing(args.warehouse) as wh:
        runs = tl.monitor.runs(wh)
        names = [args.pipeline] if args.pipeline else list(dict.fromkeys(runs["pipeline"].to_list()))
        if not names:
            print(f"no runs in {args.warehouse} yet")
            return 0
        window = dt.timedelta(days=args.days)
        found = [tl.monitor.health(wh, name, window=window, thresholds=thresholds) for name in names]
    for h in found:
        print(json.dumps(h.to_dict(), default=str) if args.json else str(h))
    return max(_exits.for_health(h.status) for h in found)


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


def _grafana_dashboard(args: argparse.Namespace) -> int:
    from tillflow.monitor import grafana_dashboard

    dash = grafana_dashboard(args.output)
    panels = len(dash["panels"])
    print(f"wrote {args.output}: {panels} panels; import it in Grafana and pick the Prometheus source")
    return 0
