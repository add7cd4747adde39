//! Validation rules: every row check of a rule set in one multi-threaded
//! pass over each batch, with state carried across the batches of a stream
//! (seen keys, counts, samples, the newest timestamp).
//!
//! A [`Validator`] is fed frames with [`Validator::push`] and gives its
//! [`Report`] on [`Validator::finish`]. The report's size is bounded by the
//! sample cap, not by the number of failures.

mod bind;
mod check;
mod column;
mod dataset;
pub mod formats;
mod outliers;
mod report;
mod rows;
pub mod spec;
mod stats;
mod text;
mod unique;
mod value_set;
mod whole;

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;

use bind::Bound;
use check::{compiled, run_kernels, Matcher};
use column::{Col, Domain, Slice};
use dataset::{format_age, format_us, newest_us, schema_problem};
pub use dataset::{type_classes, TypeClass};
use formats::Checker;
pub use report::{CheckReport, Report, RowFailures, Status};
use rows::{KeySet, RefValues};
use text::TextCheck;
use unique::UniqueState;
use value_set::ValueSet;
use whole::Whole;

pub use spec::{CheckSpec, CompareOp, Mode, Rule, RuleSetSpec, Severity, Tolerance};

use crate::error::{CoreError, Result};

/// A check's running totals across batches.
#[derive(Default)]
struct Tally {
    failing: u64,
    /// The rows the check applies to (those its `when=` admits): what a
    /// fractional tolerance is a share of.
    checked: u64,
    sample: Option<DataFrame>,
    observed: Option<String>,
    failed: bool,
    skipped: bool,
    /// The check looked at a batch (so `fail_fast` does not skip it).
    ran: bool,
    /// Newest value seen by a freshness check, in microseconds.
    newest_us: Option<i64>,
}

/// The last value a `increasing`/`decreasing` check saw.
#[derive(Clone, PartialEq, PartialOrd)]
enum Last {
    Exact(i128),
    Float(f64),
    Text(String),
}

/// A rule set being applied to a stream of frames.
pub struct Validator {
    spec: RuleSetSpec,
    references: HashMap<String, DataFrame>,
    matchers: Vec<Option<Arc<Matcher>>>,
    texts: Vec<Option<Arc<TextCheck>>>,
    formats: Vec<Option<Arc<Checker>>>,
    sets: Vec<Option<(Domain, Arc<ValueSet>)>>,
    key_sets: Vec<Option<(Vec<Domain>, Arc<KeySet>)>>,
    ref_values: Vec<Option<(Vec<Domain>, Arc<RefValues>)>>,
    uniques: Vec<Option<UniqueState>>,
    lasts: Vec<Option<Last>>,
    wholes: Vec<Option<Whole>>,
    tallies: Vec<Tally>,
    rows: u64,
    stopped: bool,
    threads: usize,
}

impl Validator {
    /// Compiles `spec` (patterns and formats once, here); `references`
    /// holds the frames `relationships` and `reconcile` checks look keys up
    /// in (their key columns first, in the check's order).
    pub fn new(spec: RuleSetSpec, references: HashMap<String, DataFrame>) -> Result<Validator> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        let mut matchers = Vec::new();
        let mut texts = Vec::new();
        let mut formats = Vec::new();
        for c in &spec.checks {
            matchers.push(match &c.rule {
                Rule::Matches { pattern, .. } => Some(compiled(&c.name, pattern)?),
                _ => None,
            });
            texts.push(match &c.rule {
                Rule::Text { test, .. } => Some(Arc::new(TextCheck::new(test))),
                _ => None,
            });
            formats.push(match &c.rule {
                Rule::Format { format, .. } => Some(Arc::new(
                    format
                        .compile()
                        .map_err(|(field, m)| CoreError::rule(&c.name, field, m))?,
                )),
                _ => None,
            });
            if let Rule::Relationships { reference, .. } | Rule::Reconcile { reference, .. } =
                &c.rule
            {
                if !references.contains_key(reference) {
                    return Err(CoreError::rule(
                        &c.name,
                        "to",
                        format!("no reference values named {reference:?} were given"),
                    ));
                }
            }
        }
        let uniques = spec
            .checks
            .iter()
            .map(|c| match c.rule {
                Rule::Unique { nulls_equal, .. } => {
                    Some(UniqueState::new(threads).nulls_equal(nulls_equal))
                }
                _ => None,
            })
            .collect();
        let wholes = spec.checks.iter().map(|c| Whole::new(c, &spec)).collect();
        let n = spec.checks.len();
        Ok(Validator {
            sets: (0..n).map(|_| None).collect(),
            key_sets: (0..n).map(|_| None).collect(),
            ref_values: (0..n).map(|_| None).collect(),
            lasts: (0..n).map(|_| None).collect(),
            tallies: (0..n).map(|_| Tally::default()).collect(),
            spec,
            references,
            matchers,
            texts,
            formats,
            uniques,
            wholes,
            rows: 0,
            stopped: false,
            threads,
        })
    }

    /// Whether `fail_fast` has stopped: later batches are not looked at.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Checks one batch. With `want_rows`, also says which rows broke which
    /// checks (for quarantine and exports).
    pub fn push(&mut self, df: &DataFrame, want_rows: bool) -> Result<Option<RowFailures>> {
        self.push_with_schema(df, None, want_rows)
    }

    /// [`Validator::push`] for a frame cut down to the columns the checks
    /// read: `schema` is the full frame's column types, for `schema` checks.
    pub fn push_with_schema(
        &mut self,
        df: &DataFrame,
        schema: Option<&[(String, TypeClass)]>,
        want_rows: bool,
    ) -> Result<Option<RowFailures>> {
        let n = df.height();
        if self.stopped {
            return Ok(None);
        }
        let bound = self.bind(df)?;
        let mut bits: Vec<Option<Vec<u64>>> = (0..self.spec.checks.len()).map(|_| None).collect();

        // Dataset checks that a single batch can settle or feed.
        for (i, c) in self.spec.checks.iter().enumerate() {
            match &c.rule {
                Rule::Schema { columns, strict } => {
                    self.tallies[i].ran = true;
                    if self.tallies[i].failed {
                        continue;
                    }
                    let own;
                    let full = match schema {
                        Some(s) => s,
                        None => {
                            own = type_classes(df.schema());
                            &own
                        }
                    };
                    if let Some(problem) = schema_problem(&c.name, full, columns, *strict)? {
                        self.tallies[i].failed = true;
                        self.tallies[i].observed = Some(problem);
                    }
                }
                Rule::Freshness { column, .. } => {
                    if let Some(newest) = newest_us(&bound.cols[bound.index[column]])? {
                        let t = &mut self.tallies[i].newest_us;
                        *t = Some(t.map_or(newest, |old| old.max(newest)));
                    }
                }
                _ => {}
            }
        }
        let base = self.rows;
        self.rows += n as u64;
        let mut admitted_rows: HashMap<&str, u64> = HashMap::new();
        for (c, t) in self.spec.checks.iter().zip(self.tallies.iter_mut()) {
            t.checked += match &c.when {
                None => n as u64,
                Some(w) => *admitted_rows.entry(w.as_str()).or_insert_with(|| {
                    stats::admitted(Some(bound.col(w)), n)
                        .iter()
                        .filter(|ok| **ok)
                        .count() as u64
                }),
            };
        }

        // Whole-data checks take every batch.
        for i in 0..self.spec.checks.len() {
            if let Some(w) = self.wholes[i].as_mut() {
                let c = &self.spec.checks[i];
                let admit = stats::admitted(c.when.as_ref().map(|w| bound.col(w)), n);
                w.push(c, &|name: &str| bound.col(name), &admit, base, df)?;
                self.tallies[i].ran = true;
            }
        }

        let fail_fast = self.spec.mode == Mode::FailFast;
        if fail_fast {
            for i in 0..self.spec.checks.len() {
                if self.is_stop(i) {
                    self.stop_after(i);
                    return Ok(None);
                }
            }
        }
        // The row pass: all checks together, or one at a time in order when
        // failing fast.
        let order: Vec<Vec<usize>> = if fail_fast {
            bound.kernels.iter().map(|(i, _)| vec![*i]).collect()
        } else {
            vec![bound.kernels.iter().map(|(i, _)| *i).collect()]
        };
        let sequential: Vec<usize> = (0..self.spec.checks.len())
            .filter(|i| {
                matches!(
                    self.spec.checks[*i].rule,
                    Rule::Unique { .. } | Rule::Monotonic { .. }
                )
            })
            .collect();
        let mut pending = sequential.into_iter().peekable();
        let mut whens: HashMap<String, Vec<u64>> = HashMap::new();
        for group in order {
            // A key or sequence check runs in declared order relative to the others.
            while let Some(&u) = pending.peek() {
                if fail_fast && group.first().is_some_and(|g| *g < u) {
                    break;
                }
                pending.next();
                bits[u] = Some(self.run_sequential(u, &bound, n)?);
                self.account(u, df, bits[u].as_deref().unwrap_or(&[]), &bound)?;
                if fail_fast && self.is_stop(u) {
                    self.stop_after(u);
                    return Ok(None);
                }
            }
            let kernels: Vec<&(usize, check::Kernel)> = bound
                .kernels
                .iter()
                .filter(|(i, _)| group.contains(i))
                .collect();
            let out = run_kernels(&kernels, &bound.cols, n, self.threads);
            for ((i, _), mut words) in kernels.iter().zip(out) {
                if let Some(w) = &self.spec.checks[*i].when {
                    let mask = whens
                        .entry(w.clone())
                        .or_insert_with(|| when_words(bound.col(w), n));
                    for (x, m) in words.iter_mut().zip(mask.iter()) {
                        *x &= m;
                    }
                }
                self.account(*i, df, &words, &bound)?;
                bits[*i] = Some(words);
                if fail_fast && self.is_stop(*i) {
                    self.stop_after(*i);
                    return Ok(None);
                }
            }
        }
        for u in pending {
            bits[u] = Some(self.run_sequential(u, &bound, n)?);
            self.account(u, df, bits[u].as_deref().unwrap_or(&[]), &bound)?;
            if fail_fast && self.is_stop(u) {
                self.stop_after(u);
                return Ok(None);
            }
        }
        Ok(want_rows.then(|| RowFailures {
            rows: n,
            names: self
                .spec
                .checks
                .iter()
                .map(|c| (c.name.clone(), c.severity))
                .collect(),
            bits,
        }))
    }

    /// A check that carries state from row to row (`unique`, `increasing`,
    /// `decreasing`): its failing rows, over the rows `when=` admits.
    fn run_sequential(&mut self, i: usize, bound: &Bound, n: usize) -> Result<Vec<u64>> {
        let c = &self.spec.checks[i];
        let admitted: Option<Vec<u32>> = c.when.as_ref().map(|w| {
            stats::admitted(Some(bound.col(w)), n)
                .iter()
                .enumerate()
                .filter(|(_, ok)| **ok)
                .map(|(r, _)| r as u32)
                .collect()
        });
        let take = |col: &Col| -> Result<Col> {
            Ok(match &admitted {
                None => col.clone(),
                Some(rows) => Col {
                    name: col.name.clone(),
                    domain: col.domain,
                    series: col.series.take_slice(rows)?,
                    dtype: col.dtype.clone(),
                },
            })
        };
        let m = admitted.as_ref().map_or(n, Vec::len);
        let flagged: Vec<u32> = match &c.rule {
            Rule::Unique { columns, count, .. } => {
                let cols: Vec<Col> = columns
                    .iter()
                    .map(|name| take(bound.col(name)))
                    .collect::<Result<_>>()?;
                let refs: Vec<&Col> = cols.iter().collect();
                let (rows, grown) = self.uniques[i]
                    .as_mut()
                    .expect("unique state")
                    .push_counted(&refs, m, *count);
                self.tallies[i].failing += grown;
                rows
            }
            Rule::Monotonic {
                column,
                decreasing,
                strict,
            } => {
                let col = take(bound.col(column))?;
                monotonic(&col, m, *decreasing, *strict, &mut self.lasts[i])
            }
            _ => Vec::new(),
        };
        let mut words = vec![0u64; n.div_ceil(64)];
        for r in flagged {
            let r = admitted.as_ref().map_or(r, |a| a[r as usize]) as usize;
            words[r / 64] |= 1 << (r % 64);
        }
        Ok(words)
    }

    /// Whether check `i` is an error that already exceeds its tolerance.
    fn is_stop(&self, i: usize) -> bool {
        let c = &self.spec.checks[i];
        let t = &self.tallies[i];
        c.severity == Severity::Error
            && (t.failed || !Tolerance::allows(c.tolerance, t.failing, t.checked))
    }

    fn stop_after(&mut self, i: usize) {
        self.stopped = true;
        for (j, (c, t)) in self
            .spec
            .checks
            .iter()
            .zip(self.tallies.iter_mut())
            .enumerate()
        {
            // Whole-data checks need every batch; a stop leaves them unjudged.
            let whole = c.rule.is_dataset() || matches!(c.rule, Rule::Outliers { .. });
            if j != i && (!t.ran || whole) {
                t.skipped = true;
            }
        }
    }

    /// Adds a batch's failing rows of check `i` to its tally and sample.
    fn account(&mut self, i: usize, df: &DataFrame, words: &[u64], bound: &Bound) -> Result<()> {
        let failing: u64 = words.iter().map(|w| w.count_ones() as u64).sum();
        let cap = self.spec.sample_size;
        let base = self.rows - df.height() as u64;
        let counted_apart = matches!(self.spec.checks[i].rule, Rule::Unique { .. });
        let t = &mut self.tallies[i];
        t.ran = true;
        if !counted_apart {
            t.failing += failing;
        }
        let have = t.sample.as_ref().map_or(0, |s| s.height());
        if failing == 0 || have >= cap {
            return Ok(());
        }
        let mut idx: Vec<u32> = Vec::new();
        'words: for (w, &word) in words.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                idx.push((w * 64) as u32 + word.trailing_zeros());
                word &= word - 1;
                if have + idx.len() >= cap {
                    break 'words;
                }
            }
        }
        let c = &self.spec.checks[i];
        let mut names: Vec<String> = self.spec.key.clone();
        // An expression's boolean column is ours; its inputs (`show`) are the user's.
        let checked = match c.rule {
            Rule::Mask { .. } => Vec::new(),
            _ => c.rule.columns(),
        };
        for col in checked.into_iter().chain(c.show.iter().cloned()) {
            if !names.contains(&col) {
                names.push(col);
            }
        }
        let take = IdxCa::from_vec("".into(), idx.clone());
        let mut columns: Vec<Column> = vec![Series::new(
            "_tf_row".into(),
            idx.iter().map(|r| base + *r as u64).collect::<Vec<u64>>(),
        )
        .into()];
        for name in &names {
            let s = match df.column(name) {
                Ok(col) => col.as_materialized_series().take(&take)?,
                Err(_) => match bound.index.get(name) {
                    Some(j) => bound.cols[*j].series.take(&take)?,
                    None => continue,
                },
            };
            columns.push(s.into());
        }
        let part = DataFrame::new_infer_height(columns)?;
        match &mut t.sample {
            None => t.sample = Some(part),
            Some(s) => {
                // A later batch may carry a wider type; then the sample keeps
                // the rows it has.
                let _ = s.vstack_mut(&part);
            }
        }
        Ok(())
    }

    /// Settles the dataset checks and returns the report.
    pub fn finish(mut self) -> Result<Report> {
        let rows = self.rows;
        let now = self.spec.now_us;
        let stopped = self.stopped;
        let cap = self.spec.sample_size;
        let mut checks = Vec::new();
        for (i, c) in self.spec.checks.iter().enumerate() {
            let t = &mut self.tallies[i];
            let mut status = if t.skipped {
                Status::Skipped
            } else {
                Status::Passed
            };
            let mut failing = None;
            if let Some(w) = self.wholes[i].as_mut() {
                if !stopped && !t.skipped {
                    let v = w.finish(c, cap)?;
                    t.observed = Some(v.observed);
                    t.sample = v.sample;
                    match v.failing {
                        Some(n) => {
                            failing = Some(n);
                            if !Tolerance::allows(c.tolerance, n, t.checked) {
                                status = Status::Failed;
                            }
                        }
                        None if v.failed => status = Status::Failed,
                        None => {}
                    }
                } else {
                    status = Status::Skipped;
                }
            } else {
                match &c.rule {
                    Rule::Freshness {
                        max_age_seconds, ..
                    } if !t.skipped => match t.newest_us {
                        None => {
                            t.observed = Some("no values".into());
                            status = Status::Failed;
                        }
                        Some(newest) => {
                            // Wide: a timestamp near either end of i64 is data too.
                            let age = (i128::from(now) - i128::from(newest)) as f64 / 1e6;
                            t.observed = Some(format!(
                                "newest {}, {} old",
                                format_us(newest),
                                format_age(age)
                            ));
                            if age > *max_age_seconds {
                                status = Status::Failed;
                            }
                        }
                    },
                    Rule::Schema { .. } => {
                        if t.failed {
                            status = Status::Failed;
                        } else if !t.skipped {
                            t.observed = Some("as declared".into());
                        }
                    }
                    r if r.is_row_level() && !t.skipped => {
                        failing = Some(t.failing);
                        if !Tolerance::allows(c.tolerance, t.failing, t.checked) {
                            status = Status::Failed;
                        }
                    }
                    _ => {}
                }
            }
            if t.skipped {
                status = Status::Skipped;
            }
            checks.push(CheckReport {
                name: c.name.clone(),
                kind: c.kind(),
                columns: match c.rule {
                    Rule::Mask { .. } => c.show.clone(),
                    _ => c.rule.columns(),
                },
                severity: c.severity,
                tolerance: c.tolerance,
                status,
                failing,
                rows: t.checked,
                observed: t.observed.take(),
                sample: t.sample.take(),
            });
        }
        Ok(Report { rows, checks })
    }
}

/// The rows a `when=` mask admits, as words (bit set = the check applies).
fn when_words(col: &Col, n: usize) -> Vec<u64> {
    let admit = stats::admitted(Some(col), n);
    let mut words = vec![0u64; n.div_ceil(64)];
    for (i, ok) in admit.iter().enumerate() {
        if *ok {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    words
}

/// `increasing` / `decreasing`: rows out of order with the previous present
/// value of the stream (SQL's `lag` ignoring nulls; NaN fails and is not a
/// previous value).
fn monotonic(
    col: &Col,
    n: usize,
    decreasing: bool,
    strict: bool,
    last: &mut Option<Last>,
) -> Vec<u32> {
    let s = Slice::of(col, 0, n);
    let mut out = Vec::new();
    for i in 0..n {
        let v = match &s {
            Slice::Str(a) => a.get(i).map(|v| Last::Text(v.to_owned())),
            Slice::F64(a) => match a.get(i) {
                Some(v) if v.is_nan() => {
                    out.push(i as u32);
                    continue;
                }
                v => v.map(Last::Float),
            },
            Slice::Null | Slice::Bool(_) => None,
            other => other.exact(i).map(Last::Exact),
        };
        let Some(v) = v else { continue };
        if let Some(prev) = last.as_ref() {
            let ord = v.partial_cmp(prev);
            let ok = match (ord, decreasing, strict) {
                (Some(std::cmp::Ordering::Equal), _, s) => !s,
                (Some(o), false, _) => o.is_gt(),
                (Some(o), true, _) => o.is_lt(),
                (None, ..) => false,
            };
            if !ok {
                out.push(i as u32);
            }
        }
        *last = Some(v);
    }
    out
}
