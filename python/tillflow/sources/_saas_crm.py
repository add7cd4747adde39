"""Typed helpers for the CRM, support and marketing presets: HubSpot,
Zendesk and Mailchimp."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillflow._core.errors import config_error
from tillflow.sources._presets import load
from tillflow.sources._saas import _given


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
        A duration before the stored cursor (see [Preset.source][tillflow.sources.Preset.source]).
    requests
        Requests per 10 seconds (100 by default).
    base_url
        Another host to call (``https://api.hubapi.com`` by default).

    Returns
    -------
    Source
        The ``hubspot`` source, paced at ``requests`` per 10 seconds.

    Raises
    ------
    ConfigError
        If a resource is not one of the five above, or a value makes an
        invalid spec.
    """
    return load(
        "hubspot",
        resources=resources,
        **_given(token=token, start=start, lookback=lookback, requests=requests, base_url=base_url),
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
        How far back each run starts, as for every vendor helper (see
        [Preset.source][tillflow.sources.Preset.source]).
    requests_per_minute
        The rate budget: 200 (the default) on Team plans, 400 on Growth and
        Professional, 700 on Enterprise.
    base_url
        Another host to call (by default ``https://<subdomain>.zendesk.com``).

    Returns
    -------
    Source
        The ``zendesk`` source, paced at ``requests_per_minute``.

    Raises
    ------
    ConfigError
        If a resource is not ``tickets``, ``ticket_comments`` or ``users``,
        or a value makes an invalid spec.
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
        For the members: how far before the stored cursor each run starts
        (see [Preset.source][tillflow.sources.Preset.source]).
    base_url
        Another host to call (by default ``https://<dc>.api.mailchimp.com``).

    Returns
    -------
    Source
        The ``mailchimp`` source, calling the key's data center.

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
