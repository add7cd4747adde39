//! Validation rules: every row check of a rule set in one multi-threaded
//! pass over each batch, with state carried across the batches of a stream
//! (seen keys, counts, samples, the newest timestamp).
//!
//! A [`Validator`] is fed frames with [`Validator::push`] and gives its
//! [`Report`] on [`Validator::finish`]. The report's size is bounded by the
//! sample cap, not by the number of failures.

mod check;
mod column;
mod dataset;
mod report;
pub mod spec;
mod unique;

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;

use check::{comparable, compiled, run_kernels, Kernel, Matcher};
use column::{on_column, range, Col, Domain, Range, ValueSet};
use dataset::{format_age, format_us, newest_us, schema_problem};
pub use dataset::{type_classes, TypeClass};
pub use report::{CheckReport, Report, RowFailures, Status};

pub use spec::{CheckSpec, CompareOp, Mode, Rule, RuleSetSpec, Severity, Tolerance};
use unique::UniqueState;

use crate::error::{CoreError, Result};

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

struct Bound {
    cols: Vec<Col>,
    index: HashMap<String, usize>,
    kernels: Vec<(usize, Kernel)>,
}
