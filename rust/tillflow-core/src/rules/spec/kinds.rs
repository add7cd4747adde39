//! The kinds of check, as the engine receives them.
//!
//! Bounds are text: numbers as written (`"0.1"`, `"1e3"`) so decimals compare
//! exactly, or ISO dates and timestamps for temporal columns. On the wire a
//! rule is one object with its `kind` (`{"kind": "not_null", "column": "a"}`);
//! [`super::RuleSetSpec::from_json`] reads it as `{"not_null": {"column": "a"}}`,
//! so an error names the field at fault.

use serde::Deserialize;

use crate::rules::formats::Format;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    NotNull {
        column: String,
    },
    /// Values must be missing (null or NaN).
    IsNull {
        column: String,
    },
    Unique {
        columns: Vec<String>,
        /// What the failing count counts (rows flagged are always the later copies).
        #[serde(default)]
        count: UniqueCount,
        /// Nulls equal one another (SQL `GROUP BY`), instead of a key with a
        /// null never repeating (a SQL `UNIQUE` constraint).
        #[serde(default)]
        nulls_equal: bool,
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
        /// `not_matches`: a value containing a match fails.
        #[serde(default)]
        negate: bool,
    },
    IsIn {
        column: String,
        values: Vec<serde_json::Value>,
        /// `not_in`: a listed value fails.
        #[serde(default)]
        negate: bool,
    },
    /// Keys must occur in the reference frame handed over beside the spec
    /// (its columns in the same order).
    Relationships {
        columns: Vec<String>,
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
    Text {
        column: String,
        test: TextTest,
    },
    Format {
        column: String,
        format: Format,
    },
    /// Floats must be finite: NaN and infinities fail.
    Finite {
        column: String,
    },
    /// At most `max` digits after the decimal point.
    DecimalPlaces {
        column: String,
        max: u32,
    },
    /// A date or time no later than now plus `slack_seconds`.
    NotInFuture {
        column: String,
        #[serde(default)]
        slack_seconds: f64,
    },
    /// A date or time no earlier than now minus `max_age_seconds`.
    NotOlderThan {
        column: String,
        max_age_seconds: f64,
    },
    /// `right - left`, in seconds, lies within `[min_seconds, max_seconds]`.
    Within {
        left: String,
        right: String,
        min_seconds: Option<f64>,
        max_seconds: Option<f64>,
    },
    /// The columns add up to `total`, within `within`.
    SumEquals {
        columns: Vec<String>,
        total: String,
        #[serde(default)]
        within: f64,
    },
    /// The values of a row's columns all differ.
    DistinctAcross {
        columns: Vec<String>,
    },
    /// No column of the row is missing.
    Complete {
        columns: Vec<String>,
    },
    /// At least one column of the row is present.
    AnyPresent {
        columns: Vec<String>,
    },
    /// `column` equals the reference's value for the row's `key` (the
    /// reference's last column, keyed by its first ones), within `within`; a
    /// key the reference lacks compares with 0.
    Reconcile {
        key: Vec<String>,
        column: String,
        reference: String,
        #[serde(default)]
        within: f64,
    },
    /// Each value is at least (or, `decreasing`, at most) the previous
    /// non-null value of the stream; `strict` forbids ties.
    Monotonic {
        column: String,
        #[serde(default)]
        decreasing: bool,
        #[serde(default)]
        strict: bool,
    },
    /// Values far from the rest by the method's measure fail.
    Outliers {
        column: String,
        method: OutlierMethod,
        threshold: f64,
    },
    RowCount {
        min: Option<u64>,
        max: Option<u64>,
    },
    /// The number of rows equals `other`, another table's (counted before
    /// the spec is handed over), or differs by at most `within` times it.
    RowCountMatches {
        other: u64,
        #[serde(default)]
        within: f64,
        /// The other table's name, for the report.
        table: Option<String>,
    },
    DistinctCount {
        columns: Vec<String>,
        min: Option<u64>,
        max: Option<u64>,
    },
    DistinctRatio {
        columns: Vec<String>,
        min: Option<f64>,
        max: Option<f64>,
    },
    Aggregate {
        column: String,
        agg: Agg,
        min: Option<String>,
        max: Option<String>,
        #[serde(default = "yes")]
        min_inclusive: bool,
        #[serde(default = "yes")]
        max_inclusive: bool,
        /// Compared with another column's aggregate, or a value (another
        /// table's aggregate, computed before the spec is handed over).
        compare: Option<AggCompare>,
    },
    /// Every listed value occurs at least once.
    ContainsValues {
        column: String,
        values: Vec<serde_json::Value>,
    },
    /// Integers from the smallest to the largest, in steps of `step`, with none missing.
    SequenceGaps {
        column: String,
        #[serde(default = "one")]
        step: u64,
    },
    /// Every bucket of `every_seconds` between the first and last value holds
    /// a row; only the listed weekdays (0 = Monday) count, holidays excepted.
    TimeGaps {
        column: String,
        every_seconds: f64,
        #[serde(default = "all_days")]
        weekdays: Vec<u8>,
        #[serde(default)]
        holidays: Vec<String>,
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

fn one() -> u64 {
    1
}

fn all_days() -> Vec<u8> {
    (0..7).collect()
}

/// What `unique` counts as failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniqueCount {
    /// Distinct keys that repeat (dbt's `unique` test).
    #[default]
    Keys,
    /// Every row of a repeated key (SQL `GROUP BY … HAVING count(*) > 1`, GX).
    All,
    /// The second and later rows of each key (pandas' `duplicated()`).
    Extra,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum TextTest {
    /// Not empty once surrounding whitespace is removed.
    NotEmpty,
    /// No leading or trailing whitespace.
    Trimmed,
    /// Length in characters (Unicode scalar values).
    Length {
        min: Option<u64>,
        max: Option<u64>,
    },
    StartsWith {
        text: String,
    },
    EndsWith {
        text: String,
    },
    Contains {
        text: String,
    },
    /// The text reads as a value of `type`: int, number, bool, date or
    /// datetime (ISO 8601, or `format` in strftime notation).
    ParsesAs {
        #[serde(rename = "type")]
        ty: String,
        format: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Agg {
    Sum,
    Mean,
    /// The sample standard deviation (n − 1), as SQL `stddev`.
    Stddev,
    Min,
    Max,
    Median,
    /// The `q` quantile, linearly interpolated (SQL `quantile_cont`).
    Quantile {
        q: f64,
    },
}

impl Agg {
    pub fn name(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Mean => "mean",
            Agg::Stddev => "stddev",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Median => "median",
            Agg::Quantile { .. } => "quantile",
        }
    }

    /// Whether the aggregate needs every value kept (an order statistic).
    pub fn keeps_values(self) -> bool {
        matches!(self, Agg::Median | Agg::Quantile { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggCompare {
    pub op: CompareOp,
    /// Another column of the same data, with `agg` (by default this one's).
    pub column: Option<String>,
    pub agg: Option<Agg>,
    /// Or a number.
    pub value: Option<String>,
    /// How far apart two sides may be and still count as equal.
    #[serde(default)]
    pub within: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlierMethod {
    /// |x − mean| / stddev above the threshold.
    Zscore,
    /// Outside [Q1 − k·IQR, Q3 + k·IQR].
    Iqr,
    /// |x − median| / (1.4826 · MAD) above the threshold.
    Mad,
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
            Rule::IsNull { .. } => "is_null",
            Rule::Unique { .. } => "unique",
            Rule::Between { .. } => "between",
            Rule::Matches { negate: false, .. } => "matches",
            Rule::Matches { negate: true, .. } => "not_matches",
            Rule::IsIn { negate: false, .. } => "is_in",
            Rule::IsIn { negate: true, .. } => "not_in",
            Rule::Relationships { .. } => "relationships",
            Rule::Compare { .. } => "compare",
            Rule::Mask { .. } => "expression",
            Rule::Text { test, .. } => match test {
                TextTest::NotEmpty => "not_empty",
                TextTest::Trimmed => "trimmed",
                TextTest::Length { .. } => "length_between",
                TextTest::StartsWith { .. } => "starts_with",
                TextTest::EndsWith { .. } => "ends_with",
                TextTest::Contains { .. } => "contains",
                TextTest::ParsesAs { .. } => "parses_as",
            },
            Rule::Format { format, .. } => format.kind(),
            Rule::Finite { .. } => "is_finite",
            Rule::DecimalPlaces { .. } => "decimal_places",
            Rule::NotInFuture { .. } => "not_in_future",
            Rule::NotOlderThan { .. } => "not_older_than",
            Rule::Within { .. } => "within",
            Rule::SumEquals { .. } => "sum_equals",
            Rule::DistinctAcross { .. } => "distinct_across",
            Rule::Complete { .. } => "complete",
            Rule::AnyPresent { .. } => "any_present",
            Rule::Reconcile { .. } => "reconcile",
            Rule::Monotonic {
                decreasing: false, ..
            } => "increasing",
            Rule::Monotonic {
                decreasing: true, ..
            } => "decreasing",
            Rule::Outliers { .. } => "no_outliers",
            Rule::RowCount { .. } => "row_count",
            Rule::RowCountMatches { .. } => "row_count_matches",
            Rule::DistinctCount { .. } => "distinct_count",
            Rule::DistinctRatio { .. } => "distinct_ratio",
            Rule::Aggregate { agg, compare, .. } => match (compare, agg) {
                (Some(_), _) => "aggregate_compare",
                (None, Agg::Sum) => "sum_between",
                (None, Agg::Mean) => "mean_between",
                (None, Agg::Stddev) => "stddev_between",
                (None, Agg::Min) => "min_between",
                (None, Agg::Max) => "max_between",
                (None, Agg::Median) => "median_between",
                (None, Agg::Quantile { .. }) => "quantile_between",
            },
            Rule::ContainsValues { .. } => "contains_values",
            Rule::SequenceGaps { .. } => "no_sequence_gaps",
            Rule::TimeGaps { .. } => "no_gaps",
            Rule::Freshness { .. } => "freshness",
            Rule::Schema { .. } => "schema",
        }
    }

    /// The columns the check reads, in the order a report shows them.
    pub fn columns(&self) -> Vec<String> {
        match self {
            Rule::NotNull { column }
            | Rule::IsNull { column }
            | Rule::Between { column, .. }
            | Rule::Matches { column, .. }
            | Rule::IsIn { column, .. }
            | Rule::Mask { column }
            | Rule::Text { column, .. }
            | Rule::Format { column, .. }
            | Rule::Finite { column }
            | Rule::DecimalPlaces { column, .. }
            | Rule::NotInFuture { column, .. }
            | Rule::NotOlderThan { column, .. }
            | Rule::Monotonic { column, .. }
            | Rule::Outliers { column, .. }
            | Rule::ContainsValues { column, .. }
            | Rule::SequenceGaps { column, .. }
            | Rule::TimeGaps { column, .. }
            | Rule::Freshness { column, .. } => vec![column.clone()],
            Rule::Unique { columns, .. }
            | Rule::Relationships { columns, .. }
            | Rule::DistinctAcross { columns }
            | Rule::Complete { columns }
            | Rule::AnyPresent { columns }
            | Rule::DistinctCount { columns, .. }
            | Rule::DistinctRatio { columns, .. } => columns.clone(),
            Rule::Compare { left, right, .. } | Rule::Within { left, right, .. } => {
                vec![left.clone(), right.clone()]
            }
            Rule::SumEquals { columns, total, .. } => {
                let mut out = columns.clone();
                out.push(total.clone());
                out
            }
            Rule::Reconcile { key, column, .. } => {
                let mut out = key.clone();
                out.push(column.clone());
                out
            }
            Rule::Aggregate {
                column, compare, ..
            } => {
                let mut out = vec![column.clone()];
                if let Some(AggCompare {
                    column: Some(other),
                    ..
                }) = compare
                {
                    if other != column {
                        out.push(other.clone());
                    }
                }
                out
            }
            Rule::RowCount { .. } | Rule::RowCountMatches { .. } => vec![],
            Rule::Schema { columns, .. } => columns.iter().map(|(c, _)| c.clone()).collect(),
        }
    }

    /// Whether the check judges rows one at a time, as each batch arrives
    /// (and so can mark failing rows for quarantine).
    pub fn is_row_level(&self) -> bool {
        !self.is_dataset() && !matches!(self, Rule::Outliers { .. })
    }

    /// Whether the check judges the data as a whole, once every batch is in:
    /// it has no failing rows, and `by=` groups it.
    pub fn is_dataset(&self) -> bool {
        matches!(
            self,
            Rule::RowCount { .. }
                | Rule::RowCountMatches { .. }
                | Rule::Freshness { .. }
                | Rule::Schema { .. }
                | Rule::DistinctCount { .. }
                | Rule::DistinctRatio { .. }
                | Rule::Aggregate { .. }
                | Rule::ContainsValues { .. }
                | Rule::SequenceGaps { .. }
                | Rule::TimeGaps { .. }
        )
    }

    /// Whether `by=` groups can apply to the check.
    pub fn takes_groups(&self) -> bool {
        matches!(
            self,
            Rule::RowCount { .. }
                | Rule::DistinctCount { .. }
                | Rule::DistinctRatio { .. }
                | Rule::Aggregate { .. }
                | Rule::ContainsValues { .. }
                | Rule::TimeGaps { .. }
                | Rule::SequenceGaps { .. }
        )
    }
}
