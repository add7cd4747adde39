"""Watching the pipelines: run history (``_tf_runs``), health, anomaly
detection, alerts (Slack, webhooks, email, PagerDuty), Prometheus metrics,
structured logs and the HTML report."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tillflow.monitor._alert import Alert, Severity
from tillflow.monitor._alert_config import alerter_from_config
from tillflow.monitor._alerts import Alerter, Delivery
from tillflow.monitor._anomalies import Anomaly, AnomalyConfig, anomalies, detect_anomalies
from tillflow.monitor._channels import (
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)
from tillflow.monitor._health import Health, HealthThresholds, health
from tillflow.monitor._logs import Secret, configure_logging, redact, register_secret
from tillflow.monitor._monitor import Monitor, MonitorResult
from tillflow.monitor._prometheus import MetricsServer, prometheus_text, serve_metrics, write_textfile
from tillflow.monitor._runs import RunRecord, runs

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
    "Secret",
    "Severity",
    "SlackChannel",
    "WebhookChannel",
    "alerter_from_config",
    "anomalies",
    "configure_logging",
    "detect_anomalies",
    "health",
    "prometheus_text",
    "redact",
    "register_secret",
    "render_report",
    "runs",
    "serve_metrics",
    "write_report",
    "write_textfile",
]

if TYPE_CHECKING:
    from tillflow.monitor._report import render_report, write_report


def __getattr__(name: str) -> Any:
    # The report brings plotly; it loads when first asked for, not with the rest of the monitor.
    if name in ("render_report", "write_report"):
        return getattr(importlib.import_module("tillflow.monitor._report"), name)
    raise AttributeError(f"module 'tillflow.monitor' has no attribute {name!r}")
