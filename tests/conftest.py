"""Shared fixtures: a demo shop on loopback and a fresh warehouse per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import tillflow as tl
from tillflow.demo import DemoShop

# `pytester` runs pytest on generated test files (the tillflow plugin's tests).
pytest_plugins = ["pytester"]

# Retries fast enough for tests that exercise failures.
FAST_RETRY = {"max_attempts": 2, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}


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
