"""The dashboard metrics as plain DuckDB SQL: the ground truth the native kernels are tested against.

These are the seed's dashboard queries made correct and runnable on the tables
tillflow loads: ``orders`` (``created_at``, ``total_price``, ``customer__id``,
``_tf_id``) and its child ``orders__line_items`` (``title``, ``quantity``,
``price``, ``_tf_parent_id``). Every function takes anything with a
``query(sql, params) -> polars.DataFrame`` method, usually a warehouse. The
formulations are independent of the kernels (written in SQL, from the metric
definitions), so a kernel that agrees with them is not agreeing with itself.
``benchmarks/p4_metrics.py`` times them as the DuckDB contender.

Days are calendar days in the warehouse connection's time zone (UTC by
default): ``CAST(created_at AS DATE)`` follows the session ``TimeZone``.
Sums of money keep the stored type (Decimal stays Decimal, Float stays
Float); averages and shares are always DOUBLE.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import polars as pl

__all__ = [
    "cohort_retention",
    "customer_lifetime_value",
    "customer_segments",
    "daily_summary",
    "order_value_buckets",
    "product_performance",
    "revenue_trend",
    "rfm",
]

SEGMENTS = ("VIP", "Loyal", "Regular", "New")  # in report order


class Queryable(Protocol):
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame: ...


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _latest_order_date(wh: Queryable, orders: str) -> dt.date | None:
    frame = wh.query(f"SELECT max(CAST(created_at AS DATE)) AS latest FROM {_ident(orders)}")
    return frame.item() if frame.height else None


def _window(
    wh: Queryable, orders: str, days: int | None, end: dt.date | None
) -> tuple[dt.date | None, dt.date] | None:
    """The first and last day of a ``days``-long window ending at ``end`` (default: latest order day).

    The first day is None when ``days`` is None (all time up to ``end``); the
    whole result is None when there is no order to anchor the window on.
    """
    if days is not None and days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    if end is None:
        end = _latest_order_date(wh, orders)
        if end is None:
            return None
    if days is None:
        return None, end
    return end - dt.timedelta(days=days - 1), end


def daily_summary(
    wh: Queryable,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    orders: str = "orders",
    line_items: str = "orders__line_items",
) -> pl.DataFrame:
    """One row per day with orders, newest first.

    Columns: ``date``, ``total_orders``, ``revenue`` (sum of ``total_price``),
    ``average_order_value`` (DOUBLE), ``unique_customers`` (distinct non-null
    ``customer__id``) and ``top_product``: the line-item title with the highest
    ``quantity * price`` that day, ties going to the title first in ascending
    order (null when the day has no titled line items). ``start`` and ``end``
    are inclusive days; orders without ``created_at`` are left out.
    """
    conditions = ["created_at IS NOT NULL"]
    params: dict[str, Any] = {}
    has_items = _table_exists(wh, line_items)
    if start is not None:
        conditions.append("CAST(created_at AS DATE) >= $start")
        params["start"] = start
    if end is not None:
        conditions.append("CAST(created_at AS DATE) <= $end")
        params["end"] = end
    sql = f"""
        WITH day_orders AS (
            SELECT _tf_id, CAST(created_at AS DATE) AS day, total_price, customer__id
            FROM {_ident(orders)} WHERE {" AND ".join(conditions)}
        ),
        per_day AS (
            SELECT day, count(*) AS total_orders, sum(total_price) AS revenue,
                   avg(CAST(total_price AS DOUBLE)) AS average_order_value,
                   count(DISTINCT customer__id) AS unique_customers
            FROM day_orders GROUP BY day
        ),
        {_top_products_sql(line_items) if has_items else _NO_TOP_PRODUCTS}
        SELECT p.day AS date, p.total_orders, p.revenue, p.average_order_value,
               p.unique_customers, t.title AS top_product
        FROM per_day p LEFT JOIN top_products t ON t.day = p.day
        ORDER BY date DESC
    """
    return wh.query(sql, params or None)


def _top_products_sql(line_items: str) -> str:
    # Ranked per day; ordering on the title too makes ties deterministic.
    return f"""top_products AS (
            SELECT o.day, li.title
            FROM {_ident(line_items)} li JOIN day_orders o ON li._tf_parent_id = o._tf_id
            WHERE li.title IS NOT NULL
            GROUP BY o.day, li.title
            QUALIFY row_number() OVER (
                PARTITION BY o.day ORDER BY sum(li.quantity * li.price) DESC NULLS LAST, li.title) = 1
        )"""


_NO_TOP_PRODUCTS = "top_products AS (SELECT NULL::DATE AS day, NULL::VARCHAR AS title WHERE false)"


def _table_exists(wh: Queryable, table: str) -> bool:
    found = wh.query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE lower(table_name) = lower($name)",
        {"name": table},
    )
    return bool(found.item())


def revenue_trend(
    wh: Queryable,
    *,
    days: int = 30,
    end: dt.date | None = None,
    orders: str = "orders",
) -> pl.DataFrame:
    """One row for each of the ``days`` days ending at ``end``, newest first.

    ``end`` defaults to the latest order day. Days without orders show 0
    orders, 0 revenue, 0 customers and a null ``average_order_value``.
    Columns: ``date``, ``total_orders``, ``revenue``, ``average_order_value``,
    ``unique_customers``. Empty when there are no orders and no ``end``.
    """
    window = _window(wh, orders, days, end)
    if window is None:
        # Nothing to anchor on: an inverted range keeps the columns and types but yields no day.
        first, last = dt.date(1970, 1, 2), dt.date(1970, 1, 1)
    else:
        first, last = window
    sql = f"""
        WITH calendar AS (
            SELECT CAST(generate_series AS DATE) AS day
            FROM generate_series(CAST($first AS DATE), CAST($last AS DATE), INTERVAL 1 DAY)
        ),
        per_day AS (
            SELECT CAST(created_at AS DATE) AS day, count(*) AS total_orders,
                   sum(total_price) AS revenue, avg(CAST(total_price AS DOUBLE)) AS average_order_value,
                   count(DISTINCT customer__id) AS unique_customers
            FROM {_ident(orders)}
            WHERE CAST(created_at AS DATE) BETWEEN $first AND $last
            GROUP BY 1
        )
        SELECT c.day AS date, coalesce(p.total_orders, 0) AS total_orders,
               coalesce(p.revenue, 0) AS revenue, p.average_order_value,
               coalesce(p.unique_customers, 0) AS unique_customers
        FROM calendar c LEFT JOIN per_day p ON p.day = c.day
        ORDER BY date DESC
    """
    return wh.query(sql, {"first": first, "last": last})


def customer_segments(
    wh: Queryable,
    *,
    vip_orders: int = 10,
    vip_spent: float = 1000,
    loyal_orders: int = 5,
    loyal_spent: float = 500,
    regular_orders: int = 2,
    orders: str = "orders",
) -> pl.DataFrame:
    """Customers per segment, with the seed's rule applied in order.

    VIP: ``orders >= vip_orders AND spent >= vip_spent``; Loyal:
    ``orders >= loyal_orders OR spent >= loyal_spent``; Regular:
    ``orders >= regular_orders``; otherwise New. Only orders with a
    ``customer__id`` count; a customer whose totals are all null has spent 0.
    Columns: ``customer_segment``, ``customer_count``, ``avg_lifetime_value``
    and ``avg_orders_per_customer`` (DOUBLE, null for an empty segment). All
    four segments appear, in the order VIP, Loyal, Regular, New.
    """
    segments = ", ".join(f"('{name}', {position})" for position, name in enumerate(SEGMENTS))
    sql = f"""
        WITH per_customer AS (
            SELECT customer__id, count(*) AS order_count, coalesce(sum(total_price), 0) AS total_spent
            FROM {_ident(orders)} WHERE customer__id IS NOT NULL
            GROUP BY customer__id
        ),
        labelled AS (
            SELECT CASE
                       WHEN order_count >= $vip_orders AND total_spent >= $vip_spent THEN 'VIP'
                       WHEN order_count >= $loyal_orders OR total_spent >= $loyal_spent THEN 'Loyal'
                       WHEN order_count >= $regular_orders THEN 'Regular'
                       ELSE 'New'
                   END AS segment, order_count, total_spent
            FROM per_customer
        ),
        segments(customer_segment, position) AS (VALUES {segments})
        SELECT s.customer_segment, count(l.segment) AS customer_count,
               avg(CAST(l.total_spent AS DOUBLE)) AS avg_lifetime_value,
               avg(CAST(l.order_count AS DOUBLE)) AS avg_orders_per_customer
        FROM segments s LEFT JOIN labelled l ON l.segment = s.customer_segment
        GROUP BY s.customer_segment, s.position
        ORDER BY s.position
    """
    params = {
        "vip_orders": vip_orders,
        "vip_spent": vip_spent,
        "loyal_orders": loyal_orders,
        "loyal_spent": loyal_spent,
        "regular_orders": regular_orders,
    }
    return wh.query(sql, params)


def product_performance(
    wh: Queryable,
    *,
    days: int | None = 30,
    end: dt.date | None = None,
    top: int | None = 20,
    orders: str = "orders",
    line_items: str = "orders__line_items",
) -> pl.DataFrame:
    """The best-selling line-item titles over a window of order days.

    The window is the ``days`` days ending at ``end`` (default: the latest
    order day); ``days=None`` covers all time. Line items join their order on
    ``_tf_parent_id = _tf_id``; items without a title are left out. Columns:
    ``product_title``, ``total_sold`` (sum of quantity), ``total_revenue`` (sum
    of quantity * price), ``orders_containing_product``, ``avg_selling_price``
    (DOUBLE). Sorted by revenue descending, then title; ``top=None`` keeps all.
    """
    if top is not None and top < 0:
        raise ValueError(f"top must not be negative, not {top}")
    window = _window(wh, orders, days, end)
    conditions = ["li.title IS NOT NULL"]
    params: dict[str, Any] = {}
    if window is None:
        conditions.append("false")  # no orders: same columns, no rows
    elif days is not None:
        conditions.append("CAST(o.created_at AS DATE) BETWEEN $first AND $last")
        params.update(first=window[0], last=window[1])
    else:
        conditions.append("CAST(o.created_at AS DATE) <= $last")
        params["last"] = window[1]
    limit = ""
    if top is not None:
        limit = "LIMIT $top"
        params["top"] = top
    sql = f"""
        SELECT li.title AS product_title,
               sum(li.quantity) AS total_sold,
               sum(li.quantity * li.price) AS total_revenue,
               count(DISTINCT o._tf_id) AS orders_containing_product,
               avg(CAST(li.price AS DOUBLE)) AS avg_selling_price
        FROM {_ident(line_items)} li JOIN {_ident(orders)} o ON li._tf_parent_id = o._tf_id
        WHERE {" AND ".join(conditions)}
        GROUP BY li.title
        ORDER BY total_revenue DESC NULLS LAST, product_title
        {limit}
    """
    result = wh.query(sql, params or None)
    sold = result.schema["total_sold"]
    if isinstance(sold, pl.Decimal) and sold.scale == 0:
        # DuckDB sums integers into HUGEINT, which arrives as Decimal(38, 0).
        result = result.with_columns(pl.col("total_sold").cast(pl.Int64))
    return result


def order_value_buckets(
    wh: Queryable,
    *,
    edges: Sequence[float] = (0, 50, 100, 200),
    labels: Sequence[str] = ("Low", "Medium", "High", "Premium"),
    orders: str = "orders",
) -> pl.DataFrame:
    """Orders per order-value bucket, like ``pandas.cut`` with right-closed bins.

    Bucket ``i`` holds totals in ``(edges[i], edges[i+1]]``, the last bucket
    everything above ``edges[-1]``; a total equal to ``edges[0]`` goes to the
    first bucket. Orders with a null total or one below ``edges[0]`` are left
    out, of the counts and of the ``share_of_orders`` denominator. Columns:
    ``bucket``, ``orders``, ``revenue`` (0 for an empty bucket),
    ``share_of_orders`` (DOUBLE, null when no order is bucketed). Every label
    appears, in label order.
    """
    if len(edges) != len(labels) or not labels:
        raise ValueError("edges and labels need the same, non-zero length (one lower edge per label)")
    if any(a >= b for a, b in itertools.pairwise(edges)):
        raise ValueError(f"edges must increase strictly, got {list(edges)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be unique, got {list(labels)}")
    params: dict[str, Any] = {f"edge{i}": edge for i, edge in enumerate(edges)}
    params.update({f"label{i}": label for i, label in enumerate(labels)})
    whens = " ".join(f"WHEN total_price <= $edge{i} THEN {i - 1}" for i in range(1, len(edges)))
    position = f"CASE {whens} ELSE {len(edges) - 1} END" if whens else "0"
    buckets = ", ".join(f"($label{i}, {i})" for i in range(len(labels)))
    sql = f"""
        WITH bucketed AS (
            SELECT {position} AS position, total_price
            FROM {_ident(orders)} WHERE total_price >= $edge0
        ),
        buckets(bucket, position) AS (VALUES {buckets})
        SELECT b.bucket, count(o.position) AS orders,
               coalesce(sum(o.total_price), 0) AS revenue,
               CAST(count(o.position) AS DOUBLE)
                   / nullif(sum(count(o.position)) OVER (), 0) AS share_of_orders
        FROM buckets b LEFT JOIN bucketed o ON o.position = b.position
        GROUP BY b.bucket, b.position
        ORDER BY b.position
    """
    return wh.query(sql, params)


def cohort_retention(wh: Queryable, *, orders: str = "orders") -> pl.DataFrame:
    """Customers by the month of their first order; for each month since, how many ordered (long form)."""
    sql = f"""
    WITH o AS (
        SELECT customer__id AS c, CAST(date_trunc('month', CAST(created_at AS DATE)) AS DATE) AS m
        FROM {_ident(orders)} WHERE customer__id IS NOT NULL AND created_at IS NOT NULL
    ),
    f AS (SELECT c, min(m) AS first FROM o GROUP BY c),
    a AS (SELECT DISTINCT o.c, f.first, datediff('month', f.first, o.m) AS k FROM o JOIN f USING (c)),
    sizes AS (SELECT first, count(*) AS n FROM f GROUP BY first),
    grid AS (
        SELECT first, n, unnest(range(0, datediff('month', first, (SELECT max(m) FROM o)) + 1)) AS k
        FROM sizes
    )
    SELECT g.first AS cohort_month, CAST(g.k AS INTEGER) AS months_since_first, g.n AS cohort_size,
           count(a.c) AS customers, count(a.c) / g.n AS retention
    FROM grid g LEFT JOIN a ON a.first = g.first AND a.k = g.k
    GROUP BY g.first, g.k, g.n ORDER BY cohort_month, months_since_first
"""
    return wh.query(sql)


def rfm(wh: Queryable, *, orders: str = "orders") -> pl.DataFrame:
    """RFM scores ``ceil(5 * k / n)`` (k = customers at or below the value) and the R×F segment names."""
    sql = f"""
    WITH per AS (
        SELECT customer__id AS customer, max(CAST(created_at AS DATE)) AS last_day, count(*) AS frequency,
               coalesce(sum(total_price), 0) AS monetary
        FROM {_ident(orders)} WHERE customer__id IS NOT NULL AND created_at IS NOT NULL GROUP BY 1
    ),
    r AS (
        SELECT *, datediff('day', last_day, (SELECT max(last_day) + 1 FROM per)) AS recency_days,
               count(*) OVER () AS n
        FROM per
    ),
    scored AS (
        SELECT customer, recency_days, frequency, monetary,
               CAST((5 * count(*) OVER (ORDER BY recency_days DESC
                    RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) + n - 1) // n AS INTEGER) AS r_score,
               CAST((5 * count(*) OVER (ORDER BY frequency
                    RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) + n - 1) // n AS INTEGER) AS f_score,
               CAST((5 * count(*) OVER (ORDER BY monetary
                    RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) + n - 1) // n AS INTEGER) AS m_score
        FROM r
    )
    SELECT *, concat(r_score, f_score, m_score) AS rfm,
           CASE
               WHEN r_score >= 4 AND f_score >= 4 THEN 'Champions'
               WHEN r_score = 3 AND f_score >= 4 THEN 'Loyal Customers'
               WHEN r_score <= 2 AND f_score = 5 THEN 'Can''t Lose Them'
               WHEN r_score <= 2 AND f_score >= 3 THEN 'At Risk'
               WHEN r_score >= 4 AND f_score >= 2 THEN 'Potential Loyalists'
               WHEN r_score = 3 AND f_score = 3 THEN 'Need Attention'
               WHEN r_score = 5 THEN 'New Customers'
               WHEN r_score = 4 THEN 'Promising'
               WHEN r_score = 3 THEN 'About to Sleep'
               ELSE 'Hibernating'
           END AS segment
    FROM scored ORDER BY customer
"""
    return wh.query(sql)


def customer_lifetime_value(wh: Queryable, *, orders: str = "orders") -> pl.DataFrame:
    """Historical value and average order value × orders per tenure day × 365."""
    sql = f"""
    WITH per AS (
        SELECT customer__id AS customer, count(*) AS orders, min(CAST(created_at AS DATE)) AS first_order,
               max(CAST(created_at AS DATE)) AS last_order, coalesce(sum(total_price), 0) AS historical_value,
               avg(CAST(total_price AS DOUBLE)) AS average_order_value
        FROM {_ident(orders)} WHERE customer__id IS NOT NULL AND created_at IS NOT NULL GROUP BY 1
    )
    SELECT *, greatest(datediff('day', first_order, (SELECT max(last_order) + 1 FROM per)), 1) AS tenure_days,
           average_order_value * orders / greatest(datediff('day', first_order,
               (SELECT max(last_order) + 1 FROM per)), 1) * 365 AS predicted_value
    FROM per ORDER BY historical_value DESC, customer
"""
    return wh.query(sql)
