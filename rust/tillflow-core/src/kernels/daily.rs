//! `daily_summary`: per day, orders, revenue, average order value, unique
//! customers and the top product; `revenue_trend` reads the same state.
//!
//! A day is a calendar day in the shop's time zone, starting at
//! `day_start` (midnight by default; a bar might close its day at 04:00).
//! Orders without a timestamp are left out. Line items join their order on
//! `_tf_parent_id = _tf_id` within the batch; the top product of a day is
//! the title with the most `quantity * price`, ties going to the title first
//! in ascending order, and titles whose every value is null rank last.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::calendar::ShopCalendar;
use super::calendar::{day_number, from_day_number};
use super::items::{sum_items, FastMap, FastSet, ItemStream, ItemSums, OrderIndex};
use super::money::{self, MoneyType};
use super::segments::{customer_keys, CustomerKey};
use super::{column, Batch, Kernel};
use crate::error::{CoreError, Result};

/// Column names the kernel reads.
#[derive(Debug, Clone)]
pub struct DailyColumns {
    pub created_at: String,
    pub total_price: String,
    pub customer: String,
    pub order_id: String,
    pub parent_id: String,
    pub title: String,
    pub quantity: String,
    pub price: String,
}

impl Default for DailyColumns {
    /// The names tillflow's normalizer gives Shopify orders.
    fn default() -> Self {
        DailyColumns {
            created_at: "created_at".into(),
            total_price: "total_price".into(),
            customer: "customer__id".into(),
            order_id: "_tf_id".into(),
            parent_id: "_tf_parent_id".into(),
            title: "title".into(),
            quantity: "quantity".into(),
            price: "price".into(),
        }
    }
}

pub struct DailySummary {
    cal: ShopCalendar,
    cols: DailyColumns,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DayState {
    orders: u64,
    /// Orders with a total (the average's denominator).
    priced: u64,
    micros: i128,
    customers: FastSet<CustomerKey>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DailyState {
    days: BTreeMap<NaiveDate, DayState>,
    /// Line items per (day, title), for the top product.
    items: ItemSums,
    money: MoneyType,
}

impl DailyState {
    /// The state (from [`DailySummary::stream`]) with its orders' line-item sums.
    pub fn with_items(mut self, items: ItemSums) -> DailyState {
        self.items.merge(items);
        self
    }

    pub fn first_day(&self) -> Option<NaiveDate> {
        self.days.keys().next().copied()
    }

    pub fn last_day(&self) -> Option<NaiveDate> {
        self.days.keys().next_back().copied()
    }
}

impl DailySummary {
    /// `tz` is an IANA name (`"Europe/Berlin"`); `day_start` how far past
    /// midnight a day begins.
    pub fn new(tz: &str, day_start: Duration, cols: DailyColumns) -> Result<Self> {
        Ok(DailySummary {
            cal: ShopCalendar::new(tz, day_start)?,
            cols,
        })
    }

    /// The summary, one row per day, newest first; `start`/`end` inclusive.
    pub fn summary(
        &self,
        st: &DailyState,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<DataFrame> {
        let days: Vec<(&NaiveDate, &DayState)> = st
            .days
            .iter()
            .rev()
            .filter(|(d, _)| start.is_none_or(|s| **d >= s) && end.is_none_or(|e| **d <= e))
            .collect();
        let date: Vec<NaiveDate> = days.iter().map(|(d, _)| **d).collect();
        let orders: Vec<i64> = days.iter().map(|(_, s)| s.orders as i64).collect();
        let revenue: Vec<Option<i128>> = days
            .iter()
            .map(|(_, s)| (s.priced > 0).then_some(s.micros))
            .collect();
        let aov: Vec<Option<f64>> = days
            .iter()
            .map(|(_, s)| (s.priced > 0).then(|| s.micros as f64 / 1e6 / s.priced as f64))
            .collect();
        let customers: Vec<i64> = days.iter().map(|(_, s)| s.customers.len() as i64).collect();
        let tops = top_products(&st.items);
        let top: Vec<Option<&str>> = days
            .iter()
            .map(|(d, _)| tops.get(&day_number(**d)).map(|(t, _)| *t))
            .collect();
        Ok(DataFrame::new_infer_height(vec![
            date_series("date", &date)?.into(),
            Series::new("total_orders".into(), orders).into(),
            st.money.series_opt("revenue", &revenue)?.into(),
            Series::new("average_order_value".into(), aov).into(),
            Series::new("unique_customers".into(), customers).into(),
            Series::new("top_product".into(), top).into(),
        ])?)
    }

    /// The state of a batch's orders without their line items, and the
    /// index line items join through.
    fn orders_state(&self, o: &DataFrame) -> Result<(DailyState, OrderIndex)> {
        let c = &self.cols;
        let days = self.cal.day_numbers(column(o, "orders", &c.created_at)?)?;
        let (totals, money) = money::amounts(column(o, "orders", &c.total_price)?)?;
        let customers = customer_keys(column(o, "orders", &c.customer)?)?;
        let mut per_day: FastMap<i32, DayState> = FastMap::default();
        for ((day, total), customer) in days.iter().zip(totals.iter()).zip(customers) {
            let Some(day) = day else { continue };
            let s = per_day.entry(*day).or_default();
            s.orders += 1;
            if let Some(t) = total {
                s.priced += 1;
                s.micros += t;
            }
            if let Some(k) = customer {
                s.customers.insert(k);
            }
        }
        let st = DailyState {
            days: per_day
                .into_iter()
                .map(|(d, s)| (from_day_number(d), s))
                .collect(),
            items: ItemSums::default(),
            money,
        };
        Ok((st, OrderIndex::new(o, c, days)?))
    }

    /// The state of `orders` without their line items, and a stream their
    /// line items can then be pushed into batch by batch (see
    /// [`ItemStream`]); [`DailyState::with_items`] joins the two.
    pub fn stream(&self, orders: &DataFrame) -> Result<(DailyState, ItemStream)> {
        let (st, index) = self.orders_state(orders)?;
        Ok((st, ItemStream::new(index, self.cols.clone(), true)))
    }

    /// The best-selling titles over the `days` days ending at `end`, as
    /// [`super::products::ProductPerformance::report`] gives them: the daily
    /// state holds the same line-item sums.
    pub fn products(
        &self,
        st: &DailyState,
        days: Option<u32>,
        end: Option<NaiveDate>,
        top: Option<usize>,
    ) -> Result<DataFrame> {
        super::products::report(&st.items, st.last_day(), days, end, top)
    }

    /// `days` days ending at `end` (default: the latest day with orders),
    /// newest first, days without orders as zeros (a null average); with
    /// `weekly`, the same window summed into weeks starting on Monday (a
    /// customer counted once per week).
    pub fn trend(
        &self,
        st: &DailyState,
        days: u32,
        end: Option<NaiveDate>,
        weekly: bool,
    ) -> Result<DataFrame> {
        if days == 0 {
            return Err(CoreError::config("days", "must be at least 1"));
        }
        let Some(end) = end.or(st.last_day()) else {
            return self
                .summary(&DailyState::default(), None, None)
                .map(|df| df.drop("top_product").expect("column exists"));
        };
        let first = end - Duration::days(days as i64 - 1);
        // Periods, newest first: each a start day and the days it covers.
        let mut periods: Vec<(NaiveDate, Vec<NaiveDate>)> = Vec::new();
        let mut d = end;
        while d >= first {
            let key = if weekly {
                d - Duration::days(d.weekday_from_monday() as i64)
            } else {
                d
            };
            match periods.last_mut() {
                Some((k, ds)) if *k == key => ds.push(d),
                _ => periods.push((key, vec![d])),
            }
            d -= Duration::days(1);
        }
        let empty = DayState::default();
        let mut date = Vec::new();
        let (mut orders, mut revenue, mut aov, mut customers) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (key, ds) in &periods {
            let mut n = 0u64;
            let mut priced = 0u64;
            let mut micros = 0i128;
            let mut who: FastSet<&CustomerKey> = FastSet::default();
            for d in ds {
                let s = st.days.get(d).unwrap_or(&empty);
                n += s.orders;
                priced += s.priced;
                micros += s.micros;
                who.extend(s.customers.iter());
            }
            date.push(*key);
            orders.push(n as i64);
            revenue.push(micros);
            aov.push((priced > 0).then(|| micros as f64 / 1e6 / priced as f64));
            customers.push(who.len() as i64);
        }
        let label = if weekly { "week" } else { "date" };
        let money = st.money.settled();
        Ok(DataFrame::new_infer_height(vec![
            date_series(label, &date)?.into(),
            Series::new("total_orders".into(), orders).into(),
            money.series("revenue", &revenue)?.into(),
            Series::new("average_order_value".into(), aov).into(),
            Series::new("unique_customers".into(), customers).into(),
        ])?)
    }
}

trait WeekdayFromMonday {
    fn weekday_from_monday(&self) -> u32;
}

impl WeekdayFromMonday for NaiveDate {
    fn weekday_from_monday(&self) -> u32 {
        use chrono::Datelike;
        self.weekday().num_days_from_monday()
    }
}

/// Per day, the title with the highest `quantity * price`: nulls rank
/// last, ties go to the title first in ascending order.
fn top_products(items: &ItemSums) -> FastMap<i32, (&str, Option<i128>)> {
    let mut best: FastMap<i32, (&str, Option<i128>)> = FastMap::default();
    for (day, title, cell) in items.cells() {
        let candidate = (title, cell.revenue);
        best.entry(day)
            .and_modify(|b| {
                let by_value = match (candidate.1, b.1) {
                    (Some(x), Some(y)) => y.cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                };
                if by_value.then_with(|| candidate.0.cmp(b.0)).is_lt() {
                    *b = candidate;
                }
            })
            .or_insert(candidate);
    }
    best
}

fn date_series(name: &str, days: &[NaiveDate]) -> Result<Series> {
    let v: Vec<i32> = days.iter().map(|d| day_number(*d)).collect();
    Ok(Series::new(name.into(), v).into_date())
}

impl Kernel for DailySummary {
    type Partial = DailyState;

    fn empty(&self) -> DailyState {
        DailyState::default()
    }

    fn partial(&self, batch: Batch<'_>) -> Result<DailyState> {
        let (mut st, index) = self.orders_state(batch.orders)?;
        if let Some(items) = batch.line_items {
            st.items = sum_items(&index, items, &self.cols, true)?;
        }
        Ok(st)
    }

    fn merge(&self, mut a: DailyState, b: DailyState) -> DailyState {
        a.money = a.money.merge(b.money);
        a.items.merge(b.items);
        for (day, s) in b.days {
            let t = a.days.entry(day).or_default();
            t.orders += s.orders;
            t.priced += s.priced;
            t.micros += s.micros;
            t.customers.extend(s.customers);
        }
        a
    }

    fn finalize(&self, st: &DailyState) -> Result<DataFrame> {
        self.summary(st, None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders(
        ts_us: &[Option<i64>],
        cents: &[Option<i128>],
        customers: &[Option<i64>],
    ) -> DataFrame {
        let n = ts_us.len();
        let ts = Series::new("created_at".into(), ts_us.to_vec())
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let total = Series::new("total_price".into(), cents.to_vec())
            .into_decimal(38, 2)
            .unwrap();
        DataFrame::new_infer_height(vec![
            Series::new("_tf_id".into(), (0..n as u64).collect::<Vec<u64>>()).into(),
            ts.into(),
            total.into(),
            Series::new("customer__id".into(), customers.to_vec()).into(),
        ])
        .unwrap()
    }

    fn items(parent: &[u64], title: &[&str], qty: &[i64], cents: &[i128]) -> DataFrame {
        let price = Series::new("price".into(), cents.to_vec())
            .into_decimal(38, 2)
            .unwrap();
        DataFrame::new_infer_height(vec![
            Series::new("_tf_parent_id".into(), parent.to_vec()).into(),
            Series::new("title".into(), title.to_vec()).into(),
            Series::new("quantity".into(), qty.to_vec()).into(),
            price.into(),
        ])
        .unwrap()
    }

    const H: i64 = 3_600_000_000;

    #[test]
    fn line_items_streamed_in_batches_equal_one_pass() {
        let k = DailySummary::new("Europe/Berlin", Duration::hours(4), DailyColumns::default())
            .unwrap();
        let n = 40usize;
        let ts: Vec<Option<i64>> = (0..n as i64).map(|i| Some(i * 7 * H)).collect();
        let o = orders(&ts, &vec![Some(1000); n], &vec![Some(1); n]);
        // 1 to 3 items per order, in the orders' order, titles repeating within an order.
        let (mut parent, mut title, mut qty, mut cents) = (vec![], vec![], vec![], vec![]);
        for i in 0..n as u64 {
            for j in 0..(i % 3 + 1) {
                parent.push(i);
                title.push(["mug", "bowl", "mug"][j as usize]);
                qty.push(j as i64 + 1);
                cents.push(250 * (j as i128 + 1));
            }
        }
        let all = items(&parent, &title, &qty, &cents);
        let whole = k
            .partial(Batch {
                orders: &o,
                line_items: Some(&all),
            })
            .unwrap();
        for size in [1usize, 2, 5, 13, 1000] {
            let (st, mut stream) = k.stream(&o).unwrap();
            let mut at = 0;
            while at < all.height() {
                stream.push(&all.slice(at as i64, size)).unwrap();
                at += size;
            }
            let streamed = st.with_items(stream.finish().unwrap().expect("in order"));
            assert_eq!(
                k.summary(&streamed, None, None).unwrap(),
                k.summary(&whole, None, None).unwrap()
            );
            assert_eq!(
                k.products(&streamed, None, None, None).unwrap(),
                k.products(&whole, None, None, None).unwrap(),
                "batches of {size}"
            );
        }
        // Items out of their orders' order cannot be counted per order in a stream.
        let (_, mut stream) = k.stream(&o).unwrap();
        let half = all.height() / 2;
        stream.push(&all.slice(half as i64, all.height())).unwrap();
        stream.push(&all.slice(0, half)).unwrap();
        assert!(stream.finish().unwrap().is_none());
    }

    #[test]
    fn days_follow_the_time_zone_and_day_start() {
        let jan1 = 1_704_067_200_000_000i64; // 2024-01-01T00:00Z
                                             // 23:30Z on Jan 1 is 00:30 on Jan 2 in Berlin; 01:00Z on Jan 3 is 02:00 there.
        let ts = [
            Some(jan1 + 23 * H + H / 2),
            Some(jan1 + 2 * 24 * H + H),
            None,
        ];
        let df = orders(
            &ts,
            &[Some(100), Some(200), Some(5)],
            &[Some(1), Some(1), None],
        );
        let dates = |tz: &str, start: i64| -> Vec<String> {
            let k = DailySummary::new(tz, Duration::hours(start), DailyColumns::default()).unwrap();
            let out = k.run([Batch::orders(&df)]).unwrap();
            out.column("date")
                .unwrap()
                .as_materialized_series()
                .iter()
                .map(|v| v.to_string())
                .collect()
        };
        assert_eq!(dates("UTC", 0), vec!["2024-01-03", "2024-01-01"]);
        assert_eq!(dates("Europe/Berlin", 0), vec!["2024-01-03", "2024-01-02"]);
        // Days starting at 04:00: 00:30 and 02:00 belong to the day before.
        assert_eq!(dates("Europe/Berlin", 4), vec!["2024-01-02", "2024-01-01"]);
        assert!(DailySummary::new("Mars/Base", Duration::zero(), DailyColumns::default()).is_err());
        assert!(DailySummary::new("UTC", Duration::hours(24), DailyColumns::default()).is_err());
    }

    #[test]
    fn top_product_ties_go_to_the_first_title() {
        let jan1 = 1_704_067_200_000_000i64;
        let df = orders(
            &[Some(jan1), Some(jan1 + H)],
            &[Some(1000), None],
            &[None, Some(7)],
        );
        let li = items(
            &[0, 0, 1, 1],
            &["b", "a", "a", "c"],
            &[2, 1, 1, 1],
            &[150, 100, 200, 300],
        );
        let k = DailySummary::new("UTC", Duration::zero(), DailyColumns::default()).unwrap();
        let out = k
            .run([Batch {
                orders: &df,
                line_items: Some(&li),
            }])
            .unwrap();
        // b: 3.00, a: 1.00 + 2.00 = 3.00, c: 3.00 -> "a"
        assert_eq!(
            out.column("top_product").unwrap().str().unwrap().get(0),
            Some("a")
        );
        // one priced order: revenue 10.00, average 10.0; a guest and customer 7
        assert_eq!(
            out.column("average_order_value")
                .unwrap()
                .f64()
                .unwrap()
                .get(0),
            Some(10.0)
        );
        assert_eq!(
            out.column("unique_customers")
                .unwrap()
                .i64()
                .unwrap()
                .get(0),
            Some(1)
        );
    }

    #[test]
    fn any_split_gives_the_same_summary_and_trend() {
        let start = 1_704_067_200_000_000i64;
        let n = 600usize;
        let ts: Vec<Option<i64>> = (0..n)
            .map(|i| (i % 41 != 0).then_some(start + (i as i64 * 7919 % 500) * H))
            .collect();
        let cents: Vec<Option<i128>> = (0..n)
            .map(|i| (i % 23 != 0).then_some((i * 131 % 9000) as i128))
            .collect();
        let cust: Vec<Option<i64>> = (0..n)
            .map(|i| (i % 11 != 0).then_some((i % 37) as i64))
            .collect();
        let df = orders(&ts, &cents, &cust);
        let titles = ["hat", "mug", "tee"];
        let parent: Vec<u64> = (0..2 * n as u64).map(|j| j / 2).collect();
        let title: Vec<&str> = (0..2 * n).map(|j| titles[j % 3]).collect();
        let qty: Vec<i64> = (0..2 * n).map(|j| 1 + (j % 4) as i64).collect();
        let price: Vec<i128> = (0..2 * n).map(|j| 500 + (j % 7) as i128 * 100).collect();
        let li = items(&parent, &title, &qty, &price);
        let k = DailySummary::new(
            "America/New_York",
            Duration::zero(),
            DailyColumns::default(),
        )
        .unwrap();
        let whole = k
            .partial(Batch {
                orders: &df,
                line_items: Some(&li),
            })
            .unwrap();
        for size in [1usize, 13, 250] {
            let mut states = Vec::new();
            for first in (0..n).step_by(size) {
                let len = size.min(n - first);
                let o = df.slice(first as i64, len);
                let l = li.slice(2 * first as i64, 2 * len);
                states.push(
                    k.partial(Batch {
                        orders: &o,
                        line_items: Some(&l),
                    })
                    .unwrap(),
                );
            }
            let merged = states
                .into_iter()
                .rev()
                .fold(k.empty(), |acc, s| k.merge(s, acc));
            assert_eq!(
                k.finalize(&merged).unwrap(),
                k.finalize(&whole).unwrap(),
                "size {size}"
            );
            for weekly in [false, true] {
                assert_eq!(
                    k.trend(&merged, 30, None, weekly).unwrap(),
                    k.trend(&whole, 30, None, weekly).unwrap()
                );
            }
        }
        let trend = k.trend(&whole, 30, None, false).unwrap();
        assert_eq!(trend.height(), 30);
        let weekly = k.trend(&whole, 28, None, true).unwrap();
        assert!(weekly.height() >= 4 && weekly.height() <= 5);
    }
}
