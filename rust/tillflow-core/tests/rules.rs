//! The validator end to end in Rust: exact counts on small frames, the same
//! answer batch by batch as in one pass, and fail-fast stopping.

use std::collections::HashMap;

use polars::prelude::*;
use tillflow_core::rules::{Report, RuleSetSpec, Status, Validator};

fn spec(checks: &str, extra: &str) -> RuleSetSpec {
    let text =
        format!(r#"{{"now_us": 1700000000000000, "key": ["id"], "checks": [{checks}] {extra}}}"#);
    RuleSetSpec::from_json(&text).unwrap()
}

fn frame() -> DataFrame {
    let n = 1000;
    let id: Vec<i64> = (0..n)
        .map(|i| if i % 100 == 99 { i - 1 } else { i })
        .collect();
    let price: Vec<Option<f64>> = (0..n)
        .map(|i| match i % 50 {
            0 => None,
            1 => Some(f64::NAN),
            2 => Some(-1.0),
            _ => Some(i as f64),
        })
        .collect();
    let email: Vec<Option<String>> = (0..n)
        .map(|i| match i % 40 {
            0 => None,
            1 => Some(format!("user{i}@examplecom")),
            _ => Some(format!("user{i}@example.com")),
        })
        .collect();
    let status: Vec<&str> = (0..n)
        .map(|i| if i % 25 == 0 { "lost" } else { "paid" })
        .collect();
    df!(
        "id" => id,
        "price" => price,
        "email" => email,
        "status" => status,
    )
    .unwrap()
}

const CHECKS: &str = r#"
    {"name": "nn_price", "rule": {"kind": "not_null", "column": "price"}},
    {"name": "uniq", "rule": {"kind": "unique", "columns": ["id"]}},
    {"name": "range", "rule": {"kind": "between", "column": "price", "min": "0", "max": "900"}},
    {"name": "mail", "rule": {"kind": "matches", "column": "email",
        "pattern": "^[a-z0-9.]+@[a-z0-9.-]+\\.[a-z]{2,}$"}},
    {"name": "status", "severity": "warn", "rule": {"kind": "is_in", "column": "status", "values": ["paid"]}},
    {"name": "rows", "rule": {"kind": "row_count", "min": 1, "max": 5000}}
"#;

fn failing(report: &Report) -> Vec<(String, Option<u64>, Status)> {
    report
        .checks
        .iter()
        .map(|c| (c.name.clone(), c.failing, c.status))
        .collect()
}

#[test]
fn exact_counts_in_one_pass() {
    let df = frame();
    let mut v = Validator::new(spec(CHECKS, ""), HashMap::new()).unwrap();
    v.push(&df, false).unwrap();
    let report = v.finish().unwrap();
    assert_eq!(report.rows, 1000);
    // nulls: i%50==0 (20) + NaN i%50==1 (20); duplicates: 10 (i%100==99);
    // range: NaN (20) + -1 (20) + values 901..999 not otherwise failing;
    // email: i%40==1 (25); status: i%25==0 (40).
    let above: u64 = (901..1000).filter(|i| !matches!(i % 50, 0..=2)).count() as u64;
    assert_eq!(
        failing(&report),
        vec![
            ("nn_price".into(), Some(40), Status::Failed),
            ("uniq".into(), Some(10), Status::Failed),
            ("range".into(), Some(40 + above), Status::Failed),
            ("mail".into(), Some(25), Status::Failed),
            ("status".into(), Some(40), Status::Failed),
            ("rows".into(), None, Status::Passed),
        ]
    );
    let uniq = report.checks[1].sample.as_ref().unwrap();
    assert_eq!(uniq.height(), 10);
    let rows: Vec<u64> = uniq
        .column("_tf_row")
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(rows, (0..10).map(|k| k * 100 + 99).collect::<Vec<u64>>());
}

#[test]
fn batches_give_the_same_report_as_one_pass() {
    let df = frame();
    let mut whole = Validator::new(spec(CHECKS, ""), HashMap::new()).unwrap();
    whole.push(&df, false).unwrap();
    let whole = whole.finish().unwrap();
    for size in [1usize, 7, 64, 99, 100, 333, 999] {
        let mut v = Validator::new(spec(CHECKS, ""), HashMap::new()).unwrap();
        let mut start = 0;
        while start < df.height() {
            let len = size.min(df.height() - start);
            v.push(&df.slice(start as i64, len), false).unwrap();
            start += len;
        }
        let parts = v.finish().unwrap();
        assert_eq!(failing(&parts), failing(&whole), "batch size {size}");
        for (a, b) in parts.checks.iter().zip(&whole.checks) {
            assert_eq!(
                a.sample.as_ref().map(|s| s.height()),
                b.sample.as_ref().map(|s| s.height())
            );
        }
    }
}

#[test]
fn large_frames_split_across_threads_agree_with_small_batches() {
    // 200k rows: several morsels per thread, and unique's partitioned tables.
    let n = 200_000i64;
    let id: Vec<i64> = (0..n)
        .map(|i| if i % 1000 == 7 { i - 7 } else { i })
        .collect();
    let v: Vec<Option<i64>> = (0..n).map(|i| (i % 333 != 0).then_some(i % 1000)).collect();
    let df = df!("id" => id, "v" => v).unwrap();
    let checks = r#"
        {"name": "u", "rule": {"kind": "unique", "columns": ["id"]}},
        {"name": "nn", "rule": {"kind": "not_null", "column": "v"}},
        {"name": "b", "rule": {"kind": "between", "column": "v", "min": "10", "max": "989", "max_inclusive": false}}
    "#;
    let mut one = Validator::new(spec(checks, ""), HashMap::new()).unwrap();
    let rows = one.push(&df, true).unwrap().unwrap();
    let one = one.finish().unwrap();
    let nulls = (0..n).filter(|i| i % 333 == 0).count() as u64;
    let out_of_range = (0..n)
        .filter(|i| i % 333 != 0 && !(10..989).contains(&(i % 1000)))
        .count() as u64;
    assert_eq!(
        failing(&one),
        vec![
            ("u".into(), Some(200), Status::Failed),
            ("nn".into(), Some(nulls), Status::Failed),
            ("b".into(), Some(out_of_range), Status::Failed),
        ]
    );
    let mask = rows.mask(None);
    let expected = (0..n)
        .filter(|i| i % 1000 == 7 || i % 333 == 0 || !(10..989).contains(&(i % 1000)))
        .count();
    assert_eq!(mask.num_trues(), expected);
    let named = rows.rules(None).unwrap();
    assert_eq!(named.height(), expected);
}

#[test]
fn fail_fast_stops_at_the_first_failing_error_check() {
    let df = frame();
    let checks = r#"
        {"name": "first", "rule": {"kind": "not_null", "column": "id"}},
        {"name": "second", "rule": {"kind": "unique", "columns": ["id"]}},
        {"name": "third", "rule": {"kind": "not_null", "column": "price"}},
        {"name": "rows", "rule": {"kind": "row_count", "min": 1}}
    "#;
    let mut v = Validator::new(spec(checks, r#", "mode": "fail_fast""#), HashMap::new()).unwrap();
    v.push(&df, false).unwrap();
    assert!(v.stopped());
    let report = v.finish().unwrap();
    assert_eq!(
        failing(&report),
        vec![
            ("first".into(), Some(0), Status::Passed),
            ("second".into(), Some(10), Status::Failed),
            ("third".into(), None, Status::Skipped),
            ("rows".into(), None, Status::Skipped),
        ]
    );
}

#[test]
fn relationships_and_missing_columns() {
    let df = df!("id" => [1i64, 2, 3, 4], "customer" => [Some(10i64), Some(11), None, Some(99)])
        .unwrap();
    let refs = HashMap::from([("c".to_string(), df!("id" => [10i64, 11, 12]).unwrap())]);
    let checks = r#"{"name": "c", "rule": {"kind": "relationships", "columns": ["customer"], "reference": "c"}}"#;
    let mut v = Validator::new(spec(checks, ""), refs).unwrap();
    v.push(&df, false).unwrap();
    assert_eq!(v.finish().unwrap().checks[0].failing, Some(1));

    let checks = r#"{"name": "gone", "rule": {"kind": "not_null", "column": "nope"}}"#;
    let mut strict = Validator::new(spec(checks, ""), HashMap::new()).unwrap();
    let e = strict.push(&df, false).unwrap_err().to_string();
    assert!(e.contains("gone") && e.contains("nope"), "{e}");
    let mut lenient = Validator::new(
        spec(checks, r#", "missing_columns": "null""#),
        HashMap::new(),
    )
    .unwrap();
    lenient.push(&df, false).unwrap();
    assert_eq!(lenient.finish().unwrap().checks[0].failing, Some(4));
}

#[test]
fn unique_agrees_with_a_plain_hash_set_on_wide_keys() {
    // Keys far apart (hashed, on several threads) and narrow ones (a bitmap),
    // single and compound, across batches: the same rows as a HashSet says.
    let n = 300_000usize;
    let wide: Vec<Option<i64>> = (0..n)
        .map(|i| match i % 997 {
            0 => None,
            5 => Some(((i / 3) as i64) * 1_000_003),
            _ => Some((i as i64) * 1_000_003),
        })
        .collect();
    let store: Vec<i64> = (0..n).map(|i| (i % 7) as i64).collect();
    let text: Vec<String> = (0..n).map(|i| format!("k{}", i % 250_000)).collect();
    let df = df!("wide" => wide.clone(), "store" => store.clone(), "text" => text.clone()).unwrap();
    let checks = r#"
        {"name": "wide", "rule": {"kind": "unique", "columns": ["wide"]}},
        {"name": "pair", "rule": {"kind": "unique", "columns": ["store", "wide"]}},
        {"name": "text", "rule": {"kind": "unique", "columns": ["text"]}}
    "#;
    let naive = |keys: Vec<Option<String>>| -> u64 {
        let mut seen = std::collections::HashSet::new();
        keys.into_iter()
            .flatten()
            .filter(|k| !seen.insert(k.clone()))
            .count() as u64
    };
    let want = vec![
        naive(wide.iter().map(|w| w.map(|v| v.to_string())).collect()),
        naive(
            wide.iter()
                .zip(&store)
                .map(|(w, s)| w.map(|v| format!("{s}/{v}")))
                .collect(),
        ),
        naive(text.iter().map(|t| Some(t.clone())).collect()),
    ];
    for batch in [n, 100_000, 77_777] {
        let mut v = Validator::new(spec(checks, ""), HashMap::new()).unwrap();
        let mut start = 0;
        while start < n {
            let len = batch.min(n - start);
            v.push(&df.slice(start as i64, len), false).unwrap();
            start += len;
        }
        let got: Vec<u64> = v
            .finish()
            .unwrap()
            .checks
            .iter()
            .map(|c| c.failing.unwrap())
            .collect();
        assert_eq!(got, want, "batch size {batch}");
    }
}
