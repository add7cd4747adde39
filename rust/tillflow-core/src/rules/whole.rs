//! The state of checks judged on the whole data (per `by=` group when
//! given), fed batch by batch and settled at the end: row counts per group,
//! distinct counts and ratios, aggregates, listed values, gaps, outliers.

use std::sync::Arc;

use polars::prelude::*;

use super::column::{Col, Domain, Slice};
use super::spec::{CheckSpec, OutlierMethod, Rule};
use super::stats::{
    agg_domain, feed, quantile, to_micros, within_bounds, Calendar, DistinctAcc, GapAcc, Groups,
    NumAcc,
};
use super::value_set::ValueSet;
use crate::error::{CoreError, Result};

/// What one whole-data check keeps between batches.
pub enum Whole {
    Rows(Groups, Vec<u64>),
    Distinct(Groups, Vec<DistinctAcc>),
    /// This column's measures, and the other column's for a comparison.
    Agg(Groups, Vec<NumAcc>, Vec<NumAcc>, Domains),
    Contains(Vec<Option<Arc<ValueSet>>>, Vec<bool>),
    Gaps(Groups, Vec<GapAcc>, Option<Domain>),
    /// Values and their rows (in the stream) for an outlier check.
    Outliers(Vec<(f64, u64)>),
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
    pub fn new(rule: &Rule) -> Option<Whole> {
        Some(match rule {
            Rule::RowCount { .. } => Whole::Rows(Groups::default(), Vec::new()),
            Rule::DistinctCount { .. } | Rule::DistinctRatio { .. } => {
                Whole::Distinct(Groups::default(), Vec::new())
            }
            Rule::Aggregate { .. } => Whole::Agg(
                Groups::default(),
                Vec::new(),
                Vec::new(),
                Domains::default(),
            ),
            Rule::ContainsValues { values, .. } => {
                Whole::Contains(vec![None; values.len()], vec![false; values.len()])
            }
            Rule::SequenceGaps { .. } | Rule::TimeGaps { .. } => {
                Whole::Gaps(Groups::default(), Vec::new(), None)
            }
            Rule::Outliers { .. } => Whole::Outliers(Vec::new()),
            _ => return None,
        })
    }

    /// Feeds one batch: `col(name)` gives a bound column, `admit` the rows
    /// `when=` lets through, `base` the stream position of the first row.
    pub fn push<'b>(
        &mut self,
        c: &CheckSpec,
        col: &dyn Fn(&str) -> &'b Col,
        admit: &[bool],
        n: usize,
        base: u64,
    ) -> Result<()> {
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
            (Whole::Contains(sets, found), Rule::ContainsValues { column, values }) => {
                let me = col(column);
                let slice = Slice::of(me, 0, n);
                for (j, v) in values.iter().enumerate() {
                    if found[j] {
                        continue;
                    }
                    if sets[j].is_none() {
                        let set = ValueSet::from_json(&c.name, me.domain, std::slice::from_ref(v))
                            .map_err(|e| super::column::on_column(e, column))?;
                        sets[j] = Some(Arc::new(set));
                    }
                    let set = sets[j].as_ref().expect("built above");
                    found[j] = (0..n).any(|i| admit[i] && set.holds(&slice, i));
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
                        Box::new(move |i| {
                            let Slice::I64(a) = &slice else { return None };
                            let v = a.get(i)?;
                            let us = match d {
                                Domain::Date => v.saturating_mul(86_400_000_000),
                                Domain::Datetime(u) => to_micros(v, u),
                                _ => return None,
                            };
                            Some(us.div_euclid(every))
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
            (Whole::Outliers(values), Rule::Outliers { column, .. }) => {
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
                        values.push((v, base + i as u64));
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
        // Per group: whether it failed and what it showed.
        let mut per: Vec<(bool, String)> = Vec::new();
        let groups: &Groups = match (&mut *self, &c.rule) {
            (Whole::Rows(g, counts), Rule::RowCount { min, max }) => {
                counts.resize(g.len().max(1), 0);
                for n in counts.iter() {
                    let bad = min.is_some_and(|m| *n < m) || max.is_some_and(|m| *n > m);
                    per.push((bad, format!("{n} rows")));
                }
                g
            }
            (Whole::Distinct(g, accs), rule) => {
                accs.resize_with(g.len().max(1), Default::default);
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
                mine.resize_with(g.len().max(1), Default::default);
                others.resize_with(g.len().max(1), Default::default);
                let d = doms.mine.unwrap_or(Domain::Null);
                for (a, o) in mine.iter_mut().zip(others.iter_mut()) {
                    let Some(v) = a.value(*agg, d) else {
                        per.push((true, format!("no {} (no values)", agg.name())));
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
                                        per.push((true, format!("no {} of {other}", oagg.name())));
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
            (Whole::Contains(_, found), Rule::ContainsValues { values, .. }) => {
                let absent: Vec<String> = values
                    .iter()
                    .zip(found.iter())
                    .filter(|(_, f)| !**f)
                    .map(|(v, _)| v.to_string())
                    .collect();
                let observed = if absent.is_empty() {
                    "all present".to_string()
                } else {
                    format!("{} missing: {}", absent.len(), absent.join(", "))
                };
                return Ok(Verdict {
                    failed: !absent.is_empty(),
                    observed,
                    failing: None,
                    sample: None,
                });
            }
            (Whole::Gaps(g, accs, dom), rule) => {
                accs.resize_with(g.len().max(1), Default::default);
                let (cal, show): (Calendar, Box<dyn Fn(i64) -> String>) = match rule {
                    Rule::TimeGaps {
                        every_seconds,
                        weekdays,
                        holidays,
                        ..
                    } => {
                        let every_us = (*every_seconds * 1e6) as i64;
                        let mut cal = Calendar::everything();
                        if every_us % 86_400_000_000 == 0 {
                            cal.days = every_us / 86_400_000_000;
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
                                let us = b.saturating_mul(every_us);
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
                Whole::Outliers(values),
                Rule::Outliers {
                    method, threshold, ..
                },
            ) => {
                return Ok(outliers(
                    values,
                    *method,
                    *threshold,
                    &c.rule.columns()[0],
                    sample,
                ));
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
        let mut note = format!("{} of {total} groups fail", failed.len());
        for &i in failed.iter().take(3) {
            note.push_str(&format!("; {}: {}", groups.describe(&c.by, i), per[i].1));
        }
        let shown: Vec<usize> = failed.iter().copied().take(sample).collect();
        let frame = if shown.is_empty() {
            None
        } else {
            let dtypes: Vec<DataType> = (0..c.by.len())
                .map(|j| groups.labels[shown[0]][j].dtype())
                .collect();
            let mut cols = groups.frame(&c.by, &dtypes, &shown)?;
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

/// Judges an outlier check over every kept value.
fn outliers(
    values: &[(f64, u64)],
    method: OutlierMethod,
    k: f64,
    column: &str,
    sample: usize,
) -> Verdict {
    let mut xs: Vec<f64> = values.iter().map(|v| v.0).collect();
    let n = xs.len();
    let (lo, hi, how) = match method {
        OutlierMethod::Zscore => {
            let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
            let var =
                xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n.max(2) - 1) as f64;
            let sd = var.sqrt();
            (
                mean - k * sd,
                mean + k * sd,
                format!("mean {mean:.6}, stddev {sd:.6}"),
            )
        }
        OutlierMethod::Iqr => {
            let q1 = quantile(&mut xs, 0.25).unwrap_or(0.0);
            let q3 = quantile(&mut xs, 0.75).unwrap_or(0.0);
            let iqr = q3 - q1;
            (q1 - k * iqr, q3 + k * iqr, format!("Q1 {q1}, Q3 {q3}"))
        }
        OutlierMethod::Mad => {
            let med = quantile(&mut xs, 0.5).unwrap_or(0.0);
            let mut dev: Vec<f64> = xs.iter().map(|x| (x - med).abs()).collect();
            let mad = quantile(&mut dev, 0.5).unwrap_or(0.0) * 1.4826;
            (
                med - k * mad,
                med + k * mad,
                format!("median {med}, scaled MAD {mad:.6}"),
            )
        }
    };
    let bad: Vec<&(f64, u64)> = if n < 2 {
        Vec::new()
    } else {
        values.iter().filter(|(x, _)| *x < lo || *x > hi).collect()
    };
    let shown = &bad[..bad.len().min(sample)];
    let frame = (!shown.is_empty()).then(|| {
        DataFrame::new_infer_height(vec![
            Series::new(
                "_tf_row".into(),
                shown.iter().map(|v| v.1).collect::<Vec<u64>>(),
            )
            .into(),
            Series::new(
                column.into(),
                shown.iter().map(|v| v.0).collect::<Vec<f64>>(),
            )
            .into(),
        ])
        .ok()
    });
    Verdict {
        failed: !bad.is_empty(),
        observed: format!("{} outside [{lo:.6}, {hi:.6}] ({how})", bad.len()),
        failing: Some(bad.len() as u64),
        sample: frame.flatten(),
    }
}
