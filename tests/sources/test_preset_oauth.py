"""QuickBooks and Xero rotate refresh tokens on every refresh. Their presets
keep the newest one in a token file: it survives two runs, and a SIGKILL
between the refresh and the request that uses it. The vendors' servers are
the demo estate's; each run is its own process, as a scheduled job is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tillflow.demo import DemoEstate

RUN = """
import json, sys
import tillflow as tl
args = json.loads(sys.argv[1])
helper = getattr(tl.sources, args.pop("vendor"))
warehouse = args.pop("warehouse")
source = helper(**args)
with tl.warehouse.duckdb(warehouse) as wh:
    run = tl.pipeline(source.name, source, wh).run()
    print(run.total_rows)
"""

IDS = {"quickbooks": "realm_id", "xero": "tenant_id"}
TABLE = {"quickbooks": "invoices", "xero": "invoices"}


@pytest.fixture(scope="module")
def estate() -> Iterator[DemoEstate]:
    # Access tokens that last two seconds expire between runs; answers that
    # take a moment leave time to kill a run between refresh and use.
    with DemoEstate(customers=20, orders=60, access_token_secs=2, latency_ms=1500) as e:
        yield e


def args(estate: DemoEstate, vendor: str, refresh_token: str, tmp: Path) -> dict[str, Any]:
    v = estate.vendor(vendor)
    c = v.credentials
    return {
        "vendor": vendor,
        "client_id": c["client_id"],
        "client_secret": c["client_secret"],
        "refresh_token": refresh_token,
        IDS[vendor]: c[IDS[vendor]],
        "base_url": v.url,
        "token_url": v.token_url,
        "token_store": str(tmp / "token.json"),
        "resources": [TABLE[vendor]],
        "warehouse": str(tmp / "wh.duckdb"),
    }


def start(a: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, json.dumps(a)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def stored(a: dict[str, Any]) -> str:
    return str(json.loads(Path(a["token_store"]).read_text())["refresh_token"])


def until_the_access_token_expires(a: dict[str, Any]) -> None:
    """Waits out the kept access token, so the next run must refresh."""
    expires = json.loads(Path(a["token_store"]).read_text())["expires_at"]
    time.sleep(max(0.0, expires + 1 - time.time()))


@pytest.mark.parametrize("vendor", sorted(IDS))
def test_rotation_survives_two_runs_and_a_sigkill(estate: DemoEstate, vendor: str, tmp_path: Path) -> None:
    a = args(estate, vendor, estate.authorize(vendor), tmp_path)
    code, _, err = finish(start(a))
    assert code == 0, err
    first = stored(a)
    assert first != a["refresh_token"], "the first refresh rotated the token"
    until_the_access_token_expires(a)
    code, _, err = finish(start(a))
    assert code == 0, err
    second = stored(a)
    assert second != first, "the second run refreshed with the stored token and kept the new one"

    # Kill a run once its refresh is on disk, while its first API request waits.
    until_the_access_token_expires(a)
    child = start(a)
    try:
        deadline = time.monotonic() + 60
        while stored(a) == second:
            assert time.monotonic() < deadline, "the run never refreshed"
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        code, _, _ = finish(child)
    assert code == -signal.SIGKILL
    third = stored(a)
    assert third != second
    # The vendor revoked `second` when it issued `third`: only the kept file
    # lets the next run in.
    until_the_access_token_expires(a)
    code, out, err = finish(start(a))
    assert code == 0, err
    # Nothing changed since the second run: the incremental rerun loads nothing new.
    assert int(out.strip()) == 0
