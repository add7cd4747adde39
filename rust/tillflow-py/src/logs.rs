//! `LogStream`: batches of log lines read natively, GIL released while a
//! batch is read.

use pyo3::prelude::*;
use tillflow_core::logs::{LogBatch, LogOptions, LogStream as CoreStream};

use crate::errors::{detached, guard, to_py};
use crate::frames::batch_dict;
use crate::slot::Slot;

/// Batches of one log resource.
#[pyclass(module = "tillflow._native")]
pub struct LogStream {
    inner: Slot<CoreStream>,
    name: String,
    pending: Vec<(String, u64)>,
}

#[pymethods]
impl LogStream {
    /// Files this run reads, with the offset each starts from.
    #[getter]
    fn pending_files(&self) -> PyResult<Vec<(String, u64)>> {
        guard("LogStream.pending_files", || Ok(self.pending.clone()))
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        guard("LogStream.__iter__", || Ok(slf))
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let what = format!("reading the next batch of logs {:?}", self.name);
        let next = guard(&what, || {
            let Some(stream) = self.inner.get().as_mut() else {
                return Ok(None);
            };
            match detached(py, &what, || stream.next_batch())? {
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
        guard("LogStream.close", || {
            *self.inner.get() = None;
            Ok(())
        })
    }
}

fn batch_to_py(py: Python<'_>, batch: LogBatch) -> PyResult<Py<PyAny>> {
    let out = batch_dict(py, batch.tables, batch.quarantine)?;
    out.set_item("records", batch.records)?;
    out.set_item("state", batch.state)?;
    Ok(out.into_any().unbind())
}

/// Opens a stream over the log files `options_json` names, from the
/// positions of the resource's stored state (JSON) when there is one.
#[pyfunction]
#[pyo3(signature = (options_json, state_json=None))]
pub fn open_logs(
    py: Python<'_>,
    options_json: &str,
    state_json: Option<String>,
) -> PyResult<LogStream> {
    guard("open_logs", || {
        let opts = LogOptions::from_json(options_json).map_err(to_py)?;
        let name = opts.name.clone();
        let inner = detached(py, "open_logs", move || {
            CoreStream::open(opts, state_json.as_deref())
        })?;
        Ok(LogStream {
            pending: inner.pending_files(),
            inner: Slot::new(inner),
            name,
        })
    })
}
