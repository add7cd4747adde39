//! Sending a manifest's requests: the `HttpRequester`'s authenticator, its
//! `DefaultErrorHandler` (response filters, then Airbyte's default mapping
//! of statuses to actions, with its backoff strategies) and the manifest's
//! `HTTPAPIBudget`. The runner's options rewrite the scheme and host of
//! every outgoing URL (`base_url_override`) and add a CA bundle.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{Map, Value};
use url::Url;

use super::dates::parse_duration;
use super::interp::{context, Interp};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Success,
    Retry,
    RateLimited,
    Fail,
    Ignore,
}

#[derive(Debug, Clone)]
struct Filter {
    action: Action,
    codes: Vec<u16>,
    contains: Option<String>,
    predicate: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Clone)]
enum Backoff {
    Constant(f64),
    Exponential(f64),
    FromHeader {
        header: String,
        regex: Option<regex::Regex>,
    },
    UntilHeader {
        header: String,
        min_wait: f64,
        regex: Option<regex::Regex>,
    },
}

/// A requester's error handling.
#[derive(Debug, Clone)]
pub struct ErrorHandler {
    max_retries: u32,
    filters: Vec<Filter>,
    backoffs: Vec<Backoff>,
}

fn cfg(path: &str, message: impl Into<String>) -> CoreError {
    CoreError::config(path.to_string(), message)
}

fn get_str<'a>(m: &'a Value, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

fn number(v: &Value, interp: &Interp, ctx: &minijinja::Value, path: &str) -> Result<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| cfg(path, "not a number")),
        Value::String(s) => match interp.eval(s, ctx).map_err(|e| cfg(path, e))? {
            Value::Number(n) => n.as_f64().ok_or_else(|| cfg(path, "not a number")),
            other => Err(cfg(path, format!("must be a number, got {other}"))),
        },
        other => Err(cfg(path, format!("must be a number, got {other}"))),
    }
}

fn action(name: &str, path: &str) -> Result<Action> {
    Ok(match name {
        "SUCCESS" => Action::Success,
        "RETRY" => Action::Retry,
        "RATE_LIMITED" => Action::RateLimited,
        "FAIL" => Action::Fail,
        "IGNORE" => Action::Ignore,
        other => return Err(cfg(path, format!("unknown action {other:?}"))),
    })
}

impl ErrorHandler {
    pub fn from_manifest(
        def: Option<&Value>,
        interp: &Interp,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Self> {
        let mut handler = ErrorHandler {
            max_retries: 5,
            filters: vec![],
            backoffs: vec![],
        };
        let Some(def) = def else {
            return Ok(handler);
        };
        if let Some(m) = def.get("max_retries") {
            handler.max_retries = number(m, interp, ctx, &format!("{path}.max_retries"))? as u32;
        }
        for (i, f) in def
            .get("response_filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let fp = format!("{path}.response_filters[{i}]");
            let codes = f
                .get("http_codes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_u64().map(|c| c as u16))
                        .collect()
                })
                .unwrap_or_default();
            let contains = get_str(f, "error_message_contains").map(str::to_string);
            let predicate = get_str(f, "predicate").map(str::to_string);
            let act = match get_str(f, "action") {
                Some(a) => action(a, &format!("{fp}.action"))?,
                // A filter with no action only names the failure (as FAIL).
                None => Action::Fail,
            };
            handler.filters.push(Filter {
                action: act,
                codes,
                contains,
                predicate,
                message: get_str(f, "error_message").map(str::to_string),
            });
        }
        for (i, b) in def
            .get("backoff_strategies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let bp = format!("{path}.backoff_strategies[{i}]");
            let regex = |key: &str| -> Result<Option<regex::Regex>> {
                get_str(b, key)
                    .map(|r| {
                        regex::Regex::new(r).map_err(|e| cfg(&format!("{bp}.{key}"), e.to_string()))
                    })
                    .transpose()
            };
            handler.backoffs.push(match get_str(b, "type") {
                Some("ConstantBackoffStrategy") => Backoff::Constant(number(
                    b.get("backoff_time_in_seconds").unwrap_or(&Value::Null),
                    interp,
                    ctx,
                    &format!("{bp}.backoff_time_in_seconds"),
                )?),
                Some("ExponentialBackoffStrategy") => Backoff::Exponential(match b.get("factor") {
                    Some(f) => number(f, interp, ctx, &format!("{bp}.factor"))?,
                    None => 5.0,
                }),
                Some("WaitTimeFromHeader") => Backoff::FromHeader {
                    header: interp
                        .render(get_str(b, "header").unwrap_or("Retry-After"), ctx)
                        .map_err(|e| cfg(&bp, e))?,
                    regex: regex("regex")?,
                },
                Some("WaitUntilTimeFromHeader") => Backoff::UntilHeader {
                    header: interp
                        .render(get_str(b, "header").unwrap_or("Retry-After"), ctx)
                        .map_err(|e| cfg(&bp, e))?,
                    min_wait: match b.get("min_wait") {
                        Some(v) => number(v, interp, ctx, &format!("{bp}.min_wait"))?,
                        None => 0.0,
                    },
                    regex: regex("regex")?,
                },
                other => return Err(cfg(&bp, format!("unknown backoff strategy {other:?}"))),
            });
        }
        Ok(handler)
    }

    fn resolve(
        &self,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        text: &str,
        interp: &Interp,
    ) -> (Action, Option<String>) {
        let mut parsed: Option<Value> = None;
        for f in &self.filters {
            let mut hit = f.codes.contains(&status);
            if !hit {
                if let Some(c) = &f.contains {
                    hit = text.contains(c.as_str());
                }
            }
            if !hit {
                if let Some(p) = &f.predicate {
                    let body = parsed
                        .get_or_insert_with(|| serde_json::from_str(text).unwrap_or(Value::Null));
                    let mut vars = Map::new();
                    vars.insert("response".into(), body.clone());
                    vars.insert("headers".into(), header_map(headers));
                    hit = interp.truthy(p, &context(vars)).unwrap_or(false);
                }
            }
            if hit {
                return (f.action, f.message.clone());
            }
        }
        let act = match status {
            200..=299 => Action::Success,
            408 | 500 | 502 | 503 | 504 => Action::Retry,
            429 => Action::RateLimited,
            500..=599 => Action::Retry,
            _ => Action::Fail,
        };
        (act, None)
    }

    fn wait(&self, attempt: u32, headers: &reqwest::header::HeaderMap) -> Duration {
        for b in &self.backoffs {
            let secs = match b {
                Backoff::Constant(s) => Some(*s),
                Backoff::Exponential(f) => Some(f * 2f64.powi(attempt as i32)),
                Backoff::FromHeader { header, regex } => {
                    header_number(headers, header, regex.as_ref())
                }
                Backoff::UntilHeader {
                    header,
                    min_wait,
                    regex,
                } => header_number(headers, header, regex.as_ref()).map(|until| {
                    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
                    (until - now).max(*min_wait)
                }),
            };
            if let Some(s) = secs {
                return Duration::from_secs_f64(s.clamp(0.0, 3600.0));
            }
        }
        // No strategy: the server's Retry-After, else 5 s doubling, as Airbyte's default.
        if let Some(s) = header_number(headers, "Retry-After", None) {
            return Duration::from_secs_f64(s.clamp(0.0, 3600.0));
        }
        Duration::from_secs_f64(5.0 * 2f64.powi(attempt as i32))
    }
}

fn header_number(
    headers: &reqwest::header::HeaderMap,
    name: &str,
    regex: Option<&regex::Regex>,
) -> Option<f64> {
    let text = headers.get(name)?.to_str().ok()?;
    let text = match regex {
        Some(re) => {
            let caps = re.captures(text)?;
            caps.get(1).or_else(|| caps.get(0))?.as_str().to_string()
        }
        None => text.to_string(),
    };
    text.trim().parse().ok()
}

/// Response headers as templates see them: every name lowercased, `link`
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

/// How requests prove who they are.
#[derive(Debug)]
pub enum Auth {
    None,
    Header(String, String),
    Query(String, String),
    Basic(String, String),
    OAuth(Box<Mutex<OAuth>>),
}

/// An `OAuthAuthenticator`: an access token from a refresh token, renewed
/// before it expires; with `refresh_token_updater`, a refresh token the
/// server rotates is kept in the config, which the caller persists.
#[derive(Debug)]
pub struct OAuth {
    endpoint: String,
    form: Vec<(String, String)>,
    access_token_name: String,
    expires_in_name: String,
    refresh_token_name: String,
    /// Config paths the rotated values go to.
    updater: Option<[Vec<String>; 3]>,
    token: Option<(String, Instant)>,
}

fn config_path(v: Option<&Value>, default: &[&str]) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        None => default.iter().map(|s| s.to_string()).collect(),
    }
}

impl Auth {
    pub fn from_manifest(
        def: Option<&Value>,
        interp: &Interp,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Auth> {
        let Some(def) = def else {
            return Ok(Auth::None);
        };
        let render = |key: &str| -> Result<String> {
            let t =
                get_str(def, key).ok_or_else(|| cfg(&format!("{path}.{key}"), "is required"))?;
            interp
                .render(t, ctx)
                .map_err(|e| cfg(&format!("{path}.{key}"), e))
        };
        Ok(match get_str(def, "type") {
            Some("NoAuth") | None => Auth::None,
            Some("BearerAuthenticator") => Auth::Header(
                "Authorization".into(),
                format!("Bearer {}", render("api_token")?),
            ),
            Some("BasicHttpAuthenticator") => {
                let password = match get_str(def, "password") {
                    Some(_) => render("password")?,
                    None => String::new(),
                };
                Auth::Basic(render("username")?, password)
            }
            Some("ApiKeyAuthenticator") => {
                let token = render("api_token")?;
                let option = def.get("inject_into");
                let (into, field) = match option {
                    Some(o) => (
                        get_str(o, "inject_into").unwrap_or("header").to_string(),
                        interp
                            .render(get_str(o, "field_name").unwrap_or(""), ctx)
                            .map_err(|e| cfg(path, e))?,
                    ),
                    None => (
                        "header".into(),
                        interp
                            .render(get_str(def, "header").unwrap_or("Authorization"), ctx)
                            .map_err(|e| cfg(path, e))?,
                    ),
                };
                match into.as_str() {
                    "header" => Auth::Header(field, token),
                    "request_parameter" => Auth::Query(field, token),
                    other => {
                        return Err(cfg(
                            &format!("{path}.inject_into"),
                            format!(
                                "an API key goes in a header or a request parameter, not {other:?}"
                            ),
                        ))
                    }
                }
            }
            Some("OAuthAuthenticator") => {
                let mut form = vec![
                    (
                        "grant_type".to_string(),
                        match get_str(def, "grant_type") {
                            Some(_) => render("grant_type")?,
                            None => "refresh_token".into(),
                        },
                    ),
                    ("client_id".to_string(), render("client_id")?),
                    ("client_secret".to_string(), render("client_secret")?),
                ];
                if form[0].1 == "refresh_token" {
                    form.push(("refresh_token".into(), render("refresh_token")?));
                }
                if let Some(Value::Array(scopes)) = def.get("scopes") {
                    let s: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
                    form.push(("scope".into(), s.join(" ")));
                }
                if let Some(Value::Object(extra)) = def.get("refresh_request_body") {
                    for (k, v) in extra {
                        let text = match v {
                            Value::String(s) => interp.render(s, ctx).map_err(|e| cfg(path, e))?,
                            other => other.to_string(),
                        };
                        form.push((k.clone(), text));
                    }
                }
                let updater = def.get("refresh_token_updater").map(|u| {
                    [
                        config_path(
                            u.get("refresh_token_config_path"),
                            &["credentials", "refresh_token"],
                        ),
                        config_path(
                            u.get("access_token_config_path"),
                            &["credentials", "access_token"],
                        ),
                        config_path(
                            u.get("token_expiry_date_config_path"),
                            &["credentials", "token_expiry_date"],
                        ),
                    ]
                });
                let refresh_token_name = def
                    .get("refresh_token_updater")
                    .and_then(|u| get_str(u, "refresh_token_name"))
                    .unwrap_or("refresh_token")
                    .to_string();
                Auth::OAuth(Box::new(Mutex::new(OAuth {
                    endpoint: render("token_refresh_endpoint")?,
                    form,
                    access_token_name: get_str(def, "access_token_name")
                        .unwrap_or("access_token")
                        .to_string(),
                    expires_in_name: get_str(def, "expires_in_name")
                        .unwrap_or("expires_in")
                        .to_string(),
                    refresh_token_name,
                    updater,
                    token: None,
                })))
            }
            Some(other) => return Err(cfg(path, format!("unknown authenticator {other:?}"))),
        })
    }
}

/// A call-rate policy of the manifest's `HTTPAPIBudget`.
struct Policy {
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    matchers: Vec<Matcher>,
}

struct Matcher {
    method: Option<String>,
    url_base: Option<String>,
    path: Option<regex::Regex>,
    params: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
}

impl Matcher {
    fn matches(&self, req: &Request) -> bool {
        if self
            .method
            .as_ref()
            .is_some_and(|m| !m.eq_ignore_ascii_case(&req.method))
        {
            return false;
        }
        let url = req.url.as_str();
        if self
            .url_base
            .as_ref()
            .is_some_and(|b| !url.starts_with(b.trim_end_matches('/')))
        {
            return false;
        }
        if self
            .path
            .as_ref()
            .is_some_and(|re| !re.is_match(req.url.path()))
        {
            return false;
        }
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        if self.params.iter().any(|(k, v)| query.get(k) != Some(v)) {
            return false;
        }
        !self.headers.iter().any(|(k, v)| {
            !req.headers
                .iter()
                .any(|(hk, hv)| hk.eq_ignore_ascii_case(k) && hv == v)
        })
    }
}

/// The manifest's `HTTPAPIBudget`: the first policy whose matchers take a
/// request makes it wait. Moving and fixed windows are approximated by a
/// token bucket of the same limit per interval (GCRA).
pub struct Budget {
    policies: Vec<Policy>,
    pub rate_limit_codes: Vec<u16>,
}

fn quota(limit: f64, interval: Duration, path: &str) -> Result<Quota> {
    let n = NonZeroU32::new(limit.max(0.0) as u32)
        .ok_or_else(|| cfg(path, "a limit must be at least 1"))?;
    let per = interval
        .checked_div(n.get())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| cfg(path, "an interval must be positive"))?;
    Ok(Quota::with_period(per)
        .expect("a positive period")
        .allow_burst(n))
}

impl Budget {
    pub fn from_manifest(
        def: Option<&Value>,
        interp: &Interp,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Budget> {
        let mut budget = Budget {
            policies: vec![],
            rate_limit_codes: vec![429],
        };
        let Some(def) = def else { return Ok(budget) };
        if let Some(Value::Array(codes)) = def.get("status_codes_for_ratelimit_hit") {
            budget.rate_limit_codes = codes
                .iter()
                .filter_map(|c| c.as_u64().map(|c| c as u16))
                .collect();
        }
        for (i, p) in def
            .get("policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let pp = format!("{path}.policies[{i}]");
            let duration = |v: Option<&Value>, key: &str| -> Result<Duration> {
                let text = v.and_then(Value::as_str).ok_or_else(|| {
                    cfg(&format!("{pp}.{key}"), "an ISO 8601 duration is required")
                })?;
                parse_duration(text)
                    .and_then(|d| d.to_std().ok())
                    .ok_or_else(|| {
                        cfg(
                            &format!("{pp}.{key}"),
                            format!("{text:?} is not an ISO 8601 duration"),
                        )
                    })
            };
            let limiter = match get_str(p, "type") {
                Some("UnlimitedCallRatePolicy") => None,
                Some("FixedWindowCallRatePolicy") => {
                    let limit = number(
                        p.get("call_limit").unwrap_or(&Value::Null),
                        interp,
                        ctx,
                        &format!("{pp}.call_limit"),
                    )?;
                    Some(quota(limit, duration(p.get("period"), "period")?, &pp)?)
                }
                Some("MovingWindowCallRatePolicy") => {
                    // The tightest of its rates.
                    let mut best: Option<(f64, Quota)> = None;
                    for (j, r) in p
                        .get("rates")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        let rp = format!("{pp}.rates[{j}]");
                        let limit = number(
                            r.get("limit").unwrap_or(&Value::Null),
                            interp,
                            ctx,
                            &format!("{rp}.limit"),
                        )?;
                        let interval = duration(r.get("interval"), "interval")?;
                        let per_sec = limit / interval.as_secs_f64();
                        if best.as_ref().is_none_or(|(b, _)| per_sec < *b) {
                            best = Some((per_sec, quota(limit, interval, &rp)?));
                        }
                    }
                    Some(
                        best.ok_or_else(|| cfg(&pp, "a MovingWindowCallRatePolicy needs rates"))?
                            .1,
                    )
                }
                other => return Err(cfg(&pp, format!("unknown call rate policy {other:?}"))),
            };
            let mut matchers = vec![];
            for m in p
                .get("matchers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let strings = |key: &str| -> BTreeMap<String, String> {
                    m.get(key)
                        .and_then(Value::as_object)
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| {
                                    (
                                        k.clone(),
                                        v.as_str()
                                            .map(str::to_string)
                                            .unwrap_or_else(|| v.to_string()),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                };
                matchers.push(Matcher {
                    method: get_str(m, "method").map(str::to_string),
                    url_base: get_str(m, "url_base").map(str::to_string),
                    path: get_str(m, "url_path_pattern")
                        .map(regex::Regex::new)
                        .transpose()
                        .map_err(|e| cfg(&pp, e.to_string()))?,
                    params: strings("params"),
                    headers: strings("headers"),
                });
            }
            budget.policies.push(Policy {
                limiter: limiter.map(|q| Arc::new(RateLimiter::direct(q))),
                matchers,
            });
        }
        Ok(budget)
    }

    async fn acquire(&self, req: &Request) {
        for p in &self.policies {
            if p.matchers.is_empty() || p.matchers.iter().any(|m| m.matches(req)) {
                if let Some(l) = &p.limiter {
                    l.until_ready().await;
                }
                return;
            }
        }
    }
}

/// Sends requests for one stream (and the parents it reads).
pub struct Client {
    http: reqwest::Client,
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

    fn token(&self, oauth: &Mutex<OAuth>, config: &Mutex<Value>) -> Result<String> {
        let mut o = oauth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, until)) = &o.token {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let url = self.target(&o.endpoint)?;
        let form = o.form.clone();
        let http = self.http.clone();
        let reply = crate::runtime::handle().block_on(async move {
            let resp = http
                .post(url.clone())
                .form(&form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((url, status, text))
        });
        let (url, status, text) = reply.map_err(|e| CoreError::Auth {
            method: "POST".into(),
            url: o.endpoint.clone(),
            status: 0,
            reason: e,
            detail: String::new(),
        })?;
        if !status.is_success() {
            return Err(CoreError::Auth {
                method: "POST".into(),
                url: url.to_string(),
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("").into(),
                detail: format!(
                    ": the token refresh was refused: {}",
                    text.chars().take(300).collect::<String>()
                ),
            });
        }
        let body: Value = serde_json::from_str(&text).map_err(|e| CoreError::Source {
            url: url.to_string(),
            message: format!("token response is not JSON: {e}"),
        })?;
        let access = body
            .get(&o.access_token_name)
            .and_then(Value::as_str)
            .ok_or_else(|| CoreError::Source {
                url: url.to_string(),
                message: format!("token response has no {:?}", o.access_token_name),
            })?
            .to_string();
        let expires = body
            .get(&o.expires_in_name)
            .and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3600.0);
        // Renewed a little early, so no request carries a token about to expire.
        let until = Instant::now() + Duration::from_secs_f64((expires - 30.0).max(1.0));
        o.token = Some((access.clone(), until));
        if let Some([refresh_path, access_path, expiry_path]) = o.updater.clone() {
            if let Some(new_refresh) = body.get(&o.refresh_token_name).and_then(Value::as_str) {
                for (k, v) in o.form.iter_mut() {
                    if k == "refresh_token" {
                        *v = new_refresh.to_string();
                    }
                }
                let mut c = config.lock().unwrap_or_else(|p| p.into_inner());
                set_path(&mut c, &refresh_path, Value::from(new_refresh));
                set_path(&mut c, &access_path, Value::from(access.clone()));
                let expiry = chrono::Utc::now() + chrono::Duration::seconds(expires as i64);
                set_path(
                    &mut c,
                    &expiry_path,
                    Value::from(expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                );
            }
        }
        Ok(access)
    }

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
                Auth::OAuth(o) => {
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

#[cfg(test)]
impl Budget {
    /// Whether the policy that takes `req` would let it go now (None: no policy limits it).
    fn admits_now(&self, req: &Request) -> Option<bool> {
        let p = self
            .policies
            .iter()
            .find(|p| p.matchers.is_empty() || p.matchers.iter().any(|m| m.matches(req)))?;
        p.limiter.as_ref().map(|l| l.check().is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(url: &str) -> Request {
        Request {
            method: "GET".into(),
            url: Url::parse(url).unwrap(),
            headers: vec![],
            body: None,
        }
    }

    #[test]
    fn a_budget_limits_the_requests_its_matchers_take() {
        let interp = Interp::new();
        let ctx = context(Map::new());
        let def = json!({"type": "HTTPAPIBudget", "policies": [
            {"type": "FixedWindowCallRatePolicy", "period": "PT1H", "call_limit": 2,
             "matchers": [{"type": "HttpRequestRegexMatcher", "method": "GET", "url_path_pattern": "^/api/"}]},
            {"type": "UnlimitedCallRatePolicy", "matchers": [{"url_base": "https://x.test/health"}]},
            {"type": "MovingWindowCallRatePolicy", "rates": [{"limit": 100, "interval": "PT1S"}, {"limit": 1, "interval": "PT1H"}],
             "matchers": []},
        ]});
        let budget = Budget::from_manifest(Some(&def), &interp, &ctx, "api_budget").unwrap();
        let api = get("https://x.test/api/orders");
        assert_eq!(budget.admits_now(&api), Some(true));
        assert_eq!(budget.admits_now(&api), Some(true));
        assert_eq!(
            budget.admits_now(&api),
            Some(false),
            "the third call in the hour waits"
        );
        assert_eq!(budget.admits_now(&get("https://x.test/health")), None);
        // The tightest of a moving window's rates: one an hour.
        let other = get("https://x.test/other");
        assert_eq!(budget.admits_now(&other), Some(true));
        assert_eq!(budget.admits_now(&other), Some(false));
    }

    #[test]
    fn the_error_handler_maps_statuses_as_airbyte_does() {
        let interp = Interp::new();
        let ctx = context(Map::new());
        let def = json!({"type": "DefaultErrorHandler", "response_filters": [
            {"type": "HttpResponseFilter", "action": "IGNORE", "http_codes": [404]},
            {"type": "HttpResponseFilter", "action": "RETRY", "error_message_contains": "try later"},
            {"type": "HttpResponseFilter", "action": "FAIL", "predicate": "{{ response.code == 'gone' }}"}]});
        let h = ErrorHandler::from_manifest(Some(&def), &interp, &ctx, "eh").unwrap();
        let none = reqwest::header::HeaderMap::new();
        assert_eq!(h.resolve(404, &none, "{}", &interp).0, Action::Ignore);
        assert_eq!(
            h.resolve(400, &none, "please try later", &interp).0,
            Action::Retry
        );
        assert_eq!(
            h.resolve(200, &none, r#"{"code": "gone"}"#, &interp).0,
            Action::Fail
        );
        assert_eq!(h.resolve(429, &none, "", &interp).0, Action::RateLimited);
        assert_eq!(h.resolve(502, &none, "", &interp).0, Action::Retry);
        assert_eq!(h.resolve(403, &none, "", &interp).0, Action::Fail);
        assert_eq!(h.resolve(201, &none, "", &interp).0, Action::Success);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(h.wait(0, &headers), Duration::from_secs(7));
        assert_eq!(h.wait(2, &none), Duration::from_secs(20));
    }
}
