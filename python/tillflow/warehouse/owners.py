"""Who owns a running run, and whether that owner is still there.

A run records its owner when it starts: the host name, the process id and
the process's start time (a pid alone is reused by the system). Each
warehouse decides liveness with the strongest test it has:

- **PostgreSQL**: a live run holds a session-level advisory lock on the
  warehouse's connection; a run whose lock no session holds is gone. Exact,
  across hosts: the server drops the lock when the session ends.
- **DuckDB**: the file lock lets one process at a time open the file, so a
  run of another process is gone; a run of this process is alive while it is
  registered here (threads may run pipelines concurrently).
- **Delta lake**: on this host (same name), the process must exist with
  the same start time, and a run of this very process must be registered
  here; a run on another host is gone once it has given no sign of life
  (its heartbeat, renewed by its batches at most once a minute, or its
  start) for ``DeltaLake.run_lease``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()
_live: set[str] = set()


def started(run_id: str) -> None:
    with _lock:
        _live.add(run_id)


def ended(run_id: str) -> None:
    with _lock:
        _live.discard(run_id)


def is_live_here(run_id: str) -> bool:
    """Whether ``run_id`` is a run this process is running now."""
    with _lock:
        return run_id in _live


def live_here(running: Any) -> set[str]:
    """The runs of a ``_tf_runs`` frame that this process is running now
    (DuckDB's rule: its file lock keeps every other process out)."""
    with _lock:
        return {r for r in running["run_id"].to_list() if r in _live}


@lru_cache(maxsize=1)
def _identity() -> tuple[str, int, dt.datetime]:
    import psutil

    pid = os.getpid()
    born = dt.datetime.fromtimestamp(psutil.Process(pid).create_time(), dt.timezone.utc)
    return socket.gethostname(), pid, born


def owner() -> dict[str, Any]:
    """This process as a run's owner: ``host``, ``pid``, ``process_started_at``."""
    host, pid, born = _identity()
    if pid != os.getpid():  # a forked child is another owner
        _identity.cache_clear()
        host, pid, born = _identity()
    return {"host": host, "pid": pid, "process_started_at": born}


def is_this_process(row: dict[str, Any]) -> bool:
    me = owner()
    return (
        row.get("host") == me["host"]
        and row.get("pid") == me["pid"]
        and _same_start(row.get("process_started_at"), me["process_started_at"])
    )


def process_alive(row: dict[str, Any]) -> bool | None:
    """Whether the run's process still runs: None when it ran on another host
    (or recorded no owner), which this host cannot look at."""
    if row.get("host") != owner()["host"] or row.get("pid") is None:
        return None
    if is_this_process(row):
        return is_live_here(row["run_id"])
    import psutil

    try:
        born = dt.datetime.fromtimestamp(psutil.Process(int(row["pid"])).create_time(), dt.timezone.utc)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.Error:  # e.g. access denied: it exists, so it may be the owner
        return True
    return _same_start(row.get("process_started_at"), born)


def _same_start(a: Any, b: Any) -> bool:
    # Start times come from the system's clock ticks: equal within a few milliseconds.
    if not isinstance(a, dt.datetime) or not isinstance(b, dt.datetime):
        return False
    return abs((a - b).total_seconds()) < 0.05
