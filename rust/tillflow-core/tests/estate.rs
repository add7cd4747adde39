//! The demo SaaS estate spoken to over loopback as a client would: paging
//! ends at the exact counts the generator gives, bad credentials get the
//! vendor's error body, limits answer 429 past their documented numbers,
//! OAuth refresh tokens rotate.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tillflow_core::demo::estate::{Estate, EstateConfig, Sizes};

/// A response: status, headers (lower-case names) and body.
struct Resp {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One HTTP/1.1 request over a fresh connection.
fn call(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut s = TcpStream::connect(authority).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a full response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    call("GET", url, headers, b"")
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

fn small() -> EstateConfig {
    EstateConfig {
        sizes: Sizes {
            customers: 60,
            orders: 300,
        },
        manual_clock: true,
        ..EstateConfig::default()
    }
}

fn cred(estate: &Estate, vendor: &str, name: &str) -> String {
    estate.vendor(vendor).unwrap().credentials[name].clone()
}

// ---- Stripe ---------------------------------------------------------------

fn stripe_all(estate: &Estate, resource: &str, extra: &str) -> Vec<Value> {
    let v = estate.vendor("stripe").unwrap();
    let auth = format!("Bearer {}", v.credentials["secret_key"]);
    let mut out: Vec<Value> = Vec::new();
    loop {
        let mut url = format!("{}/v1/{resource}?limit=100{extra}", v.url);
        if let Some(last) = out.last() {
            url.push_str(&format!("&starting_after={}", last["id"].as_str().unwrap()));
        }
        let r = get(&url, &[("authorization", &auth)]);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let page = r.json();
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        estate.advance(1.0);
        if !page["has_more"].as_bool().unwrap() {
            return out;
        }
    }
}

#[test]
fn stripe_pages_every_resource_to_its_exact_count() {
    let estate = Estate::start(small()).unwrap();
    let counts = estate.counts();
    for resource in [
        "customers",
        "charges",
        "payment_intents",
        "refunds",
        "payouts",
        "invoices",
        "balance_transactions",
        "disputes",
    ] {
        let all = stripe_all(&estate, resource, "");
        assert_eq!(
            all.len() as u64,
            counts[&format!("stripe.{resource}")],
            "{resource}"
        );
        let created: Vec<i64> = all.iter().map(|o| o["created"].as_i64().unwrap()).collect();
        assert!(
            created.windows(2).all(|w| w[0] >= w[1]),
            "{resource}: newest first"
        );
    }
    // created[gte] and created[lt] split the charges without loss.
    let cut = 1_704_067_200 + 60 * 86_400;
    let newer = stripe_all(&estate, "charges", &format!("&created[gte]={cut}"));
    let older = stripe_all(&estate, "charges", &format!("&created[lt]={cut}"));
    assert_eq!((newer.len() + older.len()) as u64, counts["stripe.charges"]);
    assert!(newer.iter().all(|c| c["created"].as_i64().unwrap() >= cut));
    assert!(!newer.is_empty() && !older.is_empty());
}

#[test]
fn stripe_charges_and_the_store_reconcile_to_the_known_mismatches() {
    let estate = Estate::start(small()).unwrap();
    let rec = estate.reconciliation();
    let charges = stripe_all(&estate, "charges", "");
    let mut net: BTreeMap<String, i64> = BTreeMap::new();
    for c in &charges {
        let email = c["billing_details"]["email"].as_str().unwrap().to_string();
        *net.entry(email).or_default() +=
            c["amount"].as_i64().unwrap() - c["amount_refunded"].as_i64().unwrap();
    }
    for row in &rec.customers {
        assert_eq!(
            net.get(&row.email).copied().unwrap_or(0),
            row.stripe_cents,
            "{}",
            row.email
        );
    }
    assert_eq!(net.values().sum::<i64>(), rec.stripe_cents);
    assert!(!rec.mismatches.is_empty());
    for row in &rec.customers {
        let explained: i64 = rec
            .mismatches
            .iter()
            .filter(|m| m.email == row.email)
            .map(|m| m.store_cents - m.stripe_cents)
            .sum();
        assert_eq!(
            row.store_cents - row.stripe_cents - row.paypal_cents,
            explained,
            "{}",
            row.email
        );
    }
}

#[test]
fn stripe_refuses_bad_keys_and_params_with_its_error_object() {
    let estate = Estate::start(small()).unwrap();
    let url = estate.vendor("stripe").unwrap().url;
    let r = get(&format!("{url}/v1/charges"), &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = get(
        &format!("{url}/v1/charges"),
        &[("authorization", "Bearer sk_test_wrong1234")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["error"]["message"],
        "Invalid API Key provided: sk_test_****1234"
    );
    // The key also works as the Basic auth user name.
    let key = cred(&estate, "stripe", "secret_key");
    let auth = basic(&key, "");
    let r = get(
        &format!("{url}/v1/charges?limit=101"),
        &[("authorization", &auth)],
    );
    assert_eq!(
        (r.status, r.json()["error"]["param"].clone()),
        (400, json!("limit"))
    );
    let r = get(
        &format!("{url}/v1/charges?limit=3"),
        &[("authorization", &auth)],
    );
    let first = r.json()["data"][0]["id"].as_str().unwrap().to_string();
    let r = get(
        &format!("{url}/v1/charges?limit=3&ending_before={first}&starting_after={first}"),
        &[("authorization", &auth)],
    );
    assert_eq!(r.status, 400);
    let r = get(
        &format!("{url}/v1/charges/{first}"),
        &[("authorization", &auth)],
    );
    assert_eq!(r.json()["id"], json!(first));
    let r = get(
        &format!("{url}/v1/charges?starting_after=ch_nope"),
        &[("authorization", &auth)],
    );
    assert_eq!(r.json()["error"]["code"], "resource_missing");
    let r = get(
        &format!("{url}/v1/subscriptions"),
        &[("authorization", &auth)],
    );
    assert_eq!(r.status, 404);
}

#[test]
fn stripe_answers_429_past_25_requests_a_second_per_key() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("stripe").unwrap();
    let auth = format!("Bearer {}", v.credentials["secret_key"]);
    let url = format!("{}/v1/customers?limit=1", v.url);
    let statuses: Vec<u16> = (0..30)
        .map(|_| get(&url, &[("authorization", &auth)]).status)
        .collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 25);
    assert_eq!(statuses[25..], [429; 5]);
    let r = get(&url, &[("authorization", &auth)]);
    assert_eq!(r.json()["error"]["code"], "rate_limit");
    assert_eq!(estate.counters("stripe").unwrap(), (31, 6));
    estate.advance(1.0);
    assert_eq!(get(&url, &[("authorization", &auth)]).status, 200);

    let off = Estate::start(EstateConfig {
        limits: false,
        ..small()
    })
    .unwrap();
    let v = off.vendor("stripe").unwrap();
    let url = format!("{}/v1/customers?limit=1", v.url);
    assert!((0..40).all(|_| get(&url, &[("authorization", &auth)]).status == 200));
}

// ---- HubSpot ----------------------------------------------------------------

fn hubspot_auth(estate: &Estate) -> String {
    format!("Bearer {}", cred(estate, "hubspot", "access_token"))
}

#[test]
fn hubspot_lists_and_searches_to_exact_counts() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("hubspot").unwrap();
    let auth = hubspot_auth(&estate);
    let counts = estate.counts();
    for object in [
        "objects/contacts",
        "objects/companies",
        "objects/deals",
        "owners",
    ] {
        let (mut seen, mut after) = (0u64, None::<String>);
        loop {
            let mut url = format!("{}/crm/v3/{object}?limit=100", v.url);
            if let Some(a) = &after {
                url.push_str(&format!("&after={a}"));
            }
            let r = get(&url, &[("authorization", &auth)]);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("x-hubspot-ratelimit-max"), Some("100"));
            let page = r.json();
            seen += page["results"].as_array().unwrap().len() as u64;
            after = page["paging"]["next"]["after"].as_str().map(str::to_string);
            if after.is_none() {
                break;
            }
        }
        let name = object.trim_start_matches("objects/");
        assert_eq!(seen, counts[&format!("hubspot.{name}")], "{object}");
    }
    // Incremental search: every contact modified after a cut, oldest first,
    // paged with `after` in the body.
    let cut_ms: i64 = (1_704_067_200 + 90 * 86_400) * 1000;
    let expected = (0..estate.world().customers())
        .filter(|&c| estate.world().customer_updated(c) * 1000 > cut_ms)
        .count();
    let (mut got, mut after, mut last) = (Vec::new(), json!(null), String::new());
    loop {
        let body = json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT",
                                                          "value": cut_ms.to_string()}]}],
                          "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                          "properties": ["email"], "limit": 7, "after": after});
        let r = call(
            "POST",
            &format!("{}/crm/v3/objects/contacts/search", v.url),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            r.header("x-hubspot-ratelimit-max"),
            None,
            "search answers carry no limit headers"
        );
        let page = r.json();
        assert_eq!(page["total"], json!(expected));
        for rec in page["results"].as_array().unwrap() {
            let m = rec["properties"]["lastmodifieddate"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(m >= last);
            last = m;
            got.push(rec["properties"]["email"].as_str().unwrap().to_string());
        }
        estate.advance(1.0);
        match page["paging"]["next"]["after"].as_str() {
            Some(a) => after = json!(a),
            None => break,
        }
    }
    assert_eq!(got.len(), expected);
    // v4 associations agree with the generator.
    let deal_id = 9_000_001 + 4; // every fifth deal has two contacts
    let r = get(
        &format!(
            "{}/crm/v4/objects/deals/{deal_id}/associations/contacts",
            v.url
        ),
        &[("authorization", &auth)],
    );
    let targets = r.json()["results"].as_array().unwrap().len();
    assert_eq!(targets, estate.world().deal_contacts(4).len());
    assert_eq!(targets, 2);
    let body = json!({"inputs": [{"id": "9000001"}, {"id": "9000005"}]});
    let r = call(
        "POST",
        &format!("{}/crm/v4/associations/deals/contacts/batch/read", v.url),
        &[("authorization", &auth)],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 2);
}

#[test]
fn hubspot_refuses_bad_tokens_and_throttles_past_100_in_ten_seconds() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("hubspot").unwrap();
    let r = get(
        &format!("{}/crm/v3/objects/contacts", v.url),
        &[("authorization", "Bearer pat-na1-wrong")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["category"], "INVALID_AUTHENTICATION");
    let auth = hubspot_auth(&estate);
    let url = format!("{}/crm/v3/objects/contacts?limit=1", v.url);
    let statuses: Vec<u16> = (0..102)
        .map(|_| get(&url, &[("authorization", &auth)]).status)
        .collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 100);
    let r = get(&url, &[("authorization", &auth)]);
    assert_eq!(r.status, 429);
    let body = r.json();
    assert_eq!(
        (body["errorType"].as_str(), body["policyName"].as_str()),
        (Some("RATE_LIMIT"), Some("TEN_SECONDLY_ROLLING"))
    );
    estate.advance(10.0);
    let r = get(&url, &[("authorization", &auth)]);
    assert_eq!(
        (r.status, r.header("x-hubspot-ratelimit-remaining")),
        (200, Some("99"))
    );
    // Search has its own five a second.
    let search = format!("{}/crm/v3/objects/deals/search", v.url);
    let s: Vec<u16> = (0..6)
        .map(|_| call("POST", &search, &[("authorization", &auth)], b"{}").status)
        .collect();
    assert_eq!(s, [200, 200, 200, 200, 200, 429]);
    let r = call(
        "POST",
        &search,
        &[("authorization", &auth)],
        b"{\"limit\": 500}",
    );
    assert_eq!(r.status, 429);
    estate.advance(1.0);
    let r = call(
        "POST",
        &search,
        &[("authorization", &auth)],
        b"{\"limit\": 500}",
    );
    assert_eq!(
        (r.status, r.json()["category"].clone()),
        (400, json!("VALIDATION_ERROR"))
    );
}

// ---- Zendesk ----------------------------------------------------------------

fn zendesk_auth(estate: &Estate) -> String {
    basic(
        &cred(estate, "zendesk", "username"),
        &cred(estate, "zendesk", "api_token"),
    )
}

#[test]
fn zendesk_cursor_paging_export_and_comments_reach_exact_counts() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("zendesk").unwrap();
    let auth = zendesk_auth(&estate);
    let counts = estate.counts();
    for (name, key) in [("tickets", "zendesk.tickets"), ("users", "zendesk.users")] {
        let mut url = format!("{}/api/v2/{name}.json?page[size]=25", v.url);
        let mut ids = Vec::new();
        loop {
            let r = get(&url, &[("authorization", &auth)]);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let page = r.json();
            ids.extend(
                page[name]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_u64().unwrap()),
            );
            if !page["meta"]["has_more"].as_bool().unwrap() {
                break;
            }
            url = page["links"]["next"].as_str().unwrap().to_string();
        }
        assert_eq!(ids.len() as u64, counts[key], "{name}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
    // The cursor export from the start returns every ticket once, by updated_at.
    let mut url = format!(
        "{}/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=40",
        v.url
    );
    let mut seen = Vec::new();
    loop {
        let page = get(&url, &[("authorization", &auth)]).json();
        seen.extend(
            page["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_u64().unwrap()),
        );
        if page["end_of_stream"].as_bool().unwrap() {
            break;
        }
        url = page["after_url"].as_str().unwrap().to_string();
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=counts["zendesk.tickets"]).collect::<Vec<_>>());
    // Comments page by cursor too.
    let r = get(
        &format!("{}/api/v2/tickets/1/comments.json?page[size]=1", v.url),
        &[("authorization", &auth)],
    );
    let page = r.json();
    assert_eq!(page["comments"].as_array().unwrap().len(), 1);
    assert_eq!(
        page["meta"]["has_more"],
        json!(estate.world().ticket_comments(0) > 1)
    );
    // Comments: every ticket's, summed.
    let total: u64 = (1..=counts["zendesk.tickets"])
        .map(|id| {
            let r = get(
                &format!("{}/api/v2/tickets/{id}/comments.json", v.url),
                &[("authorization", &auth)],
            );
            r.json()["count"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total, counts["zendesk.ticket_comments"]);
}

#[test]
fn zendesk_refuses_bad_auth_and_limits_the_export_to_ten_a_minute() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("zendesk").unwrap();
    let r = get(
        &format!("{}/api/v2/tickets.json", v.url),
        &[("authorization", &basic("x/token", "nope"))],
    );
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"error": "Couldn't authenticate you"}))
    );
    let auth = zendesk_auth(&estate);
    let url = format!(
        "{}/api/v2/incremental/tickets.json?start_time=0&per_page=5",
        v.url
    );
    let statuses: Vec<u16> = (0..11)
        .map(|_| get(&url, &[("authorization", &auth)]).status)
        .collect();
    assert_eq!(statuses[..10], [200; 10]);
    let r = get(&url, &[("authorization", &auth)]);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "Number of allowed API requests per minute exceeded"
    );
    let r = get(
        &format!("{}/api/v2/tickets.json?page[size]=101", v.url),
        &[("authorization", &auth)],
    );
    assert_eq!(r.status, 400);
    let r = get(
        &format!("{}/api/v2/tickets.json", v.url),
        &[("authorization", &auth)],
    );
    assert_eq!(r.header("x-rate-limit"), Some("700"));
}

// ---- Shopify GraphQL ----------------------------------------------------------

fn shopify_post(estate: &Estate, query: &str, variables: Value) -> Resp {
    let v = estate.vendor("shopify").unwrap();
    let url = format!(
        "{}/admin/api/{}/graphql.json",
        v.url, v.credentials["api_version"]
    );
    let body = json!({"query": query, "variables": variables}).to_string();
    call(
        "POST",
        &url,
        &[
            ("x-shopify-access-token", &v.credentials["access_token"]),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn shopify_graphql_pages_connections_and_reports_cost() {
    let estate = Estate::start(small()).unwrap();
    let counts = estate.counts();
    let q = "query($after: String) { orders(first: 100, after: $after, sortKey: UPDATED_AT) {
               nodes { id updatedAt totalPriceSet { shopMoney { amount } } }
               pageInfo { hasNextPage endCursor } } }";
    let (mut n, mut after, mut last) = (0, Value::Null, String::new());
    loop {
        let r = shopify_post(&estate, q, json!({"after": after}));
        let body = r.json();
        assert_eq!(r.status, 200);
        let conn = &body["data"]["orders"];
        for node in conn["nodes"].as_array().unwrap() {
            let u = node["updatedAt"].as_str().unwrap().to_string();
            assert!(u >= last);
            last = u;
            n += 1;
        }
        let cost = &body["extensions"]["cost"];
        assert_eq!(cost["requestedQueryCost"], json!(102));
        assert_eq!(cost["throttleStatus"]["maximumAvailable"], json!(2000.0));
        estate.advance(2.0);
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(n, counts["store.orders"]);
    let r = shopify_post(
        &estate,
        "{ customers(first: 250) { edges { cursor node { email } } } }",
        json!({}),
    );
    let edges = r.json()["data"]["customers"]["edges"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(edges, counts["store.customers"].min(250));
    // A filter in Shopify's search syntax.
    let r = shopify_post(
        &estate,
        "{ orders(first: 250, query: \"created_at:>='2024-06-01T00:00:00Z'\") { nodes { id } } }",
        json!({}),
    );
    let since = estate.world().shop.first_created_at_or_after(1_717_200_000);
    let expected = (counts["store.orders"] - since).min(250);
    assert_eq!(
        r.json()["data"]["orders"]["nodes"]
            .as_array()
            .unwrap()
            .len() as u64,
        expected
    );
}

#[test]
fn shopify_graphql_errors_and_throttling_come_in_a_200() {
    let estate = Estate::start(small()).unwrap();
    let r = shopify_post(&estate, "{ shop { name } }", json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["errors"][0]["extensions"]["code"],
        "undefinedField"
    );
    let r = shopify_post(&estate, "{ orders(first: 10) { nodes { id } }", json!({}));
    assert!(r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("syntax error"));
    let v = estate.vendor("shopify").unwrap();
    let r = call(
        "POST",
        &format!("{}/admin/api/2024-07/graphql.json", v.url),
        &[("x-shopify-access-token", "bad")],
        b"{}",
    );
    assert_eq!(r.status, 401);
    // 250 customers with nested orders would cost more than 1,000 points.
    let r = shopify_post(
        &estate,
        "{ orders(first: 250) { nodes { lineItems(first: 10) { nodes { id } } } } }",
        json!({}),
    );
    assert_eq!(
        r.json()["errors"][0]["extensions"]["code"],
        "MAX_COST_EXCEEDED"
    );
    // Each query asks 2 + 250 = 252 points; the 2,000-point bucket allows
    // seven before refunds bring it back (only 60 customers are returned).
    let q = "{ products(first: 250) { nodes { id } } }";
    let mut codes = Vec::new();
    for _ in 0..40 {
        let body = shopify_post(&estate, q, json!({})).json();
        codes.push(
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("ok")
                .to_string(),
        );
    }
    // Products cost 2 + 24 actually, so refunds keep the bucket from draining:
    assert!(codes.iter().all(|c| c == "ok"));
    let q = "{ orders(first: 250) { nodes { id } } }";
    let mut throttled_at = None;
    for k in 0..20 {
        let body = shopify_post(&estate, q, json!({})).json();
        if body["errors"][0]["extensions"]["code"] == "THROTTLED" {
            assert_eq!(body["extensions"]["cost"]["actualQueryCost"], Value::Null);
            throttled_at = Some(k);
            break;
        }
    }
    // 40 product queries left 2000 - 40*26 = 960 points; orders cost 252 each.
    assert_eq!(throttled_at, Some(3));
    assert_eq!(estate.counters("shopify").unwrap().1, 1);
    estate.advance(20.0);
    assert!(shopify_post(&estate, q, json!({})).json()["data"]["orders"].is_object());
}

// ---- QuickBooks ---------------------------------------------------------------

fn form_post(url: &str, auth: &str, form: &str) -> Resp {
    call(
        "POST",
        url,
        &[
            ("authorization", auth),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    )
}

/// Trades the vendor's refresh token for an access token; returns both new ones.
fn refresh(estate: &Estate, vendor: &str, refresh_token: &str) -> (String, String) {
    let v = estate.vendor(vendor).unwrap();
    let auth = basic(&v.credentials["client_id"], &v.credentials["client_secret"]);
    let r = form_post(
        v.token_url.as_deref().unwrap(),
        &auth,
        &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b = r.json();
    (
        b["access_token"].as_str().unwrap().to_string(),
        b["refresh_token"].as_str().unwrap().to_string(),
    )
}

#[test]
fn quickbooks_rotates_refresh_tokens_and_expires_access_tokens() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("quickbooks").unwrap();
    let first = v.credentials["refresh_token"].clone();
    let (access, second) = refresh(&estate, "quickbooks", &first);
    assert_ne!(first, second);
    let auth = basic(&v.credentials["client_id"], &v.credentials["client_secret"]);
    let r = form_post(
        v.token_url.as_deref().unwrap(),
        &auth,
        &format!("grant_type=refresh_token&refresh_token={first}"),
    );
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "invalid_grant"}))
    );
    let r = form_post(
        v.token_url.as_deref().unwrap(),
        &basic("x", "y"),
        "grant_type=refresh_token&refresh_token=z",
    );
    assert_eq!(r.status, 401);
    let realm = &v.credentials["realm_id"];
    let url = format!(
        "{}/v3/company/{realm}/query?query=select%20count(*)%20from%20Customer",
        v.url
    );
    let bearer = format!("Bearer {access}");
    let r = get(&url, &[("authorization", &bearer)]);
    assert_eq!(
        r.json()["QueryResponse"]["totalCount"],
        json!(estate.counts()["quickbooks.customers"])
    );
    estate.advance(3600.0);
    let r = get(&url, &[("authorization", &bearer)]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["Fault"]["Error"][0]["code"], "3200");
    let (access, _) = refresh(&estate, "quickbooks", &second);
    assert_eq!(
        get(&url, &[("authorization", &format!("Bearer {access}"))]).status,
        200
    );
    // Authorizing again hands out a fresh refresh token beside the others.
    let fresh = estate.authorize("quickbooks").unwrap();
    let (_, rotated) = refresh(&estate, "quickbooks", &fresh);
    assert_ne!(rotated, fresh);
    assert!(estate.authorize("stripe").is_err());
}

#[test]
fn quickbooks_queries_page_to_exact_counts_and_limit_500_a_minute() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("quickbooks").unwrap();
    let (access, _) = refresh(&estate, "quickbooks", &v.credentials["refresh_token"]);
    let bearer = format!("Bearer {access}");
    let realm = &v.credentials["realm_id"];
    let counts = estate.counts();
    for entity in ["Customer", "Invoice", "Payment", "Item"] {
        let (mut start, mut n) = (1, 0u64);
        loop {
            let q = format!(
                "SELECT * FROM {entity} WHERE MetaData.LastUpdatedTime > '2020-01-01T00:00:00-08:00' \
                 STARTPOSITION {start} MAXRESULTS 20"
            );
            let url = format!(
                "{}/v3/company/{realm}/query?query={}",
                v.url,
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            );
            let r = get(&url, &[("authorization", &bearer)]);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let got = r.json()["QueryResponse"][entity]
                .as_array()
                .map_or(0, Vec::len) as u64;
            n += got;
            if got < 20 {
                break;
            }
            start += 20;
        }
        assert_eq!(
            n,
            counts[&format!("quickbooks.{}s", entity.to_lowercase())],
            "{entity}"
        );
    }
    let bad = format!("{}/v3/company/{realm}/query?query=SELEKT%20*", v.url);
    let r = get(&bad, &[("authorization", &bearer)]);
    assert_eq!(
        (r.status, r.json()["Fault"]["type"].clone()),
        (400, json!("ValidationFault"))
    );
    let url = format!(
        "{}/v3/company/{realm}/query?query=select%20*%20from%20Item%20maxresults%201",
        v.url
    );
    let used = estate.counters("quickbooks").unwrap().0 - 1; // the token request
    let ok = (used..500)
        .filter(|_| get(&url, &[("authorization", &bearer)]).status == 200)
        .count() as u64;
    assert_eq!(ok, 500 - used);
    let r = get(&url, &[("authorization", &bearer)]);
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["Fault"]["Error"][0]["code"], "003001");
}

// ---- Xero ---------------------------------------------------------------------

#[test]
fn xero_rotates_tokens_pages_by_100_and_limits_60_a_minute() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("xero").unwrap();
    let first = v.credentials["refresh_token"].clone();
    let (access, _second) = refresh(&estate, "xero", &first);
    let auth = basic(&v.credentials["client_id"], &v.credentials["client_secret"]);
    let r = form_post(
        v.token_url.as_deref().unwrap(),
        &auth,
        &format!("grant_type=refresh_token&refresh_token={first}"),
    );
    assert_eq!(r.json()["error"], "invalid_grant");
    let bearer = format!("Bearer {access}");
    let tenant = v.credentials["tenant_id"].clone();
    let r = get(
        &format!("{}/connections", v.url),
        &[("authorization", &bearer)],
    );
    assert_eq!(r.json()[0]["tenantId"], json!(tenant));
    let r = get(
        &format!("{}/api.xro/2.0/Invoices?page=1", v.url),
        &[("authorization", &bearer)],
    );
    assert_eq!(r.status, 403, "the tenant header is required");
    let counts = estate.counts();
    let headers = [
        ("authorization", bearer.as_str()),
        ("xero-tenant-id", tenant.as_str()),
    ];
    for (name, key) in [
        ("Invoices", "xero.invoices"),
        ("Contacts", "xero.contacts"),
        ("Payments", "xero.payments"),
    ] {
        let (mut page, mut n) = (1, 0u64);
        loop {
            let r = get(
                &format!("{}/api.xro/2.0/{name}?page={page}", v.url),
                &headers,
            );
            assert_eq!(r.status, 200);
            let got = r.json()[name].as_array().unwrap().len() as u64;
            n += got;
            if got < 100 {
                break;
            }
            page += 1;
        }
        assert_eq!(n, counts[key], "{name}");
    }
    // If-Modified-Since keeps only later changes.
    let cut = 1_704_067_200 + 100 * 86_400;
    let expected = (0..estate.world().invoices())
        .filter(|&k| estate.world().invoice_updated(k) > cut)
        .count();
    let mut h = headers.to_vec();
    h.push(("if-modified-since", "2024-04-10T00:00:00"));
    let r = get(&format!("{}/api.xro/2.0/Invoices", v.url), &h);
    assert_eq!(r.json()["Invoices"].as_array().unwrap().len(), expected);
    // Two token calls, the connections and the refused call without a tenant
    // do not count against the tenant's minute.
    let used = estate.counters("xero").unwrap().0 - 4;
    let url = format!("{}/api.xro/2.0/Contacts?page=1", v.url);
    let ok = (used..60)
        .filter(|_| get(&url, &headers).status == 200)
        .count() as u64;
    assert_eq!(ok, 60 - used);
    let r = get(&url, &headers);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-rate-limit-problem"), Some("minute"));
    assert!(r.header("retry-after").is_some());
    estate.advance(1800.0);
    let r = get(&url, &headers);
    assert_eq!(r.status, 401, "access tokens last 30 minutes");
    assert!(r.json()["Detail"]
        .as_str()
        .unwrap()
        .starts_with("TokenExpired"));
}

// ---- WooCommerce ----------------------------------------------------------------

#[test]
fn woocommerce_pages_with_wp_headers_and_links() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("woocommerce").unwrap();
    let auth = basic(
        &v.credentials["consumer_key"],
        &v.credentials["consumer_secret"],
    );
    let counts = estate.counts();
    for (name, key) in [
        ("orders", "store.orders"),
        ("customers", "store.customers"),
        ("products", "store.products"),
    ] {
        let mut url = format!("{}/wp-json/wc/v3/{name}?per_page=100", v.url);
        let mut n = 0u64;
        loop {
            let r = get(&url, &[("authorization", &auth)]);
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("x-wp-total"),
                Some(counts[key].to_string().as_str())
            );
            n += r.json().as_array().unwrap().len() as u64;
            let next = r.header("link").and_then(|l| {
                l.split(", ")
                    .find(|p| p.ends_with("rel=\"next\""))
                    .map(|p| p[1..p.find('>').unwrap()].to_string())
            });
            match next {
                Some(u) => url = u,
                None => break,
            }
        }
        assert_eq!(n, counts[key], "{name}");
    }
    let r = get(
        &format!(
            "{}/wp-json/wc/v3/orders?modified_after=2024-06-15T00:00:00&dates_are_gmt=true",
            v.url
        ),
        &[("authorization", &auth)],
    );
    let expected = (0..estate.world().orders())
        .filter(|&i| estate.world().order_updated(i) > 1_718_409_600)
        .count();
    assert_eq!(r.header("x-wp-total"), Some(expected.to_string().as_str()));
    // Without dates_are_gmt the same text is the site's time, five hours behind UTC.
    let r = get(
        &format!(
            "{}/wp-json/wc/v3/orders?modified_after=2024-06-14T19:00:00",
            v.url
        ),
        &[("authorization", &auth)],
    );
    assert_eq!(r.header("x-wp-total"), Some(expected.to_string().as_str()));
    let r = get(
        &format!("{}/wp-json/wc/v3/orders/1001/notes", v.url),
        &[("authorization", &auth)],
    );
    assert!(!r.json().as_array().unwrap().is_empty());
    let r = get(
        &format!("{}/wp-json/wc/v3/orders?per_page=101", v.url),
        &[("authorization", &auth)],
    );
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("rest_invalid_param"))
    );
    let r = get(
        &format!("{}/wp-json/wc/v3/orders", v.url),
        &[("authorization", &basic("ck_x", "cs_y"))],
    );
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("woocommerce_rest_authentication_error"))
    );
}

// ---- PayPal ---------------------------------------------------------------------

#[test]
fn paypal_client_credentials_and_31_day_windows() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("paypal").unwrap();
    let auth = basic(&v.credentials["client_id"], &v.credentials["client_secret"]);
    let r = form_post(
        v.token_url.as_deref().unwrap(),
        &basic("x", "y"),
        "grant_type=client_credentials",
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    let r = form_post(
        v.token_url.as_deref().unwrap(),
        &auth,
        "grant_type=client_credentials",
    );
    let bearer = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let r = get(
        &format!("{}/v1/reporting/transactions?start_date=2024-01-01T00:00:00Z&end_date=2024-03-01T00:00:00Z", v.url),
        &[("authorization", &bearer)],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["details"][0]["issue"],
        "Date range is greater than 31 days"
    );
    let mut n = 0u64;
    for month in 1..=8 {
        let (start, end) = (
            format!("2024-{month:02}-01T00:00:00+0000"),
            format!("2024-{:02}-01T00:00:00+0000", month + 1),
        );
        let mut page = 1;
        loop {
            let url = format!(
                "{}/v1/reporting/transactions?start_date={}&end_date={}&page_size=10&page={page}",
                v.url,
                start.replace('+', "%2B"),
                end.replace('+', "%2B")
            );
            let body = get(&url, &[("authorization", &bearer)]).json();
            n += body["transaction_details"].as_array().unwrap().len() as u64;
            if page >= body["total_pages"].as_u64().unwrap() {
                break;
            }
            page += 1;
        }
    }
    // Month windows share their edges: a transaction exactly at midnight
    // on the 1st would count twice; the generator's times are never whole.
    assert_eq!(n, estate.counts()["paypal.transactions"]);
}

// ---- Square ---------------------------------------------------------------------

#[test]
fn square_pages_with_cursors_in_query_and_body() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("square").unwrap();
    let auth = format!("Bearer {}", v.credentials["access_token"]);
    let counts = estate.counts();
    for (name, key) in [
        ("customers", "square.customers"),
        ("payments", "square.payments"),
    ] {
        let (mut n, mut cursor) = (0u64, None::<String>);
        loop {
            let mut url = format!("{}/v2/{name}?limit=17", v.url);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let body = get(&url, &[("authorization", &auth)]).json();
            n += body[name].as_array().unwrap().len() as u64;
            cursor = body["cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(n, counts[key], "{name}");
    }
    let (mut n, mut cursor) = (0u64, Value::Null);
    loop {
        let body =
            json!({"location_ids": [v.credentials["location_id"]], "limit": 13, "cursor": cursor});
        let r = call(
            "POST",
            &format!("{}/v2/orders/search", v.url),
            &[("authorization", &auth)],
            body.to_string().as_bytes(),
        );
        let page = r.json();
        n += page["orders"].as_array().unwrap().len() as u64;
        cursor = page["cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(n, counts["square.orders"]);
    let r = get(
        &format!("{}/v2/customers", v.url),
        &[("authorization", "Bearer nope")],
    );
    assert_eq!(
        (r.status, r.json()["errors"][0]["code"].clone()),
        (401, json!("UNAUTHORIZED"))
    );
    let r = get(
        &format!("{}/v2/payments?limit=101", v.url),
        &[("authorization", &auth)],
    );
    assert_eq!(r.json()["errors"][0]["category"], "INVALID_REQUEST_ERROR");
}

// ---- Mailchimp ------------------------------------------------------------------

#[test]
fn mailchimp_pages_by_count_and_offset_and_caps_simultaneous_connections() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("mailchimp").unwrap();
    let auth = basic("anystring", &v.credentials["api_key"]);
    let list = &v.credentials["list_id"];
    let counts = estate.counts();
    for (path, name, key) in [
        (
            format!("lists/{list}/members"),
            "members",
            "mailchimp.members",
        ),
        ("campaigns".to_string(), "campaigns", "mailchimp.campaigns"),
        ("lists".to_string(), "lists", "mailchimp.lists"),
    ] {
        let (mut offset, mut n) = (0, 0u64);
        loop {
            let body = get(
                &format!("{}/3.0/{path}?count=7&offset={offset}", v.url),
                &[("authorization", &auth)],
            )
            .json();
            assert_eq!(body["total_items"], json!(counts[key]), "{name}");
            let got = body[name].as_array().unwrap().len();
            n += got as u64;
            offset += 7;
            if offset as u64 >= counts[key] {
                break;
            }
        }
        assert_eq!(n, counts[key], "{name}");
    }
    let r = get(
        &format!("{}/3.0/lists/{list}/members?count=1", v.url),
        &[("authorization", &auth)],
    );
    let member = &r.json()["members"][0];
    assert_eq!(member["id"].as_str().unwrap().len(), 32);
    let r = get(
        &format!("{}/3.0/lists", v.url),
        &[("authorization", &basic("x", "nope-us21"))],
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json; charset=utf-8")
    );
    assert_eq!(r.json()["title"], "API Key Invalid");

    // With answers that take a while, the eleventh request at once is refused.
    let slow = Estate::start(EstateConfig {
        latency_ms: 1500,
        ..small()
    })
    .unwrap();
    let url = format!("{}/3.0/ping", slow.vendor("mailchimp").unwrap().url);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let (url, auth, barrier) = (url.clone(), auth.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                get(&url, &[("authorization", &auth)]).status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429]
    );
}

// ---- Google Analytics 4 -------------------------------------------------------------

fn jwt(key_pem: &str, iss: &str, aud: &str, scope: &str, lifetime: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"iss": iss, "aud": aud, "scope": scope, "iat": now, "exp": now + lifetime});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

fn google_token(estate: &Estate, assertion: &str) -> Resp {
    let v = estate.vendor("ga4").unwrap();
    call(
        "POST",
        v.token_url.as_deref().unwrap(),
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}").as_bytes(),
    )
}

#[test]
fn ga4_accepts_only_jwts_signed_by_the_service_account() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("ga4").unwrap();
    let key_file: Value = serde_json::from_str(&v.credentials["service_account_json"]).unwrap();
    let (email, aud) = (
        key_file["client_email"].as_str().unwrap(),
        key_file["token_uri"].as_str().unwrap(),
    );
    assert_eq!(Some(aud), v.token_url.as_deref());
    let key = key_file["private_key"].as_str().unwrap();
    let scope = "https://www.googleapis.com/auth/analytics.readonly";
    let stranger = include_str!("estate_stranger_key.pem");
    let r = google_token(&estate, &jwt(stranger, email, aud, scope, 3600));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    );
    let r = google_token(
        &estate,
        &jwt(key, email, "https://elsewhere.example/token", scope, 3600),
    );
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = google_token(&estate, &jwt(key, email, aud, scope, 7200));
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("short-lived"));
    let r = google_token(
        &estate,
        &jwt(
            key,
            email,
            aud,
            "https://www.googleapis.com/auth/drive",
            3600,
        ),
    );
    assert_eq!(r.json()["error"], "invalid_scope");
    let r = google_token(
        &estate,
        &jwt(
            key,
            "someone@else.iam.gserviceaccount.com",
            aud,
            scope,
            3600,
        ),
    );
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = google_token(&estate, &jwt(key, email, aud, scope, 3600));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["access_token"]
        .as_str()
        .unwrap()
        .starts_with("ya29."));
}

#[test]
fn ga4_run_report_pages_rows_by_limit_and_offset() {
    let estate = Estate::start(small()).unwrap();
    let v = estate.vendor("ga4").unwrap();
    let key_file: Value = serde_json::from_str(&v.credentials["service_account_json"]).unwrap();
    let assertion = jwt(
        key_file["private_key"].as_str().unwrap(),
        key_file["client_email"].as_str().unwrap(),
        key_file["token_uri"].as_str().unwrap(),
        "https://www.googleapis.com/auth/analytics.readonly",
        3600,
    );
    let access = google_token(&estate, &assertion).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("Bearer {access}");
    let url = format!(
        "{}/v1beta/properties/{}:runReport",
        v.url, v.credentials["property_id"]
    );
    let (mut offset, mut rows, mut revenue, mut conversions) = (0, 0u64, 0i64, 0i64);
    loop {
        let body = json!({"dateRanges": [{"startDate": "2024-01-01", "endDate": "2024-06-30"}],
                          "dimensions": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
                          "metrics": [{"name": "sessions"}, {"name": "conversions"}, {"name": "totalRevenue"}],
                          "limit": "250", "offset": offset.to_string()});
        let r = call(
            "POST",
            &url,
            &[("authorization", &auth)],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let page = r.json();
        assert_eq!(page["rowCount"], json!(estate.counts()["ga4.rows"]));
        let got = page["rows"].as_array().map_or(&[][..], Vec::as_slice);
        for row in got {
            conversions += row["metricValues"][1]["value"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap();
            let dollars: f64 = row["metricValues"][2]["value"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            revenue += (dollars * 100.0).round() as i64;
        }
        rows += got.len() as u64;
        offset += 250;
        if got.len() < 250 {
            break;
        }
    }
    assert_eq!(rows, estate.counts()["ga4.rows"]);
    // Every order is a conversion on its day; revenue is their totals.
    let w = estate.world();
    assert_eq!(conversions as u64, w.orders());
    assert_eq!(
        revenue,
        (0..w.orders()).map(|i| w.order_total(i)).sum::<i64>()
    );
    let r = call(
        "POST",
        &url,
        &[("authorization", "Bearer ya29.bogus")],
        b"{}",
    );
    assert_eq!(
        (r.status, r.json()["error"]["status"].clone()),
        (401, json!("UNAUTHENTICATED"))
    );
    let bad = json!({"dateRanges": [{"startDate": "2024-01-01", "endDate": "2024-01-02"}],
                     "dimensions": [{"name": "cityOfDreams"}], "metrics": [{"name": "sessions"}]});
    let r = call(
        "POST",
        &url,
        &[("authorization", &auth)],
        bad.to_string().as_bytes(),
    );
    assert_eq!(
        (r.status, r.json()["error"]["status"].clone()),
        (400, json!("INVALID_ARGUMENT"))
    );
}

// ---- Across vendors -------------------------------------------------------------

#[test]
fn every_vendor_knows_the_same_customers_by_email() {
    let estate = Estate::start(small()).unwrap();
    let expected: std::collections::BTreeSet<String> = (0..estate.world().customers())
        .map(|c| estate.world().email(c))
        .collect();
    let emails = |values: &[Value], pointer: &str| -> std::collections::BTreeSet<String> {
        values
            .iter()
            .map(|v| v.pointer(pointer).unwrap().as_str().unwrap().to_string())
            .collect()
    };
    let v = |name: &str| estate.vendor(name).unwrap();
    let bearer = |token: &str| format!("Bearer {token}");

    let stripe = v("stripe");
    let body = get(
        &format!("{}/v1/customers?limit=100", stripe.url),
        &[("authorization", &bearer(&stripe.credentials["secret_key"]))],
    )
    .json();
    assert_eq!(emails(body["data"].as_array().unwrap(), "/email"), expected);

    let hubspot = v("hubspot");
    let body = get(
        &format!("{}/crm/v3/objects/contacts?limit=100", hubspot.url),
        &[(
            "authorization",
            &bearer(&hubspot.credentials["access_token"]),
        )],
    )
    .json();
    assert_eq!(
        emails(body["results"].as_array().unwrap(), "/properties/email"),
        expected
    );

    let zendesk = v("zendesk");
    let body = get(
        &format!("{}/api/v2/users.json?page[size]=100", zendesk.url),
        &[("authorization", &zendesk_auth(&estate))],
    )
    .json();
    let users: Vec<Value> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "end-user")
        .cloned()
        .collect();
    assert_eq!(emails(&users, "/email"), expected);

    let mailchimp = v("mailchimp");
    let body = get(
        &format!(
            "{}/3.0/lists/{}/members?count=1000",
            mailchimp.url, mailchimp.credentials["list_id"]
        ),
        &[(
            "authorization",
            &basic("x", &mailchimp.credentials["api_key"]),
        )],
    )
    .json();
    assert_eq!(
        emails(body["members"].as_array().unwrap(), "/email_address"),
        expected
    );

    let square = v("square");
    let body = get(
        &format!("{}/v2/customers?limit=100", square.url),
        &[(
            "authorization",
            &bearer(&square.credentials["access_token"]),
        )],
    )
    .json();
    assert_eq!(
        emails(body["customers"].as_array().unwrap(), "/email_address"),
        expected
    );

    let woo = v("woocommerce");
    let body = get(
        &format!("{}/wp-json/wc/v3/customers?per_page=100", woo.url),
        &[(
            "authorization",
            &basic(
                &woo.credentials["consumer_key"],
                &woo.credentials["consumer_secret"],
            ),
        )],
    )
    .json();
    assert_eq!(emails(body.as_array().unwrap(), "/email"), expected);

    let qb = v("quickbooks");
    let (access, _) = refresh(&estate, "quickbooks", &qb.credentials["refresh_token"]);
    let body = get(
        &format!(
            "{}/v3/company/{}/query?query=select%20*%20from%20Customer%20maxresults%201000",
            qb.url, qb.credentials["realm_id"]
        ),
        &[("authorization", &bearer(&access))],
    )
    .json();
    assert_eq!(
        emails(
            body["QueryResponse"]["Customer"].as_array().unwrap(),
            "/PrimaryEmailAddr/Address"
        ),
        expected
    );

    let xero = v("xero");
    let (access, _) = refresh(&estate, "xero", &xero.credentials["refresh_token"]);
    let body = get(
        &format!("{}/api.xro/2.0/Contacts", xero.url),
        &[
            ("authorization", &bearer(&access)),
            ("xero-tenant-id", &xero.credentials["tenant_id"]),
        ],
    )
    .json();
    assert_eq!(
        emails(body["Contacts"].as_array().unwrap(), "/EmailAddress"),
        expected
    );

    let shopify = shopify_post(
        &estate,
        "{ customers(first: 250) { nodes { email } } }",
        json!({}),
    )
    .json();
    assert_eq!(
        emails(
            shopify["data"]["customers"]["nodes"].as_array().unwrap(),
            "/email"
        ),
        expected
    );
}

/// Statuses of `n` requests started together.
fn at_once(n: usize, url: &str, headers: &[(&str, &str)]) -> Vec<u16> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (url, owned, barrier) = (url.to_string(), owned.clone(), barrier.clone());
            std::thread::spawn(move || {
                let headers: Vec<(&str, &str)> = owned
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                barrier.wait();
                get(&url, &headers).status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort_unstable();
    statuses
}

#[test]
fn quickbooks_and_xero_cap_requests_at_once() {
    let estate = Estate::start(EstateConfig {
        latency_ms: 1500,
        ..small()
    })
    .unwrap();
    let qb = estate.vendor("quickbooks").unwrap();
    let (access, _) = refresh(&estate, "quickbooks", &qb.credentials["refresh_token"]);
    let url = format!(
        "{}/v3/company/{}/query?query=select%20*%20from%20Item",
        qb.url, qb.credentials["realm_id"]
    );
    let bearer = format!("Bearer {access}");
    let statuses = at_once(12, &url, &[("authorization", &bearer)]);
    assert_eq!(statuses, [[200; 10].as_slice(), &[429, 429]].concat());

    let xero = estate.vendor("xero").unwrap();
    let (access, _) = refresh(&estate, "xero", &xero.credentials["refresh_token"]);
    let bearer = format!("Bearer {access}");
    let url = format!("{}/api.xro/2.0/Contacts?page=1", xero.url);
    let statuses = at_once(
        7,
        &url,
        &[
            ("authorization", &bearer),
            ("xero-tenant-id", &xero.credentials["tenant_id"]),
        ],
    );
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
}
