use super::*;

#[test]
fn between_refuses_an_empty_range_naming_both_bounds() {
    let rule = |min: &str, max: &str, extra: &str| {
        format!(
            r#"{{"now_us": 0, "checks": [{{"name": "r", "rule": {{"kind": "between", "column": "a",
            "min": "{min}", "max": "{max}"{extra}}}}}]}}"#
        )
    };
    let e = RuleSetSpec::from_json(&rule("300", "-30", ""))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "rule r: min: min 300 is above max -30");
    let e = RuleSetSpec::from_json(&rule("2024-03-02", "2024-03-01T00:00:00Z", ""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is above max"), "{e}");
    let e = RuleSetSpec::from_json(&rule("5", "5", r#", "max_inclusive": false"#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no value fits"), "{e}");
    RuleSetSpec::from_json(&rule("5", "5", "")).unwrap();
    RuleSetSpec::from_json(&rule("-30", "300", "")).unwrap();
    // A number and a date cannot be compared here: the column's type decides.
    RuleSetSpec::from_json(&rule("1", "2024-01-01", "")).unwrap();
}

#[test]
fn tolerance_boundaries_are_exact() {
    let f = |x| Some(Tolerance::Fraction(x));
    assert!(Tolerance::allows(f(0.29), 29, 100));
    assert!(!Tolerance::allows(f(0.29), 30, 100));
    assert!(Tolerance::allows(f(0.01), 1, 100));
    assert!(!Tolerance::allows(f(0.01), 2, 100));
    assert!(Tolerance::allows(Some(Tolerance::Count(3)), 3, 10));
    assert!(!Tolerance::allows(Some(Tolerance::Count(3)), 4, 10));
    assert!(Tolerance::allows(None, 0, 0));
    assert!(!Tolerance::allows(None, 1, 1));
}

#[test]
fn errors_name_the_rule_and_field() {
    let text = r#"{"now_us": 0, "checks": [{"name": "r1", "tolerance": {"fraction": 1.5},
        "rule": {"kind": "not_null", "column": "a"}}]}"#;
    let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
    assert!(e.contains("r1") && e.contains("tolerance"), "{e}");
    let text = r#"{"now_us": 0, "checks": [{"name": "r1", "rule": {"kind": "compare",
        "left": "a", "op": "=<", "right": "b"}}]}"#;
    let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
    assert!(e.starts_with("rule r1: op: ") && e.contains("`=<`"), "{e}");
}

fn one(rule: &str) -> String {
    let text = format!(r#"{{"now_us": 0, "checks": [{{"name": "c", "rule": {rule}}}]}}"#);
    RuleSetSpec::from_json(&text).unwrap_err().to_string()
}

#[test]
fn every_argument_is_checked_here() {
    for (rule, says) in [
        (
            r#"{"kind": "unique", "columns": []}"#,
            "rule c: columns: name at least one",
        ),
        (
            r#"{"kind": "unique", "columns": ["a", "a"]}"#,
            "rule c: columns: column \"a\" appears twice",
        ),
        (
            r#"{"kind": "matches", "column": "a", "pattern": "("}"#,
            "rule c: pattern: invalid regex",
        ),
        (
            r#"{"kind": "between", "column": "a"}"#,
            "rule c: min: give min, max or both",
        ),
        (
            r#"{"kind": "row_count", "min": 5, "max": 1}"#,
            "rule c: min: min 5 is above max 1",
        ),
        (
            r#"{"kind": "row_count", "min": -1}"#,
            "rule c: min: invalid value",
        ),
        (
            r#"{"kind": "freshness", "column": "a", "max_age_seconds": -1}"#,
            "rule c: max_age",
        ),
        (
            r#"{"kind": "nope", "column": "a"}"#,
            "rule c: kind: unknown variant `nope`",
        ),
        (
            r#"{"kind": "not_null", "column": "a", "extra": 1}"#,
            "rule c: extra: unknown field",
        ),
    ] {
        let e = one(rule);
        assert!(e.starts_with(says), "{rule}: {e}");
    }
    let text = r#"{"now_us": 0, "checks": [{"name": "c", "severity": "warning",
        "rule": {"kind": "not_null", "column": "a"}}]}"#;
    let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
    assert!(
        e.starts_with("rule c: severity: unknown variant `warning`"),
        "{e}"
    );
    let text = r#"{"now_us": 0, "sample_size": -1, "checks": []}"#;
    let e = RuleSetSpec::from_json(text).unwrap_err().to_string();
    assert!(e.starts_with("rule rules: sample_size: "), "{e}");
}

#[test]
fn by_groups_whole_data_checks_and_is_refused_elsewhere_with_the_reason() {
    let grouped = |rule: &str| {
        format!(r#"{{"now_us": 0, "checks": [{{"name": "c", "by": ["g"], "rule": {rule}}}]}}"#)
    };
    for (rule, says) in [
        (
            r#"{"kind": "freshness", "column": "a", "max_age_seconds": 1}"#,
            "rule c: by: freshness measures the newest value of all the data, not per group",
        ),
        (
            r#"{"kind": "outliers", "column": "a", "method": "iqr", "threshold": 1.5}"#,
            "rule c: by: no_outliers sets its fences from all the data, not per group",
        ),
        (
            r#"{"kind": "row_count_matches", "other": 10}"#,
            "rule c: by: row_count_matches compares all the rows",
        ),
        (
            r#"{"kind": "not_null", "column": "a"}"#,
            "rule c: by: not_null judges rows one at a time",
        ),
    ] {
        let e = RuleSetSpec::from_json(&grouped(rule))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(says), "{rule}: {e}");
    }
    RuleSetSpec::from_json(&grouped(
        r#"{"kind": "contains_values", "column": "a", "values": ["x"]}"#,
    ))
    .unwrap();
    let e = one(r#"{"kind": "row_count_matches", "other": 10, "within": -0.1}"#);
    assert!(e.starts_with("rule c: within: "), "{e}");
}
