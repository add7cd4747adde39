//! The demo shop's catalogue, customers and orders: synthetic, but the same
//! on every run for the same seed, and computed on demand so a million
//! orders cost no memory.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Orders span this half-year, whatever their number.
pub const START: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z
pub const SPAN_SECS: i64 = 182 * 86_400;
/// The shop's clock runs at UTC-05:00, as Shopify reports local offsets.
pub const SHOP_OFFSET_SECS: i64 = -5 * 3600;
pub const ORDER_ID_BASE: i64 = 5_100_000_000;
pub const CUSTOMER_ID_BASE: i64 = 7_200_000_000;
pub const PRODUCT_ID_BASE: i64 = 8_300_000_000;
pub const VARIANT_ID_BASE: i64 = 9_400_000_000;
pub const LINE_ITEM_ID_BASE: i64 = 10_500_000_000;
/// `updated_at` trails `created_at` by at most this much.
pub const MAX_UPDATE_LAG: i64 = 72 * 3600;

const PRODUCTS: &[(&str, &str, &str, i64)] = &[
    ("Organic Cotton Tee", "Northwind Apparel", "Shirts", 2400),
    ("Merino Crew Sweater", "Northwind Apparel", "Knitwear", 8900),
    ("Canvas Tote Bag", "Harbor Goods", "Bags", 1800),
    ("Waxed Field Jacket", "Harbor Goods", "Outerwear", 18900),
    ("Everyday Jeans", "Northwind Apparel", "Pants", 6800),
    ("Wool Beanie", "Fjäll & Co", "Accessories", 2200),
    ("Leather Belt", "Harbor Goods", "Accessories", 3900),
    ("Linen Shirt", "Northwind Apparel", "Shirts", 5400),
    ("Trail Running Shoes", "Summit Works", "Footwear", 12900),
    ("Rain Shell", "Summit Works", "Outerwear", 14500),
    ("Hiking Socks (3-pack)", "Summit Works", "Accessories", 1600),
    ("Ceramic Pour-Over Set", "Kaffe Lab", "Kitchen", 4600),
    ("Single-Origin Beans 1kg", "Kaffe Lab", "Coffee", 3200),
    ("Café Espresso Cups", "Kaffe Lab", "Kitchen", 2800),
    ("Recycled Notebook", "Paper Trail", "Stationery", 900),
    ("Fountain Pen", "Paper Trail", "Stationery", 5900),
    ("Desk Lamp", "Lumen Home", "Home", 7400),
    ("Scented Candle – Cedar", "Lumen Home", "Home", 2100),
    ("Throw Blanket", "Lumen Home", "Home", 6400),
    ("Gift Card", "Tillflow Demo Shop", "Gift Cards", 5000),
    ("Yoga Mat", "Summit Works", "Fitness", 3800),
    ("Stainless Water Bottle", "Summit Works", "Fitness", 2600),
    ("Sunglasses", "Harbor Goods", "Accessories", 9900),
    ("Rucksack 28L", "Harbor Goods", "Bags", 11900),
];

const FIRST: &[&str] = &[
    "Ava", "Noah", "Zoë", "José", "Mia", "Liam", "Åsa", "Chen", "Priya", "Omar", "Lucía", "Kenji",
    "Emma", "Ivan", "Fatima", "Björn", "Amara", "Luca", "Sofia", "Mateo",
];
const LAST: &[&str] = &[
    "Smith",
    "García",
    "Nguyen",
    "Müller",
    "Kowalski",
    "O'Brien",
    "Rossi",
    "Tanaka",
    "Haddad",
    "Johansson",
    "Silva",
    "Patel",
    "Dubois",
    "Novak",
    "Kim",
    "Jensen",
];
const CITIES: &[(&str, &str)] = &[
    ("Portland", "US"),
    ("Austin", "US"),
    ("Toronto", "CA"),
    ("Berlin", "DE"),
    ("Lyon", "FR"),
    ("Malmö", "SE"),
    ("Leeds", "GB"),
    ("Osaka", "JP"),
];

/// splitmix64: a cheap, well-mixed hash of (seed, stream, index).
pub fn mix(seed: u64, stream: u64, i: u64) -> u64 {
    let mut z =
        seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone)]
pub struct Shop {
    pub orders: u64,
    pub customers: u64,
    pub seed: u64,
    /// Orders edited since the shop opened: index → their new `updated_at`.
    edits: Arc<RwLock<BTreeMap<u64, i64>>>,
    edited: Arc<AtomicBool>,
}

pub struct LineItem {
    pub product: usize,
    pub variant: u64,
    pub quantity: i64,
    pub unit_cents: i64,
}

impl Shop {
    pub fn new(orders: u64, seed: u64) -> Self {
        Shop {
            orders,
            customers: (orders / 5).max(1),
            seed,
            edits: Arc::default(),
            edited: Arc::default(),
        }
    }

    pub fn products(&self) -> usize {
        PRODUCTS.len()
    }

    /// Seconds since the epoch; strictly ordered by order index.
    pub fn created_at(&self, i: u64) -> i64 {
        let n = self.orders.max(1) as i128;
        let lo = START + (SPAN_SECS as i128 * i as i128 / n) as i64;
        let hi = START + (SPAN_SECS as i128 * (i as i128 + 1) / n) as i64;
        let room = (hi - lo).max(1) as u64;
        lo + (mix(self.seed, 1, i) % room) as i64
    }

    pub fn updated_at(&self, i: u64) -> i64 {
        if let Some(t) = self.edit(i) {
            return t;
        }
        self.created_at(i) + (mix(self.seed, 2, i) % MAX_UPDATE_LAG as u64) as i64
    }

    fn edit(&self, i: u64) -> Option<i64> {
        if !self.edited.load(Ordering::Acquire) {
            return None;
        }
        let edits = self.edits.read().unwrap_or_else(|p| p.into_inner());
        edits.get(&i).copied()
    }

    /// Whether any order was edited (an order's `updated_at` may then be far
    /// past its `created_at`).
    pub fn has_edits(&self) -> bool {
        self.edited.load(Ordering::Acquire)
    }

    /// Edits `count` orders as a shop's staff would, refunding them: each
    /// gets `financial_status` "refunded" and an `updated_at` a minute after
    /// every order so far, so an incremental run fetches exactly these.
    /// Returns their order ids (fewer when every order is edited already).
    pub fn edit_orders(&self, count: u64) -> Vec<i64> {
        let mut edits = self.edits.write().unwrap_or_else(|p| p.into_inner());
        let mut clock = edits
            .values()
            .max()
            .copied()
            .unwrap_or(START + SPAN_SECS + MAX_UPDATE_LAG);
        let mut ids = Vec::new();
        let mut pick = edits.len() as u64;
        while (ids.len() as u64) < count && (edits.len() as u64) < self.orders {
            let i = mix(self.seed, 9, pick) % self.orders;
            pick += 1;
            if edits.contains_key(&i) {
                continue;
            }
            clock += 60;
            edits.insert(i, clock);
            ids.push(ORDER_ID_BASE + i as i64);
        }
        self.edited.store(!edits.is_empty(), Ordering::Release);
        ids
    }

    /// First order index created at or after `t`.
    pub fn first_created_at_or_after(&self, t: i64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.orders);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.created_at(mid) < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// A few regulars buy often, most customers rarely; about 2% of orders
    /// are guest checkouts with no customer.
    pub fn customer_of(&self, i: u64) -> Option<u64> {
        let h = mix(self.seed, 3, i);
        if h.is_multiple_of(50) {
            return None;
        }
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        Some(((u * u * u) * self.customers as f64) as u64 % self.customers)
    }

    pub fn line_items(&self, i: u64) -> Vec<LineItem> {
        let count = 1 + mix(self.seed, 4, i) % 4;
        (0..count)
            .map(|k| {
                let h = mix(self.seed, 5, i * 8 + k);
                let product = (h % PRODUCTS.len() as u64) as usize;
                let variant = (h >> 20) % 3;
                let quantity = 1 + ((h >> 32) % 3) as i64;
                LineItem {
                    product,
                    variant,
                    quantity,
                    // Shop prices end in .95: 23.95, 25.95, 27.95.
                    unit_cents: PRODUCTS[product].3 + variant as i64 * 200 - 5,
                }
            })
            .collect()
    }

    pub fn financial_status(&self, i: u64) -> &'static str {
        if self.edit(i).is_some() {
            return "refunded";
        }
        match mix(self.seed, 6, i) % 20 {
            0 => "refunded",
            1 | 2 => "pending",
            _ => "paid",
        }
    }

    pub fn customer_email(&self, c: u64) -> String {
        let (first, last) = self.customer_name(c);
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|ch| ch.is_ascii_alphabetic())
                .collect::<String>()
                .to_lowercase()
        };
        format!("{}.{}{}@example.com", clean(first), clean(last), c)
    }

    /// The email typed at checkout: the customer's, or for a guest one of
    /// their own. About 1 order in 400 has it mistyped without the dot before
    /// the domain ending (`@examplecom`): a data-quality problem for the
    /// demo's rules to catch.
    pub fn order_email(&self, i: u64) -> String {
        let email = match self.customer_of(i) {
            Some(c) => self.customer_email(c),
            None => format!("guest{}@example.net", 1001 + i),
        };
        if self.has_email_typo(i) {
            email.replacen(".com", "com", 1).replacen(".net", "net", 1)
        } else {
            email
        }
    }

    pub fn has_email_typo(&self, i: u64) -> bool {
        mix(self.seed, 12, i).is_multiple_of(400)
    }

    pub fn customer_name(&self, c: u64) -> (&'static str, &'static str) {
        let h = mix(self.seed, 7, c);
        (
            FIRST[(h % FIRST.len() as u64) as usize],
            LAST[((h >> 16) % LAST.len() as u64) as usize],
        )
    }

    pub fn customer_city(&self, c: u64) -> (&'static str, &'static str) {
        CITIES[(mix(self.seed, 8, c) % CITIES.len() as u64) as usize]
    }

    /// When the customer signed up: before their first possible order.
    pub fn customer_created_at(&self, c: u64) -> i64 {
        START - 86_400 * 30 + (mix(self.seed, 9, c) % (86_400 * 30)) as i64
    }

    pub fn product(&self, p: usize) -> (&'static str, &'static str, &'static str, i64) {
        PRODUCTS[p]
    }

    /// The order as Shopify's JSON, appended to `out`.
    /// The order as Shopify's JSON, appended to `out`. Written piece by
    /// piece: `write!` made formatting most of the shop's time.
    pub fn write_order(&self, i: u64, out: &mut String) {
        let items = self.line_items(i);
        let total: i64 = items.iter().map(|l| l.quantity * l.unit_cents).sum();
        out.push_str("{\"id\":");
        push_int(out, ORDER_ID_BASE + i as i64);
        out.push_str(",\"name\":\"#");
        push_int(out, 1001 + i as i64);
        out.push_str("\",\"created_at\":\"");
        write_local_time(self.created_at(i), out);
        out.push_str("\",\"updated_at\":\"");
        write_local_time(self.updated_at(i), out);
        out.push_str("\",\"currency\":\"USD\",\"financial_status\":\"");
        out.push_str(self.financial_status(i));
        out.push_str("\",\"total_price\":\"");
        write_cents(total, out);
        out.push_str("\",\"subtotal_price\":\"");
        write_cents(total, out);
        out.push_str("\",\"total_tax\":\"0.00\",");
        out.push_str("\"email\":\"");
        out.push_str(&self.order_email(i));
        match self.customer_of(i) {
            Some(c) => {
                out.push_str("\",\"customer\":{\"id\":");
                push_int(out, CUSTOMER_ID_BASE + c as i64);
                out.push_str(",\"email\":\"");
                out.push_str(&self.customer_email(c));
                out.push_str("\"},");
            }
            None => out.push_str("\",\"customer\":null,"),
        }
        out.push_str("\"line_items\":[");
        for (k, l) in items.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            let (title, vendor, _, _) = PRODUCTS[l.product];
            out.push_str("{\"id\":");
            push_int(out, LINE_ITEM_ID_BASE + i as i64 * 8 + k as i64);
            out.push_str(",\"product_id\":");
            push_int(out, PRODUCT_ID_BASE + l.product as i64);
            out.push_str(",\"variant_id\":");
            push_int(
                out,
                VARIANT_ID_BASE + l.product as i64 * 4 + l.variant as i64,
            );
            out.push_str(",\"title\":\"");
            out.push_str(title);
            out.push_str("\",\"vendor\":\"");
            out.push_str(vendor);
            out.push_str("\",\"quantity\":");
            push_int(out, l.quantity);
            out.push_str(",\"price\":\"");
            write_cents(l.unit_cents, out);
            out.push_str("\",\"sku\":\"SKU-");
            if l.product < 100 {
                out.push('0');
            }
            if l.product < 10 {
                out.push('0');
            }
            push_int(out, l.product as i64);
            out.push('-');
            push_int(out, l.variant as i64);
            out.push_str("\"}");
        }
        out.push_str("]}");
    }
}

fn push_int(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// `1234` → `12.34`.
pub fn write_cents(cents: i64, out: &mut String) {
    if cents < 0 {
        out.push('-');
    }
    let c = cents.abs();
    push_int(out, c / 100);
    out.push('.');
    out.push((b'0' + (c % 100 / 10) as u8) as char);
    out.push((b'0' + (c % 10) as u8) as char);
}

/// Shopify style: local time with the shop's offset, `2024-01-01T07:00:00-05:00`.
/// Formatted by hand: the demo shop writes two per order and chrono's
/// formatter was a tenth of its time.
pub fn write_local_time(utc_secs: i64, out: &mut String) {
    let local = utc_secs + SHOP_OFFSET_SECS;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let two = |out: &mut String, v: i64| {
        out.push((b'0' + (v / 10) as u8) as char);
        out.push((b'0' + (v % 10) as u8) as char);
    };
    let _ = write!(out, "{y:04}-");
    two(out, m);
    out.push('-');
    two(out, d);
    out.push('T');
    two(out, secs / 3600);
    out.push(':');
    two(out, secs / 60 % 60);
    out.push(':');
    two(out, secs % 60);
    out.push_str("-05:00");
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// civil calendar algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edited_orders_are_refunded_after_every_other_order() {
        let shop = Shop::new(50, 3);
        let latest = (0..50).map(|i| shop.updated_at(i)).max().unwrap();
        assert!(!shop.has_edits());
        let first = shop.edit_orders(5);
        let more = shop.edit_orders(100); // only 45 orders are left to edit
        assert_eq!((first.len(), more.len()), (5, 45));
        let mut all: Vec<i64> = first.iter().chain(&more).copied().collect();
        let times: Vec<i64> = all
            .iter()
            .map(|id| shop.updated_at((id - ORDER_ID_BASE) as u64))
            .collect();
        assert!(times.windows(2).all(|w| w[1] == w[0] + 60) && times[0] > latest);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 50);
        assert!((0..50).all(|i| shop.financial_status(i) == "refunded"));
        assert!(shop.edit_orders(1).is_empty());
        // A clone shares the edits (the server and the test see one shop).
        assert!(shop.clone().has_edits());
    }

    #[test]
    fn deterministic_and_ordered() {
        let a = Shop::new(1000, 42);
        let b = Shop::new(1000, 42);
        let (mut x, mut y) = (String::new(), String::new());
        a.write_order(7, &mut x);
        b.write_order(7, &mut y);
        assert_eq!(x, y);
        let v: serde_json::Value = serde_json::from_str(&x).unwrap();
        assert_eq!(v["id"], ORDER_ID_BASE + 7);
        assert_eq!(v["name"], "#1008");
        let mut cents = 0;
        for li in v["line_items"].as_array().unwrap() {
            let sku = li["sku"].as_str().unwrap();
            assert!(sku.len() == 9 && sku.starts_with("SKU-0"), "{sku}");
            let price: f64 = li["price"].as_str().unwrap().parse().unwrap();
            assert!(
                li["price"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .nth(1)
                    .unwrap()
                    .len()
                    == 2
            );
            cents += (price * 100.0).round() as i64 * li["quantity"].as_i64().unwrap();
        }
        let total: f64 = v["total_price"].as_str().unwrap().parse().unwrap();
        assert_eq!((total * 100.0).round() as i64, cents);
        let mut neg = String::new();
        write_cents(-5, &mut neg);
        assert_eq!(neg, "-0.05");
        assert!((0..999).all(|i| a.created_at(i) < a.created_at(i + 1)));
        let t = a.created_at(500);
        assert_eq!(a.first_created_at_or_after(t), 500);
        assert_eq!(a.first_created_at_or_after(t + 1), 501);
        let mut s = String::new();
        write_local_time(START, &mut s);
        assert_eq!(s, "2023-12-31T19:00:00-05:00");
        // Agrees with chrono across leap days and centuries.
        for t in [
            0i64,
            951_782_400,
            1_709_164_800,
            4_107_542_399,
            -86_400 * 400,
        ] {
            let mut ours = String::new();
            write_local_time(t, &mut ours);
            let theirs = chrono::DateTime::from_timestamp(t + SHOP_OFFSET_SECS, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S-05:00")
                .to_string();
            assert_eq!(ours, theirs);
        }
    }
}
