//! A manifest as Airbyte's CDK reads it before building components:
//! references resolved (`"#/definitions/x"` strings and `$ref` keys whose
//! sibling keys override what they point to), component types filled in
//! where a field implies one (a stream's `retriever` is a
//! `SimpleRetriever`), and `$parameters` handed down to every component
//! below, each also filling the component's field of the same name when
//! it has none. Then every component type is checked against what tillflow
//! runs: one outside the subset fails here, naming its type and path.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{CoreError, Result};

/// The component types tillflow runs.
pub const SUPPORTED: &[&str] = &[
    "DeclarativeSource",
    "DeclarativeStream",
    "SimpleRetriever",
    "HttpRequester",
    "ApiKeyAuthenticator",
    "BearerAuthenticator",
    "BasicHttpAuthenticator",
    "OAuthAuthenticator",
    "NoAuth",
    "RecordSelector",
    "DpathExtractor",
    "RecordFilter",
    "DefaultPaginator",
    "NoPagination",
    "OffsetIncrement",
    "PageIncrement",
    "CursorPagination",
    "RequestOption",
    "RequestPath",
    "DatetimeBasedCursor",
    "MinMaxDatetime",
    "SubstreamPartitionRouter",
    "ParentStreamConfig",
    "ListPartitionRouter",
    "AddFields",
    "AddedFieldDefinition",
    "RemoveFields",
    "DefaultErrorHandler",
    "HttpResponseFilter",
    "ConstantBackoffStrategy",
    "ExponentialBackoffStrategy",
    "WaitTimeFromHeader",
    "WaitUntilTimeFromHeader",
    "HTTPAPIBudget",
    "MovingWindowCallRatePolicy",
    "FixedWindowCallRatePolicy",
    "UnlimitedCallRatePolicy",
    "Rate",
    "HttpRequestRegexMatcher",
    "InlineSchemaLoader",
    "JsonDecoder",
    "CheckStream",
    "Spec",
    "ConcurrencyLevel",
];

/// Where a field implies a component's type (the CDK's defaults, for the
/// components tillflow runs).
const DEFAULT_TYPES: &[(&str, &str)] = &[
    ("CursorPagination.decoder", "JsonDecoder"),
    ("DatetimeBasedCursor.end_datetime", "MinMaxDatetime"),
    ("DatetimeBasedCursor.end_time_option", "RequestOption"),
    ("DatetimeBasedCursor.start_datetime", "MinMaxDatetime"),
    ("DatetimeBasedCursor.start_time_option", "RequestOption"),
    ("DeclarativeSource.check", "CheckStream"),
    ("DeclarativeSource.spec", "Spec"),
    ("DeclarativeSource.streams", "DeclarativeStream"),
    ("DeclarativeStream.retriever", "SimpleRetriever"),
    ("DeclarativeStream.schema_loader", "JsonFileSchemaLoader"),
    ("DefaultErrorHandler.response_filters", "HttpResponseFilter"),
    ("DefaultPaginator.decoder", "JsonDecoder"),
    ("DefaultPaginator.page_size_option", "RequestOption"),
    ("DpathExtractor.decoder", "JsonDecoder"),
    ("HttpRequester.error_handler", "DefaultErrorHandler"),
    ("ListPartitionRouter.request_option", "RequestOption"),
    ("ParentStreamConfig.request_option", "RequestOption"),
    ("ParentStreamConfig.stream", "DeclarativeStream"),
    ("RecordSelector.extractor", "DpathExtractor"),
    ("RecordSelector.record_filter", "RecordFilter"),
    ("SimpleRetriever.paginator", "NoPagination"),
    ("SimpleRetriever.record_selector", "RecordSelector"),
    ("SimpleRetriever.requester", "HttpRequester"),
    (
        "SubstreamPartitionRouter.parent_stream_configs",
        "ParentStreamConfig",
    ),
    ("AddFields.fields", "AddedFieldDefinition"),
];

const PARAMETERS: &str = "$parameters";

fn err(path: &str, message: impl Into<String>) -> CoreError {
    CoreError::config(
        if path.is_empty() {
            "manifest".into()
        } else {
            path.to_string()
        },
        message,
    )
}

/// Resolves references, fills in types, hands parameters down and checks
/// every component is one tillflow runs.
pub fn prepare(manifest: &Value) -> Result<Value> {
    let Value::Object(_) = manifest else {
        return Err(err("", "a manifest is a YAML mapping (with `streams`)"));
    };
    let resolved = refs(manifest, manifest, &mut HashSet::new(), "")?;
    let mut typed = match resolved {
        Value::Object(mut m) => {
            m.entry("type")
                .or_insert_with(|| Value::from("DeclarativeSource"));
            Value::Object(m)
        }
        other => other,
    };
    typed = propagate("", &typed, &Map::new());
    check(&typed, "")?;
    Ok(typed)
}

fn refs(node: &Value, root: &Value, seen: &mut HashSet<String>, path: &str) -> Result<Value> {
    match node {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if k == "$ref" {
                    continue;
                }
                out.insert(k.clone(), refs(v, root, seen, &join(path, k))?);
            }
            if let Some(target) = m.get("$ref") {
                let resolved = refs(target, root, seen, &join(path, "$ref"))?;
                let Value::Object(mut base) = resolved else {
                    return Ok(resolved);
                };
                // The component's own keys take precedence over the reference's.
                base.extend(out);
                return Ok(Value::Object(base));
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| refs(v, root, seen, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
        Value::String(s) if s.starts_with("#/") => {
            if !seen.insert(s.clone()) {
                return Err(err(path, format!("reference {s:?} refers to itself")));
            }
            let target = lookup(&s[2..], root).ok_or_else(|| {
                err(
                    path,
                    format!("reference {s:?} points at nothing in the manifest"),
                )
            })?;
            let out = refs(target, root, seen, path);
            seen.remove(s);
            out
        }
        other => Ok(other.clone()),
    }
}

/// A `#/a/b/c` pointer: `a/b/c` as one key first, then `a` and the rest below it.
fn lookup<'a>(pointer: &str, node: &'a Value) -> Option<&'a Value> {
    let Value::Object(m) = node else {
        return None;
    };
    if let Some(v) = m.get(pointer) {
        return Some(v);
    }
    let mut split = pointer.char_indices().filter(|(_, c)| *c == '/');
    loop {
        let (i, _) = split.next()?;
        if let Some(v) = m.get(&pointer[..i]) {
            if let Some(found) = lookup(&pointer[i + 1..], v) {
                return Some(found);
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn is_json_schema(m: &Map<String, Value>) -> bool {
    match m.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => false,
    }
}

fn default_type(field: &str) -> Option<&'static str> {
    DEFAULT_TYPES
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, t)| *t)
}

/// The CDK's propagation of types and `$parameters`, on a resolved tree.
fn propagate(field: &str, node: &Value, parent_params: &Map<String, Value>) -> Value {
    let Value::Object(m) = node else {
        return node.clone();
    };
    let mut component = m.clone();
    if !component.contains_key("type") {
        if let Some(t) = default_type(field) {
            component.insert("type".into(), Value::from(t));
        }
    }
    let mut params = parent_params.clone();
    if let Some(Value::Object(own)) = component.remove(PARAMETERS) {
        params.extend(own);
    }
    if is_json_schema(&component) {
        return Value::Object(component);
    }
    let Some(kind) = component
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        // A plain mapping: components nested in it still get the parameters.
        for v in component.values_mut() {
            if matches!(v, Value::Object(inner) if inner.contains_key("type")) {
                *v = propagate(field, v, &params);
            }
        }
        return Value::Object(component);
    };
    for (k, v) in &params {
        let empty = component.get(k).is_none_or(is_falsy);
        if empty {
            component.insert(k.clone(), v.clone());
        }
    }
    let keys: Vec<String> = component.keys().cloned().collect();
    for key in keys {
        let child_field = format!("{kind}.{key}");
        // A field's own value is not handed down to the components under it.
        let held = params.remove(&key);
        let value = component.get(&key).cloned().unwrap_or(Value::Null);
        let replaced = match &value {
            Value::Object(_) => Some(propagate(&child_field, &value, &params)),
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .map(|item| match item {
                        Value::Object(_) => propagate(&child_field, item, &params),
                        other => other.clone(),
                    })
                    .collect(),
            )),
            _ => None,
        };
        if let Some(r) = replaced {
            component.insert(key.clone(), r);
        }
        if let Some(h) = held {
            params.insert(key, h);
        }
    }
    if !params.is_empty() {
        component.insert(PARAMETERS.into(), Value::Object(params));
    }
    Value::Object(component)
}

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// Fields that hold JSON Schema or free data, not components.
const DATA_FIELDS: &[&str] = &[
    "schema",
    "connection_specification",
    "$parameters",
    "metadata",
    "schemas",
];

fn check(node: &Value, path: &str) -> Result<()> {
    match node {
        Value::Object(m) => {
            if let Some(Value::String(kind)) = m.get("type") {
                if !is_json_schema(m) && !SUPPORTED.contains(&kind.as_str()) {
                    let hint = if kind.starts_with("Custom") {
                        " (custom Python components cannot run outside Airbyte's CDK)"
                    } else {
                        ""
                    };
                    return Err(err(
                        path,
                        format!(
                            "component type {kind:?} is not supported by tillflow{hint}; the supported \
                             components are listed in the docs (sources: Airbyte manifests)"
                        ),
                    ));
                }
            }
            for (k, v) in m {
                if DATA_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                check(v, &join(path, k))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check(v, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_merge_with_their_siblings_and_parameters_flow_down() {
        let manifest = json!({
            "version": "6.0.0",
            "definitions": {
                "requester": {"type": "HttpRequester", "url_base": "https://x.test", "http_method": "GET"},
                "base": {"type": "DeclarativeStream",
                         "retriever": {"requester": {"$ref": "#/definitions/requester"},
                                       "record_selector": {"extractor": {"field_path": []}}}},
            },
            "streams": [{"$ref": "#/definitions/base",
                         "$parameters": {"name": "orders", "path": "/orders", "primary_key": "id"}}],
        });
        let out = prepare(&manifest).unwrap();
        let stream = &out["streams"][0];
        assert_eq!(stream["type"], "DeclarativeStream");
        assert_eq!(stream["name"], "orders");
        assert_eq!(stream["primary_key"], "id");
        let retriever = &stream["retriever"];
        assert_eq!(retriever["type"], "SimpleRetriever");
        assert_eq!(retriever["requester"]["path"], "/orders");
        assert_eq!(retriever["requester"]["url_base"], "https://x.test");
        assert_eq!(retriever["record_selector"]["type"], "RecordSelector");
        assert_eq!(
            retriever["record_selector"]["extractor"]["type"],
            "DpathExtractor"
        );
    }

    #[test]
    fn an_unsupported_component_is_named_with_its_path() {
        let manifest = json!({"streams": [{"type": "DeclarativeStream", "name": "x",
            "retriever": {"type": "SimpleRetriever",
                          "requester": {"type": "HttpRequester", "url_base": "https://x.test"},
                          "record_selector": {"type": "RecordSelector",
                                              "extractor": {"type": "CustomRecordExtractor", "class_name": "a.B"}}}}]});
        let e = prepare(&manifest).unwrap_err().to_string();
        assert!(
            e.contains("streams[0].retriever.record_selector.extractor"),
            "{e}"
        );
        assert!(
            e.contains("\"CustomRecordExtractor\" is not supported"),
            "{e}"
        );
    }

    #[test]
    fn json_schemas_are_not_components() {
        let manifest = json!({"streams": [{"type": "DeclarativeStream", "name": "x",
            "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "SomethingElse"}}}}}]});
        prepare(&manifest).unwrap();
    }

    #[test]
    fn bad_references_are_named() {
        let e = prepare(&json!({"streams": ["#/definitions/nope"]}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("streams[0]") && e.contains("points at nothing"),
            "{e}"
        );
        let e = prepare(&json!({"a": "#/b", "b": "#/a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("refers to itself"), "{e}");
    }
}
