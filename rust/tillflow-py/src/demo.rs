//! The demo shop server, started from Python.

use pyo3::prelude::*;
use tillflow_core::demo::estate::{Estate as CoreEstate, EstateConfig, Sizes};
use tillflow_core::demo::{DemoShop as CoreShop, DemoShopConfig, Faults, API_VERSION};

use crate::errors::{detached, guard};

/// A Shopify-shaped shop on 127.0.0.1. Stops on `stop()`, at the end of a
/// `with` block, or when collected.
#[pyclass(module = "tillflow._native")]
pub struct DemoShop {
    inner: Option<CoreShop>,
    url: String,
    port: u16,
    orders: u64,
}

#[pymethods]
impl DemoShop {
    #[new]
    #[pyo3(signature = (orders=2000, *, seed=42, token="shpat_demo".to_string(), host="127.0.0.1".to_string(), port=0, fail_after_pages=None, fail_status=500, malformed_page=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        orders: u64,
        seed: u64,
        token: String,
        host: String,
        port: u16,
        fail_after_pages: Option<u64>,
        fail_status: u16,
        malformed_page: Option<u64>,
    ) -> PyResult<Self> {
        guard("DemoShop.new", || {
            let config = DemoShopConfig {
                orders,
                seed,
                token,
                host,
                port,
                faults: Faults {
                    fail_after_pages: fail_after_pages.map(|n| (n, fail_status)),
                    malformed_page,
                },
            };
            let shop = detached(py, "DemoShop.new", move || CoreShop::start(config))?;
            Ok(DemoShop {
                url: shop.url(),
                port: shop.port(),
                orders,
                inner: Some(shop),
            })
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:54321`.
    #[getter]
    fn url(&self) -> PyResult<&str> {
        guard("DemoShop.url", || Ok(self.url.as_str()))
    }

    #[getter]
    fn port(&self) -> PyResult<u16> {
        guard("DemoShop.port", || Ok(self.port))
    }

    #[getter]
    fn orders(&self) -> PyResult<u64> {
        guard("DemoShop.orders", || Ok(self.orders))
    }

    #[getter]
    fn api_version(&self) -> PyResult<&'static str> {
        guard("DemoShop.api_version", || Ok(API_VERSION))
    }

    /// Refunds `count` orders now: each gets financial_status "refunded" and
    /// an updated_at after every order so far. Returns their ids.
    fn edit_orders(&self, count: u64) -> PyResult<Vec<i64>> {
        guard("DemoShop.edit_orders", || match &self.inner {
            Some(shop) => Ok(shop.edit_orders(count)),
            None => Err(crate::errors::TillflowError::new_err(
                "the demo shop has stopped",
            )),
        })
    }

    /// Requests answered so far.
    #[getter]
    fn requests(&self) -> PyResult<u64> {
        guard("DemoShop.requests", || {
            Ok(self.inner.as_ref().map_or(0, |s| s.requests()))
        })
    }

    fn stop(&mut self, py: Python<'_>) -> PyResult<()> {
        let what = "DemoShop.stop";
        guard(what, || match self.inner.take() {
            Some(s) => detached(py, what, || {
                s.stop();
                Ok(())
            }),
            None => Ok(()),
        })
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        guard("DemoShop.__enter__", || Ok(slf))
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<()> {
        self.stop(py)
    }

    fn __repr__(&self) -> PyResult<String> {
        guard("DemoShop.__repr__", || {
            Ok(format!(
                "DemoShop(url={:?}, orders={}, running={})",
                self.url,
                self.orders,
                if self.inner.is_some() {
                    "True"
                } else {
                    "False"
                }
            ))
        })
    }
}

/// Every demo vendor server (Stripe, HubSpot, Zendesk, …) on 127.0.0.1 over
/// one business's data. Stops on `stop()`, at the end of a `with` block, or
/// when collected. Vendor details and answers cross as JSON text.
#[pyclass(module = "tillflow._native")]
pub struct DemoEstate {
    inner: Option<CoreEstate>,
}

impl DemoEstate {
    fn estate(&self) -> PyResult<&CoreEstate> {
        self.inner
            .as_ref()
            .ok_or_else(|| crate::errors::TillflowError::new_err("the demo estate has stopped"))
    }
}

#[pymethods]
impl DemoEstate {
    #[new]
    #[pyo3(signature = (*, seed=42, customers=400, orders=2000, host="127.0.0.1".to_string(), limits=true, access_token_secs=None, manual_clock=false, latency_ms=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        seed: u64,
        customers: u64,
        orders: u64,
        host: String,
        limits: bool,
        access_token_secs: Option<u64>,
        manual_clock: bool,
        latency_ms: u64,
    ) -> PyResult<Self> {
        guard("DemoEstate.new", || {
            let config = EstateConfig {
                seed,
                sizes: Sizes { customers, orders },
                host,
                limits,
                access_token_secs,
                manual_clock,
                latency_ms,
            };
            let estate = detached(py, "DemoEstate.new", move || CoreEstate::start(config))?;
            Ok(DemoEstate {
                inner: Some(estate),
            })
        })
    }

    /// Each vendor's name, url, token_url and credentials, as a JSON list.
    fn vendors_json(&self) -> PyResult<String> {
        guard("DemoEstate.vendors_json", || {
            serde_json::to_string(&self.estate()?.vendors())
                .map_err(|e| crate::errors::InternalError::new_err(e.to_string()))
        })
    }

    /// (requests, throttled) answered by one vendor so far.
    fn counters(&self, vendor: &str) -> PyResult<(u64, u64)> {
        guard("DemoEstate.counters", || {
            self.estate()?
                .counters(vendor)
                .map_err(crate::errors::to_py)
        })
    }

    /// Records per `vendor.resource`.
    fn counts(&self) -> PyResult<std::collections::BTreeMap<String, u64>> {
        guard("DemoEstate.counts", || Ok(self.estate()?.counts()))
    }

    /// Store revenue per customer against Stripe and PayPal, with the
    /// mismatching orders, as JSON.
    fn reconciliation_json(&self, py: Python<'_>) -> PyResult<String> {
        let what = "DemoEstate.reconciliation_json";
        guard(what, || {
            let estate = self.estate()?;
            let rec = detached(py, what, || Ok(estate.reconciliation()))?;
            serde_json::to_string(&rec)
                .map_err(|e| crate::errors::InternalError::new_err(e.to_string()))
        })
    }

    /// A fresh refresh token for a vendor whose tokens rotate.
    fn authorize(&self, vendor: &str) -> PyResult<String> {
        guard("DemoEstate.authorize", || {
            self.estate()?
                .authorize(vendor)
                .map_err(crate::errors::to_py)
        })
    }

    /// Changes a vendor's data: `change("zendesk", "reply", 7)` adds a
    /// comment to ticket 7.
    fn change(&self, vendor: &str, what: &str, id: u64) -> PyResult<()> {
        guard("DemoEstate.change", || {
            self.estate()?
                .change(vendor, what, id)
                .map_err(crate::errors::to_py)
        })
    }

    /// Moves the estate's clock on by `seconds`.
    fn advance(&self, seconds: f64) -> PyResult<()> {
        guard("DemoEstate.advance", || {
            self.estate()?.advance(seconds);
            Ok(())
        })
    }

    fn stop(&mut self, py: Python<'_>) -> PyResult<()> {
        let what = "DemoEstate.stop";
        guard(what, || match self.inner.take() {
            Some(e) => detached(py, what, || {
                e.stop();
                Ok(())
            }),
            None => Ok(()),
        })
    }

    #[getter]
    fn running(&self) -> PyResult<bool> {
        guard("DemoEstate.running", || Ok(self.inner.is_some()))
    }
}
