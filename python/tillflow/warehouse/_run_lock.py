"""One run at a time per warehouse, so cron cannot start a run over a
running one.

- A DuckDB file or a lake on local disk: an OS file lock on
  ``<warehouse>.run.lock`` beside it (``filelock``). The OS drops the lock
  when the holding process dies, so a lock left by a killed run is simply
  free; the holder's pid and start time sit in ``<warehouse>.run.json``.
- PostgreSQL: a session-level advisory lock on a connection of its own,
  keyed by the warehouse's database and schema. The server drops it when
  the session ends; the holder's pid and start time are in its
  ``application_name``, which ``pg_stat_activity`` shows.
- A lake on S3 or another store: the lock file sits beside the project
  file (one host runs a project's schedule).

A second run finds the lock taken and raises
[RunLocked][tillflow.exceptions.RunLocked] at once (``tillflow run`` exits 75),
or waits up to ``wait`` seconds for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tillflow._core.extras import require
from tillflow._core.secrets import mask_password
from tillflow.exceptions import RunLocked, WarehouseError

__all__ = ["run_lock", "schema_param"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def run_lock(warehouse: str, *, project_root: Path | None = None, wait: float = 0.0) -> Iterator[None]:
    """Hold the run lock of ``warehouse`` (a location as
    [from_url][tillflow.warehouse.from_url] takes it) while the block runs.

    Parameters
    ----------
    warehouse
        ``duckdb:path``, a ``.duckdb`` path, ``postgresql://…`` or ``delta:…``.
    project_root
        Where relative paths start, and where a remote lake's lock file goes.
    wait
        Seconds to wait for a running run to end; 0 fails at once.

    Raises
    ------
    RunLocked
        If another run holds the lock past ``wait``.
    WarehouseError
        If the PostgreSQL server cannot be reached.
    """
    scheme = urlsplit(warehouse).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        with _postgres_lock(warehouse, wait):
            yield
        return
    with _file_lock(_lock_path(warehouse, project_root or Path.cwd()), wait):
        yield


def _lock_path(warehouse: str, root: Path) -> Path:
    location = warehouse.removeprefix("duckdb:").removeprefix("delta:")
    if "://" in location and not location.startswith("file://"):
        digest = hashlib.sha256(location.encode()).hexdigest()[:12]
        return root / f".tillflow-{digest}.run.lock"
    path = Path(location.removeprefix("file://"))
    if not path.is_absolute():
        path = root / path
    return path.with_name(path.name + ".run.lock")


@contextlib.contextmanager
def _file_lock(path: Path, wait: float) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    info = path.with_suffix(".json")
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=max(wait, 0.0))
    except Timeout:
        holder = _read_info(info)
        raise _locked(str(path), holder.get("pid"), holder.get("started"), wait) from None
    try:
        # A killed run leaves its record behind: the lock itself went with its process.
        info.write_text(json.dumps({"pid": os.getpid(), "started": _now()}), encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            info.unlink()
        lock.release()


def _read_info(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _locked(what: str, pid: Any, started: Any, wait: float) -> RunLocked:
    who = f"pid {pid}" if pid is not None else "pid unknown"
    since = f", started {started}" if started else ""
    waited = f"; waited {wait:g}s" if wait > 0 else "; pass --wait to wait for it"
    return RunLocked(
        f"another tillflow run holds {what} ({who}{since}){waited}",
        path=what,
        pid=pid if isinstance(pid, int) else None,
        started=str(started) if started else None,
    )


def schema_param(url: str) -> tuple[str, str]:
    """``schema`` is tillflow's, not libpq's: the URL without it, and the schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[-1] if schemas else "public") or "public"


@contextlib.contextmanager
def _postgres_lock(warehouse: str, wait: float) -> Iterator[None]:
    psycopg: Any = require("psycopg", "postgres", "the PostgreSQL run lock")
    url, schema = schema_param(warehouse)
    # Advisory locks belong to one database, so the schema names the warehouse.
    key = int.from_bytes(hashlib.sha256(f"tillflow-run:{schema}".encode()).digest()[:8], "big", signed=True)
    tag = f"tillflow run pid={os.getpid()} started={_now()}"
    try:
        con = psycopg.connect(url, autocommit=True, application_name=tag[:63])
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot connect to PostgreSQL warehouse {mask_password(url)}: {exc}") from exc
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        pause = 0.1
        while not con.execute("SELECT pg_try_advisory_lock(%s::bigint)", [key]).fetchone()[0]:
            if time.monotonic() >= deadline:
                row = con.execute(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s::bigint",
                    [key],
                ).fetchone()
                fields = (row[0] if row else "").split()[2:]
                holder = dict(p.split("=", 1) for p in fields if "=" in p)
                pid = int(holder["pid"]) if holder.get("pid", "").isdigit() else None
                raise _locked(f"schema {schema!r} of {mask_password(url)}", pid, holder.get("started"), wait)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        yield
    finally:
        con.close()
