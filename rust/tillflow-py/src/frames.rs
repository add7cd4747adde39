//! Named frames handed to Python as `dict[str, polars.DataFrame]`.

use polars::prelude::DataFrame;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_polars::PyDataFrame;

/// `{name: frame}` in the order given.
pub fn frames_dict(
    py: Python<'_>,
    frames: Vec<(String, DataFrame)>,
) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (name, df) in frames {
        out.set_item(name, PyDataFrame(df))?;
    }
    Ok(out)
}

/// A batch as a source hands it over: `{"tables": …, "quarantine": …}`;
/// the caller adds the keys of its own kind of batch.
pub fn batch_dict(
    py: Python<'_>,
    tables: Vec<(String, DataFrame)>,
    quarantine: Vec<(String, DataFrame)>,
) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("tables", frames_dict(py, tables)?)?;
    out.set_item("quarantine", frames_dict(py, quarantine)?)?;
    Ok(out)
}
