"""Metrics: the shop's numbers, computed by the native kernels.

One metric keeps one name in three places, and the place says what it takes:

- ``tillflow.metrics.<name>(warehouse)`` reads the loaded tables and can store
  the result as ``metrics_<name>`` ([refresh][tillflow.metrics.refresh] stores them all at once);
- ``tillflow.metrics.kernels.<name>(orders, ...)`` runs the same kernel over
  polars frames you already hold, and its classes (``DailySummary``, ...) take
  the data in batches and merge partial states;
- ``tillflow.metrics.expr.<name>(expression)`` is the polars expression form,
  for use inside ``select``/``group_by``.
"""

from tillflow.metrics import expr, kernels
from tillflow.metrics._customers import cohort_retention, customer_lifetime_value, customer_segments, rfm
from tillflow.metrics._daily import daily_summary, product_performance, revenue_trend
from tillflow.metrics._orders import approx_distinct, order_value_buckets
from tillflow.metrics._refresh import INPUTS, METRICS, refresh
from tillflow.metrics._web import web_traffic

__all__ = [
    "INPUTS",
    "METRICS",
    "approx_distinct",
    "cohort_retention",
    "customer_lifetime_value",
    "customer_segments",
    "daily_summary",
    "expr",
    "kernels",
    "order_value_buckets",
    "product_performance",
    "refresh",
    "revenue_trend",
    "rfm",
    "web_traffic",
]
