//! `cohort_retention`: customers grouped by the month of their first order
//! (their cohort), and for each later month how many of them ordered again.
//!
//! Months are calendar months of shop days (the time zone and day start of
//! `daily_summary`). Month 0 is the cohort month itself, where everyone is
//! retained. Guest checkouts (no customer) and orders without a timestamp
//! are left out. The state keeps each customer's active months, so batches
//! may split a customer's orders anyhow.

use std::collections::BTreeMap;

use super::items::FastMap;

use chrono::{Datelike, Duration, NaiveDate};
use polars::prelude::*;

use super::calendar::ShopCalendar;
use super::daily::DailyColumns;
use super::segments::CustomerKey;
use super::{
    dates_column, merge_maps, orders_by_slices, per_customer, values_column, Batch, Kernel,
};
use crate::error::Result;

pub struct CohortRetention {
    cal: ShopCalendar,
    cols: DailyColumns,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CohortState {
    /// Per customer, the months (`year * 12 + month - 1`) with an order,
    /// unsorted and possibly repeated (orders mostly come in time order, so
    /// a month is pushed once per run of orders in it).
    active: FastMap<CustomerKey, Vec<i32>>,
}

fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

fn month_start(index: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .expect("a valid month")
}

impl CohortRetention {
    pub fn new(tz: &str, day_start: Duration, cols: DailyColumns) -> Result<Self> {
        Ok(CohortRetention {
            cal: ShopCalendar::new(tz, day_start)?,
            cols,
        })
    }

    /// One row per cohort and month since its first: `cohort_month` (the
    /// month's first day), `months_since_first`, `cohort_size`, `customers`
    /// (who ordered that month) and `retention` (`customers / cohort_size`).
    /// Every month from the cohort's to the latest month with any order
    /// appears, with 0 where nobody came back.
    pub fn matrix(&self, st: &CohortState) -> Result<DataFrame> {
        let last = st.active.values().flatten().max().copied();
        let mut counts: BTreeMap<i32, (u64, BTreeMap<i32, u64>)> = BTreeMap::new();
        let mut months: Vec<i32> = Vec::new();
        for seen in st.active.values() {
            months.clear();
            months.extend_from_slice(seen);
            months.sort_unstable();
            months.dedup();
            let Some(first) = months.first().copied() else {
                continue;
            };
            let e = counts.entry(first).or_default();
            e.0 += 1;
            for m in &months {
                *e.1.entry(m - first).or_insert(0) += 1;
            }
        }
        let (mut cohort, mut since, mut size, mut who, mut rate) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if let Some(last) = last {
            for (first, (n, by_offset)) in &counts {
                for k in 0..=(last - first) {
                    let c = by_offset.get(&k).copied().unwrap_or(0);
                    cohort.push(month_start(*first));
                    since.push(k);
                    size.push(*n as i64);
                    who.push(c as i64);
                    rate.push(c as f64 / *n as f64);
                }
            }
        }
        Ok(DataFrame::new_infer_height(vec![
            dates_column("cohort_month", cohort),
            values_column("months_since_first", since),
            values_column("cohort_size", size),
            values_column("customers", who),
            values_column("retention", rate),
        ])?)
    }
}

impl Kernel for CohortRetention {
    type Partial = CohortState;

    fn empty(&self) -> CohortState {
        CohortState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<CohortState> {
        orders_by_slices(self, batch, |o| {
            let (active, _) = per_customer(
                &self.cal,
                &self.cols,
                o,
                false,
                |_| Vec::new(),
                |months, day, _| {
                    let month = month_index(day);
                    if months.last() != Some(&month) {
                        months.push(month);
                    }
                },
            )?;
            Ok(CohortState { active })
        })
    }

    fn merge(&self, mut a: CohortState, b: CohortState) -> CohortState {
        a.active = merge_maps(a.active, b.active, |into, months| {
            into.extend(months);
            if into.len() > 32 {
                // Keep merged states compact: each month once.
                into.sort_unstable();
                into.dedup();
            }
        });
        a
    }

    fn finalize(&self, st: &CohortState) -> Result<DataFrame> {
        self.matrix(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(days: &[(i64, Option<i64>)]) -> DataFrame {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let d: Vec<i32> = days
            .iter()
            .map(|(offset, _)| {
                (NaiveDate::from_ymd_opt(2024, 1, 15).unwrap() - epoch).num_days() as i32
                    + *offset as i32
            })
            .collect();
        DataFrame::new_infer_height(vec![
            Series::new("created_at".into(), d).into_date().into(),
            Series::new(
                "customer__id".into(),
                days.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
            )
            .into(),
        ])
        .unwrap()
    }

    #[test]
    fn cohorts_months_and_splits() {
        // Jan 15 + offsets: 0 -> Jan, 20 -> Feb, 50 -> Mar.
        let rows = [
            (0, Some(1)),
            (20, Some(1)),
            (0, Some(2)),
            (50, Some(2)),
            (20, Some(3)),
            (0, None),
        ];
        let k = CohortRetention::new("UTC", Duration::zero(), DailyColumns::default()).unwrap();
        let out = k.run([Batch::orders(&frame(&rows))]).unwrap();
        let got: Vec<(i32, i64, i64)> = (0..out.height())
            .map(|i| {
                (
                    out.column("months_since_first")
                        .unwrap()
                        .i32()
                        .unwrap()
                        .get(i)
                        .unwrap(),
                    out.column("cohort_size")
                        .unwrap()
                        .i64()
                        .unwrap()
                        .get(i)
                        .unwrap(),
                    out.column("customers")
                        .unwrap()
                        .i64()
                        .unwrap()
                        .get(i)
                        .unwrap(),
                )
            })
            .collect();
        // Jan cohort {1, 2}: month 0 both, month 1 only 1, month 2 only 2;
        // Feb cohort {3}: month 0, month 1 nobody.
        assert_eq!(
            got,
            vec![(0, 2, 2), (1, 2, 1), (2, 2, 1), (0, 1, 1), (1, 1, 0)]
        );
        let whole = out;
        for size in [1usize, 2, 4] {
            let parts: Vec<CohortState> = rows
                .chunks(size)
                .map(|c| k.partial(Batch::orders(&frame(c))).unwrap())
                .collect();
            let merged = parts
                .into_iter()
                .rev()
                .fold(k.empty(), |acc, s| k.merge(s, acc));
            assert_eq!(k.finalize(&merged).unwrap(), whole);
        }
        assert_eq!(k.run([Batch::orders(&frame(&[]))]).unwrap().height(), 0);
    }
}
