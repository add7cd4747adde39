//! One request of a page chain, as data: the URL, a JSON body (sent as JSON
//! or as a form, by the spec) and headers a paginator added. Paginators,
//! windows and incremental filters write their values into it at the place
//! the spec names ([`Location`]); templates (`{{ parent.id }}`) fill in the
//! rest when a chain starts.
//!
//! A request is also what a checkpoint stores to resume a chain. A plain GET
//! is stored as its URL, as before; any other request as its JSON form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::error::{CoreError, Result};
use crate::sources::spec::param_text;

/// Where a paginator, window or incremental filter puts its value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// A query parameter (the default).
    #[default]
    Query,
    /// A field of the JSON body, at a dotted path (`variables.after`,
    /// `filterGroups.0.filters.0.value`); missing objects are created.
    Body,
    /// A request header.
    Header,
    /// The value is the next page's path or URL, resolved against the
    /// request's URL (a token that is a path).
    Path,
    /// The value fills the `{{ page.<name> }}` templates of the request and
    /// goes nowhere else (QuickBooks' `STARTPOSITION` inside its query).
    Template,
}

impl Location {
    pub fn name(self) -> &'static str {
        match self {
            Location::Query => "query",
            Location::Body => "body",
            Location::Header => "header",
            Location::Path => "path",
            Location::Template => "template",
        }
    }
}

/// One request: where, what body, which extra headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Req {
    pub url: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Columns added to every record this request's pages hold (a
    /// substream's parent key); not sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub carry: BTreeMap<String, Value>,
}

impl Req {
    pub fn get(url: Url) -> Req {
        Req {
            url,
            body: None,
            headers: BTreeMap::new(),
            carry: BTreeMap::new(),
        }
    }

    /// This request with `name` set to `value` at `location`.
    pub fn with(&self, location: Location, name: &str, value: &Value) -> Result<Req> {
        let mut out = self.clone();
        match location {
            Location::Query => out.url = with_param(&self.url, name, &param_text(value)),
            Location::Header => {
                out.headers.insert(name.to_string(), param_text(value));
            }
            Location::Body => {
                let body = out.body.get_or_insert_with(|| Value::Object(Map::new()));
                set_path(body, name, value.clone())?;
            }
            Location::Path => {
                let text = param_text(value);
                out.url = self.url.join(&text).map_err(|e| CoreError::Source {
                    url: String::new(),
                    message: format!("the page token {text:?} is not a path or URL: {e}"),
                })?;
            }
            Location::Template => out.fill_page(name, value),
        }
        Ok(out)
    }

    /// Fills the `{{ page.<name> }}` templates a request kept for its paginator.
    fn fill_page(&mut self, name: &str, value: &Value) {
        let marker = page_marker(name);
        let text = param_text(value);
        if self.url.query().is_some_and(|q| q.contains("page.")) {
            let pairs: Vec<(String, String)> = self
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.replace(&marker, &text)))
                .collect();
            self.url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        for v in self.headers.values_mut() {
            *v = v.replace(&marker, &text);
        }
        fn walk(doc: &mut Value, marker: &str, text: &str, value: &Value) {
            match doc {
                Value::String(s) if s == marker => *doc = value.clone(),
                Value::String(s) => *s = s.replace(marker, text),
                Value::Array(a) => a.iter_mut().for_each(|v| walk(v, marker, text, value)),
                Value::Object(m) => m.values_mut().for_each(|v| walk(v, marker, text, value)),
                _ => {}
            }
        }
        if let Some(body) = &mut self.body {
            walk(body, &marker, &text, value);
        }
    }

    /// What identifies this request in a chain's trail and checkpoint.
    pub fn pointer(&self) -> String {
        if self.body.is_none() && self.headers.is_empty() && self.carry.is_empty() {
            self.url.to_string()
        } else {
            serde_json::to_string(self).expect("plain data")
        }
    }

    /// A request from its [`pointer`](Req::pointer).
    pub fn from_pointer(text: &str) -> std::result::Result<Req, String> {
        if text.starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            Url::parse(text).map(Req::get).map_err(|e| e.to_string())
        }
    }
}

/// `url` with `name` set to `value`, replacing any earlier value.
pub fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let mut out = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        q.extend_pairs(kept);
        q.append_pair(name, value);
    }
    out
}

/// The value at a dotted `path` of `doc` (a numeric part indexes a list).
pub fn get_path<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = doc;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets `path` in `doc` to `value`, creating objects on the way. A numeric
/// part indexes an existing list; it cannot grow one.
pub fn set_path(doc: &mut Value, path: &str, value: Value) -> Result<()> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(CoreError::config(
            "body",
            format!("{path:?} is not a dotted path such as \"variables.after\""),
        ));
    }
    let mut cur = doc;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let where_ = parts[..i].join(".");
        cur = match cur {
            Value::Object(m) => {
                if last {
                    m.insert(part.to_string(), value);
                    return Ok(());
                }
                m.entry(part.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            Value::Array(a) => {
                let len = a.len();
                let slot = part
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| a.get_mut(k))
                    .ok_or_else(|| {
                        CoreError::config(
                            "body",
                            format!("{path:?}: {where_:?} is a list of {len}, which has no item {part:?}"),
                        )
                    })?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            other => {
                return Err(CoreError::config(
                    "body",
                    format!(
                        "{path:?}: {where_:?} holds {}, which has no field {part:?}",
                        kind(other)
                    ),
                ))
            }
        };
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A JSON object as `application/x-www-form-urlencoded`: scalars as text,
/// a list as the key repeated, a nested object as `key[field]`.
pub fn form_encode(body: &Value) -> String {
    fn walk(prefix: &str, v: &Value, out: &mut url::form_urlencoded::Serializer<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}[{k}]")
                    };
                    walk(&key, v, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(prefix, item, out);
                }
            }
            Value::Null => {}
            scalar => {
                out.append_pair(prefix, &param_text(scalar));
            }
        }
    }
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    walk("", body, &mut out);
    out.finish()
}

/// Values templates may refer to: `parent.id`, `window.start`,
/// `incremental.start`, ...
pub type Vars = BTreeMap<String, Value>;

/// Variables a template may name, by their first part. `page.<name>` is
/// filled by a paginator whose location is `template`.
pub const TEMPLATE_SCOPES: [&str; 4] = ["parent", "window", "incremental", "page"];

/// How a `{{ page.<name> }}` template waits in a request for its paginator.
fn page_marker(name: &str) -> String {
    format!("{{{{page.{name}}}}}")
}

/// True when `text` holds a `{{ page.<name> }}` template.
pub fn uses_page(text: &str) -> bool {
    slots(text).is_ok_and(|s| s.iter().any(|slot| slot.name.starts_with("page.")))
}

/// Formats a template may apply to a timestamp: `{{ window.start | date }}`.
const FILTERS: [&str; 5] = ["date", "epoch", "epoch_ms", "naive", "http_date"];

/// One `{{ name | filter }}` inside a string.
struct Slot<'t> {
    range: std::ops::Range<usize>,
    name: &'t str,
    filter: Option<&'t str>,
}

fn slots(text: &str) -> std::result::Result<Vec<Slot<'_>>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| i + from) {
        let close = text[open..]
            .find("}}")
            .map(|i| i + open)
            .ok_or_else(|| format!("{text:?} opens a template with {{{{ that is not closed"))?;
        let inner = &text[open + 2..close];
        let (name, filter) = match inner.split_once('|') {
            Some((n, f)) => (n.trim(), Some(f.trim())),
            None => (inner.trim(), None),
        };
        out.push(Slot {
            range: open..close + 2,
            name,
            filter,
        });
        from = close + 2;
    }
    Ok(out)
}

/// Checks the templates in `text` name known variables and filters.
pub fn check_template(text: &str) -> std::result::Result<(), String> {
    for slot in slots(text)? {
        let scope = slot.name.split('.').next().unwrap_or("");
        if !TEMPLATE_SCOPES.contains(&scope) || !slot.name.contains('.') {
            return Err(format!(
                "{{{{ {} }}}} is not a variable tillflow knows; use parent.<field>, \
                 window.start, window.end, incremental.start or page.<name>",
                slot.name
            ));
        }
        if let Some(f) = slot.filter {
            if !FILTERS.contains(&f) {
                return Err(format!(
                    "{f:?} is not a filter; use one of {}",
                    FILTERS.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// `text` with its templates filled in from `vars`; `None` when one names a
/// variable that has no value (the field is then left out of the request).
/// A string that is one template alone keeps the value's JSON type.
pub fn render(text: &str, vars: &Vars) -> Result<Option<Value>> {
    let found = slots(text).map_err(|m| CoreError::config("template", m))?;
    if found.is_empty() {
        return Ok(Some(Value::String(text.to_string())));
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for slot in &found {
        let Some(value) = vars.get(slot.name).filter(|v| !v.is_null()) else {
            if let Some(name) = slot.name.strip_prefix("page.") {
                // Left for the paginator, in one spelling it can find.
                out.push_str(&text[at..slot.range.start]);
                out.push_str(&page_marker(name));
                at = slot.range.end;
                continue;
            }
            return Ok(None);
        };
        let value = match slot.filter {
            Some(f) => apply_filter(value, f)?,
            None => value.clone(),
        };
        if found.len() == 1 && slot.range == (0..text.len()) {
            return Ok(Some(value));
        }
        out.push_str(&text[at..slot.range.start]);
        out.push_str(&param_text(&value));
        at = slot.range.end;
    }
    out.push_str(&text[at..]);
    Ok(Some(Value::String(out)))
}

/// Every string inside `doc` rendered; fields whose template has no value
/// are left out (a list keeps its length: such an item becomes null).
pub fn render_value(doc: &Value, vars: &Vars) -> Result<Option<Value>> {
    Ok(match doc {
        Value::String(s) => render(s, vars)?,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|v| render_value(v, vars).map(|r| r.unwrap_or(Value::Null)))
                .collect::<Result<_>>()?,
        )),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let Some(r) = render_value(v, vars)? {
                    out.insert(k.clone(), r);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

/// A point in time as APIs write one: RFC 3339, an offset without a colon
/// (`+0000`), no offset (UTC), Microsoft's `/Date(ms)/`, or a bare date
/// (`2024-03-01`, or compact: `20240301`).
pub fn instant(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        // A compact date (GA4's `date` dimension, 20240301).
        let d = chrono::NaiveDate::parse_from_str(text, "%Y%m%d").ok()?;
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    let micros = crate::normalize::infer::parse_timestamp(text).or_else(|| {
        crate::normalize::infer::parse_date(text).map(|d| i64::from(d) * 86_400_000_000)
    })?;
    chrono::DateTime::from_timestamp_micros(micros)
}

fn apply_filter(value: &Value, filter: &str) -> Result<Value> {
    let text = param_text(value);
    let at = instant(&text).ok_or_else(|| {
        CoreError::config(
            "template",
            format!("| {filter} needs a timestamp, got {text:?}"),
        )
    })?;
    Ok(match filter {
        "date" => Value::String(at.format("%Y-%m-%d").to_string()),
        "epoch" => Value::from(at.timestamp()),
        "epoch_ms" => Value::from(at.timestamp_millis()),
        "naive" => Value::String(at.format("%Y-%m-%dT%H:%M:%S").to_string()),
        "http_date" => Value::String(at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
        other => {
            return Err(CoreError::config(
                "template",
                format!("{other:?} is not a filter"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, Value)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn values_go_where_the_spec_says() {
        let base = Req::get(Url::parse("https://api.example.com/v1/items?limit=10").unwrap());
        let q = base.with(Location::Query, "after", &json!("c1")).unwrap();
        assert_eq!(
            q.url.as_str(),
            "https://api.example.com/v1/items?limit=10&after=c1"
        );
        let q2 = q.with(Location::Query, "after", &json!("c2")).unwrap();
        assert_eq!(q2.url.query(), Some("limit=10&after=c2"));
        let h = base.with(Location::Header, "X-Page", &json!(3)).unwrap();
        assert_eq!(h.headers["X-Page"], "3");
        let b = base
            .with(Location::Body, "variables.after", &json!("abc"))
            .unwrap();
        assert_eq!(b.body, Some(json!({"variables": {"after": "abc"}})));
        let p = base
            .with(Location::Path, "next", &json!("/v1/items/page/2"))
            .unwrap();
        assert_eq!(p.url.as_str(), "https://api.example.com/v1/items/page/2");
    }

    #[test]
    fn body_paths_index_lists_and_refuse_what_they_cannot_reach() {
        let mut doc = json!({"filterGroups": [{"filters": [{"value": null}]}], "n": 1});
        set_path(&mut doc, "filterGroups.0.filters.0.value", json!("2024")).unwrap();
        assert_eq!(doc["filterGroups"][0]["filters"][0]["value"], "2024");
        let e = set_path(&mut doc, "filterGroups.3.x", json!(1)).unwrap_err();
        assert!(e.to_string().contains("a list of 1"), "{e}");
        let e = set_path(&mut doc, "n.x", json!(1)).unwrap_err();
        assert!(e.to_string().contains("holds a number"), "{e}");
        assert!(set_path(&mut doc, "a..b", json!(1)).is_err());
    }

    #[test]
    fn pointers_round_trip_and_plain_gets_stay_urls() {
        let get = Req::get(Url::parse("https://x.test/a?b=1").unwrap());
        assert_eq!(get.pointer(), "https://x.test/a?b=1");
        assert_eq!(Req::from_pointer(&get.pointer()).unwrap(), get);
        let post = get.with(Location::Body, "cursor", &json!("z")).unwrap();
        assert!(post.pointer().starts_with('{'));
        assert_eq!(Req::from_pointer(&post.pointer()).unwrap(), post);
        assert!(Req::from_pointer("not a url").is_err());
    }

    #[test]
    fn forms_encode_nested_fields_and_lists() {
        let body = json!({"grant_type": "refresh_token", "scope": ["a", "b"], "created": {"gte": 5}, "x": null});
        assert_eq!(
            form_encode(&body),
            "grant_type=refresh_token&scope=a&scope=b&created%5Bgte%5D=5"
        );
    }

    #[test]
    fn templates_fill_in_keep_types_and_drop_what_has_no_value() {
        let v = vars(&[
            ("parent.id", json!(12345678901234567_i64)),
            ("incremental.start", json!("2024-03-01T10:00:00Z")),
        ]);
        assert_eq!(
            render("tickets/{{ parent.id }}/comments.json", &v).unwrap(),
            Some(json!("tickets/12345678901234567/comments.json"))
        );
        assert_eq!(
            render("{{parent.id}}", &v).unwrap(),
            Some(json!(12345678901234567_i64))
        );
        assert_eq!(
            render("updated_at:>='{{ incremental.start }}'", &v).unwrap(),
            Some(json!("updated_at:>='2024-03-01T10:00:00Z'"))
        );
        assert_eq!(render("{{ window.start }}", &v).unwrap(), None);
        assert_eq!(
            render("{{ incremental.start | epoch_ms }}", &v).unwrap(),
            Some(json!(1709287200000_i64))
        );
        assert_eq!(
            render("{{ incremental.start | http_date }}", &v).unwrap(),
            Some(json!("Fri, 01 Mar 2024 10:00:00 GMT"))
        );
        let compact = vars(&[("incremental.start", json!("20240301"))]);
        assert_eq!(
            render("{{ incremental.start | date }}", &compact).unwrap(),
            Some(json!("2024-03-01"))
        );
        assert_eq!(
            render("{{ incremental.start|naive }}", &v).unwrap(),
            Some(json!("2024-03-01T10:00:00"))
        );
        let body = json!({"q": "{{ window.start }}", "after": "{{ incremental.start | date }}", "k": [1, "{{ window.end }}"]});
        assert_eq!(
            render_value(&body, &v).unwrap(),
            Some(json!({"after": "2024-03-01", "k": [1, null]}))
        );
    }

    #[test]
    fn template_mistakes_are_named() {
        assert!(check_template("a/{{ parent.id }}/b").is_ok());
        assert!(check_template("{{ secret }}")
            .unwrap_err()
            .contains("not a variable"));
        assert!(check_template("{{ parent }}").is_err());
        assert!(check_template("{{ window.start | upper }}")
            .unwrap_err()
            .contains("not a filter"));
        assert!(check_template("{{ window.start")
            .unwrap_err()
            .contains("not closed"));
        assert!(render(
            "{{ incremental.start | date }}",
            &vars(&[("incremental.start", json!("x"))])
        )
        .is_err());
    }
}
