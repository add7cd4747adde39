//! What validation gives back: the report of every check, and which rows of
//! a batch broke which checks.

use polars::prelude::*;

use super::spec::{Severity, Tolerance};
use crate::error::Result;

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
    pub kind: String,
    pub columns: Vec<String>,
    pub severity: Severity,
    pub tolerance: Option<Tolerance>,
    pub status: Status,
    /// Failing rows (row checks only).
    pub failing: Option<u64>,
    /// The rows the check applied to: every row, or those its `when=`
    /// admits. A fractional tolerance is a share of these.
    pub rows: u64,
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
    pub(super) rows: usize,
    pub(super) names: Vec<(String, Severity)>,
    pub(super) bits: Vec<Option<Vec<u64>>>,
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
