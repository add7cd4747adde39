//! The metric kernels: frames in, partial states merged, frames out; the
//! work runs with the GIL released.
//!
//! Every kernel class is written by [`kernel_class!`]: its core kernel, a
//! `merge`, and the methods it lists. The shared steps (a batch's state, a
//! merge, a finalized frame) are the generic functions below, each running
//! its work through [`detached`].

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Duration, NaiveDate};
use polars::prelude::DataFrame;
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
use tillflow_core::kernels::web::{WebState, WebTraffic};
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
    Web(Box<WebState>),
}

/// An ISO date from Python (`date.isoformat()`).
fn day(field: &str, text: Option<String>) -> tillflow_core::Result<Option<NaiveDate>> {
    text.map(|t| {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d")
            .map_err(|_| CoreError::config(field, format!("{t:?} is not a date (YYYY-MM-DD)")))
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
    WebState => Web, "web_traffic";
}

fn wrong(kind: &str) -> PyErr {
    to_py(CoreError::config(
        "partial",
        format!("not a partial state of {kind}"),
    ))
}

/// The state of one batch: `orders`, and their line items for kernels
/// that read them.
fn partial_of<K>(
    py: Python<'_>,
    what: &str,
    kernel: &K,
    orders: &Bound<'_, PyAny>,
    line_items: Option<&Bound<'_, PyAny>>,
) -> PyResult<Partial>
where
    K: Kernel + Sync,
    K::Partial: Held,
{
    guard(what, || {
        let orders: PyDataFrame = orders.extract()?;
        let items: Option<PyDataFrame> = line_items.map(|f| f.extract()).transpose()?;
        let batch = Batch {
            orders: &orders.0,
            line_items: items.as_ref().map(|i| &i.0),
        };
        Ok(detached(py, what, || kernel.partial(batch))?.hold())
    })
}

/// Two states of `kernel` merged (either may be any state: a wrong one is an error).
fn merged<K>(py: Python<'_>, what: &str, kernel: &K, a: &Partial, b: &Partial) -> PyResult<Partial>
where
    K: Kernel + Sync,
    K::Partial: Held + Sync,
{
    guard(what, || {
        let (a, b) = (K::Partial::held(a)?, K::Partial::held(b)?);
        let state = detached(py, what, || Ok(kernel.merge(a.clone(), b.clone())))?;
        Ok(state.hold())
    })
}

/// What `f` makes of the state of kind `S` that `state` holds.
fn finish<S, T>(
    py: Python<'_>,
    what: &str,
    state: &Partial,
    f: impl FnOnce(&S) -> tillflow_core::Result<T> + Send,
) -> PyResult<T>
where
    S: Held + Sync,
    T: Send,
{
    let s = S::held(state)?;
    detached(py, what, || f(s))
}

/// [`finish`] for a frame, handed over to Python.
fn frame<S: Held + Sync>(
    py: Python<'_>,
    what: &str,
    state: &Partial,
    f: impl FnOnce(&S) -> tillflow_core::Result<DataFrame> + Send,
) -> PyResult<Py<PyAny>> {
    guard_into(py, what, || finish(py, what, state, f).map(PyDataFrame))
}

/// The column roles `DailyKernel` and its kin read, by name.
fn column_roles(names: HashMap<String, String>) -> PyResult<DailyColumns> {
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

/// A kernel class over the core kernel `$core`: `merge`, then the methods
/// listed before the body (`new(calendar)`: a shop calendar and column
/// roles; `partial(arg)`: a state of one frame of orders passed as `arg`;
/// `finalize`: the kernel's frame; `titles(method)`: the best-selling
/// titles over the last days), then the body's own methods. The methods
/// are gathered first, since `#[pymethods]` takes one block.
macro_rules! kernel_class {
    ($class:ident($core:ident): $($rest:tt)*) => {
        kernel_class!(@gather $class $core [] $($rest)*);
    };
    (@gather $class:ident $core:ident [$($done:tt)*] new(calendar), $($rest:tt)*) => {
        kernel_class!(@gather $class $core [$($done)*
            #[new]
            #[pyo3(signature = (tz="UTC", day_start_seconds=0, columns=HashMap::new()))]
            fn new(
                tz: &str,
                day_start_seconds: i64,
                columns: HashMap<String, String>,
            ) -> PyResult<Self> {
                guard(concat!(stringify!($class), ".new"), || {
                    let day_start = Duration::seconds(day_start_seconds);
                    let inner = $core::new(tz, day_start, column_roles(columns)?).map_err(to_py)?;
                    Ok($class { inner })
                })
            }
        ] $($rest)*);
    };
    (@gather $class:ident $core:ident [$($done:tt)*] partial($arg:ident), $($rest:tt)*) => {
        kernel_class!(@gather $class $core [$($done)*
            fn partial(&self, py: Python<'_>, $arg: &Bound<'_, PyAny>) -> PyResult<Partial> {
                partial_of(py, concat!(stringify!($class), ".partial"), &self.inner, $arg, None)
            }
        ] $($rest)*);
    };
    (@gather $class:ident $core:ident [$($done:tt)*] titles($method:ident), $($rest:tt)*) => {
        kernel_class!(@gather $class $core [$($done)*
            #[pyo3(signature = (state, days=Some(30), end=None, top=Some(20)))]
            fn $method(
                &self,
                py: Python<'_>,
                state: &Partial,
                days: Option<u32>,
                end: Option<String>,
                top: Option<usize>,
            ) -> PyResult<Py<PyAny>> {
                let what = concat!(stringify!($class), ".", stringify!($method));
                frame(py, what, state, |s| {
                    self.inner.$method(s, days, day("end", end)?, top)
                })
            }
        ] $($rest)*);
    };
    (@gather $class:ident $core:ident [$($done:tt)*] finalize, $($rest:tt)*) => {
        kernel_class!(@gather $class $core [$($done)*
            fn finalize(&self, py: Python<'_>, state: &Partial) -> PyResult<Py<PyAny>> {
                frame(py, concat!(stringify!($class), ".finalize"), state, |s| {
                    self.inner.finalize(s)
                })
            }
        ] $($rest)*);
    };
    (@gather $class:ident $core:ident [$($done:tt)*] { $($own:tt)* }) => {
        #[pyclass(module = "tillflow._native", frozen)]
        pub struct $class {
            inner: $core,
        }

        #[pymethods]
        impl $class {
            $($done)*

            fn merge(&self, py: Python<'_>, a: &Partial, b: &Partial) -> PyResult<Partial> {
                merged(py, concat!(stringify!($class), ".merge"), &self.inner, a, b)
            }

            $($own)*
        }
    };
}

kernel_class! {
    DailyKernel(DailySummary): new(calendar), titles(products), {
        #[pyo3(signature = (orders, line_items=None))]
        fn partial(
            &self,
            py: Python<'_>,
            orders: &Bound<'_, PyAny>,
            line_items: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<Partial> {
            partial_of(py, "DailyKernel.partial", &self.inner, orders, line_items)
        }

        #[pyo3(signature = (state, start=None, end=None))]
        fn summary(
            &self,
            py: Python<'_>,
            state: &Partial,
            start: Option<String>,
            end: Option<String>,
        ) -> PyResult<Py<PyAny>> {
            frame(py, "DailyKernel.summary", state, |s| {
                self.inner.summary(s, day("start", start)?, day("end", end)?)
            })
        }

        /// The state of `orders` without line items, and a stream for their line
        /// items in batches.
        fn stream(&self, py: Python<'_>, orders: &Bound<'_, PyAny>) -> PyResult<LineItemStream> {
            guard("DailyKernel.stream", || {
                let orders: PyDataFrame = orders.extract()?;
                let (state, items) =
                    detached(py, "DailyKernel.stream", || self.inner.stream(&orders.0))?;
                Ok(LineItemStream {
                    inner: Mutex::new(Some((state, items))),
                })
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
            frame(py, "DailyKernel.trend", state, |s| {
                self.inner.trend(s, days, day("end", end)?, weekly)
            })
        }
    }
}

kernel_class! {
    BucketKernel(OrderValueBuckets): partial(orders), finalize, {
        #[new]
        fn new(edges: Vec<String>, labels: Vec<String>, column: &str) -> PyResult<Self> {
            guard("BucketKernel.new", || {
                let inner = OrderValueBuckets::new(&edges, &labels, column).map_err(to_py)?;
                Ok(BucketKernel { inner })
            })
        }
    }
}

kernel_class! {
    SegmentKernel(CustomerSegments): partial(orders), finalize, {
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
    }
}

kernel_class! {
    ProductKernel(ProductPerformance): new(calendar), titles(report), {
        fn partial(
            &self,
            py: Python<'_>,
            orders: &Bound<'_, PyAny>,
            line_items: &Bound<'_, PyAny>,
        ) -> PyResult<Partial> {
            partial_of(py, "ProductKernel.partial", &self.inner, orders, Some(line_items))
        }
    }
}

kernel_class! {
    DistinctKernel(ApproxDistinct): partial(data), {
        #[new]
        #[pyo3(signature = (column, precision=14))]
        fn new(column: &str, precision: u8) -> PyResult<Self> {
            guard("DistinctKernel.new", || {
                let inner = ApproxDistinct::new(column, precision).map_err(to_py)?;
                Ok(DistinctKernel { inner })
            })
        }

        fn estimate(&self, py: Python<'_>, state: &Partial) -> PyResult<f64> {
            let what = "DistinctKernel.estimate";
            guard(what, || finish(py, what, state, |s| Ok(self.inner.estimate(s))))
        }

        #[getter]
        fn standard_error(&self) -> PyResult<f64> {
            guard("DistinctKernel.standard_error", || Ok(self.inner.standard_error()))
        }
    }
}

kernel_class! {
    CohortKernel(CohortRetention): new(calendar), partial(orders), finalize, {}
}

kernel_class! {
    RfmKernel(Rfm): new(calendar), partial(orders), {
        #[pyo3(signature = (state, as_of=None))]
        fn table(
            &self,
            py: Python<'_>,
            state: &Partial,
            as_of: Option<String>,
        ) -> PyResult<Py<PyAny>> {
            frame(py, "RfmKernel.table", state, |s| {
                self.inner.table(s, day("as_of", as_of)?)
            })
        }
    }
}

kernel_class! {
    ClvKernel(LifetimeValue): new(calendar), partial(orders), {
        #[pyo3(signature = (state, as_of=None, horizon_days=365))]
        fn table(
            &self,
            py: Python<'_>,
            state: &Partial,
            as_of: Option<String>,
            horizon_days: u32,
        ) -> PyResult<Py<PyAny>> {
            frame(py, "ClvKernel.table", state, |s| {
                self.inner.table(s, day("as_of", as_of)?, horizon_days)
            })
        }
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
        let what = "LineItemStream.push";
        guard(what, || {
            let items: PyDataFrame = items.extract()?;
            let mut guard = self.inner.lock().map_err(|_| finished())?;
            let (_, stream) = guard.as_mut().ok_or_else(finished)?;
            detached(py, what, || stream.push(&items.0))
        })
    }

    /// The daily state with every line item pushed, or None when the items
    /// did not follow their orders' order (sum them in one batch instead).
    fn finish(&self, py: Python<'_>) -> PyResult<Option<Partial>> {
        let what = "LineItemStream.finish";
        guard(what, || {
            let taken = self.inner.lock().map_err(|_| finished())?.take();
            let (state, stream) = taken.ok_or_else(finished)?;
            let items = detached(py, what, || stream.finish())?;
            Ok(items.map(|items| state.with_items(items).hold()))
        })
    }
}

fn finished() -> PyErr {
    crate::errors::TillflowError::new_err("this line-item stream has finished")
}

kernel_class! {
    WebKernel(WebTraffic): partial(rows), finalize, {
        #[new]
        #[pyo3(signature = (tz="UTC", day_start_seconds=0))]
        fn new(tz: &str, day_start_seconds: i64) -> PyResult<Self> {
            guard("WebKernel.new", || {
                let inner = WebTraffic::new(tz, Duration::seconds(day_start_seconds)).map_err(to_py)?;
                Ok(WebKernel { inner })
            })
        }

        /// The `top` pages or referrers by page views.
        #[pyo3(signature = (state, by="pages", top=20))]
        fn top(&self, py: Python<'_>, state: &Partial, by: &str, top: usize) -> PyResult<Py<PyAny>> {
            frame(py, "WebKernel.top", state, |s| self.inner.top(s, by, top))
        }
    }
}
