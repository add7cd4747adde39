"""Each vendor's enforced limit against its preset's rate budget: as
shipped, the preset earns no 429 (nor Shopify's THROTTLED); with the budget
taken away and requests flooding in, the same server refuses some, which
proves it enforces the limit. Small pages make enough requests to tell."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from support.presets import build
from tillflow.demo import DemoEstate


def small_hubspot(spec: dict[str, Any]) -> None:
    spec["body"]["limit"] = 3  # search: 5 requests a second


def small_quickbooks(spec: dict[str, Any]) -> None:
    spec["paginator"]["limit"] = 10  # 10 requests at once per company


def small_xero(spec: dict[str, Any]) -> None:
    spec["params"] = {"pageSize": 20}  # 5 requests at once per organisation
    spec["paginator"]["page_size"] = 20


def small_mailchimp(spec: dict[str, Any]) -> None:
    spec["paginator"]["limit"] = 2  # 10 connections at once per key


def small_ga4(spec: dict[str, Any]) -> None:
    spec["paginator"]["limit"] = 40  # 10 requests at once per property


def small_stripe(spec: dict[str, Any]) -> None:
    spec["params"]["limit"] = 2  # 25 requests a second


def shopify_as_is(spec: dict[str, Any]) -> None:
    """Three pages of orders spend more query cost than the bucket holds."""


CASES: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("stripe", "charges", small_stripe),
    ("hubspot", "contacts", small_hubspot),
    ("quickbooks", "invoices", small_quickbooks),
    ("xero", "invoices", small_xero),
    ("mailchimp", "members", small_mailchimp),
    ("ga4", "traffic", small_ga4),
    ("shopify", "orders", shopify_as_is),
]


def load(
    flood: bool, tmp: Path, name: str, table: str, small: Callable[[dict[str, Any]], None]
) -> tuple[int, int]:
    """(requests the vendor refused, rows loaded) for one load of ``table``."""
    # A little latency lets requests overlap, as they do over the internet;
    # Stripe's limit is a rate, which sequential pages reach only without it.
    latency = 0 if name == "stripe" else 40
    tmp = tmp / ("flood" if flood else "as-shipped")
    tmp.mkdir()
    with DemoEstate(customers=40, orders=120, latency_ms=latency) as estate:
        source = build(estate, name, tmp, resources=[table])
        for r in source.resources:
            small(r.spec)
            if flood:
                r.spec["rate_limit"] = {"requests": 1_000_000, "per": "1s", "adaptive": False}
                r.spec["concurrency"] = 16
                r.spec["retry"] = {
                    "max_attempts": 30,
                    "initial_backoff_secs": 0.05,
                    "max_backoff_secs": 0.5,
                    "max_retry_after_secs": 1,
                }
        with tl.warehouse.duckdb(str(tmp / "wh.duckdb")) as wh:
            tl.pipeline(name, source, wh).run()
            return estate.throttled(name), wh.row_counts()[table]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("name", "table", "small"), CASES, ids=[c[0] for c in CASES])
def test_the_budget_keeps_the_limit_that_the_server_enforces(
    name: str, table: str, small: Callable[[dict[str, Any]], None], tmp_path: Path
) -> None:
    refused_as_shipped, rows = load(False, tmp_path, name, table, small)
    refused_flooding, rows_flooding = load(True, tmp_path, name, table, small)
    assert rows == rows_flooding > 0
    assert refused_as_shipped == 0, "the preset's budget keeps the vendor's limit"
    assert refused_flooding > 0, "the server enforces its limit"
