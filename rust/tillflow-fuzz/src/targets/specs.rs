//! Specs users write: REST resources, file resources and rule sets, parsed,
//! validated and then used as a run would use them.

use std::collections::HashMap;

use fastrand::Rng;
use polars::prelude::*;
use serde_json::{json, Map, Value};
use tillflow_core::files::{FileOptions, FileStream};
use tillflow_core::rules::spec::RuleSetSpec;
use tillflow_core::rules::Validator;
use tillflow_core::sources::http::client::HttpClient;
use tillflow_core::sources::spec::ResourceSpec;

use super::choose;
use crate::engine::Target;
use crate::gen;

const DICT: &[&[u8]] = json_dict![
    b"0",
    b"-1",
    b"1e300",
    b"\"type\":",
    b"\"name\":",
    b"\"kind\":",
    b"\"\"",
    b"18446744073709551616",
];

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

// ---------------------------------------------------------------- REST

fn rest_run(data: &[u8]) {
    let Ok(spec) = ResourceSpec::from_json(&text(data)) else {
        return;
    };
    // What building a stream does with an accepted spec, short of fetching.
    let _ = spec.url(&Default::default());
    let _ = spec.redactor();
    if let Some(inc) = &spec.incremental {
        let _ = inc.start_value();
    }
    // A substream's chains come from fetching its parent: not here.
    if spec.parent.is_none() {
        let _ = tillflow_core::sources::http::chains(&spec);
    }
    let _ = HttpClient::new(&spec);
}

fn any_value(rng: &mut Rng) -> Value {
    match rng.u8(..9) {
        0 => Value::Null,
        1 => json!(rng.bool()),
        2 => json!(rng.i64(..)),
        3 => json!(rng.f64() * 1e300),
        4 => json!(-(rng.i32(..) as i64)),
        5 => json!([gen::cell(rng)]),
        6 => json!({ "k": gen::cell(rng) }),
        _ => json!(gen::cell(rng)),
    }
}

fn num(rng: &mut Rng) -> Value {
    match rng.u8(..10) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1e300),
        3 => json!(u64::MAX),
        4 => json!(1e-320),
        5 => json!(0.001),
        6 => json!(9.3e18),
        7 => json!(i64::MIN),
        _ => json!(rng.u32(1..100)),
    }
}

fn instant(rng: &mut Rng) -> Value {
    json!(gen::pick(
        rng,
        &[
            "2024-01-01T00:00:00Z",
            "2024-01-31T23:59:59+05:30",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-23:59",
            "2024-02-30T00:00:00Z",
            "2024-01-01",
            "now",
            "",
        ]
    ))
}

/// Drops about a third of the keys of `obj` but `keep`.
fn thin(rng: &mut Rng, obj: &mut Map<String, Value>, keep: &str) {
    obj.retain(|k, _| k == keep || rng.u8(..3) > 0);
}

fn rest_generate(rng: &mut Rng) -> Vec<u8> {
    let mut s = Map::new();
    s.insert(
        "name".into(),
        json!(gen::pick(rng, &["orders", "", " ", "a__b"])),
    );
    s.insert(
        "base_url".into(),
        json!(gen::pick(
            rng,
            &[
                "https://shop.example/admin/api/2024-01",
                "http://127.0.0.1:8080",
                "http://user:pa%40ss@host.example",
                "http://[::1]:99999",
                "http://exa mple.com",
                "ftp://files.example",
                "https://ü.example/é?x=1#f",
                "http://",
                "",
                "data:text/plain,x",
            ]
        )),
    );
    let mut tmp = Map::new();
    tmp.insert(
        "path".into(),
        json!(gen::pick(
            rng,
            &[
                "orders.json",
                "/v1/../x",
                "",
                "?a=b",
                "%zz",
                "//other.host/x"
            ]
        )),
    );
    tmp.insert(
        "params".into(),
        json!({ gen::key(rng): any_value(rng), "limit": num(rng) }),
    );
    tmp.insert("headers".into(), json!({ gen::pick(rng, &["X-Token", "bad header", "x\u{e9}", ""]): gen::pick(rng, &["v", "a\nb", "\u{e9}", ""]) }));
    let paginator = match rng.u8(..7) {
        0 => json!({"type": "single_page"}),
        1 => json!({"type": "link_header", "rel": gen::pick(rng, &["next", "", "NEXT"])}),
        2 => {
            let mut p = Map::new();
            p.insert("type".into(), json!("cursor"));
            p.insert("param".into(), json!(gen::key(rng)));
            p.insert("cursor_path".into(), json!("meta.next"));
            p.insert("cursor_from_last_record".into(), json!("id"));
            p.insert("has_more_path".into(), json!("has_more"));
            thin(rng, &mut p, "type");
            Value::Object(p)
        }
        3 => json!({"type": "next_url", "path": gen::pick(rng, &["links.next", "", "."])}),
        4 => json!({"type": "offset", "limit": num(rng), "start": num(rng), "total_path": "total"}),
        5 => {
            json!({"type": "page_number", "start": num(rng), "page_size": num(rng), "page_size_param": "per_page"})
        }
        _ => json!({"type": gen::pick(rng, &["nope", ""])}),
    };
    tmp.insert("paginator".into(), paginator);
    let auth = match rng.u8(..4) {
        0 => json!({"type": "bearer", "token": gen::cell(rng)}),
        1 => {
            json!({"type": "api_key", "name": gen::pick(rng, &["X-Key", "api_key", "bad name", ""]), "value": gen::cell(rng), "location": gen::pick(rng, &["header", "query", "cookie"])})
        }
        2 => json!({"type": "basic", "username": gen::cell(rng), "password": gen::cell(rng)}),
        _ => json!(null),
    };
    tmp.insert("auth".into(), auth);
    tmp.insert(
        "records".into(),
        json!(gen::pick(rng, &["data", "", "a.0.b", "."])),
    );
    tmp.insert(
        "primary_key".into(),
        gen::pick(
            rng,
            &[&json!("id"), &json!(["id", "x"]), &json!(null), &json!(7)],
        )
        .clone(),
    );
    tmp.insert("cursor_field".into(), json!("updated_at"));
    let mut inc = Map::new();
    inc.insert("param".into(), json!("updated_at_min"));
    inc.insert("start".into(), any_value(rng));
    let cursor = match rng.u8(..3) {
        0 => instant(rng),
        1 => num(rng),
        _ => any_value(rng),
    };
    inc.insert("cursor".into(), cursor);
    let lookback = match rng.u8(..3) {
        0 => json!(gen::pick(
            rng,
            &[
                "2h",
                "1d 3h",
                "0s",
                "300000000years",
                "18446744073709551615s",
                "-1h",
                "",
                "h"
            ]
        )),
        1 => num(rng),
        _ => any_value(rng),
    };
    inc.insert("lookback".into(), lookback);
    inc.insert("boundary".into(), json!(["a", "b"]));
    thin(rng, &mut inc, "param");
    tmp.insert("incremental".into(), Value::Object(inc));
    tmp.insert("windows".into(),
        json!({"min_param": "min", "max_param": "max", "start": instant(rng), "end": instant(rng), "count": num(rng)}),
    );
    tmp.insert("concurrency".into(), num(rng));
    tmp.insert("timeout_secs".into(), num(rng));
    tmp.insert("batch_size".into(), num(rng));
    tmp.insert("retry".into(),
        json!({"max_attempts": num(rng), "initial_backoff_secs": num(rng), "max_backoff_secs": num(rng), "max_retry_after_secs": num(rng)}),
    );
    tmp.insert("normalize".into(), json!({"max_depth": num(rng), "numeric_strings": gen::pick(rng, &["decimal", "float", "text"])}));
    tmp.insert("resume".into(),
        json!({"chains": [{"url": gen::pick(rng, &["http://x/y?page_info=1", "not a url", ""]), "seq": num(rng), "ahead": [[num(rng), null]]}], "cursor": any_value(rng)}),
    );
    // A few of the optional keys, so most specs are accepted.
    for (k, v) in tmp {
        if rng.u8(..3) == 0 {
            s.insert(k, v);
        }
    }
    if rng.u8(..30) == 0 {
        s.insert(gen::key(rng), json!(1));
    }
    Value::Object(s).to_string().into_bytes()
}

pub static REST_SPEC: Target = Target {
    name: "rest_spec",
    about:
        "REST resource specs: parsing, validation, URLs, windows, lookback, HTTP client settings",
    run: rest_run,
    generate: rest_generate,
    dict: DICT,
    max_len: 16 * 1024,
};

// ---------------------------------------------------------------- file options

fn file_options_run(data: &[u8]) {
    let Ok(opts) = FileOptions::from_json(&text(data)) else {
        return;
    };
    // Opening validates every option; the path names no file, or a glob.
    let _ = FileStream::open(opts, None);
}

fn file_options_generate(rng: &mut Rng) -> Vec<u8> {
    let mut o = Map::new();
    o.insert("name".into(), json!(gen::pick(rng, &["orders", ""])));
    o.insert(
        "path".into(),
        json!(gen::pick(
            rng,
            &[
                "/nonexistent/tillflow-fuzz/*.csv",
                "/nonexistent/x.csv",
                "[",
                "**/a[",
                "",
                "/dev/null/x.json"
            ]
        )),
    );
    let mut tmp = Map::new();
    tmp.insert(
        "format".into(),
        json!(gen::pick(
            rng,
            &["csv", "ndjson", "json", "parquet", "xlsx", "xml"]
        )),
    );
    tmp.insert(
        "delimiter".into(),
        json!(gen::pick(
            rng,
            &[",", "\\t", "tab", "", ";;", "\"", "é", "\n"]
        )),
    );
    tmp.insert(
        "encoding".into(),
        json!(gen::pick(
            rng,
            &["utf-8", "latin-1", "utf-16", "nope", " UTF8 "]
        )),
    );
    tmp.insert("header".into(), json!(rng.bool()));
    tmp.insert("skip_rows".into(), num(rng));
    tmp.insert("sheet".into(), any_value(rng));
    tmp.insert(
        "columns".into(),
        json!({ gen::key(rng): gen::pick(rng, &["decimal(18,2)", "decimal(0,0)", "decimal(39,1)", "numeric( 5 , 6 )", "decimal(255,255)", "int", "x", ""]) }),
    );
    tmp.insert("primary_key".into(), json!(["id"]));
    tmp.insert(
        "on_bad_row".into(),
        json!(gen::pick(rng, &["error", "quarantine", "skip"])),
    );
    tmp.insert("batch_size".into(), num(rng));
    tmp.insert("decimal".into(), json!(gen::pick(rng, &[".", ",", ""])));
    tmp.insert("null_values".into(), json!(["NA"]));
    tmp.insert("normalize".into(), json!({"max_depth": num(rng)}));
    for (k, v) in tmp {
        if rng.u8(..3) == 0 {
            o.insert(k, v);
        }
    }
    Value::Object(o).to_string().into_bytes()
}

pub static FILE_OPTIONS: Target = Target {
    name: "file_options",
    about:
        "file resource options: parsing and validation (encodings, delimiters, pinned types, globs)",
    run: file_options_run,
    generate: file_options_generate,
    dict: DICT,
    max_len: 8 * 1024,
};

// ---------------------------------------------------------------- rules

/// A small frame with the columns the generated rules name.
fn frame(rows: usize) -> DataFrame {
    let ids: Vec<Option<i64>> = (0..rows as i64)
        .map(|i| (i != 2).then_some(i % 4))
        .collect();
    let amounts: Vec<Option<f64>> = (0..rows)
        .map(|i| [Some(1.5), None, Some(f64::NAN), Some(-0.0), Some(1e300)][i % 5])
        .collect();
    let names: Vec<Option<&str>> = (0..rows)
        .map(|i| [Some("a"), Some(""), None, Some("ünï"), Some("a@b.example")][i % 5])
        .collect();
    let when: Vec<Option<i64>> = (0..rows)
        .map(|i| {
            [
                Some(0),
                Some(i64::MAX / 2),
                None,
                Some(-1),
                Some(1_700_000_000_000_000),
            ][i % 5]
        })
        .collect();
    let flags: Vec<Option<bool>> = (0..rows)
        .map(|i| (i % 3 != 0).then_some(i % 2 == 0))
        .collect();
    let when = Series::new("created_at".into(), when)
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .unwrap_or_else(|_| Series::new_null("created_at".into(), rows));
    DataFrame::new(
        rows,
        vec![
            Series::new("id".into(), ids).into(),
            Series::new("amount".into(), amounts).into(),
            Series::new("name".into(), names).into(),
            when.into(),
            Series::new("flag".into(), flags).into(),
        ],
    )
    .expect("a valid frame")
}

fn rules_run(data: &[u8]) {
    let Ok(spec) = RuleSetSpec::from_json(&text(data)) else {
        return;
    };
    let mut c = choose(data);
    let mut refs = HashMap::new();
    refs.insert(
        "customers.id".to_string(),
        DataFrame::new_infer_height(vec![
            Series::new("id".into(), [Some(1i64), None, Some(3)]).into()
        ])
        .expect("a reference frame"),
    );
    let Ok(mut v) = Validator::new(spec, refs) else {
        return;
    };
    for _ in 0..c.of(&[1, 2]) {
        let rows = c.of(&[0, 1, 5, 12]);
        if v.push(&frame(rows), c.one_in(2)).is_err() {
            return;
        }
    }
    let _ = v.finish();
}

fn column(rng: &mut Rng) -> Value {
    json!(gen::pick(
        rng,
        &["id", "amount", "name", "created_at", "flag", "missing", ""]
    ))
}

fn rules_generate(rng: &mut Rng) -> Vec<u8> {
    let n = rng.usize(..5);
    let checks: Vec<Value> = (0..n)
        .map(|i| {
            let rule = match rng.u8(..26) {
                0 => json!({"kind": "not_null", "column": column(rng)}),
                1 => json!({"kind": "unique", "columns": [column(rng), column(rng)]}),
                2 => json!({"kind": "between", "column": column(rng), "min": gen::cell(rng), "max": gen::cell(rng), "min_inclusive": rng.bool()}),
                3 => json!({"kind": "matches", "column": column(rng), "pattern": gen::pick(rng, &["^a", "(", "[[:alpha:]]+", "\\p{L}", "(a*)*b", "x{99999}", ".*", "", "\\", "(?i)é"])}),
                4 => json!({"kind": "is_in", "column": column(rng), "values": [any_value(rng), any_value(rng)]}),
                5 => json!({"kind": "relationships", "columns": [column(rng)], "reference": gen::pick(rng, &["customers.id", "nope"])}),
                6 => json!({"kind": "compare", "left": column(rng), "op": gen::pick(rng, &["<", "<=", ">", ">=", "==", "!=", "=<"]), "right": column(rng)}),
                7 => json!({"kind": "mask", "column": column(rng)}),
                8 => json!({"kind": "row_count", "min": num(rng), "max": num(rng)}),
                9 => json!({"kind": "freshness", "column": column(rng), "max_age_seconds": num(rng)}),
                10 => json!({"kind": "schema", "columns": [[column(rng), gen::pick(rng, &["int", "float", "text", "timestamp", "bool", "x"])]], "strict": rng.bool()}),
                11 => json!({"kind": "is_null", "column": column(rng)}),
                12 => json!({"kind": "text", "column": column(rng), "test": gen::pick(rng, &[&json!({"name": "not_empty"}), &json!({"name": "length", "min": 2, "max": 1}), &json!({"name": "parses_as", "type": "date", "format": "%Q"}), &json!({"name": "starts_with", "text": ""})]).clone()}),
                13 => json!({"kind": "format", "column": column(rng), "format": gen::pick(rng, &[&json!({"name": "email"}), &json!({"name": "postal_code", "country": "XX"}), &json!({"name": "json_schema", "schema": {"type": 5}}), &json!({"name": "iban"})]).clone()}),
                14 => json!({"kind": "aggregate", "column": column(rng), "agg": gen::pick(rng, &[&json!({"name": "sum"}), &json!({"name": "median"}), &json!({"name": "quantile", "q": 1.5}), &json!({"name": "stddev"})]).clone(), "min": gen::cell(rng), "max": gen::cell(rng)}),
                15 => json!({"kind": "distinct_count", "columns": [column(rng)], "min": num(rng), "max": num(rng)}),
                16 => json!({"kind": "time_gaps", "column": column(rng), "every_seconds": num(rng), "weekdays": [0, 1, 9]}),
                17 => json!({"kind": "sequence_gaps", "column": column(rng), "step": num(rng)}),
                18 => json!({"kind": "outliers", "column": column(rng), "method": gen::pick(rng, &["zscore", "iqr", "mad", "x"]), "threshold": num(rng)}),
                19 => json!({"kind": "monotonic", "column": column(rng), "decreasing": rng.bool(), "strict": rng.bool()}),
                20 => json!({"kind": "sum_equals", "columns": [column(rng), column(rng)], "total": column(rng), "within": num(rng)}),
                21 => json!({"kind": "within", "left": column(rng), "right": column(rng), "min_seconds": num(rng), "max_seconds": num(rng)}),
                22 => json!({"kind": "relationships", "columns": [column(rng), column(rng)], "reference": "customers.id"}),
                23 => json!({"kind": "unique", "columns": [column(rng)], "count": gen::pick(rng, &["keys", "all", "extra", "x"]), "nulls_equal": gen::pick(rng, &[&json!(true), &json!(false), &json!("yes")])}),
                24 => json!({"kind": "contains_values", "column": column(rng), "values": [any_value(rng)]}),
                _ => json!({"kind": gen::pick(rng, &["nope", ""])}),
            };
            let mut c = json!({"name": format!("c{i}"), "rule": rule});
            if rng.u8(..4) == 0 {
                c["tolerance"] = gen::pick(rng, &[&json!({"count": 2}), &json!({"fraction": 0.5}), &json!({"fraction": 1.5}), &json!({"fraction": -0.0})]).clone();
            }
            if rng.u8(..4) == 0 {
                c["severity"] = json!(gen::pick(rng, &["error", "warn", "fatal"]));
            }
            if rng.u8(..6) == 0 {
                c["show"] = json!([column(rng)]);
            }
            if rng.u8(..5) == 0 {
                c["by"] = json!([column(rng)]);
            }
            if rng.u8(..5) == 0 {
                c["when"] = column(rng);
            }
            c
        })
        .collect();
    let mut spec = json!({"checks": checks, "now_us": num(rng)});
    if rng.bool() {
        spec["key"] = json!([column(rng)]);
        spec["sample_size"] = num(rng);
        spec["mode"] = json!(gen::pick(rng, &["collect_all", "fail_fast"]));
        spec["missing_columns"] = json!(gen::pick(rng, &["error", "null"]));
    }
    spec.to_string().into_bytes()
}

pub static RULES: Target = Target {
    name: "rules",
    about: "rule sets: parsing, validation, pattern compilation, and checks run over a small frame",
    run: rules_run,
    generate: rules_generate,
    dict: DICT,
    max_len: 16 * 1024,
};
