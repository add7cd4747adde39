"""Typed helpers for the vendor presets: ``tl.sources.stripe(api_key=…)``.

Each helper fills in its preset file (``presets/<vendor>.toml``, a
declarative spec the native engine reads) from typed arguments, so an
editor shows what a vendor needs. Every helper takes ``resources`` (some of
the preset's resources, all by default) and ``base_url`` (another host: a
regional endpoint, a sandbox, the demo estate).

The helpers live by vendor family: ``_saas_commerce`` (Stripe, Shopify's
GraphQL API, WooCommerce, PayPal, Square), ``_saas_crm`` (HubSpot, Zendesk,
Mailchimp) and ``_saas_accounting`` (QuickBooks, Xero, Google Analytics 4).
This module holds what they share.
"""

from __future__ import annotations

from typing import Any


def _given(**values: Any) -> dict[str, Any]:
    """The arguments the caller set (``None`` leaves the preset's default)."""
    return {k: v for k, v in values.items() if v is not None}
