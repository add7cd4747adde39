//! What a JSON string holds: a timestamp, a date, a decimal amount, or text.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Microseconds since the epoch (UTC) for an ISO-8601 date-time. A value
/// without an offset is taken as UTC. Also Microsoft's JSON date, which
/// Xero and older .NET APIs send: `/Date(1704067200000+0000)/`.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        // Milliseconds since the epoch; the offset only says how to show it.
        let digits = inner
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map_or(inner, |(i, _)| &inner[..i]);
        return digits.parse::<i64>().ok()?.checked_mul(1000);
    }
    let b = s.as_bytes();
    if b.len() < 16
        || b.len() > 40
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
    {
        return None;
    }
    if !b[0].is_ascii_digit() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_micros());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Days since the epoch for `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !b[0].is_ascii_digit() {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| chrono::Datelike::num_days_from_ce(&d) - UNIX_EPOCH_DAYS_FROM_CE)
}

/// Largest scale a decimal column takes; longer fractions stay text.
pub const MAX_SCALE: u8 = 18;

/// `"-12.34"` → `(-1234, 2)`. With `need_point`, a bare integer such as a
/// zip code `"01234"` is not taken for an amount.
pub fn parse_decimal(s: &str, need_point: bool) -> Option<(i128, u8)> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 39 {
        return None;
    }
    let mut value: i128 = 0;
    let mut scale: Option<u8> = None;
    let mut int_digits = 0;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                value = value.checked_mul(10)?.checked_add((c - b'0') as i128)?;
                match scale.as_mut() {
                    Some(s) => *s += 1,
                    None => int_digits += 1,
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    let scale = match scale {
        Some(0) => return None,
        Some(s) => s,
        None if need_point => return None,
        None => 0,
    };
    // A leading zero before more digits ("007.5") is a code, not an amount.
    if int_digits > 1 && digits[0] == b'0' {
        return None;
    }
    if int_digits == 0 || scale > MAX_SCALE || value > MAX_DECIMAL {
        return None;
    }
    Some((if neg { -value } else { value }, scale))
}

/// Largest magnitude of a 38-digit decimal.
pub const MAX_DECIMAL: i128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_timestamp("2024-03-05T10:20:30.123456-05:00"),
            Some(1_709_652_030_123_456)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:02"), Some(2_000_000));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00+0100"),
            Some(-3_600_000_000)
        );
        assert_eq!(parse_timestamp("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("hello world, 2024"), None);
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-02-30"), None);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("12.34", true), Some((1234, 2)));
        assert_eq!(parse_decimal("-0.5", true), Some((-5, 1)));
        assert_eq!(parse_decimal("12", true), None);
        assert_eq!(parse_decimal("12", false), Some((12, 0)));
        assert_eq!(parse_decimal("01234", false), None);
        assert_eq!(parse_decimal("0.10", true), Some((10, 2)));
        assert_eq!(parse_decimal("1.2.3", true), None);
        assert_eq!(parse_decimal("12.", true), None);
        assert_eq!(parse_decimal(".5", true), None);
        assert_eq!(parse_decimal("1e5", true), None);
        assert_eq!(parse_decimal("", true), None);
        assert_eq!(parse_decimal("0.1234567890123456789", true), None);
        assert_eq!(
            parse_decimal("123456789012345678901234567890123456789.5", true),
            None
        );
    }
}
