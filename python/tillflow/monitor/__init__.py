"""Watching the pipelines: run history (``_tf_runs``), health, anomaly
detection, alerts (Slack, webhooks, email, PagerDuty), Prometheus metrics,
structured logs and the HTML report."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tillflow.monitor._anomalies import Anomaly, AnomalyConfig, anomalies, detect_anomalies
from tillflow.monitor._health import Health, HealthThresholds, health
from tillflow.monitor._monitor import Monitor, MonitorResult
from tillflow.monitor._prometheus import MetricsServer, prometheus_text, serve_metrics, write_textfile
from tillflow.monitor._runs import RunRecord, runs

# What a pipeline records its runs with (not for users).
from tillflow.monitor._runs import RunRecorder as RunRecorder
from tillflow.monitor._runs import write_run as write_run
from tillflow.monitor.alerts import (
    Alert,
    Alerter,
    Channel,
    Delivery,
    EmailChannel,
    PagerDutyChannel,
    Severity,
    SlackChannel,
    WebhookChannel,
    alerter_from_config,
)

__all__ = [
    "Alert",
    "Alerter",
    "Anomaly",
    "AnomalyConfig",
    "Channel",
    "Delivery",
    "EmailChannel",
    "Health",
    "HealthThresholds",
    "MetricsServer",
    "Monitor",
    "MonitorResult",
    "PagerDutyChannel",
    "RunRecord",
    "Severity",
    "SlackChannel",
    "WebhookChannel",
    "alerter_from_config",
    "anomalies",
    "detect_anomalies",
    "health",
    "prometheus_text",
    "render_report",
    "runs",
    "serve_metrics",
    "write_report",
    "write_textfile",
]

if TYPE_CHECKING:
    from tillflow.monitor.report import render_report, write_report


def __getattr__(name: str) -> Any:
    # The report brings plotly; it loads when first asked for, not with the rest of the monitor.
    if name in ("render_report", "write_report"):
        return getattr(importlib.import_module("tillflow.monitor.report"), name)
    # Secrets and logs serve every stage; they live at the top level (``tl.Secret``).
    if name in ("Secret", "redact", "register_secret"):
        return getattr(importlib.import_module("tillflow._core.secrets"), name)
    if name == "configure_logging":
        return importlib.import_module("tillflow._core.logs").configure_logging
    raise AttributeError(f"module 'tillflow.monitor' has no attribute {name!r}")
