//! Small pieces every vendor server needs: reading credentials off a
//! request, formatting times, and ids that carry their index.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::http_server::{Reply, Request};

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(req: &Request) -> Option<&str> {
    let h = req.header("authorization")?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// (user, password) of `Authorization: Basic <base64>`.
pub fn basic(req: &Request) -> Option<(String, String)> {
    let h = req.header("authorization")?;
    let (scheme, b64) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (user, pass) = raw.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Fields of an `application/x-www-form-urlencoded` body.
pub fn form(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

pub fn form_get<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `2024-01-01T00:00:00Z`
pub fn iso(secs: i64) -> String {
    utc(secs).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2024-01-01T00:00:00.000Z`
pub fn iso_ms(secs: i64) -> String {
    utc(secs).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `2023-12-31T16:00:00-08:00`: local time at a fixed offset from UTC.
pub fn iso_at(secs: i64, offset_hours: i32) -> String {
    chrono::FixedOffset::east_opt(offset_hours * 3600).map_or_else(
        || iso(secs),
        |o| {
            utc(secs)
                .with_timezone(&o)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        },
    )
}

/// `2024-01-01`
pub fn date(secs: i64) -> String {
    utc(secs).format("%Y-%m-%d").to_string()
}

pub fn utc(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// Seconds since the epoch of an ISO-8601 date-time (UTC when it has no
/// offset).
pub fn parse_time(s: &str) -> Option<i64> {
    crate::normalize::infer::parse_timestamp(s).map(|us| us.div_euclid(1_000_000))
}

/// `"12.34"` for 1234 cents.
pub fn money(cents: i64) -> String {
    let mut s = String::new();
    crate::demo::data::write_cents(cents, &mut s);
    s
}

/// `prefix` + the index in fixed width: ids that sort like their index and
/// read back without a lookup.
pub fn id(prefix: &str, i: u64) -> String {
    format!("{prefix}{i:010}")
}

pub fn index_of(prefix: &str, id: &str) -> Option<u64> {
    let digits = id.strip_prefix(prefix)?;
    (digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A stable UUID-shaped id for (kind, index), for vendors whose ids are
/// GUIDs (Xero).
pub fn guid(seed: u64, kind: u64, i: u64) -> String {
    let a = crate::demo::data::mix(seed, 7000 + kind, i);
    let b = crate::demo::data::mix(seed, 8000 + kind, i);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

pub fn json(status: u16, value: &serde_json::Value) -> Reply {
    Reply::json(status, value.to_string())
}

/// A JSON reply with another content type (problem+json and the like).
pub fn json_as(status: u16, content_type: &str, value: &serde_json::Value) -> Reply {
    Reply::Respond {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body: value.to_string().into(),
        delay: None,
        hold: None,
    }
}

/// The host the client used, for absolute links in responses.
pub fn host(req: &Request) -> String {
    req.header("host").unwrap_or("127.0.0.1").to_string()
}

/// Parses a request body as JSON, or says what is wrong with it.
pub fn body_json(req: &Request) -> Result<serde_json::Value, String> {
    if req.body.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| format!("the request body is not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_guids() {
        assert_eq!(id("ch_", 42), "ch_0000000042");
        assert_eq!(index_of("ch_", "ch_0000000042"), Some(42));
        assert_eq!(index_of("ch_", "ch_42"), None);
        let g = guid(1, 2, 3);
        assert_eq!(g.len(), 36);
        assert_eq!(g, guid(1, 2, 3));
        assert_ne!(g, guid(1, 2, 4));
        assert_eq!(iso(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(parse_time("2024-01-01T00:00:00Z"), Some(1_704_067_200));
    }
}
