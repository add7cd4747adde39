//! Business metrics as kernels that split into partial → merge → finalize.
//!
//! A kernel turns one batch into a partial state, merges partial states in
//! any grouping, and finalizes a state into the metric's frame. Partial
//! states hold exact integers (money in millionths, counts), so any split of
//! the rows into batches gives the same result as one pass.

pub mod buckets;
pub mod calendar;
pub mod clv;
pub mod cohorts;
pub mod daily;
pub mod distinct;
pub mod items;
pub mod money;
pub mod products;
pub mod rfm;
pub mod segments;
pub mod web;

use std::collections::hash_map::Entry;
use std::hash::Hash;

use chrono::NaiveDate;
use polars::prelude::*;

use self::calendar::ShopCalendar;
use self::daily::DailyColumns;
use self::items::FastMap;
use self::money::MoneyType;
use self::segments::{customer_keys, CustomerKey};
use crate::error::{CoreError, Result};

/// One batch of a shop's orders and, when a kernel needs them, the line
/// items of exactly those orders (joined on `_tf_parent_id = _tf_id`).
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub orders: &'a DataFrame,
    pub line_items: Option<&'a DataFrame>,
}

impl<'a> Batch<'a> {
    pub fn orders(orders: &'a DataFrame) -> Batch<'a> {
        Batch {
            orders,
            line_items: None,
        }
    }
}

/// A column of `df` (the `table` named in the error when it is missing).
pub(crate) fn column<'a>(df: &'a DataFrame, table: &str, name: &str) -> Result<&'a Series> {
    df.column(name)
        .map(|c| c.as_materialized_series())
        .map_err(|_| CoreError::Schema {
            table: table.into(),
            message: format!("no column {name:?}"),
        })
}

/// An output column of plain values (counts, scores).
pub(crate) fn values_column<T>(name: &str, values: impl IntoIterator<Item = T>) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    Series::new(name.into(), values.into_iter().collect::<Vec<T>>()).into()
}

/// An output column of dates.
pub(crate) fn dates_column(name: &str, days: impl IntoIterator<Item = NaiveDate>) -> Column {
    let numbers: Vec<i32> = days.into_iter().map(calendar::day_number).collect();
    Series::new(name.into(), numbers).into_date().into()
}

/// Rows per thread below which a batch is summed on one thread.
pub(crate) const PARALLEL_ROWS: usize = 200_000;

/// Threads a kernel uses on a large batch.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

/// `part(i)` for `i` in `0..parts`, each on its own thread (in the calling
/// thread when there is one part), the results merged in order.
pub(crate) fn in_threads<P: Send>(
    parts: usize,
    part: impl Fn(usize) -> Result<P> + Sync,
    mut merge: impl FnMut(P, P) -> P,
) -> Result<P> {
    if parts <= 1 {
        return part(0);
    }
    let results: Vec<Result<P>> = std::thread::scope(|s| {
        let part = &part;
        let handles: Vec<_> = (0..parts).map(|i| s.spawn(move || part(i))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a kernel thread panicked"))
            .collect()
    });
    let mut results = results.into_iter();
    let mut acc = results.next().expect("at least one part")?;
    for r in results {
        acc = merge(acc, r?);
    }
    Ok(acc)
}

/// [`Kernel::partial`] of a kernel that reads only orders: `slice`'s
/// states of row slices of the batch's orders, each on its own thread,
/// merged in row order by the kernel; one slice when the batch is small.
/// Kernels whose state is exact (every one here) give the same result
/// either way.
pub(crate) fn orders_by_slices<K: Kernel + Sync>(
    kernel: &K,
    batch: Batch<'_>,
    slice: impl Fn(&DataFrame) -> Result<K::Partial> + Sync,
) -> Result<K::Partial> {
    let df = batch.orders;
    let n = df.height();
    let t = threads().min(n / PARALLEL_ROWS).max(1);
    let chunk = n.div_ceil(t);
    in_threads(
        t,
        |i| slice(&df.slice((i * chunk) as i64, chunk)),
        |a, b| kernel.merge(a, b),
    )
}

/// `b` merged into `a` key by key, the smaller map into the larger: `add`
/// folds one of `b`'s values into the value `a` holds under its key, and a
/// key only `b` holds keeps its value. For per-customer states, whose
/// merges are commutative.
pub(crate) fn merge_maps<K: Hash + Eq, V>(
    mut a: FastMap<K, V>,
    mut b: FastMap<K, V>,
    mut add: impl FnMut(&mut V, V),
) -> FastMap<K, V> {
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    for (k, v) in b {
        match a.entry(k) {
            Entry::Occupied(mut e) => add(e.get_mut(), v),
            Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
    a
}

/// One entry per customer over the orders of `o` that fall on a shop day
/// and name a customer, with the amounts' money type: `first` makes a
/// customer's entry from the day of their first order here, and `order`
/// folds in each order, its day and its amount in millionths, in row order.
/// Without `amounts` the total is not read and every amount is `None`.
pub(crate) fn per_customer<V>(
    cal: &ShopCalendar,
    cols: &DailyColumns,
    o: &DataFrame,
    amounts: bool,
    first: impl Fn(NaiveDate) -> V,
    mut order: impl FnMut(&mut V, NaiveDate, Option<i128>),
) -> Result<(FastMap<CustomerKey, V>, MoneyType)> {
    let days = cal.days(column(o, "orders", &cols.created_at)?)?;
    let customers = customer_keys(column(o, "orders", &cols.customer)?)?;
    let (amounts, money) = if amounts {
        money::micros(column(o, "orders", &cols.total_price)?)?
    } else {
        (Vec::new(), MoneyType::default())
    };
    let amounts = amounts.into_iter().chain(std::iter::repeat(None));
    let mut entries = FastMap::default();
    for ((day, customer), amount) in days.into_iter().zip(customers).zip(amounts) {
        if let (Some(day), Some(k)) = (day, customer) {
            order(entries.entry(k).or_insert_with(|| first(day)), day, amount);
        }
    }
    Ok((entries, money))
}

/// A metric computed batch by batch.
pub trait Kernel {
    type Partial: Clone + Send + std::fmt::Debug;

    /// The empty state: the identity of [`Kernel::merge`].
    fn empty(&self) -> Self::Partial;

    /// The state of one batch.
    fn partial(&self, batch: Batch<'_>) -> Result<Self::Partial>;

    /// Both states as one; associative and commutative.
    fn merge(&self, a: Self::Partial, b: Self::Partial) -> Self::Partial;

    /// The metric's frame.
    fn finalize(&self, state: &Self::Partial) -> Result<DataFrame>;

    /// Every batch, merged, finalized.
    fn run<'a>(&self, batches: impl IntoIterator<Item = Batch<'a>>) -> Result<DataFrame> {
        let mut state = self.empty();
        for b in batches {
            state = self.merge(state, self.partial(b)?);
        }
        self.finalize(&state)
    }
}
