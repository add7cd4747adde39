"""The email alert channel: plain text over SMTP, with STARTTLS or implicit
TLS and login, the password held as a [Secret][tillflow.Secret]."""

from __future__ import annotations

import email.utils
import smtplib
import ssl as ssl_module
from collections.abc import Sequence
from email.message import EmailMessage

from tillflow._core.errors import config_error
from tillflow._core.secrets import Secret
from tillflow.monitor.alerts._alert import Alert, Severity
from tillflow.monitor.alerts._channels import (
    SMTP_ENV,
    Channel,
    _failure,
    _field_text,
    _missing,
    env_setting,
    log,
)

__all__ = ["EmailChannel"]


class EmailChannel(Channel):
    """Plain-text email over SMTP (standard library ``smtplib``), with
    optional STARTTLS or implicit TLS (``ssl=True``) and login. Port defaults
    to 465 with ``ssl``, 587 with ``starttls``, else 25. ``ssl_context`` sets
    which certificates are trusted (the system's by default).

    Settings left out are read from ``TILLFLOW_SMTP_HOST``, ``_PORT``,
    ``_FROM``, ``_TO`` (comma-separated), ``_USER`` and ``_PASSWORD``.

    Parameters
    ----------
    host
        The SMTP server.
    port
        Its port.
    sender
        The ``From`` address.
    to
        The recipients: a list, or comma-separated text.
    username
        The login's user; needs ``password``.
    password
        The login's password; needs ``username``.
    starttls
        Upgrade the connection with STARTTLS.
    ssl
        Connect with TLS from the start.
    timeout
        Seconds to wait for the server.
    min_severity
        The lowest severity it takes (``warning`` by default).
    name
        The channel's name.
    ssl_context
        The TLS settings.

    Raises
    ------
    ConfigError
        If the host, sender or recipients are missing, both ``starttls`` and
        ``ssl`` are set, the port is not 1-65535, only one of username and
        password is given, or another setting is invalid.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        sender: str | None = None,
        to: Sequence[str] | str | None = None,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 10.0,
        min_severity: Severity | str = "warning",
        name: str = "email",
        ssl_context: ssl_module.SSLContext | None = None,
    ) -> None:
        super().__init__(name, min_severity)
        host = host or env_setting(SMTP_ENV["host"])
        if not host:
            raise _missing("EmailChannel", "host", SMTP_ENV["host"])
        if starttls and ssl:
            raise config_error("EmailChannel takes starttls or ssl, not both")
        if port is None and (env_port := env_setting(SMTP_ENV["port"])) is not None:
            if not env_port.isdigit():
                raise config_error(f"{SMTP_ENV['port']} must be a port number, got {env_port!r}")
            port = int(env_port)
        if port is None:
            port = 465 if ssl else 587 if starttls else 25
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise config_error(f"EmailChannel port must be 1-65535, got {port!r}")
        sender = sender or env_setting(SMTP_ENV["sender"])
        if not sender:
            raise _missing("EmailChannel", "sender", SMTP_ENV["sender"])
        if to is None and (env_to := env_setting(SMTP_ENV["to"])) is not None:
            to = env_to
        recipients = [a.strip() for a in (to.split(",") if isinstance(to, str) else to or []) if a.strip()]
        if not recipients:
            raise _missing("EmailChannel", "to", SMTP_ENV["to"])
        username = username or env_setting(SMTP_ENV["username"])
        secret = password or env_setting(SMTP_ENV["password"])
        if bool(username) != bool(secret):
            given, needed = ("username", "password") if username else ("password", "username")
            raise config_error(
                f"EmailChannel {given} is set but {needed} is not "
                f"(argument or {SMTP_ENV[needed]} environment variable)"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise config_error("EmailChannel timeout must be positive seconds")
        self.host, self.port, self.sender, self.to = host, port, sender, recipients
        self.username, self._password = username, Secret(secret) if secret else None
        self.starttls, self.ssl, self.timeout, self._context = starttls, ssl, float(timeout), ssl_context

    def message(self, alert: Alert) -> EmailMessage:
        """The email sent for ``alert``.

        Parameters
        ----------
        alert
            The alert.

        Returns
        -------
        email.message.EmailMessage
            Subject ``[tillflow] <SEVERITY> <title>``, a plain-text body.
        """
        title = " ".join(alert.title.split())  # a header holds one line
        msg = EmailMessage()
        msg["Subject"] = f"[tillflow] {alert.severity.value.upper()} {title}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = email.utils.format_datetime(alert.created_at)
        msg["Message-ID"] = email.utils.make_msgid(domain=self.sender.rpartition("@")[2] or "tillflow")
        lines = [alert.message, "", f"Severity: {alert.severity.value}"]
        lines += [f"Pipeline: {alert.pipeline}"] if alert.pipeline else []
        lines += [f"Run: {alert.run_id}"] if alert.run_id else []
        lines += [f"Alert key: {alert.key}", f"Time: {alert.created_at.isoformat()}"]
        if alert.details:
            lines += ["", "Details:"] + [f"  {k}: {_field_text(v)}" for k, v in alert.details.items()]
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def send(self, alert: Alert) -> None:
        """Send ``alert`` once over SMTP.

        Parameters
        ----------
        alert
            The alert.

        Raises
        ------
        TillflowError
            If the server cannot be reached, refuses the login or every
            recipient, or TLS fails; ``retryable`` is set for timeouts,
            dropped connections and 4xx replies.
        """
        msg = self.message(alert)
        where = f"{self.host}:{self.port}"
        context = self._context or ssl_module.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self.ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls:
                    smtp.starttls(context=context)
                if self.username and self._password is not None:
                    smtp.login(self.username, self._password.reveal())
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {addr: code for addr, (code, _) in exc.recipients.items()}
            raise _failure(
                self.name,
                f"SMTP server {where} refused every recipient: "
                + ", ".join(f"{addr} ({code})" for addr, code in codes.items()),
                status=min(codes.values()),
                retryable=all(400 <= code < 500 for code in codes.values()),
            ) from None
        except smtplib.SMTPResponseException as exc:
            reply = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            what = "refused the login" if isinstance(exc, smtplib.SMTPAuthenticationError) else "answered"
            raise _failure(
                self.name,
                f"SMTP server {where} {what}: {exc.smtp_code} {' '.join(reply.split())}",
                status=exc.smtp_code,
                retryable=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise _failure(
                self.name, f"SMTP server {where} closed the connection: {exc}", retryable=True
            ) from None
        except smtplib.SMTPException as exc:  # STARTTLS or AUTH not offered, no common AUTH method
            raise _failure(self.name, f"SMTP server {where}: {exc}", retryable=False) from None
        except ssl_module.SSLError as exc:
            raise _failure(self.name, f"TLS with {where} failed: {exc}", retryable=False) from None
        except TimeoutError:
            raise _failure(
                self.name, f"no answer from {where} within {self.timeout:g} s", retryable=True
            ) from None
        except OSError as exc:
            raise _failure(self.name, f"could not reach {where}: {exc}", retryable=True) from None
        if refused:
            log.warning(
                "email alert %s: SMTP server %s refused %s",
                alert.key,
                where,
                ", ".join(refused),
                extra={"alert_key": alert.key, "channel": self.name},
            )

    def _describe(self) -> str:
        return f"host={self.host!r}, port={self.port}, to={self.to!r}"
