//! `customer_segments`: customers per segment, by order count and spend.
//!
//! The seed's rule, applied in order: VIP when `orders >= vip_orders` and
//! `spent >= vip_spent`; Loyal when `orders >= loyal_orders` or
//! `spent >= loyal_spent`; Regular when `orders >= regular_orders`; else New.
//! Only orders with a customer count (guest checkouts have none); an order
//! with a null total counts as an order with nothing spent.

use super::items::FastMap;

use polars::prelude::*;

use super::money;
use super::{column, merge_maps, orders_by_slices, Batch, Kernel};
use crate::error::{CoreError, Result};

pub const SEGMENTS: [&str; 4] = ["VIP", "Loyal", "Regular", "New"];

/// Thresholds; the amounts as text, so they compare exactly.
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub vip_orders: u64,
    pub vip_spent: String,
    pub loyal_orders: u64,
    pub loyal_spent: String,
    pub regular_orders: u64,
}

impl Default for Thresholds {
    /// The seed's: VIP 10 orders and 1000 spent, Loyal 5 orders or 500, Regular 2 orders.
    fn default() -> Self {
        Thresholds {
            vip_orders: 10,
            vip_spent: "1000".into(),
            loyal_orders: 5,
            loyal_spent: "500".into(),
            regular_orders: 2,
        }
    }
}

pub struct CustomerSegments {
    vip: (u64, i128),
    loyal: (u64, i128),
    regular: u64,
    customer: String,
    amount: String,
}

/// A customer id: integers exactly, anything else by its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerKey {
    Int(i128),
    Text(Box<str>),
}

/// Per customer: orders and spend in millionths. Integer ids (the usual
/// case) key a table of their own, so the per-order work is one probe with
/// a 64-bit key; an integer and a text id are different customers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentState {
    ints: FastMap<i64, (u64, i128)>,
    texts: FastMap<Box<str>, (u64, i128)>,
}

impl CustomerSegments {
    pub fn new(t: &Thresholds, customer: &str, amount: &str) -> Result<Self> {
        let amount_of = |field: &str, text: &str| {
            money::parse(text).ok_or_else(|| {
                CoreError::config(
                    field,
                    format!("{text:?} is not an amount (up to 6 decimals)"),
                )
            })
        };
        Ok(CustomerSegments {
            vip: (t.vip_orders, amount_of("vip_spent", &t.vip_spent)?),
            loyal: (t.loyal_orders, amount_of("loyal_spent", &t.loyal_spent)?),
            regular: t.regular_orders,
            customer: customer.to_string(),
            amount: amount.to_string(),
        })
    }

    fn segment(&self, orders: u64, spent: i128) -> usize {
        if orders >= self.vip.0 && spent >= self.vip.1 {
            0
        } else if orders >= self.loyal.0 || spent >= self.loyal.1 {
            1
        } else if orders >= self.regular {
            2
        } else {
            3
        }
    }
}

/// Customer ids as a column named `customer`: integers when every id is
/// one, else text.
pub fn customer_column<'a>(keys: impl Iterator<Item = &'a CustomerKey> + Clone) -> Series {
    let ints: Option<Vec<i64>> = keys
        .clone()
        .map(|k| match k {
            CustomerKey::Int(i) => i64::try_from(*i).ok(),
            CustomerKey::Text(_) => None,
        })
        .collect();
    match ints {
        Some(v) => Series::new("customer".into(), v),
        None => Series::new(
            "customer".into(),
            keys.map(|k| match k {
                CustomerKey::Int(i) => i.to_string(),
                CustomerKey::Text(t) => t.to_string(),
            })
            .collect::<Vec<String>>(),
        ),
    }
}

/// Customer keys of a column (`None` for null).
pub fn customer_keys(s: &Series) -> Result<Vec<Option<CustomerKey>>> {
    Ok(match s.dtype() {
        d if d.is_integer() => s
            .cast(&DataType::Int64)?
            .i64()?
            .iter()
            .map(|v| v.map(|v| CustomerKey::Int(v as i128)))
            .collect(),
        DataType::String => s
            .str()?
            .iter()
            .map(|v| v.map(|v| CustomerKey::Text(v.into())))
            .collect(),
        DataType::Null => vec![None; s.len()],
        _ => return Err(customer_type_error(s)),
    })
}

fn customer_type_error(s: &Series) -> CoreError {
    CoreError::Schema {
        table: "orders".into(),
        message: format!(
            "customer column {:?} has type {}; expected integers or text",
            s.name(),
            s.dtype()
        ),
    }
}

/// Adds one order of `amount` (null: nothing spent) to a customer's entry.
fn add(entry: &mut (u64, i128), amount: Option<i128>) {
    entry.0 += 1;
    entry.1 += amount.unwrap_or(0);
}

impl Kernel for CustomerSegments {
    type Partial = SegmentState;

    fn empty(&self) -> SegmentState {
        SegmentState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<SegmentState> {
        orders_by_slices(self, batch, |o| {
            let keys = column(o, "orders", &self.customer)?;
            let (amounts, _) = money::amounts(column(o, "orders", &self.amount)?)?;
            let mut st = SegmentState::default();
            match keys.dtype() {
                d if d.is_integer() => {
                    let ints = keys.cast(&DataType::Int64)?;
                    for (k, a) in ints.i64()?.iter().zip(amounts.iter()) {
                        if let Some(k) = k {
                            add(st.ints.entry(k).or_insert((0, 0)), a);
                        }
                    }
                }
                DataType::String => {
                    for (k, a) in keys.str()?.iter().zip(amounts.iter()) {
                        let Some(k) = k else { continue };
                        match st.texts.get_mut(k) {
                            Some(e) => add(e, a),
                            None => add(st.texts.entry(k.into()).or_insert((0, 0)), a),
                        }
                    }
                }
                DataType::Null => {}
                _ => return Err(customer_type_error(keys)),
            }
            Ok(st)
        })
    }

    fn merge(&self, mut a: SegmentState, b: SegmentState) -> SegmentState {
        let sum = |e: &mut (u64, i128), (n, m): (u64, i128)| {
            e.0 += n;
            e.1 += m;
        };
        a.ints = merge_maps(a.ints, b.ints, sum);
        a.texts = merge_maps(a.texts, b.texts, sum);
        a
    }

    fn finalize(&self, st: &SegmentState) -> Result<DataFrame> {
        let mut count = [0i64; 4];
        let mut spent = [0i128; 4];
        let mut orders = [0u64; 4];
        for (n, m) in st.ints.values().chain(st.texts.values()) {
            let s = self.segment(*n, *m);
            count[s] += 1;
            spent[s] += m;
            orders[s] += n;
        }
        let avg = |total: f64, i: usize| (count[i] > 0).then(|| total / count[i] as f64);
        let ltv: Vec<Option<f64>> = (0..4).map(|i| avg(spent[i] as f64 / 1e6, i)).collect();
        let per: Vec<Option<f64>> = (0..4).map(|i| avg(orders[i] as f64, i)).collect();
        Ok(DataFrame::new_infer_height(vec![
            Series::new("customer_segment".into(), SEGMENTS.to_vec()).into(),
            Series::new("customer_count".into(), count.to_vec()).into(),
            Series::new("avg_lifetime_value".into(), ltv).into(),
            Series::new("avg_orders_per_customer".into(), per).into(),
        ])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(customers: &[Option<i64>], cents: &[Option<i128>]) -> DataFrame {
        let total = Series::new("total_price".into(), cents.to_vec())
            .into_decimal(38, 2)
            .unwrap();
        DataFrame::new_infer_height(vec![
            Series::new("customer__id".into(), customers.to_vec()).into(),
            total.into(),
        ])
        .unwrap()
    }

    #[test]
    fn the_seeds_segments_at_their_boundaries() {
        let k =
            CustomerSegments::new(&Thresholds::default(), "customer__id", "total_price").unwrap();
        let mut customers = Vec::new();
        let mut totals = Vec::new();
        let mut add = |c: i64, n: usize, cents: i128| {
            for _ in 0..n {
                customers.push(Some(c));
                totals.push(Some(cents));
            }
        };
        add(1, 10, 10_000); // 10 orders, 1000.00: VIP (both at the boundary)
        add(2, 10, 9_999); // 10 orders, 999.90: Loyal (orders >= 5)
        add(3, 1, 50_000); // 1 order, 500.00: Loyal (spent >= 500)
        add(4, 2, 100); // 2 orders: Regular
        add(5, 1, 100); // New
        customers.push(None); // a guest checkout: not a customer
        totals.push(Some(1_000_000));
        customers.push(Some(6)); // a null total: an order, nothing spent: New
        totals.push(None);
        let out = k.run([Batch::orders(&frame(&customers, &totals))]).unwrap();
        let count: Vec<i64> = out
            .column("customer_count")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(count, vec![1, 2, 1, 2]);
        let ltv = out.column("avg_lifetime_value").unwrap().f64().unwrap();
        assert_eq!(ltv.get(0), Some(1000.0));
        assert_eq!(ltv.get(1), Some((999.9 + 500.0) / 2.0));
        // customer 5: two orders (one with a null total) makes Regular? No:
        // 2 orders >= regular_orders, so 4 and 5 are both Regular.
        let per = out
            .column("avg_orders_per_customer")
            .unwrap()
            .f64()
            .unwrap();
        assert_eq!(per.get(2), Some(2.0));
    }

    #[test]
    fn text_ids_count_as_integer_ids_do_and_never_meet_them() {
        let k =
            CustomerSegments::new(&Thresholds::default(), "customer__id", "total_price").unwrap();
        let ids: Vec<Option<i64>> = (0..300).map(|i| (i % 11 != 0).then_some(i % 23)).collect();
        let cents: Vec<Option<i128>> = (0..300).map(|i| Some((i * 131) % 90_000)).collect();
        let by_int = k.run([Batch::orders(&frame(&ids, &cents))]).unwrap();
        let text = |ids: &[Option<i64>]| {
            let t: Vec<Option<String>> = ids.iter().map(|v| v.map(|v| format!("c-{v}"))).collect();
            let total = Series::new("total_price".into(), cents.clone())
                .into_decimal(38, 2)
                .unwrap();
            DataFrame::new_infer_height(vec![
                Series::new("customer__id".into(), t).into(),
                total.into(),
            ])
            .unwrap()
        };
        let by_text = k.run([Batch::orders(&text(&ids))]).unwrap();
        assert_eq!(by_int, by_text);
        // The same orders once with integer ids and once with text ids are
        // two sets of customers: every count doubles.
        let both = k
            .run([
                Batch::orders(&frame(&ids, &cents)),
                Batch::orders(&text(&ids)),
            ])
            .unwrap();
        let counts = |df: &DataFrame| -> Vec<i64> {
            df.column("customer_count")
                .unwrap()
                .i64()
                .unwrap()
                .into_no_null_iter()
                .collect()
        };
        let doubled: Vec<i64> = counts(&by_int).iter().map(|c| c * 2).collect();
        assert_eq!(counts(&both), doubled);
        // A column of another type is refused by name.
        let floats = DataFrame::new_infer_height(vec![
            Series::new("customer__id".into(), vec![1.5f64]).into(),
            Series::new("total_price".into(), vec![Some(1i128)])
                .into_decimal(38, 2)
                .unwrap()
                .into(),
        ])
        .unwrap();
        let e = k.run([Batch::orders(&floats)]).unwrap_err().to_string();
        assert!(e.contains("customer__id") && e.contains("f64"), "{e}");
    }

    #[test]
    fn splits_and_merge_orders_agree() {
        let k =
            CustomerSegments::new(&Thresholds::default(), "customer__id", "total_price").unwrap();
        let customers: Vec<Option<i64>> =
            (0..2000).map(|i| (i % 13 != 0).then_some(i % 97)).collect();
        let totals: Vec<Option<i128>> = (0..2000)
            .map(|i| (i % 17 != 0).then_some((i * 7919) % 40_000))
            .collect();
        let whole = k.run([Batch::orders(&frame(&customers, &totals))]).unwrap();
        for size in [1, 7, 500] {
            let parts: Vec<DataFrame> = customers
                .chunks(size)
                .zip(totals.chunks(size))
                .map(|(c, t)| frame(c, t))
                .collect();
            let states: Vec<SegmentState> = parts
                .iter()
                .map(|p| k.partial(Batch::orders(p)).unwrap())
                .collect();
            let merged = states
                .into_iter()
                .rev()
                .fold(k.empty(), |acc, s| k.merge(s, acc));
            assert_eq!(k.finalize(&merged).unwrap(), whole, "batch size {size}");
        }
    }
}
