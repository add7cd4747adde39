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

/// Windows a `step` may cut a range into (a step of a day over 27 years).
pub const MAX_STEPPED: usize = 10_000;

fn fmt(s: i64) -> String {
    DateTime::<Utc>::from_timestamp(s, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| s.to_string())
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
    let count = match &spec.step {
        Some(step) => {
            let step = crate::sources::spec::duration_value(step, "windows.step")?
                .as_secs()
                .max(1) as i64;
            let n = (span + step - 1) / step;
            if n > MAX_STEPPED as i64 {
                return Err(CoreError::config(
                    "windows.step",
                    format!(
                        "cuts {} to {} into {n} windows; at most {MAX_STEPPED} are allowed",
                        fmt(start),
                        fmt(end)
                    ),
                ));
            }
            return Ok((0..n)
                .map(|i| {
                    let lo = start + i * step;
                    let hi = (lo + step - 1).min(end);
                    (fmt(lo), fmt(hi))
                })
                .collect());
        }
        None => (spec.count as i64).min(span).max(1),
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
            min_param: Some("created_at_min".into()),
            max_param: Some("created_at_max".into()),
            location: Default::default(),
            start: start.into(),
            end: Some(end.into()),
            count,
            step: None,
            from_cursor: false,
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
    fn a_step_caps_each_window_and_the_last_ends_at_the_end() {
        let mut s = spec("2024-01-01T00:00:00Z", "2024-03-15T12:00:00Z", 8);
        s.step = Some(serde_json::json!("31d"));
        let w = split(&s).unwrap();
        assert_eq!(
            w,
            vec![
                (
                    "2024-01-01T00:00:00Z".to_string(),
                    "2024-01-31T23:59:59Z".to_string()
                ),
                (
                    "2024-02-01T00:00:00Z".to_string(),
                    "2024-03-02T23:59:59Z".to_string()
                ),
                (
                    "2024-03-03T00:00:00Z".to_string(),
                    "2024-03-15T12:00:00Z".to_string()
                ),
            ]
        );
        s.step = Some(serde_json::json!(1));
        s.end = Some("2030-01-01T00:00:00Z".into());
        assert!(split(&s).unwrap_err().to_string().contains("at most 10000"));
    }

    #[test]
    fn tiny_range_and_bad_order() {
        let w = split(&spec("2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", 8)).unwrap();
        assert_eq!(w.len(), 2);
        assert!(split(&spec("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z", 2)).is_err());
    }
}
