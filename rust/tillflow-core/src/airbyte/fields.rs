//! Reading a component's fields: errors that name the field's path, and
//! numbers given as numbers or as templates.

use serde_json::Value;

use super::interp::Interp;
use crate::error::{CoreError, Result};

pub fn cfg(path: &str, message: impl Into<String>) -> CoreError {
    CoreError::config(path.to_string(), message)
}

pub fn get_str<'a>(m: &'a Value, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

pub fn number(v: &Value, interp: &Interp, ctx: &minijinja::Value, path: &str) -> Result<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| cfg(path, "not a number")),
        Value::String(s) => match interp.eval(s, ctx).map_err(|e| cfg(path, e))? {
            Value::Number(n) => n.as_f64().ok_or_else(|| cfg(path, "not a number")),
            other => Err(cfg(path, format!("must be a number, got {other}"))),
        },
        other => Err(cfg(path, format!("must be a number, got {other}"))),
    }
}
