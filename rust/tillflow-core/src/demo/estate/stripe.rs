//! Stripe, as documented at:
//! - https://docs.stripe.com/api/pagination (list shape, `limit` 1–100,
//!   default 10, `starting_after`/`ending_before`, newest first, `has_more`)
//! - https://docs.stripe.com/api/errors (error object, status codes)
//! - https://docs.stripe.com/rate-limits (test mode: 25 operations per second)
//! - https://docs.stripe.com/api/authentication (secret key as Bearer token
//!   or as the Basic auth user name)
//!
//! Routes: `GET /v1/{customers,charges,payment_intents,refunds,payouts,invoices,
//! balance_transactions,disputes}`
//! with `created[gt|gte|lt|lte]` filters, and `GET /v1/<resource>/<id>`.
//! The key is a test-mode key (`sk_test_…`), so the test-mode rate applies.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};

use super::common::{basic, bearer, id, index_of, json as reply_json};
use super::data::{World, DAY};
use super::limits::LeakyBucket;
use super::{Counters, Ctx, Vendor};
use crate::demo::data::{ORDER_ID_BASE, START};
use crate::http_server::{Reply, Request};

pub const SECRET_KEY: &str = "sk_test_51TillflowDemo0000000000000000000000";
/// Test mode's basic limiter: 25 operations a second, as a bucket of 25
/// refilling 25 a second (the token bucket Stripe describes for its rate
/// limiter), so a client pacing itself at 25 a second is never refused.
pub const REQUESTS_PER_SECOND: u64 = 25;
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

pub struct Stripe {
    ctx: Arc<Ctx>,
    limiter: LeakyBucket,
    /// Balance transactions as (created, code), oldest first; the code is
    /// the transaction id's number (see [`txn_code`]).
    txns: OnceLock<Vec<(i64, u64)>>,
}

/// Balance transaction ids: charges keep their order index, refunds and
/// payouts sit in their own ranges.
const TXN_REFUND: u64 = 2_000_000_000;
const TXN_PAYOUT: u64 = 3_000_000_000;

/// Stripe's standard card fee: 2.9% + 30¢.
pub fn card_fee(amount: i64) -> i64 {
    (amount * 29 + 500) / 1000 + 30
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Customers,
    Charges,
    PaymentIntents,
    Refunds,
    Payouts,
    Invoices,
    BalanceTransactions,
    Disputes,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "customers" => Kind::Customers,
            "charges" => Kind::Charges,
            "payment_intents" => Kind::PaymentIntents,
            "refunds" => Kind::Refunds,
            "payouts" => Kind::Payouts,
            "invoices" => Kind::Invoices,
            "balance_transactions" => Kind::BalanceTransactions,
            "disputes" => Kind::Disputes,
            _ => return None,
        })
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Customers => "cus_",
            Kind::Charges => "ch_",
            Kind::PaymentIntents => "pi_",
            Kind::Refunds => "re_",
            Kind::Payouts => "po_",
            Kind::Invoices => "in_",
            Kind::BalanceTransactions => "txn_",
            Kind::Disputes => "dp_",
        }
    }

    fn object(self) -> &'static str {
        match self {
            Kind::Customers => "customer",
            Kind::Charges => "charge",
            Kind::PaymentIntents => "payment_intent",
            Kind::Refunds => "refund",
            Kind::Payouts => "payout",
            Kind::Invoices => "invoice",
            Kind::BalanceTransactions => "balance_transaction",
            Kind::Disputes => "dispute",
        }
    }
}

impl Stripe {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let limiter = LeakyBucket::new(
            REQUESTS_PER_SECOND as f64,
            REQUESTS_PER_SECOND as f64,
            ctx.config.limits,
        );
        Stripe {
            ctx,
            limiter,
            txns: OnceLock::new(),
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    /// Positions in a resource's list, oldest first: order index for
    /// charges and payment intents, place in the sorted refunds for refunds.
    fn len(&self, kind: Kind) -> u64 {
        let w = self.w();
        match kind {
            Kind::Customers => w.customers(),
            Kind::Charges | Kind::PaymentIntents => w.orders(),
            Kind::Refunds => w.refunds().len() as u64,
            Kind::Payouts => w.payout_weeks(),
            Kind::Invoices => w.invoices(),
            Kind::BalanceTransactions => self.txns().len() as u64,
            Kind::Disputes => w.orders(),
        }
    }

    fn txns(&self) -> &[(i64, u64)] {
        self.txns.get_or_init(|| {
            let w = self.w();
            let mut v: Vec<(i64, u64)> = (0..w.orders())
                .filter(|&i| w.charge(i).is_some())
                .map(|i| (w.order_created(i), i))
                .collect();
            v.extend(w.refunds().iter().map(|&(t, i)| (t, TXN_REFUND + i)));
            v.extend(
                (0..w.payout_weeks()).map(|k| (self.created(Kind::Payouts, k), TXN_PAYOUT + k)),
            );
            v.sort_unstable();
            v
        })
    }

    fn exists(&self, kind: Kind, p: u64) -> bool {
        match kind {
            Kind::Charges | Kind::PaymentIntents => self.w().charge(p).is_some(),
            Kind::Disputes => self.w().disputed(p),
            _ => p < self.len(kind),
        }
    }

    fn created(&self, kind: Kind, p: u64) -> i64 {
        let w = self.w();
        match kind {
            Kind::Customers => w.customer_created(p),
            Kind::Charges | Kind::PaymentIntents => w.order_created(p),
            Kind::Refunds => w.refunds()[p as usize].0,
            Kind::Payouts => START + (p as i64 + 1) * 7 * DAY,
            Kind::Invoices => w.invoice(p).created,
            Kind::BalanceTransactions => self.txns()[p as usize].0,
            Kind::Disputes => w.order_created(p) + 10 * DAY,
        }
    }

    fn position(&self, kind: Kind, object_id: &str) -> Option<u64> {
        let n = index_of(kind.prefix(), object_id)?;
        let p = match kind {
            Kind::Refunds => self.w().refunds().iter().position(|r| r.1 == n)? as u64,
            Kind::BalanceTransactions => self.txns().iter().position(|t| t.1 == n)? as u64,
            _ => n,
        };
        self.exists(kind, p).then_some(p)
    }

    /// First position created at or after `t`.
    fn first_at_or_after(&self, kind: Kind, t: i64) -> u64 {
        let (mut lo, mut hi) = (0, self.len(kind));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.created(kind, mid) < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn object(&self, kind: Kind, p: u64) -> Value {
        let w = self.w();
        let created = self.created(kind, p);
        match kind {
            Kind::Customers => {
                let (first, last) = w.name(p);
                let (city, country) = w.shop.customer_city(p);
                json!({
                    "id": id("cus_", p), "object": "customer", "created": created,
                    "email": w.email(p), "name": format!("{first} {last}"), "phone": w.phone(p),
                    "address": {"city": city, "country": country, "line1": null, "line2": null,
                                "postal_code": null, "state": null},
                    "balance": 0, "currency": "usd", "delinquent": false, "description": null,
                    "livemode": false, "metadata": {}
                })
            }
            Kind::Charges => {
                let c = w.charge(p).unwrap_or(super::data::Charge {
                    order: p,
                    amount: 0,
                    amount_refunded: 0,
                    refunded_at: None,
                });
                let customer = w.shop.customer_of(p).map(|c| id("cus_", c));
                json!({
                    "id": id("ch_", p), "object": "charge", "amount": c.amount,
                    "amount_captured": c.amount, "amount_refunded": c.amount_refunded,
                    "balance_transaction": id("txn_", p),
                    "billing_details": {"email": w.payer_email(p), "name": null, "phone": null,
                                        "address": null},
                    "captured": true, "created": created, "currency": "usd", "customer": customer,
                    "description": format!("Order #{}", 1001 + p), "livemode": false,
                    "metadata": {"order_id": (ORDER_ID_BASE + p as i64).to_string(),
                                 "order_name": format!("#{}", 1001 + p)},
                    "paid": true, "payment_intent": id("pi_", p),
                    "receipt_email": w.payer_email(p),
                    "refunded": c.amount_refunded == c.amount, "status": "succeeded"
                })
            }
            Kind::PaymentIntents => {
                let c = w.charge(p).map_or(0, |c| c.amount);
                json!({
                    "id": id("pi_", p), "object": "payment_intent", "amount": c,
                    "amount_received": c, "created": created, "currency": "usd",
                    "customer": w.shop.customer_of(p).map(|c| id("cus_", c)),
                    "latest_charge": id("ch_", p), "livemode": false,
                    "metadata": {"order_id": (ORDER_ID_BASE + p as i64).to_string()},
                    "receipt_email": w.payer_email(p), "status": "succeeded"
                })
            }
            Kind::Refunds => {
                let order = w.refunds()[p as usize].1;
                let amount = w.charge(order).map_or(0, |c| c.amount_refunded);
                json!({
                    "id": id("re_", order), "object": "refund", "amount": amount,
                    "charge": id("ch_", order), "payment_intent": id("pi_", order),
                    "created": created, "currency": "usd", "metadata": {},
                    "reason": "requested_by_customer", "status": "succeeded"
                })
            }
            Kind::Payouts => json!({
                "id": id("po_", p), "object": "payout", "amount": self.payout_amount(p),
                "arrival_date": created + 2 * DAY, "automatic": true, "created": created,
                "currency": "usd", "livemode": false, "metadata": {}, "method": "standard",
                "status": "paid", "type": "bank_account"
            }),
            Kind::BalanceTransactions => {
                let code = self.txns()[p as usize].1;
                let (kind, amount, fee, source) = if code >= TXN_PAYOUT {
                    let k = code - TXN_PAYOUT;
                    ("payout", -self.payout_amount(k), 0, id("po_", k))
                } else if code >= TXN_REFUND {
                    let i = code - TXN_REFUND;
                    let refunded = w.charge(i).map_or(0, |c| c.amount_refunded);
                    ("refund", -refunded, 0, id("re_", i))
                } else {
                    let amount = w.charge(code).map_or(0, |c| c.amount);
                    ("charge", amount, card_fee(amount), id("ch_", code))
                };
                json!({
                    "id": id("txn_", code), "object": "balance_transaction", "amount": amount,
                    "available_on": created + 2 * DAY, "created": created, "currency": "usd",
                    "description": null, "fee": fee,
                    "fee_details": if fee > 0 {
                        json!([{"amount": fee, "currency": "usd", "description": "Stripe processing fees",
                                "type": "stripe_fee"}])
                    } else {
                        json!([])
                    },
                    "net": amount - fee, "reporting_category": kind, "source": source,
                    "status": "available", "type": kind
                })
            }
            Kind::Disputes => {
                let amount = w.charge(p).map_or(0, |c| c.amount);
                let status = ["won", "needs_response", "under_review"][(p % 3) as usize];
                json!({
                    "id": id("dp_", p), "object": "dispute", "amount": amount, "charge": id("ch_", p),
                    "payment_intent": id("pi_", p), "created": created, "currency": "usd",
                    "is_charge_refundable": false, "livemode": false, "metadata": {},
                    "reason": if p.is_multiple_of(2) { "fraudulent" } else { "product_not_received" },
                    "status": status,
                    "evidence_details": {"due_by": created + 7 * DAY, "has_evidence": status != "needs_response",
                                         "past_due": false, "submission_count": u8::from(status != "needs_response")}
                })
            }
            Kind::Invoices => {
                let inv = w.invoice(p);
                let paid = inv.paid_at.map_or(0, |_| inv.total);
                let (first, last) = w.name(inv.customer);
                json!({
                    "id": id("in_", p), "object": "invoice", "created": created,
                    "customer": id("cus_", inv.customer), "customer_email": w.email(inv.customer),
                    "customer_name": format!("{first} {last}"), "number": format!("TF-{:04}", p + 1),
                    "currency": "usd", "amount_due": inv.total, "amount_paid": paid,
                    "amount_remaining": inv.total - paid, "subtotal": inv.total, "total": inv.total,
                    "due_date": inv.due, "livemode": false, "metadata": {},
                    "paid": inv.paid_at.is_some(),
                    "status": if inv.paid_at.is_some() { "paid" } else { "open" },
                    "status_transitions": {"finalized_at": created, "paid_at": inv.paid_at}
                })
            }
        }
    }

    /// Charges made in payout week `p`, less refunds made that week.
    fn payout_amount(&self, p: u64) -> i64 {
        let w = self.w();
        let (from, to) = (START + p as i64 * 7 * DAY, START + (p as i64 + 1) * 7 * DAY);
        let (a, b) = (
            w.shop.first_created_at_or_after(from),
            w.shop.first_created_at_or_after(to),
        );
        let charged: i64 = (a..b).filter_map(|i| w.charge(i)).map(|c| c.amount).sum();
        let refunded: i64 = w
            .refunds()
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
            .filter_map(|(_, i)| w.charge(*i))
            .map(|c| c.amount_refunded)
            .sum();
        charged - refunded
    }

    fn list(&self, kind: Kind, name: &str, req: &Request) -> Reply {
        let limit = match req.param("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<i64>() {
                Err(_) => return invalid(format!("Invalid integer: {v}"), Some("limit")),
                Ok(n) if n < 1 => {
                    return invalid(
                        "This value must be greater than or equal to 1.".into(),
                        Some("limit"),
                    )
                }
                Ok(n) if n > MAX_LIMIT as i64 => {
                    return invalid(
                        "This value must be less than or equal to 100.".into(),
                        Some("limit"),
                    )
                }
                Ok(n) => n as usize,
            },
        };
        let (after, before) = (req.param("starting_after"), req.param("ending_before"));
        if after.is_some() && before.is_some() {
            return invalid(
                "Received both starting_after and ending_before parameters. Please pass in only one."
                    .into(),
                None,
            );
        }
        // Positions [lo, hi) pass the created filters.
        let (mut lo, mut hi) = (0, self.len(kind));
        for (op, v) in req.query.iter().filter_map(|(k, v)| {
            k.strip_prefix("created[")
                .and_then(|r| r.strip_suffix(']'))
                .map(|op| (op, v))
        }) {
            let Ok(t) = v.parse::<i64>() else {
                return invalid(
                    format!("Invalid integer: {v}"),
                    Some(&format!("created[{op}]")),
                );
            };
            match op {
                "gt" => lo = lo.max(self.first_at_or_after(kind, t + 1)),
                "gte" => lo = lo.max(self.first_at_or_after(kind, t)),
                "lt" => hi = hi.min(self.first_at_or_after(kind, t)),
                "lte" => hi = hi.min(self.first_at_or_after(kind, t + 1)),
                _ => {
                    return invalid(
                        format!("Received unknown parameter: created[{op}]"),
                        Some(&format!("created[{op}]")),
                    )
                }
            }
        }
        if let Some(v) = req.param("created") {
            let Ok(t) = v.parse::<i64>() else {
                return invalid(format!("Invalid integer: {v}"), Some("created"));
            };
            lo = lo.max(self.first_at_or_after(kind, t));
            hi = hi.min(self.first_at_or_after(kind, t + 1));
        }
        let cursor = after.or(before);
        let cursor_pos = match cursor {
            None => None,
            Some(c) => match self.position(kind, c) {
                Some(p) => Some(p),
                None => {
                    let param = if after.is_some() {
                        "starting_after"
                    } else {
                        "ending_before"
                    };
                    return reply_json(
                        400,
                        &error_body(
                            &format!("No such {}: '{c}'", kind.object()),
                            Some(param),
                            Some("resource_missing"),
                        ),
                    );
                }
            },
        };
        let mut page = Vec::new();
        let has_more;
        if before.is_some() {
            // The `limit` items just newer than the cursor, newest first.
            let mut p = cursor_pos.unwrap_or(0) + 1;
            p = p.max(lo);
            while p < hi && page.len() < limit {
                if self.exists(kind, p) {
                    page.push(p);
                }
                p += 1;
            }
            has_more = (p..hi).any(|q| self.exists(kind, q));
            page.reverse();
        } else {
            let mut p = cursor_pos.map_or(hi, |c| c.min(hi));
            while p > lo && page.len() < limit {
                p -= 1;
                if self.exists(kind, p) {
                    page.push(p);
                }
            }
            has_more = (lo..p).rev().any(|q| self.exists(kind, q));
        }
        let data: Vec<Value> = page.iter().map(|&p| self.object(kind, p)).collect();
        reply_json(
            200,
            &json!({"object": "list", "url": format!("/v1/{name}"), "has_more": has_more, "data": data}),
        )
    }
}

impl Vendor for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([("secret_key", SECRET_KEY.to_string())])
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        let reply = self.route(req);
        reply.with_header("request-id", format!("req_{:014}", self.ctx.clock.now_ms()))
    }
}

impl Stripe {
    fn route(&self, req: &Request) -> Reply {
        let key = bearer(req)
            .map(str::to_string)
            .or_else(|| basic(req).map(|(user, _)| user));
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return reply_json(
                401,
                &error_body(
                    "You did not provide an API key. You need to provide your API key in the \
                     Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
                     YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.",
                    None,
                    None,
                ),
            );
        };
        if key != SECRET_KEY {
            let tail: String = key
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let shown = if key.starts_with("sk_test_") {
                "sk_test_"
            } else {
                ""
            };
            return reply_json(
                401,
                &error_body(
                    &format!("Invalid API Key provided: {shown}****{tail}"),
                    None,
                    Some("api_key_invalid"),
                ),
            );
        }
        if self
            .limiter
            .take(&key, 1.0, self.ctx.clock.now_ms())
            .is_err()
        {
            return reply_json(
                429,
                &json!({"error": {
                    "message": "Request rate limit exceeded. Learn more about rate limits here \
                                https://stripe.com/docs/rate-limits.",
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "doc_url": "https://stripe.com/docs/error-codes/rate-limit"
                }}),
            );
        }
        let unknown = || {
            reply_json(
                404,
                &error_body(
                    &format!(
                        "Unrecognized request URL ({}: {}). Please see https://stripe.com/docs.",
                        req.method, req.path
                    ),
                    None,
                    None,
                ),
            )
        };
        let Some(rest) = req.path.strip_prefix("/v1/") else {
            return unknown();
        };
        if req.method != "GET" {
            return unknown();
        }
        let (name, object_id) = match rest.split_once('/') {
            Some((n, i)) => (n, Some(i)),
            None => (rest, None),
        };
        let Some(kind) = Kind::parse(name) else {
            return unknown();
        };
        match object_id {
            None => self.list(kind, name, req),
            Some(i) => match self.position(kind, i) {
                Some(p) => reply_json(200, &self.object(kind, p)),
                None => reply_json(
                    404,
                    &error_body(
                        &format!("No such {}: '{i}'", kind.object()),
                        Some("id"),
                        Some("resource_missing"),
                    ),
                ),
            },
        }
    }
}

fn error_body(message: &str, param: Option<&str>, code: Option<&str>) -> Value {
    let mut e = json!({"message": message, "type": "invalid_request_error"});
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    if let Some(c) = code {
        e["code"] = json!(c);
        e["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            c.replace('_', "-")
        ));
    }
    json!({ "error": e })
}

fn invalid(message: String, param: Option<&str>) -> Reply {
    reply_json(400, &error_body(&message, param, None))
}
