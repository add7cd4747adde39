"""The demo SaaS estate from Python: vendors, credentials, counters and the
expected answers, spoken to over loopback with the standard library."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tillflow.demo import DemoEstate, Vendor
from tillflow.exceptions import ConfigError

VENDORS = {
    "stripe",
    "hubspot",
    "zendesk",
    "shopify",
    "quickbooks",
    "xero",
    "woocommerce",
    "paypal",
    "square",
    "mailchimp",
    "ga4",
}


def call(url: str, headers: dict[str, str], data: bytes | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=headers, data=data)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def estate():
    with DemoEstate(customers=40, orders=200, manual_clock=True) as e:
        yield e


def test_every_vendor_has_a_url_and_credentials(estate):
    assert set(estate.vendors) == VENDORS
    for name, v in estate.vendors.items():
        assert isinstance(v, Vendor) and v.url.startswith("http://127.0.0.1:") and v.credentials, name
    oauth = {n for n, v in estate.vendors.items() if v.token_url}
    assert oauth == {"quickbooks", "xero", "paypal", "ga4"}
    key_file = json.loads(estate.vendor("ga4").credentials["service_account_json"])
    assert key_file["token_uri"] == estate.vendor("ga4").token_url
    with pytest.raises(ConfigError, match="no vendor 'salesforce'"):
        estate.vendor("salesforce")


def test_stripe_pages_to_the_expected_count_and_counts_429s(estate):
    v = estate.vendor("stripe")
    auth = {"Authorization": f"Bearer {v.credentials['secret_key']}"}
    charges: list[dict[str, Any]] = []
    pages = 0
    while True:
        after = f"&starting_after={charges[-1]['id']}" if charges else ""
        status, page = call(f"{v.url}/v1/charges?limit=100{after}", auth)
        assert status == 200
        pages += 1
        charges += page["data"]
        if not page["has_more"]:
            break
    assert len(charges) == estate.counts()["stripe.charges"]
    net = sum(c["amount"] - c["amount_refunded"] for c in charges)
    assert net == estate.reconciliation()["stripe_cents"]
    # The test-mode limit is 25 a second and the clock stands still, so
    # the pages above used some of this second's 25.
    statuses = [call(f"{v.url}/v1/customers?limit=1", auth)[0] for _ in range(30)]
    assert statuses == [200] * (25 - pages) + [429] * (5 + pages)
    assert estate.throttled("stripe") == 5 + pages
    assert estate.requests("stripe") == pages + 30
    estate.advance(1)
    assert call(f"{v.url}/v1/customers?limit=1", auth)[0] == 200


def test_reconciliation_explains_every_difference(estate):
    rec = estate.reconciliation()
    assert rec["mismatches"], "the generator plants mismatches"
    kinds = {m["kind"] for m in rec["mismatches"]}
    assert kinds <= {"missing_charge", "amount_differs", "refunded_in_stripe"}
    for row in rec["customers"]:
        explained = sum(
            m["store_cents"] - m["stripe_cents"] for m in rec["mismatches"] if m["email"] == row["email"]
        )
        assert row["store_cents"] - row["stripe_cents"] - row["paypal_cents"] == explained
    assert rec["store_cents"] == sum(r["store_cents"] for r in rec["customers"])


def test_quickbooks_refresh_tokens_rotate(estate):
    v = estate.vendor("quickbooks")
    assert v.token_url is not None
    auth = {
        "Authorization": basic(v.credentials["client_id"], v.credentials["client_secret"]),
        "Content-Type": "application/x-www-form-urlencoded",
    }

    def refresh(token: str) -> tuple[int, Any]:
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token}).encode()
        return call(v.token_url or "", auth, form)

    first = v.credentials["refresh_token"]
    status, grant = refresh(first)
    assert status == 200 and grant["refresh_token"] != first
    assert refresh(first) == (400, {"error": "invalid_grant"})
    query = urllib.parse.quote("SELECT * FROM Customer STARTPOSITION 1 MAXRESULTS 1000")
    url = f"{v.url}/v3/company/{v.credentials['realm_id']}/query?query={query}"
    status, body = call(url, {"Authorization": f"Bearer {grant['access_token']}"})
    assert status == 200
    assert len(body["QueryResponse"]["Customer"]) == estate.counts()["quickbooks.customers"] == 40
    estate.advance(3600)
    status, body = call(url, {"Authorization": f"Bearer {grant['access_token']}"})
    assert status == 401 and body["Fault"]["Error"][0]["code"] == "3200"
    # Authorizing again gives a fresh token that works once more.
    fresh = estate.authorize("quickbooks")
    assert refresh(fresh)[0] == 200 and refresh(fresh)[0] == 400
    with pytest.raises(ConfigError, match="no refresh tokens"):
        estate.authorize("stripe")


def test_limits_can_be_switched_off():
    with DemoEstate(customers=5, orders=20, limits=False, manual_clock=True) as e:
        v = e.vendor("hubspot")
        auth = {"Authorization": f"Bearer {v.credentials['access_token']}"}
        statuses = {call(f"{v.url}/crm/v3/objects/contacts?limit=1", auth)[0] for _ in range(110)}
        assert statuses == {200}
        assert e.counters["hubspot"] == (110, 0)


def test_a_stopped_estate_says_so():
    e = DemoEstate(customers=3, orders=5)
    assert e.running
    e.stop()
    assert not e.running
    with pytest.raises(Exception, match="stopped"):
        e.counts()
    with pytest.raises(ConfigError, match="customers"):
        DemoEstate(customers=0)
