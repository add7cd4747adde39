//! What the HTTP engine sends where, and what it does with a body that does
//! not parse: credentials stay with the configured origin across redirects,
//! a 200 cut short is fetched again, a chain that loops is refused, and no
//! form of a credential reaches an error message. Real servers on 127.0.0.1.

mod common;

use common::{drain, ids, records, server, spec};
use serde_json::{json, Value};
use tillflow_core::http_server::{Reply, Request};

/// Every header and query value a request carried, as one text.
fn everything_sent(req: &Request) -> String {
    let mut s = format!(
        "{} {}",
        req.path,
        serde_json::to_string(&req.query).unwrap()
    );
    for (k, v) in &req.headers {
        s.push_str(&format!("\n{k}: {}", v.to_str().unwrap_or("?")));
    }
    s
}

const TOKEN: &str = "tok-Cross0rigin/+=";

/// Each way a credential can be configured, with the header or parameter
/// that carries it.
fn auth_kinds() -> Vec<(&'static str, Value)> {
    vec![
        (
            "bearer",
            json!({"auth": {"type": "bearer", "token": TOKEN}}),
        ),
        (
            "basic",
            json!({"auth": {"type": "basic", "username": "shop", "password": TOKEN}}),
        ),
        (
            "api key header",
            json!({"auth": {"type": "api_key", "name": "X-Api-Key", "value": TOKEN}}),
        ),
        (
            "api key query",
            json!({"auth": {"type": "api_key", "name": "api_key", "value": TOKEN, "location": "query"}}),
        ),
        (
            "credential header",
            json!({"headers": {"X-Shopify-Access-Token": TOKEN}}),
        ),
    ]
}

#[test]
fn a_cross_origin_redirect_carries_no_credential_and_no_referer() {
    for (kind, auth) in auth_kinds() {
        let (other, other_log) = server(|_, _| Reply::json(200, records(0..3).to_string()));
        let target = format!("{}/elsewhere/items?page=1", other.url());
        let (origin, origin_log) =
            server(move |_, _| Reply::json(302, "").with_header("location", target.clone()));
        let (t, err) = drain(spec(&origin.url(), auth));
        assert!(err.is_none(), "{kind}: {err:?}");
        assert_eq!(ids(&t), vec![0, 1, 2], "{kind}");
        let first = everything_sent(&origin_log.lock().unwrap()[0]);
        assert!(
            first.contains(TOKEN)
                || first.contains("c2hvcDp0b2stQ3Jvc3MwcmlnaW4vKz0=")
                || first.contains("tok-Cross0rigin%2F%2B%3D"),
            "{kind}: the configured origin got no credential: {first}"
        );
        let log = other_log.lock().unwrap();
        assert_eq!(log.len(), 1, "{kind}");
        let sent = everything_sent(&log[0]);
        let lower = sent.to_ascii_lowercase();
        for needle in [
            "tok-cross0rigin",
            "c2hvcdp0b2st",
            "authorization",
            "x-api-key",
            "x-shopify",
            "referer",
            "api_key",
        ] {
            assert!(
                !lower.contains(needle),
                "{kind}: {needle} went to the other origin: {sent}"
            );
        }
        assert_eq!(log[0].param("page"), Some("1"), "{kind}");
    }
}

#[test]
fn a_redirect_that_echoes_the_query_key_loses_it_on_the_way_out() {
    let (other, other_log) = server(|_, _| Reply::json(200, records(0..1).to_string()));
    let base = other.url();
    let (origin, _) = server(move |req, _| {
        let key = req.param("api_key").unwrap_or("").to_string();
        Reply::json(301, "").with_header(
            "location",
            format!("{base}/items?api_key={}&keep=1", urlencode(&key)),
        )
    });
    let (t, err) = drain(spec(
        &origin.url(),
        json!({"auth": {"type": "api_key", "name": "api_key", "value": TOKEN, "location": "query"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0]);
    let req = &other_log.lock().unwrap()[0];
    assert_eq!(req.param("api_key"), None, "{:?}", req.query);
    assert_eq!(req.param("keep"), Some("1"));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn a_same_origin_redirect_keeps_the_credentials() {
    let (srv, log) = server(|req, _| {
        if req.path == "/items" {
            return Reply::json(308, "").with_header("location", "/v2/items");
        }
        if req.header("authorization") == Some(&format!("Bearer {TOKEN}")) {
            Reply::json(200, records(0..2).to_string())
        } else {
            Reply::json(401, r#"{"error":"no token"}"#)
        }
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "bearer", "token": TOKEN}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![0, 1]);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert!(log[1].header("referer").is_none());
}

#[test]
fn a_redirect_to_another_host_name_is_another_origin() {
    // The origin is scheme, host and port, compared as written: the base
    // `localhost` and a redirect to `127.0.0.1` are two origins, even on
    // one machine, so the second gets no credential.
    let (other, other_log) = server(|_, _| Reply::json(200, records(0..1).to_string()));
    let target = format!("{}/items", other.url());
    let (origin, _) =
        server(move |_, _| Reply::json(307, "").with_header("location", target.clone()));
    let base = origin.url().replace("127.0.0.1", "localhost");
    let (_, err) = drain(spec(
        &base,
        json!({"auth": {"type": "bearer", "token": TOKEN}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert!(other_log.lock().unwrap()[0]
        .header("authorization")
        .is_none());
}

#[test]
fn redirect_loops_and_broken_redirects_fail_naming_the_url() {
    let (srv, log) = server(|req, _| {
        let n: u32 = req.param("n").map_or(0, |v| v.parse().unwrap());
        Reply::json(302, "").with_header("location", format!("/items?n={}", n + 1))
    });
    let (_, err) = drain(spec(&srv.url(), json!({})));
    let err = err.expect("an error");
    let text = err.to_string();
    assert!(text.contains("more than 10 redirects"), "{text}");
    assert!(text.contains(&format!("{}/items", srv.url())), "{text}");
    // One attempt: a redirect loop is not retried.
    assert_eq!(log.lock().unwrap().len(), 11);

    let (srv, _) = server(|_, _| Reply::json(302, ""));
    let (_, err) = drain(spec(&srv.url(), json!({})));
    let text = err.expect("an error").to_string();
    assert!(
        text.contains("HTTP 302 without a Location header"),
        "{text}"
    );

    let (srv, _) = server(|_, _| Reply::json(302, "").with_header("location", "ftp://x/y"));
    let (_, err) = drain(spec(&srv.url(), json!({})));
    let text = err.expect("an error").to_string();
    assert!(text.contains("not an HTTP URL"), "{text}");
}

/// `text` cut to `fraction` of its bytes: a body whose Content-Length
/// matches what is sent, yet is not whole JSON.
fn cut(text: &str, fraction: f64) -> String {
    text[..(text.len() as f64 * fraction) as usize].to_string()
}

#[test]
fn a_truncated_200_is_fetched_again_and_loads_exactly_once() {
    let (srv, log) = server(|req, n| {
        let page: i64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        let body = json!({"items": records(page * 5..page * 5 + 5)}).to_string();
        let body = if page == 1 && n < 2 {
            cut(&body, 0.7)
        } else {
            body
        };
        let mut r = Reply::json(200, body);
        if page < 2 {
            r = r.with_header("link", format!("</items?page={}>; rel=\"next\"", page + 1));
        }
        r
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "link_header"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), (0..15).collect::<Vec<_>>());
    // Page 1 twice: cut once, then whole.
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[test]
fn a_body_that_never_parses_fails_naming_url_and_attempts_and_keeps_earlier_pages() {
    let (srv, log) = server(|req, _| {
        let page: i64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        if page == 1 {
            return Reply::json(200, "<html>Gateway busy</html>");
        }
        Reply::json(
            200,
            json!({"items": records(page * 5..page * 5 + 5)}).to_string(),
        )
        .with_header("link", format!("</items?page={}>; rel=\"next\"", page + 1))
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "link_header"}}),
    ));
    let err = err.expect("an error");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}/items?page=1", srv.url())),
        "{text}"
    );
    assert!(text.contains("not valid JSON"), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
    assert_eq!(ids(&t), (0..5).collect::<Vec<_>>());
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[test]
fn a_cursor_or_link_that_leads_back_fails_instead_of_looping() {
    // Cursor: page 3 names page 1's cursor again.
    let (srv, log) = server(|req, _| {
        let at: i64 = req.param("after").map_or(0, |p| p.parse().unwrap());
        let next = if at == 20 { 10 } else { at + 10 };
        Reply::json(
            200,
            json!({"items": records(at..at + 10), "next": next.to_string()}).to_string(),
        )
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "cursor", "param": "after", "cursor_path": "next"}}),
    ));
    let text = err.expect("an error").to_string();
    assert!(text.contains("went back to \"10\""), "{text}");
    assert!(text.contains("after=20"), "{text}");
    assert_eq!(ids(&t), (0..20).collect::<Vec<_>>());
    assert_eq!(log.lock().unwrap().len(), 3);

    // Link header: page 2 points at page 1.
    let (srv, _) = server(|req, _| {
        let page: i64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        let next = if page == 2 { 1 } else { page + 1 };
        Reply::json(
            200,
            json!({"items": records(page * 3..page * 3 + 3)}).to_string(),
        )
        .with_header("link", format!("</items?page={next}>; rel=\"next\""))
    });
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "link_header"}}),
    ));
    let text = err.expect("an error").to_string();
    assert!(text.contains("leads back to"), "{text}");
}

#[test]
fn cursors_and_totals_are_read_exactly() {
    // A cursor beyond 64 bits is sent back digit for digit.
    let big = "123456789012345678901234567890";
    let (srv, log) = server(move |req, _| match req.param("after") {
        None => Reply::json(
            200,
            format!(r#"{{"items": [{{"id": 1, "seq": {big}}}], "more": true}}"#),
        ),
        Some(_) => Reply::json(200, r#"{"items": [], "more": false}"#),
    });
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "cursor", "param": "after",
                             "cursor_from_last_record": "seq", "has_more_path": "more"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![1]);
    assert_eq!(log.lock().unwrap()[1].param("after"), Some(big));

    // A cursor-paged page with a number beyond a double and nesting past
    // any recursion limit loads its other records; it does not fail.
    let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    let body = format!(
        r#"{{"items": [{{"id": 1, "x": 1e400}}, {{"id": 2, "deep": {deep}}}], "next": null}}"#
    );
    let (srv, _) = server(move |_, _| Reply::json(200, body.clone()));
    let (t, err) = drain(spec(
        &srv.url(),
        json!({"paginator": {"type": "cursor", "param": "after", "cursor_path": "next"}}),
    ));
    assert!(err.is_none(), "{err:?}");
    assert!(ids(&t).contains(&2), "{t:?}");
}

#[test]
fn an_echoed_basic_header_never_reaches_the_error() {
    let (srv, _) = server(|req, _| {
        let echoed = req.header("authorization").unwrap_or("").to_string();
        Reply::json(
            401,
            format!(r#"{{"error": "bad credentials", "you_sent": "{echoed}"}}"#),
        )
    });
    let (_, err) = drain(spec(
        &srv.url(),
        json!({"auth": {"type": "basic", "username": "shop-owner", "password": "wrong"}}),
    ));
    let text = err.expect("an error").to_string();
    // base64("shop-owner:wrong")
    assert!(!text.contains("c2hvcC1vd25lcjp3cm9uZw"), "{text}");
    assert!(text.contains("Basic ***"), "{text}");
    // The short password stays visible in unrelated words.
    assert!(text.contains("bad credentials"), "{text}");
}

#[test]
fn an_echo_cut_at_the_snippet_limit_leaves_no_piece_of_the_secret() {
    // The error message shows 300 characters of the body; the echoed
    // credential straddles that limit, at every offset around it.
    for pad in 280..300 {
        let (srv, _) = server(move |req, _| {
            let echoed = req.header("authorization").unwrap_or("").to_string();
            Reply::json(
                403,
                format!("{}{echoed} is not allowed here", "x".repeat(pad)),
            )
        });
        let (_, err) = drain(spec(
            &srv.url(),
            json!({"auth": {"type": "bearer", "token": TOKEN}}),
        ));
        let text = err.expect("an error").to_string();
        assert!(!text.contains("tok-C"), "pad {pad}: {text}");
    }
}
