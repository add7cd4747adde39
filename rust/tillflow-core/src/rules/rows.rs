//! Row checks over several columns, or with state built before the batch:
//! completeness, sums across columns, time spans, compound references and
//! reconciliation against another table's totals.

use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use polars::prelude::*;
use polars_arrow::array::{Array, PrimitiveArray};

use super::column::{Col, Domain, Slice};
use super::stats::to_micros;
use super::unique::{row_key, value_key};
use crate::error::{CoreError, Result};

#[inline]
pub fn set(out: &mut [u64], i: usize) {
    out[i / 64] |= 1 << (i % 64);
}

/// Whether value `i` is missing: null, or NaN in a float column.
#[inline]
pub fn missing(s: &Slice, i: usize) -> bool {
    match s {
        Slice::Null => true,
        Slice::F64(a) => a.get(i).is_none_or(f64::is_nan),
        Slice::I64(a) => !a.is_valid(i),
        Slice::U64(a) => !a.is_valid(i),
        Slice::I128(a) => !a.is_valid(i),
        Slice::Str(a) => !a.is_valid(i),
        Slice::Bool(a) => !a.is_valid(i),
    }
}

/// The instant of value `i` of a date or datetime column, in microseconds.
#[inline]
pub fn micros(s: &Slice, d: Domain, i: usize) -> Option<i128> {
    let Slice::I64(a) = s else { return None };
    let v = a.get(i)?;
    Some(match d {
        Domain::Date => v as i128 * 86_400_000_000,
        Domain::Datetime(u) => to_micros(v, u) as i128,
        _ => return None,
    })
}

/// Value `i` of a numeric column at decimal scale `scale` (exact domains only).
#[inline]
fn scaled(s: &Slice, d: Domain, i: usize, scale: u32) -> Option<i128> {
    let from = match d {
        Domain::Decimal(s) => s,
        Domain::Int | Domain::UInt => 0,
        _ => return None,
    };
    s.exact(i)?.checked_mul(10i128.checked_pow(scale - from)?)
}

/// How two numbers of these domains are compared: exactly at a common
/// decimal scale, or as floats.
#[derive(Clone, Copy)]
pub enum Arith {
    Exact(u32),
    Float,
}

impl Arith {
    pub fn of(domains: &[Domain]) -> Arith {
        if domains.iter().all(|d| {
            matches!(
                d,
                Domain::Int | Domain::UInt | Domain::Decimal(_) | Domain::Null
            )
        }) {
            let scale = domains
                .iter()
                .map(|d| match d {
                    Domain::Decimal(s) => *s,
                    _ => 0,
                })
                .max()
                .unwrap_or(0);
            Arith::Exact(scale)
        } else {
            Arith::Float
        }
    }

    /// Whether `a` and `b` are equal within `within`.
    #[inline]
    fn close(self, a: Num2, b: Num2, within: Within) -> bool {
        match (a, b, within) {
            (Num2::E(x), Num2::E(y), Within::Exact(w)) => x.abs_diff(y) <= w,
            (x, y, w) => {
                let (x, y) = (x.f(), y.f());
                let w = w.f();
                // A few units of rounding, so 0.1 + 0.2 equals 0.3.
                let ulps = 4.0 * f64::EPSILON * x.abs().max(y.abs());
                (x - y).abs() <= w.max(ulps)
            }
        }
    }
}

/// A number in an [`Arith`]: exact at its scale, or a float.
#[derive(Clone, Copy)]
enum Num2 {
    E(i128),
    F(f64),
}

impl Num2 {
    fn f(self) -> f64 {
        match self {
            Num2::E(v) => v as f64,
            Num2::F(v) => v,
        }
    }
}

/// A tolerance in an [`Arith`].
#[derive(Clone, Copy)]
pub enum Within {
    Exact(u128),
    Float(f64),
}

impl Within {
    pub fn new(arith: Arith, w: f64) -> Within {
        match arith {
            Arith::Exact(s) => Within::Exact((w * 10f64.powi(s as i32) + 1e-9).floor() as u128),
            Arith::Float => Within::Float(w),
        }
    }

    fn f(self) -> f64 {
        match self {
            Within::Exact(v) => v as f64,
            Within::Float(v) => v,
        }
    }
}

#[inline]
fn number(s: &Slice, d: Domain, i: usize, arith: Arith) -> Option<Num2> {
    match arith {
        Arith::Exact(scale) => scaled(s, d, i, scale).map(Num2::E),
        Arith::Float => s.float(i, d).filter(|v| !v.is_nan()).map(Num2::F),
    }
}

/// `sum_equals`: the columns add up to the total; a row with a missing
/// value is not judged.
pub fn sum_equals(
    slices: &[Slice],
    cols: &[Col],
    parts: &[usize],
    total: usize,
    within: (Arith, Within),
    len: usize,
    out: &mut [u64],
) {
    let (arith, w) = within;
    'rows: for i in 0..len {
        let Some(t) = number(&slices[total], cols[total].domain, i, arith) else {
            continue;
        };
        let mut sum = match arith {
            Arith::Exact(_) => Num2::E(0),
            Arith::Float => Num2::F(0.0),
        };
        for &p in parts {
            let Some(v) = number(&slices[p], cols[p].domain, i, arith) else {
                continue 'rows;
            };
            sum = match (sum, v) {
                (Num2::E(a), Num2::E(b)) => Num2::E(a.saturating_add(b)),
                (a, b) => Num2::F(a.f() + b.f()),
            };
        }
        if !arith.close(sum, t, w) {
            set(out, i);
        }
    }
}

/// `within`: `right − left` lies in `[lo, hi]` microseconds.
#[allow(clippy::too_many_arguments)]
pub fn time_span(
    l: &Slice,
    ld: Domain,
    r: &Slice,
    rd: Domain,
    lo: i128,
    hi: i128,
    len: usize,
    out: &mut [u64],
) {
    for i in 0..len {
        if let (Some(a), Some(b)) = (micros(l, ld, i), micros(r, rd, i)) {
            let d = b - a;
            if d < lo || d > hi {
                set(out, i);
            }
        }
    }
}

/// `distinct_across`: the present values of a row's columns all differ.
pub fn distinct_across(slices: &[Slice], cols: &[Col], at: &[usize], len: usize, out: &mut [u64]) {
    let mut seen: Vec<u128> = Vec::with_capacity(at.len());
    for i in 0..len {
        seen.clear();
        for &c in at {
            if let Some(k) = value_key(&slices[c], i, cols[c].domain) {
                if seen.contains(&k) {
                    set(out, i);
                    break;
                }
                seen.push(k);
            }
        }
    }
}

/// `complete` (every column present) or `any_present` (at least one).
pub fn presence(slices: &[Slice], at: &[usize], all: bool, len: usize, out: &mut [u64]) {
    for i in 0..len {
        let present = at.iter().filter(|c| !missing(&slices[**c], i)).count();
        let ok = if all {
            present == at.len()
        } else {
            present > 0
        };
        if !ok {
            set(out, i);
        }
    }
}

/// `decimal_places`: at most `max` digits after the point.
pub fn decimal_places(s: &Slice, d: Domain, max: u32, len: usize, out: &mut [u64]) {
    match (s, d) {
        (Slice::I128(a), Domain::Decimal(scale)) if scale > max => {
            let unit = 10i128.pow(scale - max);
            for i in 0..len {
                if a.get(i).is_some_and(|v| v % unit != 0) {
                    set(out, i);
                }
            }
        }
        (Slice::F64(a), _) => {
            // Digits of the shortest text that reads back as the same float.
            let mut buf = String::new();
            for i in 0..len {
                let Some(v) = a.get(i).filter(|v| v.is_finite()) else {
                    continue;
                };
                buf.clear();
                use std::fmt::Write;
                let _ = write!(buf, "{v}");
                let places = buf.split_once('.').map_or(0, |(_, f)| f.len());
                if places > max as usize {
                    set(out, i);
                }
            }
        }
        _ => {}
    }
}

/// The keys of a reference frame, for a compound `relationships` check.
pub struct KeySet {
    keys: HashSet<u128, foldhash::fast::FixedState>,
    /// Integer and temporal keys whose parts span small ranges, one bit per
    /// combination (a store by a calendar day): a lookup without hashing.
    grid: Option<Grid>,
}

/// A bitmap over the combinations of several integer key parts.
struct Grid {
    mins: Vec<i64>,
    spans: Vec<u64>,
    words: Vec<u64>,
}

/// At most this many bits in a grid, and 64 per reference row.
const GRID_MAX_BITS: u64 = 1 << 28;
const GRID_BITS_PER_ROW: u64 = 64;

impl Grid {
    /// A grid when every part is an integer, date or timestamp of the same
    /// kind on both sides and the combinations are few enough.
    fn plan(slices: &[Slice], domains: &[Domain], child: &[Domain], n: usize) -> Option<Grid> {
        let integral = |d: Domain| matches!(d, Domain::Int | Domain::Date | Domain::Datetime(_));
        if n == 0
            || domains
                .iter()
                .zip(child)
                .any(|(r, c)| r != c || !integral(*r))
        {
            return None;
        }
        let parts: Vec<_> = slices
            .iter()
            .map(|s| match s {
                Slice::I64(a) => Some(a),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let mut mins = vec![i64::MAX; parts.len()];
        let mut maxs = vec![i64::MIN; parts.len()];
        for i in 0..n {
            for (j, a) in parts.iter().enumerate() {
                if let Some(v) = a.get(i) {
                    mins[j] = mins[j].min(v);
                    maxs[j] = maxs[j].max(v);
                }
            }
        }
        let mut total: u64 = 1;
        let mut spans = Vec::with_capacity(parts.len());
        for (lo, hi) in mins.iter().zip(&maxs) {
            if lo > hi {
                return None; // a part with no values
            }
            let span = u64::try_from(i128::from(*hi) - i128::from(*lo) + 1).ok()?;
            total = total.checked_mul(span)?;
            spans.push(span);
        }
        if total > GRID_MAX_BITS || total > GRID_BITS_PER_ROW.saturating_mul(n as u64) {
            return None;
        }
        let mut grid = Grid {
            mins,
            spans,
            words: vec![0u64; total.div_ceil(64) as usize],
        };
        for i in 0..n {
            if let Some(Some(at)) = grid.index(&parts, i) {
                grid.words[at / 64] |= 1 << (at % 64);
            }
        }
        Some(grid)
    }

    /// Row `i`'s bit: `None` when a part is null, `Some(None)` when a part
    /// lies outside the reference's range.
    #[inline]
    fn index(&self, parts: &[&PrimitiveArray<i64>], i: usize) -> Option<Option<usize>> {
        let mut at: u64 = 0;
        let mut outside = false;
        for (j, a) in parts.iter().enumerate() {
            let v = a.get(i)?;
            let off = v.wrapping_sub(self.mins[j]) as u64;
            // A value below the minimum wraps to a huge offset, past the span.
            if v < self.mins[j] || off >= self.spans[j] {
                outside = true;
            } else {
                at = at * self.spans[j] + off;
            }
        }
        Some((!outside).then_some(at as usize))
    }

    fn check(&self, parts: &[&PrimitiveArray<i64>], len: usize, out: &mut [u64]) {
        for i in 0..len {
            let missing = match self.index(parts, i) {
                None => false,
                Some(None) => true,
                Some(Some(at)) => self.words[at / 64] >> (at % 64) & 1 == 0,
            };
            if missing {
                set(out, i);
            }
        }
    }
}

impl KeySet {
    pub fn build(rule: &str, reference: &DataFrame, child: &[Domain]) -> Result<KeySet> {
        let cols = reference_cols(rule, reference, child)?;
        let n = reference.height();
        let slices: Vec<Slice> = cols.iter().map(|c| Slice::of(c, 0, n)).collect();
        let domains: Vec<Domain> = cols.iter().map(|c| c.domain).collect();
        if let Some(grid) = Grid::plan(&slices, &domains, child, n) {
            return Ok(KeySet {
                keys: HashSet::default(),
                grid: Some(grid),
            });
        }
        let mut keys = HashSet::with_capacity_and_hasher(n, Default::default());
        for i in 0..n {
            if let Some(k) = row_key(&slices, &domains, i, None) {
                keys.insert(k);
            }
        }
        Ok(KeySet { keys, grid: None })
    }

    /// Marks rows whose full key is not in the reference (a null part passes).
    pub fn check(&self, slices: &[Slice], cols: &[Col], at: &[usize], len: usize, out: &mut [u64]) {
        if let Some(grid) = &self.grid {
            // The child's parts have the reference's kinds, so they are I64 too.
            let parts: Option<Vec<&PrimitiveArray<i64>>> = at
                .iter()
                .map(|c| match &slices[*c] {
                    Slice::I64(a) => Some(a),
                    _ => None,
                })
                .collect();
            if let Some(parts) = parts {
                grid.check(&parts, len, out);
            }
            return;
        }
        let mine: Vec<Slice> = at.iter().map(|c| slices[*c].clone()).collect();
        let domains: Vec<Domain> = at.iter().map(|c| cols[*c].domain).collect();
        for i in 0..len {
            if let Some(k) = row_key(&mine, &domains, i, None) {
                if !self.keys.contains(&k) {
                    set(out, i);
                }
            }
        }
    }
}

/// Binds a reference frame's columns, checking each against the child
/// column it is matched with.
fn reference_cols(rule: &str, reference: &DataFrame, child: &[Domain]) -> Result<Vec<Col>> {
    if reference.width() < child.len() {
        return Err(CoreError::rule(
            rule,
            "to",
            format!(
                "the reference has {} columns; the key has {}",
                reference.width(),
                child.len()
            ),
        ));
    }
    let mut out = Vec::new();
    for (j, s) in reference.columns().iter().take(child.len()).enumerate() {
        let c = Col::bind(rule, "to", s.as_materialized_series())?;
        let ok = c.domain == child[j]
            || c.domain == Domain::Null
            || child[j] == Domain::Null
            || (c.domain.is_numeric() && child[j].is_numeric());
        if !ok {
            return Err(CoreError::rule(
                rule,
                "to",
                format!(
                    "key part {} is {} but the reference {:?} is {}",
                    j + 1,
                    child[j].describe(),
                    c.name,
                    c.domain.describe()
                ),
            ));
        }
        out.push(c);
    }
    Ok(out)
}

/// Another table's value per key, for `reconcile`.
pub struct RefValues {
    index: HashMap<u128, u32, foldhash::fast::FixedState>,
    value: Col,
}

impl RefValues {
    pub fn build(rule: &str, reference: &DataFrame, key: &[Domain]) -> Result<Arc<RefValues>> {
        let cols = reference_cols(rule, reference, key)?;
        let n = reference.height();
        let Some(value) = reference.columns().get(key.len()) else {
            return Err(CoreError::rule(
                rule,
                "to",
                "the reference has no value column",
            ));
        };
        let value = Col::bind(rule, "to", value.as_materialized_series())?;
        if !(value.domain.is_numeric() || value.domain == Domain::Null) {
            return Err(CoreError::rule(
                rule,
                "to",
                format!(
                    "the reference's values are {}; reconcile needs numbers",
                    value.domain.describe()
                ),
            ));
        }
        let slices: Vec<Slice> = cols.iter().map(|c| Slice::of(c, 0, n)).collect();
        let domains: Vec<Domain> = cols.iter().map(|c| c.domain).collect();
        let mut index = HashMap::with_capacity_and_hasher(n, Default::default());
        for i in 0..n {
            if let Some(k) = row_key(&slices, &domains, i, None) {
                index.insert(k, i as u32);
            }
        }
        Ok(Arc::new(RefValues { index, value }))
    }

    /// Marks rows whose value is not the reference's for their key.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        slices: &[Slice],
        cols: &[Col],
        key: &[usize],
        column: usize,
        within: f64,
        len: usize,
        out: &mut [u64],
    ) {
        let mine: Vec<Slice> = key.iter().map(|c| slices[*c].clone()).collect();
        let domains: Vec<Domain> = key.iter().map(|c| cols[*c].domain).collect();
        let vd = self.value.domain;
        let arith = Arith::of(&[cols[column].domain, vd]);
        let w = Within::new(arith, within);
        let whole = Slice::of(&self.value, 0, self.value.series.len());
        for i in 0..len {
            let Some(mine_v) = number(&slices[column], cols[column].domain, i, arith) else {
                continue;
            };
            let Some(k) = row_key(&mine, &domains, i, None) else {
                continue;
            };
            let theirs = match self.index.get(&k) {
                Some(j) => number(&whole, vd, *j as usize, arith),
                None => None,
            }
            .unwrap_or(match arith {
                Arith::Exact(_) => Num2::E(0),
                Arith::Float => Num2::F(0.0),
            });
            if !arith.close(mine_v, theirs, w) {
                set(out, i);
            }
        }
    }
}
