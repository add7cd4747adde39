//! Requests beyond a GET: POST bodies with the page token in the body or a
//! header, GraphQL with `pageInfo` and errors in a 200, date windows with a
//! step, templates, rate budgets and OAuth2, each against a
//! real server on 127.0.0.1.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{drain, ids, records, server, spec};
use serde_json::{json, Value};
use tillflow_core::http_server::{Reply, Request};
use tillflow_core::CoreError;

fn body(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap_or(Value::Null)
}

#[test]
fn a_post_search_pages_with_the_cursor_in_the_json_body() {
    // Square's SearchOrders shape: `cursor` and `limit` in the body.
    let (srv, log) = server(|req, _| {
        assert_eq!(req.method, "POST");
        assert_eq!(req.header("content-type"), Some("application/json"));
        let b = body(req);
        assert_eq!(b["location_ids"], json!(["L1"]));
        let start: i64 = b["cursor"].as_str().map_or(0, |c| c.parse().unwrap());
        let end = (start + 4).min(10);
        let mut page = json!({"orders": records(start..end)});
        if end < 10 {
            page["cursor"] = json!(end.to_string());
        }
        Reply::json(200, page.to_string())
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"method": "POST", "body": {"location_ids": ["L1"], "limit": 4},
               "paginator": {"type": "cursor", "param": "cursor", "location": "body", "cursor_path": "cursor"},
               "records": "orders"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..10).collect::<Vec<_>>());
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(
        body(&log[0]).get("cursor"),
        None,
        "the first request has no cursor"
    );
    assert_eq!(body(&log[2])["cursor"], "8");
    assert_eq!(
        body(&log[2])["limit"],
        4,
        "the rest of the body is sent each time"
    );
}

#[test]
fn offset_paging_in_the_body_keeps_numbers_numbers() {
    // GA4's runReport shape: `limit` and `offset` in the body, `rowCount`.
    let (srv, log) = server(|req, _| {
        let b = body(req);
        let offset = b["offset"].as_i64().unwrap();
        let limit = b["limit"].as_i64().unwrap();
        let rows: Vec<Value> = (offset..(offset + limit).min(7))
            .map(|i| json!({"id": i}))
            .collect();
        Reply::json(200, json!({"rows": rows, "rowCount": 7}).to_string())
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"method": "POST", "body": {"dateRanges": [{"startDate": "2024-01-01", "endDate": "today"}]},
               "paginator": {"type": "offset", "limit": 3, "location": "body", "total_path": "rowCount"},
               "records": "rows", "concurrency": 2}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..7).collect::<Vec<_>>());
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn a_cursor_can_travel_in_a_header() {
    let (srv, log) = server(|req, _| {
        let start: i64 = req.header("x-page-token").map_or(0, |c| c.parse().unwrap());
        let end = (start + 5).min(12);
        let mut page = json!({"items": records(start..end)});
        if end < 12 {
            page["next"] = json!(end.to_string());
        }
        Reply::json(200, page.to_string())
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "cursor", "param": "X-Page-Token", "location": "header", "cursor_path": "next"},
               "records": "items"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..12).collect::<Vec<_>>());
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].header("x-page-token"), None);
    assert_eq!(log[2].header("x-page-token"), Some("10"));
}

#[test]
fn a_form_body_is_encoded_as_a_form() {
    let (srv, log) = server(|_, _| Reply::json(200, json!({"items": records(0..2)}).to_string()));
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"method": "POST", "body_format": "form", "body": {"filter": {"status": "open"}, "tag": ["a", "b"]},
               "records": "items"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0, 1]);
    let log = log.lock().unwrap();
    assert_eq!(
        log[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(log[0].body.to_vec()).unwrap(),
        "filter%5Bstatus%5D=open&tag=a&tag=b"
    );
}

fn graphql_orders(req: &Request, total: i64, size: i64) -> Reply {
    let b = body(req);
    assert!(b["query"].as_str().unwrap().contains("orders("));
    let after: i64 = b["variables"]["after"]
        .as_str()
        .map_or(0, |c| c.trim_start_matches("cur").parse().unwrap());
    let first = b["variables"]["first"].as_i64().unwrap_or(size);
    let end = (after + first).min(total);
    let nodes = records(after..end);
    Reply::json(
        200,
        json!({"data": {"orders": {"nodes": nodes, "pageInfo": {"hasNextPage": end < total, "endCursor": format!("cur{end}")}}},
               "extensions": {"cost": {"requestedQueryCost": 12, "actualQueryCost": 12,
                              "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 988, "restoreRate": 50.0}}}})
        .to_string(),
    )
}

const ORDERS_QUERY: &str = "query($first: Int!, $after: String, $query: String) { orders(first: $first, after: $after, query: $query) { nodes { id name } pageInfo { hasNextPage endCursor } } }";

#[test]
fn graphql_pages_by_page_info() {
    let (srv, log) = server(|req, _| graphql_orders(req, 11, 5));
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"graphql": {"query": ORDERS_QUERY, "variables": {"first": 5}, "page_info": "data.orders.pageInfo"},
               "records": "data.orders.nodes"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..11).collect::<Vec<_>>());
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "POST");
    assert_eq!(body(&log[0])["variables"], json!({"first": 5}));
    assert_eq!(
        body(&log[2])["variables"],
        json!({"first": 5, "after": "cur10"})
    );
}

#[test]
fn graphql_errors_in_a_200_fail_the_run_naming_them() {
    let (srv, _) = server(|_, _| {
        Reply::json(
            200,
            json!({"errors": [{"message": "Field 'totl' doesn't exist on type 'Order'", "locations": [{"line": 1, "column": 9}]}]})
                .to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"graphql": {"query": "{ orders(first: 5) { nodes { totl } } }"}, "records": "data.orders.nodes"}),
    ));
    assert!(t.is_empty());
    let e = err.expect("an error").to_string();
    assert!(
        e.contains("POST") && e.contains("1 error at \"errors\""),
        "{e}"
    );
    assert!(e.contains("Field 'totl' doesn't exist"), "{e}");
    assert!(e.contains("after 1 attempt"), "not retried: {e}");
}

#[test]
fn a_throttled_graphql_query_waits_for_its_points_and_runs_again() {
    let (srv, log) = server(|req, n| {
        if n == 0 {
            return Reply::json(
                200,
                json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                       "extensions": {"cost": {"requestedQueryCost": 60,
                                      "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 50, "restoreRate": 50.0}}}})
                .to_string(),
            );
        }
        graphql_orders(req, 3, 5)
    });
    let started = Instant::now();
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"graphql": {"query": ORDERS_QUERY, "variables": {"first": 5}, "page_info": "data.orders.pageInfo"},
               "records": "data.orders.nodes"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0, 1, 2]);
    assert_eq!(log.lock().unwrap().len(), 2);
    // (60 - 50) points at 50 a second: 0.2 s before the query runs again.
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn an_incremental_start_goes_into_a_graphql_search_string() {
    let (srv, log) = server(|req, _| graphql_orders(req, 2, 5));
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"graphql": {"query": ORDERS_QUERY,
                           "variables": {"first": 5, "query": "updated_at:>='{{ incremental.start }}'"},
                           "page_info": "data.orders.pageInfo"},
               "records": "data.orders.nodes", "cursor_field": "id",
               "incremental": {"cursor": "2024-05-01T00:00:00Z"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0, 1]);
    assert_eq!(
        body(&log.lock().unwrap()[0])["variables"]["query"],
        "updated_at:>='2024-05-01T00:00:00Z'"
    );
    // Without a stored cursor or a start, the variable is left out.
    let (srv, log) = server(|req, _| graphql_orders(req, 2, 5));
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"graphql": {"query": ORDERS_QUERY,
                           "variables": {"first": 5, "query": "updated_at:>='{{ incremental.start }}'"},
                           "page_info": "data.orders.pageInfo"},
               "records": "data.orders.nodes", "cursor_field": "id", "incremental": {}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        body(&log.lock().unwrap()[0])["variables"],
        json!({"first": 5})
    );
}

#[test]
fn a_step_splits_a_range_the_api_caps_into_windows() {
    // PayPal's transaction search: at most 31 days per request.
    let (srv, log) = server(|req, _| {
        let start = req.param("start_date").unwrap();
        let end = req.param("end_date").unwrap();
        let a = chrono::DateTime::parse_from_rfc3339(start).unwrap();
        let b = chrono::DateTime::parse_from_rfc3339(end).unwrap();
        if b - a > chrono::Duration::days(31) {
            return Reply::json(
                400,
                r#"{"name":"INVALID_REQUEST","message":"Date range is greater than 31 days"}"#,
            );
        }
        let id = a.timestamp() / 86_400;
        Reply::json(
            200,
            json!({"transaction_details": [{"id": id}]}).to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"windows": {"min_param": "start_date", "max_param": "end_date", "step": "31d",
                           "start": "2024-01-01T00:00:00Z", "end": "2024-06-30T23:59:59Z"},
               "records": "transaction_details"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t).len(), 6, "182 days in windows of 31");
    assert_eq!(log.lock().unwrap().len(), 6);
}

#[test]
fn window_templates_fill_a_body() {
    let (srv, log) = server(|req, _| {
        let b = body(req);
        let d = b["dateRanges"][0]["startDate"]
            .as_str()
            .unwrap()
            .to_string();
        let id: i64 = d.replace('-', "").parse().unwrap();
        Reply::json(200, json!({"rows": [{"id": id}]}).to_string())
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"method": "POST",
               "body": {"dateRanges": [{"startDate": "{{ window.start | date }}", "endDate": "{{ window.end | date }}"}]},
               "windows": {"step": "1d", "start": "2024-03-01T00:00:00Z", "end": "2024-03-03T23:59:59Z"},
               "records": "rows"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![20240301, 20240302, 20240303]);
    let log = log.lock().unwrap();
    let mut ranges: Vec<Value> = log
        .iter()
        .map(|r| body(r)["dateRanges"][0].clone())
        .collect();
    ranges.sort_by_key(|v| v["startDate"].as_str().unwrap().to_string());
    assert_eq!(
        ranges[0],
        json!({"startDate": "2024-03-01", "endDate": "2024-03-01"})
    );
}

#[test]
fn request_mistakes_are_named() {
    for (extra, field) in [
        (json!({"body": {"a": 1}}), "body"),
        (json!({"method": "POST", "body": [1]}), "body"),
        (
            json!({"paginator": {"type": "cursor", "param": "c", "location": "body", "cursor_path": "n"}}),
            "paginator.location",
        ),
        (
            json!({"graphql": {"query": "{x}"}, "method": "POST"}),
            "graphql",
        ),
        (json!({"graphql": {"query": " "}}), "graphql.query"),
        (
            json!({"windows": {"start": "2024-01-01T00:00:00Z", "step": "0s"}}),
            "windows.step",
        ),
        (
            json!({"rate_limit": {"requests": 0, "per": "1s"}}),
            "rate_limit.requests",
        ),
        (
            json!({"rate_limit": {"requests": 5, "per": "often"}}),
            "rate_limit.per",
        ),
        (json!({"method": "PUT"}), "method"),
    ] {
        let mut s = json!({"name": "x", "base_url": "http://127.0.0.1:9"});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        let e = tillflow_core::sources::spec::ResourceSpec::from_json(&s.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{extra}: {e}");
    }
}

/// A server that allows `limit` requests in any `window` (a sliding log),
/// answering 429 with Retry-After beyond it.
fn limited(
    limit: usize,
    window: Duration,
    total: i64,
) -> (tillflow_core::http_server::ServerHandle, Arc<AtomicUsize>) {
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let refused = Arc::new(AtomicUsize::new(0));
    let r = refused.clone();
    let (srv, _) = server(move |req, _| {
        let now = Instant::now();
        {
            let mut t = times.lock().unwrap();
            t.retain(|at| now.duration_since(*at) < window);
            if t.len() >= limit {
                r.fetch_add(1, Ordering::Relaxed);
                return Reply::json(429, r#"{"message":"slow down"}"#)
                    .with_header("retry-after", "1");
            }
            t.push(now);
        }
        let page: i64 = req.param("page").map_or(1, |p| p.parse().unwrap());
        let rows = if page <= total {
            records(page..page + 1)
        } else {
            json!([])
        };
        Reply::json(200, json!({"items": rows}).to_string())
    });
    (srv, refused)
}

#[test]
fn a_rate_budget_keeps_a_strict_server_from_refusing() {
    // 5 requests in any 500 ms; 12 pages with 4 in flight.
    let (srv, refused) = limited(5, Duration::from_millis(500), 12);
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "page_number"}, "records": "items", "concurrency": 4,
               "rate_limit": {"requests": 4, "per": "0.5s"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t).len(), 12);
    assert_eq!(
        refused.load(Ordering::Relaxed),
        0,
        "no 429 with the budget on"
    );

    // The same pages without a budget: the server refuses some, retries recover.
    let (srv, refused) = limited(5, Duration::from_millis(500), 12);
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "page_number"}, "records": "items", "concurrency": 4,
               "retry": {"max_attempts": 10, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05, "max_retry_after_secs": 0.2}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t).len(), 12);
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "the server does enforce its limit"
    );
}

#[test]
fn a_spent_budget_in_the_headers_pauses_the_next_request() {
    let stamps: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let s = stamps.clone();
    let (srv, _) = server(move |req, _| {
        s.lock().unwrap().push(Instant::now());
        let page: i64 = req.param("page").map_or(1, |p| p.parse().unwrap());
        let rows = if page <= 2 {
            records(page..page + 1)
        } else {
            json!([])
        };
        Reply::json(200, json!({"items": rows}).to_string())
            .with_header("ratelimit", "\"default\";r=0;t=1")
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "page_number"}, "records": "items", "concurrency": 1}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t).len(), 2);
    let stamps = stamps.lock().unwrap();
    assert_eq!(stamps.len(), 3);
    assert!(
        stamps[1] - stamps[0] >= Duration::from_millis(950),
        "{:?}",
        stamps[1] - stamps[0]
    );
}

/// A token endpoint and an API behind it. Access tokens are `at-N`; the
/// API refuses any but the latest. `expires_in` is what the endpoint says.
struct OAuthServer {
    srv: tillflow_core::http_server::ServerHandle,
    log: common::Log,
}

fn oauth_server(expires_in: u64) -> OAuthServer {
    let issued = Arc::new(AtomicUsize::new(0));
    let (srv, log) = server(move |req, _| {
        if req.path == "/oauth/token" {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            if req.header("authorization") != Some("Basic Y2xpZW50OnMzY3IzdC1jbGllbnQ=") {
                return Reply::json(
                    401,
                    r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
                );
            }
            if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
                return Reply::json(400, r#"{"error":"unsupported_grant_type"}"#);
            }
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::json(
                200,
                json!({"access_token": format!("at-{n}-long-enough"), "token_type": "Bearer", "expires_in": expires_in})
                    .to_string(),
            );
        }
        let latest = format!("Bearer at-{}-long-enough", issued.load(Ordering::SeqCst));
        if req.header("authorization") != Some(latest.as_str()) {
            return Reply::json(401, r#"{"error":"invalid_token"}"#);
        }
        let page: i64 = req.param("page").map_or(1, |p| p.parse().unwrap());
        let rows = if page <= 3 {
            records(page..page + 1)
        } else {
            json!([])
        };
        Reply::json(200, json!({"items": rows}).to_string())
    });
    OAuthServer { srv, log }
}

fn client_credentials(base: &str, secret: &str) -> Value {
    json!({"type": "oauth2_client_credentials", "token_url": format!("{base}/oauth/token"),
           "client_id": "client", "client_secret": secret})
}

#[test]
fn client_credentials_buy_a_token_that_every_request_uses() {
    let s = oauth_server(3600);
    let base = s.srv.url();
    let (t, err) = drain(spec(
        &base,
        json!({"auth": client_credentials(&base, "s3cr3t-client"), "paginator": {"type": "page_number"},
               "records": "items", "concurrency": 1}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![1, 2, 3]);
    let log = s.log.lock().unwrap();
    let tokens = log.iter().filter(|r| r.path == "/oauth/token").count();
    assert_eq!(tokens, 1, "one token for every page");
    assert_eq!(log.len(), 1 + 4);
}

#[test]
fn an_expired_or_revoked_token_is_renewed() {
    // Tokens that expire at once: each request buys a new one first.
    let s = oauth_server(0);
    let base = s.srv.url();
    let (t, err) = drain(spec(
        &base,
        json!({"auth": client_credentials(&base, "s3cr3t-client"), "paginator": {"type": "page_number"},
               "records": "items", "concurrency": 1}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![1, 2, 3]);
    let log = s.log.lock().unwrap();
    assert_eq!(log.iter().filter(|r| r.path == "/oauth/token").count(), 4);
}

#[test]
fn a_wrong_client_secret_is_an_auth_error_without_the_secret() {
    let s = oauth_server(3600);
    let base = s.srv.url();
    let (_, err) = drain(spec(
        &base,
        json!({"auth": client_credentials(&base, "wrong-secret-value"), "records": "items"}),
    ));
    let e = err.expect("refused");
    assert!(matches!(e, CoreError::Auth { status: 401, .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("/oauth/token") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(text.contains("items refused"), "names the resource: {text}");
    assert!(!text.contains("wrong-secret-value"), "{text}");
}

#[test]
fn refresh_tokens_rotate_through_the_token_file() {
    let dir = std::env::temp_dir().join(format!("tf-rotate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("qbo.json");
    // The server hands out rt-(n+1) for rt-n and revokes rt-n.
    let valid = Arc::new(Mutex::new("rt-0-initial".to_string()));
    let access = Arc::new(Mutex::new(String::new()));
    let (v, a) = (valid.clone(), access.clone());
    let (srv, log) = server(move |req, _| {
        if req.path == "/token" {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            let mut v = v.lock().unwrap();
            if form.get("refresh_token") != Some(&*v) {
                return Reply::json(400, r#"{"error":"invalid_grant"}"#);
            }
            let n: usize = v.split('-').nth(1).unwrap().parse().unwrap();
            *v = format!("rt-{}-rotated", n + 1);
            *a.lock().unwrap() = format!("access-{}-token", n + 1);
            return Reply::json(
                200,
                json!({"access_token": *a.lock().unwrap(), "expires_in": 3600, "refresh_token": *v,
                       "x_refresh_token_expires_in": 8726400, "token_type": "bearer"})
                .to_string(),
            );
        }
        if req.header("authorization") != Some(format!("Bearer {}", a.lock().unwrap()).as_str()) {
            return Reply::json(
                401,
                r#"{"fault":{"error":[{"message":"message=AuthenticationFailed; errorCode=003200"}]}}"#,
            );
        }
        Reply::json(200, json!({"items": records(0..2)}).to_string())
    });
    let base = srv.url();
    let auth = json!({"type": "oauth2_refresh_token", "token_url": format!("{base}/token"),
                      "client_id": "qbo-client", "client_secret": "qbo-secret-1", "refresh_token": "rt-0-initial",
                      "token_store": store.to_str().unwrap()});
    let (t, err) = drain(spec(&base, json!({"auth": auth, "records": "items"})));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0, 1]);
    let kept: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(
        kept["refresh_token"], "rt-1-rotated",
        "the rotated token is on disk"
    );
    assert_eq!(*valid.lock().unwrap(), "rt-1-rotated");
    let text = std::fs::read_to_string(&store).unwrap();
    assert!(
        !text.contains("qbo-secret-1"),
        "the client secret is not stored"
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_service_account_signs_a_jwt_for_its_token() {
    let key = include_str!("data/service_account_key.pem");
    let public = include_str!("data/service_account_pub.pem");
    let (srv, log) = server(move |req, _| {
        if req.path == "/token" {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            assert_eq!(
                form["grant_type"],
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            );
            let mut check = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            check.set_audience(&[format!("http://{}/token", req.header("host").unwrap())]);
            check.set_issuer(&["reports@shop.iam.gserviceaccount.com"]);
            let decoded = jsonwebtoken::decode::<Value>(
                &form["assertion"],
                &jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
                &check,
            );
            return match decoded {
                Ok(d) => {
                    assert_eq!(
                        d.claims["scope"],
                        "https://www.googleapis.com/auth/analytics.readonly"
                    );
                    assert_eq!(d.header.kid.as_deref(), Some("key-1"));
                    Reply::json(
                        200,
                        r#"{"access_token":"ya29.demo-access","expires_in":3599,"token_type":"Bearer"}"#,
                    )
                }
                Err(e) => Reply::json(
                    400,
                    json!({"error": "invalid_grant", "error_description": e.to_string()})
                        .to_string(),
                ),
            };
        }
        assert_eq!(req.header("authorization"), Some("Bearer ya29.demo-access"));
        Reply::json(200, json!({"rows": records(0..3)}).to_string())
    });
    let base = srv.url();
    let (t, err) = drain(spec(
        &base,
        json!({"auth": {"type": "jwt_service_account", "client_email": "reports@shop.iam.gserviceaccount.com",
                        "private_key": key, "private_key_id": "key-1", "token_url": format!("{base}/token"),
                        "scopes": ["https://www.googleapis.com/auth/analytics.readonly"]},
               "records": "rows"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0, 1, 2]);
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[test]
fn page_templates_carry_the_position_inside_a_query_string() {
    // QuickBooks: STARTPOSITION inside the SQL-like query; an empty answer
    // leaves the entity's list out.
    let (srv, log) = server(|req, _| {
        let q = req.param("query").unwrap().to_string();
        let start: i64 = q
            .split("STARTPOSITION ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        let rows: Vec<Value> = (start..(start + 3).min(8))
            .map(|i| json!({"id": i}))
            .collect();
        let body = if rows.is_empty() {
            json!({"QueryResponse": {}, "time": "2024-01-05T10:00:00-08:00"})
        } else {
            json!({"QueryResponse": {"Invoice": rows, "startPosition": start, "maxResults": 3}})
        };
        Reply::json(200, body.to_string())
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"params": {"query": "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '{{ incremental.start }}' STARTPOSITION {{ page.offset }} MAXRESULTS {{ page.limit }}"},
               "paginator": {"type": "offset", "limit": 3, "start": 1, "location": "template"},
               "records": "QueryResponse.Invoice", "records_optional": true,
               "cursor_field": "id", "incremental": {"start": "2024-01-01T00:00:00Z"}, "concurrency": 1}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (1..8).collect::<Vec<_>>());
    let log = log.lock().unwrap();
    assert_eq!(
        log.len(),
        3,
        "7 rows in pages of 3: the short third page ends it"
    );
    assert_eq!(
        log[1].param("query"),
        Some("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2024-01-01T00:00:00Z' STARTPOSITION 4 MAXRESULTS 3")
    );
    assert_eq!(
        log[0].param("offset"),
        None,
        "the position goes only into the template"
    );

    // An empty answer is an empty page, not an error.
    let (srv, _) = server(|_, _| Reply::json(200, r#"{"QueryResponse": {}, "time": "x"}"#));
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"params": {"query": "SELECT * FROM Invoice STARTPOSITION {{ page.offset }}"},
               "paginator": {"type": "offset", "limit": 3, "start": 1, "location": "template"},
               "records": "QueryResponse.Invoice", "records_optional": true}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert!(t.iter().all(|(_, df)| df.height() == 0));
    // A template the paginator does not fill is a mistake named up front.
    let e = tillflow_core::sources::spec::ResourceSpec::from_json(
        &json!({"name": "x", "base_url": "http://x", "params": {"q": "{{ page.offset }}"}})
            .to_string(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("paginator.location"), "{e}");
}

#[test]
fn a_stop_flag_ends_an_export_that_always_has_a_next_url() {
    // Zendesk's incremental export: `after_url` is always set, `end_of_stream` ends it.
    let (srv, log) = server(|req, _| {
        let page: i64 = req.param("cursor").map_or(0, |c| c.parse().unwrap());
        Reply::json(
            200,
            json!({"tickets": records(page * 2..page * 2 + 2), "after_url": format!("/export?cursor={}", page + 1),
                   "end_of_stream": page == 2})
            .to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"path": "export", "paginator": {"type": "next_url", "path": "after_url", "stop_path": "end_of_stream"},
               "records": "tickets"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..6).collect::<Vec<_>>());
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn windows_start_at_the_incremental_cursor_and_odd_timestamps_are_read() {
    let (srv, log) = server(|req, _| {
        Reply::json(
            200,
            json!({"items": [{"id": 1, "changed": "/Date(1709287200000+0000)/"}]}).to_string(),
        )
        .with_header("x-start", req.param("start_date").unwrap_or(""))
    });
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"windows": {"min_param": "start_date", "max_param": "end_date", "step": "31d", "from_cursor": true,
                           "start": "2024-01-01T00:00:00Z", "end": "2024-03-31T23:59:59Z"},
               "headers": {"If-Modified-Since": "{{ incremental.start | naive }}"},
               "records": "items", "cursor_field": "changed",
               "incremental": {"cursor": "2024-03-01T10:00:00+0000", "lookback": "1h"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1, "one window from the cursor to the end");
    assert_eq!(log[0].param("start_date"), Some("2024-03-01T09:00:00Z"));
    assert_eq!(
        log[0].header("if-modified-since"),
        Some("2024-03-01T09:00:00")
    );
}

#[test]
fn report_rows_get_their_column_names() {
    // GA4's runReport: names once per page, values by position in each row.
    let (srv, _) = server(|_, _| {
        Reply::json(
            200,
            json!({"dimensionHeaders": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
                   "metricHeaders": [{"name": "sessions", "type": "TYPE_INTEGER"}, {"name": "totalRevenue", "type": "TYPE_CURRENCY"}],
                   "rows": [
                       {"dimensionValues": [{"value": "20240301"}, {"value": "Organic Search"}], "metricValues": [{"value": "12"}, {"value": "340.5"}]},
                       {"dimensionValues": [{"value": "20240301"}, {"value": "Email"}], "metricValues": [{"value": "3"}, {"value": "0"}]}],
                   "rowCount": 2})
            .to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"records": "rows", "zip": [{"names": "dimensionHeaders", "values": "dimensionValues"},
                                          {"names": "metricHeaders", "values": "metricValues"}]}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        t.len(),
        1,
        "no child tables for the positional lists: {t:?}"
    );
    let df = &t[0].1;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "date",
            "sessionDefaultChannelGroup",
            "sessions",
            "totalRevenue",
            "_tf_id"
        ]
    );
    assert_eq!(df.height(), 2);
}
