"""The demo shop: the embedded default source, a Shopify-shaped API on
127.0.0.1 serving deterministic synthetic orders, customers and products."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from tillflow import _native
from tillflow._core.errors import config_error

# The shop's orders fall in this half-year whatever their number.
DATA_START = "2024-01-01T00:00:00Z"
DATA_END = "2024-07-01T00:00:00Z"

# The seed's order rules, as a rules file would hold them, on Shopify's
# column names (the order's `email` is the seed's `customer_email`).
ORDER_RULES: dict[str, Any] = {
    "key": ["id"],
    "rules": [
        {"not_null": ["id", "email", "total_price"], "tolerance": 0.01},
        {"unique": "id"},
        {"between": "total_price", "min": 0, "max": 10000},
        {"matches": "email", "pattern": r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$"},
    ],
}


_S = TypeVar("_S", bound="_Served")


class _Served:
    """Servers that stop when their ``with`` block ends."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def order_rules() -> Any:
    """The seed's order rules as a [RuleSet][tillflow.rules.RuleSet]."""
    from tillflow.rules import RuleSet

    return RuleSet.from_dict(ORDER_RULES)


class DemoShop(_Served):
    """A running demo shop. Use as a context manager, or call `stop`."""

    def __init__(
        self,
        orders: int = 2000,
        *,
        seed: int = 42,
        token: str = "shpat_demo",
        port: int = 0,
        host: str = "127.0.0.1",
        fail_after_pages: int | None = None,
        fail_status: int = 500,
        malformed_page: int | None = None,
    ) -> None:
        self.token = token
        self._shop = _native.DemoShop(
            orders,
            seed=seed,
            token=token,
            host=host,
            port=port,
            fail_after_pages=fail_after_pages,
            fail_status=fail_status,
            malformed_page=malformed_page,
        )

    @property
    def url(self) -> str:
        return self._shop.url

    @property
    def port(self) -> int:
        return self._shop.port

    @property
    def orders(self) -> int:
        return self._shop.orders

    @property
    def requests(self) -> int:
        """Requests answered so far."""
        return self._shop.requests

    def edit_orders(self, count: int = 10) -> list[int]:
        """Refunds ``count`` orders now, as a shop's staff would: each gets
        ``financial_status`` "refunded" and an ``updated_at`` after every order
        so far, so the next incremental run fetches exactly these (and the
        order at the stored cursor). Returns their ids."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise config_error(f"count: expected a non-negative integer, got {count!r}")
        return self._shop.edit_orders(count)

    @property
    def window(self) -> dict[str, Any]:
        """``start``/``end`` for [shopify][tillflow.sources.shopify], so orders
        are fetched as parallel time slices over the shop's data."""
        return {"start": DATA_START, "end": DATA_END}

    def source(self, *, rules: bool = False, **kwargs: Any) -> Any:
        """The Shopify preset pointed at this shop; with ``rules``, orders
        are checked against `order_rules` (bad rows to quarantine)."""
        from tillflow.sources import shopify

        source = shopify(self.url, self.token, **{**self.window, **kwargs})
        return source.with_rules(orders=order_rules()) if rules else source

    def stop(self) -> None:
        self._shop.stop()

    def __repr__(self) -> str:
        return f"DemoShop(url={self.url!r}, orders={self.orders})"


def demo_shop(orders: int = 2000, **kwargs: Any) -> DemoShop:
    """Starts the demo shop on a free port of 127.0.0.1.

    Parameters
    ----------
    orders
        How many orders the shop holds, all within the first half of 2024.
    **kwargs
        ``seed`` (the same seed gives the same data), ``token`` (the access
        token it accepts, ``"shpat_demo"`` by default), ``host``, ``port``,
        and faults for tests: ``fail_after_pages``, ``fail_status`` and
        ``malformed_page``.

    Returns
    -------
    DemoShop
        The running shop: use it in a ``with`` block, or call ``stop()``.
        ``url`` and ``token`` reach it, ``window`` gives
        [shopify][tillflow.sources.shopify]'s ``start`` and ``end``, and
        ``source()`` the Shopify source pointed at it.

    Raises
    ------
    ConfigError
        If ``token`` is empty.
    TillflowError
        If the server cannot start (the port is taken).
    """
    return DemoShop(orders, **kwargs)


@dataclass(frozen=True)
class Vendor:
    """How to reach one vendor of the demo estate: its base URL, its OAuth
    token URL (``None`` when it has none) and its demo credentials and account
    ids, under the vendor's own names (``secret_key``, ``client_id``,
    ``refresh_token``, ``realm_id``, ``tenant_id``, ``property_id``, ...)."""

    name: str
    url: str
    token_url: str | None
    credentials: dict[str, str] = field(default_factory=dict)


class DemoEstate(_Served):
    """One small business's SaaS estate on 127.0.0.1: a server per vendor
    (Stripe, HubSpot, Zendesk, Shopify GraphQL, QuickBooks, Xero,
    WooCommerce, PayPal, Square, Mailchimp, GA4), each speaking that vendor's
    documented API over the same deterministic customers, with its rate
    limits enforced unless ``limits=False``. Use as a context manager, or
    call `stop`.

    ``manual_clock=True`` freezes time for rate windows and token expiry
    until `advance` moves it; ``access_token_secs`` overrides every
    vendor's access-token lifetime; ``latency_ms`` delays every answer."""

    def __init__(
        self,
        *,
        seed: int = 42,
        customers: int = 400,
        orders: int = 2000,
        host: str = "127.0.0.1",
        limits: bool = True,
        access_token_secs: int | None = None,
        manual_clock: bool = False,
        latency_ms: int = 0,
    ) -> None:
        for name, value in (("customers", customers), ("orders", orders)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise config_error(f"{name}: expected a positive integer, got {value!r}")
        self._estate = _native.DemoEstate(
            seed=seed,
            customers=customers,
            orders=orders,
            host=host,
            limits=limits,
            access_token_secs=access_token_secs,
            manual_clock=manual_clock,
            latency_ms=latency_ms,
        )
        self._vendors = {
            v["name"]: Vendor(v["name"], v["url"], v["token_url"], dict(v["credentials"]))
            for v in json.loads(self._estate.vendors_json())
        }

    @property
    def vendors(self) -> dict[str, Vendor]:
        """Every vendor by name."""
        return dict(self._vendors)

    def vendor(self, name: str) -> Vendor:
        try:
            return self._vendors[name]
        except KeyError:
            raise config_error(
                f"vendor: no vendor {name!r}; the estate serves {sorted(self._vendors)}"
            ) from None

    def requests(self, vendor: str) -> int:
        """Requests a vendor has answered so far, any status."""
        return self._estate.counters(self.vendor(vendor).name)[0]

    def throttled(self, vendor: str) -> int:
        """Requests a vendor refused for its rate limit (429s, and Shopify's
        THROTTLED answers)."""
        return self._estate.counters(self.vendor(vendor).name)[1]

    @property
    def counters(self) -> dict[str, tuple[int, int]]:
        """``{vendor: (requests, throttled)}``."""
        return {name: self._estate.counters(name) for name in self._vendors}

    def counts(self) -> dict[str, int]:
        """The records each vendor serves, keyed ``vendor.resource`` (for
        example ``stripe.charges`` or ``store.orders``)."""
        return self._estate.counts()

    def reconciliation(self) -> dict[str, Any]:
        """Store revenue per customer against Stripe and PayPal, in cents:
        ``customers`` (``email``, ``store_cents``, ``stripe_cents``,
        ``paypal_cents``), ``mismatches`` (``order_id``, ``order_name``,
        ``email``, ``kind``, ``store_cents``, ``stripe_cents``) and the three
        totals. For every customer, store - stripe - paypal equals the sum of
        store - stripe over their mismatches."""
        result: dict[str, Any] = json.loads(self._estate.reconciliation_json())
        return result

    def authorize(self, vendor: str) -> str:
        """A fresh refresh token for ``vendor`` (``quickbooks`` or ``xero``),
        as authorizing the app again would give. The one in
        ``credentials["refresh_token"]`` works once per estate, since every
        refresh revokes the token presented; clients that keep their own token
        file each need one of these."""
        return self._estate.authorize(self.vendor(vendor).name)

    def change(self, vendor: str, what: str, id: int) -> None:
        """Changes a vendor's data as its users would, so an incremental run
        has something new to find: ``change("zendesk", "reply", 7)`` adds a
        comment to ticket 7 and moves the ticket's ``updated_at`` to now.
        ``counts()`` keeps describing the data as generated."""
        self._estate.change(self.vendor(vendor).name, what, int(id))

    def advance(self, seconds: float) -> None:
        """Moves the estate's clock on: rate windows refill, tokens expire."""
        self._estate.advance(float(seconds))

    @property
    def running(self) -> bool:
        return self._estate.running

    def stop(self) -> None:
        self._estate.stop()

    def __repr__(self) -> str:
        return f"DemoEstate(vendors={sorted(self._vendors)}, running={self.running})"
