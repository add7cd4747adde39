//! `rfm`: recency, frequency and monetary scores per customer, and the named
//! segment of each.
//!
//! Recency is the number of shop days from a customer's last order to
//! `as_of` (default: the day after the latest order), frequency the number of
//! orders, monetary the total spent. Each becomes a score from 1 to 5 by
//! quintile: `ceil(5 * k / n)` for `n` customers, where `k` counts the
//! customers no better than this one (for recency, those whose last order is
//! as old or older; for frequency and monetary, those with as few or fewer).
//! Ties share a score, and integers keep it free of rounding error.
//!
//! Segments, on the recency (R) and frequency (F) scores:
//! Champions R 4–5 F 4–5; Loyal Customers R 3 F 4–5; Can't Lose Them
//! R 1–2 F 5; At Risk R 1–2 F 3–4; Potential Loyalists R 4–5 F 2–3; Need
//! Attention R 3 F 3; New Customers R 5 F 1; Promising R 4 F 1; About to
//! Sleep R 3 F 1–2; Hibernating R 1–2 F 1–2.

use super::items::FastMap;

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::calendar::ShopCalendar;
use super::daily::DailyColumns;
use super::money::MoneyType;
use super::segments::{customer_column, CustomerKey};
use super::{merge_maps, orders_by_slices, per_customer, values_column, Batch, Kernel};
use crate::error::Result;

pub struct Rfm {
    cal: ShopCalendar,
    cols: DailyColumns,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RfmState {
    /// Per customer: the last order day, orders, spend in millionths.
    customers: FastMap<CustomerKey, (NaiveDate, u64, i128)>,
    money: MoneyType,
}

/// The segment of an R and F score.
pub fn segment(r: u8, f: u8) -> &'static str {
    match (r, f) {
        (4..=5, 4..=5) => "Champions",
        (3, 4..=5) => "Loyal Customers",
        (1..=2, 5) => "Can't Lose Them",
        (1..=2, 3..=4) => "At Risk",
        (4..=5, 2..=3) => "Potential Loyalists",
        (3, 3) => "Need Attention",
        (5, 1) => "New Customers",
        (4, 1) => "Promising",
        (3, 1..=2) => "About to Sleep",
        _ => "Hibernating",
    }
}

/// Scores of `values` (higher is better): `ceil(5 * k / n)` where `k` counts
/// the values at or below each one.
fn scores<T: Ord + Copy>(values: &[T]) -> Vec<u8> {
    let n = values.len();
    let mut sorted: Vec<(T, u32)> = values.iter().copied().zip(0u32..).collect();
    sorted.sort_unstable();
    let mut out = vec![0u8; n];
    let mut i = 0;
    while i < n {
        // Equal values share the score of the last of them.
        let mut j = i;
        while j + 1 < n && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        let score = (5 * (j + 1)).div_ceil(n) as u8;
        for (_, at) in &sorted[i..=j] {
            out[*at as usize] = score;
        }
        i = j + 1;
    }
    out
}

impl Rfm {
    pub fn new(tz: &str, day_start: Duration, cols: DailyColumns) -> Result<Self> {
        Ok(Rfm {
            cal: ShopCalendar::new(tz, day_start)?,
            cols,
        })
    }

    /// One row per customer, in customer order.
    pub fn table(&self, st: &RfmState, as_of: Option<NaiveDate>) -> Result<DataFrame> {
        let mut rows: Vec<(&CustomerKey, &(NaiveDate, u64, i128))> = st.customers.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let latest = rows.iter().map(|(_, v)| v.0).max();
        let as_of = as_of.or(latest.map(|d| d + Duration::days(1)));
        let recency: Vec<i64> = rows
            .iter()
            .map(|(_, v)| as_of.map_or(0, |a| (a - v.0).num_days()))
            .collect();
        // For recency, fewer days is better: score the negated values.
        let r = scores(&recency.iter().map(|d| -d).collect::<Vec<i64>>());
        let f = scores(&rows.iter().map(|(_, v)| v.1).collect::<Vec<u64>>());
        let m = scores(&rows.iter().map(|(_, v)| v.2).collect::<Vec<i128>>());
        let customer = customer_column(rows.iter().map(|(k, _)| *k));
        let money = st.money.settled();
        let micros: Vec<i128> = rows.iter().map(|(_, v)| v.2).collect();
        let codes: Vec<String> = (0..125)
            .map(|i| format!("{}{}{}", i / 25 + 1, i / 5 % 5 + 1, i % 5 + 1))
            .collect();
        let code: Vec<&str> = (0..rows.len())
            .map(|i| {
                let at = (r[i] as usize - 1) * 25 + (f[i] as usize - 1) * 5 + m[i] as usize - 1;
                codes[at].as_str()
            })
            .collect();
        let names: Vec<&str> = (0..rows.len()).map(|i| segment(r[i], f[i])).collect();
        Ok(DataFrame::new_infer_height(vec![
            customer.into(),
            Series::new("recency_days".into(), recency).into(),
            values_column("frequency", rows.iter().map(|(_, v)| v.1 as i64)),
            money.series("monetary", &micros)?.into(),
            values_column("r_score", r.iter().map(|x| *x as i32)),
            values_column("f_score", f.iter().map(|x| *x as i32)),
            values_column("m_score", m.iter().map(|x| *x as i32)),
            values_column("rfm", code),
            values_column("segment", names),
        ])?)
    }
}

impl Kernel for Rfm {
    type Partial = RfmState;

    fn empty(&self) -> RfmState {
        RfmState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<RfmState> {
        orders_by_slices(self, batch, |o| {
            let first = |day| (day, 0, 0);
            let (customers, money) =
                per_customer(&self.cal, &self.cols, o, true, first, |e, day, amount| {
                    e.0 = e.0.max(day);
                    e.1 += 1;
                    e.2 += amount.unwrap_or(0);
                })?;
            Ok(RfmState { customers, money })
        })
    }

    fn merge(&self, mut a: RfmState, b: RfmState) -> RfmState {
        a.money = a.money.merge(b.money);
        a.customers = merge_maps(a.customers, b.customers, |e, (day, n, m)| {
            e.0 = e.0.max(day);
            e.1 += n;
            e.2 += m;
        });
        a
    }

    fn finalize(&self, st: &RfmState) -> Result<DataFrame> {
        self.table(st, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_share_ties_and_cover_one_to_five() {
        assert_eq!(scores(&[1, 2, 3, 4, 5]), vec![1, 2, 3, 4, 5]);
        assert_eq!(scores(&[7, 7, 7]), vec![5, 5, 5]);
        assert_eq!(scores(&[1, 1, 2, 3]), vec![3, 3, 4, 5]);
        assert_eq!(scores(&[10]), vec![5]);
        assert_eq!(scores(&[3, 1, 2, 1]), vec![5, 3, 4, 3]); // unsorted input keeps its order
                                                             // 3 of 5 is exactly 3, with no floating-point step past it
        assert_eq!(scores(&[1, 2, 3, 9, 9]), vec![1, 2, 3, 5, 5]);
    }

    #[test]
    fn the_grid_names_every_cell() {
        let mut seen = std::collections::HashSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                seen.insert(segment(r, f));
            }
        }
        assert_eq!(seen.len(), 10);
        assert_eq!(segment(5, 5), "Champions");
        assert_eq!(segment(1, 1), "Hibernating");
        assert_eq!(segment(2, 5), "Can't Lose Them");
    }
}
