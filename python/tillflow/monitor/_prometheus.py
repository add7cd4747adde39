"""Prometheus metrics from the monitor's tables.

The collector reads the warehouse each time it is scraped, never a cached
copy: run history (``_tf_runs``), what runs measured (``_tf_run_metrics``),
rule outcomes (``_tf_rule_results``), anomalies and alerts. There are three
ways out: [prometheus_text][tillflow.monitor.prometheus_text] (the exposition as text),
[write_textfile][tillflow.monitor.write_textfile] (a ``.prom`` file for node_exporter's
textfile collector, replaced atomically) and [serve_metrics][tillflow.monitor.serve_metrics]
(an HTTP endpoint, ``/metrics``).

A DuckDB file has one writer process at a time and no reader beside it, so
opening it read-only fails while a pipeline loads into it. The endpoint then
retries for ``lock_timeout`` seconds and, if the file stays locked, answers
with ``tillflow_warehouse_up 0`` and none of the numbers (Prometheus marks
them stale instead of repeating old values) and logs why; the next scrape
tries again. To never contend with a writer, write a textfile at the end of
each run instead (``tillflow metrics-textfile``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import polars as pl
from prometheus_client import CollectorRegistry, generate_latest, start_http_server, write_to_textfile
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from tillflow._core.errors import config_error
from tillflow.monitor._prometheus_families import ScrapeTables, families, gauge, scrape_duration
from tillflow.warehouse import journal, owners

__all__ = ["MetricsServer", "WarehouseCollector", "prometheus_text", "serve_metrics", "write_textfile"]

log = logging.getLogger("tillflow.monitor")

#: A DuckDB file path, a warehouse object, or a function that opens a warehouse.
WarehouseSource = Any

_RULE_RESULTS = "_tf_rule_results"


def prometheus_text(warehouse: WarehouseSource, *, lock_timeout: float = 3.0) -> str:
    """The warehouse's monitor metrics in Prometheus' text format.

    ``warehouse`` is a warehouse object, a function returning a fresh one
    (closed after reading) or the path of a DuckDB file (opened read-only;
    ``lock_timeout`` is how long to wait while a writer holds it). Reading
    errors raise.

    Parameters
    ----------
    warehouse
        A warehouse object, a function returning a fresh one (closed after
        reading) or the path of a DuckDB file (opened read-only).
    lock_timeout
        Seconds to wait while a writer holds a DuckDB file.

    Returns
    -------
    str
        The exposition text.

    Raises
    ------
    ConfigError
        If ``warehouse`` is a path with no file, or none of the accepted forms.
    WarehouseError
        If the monitor tables cannot be read.
    WarehouseLocked
        If a writer holds the DuckDB file past ``lock_timeout``.
    """
    return generate_latest(_registry(warehouse, lock_timeout, strict=True)).decode()


def write_textfile(
    warehouse: WarehouseSource, path: str | os.PathLike[str], *, lock_timeout: float = 3.0
) -> Path:
    """Write [prometheus_text][tillflow.monitor.prometheus_text] to ``path`` (``*.prom``) for node_exporter's
    textfile collector: to a temporary file beside it, then renamed over it,
    so the collector never reads half a file. A failed read raises and leaves
    the previous file as it was (alert on ``node_textfile_mtime_seconds``).

    Parameters
    ----------
    warehouse
        A warehouse object, a function returning a fresh one (closed after
        reading) or the path of a DuckDB file (opened read-only).
    lock_timeout
        Seconds to wait while a writer holds a DuckDB file.
    path
        The ``.prom`` file, in an existing folder.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ConfigError
        If ``path`` does not end in ``.prom`` or its folder does not exist,
        or ``warehouse`` is a path with no file or none of the accepted forms.
    WarehouseError
        If the monitor tables cannot be read.
    WarehouseLocked
        If a writer holds the DuckDB file past ``lock_timeout``.
    """
    target = Path(path)
    if target.suffix != ".prom":
        raise config_error(f"textfile: node_exporter reads only *.prom files, not {target.name!r}")
    if not target.parent.is_dir():
        raise config_error(f"textfile: no folder {str(target.parent)!r}")
    write_to_textfile(str(target), _registry(warehouse, lock_timeout, strict=True))
    return target


class MetricsServer:
    """A running ``/metrics`` endpoint (see [serve_metrics][tillflow.monitor.serve_metrics]).

    Made by [serve_metrics][tillflow.monitor.serve_metrics]; ``host`` and
    ``port`` are where it listens, ``url`` its address. Leaving a ``with``
    block shuts it down.

    Parameters
    ----------
    httpd
        The HTTP server.
    thread
        The thread serving it.
    """

    def __init__(self, httpd: Any, thread: Any) -> None:
        self._httpd = httpd
        self._thread = thread
        self.host: str = httpd.server_address[0]
        self.port: int = httpd.server_address[1]

    @property
    def url(self) -> str:
        """The endpoint's address, ``http://host:port/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<MetricsServer {self.url}>"


def serve_metrics(
    warehouse_factory_or_path: WarehouseSource,
    host: str = "127.0.0.1",
    port: int = 9464,
    *,
    lock_timeout: float = 3.0,
) -> MetricsServer:
    """Serve the monitor metrics over HTTP in a background thread; every
    scrape reads the warehouse anew. ``port=0`` picks a free port (see ``.url``).

    Pass the path of a DuckDB file (opened read-only per scrape), a function
    that opens a warehouse (called per scrape, closed after) or a warehouse
    object you keep open. A scrape that cannot read the warehouse answers
    ``tillflow_warehouse_up 0`` rather than an error page, and logs why on
    the ``tillflow.monitor`` logger. The exporter's own ``process_*`` and
    ``python_*`` metrics come along.

    Parameters
    ----------
    warehouse_factory_or_path
        A DuckDB file's path, a function that opens a warehouse, or a
        warehouse object.
    host
        The address to listen on.
    port
        The port; 0 picks a free one.
    lock_timeout
        Seconds a scrape waits while a writer holds a DuckDB file.

    Returns
    -------
    MetricsServer
        The running server; call ``shutdown()`` (or leave its ``with``
        block) to stop it.

    Raises
    ------
    ConfigError
        If the path has no file, the source is none of the accepted forms,
        or the address cannot be listened on.
    """
    from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

    registry = _registry(warehouse_factory_or_path, lock_timeout, strict=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    try:
        httpd, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise config_error(f"cannot serve metrics on {host}:{port}: {exc}") from None
    return MetricsServer(httpd, thread)


class WarehouseCollector(Collector):
    """A Prometheus collector over a warehouse's monitor tables.

    ``open_warehouse`` returns a context manager giving something with
    ``journal(table)`` and ``rule_results()``; it is entered at every
    collection. With ``strict=False`` a failed read becomes
    ``tillflow_warehouse_up 0`` instead of an exception."""

    def __init__(self, open_warehouse: Callable[[], AbstractContextManager[Any]], *, strict: bool) -> None:
        self._open = open_warehouse
        self._strict = strict

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            with self._open() as wh:
                tables = ScrapeTables.read(wh)
        except Exception as exc:
            if self._strict:
                raise
            # An exporter answers every scrape; the reason goes to the log.
            log.warning("cannot read the warehouse for Prometheus: %s", exc)
            yield gauge("warehouse_up", "1 if the last scrape read the warehouse, else 0", [], [((), 0)])
            yield scrape_duration(started)
            return
        yield from families(tables, dt.datetime.now(dt.timezone.utc))
        yield gauge("warehouse_up", "1 if the last scrape read the warehouse, else 0", [], [((), 1)])
        yield scrape_duration(started)


# -- where the tables come from


def _registry(source: WarehouseSource, lock_timeout: float, *, strict: bool) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WarehouseCollector(_opener(source, lock_timeout), strict=strict))
    return registry


def _opener(source: WarehouseSource, lock_timeout: float) -> Callable[[], AbstractContextManager[Any]]:
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not Path(path).is_file():
            raise config_error(f"warehouse: no DuckDB file {path!r}")
        return lambda: closing(_DuckDBFile(path, lock_timeout))
    if hasattr(source, "journal") and hasattr(source, "rule_results"):
        return lambda: nullcontext(source)
    if callable(source):
        return lambda: _fresh(source)
    raise config_error(
        "warehouse: expected a DuckDB file path, a warehouse or a function "
        f"that opens one, got {type(source).__name__}"
    )


@contextmanager
def _fresh(factory: Callable[[], Any]) -> Iterator[Any]:
    wh = factory()
    try:
        yield wh
    finally:
        close = getattr(wh, "close", None)
        if close is not None:
            close()


class _DuckDBFile(journal.Journal):
    """The monitor tables of a DuckDB file, through a read-only connection
    (a scrape must never create tables or take the writer's lock)."""

    read_only = True

    def __init__(self, path: str, lock_timeout: float) -> None:
        self.path = path
        self._lock = threading.RLock()
        from tillflow.warehouse import DuckDBWarehouse

        self._wh = DuckDBWarehouse(path, read_only=True, create=False, lock_timeout=lock_timeout)
        self._con = self._wh.connection
        rows = self._con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
        ).fetchall()
        self._tables = {r[0] for r in rows}

    def journal(self, table: str) -> pl.DataFrame:
        if table not in self._tables:
            return journal.empty(table)
        frame = self._con.sql(f"SELECT * FROM {table} ORDER BY {journal.order_by(table)}").pl()
        return journal.conform(table, frame)

    def _alive(self, running: pl.DataFrame, now: dt.datetime) -> set[str]:
        return owners.live_here(running)

    def rule_results(self) -> pl.DataFrame:
        if _RULE_RESULTS not in self._tables:
            return pl.DataFrame()
        return self._con.sql(f"SELECT * FROM {_RULE_RESULTS} ORDER BY checked_at, run_id").pl()

    def close(self) -> None:
        self._wh.close()
