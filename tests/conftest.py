"""Shared fixtures: a demo shop on loopback and a fresh warehouse per test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from tillflow.demo import DemoShop

# `pytester` runs pytest on generated test files (the tillflow plugin's tests).
pytest_plugins = ["pytester"]

# Retries fast enough for tests that exercise failures.
FAST_RETRY = {"max_attempts": 2, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The ``tillflow`` command as a user runs it, output captured; ``env`` adds variables."""
    return subprocess.run(
        [sys.executable, "-m", "tillflow.cli", *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def require_services() -> bool:
    """In CI a missing PostgreSQL or MariaDB is a failure, not a skip."""
    return os.environ.get("TILLFLOW_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def shop() -> Iterator[DemoShop]:
    with tl.demo_shop(orders=1000) as s:
        yield s


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[tl.warehouse.DuckDBWarehouse]:
    with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        yield wh


POSTGRES_URL = os.environ.get("TILLFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("TILLFLOW_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")


def _service(name: str, port: int) -> None:
    """Skips (or, under TILLFLOW_REQUIRE_SERVICES=1, fails) when nothing listens on the port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as exc:
        message = f"{name} is not running on 127.0.0.1:{port} ({exc})"
        if require_services():
            pytest.fail(f"{message}; TILLFLOW_REQUIRE_SERVICES=1 requires it")
        pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The local PostgreSQL (trust auth, database ``test``)."""
    _service("PostgreSQL", 5432)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """The local MariaDB (root without a password, database ``test``)."""
    _service("MariaDB", 3306)
    return MARIADB_URL


@pytest.fixture
def unique_name() -> str:
    """A name no other test uses, for schemas and tables on the shared servers."""
    return f"tf_{uuid.uuid4().hex[:12]}"


def drop_schema(url: str, schema: str) -> None:
    """Drops a test's schema on the local PostgreSQL, whatever the test left open."""
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(url) as con, con.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.commit()


@pytest.fixture
def postgres_warehouse(postgres_url: str, unique_name: str) -> Iterator[tl.warehouse.PostgresWarehouse]:
    """A PostgreSQL warehouse in a schema of its own, dropped afterwards."""
    try:
        with tl.warehouse.postgres(postgres_url, schema=unique_name) as wh:
            yield wh
    finally:
        drop_schema(postgres_url, unique_name)


# -- S3 on loopback


S3_KEYS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 and a free port, for the whole session. It
    runs in a process of its own, as a real store would: some ``deltalake``
    calls hold the GIL while they wait for the store, which a server thread
    in this process would need to answer them."""
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_url(s3_endpoint: str, unique_name: str) -> str:
    """A fresh bucket on the loopback S3 server; a lake lives under a prefix in it."""
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        endpoint_override=s3_endpoint.removeprefix("http://"), scheme="http", allow_bucket_creation=True,
        **S3_KEYS,
    )  # fmt: skip
    bucket = unique_name.replace("_", "-")
    fs.create_dir(bucket)
    return f"s3://{bucket}/lake"


def open_s3_lake(url: str, endpoint: str, **kwargs: Any) -> tl.warehouse.DeltaLake:
    return tl.warehouse.delta(url, endpoint_url=endpoint, **S3_KEYS, **kwargs)


WAREHOUSES = ["duckdb", "postgres", "delta", "delta-s3"]


@pytest.fixture(params=WAREHOUSES)
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each warehouse in turn: a DuckDB file, a schema of the local PostgreSQL,
    a Delta lake on local disk and one on S3 (moto on loopback)."""
    if request.param == "duckdb":
        with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
            yield wh
    elif request.param == "postgres":
        yield request.getfixturevalue("postgres_warehouse")
    elif request.param == "delta":
        with tl.warehouse.delta(str(tmp_path / "lake")) as lake:
            yield lake
    else:
        url, endpoint = request.getfixturevalue("s3_url"), request.getfixturevalue("s3_endpoint")
        with open_s3_lake(url, endpoint) as lake:
            yield lake


def type_name(wh: Any, duckdb_name: str) -> str:
    """How ``wh`` names a column type in messages and ``_tf_schema_changes``."""
    if isinstance(wh, tl.warehouse.PostgresWarehouse):
        from tillflow.warehouse.postgres._types import show

        return show(duckdb_name)
    return duckdb_name


# Alert channels a developer has configured never receive the tests' alerts.
ALERT_ENV_VARS = [
    "TILLFLOW_SLACK_WEBHOOK_URL", "TILLFLOW_WEBHOOK_URL", "TILLFLOW_PAGERDUTY_ROUTING_KEY",
    "TILLFLOW_SMTP_HOST", "TILLFLOW_SMTP_PORT", "TILLFLOW_SMTP_USER", "TILLFLOW_SMTP_PASSWORD",
    "TILLFLOW_SMTP_FROM", "TILLFLOW_SMTP_TO",
]  # fmt: skip


@pytest.fixture(autouse=True)
def no_alert_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALERT_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp_plain() -> Iterator[tuple[Any, int]]:
    """A real SMTP server (aiosmtpd) on loopback and the mailbox it delivers to."""
    from aiosmtpd.controller import Controller
    from alert_support import Mailbox, free_port

    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Any]:
    """An HTTP server on loopback that records what it is sent (see ``alert_support.Receiver``)."""
    from alert_support import Receiver

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
    """A Slack-style incoming webhook on loopback (see ``alert_support.SlackReceiver``)."""
    from alert_support import SlackReceiver

    receiver = SlackReceiver()
    yield receiver
    receiver.close()
