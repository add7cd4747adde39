//! Per-customer state for the kernels that sum orders by customer
//! (segments, RFM, lifetime value, cohorts).
//!
//! A shop's orders spread over far more customers than a cache holds, so a
//! table probe per order would miss almost every time. Rows are first sorted
//! by the top bits of their key's hash into [`PARTS`] partitions (a counting
//! sort of row numbers); each partition is then summed into its own small
//! table, hot in cache, on as many threads as the batch warrants. The state
//! keeps the partitions, so two states merge partition by partition.

use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::items::FastMap;
use super::segments::CustomerKey;
use super::{in_threads, threads, PARALLEL_ROWS};
use crate::error::Result;

const PARTS: usize = 64;

/// The partition of a key: a hash seeded apart from the tables' own, so the
/// keys of one partition still spread over their table.
fn part_of(k: &CustomerKey) -> usize {
    (FixedState::with_seed(0x7111_c0de).hash_one(k) >> (64 - PARTS.trailing_zeros())) as usize
}

/// A value per customer, in partitions by key hash.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerMap<V> {
    parts: Vec<FastMap<CustomerKey, V>>,
}

impl<V> Default for CustomerMap<V> {
    fn default() -> Self {
        CustomerMap {
            parts: (0..PARTS).map(|_| FastMap::default()).collect(),
        }
    }
}

impl<V: Send> CustomerMap<V> {
    /// The rows with a key summed per customer: `first(row)` makes the value
    /// of a customer's first row, `more(value, row)` adds each further row.
    pub fn aggregate(
        keys: &[Option<CustomerKey>],
        first: impl Fn(usize) -> V + Sync,
        more: impl Fn(&mut V, usize) + Sync,
    ) -> Result<Self> {
        let mut counts = [0usize; PARTS];
        let part: Vec<u8> = keys
            .iter()
            .map(|k| match k {
                Some(k) => {
                    let p = part_of(k);
                    counts[p] += 1;
                    p as u8
                }
                None => u8::MAX,
            })
            .collect();
        let mut start = [0usize; PARTS + 1];
        for p in 0..PARTS {
            start[p + 1] = start[p] + counts[p];
        }
        let mut order = vec![0u32; start[PARTS]];
        let mut next = start;
        for (row, p) in part.iter().enumerate() {
            if *p != u8::MAX {
                order[next[*p as usize]] = row as u32;
                next[*p as usize] += 1;
            }
        }
        let sum_part = |p: usize| {
            let mut m: FastMap<CustomerKey, V> = FastMap::default();
            for &row in &order[start[p]..start[p + 1]] {
                let row = row as usize;
                let k = keys[row].as_ref().expect("partitioned rows have a key");
                match m.get_mut(k) {
                    Some(v) => more(v, row),
                    None => {
                        m.insert(k.clone(), first(row));
                    }
                }
            }
            m
        };
        let t = threads().min(keys.len() / PARALLEL_ROWS).max(1);
        let per = PARTS.div_ceil(t);
        let parts = in_threads(
            t,
            |i| {
                Ok(((i * per).min(PARTS)..((i + 1) * per).min(PARTS))
                    .map(sum_part)
                    .collect())
            },
            |mut a: Vec<_>, b| {
                a.extend(b);
                a
            },
        )?;
        Ok(CustomerMap { parts })
    }

    /// `other` merged in: `combine(value, other's value)` for a customer in both.
    pub fn merge(&mut self, other: CustomerMap<V>, combine: impl Fn(&mut V, V)) {
        for (into, from) in self.parts.iter_mut().zip(other.parts) {
            for (k, v) in from {
                match into.entry(k) {
                    Entry::Occupied(mut e) => combine(e.get_mut(), v),
                    Entry::Vacant(e) => {
                        e.insert(v);
                    }
                }
            }
        }
    }
}

impl<V> CustomerMap<V> {
    pub fn len(&self) -> usize {
        self.parts.iter().map(|m| m.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|m| m.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&CustomerKey, &V)> {
        self.parts.iter().flat_map(|m| m.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.parts.iter().flat_map(|m| m.values())
    }
}
