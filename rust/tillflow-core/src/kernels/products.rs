//! `product_performance`: the best-selling line-item titles over a window of
//! shop days.
//!
//! Line items join their order on `_tf_parent_id = _tf_id` within the batch
//! (each order and its items arrive in one batch, once); items without a
//! title are left out. Per title: units sold (sum of quantity), revenue (sum
//! of `quantity * price`), orders containing it and the average selling
//! price; sorted by revenue (nulls last), then title.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::daily::{for_each_item, DailyColumns, ShopCalendar};
use super::money::{self, MoneyType};
use super::{column, Batch, Kernel};
use crate::error::{CoreError, Result};

pub struct ProductPerformance {
    cal: ShopCalendar,
    cols: DailyColumns,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Acc {
    units: Option<i128>,
    revenue: Option<i128>,
    orders: u64,
    price_micros: i128,
    priced: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductState {
    days: BTreeMap<NaiveDate, HashMap<Box<str>, Acc>>,
    /// The latest day with an order (titled items or not): the default end.
    last_order_day: Option<NaiveDate>,
    money: MoneyType,
}

impl ProductPerformance {
    pub fn new(tz: &str, day_start: Duration, cols: DailyColumns) -> Result<Self> {
        Ok(ProductPerformance {
            cal: ShopCalendar::new(tz, day_start)?,
            cols,
        })
    }

    /// Titles over the `days` days ending at `end` (default: the latest
    /// order day; `days = None` is all time up to `end`), the `top` first.
    pub fn report(
        &self,
        st: &ProductState,
        days: Option<u32>,
        end: Option<NaiveDate>,
        top: Option<usize>,
    ) -> Result<DataFrame> {
        if days == Some(0) {
            return Err(CoreError::config("days", "must be at least 1"));
        }
        let end = end.or(st.last_order_day);
        let mut totals: HashMap<&str, Acc> = HashMap::new();
        if let Some(end) = end {
            let first = days.map(|d| end - Duration::days(d as i64 - 1));
            for (day, titles) in st.days.range(..=end) {
                if first.is_some_and(|f| *day < f) {
                    continue;
                }
                for (title, a) in titles {
                    let t = totals.entry(title).or_default();
                    t.units = money::add(t.units, a.units);
                    t.revenue = money::add(t.revenue, a.revenue);
                    t.orders += a.orders;
                    t.price_micros += a.price_micros;
                    t.priced += a.priced;
                }
            }
        }
        let mut rows: Vec<(&str, Acc)> = totals.into_iter().collect();
        rows.sort_by(|(ta, a), (tb, b)| {
            let by_revenue = match (a.revenue, b.revenue) {
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            by_revenue.then_with(|| ta.cmp(tb))
        });
        if let Some(top) = top {
            rows.truncate(top);
        }
        let money = if st.money.seen {
            st.money
        } else {
            MoneyType::default()
        };
        let units: Vec<Option<i64>> = rows
            .iter()
            .map(|(_, a)| a.units.map(|u| u as i64))
            .collect();
        let revenue: Vec<Option<i128>> = rows.iter().map(|(_, a)| a.revenue).collect();
        let avg: Vec<Option<f64>> = rows
            .iter()
            .map(|(_, a)| (a.priced > 0).then(|| a.price_micros as f64 / 1e6 / a.priced as f64))
            .collect();
        Ok(DataFrame::new_infer_height(vec![
            Series::new(
                "product_title".into(),
                rows.iter().map(|(t, _)| *t).collect::<Vec<&str>>(),
            )
            .into(),
            Series::new("total_sold".into(), units).into(),
            money.series_opt("total_revenue", &revenue)?.into(),
            Series::new(
                "orders_containing_product".into(),
                rows.iter()
                    .map(|(_, a)| a.orders as i64)
                    .collect::<Vec<i64>>(),
            )
            .into(),
            Series::new("avg_selling_price".into(), avg).into(),
        ])?)
    }
}

impl Kernel for ProductPerformance {
    type Partial = ProductState;

    fn empty(&self) -> ProductState {
        ProductState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<ProductState> {
        let c = &self.cols;
        let o = batch.orders;
        let days = self.cal.days(column(o, "orders", &c.created_at)?)?;
        let mut st = ProductState {
            last_order_day: days.iter().flatten().max().copied(),
            ..Default::default()
        };
        let Some(items) = batch.line_items else {
            return Err(CoreError::config(
                "line_items",
                "product performance needs the orders' line items",
            ));
        };
        let mut counted: HashSet<(u64, Box<str>)> = HashSet::new();
        let days_of = &mut st.days;
        let money = for_each_item(o, items, c, &days, |order, day, title, q, p| {
            let a = days_of
                .entry(day)
                .or_default()
                .entry(title.into())
                .or_default();
            a.units = money::add(a.units, q.map(i128::from));
            a.revenue = money::add(a.revenue, q.zip(p).map(|(q, p)| q as i128 * p));
            if let Some(p) = p {
                a.price_micros += p;
                a.priced += 1;
            }
            if counted.insert((order, title.into())) {
                a.orders += 1;
            }
        })?;
        st.money = money;
        Ok(st)
    }

    fn merge(&self, mut a: ProductState, b: ProductState) -> ProductState {
        a.money = a.money.merge(b.money);
        a.last_order_day = a.last_order_day.max(b.last_order_day);
        for (day, titles) in b.days {
            let into = a.days.entry(day).or_default();
            for (title, x) in titles {
                let t = into.entry(title).or_default();
                t.units = money::add(t.units, x.units);
                t.revenue = money::add(t.revenue, x.revenue);
                t.orders += x.orders;
                t.price_micros += x.price_micros;
                t.priced += x.priced;
            }
        }
        a
    }

    fn finalize(&self, st: &ProductState) -> Result<DataFrame> {
        self.report(st, Some(30), None, Some(20))
    }
}
