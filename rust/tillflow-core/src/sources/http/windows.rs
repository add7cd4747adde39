//! Time-sliced windows: one long page chain becomes several independent ones
//! that can run at once (the way to parallelise Link or cursor paging).

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{CoreError, Result};
use crate::sources::spec::WindowSpec;

pub fn parse_instant(text: &str, field: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            CoreError::config(
                field,
                format!("{text:?} is not an RFC 3339 timestamp ({e})"),
            )
        })
}

/// `(min, max)` parameter values per window. Both ends are inclusive, as
/// they are in Shopify's and most APIs' filters, so each window ends one
/// second before the next begins (timestamps are assumed whole seconds).
pub fn split(spec: &WindowSpec) -> Result<Vec<(String, String)>> {
    let start = parse_instant(&spec.start, "windows.start")?.timestamp();
    let end = match &spec.end {
        Some(e) => parse_instant(e, "windows.end")?.timestamp(),
        None => Utc::now().timestamp(),
    };
    if end < start {
        return Err(CoreError::config("windows.end", "is before windows.start"));
    }
    let span = end - start + 1;
    let count = (spec.count as i64).min(span).max(1);
    let fmt = |s: i64| {
        DateTime::<Utc>::from_timestamp(s, 0)
            .expect("in range")
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    Ok((0..count)
        .map(|i| {
            let lo = start + span * i / count;
            let hi = start + span * (i + 1) / count - 1;
            (fmt(lo), fmt(hi))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(start: &str, end: &str, count: usize) -> WindowSpec {
        WindowSpec {
            min_param: "created_at_min".into(),
            max_param: "created_at_max".into(),
            start: start.into(),
            end: Some(end.into()),
            count,
        }
    }

    #[test]
    fn windows_tile_the_range_without_overlap() {
        let w = split(&spec("2024-01-01T00:00:00Z", "2024-01-04T23:59:59Z", 4)).unwrap();
        assert_eq!(
            w,
            vec![
                (
                    "2024-01-01T00:00:00Z".to_string(),
                    "2024-01-01T23:59:59Z".to_string()
                ),
                (
                    "2024-01-02T00:00:00Z".to_string(),
                    "2024-01-02T23:59:59Z".to_string()
                ),
                (
                    "2024-01-03T00:00:00Z".to_string(),
                    "2024-01-03T23:59:59Z".to_string()
                ),
                (
                    "2024-01-04T00:00:00Z".to_string(),
                    "2024-01-04T23:59:59Z".to_string()
                ),
            ]
        );
    }

    #[test]
    fn tiny_range_and_bad_order() {
        let w = split(&spec("2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", 8)).unwrap();
        assert_eq!(w.len(), 2);
        assert!(split(&spec("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z", 2)).is_err());
    }
}
