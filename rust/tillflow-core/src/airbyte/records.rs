//! A page's records: picked by the `DpathExtractor` (with `*` wildcards)
//! and changed by the stream's `AddFields` and `RemoveFields`.

use serde_json::Value;

use super::fields::{cfg, get_str as s};
use super::http::{set_path, Response};
use super::reader::Source;
use super::request::text_of;
use crate::error::Result;

/// Builds a template context for a record's slice, with extra variables.
pub(super) type Context<'a> = dyn Fn(&[(&str, Value)]) -> minijinja::Value + 'a;

impl Source {
    pub(super) fn select(
        &self,
        selector: Option<&Value>,
        response: &Response,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Vec<Value>> {
        let extractor = selector.and_then(|sel| sel.get("extractor"));
        let field_path: Vec<String> = match extractor.and_then(|e| e.get("field_path")) {
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|p| {
                    self.interp
                        .render(&text_of(p), ctx)
                        .map_err(|e| cfg(&format!("{path}.extractor.field_path"), e))
                })
                .collect::<Result<_>>()?,
            _ => vec![],
        };
        let mut found = vec![&response.body];
        for key in &field_path {
            let mut next = vec![];
            for node in found {
                match (key.as_str(), node) {
                    ("*", Value::Array(a)) => next.extend(a.iter()),
                    ("*", Value::Object(m)) => next.extend(m.values()),
                    (k, Value::Object(m)) => next.extend(m.get(k)),
                    (k, Value::Array(a)) => {
                        next.extend(k.parse::<usize>().ok().and_then(|i| a.get(i)))
                    }
                    _ => {}
                }
            }
            found = next;
        }
        let wildcard = field_path.iter().any(|k| k == "*");
        let mut out = vec![];
        for node in found {
            match node {
                Value::Array(items) => out.extend(items.iter().cloned()),
                Value::Object(m) if m.is_empty() && !wildcard => {}
                Value::Null => {}
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }
    pub(super) fn transform(
        &self,
        def: &Value,
        path: &str,
        mut rec: Value,
        vars: &Context<'_>,
    ) -> Result<Value> {
        for (i, t) in def
            .get("transformations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let tp = format!("{path}.transformations[{i}]");
            match s(t, "type") {
                Some("AddFields") => {
                    for (j, f) in t
                        .get("fields")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        let fp = format!("{tp}.fields[{j}]");
                        let at: Vec<String> = f
                            .get("path")
                            .and_then(Value::as_array)
                            .ok_or_else(|| cfg(&format!("{fp}.path"), "is required"))?
                            .iter()
                            .map(text_of)
                            .collect();
                        let value = match f.get("value") {
                            Some(Value::String(tmpl)) => {
                                // Each field sees the record as the fields before it left it.
                                let ctx = vars(&[("record", rec.clone())]);
                                self.interp
                                    .eval(tmpl, &ctx)
                                    .map_err(|e| cfg(&format!("{fp}.value"), e))?
                            }
                            Some(other) => other.clone(),
                            None => return Err(cfg(&format!("{fp}.value"), "is required")),
                        };
                        let value = match (s(f, "value_type"), value) {
                            (Some("string"), v) => Value::from(text_of(&v)),
                            (_, v) => v,
                        };
                        set_path(&mut rec, &at, value);
                    }
                }
                Some("RemoveFields") => {
                    for pointer in t
                        .get("field_pointers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let keys: Vec<String> = pointer
                            .as_array()
                            .map(|a| a.iter().map(text_of).collect())
                            .unwrap_or_default();
                        remove_path(&mut rec, &keys);
                    }
                }
                other => return Err(cfg(&tp, format!("unknown transformation {other:?}"))),
            }
        }
        Ok(rec)
    }
}

pub(super) fn remove_path(node: &mut Value, keys: &[String]) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    match node {
        Value::Object(m) if rest.is_empty() => {
            if first == "*" || first == "**" {
                m.clear();
            } else {
                m.remove(first);
            }
        }
        Value::Object(m) => {
            if first == "*" {
                for v in m.values_mut() {
                    remove_path(v, rest);
                }
            } else if let Some(v) = m.get_mut(first) {
                remove_path(v, rest);
            }
        }
        Value::Array(a) if first == "*" => {
            for v in a {
                remove_path(v, rest);
            }
        }
        _ => {}
    }
}
