//! Email addresses, URLs, JSON texts and JSON Schema.

use std::cell::Cell;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_general_category::{get_general_category, GeneralCategory as Gc};

const LOCAL_MAX: usize = 64;
const ADDRESS_MAX: usize = 254;
const LABEL_MAX: usize = 63;

pub(super) fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    value.len() <= ADDRESS_MAX && is_local_part(local) && is_email_domain(domain)
}

/// Dot-separated atoms of atext, where RFC 6531 adds non-ASCII characters
/// (taken here as letters, marks and digits).
fn is_local_part(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= LOCAL_MAX
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom.chars().all(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' => true,
                    '!' | '#' | '$' | '%' | '&' | '\'' | '*' | '+' | '-' | '/' | '=' | '?' => true,
                    '^' | '_' | '`' | '{' | '|' | '}' | '~' => true,
                    c if c.is_ascii() => false,
                    c => is_letter_mark_or_digit(c),
                })
        })
}

fn is_letter_mark_or_digit(c: char) -> bool {
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
            | Gc::NonspacingMark
            | Gc::SpacingMark
            | Gc::EnclosingMark
            | Gc::DecimalNumber
            | Gc::LetterNumber
            | Gc::OtherNumber
    )
}

fn is_email_domain(domain: &str) -> bool {
    let mut labels = 0;
    let mut top = "";
    let mut needs_idna = !domain.is_ascii();
    for label in domain.split('.') {
        if label.is_ascii() {
            let bytes = label.as_bytes();
            let ldh = !bytes.is_empty()
                && bytes.len() <= LABEL_MAX
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
            if !ldh {
                return false;
            }
            needs_idna |= bytes.len() >= 4 && bytes[..4].eq_ignore_ascii_case(b"xn--");
        }
        labels += 1;
        top = label;
    }
    let numeric_top = top.bytes().all(|b| b.is_ascii_digit());
    labels >= 2 && !numeric_top && (!needs_idna || is_idna_domain(domain))
}

/// A domain with U-labels or `xn--` labels: valid under UTS 46 with the STD3
/// rules and DNS lengths, and its U-labels already in their mapped form.
fn is_idna_domain(domain: &str) -> bool {
    let uts46 = Uts46::new();
    let deny = AsciiDenyList::STD3;
    let ascii = uts46.to_ascii(
        domain.as_bytes(),
        deny,
        Hyphens::CheckFirstLast,
        DnsLength::Verify,
    );
    if ascii.is_err() {
        return false;
    }
    // ToUnicode maps every label; an unmapped U-label comes back different.
    let (unicode, result) = uts46.to_unicode(domain.as_bytes(), deny, Hyphens::CheckFirstLast);
    result.is_ok()
        && domain.split('.').count() == unicode.split('.').count()
        && domain
            .split('.')
            .zip(unicode.split('.'))
            .all(|(given, mapped)| given.is_ascii() || given == mapped)
}

/// The allowed schemes, lowercased; `http` and `https` when not given.
pub(super) fn url_schemes(
    schemes: Option<&[String]>,
) -> Result<Vec<String>, (&'static str, String)> {
    let Some(schemes) = schemes else {
        return Ok(vec!["http".into(), "https".into()]);
    };
    if schemes.is_empty() {
        return Err(("schemes", "at least one scheme".into()));
    }
    schemes
        .iter()
        .map(|scheme| {
            let bytes = scheme.as_bytes();
            let valid = bytes.first().is_some_and(u8::is_ascii_alphabetic)
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if valid {
                Ok(scheme.to_ascii_lowercase())
            } else {
                Err((
                    "schemes",
                    format!("{scheme:?} is not a URL scheme (a letter, then letters, digits, +, - or .)"),
                ))
            }
        })
        .collect()
}

pub(super) fn is_url(value: &str, schemes: &[String]) -> bool {
    let violated = Cell::new(false);
    let note = |violation: url::SyntaxViolation| {
        if violation != url::SyntaxViolation::EmbeddedCredentials {
            violated.set(true);
        }
    };
    let parsed = url::Url::options()
        .syntax_violation_callback(Some(&note))
        .parse(value);
    let Ok(url) = parsed else {
        return false;
    };
    !violated.get()
        && schemes.iter().any(|s| s == url.scheme())
        && url.host_str().is_some_and(|host| !host.is_empty())
}

pub(super) fn is_json(value: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok()
}

pub(super) fn schema(
    schema: &serde_json::Value,
) -> Result<jsonschema::Validator, (&'static str, String)> {
    jsonschema::validator_for(schema)
        .map_err(|e| ("schema", format!("not a valid JSON Schema: {e}")))
}

pub(super) fn matches_schema(value: &str, validator: &jsonschema::Validator) -> bool {
    serde_json::from_str::<serde_json::Value>(value).is_ok_and(|json| validator.is_valid(&json))
}
