"""The demo shop read with the standard library: a path independent of tillflow's."""

from __future__ import annotations

import json
import urllib.request


def fetch_all_orders(url: str, token: str) -> list[dict]:
    """Every order, read with the standard library: an independent path."""
    out: list[dict] = []
    next_url = f"{url}/admin/api/2024-01/orders.json?limit=250"
    while next_url:
        req = urllib.request.Request(next_url, headers={"X-Shopify-Access-Token": token})
        with urllib.request.urlopen(req) as resp:
            out.extend(json.load(resp)["orders"])
            link = resp.headers.get("Link") or ""
        next_url = None
        for part in link.split(","):
            if 'rel="next"' in part:
                next_url = part.split(";")[0].strip().strip("<>")
    return out
