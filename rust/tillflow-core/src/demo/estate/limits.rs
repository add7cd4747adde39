//! Server-side rate limits, kept per credential, in the forms vendors
//! document: a fixed window (QuickBooks' and Zendesk's minute, daily
//! counts), a sliding window (HubSpot's rolling ten seconds, Xero's
//! minute, HubSpot search's second), a leaky bucket of points
//! (Shopify GraphQL's query cost, Stripe's requests a second) and a cap on
//! requests in flight (Mailchimp's simultaneous connections, GA4's
//! concurrent requests).
//!
//! Times are milliseconds on the estate's [`Clock`](super::Clock). With
//! `enforce` off a limiter still counts (so headers stay truthful) but
//! never refuses.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        limit: u64,
        /// Requests left in the window after this one.
        remaining: u64,
        /// Until the window (or its oldest request) frees a slot.
        reset_ms: u64,
    },
    Denied {
        limit: u64,
        retry_after_ms: u64,
    },
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// Whole seconds to wait, at least 1: what `Retry-After` carries.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Decision::Denied { retry_after_ms, .. } => retry_after_ms.div_ceil(1000).max(1),
            Decision::Allowed { .. } => 0,
        }
    }

    pub fn remaining(&self) -> u64 {
        match self {
            Decision::Allowed { remaining, .. } => *remaining,
            Decision::Denied { .. } => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Counts reset when the window that opened with the first request ends.
    Fixed,
    /// At most `limit` requests in any span of `window_ms`.
    Sliding,
}

/// `limit` requests per `window_ms`, per key.
#[derive(Debug)]
pub struct Window {
    pub limit: u64,
    pub window_ms: u64,
    kind: WindowKind,
    enforce: bool,
    keys: Mutex<HashMap<String, VecDeque<u64>>>,
}

impl Window {
    pub fn new(kind: WindowKind, limit: u64, window_ms: u64, enforce: bool) -> Self {
        Window {
            limit,
            window_ms,
            kind,
            enforce,
            keys: Mutex::default(),
        }
    }

    pub fn check(&self, key: &str, now: u64) -> Decision {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let log = keys.entry(key.to_string()).or_default();
        match self.kind {
            WindowKind::Sliding => {
                while log.front().is_some_and(|&t| t + self.window_ms <= now) {
                    log.pop_front();
                }
            }
            WindowKind::Fixed => {
                // The window opened at the first request kept in the log.
                if log.front().is_some_and(|&t| t + self.window_ms <= now) {
                    log.clear();
                }
            }
        }
        let reset_ms = log
            .front()
            .map_or(self.window_ms, |&t| t + self.window_ms - now);
        if log.len() as u64 >= self.limit && self.enforce {
            return Decision::Denied {
                limit: self.limit,
                retry_after_ms: reset_ms,
            };
        }
        log.push_back(now);
        if log.len() as u64 > self.limit {
            // Not enforced: keep the log bounded.
            log.pop_front();
        }
        Decision::Allowed {
            limit: self.limit,
            remaining: self.limit.saturating_sub(log.len() as u64),
            reset_ms,
        }
    }
}

/// A bucket of points that drains at `restore_per_sec` back towards
/// `capacity`, per key (Shopify's calculated query cost).
#[derive(Debug)]
pub struct LeakyBucket {
    pub capacity: f64,
    pub restore_per_sec: f64,
    enforce: bool,
    keys: Mutex<HashMap<String, (f64, u64)>>,
}

impl LeakyBucket {
    pub fn new(capacity: f64, restore_per_sec: f64, enforce: bool) -> Self {
        LeakyBucket {
            capacity,
            restore_per_sec,
            enforce,
            keys: Mutex::default(),
        }
    }

    fn level<'a>(
        &self,
        keys: &'a mut HashMap<String, (f64, u64)>,
        key: &str,
        now: u64,
    ) -> &'a mut f64 {
        let entry = keys.entry(key.to_string()).or_insert((self.capacity, now));
        let elapsed = now.saturating_sub(entry.1) as f64 / 1000.0;
        entry.0 = (entry.0 + elapsed * self.restore_per_sec).min(self.capacity);
        entry.1 = now;
        &mut entry.0
    }

    /// Takes `cost` points: `Ok(left)`, or `Err(available)` when there are
    /// too few (nothing is taken then).
    pub fn take(&self, key: &str, cost: f64, now: u64) -> Result<f64, f64> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let level = self.level(&mut keys, key, now);
        if *level < cost && self.enforce {
            return Err(*level);
        }
        *level = (*level - cost).max(0.0);
        Ok(*level)
    }

    /// Gives back points taken for a request that cost less than asked.
    pub fn refund(&self, key: &str, points: f64, now: u64) -> f64 {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let capacity = self.capacity;
        let level = self.level(&mut keys, key, now);
        *level = (*level + points).min(capacity);
        *level
    }
}

/// At most `limit` requests in flight per key; a [`Slot`] frees its place
/// when dropped.
#[derive(Debug)]
pub struct InFlight {
    pub limit: u64,
    enforce: bool,
    keys: Arc<Mutex<HashMap<String, u64>>>,
}

#[derive(Debug)]
pub struct Slot {
    key: String,
    keys: Arc<Mutex<HashMap<String, u64>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = keys.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

impl InFlight {
    pub fn new(limit: u64, enforce: bool) -> Self {
        InFlight {
            limit,
            enforce,
            keys: Arc::default(),
        }
    }

    pub fn enter(&self, key: &str) -> Option<Slot> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let n = keys.entry(key.to_string()).or_default();
        if *n >= self.limit && self.enforce {
            return None;
        }
        *n += 1;
        Some(Slot {
            key: key.to_string(),
            keys: self.keys.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_frees_one_slot_at_a_time() {
        let w = Window::new(WindowKind::Sliding, 3, 1000, true);
        assert!(w.check("k", 0).allowed());
        assert!(w.check("k", 400).allowed());
        assert_eq!(
            w.check("k", 800),
            Decision::Allowed {
                limit: 3,
                remaining: 0,
                reset_ms: 200
            }
        );
        assert_eq!(
            w.check("k", 900),
            Decision::Denied {
                limit: 3,
                retry_after_ms: 100
            }
        );
        assert!(w.check("other", 900).allowed());
        assert!(w.check("k", 1000).allowed());
        assert!(!w.check("k", 1001).allowed());
    }

    #[test]
    fn fixed_window_resets_whole() {
        let w = Window::new(WindowKind::Fixed, 2, 60_000, true);
        assert!(w.check("k", 0).allowed());
        assert!(w.check("k", 59_000).allowed());
        let d = w.check("k", 59_500);
        assert_eq!(d.retry_after_secs(), 1);
        assert_eq!(w.check("k", 60_000).remaining(), 1);
        let off = Window::new(WindowKind::Fixed, 1, 1000, false);
        assert!((0..5).all(|_| off.check("k", 0).allowed()));
    }

    #[test]
    fn bucket_restores_over_time() {
        let b = LeakyBucket::new(1000.0, 50.0, true);
        assert_eq!(b.take("k", 900.0, 0), Ok(100.0));
        assert_eq!(b.take("k", 200.0, 0), Err(100.0));
        assert_eq!(b.take("k", 200.0, 2000), Ok(0.0));
        assert_eq!(b.refund("k", 150.0, 2000), 150.0);
    }

    #[test]
    fn in_flight_slots_free_on_drop() {
        let f = InFlight::new(2, true);
        let a = f.enter("k");
        let b = f.enter("k");
        assert!(a.is_some() && b.is_some() && f.enter("k").is_none());
        drop(a);
        assert!(f.enter("k").is_some());
    }
}
