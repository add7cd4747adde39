"""Watching the pipelines: run history (``_tf_runs``), health, anomaly
detection, alerts (Slack, webhooks, email, PagerDuty), Prometheus metrics,
structured logs and the HTML report."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tillflow.monitor._runs import RunRecord, runs

# What a pipeline records its runs with (not for users).
from tillflow.monitor._runs import RunRecorder as RunRecorder
from tillflow.monitor._runs import write_run as write_run

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
    "grafana_dashboard",
    "health",
    "prometheus_text",
    "render_report",
    "runs",
    "serve_metrics",
    "write_report",
    "write_textfile",
]

# The rest loads on first use: alerts bring httpx and tenacity, Prometheus its
# client, the report plotly; a pipeline that records its runs needs none of them.
_ANOMALIES, _HEALTH, _MONITOR = (
    "tillflow.monitor._anomalies",
    "tillflow.monitor._health",
    "tillflow.monitor._monitor",
)
_PROMETHEUS, _ALERTS, _REPORT = (
    "tillflow.monitor._prometheus",
    "tillflow.monitor.alerts",
    "tillflow.monitor.report",
)
_NAMES = {
    "Anomaly": _ANOMALIES, "AnomalyConfig": _ANOMALIES, "anomalies": _ANOMALIES,
    "detect_anomalies": _ANOMALIES, "Health": _HEALTH, "HealthThresholds": _HEALTH, "health": _HEALTH,
    "Monitor": _MONITOR, "MonitorResult": _MONITOR, "MetricsServer": _PROMETHEUS,
    "prometheus_text": _PROMETHEUS, "serve_metrics": _PROMETHEUS, "write_textfile": _PROMETHEUS,
    "grafana_dashboard": "tillflow.monitor._grafana",
    "Alert": _ALERTS, "Alerter": _ALERTS, "Channel": _ALERTS, "Delivery": _ALERTS,
    "EmailChannel": _ALERTS, "PagerDutyChannel": _ALERTS, "Severity": _ALERTS, "SlackChannel": _ALERTS,
    "WebhookChannel": _ALERTS, "alerter_from_config": _ALERTS,
    "render_report": _REPORT, "write_report": _REPORT,
    # Secrets and logs serve every stage; they live at the top level (``tl.Secret``).
    "Secret": "tillflow._core.secrets", "redact": "tillflow._core.secrets",
    "register_secret": "tillflow._core.secrets", "configure_logging": "tillflow._core.logs",
}  # fmt: skip

if TYPE_CHECKING:
    from tillflow.monitor._anomalies import Anomaly, AnomalyConfig, anomalies, detect_anomalies
    from tillflow.monitor._grafana import grafana_dashboard
    from tillflow.monitor._health import Health, HealthThresholds, health
    from tillflow.monitor._monitor import Monitor, MonitorResult
    from tillflow.monitor._prometheus import MetricsServer, prometheus_text, serve_metrics, write_textfile
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
    from tillflow.monitor.report import render_report, write_report


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'tillflow.monitor' has no attribute {name!r}")
