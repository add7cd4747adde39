"""`tillflow demo --sources all`: the whole demo estate loaded offline, and
its cross-source view against the generator's known answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tillflow as tl
from tillflow.demo import DemoEstate
from tillflow.demo.estate import ESTATE_SIZE, cross_source


# Eleven vendors at their enforced rates: about a minute and a half on two cores.
@pytest.mark.timeout(900)
def test_the_estate_demo_matches_the_known_answer(tmp_path: Path) -> None:
    wh_path = tmp_path / "estate.duckdb"
    command = [sys.executable, "-m", "tillflow.cli", "demo", "--sources", "all", "--quiet", "--warehouse"]
    done = subprocess.run([*command, str(wh_path)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    # The generator is deterministic: a second estate with the same seed and
    # size knows the answer the demo's warehouse must give.
    with DemoEstate(seed=42, **ESTATE_SIZE) as estate:
        known = estate.reconciliation()
        counts = estate.counts()
    with tl.warehouse.duckdb(str(wh_path)) as wh:
        tables = wh.row_counts()
        view = cross_source(wh)
    for table, key in {
        "shopify_orders": "store.orders",
        "stripe_charges": "stripe.charges",
        "paypal_transactions": "paypal.transactions",
        "hubspot_contacts": "hubspot.contacts",
        "zendesk_ticket_comments": "zendesk.ticket_comments",
        "quickbooks_invoices": "quickbooks.invoices",
        "xero_invoices": "xero.invoices",
        "ga4_traffic": "ga4.rows",
    }.items():
        assert tables[table] == counts[key], table
    assert view.totals["store_cents"] == known["store_cents"]
    assert view.totals["stripe_cents"] == known["stripe_cents"]
    assert view.totals["paypal_cents"] == known["paypal_cents"]
    got = [
        (r["order_name"], r["kind"], r["store_cents"], r["stripe_cents"])
        for r in view.mismatches.iter_rows(named=True)
    ]
    want = [(m["order_name"], m["kind"], m["store_cents"], m["stripe_cents"]) for m in known["mismatches"]]
    assert got == want
    # Per customer, wherever money moved (a guest's mistyped email on an
    # unpaid order is the store's own, and carries no money).
    money = {
        r["email"]: (r["store_cents"], r["stripe_cents"], r["paypal_cents"])
        for r in view.customers.iter_rows(named=True)
        if r["store_cents"] or r["stripe_cents"] or r["paypal_cents"]
    }
    expected = {
        c["email"]: (c["store_cents"], c["stripe_cents"], c["paypal_cents"])
        for c in known["customers"]
        if c["store_cents"] or c["stripe_cents"] or c["paypal_cents"]
    }
    assert money == expected
    # The printed view says the same.
    assert f"store revenue {known['store_cents'] / 100:,.2f}" in done.stdout
    assert f"orders that explain it ({len(want)})" in done.stdout
