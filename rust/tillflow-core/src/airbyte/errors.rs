//! A requester's `DefaultErrorHandler`: its response filters first, then
//! Airbyte's default mapping of statuses to actions (408, 429 and 5xx
//! retried, other 4xx failed), and how long to wait before a retry (its
//! backoff strategies, else the server's `Retry-After`, else 5 s doubling).

use std::time::Duration;

use serde_json::{Map, Value};

use super::fields::{cfg, get_str, number};
use super::http::header_map;
use super::interp::{context, Interp};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
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
    pub max_retries: u32,
    filters: Vec<Filter>,
    backoffs: Vec<Backoff>,
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

    pub fn resolve(
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

    pub fn wait(&self, attempt: u32, headers: &reqwest::header::HeaderMap) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
