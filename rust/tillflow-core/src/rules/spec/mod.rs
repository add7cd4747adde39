//! The canonical form of a rule set, as the Python layer hands it over.
//!
//! Python expands conveniences (several columns of `not_null`, SQL and Polars
//! expressions, duration strings, warehouse references) before this point, so
//! every check here names its columns and parameters explicitly.

use serde::Deserialize;

use crate::error::{CoreError, Result};

/// A whole rule set: the checks in declared order and how to report them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    pub checks: Vec<CheckSpec>,
    /// Primary-key columns shown beside every failing sample row.
    #[serde(default)]
    pub key: Vec<String>,
    /// How many failing rows each check keeps as its sample.
    #[serde(default = "default_sample")]
    pub sample_size: usize,
    #[serde(default)]
    pub mode: Mode,
    /// A column a check names but a batch lacks: an error (a frame given by
    /// the user), or a column of nulls (normalized batches leave out columns
    /// whose values were all null).
    #[serde(default)]
    pub missing_columns: MissingColumns,
    /// The instant freshness is measured from, in microseconds since the epoch.
    pub now_us: i64,
}

fn default_sample() -> usize {
    10
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    CollectAll,
    FailFast,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingColumns {
    #[default]
    Error,
    Null,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Error,
    Warn,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

/// How many failing rows a check tolerates before it fails.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Tolerance {
    Count(u64),
    Fraction(f64),
}

impl Tolerance {
    /// Whether `failing` out of `rows` is within the tolerance. Fractions
    /// compare `failing / rows`, which is exact at boundaries written as
    /// decimals (29 of 100 against 0.29).
    pub fn allows(tolerance: Option<Tolerance>, failing: u64, rows: u64) -> bool {
        match tolerance {
            None => failing == 0,
            Some(Tolerance::Count(n)) => failing <= n,
            Some(Tolerance::Fraction(f)) => {
                failing == 0 || (rows > 0 && (failing as f64 / rows as f64) <= f)
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    #[serde(default)]
    pub severity: Severity,
    pub tolerance: Option<Tolerance>,
    /// Extra columns shown in samples (an expression's inputs).
    #[serde(default)]
    pub show: Vec<String>,
    pub rule: Rule,
}

/// Bounds are text: numbers as written (`"0.1"`, `"1e3"`) so decimals compare
/// exactly, or ISO dates and timestamps for temporal columns. On the wire a
/// rule is one object with its `kind` (`{"kind": "not_null", "column": "a"}`);
/// [`RuleSetSpec::from_json`] reads it as `{"not_null": {"column": "a"}}`, so
/// an error names the field at fault.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    NotNull {
        column: String,
    },
    Unique {
        columns: Vec<String>,
    },
    Between {
        column: String,
        min: Option<String>,
        max: Option<String>,
        #[serde(default = "yes")]
        min_inclusive: bool,
        #[serde(default = "yes")]
        max_inclusive: bool,
    },
    Matches {
        column: String,
        pattern: String,
    },
    IsIn {
        column: String,
        values: Vec<serde_json::Value>,
    },
    /// Values must occur in the reference column handed over beside the spec.
    Relationships {
        column: String,
        reference: String,
    },
    Compare {
        left: String,
        op: CompareOp,
        right: String,
    },
    /// A boolean column computed by Polars from an expression: `false` fails.
    Mask {
        column: String,
    },
    RowCount {
        min: Option<u64>,
        max: Option<u64>,
    },
    Freshness {
        column: String,
        max_age_seconds: f64,
    },
    Schema {
        columns: Vec<(String, String)>,
        #[serde(default)]
        strict: bool,
    },
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CompareOp {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl CompareOp {
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CompareOp::Lt => ord == Less,
            CompareOp::Le => ord != Greater,
            CompareOp::Gt => ord == Greater,
            CompareOp::Ge => ord != Less,
            CompareOp::Eq => ord == Equal,
            CompareOp::Ne => ord != Equal,
        }
    }
}

impl Rule {
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::NotNull { .. } => "not_null",
            Rule::Unique { .. } => "unique",
            Rule::Between { .. } => "between",
            Rule::Matches { .. } => "matches",
            Rule::IsIn { .. } => "is_in",
            Rule::Relationships { .. } => "relationships",
            Rule::Compare { .. } => "compare",
            Rule::Mask { .. } => "expression",
            Rule::RowCount { .. } => "row_count",
            Rule::Freshness { .. } => "freshness",
            Rule::Schema { .. } => "schema",
        }
    }

    /// The columns the check reads, in the order a report shows them.
    pub fn columns(&self) -> Vec<String> {
        match self {
            Rule::NotNull { column }
            | Rule::Between { column, .. }
            | Rule::Matches { column, .. }
            | Rule::IsIn { column, .. }
            | Rule::Relationships { column, .. }
            | Rule::Mask { column }
            | Rule::Freshness { column, .. } => vec![column.clone()],
            Rule::Unique { columns } => columns.clone(),
            Rule::Compare { left, right, .. } => vec![left.clone(), right.clone()],
            Rule::RowCount { .. } => vec![],
            Rule::Schema { columns, .. } => columns.iter().map(|(c, _)| c.clone()).collect(),
        }
    }

    /// Whether the check judges rows (and so has failing rows and samples).
    pub fn is_row_level(&self) -> bool {
        !matches!(
            self,
            Rule::RowCount { .. } | Rule::Freshness { .. } | Rule::Schema { .. }
        )
    }
}

impl RuleSetSpec {
    /// Reads and checks a rule set. This is where every rule's arguments are
    /// checked, for rules built in Python and read from files alike: errors
    /// name the check and the field (`rule r1: op: unknown variant ...`).
    pub fn from_json(text: &str) -> Result<Self> {
        let mut top: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CoreError::rule("rules", "", e.to_string()))?;
        // Each check on its own first, so a malformed one is named by its name.
        let raw = match top.get_mut("checks") {
            Some(serde_json::Value::Array(items)) => std::mem::take(items),
            _ => {
                return Err(CoreError::rule(
                    "rules",
                    "checks",
                    "expected a list of checks",
                ))
            }
        };
        let mut checks = Vec::with_capacity(raw.len());
        for (i, mut item) in raw.into_iter().enumerate() {
            let name = item
                .get("name")
                .and_then(|n| n.as_str())
                .map_or_else(|| format!("checks[{i}]"), str::to_owned);
            let kind = match item.get_mut("rule") {
                Some(serde_json::Value::Object(rule)) => match rule.remove("kind") {
                    Some(serde_json::Value::String(kind)) => {
                        let fields = std::mem::take(rule);
                        rule.insert(kind.clone(), serde_json::Value::Object(fields));
                        kind
                    }
                    _ => return Err(CoreError::rule(&name, "kind", "every rule needs a kind")),
                },
                _ => String::new(),
            };
            let check: CheckSpec = serde_path_to_error::deserialize(item).map_err(|e| {
                let path = e.path().to_string();
                let field = match path.strip_prefix("rule") {
                    Some("") => "kind".to_owned(),
                    Some(rest) => rest
                        .trim_start_matches('.')
                        .strip_prefix(kind.as_str())
                        .map_or(rest, |f| f.trim_start_matches('.'))
                        .to_owned(),
                    None => path,
                };
                CoreError::rule(&name, field, e.into_inner().to_string())
            })?;
            checks.push(check);
        }
        top["checks"] = serde_json::Value::Array(vec![]);
        let mut spec: RuleSetSpec = serde_path_to_error::deserialize(top)
            .map_err(|e| CoreError::rule("rules", e.path().to_string(), e.inner().to_string()))?;
        spec.checks = checks;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashMap::new();
        for (i, c) in self.checks.iter().enumerate() {
            if c.name.is_empty() {
                return Err(CoreError::rule(&c.name, "name", "must not be empty"));
            }
            if let Some(first) = seen.insert(c.name.as_str(), i) {
                return Err(CoreError::rule(
                    &c.name,
                    "name",
                    format!(
                        "checks[{first}] and checks[{i}] have this name; give one of them a different name"
                    ),
                ));
            }
            if let Some(Tolerance::Fraction(f)) = c.tolerance {
                if !(0.0..=1.0).contains(&f) {
                    return Err(CoreError::rule(
                        &c.name,
                        "tolerance",
                        format!("a fraction must be between 0 and 1, got {f}"),
                    ));
                }
            }
            if c.tolerance.is_some() && !c.rule.is_row_level() {
                return Err(CoreError::rule(
                    &c.name,
                    "tolerance",
                    format!(
                        "{} judges the whole dataset; it takes no tolerance",
                        c.rule.kind()
                    ),
                ));
            }
            match &c.rule {
                Rule::Unique { columns } => {
                    if columns.is_empty() {
                        return Err(CoreError::rule(
                            &c.name,
                            "columns",
                            "name at least one column",
                        ));
                    }
                    let mut names = std::collections::HashSet::new();
                    if let Some(twice) = columns.iter().find(|c| !names.insert(c.as_str())) {
                        return Err(CoreError::rule(
                            &c.name,
                            "columns",
                            format!("column {twice:?} appears twice"),
                        ));
                    }
                }
                Rule::Matches { pattern, .. } => {
                    regex::Regex::new(pattern).map_err(|e| {
                        CoreError::rule(&c.name, "pattern", format!("invalid regex: {e}"))
                    })?;
                }
                Rule::Between {
                    min: None,
                    max: None,
                    ..
                } => {
                    return Err(CoreError::rule(&c.name, "min", "give min, max or both"));
                }
                Rule::Between {
                    min: Some(lo),
                    max: Some(hi),
                    min_inclusive,
                    max_inclusive,
                    ..
                } => {
                    if let Some(order) = bound_order(lo, hi) {
                        let both = *min_inclusive && *max_inclusive;
                        if order.is_gt() || (order.is_eq() && !both) {
                            let why = if order.is_gt() {
                                format!("min {lo} is above max {hi}")
                            } else {
                                format!("min {lo} equals max {hi} with an exclusive bound, so no value fits")
                            };
                            return Err(CoreError::rule(&c.name, "min", why));
                        }
                    }
                }
                Rule::RowCount { min, max } => {
                    if let (Some(lo), Some(hi)) = (min, max) {
                        if lo > hi {
                            return Err(CoreError::rule(
                                &c.name,
                                "min",
                                format!("min {lo} is above max {hi}"),
                            ));
                        }
                    }
                }
                Rule::Freshness {
                    max_age_seconds, ..
                } if !(max_age_seconds.is_finite() && *max_age_seconds >= 0.0) => {
                    return Err(CoreError::rule(
                        &c.name,
                        "max_age",
                        "must be a non-negative duration",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_refuses_an_empty_range_naming_both_bounds() {
        let rule = |min: &str, max: &str, extra: &str| {
            format!(
                r#"{{"now_us": 0, "checks": [{{"name": "r", "rule": {{"kind": "between", "column": "a",
                "min": "{min}", "max": "{max}"{extra}}}}}]}}"#
            )
        };
        let e = RuleSetSpec::from_json(&rule("300", "-30", ""))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "rule r: min: min 300 is above max -30");
        let e = RuleSetSpec::from_json(&rule("2024-03-02", "2024-03-01T00:00:00Z", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is above max"), "{e}");
        let e = RuleSetSpec::from_json(&rule("5", "5", r#", "max_inclusive": false"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no value fits"), "{e}");
        RuleSetSpec::from_json(&rule("5", "5", "")).unwrap();
        RuleSetSpec::from_json(&rule("-30", "300", "")).unwrap();
        // A number and a date cannot be compared here: the column's type decides.
        RuleSetSpec::from_json(&rule("1", "2024-01-01", "")).unwrap();
    }

    #[test]
    fn tolerance_boundaries_are_exact() {
        let f = |x| Some(Tolerance::Fraction(x));
        assert!(Tolerance::allows(f(0.29), 29, 100));
        assert!(!Tolerance::allows(f(0.29), 30, 100));
        assert!(Tolerance::allows(f(0.01), 1, 100));
        assert!(!Tolerance::allows(f(0.01), 2, 100));
        assert!(Tolerance::allows(Some(Tolerance::Count(3)), 3, 10));
        assert!(!Tolerance::allows(Some(Tolerance::Count(3)), 4, 10));
        assert!(Tolerance::allows(None, 0, 0));
        assert!(!Tolerance::allows(None, 1, 1));
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        let text = r#"{"now_us": 0, "checks": [{"name": "r1", "tolerance": {"fraction": 1.5},
            "rule": {"kind": "not_null", "column": "a"}}]}"#;
        let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
        assert!(e.contains("r1") && e.contains("tolerance"), "{e}");
        let text = r#"{"now_us": 0, "checks": [{"name": "r1", "rule": {"kind": "compare",
            "left": "a", "op": "=<", "right": "b"}}]}"#;
        let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
        assert!(e.starts_with("rule r1: op: ") && e.contains("`=<`"), "{e}");
    }

    fn one(rule: &str) -> String {
        let text = format!(r#"{{"now_us": 0, "checks": [{{"name": "c", "rule": {rule}}}]}}"#);
        RuleSetSpec::from_json(&text).unwrap_err().to_string()
    }

    #[test]
    fn every_argument_is_checked_here() {
        for (rule, says) in [
            (
                r#"{"kind": "unique", "columns": []}"#,
                "rule c: columns: name at least one",
            ),
            (
                r#"{"kind": "unique", "columns": ["a", "a"]}"#,
                "rule c: columns: column \"a\" appears twice",
            ),
            (
                r#"{"kind": "matches", "column": "a", "pattern": "("}"#,
                "rule c: pattern: invalid regex",
            ),
            (
                r#"{"kind": "between", "column": "a"}"#,
                "rule c: min: give min, max or both",
            ),
            (
                r#"{"kind": "row_count", "min": 5, "max": 1}"#,
                "rule c: min: min 5 is above max 1",
            ),
            (
                r#"{"kind": "row_count", "min": -1}"#,
                "rule c: min: invalid value",
            ),
            (
                r#"{"kind": "freshness", "column": "a", "max_age_seconds": -1}"#,
                "rule c: max_age",
            ),
            (
                r#"{"kind": "nope", "column": "a"}"#,
                "rule c: kind: unknown variant `nope`",
            ),
            (
                r#"{"kind": "not_null", "column": "a", "extra": 1}"#,
                "rule c: extra: unknown field",
            ),
        ] {
            let e = one(rule);
            assert!(e.starts_with(says), "{rule}: {e}");
        }
        let text = r#"{"now_us": 0, "checks": [{"name": "c", "severity": "warning",
            "rule": {"kind": "not_null", "column": "a"}}]}"#;
        let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
        assert!(
            e.starts_with("rule c: severity: unknown variant `warning`"),
            "{e}"
        );
        let text = r#"{"now_us": 0, "sample_size": -1, "checks": []}"#;
        let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
        assert!(e.starts_with("rule rules: sample_size: "), "{e}");
    }
}
