//! A request as a `HttpRequester` and the options of the paginator, cursor
//! and partition routers put it together: URL, query, headers and body.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{cfg, get_str as s};
use super::reader::Source;
use crate::error::Result;
use url::Url;

use super::cursor::Cursor;
use super::dates::format_dt;
use super::http::{set_path, Body, Request};
use super::interp::Interp;
use super::paging::{Paginator, Strategy};
use super::partitions::Partition;

/// A `RequestOption`: where a value goes in a request.
#[derive(Debug, Clone)]
pub(super) struct Inject {
    pub(super) into: String,
    pub(super) field: Vec<String>,
}

impl Inject {
    pub(super) fn from(
        def: Option<&Value>,
        interp: &Interp,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Option<Inject>> {
        let Some(def) = def else { return Ok(None) };
        if s(def, "type") == Some("RequestPath") {
            return Ok(Some(Inject {
                into: "path".into(),
                field: vec![],
            }));
        }
        let into = s(def, "inject_into")
            .unwrap_or("request_parameter")
            .to_string();
        let field = match (def.get("field_path"), s(def, "field_name")) {
            (Some(Value::Array(parts)), _) => parts
                .iter()
                .map(|p| {
                    interp
                        .render(p.as_str().unwrap_or_default(), ctx)
                        .map_err(|e| cfg(path, e))
                })
                .collect::<Result<Vec<_>>>()?,
            (_, Some(name)) => vec![interp.render(name, ctx).map_err(|e| cfg(path, e))?],
            _ => return Err(cfg(path, "a RequestOption needs a field_name")),
        };
        if !matches!(
            into.as_str(),
            "request_parameter" | "header" | "body_data" | "body_json"
        ) {
            return Err(cfg(
                &format!("{path}.inject_into"),
                format!("unknown place {into:?}"),
            ));
        }
        Ok(Some(Inject { into, field }))
    }
}

/// A request being put together.
pub(super) struct Parts {
    pub(super) params: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) json: Option<Value>,
    pub(super) form: Vec<(String, String)>,
    pub(super) path_override: Option<String>,
}

pub(super) fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Parts {
    pub(super) fn inject(&mut self, opt: &Inject, value: &Value) {
        let key = opt.field.join(".");
        match opt.into.as_str() {
            "path" => self.path_override = Some(text_of(value)),
            "header" => self.headers.push((key, text_of(value))),
            "body_data" => self.form.push((key, text_of(value))),
            "body_json" => set_path(
                self.json.get_or_insert_with(|| Value::Object(Map::new())),
                &opt.field,
                value.clone(),
            ),
            _ => {
                self.params.retain(|(k, _)| *k != key);
                self.params.push((key, text_of(value)));
            }
        }
    }
}

impl Source {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn request(
        &self,
        requester: &Value,
        qpath: &str,
        paginator: &Paginator,
        cursor: Option<&Cursor>,
        interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
        partition: &Partition,
        token: Option<&Value>,
        ctx: &minijinja::Value,
    ) -> Result<Request> {
        let render = |t: &str, key: &str| {
            self.interp
                .render(t, ctx)
                .map_err(|e| cfg(&format!("{qpath}.{key}"), e))
        };
        let base = render(
            s(requester, "url_base")
                .ok_or_else(|| cfg(&format!("{qpath}.url_base"), "is required"))?,
            "url_base",
        )?;
        let path = match s(requester, "path") {
            Some(p) => render(p, "path")?,
            None => String::new(),
        };
        let mut parts = Parts {
            params: vec![],
            headers: vec![],
            json: None,
            form: vec![],
            path_override: None,
        };
        let mapping = |key: &str| -> Result<Vec<(String, String)>> {
            let mut out = vec![];
            match requester.get(key) {
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        let value = match v {
                            Value::String(t) => self
                                .interp
                                .eval(t, ctx)
                                .map_err(|e| cfg(&format!("{qpath}.{key}.{k}"), e))?,
                            other => other.clone(),
                        };
                        // Empty values are left out, as Airbyte leaves them.
                        if !(value.is_null() || value == "") {
                            out.push((render(k, key)?, text_of(&value)));
                        }
                    }
                }
                Some(Value::String(t)) => {
                    if let Value::Object(m) = self
                        .interp
                        .eval(t, ctx)
                        .map_err(|e| cfg(&format!("{qpath}.{key}"), e))?
                    {
                        out.extend(m.iter().map(|(k, v)| (k.clone(), text_of(v))));
                    }
                }
                _ => {}
            }
            Ok(out)
        };
        parts.params = mapping("request_parameters")?;
        parts.headers = mapping("request_headers")?;
        parts.form = mapping("request_body_data")?;
        if let Some(body) = requester.get("request_body_json") {
            parts.json =
                Some(self.interpolate_tree(body, ctx, &format!("{qpath}.request_body_json"))?);
        }
        for (opt, v) in &partition.inject {
            parts.inject(opt, v);
        }
        if let (Some(c), Some((a, b))) = (cursor, interval) {
            if let Some(o) = &c.start_option {
                parts.inject(o, &Value::from(format_dt(a, &c.format)));
            }
            if let Some(o) = &c.end_option {
                parts.inject(o, &Value::from(format_dt(b, &c.format)));
            }
        }
        let size = match &paginator.strategy {
            Strategy::Offset { size, .. }
            | Strategy::Page { size, .. }
            | Strategy::Cursor { size, .. } => *size,
            Strategy::None => None,
        };
        if let (Some(o), Some(n)) = (&paginator.size_option, size) {
            parts.inject(o, &Value::from(n));
        }
        if let (Some(o), Some(t)) = (&paginator.token_option, token) {
            parts.inject(o, t);
        }
        let url_text = match &parts.path_override {
            Some(next) if next.starts_with("http://") || next.starts_with("https://") => {
                next.clone()
            }
            Some(next) => join_url(&base, next),
            None => join_url(&base, &path),
        };
        let mut url = Url::parse(&url_text).map_err(|e| {
            cfg(
                &format!("{qpath}.url_base"),
                format!("{url_text:?} is not a URL: {e}"),
            )
        })?;
        if !parts.params.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &parts.params {
                q.append_pair(k, v);
            }
        }
        let method = s(requester, "http_method")
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let body = match (parts.json, parts.form.is_empty()) {
            (Some(j), _) => Some(Body::Json(j)),
            (None, false) => Some(Body::Form(parts.form)),
            (None, true) => None,
        };
        Ok(Request {
            method,
            url,
            headers: parts.headers,
            body,
        })
    }
    pub(super) fn interpolate_tree(
        &self,
        v: &Value,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Value> {
        Ok(match v {
            Value::String(t) => self.interp.eval(t, ctx).map_err(|e| cfg(path, e))?,
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.interpolate_tree(x, ctx, path))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.interpolate_tree(x, ctx, path)?)))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// Airbyte's join of a base URL and a path: one slash between them.
pub(super) fn join_url(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
