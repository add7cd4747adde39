"""Fixtures of the alert tests: a real SMTP server, an HTTP receiver and a
Slack-style webhook, each on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def smtp_plain() -> Iterator[tuple[Any, int]]:
    """A real SMTP server (aiosmtpd) on loopback and the mailbox it delivers to."""
    from aiosmtpd.controller import Controller

    from support.alerts import Mailbox, free_port

    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Any]:
    """An HTTP server on loopback that records what it is sent (see ``support.alerts.Receiver``)."""
    from support.alerts import Receiver

    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.stopping.set()
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def slack() -> Iterator[Any]:
    """A Slack-style incoming webhook on loopback (see ``support.alerts.SlackReceiver``)."""
    from support.alerts import SlackReceiver

    receiver = SlackReceiver()
    yield receiver
    receiver.close()
