//! The state of checks judged on the whole data (per `by=` group when
//! given), fed batch by batch and settled at the end: row counts per group,
//! distinct counts and ratios, aggregates, listed values, gaps, outliers.

use polars::prelude::*;

use super::column::{on_column, Col, Domain, Slice};
use super::outliers::Outliers;
use super::spec::{Agg, CheckSpec, Rule, RuleSetSpec};
use super::stats::{
    agg_domain, bucket_origin_us, feed, to_micros, within_bounds, Calendar, DistinctAcc, GapAcc,
    Groups, NumAcc,
};
use super::value_set::ValueSet;
use crate::error::{CoreError, Result};

/// What one whole-data check keeps between batches.
pub enum Whole {
    Rows(Groups, Vec<u64>),
    Distinct(Groups, Vec<DistinctAcc>),
    /// This column's measures, and the other column's for a comparison.
    Agg(Groups, Vec<NumAcc>, Vec<NumAcc>, Domains),
    /// Which listed values each group holds, and each value as a set in the
    /// column's domain.
    Contains(Groups, Vec<Vec<bool>>, Option<(Domain, Vec<ValueSet>)>),
    Gaps(Groups, Vec<GapAcc>, Option<Domain>),
    Outliers(Outliers),
}

#[derive(Default, Clone, Copy)]
pub struct Domains {
    mine: Option<Domain>,
    other: Option<Domain>,
}

/// The verdict on a whole-data check.
pub struct Verdict {
    pub failed: bool,
    pub observed: String,
    /// Outliers count rows.
    pub failing: Option<u64>,
    pub sample: Option<DataFrame>,
}

impl Whole {
    /// The state of a whole-data check of `set` (whose key and sample size
    /// say what an outlier check's sample shows).
    pub fn new(c: &CheckSpec, set: &RuleSetSpec) -> Option<Whole> {
        Some(match &c.rule {
            Rule::RowCount { .. } | Rule::RowCountMatches { .. } => {
                Whole::Rows(Groups::default(), Vec::new())
            }
            Rule::DistinctCount { .. } | Rule::DistinctRatio { .. } => {
                Whole::Distinct(Groups::default(), Vec::new())
            }
            Rule::Aggregate { .. } => Whole::Agg(
                Groups::default(),
                Vec::new(),
                Vec::new(),
                Domains::default(),
            ),
            Rule::ContainsValues { .. } => Whole::Contains(Groups::default(), Vec::new(), None),
            Rule::SequenceGaps { .. } | Rule::TimeGaps { .. } => {
                Whole::Gaps(Groups::default(), Vec::new(), None)
            }
            Rule::Outliers { column, .. } => {
                Whole::Outliers(Outliers::new(column, &set.key, set.sample_size))
            }
            _ => return None,
        })
    }

    /// Feeds one batch: `col(name)` gives a bound column, `admit` the rows
    /// `when=` lets through, `base` the stream position of the first row;
    /// `batch` is the batch as given, for an outlier check's sample.
    pub fn push<'b>(
        &mut self,
        c: &CheckSpec,
        col: &dyn Fn(&str) -> &'b Col,
        admit: &[bool],
        base: u64,
        batch: &DataFrame,
    ) -> Result<()> {
        let n = batch.height();
        let by: Vec<&Col> = c.by.iter().map(|b| col(b)).collect();
        match (self, &c.rule) {
            (Whole::Rows(groups, counts), _) => {
                let slots = groups.assign(&by, n);
                counts.resize(groups.len(), 0);
                for (i, s) in slots.iter().enumerate() {
                    counts[*s as usize] += admit[i] as u64;
                }
            }
            (
                Whole::Distinct(groups, accs),
                Rule::DistinctCount { columns, .. } | Rule::DistinctRatio { columns, .. },
            ) => {
                let slots = groups.assign(&by, n);
                accs.resize_with(groups.len(), Default::default);
                let cols: Vec<&Col> = columns.iter().map(|x| col(x)).collect();
                let slices: Vec<Slice> = cols.iter().map(|x| Slice::of(x, 0, n)).collect();
                let domains: Vec<Domain> = cols.iter().map(|x| x.domain).collect();
                for (i, s) in slots.iter().enumerate() {
                    if admit[i] {
                        accs[*s as usize].add(&slices, &domains, i);
                    }
                }
            }
            (
                Whole::Agg(groups, mine, others, doms),
                Rule::Aggregate {
                    column,
                    agg,
                    compare,
                    ..
                },
            ) => {
                let slots = groups.assign(&by, n);
                mine.resize_with(groups.len(), Default::default);
                others.resize_with(groups.len(), Default::default);
                let me = col(column);
                if me.domain != Domain::Null {
                    agg_domain(&c.name, column, *agg, me.domain)?;
                    doms.mine = Some(me.domain);
                }
                let keep = agg.keeps_values();
                let slice = Slice::of(me, 0, n);
                for (i, s) in slots.iter().enumerate() {
                    if admit[i] {
                        feed(&mut mine[*s as usize], &slice, me.domain, i, keep);
                    }
                }
                if let Some(cmp) = compare {
                    if let Some(other) = &cmp.column {
                        let o = col(other);
                        let oagg = cmp.agg.unwrap_or(*agg);
                        if o.domain != Domain::Null {
                            agg_domain(&c.name, other, oagg, o.domain)?;
                            doms.other = Some(o.domain);
                        }
                        let slice = Slice::of(o, 0, n);
                        for (i, s) in slots.iter().enumerate() {
                            if admit[i] {
                                feed(
                                    &mut others[*s as usize],
                                    &slice,
                                    o.domain,
                                    i,
                                    oagg.keeps_values(),
                                );
                            }
                        }
                    }
                }
            }
            (Whole::Contains(groups, found, sets), Rule::ContainsValues { column, values }) => {
                let slots = groups.assign(&by, n);
                found.resize(groups.len(), vec![false; values.len()]);
                let me = col(column);
                if sets.as_ref().is_none_or(|(d, _)| *d != me.domain) {
                    // The whole list first, so an error names the value at fault.
                    ValueSet::from_json(&c.name, me.domain, values)
                        .map_err(|e| on_column(e, column))?;
                    let each = values
                        .iter()
                        .map(|v| ValueSet::from_json(&c.name, me.domain, std::slice::from_ref(v)))
                        .collect::<Result<Vec<_>>>()?;
                    *sets = Some((me.domain, each));
                }
                let (_, each) = sets.as_ref().expect("built above");
                let slice = Slice::of(me, 0, n);
                for (i, s) in slots.iter().enumerate() {
                    let f = &mut found[*s as usize];
                    if !admit[i] || f.iter().all(|x| *x) {
                        continue;
                    }
                    for (j, v) in values.iter().enumerate() {
                        // A listed null is found where the column has a null.
                        f[j] = f[j]
                            || if v.is_null() {
                                slice.is_null(i)
                            } else {
                                each[j].holds(&slice, i)
                            };
                    }
                }
            }
            (Whole::Gaps(groups, accs, dom), rule) => {
                let slots = groups.assign(&by, n);
                accs.resize_with(groups.len(), Default::default);
                let column = &rule.columns()[0];
                let me = col(column);
                let slice = Slice::of(me, 0, n);
                let bucket: Box<dyn Fn(usize) -> Option<i64>> = match (rule, me.domain) {
                    (_, Domain::Null) => Box::new(|_| None),
                    (Rule::SequenceGaps { step, .. }, Domain::Int | Domain::UInt) => {
                        let step = *step as i128;
                        Box::new(move |i| slice.exact(i).map(|v| v.div_euclid(step) as i64))
                    }
                    (
                        Rule::TimeGaps { every_seconds, .. },
                        d @ (Domain::Date | Domain::Datetime(_)),
                    ) => {
                        let every = (*every_seconds * 1e6) as i64;
                        let origin = bucket_origin_us(every);
                        Box::new(move |i| {
                            let Slice::I64(a) = &slice else { return None };
                            let v = a.get(i)?;
                            let us = match d {
                                Domain::Date => v.saturating_mul(86_400_000_000),
                                Domain::Datetime(u) => to_micros(v, u),
                                _ => return None,
                            };
                            Some(us.saturating_sub(origin).div_euclid(every))
                        })
                    }
                    (_, d) => {
                        let want = if matches!(rule, Rule::TimeGaps { .. }) {
                            "a date or datetime column"
                        } else {
                            "an integer column"
                        };
                        return Err(CoreError::rule(
                            &c.name,
                            "column",
                            format!(
                                "{} needs {want}; {column:?} is {}",
                                rule.kind(),
                                d.describe()
                            ),
                        ));
                    }
                };
                if me.domain != Domain::Null {
                    *dom = Some(me.domain);
                }
                for (i, s) in slots.iter().enumerate() {
                    if admit[i] {
                        if let Some(b) = bucket(i) {
                            accs[*s as usize].present.insert(b);
                        }
                    }
                }
            }
            (Whole::Outliers(acc), Rule::Outliers { column, .. }) => {
                let me = col(column);
                if !(me.domain.is_numeric() || me.domain == Domain::Null) {
                    return Err(CoreError::rule(
                        &c.name,
                        "column",
                        format!(
                            "no_outliers needs a numeric column; {column:?} is {}",
                            me.domain.describe()
                        ),
                    ));
                }
                let slice = Slice::of(me, 0, n);
                for (i, ok) in admit.iter().enumerate() {
                    if let Some(v) = slice.float(i, me.domain).filter(|v| *ok && !v.is_nan()) {
                        acc.push(v, base + i as u64, batch, i);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Judges the check over everything pushed.
    pub fn finish(&mut self, c: &CheckSpec, sample: usize) -> Result<Verdict> {
        let grouped = !c.by.is_empty();
        // Without by=, the data is one group even when no batch came.
        let size = |g: &Groups| if grouped { g.len() } else { g.len().max(1) };
        // Per group: whether it failed and what it showed.
        let mut per: Vec<(bool, String)> = Vec::new();
        let groups: &Groups = match (&mut *self, &c.rule) {
            (Whole::Rows(g, counts), rule) => {
                counts.resize(size(g), 0);
                for n in counts.iter() {
                    per.push(match rule {
                        Rule::RowCountMatches {
                            other,
                            within,
                            table,
                        } => {
                            // |n - other| <= within * other, exact at boundaries written as decimals.
                            let diff = n.abs_diff(*other);
                            let ok =
                                diff == 0 || (*other > 0 && diff as f64 / *other as f64 <= *within);
                            let table = table.as_deref().unwrap_or("the other table");
                            (!ok, format!("{n} rows vs {other} in {table}"))
                        }
                        Rule::RowCount { min, max } => (
                            min.is_some_and(|m| *n < m) || max.is_some_and(|m| *n > m),
                            format!("{n} rows"),
                        ),
                        _ => (false, String::new()),
                    });
                }
                g
            }
            (Whole::Distinct(g, accs), rule) => {
                accs.resize_with(size(g), Default::default);
                for a in accs.iter() {
                    let distinct = a.keys.len() as u64;
                    per.push(match rule {
                        Rule::DistinctCount { min, max, .. } => (
                            min.is_some_and(|m| distinct < m) || max.is_some_and(|m| distinct > m),
                            format!("{distinct} distinct"),
                        ),
                        Rule::DistinctRatio { min, max, .. } => {
                            let r = if a.rows == 0 {
                                1.0
                            } else {
                                distinct as f64 / a.rows as f64
                            };
                            (
                                min.is_some_and(|m| r < m) || max.is_some_and(|m| r > m),
                                format!("{distinct} distinct of {} ({:.4})", a.rows, r),
                            )
                        }
                        _ => (false, String::new()),
                    });
                }
                g
            }
            (
                Whole::Agg(g, mine, others, doms),
                Rule::Aggregate {
                    column,
                    agg,
                    min,
                    max,
                    min_inclusive,
                    max_inclusive,
                    compare,
                },
            ) => {
                mine.resize_with(size(g), Default::default);
                others.resize_with(size(g), Default::default);
                let d = doms.mine.unwrap_or(Domain::Null);
                for (a, o) in mine.iter_mut().zip(others.iter_mut()) {
                    let Some(v) = a.value(*agg, d) else {
                        per.push((true, no_value(*agg, a.n, None)));
                        continue;
                    };
                    let rd = agg_domain(&c.name, column, *agg, d).unwrap_or(Domain::Float);
                    let shown = v.show(rd);
                    match compare {
                        None => {
                            let ok = within_bounds(
                                &c.name,
                                rd,
                                v,
                                min.as_deref(),
                                max.as_deref(),
                                *min_inclusive,
                                *max_inclusive,
                            )?;
                            per.push((!ok, format!("{} {shown}", agg.name())));
                        }
                        Some(cmp) => {
                            let (theirs, label) = match (&cmp.column, &cmp.value) {
                                (Some(other), _) => {
                                    let oagg = cmp.agg.unwrap_or(*agg);
                                    let od = doms.other.unwrap_or(Domain::Null);
                                    let Some(t) = o.value(oagg, od) else {
                                        per.push((true, no_value(oagg, o.n, Some(other))));
                                        continue;
                                    };
                                    let ord = agg_domain(&c.name, other, oagg, od)
                                        .unwrap_or(Domain::Float);
                                    (
                                        t.as_f64(ord),
                                        format!("{}({other}) {}", oagg.name(), t.show(ord)),
                                    )
                                }
                                (None, Some(value)) => {
                                    let t: f64 = value.trim().parse().unwrap_or(f64::NAN);
                                    (t, value.clone())
                                }
                                _ => (f64::NAN, String::new()),
                            };
                            let mine_v = v.as_f64(rd);
                            let ord = if (mine_v - theirs).abs() <= cmp.within {
                                Some(std::cmp::Ordering::Equal)
                            } else {
                                mine_v.partial_cmp(&theirs)
                            };
                            let ok = ord.is_some_and(|o| cmp.op.holds(o));
                            per.push((!ok, format!("{}({column}) {shown} vs {label}", agg.name())));
                        }
                    }
                }
                g
            }
            (Whole::Contains(g, found, _), Rule::ContainsValues { values, .. }) => {
                found.resize(size(g), vec![false; values.len()]);
                for f in found.iter() {
                    let absent: Vec<String> = values
                        .iter()
                        .zip(f)
                        .filter(|(_, f)| !**f)
                        .map(|(v, _)| v.to_string())
                        .collect();
                    per.push(if absent.is_empty() {
                        (false, "all present".to_string())
                    } else {
                        (
                            true,
                            format!("{} missing: {}", absent.len(), absent.join(", ")),
                        )
                    });
                }
                g
            }
            (Whole::Gaps(g, accs, dom), rule) => {
                accs.resize_with(size(g), Default::default);
                let (cal, show): (Calendar, Box<dyn Fn(i64) -> String>) = match rule {
                    Rule::TimeGaps {
                        every_seconds,
                        weekdays,
                        holidays,
                        ..
                    } => {
                        let every_us = (*every_seconds * 1e6) as i64;
                        let origin = bucket_origin_us(every_us);
                        let mut cal = Calendar::everything();
                        if every_us % 86_400_000_000 == 0 {
                            cal.days = every_us / 86_400_000_000;
                            cal.origin = origin / 86_400_000_000;
                        }
                        if weekdays.len() < 7 {
                            cal.weekdays = [false; 7];
                            for d in weekdays {
                                cal.weekdays[*d as usize] = true;
                            }
                        }
                        for h in holidays {
                            if let Some(d) = crate::normalize::infer::parse_date(h) {
                                cal.holidays.insert(d as i64);
                            }
                        }
                        let date_only = *dom == Some(Domain::Date) || cal.days > 0;
                        (
                            cal,
                            Box::new(move |b: i64| {
                                let us = b.saturating_mul(every_us).saturating_add(origin);
                                let t = super::dataset::format_us(us);
                                if date_only {
                                    t[..10].to_string()
                                } else {
                                    t
                                }
                            }),
                        )
                    }
                    Rule::SequenceGaps { step, .. } => {
                        let step = *step as i64;
                        (
                            Calendar::everything(),
                            Box::new(move |b: i64| (b * step).to_string()),
                        )
                    }
                    _ => (Calendar::everything(), Box::new(|b: i64| b.to_string())),
                };
                for a in accs.iter() {
                    let (missing, first) = a.missing(&cal, 3);
                    let shown: Vec<String> = first.iter().map(|b| show(*b)).collect();
                    let more = if missing as usize > shown.len() {
                        ", ..."
                    } else {
                        ""
                    };
                    per.push((
                        missing > 0,
                        if missing == 0 {
                            "no gaps".to_string()
                        } else {
                            format!("{missing} missing: {}{more}", shown.join(", "))
                        },
                    ));
                }
                g
            }
            (
                Whole::Outliers(acc),
                Rule::Outliers {
                    method, threshold, ..
                },
            ) => {
                return acc.finish(*method, *threshold);
            }
            _ => {
                return Err(CoreError::rule(
                    &c.name,
                    "kind",
                    "no whole-data state (a bug)",
                ))
            }
        };
        let failed: Vec<usize> = per
            .iter()
            .enumerate()
            .filter(|(_, p)| p.0)
            .map(|(i, _)| i)
            .collect();
        if !grouped {
            let (bad, text) = per.into_iter().next().unwrap_or((false, String::new()));
            return Ok(Verdict {
                failed: bad,
                observed: text,
                failing: None,
                sample: None,
            });
        }
        let total = per.len();
        let mut note = if total == 0 {
            "no groups (no rows)".to_string()
        } else {
            format!("{} of {total} groups fail", failed.len())
        };
        for &i in failed.iter().take(3) {
            note.push_str(&format!("; {}: {}", groups.describe(&c.by, i), per[i].1));
        }
        let shown: Vec<usize> = failed.iter().copied().take(sample).collect();
        let frame = if shown.is_empty() {
            None
        } else {
            let mut cols = groups.frame(&c.by, &shown)?;
            let observed: Vec<String> = shown.iter().map(|i| per[*i].1.clone()).collect();
            cols.push(Series::new("observed".into(), observed).into());
            Some(DataFrame::new_infer_height(cols)?)
        };
        Ok(Verdict {
            failed: !failed.is_empty(),
            observed: note,
            failing: None,
            sample: frame,
        })
    }
}

/// Why an aggregate (of `other`, the compared column) has no value: nothing
/// to measure, or a single value for a sample standard deviation.
fn no_value(agg: Agg, n: u64, other: Option<&str>) -> String {
    let what = match other {
        Some(column) => format!("{} of {column}", agg.name()),
        None => agg.name().to_string(),
    };
    if agg == Agg::Stddev && n == 1 {
        format!("no {what} (one value; the sample stddev needs two)")
    } else if other.is_some() {
        format!("no {what}")
    } else {
        format!("no {what} (no values)")
    }
}
