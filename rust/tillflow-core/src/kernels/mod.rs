//! Business metrics as kernels that split into partial → merge → finalize.
//!
//! A kernel turns one batch into a partial state, merges partial states in
//! any grouping, and finalizes a state into the metric's frame. Partial
//! states hold exact integers (money in millionths, counts), so any split of
//! the rows into batches gives the same result as one pass.

pub mod buckets;
pub mod money;
pub mod segments;

use polars::prelude::*;

use crate::error::Result;

/// A metric computed batch by batch.
pub trait Kernel {
    type Partial: Clone + Send + std::fmt::Debug + PartialEq;

    /// The empty state: the identity of [`Kernel::merge`].
    fn empty(&self) -> Self::Partial;

    /// The state of one batch.
    fn partial(&self, batch: &DataFrame) -> Result<Self::Partial>;

    /// Both states as one; associative and commutative.
    fn merge(&self, a: Self::Partial, b: Self::Partial) -> Self::Partial;

    /// The metric's frame.
    fn finalize(&self, state: &Self::Partial) -> Result<DataFrame>;

    /// Every batch, merged, finalized.
    fn run<'a>(&self, batches: impl IntoIterator<Item = &'a DataFrame>) -> Result<DataFrame> {
        let mut state = self.empty();
        for b in batches {
            state = self.merge(state, self.partial(b)?);
        }
        self.finalize(&state)
    }
}
