//! Dataset checks judged once every batch is in: distinct counts, aggregates,
//! gaps and outliers, each kept per `by=` group as batches arrive.
//!
//! Sums are exact for integers and decimals (i128 at the column's scale);
//! means and standard deviations use Welford's update, merged per batch;
//! medians and quantiles keep the group's values. Nulls are left out of
//! every measure, and so is NaN (as pandas, and so Great Expectations, do).

use std::collections::HashMap;
use std::sync::Arc;

use hashbrown::HashSet;
use polars::prelude::*;

use super::column::{range, Col, Domain, Range, Slice};
use super::spec::Agg;
use super::unique::{row_key, value_key};
use crate::error::{CoreError, Result};

/// An aggregate's value: exact on the column's integer line, or a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Exact(i128),
    Float(f64),
}

impl Num {
    pub fn as_f64(self, domain: Domain) -> f64 {
        match self {
            Num::Float(v) => v,
            Num::Exact(v) => match domain {
                Domain::Decimal(s) => v as f64 / 10f64.powi(s as i32),
                _ => v as f64,
            },
        }
    }

    /// The value as a report shows it, in the column's terms.
    pub fn show(self, domain: Domain) -> String {
        match (self, domain) {
            (Num::Exact(v), Domain::Decimal(s)) if s > 0 => {
                let neg = if v < 0 { "-" } else { "" };
                let p = 10i128.pow(s);
                let (i, f) = (v.unsigned_abs() / p as u128, v.unsigned_abs() % p as u128);
                format!("{neg}{i}.{f:0width$}", width = s as usize)
            }
            (Num::Exact(v), Domain::Date) => chrono::DateTime::from_timestamp(v as i64 * 86_400, 0)
                .map_or(v.to_string(), |t| t.format("%Y-%m-%d").to_string()),
            (Num::Exact(v), Domain::Datetime(u)) => {
                super::dataset::format_us(to_micros(v as i64, u))
            }
            (Num::Exact(v), _) => v.to_string(),
            (Num::Float(v), _) => format!("{v}"),
        }
    }
}

pub fn to_micros(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Milliseconds => v.saturating_mul(1000),
        TimeUnit::Microseconds => v,
        TimeUnit::Nanoseconds => v.div_euclid(1000),
    }
}

/// The domain an aggregate of a `domain` column lives in, or the error.
pub fn agg_domain(rule: &str, column: &str, agg: Agg, domain: Domain) -> Result<Domain> {
    let wrong = |what: &str| {
        Err(CoreError::rule(
            rule,
            "column",
            format!(
                "{} needs {what}; {column:?} is {}",
                agg.name(),
                domain.describe()
            ),
        ))
    };
    match agg {
        Agg::Sum if domain.is_numeric() => Ok(match domain {
            Domain::UInt => Domain::Int,
            d => d,
        }),
        Agg::Sum => wrong("a numeric column"),
        Agg::Min | Agg::Max if domain.is_numeric() || domain.is_exact() => Ok(domain),
        Agg::Min | Agg::Max => wrong("a numeric, date or datetime column"),
        _ if domain.is_numeric() => Ok(Domain::Float),
        _ => wrong("a numeric column"),
    }
}

/// Running numeric measures of one group.
#[derive(Debug, Clone, Default)]
pub struct NumAcc {
    pub n: u64,
    exact_sum: i128,
    overflow: bool,
    fsum: f64,
    comp: f64,
    mean: f64,
    m2: f64,
    min: Option<Num>,
    max: Option<Num>,
    values: Vec<f64>,
}

impl NumAcc {
    fn add_exact(&mut self, v: i128, f: f64, keep: bool) {
        match self.exact_sum.checked_add(v) {
            Some(s) => self.exact_sum = s,
            None => self.overflow = true,
        }
        let x = Num::Exact(v);
        self.min = Some(self.min.map_or(x, |m| if lt(x, m) { x } else { m }));
        self.max = Some(self.max.map_or(x, |m| if lt(m, x) { x } else { m }));
        self.add_float_moments(f, keep);
    }

    fn add_float(&mut self, v: f64, keep: bool) {
        let x = Num::Float(v);
        self.min = Some(self.min.map_or(x, |m| if lt(x, m) { x } else { m }));
        self.max = Some(self.max.map_or(x, |m| if lt(m, x) { x } else { m }));
        // Neumaier's compensated sum.
        let t = self.fsum + v;
        if self.fsum.abs() >= v.abs() {
            self.comp += (self.fsum - t) + v;
        } else {
            self.comp += (v - t) + self.fsum;
        }
        self.fsum = t;
        self.add_float_moments(v, keep);
    }

    fn add_float_moments(&mut self, v: f64, keep: bool) {
        self.n += 1;
        let d = v - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (v - self.mean);
        if keep {
            self.values.push(v);
        }
    }

    /// The aggregate, or `None` when there are no values (or stddev of one).
    pub fn value(&mut self, agg: Agg, domain: Domain) -> Option<Num> {
        if self.n == 0 {
            return None;
        }
        Some(match agg {
            Agg::Sum if domain.is_exact() && !self.overflow => Num::Exact(self.exact_sum),
            Agg::Sum if domain.is_exact() => Num::Float(self.exact_sum as f64),
            Agg::Sum => Num::Float(self.fsum + self.comp),
            Agg::Mean => Num::Float(self.mean),
            Agg::Stddev if self.n < 2 => return None,
            Agg::Stddev => Num::Float((self.m2 / (self.n - 1) as f64).sqrt()),
            Agg::Min => self.min?,
            Agg::Max => self.max?,
            Agg::Median => Num::Float(quantile(&mut self.values, 0.5)?),
            Agg::Quantile { q } => Num::Float(quantile(&mut self.values, q)?),
        })
    }
}

fn lt(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::Exact(x), Num::Exact(y)) => x < y,
        (Num::Float(x), Num::Float(y)) => x < y,
        _ => false,
    }
}

/// The `q` quantile with linear interpolation between the closest ranks
/// (SQL `quantile_cont`, numpy's default).
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (_, a, rest) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let a = *a;
    if hi == lo {
        return Some(a);
    }
    let b = rest.iter().copied().min_by(f64::total_cmp).unwrap_or(a);
    Some(a + (b - a) * (pos - lo as f64))
}

/// Feeds value `i` of a column into `acc`, skipping nulls and NaN.
#[inline]
pub fn feed(acc: &mut NumAcc, s: &Slice, d: Domain, i: usize, keep: bool) {
    match s {
        Slice::F64(a) => {
            if let Some(v) = a.get(i).filter(|v| !v.is_nan()) {
                acc.add_float(v, keep);
            }
        }
        Slice::Null | Slice::Str(_) | Slice::Bool(_) => {}
        _ => {
            if let Some(v) = s.exact(i) {
                acc.add_exact(v, s.float(i, d).unwrap_or(v as f64), keep);
            }
        }
    }
}

/// Whether `v` (in `domain`) lies within `min`/`max`.
pub fn within_bounds(
    rule: &str,
    domain: Domain,
    v: Num,
    min: Option<&str>,
    max: Option<&str>,
    min_inc: bool,
    max_inc: bool,
) -> Result<bool> {
    Ok(
        match (range(rule, domain, min, max, min_inc, max_inc)?, v) {
            (Range::Exact(r), Num::Exact(x)) => r.lo <= x && x <= r.hi,
            (Range::Exact(_), Num::Float(x)) => {
                // An exact sum that overflowed i128: compare as floats.
                let f = range(rule, Domain::Float, min, max, min_inc, max_inc)?;
                let Range::Float(r) = f else { return Ok(false) };
                float_in(x, r.lo, r.hi, r.lo_inc, r.hi_inc)
            }
            (Range::Float(r), x) => float_in(x.as_f64(domain), r.lo, r.hi, r.lo_inc, r.hi_inc),
        },
    )
}

fn float_in(v: f64, lo: f64, hi: f64, lo_inc: bool, hi_inc: bool) -> bool {
    let above = if lo_inc { v >= lo } else { v > lo };
    let below = if hi_inc { v <= hi } else { v < hi };
    above && below
}

/// The `by=` groups of a stream: each group's slot and its first values.
#[derive(Default)]
pub struct Groups {
    slots: HashMap<u128, usize>,
    /// Each group's values of the group columns, as first seen, in the
    /// columns' own types (a date, not its days).
    pub labels: Vec<Vec<AnyValue<'static>>>,
    /// The group columns' types, as the last batch with values had them.
    dtypes: Vec<DataType>,
}

impl Groups {
    /// The slot of each row of a batch (rows with a null group value form
    /// their own group, as SQL's GROUP BY does).
    pub fn assign(&mut self, cols: &[&Col], n: usize) -> Vec<u32> {
        if cols.is_empty() {
            if self.labels.is_empty() {
                self.labels.push(Vec::new());
            }
            return vec![0; n];
        }
        self.dtypes.resize(cols.len(), DataType::Null);
        for (d, c) in self.dtypes.iter_mut().zip(cols) {
            if c.dtype != DataType::Null {
                d.clone_from(&c.dtype);
            }
        }
        let slices: Vec<Slice> = cols.iter().map(|c| Slice::of(c, 0, n)).collect();
        let domains: Vec<Domain> = cols.iter().map(|c| c.domain).collect();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let key = group_key(&slices, &domains, i);
            let next = self.labels.len();
            let slot = *self.slots.entry(key).or_insert(next);
            if slot == next {
                self.labels.push(cols.iter().map(|c| label(c, i)).collect());
            }
            out.push(slot as u32);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// A group as text: `store_id=3, day=2024-01-02`.
    pub fn describe(&self, names: &[String], slot: usize) -> String {
        names
            .iter()
            .zip(&self.labels[slot])
            .map(|(n, v)| format!("{n}={}", show_any(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The group columns of `slots`, as a frame (for a report's sample).
    pub fn frame(&self, names: &[String], slots: &[usize]) -> Result<Vec<Column>> {
        let mut out = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let values: Vec<AnyValue> = slots.iter().map(|s| self.labels[*s][j].clone()).collect();
            let dtype = self.dtypes.get(j).unwrap_or(&DataType::Null);
            let s = Series::from_any_values_and_dtype(name.into(), &values, dtype, false)
                .or_else(|_| Series::from_any_values(name.into(), &values, false))?;
            out.push(s.into());
        }
        Ok(out)
    }
}

/// Value `i` of a group column in the column's own type: the physical days,
/// ticks and scaled integers of dates, datetimes and decimals turned back.
fn label(c: &Col, i: usize) -> AnyValue<'static> {
    let v = c.series.get(i).map_or(AnyValue::Null, |v| v.into_static());
    match (v, &c.dtype) {
        (AnyValue::Null, _) => AnyValue::Null,
        (AnyValue::Int64(d), DataType::Date) => AnyValue::Date(d as i32),
        (AnyValue::Int64(t), DataType::Datetime(unit, tz)) => {
            AnyValue::DatetimeOwned(t, *unit, tz.clone().map(Arc::new))
        }
        (AnyValue::Int128(x), DataType::Decimal(p, s)) => AnyValue::Decimal(x, *p, *s),
        (v, _) => v,
    }
}

fn show_any(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => "null".into(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        // An aware timestamp as its UTC time (naming UTC), since it has no
        // single wall-clock time.
        AnyValue::Datetime(t, unit, tz) => show_datetime(*t, *unit, tz.is_some()),
        AnyValue::DatetimeOwned(t, unit, tz) => show_datetime(*t, *unit, tz.is_some()),
        other => other.to_string(),
    }
}

fn show_datetime(t: i64, unit: TimeUnit, aware: bool) -> String {
    let us = to_micros(t, unit);
    match chrono::DateTime::from_timestamp_micros(us) {
        Some(d) => {
            let text = d.format("%Y-%m-%d %H:%M:%S%.f").to_string();
            if aware {
                text + " UTC"
            } else {
                text
            }
        }
        None => t.to_string(),
    }
}

/// A group's key: the values of its columns, nulls included.
fn group_key(slices: &[Slice], domains: &[Domain], i: usize) -> u128 {
    let mut buf = Vec::with_capacity(17 * slices.len());
    for (s, d) in slices.iter().zip(domains) {
        match value_key(s, i, *d) {
            Some(k) => {
                buf.push(1);
                buf.extend_from_slice(&k.to_le_bytes());
            }
            None => buf.push(0),
        }
    }
    xxhash_rust::xxh3::xxh3_128(&buf)
}

/// Distinct keys of `cols` (rows with a null in the key left out) and how
/// many rows had a full key.
#[derive(Default)]
pub struct DistinctAcc {
    pub keys: HashSet<u128, foldhash::fast::FixedState>,
    pub rows: u64,
}

impl DistinctAcc {
    pub fn add(&mut self, slices: &[Slice], domains: &[Domain], i: usize) {
        if let Some(k) = row_key(slices, domains, i, None) {
            self.rows += 1;
            self.keys.insert(k);
        }
    }
}

/// Which rows of a batch a `when=` mask lets through (all when there is none).
pub fn admitted(when: Option<&Col>, n: usize) -> Vec<bool> {
    match when {
        None => vec![true; n],
        Some(c) => match Slice::of(c, 0, n) {
            Slice::Bool(a) => (0..n).map(|i| a.get(i) == Some(true)).collect(),
            _ => vec![false; n],
        },
    }
}

/// Buckets present in a time series or sequence, and what is missing
/// between the first and the last.
#[derive(Default)]
pub struct GapAcc {
    pub present: HashSet<i64, foldhash::fast::FixedState>,
}

const DAY_US: i64 = 86_400_000_000;

/// Where bucket 0 of a gap check starts, in microseconds since the epoch:
/// buckets of whole weeks start on a Monday (1970-01-05), as ISO weeks and
/// Polars' `"1w"` do; other buckets at 1970-01-01 00:00 UTC.
pub fn bucket_origin_us(every_us: i64) -> i64 {
    if every_us > 0 && every_us % (7 * DAY_US) == 0 {
        4 * DAY_US
    } else {
        0
    }
}

/// How a bucket index counts in a gap check: whether it is expected at all.
pub struct Calendar {
    /// Days per bucket when buckets are whole days (for weekdays), else 0.
    pub days: i64,
    /// The day (since the epoch) bucket 0 starts on.
    pub origin: i64,
    pub weekdays: [bool; 7],
    pub holidays: HashSet<i64, foldhash::fast::FixedState>,
}

impl Calendar {
    pub fn everything() -> Calendar {
        Calendar {
            days: 0,
            origin: 0,
            weekdays: [true; 7],
            holidays: HashSet::default(),
        }
    }

    #[inline]
    pub fn expected(&self, bucket: i64) -> bool {
        if self.days == 0 {
            return true;
        }
        let day = bucket * self.days + self.origin;
        // 1970-01-01 was a Thursday (Monday = 0).
        self.weekdays[(day + 3).rem_euclid(7) as usize] && !self.holidays.contains(&day)
    }
}

impl GapAcc {
    /// The expected buckets missing between the first and last present one:
    /// how many, and the first `sample` of them.
    pub fn missing(&self, cal: &Calendar, sample: usize) -> (u64, Vec<i64>) {
        let mut present: Vec<i64> = self.present.iter().copied().collect();
        present.sort_unstable();
        let mut count = 0u64;
        let mut first = Vec::new();
        for w in present.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b - a <= 1 {
                continue;
            }
            if cal.days == 0 {
                count += (b - a - 1) as u64;
                for x in (a + 1)..b {
                    if first.len() >= sample {
                        break;
                    }
                    first.push(x);
                }
            } else {
                // Whole weeks at once, then the rest day by day.
                let span = b - a - 1;
                let per_week = cal.weekdays.iter().filter(|d| **d).count() as i64;
                let weeks = span / 7;
                let mut c = 0i64;
                if cal.days == 1 {
                    c += weeks * per_week;
                    for x in (a + 1 + weeks * 7)..b {
                        c += cal.weekdays[(x + 3).rem_euclid(7) as usize] as i64;
                    }
                    c -= cal
                        .holidays
                        .iter()
                        .filter(|h| {
                            **h > a && **h < b && cal.weekdays[(**h + 3).rem_euclid(7) as usize]
                        })
                        .count() as i64;
                } else {
                    c = ((a + 1)..b).filter(|x| cal.expected(*x)).count() as i64;
                }
                count += c as u64;
                let mut x = a + 1;
                while x < b && first.len() < sample {
                    if cal.expected(x) {
                        first.push(x);
                    }
                    x += 1;
                }
            }
        }
        (count, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_sql() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), Some(2.5));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile(&mut v, 1.0), Some(4.0));
        assert_eq!(quantile(&mut v, 0.25), Some(1.75));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let mut cal = Calendar::everything();
        cal.days = 1;
        cal.weekdays = [true, true, true, true, true, false, false];
        // 2024-01-01 is a Monday: day 19723.
        let mon = 19723;
        let mut g = GapAcc::default();
        for d in [mon, mon + 1, mon + 4, mon + 7, mon + 14] {
            g.present.insert(d);
        }
        // Missing: Wed, Thu of week 1; Tue..Fri of week 2.
        let (n, first) = g.missing(&cal, 3);
        assert_eq!(n, 6);
        assert_eq!(first, vec![mon + 2, mon + 3, mon + 8]);
        cal.holidays.insert(mon + 2);
        assert_eq!(g.missing(&cal, 0).0, 5);
        assert_eq!(g.missing(&Calendar::everything(), 0).0, 10);
    }

    #[test]
    fn weeks_start_on_monday() {
        let week = 7 * DAY_US;
        assert_eq!(bucket_origin_us(week), 4 * DAY_US);
        assert_eq!(bucket_origin_us(2 * week), 4 * DAY_US);
        assert_eq!(bucket_origin_us(DAY_US), 0);
        assert_eq!(bucket_origin_us(3600 * 1_000_000), 0);
        // 1970-01-05 was a Monday: day 4 is weekday 0.
        assert_eq!((4 + 3) % 7, 0);
    }

    #[test]
    fn group_labels_show_the_columns_values() {
        let bind = |s: Series| Col::bind("r", "by", &s).expect("bound");
        let date = bind(
            Series::new("d".into(), &[19723i32])
                .cast(&DataType::Date)
                .expect("date"),
        );
        let naive = bind(
            Series::new(
                "t".into(),
                &[1_704_153_600_000_000i64, 1_704_153_600_500_000],
            )
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .expect("datetime"),
        );
        let aware = bind(
            Int64Chunked::new("z".into(), &[1_704_153_600_000i64])
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                .into_series(),
        );
        let price = bind(
            Series::new("p".into(), &[2.25f64])
                .cast(&DataType::Decimal(10, 2))
                .expect("decimal"),
        );
        let mut g = Groups::default();
        g.assign(&[&date, &naive], 1);
        assert_eq!(
            g.describe(&["d".into(), "t".into()], 0),
            "d=2024-01-01, t=2024-01-02 00:00:00"
        );
        let mut g = Groups::default();
        g.assign(&[&naive], 2);
        assert_eq!(g.describe(&["t".into()], 1), "t=2024-01-02 00:00:00.500");
        let mut g = Groups::default();
        g.assign(&[&aware, &price], 1);
        assert_eq!(
            g.describe(&["z".into(), "p".into()], 0),
            "z=2024-01-02 00:00:00 UTC, p=2.25"
        );
        let frame = g.frame(&["z".into(), "p".into()], &[0]).expect("frame");
        assert_eq!(frame[0].dtype(), &aware.dtype);
        assert_eq!(frame[1].dtype(), &price.dtype);
    }
}
