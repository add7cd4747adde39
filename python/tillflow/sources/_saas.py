"""Typed helpers for the vendor presets: ``tl.sources.stripe(api_key=…)``.

Each helper fills in its preset file (``presets/<vendor>.toml``, a
declarative spec the native engine reads) from typed arguments, so an
editor shows what a vendor needs. Every helper takes ``resources`` (some of
the preset's resources, all by default) and ``base_url`` (another host: a
regional endpoint, a sandbox, the demo estate).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from tillflow._core.errors import config_error
from tillflow.sources._presets import load

__all__ = [
    "ga4",
    "hubspot",
    "mailchimp",
    "paypal",
    "quickbooks",
    "shopify_graphql",
    "square",
    "stripe",
    "woocommerce",
    "xero",
    "zendesk",
]


def _given(**values: Any) -> dict[str, Any]:
    """The arguments the caller set (``None`` leaves the preset's default)."""
    return {k: v for k, v in values.items() if v is not None}


def stripe(
    api_key: str,
    *,
    resources: Sequence[str] | None = None,
    start: int | None = None,
    lookback: int | None = None,
    requests_per_second: int | None = None,
    base_url: str | None = None,
) -> Any:
    """Stripe: charges, refunds, payment intents, customers, payouts,
    balance transactions, invoices and disputes.

    Lists page by ``starting_after`` and load incrementally by creation time
    (``created[gte]``, a Unix time; ``start`` is the first run's). The rate
    budget follows the key: 100 requests a second for a live key, 25 for a
    test key (Stripe's documented limits), unless ``requests_per_second`` is
    given."""
    if requests_per_second is None:
        requests_per_second = 25 if "_test_" in api_key else 100
    return load(
        "stripe",
        resources=resources,
        **_given(
            api_key=api_key,
            start=start,
            lookback=lookback,
            requests_per_second=requests_per_second,
            base_url=base_url,
        ),
    )


def hubspot(
    token: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    requests: int | None = None,
    base_url: str | None = None,
) -> Any:
    """HubSpot CRM with a private app's token: contacts, companies, deals
    (changed records through the search endpoints, oldest change first),
    each deal's contacts (one request per deal) and owners.

    ``requests`` is the budget per 10 seconds: 100 (the default) for free
    and Starter accounts, 190 for Professional and Enterprise."""
    return load(
        "hubspot",
        resources=resources,
        **_given(token=token, start=start, lookback=lookback, requests=requests, base_url=base_url),
    )


def shopify_graphql(
    shop_url: str,
    access_token: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    api_version: str | None = None,
    page_size: int | None = None,
) -> Any:
    """Shopify's GraphQL Admin API: orders (with line items), customers and
    products, changed ones first by ``updated_at``. Queries are paced by
    their calculated cost (``extensions.cost.throttleStatus``). The REST
    Admin API stays available as :func:`tillflow.sources.shopify`."""
    if not shop_url.startswith(("http://", "https://")):
        shop_url = "https://" + shop_url
    return load(
        "shopify",
        resources=resources,
        **_given(
            shop_url=shop_url.rstrip("/"),
            access_token=access_token,
            start=start,
            lookback=lookback,
            api_version=api_version,
            page_size=page_size,
        ),
    )


def woocommerce(
    store_url: str,
    consumer_key: str,
    consumer_secret: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
) -> Any:
    """WooCommerce's REST API (v3): orders with their notes, customers and
    products; orders load incrementally by ``date_modified_gmt``."""
    return load(
        "woocommerce",
        resources=resources,
        **_given(
            store_url=store_url.rstrip("/"),
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            start=start,
            lookback=lookback,
        ),
    )


def paypal(
    client_id: str,
    client_secret: str,
    *,
    start: str,
    end: str | None = None,
    resources: Sequence[str] | None = None,
    lookback: str | None = None,
    base_url: str | None = None,
) -> Any:
    """PayPal's transaction search, from ``start`` (RFC 3339) in windows of
    31 days (the API's cap), with an OAuth2 client-credentials token."""
    return load(
        "paypal",
        resources=resources,
        **_given(
            client_id=client_id,
            client_secret=client_secret,
            start=start,
            end=end,
            lookback=lookback,
            base_url=base_url,
        ),
    )


def square(
    access_token: str,
    location_id: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    base_url: str | None = None,
) -> Any:
    """Square: payments, orders (a POST search, cursor in the body) and
    customers."""
    return load(
        "square",
        resources=resources,
        **_given(
            access_token=access_token,
            location_id=location_id,
            start=start,
            lookback=lookback,
            base_url=base_url,
        ),
    )


def zendesk(
    subdomain: str,
    email: str,
    api_token: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    requests_per_minute: int | None = None,
    base_url: str | None = None,
) -> Any:
    """Zendesk Support: changed tickets (incremental export), each ticket's
    comments (a substream) and users, with an API token."""
    return load(
        "zendesk",
        resources=resources,
        **_given(
            subdomain=subdomain,
            email=email,
            api_token=api_token,
            start=start,
            lookback=lookback,
            requests_per_minute=requests_per_minute,
            base_url=base_url,
        ),
    )


def mailchimp(
    api_key: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    base_url: str | None = None,
) -> Any:
    """Mailchimp Marketing: audiences, their members (changed since the last
    run) and campaigns. The data center comes from the key's ``-usNN``."""
    _, sep, dc = api_key.rpartition("-")
    if not sep or not dc:
        raise config_error("mailchimp: api_key: a Mailchimp key ends in -<data center>, like -us21")
    return load(
        "mailchimp",
        resources=resources,
        **_given(api_key=api_key, data_center=dc, start=start, lookback=lookback, base_url=base_url),
    )


def quickbooks(
    client_id: str,
    client_secret: str,
    refresh_token: str,
    realm_id: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    token_store: str | None = None,
    base_url: str | None = None,
    token_url: str | None = None,
) -> Any:
    """QuickBooks Online: customers, invoices, payments and items, changed
    ones by ``MetaData.LastUpdatedTime``. Every refresh rotates the refresh
    token; the newest is written to ``token_store`` before it is used, so the
    next run (or one after a crash) picks it up."""
    return load(
        "quickbooks",
        resources=resources,
        **_given(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            realm_id=realm_id,
            start=start,
            lookback=lookback,
            token_store=token_store,
            base_url=base_url,
            token_url=token_url,
        ),
    )


def xero(
    client_id: str,
    client_secret: str,
    refresh_token: str,
    tenant_id: str,
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    token_store: str | None = None,
    base_url: str | None = None,
    token_url: str | None = None,
) -> Any:
    """Xero Accounting: invoices, contacts and payments, changed ones by
    ``If-Modified-Since``. Refresh tokens rotate as QuickBooks' do."""
    return load(
        "xero",
        resources=resources,
        **_given(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            tenant_id=tenant_id,
            start=start,
            lookback=lookback,
            token_store=token_store,
            base_url=base_url,
            token_url=token_url,
        ),
    )


def ga4(
    property_id: str,
    service_account: str | os.PathLike[str] | Mapping[str, Any],
    *,
    resources: Sequence[str] | None = None,
    start: str | None = None,
    lookback: str | None = None,
    base_url: str | None = None,
) -> Any:
    """Google Analytics 4's Data API (``runReport``): sessions, key events,
    purchases and revenue per day and channel. ``service_account`` is the
    key file a Google Cloud service account downloads (its path, or its
    contents as a dict); the account needs read access to the property."""
    if isinstance(service_account, Mapping):
        key = dict(service_account)
    else:
        import json
        from pathlib import Path

        try:
            key = json.loads(Path(service_account).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise config_error(f"ga4: service_account: {exc}") from None
    missing = [k for k in ("client_email", "private_key") if not key.get(k)]
    if missing:
        raise config_error(f"ga4: service_account: the key has no {missing}")
    return load(
        "ga4",
        resources=resources,
        **_given(
            property_id=str(property_id),
            client_email=key["client_email"],
            private_key=key["private_key"],
            private_key_id=key.get("private_key_id"),
            token_url=key.get("token_uri"),
            start=start,
            lookback=lookback,
            base_url=base_url,
        ),
    )
