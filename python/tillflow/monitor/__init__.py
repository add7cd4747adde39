"""Watching the pipelines: run history (``_tf_runs``), health, anomaly
detection, alerts (Slack, webhooks, email, PagerDuty), Prometheus metrics,
structured logs and the HTML report."""

from __future__ import annotations

from tillflow.monitor._alert import Alert, Severity
from tillflow.monitor._alerts import Alerter, Delivery
from tillflow.monitor._channels import (
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)
from tillflow.monitor._logs import Secret, configure_logging, redact, register_secret

__all__ = [
    "Alert",
    "Alerter",
    "Channel",
    "Delivery",
    "EmailChannel",
    "PagerDutyChannel",
    "Secret",
    "Severity",
    "SlackChannel",
    "WebhookChannel",
    "configure_logging",
    "redact",
    "register_secret",
]
