//! The demo SaaS estate: one small business's data served by a local server
//! per vendor (Stripe, HubSpot, Zendesk, Shopify GraphQL, QuickBooks, Xero,
//! …), each in that vendor's documented shapes: paths, auth, paging, limits
//! with their headers, and error bodies. Vendor presets are tested against
//! it offline; the expected answers come from [`answers`].
//!
//! Every vendor shares one [`data::World`], so the same customers (by email)
//! appear everywhere and cross-source questions have known answers.

pub mod answers;
pub mod data;
pub mod ga4;
pub mod hubspot;
mod hubspot_search;
pub mod limits;
pub mod mailchimp;
pub mod oauth;
pub mod paypal;
pub mod quickbooks;
pub mod shopify_graphql;
mod shopify_query;
pub mod square;
pub mod stripe;
pub mod woocommerce;
pub mod xero;
pub mod zendesk;

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::{CoreError, Result};
use crate::http_server::{serve, Handler, Reply, Request, ServerHandle};

pub use data::{Sizes, World};

/// The estate's sense of time: real, or moved only by [`Clock::advance`]
/// (for tests of windows and token expiry that must not depend on speed).
#[derive(Debug)]
pub struct Clock {
    manual: bool,
    origin: Instant,
    unix_origin_ms: u64,
    offset_ms: AtomicU64,
}

impl Clock {
    pub fn new(manual: bool) -> Self {
        let unix_origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Clock {
            manual,
            origin: Instant::now(),
            unix_origin_ms,
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the estate started.
    pub fn now_ms(&self) -> u64 {
        let real = if self.manual {
            0
        } else {
            self.origin.elapsed().as_millis() as u64
        };
        real + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch, on this clock.
    pub fn unix(&self) -> i64 {
        ((self.unix_origin_ms + self.now_ms()) / 1000) as i64
    }

    pub fn advance(&self, ms: u64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone)]
pub struct EstateConfig {
    pub seed: u64,
    pub sizes: Sizes,
    pub host: String,
    /// Enforce each vendor's documented rate limits (429 past them).
    pub limits: bool,
    /// Lifetime of OAuth access tokens (QuickBooks, Xero, PayPal, Google);
    /// `None` keeps each vendor's documented lifetime.
    pub access_token_secs: Option<u64>,
    /// Time moves only through [`Estate::advance`].
    pub manual_clock: bool,
    /// Added to every answer, as a real API's latency (requests then
    /// overlap, and Mailchimp's cap on simultaneous connections shows).
    pub latency_ms: u64,
}

impl Default for EstateConfig {
    fn default() -> Self {
        EstateConfig {
            seed: 42,
            sizes: Sizes::default(),
            host: "127.0.0.1".into(),
            limits: true,
            access_token_secs: None,
            manual_clock: false,
            latency_ms: 0,
        }
    }
}

/// Requests and throttled answers (429s, and Shopify's THROTTLED) seen by
/// one vendor.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
}

/// What a client needs to talk to one vendor.
#[derive(Debug, Clone, Serialize)]
pub struct VendorInfo {
    pub name: &'static str,
    /// Base URL: `http://127.0.0.1:PORT` plus any fixed prefix the vendor's
    /// hosts carry (none so far: paths start at the API's own root).
    pub url: String,
    /// OAuth token endpoint, for vendors that have one.
    pub token_url: Option<String>,
    /// Demo credentials and account ids, by the vendor's own names.
    pub credentials: BTreeMap<&'static str, String>,
}

/// Shared by every vendor server.
pub struct Ctx {
    pub world: World,
    pub config: EstateConfig,
    pub clock: Arc<Clock>,
}

/// One vendor's server: its routes and its demo credentials.
pub trait Vendor: Send + Sync {
    fn name(&self) -> &'static str;
    fn handle(&self, req: &Request, counters: &Counters) -> Reply;
    /// Demo credentials and account ids (a rotating app's, unless the
    /// vendor says otherwise).
    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        self.rotating()
            .map(oauth::RotatingApp::credentials)
            .unwrap_or_default()
    }
    /// The OAuth app of a vendor whose refresh tokens rotate.
    fn rotating(&self) -> Option<&oauth::RotatingApp> {
        None
    }
    /// The token endpoint's path, for vendors with OAuth.
    fn token_path(&self) -> Option<&'static str> {
        self.rotating().map(|app| app.token_path)
    }
    /// A fresh refresh token, as if the app were authorized again, for
    /// vendors whose refresh tokens rotate.
    fn authorize(&self) -> Option<String> {
        self.rotating().and_then(oauth::RotatingApp::authorize)
    }
    /// Changes the vendor's data as a user of its app would (`what` names
    /// the change, `id` the record), for tests of incremental runs.
    fn change(&self, what: &str, _id: u64) -> Result<()> {
        Err(CoreError::config(
            "change",
            format!("{} takes no changes ({what:?} asked)", self.name()),
        ))
    }
}

struct Running {
    vendor: Arc<dyn Vendor>,
    server: ServerHandle,
    counters: Arc<Counters>,
}

/// Every vendor's server, running. Stops when dropped.
pub struct Estate {
    ctx: Arc<Ctx>,
    running: Vec<Running>,
}

impl Estate {
    pub fn start(config: EstateConfig) -> Result<Self> {
        if config.sizes.customers == 0 || config.sizes.orders == 0 {
            return Err(CoreError::config(
                "sizes",
                "customers and orders must both be at least 1",
            ));
        }
        let ctx = Arc::new(Ctx {
            world: World::new(config.seed, config.sizes),
            clock: Arc::new(Clock::new(config.manual_clock)),
            config: config.clone(),
        });
        let vendors: Vec<Arc<dyn Vendor>> = vec![
            Arc::new(stripe::Stripe::new(ctx.clone())),
            Arc::new(hubspot::HubSpot::new(ctx.clone())),
            Arc::new(zendesk::Zendesk::new(ctx.clone())),
            Arc::new(shopify_graphql::ShopifyGraphql::new(ctx.clone())),
            Arc::new(quickbooks::QuickBooks::new(ctx.clone())),
            Arc::new(xero::Xero::new(ctx.clone())),
            Arc::new(woocommerce::WooCommerce::new(ctx.clone())),
            Arc::new(paypal::PayPal::new(ctx.clone())),
            Arc::new(square::Square::new(ctx.clone())),
            Arc::new(mailchimp::Mailchimp::new(ctx.clone())),
            Arc::new(ga4::Ga4::new(ctx.clone())),
        ];
        let mut running = Vec::new();
        for vendor in vendors {
            let counters = Arc::new(Counters::default());
            let (v, c) = (vendor.clone(), counters.clone());
            let latency = config.latency_ms;
            let handler: Handler = Arc::new(move |req: &Request| {
                c.requests.fetch_add(1, Ordering::Relaxed);
                let reply = v.handle(req, &c);
                if reply.status() == Some(429) {
                    c.throttled.fetch_add(1, Ordering::Relaxed);
                }
                if latency > 0 {
                    reply.delayed(std::time::Duration::from_millis(latency))
                } else {
                    reply
                }
            });
            let server = serve(&config.host, 0, handler)?;
            running.push(Running {
                vendor,
                server,
                counters,
            });
        }
        Ok(Estate { ctx, running })
    }

    pub fn world(&self) -> &World {
        &self.ctx.world
    }

    /// Vendor names, in the order they started.
    pub fn vendor_names(&self) -> Vec<&'static str> {
        self.running.iter().map(|r| r.vendor.name()).collect()
    }

    fn find(&self, name: &str) -> Result<&Running> {
        self.running
            .iter()
            .find(|r| r.vendor.name() == name)
            .ok_or_else(|| {
                CoreError::config(
                    "vendor",
                    format!(
                        "no vendor {name:?}; the estate serves {:?}",
                        self.vendor_names()
                    ),
                )
            })
    }

    pub fn vendor(&self, name: &str) -> Result<VendorInfo> {
        let r = self.find(name)?;
        let url = r.server.url();
        Ok(VendorInfo {
            name: r.vendor.name(),
            token_url: r.vendor.token_path().map(|p| format!("{url}{p}")),
            credentials: r.vendor.credentials(&url),
            url,
        })
    }

    pub fn vendors(&self) -> Vec<VendorInfo> {
        self.vendor_names()
            .into_iter()
            .filter_map(|n| self.vendor(n).ok())
            .collect()
    }

    /// (requests, throttled) answered by a vendor so far.
    pub fn counters(&self, name: &str) -> Result<(u64, u64)> {
        let c = &self.find(name)?.counters;
        Ok((
            c.requests.load(Ordering::Relaxed),
            c.throttled.load(Ordering::Relaxed),
        ))
    }

    /// A new refresh token for `name` (QuickBooks, Xero), as completing the
    /// vendor's consent screen again would give: clients that each keep
    /// their own token file can each start from one.
    pub fn authorize(&self, name: &str) -> Result<String> {
        self.find(name)?.vendor.authorize().ok_or_else(|| {
            CoreError::config(
                "vendor",
                format!("{name} has no refresh tokens to hand out"),
            )
        })
    }

    /// Changes one vendor's data (see [`Vendor::change`]); `counts` keep
    /// describing the data as generated.
    pub fn change(&self, vendor: &str, what: &str, id: u64) -> Result<()> {
        self.find(vendor)?.vendor.change(what, id)
    }

    /// Moves the estate's clock on (rate windows refill, tokens expire).
    pub fn advance(&self, secs: f64) {
        self.ctx.clock.advance((secs.max(0.0) * 1000.0) as u64);
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        answers::counts(&self.ctx.world)
    }

    pub fn reconciliation(&self) -> answers::Reconciliation {
        answers::reconciliation(&self.ctx.world)
    }

    pub fn stop(&self) {
        for r in &self.running {
            r.server.stop();
        }
    }
}
