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

use super::column::{Col, Domain, Slice};
use super::spec::UniqueCount;
use super::value_set::float_key;

/// Seen keys of one `unique` check, kept across the batches of a stream,
/// split by hash into many small tables.
pub struct UniqueState {
    parts: Vec<HashTable<u128>>,
    threads: usize,
    /// Integer keys in a narrow range are a bitmap instead (see [`Dense`]).
    dense: Option<Dense>,
    /// Whether the first batch has been seen (which decides on `dense`).
    started: bool,
    /// Keys seen more than once so far.
    repeated: hashbrown::HashSet<u128, foldhash::fast::FixedState>,
    /// Whether nulls equal one another (SQL `GROUP BY`), rather than making
    /// a key that never repeats (a SQL `UNIQUE` constraint).
    nulls_equal: bool,
}

/// The key part a null stands for when nulls equal one another: a hash, so
/// it cannot meet an integer's key (whose high 64 bits are all 0 or all 1).
const NULL_KEY: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;

/// Keys of one or two integer columns whose values span a range not much
/// wider than the number of rows (ids from a sequence, order numbers per
/// store): one bit per possible key, set once seen. A batch outside the
/// range turns the bitmap back into hashed keys.
struct Dense {
    lo: Vec<i128>,
    span: Vec<u128>,
    bits: Vec<u64>,
}

impl Dense {
    /// A bitmap for `slices` when their values' ranges allow it.
    fn plan(slices: &[Slice], domains: &[Domain], n: usize) -> Option<Dense> {
        if slices.len() > 2 || n == 0 {
            return None;
        }
        let mut lo = Vec::new();
        let mut span = Vec::new();
        for (s, d) in slices.iter().zip(domains) {
            if !matches!(
                d,
                Domain::Int | Domain::UInt | Domain::Date | Domain::Datetime(_)
            ) {
                return None;
            }
            let (min, max) = int_range(s)?;
            lo.push(min);
            span.push((max - min) as u128 + 1);
        }
        let cells = span.iter().try_fold(1u128, |a, b| a.checked_mul(*b))?;
        // About the memory of a hash table of the same keys, or less.
        let limit = (64 * n as u128).max(1 << 16);
        (cells <= limit).then(|| Dense {
            lo,
            span,
            bits: vec![0u64; (cells as usize).div_ceil(64)],
        })
    }

    /// Marks the batch's keys, returning the rows seen before; `None` (and
    /// nothing marked) when a key falls outside the bitmap.
    fn push(&mut self, slices: &[Slice], domains: &[Domain], n: usize) -> Option<Vec<u32>> {
        for (j, (s, d)) in slices.iter().zip(domains).enumerate() {
            if !matches!(
                d,
                Domain::Int | Domain::UInt | Domain::Date | Domain::Datetime(_)
            ) {
                return None;
            }
            if let Some((min, max)) = int_range(s) {
                if min < self.lo[j] || (max - self.lo[j]) as u128 >= self.span[j] {
                    return None;
                }
            } else if !matches!(s, Slice::I64(_) | Slice::U64(_) | Slice::Null) {
                return None;
            }
        }
        let mut dups = Vec::new();
        let Dense { lo, span, bits } = self;
        let mut mark = |i: usize, cell: usize| {
            let (w, b) = (cell / 64, 1u64 << (cell % 64));
            if bits[w] & b != 0 {
                dups.push(i as u32);
            } else {
                bits[w] |= b;
            }
        };
        match slices {
            // The common cases, without a per-row dispatch on the type.
            [Slice::I64(a)] => {
                let l = lo[0] as i64;
                match a.validity() {
                    None => {
                        for (i, v) in a.values().iter().enumerate() {
                            mark(i, v.wrapping_sub(l) as usize);
                        }
                    }
                    Some(valid) => {
                        for (i, (v, ok)) in a.values().iter().zip(valid.iter()).enumerate() {
                            if ok {
                                mark(i, v.wrapping_sub(l) as usize);
                            }
                        }
                    }
                }
            }
            [Slice::I64(a), Slice::I64(b)] if a.validity().is_none() && b.validity().is_none() => {
                let (la, lb, sb) = (lo[0] as i64, lo[1] as i64, span[1] as usize);
                for (i, (x, y)) in a.values().iter().zip(b.values().iter()).enumerate() {
                    mark(
                        i,
                        x.wrapping_sub(la) as usize * sb + y.wrapping_sub(lb) as usize,
                    );
                }
            }
            _ => {
                'rows: for i in 0..n {
                    let mut cell: u128 = 0;
                    for (j, s) in slices.iter().enumerate() {
                        // In range (checked above) or null.
                        let Some(v) = s.exact(i) else { continue 'rows };
                        cell = cell * span[j] + (v - lo[j]) as u128;
                    }
                    mark(i, cell as usize);
                }
            }
        }
        Some(dups)
    }

    /// Every key set so far, as hashed keys (what `row_key` gives).
    fn keys(&self) -> Vec<u128> {
        let mut out = Vec::new();
        for (w, &word) in self.bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let mut cell = (w * 64) as u128 + word.trailing_zeros() as u128;
                word &= word - 1;
                let mut vals = vec![0i128; self.span.len()];
                for j in (0..self.span.len()).rev() {
                    vals[j] = self.lo[j] + (cell % self.span[j]) as i128;
                    cell /= self.span[j];
                }
                out.push(if vals.len() == 1 {
                    vals[0] as u128
                } else {
                    let mut buf = Vec::with_capacity(16 * vals.len());
                    for v in &vals {
                        buf.extend_from_slice(&(*v as u128).to_le_bytes());
                    }
                    xxh3_128(&buf)
                });
            }
        }
        out
    }
}

/// The smallest and largest value of an integer slice, if it has any.
fn int_range(s: &Slice) -> Option<(i128, i128)> {
    fn fold<T: Copy + Into<i128>>(
        vals: &[T],
        valid: Option<&polars_arrow::bitmap::Bitmap>,
    ) -> Option<(i128, i128)> {
        let mut out: Option<(i128, i128)> = None;
        for (i, v) in vals.iter().enumerate() {
            if valid.is_some_and(|b| !b.get_bit(i)) {
                continue;
            }
            let v: i128 = (*v).into();
            out = Some(out.map_or((v, v), |(a, b)| (a.min(v), b.max(v))));
        }
        out
    }
    match s {
        Slice::I64(a) => fold(a.values(), a.validity()),
        Slice::U64(a) => fold(a.values(), a.validity()),
        _ => None,
    }
}

/// Tables per state: small enough each to stay in cache while a batch's
/// keys for it go in.
const PARTS: usize = 1024;
/// Rows whose keys are computed and partitioned at a time.
const CHUNK: usize = 1 << 21;

#[inline]
fn part_of(h: u64) -> usize {
    // Bits the tables themselves do not use (they index by the low bits and
    // tag by the top seven).
    (h >> 32) as usize & (PARTS - 1)
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
pub(super) fn value_key(s: &Slice, i: usize, d: Domain) -> Option<u128> {
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
    pub fn new(threads: usize) -> Self {
        UniqueState {
            parts: (0..PARTS).map(|_| HashTable::new()).collect(),
            threads: threads.max(1),
            dense: None,
            started: false,
            repeated: Default::default(),
            nulls_equal: false,
        }
    }

    /// Nulls equal one another: `(1, null)` twice is a repeated key.
    pub fn nulls_equal(mut self, yes: bool) -> Self {
        self.nulls_equal = yes;
        self
    }

    fn null_key(&self) -> Option<u128> {
        self.nulls_equal.then_some(NULL_KEY)
    }

    /// One batch under `count`: the rows to flag and how much the failing
    /// count grows. Later copies are always flagged; with `All`, so are the
    /// first copies that are in this batch (an earlier batch's rows are
    /// counted but no longer here to flag).
    pub fn push_counted(&mut self, cols: &[&Col], n: usize, count: UniqueCount) -> (Vec<u32>, u64) {
        let dups = self.push(cols, n);
        if count == UniqueCount::Extra || dups.is_empty() {
            let n = dups.len() as u64;
            return (dups, n);
        }
        let slices: Vec<Slice> = cols.iter().map(|c| Slice::of(c, 0, n)).collect();
        let domains: Vec<Domain> = cols.iter().map(|c| c.domain).collect();
        let mut fresh: hashbrown::HashSet<u128, foldhash::fast::FixedState> = Default::default();
        let null = self.null_key();
        for &r in &dups {
            if let Some(k) = row_key(&slices, &domains, r as usize, null) {
                if self.repeated.insert(k) {
                    fresh.insert(k);
                }
            }
        }
        if count == UniqueCount::Keys {
            return (dups, fresh.len() as u64);
        }
        // All: every later copy, plus each newly repeated key's first copy.
        let grown = dups.len() as u64 + fresh.len() as u64;
        let mut rows = dups;
        if !fresh.is_empty() {
            // The first copies: rows not flagged whose key is newly repeated,
            // threads over row ranges.
            let mut flagged = vec![0u64; n.div_ceil(64)];
            for &r in &rows {
                flagged[r as usize / 64] |= 1 << (r % 64);
            }
            let threads = if n >= 100_000 { self.threads } else { 1 };
            let step = n.div_ceil(threads);
            let (slices, domains, flagged, fresh) = (&slices, &domains, &flagged, &fresh);
            let firsts = fan_out(threads, |t| {
                let from = (t * step).min(n);
                (from..(from + step).min(n))
                    .filter(|&i| flagged[i / 64] >> (i % 64) & 1 == 0)
                    .filter(|&i| {
                        row_key(slices, domains, i, null).is_some_and(|k| fresh.contains(&k))
                    })
                    .map(|i| i as u32)
                    .collect::<Vec<u32>>()
            });
            rows.extend(firsts.into_iter().flatten());
            rows.sort_unstable();
        }
        (rows, grown)
    }

    /// Rows (batch-local) of `cols` whose key was seen before, in row order.
    ///
    /// Keys are computed a chunk at a time, sorted by table (a counting sort,
    /// which keeps row order within a table), then each table takes its keys
    /// while it is in cache; threads take disjoint ranges of tables.
    pub fn push(&mut self, cols: &[&Col], n: usize) -> Vec<u32> {
        let slices: Vec<Slice> = cols.iter().map(|c| Slice::of(c, 0, n)).collect();
        let domains: Vec<Domain> = cols.iter().map(|c| c.domain).collect();
        if !self.started {
            self.started = true;
            // The bitmap has no bit for a null.
            if !self.nulls_equal {
                self.dense = Dense::plan(&slices, &domains, n);
            }
        }
        let null = self.null_key();
        if let Some(dense) = &mut self.dense {
            if let Some(dups) = dense.push(&slices, &domains, n) {
                return dups;
            }
            // Out of range: the keys so far move into the hash tables.
            let keys = dense.keys();
            self.dense = None;
            for k in keys {
                let h = mix(k);
                self.parts[part_of(h)].insert_unique(h, k, |x| mix(*x));
            }
        }
        // Room for this batch's keys up front, spread evenly by the hash.
        let share = n / PARTS + n / PARTS / 8 + 1;
        for table in &mut self.parts {
            table.reserve(share, |x| mix(*x));
        }
        let mut dups: Vec<u32> = Vec::new();
        let mut by_part: Vec<Entry> = Vec::new();
        for first in (0..n).step_by(CHUNK) {
            let last = (first + CHUNK).min(n);
            let threads = if last - first >= 100_000 {
                self.threads
            } else {
                1
            };
            // 1. Keys and per-table counts, threads over row ranges.
            let (slices, domains) = (&slices, &domains);
            let keyed = |from: usize, to: usize| {
                let mut entries = Vec::with_capacity(to - from);
                let mut counts = vec![0usize; PARTS];
                for i in from..to {
                    if let Some(k) = row_key(slices, domains, i, null) {
                        counts[part_of(mix(k))] += 1;
                        entries.push(Entry::new(k, i as u32));
                    }
                }
                (entries, counts)
            };
            let step = (last - first).div_ceil(threads);
            let pieces: Vec<(Vec<Entry>, Vec<usize>)> = fan_out(threads, |t| {
                let from = (first + t * step).min(last);
                keyed(from, (from + step).min(last))
            });
            // 2. A counting sort by table, each thread moving its own piece to
            // its own slots: earlier pieces first keeps row order per table.
            let mut starts = vec![0usize; PARTS + 1];
            for (_, counts) in &pieces {
                for (p, c) in counts.iter().enumerate() {
                    starts[p + 1] += c;
                }
            }
            for p in 0..PARTS {
                starts[p + 1] += starts[p];
            }
            let mut offsets: Vec<Vec<usize>> = Vec::with_capacity(pieces.len());
            let mut at = starts.clone();
            for (_, counts) in &pieces {
                offsets.push(at[..PARTS].to_vec());
                for (p, c) in counts.iter().enumerate() {
                    at[p] += c;
                }
            }
            let total = starts[PARTS];
            by_part.clear();
            by_part.reserve(total);
            let out = SharedSlots(by_part.as_mut_ptr());
            let (pieces, offsets, out) = (&pieces, &offsets, &out);
            fan_out(pieces.len(), |t| {
                let mut at = offsets[t].clone();
                for e in &pieces[t].0 {
                    let p = part_of(mix(e.key()));
                    // SAFETY: piece t owns slots offsets[t][p] .. offsets[t][p] +
                    // counts[t][p] of table p; no two pieces share a slot and
                    // every slot lies inside the reserved capacity.
                    unsafe { out.0.add(at[p]).write(*e) };
                    at[p] += 1;
                }
            });
            // SAFETY: the pieces' counts sum to `total`, so every slot below
            // it was written exactly once above.
            unsafe { by_part.set_len(total) };
            // 3. Each table takes its keys, threads over ranges of tables.
            let (entries, starts) = (&by_part, &starts);
            let probe = move |base: usize, tables: &mut [HashTable<u128>]| -> Vec<u32> {
                let mut found = Vec::new();
                for (j, table) in tables.iter_mut().enumerate() {
                    for e in &entries[starts[base + j]..starts[base + j + 1]] {
                        let k = e.key();
                        match table.entry(mix(k), |x| *x == k, |x| mix(*x)) {
                            hashbrown::hash_table::Entry::Occupied(_) => found.push(e.row),
                            hashbrown::hash_table::Entry::Vacant(v) => {
                                v.insert(k);
                            }
                        }
                    }
                }
                found
            };
            let per = PARTS.div_ceil(threads);
            let probe = &probe;
            std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .parts
                    .chunks_mut(per)
                    .enumerate()
                    .map(|(t, tables)| s.spawn(move || probe(t * per, tables)))
                    .collect();
                for h in handles {
                    dups.extend(h.join().expect("unique worker"));
                }
            });
        }
        dups.sort_unstable();
        dups
    }
}

/// One key on its way to its table. The key is two words so the entry
/// packs into 24 bytes with its row.
#[derive(Clone, Copy, Default)]
struct Entry {
    lo: u64,
    hi: u64,
    row: u32,
}

impl Entry {
    #[inline]
    fn new(key: u128, row: u32) -> Entry {
        Entry {
            lo: key as u64,
            hi: (key >> 64) as u64,
            row,
        }
    }

    #[inline]
    fn key(&self) -> u128 {
        (self.hi as u128) << 64 | self.lo as u128
    }
}

/// Where the scatter writes: threads write disjoint slots (see its use).
struct SharedSlots(*mut Entry);
// SAFETY: shared only for writes to disjoint slots, within a thread scope
// that ends before the vector is read or moved.
unsafe impl Sync for SharedSlots {}

/// Runs `f(0..threads)` on that many threads (inline for one), in order.
fn fan_out<T: Send>(threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if threads <= 1 {
        return vec![f(0)];
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || f(t))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("unique worker"))
            .collect()
    })
}

/// The key of row `i`. A null key column makes it `None` (no key), or,
/// given `null`, stands for that key part.
#[inline]
pub(super) fn row_key(
    slices: &[Slice],
    domains: &[Domain],
    i: usize,
    null: Option<u128>,
) -> Option<u128> {
    let part = |s: &Slice, d: Domain| value_key(s, i, d).or(null);
    if slices.len() == 1 {
        return part(&slices[0], domains[0]);
    }
    let mut buf = [0u8; 16 * 8];
    if slices.len() <= 8 {
        for (j, (s, d)) in slices.iter().zip(domains).enumerate() {
            buf[j * 16..j * 16 + 16].copy_from_slice(&part(s, *d)?.to_le_bytes());
        }
        return Some(xxh3_128(&buf[..slices.len() * 16]));
    }
    let mut long = Vec::with_capacity(slices.len() * 16);
    for (s, d) in slices.iter().zip(domains) {
        long.extend_from_slice(&part(s, *d)?.to_le_bytes());
    }
    Some(xxh3_128(&long))
}

#[cfg(test)]
#[path = "unique_tests.rs"]
mod tests;
