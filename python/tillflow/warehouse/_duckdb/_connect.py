"""Opening a DuckDB file: one process writes it or many read it, and an
opener waits a while for a lock another process holds, then names that
process (its pid and start time)."""

from __future__ import annotations

import datetime as dt
import re
import time

import duckdb as _duckdb

from tillflow.exceptions import WarehouseError, WarehouseLocked

__all__ = ["connect"]


def connect(path: str, *, read_only: bool, lock_timeout: float = 0.0) -> _duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file at ``path``, waiting up to
    ``lock_timeout`` seconds while another process holds its lock."""
    deadline = time.monotonic() + max(lock_timeout, 0.0)
    pause = 0.05
    while True:
        try:
            return _duckdb.connect(path, read_only=read_only)
        except _duckdb.ConnectionException as exc:
            # One process cannot hold a file with two different settings.
            raise WarehouseError(
                f"cannot open DuckDB warehouse {path!r}: this process has it open "
                f"{'for writing' if read_only else 'read-only'}; pass that warehouse object instead "
                f"of its path ({exc})"
            ) from None
        except _duckdb.Error as exc:
            holder = _lock_holder(str(exc))
            if holder is None:
                raise WarehouseError(
                    f"cannot open DuckDB warehouse {path!r}: not a readable DuckDB file ({exc})"
                ) from exc
            if time.monotonic() >= deadline:
                pid, started = holder
                who = f"pid {pid}" if pid is not None else "pid unknown"
                since = f", started {started}" if started else ""
                raise WarehouseLocked(
                    f"DuckDB warehouse {path!r} is locked: another process holds it "
                    f"({who}{since}); waited {lock_timeout:g}s",
                    path=path,
                    pid=pid,
                    started=started,
                ) from None
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _lock_holder(message: str) -> tuple[int | None, str | None] | None:
    """The (pid, start time) of the process holding a DuckDB file's lock,
    from DuckDB's refusal; None when the error is not about a lock."""
    if "lock" not in message.lower():
        return None
    found = re.search(r"\(PID (\d+)\)", message)
    if found is None:
        return None, None
    pid = int(found.group(1))
    try:
        import psutil

        started = dt.datetime.fromtimestamp(psutil.Process(pid).create_time(), dt.timezone.utc)
        return pid, started.isoformat(timespec="seconds")
    except Exception:  # gone since, or not ours to look at
        return pid, None
