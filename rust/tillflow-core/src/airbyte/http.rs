//! Sending a manifest's requests: its authenticator, error handler and API
//! budget applied, every URL's scheme and host rewritten by the runner's
//! `base_url_override`, and a CA bundle trusted besides the system's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value};
use url::Url;

use super::auth::Auth;
use super::budget::Budget;
use super::errors::{Action, ErrorHandler};
use super::fields::cfg;
use super::interp::Interp;
use crate::error::{CoreError, Result};

/// What the runner's caller chose for every request.
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// Scheme, host and port that replace every outgoing URL's.
    pub base_url_override: Option<Url>,
    /// PEM file of extra certificate authorities.
    pub ca_bundle: Option<String>,
    pub timeout: Duration,
}

/// One request, before auth.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
}

/// A response the error handler let through.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// parsed by rel (`headers.link.next.url`).
pub fn header_map(headers: &reqwest::header::HeaderMap) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            out.insert(name.as_str().to_string(), Value::from(v));
        }
    }
    if let Some(link) = headers.get("link").and_then(|v| v.to_str().ok()) {
        let mut rels = Map::new();
        if let Ok(parsed) = parse_link_header::parse_with_rel(link) {
            for (rel, l) in parsed {
                let mut entry = Map::new();
                entry.insert("url".into(), Value::from(l.raw_uri.clone()));
                entry.insert("rel".into(), Value::from(rel.clone()));
                rels.insert(rel, Value::Object(entry));
            }
        }
        out.insert("link".into(), Value::Object(rels));
    }
    Value::Object(out)
}

/// Sends requests for one stream (and the parents it reads).
pub struct Client {
    pub(super) http: reqwest::Client,
    network: Network,
    pub retries: Arc<std::sync::atomic::AtomicU64>,
}

impl Client {
    pub fn new(network: Network) -> Result<Client> {
        crate::runtime::install_tls_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("tillflow/", env!("CARGO_PKG_VERSION")))
            .timeout(network.timeout)
            .connect_timeout(network.timeout.min(Duration::from_secs(10)));
        if let Some(path) = &network.ca_bundle {
            let pem = std::fs::read(path)
                .map_err(|e| cfg("ca_bundle", format!("cannot read {path:?}: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                cfg(
                    "ca_bundle",
                    format!("{path:?} holds no PEM certificates: {e}"),
                )
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| CoreError::Internal(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            network,
            retries: Arc::default(),
        })
    }

    /// `url` with the override's scheme, host and port.
    pub fn target(&self, url: &str) -> Result<Url> {
        let mut parsed = Url::parse(url).map_err(|e| CoreError::Source {
            url: url.to_string(),
            message: format!("not a URL: {e}"),
        })?;
        if let Some(base) = &self.network.base_url_override {
            let _ = parsed.set_scheme(base.scheme());
            parsed
                .set_host(base.host_str())
                .map_err(|e| cfg("base_url_override", e.to_string()))?;
            let _ = parsed.set_port(base.port());
        }
        Ok(parsed)
    }
    /// the handler ignores the response.
    /// Sends a request as the error handler and budget say; `None` when
    /// the handler ignores the response.
    pub fn send(
        &self,
        mut req: Request,
        auth: &Auth,
        handler: &ErrorHandler,
        budget: &Budget,
        interp: &Interp,
        config: &Mutex<Value>,
    ) -> Result<Option<Response>> {
        req.url = self.target(req.url.as_str())?;
        let mut attempt = 0u32;
        loop {
            let mut builder = self.http.request(
                reqwest::Method::from_bytes(req.method.as_bytes())
                    .map_err(|e| cfg("http_method", e.to_string()))?,
                req.url.clone(),
            );
            builder = builder.header("Accept", "application/json");
            for (k, v) in &req.headers {
                builder = builder.header(k, v);
            }
            match auth {
                Auth::None => {}
                Auth::Header(k, v) => builder = builder.header(k, v),
                Auth::Query(k, v) => builder = builder.query(&[(k, v)]),
                Auth::Basic(u, p) => {
                    let token =
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                    builder = builder.header("Authorization", format!("Basic {token}"));
                }
                Auth::Refreshing(o) => {
                    builder = builder.header(
                        "Authorization",
                        format!("Bearer {}", self.token(o, config)?),
                    )
                }
            }
            builder = match &req.body {
                Some(Body::Json(v)) => builder.json(v),
                Some(Body::Form(f)) => builder.form(f),
                None => builder,
            };
            let shown = redact_url(&req.url);
            let sent = crate::runtime::handle().block_on(async {
                budget.acquire(&req).await;
                let resp = builder.send().await?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let text = resp.text().await?;
                Ok::<_, reqwest::Error>((status, headers, text))
            });
            let (status, headers, text) = match sent {
                Ok(r) => r,
                Err(e) => {
                    if attempt < handler.max_retries {
                        attempt += 1;
                        self.retries
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        std::thread::sleep(
                            handler.wait(attempt - 1, &reqwest::header::HeaderMap::new()),
                        );
                        continue;
                    }
                    return Err(CoreError::Http {
                        method: req.method.clone(),
                        url: shown,
                        status: None,
                        cause: e.to_string(),
                        attempts: attempt + 1,
                    });
                }
            };
            let (mut act, message) = handler.resolve(status, &headers, &text, interp);
            if act != Action::Success
                && budget.rate_limit_codes.contains(&status)
                && act == Action::Fail
            {
                act = Action::RateLimited;
            }
            match act {
                Action::Success => {
                    let body = if text.trim().is_empty() {
                        Value::Object(Map::new())
                    } else {
                        serde_json::from_str(&text).map_err(|e| CoreError::Source {
                            url: shown.clone(),
                            message: format!("the response is not JSON: {e}"),
                        })?
                    };
                    return Ok(Some(Response {
                        status,
                        headers,
                        body,
                    }));
                }
                Action::Ignore => return Ok(None),
                Action::Retry | Action::RateLimited if attempt < handler.max_retries => {
                    std::thread::sleep(handler.wait(attempt, &headers));
                    attempt += 1;
                    self.retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                _ => {
                    let detail = message.unwrap_or_else(|| text.chars().take(300).collect());
                    let reason = reqwest::StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("")
                        .to_string();
                    if status == 401 || status == 403 {
                        return Err(CoreError::Auth {
                            method: req.method.clone(),
                            url: shown,
                            status,
                            reason,
                            detail: format!(": {detail}"),
                        });
                    }
                    return Err(CoreError::Http {
                        method: req.method.clone(),
                        url: shown,
                        status: Some(status),
                        cause: format!("HTTP {status} {reason}: {detail}"),
                        attempts: attempt + 1,
                    });
                }
            }
        }
    }
}

/// A URL for messages: query values that look like credentials masked.
fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if pairs.is_empty() {
        return shown.to_string();
    }
    let secretish = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["key", "secret", "token", "password", "signature"]
            .iter()
            .any(|s| k.contains(s))
    };
    shown.query_pairs_mut().clear().extend_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), if secretish(k) { "***" } else { v.as_str() })),
    );
    shown.to_string()
}

/// Sets `value` at `path` in a JSON object, making objects on the way.
pub fn set_path(root: &mut Value, path: &[String], value: Value) {
    let mut node = root;
    for (i, key) in path.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let map = node.as_object_mut().expect("an object");
        if i + 1 == path.len() {
            map.insert(key.clone(), value);
            return;
        }
        node = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}
