"""The email channel against a real SMTP server on loopback (aiosmtpd):
plain, and STARTTLS with AUTH."""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from support.alerts import SMTP_PASSWORD, Mailbox, expected_body, fast, free_port, make_alert
from tillflow.exceptions import TillflowError
from tillflow.monitor import (
    EmailChannel,
)

# --- email over a real SMTP server -----------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp_tls(ca: trustme.CA) -> Iterator[tuple[Mailbox, int]]:
    """STARTTLS required, then AUTH (PLAIN or LOGIN) as ops@example.com."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    def authenticate(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == LoginPassword(
            b"ops@example.com", SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_email_arrives_with_exact_subject_and_body(smtp_plain: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_plain
    channel = EmailChannel(
        "127.0.0.1", port, sender="tillflow@shop.example", to=["ops@shop.example", "cto@shop.example"]
    )
    channel.send(make_alert("critical"))

    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "tillflow@shop.example"
    assert envelope.rcpt_tos == ["ops@shop.example", "cto@shop.example"]
    message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert message["Subject"] == "[tillflow] CRITICAL Orders volume dropped"
    assert message["From"] == "tillflow@shop.example"
    assert message["To"] == "ops@shop.example, cto@shop.example"
    assert message["Date"] == "Wed, 01 May 2024 12:30:00 +0000"
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == expected_body("critical").replace("\n", "\r\n")  # SMTP lines end in CRLF


def test_email_with_starttls_and_login(smtp_tls: tuple[Mailbox, int], ca: trustme.CA) -> None:
    mailbox, port = smtp_tls
    channel = EmailChannel(
        "127.0.0.1",
        port,
        sender="tillflow@shop.example",
        to=["ops@shop.example"],
        username="ops@example.com",
        password=SMTP_PASSWORD,
        starttls=True,
        ssl_context=client_context(ca),
    )
    channel.send(make_alert())

    [envelope] = mailbox.envelopes
    message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert message["Subject"] == "[tillflow] WARNING Orders volume dropped"
    assert message.get_content() == expected_body("warning").replace("\n", "\r\n")  # SMTP lines end in CRLF
    assert SMTP_PASSWORD not in repr(channel)


def test_email_wrong_password_fails_with_the_smtp_reply(
    smtp_tls: tuple[Mailbox, int], ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox, port = smtp_tls
    wrong = "wrongPASSWORDsecret11"
    channel = EmailChannel(
        "127.0.0.1",
        port,
        sender="tillflow@shop.example",
        to="ops@shop.example",
        username="ops@example.com",
        password=wrong,
        starttls=True,
        ssl_context=client_context(ca),
    )
    with pytest.raises(TillflowError) as raised:
        channel.send(make_alert())
    assert str(raised.value) == (
        f"email channel: SMTP server 127.0.0.1:{port} refused the login: "
        "535 5.7.8 Authentication credentials invalid"
    )

    caplog.set_level(logging.DEBUG, logger="tillflow")
    alerter, waits = fast([channel])
    [delivery] = alerter.send(make_alert())
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # a 5xx reply is final
    assert waits == []
    assert mailbox.envelopes == []
    assert (
        wrong not in caplog.text and wrong not in str(delivery) and wrong not in str(alerter.history().rows())
    )


def test_email_without_starttls_where_required_is_refused(smtp_tls: tuple[Mailbox, int]) -> None:
    _, port = smtp_tls
    channel = EmailChannel("127.0.0.1", port, sender="a@shop.example", to=["b@shop.example"])
    with pytest.raises(TillflowError, match=r"^email channel: SMTP server 127\.0\.0\.1:\d+ answered: 530 "):
        channel.send(make_alert())


def test_email_untrusted_certificate_fails_without_retry(smtp_tls: tuple[Mailbox, int]) -> None:
    _, port = smtp_tls
    channel = EmailChannel("127.0.0.1", port, sender="a@shop.example", to=["b@shop.example"], starttls=True)
    alerter, _ = fast([channel])
    [delivery] = alerter.send(make_alert())
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.error is not None
    assert delivery.error.startswith(f"email channel: TLS with 127.0.0.1:{port} failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.error
