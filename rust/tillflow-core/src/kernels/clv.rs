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
use super::money::MoneyType;
use super::segments::{customer_column, CustomerKey};
use super::{
    dates_column, merge_maps, orders_by_slices, per_customer, values_column, Batch, Kernel,
};
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
        let money = st.money.settled();
        let micros: Vec<i128> = rows.iter().map(|(_, c)| c.micros).collect();
        Ok(DataFrame::new_infer_height(vec![
            customer.into(),
            values_column("orders", rows.iter().map(|(_, c)| c.orders as i64)),
            dates_column("first_order", rows.iter().map(|(_, c)| c.first)),
            dates_column("last_order", rows.iter().map(|(_, c)| c.last)),
            money.series("historical_value", &micros)?.into(),
            values_column("average_order_value", aov),
            values_column("tenure_days", tenure),
            values_column("predicted_value", predicted),
        ])?)
    }
}

impl Kernel for LifetimeValue {
    type Partial = ClvState;

    fn empty(&self) -> ClvState {
        ClvState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<ClvState> {
        orders_by_slices(self, batch, |o| {
            let first = |day| Customer {
                first: day,
                last: day,
                orders: 0,
                priced: 0,
                micros: 0,
            };
            let (customers, money) =
                per_customer(&self.cal, &self.cols, o, true, first, |e, day, amount| {
                    e.first = e.first.min(day);
                    e.last = e.last.max(day);
                    e.orders += 1;
                    if let Some(a) = amount {
                        e.priced += 1;
                        e.micros += a;
                    }
                })?;
            Ok(ClvState { customers, money })
        })
    }

    fn merge(&self, mut a: ClvState, b: ClvState) -> ClvState {
        a.money = a.money.merge(b.money);
        a.customers = merge_maps(a.customers, b.customers, |e, x| {
            e.first = e.first.min(x.first);
            e.last = e.last.max(x.last);
            e.orders += x.orders;
            e.priced += x.priced;
            e.micros += x.micros;
        });
        a
    }

    fn finalize(&self, st: &ClvState) -> Result<DataFrame> {
        self.table(st, None, 365)
    }
}
