//! Row checks bound to one batch, and the loops that mark failing rows.
//!
//! Every kernel writes one bit per row into a morsel's failure words: set
//! means the row broke the check. Values are compared 64 rows at a time
//! into a word, then masked by the validity words, so the hot loops have no
//! branches on nulls.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::{Array, Utf8ViewArray};
use polars_arrow::bitmap::Bitmap;
use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::Input;

use super::column::{Col, Domain, ExactRange, FloatRange, Slice};
use super::formats::Checker;
use super::rows::{self, Arith, KeySet, RefValues, Within};
use super::spec::CompareOp;
use super::text::TextCheck;
use super::value_set::{float_key, ValueSet};
use crate::error::{CoreError, Result};

/// The compiled form of `pattern`, shared by every validator that uses it:
/// building a DFA costs more than checking a small frame.
pub fn compiled(rule: &str, pattern: &str) -> Result<Arc<Matcher>> {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Matcher>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(m) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(m);
    }
    let m = Arc::new(Matcher::new(rule, pattern)?);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(pattern.to_string(), m.clone());
    }
    Ok(m)
}

/// Rows per morsel: a multiple of 64 so morsels own whole failure words.
pub const MORSEL: usize = 16 * 1024;

/// A compiled pattern. A dense DFA when the pattern is small enough (most
/// are), else the `regex` crate's engines.
pub struct Matcher {
    dfa: Option<dense::DFA<Vec<u32>>>,
    re: regex::Regex,
}

impl Matcher {
    pub fn new(rule: &str, pattern: &str) -> Result<Matcher> {
        let re = regex::Regex::new(pattern)
            .map_err(|e| CoreError::rule(rule, "pattern", format!("invalid regex: {e}")))?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .minimize(false)
                    .dfa_size_limit(Some(4 << 20))
                    .determinize_size_limit(Some(8 << 20)),
            )
            .build(pattern)
            .ok();
        Ok(Matcher { dfa, re })
    }

    #[inline]
    pub fn is_match(&self, s: &str) -> bool {
        if let Some(dfa) = &self.dfa {
            if let Ok(m) = dfa.try_search_fwd(&Input::new(s).earliest(true)) {
                return m.is_some();
            }
        }
        self.re.is_match(s)
    }
}

/// One row check bound to the columns of a batch (indices into its `Col`s).
pub enum Kernel {
    NotNull(usize),
    Exact(usize, ExactRange),
    Float(usize, FloatRange),
    Matches(usize, Arc<Matcher>),
    InSet(usize, Arc<ValueSet>),
    Compare(usize, CompareOp, usize),
    Mask(usize),
    IsNull(usize),
    NotInSet(usize, Arc<ValueSet>),
    NotMatches(usize, Arc<Matcher>),
    Text(usize, Arc<TextCheck>),
    Format(usize, Arc<Checker>),
    Finite(usize),
    DecimalPlaces(usize, u32),
    /// `right − left` in microseconds within `[lo, hi]`.
    Within(usize, usize, i128, i128),
    SumEquals(Vec<usize>, usize, Arith, Within),
    DistinctAcross(Vec<usize>),
    /// Every column present (`true`) or at least one.
    Presence(Vec<usize>, bool),
    KeyIn(Vec<usize>, Arc<KeySet>),
    Reconcile(Vec<usize>, usize, Arc<RefValues>, f64),
    /// Nothing in the batch can fail (a column of nulls under a value rule).
    Pass,
}

#[inline]
fn set(out: &mut [u64], i: usize) {
    out[i / 64] |= 1 << (i % 64);
}

/// The validity of an array as words (bit set = value present); `None` when
/// every value is present.
fn valid_words(validity: Option<&Bitmap>, len: usize) -> Option<Vec<u64>> {
    let b = validity.filter(|b| b.unset_bits() > 0)?;
    let mut words: Vec<u64> = Vec::with_capacity(len.div_ceil(64));
    let mut it = b.fast_iter_u64();
    words.extend(&mut it);
    let ([lo, hi], left) = it.remainder();
    if left > 0 {
        words.push(lo);
    }
    if left > 64 {
        words.push(hi);
    }
    words.truncate(len.div_ceil(64));
    Some(words)
}

/// Marks rows where `fail(value)` holds, skipping nulls.
#[inline]
fn scan<T: Copy>(vals: &[T], validity: Option<&Bitmap>, out: &mut [u64], fail: impl Fn(T) -> bool) {
    let valid = valid_words(validity, vals.len());
    for (w, chunk) in vals.chunks(64).enumerate() {
        let mut word = 0u64;
        for (j, &v) in chunk.iter().enumerate() {
            word |= (fail(v) as u64) << j;
        }
        if let Some(valid) = &valid {
            word &= valid[w];
        }
        out[w] |= word;
    }
}

/// Marks the nulls of an array (and, for floats, NaN).
fn mark_nulls(validity: Option<&Bitmap>, len: usize, out: &mut [u64]) {
    if let Some(valid) = valid_words(validity, len) {
        let tail = len % 64;
        for (w, v) in valid.iter().enumerate() {
            let mut missing = !v;
            if tail != 0 && w == valid.len() - 1 {
                missing &= (1u64 << tail) - 1;
            }
            out[w] |= missing;
        }
    }
}

impl Kernel {
    /// Marks the failing rows of one morsel in `out` (one bit per row).
    pub fn eval(&self, slices: &[Slice], cols: &[Col], len: usize, out: &mut [u64]) {
        match self {
            Kernel::Pass => {}
            Kernel::NotNull(c) => match &slices[*c] {
                Slice::Null => {
                    for i in 0..len {
                        set(out, i);
                    }
                }
                Slice::F64(a) => {
                    mark_nulls(a.validity(), len, out);
                    scan(a.values(), None, out, |v: f64| v.is_nan());
                }
                Slice::I64(a) => mark_nulls(a.validity(), len, out),
                Slice::U64(a) => mark_nulls(a.validity(), len, out),
                Slice::I128(a) => mark_nulls(a.validity(), len, out),
                Slice::Str(a) => mark_nulls(a.validity(), len, out),
                Slice::Bool(a) => mark_nulls(a.validity(), len, out),
            },
            Kernel::Exact(c, r) => match &slices[*c] {
                Slice::I64(a) => {
                    if r.lo > i64::MAX as i128 || r.hi < i64::MIN as i128 || r.lo > r.hi {
                        scan(a.values(), a.validity(), out, |_: i64| true);
                    } else {
                        let lo = r.lo.max(i64::MIN as i128) as i64;
                        let hi = r.hi.min(i64::MAX as i128) as i64;
                        scan(a.values(), a.validity(), out, |v: i64| v < lo || v > hi);
                    }
                }
                Slice::U64(a) => {
                    let (lo, hi) = (r.lo, r.hi);
                    scan(a.values(), a.validity(), out, |v: u64| {
                        let v = v as i128;
                        v < lo || v > hi
                    });
                }
                Slice::I128(a) => {
                    let (lo, hi) = (r.lo, r.hi);
                    scan(a.values(), a.validity(), out, |v: i128| v < lo || v > hi);
                }
                _ => {}
            },
            Kernel::Float(c, r) => {
                if let Slice::F64(a) = &slices[*c] {
                    let r = *r;
                    scan(a.values(), a.validity(), out, |v: f64| {
                        let above = if r.lo_inc { v >= r.lo } else { v > r.lo };
                        let below = if r.hi_inc { v <= r.hi } else { v < r.hi };
                        !(above && below)
                    });
                }
            }
            Kernel::Matches(c, m) => {
                if let Slice::Str(a) = &slices[*c] {
                    strings(a, out, |s| !m.is_match(s));
                }
            }
            Kernel::InSet(c, set) => match &slices[*c] {
                Slice::Str(a) => strings(a, out, |s| !set.strings.contains(s)),
                Slice::I64(a) => scan(a.values(), a.validity(), out, |v: i64| {
                    !set.has_exact(v as i128)
                }),
                Slice::U64(a) => scan(a.values(), a.validity(), out, |v: u64| {
                    !set.has_exact(v as i128)
                }),
                Slice::I128(a) => scan(a.values(), a.validity(), out, |v: i128| !set.has_exact(v)),
                Slice::F64(a) => scan(a.values(), a.validity(), out, |v: f64| {
                    !set.floats.contains(&float_key(v))
                }),
                Slice::Bool(a) => {
                    for i in 0..len {
                        if let Some(b) = a.get(i) {
                            if !set.bools[b as usize] {
                                self::set(out, i);
                            }
                        }
                    }
                }
                Slice::Null => {}
            },
            Kernel::Mask(c) => {
                if let Slice::Bool(a) = &slices[*c] {
                    for i in 0..len {
                        if a.get(i) == Some(false) {
                            set(out, i);
                        }
                    }
                }
            }
            Kernel::IsNull(c) => {
                for i in 0..len {
                    if !rows::missing(&slices[*c], i) {
                        set(out, i);
                    }
                }
            }
            Kernel::NotInSet(c, set) => match &slices[*c] {
                Slice::Str(a) => strings(a, out, |s| set.strings.contains(s)),
                Slice::I64(a) => scan(a.values(), a.validity(), out, |v: i64| {
                    set.has_exact(v as i128)
                }),
                Slice::U64(a) => scan(a.values(), a.validity(), out, |v: u64| {
                    set.has_exact(v as i128)
                }),
                Slice::I128(a) => scan(a.values(), a.validity(), out, |v: i128| set.has_exact(v)),
                Slice::F64(a) => scan(a.values(), a.validity(), out, |v: f64| {
                    set.floats.contains(&float_key(v))
                }),
                Slice::Bool(a) => {
                    for i in 0..len {
                        if a.get(i).is_some_and(|b| set.bools[b as usize]) {
                            self::set(out, i);
                        }
                    }
                }
                Slice::Null => {}
            },
            Kernel::NotMatches(c, m) => {
                if let Slice::Str(a) = &slices[*c] {
                    strings(a, out, |s| m.is_match(s));
                }
            }
            Kernel::Text(c, t) => {
                if let Slice::Str(a) = &slices[*c] {
                    strings(a, out, |s| t.fails(s));
                }
            }
            Kernel::Format(c, f) => {
                if let Slice::Str(a) = &slices[*c] {
                    strings(a, out, |s| !f.is_valid(s));
                }
            }
            Kernel::Finite(c) => {
                if let Slice::F64(a) = &slices[*c] {
                    scan(a.values(), a.validity(), out, |v: f64| !v.is_finite());
                }
            }
            Kernel::DecimalPlaces(c, max) => {
                rows::decimal_places(&slices[*c], cols[*c].domain, *max, len, out)
            }
            Kernel::Within(l, r, lo, hi) => rows::time_span(
                &slices[*l],
                cols[*l].domain,
                &slices[*r],
                cols[*r].domain,
                *lo,
                *hi,
                len,
                out,
            ),
            Kernel::SumEquals(parts, total, arith, w) => {
                rows::sum_equals(slices, cols, parts, *total, (*arith, *w), len, out)
            }
            Kernel::DistinctAcross(at) => rows::distinct_across(slices, cols, at, len, out),
            Kernel::Presence(at, all) => rows::presence(slices, at, *all, len, out),
            Kernel::KeyIn(at, keys) => keys.check(slices, cols, at, len, out),
            Kernel::Reconcile(key, column, refs, within) => {
                refs.check(slices, cols, key, *column, *within, len, out)
            }
            Kernel::Compare(l, op, r) => compare(
                &slices[*l],
                cols[*l].domain,
                *op,
                &slices[*r],
                cols[*r].domain,
                len,
                out,
            ),
        }
    }
}

fn strings(a: &Utf8ViewArray, out: &mut [u64], fail: impl Fn(&str) -> bool) {
    match a.validity().filter(|b| b.unset_bits() > 0) {
        None => {
            for (i, s) in a.values_iter().enumerate() {
                if fail(s) {
                    set(out, i);
                }
            }
        }
        Some(valid) => {
            for (i, (s, ok)) in a.values_iter().zip(valid.iter()).enumerate() {
                if ok && fail(s) {
                    set(out, i);
                }
            }
        }
    }
}

/// Where an exact domain sits and the power of ten that brings it to the
/// common unit: numbers to the finer decimal scale, timestamps to
/// nanoseconds. Dates only compare with dates.
fn exact_unit(d: Domain) -> Option<(u8, u32)> {
    Some(match d {
        Domain::Int | Domain::UInt => (0, 0),
        Domain::Decimal(s) => (0, s),
        Domain::Date => (1, 0),
        Domain::Datetime(TimeUnit::Milliseconds) => (2, 0),
        Domain::Datetime(TimeUnit::Microseconds) => (2, 3),
        Domain::Datetime(TimeUnit::Nanoseconds) => (2, 6),
        _ => return None,
    })
}

/// Whether two domains can be compared, and how: the rule's error otherwise.
pub fn comparable(a: Domain, b: Domain) -> std::result::Result<(), String> {
    if a == Domain::Null || b == Domain::Null || a == b {
        return Ok(());
    }
    if a.is_numeric() && b.is_numeric() {
        return Ok(());
    }
    match (exact_unit(a), exact_unit(b)) {
        (Some((ka, _)), Some((kb, _))) if ka == kb => Ok(()),
        _ => Err(format!(
            "cannot compare {} with {}",
            a.describe(),
            b.describe()
        )),
    }
}

fn compare(
    l: &Slice,
    ld: Domain,
    op: CompareOp,
    r: &Slice,
    rd: Domain,
    len: usize,
    out: &mut [u64],
) {
    match (l, r) {
        (Slice::I64(a), Slice::I64(b)) if ld == rd => {
            let av = a.values();
            let bv = b.values();
            for i in 0..len {
                if a.is_valid(i) && b.is_valid(i) && !op.holds(av[i].cmp(&bv[i])) {
                    set(out, i);
                }
            }
        }
        (Slice::F64(a), Slice::F64(b)) => {
            let av = a.values();
            let bv = b.values();
            for i in 0..len {
                if a.is_valid(i) && b.is_valid(i) {
                    let ok = av[i].partial_cmp(&bv[i]).is_some_and(|o| op.holds(o));
                    if !ok {
                        set(out, i);
                    }
                }
            }
        }
        (Slice::Str(a), Slice::Str(b)) => {
            for i in 0..len {
                if let (Some(x), Some(y)) = (a.get(i), b.get(i)) {
                    if !op.holds(x.cmp(y)) {
                        set(out, i);
                    }
                }
            }
        }
        (Slice::Bool(a), Slice::Bool(b)) => {
            for i in 0..len {
                if let (Some(x), Some(y)) = (a.get(i), b.get(i)) {
                    if !op.holds(x.cmp(&y)) {
                        set(out, i);
                    }
                }
            }
        }
        (Slice::Null, _) | (_, Slice::Null) => {}
        _ => {
            let exact = exact_unit(ld).zip(exact_unit(rd));
            for i in 0..len {
                let ord = match exact {
                    Some(((_, ps), (_, qs))) => {
                        let (Some(x), Some(y)) = (l.exact(i), r.exact(i)) else {
                            continue;
                        };
                        let top = ps.max(qs);
                        let x = x.saturating_mul(10i128.pow(top - ps));
                        let y = y.saturating_mul(10i128.pow(top - qs));
                        Some(x.cmp(&y))
                    }
                    None => {
                        let (Some(x), Some(y)) = (l.float(i, ld), r.float(i, rd)) else {
                            continue;
                        };
                        x.partial_cmp(&y)
                    }
                };
                if !ord.is_some_and(|o: Ordering| op.holds(o)) {
                    set(out, i);
                }
            }
        }
    }
}

/// Runs `kernels` over all rows, morsel by morsel, on up to `threads`
/// threads; returns each kernel's failure words.
pub fn run_kernels(
    kernels: &[&(usize, Kernel)],
    cols: &[Col],
    n: usize,
    threads: usize,
) -> Vec<Vec<u64>> {
    let words = n.div_ceil(64);
    let mut out: Vec<Vec<u64>> = kernels.iter().map(|_| vec![0u64; words]).collect();
    if kernels.is_empty() || n == 0 {
        return out;
    }
    let used: Vec<bool> = (0..cols.len())
        .map(|c| kernels.iter().any(|(_, k)| kernel_uses(k, c)))
        .collect();
    let morsels = n.div_ceil(MORSEL);
    let threads = threads.min(morsels).max(1);
    // Each thread takes a contiguous run of morsels and the matching words.
    let per = morsels.div_ceil(threads);
    let run = |first: usize, last: usize, outs: &mut [&mut [u64]]| {
        for m in first..last {
            let start = m * MORSEL;
            let len = MORSEL.min(n - start);
            let slices: Vec<Slice> = cols
                .iter()
                .zip(&used)
                .map(|(c, u)| {
                    if *u {
                        Slice::of(c, start, len)
                    } else {
                        Slice::Null
                    }
                })
                .collect();
            let w0 = (m - first) * (MORSEL / 64);
            let w1 = w0 + len.div_ceil(64);
            for ((_, k), o) in kernels.iter().zip(outs.iter_mut()) {
                k.eval(&slices, cols, len, &mut o[w0..w1]);
            }
        }
    };
    if threads == 1 {
        let mut outs: Vec<&mut [u64]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
        run(0, morsels, &mut outs);
        return out;
    }
    // Split every kernel's words at the same morsel boundaries.
    let mut parts: Vec<Vec<&mut [u64]>> = (0..threads).map(|_| Vec::new()).collect();
    for v in out.iter_mut() {
        let mut rest: &mut [u64] = v.as_mut_slice();
        for part in parts.iter_mut() {
            let take = (per * MORSEL / 64).min(rest.len());
            let (head, tail) = rest.split_at_mut(take);
            part.push(head);
            rest = tail;
        }
    }
    std::thread::scope(|s| {
        for (t, mut outs) in parts.into_iter().enumerate() {
            let first = t * per;
            let last = ((t + 1) * per).min(morsels);
            if first >= last {
                continue;
            }
            let run = &run;
            s.spawn(move || run(first, last, &mut outs));
        }
    });
    out
}

fn kernel_uses(k: &Kernel, c: usize) -> bool {
    match k {
        Kernel::NotNull(x)
        | Kernel::Exact(x, _)
        | Kernel::Float(x, _)
        | Kernel::Matches(x, _)
        | Kernel::InSet(x, _)
        | Kernel::Mask(x)
        | Kernel::IsNull(x)
        | Kernel::NotInSet(x, _)
        | Kernel::NotMatches(x, _)
        | Kernel::Text(x, _)
        | Kernel::Format(x, _)
        | Kernel::Finite(x)
        | Kernel::DecimalPlaces(x, _) => *x == c,
        Kernel::Compare(a, _, b) | Kernel::Within(a, b, ..) => *a == c || *b == c,
        Kernel::SumEquals(parts, total, ..) => *total == c || parts.contains(&c),
        Kernel::DistinctAcross(at) | Kernel::Presence(at, _) | Kernel::KeyIn(at, _) => {
            at.contains(&c)
        }
        Kernel::Reconcile(key, column, ..) => *column == c || key.contains(&c),
        Kernel::Pass => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dfa_and_fallback_agree() {
        let m = Matcher::new("r", r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$").unwrap();
        assert!(m.dfa.is_some());
        assert!(m.is_match("ann.lee@example.com"));
        assert!(!m.is_match("ann.lee@examplecom"));
        assert!(!m.is_match("zoë@example.com"));
        let unicode = Matcher::new("r", r"\bcafé\b").unwrap();
        assert!(unicode.is_match("un café noir"));
        assert!(Matcher::new("r", "(").is_err());
    }
}
