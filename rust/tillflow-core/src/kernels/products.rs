//! `product_performance`: the best-selling line-item titles over a window of
//! shop days.
//!
//! Line items join their order on `_tf_parent_id = _tf_id` within the batch
//! (each order and its items arrive in one batch, once); items without a
//! title are left out. Per title: units sold (sum of quantity), revenue (sum
//! of `quantity * price`), orders containing it and the average selling
//! price; sorted by revenue (nulls last), then title.

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::calendar::{day_number, from_day_number, ShopCalendar};
use super::daily::DailyColumns;
use super::items::{sum_items, Cell, ItemSums, OrderIndex};
use super::{column, Batch, Kernel};
use crate::error::{CoreError, Result};

pub struct ProductPerformance {
    cal: ShopCalendar,
    cols: DailyColumns,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductState {
    items: ItemSums,
    /// The latest day with an order (titled items or not): the default end.
    last_order_day: Option<NaiveDate>,
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
        report(&st.items, st.last_order_day, days, end, top)
    }
}

/// [`ProductPerformance::report`] over line-item sums (shared with the
/// daily summary, whose state holds the same sums).
pub(super) fn report(
    items: &ItemSums,
    last_order_day: Option<NaiveDate>,
    days: Option<u32>,
    end: Option<NaiveDate>,
    top: Option<usize>,
) -> Result<DataFrame> {
    if days == Some(0) {
        return Err(CoreError::config("days", "must be at least 1"));
    }
    let end = end.or(last_order_day);
    let mut rows: Vec<(&str, Cell)> = match end {
        Some(end) => {
            let first = days.map(|d| day_number(end) - (d as i32 - 1));
            items.per_title(first, day_number(end))
        }
        None => Vec::new(),
    };
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
    let money = items.money.settled();
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

impl Kernel for ProductPerformance {
    type Partial = ProductState;

    fn empty(&self) -> ProductState {
        ProductState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<ProductState> {
        let c = &self.cols;
        let o = batch.orders;
        let days = self.cal.day_numbers(column(o, "orders", &c.created_at)?)?;
        let Some(items) = batch.line_items else {
            return Err(CoreError::config(
                "line_items",
                "product performance needs the orders' line items",
            ));
        };
        let last_order_day = days.iter().flatten().max().map(|d| from_day_number(*d));
        let index = OrderIndex::new(o, c, days)?;
        Ok(ProductState {
            last_order_day,
            items: sum_items(&index, items, c, true)?,
        })
    }

    fn merge(&self, mut a: ProductState, b: ProductState) -> ProductState {
        a.last_order_day = a.last_order_day.max(b.last_order_day);
        a.items.merge(b.items);
        a
    }

    fn finalize(&self, st: &ProductState) -> Result<DataFrame> {
        self.report(st, Some(30), None, Some(20))
    }
}
