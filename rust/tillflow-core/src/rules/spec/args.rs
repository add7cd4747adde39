//! Every check's arguments, checked when the rule set is read: the one place
//! they are, for rules built in Python and read from files alike.

use std::collections::HashSet;

use super::kinds::{Agg, AggCompare, Rule, TextTest};
use super::CheckSpec;
use crate::error::{CoreError, Result};

pub(super) fn check(c: &CheckSpec) -> Result<()> {
    let fail = |field: &str, message: String| Err(CoreError::rule(&c.name, field, message));
    if !c.by.is_empty() && !c.rule.takes_groups() {
        let why = match c.rule {
            Rule::Freshness { .. } => "measures the newest value of all the data",
            Rule::Outliers { .. } => "sets its fences from all the data",
            Rule::RowCountMatches { .. } => "compares all the rows with the other table's count",
            Rule::Schema { .. } => "reads the columns of all the data",
            _ => "judges rows one at a time",
        };
        return fail(
            "by",
            format!(
                "{} {why}, not per group; by= groups row_count, distinct_count, distinct_ratio, \
                 the aggregates, contains_values and the gap checks",
                c.kind()
            ),
        );
    }
    columns_once(c, "by", &c.by, false)?;
    if c.when.is_some() && matches!(c.rule, Rule::Schema { .. } | Rule::Freshness { .. }) {
        return fail(
            "when",
            format!("{} reads the data as a whole; it takes no when=", c.kind()),
        );
    }
    if let Rule::Unique { columns, .. }
    | Rule::Relationships { columns, .. }
    | Rule::DistinctCount { columns, .. }
    | Rule::DistinctRatio { columns, .. }
    | Rule::Complete { columns }
    | Rule::AnyPresent { columns } = &c.rule
    {
        columns_once(c, "columns", columns, true)?;
    }
    match &c.rule {
        Rule::DistinctAcross { columns } => {
            columns_once(c, "columns", columns, true)?;
            if columns.len() < 2 {
                return fail("columns", "name at least two columns".into());
            }
        }
        Rule::SumEquals {
            columns, within, ..
        } => {
            columns_once(c, "columns", columns, true)?;
            non_negative(c, "within", *within)?;
        }
        Rule::RowCountMatches { within, .. } => non_negative(c, "within", *within)?,
        Rule::Reconcile { key, within, .. } => {
            columns_once(c, "key", key, true)?;
            non_negative(c, "within", *within)?;
        }
        Rule::Matches { pattern, .. } => {
            regex::Regex::new(pattern)
                .map_err(|e| CoreError::rule(&c.name, "pattern", format!("invalid regex: {e}")))?;
        }
        Rule::Between {
            min,
            max,
            min_inclusive,
            max_inclusive,
            ..
        } => bounds(c, min, max, *min_inclusive, *max_inclusive)?,
        Rule::Text { test, .. } => text_test(c, test)?,
        Rule::Format { format, .. } => {
            format
                .compile()
                .map_err(|(field, message)| CoreError::rule(&c.name, field, message))?;
        }
        Rule::DecimalPlaces { max, .. } if *max > 38 => {
            return fail("max", format!("at most 38 decimal places, got {max}"));
        }
        Rule::NotInFuture { slack_seconds, .. } => non_negative(c, "slack", *slack_seconds)?,
        Rule::NotOlderThan {
            max_age_seconds, ..
        } => non_negative(c, "max_age", *max_age_seconds)?,
        Rule::Within {
            min_seconds,
            max_seconds,
            ..
        } => {
            for (field, v) in [("min", min_seconds), ("max", max_seconds)] {
                if let Some(v) = v {
                    if !v.is_finite() {
                        return fail(field, "must be a finite duration".into());
                    }
                }
            }
            match (min_seconds, max_seconds) {
                (None, None) => return fail("max", "give min, max or both".into()),
                (Some(lo), Some(hi)) if lo > hi => {
                    return fail("min", format!("min {lo}s is above max {hi}s"))
                }
                _ => {}
            }
        }
        Rule::Outliers { threshold, .. } if !(threshold.is_finite() && *threshold > 0.0) => {
            return fail(
                "threshold",
                format!("must be a positive number, got {threshold}"),
            );
        }
        Rule::RowCount { min, max } | Rule::DistinctCount { min, max, .. } => {
            if let (Some(lo), Some(hi)) = (min, max) {
                if lo > hi {
                    return fail("min", format!("min {lo} is above max {hi}"));
                }
            }
            if min.is_none() && max.is_none() && matches!(c.rule, Rule::DistinctCount { .. }) {
                return fail("min", "give min, max or both".into());
            }
        }
        Rule::DistinctRatio { min, max, .. } => {
            for (field, v) in [("min", min), ("max", max)] {
                if let Some(v) = v {
                    if !(0.0..=1.0).contains(v) {
                        return fail(field, format!("a ratio lies between 0 and 1, got {v}"));
                    }
                }
            }
            match (min, max) {
                (None, None) => return fail("min", "give min, max or both".into()),
                (Some(lo), Some(hi)) if lo > hi => {
                    return fail("min", format!("min {lo} is above max {hi}"))
                }
                _ => {}
            }
        }
        Rule::Aggregate {
            agg,
            min,
            max,
            min_inclusive,
            max_inclusive,
            compare,
            ..
        } => {
            if let Agg::Quantile { q } = agg {
                if !(0.0..=1.0).contains(q) {
                    return fail("q", format!("a quantile lies between 0 and 1, got {q}"));
                }
            }
            match compare {
                Some(cmp) => {
                    if min.is_some() || max.is_some() {
                        return fail(
                            "compare",
                            "compare with another aggregate or give bounds, not both".into(),
                        );
                    }
                    agg_compare(c, cmp)?;
                }
                None => bounds(c, min, max, *min_inclusive, *max_inclusive)?,
            }
        }
        Rule::ContainsValues { values, .. } if values.is_empty() => {
            return fail("values", "list at least one value".into());
        }
        Rule::SequenceGaps { step: 0, .. } => {
            return fail("step", "must be at least 1".into());
        }
        Rule::TimeGaps {
            every_seconds,
            weekdays,
            holidays,
            ..
        } => {
            if !(every_seconds.is_finite() && *every_seconds >= 1.0) {
                return fail(
                    "every",
                    format!("must be at least one second, got {every_seconds}s"),
                );
            }
            if weekdays.is_empty() || weekdays.iter().any(|d| *d > 6) {
                return fail(
                    "weekdays",
                    "name at least one weekday, 0 (Monday) to 6 (Sunday)".into(),
                );
            }
            if weekdays.len() < 7 && every_seconds % 86_400.0 != 0.0 {
                return fail(
                    "weekdays",
                    "a business calendar needs buckets of whole days".into(),
                );
            }
            for h in holidays {
                if crate::normalize::infer::parse_date(h).is_none() {
                    return fail("holidays", format!("{h:?} is not an ISO date"));
                }
            }
        }
        Rule::Freshness {
            max_age_seconds, ..
        } => non_negative(c, "max_age", *max_age_seconds)?,
        _ => {}
    }
    Ok(())
}

fn columns_once(c: &CheckSpec, field: &str, columns: &[String], needed: bool) -> Result<()> {
    if needed && columns.is_empty() {
        return Err(CoreError::rule(&c.name, field, "name at least one column"));
    }
    let mut names = HashSet::new();
    if let Some(twice) = columns.iter().find(|c| !names.insert(c.as_str())) {
        return Err(CoreError::rule(
            &c.name,
            field,
            format!("column {twice:?} appears twice"),
        ));
    }
    Ok(())
}

fn non_negative(c: &CheckSpec, field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(CoreError::rule(
            &c.name,
            field,
            format!("must be a non-negative number, got {v}"),
        ))
    }
}

fn bounds(
    c: &CheckSpec,
    min: &Option<String>,
    max: &Option<String>,
    min_inclusive: bool,
    max_inclusive: bool,
) -> Result<()> {
    let (lo, hi) = match (min, max) {
        (None, None) => return Err(CoreError::rule(&c.name, "min", "give min, max or both")),
        (Some(lo), Some(hi)) => (lo, hi),
        _ => return Ok(()),
    };
    if let Some(order) = bound_order(lo, hi) {
        let both = min_inclusive && max_inclusive;
        if order.is_gt() || (order.is_eq() && !both) {
            let why = if order.is_gt() {
                format!("min {lo} is above max {hi}")
            } else {
                format!("min {lo} equals max {hi} with an exclusive bound, so no value fits")
            };
            return Err(CoreError::rule(&c.name, "min", why));
        }
    }
    Ok(())
}

fn text_test(c: &CheckSpec, test: &TextTest) -> Result<()> {
    let fail = |field: &str, message: String| Err(CoreError::rule(&c.name, field, message));
    match test {
        TextTest::Length {
            min: None,
            max: None,
        } => fail("min", "give min, max or both".into()),
        TextTest::Length {
            min: Some(lo),
            max: Some(hi),
        } if lo > hi => fail("min", format!("min {lo} is above max {hi}")),
        TextTest::StartsWith { text }
        | TextTest::EndsWith { text }
        | TextTest::Contains { text }
            if text.is_empty() =>
        {
            fail("text", "must not be empty (every value would match)".into())
        }
        TextTest::ParsesAs { ty, format } => {
            let temporal = matches!(ty.as_str(), "date" | "datetime");
            if !matches!(ty.as_str(), "int" | "number" | "bool" | "date" | "datetime") {
                return fail(
                    "type",
                    format!("unknown type {ty:?}; use int, number, bool, date or datetime"),
                );
            }
            if let Some(f) = format {
                if !temporal {
                    return fail(
                        "format",
                        format!("a format is for dates and datetimes, not {ty}"),
                    );
                }
                let items: Vec<_> = chrono::format::StrftimeItems::new(f).collect();
                if items
                    .iter()
                    .any(|i| matches!(i, chrono::format::Item::Error))
                {
                    return fail("format", format!("{f:?} is not a strftime format"));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn agg_compare(c: &CheckSpec, cmp: &AggCompare) -> Result<()> {
    match (&cmp.column, &cmp.value) {
        (Some(_), Some(_)) => {
            return Err(CoreError::rule(
                &c.name,
                "compare",
                "compare with a column's aggregate or a value, not both",
            ))
        }
        (None, None) if cmp.agg.is_none() => {
            return Err(CoreError::rule(
                &c.name,
                "compare",
                "name the other column (or aggregate), or give a value",
            ))
        }
        (_, Some(v)) if v.trim().parse::<f64>().is_err() => {
            return Err(CoreError::rule(
                &c.name,
                "compare",
                format!("{v:?} is not a number"),
            ))
        }
        _ => {}
    }
    if let Some(Agg::Quantile { q }) = cmp.agg {
        if !(0.0..=1.0).contains(&q) {
            return Err(CoreError::rule(
                &c.name,
                "q",
                format!("a quantile lies between 0 and 1, got {q}"),
            ));
        }
    }
    non_negative(c, "within", cmp.within)
}

/// How two bounds compare when both are numbers, or both dates or
/// timestamps; None when they are of different kinds (the column's type
/// decides how each is read).
fn bound_order(lo: &str, hi: &str) -> Option<std::cmp::Ordering> {
    use crate::normalize::infer::{parse_date, parse_timestamp};
    if let (Ok(a), Ok(b)) = (lo.trim().parse::<f64>(), hi.trim().parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    let when = |s: &str| {
        parse_timestamp(s).or_else(|| parse_date(s).map(|d| i64::from(d) * 86_400_000_000))
    };
    Some(when(lo)?.cmp(&when(hi)?))
}
