//! Rate budgets: a request waits for its turn instead of earning a 429.
//!
//! Two things decide when a request may go:
//! - a steady budget from the spec (`rate_limit`: so many requests per
//!   period, with a burst), kept by `governor`'s GCRA, which for a burst
//!   of B and one request per P is exactly a leaky bucket of size B leaking
//!   one request every P (Shopify's REST bucket of 40 leaking 2 a second);
//! - what the server says in its responses: `Retry-After`, Shopify's
//!   `X-Shopify-Shop-Api-Call-Limit`, `X-RateLimit-Remaining` with
//!   `X-RateLimit-Reset`, the IETF `RateLimit-*` fields (both the older
//!   `RateLimit-Remaining`/`RateLimit-Reset` pair and the structured
//!   `RateLimit: "policy";r=0;t=10`), Xero's `X-MinLimit-Remaining`, and a
//!   GraphQL query's cost in `extensions.cost.throttleStatus`. A spent
//!   budget pauses every request to that server until it refills.
//!
//! Limiters are shared by every resource that talks to the same origin
//! with the same credentials and budget, for the life of the process, so a
//! parent and its substream, or two resources of one source, spend one
//! budget between them, as the vendor counts it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::normalize::json::Json;

/// A budget as a spec writes it: `{requests = 100, per = "10s"}`, with an
/// optional `burst` (how many may go at once; 1 unless set, which never
/// exceeds the budget in any window of `per`, however the server counts).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub requests: u32,
    /// A duration (`"10s"`, `"1m"`) or seconds.
    pub per: Value,
    pub burst: Option<u32>,
    /// Read the server's rate-limit headers (and a GraphQL cost) and pause
    /// when they say the budget is spent (on unless turned off).
    #[serde(default = "yes")]
    pub adaptive: bool,
}

fn yes() -> bool {
    true
}

impl RateLimitSpec {
    pub fn validate(&self) -> Result<()> {
        if self.requests == 0 {
            return Err(CoreError::config(
                "rate_limit.requests",
                "must be at least 1",
            ));
        }
        let per = crate::sources::spec::duration_value(&self.per, "rate_limit.per")?;
        if per.is_zero() {
            return Err(CoreError::config(
                "rate_limit.per",
                "must be longer than zero",
            ));
        }
        if self.burst == Some(0) {
            return Err(CoreError::config("rate_limit.burst", "must be at least 1"));
        }
        Ok(())
    }

    fn quota(&self) -> Result<Quota> {
        let per = crate::sources::spec::duration_value(&self.per, "rate_limit.per")?;
        let one = per / self.requests.max(1);
        let burst = NonZeroU32::new(self.burst.unwrap_or(1).max(1)).expect("at least 1");
        Quota::with_period(one.max(Duration::from_nanos(1)))
            .map(|q| q.allow_burst(burst))
            .ok_or_else(|| CoreError::config("rate_limit.per", "must be longer than zero"))
    }
}

type Direct = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

/// One server's budget, shared by the requests that spend it.
pub struct Limiter {
    steady: Option<Direct>,
    clock: DefaultClock,
    adaptive: bool,
    /// No request starts before this (a spent budget, a Retry-After).
    paused_until: Mutex<Option<Instant>>,
    /// The steady rate in requests a second, for reading a leaky bucket's
    /// fill level as time (Shopify's header gives the level, not the rate).
    leak_per_sec: f64,
    /// The last GraphQL query's cost, what the next is likely to cost.
    last_cost: Mutex<Option<f64>>,
}

impl Limiter {
    pub fn new(spec: Option<&RateLimitSpec>) -> Result<Limiter> {
        let steady = match spec {
            Some(s) => {
                s.validate()?;
                Some(RateLimiter::direct(s.quota()?))
            }
            None => None,
        };
        let leak_per_sec = match spec {
            Some(s) => {
                let per = crate::sources::spec::duration_value(&s.per, "rate_limit.per")?;
                f64::from(s.requests) / per.as_secs_f64()
            }
            None => 2.0,
        };
        Ok(Limiter {
            steady,
            clock: DefaultClock::default(),
            adaptive: spec.is_none_or(|s| s.adaptive),
            paused_until: Mutex::new(None),
            leak_per_sec,
            last_cost: Mutex::new(None),
        })
    }

    /// The limiter for `key` (origin, credentials and budget), made once
    /// per process and shared.
    pub fn shared(key: &str, spec: Option<&RateLimitSpec>) -> Result<Arc<Limiter>> {
        static ALL: OnceLock<Mutex<HashMap<String, Arc<Limiter>>>> = OnceLock::new();
        let all = ALL.get_or_init(Default::default);
        let mut all = all.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = all.get(key) {
            return Ok(l.clone());
        }
        let made = Arc::new(Limiter::new(spec)?);
        all.insert(key.to_string(), made.clone());
        Ok(made)
    }

    /// Waits until a request may go.
    pub async fn acquire(&self) {
        loop {
            let pause = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = pause {
                let now = Instant::now();
                if until > now {
                    tokio::time::sleep(until - now).await;
                    continue;
                }
            }
            let Some(steady) = &self.steady else { return };
            match steady.check() {
                Ok(()) => return,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                }
            }
        }
    }

    /// Holds every request back for `wait` (at least).
    pub fn pause(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait;
        let mut p = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }

    /// Learns from a response's headers (any status); a pause they ask for
    /// is held to `cap` (the spec's `max_retry_after_secs`), as a retry's is.
    pub fn observe_headers(&self, headers: &HeaderMap, cap: Duration) {
        if !self.adaptive {
            return;
        }
        if let Some(wait) = wait_from_headers(headers, self.leak_per_sec, SystemTime::now()) {
            self.pause(wait.min(cap).min(MAX_PAUSE));
        }
    }

    /// Learns from a GraphQL body's `extensions.cost`.
    pub fn observe_cost(&self, body: &[u8]) {
        if !self.adaptive || !contains(body, b"throttleStatus") {
            return;
        }
        let Ok(doc) = Json::parse(body) else { return };
        let Some(cost) = QueryCost::read(&doc) else {
            return;
        };
        // The next query will likely cost what this one asked for.
        let next = {
            let mut last = self.last_cost.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cost.requested {
                *last = Some(c);
            }
            last.unwrap_or(0.0)
        };
        if let Some(d) = cost.wait_for(next) {
            self.pause(d);
        }
    }
}

/// A GraphQL answer's `extensions.cost` (Shopify's): the points the query
/// asked for, and the bucket's points available and restore rate.
pub struct QueryCost {
    pub requested: Option<f64>,
    available: f64,
    restore_rate: f64,
}

impl QueryCost {
    pub fn read(doc: &Json<'_>) -> Option<QueryCost> {
        let num = |path: &str| -> Option<f64> {
            match doc.lookup(path)? {
                Json::Int(i) => Some(*i as f64),
                Json::UInt(u) => Some(*u as f64),
                Json::Float(f) => Some(*f),
                _ => None,
            }
        };
        Some(QueryCost {
            requested: num("extensions.cost.requestedQueryCost")
                .or_else(|| num("extensions.cost.actualQueryCost")),
            available: num("extensions.cost.throttleStatus.currentlyAvailable")?,
            restore_rate: num("extensions.cost.throttleStatus.restoreRate")
                .filter(|r| *r > 0.0 && r.is_finite())?,
        })
    }

    /// How long until `points` are available (zero when they are), at most
    /// [`MAX_PAUSE`].
    pub fn wait_for(&self, points: f64) -> Option<Duration> {
        let secs =
            ((points - self.available).max(0.0) / self.restore_rate).min(MAX_PAUSE.as_secs_f64());
        Duration::try_from_secs_f64(secs).ok()
    }
}

/// A pause read from a server is capped here; a longer one is more likely
/// a misread header than a real budget.
const MAX_PAUSE: Duration = Duration::from_secs(3600);

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A reset as servers write it: seconds from now, a Unix time in seconds,
/// or one in milliseconds.
fn reset_wait(value: f64, now: SystemTime) -> Duration {
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let secs = if value > 1e12 {
        value / 1000.0 - now_secs
    } else if value > 1e9 {
        value - now_secs
    } else {
        value
    };
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(MAX_PAUSE)
}

/// How long the server's headers say to hold back, if at all.
pub fn wait_from_headers(
    headers: &HeaderMap,
    leak_per_sec: f64,
    now: SystemTime,
) -> Option<Duration> {
    let mut waits = Vec::new();
    // Shopify REST: "32/40", the bucket's level and size.
    if let Some(level) = header(headers, "x-shopify-shop-api-call-limit") {
        if let Some((used, size)) = level.split_once('/') {
            if let (Some(used), Some(size)) = (number(used), number(size)) {
                // Keep a little headroom for requests already on their way.
                let full = size - 2.0;
                if used >= full && leak_per_sec > 0.0 {
                    waits.push(Duration::from_secs_f64((used - full + 1.0) / leak_per_sec));
                }
            }
        }
    }
    // X-RateLimit-Remaining / -Reset and the IETF draft's RateLimit-Remaining / -Reset.
    for (remaining, reset) in [
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("ratelimit-remaining", "ratelimit-reset"),
    ] {
        if let Some(left) = header(headers, remaining).and_then(number) {
            if left <= 0.0 {
                let wait = header(headers, reset)
                    .and_then(number)
                    .map(|r| reset_wait(r, now))
                    .unwrap_or(Duration::from_secs(1));
                waits.push(wait);
            }
        }
    }
    // The structured field: RateLimit: "default";r=0;t=30 (and the older
    // "limit=100, remaining=0, reset=30").
    if let Some(text) = header(headers, "ratelimit") {
        let mut left = None;
        let mut reset = None;
        for part in text.split([';', ',']) {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            match k.trim() {
                "r" | "remaining" => left = number(v),
                "t" | "reset" => reset = number(v),
                _ => {}
            }
        }
        if left.is_some_and(|l| l <= 0.0) {
            waits.push(Duration::from_secs_f64(
                reset.unwrap_or(1.0).clamp(0.0, 3600.0),
            ));
        }
    }
    // HubSpot: remaining in the current interval, and the interval's length.
    if let Some(left) = header(headers, "x-hubspot-ratelimit-remaining").and_then(number) {
        if left <= 0.0 {
            let ms = header(headers, "x-hubspot-ratelimit-interval-milliseconds")
                .and_then(number)
                .unwrap_or(10_000.0);
            waits.push(Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0)));
        }
    }
    // Xero: calls left this minute.
    if let Some(left) = header(headers, "x-minlimit-remaining").and_then(number) {
        if left <= 0.0 {
            waits.push(Duration::from_secs(60));
        }
    }
    if let Some(retry) = crate::sources::http::client::parse_retry_after(headers) {
        waits.push(retry);
    }
    waits.into_iter().max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn headers_that_say_the_budget_is_spent() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let w = |pairs| wait_from_headers(&headers(pairs), 2.0, now);
        assert_eq!(w(&[("x-shopify-shop-api-call-limit", "10/40")]), None);
        assert_eq!(
            w(&[("x-shopify-shop-api-call-limit", "39/40")]),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            w(&[("x-ratelimit-remaining", "5"), ("x-ratelimit-reset", "9")]),
            None
        );
        assert_eq!(
            w(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "9")]),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            w(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000030")
            ]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            w(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000004000")
            ]),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            w(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "12")]),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            w(&[("ratelimit", "\"default\";r=0;t=7")]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(w(&[("ratelimit", "limit=100, remaining=3, reset=7")]), None);
        assert_eq!(
            w(&[
                ("x-hubspot-ratelimit-remaining", "0"),
                ("x-hubspot-ratelimit-interval-milliseconds", "10000")
            ]),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            w(&[("x-minlimit-remaining", "0")]),
            Some(Duration::from_secs(60))
        );
        assert_eq!(w(&[("retry-after", "3")]), Some(Duration::from_secs(3)));
        assert_eq!(
            w(&[
                ("retry-after", "3"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "5")
            ]),
            Some(Duration::from_secs(5)),
            "the longest wait wins"
        );
        assert_eq!(w(&[("x-ratelimit-remaining", "many")]), None);
    }

    #[test]
    fn a_budget_is_checked() {
        let spec = |requests, per: Value, burst| RateLimitSpec {
            requests,
            per,
            burst,
            adaptive: true,
        };
        assert!(spec(0, "1s".into(), None).validate().is_err());
        assert!(spec(1, "0s".into(), None).validate().is_err());
        assert!(spec(1, "soon".into(), None).validate().is_err());
        assert!(spec(1, "1s".into(), Some(0)).validate().is_err());
        assert!(spec(100, "10s".into(), None).validate().is_ok());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_steady_budget_spaces_requests() {
        let spec = RateLimitSpec {
            requests: 10,
            per: "1s".into(),
            burst: Some(3),
            adaptive: true,
        };
        let limiter = Limiter::new(Some(&spec)).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        limiter.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "after the burst, one request per 100 ms"
        );
        limiter.pause(Duration::from_millis(300));
        let paused = Instant::now();
        limiter.acquire().await;
        assert!(
            paused.elapsed() >= Duration::from_millis(300),
            "a pause holds requests back"
        );
    }

    #[test]
    fn a_graphql_cost_pauses_until_the_next_query_fits() {
        let limiter = Limiter::new(None).unwrap();
        let body = br#"{"data":{},"extensions":{"cost":{"requestedQueryCost":100,"actualQueryCost":80,
            "throttleStatus":{"maximumAvailable":1000,"currentlyAvailable":40,"restoreRate":50}}}}"#;
        limiter.observe_cost(body);
        let until = limiter.paused_until.lock().unwrap().unwrap();
        let wait = until - Instant::now();
        assert!(
            wait > Duration::from_millis(1000) && wait <= Duration::from_millis(1200),
            "{wait:?}"
        );
    }
}
