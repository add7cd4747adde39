"""Routing alerts to channels: the [Alerter][tillflow.monitor.alerts.Alerter] sends an alert to each
channel at or above that channel's severity, retries failed sends with
backoff, de-duplicates within a window and records every delivery in
``_tf_alerts``. It never raises for a failed delivery; it logs it (logger
``tillflow.alerts``) and reports it in the [Delivery][tillflow.monitor.alerts.Delivery] it returns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

import polars as pl
import tenacity

from tillflow._core.errors import config_error
from tillflow._core.logs import logger
from tillflow._core.secrets import redact
from tillflow.exceptions import TillflowError
from tillflow.monitor.alerts._alert import Alert
from tillflow.monitor.alerts._channels import (
    PAGERDUTY_ENV,
    SLACK_ENV,
    SMTP_ENV,
    WEBHOOK_ENV,
    Channel,
    env_setting,
)
from tillflow.monitor.alerts._channels_http import PagerDutyChannel, SlackChannel, WebhookChannel
from tillflow.monitor.alerts._email import EmailChannel
from tillflow.warehouse import journal

__all__ = ["Alerter", "Delivery"]

log = logger("tillflow.alerts")


DeliveryStatus = Literal["sent", "failed", "suppressed", "skipped"]


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What became of one alert on one channel: ``sent``, ``failed`` (after
    ``attempts`` tries; ``error`` says why), ``suppressed`` (the same key was
    sent there within the de-duplication window) or ``skipped`` (below the
    channel's minimum severity).

    Parameters
    ----------
    channel
        The channel's name.
    status
        ``sent``, ``failed``, ``suppressed`` or ``skipped``.
    attempts
        The tries made.
    error
        Why it failed, for a failed delivery.
    """

    channel: str
    status: DeliveryStatus
    attempts: int = 0
    error: str | None = None


class _Journal(Protocol):
    def write_journal(self, frames: Mapping[str, pl.DataFrame]) -> None: ...

    def journal(self, table: str) -> pl.DataFrame: ...


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Alerter:
    """Routes alerts to channels.

    Each channel gets an alert at or above its ``min_severity``. A failed send
    is retried ``retries`` times on connection errors, timeouts, HTTP 429 and
    5xx (and SMTP 4xx), waiting ``backoff`` seconds doubled each time, or the
    server's Retry-After, never more than ``max_wait``. An alert whose key was
    sent to a channel within ``dedup_window`` is not sent there again; with a
    ``warehouse`` that memory is its ``_tf_alerts`` table, shared by every
    process using it, and every delivery (sent, failed, suppressed) is
    recorded there. ``clock`` and ``sleep`` can be replaced (tests).

    Parameters
    ----------
    channels
        The [Channel][tillflow.monitor.alerts.Channel]s, each with its own
        name.
    warehouse
        A warehouse to de-duplicate through and record deliveries in; without
        one, the memory and the record are this object's.
    dedup_window
        How long an alert's key is not sent to a channel again (0 to always
        send).
    retries
        Extra tries after a failed send that is worth retrying.
    backoff
        Seconds before the first retry, doubled each time.
    max_wait
        The longest wait between tries, in seconds.
    clock
        Returns the current time (UTC).
    sleep
        Waits the given seconds.

    Raises
    ------
    ConfigError
        If a channel is not a [Channel][tillflow.monitor.alerts.Channel], two
        channels share a name, ``warehouse`` is not a warehouse, or a number
        or the window is negative.
    """

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        warehouse: _Journal | None = None,
        dedup_window: dt.timedelta = dt.timedelta(hours=1),
        retries: int = 3,
        backoff: float = 1.0,
        max_wait: float = 30.0,
        clock: Callable[[], dt.datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        channels = list(channels)
        for channel in channels:
            if not isinstance(channel, Channel):
                raise config_error(f"Alerter channels must be Channel objects, got {channel!r}")
        names = [c.name for c in channels]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise config_error(
                f"Alerter channel names must be unique (they key de-duplication), "
                f"{', '.join(map(repr, dupes))} is used twice; pass name= to tell them apart"
            )
        if warehouse is not None and not all(hasattr(warehouse, m) for m in ("write_journal", "journal")):
            raise config_error(f"Alerter warehouse must be a tillflow warehouse, got {warehouse!r}")
        if not isinstance(dedup_window, dt.timedelta) or dedup_window < dt.timedelta(0):
            raise config_error(f"Alerter dedup_window must be a timedelta >= 0, got {dedup_window!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise config_error(f"Alerter retries must be an integer >= 0, got {retries!r}")
        for arg, value in (("backoff", backoff), ("max_wait", max_wait)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise config_error(f"Alerter {arg} must be seconds >= 0, got {value!r}")
        self.channels, self.warehouse, self.dedup_window = channels, warehouse, dedup_window
        self.retries, self.backoff, self.max_wait = retries, float(backoff), float(max_wait)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._last_sent: dict[tuple[str, str], dt.datetime] = {}
        self._rows: list[dict[str, Any]] = []  # the record when there is no warehouse

    @classmethod
    def from_env(cls, *, warehouse: _Journal | None = None, **options: Any) -> Alerter:
        """An Alerter over every channel whose environment variables are set:
        Slack (``TILLFLOW_SLACK_WEBHOOK_URL``), webhook (``TILLFLOW_WEBHOOK_URL``),
        email (``TILLFLOW_SMTP_HOST`` with ``_FROM``, ``_TO`` and optionally
        ``_PORT``, ``_USER``, ``_PASSWORD``) and PagerDuty
        (``TILLFLOW_PAGERDUTY_ROUTING_KEY``). ``options`` go to the constructor.

        Parameters
        ----------
        warehouse
            A warehouse to de-duplicate through and record deliveries in.
        **options
            ``dedup_window``, ``retries``, ``backoff``, ``max_wait``, ``clock``
            and ``sleep``, as the constructor takes them.

        Returns
        -------
        Alerter
            An alerter over the configured channels.

        Raises
        ------
        ConfigError
            If no channel's variables are set, a channel's settings are
            incomplete or invalid, or an option is invalid.
        """
        channels: list[Channel] = []
        if env_setting(SLACK_ENV):
            channels.append(SlackChannel())
        if env_setting(WEBHOOK_ENV):
            channels.append(WebhookChannel())
        if env_setting(SMTP_ENV["host"]):
            channels.append(EmailChannel())
        if env_setting(PAGERDUTY_ENV):
            channels.append(PagerDutyChannel())
        if not channels:
            raise config_error(
                "no alert channel is configured; set at least one of "
                f"{SLACK_ENV}, {WEBHOOK_ENV}, {SMTP_ENV['host']} or {PAGERDUTY_ENV}"
            )
        return cls(channels, warehouse=warehouse, **options)

    def send(self, alert: Alert) -> list[Delivery]:
        """Deliver ``alert`` to every channel that takes it; one
        [Delivery][tillflow.monitor.alerts.Delivery] per channel, in the channels' order. Never raises
        because a delivery failed.

        Parameters
        ----------
        alert
            The alert.

        Returns
        -------
        list[Delivery]
            What became of it on each channel.

        Raises
        ------
        ConfigError
            If ``alert`` is not an [Alert][tillflow.monitor.alerts.Alert].
        """
        if not isinstance(alert, Alert):
            raise config_error(f"Alerter.send takes an Alert, got {type(alert).__name__}")
        # One alert at a time: checking for a recent send and recording this one must not interleave.
        with self._lock:
            recent = self._recently_sent(alert.key)
            deliveries, rows = [], []
            for channel in self.channels:
                if not channel.accepts(alert):
                    deliveries.append(Delivery(channel.name, "skipped"))
                    continue
                if channel.name in recent:
                    delivery = Delivery(channel.name, "suppressed")
                    log.info(
                        "alert %s not sent to %s again: sent there at %s, within %s",
                        alert.key,
                        channel.name,
                        recent[channel.name].isoformat(),
                        self.dedup_window,
                        extra={"alert_key": alert.key, "channel": channel.name, "status": "suppressed"},
                    )
                else:
                    delivery = self._deliver(channel, alert)
                deliveries.append(delivery)
                rows.append(self._row(alert, delivery))
            self._record(rows)
        return deliveries

    def history(self) -> pl.DataFrame:
        """Every recorded delivery, oldest first, shaped like ``_tf_alerts``.

        Returns
        -------
        polars.DataFrame
            The warehouse's ``_tf_alerts``, or this alerter's own record
            without a warehouse.

        Raises
        ------
        WarehouseError
            If the warehouse's table cannot be read.
        """
        if self.warehouse is not None:
            return self.warehouse.journal(journal.ALERTS)
        with self._lock:
            return pl.DataFrame(self._rows, schema=journal.schema(journal.ALERTS))

    def _recently_sent(self, key: str) -> dict[str, dt.datetime]:
        """Channel name -> when ``key`` was last sent there, for sends within the window."""
        if not self.dedup_window:
            return {}
        cutoff = self._now() - self.dedup_window
        # Forget sends older than the window, so a long-lived Alerter's memory stays small.
        self._last_sent = {k: at for k, at in self._last_sent.items() if at > cutoff}
        last = {ch: at for (k, ch), at in self._last_sent.items() if k == key}
        if self.warehouse is not None:
            try:
                sent = self.warehouse.journal(journal.ALERTS).filter(
                    (pl.col("alert_key") == key) & (pl.col("status") == "sent")
                )
            except TillflowError as exc:
                log.error("could not read past alerts from %s: %s", journal.ALERTS, redact(str(exc)))
            else:
                for channel, at in sent.group_by("channel").agg(pl.col("sent_at").max()).iter_rows():
                    if channel not in last or at > last[channel]:
                        last[channel] = at
        return {ch: at for ch, at in last.items() if at > cutoff}

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=dt.timezone.utc)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return min(float(asked), self.max_wait)
        return min(self.backoff * 2 ** (state.attempt_number - 1), self.max_wait)

    def _deliver(self, channel: Channel, alert: Alert) -> Delivery:
        attempts = 0
        tries = self.retries + 1
        context = {"alert_key": alert.key, "channel": channel.name}

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning(
                "alert %s to %s failed (attempt %d of %d), retrying in %.2f s: %s",
                alert.key,
                channel.name,
                state.attempt_number,
                tries,
                wait,
                redact(str(error)),
                extra={**context, "attempt": state.attempt_number},
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(tries),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: bool(getattr(e, "retryable", True))),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    channel.send(alert)
        except Exception as exc:  # a custom channel may raise anything; it must not stop the others
            error = redact(str(exc) or type(exc).__name__)
            log.error(
                "alert %s to %s failed after %d attempt(s): %s",
                alert.key,
                channel.name,
                attempts,
                error,
                extra={**context, "attempt": attempts, "status": "failed"},
            )
            return Delivery(channel.name, "failed", attempts, error)
        log.info(
            "alert %s sent to %s",
            alert.key,
            channel.name,
            extra={**context, "attempt": attempts, "status": "sent"},
        )
        return Delivery(channel.name, "sent", attempts)

    def _row(self, alert: Alert, delivery: Delivery) -> dict[str, Any]:
        return {
            "alert_key": alert.key,
            "pipeline": alert.pipeline,
            "channel": delivery.channel,
            "severity": alert.severity.value,
            "title": redact(alert.title),
            "status": delivery.status,
            "attempts": delivery.attempts,
            "error": delivery.error,
            "sent_at": self._now(),
        }

    def _record(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["status"] == "sent":
                self._last_sent[(row["alert_key"], row["channel"])] = row["sent_at"]
        if not rows:
            return
        if self.warehouse is None:
            self._rows.extend(rows)
            return
        frame = pl.DataFrame(rows, schema=journal.schema(journal.ALERTS))
        try:
            self.warehouse.write_journal({journal.ALERTS: frame})
        except TillflowError as exc:
            # The alerts went out; losing their record must not fail the run that raised them.
            log.error(
                "could not record %d alert deliveries in %s: %s", len(rows), journal.ALERTS, redact(str(exc))
            )
            self._rows.extend(rows)

    def __repr__(self) -> str:
        return (
            f"Alerter(channels={self.channels!r}, warehouse={self.warehouse!r}, "
            f"dedup_window={self.dedup_window!r}, retries={self.retries})"
        )
