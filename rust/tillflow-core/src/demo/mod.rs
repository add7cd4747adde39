//! The demo shop: a local HTTP server with a Shopify-shaped Admin API over
//! deterministic synthetic data. `tillflow demo` runs the whole pipeline
//! against it offline; pointing the same pipeline at a real store is a
//! change of URL and token.

pub mod data;
pub mod estate;
mod shop;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{CoreError, Result};
use crate::http_server::{serve, ServerHandle};

pub use shop::API_VERSION;

/// Faults the shop can inject, for tests and demos of failure handling.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// After this many order pages, every order request gets this status.
    pub fail_after_pages: Option<(u64, u16)>,
    /// This order response (0-based, counting every request) is served cut
    /// in half: broken JSON behind a matching Content-Length.
    pub malformed_page: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct DemoShopConfig {
    pub orders: u64,
    pub seed: u64,
    pub token: String,
    pub host: String,
    pub port: u16,
    pub faults: Faults,
}

impl Default for DemoShopConfig {
    fn default() -> Self {
        DemoShopConfig {
            orders: 2_000,
            seed: 42,
            token: "shpat_demo".into(),
            host: "127.0.0.1".into(),
            port: 0,
            faults: Faults::default(),
        }
    }
}

/// A running demo shop. Stops when dropped.
pub struct DemoShop {
    server: ServerHandle,
    state: Arc<shop::State>,
}

impl DemoShop {
    pub fn start(config: DemoShopConfig) -> Result<Self> {
        if config.token.is_empty() {
            return Err(CoreError::config("token", "must not be empty"));
        }
        let state = Arc::new(shop::State::new(config.clone()));
        let handler_state = state.clone();
        let server = serve(
            &config.host,
            config.port,
            Arc::new(move |req| handler_state.handle(req)),
        )?;
        Ok(DemoShop { server, state })
    }

    /// `http://127.0.0.1:PORT`: the shop's base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Requests answered so far, any status.
    /// Refunds `count` orders now (see [`data::Shop::edit_orders`]); their ids.
    pub fn edit_orders(&self, count: u64) -> Vec<i64> {
        self.state.edit_orders(count)
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.server.stop();
    }
}

pub(crate) fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed)
}
