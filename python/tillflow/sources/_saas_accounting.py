"""Typed helpers for the accounting and analytics presets: QuickBooks
Online, Xero and Google Analytics 4."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from tillflow._core.errors import config_error
from tillflow.sources._presets import load
from tillflow.sources._saas import _given


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
        A duration, as every vendor helper takes it (see [Preset.source][tillflow.sources.Preset.source]).
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
        The ``quickbooks`` source for the one company, ``realm_id``.

    Raises
    ------
    ConfigError
        If a resource is not one of the four above, or a value makes an
        invalid spec.
    """
    return _rotating_oauth(
        "quickbooks", {"realm_id": realm_id}, client_id, client_secret, refresh_token,
        resources, start, lookback, token_store, base_url, token_url,
    )  # fmt: skip


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
    client_id, client_secret, refresh_token
        The app's credentials and refresh token, as for [quickbooks][tillflow.sources.quickbooks].
    tenant_id
        The organisation's tenant id (``GET /connections`` lists them).
    resources
        Which resources to load, of ``invoices``, ``contacts`` and
        ``payments``; ``None`` for all.
    start
        The first run's start: only records modified since. ``None`` reads
        everything.
    lookback
        A duration; see [Preset.source][tillflow.sources.Preset.source].
    token_store
        The file that keeps the rotated refresh token, as for [quickbooks][tillflow.sources.quickbooks].
    base_url
        Another host to call (``https://api.xero.com`` by default).
    token_url
        Another OAuth2 token endpoint.

    Returns
    -------
    Source
        The ``xero`` source for the organisation ``tenant_id``.

    Raises
    ------
    ConfigError
        If a resource is not ``invoices``, ``contacts`` or ``payments``, or a
        value makes an invalid spec.
    """
    return _rotating_oauth(
        "xero", {"tenant_id": tenant_id}, client_id, client_secret, refresh_token,
        resources, start, lookback, token_store, base_url, token_url,
    )  # fmt: skip


def _rotating_oauth(
    name: str, company: Mapping[str, str], client_id: str, client_secret: str, refresh_token: str,
    resources: Sequence[str] | None, start: str | None, lookback: str | None, token_store: str | None,
    base_url: str | None, token_url: str | None,
) -> Any:  # fmt: skip
    """A preset whose OAuth2 refresh tokens rotate (QuickBooks, Xero), for
    the company ``company`` names (``{"realm_id": …}``, ``{"tenant_id": …}``)."""
    values = _given(
        client_id=client_id, client_secret=client_secret, refresh_token=refresh_token, **company,
        start=start, lookback=lookback, token_store=token_store, base_url=base_url, token_url=token_url,
    )  # fmt: skip
    return load(name, resources=resources, **values)


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
        The ``ga4`` source, signed in as the service account.

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
