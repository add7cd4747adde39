"""Alerts: what the monitor found, sent to Slack, a webhook, email or
PagerDuty, with retries, de-duplication and a record of every delivery in
``_tf_alerts``. [alerter_from_config][tillflow.monitor.alerts.alerter_from_config] reads the
channels from a file; [Alerter.from_env][tillflow.monitor.alerts.Alerter.from_env] from
``TILLFLOW_*`` variables."""

from tillflow.monitor.alerts._alert import Alert, Severity
from tillflow.monitor.alerts._alerter import Alerter, Delivery
from tillflow.monitor.alerts._channels import Channel
from tillflow.monitor.alerts._channels_http import PagerDutyChannel, SlackChannel, WebhookChannel
from tillflow.monitor.alerts._config import alerter_from_config
from tillflow.monitor.alerts._email import EmailChannel

__all__ = [
    "Alert",
    "Alerter",
    "Channel",
    "Delivery",
    "EmailChannel",
    "PagerDutyChannel",
    "Severity",
    "SlackChannel",
    "WebhookChannel",
    "alerter_from_config",
]
