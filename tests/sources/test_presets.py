"""Every vendor preset against the demo estate's server for that vendor:
exact row counts, an incremental rerun that fetches only what changed, rate
budgets that keep the vendor's enforced limits, and a wrong secret that
names the preset and never the secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tillflow as tl
from support.presets import build
from tillflow import sources as _presets
from tillflow.demo import DemoEstate

# Table → the estate's count of what the vendor serves.
EXPECTED: dict[str, dict[str, str]] = {
    "stripe": {
        "charges": "stripe.charges",
        "refunds": "stripe.refunds",
        "payment_intents": "stripe.payment_intents",
        "customers": "stripe.customers",
        "payouts": "stripe.payouts",
        "invoices": "stripe.invoices",
    },
    "hubspot": {
        "contacts": "hubspot.contacts",
        "companies": "hubspot.companies",
        "deals": "hubspot.deals",
        "deal_contacts": "hubspot.deal_contact_associations",
        "owners": "hubspot.owners",
    },
    "zendesk": {"tickets": "zendesk.tickets", "ticket_comments": "zendesk.ticket_comments"},
    "shopify": {"orders": "store.orders", "customers": "store.customers", "products": "store.products"},
    "woocommerce": {"orders": "store.orders", "customers": "store.customers", "products": "store.products"},
    "paypal": {"transactions": "paypal.transactions"},
    "square": {"customers": "square.customers", "payments": "square.payments", "orders": "square.orders"},
    "mailchimp": {
        "lists": "mailchimp.lists",
        "members": "mailchimp.members",
        "campaigns": "mailchimp.campaigns",
    },
    "quickbooks": {
        "customers": "quickbooks.customers",
        "invoices": "quickbooks.invoices",
        "payments": "quickbooks.payments",
        "items": "quickbooks.items",
    },
    "xero": {"contacts": "xero.contacts", "invoices": "xero.invoices", "payments": "xero.payments"},
    "ga4": {"traffic": "ga4.rows"},
}


@pytest.fixture(scope="module")
def estate() -> Iterator[DemoEstate]:
    with DemoEstate(customers=60, orders=300) as e:
        yield e


def test_sources_lists_at_least_ten_presets() -> None:
    names = _presets.presets()
    assert len(names) >= 10
    assert set(EXPECTED) <= set(names)
    for name in names:
        p = _presets.preset(name)
        assert p.docs and all(d.startswith("https://") for d in p.docs), name
        assert p.resources, name


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_preset_loads_exactly_what_the_vendor_serves(estate: DemoEstate, name: str, tmp_path: Path) -> None:
    source = build(estate, name, tmp_path, resources=list(EXPECTED[name]))
    with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        tl.pipeline(name, source, wh).run()
        counts = wh.row_counts()
        expected = estate.counts()
        got = {table: counts.get(table) for table in EXPECTED[name]}
        want = {table: expected[key] for table, key in EXPECTED[name].items()}
        assert got == want


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_wrong_secret_is_an_auth_error_naming_the_preset(
    estate: DemoEstate, name: str, tmp_path: Path
) -> None:
    wrong = "wrong-secret-0123456789"
    first = next(iter(EXPECTED[name]))
    source = build(estate, name, tmp_path, resources=[first], secret=wrong)
    with pytest.raises(tl.AuthError) as err:
        for _ in source[first].open():
            pass
    text = str(err.value)
    assert text.startswith(f"{name}.{first}: "), text
    assert wrong not in text
    assert wrong not in repr(source[first])


# Each preset's incremental resource (the one whose vendor filters by change).
INCREMENTAL = [
    ("stripe", "charges"),
    ("hubspot", "contacts"),
    ("quickbooks", "invoices"),
    ("xero", "invoices"),
    ("shopify", "orders"),
    ("woocommerce", "orders"),
    ("paypal", "transactions"),
    ("square", "orders"),
    ("zendesk", "tickets"),
    ("mailchimp", "members"),
    ("ga4", "traffic"),
]


@pytest.mark.parametrize(("name", "table"), INCREMENTAL)
def test_an_incremental_rerun_fetches_only_what_changed(
    estate: DemoEstate, name: str, table: str, tmp_path: Path
) -> None:
    source = build(estate, name, tmp_path, resources=[table])
    with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        start = estate.requests(name)
        tl.pipeline(name, source, wh).run()
        before = estate.requests(name)
        again = build(estate, name, tmp_path, resources=[table])
        run = tl.pipeline(name, again, wh).run()
        assert wh.row_counts()[table] == estate.counts()[EXPECTED[name][table]], "no duplicates"
        # Nothing changed: the rerun asks from the stored cursor and gets only
        # the records at the cursor itself, not the whole history.
        assert run.row_counts.get(table, 0) < estate.counts()[EXPECTED[name][table]] / 2, run
        rerun = estate.requests(name) - before
        if "windows" in source[table].spec:
            # One window per step from the cursor to now, instead of from the start.
            assert rerun < before - start
        else:
            # At most a token refresh and one round of concurrent page requests.
            assert rerun <= 1 + source[table].spec.get("concurrency", 4)


def test_zendesk_comments_follow_only_the_tickets_changed_since_the_last_run(tmp_path: Path) -> None:
    # An estate of its own: replies change its data.
    with DemoEstate(customers=30, orders=60) as e, tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        total = e.counts()["zendesk.ticket_comments"]
        tl.pipeline("zendesk", build(e, "zendesk", tmp_path, resources=["ticket_comments"]), wh).run()
        assert wh.row_counts()["ticket_comments"] == total
        # One reply on ticket 8, then two on ticket 3 (the last change).
        for ticket in (8, 3, 3):
            e.change("zendesk", "reply", ticket)
        before = e.requests("zendesk")
        run = tl.pipeline("zendesk", build(e, "zendesk", tmp_path, resources=["ticket_comments"]), wh).run()
        # One export page from the stored cursor, then the two changed tickets' comments.
        assert e.requests("zendesk") - before == 1 + 2
        assert wh.row_counts()["ticket_comments"] == total + 3
        counts = wh.query(
            "SELECT ticket_id, count(*) FROM ticket_comments WHERE body = 'Any news on this?' "
            "GROUP BY ticket_id ORDER BY ticket_id"
        )
        assert [tuple(r) for r in counts.rows()] == [(3, 2), (8, 1)]
        assert run.row_counts["ticket_comments"] > 3, "the changed tickets' comments, old and new"
        # Nothing changed since. The export refuses a start within the last
        # minute, so it starts a minute ago: ticket 8 comes again and its
        # comments are read again and merged; ticket 3, at the stored edge, not.
        before = e.requests("zendesk")
        tl.pipeline("zendesk", build(e, "zendesk", tmp_path, resources=["ticket_comments"]), wh).run()
        assert e.requests("zendesk") - before == 1 + 1
        assert wh.row_counts()["ticket_comments"] == total + 3
        with pytest.raises(tl.ConfigError, match="reply"):
            e.change("zendesk", "delete", 3)


def _throttled_run(limits_on: bool, tmp_path: Path, name: str, table: str) -> tuple[int, int]:
    with DemoEstate(customers=60, orders=300) as e:
        source = build(e, name, tmp_path, resources=[table])
        for r in source.resources:
            r.spec["params"]["limit"] = 5  # many small pages: well past 25 requests a second
        if not limits_on:
            for r in source.resources:
                r.spec.pop("rate_limit", None)
                r.spec["retry"] = {"max_attempts": 20, "initial_backoff_secs": 0.05, "max_backoff_secs": 0.2}
                r.spec["concurrency"] = 8
        with tl.warehouse.duckdb(str(tmp_path / f"wh-{limits_on}.duckdb")) as wh:
            tl.pipeline(name, source, wh).run()
            return e.throttled(name), wh.row_counts()[table]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("name", "table"), [("stripe", "charges")])
def test_the_rate_budget_keeps_the_vendors_limit(name: str, table: str, tmp_path: Path) -> None:
    on, rows_on = _throttled_run(True, tmp_path, name, table)
    off, rows_off = _throttled_run(False, tmp_path, name, table)
    assert rows_on == rows_off
    assert on == 0, "no 429 with the budget on"
    assert off > 0, "the server does enforce its limit"


def test_check_and_discover_name_what_they_found(estate: DemoEstate, tmp_path: Path) -> None:
    from support import run_cli

    v = estate.vendor("stripe")
    env = {"STRIPE_API_KEY": v.credentials["secret_key"], "STRIPE_BASE_URL": v.url}
    ok = run_cli("check", "stripe", env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: stripe: authenticated; charges answered with 100 records")
    bad = run_cli("check", "stripe", env={**env, "STRIPE_API_KEY": "sk_test_wrong0123456789"})
    assert bad.returncode != 0
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("error: AuthError: stripe.charges: ") and "wrong0123456789" not in last
    found = run_cli("discover", "stripe", "-r", "charges", env=env)
    assert found.returncode == 0, found.stderr
    assert "charges: 100 records on the first page" in found.stdout
    assert "    amount: Int64" in found.stdout
