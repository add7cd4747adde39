//! Polars expression plugins (`tillflow.expr`): tillflow's kernels as
//! expressions that polars' engine runs itself, per column or per group,
//! without the GIL. Errors surface as polars compute errors carrying the
//! core's message.

use chrono::Duration;
use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
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
#[polars_expr(output_type=Float64)]
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
#[polars_expr(output_type=String)]
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
#[polars_expr(output_type=Date)]
fn shop_day(inputs: &[Series], kwargs: ShopDayKwargs) -> PolarsResult<Series> {
    let s = &inputs[0];
    let cal = ShopCalendar::new(&kwargs.tz, Duration::seconds(kwargs.day_start_seconds))
        .map_err(polars_err)?;
    let days = cal.day_numbers(s).map_err(polars_err)?;
    Ok(Series::new(s.name().clone(), days).into_date())
}
