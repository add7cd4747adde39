"""Benchmark N1: the normalizer alone (parse a page, split it into tables)
on the demo shop's order pages.

Fetches the pages once from one demo shop, then times
``_native.normalize_records`` over them (best of ``--repeat`` passes), so a
build can be compared with another on the same bytes:

    python benchmarks/n1_normalize.py --orders 50000 --repeat 5
"""

from __future__ import annotations

import argparse
import urllib.request

import harness

from tillflow import _native

API = "admin/api/2024-01"


def fetch_pages(shop: _native.DemoShop, token: str) -> list[bytes]:
    """Each page's record array, as the shop wrote it."""
    pages, url = [], f"{shop.url}/{API}/orders.json?limit=250&status=any"
    while url:
        req = urllib.request.Request(url, headers={"X-Shopify-Access-Token": token})
        with urllib.request.urlopen(req) as resp:
            body = resp.read()
            link = resp.headers.get("Link") or ""
        start = body.index(b"[")
        pages.append(body[start : body.rindex(b"]") + 1])
        url = next((p.split(";")[0].strip(" <>") for p in link.split(",") if 'rel="next"' in p), "")
    return pages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    harness.add_machine_options(ap)
    args = ap.parse_args()
    harness.check_machine(args, first=True)
    with _native.DemoShop(args.orders, token="bench") as shop:
        pages = fetch_pages(shop, "bench")
    size = sum(len(p) for p in pages)

    def normalize_all() -> None:
        for page in pages:
            _native.normalize_records("orders", page, ["id"])

    best = harness.best_of(normalize_all, args.repeat)
    print(f"{len(pages)} pages, {args.orders} orders, {size / 1e6:.1f} MB: best {best:.3f} s, "
          f"{size / 1e6 / best:.0f} MB/s, {args.orders / best:,.0f} orders/s")  # fmt: skip


if __name__ == "__main__":
    main()
