"""The demo shop: the embedded default source, a Shopify-shaped API on
127.0.0.1 serving deterministic synthetic orders, customers and products."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tillflow import _native
from tillflow.exceptions import ConfigError

__all__ = ["DATA_END", "DATA_START", "ORDER_RULES", "DemoShop", "demo_shop", "order_rules"]

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


def order_rules() -> Any:
    """The seed's order rules as a :class:`~tillflow.RuleSet`."""
    from tillflow.rules import RuleSet

    return RuleSet.from_dict(ORDER_RULES)


class DemoShop:
    """A running demo shop. Use as a context manager, or call :meth:`stop`."""

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
            raise ConfigError(f"invalid config: count: expected a non-negative integer, got {count!r}")
        return self._shop.edit_orders(count)

    @property
    def window(self) -> dict[str, Any]:
        """``start``/``end`` for :func:`tillflow.sources.shopify`, so orders
        are fetched as parallel time slices over the shop's data."""
        return {"start": DATA_START, "end": DATA_END}

    def source(self, *, rules: bool = False, **kwargs: Any) -> Any:
        """The Shopify preset pointed at this shop; with ``rules``, orders
        are checked against :func:`order_rules` (bad rows to quarantine)."""
        from tillflow.sources import shopify

        source = shopify(self.url, self.token, **{**self.window, **kwargs})
        return source.with_rules(orders=order_rules()) if rules else source

    def stop(self) -> None:
        self._shop.stop()

    def __enter__(self) -> DemoShop:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DemoShop(url={self.url!r}, orders={self.orders})"


def demo_shop(orders: int = 2000, **kwargs: Any) -> DemoShop:
    """Starts the demo shop on a free port of 127.0.0.1."""
    return DemoShop(orders, **kwargs)
