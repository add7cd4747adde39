"""The shop's metrics as native kernels over polars frames.

Each kernel splits into partial → merge → finalize: ``kernel.partial(batch)``
turns a batch of orders (with their line items, where the metric needs them)
into a state, ``kernel.merge(a, b)`` combines states in any grouping, and
``kernel.finalize(state)`` gives the metric. Money is summed exactly (in
millionths), so any split of the rows gives the same result as one pass.

>>> import tillflow as tl
>>> tl.metrics.kernels.daily_summary(orders, line_items, tz="Europe/Berlin")  # doctest: +SKIP
"""

from tillflow.metrics.kernels._daily import (
    ApproxDistinct,
    CohortRetention,
    CustomerLifetimeValue,
    CustomerSegments,
    DailySummary,
    OrderValueBuckets,
    ProductPerformance,
    Rfm,
    approx_distinct,
    cohort_retention,
    customer_lifetime_value,
    customer_segments,
    daily_summary,
    order_value_buckets,
    product_performance,
    revenue_trend,
    rfm,
)

__all__ = [
    "ApproxDistinct",
    "CohortRetention",
    "CustomerLifetimeValue",
    "CustomerSegments",
    "DailySummary",
    "OrderValueBuckets",
    "ProductPerformance",
    "Rfm",
    "approx_distinct",
    "cohort_retention",
    "customer_lifetime_value",
    "customer_segments",
    "daily_summary",
    "order_value_buckets",
    "product_performance",
    "revenue_trend",
    "rfm",
]
