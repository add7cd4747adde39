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
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from prometheus_client import CollectorRegistry, generate_latest, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from tillflow._core.errors import config_error
from tillflow.monitor._health import health
from tillflow.monitor._runs import runs as run_history
from tillflow.monitor.alerts import Severity
from tillflow.warehouse import journal, owners

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = ["MetricsServer", "WarehouseCollector", "prometheus_text", "serve_metrics", "write_textfile"]

log = logging.getLogger("tillflow.monitor")

RUN_STATUSES = ("completed", "failed")
RULE_STATUSES = ("passed", "failed")
ALERT_STATUSES = ("sent", "failed", "suppressed")
# The kinds tillflow.monitor.detect_anomalies reports.
ANOMALY_KINDS = ("volume", "null_rate", "freshness", "duration", "schema", "rule")
# tillflow.monitor.health's statuses as a number; "unknown" (never ran) has none.
HEALTH_LEVELS = {"healthy": 0, "degraded": 1, "critical": 2}

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
                tables = _Tables.read(wh)
        except Exception as exc:
            if self._strict:
                raise
            # An exporter answers every scrape; the reason goes to the log.
            log.warning("cannot read the warehouse for Prometheus: %s", exc)
            yield _gauge("warehouse_up", "1 if the last scrape read the warehouse, else 0", [], [((), 0)])
            yield _scrape_duration(started)
            return
        yield from _families(tables, dt.datetime.now(dt.timezone.utc))
        yield _gauge("warehouse_up", "1 if the last scrape read the warehouse, else 0", [], [((), 1)])
        yield _scrape_duration(started)


@dataclass(frozen=True)
class _Tables:
    """The monitor tables, read once per scrape; answers ``journal()`` like
    the warehouse, so [health][tillflow.monitor.health] reads them from here."""

    runs: pl.DataFrame
    run_metrics: pl.DataFrame
    rules: pl.DataFrame
    anomalies: pl.DataFrame
    alerts: pl.DataFrame

    @classmethod
    def read(cls, wh: Warehouse) -> _Tables:
        return cls(
            runs=run_history(wh),  # runs whose process died show as interrupted
            run_metrics=wh.journal(journal.RUN_METRICS),
            rules=wh.rule_results(),
            anomalies=wh.journal(journal.ANOMALIES),
            alerts=wh.journal(journal.ALERTS),
        )

    def journal(self, table: str) -> pl.DataFrame:
        frames = {journal.RUNS: self.runs, journal.RUN_METRICS: self.run_metrics,
                  journal.ANOMALIES: self.anomalies, journal.ALERTS: self.alerts}  # fmt: skip
        return frames[table]


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
        self._con = _connect_read_only(path, lock_timeout)
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
        self._con.close()


def _connect_read_only(path: str, lock_timeout: float) -> Any:
    from tillflow.warehouse.duckdb import connect

    return connect(path, read_only=True, lock_timeout=lock_timeout)


# -- the metric families


def _families(t: _Tables, now: dt.datetime) -> Iterator[Metric]:
    yield _build_info()
    yield from _run_families(t.runs)
    yield _gauge(
        "health_status", "Pipeline health (tillflow.monitor.health): 0 healthy, 1 degraded, 2 critical",
        ["pipeline"], sorted(((p,), level) for p, level in _health_levels(t, now).items()),
    )  # fmt: skip
    yield from _measured_families(t.run_metrics)
    yield from _rule_families(t.rules)
    pipelines = set(_text(t.runs["pipeline"])) | set(_text(t.anomalies["pipeline"]))
    yield _counter(
        "anomalies",
        "Anomalies detected in runs' measurements, by kind and severity",
        ["pipeline", "kind", "severity"],
        _counts(t.anomalies, ["pipeline", "kind", "severity"],
                [(p, k, s.value) for p in pipelines for k in ANOMALY_KINDS for s in Severity]),
    )  # fmt: skip
    seen = {(p, c) for p, c in _rows(t.alerts, ["pipeline", "channel"])}
    yield _counter(
        "alerts",
        "Alerts by channel and outcome (sent, failed, suppressed as a duplicate)",
        ["pipeline", "channel", "status"],
        _counts(t.alerts, ["pipeline", "channel", "status"],
                [(p, c, s) for p, c in seen for s in ALERT_STATUSES]),
    )  # fmt: skip


def _run_families(runs: pl.DataFrame) -> Iterator[Metric]:
    runs = runs.sort("started_at", nulls_last=False, maintain_order=True)
    pipelines = sorted(set(_text(runs["pipeline"])))
    yield _counter(
        "runs", "Pipeline runs by final status", ["pipeline", "status"],
        _counts(runs, ["pipeline", "status"], [(p, s) for p in pipelines for s in RUN_STATUSES]),
    )  # fmt: skip
    ended = pl.coalesce("finished_at", "started_at").dt.epoch("us") / 1e6
    last = runs.with_columns(ended.alias("_ended")).group_by("pipeline", maintain_order=True).last()
    last = last.sort("pipeline")
    yield _gauge(
        "last_run_timestamp_seconds", "When the pipeline's latest run ended (Unix time)", ["pipeline"],
        (((p,), v) for p, v in _rows(last, ["pipeline", "_ended"]) if v is not None),
    )  # fmt: skip
    yield _gauge(
        "last_run_duration_seconds", "How long the pipeline's latest run took", ["pipeline"],
        (((p,), v) for p, v in _rows(last, ["pipeline", "duration_s"]) if v is not None),
    )  # fmt: skip
    yield _gauge(
        "last_run_success", "1 if the pipeline's latest run completed, 0 if it failed", ["pipeline"],
        (((p,), float(s == "completed")) for p, s in _rows(last, ["pipeline", "status"])),
    )  # fmt: skip
    good = runs.filter(pl.col("status") == "completed").with_columns(ended.alias("_ended"))
    good = good.group_by("pipeline", maintain_order=True).last().sort("pipeline")
    yield _gauge(
        "last_success_timestamp_seconds", "When the pipeline's latest completed run ended (Unix time)",
        ["pipeline"], (((p,), v) for p, v in _rows(good, ["pipeline", "_ended"]) if v is not None),
    )  # fmt: skip
    loaded: dict[tuple[str, str], float] = {}
    for p, text in _rows(runs, ["pipeline", "row_counts"]):
        for table, n in _row_counts(text).items():
            loaded[(p, table)] = loaded.get((p, table), 0) + n
    yield _counter("rows_loaded", "Rows loaded, by table", ["pipeline", "table"], sorted(loaded.items()))
    latest = sorted(((p, table), n) for p, text in _rows(last, ["pipeline", "row_counts"])
                    for table, n in _row_counts(text).items())  # fmt: skip
    yield _gauge(
        "last_run_rows", "Rows the pipeline's latest run loaded, by table", ["pipeline", "table"], latest
    )
    sums = runs.group_by("pipeline").agg(
        pl.col("retries").fill_null(0).sum(), pl.col("errors").fill_null(0).sum()
    )
    yield _counter(
        "retries", "Retried requests and batches over all runs", ["pipeline"],
        sorted(((p,), n) for p, n in _rows(sums, ["pipeline", "retries"])),
    )  # fmt: skip
    yield _counter(
        "errors", "Errors over all runs", ["pipeline"],
        sorted(((p,), n) for p, n in _rows(sums, ["pipeline", "errors"])),
    )  # fmt: skip


def _health_levels(tables: _Tables, now: dt.datetime) -> dict[str, int]:
    """Each pipeline's [health][tillflow.monitor.health] (its defaults: the
    seed's thresholds over the last 7 days) as a number."""
    levels = {}
    for pipeline in sorted(set(tables.runs["pipeline"].drop_nulls())):
        status = health(tables, pipeline, now=now).status
        if status in HEALTH_LEVELS:
            levels[pipeline] = HEALTH_LEVELS[status]
    return levels


def _measured_families(measured: pl.DataFrame) -> Iterator[Metric]:
    measured = measured.filter(pl.col("value").is_not_null())
    measured = measured.sort("recorded_at", nulls_last=False, maintain_order=True)

    def latest(metric: str, keys: list[str]) -> pl.DataFrame:
        return measured.filter(pl.col("metric") == metric).group_by(keys, maintain_order=True).last()

    nulls = latest("null_rate", ["pipeline", "table", "column"])
    yield _gauge(
        "null_ratio", "Share of null values in a column at the latest run that loaded it (0 to 1)",
        ["pipeline", "table", "column"],
        (((p, t, c), v) for p, t, c, v in _rows(nulls, ["pipeline", "table", "column", "value"])),
    )  # fmt: skip
    lag = latest("freshness_lag_s", ["pipeline", "table"])
    yield _gauge(
        "freshness_lag_seconds", "Age of a table's newest record (its cursor) at the latest run",
        ["pipeline", "table"], (((p, t), v) for p, t, v in _rows(lag, ["pipeline", "table", "value"])),
    )  # fmt: skip


def _rule_families(rules: pl.DataFrame) -> Iterator[Metric]:
    keys = ["pipeline", "table", "rule"]
    if rules.height == 0:
        rules = pl.DataFrame(schema={**dict.fromkeys([*keys, "status"], pl.String),
                                     "fraction": pl.Float64, "failing": pl.Int64})  # fmt: skip
    checked = set(_rows(rules, keys))
    yield _counter(
        "rule_checks", "Rule checks by outcome (passed, failed, skipped)", [*keys, "status"],
        _counts(rules, [*keys, "status"], [(*k, s) for k in checked for s in RULE_STATUSES]),
    )  # fmt: skip
    latest = rules.group_by(keys, maintain_order=True).last()
    yield _gauge(
        "rule_failing_ratio", "Share of rows failing the rule at its latest check (0 to 1)", keys,
        sorted(((p, t, r), v) for p, t, r, v in _rows(latest, [*keys, "fraction"]) if v is not None),
    )  # fmt: skip
    yield _gauge(
        "rule_failing_rows", "Rows failing the rule at its latest check", keys,
        sorted(((p, t, r), v) for p, t, r, v in _rows(latest, [*keys, "failing"]) if v is not None),
    )  # fmt: skip


# -- helpers


def _build_info() -> Metric:
    from tillflow import _native

    info = InfoMetricFamily("tillflow_build", "The tillflow version that serves these metrics")
    info.add_metric([], {"version": _native.__version__})
    return info


def _scrape_duration(started: float) -> Metric:
    return _gauge(
        "scrape_duration_seconds", "How long reading the warehouse took", [],
        [((), time.perf_counter() - started)],
    )  # fmt: skip


def _counter(
    name: str, doc: str, labels: list[str], samples: Iterable[tuple[tuple[str, ...], float]]
) -> Metric:
    return _family(CounterMetricFamily(f"tillflow_{name}_total", doc, labels=labels), samples)


def _gauge(
    name: str, doc: str, labels: list[str], samples: Iterable[tuple[tuple[str, ...], float]]
) -> Metric:
    return _family(GaugeMetricFamily(f"tillflow_{name}", doc, labels=labels), samples)


def _family(family: Any, samples: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
    for values, value in samples:
        family.add_metric(list(values), float(value))
    return family


def _counts(
    frame: pl.DataFrame, keys: list[str], zero: Iterable[tuple[str, ...]]
) -> list[tuple[tuple[str, ...], float]]:
    """Rows per combination of ``keys``; the ``zero`` combinations appear with
    0 when absent, so ``increase()`` sees the first one happen."""
    out: dict[tuple[str, ...], float] = dict.fromkeys(zero, 0)
    for *values, n in _rows(frame.group_by(keys).len(), [*keys, "len"]):
        out[tuple(values)] = n
    return sorted(out.items())


def _rows(frame: pl.DataFrame, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``columns``, text columns with null read as ``""`` (a label value)."""
    cols = [pl.col(c).fill_null("") if frame.schema[c] == pl.String else pl.col(c) for c in columns]
    return frame.select(cols).iter_rows()


def _text(series: pl.Series) -> list[str]:
    return series.fill_null("").to_list()


def _row_counts(text: str | None) -> dict[str, int]:
    """A run's ``row_counts`` JSON; anything else reads as no rows rather than
    failing the scrape."""
    if not text:
        return {}
    try:
        counts = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(counts, dict):
        return {}
    return {
        str(t): int(n) for t, n in counts.items() if isinstance(n, (int, float)) and not isinstance(n, bool)
    }
