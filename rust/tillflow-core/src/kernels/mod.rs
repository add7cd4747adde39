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

use polars::prelude::*;

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

/// `part` over row slices of `df` on several threads, the states merged in
/// row order; one slice when the batch is small. Kernels whose state is
/// exact (every one here) give the same result either way.
pub(crate) fn by_slices<P: Send>(
    df: &DataFrame,
    part: impl Fn(&DataFrame) -> Result<P> + Sync,
    merge: impl FnMut(P, P) -> P,
) -> Result<P> {
    let n = df.height();
    let t = threads().min(n / PARALLEL_ROWS).max(1);
    let chunk = n.div_ceil(t);
    in_threads(t, |i| part(&df.slice((i * chunk) as i64, chunk)), merge)
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
