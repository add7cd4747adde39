"""Fixtures every folder uses: a demo shop on loopback, a fresh warehouse per
test (each kind in turn through ``any_warehouse``), the local PostgreSQL and
MariaDB, S3 on loopback, and no alert channel from the environment. Helpers
that are not fixtures are in the ``support`` package."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from support.databases import Db
from support.services import MARIADB_URL, POSTGRES_URL, S3_KEYS, drop_schema, open_s3_lake, require_services
from tillflow.demo import DemoShop

# `pytester` runs pytest on generated test files (the tillflow plugin's tests).
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def shop() -> Iterator[DemoShop]:
    with tl.demo_shop(orders=1000) as s:
        yield s


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[tl.warehouse.DuckDBWarehouse]:
    with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        yield wh


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


@pytest.fixture
def postgres_warehouse(postgres_url: str, unique_name: str) -> Iterator[tl.warehouse.PostgresWarehouse]:
    """A PostgreSQL warehouse in a schema of its own, dropped afterwards."""
    try:
        with tl.warehouse.postgres(postgres_url, schema=unique_name) as wh:
            yield wh
    finally:
        drop_schema(postgres_url, unique_name)


# -- scratch areas on the local PostgreSQL and MariaDB, for database sources


@pytest.fixture
def pg(postgres_url: str, unique_name: str) -> Iterator[Db]:
    """A fresh schema on the local PostgreSQL, dropped afterwards."""
    import psycopg

    conn = psycopg.connect(postgres_url, autocommit=True)
    db = Db("postgres", postgres_url, unique_name, "", conn)
    db.run(f"CREATE SCHEMA {db.q(unique_name)}")
    try:
        yield db
    finally:
        db.run(f"DROP SCHEMA {db.q(unique_name)} CASCADE")
        conn.close()


@pytest.fixture
def maria(mariadb_url: str, unique_name: str) -> Iterator[Db]:
    """Tables with a fresh prefix in the local MariaDB's ``test``, dropped afterwards."""
    import pymysql

    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user="root", database="test", autocommit=True, charset="utf8mb4"
    )
    db = Db("mariadb", mariadb_url, "test", unique_name, conn)
    try:
        yield db
    finally:
        for (table,) in db.fetch(
            f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' "
            f"AND TABLE_NAME LIKE '{unique_name}%'"
        ):
            db.run(f"DROP TABLE {db.q(table)}")
        conn.close()


@pytest.fixture(params=["postgres", "mariadb"])
def db(request: pytest.FixtureRequest) -> Db:
    """Each database server in turn: ``pg``, then ``maria``."""
    return request.getfixturevalue("pg" if request.param == "postgres" else "maria")


# -- S3 on loopback


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
