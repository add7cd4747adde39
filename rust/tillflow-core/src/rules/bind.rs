//! Binding a rule set to one batch: its columns in their physical form, and
//! each row check's kernel with its parameters converted into the column's
//! representation (built once per stream where they do not depend on it).

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;

use super::check::{comparable, Kernel};
use super::column::{on_column, range, Col, Domain, ExactRange, Range};
use super::rows::{Arith, KeySet, RefValues, Within};
use super::spec::{self, Rule};
use super::value_set::ValueSet;
use super::Validator;
use crate::error::{CoreError, Result};

pub(super) struct Bound {
    pub cols: Vec<Col>,
    pub index: HashMap<String, usize>,
    pub kernels: Vec<(usize, Kernel)>,
}

impl Bound {
    pub fn col(&self, name: &str) -> &Col {
        &self.cols[self.index[name]]
    }
}

/// Every column a check reads: its own, its groups and its `when=` mask.
pub(super) fn read_columns(c: &spec::CheckSpec) -> Vec<String> {
    let mut out = match c.rule {
        Rule::Schema { .. } => Vec::new(),
        _ => c.rule.columns(),
    };
    out.extend(c.by.iter().cloned());
    out.extend(c.when.iter().cloned());
    out
}

/// `now` in a temporal domain's ticks, rounded down (or up).
fn ticks(d: Domain, us: i128, up: bool) -> Option<i128> {
    let per = match d {
        Domain::Date => 86_400_000_000,
        Domain::Datetime(TimeUnit::Milliseconds) => 1000,
        Domain::Datetime(TimeUnit::Microseconds) => 1,
        Domain::Datetime(TimeUnit::Nanoseconds) => return Some(us.saturating_mul(1000)),
        _ => return None,
    };
    Some(if up {
        us.div_euclid(per) + (us.rem_euclid(per) != 0) as i128
    } else {
        us.div_euclid(per)
    })
}

impl Validator {
    /// Binds every check to this batch's columns.
    pub(super) fn bind(&mut self, df: &DataFrame) -> Result<Bound> {
        let n = df.height();
        let mut b = Bound {
            cols: Vec::new(),
            index: HashMap::new(),
            kernels: Vec::new(),
        };
        let missing = self.spec.missing_columns;
        for c in &self.spec.checks {
            for name in read_columns(c) {
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
            if let Some(k) = self.kernel(i, &b)? {
                b.kernels.push((i, k));
            }
        }
        Ok(b)
    }

    /// Check `i`'s kernel for this batch; `None` for checks that are not
    /// judged by a kernel (keys, sequences, whole-data checks).
    fn kernel(&mut self, i: usize, b: &Bound) -> Result<Option<Kernel>> {
        // A copy: building a value set borrows the validator mutably.
        let c = self.spec.checks[i].clone();
        let c = &c;
        let dom = |name: &String| b.cols[b.index[name]].domain;
        let at = |name: &String| b.index[name];
        let wrong = |column: &String, want: &str| -> Result<Option<Kernel>> {
            Err(CoreError::rule(
                &c.name,
                "column",
                format!(
                    "{} needs {want}; {column:?} is {}",
                    c.kind(),
                    dom(column).describe()
                ),
            ))
        };
        let text = |column: &String, k: Kernel| -> Result<Option<Kernel>> {
            match dom(column) {
                Domain::Str => Ok(Some(k)),
                Domain::Null => Ok(Some(Kernel::Pass)),
                _ => wrong(column, "a string column"),
            }
        };
        let kernel = match &c.rule {
            Rule::NotNull { column } => Kernel::NotNull(at(column)),
            Rule::IsNull { column } => Kernel::IsNull(at(column)),
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
            Rule::Matches { column, negate, .. } => {
                let m = self.matchers[i].clone().expect("compiled pattern");
                let k = if *negate {
                    Kernel::NotMatches(at(column), m)
                } else {
                    Kernel::Matches(at(column), m)
                };
                return text(column, k);
            }
            Rule::Text { column, .. } => {
                let t = self.texts[i].clone().expect("text test");
                return text(column, Kernel::Text(at(column), t));
            }
            Rule::Format { column, .. } => {
                let f = self.formats[i].clone().expect("compiled format");
                return text(column, Kernel::Format(at(column), f));
            }
            Rule::IsIn {
                column,
                values,
                negate,
            } => {
                let d = dom(column);
                if d == Domain::Null {
                    return Ok(Some(Kernel::Pass));
                }
                let set = self
                    .value_set(i, d, |d| ValueSet::from_json(&c.name, d, values))
                    .map_err(|e| on_column(e, column))?;
                if *negate {
                    Kernel::NotInSet(at(column), set)
                } else {
                    Kernel::InSet(at(column), set)
                }
            }
            Rule::Relationships { columns, reference } => {
                let domains: Vec<Domain> = columns.iter().map(dom).collect();
                if domains.contains(&Domain::Null) {
                    return Ok(Some(Kernel::Pass));
                }
                let r = self.references[reference].clone();
                if let [column] = columns.as_slice() {
                    let d = domains[0];
                    let first = r
                        .columns()
                        .first()
                        .ok_or_else(|| {
                            CoreError::rule(&c.name, "to", "the reference has no columns")
                        })?
                        .as_materialized_series()
                        .clone();
                    Kernel::InSet(
                        at(column),
                        self.value_set(i, d, |d| ValueSet::from_reference(&c.name, d, &first))
                            .map_err(|e| on_column(e, column))?,
                    )
                } else {
                    let keys = match &self.key_sets[i] {
                        Some((have, k)) if *have == domains => k.clone(),
                        _ => {
                            let k = Arc::new(KeySet::build(&c.name, &r, &domains)?);
                            self.key_sets[i] = Some((domains, k.clone()));
                            k
                        }
                    };
                    Kernel::KeyIn(columns.iter().map(at).collect(), keys)
                }
            }
            Rule::Reconcile {
                key,
                column,
                reference,
                within,
            } => {
                let domains: Vec<Domain> = key.iter().map(dom).collect();
                if domains.contains(&Domain::Null) || dom(column) == Domain::Null {
                    return Ok(Some(Kernel::Pass));
                }
                if !dom(column).is_numeric() {
                    return wrong(column, "a numeric column");
                }
                let refs = match &self.ref_values[i] {
                    Some((have, r)) if *have == domains => r.clone(),
                    _ => {
                        let r = RefValues::build(&c.name, &self.references[reference], &domains)?;
                        self.ref_values[i] = Some((domains, r.clone()));
                        r
                    }
                };
                Kernel::Reconcile(key.iter().map(at).collect(), at(column), refs, *within)
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
            Rule::Finite { column } => match dom(column) {
                Domain::Float => Kernel::Finite(at(column)),
                d if d.is_numeric() || d == Domain::Null => Kernel::Pass,
                _ => return wrong(column, "a numeric column"),
            },
            Rule::DecimalPlaces { column, max } => match dom(column) {
                d if d.is_numeric() => Kernel::DecimalPlaces(at(column), *max),
                Domain::Null => Kernel::Pass,
                _ => return wrong(column, "a numeric column"),
            },
            Rule::NotInFuture {
                column,
                slack_seconds,
            } => {
                let d = dom(column);
                if d == Domain::Null {
                    return Ok(Some(Kernel::Pass));
                }
                let us = i128::from(self.spec.now_us) + (*slack_seconds * 1e6) as i128;
                let Some(hi) = ticks(d, us, false) else {
                    return wrong(column, "a date or datetime column");
                };
                Kernel::Exact(at(column), ExactRange { lo: i128::MIN, hi })
            }
            Rule::NotOlderThan {
                column,
                max_age_seconds,
            } => {
                let d = dom(column);
                if d == Domain::Null {
                    return Ok(Some(Kernel::Pass));
                }
                // A date counts from its midnight, so a date is recent
                // enough when its day ends after the cutoff.
                let us = i128::from(self.spec.now_us) - (*max_age_seconds * 1e6) as i128;
                let lo = match d {
                    Domain::Date => ticks(d, us, false),
                    _ => ticks(d, us, true),
                };
                let Some(lo) = lo else {
                    return wrong(column, "a date or datetime column");
                };
                Kernel::Exact(at(column), ExactRange { lo, hi: i128::MAX })
            }
            Rule::Within {
                left,
                right,
                min_seconds,
                max_seconds,
            } => {
                for side in [left, right] {
                    if !matches!(dom(side), Domain::Date | Domain::Datetime(_) | Domain::Null) {
                        return wrong(side, "date or datetime columns");
                    }
                }
                let lo = min_seconds.map_or(i128::MIN, |s| (s * 1e6).ceil() as i128);
                let hi = max_seconds.map_or(i128::MAX, |s| (s * 1e6).floor() as i128);
                Kernel::Within(at(left), at(right), lo, hi)
            }
            Rule::SumEquals {
                columns,
                total,
                within,
            } => {
                let mut domains = Vec::new();
                for col in columns.iter().chain([total]) {
                    let d = dom(col);
                    if !(d.is_numeric() || d == Domain::Null) {
                        return wrong(col, "numeric columns");
                    }
                    domains.push(d);
                }
                let arith = Arith::of(&domains);
                Kernel::SumEquals(
                    columns.iter().map(at).collect(),
                    at(total),
                    arith,
                    Within::new(arith, *within),
                )
            }
            Rule::DistinctAcross { columns } => {
                Kernel::DistinctAcross(columns.iter().map(at).collect())
            }
            Rule::Complete { columns } => Kernel::Presence(columns.iter().map(at).collect(), true),
            Rule::AnyPresent { columns } => {
                Kernel::Presence(columns.iter().map(at).collect(), false)
            }
            Rule::Freshness { column, .. } => {
                match dom(column) {
                    Domain::Date | Domain::Datetime(_) | Domain::Null => {}
                    _ => return wrong(column, "a date or datetime column"),
                }
                return Ok(None);
            }
            Rule::Monotonic { column, .. } => {
                if matches!(dom(column), Domain::Bool) {
                    return wrong(column, "numbers, dates or text");
                }
                return Ok(None);
            }
            _ => return Ok(None),
        };
        let first_null = c
            .rule
            .columns()
            .first()
            .is_some_and(|col| dom(col) == Domain::Null);
        if matches!(kernel, Kernel::InSet(..)) && first_null {
            return Ok(Some(Kernel::Pass));
        }
        Ok(Some(kernel))
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
