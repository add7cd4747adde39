//! Polars expression plugins (`tillflow.expr`): tillflow's kernels as
//! expressions that polars' engine runs itself, per column or per group,
//! without the GIL. Errors surface as polars compute errors carrying the
//! core's message.
//!
//! Polars finds a plugin by its C symbols: `_polars_plugin_get_version`,
//! `_polars_plugin_get_last_error_message`, and for each expression
//! `_polars_plugin_<name>` (its values) and `_polars_plugin_field_<name>`
//! (its output field). [`expressions!`] writes them over polars' FFI crate,
//! so the extension does not build polars' query planner for them.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use chrono::Duration;
use polars::prelude::*;
use polars_arrow::ffi::{export_field_to_c, import_field_from_c, ArrowSchema};
use polars_ffi::version_0::{export_series, import_series_buffer, CallerContext, SeriesExport};
use serde::Deserialize;
use tillflow_core::error::CoreError;
use tillflow_core::kernels::buckets::OrderValueBuckets;
use tillflow_core::kernels::calendar::ShopCalendar;
use tillflow_core::kernels::distinct::ApproxDistinct;

fn polars_err(e: CoreError) -> PolarsError {
    PolarsError::ComputeError(e.to_string().into())
}

#[derive(Deserialize)]
struct DistinctKwargs {
    precision: u8,
}

/// The HyperLogLog++ estimate of the number of distinct non-null values.
fn approx_distinct(inputs: &[Series], kwargs: DistinctKwargs) -> PolarsResult<Series> {
    let s = &inputs[0];
    let k = ApproxDistinct::new(s.name(), kwargs.precision).map_err(polars_err)?;
    let estimate = k.estimate(&k.sketch(s).map_err(polars_err)?);
    Ok(Series::new(s.name().clone(), [estimate]))
}

#[derive(Deserialize)]
struct BucketKwargs {
    edges: Vec<String>,
    labels: Vec<String>,
}

/// The label of each amount's right-closed bucket (null below the first edge).
fn bucket(inputs: &[Series], kwargs: BucketKwargs) -> PolarsResult<Series> {
    let s = &inputs[0];
    let k = OrderValueBuckets::new(&kwargs.edges, &kwargs.labels, s.name()).map_err(polars_err)?;
    k.labels_of(s).map_err(polars_err)
}

#[derive(Deserialize)]
struct ShopDayKwargs {
    tz: String,
    day_start_seconds: i64,
}

/// The shop day of each timestamp: its date in `tz`, days starting `day_start_seconds` past midnight.
fn shop_day(inputs: &[Series], kwargs: ShopDayKwargs) -> PolarsResult<Series> {
    let s = &inputs[0];
    let cal = ShopCalendar::new(&kwargs.tz, Duration::seconds(kwargs.day_start_seconds))
        .map_err(polars_err)?;
    let days = cal.day_numbers(s).map_err(polars_err)?;
    Ok(Series::new(s.name().clone(), days).into_date())
}

thread_local! {
    /// The last call's error on this thread, which polars reads right after
    /// a call leaves its result empty.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// What polars reads after a failed call: the error's message, or `PANIC`
/// (polars' own word for a plugin that panicked).
fn keep_error(message: String) {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// The plugin ABI this extension speaks: polars' FFI version, major in the
/// high 16 bits.
#[no_mangle]
pub extern "C" fn _polars_plugin_get_version() -> u32 {
    let (major, minor) = polars_ffi::get_version();
    (u32::from(major) << 16) | u32::from(minor)
}

/// The message of this thread's last failed call, valid until the next.
#[no_mangle]
pub extern "C" fn _polars_plugin_get_last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// Writes what `f` makes to `out`; on an error or a panic `out` stays as
/// polars left it (empty) and the message is kept for polars to read.
///
/// # Safety
/// `out` points to a value polars owns for the call.
unsafe fn answer<T>(out: *mut T, f: impl FnOnce() -> PolarsResult<T>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(value)) => *out = value,
        Ok(Err(e)) => keep_error(e.to_string()),
        Err(_) => keep_error("PANIC".into()),
    }
}

/// An expression's keyword arguments, pickled by polars' Python side.
///
/// # Safety
/// `ptr` and `len` describe bytes polars owns for the call.
unsafe fn read_kwargs<'a, T: Deserialize<'a>>(ptr: *const u8, len: usize) -> PolarsResult<T> {
    let bytes = std::slice::from_raw_parts(ptr, len);
    serde_pickle::from_slice(bytes, Default::default()).map_err(
        |e| polars_err!(InvalidOperation: "could not read the plugin's keyword arguments: {e}"),
    )
}

/// The output field of an expression whose values are `dtype`, named after
/// its first input.
///
/// # Safety
/// `fields` points to `len` schemas polars owns for the call.
unsafe fn output_field(
    fields: *const ArrowSchema,
    len: usize,
    dtype: DataType,
) -> PolarsResult<ArrowSchema> {
    let first = std::slice::from_raw_parts(fields, len)
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "the expression has no input"))?;
    let input = Field::from(&import_field_from_c(first)?);
    let out = Field::new(input.name().clone(), dtype);
    Ok(export_field_to_c(&out.to_arrow(CompatLevel::newest())))
}

/// The two symbols of each expression `name(inputs, kwargs) -> dtype`.
macro_rules! expressions {
    ($($name:ident: $kwargs:ty => $dtype:expr;)*) => {$(
        pub mod $name {
            use super::*;

            /// # Safety
            /// Called by polars with the buffers of its plugin ABI.
            #[export_name = concat!("_polars_plugin_", stringify!($name))]
            pub unsafe extern "C" fn values(
                inputs: *mut SeriesExport,
                len: usize,
                kwargs_ptr: *const u8,
                kwargs_len: usize,
                out: *mut SeriesExport,
                _context: *mut CallerContext,
            ) {
                answer(out, || {
                    let inputs = import_series_buffer(inputs, len)?;
                    let kwargs: $kwargs = read_kwargs(kwargs_ptr, kwargs_len)?;
                    Ok(export_series(&super::$name(&inputs, kwargs)?))
                })
            }

            /// # Safety
            /// Called by polars with the buffers of its plugin ABI.
            #[export_name = concat!("_polars_plugin_field_", stringify!($name))]
            pub unsafe extern "C" fn field(
                fields: *mut ArrowSchema,
                len: usize,
                out: *mut ArrowSchema,
                _kwargs_ptr: *const u8,
                _kwargs_len: usize,
            ) {
                answer(out, || output_field(fields, len, $dtype))
            }
        }
    )*};
}

expressions! {
    approx_distinct: DistinctKwargs => DataType::Float64;
    bucket: BucketKwargs => DataType::String;
    shop_day: ShopDayKwargs => DataType::Date;
}
