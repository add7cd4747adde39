//! One request with auth, a timeout and retries. Everything a page chain
//! needs from the network goes through `HttpClient::send`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use super::auth::TokenSource;
use super::limits::{Limiter, QueryCost};
use super::request::{form_encode, Req};
use crate::error::{CoreError, Result};
use crate::normalize::json::Json;
use crate::secret::Redactor;
use crate::secret::Secret;
use crate::sources::records::query_text;
use crate::sources::spec::{AuthSpec, BodyFormat, KeyLocation, Method, ResourceSpec, RetrySpec};

/// A successful response, body read in full.
#[derive(Debug)]
pub struct Response {
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// The spec's own headers, sent only to `origin`.
    headers: HeaderMap,
    /// Where the spec's credentials may go: the base URL's scheme, host and port.
    origin: url::Origin,
    auth: Option<AuthSpec>,
    method: Method,
    body_format: BodyFormat,
    /// Dotted path of errors a 200 response may carry (GraphQL's `errors`).
    errors_path: Option<String>,
    retry: RetrySpec,
    redactor: Redactor,
    timeout: Duration,
    /// Requests sent again after a retryable failure, shared with the stream.
    retries: Arc<AtomicU64>,
    /// The budget this client's requests wait for, shared with every client
    /// of the same server and credentials.
    limiter: Arc<Limiter>,
    /// Read GraphQL cost from 200 bodies.
    costs: bool,
    /// Access tokens for OAuth2 credentials, shared by their resources.
    tokens: Option<Arc<TokenSource>>,
}

/// What one attempt came to, before the retry policy decides.
enum Attempt {
    Done(Response),
    /// Retry after this long (from Retry-After) or after the next backoff.
    Retry {
        wait: Option<Duration>,
        cause: String,
        status: Option<u16>,
    },
    Fail(CoreError),
}

impl HttpClient {
    pub fn new(spec: &ResourceSpec) -> Result<Self> {
        crate::runtime::install_tls_provider();
        let mut headers = HeaderMap::new();
        for (k, v) in &spec.headers {
            if v.contains("{{") {
                continue; // filled in per request (see `first_request`)
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| CoreError::config(format!("headers.{k}"), e.to_string()))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| CoreError::config(format!("headers.{k}"), e.to_string()))?;
            headers.insert(name, value);
        }
        let mut defaults = HeaderMap::new();
        defaults.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        if let Some(AuthSpec::ApiKey {
            name,
            location: KeyLocation::Header,
            ..
        }) = &spec.auth
        {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| CoreError::config("auth.name", e.to_string()))?;
        }
        let timeout = Duration::from_secs_f64(spec.timeout_secs);
        let client = reqwest::Client::builder()
            .default_headers(defaults)
            .user_agent(concat!("tillflow/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(spec.concurrency.max(1) * 2)
            // Redirects are followed here, hop by hop, so that credentials
            // go to the configured origin only; no hop carries a Referer.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|e| CoreError::Internal(format!("building the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            headers,
            origin: spec.base()?.origin(),
            auth: spec.auth.clone(),
            method: spec.method,
            body_format: spec.body_format,
            errors_path: spec.errors_path.clone(),
            retry: spec.retry.clone(),
            redactor: spec.redactor(),
            timeout,
            retries: Arc::default(),
            limiter: Limiter::shared(&limiter_key(spec)?, spec.rate_limit.as_ref())?,
            costs: spec.graphql.is_some(),
            tokens: match &spec.auth {
                Some(a) if a.is_oauth() => Some(TokenSource::shared(a, &spec.name, timeout)?),
                _ => None,
            },
        })
    }

    /// Counts this client's retries into `counter` (the stream reports them).
    pub fn with_retry_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.retries = counter;
        self
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Sends `req`, retrying 429s (honouring Retry-After), 5xx, timeouts and
    /// connection errors with exponential backoff and jitter.
    pub async fn send(&self, req: &Req) -> Result<Response> {
        let url = &req.url;
        let mut backoff = ExponentialBuilder::new()
            .with_jitter()
            .with_factor(2.0)
            .with_min_delay(Duration::from_secs_f64(self.retry.initial_backoff_secs))
            .with_max_delay(Duration::from_secs_f64(self.retry.max_backoff_secs))
            .with_max_times(self.retry.max_attempts.saturating_sub(1) as usize)
            .build();
        let mut attempts = 0u32;
        let mut renewed = false;
        loop {
            attempts += 1;
            let token = match &self.tokens {
                Some(t) => Some(t.access().await?),
                None => None,
            };
            match self
                .attempt(req, attempts, token.as_ref().map(|t| &t.0))
                .await
            {
                Attempt::Done(r) => return Ok(r),
                // An access token revoked before its time: renewed once.
                Attempt::Fail(CoreError::Auth { status: 401, .. })
                    if !renewed && self.tokens.is_some() =>
                {
                    renewed = true;
                    let (tokens, (_, generation)) = (
                        self.tokens.as_ref().expect("checked"),
                        token.expect("oauth"),
                    );
                    tokens.renew(generation).await?;
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    wait,
                    cause,
                    status,
                } => {
                    let next = backoff.next();
                    match next {
                        Some(delay) if attempts < self.retry.max_attempts => {
                            let cap = Duration::from_secs_f64(self.retry.max_retry_after_secs);
                            tokio::time::sleep(wait.map(|w| w.min(cap)).unwrap_or(delay)).await;
                            self.retries.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            return Err(CoreError::Http {
                                method: self.method.as_str().into(),
                                url: self.redactor.url(url),
                                status,
                                cause,
                                attempts,
                            })
                        }
                    }
                }
            }
        }
    }

    /// One request for `hop` with what may go to its origin: the spec's
    /// headers and credentials to the configured origin, nothing to another.
    fn request(&self, hop: &Hop<'_>, bearer: Option<&Secret>) -> reqwest::RequestBuilder {
        let method = match hop.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        if hop.url.origin() != self.origin {
            let req = self.client.request(method, self.untrusted(&hop.url));
            return self.with_body(req, hop.body);
        }
        let mut target = hop.url.clone();
        if let Some(AuthSpec::ApiKey {
            name,
            value,
            location: KeyLocation::Query,
        }) = &self.auth
        {
            target.query_pairs_mut().append_pair(name, value.expose());
        }
        let mut req = self
            .client
            .request(method, target)
            .headers(self.headers.clone());
        for (k, v) in hop.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(token) = bearer {
            req = req.bearer_auth(token.expose());
        }
        match &self.auth {
            Some(AuthSpec::Bearer { token }) => req = req.bearer_auth(token.expose()),
            Some(AuthSpec::Basic { username, password }) => {
                req = req.basic_auth(username, Some(password.expose()));
            }
            Some(AuthSpec::ApiKey {
                name,
                value,
                location: KeyLocation::Header,
            }) => req = req.header(name.as_str(), value.expose()),
            _ => {}
        }
        self.with_body(req, hop.body)
    }

    fn with_body(
        &self,
        req: reqwest::RequestBuilder,
        body: Option<&serde_json::Value>,
    ) -> reqwest::RequestBuilder {
        let Some(body) = body else { return req };
        match self.body_format {
            BodyFormat::Json => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body).expect("plain data")),
            BodyFormat::Form => req
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form_encode(body)),
        }
    }

    /// `url` for another origin: without user info and without any query
    /// parameter that holds a configured credential (a redirect may carry
    /// the key it was sent with).
    fn untrusted(&self, url: &Url) -> Url {
        let mut clean = url.clone();
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        if clean.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, v)| !self.redactor.is_secret_param(k, v))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if pairs.is_empty() {
                clean.set_query(None);
            } else {
                clean.query_pairs_mut().clear().extend_pairs(pairs);
            }
        }
        clean
    }

    async fn attempt(&self, req: &Req, attempts: u32, bearer: Option<&Secret>) -> Attempt {
        let url = &req.url;
        let method = self.method.as_str();
        let mut current = Hop {
            method: self.method,
            url: req.url.clone(),
            body: if self.method == Method::Post {
                req.body.as_ref()
            } else {
                None
            },
            headers: &req.headers,
        };
        let mut hops = 0;
        let resp = loop {
            self.limiter.acquire().await;
            let resp = match self.request(&current, bearer).send().await {
                Ok(r) => r,
                Err(e) => return self.transport_failure(e),
            };
            self.limiter.observe_headers(
                resp.headers(),
                Duration::from_secs_f64(self.retry.max_retry_after_secs),
            );
            if !resp.status().is_redirection() || resp.status() == StatusCode::NOT_MODIFIED {
                break resp;
            }
            let next = match redirect_target(&resp, &current.url) {
                Ok(next) => next,
                Err(message) => {
                    return Attempt::Fail(CoreError::Http {
                        method: method.into(),
                        url: self.redactor.url(url),
                        status: Some(resp.status().as_u16()),
                        cause: self.redactor.text(&message),
                        attempts,
                    })
                }
            };
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Attempt::Fail(CoreError::Http {
                    method: method.into(),
                    url: self.redactor.url(url),
                    status: Some(resp.status().as_u16()),
                    cause: format!(
                        "more than {MAX_REDIRECTS} redirects (the last to {})",
                        self.redactor.url(&next)
                    ),
                    attempts,
                });
            }
            // 307 and 308 repeat the request as it was; 301, 302 and 303
            // turn a POST into a GET without a body, as browsers and curl do.
            if !matches!(resp.status().as_u16(), 307 | 308) {
                current.method = Method::Get;
                current.body = None;
            }
            current.url = next;
        };
        let status = resp.status();
        if status.is_success() {
            let final_url = resp.url().clone();
            let headers = resp.headers().clone();
            let body = match read_body(resp).await {
                Ok(body) => body,
                Err(e) => return self.transport_failure(e),
            };
            // A body cut short behind a matching Content-Length, or an HTML
            // page from a proxy, is a failed transfer: fetched again.
            if let Err(e) = crate::normalize::json::validate(&body) {
                return Attempt::Retry {
                    wait: None,
                    cause: format!("HTTP 200 with a body that is not valid JSON ({e})"),
                    status: Some(status.as_u16()),
                };
            }
            if self.costs {
                self.limiter.observe_cost(&body);
            }
            if let Some(path) = &self.errors_path {
                if let Some(outcome) = self.errors_in_body(&body, path, &final_url, attempts) {
                    return outcome;
                }
            }
            return Attempt::Done(Response {
                url: final_url,
                headers,
                body,
            });
        }
        let retry_after = parse_retry_after(resp.headers());
        let reason = status.canonical_reason().unwrap_or("").to_string();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry {
                wait: if status == StatusCode::TOO_MANY_REQUESTS {
                    retry_after
                } else {
                    None
                },
                cause: format!("HTTP {} {reason}", status.as_u16()),
                status: Some(status.as_u16()),
            };
        }
        let detail = self.mask(&body_snippet(resp, &self.redactor).await);
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Attempt::Fail(CoreError::Auth {
                method: method.into(),
                url: self.redactor.url(&current.url),
                status: status.as_u16(),
                reason,
                detail,
            });
        }
        Attempt::Fail(CoreError::Http {
            method: method.into(),
            url: self.redactor.url(&current.url),
            status: Some(status.as_u16()),
            cause: format!("HTTP {} {reason}{detail}", status.as_u16()),
            attempts,
        })
    }

    /// Errors a 200 response carries at `path` (GraphQL's `errors`): a
    /// failure naming the first few, or a retry when the server says it was
    /// throttled (Shopify's `THROTTLED`).
    fn errors_in_body(&self, body: &[u8], path: &str, url: &Url, attempts: u32) -> Option<Attempt> {
        let doc = Json::parse(body).ok()?;
        let errors: Vec<&Json<'_>> = match doc.lookup(path)? {
            Json::Arr(items) if items.is_empty() => return None,
            Json::Arr(items) => items.iter().collect(),
            Json::Null => return None,
            Json::Obj(f) if f.is_empty() => return None,
            other => vec![other],
        };
        let code = |e: &Json<'_>| {
            e.lookup("extensions.code")
                .or_else(|| e.lookup("code"))
                .map(query_text)
                .unwrap_or_default()
        };
        if errors
            .iter()
            .any(|e| code(e).eq_ignore_ascii_case("THROTTLED"))
        {
            return Some(Attempt::Retry {
                // Until the points the query asked for have refilled.
                wait: QueryCost::read(&doc).and_then(|c| c.wait_for(c.requested?)),
                cause: "HTTP 200 with a THROTTLED error (the query cost budget is spent)".into(),
                status: Some(200),
            });
        }
        let shown: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| match e.lookup("message") {
                Some(m) => query_text(m),
                None => e.to_string(),
            })
            .collect();
        let more = if errors.len() > 3 {
            format!(" (and {} more)", errors.len() - 3)
        } else {
            String::new()
        };
        let text = format!(
            "HTTP 200 with {} error{} at {path:?}: {}{more}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            shown.join("; ")
        );
        Some(Attempt::Fail(CoreError::Http {
            method: self.method.as_str().into(),
            url: self.redactor.url(url),
            status: Some(200),
            cause: self.redactor.text(&text),
            attempts,
        }))
    }

    /// `text` without any credential: the spec's, and tokens obtained for it.
    fn mask(&self, text: &str) -> String {
        match &self.tokens {
            Some(t) => t.mask(text),
            None => text.to_string(),
        }
    }

    fn transport_failure(&self, e: reqwest::Error) -> Attempt {
        let cause = if e.is_timeout() {
            format!("timed out after {:.1}s", self.timeout.as_secs_f64())
        } else if e.is_connect() {
            format!("connection failed ({})", root_cause(&e))
        } else {
            format!("transport error ({})", root_cause(&e))
        };
        Attempt::Retry {
            wait: None,
            cause: self.redactor.text(&cause),
            status: None,
        }
    }
}

/// Which clients share a budget: the same server, credentials and budget.
fn limiter_key(spec: &ResourceSpec) -> Result<String> {
    let who = match &spec.auth {
        Some(a) => xxhash_rust::xxh3::xxh3_64(a.fingerprint().as_bytes()),
        None => 0,
    };
    Ok(format!(
        "{}|{who:016x}|{:?}",
        spec.base()?.origin().ascii_serialization(),
        spec.rate_limit
    ))
}

/// One request on its way: a redirect may change its URL, and its method.
struct Hop<'r> {
    method: Method,
    url: Url,
    body: Option<&'r serde_json::Value>,
    headers: &'r std::collections::BTreeMap<String, String>,
}

/// Redirects followed for one request before it fails (browsers and curl
/// stop at about this many too).
pub const MAX_REDIRECTS: u32 = 10;

/// Where a 3xx response sends the request next (301, 302, 303, 307, 308).
fn redirect_target(resp: &reqwest::Response, from: &Url) -> std::result::Result<Url, String> {
    let status = resp.status().as_u16();
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Err(format!("HTTP {status}, a redirect tillflow cannot follow"));
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .ok_or_else(|| format!("HTTP {status} without a Location header"))?;
    let location = location
        .to_str()
        .map_err(|_| format!("HTTP {status} with a Location header that is not ASCII"))?;
    let next = from
        .join(location)
        .map_err(|e| format!("HTTP {status} to {location:?}, which is not a URL: {e}"))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!(
            "HTTP {status} to {location:?}, which is not an HTTP URL"
        ));
    }
    Ok(next)
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The whole body in one allocation sized from Content-Length, rather than
/// a buffer that doubles (and touches fresh pages) as chunks arrive.
async fn read_body(mut resp: reqwest::Response) -> reqwest::Result<Bytes> {
    let hint = resp.content_length().unwrap_or(0).min(64 << 20) as usize;
    let mut buf = Vec::with_capacity(hint);
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        // Past Duration's range (`1e30`): the longest wait, which
        // max_retry_after_secs caps. NaN and negatives say nothing.
        return (secs >= 0.0).then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(raw).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// How much of an error body an error message shows.
const SNIPPET_CHARS: usize = 300;

/// The start of an error body, masked: servers often say why they refused,
/// and some echo the request's credentials back. Masked before it is cut, so
/// a cut can never leave a piece of a secret the masking would not know.
async fn body_snippet(resp: reqwest::Response, redactor: &Redactor) -> String {
    let Ok(body) = resp.bytes().await else {
        return String::new();
    };
    // Enough past the shown part for a credential that straddles the cut.
    let head = &body[..body.len().min(SNIPPET_CHARS * 4 + 4096)];
    let text = redactor.text(&String::from_utf8_lossy(head));
    let text = text.trim().replace(['\n', '\r'], " ");
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((at, _)) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&future).unwrap());
        let d = parse_retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(110) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
        // Found by fuzzing: beyond Duration's range used to panic.
        for huge in ["18446744073709551616", "1e30", "inf"] {
            h.insert(RETRY_AFTER, HeaderValue::from_static(huge));
            assert_eq!(parse_retry_after(&h), Some(Duration::MAX), "{huge}");
        }
        for nothing in ["NaN", "-1"] {
            h.insert(RETRY_AFTER, HeaderValue::from_static(nothing));
            assert_eq!(parse_retry_after(&h), None, "{nothing}");
        }
    }
}
