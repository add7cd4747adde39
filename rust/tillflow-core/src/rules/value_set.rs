//! Sets of accepted values (`is_in`, `not_in`, single-column
//! `relationships`, `contains_values`), converted once into a column's own
//! representation so lookups compare plain integers, float bits or strings.

use polars::prelude::*;

use super::column::{scaled_floor, temporal_ticks, Col, Domain, Slice};
use crate::error::{CoreError, Result};

/// Accepted values, in the column's own representation.
#[derive(Default)]
pub struct ValueSet {
    /// Integers, decimals (scaled) and temporal ticks; empty once `dense`
    /// holds them.
    pub exact: hashbrown::HashSet<i128, foldhash::fast::FixedState>,
    /// The exact values as one bit each over `[min, min + span)`, when they
    /// are many and that span is not much wider than their count (ids from
    /// a sequence, even sparse ones): a lookup is one bit test in a few
    /// MiB instead of a probe into a larger hash table.
    dense: Option<Dense>,
    pub floats: hashbrown::HashSet<u64, foldhash::fast::FixedState>,
    pub strings: hashbrown::HashSet<Box<str>, foldhash::fast::FixedState>,
    pub bools: [bool; 2],
}

struct Dense {
    min: i128,
    span: u128,
    words: Vec<u64>,
}

/// Below this many exact values a hash table stays in cache anyway.
const DENSE_MIN_VALUES: usize = 4096;
/// At most this many bits per value (a sparse id range), and 2^30 bits in all.
const DENSE_BITS_PER_VALUE: u128 = 64;
const DENSE_MAX_BITS: u128 = 1 << 30;

/// The bits that identify a float for equality: NaN is one value, -0 is 0.
#[inline]
pub fn float_key(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

impl ValueSet {
    /// Accepted values from JSON, each checked against the column's domain.
    pub fn from_json(rule: &str, domain: Domain, values: &[serde_json::Value]) -> Result<ValueSet> {
        use serde_json::Value as V;
        let mut set = ValueSet::default();
        for (i, v) in values.iter().enumerate() {
            let field = format!("values[{i}]");
            let wrong = || {
                CoreError::rule(
                    rule,
                    &field,
                    format!("{v} cannot occur in {}", domain.describe()),
                )
            };
            match (domain, v) {
                (_, V::Null) | (Domain::Null, _) => {}
                (Domain::Str, V::String(s)) => {
                    set.strings.insert(s.as_str().into());
                }
                (Domain::Bool, V::Bool(b)) => set.bools[*b as usize] = true,
                (Domain::Float, V::Number(n)) => {
                    set.floats.insert(float_key(n.as_f64().ok_or_else(wrong)?));
                }
                (Domain::Float, V::String(s)) if s.eq_ignore_ascii_case("nan") => {
                    set.floats.insert(float_key(f64::NAN));
                }
                (Domain::Int | Domain::UInt | Domain::Decimal(_), V::Number(n)) => {
                    let scale = match domain {
                        Domain::Decimal(s) => s,
                        _ => 0,
                    };
                    match scaled_floor(&n.to_string(), scale) {
                        Some((x, true)) => {
                            set.exact.insert(x);
                        }
                        _ => return Err(wrong()),
                    }
                }
                (Domain::Date | Domain::Datetime(_), V::String(s)) => {
                    set.exact
                        .insert(temporal_ticks(s, domain).ok_or_else(wrong)?);
                }
                _ => return Err(wrong()),
            }
        }
        set.densify();
        Ok(set)
    }

    /// The distinct values of a reference column, converted into `domain`.
    pub fn from_reference(rule: &str, domain: Domain, reference: &Series) -> Result<ValueSet> {
        let r = Col::bind(rule, "to", reference)?;
        let compatible = match (domain, r.domain) {
            (_, Domain::Null) | (Domain::Null, _) => true,
            (a, b) if a == b => true,
            (a, b) => a.is_numeric() && b.is_numeric(),
        };
        if !compatible {
            return Err(CoreError::rule(
                rule,
                "to",
                format!(
                    "the column is {} but the reference {:?} is {}",
                    domain.describe(),
                    r.name,
                    r.domain.describe()
                ),
            ));
        }
        let mut set = ValueSet::default();
        let n = r.series.len();
        let slice = Slice::of(&r, 0, n);
        match (&slice, domain) {
            (Slice::Str(_), _) => set.strings.reserve(n),
            (Slice::Bool(_), _) | (_, Domain::Float) => {}
            (_, d) if d.is_exact() => {
                // Straight into a bitmap when the span allows, else hashed.
                let values: Vec<i128> = (0..n)
                    .filter_map(|i| exact_in(&slice, i, r.domain, domain))
                    .collect();
                set.fill_exact(values);
                return Ok(set);
            }
            _ => {}
        }
        for i in 0..n {
            match (&slice, domain) {
                (Slice::Str(a), _) => {
                    if let Some(s) = a.get(i) {
                        set.strings.insert(s.into());
                    }
                }
                (Slice::Bool(a), _) => {
                    if let Some(b) = a.get(i) {
                        set.bools[b as usize] = true;
                    }
                }
                (_, Domain::Float) => {
                    if let Some(v) = slice.float(i, r.domain) {
                        set.floats.insert(float_key(v));
                    }
                }
                _ => {}
            }
        }
        Ok(set)
    }

    /// Moves many exact values into a bitmap when their span allows.
    fn densify(&mut self) {
        if self.exact.len() >= DENSE_MIN_VALUES {
            let values: Vec<i128> = self.exact.drain().collect();
            self.fill_exact(values);
        }
    }

    /// Takes `values` (repeats allowed) as a bitmap when they are many and
    /// their span is narrow enough, else into the hash set.
    fn fill_exact(&mut self, values: Vec<i128>) {
        let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
            return;
        };
        let span = max.checked_sub(min).map(|d| d as u128 + 1);
        match span {
            Some(span)
                if values.len() >= DENSE_MIN_VALUES
                    && span <= DENSE_MAX_BITS
                    && span <= DENSE_BITS_PER_VALUE * values.len() as u128 =>
            {
                let mut words = vec![0u64; span.div_ceil(64) as usize];
                for v in values {
                    let off = (v - min) as usize;
                    words[off / 64] |= 1 << (off % 64);
                }
                self.dense = Some(Dense { min, span, words });
            }
            _ => {
                self.exact.reserve(values.len());
                self.exact.extend(values);
            }
        }
    }

    #[inline]
    pub fn has_exact(&self, v: i128) -> bool {
        match &self.dense {
            Some(d) => match v.checked_sub(d.min) {
                Some(off) if off >= 0 && (off as u128) < d.span => {
                    let off = off as usize;
                    d.words[off / 64] >> (off % 64) & 1 == 1
                }
                _ => false,
            },
            None => self.exact.contains(&v),
        }
    }

    /// Whether value `i` of `s` is in the set (null never is).
    pub fn holds(&self, s: &Slice, i: usize) -> bool {
        match s {
            Slice::Str(a) => a.get(i).is_some_and(|v| self.strings.contains(v)),
            Slice::I64(a) => a.get(i).is_some_and(|v| self.has_exact(v as i128)),
            Slice::U64(a) => a.get(i).is_some_and(|v| self.has_exact(v as i128)),
            Slice::I128(a) => a.get(i).is_some_and(|v| self.has_exact(v)),
            Slice::F64(a) => a
                .get(i)
                .is_some_and(|v| self.floats.contains(&float_key(v))),
            Slice::Bool(a) => a.get(i).is_some_and(|b| self.bools[b as usize]),
            Slice::Null => false,
        }
    }
}

/// Value `i` of `slice` (in domain `from`) as an exact value of domain `to`,
/// when it has one (a float 2.5 has none in an integer column).
fn exact_in(slice: &Slice, i: usize, from: Domain, to: Domain) -> Option<i128> {
    let to_scale = match to {
        Domain::Decimal(s) => s,
        _ => 0,
    };
    match from {
        Domain::Float => {
            let f = slice.float(i, from)?;
            let scaled = f * 10f64.powi(to_scale as i32);
            (scaled.fract() == 0.0 && scaled.abs() < 1e37).then_some(scaled as i128)
        }
        Domain::Decimal(s) => {
            let v = slice.exact(i)?;
            if s >= to_scale {
                let div = 10i128.checked_pow(s - to_scale)?;
                (v % div == 0).then_some(v / div)
            } else {
                v.checked_mul(10i128.checked_pow(to_scale - s)?)
            }
        }
        _ => slice.exact(i)?.checked_mul(10i128.checked_pow(to_scale)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(values: Vec<i64>) -> ValueSet {
        ValueSet::from_reference("r", Domain::Int, &Series::new("id".into(), values)).unwrap()
    }

    #[test]
    fn many_ids_in_a_narrow_span_become_a_bitmap_with_exact_edges() {
        // 10,000 ids spread over 200,000 (20 bits per id): a bitmap
        let set = ids((0..10_000).map(|i| -50_000 + i * 20).collect());
        assert!(set.dense.is_some());
        for v in [-50_000i128, -50_000 + 20, -50_000 + 9_999 * 20] {
            assert!(set.has_exact(v), "{v}");
        }
        for v in [
            -50_001i128,
            -49_999,
            -50_000 + 9_999 * 20 + 1,
            i128::MIN,
            i128::MAX,
            1,
        ] {
            assert!(!set.has_exact(v), "{v}");
        }
    }

    #[test]
    fn few_or_scattered_ids_stay_hashed() {
        assert!(ids((0..100).collect()).dense.is_none());
        let scattered = ids((0..10_000).map(|i| i * 1_000_000).collect());
        assert!(scattered.dense.is_none());
        assert!(scattered.has_exact(5_000_000) && !scattered.has_exact(5_000_001));
        let extremes = ids([i64::MIN, i64::MAX].into_iter().chain(0..5_000).collect());
        assert!(extremes.dense.is_none());
        assert!(extremes.has_exact(i64::MIN as i128) && extremes.has_exact(4_999));
    }
}
