"""The shop's metrics as native kernels over polars frames.

Each kernel splits into partial → merge → finalize: ``kernel.partial(batch)``
turns a batch of orders (with their line items, where the metric needs them)
into a state, ``kernel.merge(a, b)`` combines states in any grouping, and
``kernel.finalize(state)`` gives the metric. Money is summed exactly (in
millionths), so any split of the rows gives the same result as one pass.

>>> import tillflow as tl
>>> tl.metrics.kernels.daily_summary(orders, line_items, tz="Europe/Berlin")  # doctest: +SKIP
"""

from tillflow.metrics.kernels._customers import (
    CohortRetention,
    CustomerLifetimeValue,
    CustomerSegments,
    Rfm,
    cohort_retention,
    customer_lifetime_value,
    customer_segments,
    rfm,
)
from tillflow.metrics.kernels._daily import DailySummary, daily_summary, revenue_trend
from tillflow.metrics.kernels._orders import (
    ApproxDistinct,
    OrderValueBuckets,
    approx_distinct,
    order_value_buckets,
)
from tillflow.metrics.kernels._products import ProductPerformance, product_performance
from tillflow.metrics.kernels._web import WebTraffic, web_traffic

__all__ = [
    "ApproxDistinct",
    "CohortRetention",
    "CustomerLifetimeValue",
    "CustomerSegments",
    "DailySummary",
    "OrderValueBuckets",
    "ProductPerformance",
    "Rfm",
    "WebTraffic",
    "approx_distinct",
    "cohort_retention",
    "customer_lifetime_value",
    "customer_segments",
    "daily_summary",
    "order_value_buckets",
    "product_performance",
    "revenue_trend",
    "rfm",
    "web_traffic",
]
