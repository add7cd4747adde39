//! The canonical form of a rule set, as the Python layer hands it over.
//!
//! Python expands conveniences (several columns of `not_null`, SQL and Polars
//! expressions, duration strings, warehouse references) before this point, so
//! every check here names its columns and parameters explicitly.

use serde::Deserialize;

use crate::error::{CoreError, Result};

mod args;
mod kinds;

pub use kinds::{Agg, AggCompare, CompareOp, OutlierMethod, Rule, TextTest, UniqueCount};

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
    /// A boolean column: the check applies only to rows where it is true.
    pub when: Option<String>,
    /// Group columns: a dataset check is judged once per group.
    #[serde(default)]
    pub by: Vec<String>,
    /// The kind reports show, when a constructor is a form of an engine
    /// kind (`is_daily` is `no_gaps` on weekdays).
    pub label: Option<String>,
    pub rule: Rule,
}

impl CheckSpec {
    /// The kind reports show.
    pub fn kind(&self) -> String {
        self.label
            .clone()
            .unwrap_or_else(|| self.rule.kind().to_owned())
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
            if c.tolerance.is_some() && c.rule.is_dataset() {
                return Err(CoreError::rule(
                    &c.name,
                    "tolerance",
                    format!(
                        "{} judges the whole dataset; it takes no tolerance",
                        c.rule.kind()
                    ),
                ));
            }
            args::check(c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
