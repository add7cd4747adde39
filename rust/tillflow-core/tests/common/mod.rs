//! What the HTTP engine tests share: a scripted server on 127.0.0.1 that
//! logs every request, a spec with quick retries, and readers of the batches.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::{Arc, Mutex};

use polars::prelude::*;
use serde_json::{json, Value};
use tillflow_core::http_server::{serve, Reply, Request, ServerHandle};
use tillflow_core::sources::spec::ResourceSpec;
use tillflow_core::sources::stream::ResourceStream;
use tillflow_core::CoreError;

pub type Log = Arc<Mutex<Vec<Request>>>;

pub fn server(f: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> (ServerHandle, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let h = serve(
        "127.0.0.1",
        0,
        Arc::new(move |req: &Request| {
            let n = {
                let mut l = seen.lock().unwrap();
                l.push(req.clone());
                l.len() - 1
            };
            f(req, n)
        }),
    )
    .unwrap();
    (h, log)
}

pub fn spec(base: &str, extra: Value) -> ResourceSpec {
    let mut s = json!({"name": "items", "base_url": base, "path": "items",
                       "retry": {"max_attempts": 3, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    ResourceSpec::from_json(&s.to_string()).unwrap()
}

/// All batches until the end or the first error.
pub fn drain(spec: ResourceSpec) -> (Vec<(String, DataFrame)>, Option<CoreError>) {
    let mut stream = ResourceStream::open(spec).unwrap();
    let mut tables = Vec::new();
    while let Some(b) = stream.next_batch() {
        match b {
            Ok(batch) => tables.extend(batch.tables),
            Err(e) => return (tables, Some(e)),
        }
    }
    (tables, None)
}

pub fn ids(tables: &[(String, DataFrame)]) -> Vec<i64> {
    let mut out: Vec<i64> = tables
        .iter()
        .filter(|(n, _)| n == "items")
        .flat_map(|(_, df)| {
            df.column("id")
                .unwrap()
                .i64()
                .unwrap()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

pub fn records(range: std::ops::Range<i64>) -> Value {
    Value::Array(
        range
            .map(|i| json!({"id": i, "name": format!("item {i}")}))
            .collect(),
    )
}
