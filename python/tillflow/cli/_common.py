"""What the commands share: the warehouse a ``--warehouse`` names (and how
long to wait for its lock), the monitor ``demo`` and ``run`` give their
pipelines, progress bars and the tables they print."""

from __future__ import annotations

import argparse
import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._core.errors import config_error
from tillflow._core.progress import progress_bar, steps

if TYPE_CHECKING:
    from tillflow.warehouse import DeltaLake, DuckDBWarehouse, PostgresWarehouse, Warehouse

__all__ = [
    "WAREHOUSE_HELP",
    "add_alerts_option",
    "env_monitor",
    "fmt",
    "open_existing",
    "open_warehouse",
    "progress_bar",
    "quiet",
    "rules_table",
    "steps",
    "table",
]

#: How long a command waits for a DuckDB warehouse another process holds.
LOCK_TIMEOUT_ENV = "TILLFLOW_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 10.0


def lock_timeout() -> float:
    """Seconds a command waits while another process holds the warehouse:
    ``TILLFLOW_LOCK_TIMEOUT``, else 10."""

    text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise config_error(f"{LOCK_TIMEOUT_ENV}: {text!r} is not a number of seconds")
    return seconds


WAREHOUSE_HELP = (
    "a DuckDB file, delta:PATH or delta:s3://bucket/prefix for a Delta lake, or a postgresql:// URL"
)


def open_warehouse(
    spec: str, *, read_only: bool = False, create: bool = True
) -> DuckDBWarehouse | PostgresWarehouse | DeltaLake:
    """The warehouse ``--warehouse`` names (see [from_url][tillflow.warehouse.from_url]).
    Only DuckDB waits for another process's lock, as `lock_timeout`
    says; PostgreSQL and Delta readers never wait for a loader."""
    import tillflow as tl

    path = spec.removeprefix("duckdb:")
    if not create and "://" not in spec and not spec.startswith("delta:"):
        from pathlib import Path

        if not Path(path).is_file():
            raise config_error(f"--warehouse: no DuckDB warehouse at {path!r} (no such file)")
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
    """The monitor of [Monitor.from_config][tillflow.monitor.Monitor.from_config]."""
    import tillflow as tl

    return tl.monitor.Monitor.from_config(warehouse, alerts)


def quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars (they show only when stderr is a terminal)"
    )


def rules_table(title: str, report: object) -> object:
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


def table(title: str, df: pl.DataFrame) -> object:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for name, dtype in df.schema.items():
        t.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in df.iter_rows():
        t.add_row(*(fmt(v) for v in row))
    return t


def fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, (float, Decimal)):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
