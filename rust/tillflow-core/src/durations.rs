//! Durations as tillflow's specs, rules and alert files write them, one
//! grammar for Rust and Python alike: a number and a unit (`"90s"`, `"30m"`,
//! `"6h"`, `"2d"`, `"1w"`), decimals allowed (`"1.5h"`), several summed
//! (`"1d12h"`, `"1day 6h"`), spaces allowed between them. Months and years
//! are refused: their length depends on the calendar.

/// Seconds in each unit a duration may name, long forms included.
const UNITS: &[(&str, f64)] = &[
    ("ms", 0.001),
    ("msec", 0.001),
    ("millis", 0.001),
    ("millisecond", 0.001),
    ("milliseconds", 0.001),
    ("s", 1.0),
    ("sec", 1.0),
    ("secs", 1.0),
    ("second", 1.0),
    ("seconds", 1.0),
    ("m", 60.0),
    ("min", 60.0),
    ("mins", 60.0),
    ("minute", 60.0),
    ("minutes", 60.0),
    ("h", 3_600.0),
    ("hr", 3_600.0),
    ("hrs", 3_600.0),
    ("hour", 3_600.0),
    ("hours", 3_600.0),
    ("d", 86_400.0),
    ("day", 86_400.0),
    ("days", 86_400.0),
    ("w", 604_800.0),
    ("week", 604_800.0),
    ("weeks", 604_800.0),
];

/// The seconds `text` stands for, or a message saying what is wrong with it.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let mut rest = lower.as_str();
    if rest.is_empty() {
        return Err("a duration is empty".into());
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        let value: f64 = match number.parse() {
            Ok(v) if !number.starts_with('.') && !number.ends_with('.') => v,
            _ if number.is_empty() => return Err(format!("expected a number at {rest:?}")),
            _ => return Err(format!("{number:?} is not a number")),
        };
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("{number} has no unit; add one of s, m, h, d, w"));
        }
        let per = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, s)| *s)
            .ok_or_else(|| format!("unknown unit {unit:?}; use ms, s, m, h, d or w"))?;
        total += value * per;
        rest = rest[unit_len..].trim_start();
    }
    if total.is_finite() {
        Ok(total)
    } else {
        Err("the duration is too long".into())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn units_sums_and_decimals() {
        for (text, want) in [
            ("90s", 90.0),
            ("30m", 1_800.0),
            ("6h", 21_600.0),
            ("2d", 172_800.0),
            ("1w", 604_800.0),
            ("1d12h", 129_600.0),
            ("1day 6h", 108_000.0),
            ("1.5h", 5_400.0),
            (" 2 Hours ", 7_200.0),
            ("500ms", 0.5),
            ("0s", 0.0),
            ("15min", 900.0),
        ] {
            assert_eq!(parse_seconds(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_text_names_the_problem() {
        for (text, says) in [
            ("", "empty"),
            ("   ", "empty"),
            ("90", "no unit"),
            ("2 fortnights", "unknown unit \"fortnights\""),
            ("1month", "unknown unit"),
            ("h", "expected a number"),
            ("1..5h", "is not a number"),
            (".5h", "is not a number"),
            ("-1h", "expected a number"),
            ("1h-", "expected a number"),
        ] {
            let e = parse_seconds(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
