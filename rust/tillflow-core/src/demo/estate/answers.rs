//! The answers a pipeline over the estate must find, computed from the same
//! generator the servers read: how many records each vendor serves, and the
//! store-versus-payments reconciliation per customer.

use std::collections::BTreeMap;

use serde::Serialize;

use super::data::{Mismatch, World};
use crate::demo::data::ORDER_ID_BASE;

/// One customer's money as each source sees it, in cents. Guests are keyed
/// by their own email.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CustomerRevenue {
    pub email: String,
    /// Paid store orders (refunded and pending ones count nothing).
    pub store_cents: i64,
    /// Stripe charges less their refunds.
    pub stripe_cents: i64,
    /// PayPal captures less refunds.
    pub paypal_cents: i64,
}

/// One order where the store and Stripe disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderMismatch {
    /// The store's order id (Shopify's `id`).
    pub order_id: i64,
    /// The order's name, `#1001` and up.
    pub order_name: String,
    pub email: String,
    pub kind: Mismatch,
    pub store_cents: i64,
    /// Stripe's net: the charge less refunds (0 when missing).
    pub stripe_cents: i64,
}

/// Store revenue per customer against Stripe and PayPal, and the orders
/// that explain every difference: for each customer,
/// `store - stripe - paypal == sum(store - stripe over their mismatches)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Sorted by email.
    pub customers: Vec<CustomerRevenue>,
    /// Sorted by order id.
    pub mismatches: Vec<OrderMismatch>,
    pub store_cents: i64,
    pub stripe_cents: i64,
    pub paypal_cents: i64,
}

pub fn reconciliation(w: &World) -> Reconciliation {
    let mut by_email: BTreeMap<String, CustomerRevenue> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for i in 0..w.orders() {
        let email = w.payer_email(i);
        let row = by_email
            .entry(email.clone())
            .or_insert_with(|| CustomerRevenue {
                email: email.clone(),
                ..Default::default()
            });
        let store = w.store_revenue(i);
        row.store_cents += store;
        let stripe = w.charge(i).map_or(0, |c| c.amount - c.amount_refunded);
        row.stripe_cents += stripe;
        if let Some((amount, refunded)) = w.paypal_payment(i) {
            row.paypal_cents += if refunded { 0 } else { amount };
        }
        if let Some(kind) = w.mismatch(i) {
            mismatches.push(OrderMismatch {
                order_id: ORDER_ID_BASE + i as i64,
                order_name: format!("#{}", 1001 + i),
                email,
                kind,
                store_cents: store,
                stripe_cents: stripe,
            });
        }
    }
    let customers: Vec<CustomerRevenue> = by_email.into_values().collect();
    Reconciliation {
        store_cents: customers.iter().map(|c| c.store_cents).sum(),
        stripe_cents: customers.iter().map(|c| c.stripe_cents).sum(),
        paypal_cents: customers.iter().map(|c| c.paypal_cents).sum(),
        customers,
        mismatches,
    }
}

/// How many records each vendor's resource holds, keyed `vendor.resource`.
pub fn counts(w: &World) -> BTreeMap<String, u64> {
    let charges = (0..w.orders()).filter(|&i| w.charge(i).is_some()).count() as u64;
    let paid_invoices = w.paid_invoices().len() as u64;
    let deal_contacts: u64 = (0..w.deals())
        .map(|d| w.deal_contacts(d).len() as u64)
        .sum();
    let ga_rows = w.analytics().len() as u64;
    let weeks = w.payout_weeks();
    let pairs: &[(&str, u64)] = &[
        ("store.customers", w.customers()),
        ("store.orders", w.orders()),
        ("store.products", w.shop.products() as u64),
        ("stripe.customers", w.customers()),
        ("stripe.charges", charges),
        ("stripe.payment_intents", charges),
        ("stripe.refunds", w.refunds().len() as u64),
        ("stripe.payouts", weeks),
        ("stripe.invoices", w.invoices()),
        (
            "stripe.balance_transactions",
            charges + w.refunds().len() as u64 + weeks,
        ),
        (
            "stripe.disputes",
            (0..w.orders()).filter(|&i| w.disputed(i)).count() as u64,
        ),
        ("paypal.transactions", w.paypal_events().len() as u64),
        ("square.customers", w.customers()),
        ("square.payments", w.pos_sales()),
        ("square.orders", w.pos_sales()),
        ("hubspot.contacts", w.customers()),
        ("hubspot.companies", w.companies()),
        ("hubspot.deals", w.deals()),
        ("hubspot.owners", super::data::AGENTS.len() as u64),
        ("hubspot.deal_contact_associations", deal_contacts),
        ("zendesk.tickets", w.tickets()),
        (
            "zendesk.users",
            w.customers() + super::data::AGENTS.len() as u64,
        ),
        ("zendesk.ticket_comments", w.total_comments()),
        ("mailchimp.lists", 1),
        ("mailchimp.members", w.customers()),
        ("mailchimp.campaigns", w.campaigns()),
        ("quickbooks.customers", w.customers()),
        ("quickbooks.invoices", w.invoices()),
        ("quickbooks.payments", paid_invoices),
        ("quickbooks.items", w.shop.products() as u64),
        ("xero.contacts", w.customers()),
        ("xero.invoices", w.invoices()),
        ("xero.payments", paid_invoices),
        ("ga4.rows", ga_rows),
    ];
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
