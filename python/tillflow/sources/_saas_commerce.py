"""Typed helpers for the commerce and payments presets: Stripe, Shopify's
GraphQL Admin API, WooCommerce, PayPal and Square."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillflow.sources._presets import load
from tillflow.sources._saas import _given


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
        The ``stripe`` source, its lists paged by ``starting_after`` (see
        [Preset.source][tillflow.sources.Preset.source]).

    Raises
    ------
    ConfigError
        If a resource is not one of the eight above, or a value makes an
        invalid spec.
    """
    test_key = "_test_" in api_key
    rate = requests_per_second if requests_per_second is not None else (25 if test_key else 100)
    values = _given(api_key=api_key, start=start, lookback=lookback, base_url=base_url)
    return load("stripe", resources=resources, requests_per_second=rate, **values)


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
        A duration, as for every vendor helper (see [Preset.source][tillflow.sources.Preset.source]).
    api_version
        The Admin API version (the preset's default when ``None``).
    page_size
        Customers a page (at most 250); orders and products come 40 a page,
        which keeps a query under Shopify's cost limit.

    Returns
    -------
    Source
        The source, named ``shopify`` after its preset.

    Raises
    ------
    ConfigError
        If a resource is not ``orders``, ``customers`` or ``products``, or a
        value makes an invalid spec (a bad ``page_size``, say).
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
        How far before the stored cursor a run starts, for the orders (see
        [Preset.source][tillflow.sources.Preset.source]).

    Returns
    -------
    Source
        The ``woocommerce`` source, authenticated with the key pair.

    Raises
    ------
    ConfigError
        If a resource is none of the four, or a value makes an invalid spec.
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
        The ``paypal`` source, one request window per 31 days from
        ``start``.

    Raises
    ------
    ConfigError
        If ``resources`` names anything but ``transactions``, or a value
        makes an invalid spec.
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
        As for every vendor helper; see [Preset.source][tillflow.sources.Preset.source].
    base_url
        Another host to call: ``https://connect.squareupsandbox.com`` for the sandbox.

    Returns
    -------
    Source
        The ``square`` source, for the one location.

    Raises
    ------
    ConfigError
        If a resource is unknown or a value makes an invalid spec (see
        [Preset.source][tillflow.sources.Preset.source]).
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
