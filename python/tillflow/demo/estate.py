"""The demo SaaS estate loaded whole: every vendor preset pointed at its
demo server, into one warehouse (each vendor's tables prefixed with its
name), and the cross-source view a shop owner asks for first: does what
the store sold match what Stripe and PayPal paid out, customer by customer,
and which orders explain the difference.

The same presets read a real account when given its credentials instead of
the estate's; only the URL and the secrets change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = [
    "CROSS_SOURCE_SQL",
    "ESTATE_SIZE",
    "MISMATCH_SQL",
    "CrossSource",
    "cross_source",
    "estate_sources",
    "load_estate",
]

# The demo's business: small enough that every vendor's enforced limits
# (Shopify's query cost, Zendesk's and HubSpot's request budgets) still let
# the whole estate load in about a minute.
ESTATE_SIZE = {"customers": 100, "orders": 300}

# Earliest data the estate serves lies after this (PayPal and GA4 need a start).
ESTATE_START = "2023-01-01T00:00:00Z"


def estate_sources(estate: Any, token_dir: str | None = None) -> list[Any]:
    """Every preset as a source pointed at ``estate``'s server for it, its
    tables prefixed with the vendor's name (``stripe_charges``)."""
    from tillflow import sources as s

    def v(name: str) -> Any:
        return estate.vendor(name)

    def store(name: str) -> str | None:
        return f"{token_dir}/{name}.json" if token_dir else None

    c = {name: v(name).credentials for name in estate.vendors}
    ga4_key = json.loads(c["ga4"]["service_account_json"])
    built = [
        s.shopify_graphql(
            v("shopify").url, c["shopify"]["access_token"], api_version=c["shopify"]["api_version"]
        ),
        s.stripe(c["stripe"]["secret_key"], base_url=v("stripe").url),
        s.paypal(
            c["paypal"]["client_id"],
            c["paypal"]["client_secret"],
            start=ESTATE_START,
            base_url=v("paypal").url,
        ),
        s.square(c["square"]["access_token"], c["square"]["location_id"], base_url=v("square").url),
        s.woocommerce(
            v("woocommerce").url, c["woocommerce"]["consumer_key"], c["woocommerce"]["consumer_secret"]
        ),
        s.hubspot(c["hubspot"]["access_token"], base_url=v("hubspot").url),
        s.zendesk(
            c["zendesk"]["subdomain"],
            c["zendesk"]["email"],
            c["zendesk"]["api_token"],
            base_url=v("zendesk").url,
            requests_per_minute=700,  # the estate's account is on the Enterprise plan
        ),
        s.mailchimp(c["mailchimp"]["api_key"], base_url=v("mailchimp").url),
        s.quickbooks(
            c["quickbooks"]["client_id"],
            c["quickbooks"]["client_secret"],
            c["quickbooks"]["refresh_token"],
            c["quickbooks"]["realm_id"],
            base_url=v("quickbooks").url,
            token_url=v("quickbooks").token_url,
            token_store=store("quickbooks"),
        ),
        s.xero(
            c["xero"]["client_id"],
            c["xero"]["client_secret"],
            c["xero"]["refresh_token"],
            c["xero"]["tenant_id"],
            base_url=v("xero").url,
            token_url=v("xero").token_url,
            token_store=store("xero"),
        ),
        s.ga4(c["ga4"]["property_id"], ga4_key, base_url=v("ga4").url, start=ESTATE_START),
    ]
    return [source.with_table_prefix(f"{source.name}_") for source in built]


# Paid store orders against what the payment providers kept, per order: the
# Stripe charge (its metadata names the order) less refunds, and PayPal's
# captures less refunds (its invoice_id is the order number).
_PER_ORDER = """
WITH store AS (
    SELECT id AS order_id, name AS order_name,
           coalesce(customer__email, email) AS store_email,
           CASE WHEN displayFinancialStatus = 'PAID'
                THEN CAST(round(CAST(totalPriceSet__shopMoney__amount AS DECIMAL(18, 2)) * 100) AS BIGINT)
                ELSE 0 END AS store_cents
    FROM shopify_orders
), stripe AS (
    SELECT metadata__order_name AS order_name, any_value(receipt_email) AS email,
           sum(amount - amount_refunded)::BIGINT AS stripe_cents,
           bool_or(amount_refunded > 0) AS refunded
    FROM stripe_charges GROUP BY 1
), paypal AS (
    SELECT '#' || transaction_info__invoice_id AS order_name,
           any_value(payer_info__email_address) AS email,
           CAST(round(sum(CAST(transaction_info__transaction_amount__value AS DECIMAL(18, 2))) * 100)
                AS BIGINT) AS paypal_cents
    FROM paypal_transactions GROUP BY 1
)
SELECT store.order_id, store.order_name,
       coalesce(stripe.email, paypal.email, store.store_email) AS email,
       store.store_cents,
       coalesce(stripe.stripe_cents, 0) AS stripe_cents,
       coalesce(paypal.paypal_cents, 0) AS paypal_cents,
       stripe.order_name IS NOT NULL AS has_charge,
       paypal.order_name IS NOT NULL AS has_paypal,
       coalesce(stripe.refunded, false) AS refunded_in_stripe
FROM store
LEFT JOIN stripe USING (order_name)
LEFT JOIN paypal USING (order_name)
"""

CROSS_SOURCE_SQL = f"""
SELECT email, sum(store_cents)::BIGINT AS store_cents, sum(stripe_cents)::BIGINT AS stripe_cents,
       sum(paypal_cents)::BIGINT AS paypal_cents,
       (sum(store_cents) - sum(stripe_cents) - sum(paypal_cents))::BIGINT AS difference_cents
FROM ({_PER_ORDER})
GROUP BY email
ORDER BY email
"""

# Orders paid in the store whose Stripe side disagrees.
MISMATCH_SQL = f"""
SELECT order_id, order_name, email,
       CASE WHEN NOT has_charge THEN 'missing_charge'
            WHEN refunded_in_stripe THEN 'refunded_in_stripe'
            ELSE 'amount_differs' END AS kind,
       store_cents, stripe_cents
FROM ({_PER_ORDER})
WHERE store_cents > 0 AND NOT has_paypal AND (NOT has_charge OR stripe_cents <> store_cents)
ORDER BY order_id
"""


@dataclass(frozen=True)
class CrossSource:
    """Store revenue against payments: per customer, and the orders that
    explain each difference."""

    customers: pl.DataFrame
    mismatches: pl.DataFrame

    @property
    def totals(self) -> dict[str, int]:
        return {
            col: int(self.customers[col].sum())
            for col in ("store_cents", "stripe_cents", "paypal_cents", "difference_cents")
        }


def load_estate(
    estate: Any, wh: Warehouse, *, token_dir: str | None = None, progress: bool = False
) -> list[Any]:
    """Loads every preset from ``estate`` into ``wh``; the runs, in order."""
    import tillflow as tl

    runs = []
    for source in estate_sources(estate, token_dir):
        runs.append(tl.pipeline(f"estate_{source.name}", source, wh).run(progress=progress))
    return runs


def cross_source(wh: Warehouse) -> CrossSource:
    """The cross-source view over a warehouse the estate was loaded into."""
    return CrossSource(customers=wh.query(CROSS_SOURCE_SQL), mismatches=wh.query(MISMATCH_SQL))
