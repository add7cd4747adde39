//! One small business seen from every SaaS it uses: the same customers (by
//! email) in the store, the payment processors, the CRM, the help desk, the
//! newsletter and the books, with orders, charges, invoices, deals, tickets
//! and campaigns that agree with each other except for a few known
//! mismatches. Everything is computed from (seed, index) on demand; the
//! expected answers that tests compare against come from the same functions.
//!
//! Every resource's `created` time grows with its index, so "newest first"
//! and "oldest first" lists are index ranges.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::demo::data::{mix, LineItem, Shop, SPAN_SECS, START};

/// Days of data, from [`START`].
pub const DAYS: i64 = SPAN_SECS / 86_400;
pub const DAY: i64 = 86_400;

/// The store's records that every store vendor (Shopify, WooCommerce)
/// serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreRecords {
    Orders,
    Customers,
    Products,
}

/// How big the estate is; everything else scales from these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub customers: u64,
    pub orders: u64,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            customers: 400,
            orders: 2_000,
        }
    }
}

/// How an order was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gateway {
    Stripe,
    Paypal,
    /// Payment still pending: no charge anywhere yet.
    Unpaid,
}

/// A known disagreement between the store and Stripe for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mismatch {
    /// The store has a paid order; Stripe has no charge for it.
    MissingCharge,
    /// Stripe charged a different amount than the order's total.
    AmountDiffers,
    /// The store says paid; Stripe refunded half of the charge.
    RefundedInStripe,
}

/// A Stripe charge for one store order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub order: u64,
    pub amount: i64,
    pub amount_refunded: i64,
    /// When the refund was made, if any.
    pub refunded_at: Option<i64>,
}

/// A B2B invoice, in the books (QuickBooks, Xero) and in Stripe Invoicing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub index: u64,
    pub customer: u64,
    pub created: i64,
    pub due: i64,
    /// (product, quantity, unit cents)
    pub lines: Vec<(usize, i64, i64)>,
    pub total: i64,
    /// When it was paid in full; unpaid invoices are open.
    pub paid_at: Option<i64>,
}

/// The whole estate's data for one seed and size.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub sizes: Sizes,
    pub shop: Shop,
    refunds: Arc<OnceLock<Vec<(i64, u64)>>>,
    ga: Arc<OnceLock<GaTable>>,
}

pub const COMPANY_WORDS: &[&str] = &[
    "Acme",
    "Bluebird",
    "Cobalt",
    "Driftwood",
    "Evergreen",
    "Foxglove",
    "Granite",
    "Hollow Oak",
    "Ironbark",
    "Juniper",
    "Kestrel",
    "Larch",
];
pub const COMPANY_KINDS: &[&str] = &["Outfitters", "Trading", "Supply", "Boutique", "Collective"];
pub const TICKET_SUBJECTS: &[&str] = &[
    "Where is my order?",
    "Wrong size delivered",
    "Refund request",
    "Discount code not working",
    "Change shipping address",
    "Item arrived damaged",
    "Question about materials",
    "Wholesale pricing",
];
/// The help desk's agents (name, email), before the end users in id order.
pub const AGENTS: &[(&str, &str)] = &[
    ("Robin Agent", "robin@tillflow-demo.example.com"),
    ("Sam Agent", "sam@tillflow-demo.example.com"),
    ("Kai Agent", "kai@tillflow-demo.example.com"),
];
pub const CHANNELS: &[&str] = &[
    "Organic Search",
    "Paid Search",
    "Direct",
    "Email",
    "Referral",
    "Organic Social",
];

impl World {
    pub fn new(seed: u64, sizes: Sizes) -> Self {
        let sizes = Sizes {
            customers: sizes.customers.max(1),
            orders: sizes.orders.max(1),
        };
        let mut shop = Shop::new(sizes.orders, seed);
        shop.customers = sizes.customers;
        World {
            seed,
            sizes,
            shop,
            refunds: Default::default(),
            ga: Default::default(),
        }
    }

    fn h(&self, stream: u64, i: u64) -> u64 {
        mix(self.seed, 1000 + stream, i)
    }

    // ---- customers -------------------------------------------------------

    pub fn customers(&self) -> u64 {
        self.sizes.customers
    }

    pub fn email(&self, c: u64) -> String {
        self.shop.customer_email(c)
    }

    pub fn name(&self, c: u64) -> (&'static str, &'static str) {
        self.shop.customer_name(c)
    }

    /// How many records of `kind` the store holds.
    pub fn store_len(&self, kind: StoreRecords) -> u64 {
        match kind {
            StoreRecords::Orders => self.orders(),
            StoreRecords::Customers => self.customers(),
            StoreRecords::Products => self.shop.products() as u64,
        }
    }

    /// `(created, updated)` of the store's record `i` of `kind`.
    pub fn store_times(&self, kind: StoreRecords, i: u64) -> (i64, i64) {
        match kind {
            StoreRecords::Orders => (self.order_created(i), self.order_updated(i)),
            StoreRecords::Customers => (self.customer_created(i), self.customer_updated(i)),
            StoreRecords::Products => product_times(i),
        }
    }

    /// Sign-up time: in the 30 days before the first order, growing with `c`.
    pub fn customer_created(&self, c: u64) -> i64 {
        spread(
            START - 30 * DAY,
            30 * DAY,
            c,
            self.customers(),
            self.h(1, c),
        )
    }

    /// Last change to the customer's record: somewhere in the half-year.
    pub fn customer_updated(&self, c: u64) -> i64 {
        START + (self.h(2, c) % SPAN_SECS as u64) as i64
    }

    pub fn phone(&self, c: u64) -> String {
        format!("+1-555-{:04}", self.h(3, c) % 10_000)
    }

    pub fn companies(&self) -> u64 {
        (self.customers() / 10).max(1)
    }

    pub fn company_name(&self, k: u64) -> String {
        let w = COMPANY_WORDS[(k % COMPANY_WORDS.len() as u64) as usize];
        let kind =
            COMPANY_KINDS[(k / COMPANY_WORDS.len() as u64 % COMPANY_KINDS.len() as u64) as usize];
        let round = k / (COMPANY_WORDS.len() * COMPANY_KINDS.len()) as u64;
        if round == 0 {
            format!("{w} {kind}")
        } else {
            format!("{w} {kind} {}", round + 1)
        }
    }

    pub fn company_of(&self, c: u64) -> u64 {
        c % self.companies()
    }

    /// Newsletter status: "subscribed" (80%), "unsubscribed" or "cleaned".
    pub fn newsletter_status(&self, c: u64) -> &'static str {
        match self.h(4, c) % 20 {
            0..=2 => "unsubscribed",
            3 => "cleaned",
            _ => "subscribed",
        }
    }

    // ---- store orders ----------------------------------------------------

    pub fn orders(&self) -> u64 {
        self.sizes.orders
    }

    pub fn order_total(&self, i: u64) -> i64 {
        total(&self.shop.line_items(i))
    }

    pub fn order_created(&self, i: u64) -> i64 {
        self.shop.created_at(i)
    }

    pub fn order_updated(&self, i: u64) -> i64 {
        self.shop.updated_at(i)
    }

    /// "paid", "pending" or "refunded".
    pub fn order_status(&self, i: u64) -> &'static str {
        self.shop.financial_status(i)
    }

    /// The payer's real email: the customer's, or the guest's own (without
    /// the typo the store may have kept, see [`Shop::order_email`]).
    pub fn payer_email(&self, i: u64) -> String {
        match self.shop.customer_of(i) {
            Some(c) => self.email(c),
            None => format!("guest{}@example.net", 1001 + i),
        }
    }

    pub fn gateway(&self, i: u64) -> Gateway {
        if self.order_status(i) == "pending" {
            Gateway::Unpaid
        } else if self.h(5, i).is_multiple_of(10) {
            Gateway::Paypal
        } else {
            Gateway::Stripe
        }
    }

    /// Store revenue of an order: its total when paid, nothing when pending
    /// or refunded.
    pub fn store_revenue(&self, i: u64) -> i64 {
        if self.order_status(i) == "paid" {
            self.order_total(i)
        } else {
            0
        }
    }

    pub fn mismatch(&self, i: u64) -> Option<Mismatch> {
        if self.gateway(i) != Gateway::Stripe || self.order_status(i) != "paid" {
            return None;
        }
        match self.h(6, i) % 100 {
            0 | 1 => Some(Mismatch::MissingCharge),
            2 | 3 => Some(Mismatch::AmountDiffers),
            4 => Some(Mismatch::RefundedInStripe),
            _ => None,
        }
    }

    /// Stripe's charge for order `i`, if it has one.
    pub fn charge(&self, i: u64) -> Option<Charge> {
        if i >= self.orders() || self.gateway(i) != Gateway::Stripe {
            return None;
        }
        let total = self.order_total(i);
        let created = self.order_created(i);
        let refund_time = created + DAY + (self.h(7, i) % (6 * DAY as u64)) as i64;
        let (amount, amount_refunded, refunded_at) = match self.mismatch(i) {
            Some(Mismatch::MissingCharge) => return None,
            Some(Mismatch::AmountDiffers) => {
                let delta = 100 + (self.h(8, i) % 900) as i64;
                (
                    if total > delta * 2 {
                        total - delta
                    } else {
                        total + delta
                    },
                    0,
                    None,
                )
            }
            Some(Mismatch::RefundedInStripe) => (total, total / 2, Some(refund_time)),
            None if self.order_status(i) == "refunded" => (total, total, Some(refund_time)),
            None => (total, 0, None),
        };
        Some(Charge {
            order: i,
            amount,
            amount_refunded,
            refunded_at,
        })
    }

    /// Refunds as (created, order), oldest first.
    pub fn refunds(&self) -> &[(i64, u64)] {
        self.refunds.get_or_init(|| {
            let mut v: Vec<(i64, u64)> = (0..self.orders())
                .filter_map(|i| self.charge(i).and_then(|c| c.refunded_at.map(|t| (t, i))))
                .collect();
            v.sort_unstable();
            v
        })
    }

    /// About one Stripe charge in 150 is disputed by the card holder (won or
    /// still open: disputes take no money in the estate).
    pub fn disputed(&self, i: u64) -> bool {
        self.mismatch(i).is_none()
            && self.order_status(i) == "paid"
            && self.charge(i).is_some()
            && self.h(41, i).is_multiple_of(150)
    }

    /// The PayPal capture for order `i`: (amount, refunded).
    pub fn paypal_payment(&self, i: u64) -> Option<(i64, bool)> {
        if i >= self.orders() || self.gateway(i) != Gateway::Paypal {
            return None;
        }
        Some((self.order_total(i), self.order_status(i) == "refunded"))
    }

    /// Every PayPal capture (order, `false`), and a refund (order, `true`)
    /// a few days later for refunded orders: (time, order, is_refund),
    /// oldest first.
    pub fn paypal_events(&self) -> Vec<(i64, u64, bool)> {
        let mut v = Vec::new();
        for i in 0..self.orders() {
            if let Some((_, refunded)) = self.paypal_payment(i) {
                let t = self.order_created(i);
                v.push((t, i, false));
                if refunded {
                    v.push((t + 2 * DAY + (i % 3) as i64 * DAY, i, true));
                }
            }
        }
        v.sort_unstable();
        v
    }

    /// Stripe pays out weekly over the half-year.
    pub fn payout_weeks(&self) -> u64 {
        (SPAN_SECS / (7 * DAY)) as u64 + 1
    }

    /// GA4 channel the order came through.
    pub fn channel(&self, i: u64) -> usize {
        let h = self.h(9, i) % 100;
        match h {
            0..=34 => 0,
            35..=54 => 1,
            55..=74 => 2,
            75..=86 => 3,
            87..=93 => 4,
            _ => 5,
        }
    }

    // ---- B2B invoices ------------------------------------------------------

    pub fn invoices(&self) -> u64 {
        (self.customers() / 2).max(1)
    }

    /// The positions of the invoices that were paid, in order.
    pub fn paid_invoices(&self) -> Vec<u64> {
        (0..self.invoices())
            .filter(|&k| self.invoice(k).paid_at.is_some())
            .collect()
    }

    pub fn invoice(&self, k: u64) -> Invoice {
        let created = spread(START, SPAN_SECS, k, self.invoices(), self.h(10, k));
        let n = 1 + self.h(11, k) % 3;
        let lines: Vec<(usize, i64, i64)> = (0..n)
            .map(|j| {
                let h = self.h(12, k * 4 + j);
                let p = (h % self.shop.products() as u64) as usize;
                // Wholesale: 40% off the shop's price, in tens.
                let unit = self.shop.product(p).3 * 6 / 10;
                (p, 10 * (1 + (h >> 16) as i64 % 5), unit)
            })
            .collect();
        let total = lines.iter().map(|(_, q, u)| q * u).sum();
        let paid_at = (!self.h(13, k).is_multiple_of(4))
            .then(|| created + DAY + (self.h(14, k) % (25 * DAY as u64)) as i64);
        Invoice {
            index: k,
            customer: self.h(15, k) % self.customers(),
            created,
            due: created + 30 * DAY,
            lines,
            total,
            paid_at,
        }
    }

    /// Last change to an invoice: its payment, or its creation.
    pub fn invoice_updated(&self, k: u64) -> i64 {
        let inv = self.invoice(k);
        inv.paid_at.unwrap_or(inv.created)
    }

    // ---- CRM deals ---------------------------------------------------------

    pub fn deals(&self) -> u64 {
        (self.customers() * 3 / 4).max(1)
    }

    pub fn deal_created(&self, d: u64) -> i64 {
        spread(START, SPAN_SECS, d, self.deals(), self.h(16, d))
    }

    pub fn deal_updated(&self, d: u64) -> i64 {
        self.deal_created(d) + (self.h(17, d) % (20 * DAY as u64)) as i64
    }

    pub fn deal_amount(&self, d: u64) -> i64 {
        (5 + self.h(18, d) % 96) as i64 * 10_000
    }

    /// "closedwon" (half), "closedlost", "contractsent" or "appointmentscheduled".
    pub fn deal_stage(&self, d: u64) -> &'static str {
        [
            "closedwon",
            "closedwon",
            "closedlost",
            "contractsent",
            "appointmentscheduled",
            "closedwon",
        ][(self.h(19, d) % 6) as usize]
    }

    /// The contacts on a deal: one, or two for every fifth deal.
    pub fn deal_contacts(&self, d: u64) -> Vec<u64> {
        let first = self.h(20, d) % self.customers();
        let mut v = vec![first];
        if d % 5 == 4 && self.customers() > 1 {
            v.push((first + 1 + self.h(21, d) % (self.customers() - 1)) % self.customers());
        }
        v
    }

    // ---- help desk -----------------------------------------------------------

    pub fn tickets(&self) -> u64 {
        self.customers()
    }

    pub fn ticket_requester(&self, t: u64) -> u64 {
        self.h(22, t) % self.customers()
    }

    pub fn ticket_created(&self, t: u64) -> i64 {
        spread(START, SPAN_SECS, t, self.tickets(), self.h(23, t))
    }

    pub fn ticket_updated(&self, t: u64) -> i64 {
        let comments = self.ticket_comments(t);
        self.comment_created(t, comments - 1)
    }

    pub fn ticket_subject(&self, t: u64) -> &'static str {
        TICKET_SUBJECTS[(self.h(24, t) % TICKET_SUBJECTS.len() as u64) as usize]
    }

    /// "new", "open", "pending", "solved" or "closed".
    pub fn ticket_status(&self, t: u64) -> &'static str {
        [
            "solved", "closed", "open", "pending", "solved", "new", "closed", "solved",
        ][(self.h(25, t) % 8) as usize]
    }

    /// Comments on a ticket: 1 to 4, the first by the requester, then
    /// alternating agent and requester.
    pub fn ticket_comments(&self, t: u64) -> u64 {
        1 + self.h(26, t) % 4
    }

    pub fn comment_created(&self, t: u64, k: u64) -> i64 {
        self.ticket_created(t) + k as i64 * (3600 + (self.h(27, t * 8 + k) % 20_000) as i64)
    }

    pub fn total_comments(&self) -> u64 {
        (0..self.tickets()).map(|t| self.ticket_comments(t)).sum()
    }

    // ---- newsletter ----------------------------------------------------------

    /// One campaign every two weeks of the half-year.
    pub fn campaigns(&self) -> u64 {
        (DAYS / 14) as u64
    }

    pub fn campaign_sent(&self, k: u64) -> i64 {
        START + k as i64 * 14 * DAY + 9 * 3600 + 14 * DAY / 2
    }

    pub fn subscribed(&self) -> u64 {
        (0..self.customers())
            .filter(|&c| self.newsletter_status(c) == "subscribed")
            .count() as u64
    }

    // ---- point of sale (Square) ------------------------------------------------

    /// In-person sales, a quarter as many as online orders.
    pub fn pos_sales(&self) -> u64 {
        (self.orders() / 4).max(1)
    }

    pub fn pos_created(&self, s: u64) -> i64 {
        spread(START, SPAN_SECS, s, self.pos_sales(), self.h(28, s))
    }

    pub fn pos_customer(&self, s: u64) -> u64 {
        self.h(29, s) % self.customers()
    }

    pub fn pos_lines(&self, s: u64) -> Vec<(usize, i64, i64)> {
        let n = 1 + self.h(30, s) % 2;
        (0..n)
            .map(|j| {
                let h = self.h(31, s * 2 + j);
                let p = (h % self.shop.products() as u64) as usize;
                (p, 1 + (h >> 20) as i64 % 2, self.shop.product(p).3 - 5)
            })
            .collect()
    }

    pub fn pos_total(&self, s: u64) -> i64 {
        self.pos_lines(s).iter().map(|(_, q, u)| q * u).sum()
    }

    // ---- web analytics -----------------------------------------------------

    /// GA4 cells: (day since START, channel) → (sessions, conversions,
    /// revenue cents). Conversions and revenue are the store's orders that
    /// day (UTC) through that channel, whatever their payment status.
    pub fn analytics(&self) -> &GaTable {
        self.ga.get_or_init(|| {
            let mut m = BTreeMap::new();
            for day in 0..DAYS {
                for ch in 0..CHANNELS.len() {
                    let base = [420, 260, 180, 90, 60, 120][ch];
                    let noise = self.h(40, day as u64 * 8 + ch as u64) % 60;
                    m.insert((day, ch), (base + noise as i64, 0, 0));
                }
            }
            for i in 0..self.orders() {
                let day = (self.order_created(i) - START).div_euclid(DAY);
                if let Some(v) = m.get_mut(&(day, self.channel(i))) {
                    v.1 += 1;
                    v.2 += self.order_total(i);
                }
            }
            m
        })
    }
}

pub type GaTable = BTreeMap<(i64, usize), (i64, i64, i64)>;

fn total(items: &[LineItem]) -> i64 {
    items.iter().map(|l| l.quantity * l.unit_cents).sum()
}

/// The `i`th of `n` times spread over `[from, from + span)`, strictly growing
/// with `i`, jittered inside its slot.
pub fn spread(from: i64, span: i64, i: u64, n: u64, h: u64) -> i64 {
    let n = n.max(1) as i128;
    let lo = from + (span as i128 * i as i128 / n) as i64;
    let hi = from + (span as i128 * (i as i128 + 1) / n) as i64;
    lo + (h % (hi - lo).max(1) as u64) as i64
}

/// `(created, updated)` of product `p`: listed two months before the
/// first order, each edited an hour after the one before.
pub fn product_times(p: u64) -> (i64, i64) {
    let listed = START - 60 * DAY;
    (listed, listed + p as i64 * 3600)
}
