"""What happens after every run: look for anomalies, judge the pipeline's
health and alert on what needs a person. Nothing here fails the pipeline:
a problem is logged and the run's own outcome stands."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._core.errors import config_error
from tillflow.exceptions import ConfigError
from tillflow.monitor._anomalies import Anomaly, AnomalyConfig, detect_anomalies
from tillflow.monitor._health import Health, HealthThresholds, health
from tillflow.monitor._runs import runs
from tillflow.monitor.alerts import Alert, Severity

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = ["Monitor", "MonitorResult"]

log = logging.getLogger("tillflow.monitor")


@dataclasses.dataclass
class MonitorResult:
    """What the monitor found after one run and the alerts it raised.

    Parameters
    ----------
    run_id
        The run checked.
    anomalies
        The anomalies found in it.
    health
        The pipeline's health after it.
    alerts
        The alerts raised, whether or not a channel took them.
    deliveries
        What became of each alert on each channel
        ([Delivery][tillflow.monitor.alerts.Delivery] objects).
    """

    run_id: str
    anomalies: list[Anomaly] = dataclasses.field(default_factory=list)
    health: Health | None = None
    alerts: list[Alert] = dataclasses.field(default_factory=list)
    deliveries: list[Any] = dataclasses.field(default_factory=list)


class Monitor:
    """Checks every run of a pipeline it is given to (``tl.pipeline(...,
    monitor=Monitor(...))``), or any run with [check][tillflow.monitor.Monitor.check].

    - anomalies (found as ``anomalies=AnomalyConfig(...)`` says, its defaults
      when None) are stored in ``_tf_anomalies`` and each raises an alert of
      its severity;
    - a failed run raises a critical alert, an interrupted one (stopped by a
      signal, or its process lost) a warning;
    - health (``thresholds``, over ``health_window``) that is degraded or
      critical raises an alert of that severity.

    Alerts go through ``alerter`` (a [Alerter][tillflow.monitor.alerts.Alerter]), or
    one built over ``channels`` that de-duplicates in the warehouse; with
    neither, findings are only stored and logged. ``min_severity`` drops
    alerts below it before any channel sees them.

    Parameters
    ----------
    alerter
        The [Alerter][tillflow.monitor.alerts.Alerter] that sends the alerts.
    channels
        [Channel][tillflow.monitor.alerts.Channel]s to build an alerter over
        (one per warehouse, recording deliveries in its ``_tf_alerts``).
    anomalies
        How anomalies are found (see [AnomalyConfig][tillflow.monitor.AnomalyConfig]).
    thresholds
        When the pipeline stops being healthy; by default
        [HealthThresholds][tillflow.monitor.HealthThresholds]' defaults.
    health_window
        The runs health is judged over: a time span back from now, or the
        last N runs.
    min_severity
        The lowest severity sent: ``"info"``, ``"warning"`` (the default) or
        ``"critical"``.
    dedup_window
        With ``channels``: how long an alert's key is not sent again.

    Raises
    ------
    ConfigError
        If both ``alerter`` and ``channels`` are given, or ``min_severity``
        is not a severity.
    """

    def __init__(
        self,
        *,
        alerter: Any = None,
        channels: Sequence[Any] | None = None,
        anomalies: AnomalyConfig | None = None,
        thresholds: HealthThresholds | None = None,
        health_window: dt.timedelta | int = dt.timedelta(days=7),
        min_severity: str | Severity = Severity.WARNING,
        dedup_window: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        if alerter is not None and channels:
            raise config_error("give Monitor an alerter or channels, not both")
        self.alerter = alerter
        self.channels = list(channels or [])
        self.anomalies = anomalies if anomalies is not None else AnomalyConfig()
        self.thresholds = thresholds or HealthThresholds()
        self.health_window = health_window
        self.min_severity = Severity.parse(min_severity)
        self.dedup_window = dedup_window
        self._alerters: dict[int, Any] = {}

    @classmethod
    def from_config(cls, warehouse: Warehouse, alerts: str | os.PathLike[str] | None = None) -> Monitor:
        """A monitor alerting through the channels of the ``alerts`` file, or
        those the environment configures (``TILLFLOW_SLACK_WEBHOOK_URL`` and
        the others); with neither, it only stores and logs what it finds.

        Parameters
        ----------
        warehouse
            Where alerts are recorded (``_tf_alerts``) and deduplicated.
        alerts
            An alerts file (see [alerter_from_config][tillflow.monitor.alerter_from_config]).

        Returns
        -------
        Monitor
            The monitor, with its alerter.

        Raises
        ------
        ConfigError
            If the alerts file is invalid.
        """
        from tillflow.monitor.alerts import Alerter, alerter_from_config

        if alerts is not None:
            return cls(alerter=alerter_from_config(alerts, warehouse=warehouse))
        try:
            alerter = Alerter.from_env(warehouse=warehouse)
        except ConfigError:
            alerter = None
        return cls(alerter=alerter)

    def after_run(self, record: Any, warehouse: Warehouse) -> MonitorResult:
        """Called by the pipeline once a run is in ``_tf_runs``; never raises.

        Parameters
        ----------
        record
            The run's [RunRecord][tillflow.monitor.RunRecord].
        warehouse
            The warehouse the run loaded into.

        Returns
        -------
        MonitorResult
            What [check][tillflow.monitor.Monitor.check] found; empty when
            checking failed (the failure is logged).
        """
        try:
            return self.check(warehouse, record.pipeline, record.run_id)
        except Exception as exc:
            log.error("monitor: checking run %s of %s failed: %s", record.run_id, record.pipeline, exc)
            return MonitorResult(record.run_id)

    def check(self, warehouse: Warehouse, pipeline: str, run_id: str | None = None) -> MonitorResult:
        """Anomalies and health for one run (the latest by default), and their alerts.

        Parameters
        ----------
        warehouse
            The warehouse the pipeline loads into.
        pipeline
            The pipeline's name.
        run_id
            The run to check; by default the pipeline's latest.

        Returns
        -------
        MonitorResult
            The anomalies (stored in ``_tf_anomalies``), the health, the alerts
            raised and their deliveries.

        Raises
        ------
        ConfigError
            If the pipeline has no runs, or no run ``run_id``, in ``_tf_runs``.
        WarehouseError
            If the monitor tables cannot be read or written.
        """
        mine = runs(warehouse, pipeline)
        if run_id is not None:
            mine = mine.filter(pl.col("run_id") == run_id)
        if mine.height == 0:
            which = f"run {run_id!r}" if run_id else "runs"
            raise ConfigError(f"pipeline {pipeline!r} has no {which} in _tf_runs")
        run = mine.row(-1, named=True)
        found = detect_anomalies(warehouse, pipeline, run_id=run["run_id"], config=self.anomalies)
        state = health(warehouse, pipeline, window=self.health_window, thresholds=self.thresholds)
        result = MonitorResult(run["run_id"], anomalies=found, health=state)
        for anomaly in found:
            log.warning("anomaly: %s", anomaly.message)
        if run["status"] in ("failed", "interrupted"):
            # A failed run is critical; one a signal or a lost process stopped is a warning:
            # what it committed stays, and the next run resumes after it.
            failed = run["status"] == "failed"
            result.alerts.append(
                Alert(
                    key=f"{pipeline}:run_{run['status']}",
                    title=f"{pipeline}: run {run['status']}",
                    message=f"run {run['run_id']} {run['status']}: {run['error']}",
                    severity=Severity.CRITICAL if failed else Severity.WARNING,
                    pipeline=pipeline,
                    run_id=run["run_id"],
                    details={"rows loaded": run["total_rows"], "retries": run["retries"]},
                )
            )
        for anomaly in found:
            where = f" in {anomaly.table}" if anomaly.table else ""
            result.alerts.append(
                Alert(
                    key=anomaly.key,
                    title=f"{pipeline}: {anomaly.kind} anomaly{where}",
                    message=anomaly.message,
                    severity=Severity.parse(anomaly.severity),
                    pipeline=pipeline,
                    run_id=anomaly.run_id,
                    details={k: v for k, v in (("value", anomaly.value), ("expected", anomaly.expected),
                             ("z", None if anomaly.z is None else round(anomaly.z, 2))) if v is not None},
                )
            )  # fmt: skip
        if state.status in ("degraded", "critical"):
            result.alerts.append(
                Alert(
                    key=f"{pipeline}:health:{state.status}",
                    title=f"{pipeline} is {state.status}",
                    message=str(state),
                    severity=Severity.CRITICAL if state.status == "critical" else Severity.WARNING,
                    pipeline=pipeline,
                    run_id=run["run_id"],
                    details={"success rate": state.success_rate, "errors": state.error_count},
                )
            )
        alerter = self._alerter(warehouse)
        for alert in result.alerts:
            if alert.severity.rank < self.min_severity.rank or alerter is None:
                continue
            try:
                result.deliveries.extend(alerter.send(alert))
            except Exception as exc:  # an alerter never should; a pipeline never fails for it
                log.error("monitor: sending alert %s failed: %s", alert.key, exc)
        return result

    def _alerter(self, warehouse: Warehouse) -> Any:
        if self.alerter is not None or not self.channels:
            return self.alerter
        found = self._alerters.get(id(warehouse))
        if found is None:
            from tillflow.monitor.alerts import Alerter

            found = Alerter(self.channels, warehouse=warehouse, dedup_window=self.dedup_window)
            self._alerters[id(warehouse)] = found
        return found
