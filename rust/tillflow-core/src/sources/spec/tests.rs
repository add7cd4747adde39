use super::*;

fn incremental(v: serde_json::Value) -> IncrementalSpec {
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_start_too_recent_for_the_api_moves_back_to_the_minimum_age() {
    use serde_json::json;
    let now = chrono::Utc::now();
    let recent = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let inc = incremental(json!({"cursor": recent, "min_age": "1m"}));
    let start = inc.start_value().unwrap().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(start.as_str().unwrap()).unwrap();
    let age = now.signed_duration_since(at).num_seconds();
    assert!((59..=61).contains(&age), "{start} is {age} s old");
    // Old enough already: kept as it is; numbers are left alone.
    let old = incremental(json!({"cursor": "2024-03-10T01:30:00Z", "min_age": "1m"}));
    assert_eq!(
        old.start_value().unwrap(),
        Some(json!("2024-03-10T01:30:00Z"))
    );
    let ids = incremental(json!({"cursor": 1000, "min_age": "1m"}));
    assert_eq!(ids.start_value().unwrap(), Some(json!(1000)));
    let bad = incremental(json!({"cursor": recent, "min_age": "a while"}));
    let msg = bad.start_value().unwrap_err().to_string();
    assert!(msg.contains("incremental.min_age"), "{msg}");
}

#[test]
fn incremental_start_is_the_cursor_less_the_lookback() {
    use serde_json::json;
    let first =
        incremental(json!({"param": "since", "start": "2024-01-01T00:00:00Z", "lookback": "2h"}));
    assert_eq!(
        first.start_value().unwrap(),
        Some(json!("2024-01-01T00:00:00Z"))
    ); // the initial value as is
    let later = incremental(json!({"param": "since", "start": "2024-01-01T00:00:00Z",
                                    "cursor": "2024-03-10T01:30:00Z", "lookback": "2h"}));
    assert_eq!(
        later.start_value().unwrap(),
        Some(json!("2024-03-09T23:30:00Z"))
    );
    let offset = incremental(
        json!({"param": "since", "cursor": "2024-03-10T01:30:00.250+02:00",
                                     "lookback": 90}),
    );
    // The same instant 90 s earlier, in the cursor's own offset.
    assert_eq!(
        offset.start_value().unwrap(),
        Some(json!("2024-03-10T01:28:30.250+02:00"))
    );
    let numbers = incremental(json!({"param": "since_id", "cursor": 1000, "lookback": 25}));
    assert_eq!(numbers.start_value().unwrap(), Some(json!(975)));
    let plain = incremental(json!({"param": "since", "cursor": "2024-03-10T01:30:00Z"}));
    assert_eq!(
        plain.start_value().unwrap(),
        Some(json!("2024-03-10T01:30:00Z"))
    );
    assert_eq!(
        incremental(json!({"param": "since"}))
            .start_value()
            .unwrap(),
        None
    );
    let bad = incremental(json!({"param": "since", "cursor": "yesterday", "lookback": "1h"}));
    let msg = bad.start_value().unwrap_err().to_string();
    assert!(
        msg.contains("incremental.lookback") && msg.contains("yesterday"),
        "{msg}"
    );
    let odd = incremental(
        json!({"param": "since", "cursor": "2024-03-10T01:30:00Z", "lookback": "soon"}),
    );
    assert!(odd
        .start_value()
        .unwrap_err()
        .to_string()
        .contains("\"soon\" is not a duration"));
}

#[test]
fn parses_minimal_and_full_specs() {
    let s = ResourceSpec::from_json(
        r#"{"name":"orders","base_url":"http://x/api","path":"orders.json"}"#,
    )
    .unwrap();
    assert_eq!(s.paginator, PaginatorSpec::SinglePage);
    assert_eq!(
        s.url(&Default::default()).unwrap().as_str(),
        "http://x/api/orders.json"
    );
    let s = ResourceSpec::from_json(
        r#"{"name":"c","base_url":"http://x/","primary_key":"id",
            "paginator":{"type":"cursor","param":"starting_after","cursor_from_last_record":"id","has_more_path":"has_more"},
            "auth":{"type":"api_key","name":"key","value":"sekrit","location":"query"}}"#,
    )
    .unwrap();
    assert_eq!(s.primary_key, vec!["id".to_string()]);
    assert!(!format!("{s:?}").contains("sekrit"));
}

#[test]
fn errors_name_the_field() {
    let e = ResourceSpec::from_json(
        r#"{"name":"o","base_url":"http://x","paginator":{"type":"offset","limitt":3}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("paginator"), "{e}");
    let e =
        ResourceSpec::from_json(r#"{"name":"o","base_url":"http://x","retry":{"max_attempts":0}}"#)
            .unwrap_err()
            .to_string();
    assert!(e.contains("retry.max_attempts"), "{e}");
    let e = ResourceSpec::from_json(r#"{"name":"o","base_url":"ftp://x"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("base_url"), "{e}");
    let e = ResourceSpec::from_json(
        r#"{"name":"o","base_url":"http://x","paginator":{"type":"cursor","param":"a"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("exactly one"), "{e}");
}
