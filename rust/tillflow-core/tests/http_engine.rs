//! The HTTP engine against real servers on 127.0.0.1: every paginator, auth
//! kind and retry path, with exact counts.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{drain, ids, records, server, spec, Log};
use serde_json::{json, Value};
use tillflow_core::http_server::{Reply, Request, ServerHandle};
use tillflow_core::sources::stream::ResourceStream;
use tillflow_core::CoreError;

#[test]
fn link_header_paging() {
    let (srv, log) = server(|req, _| {
        let page: i64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        let mut r = Reply::json(
            200,
            json!({"items": records(page * 3..page * 3 + 3)}).to_string(),
        );
        if page < 2 {
            r = r.with_header(
                "link",
                format!("</items?page={}&limit=3>; rel=\"next\"", page + 1),
            );
        }
        r
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "link_header"}, "records": "items"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..9).collect::<Vec<_>>());
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn stripe_cursor_from_last_record() {
    let (srv, log) = server(|req, _| {
        let after: i64 = req
            .param("starting_after")
            .map_or(-1, |p| p.parse().unwrap());
        let start = after + 1;
        let end = (start + 4).min(10);
        Reply::json(
            200,
            json!({"object": "list", "data": records(start..end), "has_more": end < 10})
                .to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "cursor", "param": "starting_after", "cursor_from_last_record": "id", "has_more_path": "has_more"},
               "records": "data", "params": {"limit": 4}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..10).collect::<Vec<_>>());
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].param("starting_after"), Some("7"));
    assert_eq!(log[2].param("limit"), Some("4"));
}

#[test]
fn hubspot_cursor_in_body() {
    let (srv, _) = server(|req, _| {
        let after: i64 = req.param("after").map_or(0, |p| p.parse().unwrap());
        let mut body = json!({"results": records(after..after + 5)});
        if after < 10 {
            body["paging"] = json!({"next": {"after": (after + 5).to_string(), "link": "ignored"}});
        }
        Reply::json(200, body.to_string())
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "cursor", "param": "after", "cursor_path": "paging.next.after"}, "records": "results"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..15).collect::<Vec<_>>());
}

#[test]
fn next_url_in_body_relative_and_absolute() {
    let (srv, _) = server(|req, _| {
        let page: i64 = req.param("p").map_or(0, |p| p.parse().unwrap());
        let next = match page {
            0 => json!("items?p=1"),
            1 => json!(format!("http://{}/items?p=2", req.header("host").unwrap())),
            _ => Value::Null,
        };
        Reply::json(
            200,
            json!({"results": records(page * 2..page * 2 + 2), "next": next}).to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "next_url", "path": "next"}, "records": "results"}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..6).collect::<Vec<_>>());
}

/// Serves 23 records by offset, slowly, counting requests in flight.
fn offset_server(report_total: bool) -> (ServerHandle, Log, Arc<AtomicUsize>) {
    let peak = Arc::new(AtomicUsize::new(0));
    let live = Arc::new(AtomicUsize::new(0));
    let p = peak.clone();
    let (srv, log) = server(move |req, _| {
        let now = live.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        live.fetch_sub(1, Ordering::SeqCst);
        let offset: i64 = req.param("offset").unwrap().parse().unwrap();
        let limit: i64 = req.param("limit").unwrap().parse().unwrap();
        let end = (offset + limit).min(23);
        let mut body = json!({"items": records(offset.min(23)..end)});
        if report_total {
            body["total"] = json!(23);
        }
        Reply::json(200, body.to_string())
    });
    (srv, log, peak)
}

#[test]
fn offset_paging_runs_concurrently_and_stops_on_short_page() {
    let (srv, log, peak) = offset_server(false);
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "offset", "limit": 5}, "records": "items", "concurrency": 4}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..23).collect::<Vec<_>>());
    assert!(
        peak.load(Ordering::SeqCst) >= 2,
        "requests never overlapped"
    );
    // Five pages hold the data; speculative requests past the end are bounded.
    let n = log.lock().unwrap().len();
    assert!((5..=8).contains(&n), "{n} requests");
}

#[test]
fn offset_paging_with_total_fetches_exactly_the_pages() {
    let (srv, log, _) = offset_server(true);
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "offset", "limit": 5, "total_path": "total"}, "records": "items", "concurrency": 3}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..23).collect::<Vec<_>>());
    assert_eq!(log.lock().unwrap().len(), 5);
}

#[test]
fn page_number_paging() {
    let (srv, log) = server(|req, _| {
        let page: i64 = req.param("page").unwrap().parse().unwrap();
        let data = if page <= 3 {
            records((page - 1) * 10..page * 10)
        } else {
            json!([])
        };
        Reply::json(200, json!({"data": data, "total_pages": 3}).to_string())
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "page_number"}, "records": "data", "concurrency": 2}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..30).collect::<Vec<_>>());
    assert!(log.lock().unwrap().len() <= 5);
    let (t, _) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "page_number", "total_pages_path": "total_pages", "page_size": 10, "page_size_param": "per_page"},
               "records": "data"}),
    ));
    assert_eq!(ids(&t).len(), 30);
}

#[test]
fn single_page_array_body() {
    let (srv, _) = server(|_, _| Reply::json(200, records(0..4).to_string()));
    let (t, err) = drain(spec(&srv.url(), json!({})));
    assert!(err.is_none());
    assert_eq!(ids(&t), vec![0, 1, 2, 3]);
}

fn guarded(check: impl Fn(&Request) -> bool + Send + Sync + 'static) -> ServerHandle {
    server(move |req, _| {
        if check(req) {
            Reply::json(200, records(0..2).to_string())
        } else {
            Reply::json(401, r#"{"error":"bad credentials"}"#)
        }
    })
    .0
}

#[test]
fn auth_kinds() {
    let srv = guarded(|r| r.header("authorization") == Some("Bearer tok-123"));
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "bearer", "token": "tok-123"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t).len(), 2);

    let srv = guarded(|r| r.header("x-api-key") == Some("k-456"));
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "api_key", "name": "X-Api-Key", "value": "k-456"}}),
    ));
    assert!(err.is_none(), "{err:?}");

    let srv = guarded(|r| r.param("api_key") == Some("q-789"));
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "api_key", "name": "api_key", "value": "q-789", "location": "query"}}),
    ));
    assert!(err.is_none(), "{err:?}");

    // "user:pa55" in base64.
    let srv = guarded(|r| r.header("authorization") == Some("Basic dXNlcjpwYTU1"));
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "basic", "username": "user", "password": "pa55"}}),
    ));
    assert!(err.is_none(), "{err:?}");
}

#[test]
fn refused_credentials_fail_at_once_without_leaking_them() {
    let (srv, log) =
        server(|_, _| Reply::json(401, r#"{"errors":"Invalid API key q-secret-789"}"#));
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "api_key", "name": "api_key", "value": "q-secret-789", "location": "query"}}),
    ));
    let err = err.expect("an error");
    assert!(
        matches!(err, CoreError::Auth { status: 401, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(!msg.contains("q-secret-789"), "{msg}");
    assert!(
        msg.contains("401 Unauthorized") && msg.contains("Invalid API key ***"),
        "{msg}"
    );
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn not_found_is_not_retried() {
    let (srv, log) = server(|_, _| Reply::json(404, r#"{"errors":"Not Found"}"#));
    let (_, err) = drain(spec(&srv.url(), json!({})));
    let err = err.unwrap();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("after 1 attempt"), "{err}");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn too_many_requests_honours_retry_after_seconds_and_dates() {
    let (srv, log) = server(|_, n| {
        if n == 0 {
            Reply::json(429, "{}").with_header("retry-after", "1")
        } else {
            Reply::json(200, records(0..1).to_string())
        }
    });
    let t0 = Instant::now();
    let (t, err) = drain(spec(&srv.url(), json!({})));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0]);
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(log.lock().unwrap().len(), 2);

    let (srv, log) = server(|_, n| {
        if n == 0 {
            let when =
                httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
            Reply::json(429, "{}").with_header("retry-after", when)
        } else {
            Reply::json(200, records(0..1).to_string())
        }
    });
    let t0 = Instant::now();
    let (_, err) = drain(spec(&srv.url(), json!({})));
    assert!(err.is_none(), "{err:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[test]
fn server_errors_back_off_then_succeed() {
    let (srv, log) = server(|_, n| match n {
        0 => Reply::json(503, "{}"),
        1 => Reply::Hangup,
        _ => Reply::json(200, records(0..3).to_string()),
    });
    let (t, err) = drain(spec(&srv.url(), json!({})));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t).len(), 3);
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn retries_run_out_with_a_clear_error() {
    let (srv, log) = server(|_, _| Reply::json(500, "{}"));
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "bearer", "token": "very-secret"}, "params": {"q": 1}}),
    ));
    let err = err.unwrap();
    let msg = err.to_string();
    assert_eq!(err.status(), Some(500));
    assert!(
        msg.contains("HTTP 500") && msg.contains("after 3 attempts"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}/items?q=1", srv.url())), "{msg}");
    assert!(!msg.contains("very-secret"));
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn timeouts_and_refused_connections() {
    let (srv, _) = server(|_, _| Reply::json(200, "[]").delayed(Duration::from_secs(2)));
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"timeout_secs": 0.2, "retry": {"max_attempts": 2, "initial_backoff_secs": 0.01}}),
    ));
    let msg = err.unwrap().to_string();
    assert!(
        msg.contains("timed out after 0.2s") && msg.contains("after 2 attempts"),
        "{msg}"
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_, err) = drain(spec(&format!("http://127.0.0.1:{port}"), json!({})));
    let msg = err.unwrap().to_string();
    assert!(
        msg.contains("connection failed") && msg.contains("after 3 attempts"),
        "{msg}"
    );
}

#[test]
fn malformed_page_keeps_earlier_records() {
    let (srv, _) = server(|req, _| {
        let page: i64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        if page == 2 {
            return Reply::json(200, r#"{"items": [{"id": 1"#);
        }
        Reply::json(
            200,
            json!({"items": records(page * 3..page * 3 + 3)}).to_string(),
        )
        .with_header("link", format!("</items?page={}>; rel=\"next\"", page + 1))
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "link_header"}, "records": "items"}),
    ));
    // Fetched again as a broken transfer until the retries run out.
    let err = err.unwrap();
    assert!(
        matches!(err, CoreError::Http { attempts: 3, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("page=2")
            && text.contains("not valid JSON")
            && text.contains("after 3 attempts"),
        "{err}"
    );
    assert_eq!(ids(&t), (0..6).collect::<Vec<_>>());
}

#[test]
fn time_windows_split_one_chain_into_many() {
    let (srv, log) = server(|req, _| {
        let lo = req.param("since").unwrap().to_string();
        let day: i64 = lo[8..10].parse().unwrap();
        Reply::json(
            200,
            json!({"items": records(day * 100..day * 100 + 2)}).to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"records": "items", "windows": {"min_param": "since", "max_param": "until",
               "start": "2024-01-01T00:00:00Z", "end": "2024-01-04T23:59:59Z", "count": 4}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![100, 101, 200, 201, 300, 301, 400, 401]);
    let mut untils: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.param("until").unwrap().to_string())
        .collect();
    untils.sort();
    assert_eq!(untils[0], "2024-01-01T23:59:59Z");
}

#[test]
fn batches_are_bounded_and_the_cursor_is_reported() {
    let (srv, _) = server(|req, _| {
        let page: i64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        let recs: Vec<Value> = (page * 10..page * 10 + 10)
            .map(|i| json!({"id": i, "updated_at": format!("2024-01-01T00:00:{:02}Z", 59 - i)}))
            .collect();
        let mut r = Reply::json(200, json!({"items": recs}).to_string());
        if page < 4 {
            r = r.with_header("link", format!("</items?page={}>; rel=\"next\"", page + 1));
        }
        r
    });
    let s = spec(
        &srv.url(),
        json!({"paginator": {"type": "link_header"}, "records": "items", "batch_size": 20, "cursor_field": "updated_at"}),
    );
    let mut stream = ResourceStream::open(s).unwrap();
    let mut sizes = Vec::new();
    let mut last = None;
    while let Some(b) = stream.next_batch() {
        let b = b.unwrap();
        sizes.push(b.records);
        if b.last {
            last = b.state.get("cursor").cloned();
        }
    }
    assert_eq!(sizes.iter().sum::<usize>(), 50);
    assert!(sizes.iter().all(|&n| n <= 29), "{sizes:?}");
    assert_eq!(last, Some(json!("2024-01-01T00:00:59Z")));
}

/// Record ids in a batch's root table.
fn batch_ids(b: &tillflow_core::sources::stream::Batch) -> Vec<i64> {
    match b.tables.first() {
        Some((_, df)) => df
            .column("id")
            .unwrap()
            .cast(&polars::prelude::DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect(),
        None => Vec::new(),
    }
}

/// A stream stopped after any number of batches and resumed from the state
/// committed with the last one delivers every record exactly once, over
/// several windows (chains) and workers.
#[test]
fn a_stream_resumes_after_any_committed_batch() {
    let (srv, _) = server(|req, _| {
        // The first page of a window names it by its start second (?w0=…:0N Z).
        let win: i64 = match req.param("w") {
            Some(w) => w.parse().unwrap(),
            None => {
                let w0 = req.param("w0").unwrap();
                w0[w0.len() - 2..w0.len() - 1].parse().unwrap()
            }
        };
        let page: i64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        let recs: Vec<Value> = (0..7)
            .map(|i| {
                let id = win * 1000 + page * 10 + i;
                json!({"id": id, "updated_at": format!("2024-01-0{}T00:{:02}:{:02}Z", 1 + win, page, i)})
            })
            .collect();
        let mut r = Reply::json(200, json!({"items": recs}).to_string());
        if page < 5 {
            r = r.with_header(
                "link",
                format!("</items?w={win}&page={}>; rel=\"next\"", page + 1),
            );
        }
        r
    });
    let base = json!({
        "paginator": {"type": "link_header"}, "records": "items", "batch_size": 10,
        "cursor_field": "updated_at", "primary_key": "id",
        "windows": {"min_param": "w0", "max_param": "w1", "start": "2024-01-01T00:00:00Z",
                    "end": "2024-01-01T00:00:03Z", "count": 4},
    });
    // Windows become ?w0=…&w1=…; the server keys pages on `w`, so map them.
    let all: usize = 4 * 6 * 7;
    for stop_after in 0..8 {
        let mut seen: Vec<i64> = Vec::new();
        let mut state = Value::Null;
        let mut stream = ResourceStream::open(spec(&srv.url(), base.clone())).unwrap();
        for _ in 0..stop_after {
            let Some(b) = stream.next_batch() else { break };
            let b = b.unwrap();
            seen.extend(batch_ids(&b));
            state = b.state;
        }
        drop(stream);
        let mut again = base.clone();
        if let Some(r) = state.get("resume") {
            again["resume"] = r.clone();
        }
        let mut stream = ResourceStream::open(spec(&srv.url(), again)).unwrap();
        let mut last = Value::Null;
        while let Some(b) = stream.next_batch() {
            let b = b.unwrap();
            seen.extend(batch_ids(&b));
            last = b.state;
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            seen.len(),
            "a record came twice (stopped after {stop_after})"
        );
        assert_eq!(seen.len(), all, "records lost (stopped after {stop_after})");
        assert!(last.get("resume").is_none());
        assert_eq!(last["cursor"], json!("2024-01-04T00:05:06Z"));
        assert_eq!(last["boundary"], json!(["3056"]));
    }
}
