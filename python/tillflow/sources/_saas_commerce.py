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
    given.

    Parameters
    ----------
    api_key
        A secret or restricted key (``sk_live_…``, ``rk_live_…``, or
        ``sk_test_…`` in a sandbox).
    resources
        Which resources to load, of ``charges``, ``refunds``,
        ``payment_intents``, ``customers``, ``payouts``,
        ``balance_transactions``, ``invoices`` and ``disputes``; ``None`` for
        all.
    start
        The first run's start: only objects created at or after this Unix
        time. ``None`` reads everything.
    lookback
        Seconds before the stored cursor each run starts again; the objects
        read again are merged on ``id``. ``None`` for none.
    requests_per_second
        The rate budget; by default 25 for a key with ``_test_`` in it,
        else 100.
    base_url
        Another host to call (``https://api.stripe.com`` by default).

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    and Starter accounts, 190 for Professional and Enterprise.

    Parameters
    ----------
    token
        A private app's access token (``pat-…``).
    resources
        Which resources to load, of ``contacts``, ``companies``, ``deals``,
        ``deal_contacts`` and ``owners``; ``None`` for all.
    start
        The first run's start (RFC 3339): only records modified at or after
        it. ``None`` reads everything.
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.
    requests
        Requests per 10 seconds (100 by default).
    base_url
        Another host to call (``https://api.hubapi.com`` by default).

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    Admin API stays available as [shopify][tillflow.sources.shopify].

    Parameters
    ----------
    shop_url
        The shop, ``https://<shop>.myshopify.com`` (``https://`` is added
        when the scheme is left out).
    access_token
        An Admin API access token (``shpat_…``).
    resources
        Which resources to load, of ``orders``, ``customers`` and
        ``products``; ``None`` for all.
    start
        The first run's start (RFC 3339): records updated at or after it.
        ``None`` reads everything.
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.
    api_version
        The Admin API version (the preset's default when ``None``).
    page_size
        Customers a page (at most 250); orders and products come 40 a page,
        which keeps a query under Shopify's cost limit.

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    products; orders load incrementally by ``date_modified_gmt``.

    Parameters
    ----------
    store_url
        The WordPress site, ``https://shop.example.com``.
    consumer_key
        The REST API key's consumer key (``ck_…``).
    consumer_secret
        Its consumer secret (``cs_…``).
    resources
        Which resources to load, of ``orders``, ``order_notes``, ``customers``
        and ``products``; ``None`` for all.
    start
        The first run's start (UTC): orders modified after it. ``None``
        reads every order.
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    31 days (the API's cap), with an OAuth2 client-credentials token.

    Parameters
    ----------
    client_id
        The REST app's client id.
    client_secret
        Its secret.
    start
        The first transaction date to read (RFC 3339); PayPal keeps three
        years.
    end
        The last (by default, now).
    resources
        Which resources to load, of ``transactions``; ``None`` for all.
    lookback
        How far before the stored cursor each run starts again (by default
        ``"3h"``: transactions appear up to three hours after they happen).
    base_url
        Another host to call: ``https://api-m.sandbox.paypal.com`` for the sandbox
        (``https://api-m.paypal.com`` by default).

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    customers.

    Parameters
    ----------
    access_token
        An access token.
    location_id
        The location whose orders to read.
    resources
        Which resources to load, of ``payments``, ``orders`` and
        ``customers``; ``None`` for all.
    start
        The first run's start (RFC 3339); by default 2013-01-01.
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.
    base_url
        Another host to call: ``https://connect.squareupsandbox.com`` for the sandbox.

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    comments (a substream) and users, with an API token.

    Parameters
    ----------
    subdomain
        The account's subdomain (``<subdomain>.zendesk.com``).
    email
        The agent's email the API token belongs to.
    api_token
        The API token.
    resources
        Which resources to load, of ``tickets``, ``ticket_comments`` and
        ``users``; ``None`` for all.
    start
        The first run's start: tickets updated at or after it (by default
        2000-01-01).
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.
    requests_per_minute
        The rate budget: 200 (the default) on Team plans, 400 on Growth and
        Professional, 700 on Enterprise.
    base_url
        Another host to call (by default ``https://<subdomain>.zendesk.com``).

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    run) and campaigns. The data center comes from the key's ``-usNN``.

    Parameters
    ----------
    api_key
        An API key, ending in its data center (``…-us21``).
    resources
        Which resources to load, of ``lists`` (the audiences), ``members`` and
        ``campaigns``; ``None`` for all.
    start
        The first run's start: members changed since. ``None`` reads every
        member.
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.
    base_url
        Another host to call (by default ``https://<dc>.api.mailchimp.com``).

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If ``api_key`` does not end in ``-<data center>``, a resource is
        unknown, or a value makes an invalid spec.
    """
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
    next run (or one after a crash) picks it up.

    Parameters
    ----------
    client_id
        The app's client id.
    client_secret
        Its client secret.
    refresh_token
        The refresh token from authorizing the app; used until
        ``token_store`` holds a newer one.
    realm_id
        The company id.
    resources
        Which resources to load, of ``customers``, ``invoices``, ``payments``
        and ``items``; ``None`` for all.
    start
        The first run's start: records last updated at or after it (by
        default 2000-01-01).
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.
    token_store
        The file that keeps the rotated refresh token (by default under
        ``~/.local/state/tillflow/tokens``).
    base_url
        Another host to call: ``https://sandbox-quickbooks.api.intuit.com`` for a sandbox
        company.
    token_url
        Another OAuth2 token endpoint.

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    ``If-Modified-Since``. Refresh tokens rotate as QuickBooks' do.

    Parameters
    ----------
    client_id
        The app's client id.
    client_secret
        Its client secret.
    refresh_token
        The refresh token from authorizing the app; used until
        ``token_store`` holds a newer one.
    tenant_id
        The organisation's tenant id (``GET /connections`` lists them).
    resources
        Which resources to load, of ``invoices``, ``contacts`` and
        ``payments``; ``None`` for all.
    start
        The first run's start: only records modified since. ``None`` reads
        everything.
    lookback
        How far before the stored cursor each run starts again, as a
        duration (``"1h"``, ``"2days"``); the records read again are merged
        on their key. The preset's default: none.
    token_store
        The file that keeps the rotated refresh token.
    base_url
        Another host to call (``https://api.xero.com`` by default).
    token_url
        Another OAuth2 token endpoint.

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec.
    """
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
    contents as a dict); the account needs read access to the property.

    Parameters
    ----------
    property_id
        The GA4 property's id.
    service_account
        The key file's path, or its contents; it needs ``client_email`` and
        ``private_key``.
    resources
        Which resources to load, of ``traffic``; ``None`` for all.
    start
        The first day to read (``YYYY-MM-DD`` or RFC 3339; by default
        2024-01-01).
    lookback
        How far before the stored cursor each run starts again; by default
        ``"3days"``, as GA4 keeps updating a day's figures for up to three
        days.
    base_url
        Another host to call (``https://analyticsdata.googleapis.com`` by default).

    Returns
    -------
    Source
        The source, named after the preset.

    Raises
    ------
    ConfigError
        If the key file cannot be read or lacks ``client_email`` or
        ``private_key``, a resource is unknown, or a value makes an invalid
        spec.
    """
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
