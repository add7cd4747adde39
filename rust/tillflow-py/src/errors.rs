//! The one exception tree. Every core error maps here, in one place.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use tillflow_core::CoreError;

pyo3::create_exception!(
    tillflow._native,
    TillflowError,
    PyException,
    "Base of every tillflow error."
);
pyo3::create_exception!(
    tillflow._native,
    InternalError,
    TillflowError,
    "A bug in tillflow: native code failed where it never should. Please report it with its message."
);
pyo3::create_exception!(
    tillflow._native,
    ConfigError,
    TillflowError,
    "A spec, option or argument is invalid."
);
pyo3::create_exception!(
    tillflow._native,
    SourceError,
    TillflowError,
    "A source could not be read."
);
pyo3::create_exception!(
    tillflow._native,
    HttpError,
    SourceError,
    "An HTTP request failed."
);
pyo3::create_exception!(
    tillflow._native,
    AuthError,
    HttpError,
    "The server refused the credentials."
);
pyo3::create_exception!(
    tillflow._native,
    SchemaError,
    TillflowError,
    "Records do not fit the table's schema."
);
pyo3::create_exception!(
    tillflow._native,
    RuleError,
    TillflowError,
    "A validation rule is invalid."
);
pyo3::create_exception!(
    tillflow._native,
    ValidationError,
    TillflowError,
    "Data broke error-severity validation checks."
);
pyo3::create_exception!(
    tillflow._native,
    WarehouseError,
    TillflowError,
    "The warehouse could not be written."
);

/// Converts a core error to its Python exception; HTTP errors carry
/// `status` and `url` attributes.
pub fn to_py(e: CoreError) -> PyErr {
    let msg = e.to_string();
    Python::attach(|py| {
        let (err, url) = match &e {
            CoreError::Config { .. } => (ConfigError::new_err(msg), None),
            CoreError::Auth { url, .. } => (AuthError::new_err(msg), Some(url.clone())),
            CoreError::Http { url, .. } => (HttpError::new_err(msg), Some(url.clone())),
            CoreError::Source { url, .. } => (SourceError::new_err(msg), Some(url.clone())),
            CoreError::File { path, .. } => (SourceError::new_err(msg), Some(path.clone())),
            CoreError::Tap { .. } => (SourceError::new_err(msg), None),
            CoreError::Schema { .. } => (SchemaError::new_err(msg), None),
            CoreError::Rule { .. } => (RuleError::new_err(msg), None),
            CoreError::Io(_) => (TillflowError::new_err(msg), None),
            CoreError::Internal(_) => (InternalError::new_err(msg), None),
        };
        let value = err.value(py);
        let _ = value.setattr("status", e.status());
        let _ = value.setattr("url", url);
        err
    })
}

/// Runs the heavy part of an entry point: `f` with the GIL released, so
/// other Python threads run meanwhile. Every call that can take long or
/// panic (a kernel's partial, merge or finalize, a page, the normalizer, a
/// validator) goes through here. Its error maps to the exception tree, and
/// a panic becomes `InternalError` saying `what` was being done.
pub fn detached<T, F>(py: Python<'_>, what: &str, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> tillflow_core::Result<T> + Send,
{
    match py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))) {
        Ok(done) => done.map_err(to_py),
        Err(panic) => Err(internal(what, &panic_message(panic.as_ref()))),
    }
}

/// Runs the body of an entry point. A panic anywhere in it raises
/// `InternalError` saying what was being done; pyo3 alone would raise
/// `PanicException`, a `BaseException` that `except Exception` and the
/// CLI's handler miss. Bodies that hand data to Python convert it inside
/// (see [`object`]), since exporting a frame can fail too; their heavy
/// part runs in [`detached`].
pub fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        // A panic in polars' own extension while it hands a frame over
        // arrives as its PanicException: the same failure.
        Ok(Err(e)) => Python::attach(|py| {
            let ty = e.get_type(py);
            let is_panic = ty.name().is_ok_and(|n| n == "PanicException")
                && ty.module().is_ok_and(|m| m == "pyo3_runtime");
            if !is_panic {
                return Err(e);
            }
            let out = internal(what, &e.value(py).to_string());
            out.set_cause(py, Some(e));
            Err(out)
        }),
        Err(panic) => Err(internal(what, &panic_message(panic.as_ref()))),
    }
}

fn internal(what: &str, why: &str) -> PyErr {
    InternalError::new_err(format!(
        "internal error while {what}: {why} (a bug in tillflow; please report it)"
    ))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A value as a Python object, converted inside the caller's guard.
pub fn object<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> PyResult<Py<PyAny>> {
    use pyo3::BoundObject;
    let bound = value.into_pyobject(py).map_err(Into::into)?;
    Ok(bound.into_any().unbind())
}

/// [`guard`] for a body whose value goes to Python: the conversion (a
/// frame's export) runs under the guard too.
pub fn guard_into<'py, T: IntoPyObject<'py>>(
    py: Python<'py>,
    what: &str,
    f: impl FnOnce() -> PyResult<T>,
) -> PyResult<Py<PyAny>> {
    guard(what, || object(py, f()?))
}
