//! Checks on a whole dataset rather than its rows: the newest timestamp for
//! `freshness`, and column types for `schema`.

use polars::prelude::*;

use super::column::{Col, Domain};
use crate::error::{CoreError, Result};

/// The newest value of a date or datetime column, in microseconds.
pub(super) fn newest_us(col: &Col) -> Result<Option<i64>> {
    let Some(max) = col.series.max::<i64>()? else {
        return Ok(None);
    };
    Ok(Some(match col.domain {
        Domain::Date => max.saturating_mul(86_400_000_000),
        Domain::Datetime(TimeUnit::Milliseconds) => max.saturating_mul(1000),
        Domain::Datetime(TimeUnit::Nanoseconds) => max.div_euclid(1000),
        _ => max,
    }))
}

/// The kind of type a `schema` check compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeClass {
    Int,
    Float,
    Decimal,
    Bool,
    Text,
    Date,
    Datetime,
    /// No values yet: matches any declared type.
    Null,
    /// Anything else (lists, structs, durations, ...), by name.
    Other(String),
}

impl TypeClass {
    pub fn of(dt: &DataType) -> TypeClass {
        match dt {
            d if d.is_integer() => TypeClass::Int,
            d if d.is_float() => TypeClass::Float,
            DataType::Decimal(..) => TypeClass::Decimal,
            DataType::Boolean => TypeClass::Bool,
            DataType::String => TypeClass::Text,
            DataType::Date => TypeClass::Date,
            DataType::Datetime(..) => TypeClass::Datetime,
            DataType::Null => TypeClass::Null,
            other => TypeClass::Other(other.to_string()),
        }
    }

    /// From the name of a Python polars type (`Int8`, `Datetime`, `List`, ...).
    pub fn from_name(name: &str) -> TypeClass {
        match name {
            "Int8" | "Int16" | "Int32" | "Int64" | "Int128" | "UInt8" | "UInt16" | "UInt32"
            | "UInt64" | "UInt128" => TypeClass::Int,
            "Float16" | "Float32" | "Float64" => TypeClass::Float,
            "Decimal" => TypeClass::Decimal,
            "Boolean" => TypeClass::Bool,
            "String" | "Utf8" | "Categorical" | "Enum" => TypeClass::Text,
            "Date" => TypeClass::Date,
            "Datetime" => TypeClass::Datetime,
            "Null" => TypeClass::Null,
            other => TypeClass::Other(other.to_string()),
        }
    }

    fn name(&self) -> &str {
        match self {
            TypeClass::Int => "int",
            TypeClass::Float => "float",
            TypeClass::Decimal => "decimal",
            TypeClass::Bool => "bool",
            TypeClass::Text => "string",
            TypeClass::Date => "date",
            TypeClass::Datetime => "datetime",
            TypeClass::Null => "null",
            TypeClass::Other(name) => name,
        }
    }
}

/// The column types of a frame, for `schema` checks.
pub fn type_classes(schema: &Schema) -> Vec<(String, TypeClass)> {
    schema
        .iter()
        .map(|(n, d)| (n.to_string(), TypeClass::of(d)))
        .collect()
}

/// What is wrong with a frame's columns against a declared schema, if
/// anything.
pub(super) fn schema_problem(
    rule: &str,
    schema: &[(String, TypeClass)],
    declared: &[(String, String)],
    strict: bool,
) -> Result<Option<String>> {
    let mut problems = Vec::new();
    for (name, want) in declared {
        let ok = type_matches(want).ok_or_else(|| {
            CoreError::rule(
                rule,
                format!("columns.{name}"),
                format!(
                    "unknown type {want:?}; use int, float, number, decimal, bool, string, date or datetime"
                ),
            )
        })?;
        match schema.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("{name} is missing")),
            Some((_, t)) if !ok(t) && *t != TypeClass::Null => {
                problems.push(format!("{name} is {} not {want}", t.name()))
            }
            Some(_) => {}
        }
    }
    if strict {
        for (name, _) in schema {
            if !name.starts_with("_tf_") && !declared.iter().any(|(d, _)| d == name) {
                problems.push(format!("{name} is not declared"));
            }
        }
    }
    Ok((!problems.is_empty()).then(|| problems.join("; ")))
}

type TypeTest = fn(&TypeClass) -> bool;

fn type_matches(name: &str) -> Option<TypeTest> {
    use TypeClass as T;
    Some(match name.to_ascii_lowercase().as_str() {
        "int" | "integer" => |t: &T| *t == T::Int,
        "float" => |t: &T| *t == T::Float,
        "number" | "numeric" => |t: &T| matches!(t, T::Int | T::Float | T::Decimal),
        "decimal" => |t: &T| *t == T::Decimal,
        "bool" | "boolean" => |t: &T| *t == T::Bool,
        "string" | "str" | "text" => |t: &T| *t == T::Text,
        "date" => |t: &T| *t == T::Date,
        "datetime" | "timestamp" => |t: &T| *t == T::Datetime,
        _ => return None,
    })
}

pub(super) fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| us.to_string())
}

pub(super) fn format_age(seconds: f64) -> String {
    let s = seconds.abs().round() as u64;
    let sign = if seconds < 0.0 { "-" } else { "" };
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{sign}{d}d {h}h")
    } else if h > 0 {
        format!("{sign}{h}h {m}m")
    } else if m > 0 {
        format!("{sign}{m}m {sec}s")
    } else {
        format!("{sign}{sec}s")
    }
}
