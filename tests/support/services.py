"""The services on loopback the tests use: the local PostgreSQL and MariaDB,
and S3 (moto's server, started by the ``s3_endpoint`` fixture)."""

from __future__ import annotations

import os
from typing import Any

import tillflow as tl

POSTGRES_URL = os.environ.get("TILLFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("TILLFLOW_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")


def require_services() -> bool:
    """In CI a missing PostgreSQL or MariaDB is a failure, not a skip."""
    return os.environ.get("TILLFLOW_REQUIRE_SERVICES") == "1"


def external_tool(env: str, what: str, on_path: str | None = None) -> str:
    """The executable ``env`` names (or ``on_path`` found on PATH): a tool
    installed in a virtualenv of its own, as .ci/run makes them. Skips
    without it, or fails under TILLFLOW_REQUIRE_SERVICES=1."""
    import shutil

    import pytest

    found = os.environ.get(env) or (shutil.which(on_path) if on_path else None)
    if not found:
        if require_services():
            pytest.fail(f"{env} names no {what}; TILLFLOW_REQUIRE_SERVICES=1 requires it")
        pytest.skip(f"{what} is not installed (set {env} to it)")
    return found


def drop_schema(url: str, schema: str) -> None:
    """Drops a test's schema on the local PostgreSQL, whatever the test left open."""
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(url) as con, con.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.commit()


S3_KEYS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


def open_s3_lake(url: str, endpoint: str, **kwargs: Any) -> tl.warehouse.DeltaLake:
    return tl.warehouse.delta(url, endpoint_url=endpoint, **S3_KEYS, **kwargs)
