"""``tillflow backup`` and ``tillflow restore``: a consistent snapshot of a
DuckDB or PostgreSQL warehouse into a folder, kept by a retention rule, and
the warehouse put back from one (see `tillflow.warehouse.backups`);
``tillflow publish``: a DuckDB warehouse copied for BI tools to read while
loads go on (see `tillflow.warehouse.publish`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tillflow._core import exits

_WAREHOUSE = "a DuckDB file or a postgresql:// URL (its schema parameter picks the schema)"


def add_commands(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="back up a warehouse into a new folder under --to, while no run writes (takes the run lock)",
    )
    _common(backup, _WAREHOUSE)
    backup.add_argument(
        "--to", required=True, help="the folder backups go into (created if missing), or s3://bucket/prefix"
    )
    backup.add_argument(
        "--keep", type=int, default=None, help="keep only the newest N backups of this warehouse"
    )
    backup.set_defaults(func=_backup)
    restore = sub.add_parser(
        "restore", help="replace a warehouse with a backup (whole, or not at all); takes the run lock"
    )
    restore.add_argument("backup", help="a backup folder (or its s3:// URL) that tillflow backup made")
    _common(restore, _WAREHOUSE)
    restore.set_defaults(func=_restore)
    publish = sub.add_parser(
        "publish",
        help="copy a DuckDB warehouse to a snapshot BI tools read while loads go on (takes the run lock)",
    )
    _common(publish, "the DuckDB file")
    publish.add_argument(
        "--to", required=True, type=Path, help="the snapshot: a .duckdb file, or a folder for parquet"
    )
    publish.add_argument("--format", choices=("duckdb", "parquet"), default="duckdb", help="default duckdb")
    publish.set_defaults(func=_publish)


def _common(parser: argparse.ArgumentParser, warehouse: str) -> None:
    """``--warehouse`` and ``--wait``, which every upkeep command takes."""
    parser.add_argument(
        "--warehouse", default="tillflow.duckdb", help=f"{warehouse} (default tillflow.duckdb)"
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a running run (default 0)"
    )


def _backup(args: argparse.Namespace) -> int:
    from tillflow.warehouse import backup

    made = backup(args.warehouse, args.to, keep=args.keep, wait=args.wait)
    print(
        f"backed up {made.warehouse}: {len(made.tables)} tables, {made.total_rows:,} rows, into {made.path}"
    )
    return exits.OK


def _restore(args: argparse.Namespace) -> int:
    from tillflow.warehouse import restore

    made = restore(args.backup, args.warehouse, wait=args.wait)
    taken = made.created_at.isoformat(timespec="seconds")
    print(f"restored {args.warehouse} from {made.path} (taken {taken}): {made.total_rows:,} rows")
    return exits.OK


def _publish(args: argparse.Namespace) -> int:
    from tillflow.warehouse import publish

    made = publish(args.warehouse, args.to, format=args.format, wait=args.wait)
    rows = sum(made.tables.values())
    print(f"published {args.warehouse} to {made.path}: {len(made.tables)} tables, {rows:,} rows")
    return exits.OK
