"""The vendor presets pointed at the demo estate, for the preset tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tillflow as tl
from tillflow.demo import DemoEstate

# A past start that covers the estate's data for the presets that need one.
START = "2023-01-01T00:00:00Z"


def build(estate: DemoEstate, name: str, tmp: Path, **over: Any) -> Any:
    """The preset ``name`` pointed at the estate's server for it."""
    v = estate.vendor(name)
    c = v.credentials
    s = tl.sources
    if name == "stripe":
        return s.stripe(over.pop("secret", c["secret_key"]), base_url=v.url, **over)
    if name == "hubspot":
        return s.hubspot(over.pop("secret", c["access_token"]), base_url=v.url, **over)
    if name == "zendesk":
        return s.zendesk(
            c["subdomain"], c["email"], over.pop("secret", c["api_token"]), base_url=v.url, **over
        )
    if name == "shopify":
        return s.shopify_graphql(
            v.url, over.pop("secret", c["access_token"]), api_version=c["api_version"], **over
        )
    if name == "woocommerce":
        return s.woocommerce(v.url, c["consumer_key"], over.pop("secret", c["consumer_secret"]), **over)
    if name == "paypal":
        return s.paypal(
            c["client_id"], over.pop("secret", c["client_secret"]), start=START, base_url=v.url, **over
        )
    if name == "square":
        return s.square(over.pop("secret", c["access_token"]), c["location_id"], base_url=v.url, **over)
    if name == "mailchimp":
        key = over.pop("secret", c["api_key"])
        return s.mailchimp(key, base_url=v.url, **over)
    if name in ("quickbooks", "xero"):
        ids = {"quickbooks": "realm_id", "xero": "tenant_id"}[name]
        helper = s.quickbooks if name == "quickbooks" else s.xero
        return helper(
            c["client_id"],
            over.pop("secret", c["client_secret"]),
            # A fresh authorization: every refresh revokes the token it used.
            estate.authorize(name),
            c[ids],
            base_url=v.url,
            token_url=v.token_url,
            token_store=str(tmp / f"{name}-token.json"),
            **over,
        )
    if name == "ga4":
        key = json.loads(c["service_account_json"])
        if "secret" in over:
            over.pop("secret")
            key["client_email"] = "someone-else@shop.iam.gserviceaccount.com"
        return s.ga4(c["property_id"], key, base_url=v.url, start=START, **over)
    raise AssertionError(name)
