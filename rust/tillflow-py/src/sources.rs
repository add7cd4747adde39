//! `ResourceStream` and `normalize_records`: Arrow batches out, GIL released
//! while pages are fetched and normalized.

use std::task::Poll;
use std::time::Duration;

use pyo3::prelude::*;
use tillflow_core::normalize::{Json, NormalizeOptions, Normalizer};
use tillflow_core::sources::checkpoint::apply_state;
use tillflow_core::sources::spec::ResourceSpec;
use tillflow_core::sources::stream::{Batch, ResourceStream as CoreStream};
use tillflow_core::CoreError;

use crate::errors::{detached, guard, to_py};
use crate::frames::{batch_dict, frames_dict};
use crate::slot::Slot;

/// How long `__next__` blocks before it lets Python handle a signal.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// Batches of one REST resource, as `dict[str, polars.DataFrame]`.
#[pyclass(module = "tillflow._native")]
pub struct ResourceStream {
    inner: Slot<CoreStream>,
    name: String,
    /// The retry count when the stream was closed.
    retried: u64,
}

#[pymethods]
impl ResourceStream {
    #[getter]
    fn name(&self) -> PyResult<&str> {
        guard("ResourceStream.name", || Ok(self.name.as_str()))
    }

    /// Requests retried so far (also after `close`).
    #[getter]
    fn retries(&self) -> PyResult<u64> {
        guard("ResourceStream.retries", || {
            Ok(self
                .inner
                .peek()
                .as_ref()
                .map_or(self.retried, CoreStream::retries))
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        guard("ResourceStream.__iter__", || Ok(slf))
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let what = format!("reading the next batch of resource {:?}", self.name);
        let next = guard(&what, || {
            let Some(stream) = self.inner.get().as_mut() else {
                return Ok(None);
            };
            // Waits in short slices so a Python signal handler (Ctrl-C,
            // SIGTERM) runs while a page is slow or a retry backs off; one
            // that raises ends the wait with its exception.
            let next = loop {
                match detached(py, &what, || Ok(stream.poll_batch(SIGNAL_SLICE)))? {
                    Poll::Ready(next) => break next,
                    Poll::Pending => py.check_signals()?,
                }
            };
            match next {
                None => Ok(None),
                Some(Err(e)) => Err(to_py(e)),
                Some(Ok(batch)) => batch_to_py(py, batch).map(Some),
            }
        });
        // Done, failed or broken: the stream stops.
        if !matches!(next, Ok(Some(_))) {
            self.close()?;
        }
        next
    }

    /// Stops fetching. Safe to call twice.
    fn close(&mut self) -> PyResult<()> {
        guard("ResourceStream.close", || {
            if let Some(mut s) = self.inner.get().take() {
                self.retried = s.retries();
                s.close();
            }
            Ok(())
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        guard("ResourceStream.__repr__", || {
            Ok(format!(
                "ResourceStream(name={:?}, open={})",
                self.name,
                if self.inner.is_open() {
                    "True"
                } else {
                    "False"
                }
            ))
        })
    }
}

fn batch_to_py(py: Python<'_>, batch: Batch) -> PyResult<Py<PyAny>> {
    let out = batch_dict(py, batch.tables, batch.quarantine)?;
    out.set_item("records", batch.records)?;
    out.set_item("pages", batch.pages)?;
    out.set_item("state", batch.state.to_string())?;
    out.set_item("last", batch.last)?;
    out.set_item("retries", batch.retries)?;
    Ok(out.into_any().unbind())
}

/// Opens a stream over the resource described by `spec_json`.
#[pyfunction]
#[pyo3(signature = (spec_json, state_json=None))]
pub fn open_resource(
    py: Python<'_>,
    spec_json: &str,
    state_json: Option<&str>,
) -> PyResult<ResourceStream> {
    guard("open_resource", || {
        let mut spec = ResourceSpec::from_json(spec_json).map_err(to_py)?;
        if let Some(text) = state_json {
            let state: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| to_py(CoreError::config("state", format!("not valid JSON ({e})"))))?;
            apply_state(&mut spec, &state).map_err(to_py)?;
        }
        let name = spec.name.clone();
        let inner = detached(py, "open_resource", move || CoreStream::open(spec))?;
        Ok(ResourceStream {
            inner: Slot::new(inner),
            name,
            retried: 0,
        })
    })
}

/// Parses and validates a resource spec without fetching anything. A
/// `ConfigError` carries `field`, the dotted path of the offending key.
#[pyfunction]
pub fn check_spec(py: Python<'_>, spec_json: &str) -> PyResult<()> {
    guard("checking a REST spec", || {
        ResourceSpec::from_json(spec_json).map(drop).map_err(|e| {
            let field = match &e {
                CoreError::Config { field, .. } => Some(field.clone()),
                _ => None,
            };
            let err = to_py(e);
            let _ = err.value(py).setattr("field", field);
            err
        })
    })
}

/// Every form `value` takes on the wire and in text (see
/// `tillflow_core::secret::forms`), with the base64 `user:value` forms of
/// HTTP Basic when `username` is given: what a log filter must mask.
#[pyfunction]
#[pyo3(signature = (value, username=None))]
pub fn secret_forms(value: &str, username: Option<&str>) -> PyResult<Vec<String>> {
    guard("secret_forms", || {
        let mut out = tillflow_core::secret::forms(value);
        if let Some(user) = username {
            out.extend(tillflow_core::secret::basic_forms(user, value));
        }
        Ok(out)
    })
}

/// Normalizes a JSON array of records into `{table: DataFrame}`.
#[pyfunction]
#[pyo3(signature = (name, records_json, primary_key=Vec::new(), options_json=None))]
pub fn normalize_records(
    py: Python<'_>,
    name: &str,
    records_json: &[u8],
    primary_key: Vec<String>,
    options_json: Option<&str>,
) -> PyResult<Py<PyAny>> {
    guard("normalize_records", || {
        let opts: NormalizeOptions = match options_json {
            None => NormalizeOptions::default(),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| to_py(CoreError::config("normalize", e.to_string())))?,
        };
        opts.validate().map_err(to_py)?;
        let tables = detached(py, "normalize_records", || {
            let records = Json::parse(records_json)
                .map_err(|e| CoreError::config("records", format!("not valid JSON ({e})")))?;
            let Json::Arr(items) = records else {
                return Err(CoreError::config(
                    "records",
                    "must be a JSON array of objects",
                ));
            };
            let mut n = Normalizer::new(name, primary_key, &opts);
            for r in &items {
                n.push_json(r)?;
            }
            n.flush()
        })?;
        Ok(frames_dict(py, tables)?.into_any().unbind())
    })
}
