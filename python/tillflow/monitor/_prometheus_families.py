"""The Prometheus metric families tillflow exposes, computed from the
monitor tables one scrape read: runs and what they loaded, each pipeline's
health, what runs measured (null rates, freshness), rule checks, anomalies
and alerts. Every name starts with ``tillflow_``; counters end in
``_total``.

`_prometheus` reads the tables and hands them out (text, textfile, HTTP).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from tillflow.monitor._health import health
from tillflow.monitor._runs import runs as run_history
from tillflow.monitor.alerts import Severity
from tillflow.warehouse import journal

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = ["ScrapeTables", "families", "gauge", "scrape_duration"]

RUN_STATUSES = ("completed", "failed")
RULE_STATUSES = ("passed", "failed")
ALERT_STATUSES = ("sent", "failed", "suppressed")
# The kinds tillflow.monitor.detect_anomalies reports.
ANOMALY_KINDS = ("volume", "null_rate", "freshness", "duration", "schema", "rule")
# tillflow.monitor.health's statuses as a number; "unknown" (never ran) has none.
HEALTH_LEVELS = {"healthy": 0, "degraded": 1, "critical": 2}


@dataclass(frozen=True)
class ScrapeTables:
    """The monitor tables, read once per scrape; answers ``journal()`` like
    the warehouse, so [health][tillflow.monitor.health] reads them from here."""

    runs: pl.DataFrame
    run_metrics: pl.DataFrame
    rules: pl.DataFrame
    anomalies: pl.DataFrame
    alerts: pl.DataFrame

    @classmethod
    def read(cls, wh: Warehouse) -> ScrapeTables:
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


# -- the families


def families(t: ScrapeTables, now: dt.datetime) -> Iterator[Metric]:
    yield _build_info()
    yield from _run_families(t.runs)
    yield gauge(
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
    yield gauge(
        "last_run_timestamp_seconds", "When the pipeline's latest run ended (Unix time)", ["pipeline"],
        (((p,), v) for p, v in _rows(last, ["pipeline", "_ended"]) if v is not None),
    )  # fmt: skip
    yield gauge(
        "last_run_duration_seconds", "How long the pipeline's latest run took", ["pipeline"],
        (((p,), v) for p, v in _rows(last, ["pipeline", "duration_s"]) if v is not None),
    )  # fmt: skip
    yield gauge(
        "last_run_success", "1 if the pipeline's latest run completed, 0 if it failed", ["pipeline"],
        (((p,), float(s == "completed")) for p, s in _rows(last, ["pipeline", "status"])),
    )  # fmt: skip
    good = runs.filter(pl.col("status") == "completed").with_columns(ended.alias("_ended"))
    good = good.group_by("pipeline", maintain_order=True).last().sort("pipeline")
    yield gauge(
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
    yield gauge(
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


def _health_levels(tables: ScrapeTables, now: dt.datetime) -> dict[str, int]:
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
    yield gauge(
        "null_ratio", "Share of null values in a column at the latest run that loaded it (0 to 1)",
        ["pipeline", "table", "column"],
        (((p, t, c), v) for p, t, c, v in _rows(nulls, ["pipeline", "table", "column", "value"])),
    )  # fmt: skip
    lag = latest("freshness_lag_s", ["pipeline", "table"])
    yield gauge(
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
    yield gauge(
        "rule_failing_ratio", "Share of rows failing the rule at its latest check (0 to 1)", keys,
        sorted(((p, t, r), v) for p, t, r, v in _rows(latest, [*keys, "fraction"]) if v is not None),
    )  # fmt: skip
    yield gauge(
        "rule_failing_rows", "Rows failing the rule at its latest check", keys,
        sorted(((p, t, r), v) for p, t, r, v in _rows(latest, [*keys, "failing"]) if v is not None),
    )  # fmt: skip


# -- helpers


def _build_info() -> Metric:
    from tillflow import _native

    info = InfoMetricFamily("tillflow_build", "The tillflow version that serves these metrics")
    info.add_metric([], {"version": _native.__version__})
    return info


def scrape_duration(started: float) -> Metric:
    return gauge(
        "scrape_duration_seconds", "How long reading the warehouse took", [],
        [((), time.perf_counter() - started)],
    )  # fmt: skip


def _counter(
    name: str, doc: str, labels: list[str], samples: Iterable[tuple[tuple[str, ...], float]]
) -> Metric:
    return _family(CounterMetricFamily(f"tillflow_{name}_total", doc, labels=labels), samples)


def gauge(name: str, doc: str, labels: list[str], samples: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
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
