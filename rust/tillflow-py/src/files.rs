//! `FileStream`: batches of files read natively on a thread of their own,
//! one batch ahead of the loader; the GIL is released while waiting for one.

use pyo3::prelude::*;
use pyo3::types::PyList;
use tillflow_core::files::read_ahead::ReadAhead;
use tillflow_core::files::{FileBatch, FileOptions, FileStream as CoreStream};

use crate::errors::{detached, guard, to_py};
use crate::frames::batch_dict;
use crate::slot::Slot;

/// Batches of one file resource.
#[pyclass(module = "tillflow._native")]
pub struct FileStream {
    inner: Slot<ReadAhead>,
    name: String,
    pending: Vec<String>,
    /// The stream's warnings as of its last batch, kept once it is done.
    warnings: Vec<String>,
}

#[pymethods]
impl FileStream {
    #[getter]
    fn name(&self) -> PyResult<&str> {
        guard("FileStream.name", || Ok(self.name.as_str()))
    }

    /// Files this run loads: new, changed or interrupted ones, by key.
    #[getter]
    fn pending_files(&self) -> PyResult<Vec<String>> {
        guard("FileStream.pending_files", || Ok(self.pending.clone()))
    }

    /// What the load summary should say of the data read so far, such as a
    /// text column that is mostly one null marker.
    #[getter]
    fn warnings(&mut self) -> PyResult<Vec<String>> {
        guard("FileStream.warnings", || {
            Ok(match self.inner.get().as_ref() {
                Some(s) => s.warnings(),
                None => self.warnings.clone(),
            })
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        guard("FileStream.__iter__", || Ok(slf))
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let what = format!("reading the next batch of files {:?}", self.name);
        let next = guard(&what, || {
            let Some(stream) = self.inner.get().as_mut() else {
                return Ok(None);
            };
            let batch = detached(py, &what, || stream.next_batch());
            self.warnings = stream.warnings();
            match batch? {
                Some(batch) => batch_to_py(py, batch).map(Some),
                None => Ok(None),
            }
        });
        // Done, failed or broken: the stream stops.
        if !matches!(next, Ok(Some(_))) {
            *self.inner.get() = None;
        }
        next
    }

    /// Stops reading. Safe to call twice.
    fn close(&mut self) -> PyResult<()> {
        guard("FileStream.close", || {
            *self.inner.get() = None;
            Ok(())
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        guard("FileStream.__repr__", || {
            Ok({
                let open = if self.inner.is_open() {
                    "True"
                } else {
                    "False"
                };
                format!("FileStream(name={:?}, open={open})", self.name)
            })
        })
    }
}

fn batch_to_py(py: Python<'_>, batch: FileBatch) -> PyResult<Py<PyAny>> {
    let out = batch_dict(py, batch.tables, batch.quarantine)?;
    out.set_item("records", batch.records)?;
    out.set_item("state", batch.state)?;
    out.set_item("replaces", PyList::new(py, batch.replaces)?)?;
    out.set_item("file", batch.file)?;
    out.set_item("encoding", batch.encoding)?;
    Ok(out.into_any().unbind())
}

/// Opens a stream over the files `options_json` names, planned against the
/// resource's stored state (JSON) when there is one.
#[pyfunction]
#[pyo3(signature = (options_json, state_json=None))]
pub fn open_files(
    py: Python<'_>,
    options_json: &str,
    state_json: Option<String>,
) -> PyResult<FileStream> {
    guard("open_files", || {
        let opts = FileOptions::from_json(options_json).map_err(to_py)?;
        let name = opts.name.clone();
        let inner = detached(py, "open_files", move || {
            CoreStream::open(opts, state_json.as_deref())
        })?;
        let pending = inner.pending_files();
        // One batch read ahead: parsing the next overlaps loading this one.
        let inner = ReadAhead::start(inner, 1).map_err(to_py)?;
        Ok(FileStream {
            pending,
            inner: Slot::new(inner),
            name,
            warnings: Vec::new(),
        })
    })
}
