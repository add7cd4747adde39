//! `customer_lifetime_value`: what each customer has spent, and a simple
//! prediction of what they will spend.
//!
//! Historical value is the sum of the customer's order totals. The
//! prediction is the customer's average order value times their order rate
//! times the horizon:
//!
//! `predicted = (spent / priced_orders) * (orders / tenure_days) * horizon_days`
//!
//! where `tenure_days` counts shop days from the first order to `as_of`
//! (default: the day after the latest order), at least 1. It assumes a
//! customer keeps buying at their rate so far; it is a ranking aid, not a
//! forecast with error bars.

use super::items::FastMap;

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::calendar::ShopCalendar;
use super::daily::DailyColumns;
use super::money::{self, MoneyType};
use super::segments::{customer_column, customer_keys, CustomerKey};
use super::{by_slices, column, Batch, Kernel};
use crate::error::{CoreError, Result};

pub struct LifetimeValue {
    cal: ShopCalendar,
    cols: DailyColumns,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Customer {
    first: NaiveDate,
    last: NaiveDate,
    orders: u64,
    priced: u64,
    micros: i128,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClvState {
    customers: FastMap<CustomerKey, Customer>,
    money: MoneyType,
}

impl LifetimeValue {
    pub fn new(tz: &str, day_start: Duration, cols: DailyColumns) -> Result<Self> {
        Ok(LifetimeValue {
            cal: ShopCalendar::new(tz, day_start)?,
            cols,
        })
    }

    /// One row per customer, highest historical value first (then customer).
    pub fn table(
        &self,
        st: &ClvState,
        as_of: Option<NaiveDate>,
        horizon_days: u32,
    ) -> Result<DataFrame> {
        if horizon_days == 0 {
            return Err(CoreError::config("horizon_days", "must be at least 1"));
        }
        let mut rows: Vec<(&CustomerKey, &Customer)> = st.customers.iter().collect();
        rows.sort_by(|a, b| b.1.micros.cmp(&a.1.micros).then_with(|| a.0.cmp(b.0)));
        let latest = rows.iter().map(|(_, c)| c.last).max();
        let as_of = as_of.or(latest.map(|d| d + Duration::days(1)));
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        let day = |d: NaiveDate| (d - epoch).num_days() as i32;
        let tenure: Vec<i64> = rows
            .iter()
            .map(|(_, c)| as_of.map_or(1, |a| (a - c.first).num_days().max(1)))
            .collect();
        let aov: Vec<Option<f64>> = rows
            .iter()
            .map(|(_, c)| (c.priced > 0).then(|| c.micros as f64 / 1e6 / c.priced as f64))
            .collect();
        let predicted: Vec<Option<f64>> = rows
            .iter()
            .zip(&aov)
            .zip(&tenure)
            .map(|(((_, c), a), t)| {
                a.map(|a| a * (c.orders as f64 / *t as f64) * horizon_days as f64)
            })
            .collect();
        let customer = customer_column(rows.iter().map(|(k, _)| *k));
        let money = if st.money.seen {
            st.money
        } else {
            MoneyType::default()
        };
        let micros: Vec<i128> = rows.iter().map(|(_, c)| c.micros).collect();
        Ok(DataFrame::new_infer_height(vec![
            customer.into(),
            Series::new(
                "orders".into(),
                rows.iter()
                    .map(|(_, c)| c.orders as i64)
                    .collect::<Vec<i64>>(),
            )
            .into(),
            Series::new(
                "first_order".into(),
                rows.iter().map(|(_, c)| day(c.first)).collect::<Vec<i32>>(),
            )
            .into_date()
            .into(),
            Series::new(
                "last_order".into(),
                rows.iter().map(|(_, c)| day(c.last)).collect::<Vec<i32>>(),
            )
            .into_date()
            .into(),
            money.series("historical_value", &micros)?.into(),
            Series::new("average_order_value".into(), aov).into(),
            Series::new("tenure_days".into(), tenure).into(),
            Series::new("predicted_value".into(), predicted).into(),
        ])?)
    }
}

impl LifetimeValue {
    /// The state of one slice of a batch's orders.
    fn slice_partial(&self, batch: Batch<'_>) -> Result<ClvState> {
        let o = batch.orders;
        let c = &self.cols;
        let days = self.cal.days(column(o, "orders", &c.created_at)?)?;
        let customers = customer_keys(column(o, "orders", &c.customer)?)?;
        let (amounts, money) = money::micros(column(o, "orders", &c.total_price)?)?;
        let mut st = ClvState {
            customers: FastMap::default(),
            money,
        };
        for ((day, customer), amount) in days.into_iter().zip(customers).zip(amounts) {
            let (Some(day), Some(k)) = (day, customer) else {
                continue;
            };
            let e = st.customers.entry(k).or_insert(Customer {
                first: day,
                last: day,
                orders: 0,
                priced: 0,
                micros: 0,
            });
            e.first = e.first.min(day);
            e.last = e.last.max(day);
            e.orders += 1;
            if let Some(a) = amount {
                e.priced += 1;
                e.micros += a;
            }
        }
        Ok(st)
    }
}

impl Kernel for LifetimeValue {
    type Partial = ClvState;

    fn empty(&self) -> ClvState {
        ClvState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<ClvState> {
        by_slices(
            batch.orders,
            |o| self.slice_partial(Batch::orders(o)),
            |a, b| self.merge(a, b),
        )
    }

    fn merge(&self, mut a: ClvState, b: ClvState) -> ClvState {
        a.money = a.money.merge(b.money);
        for (k, x) in b.customers {
            a.customers
                .entry(k)
                .and_modify(|e| {
                    e.first = e.first.min(x.first);
                    e.last = e.last.max(x.last);
                    e.orders += x.orders;
                    e.priced += x.priced;
                    e.micros += x.micros;
                })
                .or_insert(x);
        }
        a
    }

    fn finalize(&self, st: &ClvState) -> Result<DataFrame> {
        self.table(st, None, 365)
    }
}
