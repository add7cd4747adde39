//! Substreams: a child resource fetched once per parent record, carrying
//! the parent's key; state kept per parent (a child's own cursor) and a
//! child that follows only the parents changed since its last run. Each
//! against a real server on 127.0.0.1 whose data changes between runs.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{drain, ids, server};
use polars::prelude::DataFrame;
use serde_json::{json, Value};
use tillflow_core::http_server::{Reply, Request};
use tillflow_core::sources::checkpoint::apply_state;
use tillflow_core::sources::spec::ResourceSpec;
use tillflow_core::sources::stream::ResourceStream;

/// One run from the state the last one left: the tables, the final state
/// and the states of every batch.
fn run(spec: &Value, state: &Value) -> (Vec<(String, DataFrame)>, Vec<Value>) {
    let mut s = ResourceSpec::from_json(&spec.to_string()).unwrap();
    apply_state(&mut s, state).unwrap();
    let mut stream = ResourceStream::open(s).unwrap();
    let mut tables = Vec::new();
    let mut states = Vec::new();
    while let Some(b) = stream.next_batch() {
        let b = b.unwrap();
        tables.extend(b.tables);
        states.push(b.state);
    }
    (tables, states)
}

/// A text column of one table, over every batch, sorted.
fn texts(tables: &[(String, DataFrame)], table: &str, column: &str) -> Vec<String> {
    let mut out: Vec<String> = tables
        .iter()
        .filter(|(n, _)| n == table)
        .flat_map(|(_, df)| {
            df.column(column)
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .flatten()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

fn at(second: u32) -> String {
    format!("2024-01-01T00:00:{second:02}Z")
}

#[test]
fn a_substream_fetches_each_parents_children_and_carries_its_key() {
    // Zendesk's shape: tickets, then /tickets/{id}/comments.json for each.
    let (srv, log) = server(|req, _| {
        if req.path == "/api/v2/tickets.json" {
            let page: i64 = req.param("page").map_or(1, |p| p.parse().unwrap());
            let tickets: Vec<Value> = match page {
                1 => vec![json!({"id": 101}), json!({"id": 102})],
                2 => vec![json!({"id": 103}), json!({"id": null}), json!({"id": 101})],
                _ => vec![],
            };
            return Reply::json(200, json!({"tickets": tickets}).to_string());
        }
        let id: i64 = req
            .path
            .trim_start_matches("/api/v2/tickets/")
            .trim_end_matches("/comments.json")
            .parse()
            .unwrap();
        // Ticket n has n - 100 comments; ids are unique across tickets.
        let comments: Vec<Value> = (0..id - 100)
            .map(|k| json!({"id": id * 10 + k, "body": format!("comment {k}")}))
            .collect();
        Reply::json(200, json!({"comments": comments}).to_string())
    });
    let base = format!("{}/api/v2", srv.url());
    let (t, err) = drain(
        tillflow_core::sources::spec::ResourceSpec::from_json(
            &json!({"name": "items", "base_url": base, "path": "tickets/{{ parent.id }}/comments.json",
                    "records": "comments", "concurrency": 2,
                    "parent": {"resource": {"name": "tickets", "base_url": base, "path": "tickets.json",
                                            "paginator": {"type": "page_number"}, "records": "tickets", "concurrency": 1},
                               "fields": "id", "carry": {"ticket_id": "id"}}})
            .to_string(),
        )
        .unwrap(),
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&t), vec![1010, 1020, 1021, 1030, 1031, 1032]);
    // Batches come from several normalizer threads: read them all.
    let mut pairs: HashMap<i64, i64> = HashMap::new();
    for (_, df) in t.iter().filter(|(n, _)| n == "items") {
        let ids = df.column("id").unwrap().i64().unwrap().clone();
        let tickets = df.column("ticket_id").unwrap().i64().unwrap().clone();
        pairs.extend(ids.into_no_null_iter().zip(tickets.into_no_null_iter()));
    }
    assert_eq!(pairs[&1031], 103);
    assert_eq!(pairs[&1010], 101);
    // 3 pages of tickets, then one request per distinct ticket with an id.
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3 + 3);
}

#[test]
fn substream_mistakes_are_named() {
    let e = tillflow_core::sources::spec::ResourceSpec::from_json(
        &json!({"name": "c", "base_url": "http://x", "path": "t/{{ parent.id }}",
                "parent": {"resource": {"name": "t", "base_url": "http://x", "paginator": {"type": "nope"}}, "fields": "id"}})
        .to_string(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("parent.resource.paginator"), "{e}");
    let e = tillflow_core::sources::spec::ResourceSpec::from_json(
        &json!({"name": "c", "base_url": "http://x", "path": "t/{{ parent.id }}",
                "parent": {"resource": {"name": "t", "base_url": "http://x"}, "fields": "id", "carry": {"t": "key"}}})
        .to_string(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("parent.carry.t") && e.contains("\"key\""), "{e}");
    let e = tillflow_core::sources::spec::ResourceSpec::from_json(
        &json!({"name": "c", "base_url": "http://x", "path": "t/{{ parnt.id }}"}).to_string(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("path") && e.contains("parnt.id"), "{e}");
}

/// Mailchimp's shape: audiences, then each audience's members changed
/// since a time.
#[derive(Default)]
struct Audiences {
    lists: Vec<&'static str>,
    /// (list, member, last_changed second)
    members: Vec<(&'static str, &'static str, u32)>,
}

fn audiences_server(
    world: Arc<Mutex<Audiences>>,
) -> (tillflow_core::http_server::ServerHandle, common::Log) {
    server(move |req: &Request, _| {
        let w = world.lock().unwrap();
        if req.path == "/lists" {
            let lists: Vec<Value> = w.lists.iter().map(|l| json!({"id": l})).collect();
            return Reply::json(200, json!({"lists": lists}).to_string());
        }
        let list = req
            .path
            .trim_start_matches("/lists/")
            .trim_end_matches("/members");
        let since = req.param("since_last_changed").map(|s| s.to_string());
        let members: Vec<Value> = w
            .members
            .iter()
            .filter(|(l, _, t)| *l == list && since.as_ref().is_none_or(|s| at(*t) >= *s))
            .map(|(_, id, t)| json!({"id": id, "last_changed": at(*t)}))
            .collect();
        Reply::json(200, json!({"members": members}).to_string())
    })
}

fn members_spec(base: &str) -> Value {
    json!({"name": "members", "base_url": base, "path": "lists/{{ parent.id }}/members",
           "params": {"since_last_changed": "{{ incremental.start }}"},
           "records": "members", "primary_key": ["list_id", "id"], "cursor_field": "last_changed",
           "incremental": {}, "concurrency": 2,
           "parent": {"resource": {"name": "lists", "base_url": base, "path": "lists", "records": "lists"},
                      "fields": "id", "carry": {"list_id": "id"}}})
}

#[test]
fn a_child_with_its_own_cursor_keeps_one_per_parent() {
    let world = Arc::new(Mutex::new(Audiences {
        lists: vec!["a", "b"],
        members: vec![("a", "a1", 10), ("a", "a2", 20), ("b", "b1", 15)],
    }));
    let (srv, log) = audiences_server(world.clone());
    let spec = members_spec(&srv.url());
    let (t, states) = run(&spec, &Value::Null);
    assert_eq!(texts(&t, "members", "id"), ["a1", "a2", "b1"]);
    let state = states.last().unwrap().clone();
    assert_eq!(
        state["partitions"],
        json!({r#"{"list_id":"a"}"#: {"cursor": at(20), "boundary": [r#"["a","a2"]"#]},
               r#"{"list_id":"b"}"#: {"cursor": at(15), "boundary": [r#"["b","b1"]"#]}})
    );
    // A new member in one audience, and a new audience whose members are
    // all older than every cursor so far.
    {
        let mut w = world.lock().unwrap();
        w.members.push(("a", "a3", 30));
        w.lists.push("c");
        w.members.push(("c", "c1", 5));
    }
    log.lock().unwrap().clear();
    let (t, states) = run(&spec, &state);
    // Each audience from its own cursor, the new one from the beginning;
    // the records at a stored edge are not loaded twice.
    assert_eq!(texts(&t, "members", "id"), ["a3", "c1"]);
    let asked: HashMap<String, Option<String>> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path != "/lists")
        .map(|r| {
            (
                r.path.clone(),
                r.param("since_last_changed").map(str::to_string),
            )
        })
        .collect();
    assert_eq!(asked["/lists/a/members"].as_deref(), Some(at(20).as_str()));
    assert_eq!(asked["/lists/b/members"].as_deref(), Some(at(15).as_str()));
    assert_eq!(asked["/lists/c/members"], None);
    let state = states.last().unwrap();
    assert_eq!(
        state["partitions"][r#"{"list_id":"a"}"#]["cursor"],
        json!(at(30))
    );
    assert_eq!(
        state["partitions"][r#"{"list_id":"b"}"#]["cursor"],
        json!(at(15))
    );
    assert_eq!(
        state["partitions"][r#"{"list_id":"c"}"#]["cursor"],
        json!(at(5))
    );
}

/// Zendesk's shape: an incremental export of tickets changed since a
/// time, then each ticket's comments; a comment moves its ticket's
/// `updated_at`.
#[derive(Default)]
struct Tickets {
    /// (ticket, updated second, comment ids)
    tickets: Vec<(i64, u32, Vec<i64>)>,
}

fn tickets_server(
    world: Arc<Mutex<Tickets>>,
) -> (tillflow_core::http_server::ServerHandle, common::Log) {
    server(move |req: &Request, _| {
        let w = world.lock().unwrap();
        if req.path == "/tickets" {
            let since: i64 = req.param("start_time").map_or(0, |s| s.parse().unwrap());
            let base = chrono::DateTime::parse_from_rfc3339(&at(0))
                .unwrap()
                .timestamp();
            let tickets: Vec<Value> = w
                .tickets
                .iter()
                .filter(|(_, t, _)| base + i64::from(*t) >= since)
                .map(|(id, t, _)| json!({"id": id, "updated_at": at(*t)}))
                .collect();
            return Reply::json(200, json!({"tickets": tickets}).to_string());
        }
        let id: i64 = req
            .path
            .trim_start_matches("/tickets/")
            .trim_end_matches("/comments")
            .parse()
            .unwrap();
        let comments: Vec<Value> = w
            .tickets
            .iter()
            .filter(|(t, _, _)| *t == id)
            .flat_map(|(_, _, c)| c.iter().map(|c| json!({"id": c})))
            .collect();
        Reply::json(200, json!({"comments": comments}).to_string())
    })
}

fn comments_spec(base: &str, batch_size: usize) -> Value {
    json!({"name": "items", "base_url": base, "path": "tickets/{{ parent.id }}/comments",
           "records": "comments", "primary_key": "id", "concurrency": 1, "batch_size": batch_size,
           "parent": {"resource": {"name": "tickets", "base_url": base, "path": "tickets",
                                   "params": {"start_time": "{{ incremental.start | epoch }}"},
                                   "records": "tickets", "primary_key": "id",
                                   "cursor_field": "updated_at", "incremental": {}},
                      "fields": "id", "carry": {"ticket_id": "id"}, "incremental": true}})
}

fn comment_requests(log: &common::Log) -> Vec<String> {
    let mut out: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path != "/tickets")
        .map(|r| r.path.clone())
        .collect();
    out.sort();
    out
}

#[test]
fn a_child_can_follow_only_the_parents_changed_since_its_last_run() {
    let world = Arc::new(Mutex::new(Tickets {
        tickets: vec![(1, 10, vec![11, 12]), (2, 20, vec![21]), (3, 20, vec![])],
    }));
    let (srv, log) = tickets_server(world.clone());
    let spec = comments_spec(&srv.url(), 10_000);
    let (t, states) = run(&spec, &Value::Null);
    assert_eq!(ids(&t), [11, 12, 21]);
    let state = states.last().unwrap().clone();
    assert_eq!(
        state["parent"],
        json!({"cursor": at(20), "boundary": ["2", "3"]})
    );
    assert_eq!(log.lock().unwrap().len(), 1 + 3);
    // A new comment on ticket 1 moves its updated_at.
    {
        let mut w = world.lock().unwrap();
        w.tickets[0] = (1, 30, vec![11, 12, 13]);
    }
    log.lock().unwrap().clear();
    let (t, states) = run(&spec, &state);
    let first = log.lock().unwrap()[0].clone();
    let stored = chrono::DateTime::parse_from_rfc3339(&at(20))
        .unwrap()
        .timestamp();
    assert_eq!(first.param("start_time"), Some(stored.to_string().as_str()));
    // Tickets 2 and 3 sit at the stored edge: their comments are not asked for again.
    assert_eq!(comment_requests(&log), ["/tickets/1/comments"]);
    assert_eq!(ids(&t), [11, 12, 13]);
    let state = states.last().unwrap().clone();
    assert_eq!(
        state["parent"],
        json!({"cursor": at(30), "boundary": ["1"]})
    );
    // Nothing changed: no comment is asked for.
    log.lock().unwrap().clear();
    let (t, states) = run(&spec, &state);
    assert!(comment_requests(&log).is_empty());
    assert!(ids(&t).is_empty());
    assert_eq!(states.last().unwrap()["parent"], state["parent"]);
}

#[test]
fn an_interrupted_child_run_stores_the_parents_cursor_only_when_it_completes() {
    let world = Arc::new(Mutex::new(Tickets {
        tickets: (1..=6).map(|i| (i, i as u32, vec![i * 10])).collect(),
    }));
    let (srv, log) = tickets_server(world);
    let spec = comments_spec(&srv.url(), 1);
    let mut s = ResourceSpec::from_json(&spec.to_string()).unwrap();
    apply_state(&mut s, &Value::Null).unwrap();
    let mut stream = ResourceStream::open(s).unwrap();
    let first = stream.next_batch().unwrap().unwrap();
    assert!(!first.last);
    drop(stream); // the run dies after its first batch committed
                  // Until the run completes, the parents' cursor waits in the resume point.
    assert_eq!(first.state.get("parent"), None);
    assert_eq!(first.state["resume"]["parent"]["cursor"], json!(at(6)));
    log.lock().unwrap().clear();
    let (t, states) = run(&spec, &first.state);
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/tickets")
            .count(),
        0,
        "resumed, not re-listed"
    );
    let mut all = ids(&first.tables);
    all.extend(ids(&t));
    all.sort();
    all.dedup();
    assert_eq!(all, [10, 20, 30, 40, 50, 60]);
    let done = states.last().unwrap();
    assert_eq!(done["parent"], json!({"cursor": at(6), "boundary": ["6"]}));
    assert_eq!(done.get("resume"), None);
}

#[test]
fn stored_state_and_parent_mistakes_are_named() {
    let world = Arc::new(Mutex::new(Audiences::default()));
    let (srv, _) = audiences_server(world);
    let mut s = ResourceSpec::from_json(&members_spec(&srv.url()).to_string()).unwrap();
    let e = apply_state(&mut s, &json!({"partitions": [1, 2]}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("state.partitions"), "{e}");
    let e = apply_state(&mut s, &json!("cursor"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("state") && e.contains("not an object"), "{e}");
    // Following changed parents needs the parent's own filter.
    let mut bad = comments_spec(&srv.url(), 10);
    bad["parent"]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("incremental");
    let e = ResourceSpec::from_json(&bad.to_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("parent.incremental"), "{e}");
    // A child with its own cursor must carry the parent's key.
    let mut bad = members_spec(&srv.url());
    bad["parent"]["carry"] = json!({});
    let e = ResourceSpec::from_json(&bad.to_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("parent.carry"), "{e}");
}
