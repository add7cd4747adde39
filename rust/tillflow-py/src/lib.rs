//! `tillflow._native`: conversion, error mapping and GIL release only. All
//! logic lives in `tillflow-core`.

mod airbyte;
mod demo;
mod errors;
mod files;
mod frames;
mod kernels;
mod logs;
mod plugins;
mod rules;
mod singer;
mod slot;
mod sources;

use pyo3::prelude::*;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
mod _native {
    use super::*;

    #[pymodule_export]
    use crate::airbyte::{describe_manifest, open_manifest, ManifestStream};
    #[pymodule_export]
    use crate::demo::{DemoEstate, DemoShop};
    #[pymodule_export]
    use crate::files::{open_files, FileStream};
    #[pymodule_export]
    use crate::kernels::{
        BucketKernel, ClvKernel, CohortKernel, DailyKernel, DistinctKernel, LineItemStream,
        Partial, ProductKernel, RfmKernel, SegmentKernel, WebKernel,
    };
    #[pymodule_export]
    use crate::logs::{open_logs, LogStream};
    #[pymodule_export]
    use crate::rules::{check_rules, duration_seconds, RowFailures, Validator};
    #[pymodule_export]
    use crate::singer::{open_singer, SingerStream};
    #[pymodule_export]
    use crate::sources::{
        check_spec, normalize_records, open_resource, secret_forms, ResourceStream,
    };

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        let py = m.py();
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
        m.add("SECRET_MIN_ANYWHERE", tillflow_core::secret::MIN_ANYWHERE)?;
        m.add(
            "DEFAULT_NULL_VALUES",
            tillflow_core::files::DEFAULT_NULL_VALUES.to_vec(),
        )?;
        m.add("TillflowError", py.get_type::<errors::TillflowError>())?;
        m.add("ConfigError", py.get_type::<errors::ConfigError>())?;
        m.add("SourceError", py.get_type::<errors::SourceError>())?;
        m.add("HttpError", py.get_type::<errors::HttpError>())?;
        m.add("AuthError", py.get_type::<errors::AuthError>())?;
        m.add("SchemaError", py.get_type::<errors::SchemaError>())?;
        m.add("RuleError", py.get_type::<errors::RuleError>())?;
        m.add("WarehouseError", py.get_type::<errors::WarehouseError>())?;
        m.add("ValidationError", py.get_type::<errors::ValidationError>())?;
        m.add("InternalError", py.get_type::<errors::InternalError>())?;
        if cfg!(debug_assertions) {
            // A debug build is many times slower; never mistake it for a
            // benchmark result.
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyRuntimeWarning>(),
                c"tillflow._native is a debug build and runs many times slower; reinstall with `pip install .`",
                1,
            )?;
        }
        Ok(())
    }
}
