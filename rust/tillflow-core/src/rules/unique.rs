//! `unique`: a row fails when its key already appeared in an earlier row of
//! the same stream (pandas' `duplicated(keep="first")`).
//!
//! Keys are 128-bit: a single integer-like column keeps its exact value, and
//! anything else (strings, fractions, compound keys) is an xxh3-128 digest,
//! where a false duplicate among 10^10 keys has odds below 10^-18. The seen
//! keys are split into one hash table per thread by hash, so every thread
//! scans the batch in row order and owns its partition outright.

use hashbrown::HashTable;
use polars::prelude::StaticArray;
use xxhash_rust::xxh3::xxh3_128;

use super::column::{float_key, Col, Domain, Slice};

/// Seen keys of one `unique` check, kept across the batches of a stream.
pub struct UniqueState {
    parts: Vec<HashTable<u128>>,
}

#[inline]
fn mix(k: u128) -> u64 {
    // murmur3's 64-bit finalizer over both halves
    let mut h = (k as u64) ^ ((k >> 64) as u64).rotate_left(29);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The key of one value, or `None` for null. Integral numbers share one
/// space whatever their type (5, 5.0 and 5.00 are the same key).
#[inline]
fn value_key(s: &Slice, i: usize, d: Domain) -> Option<u128> {
    Some(match s {
        Slice::I64(a) => a.get(i)? as i128 as u128,
        Slice::U64(a) => a.get(i)? as i128 as u128,
        Slice::I128(a) => {
            let v = a.get(i)?;
            let scale = match d {
                Domain::Decimal(s) => s,
                _ => 0,
            };
            let div = 10i128.pow(scale);
            if v % div == 0 {
                (v / div) as u128
            } else {
                let (mut v, mut s) = (v, scale);
                while v % 10 == 0 {
                    v /= 10;
                    s -= 1;
                }
                let mut buf = [0u8; 21];
                buf[0] = b'd';
                buf[1..17].copy_from_slice(&v.to_le_bytes());
                buf[17..].copy_from_slice(&s.to_le_bytes());
                xxh3_128(&buf)
            }
        }
        Slice::F64(a) => {
            let v = a.get(i)?;
            if v.fract() == 0.0 && v.abs() < 9.2e18 {
                v as i64 as i128 as u128
            } else {
                let mut buf = [0u8; 9];
                buf[0] = b'f';
                buf[1..].copy_from_slice(&float_key(v).to_le_bytes());
                xxh3_128(&buf)
            }
        }
        Slice::Str(a) => {
            let v = a.get(i)?;
            let mut h = xxh3_128(v.as_bytes());
            h ^= 0x5_u128 << 120;
            h
        }
        Slice::Bool(a) => xxh3_128(&[b'b', a.get(i)? as u8]),
        Slice::Null => return None,
    })
}

impl UniqueState {
    pub fn new(parts: usize) -> Self {
        UniqueState {
            parts: (0..parts.max(1)).map(|_| HashTable::new()).collect(),
        }
    }

    /// Rows (batch-local) of `cols` whose key was seen before, in row order.
    pub fn push(&mut self, cols: &[&Col], n: usize) -> Vec<u32> {
        let slices: Vec<Slice> = cols.iter().map(|c| Slice::of(c, 0, n)).collect();
        // Room for every key up front: growing a table mid-batch holds the
        // old and the new one at once.
        let share = n / self.parts.len() + 1;
        for table in &mut self.parts {
            table.reserve(share, |x| mix(*x));
        }
        let domains: Vec<Domain> = cols.iter().map(|c| c.domain).collect();
        let p = self.parts.len() as u64;
        let key_of = |i: usize| -> Option<u128> {
            if slices.len() == 1 {
                return value_key(&slices[0], i, domains[0]);
            }
            let mut buf = [0u8; 16 * 8];
            let mut long = Vec::new();
            for (j, (s, d)) in slices.iter().zip(&domains).enumerate() {
                let k = value_key(s, i, *d)?.to_le_bytes();
                if j < 8 {
                    buf[j * 16..j * 16 + 16].copy_from_slice(&k);
                } else {
                    long.extend_from_slice(&k);
                }
            }
            if long.is_empty() {
                Some(xxh3_128(&buf[..slices.len() * 16]))
            } else {
                long.splice(0..0, buf);
                Some(xxh3_128(&long))
            }
        };
        let scan = |part: usize, table: &mut HashTable<u128>| -> Vec<u32> {
            let mut dup = Vec::new();
            for i in 0..n {
                let Some(k) = key_of(i) else { continue };
                let h = mix(k);
                if p > 1 && (h >> 40) % p != part as u64 {
                    continue;
                }
                match table.entry(h, |x| *x == k, |x| mix(*x)) {
                    hashbrown::hash_table::Entry::Occupied(_) => dup.push(i as u32),
                    hashbrown::hash_table::Entry::Vacant(v) => {
                        v.insert(k);
                    }
                }
            }
            dup
        };
        if self.parts.len() == 1 || n < 50_000 {
            // one thread scans every partition
            let mut all = Vec::new();
            for (part, table) in self.parts.iter_mut().enumerate() {
                all.extend(scan(part, table));
            }
            all.sort_unstable();
            return all;
        }
        let scan = &scan;
        let mut all: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .parts
                .iter_mut()
                .enumerate()
                .map(|(part, table)| s.spawn(move || scan(part, table)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("unique worker"))
                .collect()
        });
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn col(s: Series) -> Col {
        Col::bind("r", "column", &s).unwrap()
    }

    #[test]
    fn keeps_first_and_spans_batches() {
        for parts in [1, 2, 3] {
            let mut st = UniqueState::new(parts);
            let a = col(Series::new(
                "a".into(),
                &[Some(1i64), Some(2), Some(1), None, None],
            ));
            assert_eq!(st.push(&[&a], 5), vec![2]);
            let b = col(Series::new(
                "a".into(),
                &[Some(2.0f64), Some(3.5), Some(3.5)],
            ));
            assert_eq!(st.push(&[&b], 3), vec![0, 2]);
        }
    }

    #[test]
    fn compound_keys_skip_nulls() {
        let mut st = UniqueState::new(2);
        let a = col(Series::new(
            "a".into(),
            &[Some("x"), Some("x"), Some("x"), None],
        ));
        let b = col(Series::new(
            "b".into(),
            &[Some(1i64), Some(2), Some(1), Some(1)],
        ));
        assert_eq!(st.push(&[&a, &b], 4), vec![2]);
    }
}
