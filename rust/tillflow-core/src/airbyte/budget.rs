//! A manifest's `HTTPAPIBudget`: the first policy whose matchers take a
//! request makes it wait. Moving and fixed windows are kept as a token
//! bucket of the same limit per interval (GCRA); a moving window with
//! several rates uses the tightest.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;

use super::dates::parse_duration;
use super::fields::{cfg, get_str, number};
use super::http::Request;
use super::interp::Interp;
use crate::error::Result;

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

/// Budgets by their definition, for the whole process: the streams of a
/// manifest, and its runs one after another, share the vendor's limits.
static SHARED: std::sync::Mutex<Option<BTreeMap<String, Arc<Budget>>>> =
    std::sync::Mutex::new(None);

impl Budget {
    /// The budget `def` defines, shared with every stream that has the same one.
    pub fn shared(
        def: Option<&Value>,
        interp: &Interp,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Arc<Budget>> {
        let key = def.map(Value::to_string).unwrap_or_default();
        let mut all = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        let map = all.get_or_insert_with(BTreeMap::new);
        if let Some(b) = map.get(&key) {
            return Ok(b.clone());
        }
        let made = Arc::new(Budget::from_manifest(def, interp, ctx, path)?);
        map.insert(key, made.clone());
        Ok(made)
    }

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

    pub async fn acquire(&self, req: &Request) {
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
    use crate::airbyte::interp::context;
    use serde_json::json;
    use serde_json::Map;
    use url::Url;

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
}
