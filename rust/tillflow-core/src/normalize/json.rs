//! A JSON value that borrows its strings from the page it was parsed from
//! and keeps object fields in order without hashing them. Building
//! `serde_json::Value` (a hash map per object, a `String` per text) was the
//! largest single cost of normalizing a page. The parser is in `parse`.

use std::borrow::Cow;
use std::fmt;

pub use super::parse::{validate, ParseError, MAX_TREE_DEPTH};
use super::parse::{write_compact, write_str};

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Beyond `i64::MAX`.
    UInt(u64),
    /// An integer beyond 64 bits, as written (`-123456789012345678901234567890`).
    BigInt(&'a str),
    Float(f64),
    /// A number beyond the range of a double (`1e400`), as written.
    OutOfRange(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
    /// An object or list nested past [`MAX_TREE_DEPTH`], as written.
    Raw(&'a str),
}

impl<'a> Json<'a> {
    /// Parses a JSON document (see `parse` for what differs from serde_json).
    pub fn parse(bytes: &'a [u8]) -> Result<Json<'a>, ParseError> {
        super::parse::parse(bytes)
    }

    /// A view of an already parsed `serde_json::Value`.
    pub fn from_value(v: &'a serde_json::Value) -> Json<'a> {
        use serde_json::Value as V;
        match v {
            V::Null => Json::Null,
            V::Bool(b) => Json::Bool(*b),
            V::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Json::Int(i),
                (None, Some(u)) => Json::UInt(u),
                _ => Json::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            V::String(s) => Json::Str(Cow::Borrowed(s)),
            V::Array(a) => Json::Arr(a.iter().map(Json::from_value).collect()),
            V::Object(m) => Json::Obj(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// An owned `serde_json::Value` (for small things such as a cursor).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value as V;
        match self {
            Json::Null => V::Null,
            Json::Bool(b) => V::Bool(*b),
            Json::Int(i) => V::from(*i),
            Json::UInt(u) => V::from(*u),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(V::Null, V::Number),
            // serde_json's numbers hold neither: kept as their text.
            Json::BigInt(s) | Json::OutOfRange(s) => V::String(s.to_string()),
            Json::Raw(_) => V::String(self.to_string()),
            Json::Str(s) => V::String(s.to_string()),
            Json::Arr(a) => V::Array(a.iter().map(Json::to_value).collect()),
            Json::Obj(m) => V::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a dotted path (`customer.id`, `data.-1.id`).
    pub fn lookup(&self, path: &str) -> Option<&Json<'a>> {
        let mut cur = self;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            cur = match cur {
                Json::Obj(_) => cur.get(part)?,
                Json::Arr(a) => {
                    let i: i64 = part.parse().ok()?;
                    let idx = if i < 0 { a.len() as i64 + i } else { i };
                    a.get(usize::try_from(idx).ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_)
            | Json::UInt(_)
            | Json::BigInt(_)
            | Json::Float(_)
            | Json::OutOfRange(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "a list",
            Json::Obj(_) => "an object",
            Json::Raw(r) if r.starts_with('[') => "a list",
            Json::Raw(_) => "an object",
        }
    }

    /// Compact JSON text, as `serde_json::to_string` writes it.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            Json::UInt(u) => out.push_str(itoa::Buffer::new().format(*u)),
            Json::BigInt(s) | Json::OutOfRange(s) => out.push_str(s),
            Json::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
            Json::Str(s) => write_str(s, out),
            Json::Raw(r) => write_compact(r, out),
            Json::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write(&mut s);
        f.write_str(&s)
    }
}

/// Takes the records out of a page. `Err` says what was found instead.
pub fn take_records<'a>(page: Json<'a>, selector: Option<&str>) -> Result<Vec<Json<'a>>, String> {
    let found = match selector {
        Some(path) => {
            let mut cur = page;
            for part in path.split('.').filter(|p| !p.is_empty()) {
                cur = match cur {
                    Json::Obj(mut fields) => match fields.iter().position(|(k, _)| k == part) {
                        Some(i) => fields.swap_remove(i).1,
                        None => return Err(format!("no field {path:?} in the page")),
                    },
                    Json::Arr(mut items) => match part.parse::<usize>() {
                        Ok(i) if i < items.len() => items.swap_remove(i),
                        _ => return Err(format!("no field {path:?} in the page")),
                    },
                    _ => return Err(format!("no field {path:?} in the page")),
                };
            }
            return match cur {
                Json::Arr(a) => Ok(a),
                Json::Null => Ok(Vec::new()),
                obj @ Json::Obj(_) => Ok(vec![obj]),
                other => Err(format!(
                    "{path:?} holds {} instead of a list of records",
                    other.kind()
                )),
            };
        }
        None => page,
    };
    match found {
        Json::Arr(a) => Ok(a),
        Json::Obj(mut fields) => {
            let lists: Vec<usize> = fields
                .iter()
                .enumerate()
                .filter(|(_, (_, v))| matches!(v, Json::Arr(_)))
                .map(|(i, _)| i)
                .collect();
            match lists.as_slice() {
                [one] => match fields.swap_remove(*one).1 {
                    Json::Arr(a) => Ok(a),
                    _ => unreachable!("checked above"),
                },
                [] => Ok(vec![Json::Obj(fields)]),
                many => Err(format!(
                    "the page has several lists ({}); set `records` to the one that holds the records",
                    many.iter().map(|&i| fields[i].0.as_ref()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        other => Err(format!(
            "expected a JSON object or array, got {}",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_borrowing_and_keeps_field_order() {
        let text = br#"{"z": 1, "a": "plain", "e": "tab\there", "n": null, "big": 18446744073709551615, "f": -1.5, "l": [true]}"#;
        let v = Json::parse(text).unwrap();
        let Json::Obj(fields) = &v else { panic!() };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["z", "a", "e", "n", "big", "f", "l"]);
        assert!(matches!(
            v.get("a"),
            Some(Json::Str(Cow::Borrowed("plain")))
        ));
        assert_eq!(v.get("e"), Some(&Json::Str(Cow::Owned("tab\there".into()))));
        assert_eq!(v.get("big"), Some(&Json::UInt(u64::MAX)));
        // Text comes back exactly as serde_json writes it.
        let value: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(v.to_string(), value.to_string());
        assert_eq!(Json::from_value(&value), v);
        assert_eq!(v.to_value(), value);
    }

    #[test]
    fn record_selection() {
        let take = |v: serde_json::Value, sel: Option<&str>| {
            let text = v.to_string();
            take_records(Json::parse(text.as_bytes()).unwrap(), sel).map(|r| r.len())
        };
        assert_eq!(take(json!({"orders": [1, 2]}), None), Ok(2));
        assert_eq!(take(json!([1, 2, 3]), None), Ok(3));
        assert_eq!(
            take(json!({"data": {"items": [1]}}), Some("data.items")),
            Ok(1)
        );
        assert_eq!(take(json!({"a": 1}), None), Ok(1));
        assert!(take(json!({"a": [1], "b": [2]}), None)
            .unwrap_err()
            .contains("several lists (a, b)"));
        assert!(take(json!({"a": 3}), Some("a"))
            .unwrap_err()
            .contains("a number"));
        assert!(take(json!({"a": 3}), Some("b"))
            .unwrap_err()
            .contains("no field"));
        assert!(take(json!("x"), None).is_err());
        assert_eq!(take(json!({"results": null}), Some("results")), Ok(0));
    }

    #[test]
    fn lookup_paths() {
        let text = json!({"paging": {"next": {"after": "abc"}}, "data": [{"id": 1}, {"id": 2}]})
            .to_string();
        let v = Json::parse(text.as_bytes()).unwrap();
        assert_eq!(
            v.lookup("paging.next.after"),
            Some(&Json::Str("abc".into()))
        );
        assert_eq!(v.lookup("data.-1.id"), Some(&Json::Int(2)));
        assert_eq!(v.lookup("data.5.id"), None);
    }
}
