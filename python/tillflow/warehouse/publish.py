"""A read-only snapshot of a DuckDB warehouse for BI tools.

A DuckDB file takes one writing process or many reading ones, so a
dashboard tool holding the warehouse open (Metabase's DuckDB driver,
Grafana, Streamlit) keeps the next load out, and a load keeps it out.
`publish` copies the warehouse, between runs (it takes the run lock), to a
second DuckDB file or a folder of Parquet files that the BI tool reads
instead. The copy is written beside its target and swapped in with one
rename, so a reader sees the old snapshot or the new one, never a part; a
connection already open keeps reading the file it opened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tillflow.exceptions import ConfigError, WarehouseError
from tillflow.warehouse._run_lock import run_lock
from tillflow.warehouse.sql import quote_identifier

__all__ = ["Published", "publish"]

Format = Literal["duckdb", "parquet"]


@dataclass(frozen=True)
class Published:
    """A snapshot: where it is, when it was taken and each table's rows."""

    path: Path
    format: str
    published_at: dt.datetime
    tables: dict[str, int] = field(default_factory=dict)


def publish(
    warehouse: str,
    to: str | os.PathLike[str],
    *,
    format: Format = "duckdb",
    wait: float = 0.0,
    locked: bool = False,
) -> Published:
    """Copy the DuckDB warehouse to a read-only snapshot for BI tools.

    Parameters
    ----------
    warehouse
        The DuckDB warehouse file (``duckdb:PATH`` too).
    to
        The snapshot: a DuckDB file (``format="duckdb"``), or a folder that
        gets one ``TABLE.parquet`` per table (``format="parquet"``).
    format
        ``"duckdb"`` or ``"parquet"``.
    wait
        Seconds to wait for a running run to end.
    locked
        The caller holds the warehouse's run lock already (a project run
        publishing at its end), and has closed the warehouse.

    Returns
    -------
    Published
        The snapshot and its row counts.

    Raises
    ------
    ConfigError
        If ``format`` is unknown, ``to`` is the warehouse itself, or the
        warehouse is not a DuckDB file (a PostgreSQL schema or a Delta lake
        takes readers beside its loads: point the BI tool at it).
    RunLocked
        If a run holds the warehouse past ``wait``.
    WarehouseError
        If the warehouse does not exist, or the copy fails (the previous
        snapshot then stays as it was).
    """
    if format not in ("duckdb", "parquet"):
        raise ConfigError(f"format must be 'duckdb' or 'parquet' (got {format!r})")
    if warehouse.startswith(("postgresql://", "postgres://", "delta:")):
        raise ConfigError(
            "publish copies a DuckDB file, which takes one writer or many readers; a PostgreSQL "
            "schema or a Delta lake is read beside its loads: point the BI tool at it"
        )
    source = Path(warehouse.removeprefix("duckdb:"))
    target = Path(to)
    if not source.is_file():
        raise WarehouseError(f"no DuckDB warehouse at {source}")
    if target.resolve() == source.resolve():
        raise ConfigError(f"the snapshot {target} is the warehouse itself; publish it somewhere else")
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(target.name + ".publishing")
    _remove(fresh)
    Path(f"{fresh}.wal").unlink(missing_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        with contextlib.nullcontext() if locked else run_lock(warehouse, wait=wait):
            tables = _copy(source, fresh, format)
    except BaseException:
        _remove(fresh)
        raise
    _swap(fresh, target)
    return Published(target, format, now, tables)


def _copy(source: Path, fresh: Path, format: Format) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(fresh) if format == "duckdb" else ":memory:")
    try:
        path = str(source).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS tf_source (READ_ONLY)")
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'tf_source' "
            "AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
        ).fetchall()]  # fmt: skip
        counts = {}
        if format == "duckdb":
            here = con.execute("SELECT current_database()").fetchall()[0][0]
            con.execute("COPY FROM DATABASE tf_source TO " + quote_identifier(here))
        else:
            fresh.mkdir()
            for name in names:
                out = str(fresh / f"{name}.parquet").replace("'", "''")
                table = f"tf_source.main.{quote_identifier(name)}"
                con.execute(f"COPY {table} TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        for name in names:
            table = f"tf_source.main.{quote_identifier(name)}"
            counts[name] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        con.execute("DETACH tf_source")
        if format == "duckdb":
            con.execute("CHECKPOINT")
        return counts
    except duckdb.Error as e:
        raise WarehouseError(f"cannot publish {source}: {e}") from e
    finally:
        con.close()


def _swap(fresh: Path, target: Path) -> None:
    """``fresh`` in ``target``'s place: one rename for a file; for a folder,
    the old one is moved aside first (a reader then finds no folder for
    that instant, never a half-written one)."""
    if fresh.is_file():
        Path(f"{target}.wal").unlink(missing_ok=True)
        os.replace(fresh, target)
        return
    old = target.with_name(target.name + ".old")
    _remove(old)
    if target.exists():
        os.replace(target, old)
    os.replace(fresh, target)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
