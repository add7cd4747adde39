//! The metric kernels: frames in, partial states merged, frames out; the
//! work runs with the GIL released.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Duration, NaiveDate};
use pyo3::prelude::*;
use pyo3_polars::PyDataFrame;
use tillflow_core::kernels::buckets::{BucketState, OrderValueBuckets};
use tillflow_core::kernels::clv::{ClvState, LifetimeValue};
use tillflow_core::kernels::cohorts::{CohortRetention, CohortState};
use tillflow_core::kernels::daily::{DailyColumns, DailyState, DailySummary};
use tillflow_core::kernels::distinct::{ApproxDistinct, DistinctState};
use tillflow_core::kernels::items::ItemStream;
use tillflow_core::kernels::products::{ProductPerformance, ProductState};
use tillflow_core::kernels::rfm::{Rfm, RfmState};
use tillflow_core::kernels::segments::{CustomerSegments, SegmentState, Thresholds};
use tillflow_core::kernels::{Batch, Kernel};
use tillflow_core::CoreError;

use crate::errors::{detached, guard, guard_into, to_py};

/// A kernel's partial state: merge with `+`-like `merge`, finalize with the kernel.
#[pyclass(module = "tillflow._native", frozen)]
pub struct Partial {
    state: State,
}

#[derive(Clone)]
enum State {
    Clv(ClvState),
    Cohorts(CohortState),
    Daily(DailyState),
    Distinct(Box<DistinctState>),
    Products(ProductState),
    Rfm(RfmState),
    Buckets(BucketState),
    Segments(SegmentState),
}

/// An ISO date from Python (`date.isoformat()`).
fn day(field: &str, text: Option<String>) -> PyResult<Option<NaiveDate>> {
    text.map(|t| {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| {
            to_py(CoreError::config(
                field,
                format!("{t:?} is not a date (YYYY-MM-DD)"),
            ))
        })
    })
    .transpose()
}

/// A kernel state a [`Partial`] can hold.
trait Held: Clone + Sized {
    fn hold(self) -> Partial;
    fn held(p: &Partial) -> PyResult<&Self>;
}

macro_rules! held {
    ($($ty:ty => $variant:ident, $kind:literal;)*) => {$(
        impl Held for $ty {
            fn hold(self) -> Partial {
                Partial { state: State::$variant(self.into()) }
            }
            fn held(p: &Partial) -> PyResult<&Self> {
                match &p.state {
                    State::$variant(s) => Ok(<_ as std::borrow::Borrow<Self>>::borrow(s)),
                    _ => Err(wrong($kind)),
                }
            }
        }
    )*};
}

held! {
    ClvState => Clv, "customer_lifetime_value";
    CohortState => Cohorts, "cohort_retention";
    DailyState => Daily, "daily_summary";
    DistinctState => Distinct, "approx_distinct";
    ProductState => Products, "product_performance";
    RfmState => Rfm, "rfm";
    BucketState => Buckets, "order_value_buckets";
    SegmentState => Segments, "customer_segments";
}

/// Two states of `kernel` merged (either may be any state: a wrong one is an error).
fn merged<K: Kernel>(kernel: &K, a: &Partial, b: &Partial) -> PyResult<Partial>
where
    K::Partial: Held,
{
    Ok(kernel
        .merge(K::Partial::held(a)?.clone(), K::Partial::held(b)?.clone())
        .hold())
}

fn wrong(kind: &str) -> PyErr {
    to_py(CoreError::config(
        "partial",
        format!("not a partial state of {kind}"),
    ))
}

fn batch<'a>(orders: &'a PyDataFrame, items: &'a Option<PyDataFrame>) -> Batch<'a> {
    Batch {
        orders: &orders.0,
        line_items: items.as_ref().map(|i| &i.0),
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct DailyKernel {
    inner: DailySummary,
}

fn columns(names: HashMap<String, String>) -> PyResult<DailyColumns> {
    let mut c = DailyColumns::default();
    for (k, v) in names {
        let slot = match k.as_str() {
            "created_at" => &mut c.created_at,
            "total_price" => &mut c.total_price,
            "customer" => &mut c.customer,
            "order_id" => &mut c.order_id,
            "parent_id" => &mut c.parent_id,
            "title" => &mut c.title,
            "quantity" => &mut c.quantity,
            "price" => &mut c.price,
            other => {
                return Err(to_py(CoreError::config(
                    "columns",
                    format!("unknown column role {other:?}"),
                )))
            }
        };
        *slot = v;
    }
    Ok(c)
}

#[pymethods]
impl DailyKernel {
    #[new]
    #[pyo3(signature = (tz="UTC", day_start_seconds=0, columns=HashMap::new()))]
    fn new(tz: &str, day_start_seconds: i64, columns: HashMap<String, String>) -> PyResult<Self> {
        guard("DailyKernel.new", || {
            let inner = DailySummary::new(
                tz,
                Duration::seconds(day_start_seconds),
                self::columns(columns)?,
            )
            .map_err(to_py)?;
            Ok(DailyKernel { inner })
        })
    }

    #[pyo3(signature = (orders, line_items=None))]
    fn partial(
        &self,
        py: Python<'_>,
        orders: &Bound<'_, PyAny>,
        line_items: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Partial> {
        guard("DailyKernel.partial", || {
            let orders: PyDataFrame = orders.extract()?;
            let line_items: Option<PyDataFrame> = line_items.map(|f| f.extract()).transpose()?;
            let state = detached(py, || self.inner.partial(batch(&orders, &line_items)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("DailyKernel.merge", || merged(&self.inner, a, b))
    }

    #[pyo3(signature = (state, start=None, end=None))]
    fn summary(
        &self,
        py: Python<'_>,
        state: &Partial,
        start: Option<String>,
        end: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        guard_into(py, "DailyKernel.summary", || {
            let s = DailyState::held(state)?;
            let (start, end) = (day("start", start)?, day("end", end)?);
            self.inner
                .summary(s, start, end)
                .map(PyDataFrame)
                .map_err(to_py)
        })
    }

    /// The state of `orders` without line items, and a stream for their line
    /// items in batches.
    fn stream(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<LineItemStream> {
        guard("DailyKernel.stream", || {
            let orders: PyDataFrame = orders.extract()?;
            let (state, items) = detached(py, || self.inner.stream(&orders.0))?;
            Ok(LineItemStream {
                inner: Mutex::new(Some((state, items))),
            })
        })
    }

    #[pyo3(signature = (state, days=Some(30), end=None, top=Some(20)))]
    fn products(
        &self,
        py: Python<'_>,
        state: &Partial,
        days: Option<u32>,
        end: Option<String>,
        top: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        guard_into(py, "DailyKernel.products", || {
            let s = DailyState::held(state)?;
            let end = day("end", end)?;
            self.inner
                .products(s, days, end, top)
                .map(PyDataFrame)
                .map_err(to_py)
        })
    }

    #[pyo3(signature = (state, days=30, end=None, weekly=false))]
    fn trend(
        &self,
        py: Python<'_>,
        state: &Partial,
        days: u32,
        end: Option<String>,
        weekly: bool,
    ) -> PyResult<Py<PyAny>> {
        guard_into(py, "DailyKernel.trend", || {
            let s = DailyState::held(state)?;
            let end = day("end", end)?;
            self.inner
                .trend(s, days, end, weekly)
                .map(PyDataFrame)
                .map_err(to_py)
        })
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct BucketKernel {
    inner: OrderValueBuckets,
}

#[pymethods]
impl BucketKernel {
    #[new]
    fn new(edges: Vec<String>, labels: Vec<String>, column: &str) -> PyResult<Self> {
        guard("BucketKernel.new", || {
            let inner = OrderValueBuckets::new(&edges, &labels, column).map_err(to_py)?;
            Ok(BucketKernel { inner })
        })
    }

    fn partial(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<Partial> {
        guard("BucketKernel.partial", || {
            let orders: PyDataFrame = orders.extract()?;
            let state = detached(py, || self.inner.partial(Batch::orders(&orders.0)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("BucketKernel.merge", || merged(&self.inner, a, b))
    }

    fn finalize(&self, py: Python<'_>, state: &Partial) -> PyResult<Py<PyAny>> {
        guard_into(py, "BucketKernel.finalize", || {
            let s = BucketState::held(state)?;
            self.inner.finalize(s).map(PyDataFrame).map_err(to_py)
        })
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct SegmentKernel {
    inner: CustomerSegments,
}

#[pymethods]
impl SegmentKernel {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        vip_orders: u64,
        vip_spent: String,
        loyal_orders: u64,
        loyal_spent: String,
        regular_orders: u64,
        customer: &str,
        amount: &str,
    ) -> PyResult<Self> {
        guard("SegmentKernel.new", || {
            let t = Thresholds {
                vip_orders,
                vip_spent,
                loyal_orders,
                loyal_spent,
                regular_orders,
            };
            let inner = CustomerSegments::new(&t, customer, amount).map_err(to_py)?;
            Ok(SegmentKernel { inner })
        })
    }

    fn partial(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<Partial> {
        guard("SegmentKernel.partial", || {
            let orders: PyDataFrame = orders.extract()?;
            let state = detached(py, || self.inner.partial(Batch::orders(&orders.0)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("SegmentKernel.merge", || merged(&self.inner, a, b))
    }

    fn finalize(&self, py: Python<'_>, state: &Partial) -> PyResult<Py<PyAny>> {
        guard_into(py, "SegmentKernel.finalize", || {
            let s = SegmentState::held(state)?;
            self.inner.finalize(s).map(PyDataFrame).map_err(to_py)
        })
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct ProductKernel {
    inner: ProductPerformance,
}

#[pymethods]
impl ProductKernel {
    #[new]
    #[pyo3(signature = (tz="UTC", day_start_seconds=0, columns=HashMap::new()))]
    fn new(tz: &str, day_start_seconds: i64, columns: HashMap<String, String>) -> PyResult<Self> {
        guard("ProductKernel.new", || {
            let inner = ProductPerformance::new(
                tz,
                Duration::seconds(day_start_seconds),
                self::columns(columns)?,
            )
            .map_err(to_py)?;
            Ok(ProductKernel { inner })
        })
    }

    fn partial(
        &self,
        py: Python<'_>,
        orders: &Bound<'_, PyAny>,
        line_items: &Bound<'_, PyAny>,
    ) -> PyResult<Partial> {
        guard("ProductKernel.partial", || {
            let orders: PyDataFrame = orders.extract()?;
            let line_items: PyDataFrame = line_items.extract()?;
            let items = Some(line_items);
            let state = detached(py, || self.inner.partial(batch(&orders, &items)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("ProductKernel.merge", || merged(&self.inner, a, b))
    }

    #[pyo3(signature = (state, days=Some(30), end=None, top=Some(20)))]
    fn report(
        &self,
        py: Python<'_>,
        state: &Partial,
        days: Option<u32>,
        end: Option<String>,
        top: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        guard_into(py, "ProductKernel.report", || {
            let s = ProductState::held(state)?;
            let end = day("end", end)?;
            self.inner
                .report(s, days, end, top)
                .map(PyDataFrame)
                .map_err(to_py)
        })
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct DistinctKernel {
    inner: ApproxDistinct,
}

#[pymethods]
impl DistinctKernel {
    #[new]
    #[pyo3(signature = (column, precision=14))]
    fn new(column: &str, precision: u8) -> PyResult<Self> {
        guard("DistinctKernel.new", || {
            let inner = ApproxDistinct::new(column, precision).map_err(to_py)?;
            Ok(DistinctKernel { inner })
        })
    }

    fn partial(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Partial> {
        guard("DistinctKernel.partial", || {
            let data: PyDataFrame = data.extract()?;
            let state = detached(py, || self.inner.partial(Batch::orders(&data.0)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("DistinctKernel.merge", || merged(&self.inner, a, b))
    }

    fn estimate(&self, state: &Partial) -> PyResult<f64> {
        guard("DistinctKernel.estimate", || {
            let s = DistinctState::held(state)?;
            Ok(self.inner.estimate(s))
        })
    }

    #[getter]
    fn standard_error(&self) -> PyResult<f64> {
        guard("DistinctKernel.standard_error", || {
            Ok(self.inner.standard_error())
        })
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct CohortKernel {
    inner: CohortRetention,
}

#[pymethods]
impl CohortKernel {
    #[new]
    #[pyo3(signature = (tz="UTC", day_start_seconds=0, columns=HashMap::new()))]
    fn new(tz: &str, day_start_seconds: i64, columns: HashMap<String, String>) -> PyResult<Self> {
        guard("CohortKernel.new", || {
            let inner = CohortRetention::new(
                tz,
                Duration::seconds(day_start_seconds),
                self::columns(columns)?,
            )
            .map_err(to_py)?;
            Ok(CohortKernel { inner })
        })
    }

    fn partial(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<Partial> {
        guard("CohortKernel.partial", || {
            let orders: PyDataFrame = orders.extract()?;
            let state = detached(py, || self.inner.partial(Batch::orders(&orders.0)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("CohortKernel.merge", || merged(&self.inner, a, b))
    }

    fn finalize(&self, py: Python<'_>, state: &Partial) -> PyResult<Py<PyAny>> {
        guard_into(py, "CohortKernel.finalize", || {
            let s = CohortState::held(state)?;
            self.inner.finalize(s).map(PyDataFrame).map_err(to_py)
        })
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct RfmKernel {
    inner: Rfm,
}

#[pymethods]
impl RfmKernel {
    #[new]
    #[pyo3(signature = (tz="UTC", day_start_seconds=0, columns=HashMap::new()))]
    fn new(tz: &str, day_start_seconds: i64, columns: HashMap<String, String>) -> PyResult<Self> {
        guard("RfmKernel.new", || {
            let inner = Rfm::new(
                tz,
                Duration::seconds(day_start_seconds),
                self::columns(columns)?,
            )
            .map_err(to_py)?;
            Ok(RfmKernel { inner })
        })
    }

    fn partial(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<Partial> {
        guard("RfmKernel.partial", || {
            let orders: PyDataFrame = orders.extract()?;
            let state = detached(py, || self.inner.partial(Batch::orders(&orders.0)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("RfmKernel.merge", || merged(&self.inner, a, b))
    }

    #[pyo3(signature = (state, as_of=None))]
    fn table(&self, py: Python<'_>, state: &Partial, as_of: Option<String>) -> PyResult<Py<PyAny>> {
        guard_into(py, "RfmKernel.table", || {
            let s = RfmState::held(state)?;
            let as_of = day("as_of", as_of)?;
            self.inner.table(s, as_of).map(PyDataFrame).map_err(to_py)
        })
    }
}

#[pyclass(module = "tillflow._native", frozen)]
pub struct ClvKernel {
    inner: LifetimeValue,
}

#[pymethods]
impl ClvKernel {
    #[new]
    #[pyo3(signature = (tz="UTC", day_start_seconds=0, columns=HashMap::new()))]
    fn new(tz: &str, day_start_seconds: i64, columns: HashMap<String, String>) -> PyResult<Self> {
        guard("ClvKernel.new", || {
            let inner = LifetimeValue::new(
                tz,
                Duration::seconds(day_start_seconds),
                self::columns(columns)?,
            )
            .map_err(to_py)?;
            Ok(ClvKernel { inner })
        })
    }

    fn partial(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<Partial> {
        guard("ClvKernel.partial", || {
            let orders: PyDataFrame = orders.extract()?;
            let state = detached(py, || self.inner.partial(Batch::orders(&orders.0)))?;
            Ok(state.hold())
        })
    }

    fn merge(&self, a: &Partial, b: &Partial) -> PyResult<Partial> {
        guard("ClvKernel.merge", || merged(&self.inner, a, b))
    }

    #[pyo3(signature = (state, as_of=None, horizon_days=365))]
    fn table(
        &self,
        py: Python<'_>,
        state: &Partial,
        as_of: Option<String>,
        horizon_days: u32,
    ) -> PyResult<Py<PyAny>> {
        guard_into(py, "ClvKernel.table", || {
            let s = ClvState::held(state)?;
            let as_of = day("as_of", as_of)?;
            self.inner
                .table(s, as_of, horizon_days)
                .map(PyDataFrame)
                .map_err(to_py)
        })
    }
}

/// Line items pushed batch by batch into a daily state (`DailyKernel.stream`).
#[pyclass(module = "tillflow._native", frozen)]
pub struct LineItemStream {
    inner: Mutex<Option<(DailyState, ItemStream)>>,
}

#[pymethods]
impl LineItemStream {
    fn push(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<()> {
        guard("LineItemStream.push", || {
            let items: PyDataFrame = items.extract()?;
            let mut guard = self.inner.lock().map_err(|_| finished())?;
            let (_, stream) = guard.as_mut().ok_or_else(finished)?;
            detached(py, || stream.push(&items.0))
        })
    }

    /// The daily state with every line item pushed, or None when the items
    /// did not follow their orders' order (sum them in one batch instead).
    fn finish(&self, py: Python<'_>) -> PyResult<Option<Partial>> {
        guard("LineItemStream.finish", || {
            let taken = self.inner.lock().map_err(|_| finished())?.take();
            let (state, stream) = taken.ok_or_else(finished)?;
            let items = detached(py, || stream.finish())?;
            Ok(items.map(|items| state.with_items(items).hold()))
        })
    }
}

fn finished() -> PyErr {
    crate::errors::TillflowError::new_err("this line-item stream has finished")
}
