//! Airbyte manifests: `describe_manifest` (the streams, after the manifest
//! is checked) and `ManifestStream` (one stream's batches, GIL released
//! while a batch is read).

use pyo3::prelude::*;
use tillflow_core::airbyte::{describe, ManifestBatch, ManifestStream as CoreStream, RunOptions};
use tillflow_core::CoreError;

use crate::errors::{detached, guard, to_py};
use crate::frames::frames_dict;
use crate::slot::Slot;

fn json(text: &str, what: &str) -> PyResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| to_py(CoreError::config(what, format!("not JSON: {e}"))))
}

/// The manifest with references and parameters resolved (JSON), and each
/// stream's name, primary key and cursor field.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn describe_manifest(
    manifest_json: &str,
    config_json: &str,
) -> PyResult<(String, Vec<(String, Vec<String>, Option<String>)>)> {
    guard("describe_manifest", || {
        let manifest = json(manifest_json, "manifest")?;
        let config = json(config_json, "config")?;
        let (prepared, streams) = describe(&manifest, &config).map_err(to_py)?;
        Ok((
            prepared.to_string(),
            streams
                .into_iter()
                .map(|s| (s.name, s.primary_key, s.cursor_field))
                .collect(),
        ))
    })
}

/// Batches of one stream of a manifest.
#[pyclass(module = "tillflow._native")]
pub struct ManifestStream {
    inner: Slot<CoreStream>,
    name: String,
    retries: u64,
    updated: Option<String>,
}

#[pymethods]
impl ManifestStream {
    /// Requests sent again after a retryable failure.
    #[getter]
    fn retries(&mut self) -> PyResult<u64> {
        guard("ManifestStream.retries", || {
            Ok(self
                .inner
                .get()
                .as_ref()
                .map_or(self.retries, |s| s.retries()))
        })
    }

    /// The config (JSON) as an OAuth refresh left it, when it rotated tokens.
    #[getter]
    fn updated_config(&mut self) -> PyResult<Option<String>> {
        guard("ManifestStream.updated_config", || {
            Ok(match self.inner.get().as_ref() {
                Some(s) => s.updated_config().map(|c| c.to_string()),
                None => self.updated.clone(),
            })
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        guard("ManifestStream.__iter__", || Ok(slf))
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let what = format!("reading the next batch of stream {:?}", self.name);
        let next = guard(&what, || {
            let Some(stream) = self.inner.get().as_mut() else {
                return Ok(None);
            };
            let batch = detached(py, &what, || stream.next_batch());
            self.retries = stream.retries();
            self.updated = stream.updated_config().map(|c| c.to_string());
            match batch? {
                Some(batch) => batch_to_py(py, batch).map(Some),
                None => Ok(None),
            }
        });
        if !matches!(next, Ok(Some(_))) {
            *self.inner.get() = None;
        }
        next
    }

    /// Stops reading. Safe to call twice.
    fn close(&mut self) -> PyResult<()> {
        guard("ManifestStream.close", || {
            *self.inner.get() = None;
            Ok(())
        })
    }
}

fn batch_to_py(py: Python<'_>, batch: ManifestBatch) -> PyResult<Py<PyAny>> {
    let out = pyo3::types::PyDict::new(py);
    out.set_item("tables", frames_dict(py, batch.tables)?)?;
    out.set_item("records", batch.records)?;
    out.set_item("state", batch.state)?;
    Ok(out.into_any().unbind())
}

/// Starts reading the stream `options_json` names, from its stored state (JSON).
#[pyfunction]
#[pyo3(signature = (options_json, state_json=None))]
pub fn open_manifest(
    py: Python<'_>,
    options_json: &str,
    state_json: Option<String>,
) -> PyResult<ManifestStream> {
    guard("open_manifest", || {
        let opts = RunOptions::from_json(options_json).map_err(to_py)?;
        let state = state_json
            .as_deref()
            .map(|s| json(s, "state"))
            .transpose()?;
        let name = opts.stream.clone();
        let inner = detached(py, "open_manifest", move || CoreStream::open(opts, state))?;
        Ok(ManifestStream {
            inner: Slot::new(inner),
            name,
            retries: 0,
            updated: None,
        })
    })
}
