use super::*;

fn tag(chain: usize, seq: u64, next: Option<&str>) -> PageTag {
    PageTag {
        chain,
        seq,
        next: next.map(str::to_string),
        trail: Vec::new(),
    }
}

fn start(url: &str) -> ChainPosition {
    ChainPosition {
        url: Some(url.into()),
        seq: 0,
        ahead: vec![],
        trail: vec![],
    }
}

#[test]
fn chains_advance_over_the_committed_prefix_only() {
    let mut p = Progress::new(&[start("a0"), start("b0")], CursorEdge::default(), None);
    p.commit(
        &[tag(0, 1, Some("a2")), tag(1, 0, Some("b1"))],
        Edges::default(),
    );
    let r = p.resume();
    assert_eq!(r.chains[0].url.as_deref(), Some("a0"));
    assert_eq!(r.chains[0].seq, 0);
    assert_eq!(r.chains[0].ahead, vec![(1, Some("a2".to_string()))]);
    assert_eq!(r.chains[1].url.as_deref(), Some("b1"));
    assert_eq!(r.chains[1].seq, 1);
    p.commit(&[tag(0, 0, Some("a1")), tag(1, 1, None)], Edges::default());
    let r = p.resume();
    assert_eq!(r.chains[0].url.as_deref(), Some("a2"));
    assert_eq!(r.chains[0].seq, 2);
    assert!(r.chains[0].ahead.is_empty());
    assert_eq!(r.chains[1].url, None, "the chain ended with page 1");
    // A restored position keeps what was ahead.
    let q = Progress::new(&r.chains, CursorEdge::default(), None);
    assert_eq!(q.resume().chains, r.chains);
}

#[test]
fn edge_keeps_the_keys_at_the_largest_value() {
    let mut e = CursorEdge::default();
    let at = |s: &'static str| Json::Str(s.into());
    e.offer(&at("2024-01-01T00:00:00Z"), || "1".into());
    e.offer(&at("2024-01-02T00:00:00+01:00"), || "2".into());
    e.offer(&at("2024-01-01T23:00:00Z"), || "3".into()); // the same instant
    e.offer(&at("2023-12-31T00:00:00Z"), || "4".into());
    assert_eq!(e.keys, vec!["2", "3"]);
    assert_eq!(e.value, Some(json!("2024-01-02T00:00:00+01:00")));
    let mut later = CursorEdge::default();
    later.offer(&Json::Str("2024-01-03T00:00:00Z".into()), || "9".into());
    let mut merged = e.clone();
    merged.merge(later);
    assert_eq!(merged.keys, vec!["9"]);
    // Stored and restored, the edge filters exactly its own records.
    let f = EdgeFilter::new(CursorEdge::stored(e.value.as_ref(), &e.keys)).unwrap();
    assert!(f.seen(&at("2024-01-01T23:00:00Z"), || "3".into()));
    assert!(!f.seen(&at("2024-01-01T23:00:00Z"), || "5".into()));
    assert!(!f.seen(&at("2024-01-01T00:00:00Z"), || "1".into()));
}

#[test]
fn state_holds_the_start_edge_until_the_last_batch() {
    let start = CursorEdge::stored(Some(&json!(10)), &["a".to_string()]);
    let mut p = Progress::new(&[start_pos()], start, None);
    let mut e = CursorEdge::default();
    e.offer(&Json::Int(12), || "b".into());
    p.commit(
        &[tag(0, 0, Some("u1"))],
        Edges {
            whole: e,
            ..Edges::default()
        },
    );
    let mid = p.state(false);
    assert_eq!(mid["cursor"], json!(10));
    assert_eq!(mid["boundary"], json!(["a"]));
    assert_eq!(mid["resume"]["cursor"], json!(12));
    assert_eq!(mid["resume"]["chains"][0]["seq"], json!(1));
    let done = p.state(true);
    assert_eq!(done, json!({"cursor": 12, "boundary": ["b"]}));
    // A run that found nothing newer keeps the stored edge.
    let p = Progress::new(
        &[start_pos()],
        CursorEdge::stored(Some(&json!(10)), &["a".into()]),
        None,
    );
    assert_eq!(p.state(true), json!({"cursor": 10, "boundary": ["a"]}));
}

#[test]
fn per_parent_edges_and_the_parents_edge_wait_for_the_last_batch() {
    let stored = BTreeMap::from([(
        "a".to_string(),
        CursorEdge::stored(Some(&json!(5)), &["x".into()]),
    )]);
    let mut p = Progress::new(&[start_pos()], CursorEdge::default(), None)
        .with_parts(stored, BTreeMap::new())
        .with_parent(
            CursorEdge::stored(Some(&json!(1)), &[]),
            CursorEdge::stored(Some(&json!(3)), &["p".into()]),
        );
    let mut b = CursorEdge::default();
    b.offer(&Json::Int(7), || "y".into());
    p.commit(
        &[tag(0, 0, Some("u1"))],
        Edges {
            parts: BTreeMap::from([("b".to_string(), b)]),
            ..Edges::default()
        },
    );
    let mid = p.state(false);
    assert_eq!(
        mid["partitions"],
        json!({"a": {"cursor": 5, "boundary": ["x"]}})
    );
    assert_eq!(mid["parent"], json!({"cursor": 1}));
    assert_eq!(
        mid["resume"]["partitions"],
        json!({"b": {"cursor": 7, "boundary": ["y"]}})
    );
    assert_eq!(
        mid["resume"]["parent"],
        json!({"cursor": 3, "boundary": ["p"]})
    );
    let done = p.state(true);
    assert_eq!(
        done["partitions"],
        json!({"a": {"cursor": 5, "boundary": ["x"]}, "b": {"cursor": 7, "boundary": ["y"]}})
    );
    assert_eq!(done["parent"], json!({"cursor": 3, "boundary": ["p"]}));
    // Restored from what it stored, a spec starts each parent from its own cursor.
    let resumed: Resume = serde_json::from_value(mid["resume"].clone()).unwrap();
    assert_eq!(stored_parts(&resumed.partitions)["b"].value, Some(json!(7)));
}

fn start_pos() -> ChainPosition {
    start("u0")
}

#[test]
fn record_keys() {
    let rec = Json::parse(br#"{"id": 7, "b": "x", "c": [1]}"#).unwrap();
    assert_eq!(record_key(&rec, &["id".to_string()]), "7");
    assert_eq!(
        record_key(&rec, &["id".to_string(), "b".to_string()]),
        r#"[7,"x"]"#
    );
    let other = Json::parse(br#"{"id": 7, "b": "y", "c": [1]}"#).unwrap();
    assert_ne!(record_key(&rec, &[]), record_key(&other, &[]));
    assert!(record_key(&rec, &[]).starts_with('#'));
}
