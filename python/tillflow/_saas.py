"""Typed helpers for the vendor presets: ``tl.sources.stripe(api_key=…)``.

Each helper fills in its preset file (``presets/<vendor>.toml``, a
declarative spec the native engine reads) from typed arguments, so an
editor shows what a vendor needs. Every helper takes ``resources`` (some of
the preset's resources, all by default) and ``base_url`` (another host: a
regional endpoint, a sandbox, the demo estate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillflow._presets import load

__all__ = ["hubspot", "stripe"]


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
