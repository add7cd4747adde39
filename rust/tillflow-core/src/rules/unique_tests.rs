//! Tests of the unique state: batches, threads, dense keys, counts.

use super::*;
use polars::prelude::*;

fn col(s: Series) -> Col {
    Col::bind("r", "column", &s).unwrap()
}

#[test]
fn keeps_first_and_spans_batches() {
    for parts in [1, 2, 3] {
        let mut st = UniqueState::new(parts);
        let a = col(Series::new(
            "a".into(),
            &[Some(1i64), Some(2), Some(1), None, None],
        ));
        assert_eq!(st.push(&[&a], 5), vec![2]);
        let b = col(Series::new(
            "a".into(),
            &[Some(2.0f64), Some(3.5), Some(3.5)],
        ));
        assert_eq!(st.push(&[&b], 3), vec![0, 2]);
    }
}

#[test]
fn compound_keys_skip_nulls() {
    let mut st = UniqueState::new(2);
    let a = col(Series::new(
        "a".into(),
        &[Some("x"), Some("x"), Some("x"), None],
    ));
    let b = col(Series::new(
        "b".into(),
        &[Some(1i64), Some(2), Some(1), Some(1)],
    ));
    assert_eq!(st.push(&[&a, &b], 4), vec![2]);
}

#[test]
fn dense_keys_move_to_hashing_when_a_batch_leaves_their_range() {
    for threads in [1, 2] {
        let mut st = UniqueState::new(threads);
        let a = col(Series::new(
            "a".into(),
            &[Some(10i64), Some(11), Some(10), None, Some(12)],
        ));
        assert_eq!(st.push(&[&a], 5), vec![2]);
        assert!(st.dense.is_some());
        let b = col(Series::new(
            "a".into(),
            &[Some(1_000_000_000_000i64), Some(11), Some(12), Some(13)],
        ));
        assert_eq!(st.push(&[&b], 4), vec![1, 2]);
        assert!(st.dense.is_none());
        let c = col(Series::new(
            "a".into(),
            &[Some(13i64), Some(1_000_000_000_000), Some(14)],
        ));
        assert_eq!(st.push(&[&c], 3), vec![0, 1]);
    }
}

#[test]
fn dense_compound_keys_agree_with_hashed_ones() {
    let a = col(Series::new("a".into(), &[1i64, 1, 2, 2, 1, 3]));
    let b = col(Series::new("b".into(), &[5i64, 6, 5, 5, 6, 7]));
    let mut dense = UniqueState::new(1);
    assert_eq!(dense.push(&[&a, &b], 6), vec![3, 4]);
    assert!(dense.dense.is_some());
    // Keys far apart: hashed from the start; the same duplicates.
    let far = col(Series::new("b".into(), &[5i64, 6, 5, 5, 6, i64::MAX]));
    let mut hashed = UniqueState::new(1);
    assert_eq!(hashed.push(&[&a, &far], 6), vec![3, 4]);
    assert!(hashed.dense.is_none());
    // A dense state turned to hashing still knows the earlier pairs.
    let a2 = col(Series::new("a".into(), &[2i64, 9]));
    let b2 = col(Series::new("b".into(), &[5i64, i64::MIN]));
    assert_eq!(dense.push(&[&a2, &b2], 2), vec![0]);
    assert!(dense.dense.is_none());
}
