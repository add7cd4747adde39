"""The monitor's side of the ``tillflow`` command: ``tillflow health``, and
the monitor that ``demo`` and ``run`` give their pipelines (alerts go to
the channels configured in the environment, if any)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from tillflow import _exits

if TYPE_CHECKING:
    from tillflow.warehouse import DeltaLake, DuckDBWarehouse, PostgresWarehouse, Warehouse

__all__ = [
    "WAREHOUSE_HELP",
    "add_alerts_option",
    "add_health",
    "env_monitor",
    "open_existing",
    "open_warehouse",
]


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


#: How long a command waits for a DuckDB warehouse another process holds.
LOCK_TIMEOUT_ENV = "TILLFLOW_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 10.0


def lock_timeout() -> float:
    """Seconds a command waits while another process holds the warehouse:
    ``TILLFLOW_LOCK_TIMEOUT``, else 10."""
    from tillflow.exceptions import ConfigError

    text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise ConfigError(f"invalid config: {LOCK_TIMEOUT_ENV}: {text!r} is not a number of seconds")
    return seconds


WAREHOUSE_HELP = (
    "a DuckDB file, delta:PATH or delta:s3://bucket/prefix for a Delta lake, or a postgresql:// URL"
)


def open_warehouse(
    spec: str, *, read_only: bool = False, create: bool = True
) -> DuckDBWarehouse | PostgresWarehouse | DeltaLake:
    """The warehouse ``--warehouse`` names (see :func:`tillflow.warehouse.from_url`).
    Only DuckDB waits for another process's lock, as :func:`lock_timeout`
    says; PostgreSQL and Delta readers never wait for a loader."""
    import tillflow as tl

    path = spec.removeprefix("duckdb:")
    if not create and "://" not in spec and not spec.startswith("delta:"):
        from pathlib import Path

        from tillflow.exceptions import ConfigError

        if not Path(path).is_file():
            raise ConfigError(f"invalid config: --warehouse: no DuckDB warehouse at {path!r} (no such file)")
    return tl.warehouse.from_url(spec, read_only=read_only, create=create, lock_timeout=lock_timeout())


def open_existing(spec: str, *, read_only: bool = True) -> DuckDBWarehouse | PostgresWarehouse | DeltaLake:
    """The warehouse ``spec`` names, which must exist (a command that works
    on a warehouse never creates one); read-only unless told."""
    return open_warehouse(spec, read_only=read_only, create=False)


def add_alerts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--alerts",
        default=None,
        metavar="FILE",
        help="alert channels (.yaml/.toml/.json); default: those the TILLFLOW_* environment variables set",
    )


def env_monitor(warehouse: Warehouse, alerts: str | None = None) -> Any:
    """A monitor that stores anomalies and alerts through the channels of the
    ``alerts`` file, or those the environment configures
    (``TILLFLOW_SLACK_WEBHOOK_URL`` and the others); with neither, it only
    stores and logs what it finds."""
    import tillflow as tl
    from tillflow.exceptions import ConfigError

    if alerts is not None:
        return tl.monitor.Monitor(alerter=tl.monitor.alerter_from_config(alerts, warehouse=warehouse))
    try:
        alerter = tl.monitor.Alerter.from_env(warehouse=warehouse)
    except ConfigError:
        alerter = None
    return tl.monitor.Monitor(alerter=alerter)
