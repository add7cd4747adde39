"""The demo shop speaks Shopify's dialect: paging, limits, filters, auth."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest


def get(shop, path: str, token: str | None = "default"):
    url = path if path.startswith("http") else f"{shop.url}/admin/api/2024-01/{path}"
    headers = {} if token is None else {"X-Shopify-Access-Token": shop.token if token == "default" else token}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
        return json.load(resp), resp.headers.get("Link")


def status_of(shop, path: str, token: str | None = "default") -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as info:
        get(shop, path, token)
    return info.value.code, info.value.read().decode()


def links(header: str | None) -> dict[str, str]:
    out = {}
    for part in (header or "").split(","):
        if part.strip():
            url, rel = part.split(";")
            out[rel.split("=")[1].strip('"')] = url.strip().strip("<>")
    return out


def test_link_paging_walks_every_order_once(shop):
    body, link = get(shop, "orders.json?limit=250")
    seen = [o["id"] for o in body["orders"]]
    assert "previous" not in links(link)
    while "next" in links(link):
        body, link = get(shop, links(link)["next"])
        seen += [o["id"] for o in body["orders"]]
    assert len(seen) == len(set(seen)) == shop.orders
    assert "previous" in links(link)


def test_default_limit_and_shapes(shop):
    body, _ = get(shop, "orders.json")
    assert len(body["orders"]) == 50
    order = body["orders"][0]
    assert isinstance(order["total_price"], str) and order["total_price"].count(".") == 1
    assert order["created_at"].endswith("-05:00")
    assert {"product_id", "variant_id", "quantity", "price", "title"} <= set(order["line_items"][0])
    customers, _ = get(shop, "customers.json?limit=5")
    products, _ = get(shop, "products.json?limit=250")
    assert len(customers["customers"]) == 5 and len(products["products"]) == 24


def test_filters(shop):
    window = "created_at_min=2024-03-01T00:00:00Z&created_at_max=2024-03-01T23:59:59Z"
    body, _ = get(shop, f"orders.json?limit=250&{window}")
    days = {o["created_at"][:10] for o in body["orders"]}
    # 2024-03-01 UTC is 2024-02-29 19:00 to 2024-03-01 18:59 in the shop's -05:00.
    assert days <= {"2024-02-29", "2024-03-01"} and body["orders"]
    body, _ = get(shop, "orders.json?limit=250&updated_at_min=2024-06-29T00:00:00Z")
    assert body["orders"] and all(o["updated_at"] >= "2024-06-28T19:00:00-05:00" for o in body["orders"])


def test_refusals(shop):
    assert status_of(shop, "orders.json", token=None)[0] == 401
    assert status_of(shop, "orders.json", token="nope")[0] == 401
    code, text = status_of(shop, "orders.json?limit=251")
    assert code == 400 and "limit" in text
    _, link = get(shop, "orders.json?limit=10")
    code, text = status_of(shop, links(link)["next"] + "&created_at_min=2024-01-01T00:00:00Z")
    assert code == 400 and "page_info" in text
    assert status_of(shop, "orders.json?page_info=garbage")[0] == 400
    assert status_of(shop, "refunds.json")[0] == 404
    assert status_of(shop, "orders.json?created_at_min=yesterday")[0] == 400
