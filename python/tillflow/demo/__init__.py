"""The demo: a Shopify-shaped shop and a whole SaaS estate served on
127.0.0.1 from deterministic synthetic data, so every stage runs offline.

[demo_shop][tillflow.demo_shop] is the embedded default source of ``tillflow demo``;
`DemoEstate` serves every vendor preset's API at once, and
`tillflow.demo.estate` loads them all into one warehouse.
"""

from tillflow.demo._servers import (
    DATA_END,
    DATA_START,
    ORDER_RULES,
    DemoEstate,
    DemoShop,
    Vendor,
    demo_shop,
    order_rules,
)

__all__ = [
    "DATA_END",
    "DATA_START",
    "ORDER_RULES",
    "DemoEstate",
    "DemoShop",
    "Vendor",
    "demo_shop",
    "order_rules",
]
