//! Checks on text values: emptiness, whitespace, length, affixes, and
//! whether the text reads as a value of another type.

use chrono::{NaiveDate, NaiveDateTime};

use super::spec::TextTest;
use crate::normalize::infer::{parse_date, parse_timestamp};

/// A text test ready to run: `fails(value)` for each present value.
pub struct TextCheck {
    test: TextTest,
}

impl TextCheck {
    pub fn new(test: &TextTest) -> TextCheck {
        TextCheck { test: test.clone() }
    }

    #[inline]
    pub fn fails(&self, s: &str) -> bool {
        match &self.test {
            TextTest::NotEmpty => s.trim().is_empty(),
            TextTest::Trimmed => s.trim() != s,
            TextTest::Length { min, max } => {
                // Counting characters is only needed near the bounds.
                let bytes = s.len() as u64;
                if max.is_none_or(|m| bytes <= m) && min.is_none_or(|m| bytes / 4 >= m) {
                    return false;
                }
                let n = s.chars().count() as u64;
                min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m)
            }
            TextTest::StartsWith { text } => !s.starts_with(text.as_str()),
            TextTest::EndsWith { text } => !s.ends_with(text.as_str()),
            TextTest::Contains { text } => !s.contains(text.as_str()),
            TextTest::ParsesAs { ty, format } => !parses_as(s, ty, format.as_deref()),
        }
    }
}

/// Whether `s` reads as a value of `ty`, as the file sources would read it.
fn parses_as(s: &str, ty: &str, format: Option<&str>) -> bool {
    match (ty, format) {
        ("int", _) => {
            let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && s.parse::<i128>().is_ok()
        }
        ("number", _) => {
            let t = s.strip_prefix(['-', '+']).unwrap_or(s);
            // Rust reads "inf" and "NaN" as floats; a number column would not.
            t.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_digit() || b == b'.')
                && s.parse::<f64>().is_ok_and(f64::is_finite)
        }
        ("bool", _) => matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "t" | "f" | "yes" | "no" | "y" | "n" | "1" | "0"
        ),
        ("date", None) => parse_date(s).is_some(),
        ("datetime", None) => parse_timestamp(s).is_some() || parse_date(s).is_some(),
        ("date", Some(f)) => NaiveDate::parse_from_str(s, f).is_ok(),
        ("datetime", Some(f)) => {
            NaiveDateTime::parse_from_str(s, f).is_ok()
                || chrono::DateTime::parse_from_str(s, f).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(test: TextTest, s: &str) -> bool {
        TextCheck::new(&test).fails(s)
    }

    #[test]
    fn whitespace_and_emptiness() {
        assert!(fails(TextTest::NotEmpty, ""));
        assert!(fails(TextTest::NotEmpty, " \t\u{3000}"));
        assert!(!fails(TextTest::NotEmpty, " a "));
        assert!(fails(TextTest::Trimmed, " a"));
        assert!(fails(TextTest::Trimmed, "a\n"));
        assert!(!fails(TextTest::Trimmed, "a b"));
        assert!(!fails(TextTest::Trimmed, ""));
    }

    #[test]
    fn length_counts_characters() {
        let len = |min, max| TextTest::Length { min, max };
        assert!(!fails(len(Some(4), Some(4)), "zoë!"));
        assert!(fails(len(None, Some(3)), "zoë!"));
        assert!(fails(len(Some(5), None), "日本"));
        assert!(!fails(len(Some(5), None), "日本語です"));
        assert!(fails(len(Some(1), None), ""));
    }

    #[test]
    fn values_parse_as_types() {
        let p = |ty: &str, f: Option<&str>| TextTest::ParsesAs {
            ty: ty.into(),
            format: f.map(str::to_owned),
        };
        assert!(!fails(p("int", None), "-12"));
        assert!(fails(p("int", None), "1.0"));
        assert!(fails(
            p("int", None),
            "99999999999999999999999999999999999999999"
        ));
        assert!(!fails(p("number", None), "1e3"));
        assert!(fails(p("number", None), "NaN"));
        assert!(fails(p("number", None), "inf"));
        assert!(!fails(p("date", None), "2024-02-29"));
        assert!(fails(p("date", None), "2023-02-29"));
        assert!(!fails(p("date", Some("%d/%m/%Y")), "31/12/2024"));
        assert!(fails(p("date", Some("%d/%m/%Y")), "12/31/2024"));
        assert!(!fails(p("datetime", None), "2024-01-01T10:00:00Z"));
        assert!(!fails(p("bool", None), "Yes"));
        assert!(fails(p("bool", None), "maybe"));
    }
}
