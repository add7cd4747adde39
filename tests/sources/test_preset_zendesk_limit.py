"""Zendesk's incremental exports allow 10 requests a minute, the strictest
limit of the estate: the preset paces its ticket export to it, and the same
export flooded gets 429s. One ticket a page makes eleven requests."""

from __future__ import annotations

from pathlib import Path

import pytest

import tillflow as tl
from support.presets import build
from tillflow.demo import DemoEstate


def export(tmp: Path, flood: bool) -> tuple[int, int | None, Exception | None]:
    with DemoEstate(customers=11, orders=20) as estate:
        source = build(estate, "zendesk", tmp, resources=["tickets"])
        spec = source["tickets"].spec
        spec["params"]["per_page"] = 1
        if flood:
            spec["rate_limit"] = {"requests": 1_000_000, "per": "1s", "adaptive": False}
            spec["retry"] = {
                "max_attempts": 2,
                "initial_backoff_secs": 0.01,
                "max_backoff_secs": 0.01,
                "max_retry_after_secs": 0.01,
            }
        with tl.warehouse.duckdb(str(tmp / f"wh-{flood}.duckdb")) as wh:
            try:
                tl.pipeline("zendesk", source, wh).run()
            except tl.TillflowError as exc:
                return estate.throttled("zendesk"), None, exc
            return estate.throttled("zendesk"), wh.row_counts()["tickets"], None


# Eleven requests at nine a minute take a little over a minute.
@pytest.mark.timeout(300)
def test_the_ticket_export_keeps_ten_requests_a_minute(tmp_path: Path) -> None:
    refused, rows, error = export(tmp_path, flood=False)
    assert error is None
    assert (refused, rows) == (0, 11)
    refused, _, error = export(tmp_path, flood=True)
    assert refused > 0, "the server enforces the limit"
    assert isinstance(error, tl.HttpError) and "429" in str(error)
