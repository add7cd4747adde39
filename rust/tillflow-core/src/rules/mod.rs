//! Validation rules: every row check of a rule set in one multi-threaded
//! pass over each batch, with state carried across the batches of a stream
//! (seen keys, counts, samples, the newest timestamp).
//!
//! A [`Validator`] is fed frames with [`Validator::push`] and gives its
//! [`Report`] on [`Validator::finish`]. The report's size is bounded by the
//! sample cap, not by the number of failures.

mod check;
mod column;
pub mod spec;
mod unique;

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;

use check::{comparable, Kernel, Matcher, MORSEL};
use column::{range, Col, Domain, Range, Slice, ValueSet};
/// The compiled form of `pattern`, shared by every validator that uses it:
/// building a DFA costs more than checking a small frame.
fn compiled(rule: &str, pattern: &str) -> Result<Arc<Matcher>> {
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

/// Compiles `pattern` as a `matches` check would, naming `rule` in the error.
pub fn check_pattern(rule: &str, pattern: &str) -> Result<()> {
    Matcher::new(rule, pattern).map(|_| ())
}

pub use spec::{CheckSpec, CompareOp, Mode, Rule, RuleSetSpec, Severity, Tolerance};
use unique::UniqueState;

use crate::error::{CoreError, Result};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    /// Not run: `fail_fast` stopped at an earlier failure.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    pub name: String,
    pub kind: &'static str,
    pub columns: Vec<String>,
    pub severity: Severity,
    pub tolerance: Option<Tolerance>,
    pub status: Status,
    /// Failing rows (row checks only).
    pub failing: Option<u64>,
    /// What a dataset check saw: the row count, the newest value, a schema
    /// mismatch.
    pub observed: Option<String>,
    /// Up to `sample_size` failing rows: `_tf_row` (the row's position in
    /// the stream), the key columns and the checked columns.
    pub sample: Option<DataFrame>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub rows: u64,
    pub checks: Vec<CheckReport>,
}

/// Which rows of one batch broke which checks.
#[derive(Debug)]
pub struct RowFailures {
    rows: usize,
    names: Vec<(String, Severity)>,
    bits: Vec<Option<Vec<u64>>>,
}

impl RowFailures {
    fn words(&self, severity: Option<Severity>) -> Vec<u64> {
        let mut words = vec![0u64; self.rows.div_ceil(64)];
        for ((_, sev), bits) in self.names.iter().zip(&self.bits) {
            if let Some(bits) = bits {
                if severity.is_none_or(|s| s == *sev) {
                    for (w, b) in words.iter_mut().zip(bits) {
                        *w |= b;
                    }
                }
            }
        }
        words
    }

    /// Rows that broke at least one check of `severity` (any when `None`).
    pub fn mask(&self, severity: Option<Severity>) -> BooleanChunked {
        let words = self.words(severity);
        let it = (0..self.rows).map(|i| words[i / 64] >> (i % 64) & 1 == 1);
        BooleanChunked::from_iter_values("_tf_failed".into(), it)
    }

    /// For every row that broke a check of `severity` (any when `None`): its
    /// position (`_tf_row`) and the names of the checks it broke
    /// (`_tf_failed_rules`), in row order.
    pub fn rules(&self, severity: Option<Severity>) -> Result<DataFrame> {
        let words = self.words(severity);
        let mut rows: Vec<u32> = Vec::new();
        let mut builder = ListStringChunkedBuilder::new("_tf_failed_rules".into(), 0, 0);
        let mut names: Vec<&str> = Vec::new();
        for i in 0..self.rows {
            if words[i / 64] >> (i % 64) & 1 == 0 {
                continue;
            }
            names.clear();
            for ((name, sev), bits) in self.names.iter().zip(&self.bits) {
                let Some(bits) = bits else { continue };
                if severity.is_none_or(|s| s == *sev) && bits[i / 64] >> (i % 64) & 1 == 1 {
                    names.push(name);
                }
            }
            rows.push(i as u32);
            builder.append_values_iter(names.iter().copied());
        }
        Ok(DataFrame::new_infer_height(vec![
            Series::new("_tf_row".into(), rows).into(),
            builder.finish().into_series().into(),
        ])?)
    }
}

/// A check's running totals across batches.
#[derive(Default)]
struct Tally {
    failing: u64,
    sample: Option<DataFrame>,
    observed: Option<String>,
    failed: bool,
    skipped: bool,
    /// The check looked at a batch (so `fail_fast` does not skip it).
    ran: bool,
    /// Newest value seen by a freshness check, in microseconds.
    newest_us: Option<i64>,
}

/// A rule set being applied to a stream of frames.
pub struct Validator {
    spec: RuleSetSpec,
    references: HashMap<String, Series>,
    matchers: Vec<Option<Arc<Matcher>>>,
    sets: Vec<Option<(Domain, Arc<ValueSet>)>>,
    uniques: Vec<Option<UniqueState>>,
    tallies: Vec<Tally>,
    rows: u64,
    stopped: bool,
    threads: usize,
}

impl Validator {
    /// Compiles `spec` (patterns once, here); `references` holds the
    /// columns `relationships` checks look values up in.
    pub fn new(spec: RuleSetSpec, references: HashMap<String, Series>) -> Result<Validator> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        let mut matchers = Vec::new();
        for c in &spec.checks {
            matchers.push(match &c.rule {
                Rule::Matches { pattern, .. } => Some(compiled(&c.name, pattern)?),
                _ => None,
            });
            if let Rule::Relationships { reference, .. } = &c.rule {
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
            .map(|c| matches!(c.rule, Rule::Unique { .. }).then(|| UniqueState::new(threads)))
            .collect();
        let n = spec.checks.len();
        Ok(Validator {
            sets: (0..n).map(|_| None).collect(),
            tallies: (0..n).map(|_| Tally::default()).collect(),
            spec,
            references,
            matchers,
            uniques,
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
        self.rows += n as u64;

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
        let uniques: Vec<usize> = (0..self.spec.checks.len())
            .filter(|i| self.uniques[*i].is_some())
            .collect();
        let mut pending_uniques = uniques.into_iter().peekable();
        for group in order {
            // A unique check runs in declared order relative to the others.
            while let Some(&u) = pending_uniques.peek() {
                if fail_fast && group.first().is_some_and(|g| *g < u) {
                    break;
                }
                pending_uniques.next();
                bits[u] = Some(self.run_unique(u, &bound, n));
                self.account(u, df, bits[u].as_deref().unwrap_or(&[]), &bound)?;
                if fail_fast && self.is_stop(u) {
                    self.stop_after(u);
                    return Ok(None);
                }
            }
            let kernels: Vec<&(usize, Kernel)> = bound
                .kernels
                .iter()
                .filter(|(i, _)| group.contains(i))
                .collect();
            let out = run_kernels(&kernels, &bound.cols, n, self.threads);
            for ((i, _), words) in kernels.iter().zip(out) {
                self.account(*i, df, &words, &bound)?;
                bits[*i] = Some(words);
                if fail_fast && self.is_stop(*i) {
                    self.stop_after(*i);
                    return Ok(None);
                }
            }
        }
        for u in pending_uniques {
            bits[u] = Some(self.run_unique(u, &bound, n));
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

    fn run_unique(&mut self, i: usize, bound: &Bound, n: usize) -> Vec<u64> {
        let Rule::Unique { columns } = &self.spec.checks[i].rule else {
            unreachable!()
        };
        let cols: Vec<&Col> = columns
            .iter()
            .map(|c| &bound.cols[bound.index[c]])
            .collect();
        let dups = self.uniques[i]
            .as_mut()
            .expect("unique state")
            .push(&cols, n);
        let mut words = vec![0u64; n.div_ceil(64)];
        for r in dups {
            words[r as usize / 64] |= 1 << (r % 64);
        }
        words
    }

    /// Whether check `i` is an error that already exceeds its tolerance.
    fn is_stop(&self, i: usize) -> bool {
        let c = &self.spec.checks[i];
        let t = &self.tallies[i];
        c.severity == Severity::Error
            && (t.failed || !Tolerance::allows(c.tolerance, t.failing, self.rows))
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
            // Row counts and freshness need every batch; a stop leaves them unjudged.
            let whole = matches!(c.rule, Rule::RowCount { .. } | Rule::Freshness { .. });
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
        let t = &mut self.tallies[i];
        t.ran = true;
        t.failing += failing;
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
    pub fn finish(mut self) -> Report {
        let rows = self.rows;
        let now = self.spec.now_us;
        let stopped = self.stopped;
        let mut checks = Vec::new();
        for (c, t) in self.spec.checks.iter().zip(self.tallies.iter_mut()) {
            let mut status = if t.skipped {
                Status::Skipped
            } else {
                Status::Passed
            };
            let mut failing = None;
            match &c.rule {
                Rule::RowCount { min, max } if !stopped => {
                    t.observed = Some(format!("{rows} rows"));
                    if min.is_some_and(|m| rows < m) || max.is_some_and(|m| rows > m) {
                        status = Status::Failed;
                    }
                }
                Rule::Freshness {
                    max_age_seconds, ..
                } if !t.skipped => match t.newest_us {
                    None => {
                        t.observed = Some("no values".into());
                        status = Status::Failed;
                    }
                    Some(newest) => {
                        let age = (now - newest) as f64 / 1e6;
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
                    if !Tolerance::allows(c.tolerance, t.failing, rows) {
                        status = Status::Failed;
                    }
                }
                _ => {}
            }
            if t.skipped {
                status = Status::Skipped;
            }
            checks.push(CheckReport {
                name: c.name.clone(),
                kind: c.rule.kind(),
                columns: match c.rule {
                    Rule::Mask { .. } => c.show.clone(),
                    _ => c.rule.columns(),
                },
                severity: c.severity,
                tolerance: c.tolerance,
                status,
                failing,
                observed: t.observed.take(),
                sample: t.sample.take(),
            });
        }
        Report { rows, checks }
    }

    /// Binds every row check to this batch's columns.
    fn bind(&mut self, df: &DataFrame) -> Result<Bound> {
        let n = df.height();
        let mut b = Bound {
            cols: Vec::new(),
            index: HashMap::new(),
            kernels: Vec::new(),
        };
        let missing = self.spec.missing_columns;
        for c in &self.spec.checks {
            if let Rule::Schema { .. } | Rule::RowCount { .. } = c.rule {
                continue;
            }
            for name in c.rule.columns() {
                if b.index.contains_key(&name) {
                    continue;
                }
                let col = match df.column(&name) {
                    Ok(s) => Col::bind(&c.name, "column", s.as_materialized_series())?,
                    Err(_) if missing == spec::MissingColumns::Null => Col::nulls(&name, n),
                    Err(_) => {
                        let have: Vec<String> = df
                            .get_column_names()
                            .iter()
                            .map(|s| format!("{s:?}"))
                            .collect();
                        return Err(CoreError::rule(
                            &c.name,
                            "column",
                            format!(
                                "no column {name:?} in the data (columns: {})",
                                have.join(", ")
                            ),
                        ));
                    }
                };
                b.index.insert(name, b.cols.len());
                b.cols.push(col);
            }
        }
        for i in 0..self.spec.checks.len() {
            // A copy: building a value set borrows the validator mutably.
            let c = self.spec.checks[i].clone();
            let c = &c;
            let dom = |name: &String| b.cols[b.index[name]].domain;
            let at = |name: &String| b.index[name];
            let kernel = match &c.rule {
                Rule::NotNull { column } => Kernel::NotNull(at(column)),
                Rule::Between {
                    column,
                    min,
                    max,
                    min_inclusive,
                    max_inclusive,
                } => {
                    let d = dom(column);
                    if d == Domain::Null {
                        Kernel::Pass
                    } else {
                        match range(
                            &c.name,
                            d,
                            min.as_deref(),
                            max.as_deref(),
                            *min_inclusive,
                            *max_inclusive,
                        )
                        .map_err(|e| on_column(e, column))?
                        {
                            Range::Exact(r) => Kernel::Exact(at(column), r),
                            Range::Float(r) => Kernel::Float(at(column), r),
                        }
                    }
                }
                Rule::Matches { column, .. } => match dom(column) {
                    Domain::Str => Kernel::Matches(
                        at(column),
                        self.matchers[i].clone().expect("compiled pattern"),
                    ),
                    Domain::Null => Kernel::Pass,
                    d => {
                        return Err(CoreError::rule(
                            &c.name,
                            "column",
                            format!(
                                "matches needs a string column; {column:?} is {}",
                                d.describe()
                            ),
                        ))
                    }
                },
                Rule::IsIn { column, values } => {
                    let d = dom(column);
                    Kernel::InSet(
                        at(column),
                        self.value_set(i, d, |d| ValueSet::from_json(&c.name, d, values))
                            .map_err(|e| on_column(e, column))?,
                    )
                }
                Rule::Relationships { column, reference } => {
                    let d = dom(column);
                    let r = self.references[reference].clone();
                    Kernel::InSet(
                        at(column),
                        self.value_set(i, d, |d| ValueSet::from_reference(&c.name, d, &r))
                            .map_err(|e| on_column(e, column))?,
                    )
                }
                Rule::Compare { left, op, right } => {
                    comparable(dom(left), dom(right)).map_err(|m| {
                        CoreError::rule(&c.name, "right", format!("{left:?} and {right:?}: {m}"))
                    })?;
                    Kernel::Compare(at(left), *op, at(right))
                }
                Rule::Mask { column } => match dom(column) {
                    Domain::Bool | Domain::Null => Kernel::Mask(at(column)),
                    d => {
                        return Err(CoreError::rule(
                            &c.name,
                            "expression",
                            format!("must give booleans; it gave {}", d.describe()),
                        ))
                    }
                },
                Rule::Freshness { column, .. } => {
                    match dom(column) {
                        Domain::Date | Domain::Datetime(_) | Domain::Null => {}
                        d => {
                            return Err(CoreError::rule(
                                &c.name,
                                "column",
                                format!(
                                    "freshness needs a date or datetime column; {column:?} is {}",
                                    d.describe()
                                ),
                            ))
                        }
                    }
                    continue;
                }
                Rule::Unique { .. } | Rule::RowCount { .. } | Rule::Schema { .. } => continue,
            };
            if matches!(kernel, Kernel::InSet(..)) && dom(&c.rule.columns()[0]) == Domain::Null {
                b.kernels.push((i, Kernel::Pass));
            } else {
                b.kernels.push((i, kernel));
            }
        }
        Ok(b)
    }

    /// The value set of check `i` for columns of domain `d`, built once per
    /// domain (a stream's column keeps its type, so usually once).
    fn value_set(
        &mut self,
        i: usize,
        d: Domain,
        build: impl FnOnce(Domain) -> Result<ValueSet>,
    ) -> Result<Arc<ValueSet>> {
        if let Some((have, set)) = &self.sets[i] {
            if *have == d {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(build(d)?);
        self.sets[i] = Some((d, set.clone()));
        Ok(set)
    }
}

/// Names the column in a rule error about its values.
fn on_column(e: CoreError, column: &str) -> CoreError {
    match e {
        CoreError::Rule {
            rule,
            field,
            message,
        } => CoreError::Rule {
            rule,
            field,
            message: format!("column {column:?}: {message}"),
        },
        other => other,
    }
}

struct Bound {
    cols: Vec<Col>,
    index: HashMap<String, usize>,
    kernels: Vec<(usize, Kernel)>,
}

/// Runs `kernels` over all rows, morsel by morsel, on up to `threads`
/// threads; returns each kernel's failure words.
fn run_kernels(
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
        | Kernel::Mask(x) => *x == c,
        Kernel::Compare(a, _, b) => *a == c || *b == c,
        Kernel::Pass => false,
    }
}

/// The newest value of a date or datetime column, in microseconds.
fn newest_us(col: &Col) -> Result<Option<i64>> {
    let Some(max) = col.series.max::<i64>()? else {
        return Ok(None);
    };
    Ok(Some(match col.domain {
        Domain::Date => max.saturating_mul(86_400_000_000),
        Domain::Datetime(TimeUnit::Milliseconds) => max.saturating_mul(1000),
        Domain::Datetime(TimeUnit::Nanoseconds) => max.div_euclid(1000),
        _ => max,
    }))
}

/// The kind of type a `schema` check compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeClass {
    Int,
    Float,
    Decimal,
    Bool,
    Text,
    Date,
    Datetime,
    /// No values yet: matches any declared type.
    Null,
    /// Anything else (lists, structs, durations, ...), by name.
    Other(String),
}

impl TypeClass {
    pub fn of(dt: &DataType) -> TypeClass {
        match dt {
            d if d.is_integer() => TypeClass::Int,
            d if d.is_float() => TypeClass::Float,
            DataType::Decimal(..) => TypeClass::Decimal,
            DataType::Boolean => TypeClass::Bool,
            DataType::String => TypeClass::Text,
            DataType::Date => TypeClass::Date,
            DataType::Datetime(..) => TypeClass::Datetime,
            DataType::Null => TypeClass::Null,
            other => TypeClass::Other(other.to_string()),
        }
    }

    /// From the name of a Python polars type (`Int8`, `Datetime`, `List`, ...).
    pub fn from_name(name: &str) -> TypeClass {
        match name {
            "Int8" | "Int16" | "Int32" | "Int64" | "Int128" | "UInt8" | "UInt16" | "UInt32"
            | "UInt64" | "UInt128" => TypeClass::Int,
            "Float16" | "Float32" | "Float64" => TypeClass::Float,
            "Decimal" => TypeClass::Decimal,
            "Boolean" => TypeClass::Bool,
            "String" | "Utf8" | "Categorical" | "Enum" => TypeClass::Text,
            "Date" => TypeClass::Date,
            "Datetime" => TypeClass::Datetime,
            "Null" => TypeClass::Null,
            other => TypeClass::Other(other.to_string()),
        }
    }

    fn name(&self) -> &str {
        match self {
            TypeClass::Int => "int",
            TypeClass::Float => "float",
            TypeClass::Decimal => "decimal",
            TypeClass::Bool => "bool",
            TypeClass::Text => "string",
            TypeClass::Date => "date",
            TypeClass::Datetime => "datetime",
            TypeClass::Null => "null",
            TypeClass::Other(name) => name,
        }
    }
}

/// The column types of a frame, for `schema` checks.
pub fn type_classes(schema: &Schema) -> Vec<(String, TypeClass)> {
    schema
        .iter()
        .map(|(n, d)| (n.to_string(), TypeClass::of(d)))
        .collect()
}

/// What is wrong with a frame's columns against a declared schema, if
/// anything.
fn schema_problem(
    rule: &str,
    schema: &[(String, TypeClass)],
    declared: &[(String, String)],
    strict: bool,
) -> Result<Option<String>> {
    let mut problems = Vec::new();
    for (name, want) in declared {
        let ok = type_matches(want).ok_or_else(|| {
            CoreError::rule(
                rule,
                format!("columns.{name}"),
                format!(
                    "unknown type {want:?}; use int, float, number, decimal, bool, string, date or datetime"
                ),
            )
        })?;
        match schema.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("{name} is missing")),
            Some((_, t)) if !ok(t) && *t != TypeClass::Null => {
                problems.push(format!("{name} is {} not {want}", t.name()))
            }
            Some(_) => {}
        }
    }
    if strict {
        for (name, _) in schema {
            if !name.starts_with("_tf_") && !declared.iter().any(|(d, _)| d == name) {
                problems.push(format!("{name} is not declared"));
            }
        }
    }
    Ok((!problems.is_empty()).then(|| problems.join("; ")))
}

type TypeTest = fn(&TypeClass) -> bool;

fn type_matches(name: &str) -> Option<TypeTest> {
    use TypeClass as T;
    Some(match name.to_ascii_lowercase().as_str() {
        "int" | "integer" => |t: &T| *t == T::Int,
        "float" => |t: &T| *t == T::Float,
        "number" | "numeric" => |t: &T| matches!(t, T::Int | T::Float | T::Decimal),
        "decimal" => |t: &T| *t == T::Decimal,
        "bool" | "boolean" => |t: &T| *t == T::Bool,
        "string" | "str" | "text" => |t: &T| *t == T::Text,
        "date" => |t: &T| *t == T::Date,
        "datetime" | "timestamp" => |t: &T| *t == T::Datetime,
        _ => return None,
    })
}

fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| us.to_string())
}

fn format_age(seconds: f64) -> String {
    let s = seconds.abs().round() as u64;
    let sign = if seconds < 0.0 { "-" } else { "" };
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{sign}{d}d {h}h")
    } else if h > 0 {
        format!("{sign}{h}h {m}m")
    } else if m > 0 {
        format!("{sign}{m}m {sec}s")
    } else {
        format!("{sign}{sec}s")
    }
}
