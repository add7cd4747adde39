//! `Validator`: frames in, a report out; the checks run with the GIL released.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_polars::{PyDataFrame, PySeries};
use tillflow_core::rules::{
    Report, RowFailures as CoreFailures, RuleSetSpec, Severity, TypeClass,
    Validator as CoreValidator,
};
use tillflow_core::CoreError;

use crate::errors::{detached, guard, guard_into, to_py};

/// A rule set being applied to one frame or a stream of batches.
#[pyclass(module = "tillflow._native")]
pub struct Validator {
    inner: Option<CoreValidator>,
}

/// Which rows of one batch broke which checks.
#[pyclass(module = "tillflow._native")]
pub struct RowFailures {
    inner: CoreFailures,
}

fn severity(s: Option<&str>) -> PyResult<Option<Severity>> {
    match s {
        None => Ok(None),
        Some("error") => Ok(Some(Severity::Error)),
        Some("warn") => Ok(Some(Severity::Warn)),
        Some(other) => Err(to_py(CoreError::config(
            "severity",
            format!("must be 'error' or 'warn', got {other:?}"),
        ))),
    }
}

#[pymethods]
impl RowFailures {
    /// Booleans, one per row: the row broke a check of `severity` (any when None).
    #[pyo3(signature = (severity=None))]
    fn mask(&self, py: Python<'_>, severity: Option<&str>) -> PyResult<Py<PyAny>> {
        let what = "RowFailures.mask";
        guard_into(py, what, || {
            let sev = self::severity(severity)?;
            let mask = detached(py, what, || Ok(self.inner.mask(sev)))?;
            Ok(PySeries(mask.into()))
        })
    }

    /// `_tf_row` and `_tf_failed_rules` for each row that broke a check of `severity`.
    #[pyo3(signature = (severity=None))]
    fn rules(&self, py: Python<'_>, severity: Option<&str>) -> PyResult<Py<PyAny>> {
        let what = "RowFailures.rules";
        guard_into(py, what, || {
            let sev = self::severity(severity)?;
            detached(py, what, || self.inner.rules(sev)).map(PyDataFrame)
        })
    }
}

#[pymethods]
impl Validator {
    #[new]
    #[pyo3(signature = (spec_json, references=HashMap::new()))]
    fn new(spec_json: &str, references: HashMap<String, Bound<'_, PyAny>>) -> PyResult<Self> {
        guard("Validator.new", || {
            let references = references
                .into_iter()
                .map(|(k, v)| Ok((k, v.extract::<PyDataFrame>()?)))
                .collect::<PyResult<HashMap<_, _>>>()?;
            let spec = RuleSetSpec::from_json(spec_json).map_err(to_py)?;
            let refs = references.into_iter().map(|(k, v)| (k, v.0)).collect();
            let inner = CoreValidator::new(spec, refs).map_err(to_py)?;
            Ok(Validator { inner: Some(inner) })
        })
    }

    /// Checks one batch; `schema` holds the full frame's `(column, polars
    /// type name)` pairs when `df` was cut down to the checked columns.
    #[pyo3(signature = (df, schema=None, want_rows=false))]
    fn push(
        &mut self,
        py: Python<'_>,
        df: &Bound<'_, PyAny>,
        schema: Option<Vec<(String, String)>>,
        want_rows: bool,
    ) -> PyResult<Option<RowFailures>> {
        let what = "Validator.push";
        guard(what, || {
            let df: PyDataFrame = df.extract()?;
            let v = self
                .inner
                .as_mut()
                .ok_or_else(|| to_py(CoreError::config("validator", "already finished")))?;
            let df = df.0;
            let schema: Option<Vec<(String, TypeClass)>> = schema.map(|s| {
                s.into_iter()
                    .map(|(n, t)| (n, TypeClass::from_name(&t)))
                    .collect()
            });
            let out = detached(py, what, || {
                v.push_with_schema(&df, schema.as_deref(), want_rows)
            })?;
            Ok(out.map(|inner| RowFailures { inner }))
        })
    }

    /// Whether `fail_fast` stopped at a failure (later batches are ignored).
    #[getter]
    fn stopped(&self) -> PyResult<bool> {
        guard("Validator.stopped", || {
            Ok(self.inner.as_ref().is_some_and(|v| v.stopped()))
        })
    }

    /// Rows seen so far.
    #[getter]
    fn rows(&self) -> PyResult<u64> {
        guard("Validator.rows", || {
            Ok(self.inner.as_ref().map_or(0, |v| v.rows()))
        })
    }

    /// Settles the dataset checks: `(results, samples)`, one dict per check
    /// in declared order and each check's sample frame by name.
    fn finish(&mut self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let what = "Validator.finish";
        guard(what, || {
            let v = self
                .inner
                .take()
                .ok_or_else(|| to_py(CoreError::config("validator", "already finished")))?;
            let report = detached(py, what, || v.finish())?;
            report_to_py(py, report)
        })
    }
}

fn report_to_py(py: Python<'_>, report: Report) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let results = pyo3::types::PyList::empty(py);
    let samples = PyDict::new(py);
    for c in report.checks {
        let d = PyDict::new(py);
        d.set_item("rule", &c.name)?;
        d.set_item("kind", c.kind)?;
        d.set_item("columns", c.columns)?;
        d.set_item("severity", c.severity.as_str())?;
        d.set_item("status", c.status.as_str())?;
        d.set_item("failing", c.failing)?;
        d.set_item("rows", c.rows)?;
        d.set_item("observed", c.observed)?;
        results.append(d)?;
        if let Some(s) = c.sample {
            samples.set_item(&c.name, PyDataFrame(s))?;
        }
    }
    Ok((results.into_any().unbind(), samples.into_any().unbind()))
}

/// Checks a rule set in its canonical form without reading any data: the
/// one place rules' arguments are checked. Raises `RuleError` naming the
/// check and the field.
#[pyfunction]
pub fn check_rules(spec_json: &str) -> PyResult<()> {
    guard("checking rules", || {
        RuleSetSpec::from_json(spec_json).map(drop).map_err(to_py)
    })
}

/// The seconds a duration's text stands for (`"90s"`, `"1.5h"`, `"1d12h"`),
/// or `None` when it is not one; the caller names the setting in its error.
#[pyfunction]
pub fn duration_seconds(text: &str) -> Option<f64> {
    tillflow_core::durations::parse_seconds(text).ok()
}
