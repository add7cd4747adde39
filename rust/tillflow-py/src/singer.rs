//! `SingerStream`: a Singer tap's output read natively, GIL released while
//! a batch is read.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tillflow_core::singer::{SingerBatch, SingerOptions, SingerStream as CoreStream};

use crate::errors::{detached, guard, to_py};
use crate::frames::frames_dict;
use crate::slot::Slot;

/// Batches of one tap run.
#[pyclass(module = "tillflow._native")]
pub struct SingerStream {
    inner: Slot<CoreStream>,
    name: String,
    skipped: u64,
}

#[pymethods]
impl SingerStream {
    /// Lines of the tap's output that were not messages and were skipped.
    #[getter]
    fn skipped_lines(&mut self) -> PyResult<u64> {
        guard("SingerStream.skipped_lines", || {
            Ok(match self.inner.get().as_ref() {
                Some(s) => s.skipped_lines,
                None => self.skipped,
            })
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        guard("SingerStream.__iter__", || Ok(slf))
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let what = format!("reading the next batch of {}", self.name);
        let next = guard(&what, || {
            let Some(stream) = self.inner.get().as_mut() else {
                return Ok(None);
            };
            let batch = detached(py, &what, || stream.next_batch());
            self.skipped = stream.skipped_lines;
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

    /// Stops the tap. Safe to call twice.
    fn close(&mut self) -> PyResult<()> {
        guard("SingerStream.close", || {
            *self.inner.get() = None;
            Ok(())
        })
    }
}

fn batch_to_py(py: Python<'_>, batch: SingerBatch) -> PyResult<Py<PyAny>> {
    let parts = PyList::empty(py);
    for part in batch.parts {
        let d = PyDict::new(py);
        d.set_item("stream", part.stream)?;
        d.set_item("key_properties", part.key_properties)?;
        d.set_item("tables", frames_dict(py, part.tables)?)?;
        d.set_item("records", part.records)?;
        parts.append(d)?;
    }
    let out = PyDict::new(py);
    out.set_item("parts", parts)?;
    out.set_item("state", batch.state)?;
    Ok(out.into_any().unbind())
}

/// Starts the tap `options_json` describes (or opens its recorded output).
#[pyfunction]
pub fn open_singer(py: Python<'_>, options_json: &str) -> PyResult<SingerStream> {
    guard("open_singer", || {
        let opts = SingerOptions::from_json(options_json).map_err(to_py)?;
        let name = opts.name.clone();
        let inner = detached(py, "open_singer", move || CoreStream::open(opts))?;
        Ok(SingerStream {
            inner: Slot::new(inner),
            name,
            skipped: 0,
        })
    })
}
