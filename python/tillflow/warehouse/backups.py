"""Backups of a warehouse, and restoring one.

A backup is a folder ``<name>-<UTC time>`` under the destination, holding
``manifest.json`` (what was backed up, when, and each table's row count)
and the data:

- a DuckDB file: ``EXPORT DATABASE`` to zstd Parquet plus the schema
  (``export/``), which any later DuckDB can import, unlike the file itself;
- PostgreSQL: ``pg_dump --format=custom`` of the warehouse's schema
  (``dump.pgc``), restored with ``pg_restore``.

The destination is a folder, or ``s3://bucket/prefix`` (see `S3Store`): a
backup is then taken locally and uploaded, and a restore downloads it first.

Both take the warehouse's run lock (see `run_lock`), so no run writes while
a snapshot is taken or a restore replaces the warehouse; a restore swaps a
DuckDB file in whole, and restores a PostgreSQL schema in one transaction.
The loads' state tables (``_tf_state``, ``_tf_loads``) travel with the data,
so an incremental run after a restore resumes where the backup stood.
``keep`` prunes the destination to the newest backups of that warehouse.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillflow._core.secrets import mask_password
from tillflow.exceptions import ConfigError, WarehouseError
from tillflow.warehouse._backup_store import S3Store, is_remote
from tillflow.warehouse._run_lock import run_lock, schema_param
from tillflow.warehouse.sql import quote_identifier

__all__ = ["Backup", "backup", "backups", "restore"]

MANIFEST = "manifest.json"
_STAMP = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class Backup:
    """One backup: its folder, what it holds and when it was taken."""

    path: Path | str  # the folder, or its s3:// URL
    kind: str  # "duckdb" or "postgres"
    warehouse: str  # the location, password masked
    created_at: dt.datetime
    tables: dict[str, int] = field(default_factory=dict)  # rows per table

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())


def backup(
    warehouse: str,
    to: str | os.PathLike[str],
    *,
    keep: int | None = None,
    wait: float = 0.0,
    locked: bool = False,
) -> Backup:
    """Take a consistent backup of ``warehouse`` into a new folder under ``to``.

    Parameters
    ----------
    warehouse
        A DuckDB file path (or ``duckdb:PATH``) or a ``postgresql://`` URL
        (its ``schema`` parameter picks the schema), as
        [from_url][tillflow.warehouse.from_url] takes it.
    to
        The folder backups go into (created if missing), or
        ``s3://bucket/prefix``; the ``AWS_*`` variables give the credentials
        and endpoint.
    keep
        Keep only this many backups of this warehouse in ``to`` (the newest);
        ``None`` keeps all.
    wait
        Seconds to wait for a running run to end.
    locked
        The caller holds the warehouse's run lock already (a project run
        backing up at its end), and has closed the warehouse.

    Returns
    -------
    Backup
        The backup taken.

    Raises
    ------
    ConfigError
        If ``keep`` is below 1, or the warehouse is a Delta lake (copy its
        folder or bucket between loads instead).
    RunLocked
        If a run holds the warehouse past ``wait``.
    WarehouseError
        If the warehouse does not exist or the snapshot fails (the partial
        folder is removed).
    """
    if keep is not None and keep < 1:
        raise ConfigError(f"keep must be at least 1 (got {keep})")
    kind, target = _kind(warehouse)
    store = S3Store(str(to)) if is_remote(to) else None
    root = Path(tempfile.mkdtemp(prefix="tillflow-backup-")) if store else Path(to)
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    folder = root / f"{_stem(kind, target)}-{now.strftime(_STAMP)}"
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir()
    try:
        with contextlib.nullcontext() if locked else run_lock(warehouse, wait=wait):
            tables = _export_duckdb(target, partial) if kind == "duckdb" else _dump_postgres(target, partial)
        made = Backup(folder, kind, mask_password(warehouse), now, tables)
        (partial / MANIFEST).write_text(json.dumps(_manifest(made), indent=1))
        partial.rename(folder)
        if store is not None:
            made = dataclasses.replace(made, path=store.upload(folder, MANIFEST))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if store is not None:
            shutil.rmtree(root, ignore_errors=True)
    if keep is not None:
        for old in backups(to, warehouse)[:-keep]:
            if store is not None:
                store.delete(str(old.path).rsplit("/", 1)[-1])
            else:
                shutil.rmtree(old.path)
    return made


def backups(to: str | os.PathLike[str], warehouse: str | None = None) -> list[Backup]:
    """The backups in folder ``to`` (or under ``s3://bucket/prefix``), oldest
    first; only those of ``warehouse`` when given. Folders without a manifest
    (a backup still being taken, or anything else) are left out."""
    stem = _stem(*_kind(warehouse)) if warehouse is not None else None
    found = []
    if is_remote(to):
        store = S3Store(str(to))
        for name, m in store.manifests(MANIFEST):
            if stem is None or name.startswith(stem + "-"):
                found.append(_from_manifest(store.url_of(name), m))
        return sorted(found, key=lambda b: b.created_at)
    root = Path(to)
    if not root.is_dir():
        return []
    for folder in root.iterdir():
        if not (folder / MANIFEST).is_file() or (stem is not None and not folder.name.startswith(stem + "-")):
            continue
        found.append(read(folder))
    return sorted(found, key=lambda b: b.created_at)


def _from_manifest(path: Path | str, m: dict[str, Any]) -> Backup:
    return Backup(path, m["kind"], m["warehouse"], dt.datetime.fromisoformat(m["created_at"]), m["tables"])


def read(folder: str | os.PathLike[str]) -> Backup:
    """The backup in ``folder``, from its manifest."""
    path = Path(folder)
    try:
        return _from_manifest(path, json.loads((path / MANIFEST).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WarehouseError(f"{path} is not a tillflow backup (its {MANIFEST} cannot be read: {e})") from e


def restore(backup_folder: str | os.PathLike[str], warehouse: str, *, wait: float = 0.0) -> Backup:
    """Replace ``warehouse`` with the backup in ``backup_folder``.

    A DuckDB backup is imported into a new file beside the warehouse, which
    then replaces it whole; a PostgreSQL backup replaces the schema's
    objects in one transaction. Either way the warehouse holds exactly
    what the backup holds, its row counts are checked against the
    manifest, and nothing is changed when the restore fails.

    Parameters
    ----------
    backup_folder
        A folder `backup` made, or its ``s3://`` URL.
    warehouse
        Where to restore to: the same kind of warehouse as the backup's
        (possibly another file or schema).
    wait
        Seconds to wait for a running run to end.

    Returns
    -------
    Backup
        The backup restored.

    Raises
    ------
    ConfigError
        If the backup and the warehouse are of different kinds.
    RunLocked
        If a run holds the warehouse past ``wait``.
    WarehouseError
        If the folder is not a backup, or the restore fails.
    """
    if is_remote(backup_folder):
        url = str(backup_folder).rstrip("/")
        parent, name = url.rsplit("/", 1)
        local = S3Store(parent).download(name)
        try:
            restored = restore(local, warehouse, wait=wait)
        finally:
            shutil.rmtree(local.parent, ignore_errors=True)
        return dataclasses.replace(restored, path=url)
    made = read(backup_folder)
    kind, target = _kind(warehouse)
    if kind != made.kind:
        raise ConfigError(
            f"{made.path} is a backup of a {made.kind} warehouse; {mask_password(warehouse)} is {kind}"
        )
    with run_lock(warehouse, wait=wait):
        if kind == "duckdb":
            got = _import_duckdb(Path(made.path), target)
        else:
            got = _restore_postgres(Path(made.path), target, made.warehouse)
    if got != made.tables:
        raise WarehouseError(
            f"restored {mask_password(warehouse)} from {made.path}, but its row counts {got} "
            f"differ from the backup's {made.tables}"
        )
    return made


# ------------------------------------------------------------------------------------------- kinds


def _kind(warehouse: str) -> tuple[str, str]:
    """``("duckdb", path)`` or ``("postgres", url)``."""
    if warehouse.startswith("delta:"):
        raise ConfigError(
            "tillflow backup takes DuckDB files and PostgreSQL schemas; a Delta lake is a folder or "
            "bucket of tables that keep their earlier versions until vacuumed: copy or replicate it "
            "between loads (see the backups guide)"
        )
    if warehouse.startswith(("postgresql://", "postgres://")):
        return "postgres", warehouse
    return "duckdb", warehouse.removeprefix("duckdb:")


def _stem(kind: str, target: str) -> str:
    if kind == "duckdb":
        return Path(target).stem
    return "postgres-" + schema_param(target)[1]


def _manifest(b: Backup) -> dict[str, Any]:
    from tillflow import _native

    return {
        "tillflow": _native.__version__,
        "kind": b.kind,
        "warehouse": b.warehouse,
        "created_at": b.created_at.isoformat(),
        "tables": b.tables,
    }


# ------------------------------------------------------------------------------------------ DuckDB


def _duckdb_counts(con: Any) -> dict[str, int]:
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' "
        "ORDER BY table_name"
    ).fetchall()]  # fmt: skip
    return {n: con.execute(f"SELECT count(*) FROM {quote_identifier(n)}").fetchall()[0][0] for n in names}


def _export_duckdb(path: str, into: Path) -> dict[str, int]:
    import duckdb

    if not Path(path).is_file():
        raise WarehouseError(f"no DuckDB warehouse at {path}")
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as e:
        raise WarehouseError(f"cannot open {path} for a backup: {e}") from e
    try:
        counts = _duckdb_counts(con)
        export = str(into / "export").replace("'", "''")
        con.execute(f"EXPORT DATABASE '{export}' (FORMAT parquet, COMPRESSION zstd)")
        return counts
    except duckdb.Error as e:
        raise WarehouseError(f"cannot back up {path}: {e}") from e
    finally:
        con.close()


def _import_duckdb(folder: Path, path: str) -> dict[str, int]:
    import duckdb

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(target.name + ".restoring")
    for leftover in (fresh, Path(f"{fresh}.wal")):
        leftover.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(fresh))
        try:
            export = str(folder / "export").replace("'", "''")
            con.execute(f"IMPORT DATABASE '{export}'")
            con.execute("CHECKPOINT")
            counts = _duckdb_counts(con)
        finally:
            con.close()
    except duckdb.Error as e:
        fresh.unlink(missing_ok=True)
        raise WarehouseError(f"cannot restore {folder} into {path}: {e}") from e
    if target.exists():
        # A process writing the file (a notebook's connection, say) would go on
        # writing a file no longer there: refuse while one has it open.
        try:
            duckdb.connect(str(target), read_only=True).close()
        except duckdb.Error as e:
            fresh.unlink(missing_ok=True)
            raise WarehouseError(
                f"cannot restore into {path} while another connection has it open: {e}"
            ) from e
    Path(f"{target}.wal").unlink(missing_ok=True)
    os.replace(fresh, target)
    return counts


# -------------------------------------------------------------------------------------- PostgreSQL


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise WarehouseError(
            f"{name} is not installed; PostgreSQL backups use it (apt-get install postgresql-client)"
        )
    return found


def _run_tool(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise WarehouseError(f"{what} failed: {mask_password(done.stderr.strip())}")


def _postgres_counts(url: str) -> dict[str, int]:
    import psycopg

    conn_url, schema = schema_param(url)
    with psycopg.connect(conn_url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY table_name", [schema]
        ).fetchall()]  # fmt: skip
        counts = {}
        for n in names:
            row = conn.execute(
                f"SELECT count(*) FROM {quote_identifier(schema)}.{quote_identifier(n)}"
            ).fetchone()
            counts[n] = int(row[0]) if row else 0
        return counts


def _dump_postgres(url: str, into: Path) -> dict[str, int]:
    conn_url, schema = schema_param(url)
    counts = _postgres_counts(url)
    if not counts:
        raise WarehouseError(f"the schema {schema!r} of {mask_password(conn_url)} holds no tables to back up")
    dump = into / "dump.pgc"
    argv = [
        _tool("pg_dump"),
        "--format=custom",
        "--no-owner",
        f"--schema={schema}",
        f"--file={dump}",
        conn_url,
    ]
    _run_tool(argv, f"pg_dump of {mask_password(url)}")
    return counts


def _restore_postgres(folder: Path, url: str, source: str) -> dict[str, int]:
    conn_url, schema = schema_param(url)
    dumped = schema_param(source)[1]
    if dumped != schema:
        raise ConfigError(
            f"{folder} holds the schema {dumped!r}; it restores into that schema only (got {schema!r})"
        )
    dump = folder / "dump.pgc"
    if not dump.is_file():
        raise WarehouseError(f"{folder} holds no dump.pgc: it is not a PostgreSQL backup")
    # The dump as SQL, after dropping the schema whole, in one transaction:
    # the schema then holds exactly what the backup holds, or is left as it was.
    script = subprocess.run([_tool("pg_restore"), "--no-owner", "--file=-", str(dump)], capture_output=True)
    if script.returncode != 0:
        raise WarehouseError(
            f"pg_restore cannot read {dump}: {script.stderr.decode(errors='replace').strip()}"
        )
    drop = f"DROP SCHEMA IF EXISTS {quote_identifier(schema)} CASCADE;\n".encode()
    argv = [_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-", conn_url]
    done = subprocess.run(argv, input=drop + script.stdout, capture_output=True)
    if done.returncode != 0:
        err = mask_password(done.stderr.decode(errors="replace").strip())
        raise WarehouseError(f"restoring {folder} into {mask_password(url)} failed (nothing changed): {err}")
    return _postgres_counts(url)
