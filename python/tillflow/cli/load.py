"""``tillflow run``, ``tillflow validate`` and ``tillflow metrics``: load a REST
spec, check a data file or table against rules, compute the shop's metrics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import polars as pl

from tillflow._core import exits
from tillflow._core.errors import config_error
from tillflow.cli import project
from tillflow.cli._common import (
    WAREHOUSE_HELP,
    add_alerts_option,
    env_monitor,
    open_existing,
    open_warehouse,
    progress_bar,
    quiet,
    steps,
)


def add_commands(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the project here (tillflow.toml), or load one REST spec file (TOML/YAML/JSON) into a "
        "warehouse",
    )
    run.add_argument(
        "spec", type=Path, nargs="?", default=None,
        help="a REST spec file, or a project folder or its tillflow.toml (default: the project here)",
    )  # fmt: skip
    run.add_argument("--warehouse", default=None, help=f"{WAREHOUSE_HELP} (spec; default tillflow.duckdb)")
    run.add_argument("--pipeline", default=None, help="pipeline name (default: the spec's name)")
    run.add_argument("--write-mode", choices=("append", "replace", "merge"), default=None)
    run.add_argument("--full-refresh", action="store_true")
    run.add_argument(
        "--config", default=None, type=Path, help="Airbyte manifest: the connector's config (JSON/YAML)"
    )
    run.add_argument(
        "--streams", nargs="+", default=None, metavar="STREAM", help="Airbyte manifest: these streams"
    )
    run.add_argument(
        "--base-url-override", default=None, metavar="URL",
        help="Airbyte manifest: send every request (OAuth token URLs too) to this scheme, host and port",
    )  # fmt: skip
    run.add_argument(
        "--ca-bundle", default=None, type=Path, help="Airbyte manifest: extra CA certificates (PEM)"
    )
    quiet(run)
    add_alerts_option(run)
    project.add_run_options(run)
    run.set_defaults(func=_run)

    val = sub.add_parser(
        "validate",
        help="check a data file (or a warehouse table) against rules; exit 1 when an error rule fails",
    )
    val.add_argument(
        "data", help="a .csv, .parquet, .ndjson/.jsonl, .json or .xlsx file, or a table with --warehouse"
    )
    val.add_argument(
        "--rules", required=True, type=Path,
        help="a rules file (.yaml, .toml or .json), or a dbt, Great Expectations, Soda or ODCS contract",
    )  # fmt: skip
    val.add_argument("--table", default=None, help="which of the contract's tables (when it has several)")
    val.add_argument("--warehouse", default=None, help=f"{WAREHOUSE_HELP}: read DATA as a table of it")
    val.add_argument("--fail-fast", action="store_true", help="stop at the first failing error rule")
    val.add_argument(
        "--export", type=Path, default=None, help="write failing rows to .csv, .parquet or .xlsx"
    )
    val.add_argument(
        "--record", action="store_true", help="append the results to _tf_rule_results (with --warehouse)"
    )
    quiet(val)
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
    quiet(met)
    met.set_defaults(func=_metrics)


def _run(args: argparse.Namespace) -> int:
    import tillflow as tl

    if project.is_project(args.spec):
        return project.run_project(args)
    if args.select is not None or args.json:
        raise config_error("--select and --json are for a project; a spec runs whole")
    # Everything the user wrote is checked before the warehouse is opened: a
    # bad file creates no warehouse and records no run.
    manifest_only = (args.config, args.streams, args.base_url_override, args.ca_bundle)
    if tl.sources.is_airbyte_manifest(args.spec):
        source = tl.sources.airbyte_manifest(
            args.spec, config=args.config, streams=args.streams, base_url_override=args.base_url_override,
            ca_bundle=args.ca_bundle,
        )  # fmt: skip
    elif any(v is not None for v in manifest_only):
        raise config_error(
            "--config, --streams, --base-url-override and --ca-bundle are for an Airbyte manifest"
        )
    else:
        source = tl.sources.rest(args.spec)
    if args.alerts is not None:
        tl.monitor.alerter_from_config(args.alerts)
    location = args.warehouse or "tillflow.duckdb"
    wait = args.wait if args.wait is not None else 0.0
    with tl.warehouse.run_lock(location, wait=wait), open_warehouse(location) as wh:
        run = tl.pipeline(args.pipeline or source.name, source, wh, monitor=env_monitor(wh, args.alerts)).run(
            write_mode=args.write_mode, full_refresh=args.full_refresh, progress=not args.quiet
        )
        print(run)
    return 0


def _validate(args: argparse.Namespace) -> int:
    import tillflow as tl

    rules = tl.rules.contracts.ruleset(args.rules, table=args.table)
    if args.record and not args.warehouse:
        raise config_error("--record: needs --warehouse")
    wh = open_existing(args.warehouse, read_only=not args.record) if args.warehouse else None
    try:
        if wh is not None:
            if args.data not in wh.tables():
                raise config_error(f"data: no table {args.data!r} in {args.warehouse}")
            from tillflow.warehouse.sql import quote_identifier

            data: pl.DataFrame | pl.LazyFrame = wh.query(f"SELECT * FROM {quote_identifier(args.data)}")
        else:
            data = _scan(Path(args.data))
        mode = "fail_fast" if args.fail_fast else "collect_all"
        with progress_bar(not args.quiet, "rows") as bar:
            total = _row_total(data, Path(args.data).suffix.lower()) if bar is not None else None
            checked = steps(bar, "validate", total, by_rows=True)
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
    return exits.OK if report.passed else exits.NEGATIVE


def _metrics(args: argparse.Namespace) -> int:
    import tillflow as tl

    names = (
        tl.metrics.METRICS if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    )
    opened = open_existing(args.warehouse, read_only=args.no_write)
    with opened as wh, progress_bar(not args.quiet, "metrics") as bar:
        step = steps(bar, "metrics", len(set(names)))
        results = tl.metrics.refresh(
            wh, names, tz=args.tz, day_start=args.day_start, write=not args.no_write, on_metric=step
        )
    verb = "computed" if args.no_write else "wrote"
    for name, frame in results.items():
        table = name if args.no_write else f"metrics_{name}"
        print(f"{verb} {table}: {frame.height:,} rows")
    return 0


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

    if not path.exists():
        raise config_error(f"data: no such file {str(path)!r}")
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
        raise config_error(f"data: cannot read {str(path)!r}: {exc}") from None
    raise config_error(f"data: use a .csv, .parquet, .ndjson, .jsonl, .json or .xlsx file, not {path.name!r}")
