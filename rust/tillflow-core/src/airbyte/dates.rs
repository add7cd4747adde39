//! Datetimes as Airbyte manifests write them: Python `strftime`/`strptime`
//! formats plus Airbyte's own (`%s` epoch seconds, `%ms` epoch
//! milliseconds, `%s_as_float`), dateutil-like parsing of ISO 8601
//! strings, and ISO 8601 durations.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::normalize::infer::{parse_date, parse_timestamp};

/// A Python strftime format as chrono spells it (`%f` is microseconds).
fn chrono_format(format: &str) -> String {
    format.replace("%f", "%6f")
}

/// Formats `dt` as Python's `strftime` would (UTC), with Airbyte's epoch formats.
pub fn format_dt(dt: DateTime<Utc>, format: &str) -> String {
    match format {
        "%s" => dt.timestamp().to_string(),
        "%ms" => dt.timestamp_millis().to_string(),
        "%s_as_float" => format!("{}", dt.timestamp_micros() as f64 / 1e6),
        _ => dt.format(&chrono_format(format)).to_string(),
    }
}

/// Parses `s` with a Python strptime format (or an epoch format); a
/// datetime without an offset is UTC.
pub fn parse_with(s: &str, format: &str) -> Option<DateTime<Utc>> {
    match format {
        "%s" => return Utc.timestamp_opt(s.trim().parse().ok()?, 0).single(),
        "%ms" => return Utc.timestamp_millis_opt(s.trim().parse().ok()?).single(),
        "%s_as_float" => {
            let f: f64 = s.trim().parse().ok()?;
            return Utc.timestamp_micros((f * 1e6).round() as i64).single();
        }
        _ => {}
    }
    let mut fmt = chrono_format(format);
    let mut text = s.to_string();
    if fmt.ends_with("%z") && text.ends_with('Z') {
        text.pop();
        text.push_str("+0000");
    }
    if fmt.contains("%z") {
        if let Ok(dt) = DateTime::parse_from_str(&text, &fmt) {
            return Some(dt.with_timezone(&Utc));
        }
        // Python's %z also takes "+00:00".
        fmt = fmt.replace("%z", "%:z");
        return DateTime::parse_from_str(&text, &fmt)
            .ok()
            .map(|dt| dt.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(&text, &fmt) {
        return Some(Utc.from_utc_datetime(&naive));
    }
    NaiveDate::parse_from_str(&text, &fmt)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| Utc.from_utc_datetime(&n))
}

/// An ISO 8601 date or datetime (with `T` or a space, any fraction, `Z` or
/// an offset; without one, UTC), as `str_to_datetime` reads it.
pub fn str_to_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(micros) = parse_timestamp(s) {
        return Utc.timestamp_micros(micros).single();
    }
    if let Some(days) = parse_date(s) {
        return Utc.timestamp_opt(i64::from(days) * 86_400, 0).single();
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Some(micros) = parse_timestamp(&with_t) {
        return Utc.timestamp_micros(micros).single();
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(&with_t, fmt) {
            return Some(Utc.from_utc_datetime(&n));
        }
    }
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|dt| dt.with_timezone(&Utc))
}

/// An ISO 8601 duration (`P1D`, `PT1H30M`, `P2W`, `P1M` as 30 days, `P1Y`
/// as 365), as `isodate` reads the ones manifests use.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let body = body.strip_prefix('P')?;
    if body.is_empty() {
        return None;
    }
    let (date, time) = match body.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (body, None),
    };
    let mut total = Duration::zero();
    let mut add = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let secs = units.iter().find(|(u, _)| *u == c)?.1;
            let n: f64 = number.parse().ok()?;
            total += Duration::microseconds((n * secs * 1e6).round() as i64);
            number.clear();
        }
        number.is_empty().then_some(())
    };
    add(
        date,
        &[
            ('Y', 365.0 * 86_400.0),
            ('M', 30.0 * 86_400.0),
            ('W', 7.0 * 86_400.0),
            ('D', 86_400.0),
        ],
    )?;
    if let Some(t) = time {
        add(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        str_to_datetime(s).unwrap()
    }

    #[test]
    fn python_formats_round_trip() {
        let dt = at("2024-03-01T10:20:30.123456Z");
        assert_eq!(
            format_dt(dt, "%Y-%m-%dT%H:%M:%S.%f%z"),
            "2024-03-01T10:20:30.123456+0000"
        );
        assert_eq!(format_dt(dt, "%s"), "1709288430");
        assert_eq!(format_dt(dt, "%ms"), "1709288430123");
        assert_eq!(
            parse_with("2024-03-01T10:20:30.123456+0000", "%Y-%m-%dT%H:%M:%S.%f%z"),
            Some(dt)
        );
        assert_eq!(
            parse_with("2024-03-01T10:20:30Z", "%Y-%m-%dT%H:%M:%S%z"),
            Some(at("2024-03-01T10:20:30Z"))
        );
        assert_eq!(
            parse_with("2024-03-01T10:20:30", "%Y-%m-%dT%H:%M:%S"),
            Some(at("2024-03-01T10:20:30Z"))
        );
        assert_eq!(
            parse_with("2024-03-01", "%Y-%m-%d"),
            Some(at("2024-03-01T00:00:00Z"))
        );
        assert_eq!(
            parse_with("1709288430", "%s"),
            Some(at("2024-03-01T10:20:30Z"))
        );
        assert_eq!(parse_with("x", "%Y"), None);
    }

    #[test]
    fn iso_strings() {
        assert_eq!(at("2024-03-01 10:20:30+01:00"), at("2024-03-01T09:20:30Z"));
        assert_eq!(at("2024-03-01"), at("2024-03-01T00:00:00Z"));
        assert_eq!(at("2024-03-01T10:20:30"), at("2024-03-01T10:20:30Z"));
        assert!(str_to_datetime("soon").is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(
            parse_duration("PT0.000001S"),
            Some(Duration::microseconds(1))
        );
        assert_eq!(parse_duration("P2W"), Some(Duration::days(14)));
        assert_eq!(parse_duration("P1M"), Some(Duration::days(30)));
        assert_eq!(parse_duration("-PT1S"), Some(Duration::seconds(-1)));
        assert_eq!(parse_duration("1D"), None);
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT"), None);
    }
}
