"""Watching the pipelines: run history (``_tf_runs``), health, anomaly
detection, alerts (Slack, webhooks, email, PagerDuty), Prometheus metrics,
structured logs and the HTML report."""

from __future__ import annotations

from tillflow.monitor._alert import Alert, Severity

__all__ = ["Alert", "Severity"]
