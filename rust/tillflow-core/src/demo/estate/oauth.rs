//! OAuth 2.0 tokens as the accounting vendors hand them out: every refresh
//! issues a new refresh token and revokes the one presented, and access
//! tokens expire. Shared by QuickBooks and Xero (rotation), PayPal (client
//! credentials) and Google (JWT bearer), each with its own store.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::common::json as reply_json;
use super::Clock;
use crate::http_server::{Reply, Request};

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Expired,
}

#[derive(Debug)]
pub struct TokenStore {
    prefix: &'static str,
    access_ttl_ms: u64,
    next: AtomicU64,
    /// Refresh token → still usable.
    refresh: Mutex<HashMap<String, bool>>,
    /// Access token → expiry (clock ms).
    access: Mutex<HashMap<String, u64>>,
}

/// What a token endpoint hands back.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u64,
}

impl TokenStore {
    /// `initial_refresh` (if any) is the one refresh token valid at start.
    pub fn new(prefix: &'static str, access_ttl_secs: u64, initial_refresh: Option<&str>) -> Self {
        let refresh = initial_refresh
            .map(|t| HashMap::from([(t.to_string(), true)]))
            .unwrap_or_default();
        TokenStore {
            prefix,
            access_ttl_ms: access_ttl_secs * 1000,
            next: AtomicU64::new(1),
            refresh: Mutex::new(refresh),
            access: Mutex::default(),
        }
    }

    fn mint(&self, kind: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let h = crate::demo::data::mix(0x7f11, n, kind.len() as u64);
        format!("{}{kind}-{n:06}-{h:016x}", self.prefix)
    }

    /// A new access token, valid from `now`.
    pub fn issue_access(&self, now: u64) -> Issued {
        let token = self.mint("at");
        self.access
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), now + self.access_ttl_ms);
        Issued {
            access_token: token,
            refresh_token: None,
            expires_in: self.access_ttl_ms / 1000,
        }
    }

    /// Trades a refresh token for a new pair; the one presented is revoked.
    /// `None` when it is unknown or already used.
    pub fn rotate(&self, refresh_token: &str, now: u64) -> Option<Issued> {
        {
            let mut refresh = self.refresh.lock().unwrap_or_else(|p| p.into_inner());
            match refresh.get_mut(refresh_token) {
                Some(live) if *live => *live = false,
                _ => return None,
            }
        }
        Some(self.issue_pair(now))
    }

    /// A new access token with a new refresh token (an authorization grant).
    pub fn issue_pair(&self, now: u64) -> Issued {
        let fresh = self.mint("rt");
        self.refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fresh.clone(), true);
        Issued {
            refresh_token: Some(fresh),
            ..self.issue_access(now)
        }
    }

    pub fn check(&self, access_token: &str, now: u64) -> Result<(), Refused> {
        let access = self.access.lock().unwrap_or_else(|p| p.into_inner());
        match access.get(access_token) {
            None => Err(Refused::Unknown),
            Some(&expiry) if now >= expiry => Err(Refused::Expired),
            Some(_) => Ok(()),
        }
    }
}

/// A demo app whose refresh tokens rotate on every refresh (QuickBooks,
/// Xero): its client, its token endpoint, and the tokens issued so far.
/// A vendor that has one hands it out through [`super::Vendor::rotating`].
#[derive(Debug)]
pub struct RotatingApp {
    pub client_id: &'static str,
    pub client_secret: &'static str,
    /// The one refresh token valid at start.
    pub initial_refresh: &'static str,
    pub token_path: &'static str,
    /// The vendor's account id, by its name (`realm_id`, `tenant_id`).
    pub account: (&'static str, &'static str),
    pub tokens: TokenStore,
    clock: Arc<Clock>,
}

impl RotatingApp {
    /// An app whose tokens start with `prefix` and whose access tokens
    /// last `access_ttl_secs`.
    pub fn new(
        (client_id, client_secret): (&'static str, &'static str),
        initial_refresh: &'static str,
        token_path: &'static str,
        account: (&'static str, &'static str),
        (prefix, access_ttl_secs): (&'static str, u64),
        clock: Arc<Clock>,
    ) -> Self {
        RotatingApp {
            client_id,
            client_secret,
            initial_refresh,
            token_path,
            account,
            tokens: TokenStore::new(prefix, access_ttl_secs, Some(initial_refresh)),
            clock,
        }
    }

    /// A fresh refresh token, as if the app were authorized again.
    pub fn authorize(&self) -> Option<String> {
        self.tokens.issue_pair(self.clock.now_ms()).refresh_token
    }

    /// The demo credentials, with the vendor's account id.
    pub fn credentials(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("client_id", self.client_id.to_string()),
            ("client_secret", self.client_secret.to_string()),
            ("refresh_token", self.initial_refresh.to_string()),
            (self.account.0, self.account.1.to_string()),
        ])
    }

    /// The answer to a request for the token endpoint: `token`'s for a
    /// POST, 405 for another method; `None` for every other path.
    pub fn token_endpoint(
        &self,
        req: &Request,
        token: impl FnOnce(&Request) -> Reply,
    ) -> Option<Reply> {
        (req.path == self.token_path).then(|| {
            if req.method == "POST" {
                token(req)
            } else {
                reply_json(405, &json!({"error": "invalid_request"}))
            }
        })
    }

    /// Trades `refresh` for a new pair, answered in the vendor's `body`;
    /// `invalid_grant` when it is unknown or already used.
    pub fn refresh(&self, refresh: &str, body: impl FnOnce(Issued) -> Value) -> Reply {
        match self.tokens.rotate(refresh, self.clock.now_ms()) {
            Some(t) => reply_json(200, &body(t)),
            None => reply_json(400, &json!({"error": "invalid_grant"})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_rotate_and_access_tokens_expire() {
        let store = TokenStore::new("qb-", 3600, Some("first"));
        let a = store.rotate("first", 0).unwrap();
        assert!(
            store.rotate("first", 0).is_none(),
            "the old refresh token is revoked"
        );
        let b = store
            .rotate(a.refresh_token.as_deref().unwrap(), 10)
            .unwrap();
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(store.check(&b.access_token, 3_599_000), Ok(()));
        assert_eq!(
            store.check(&b.access_token, 3_600_010),
            Err(Refused::Expired)
        );
        assert_eq!(store.check("nope", 0), Err(Refused::Unknown));
    }
}
