"""Watching the pipelines: run history (``_tf_runs``), health, anomaly
detection, alerts (Slack, webhooks, email, PagerDuty), Prometheus metrics,
structured logs and the HTML report."""

from __future__ import annotations

from tillflow.monitor._alert import Alert, Severity
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
    "anomalies",
    "configure_logging",
    "detect_anomalies",
    "health",
    "prometheus_text",
    "redact",
    "register_secret",
    "runs",
    "serve_metrics",
    "write_textfile",
]
