//! Column types a JSON Schema declares, pinned before any record arrives.
//!
//! A source that sends a schema with its records (a Singer tap's SCHEMA
//! message, an Airbyte stream's `json_schema`) knows each field's type: a
//! zip code declared `string` stays text even when every value looks like a
//! number, an `integer` field is an integer column even in a batch where it
//! is always null, and `format: date-time` strings are timestamps. Pinned
//! columns exist from the first batch, in the schema's order; a value the
//! declared type cannot hold still widens the column, as inferred ones do.
//!
//! The mapping follows the JSON Schema the Singer and Airbyte ecosystems
//! use: `integer` → 64-bit integer, `number` → double (an exact decimal when
//! `multipleOf` is a power of ten below one, as taps declare `NUMERIC(p, s)`),
//! `boolean`, `string` (with `format: date-time` a UTC timestamp, `date` a
//! date), `object` with `properties` → flattened `parent__child` columns,
//! `array` → a child table (scalar items in its `value` column). A union
//! with `null` is its other type; a union of numbers is a double; any other
//! union, and a schema without a type, is left to inference.

use serde_json::Value;

use super::column::ColType;
use super::infer::parse_decimal;

/// One declared column: the array fields leading to its table from the root
/// (each as its key path in the table before), its key path in that table,
/// and its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    pub table: Vec<Vec<String>>,
    pub field: Vec<String>,
    pub ty: ColType,
}

/// What one schema node declares.
enum Declared<'a> {
    Scalar(ColType),
    Object(&'a serde_json::Map<String, Value>),
    Array(Option<&'a Value>),
    /// Nothing to pin: no type, only null, or a mix inference must settle.
    Unknown,
}

/// The columns a record schema (an `object` with `properties`) declares,
/// for a normalizer nesting objects and arrays up to `max_depth`.
pub fn pins_from_json_schema(schema: &Value, max_depth: usize) -> Vec<Pin> {
    let mut out = Vec::new();
    if let Declared::Object(props) = declared(schema) {
        walk_object(props, &[], &mut Vec::new(), 1, max_depth, &mut out);
    }
    out
}

fn walk_object(
    props: &serde_json::Map<String, Value>,
    table: &[Vec<String>],
    field: &mut Vec<String>,
    depth: usize,
    max_depth: usize,
    out: &mut Vec<Pin>,
) {
    for (key, sub) in props {
        field.push(key.clone());
        walk_value(sub, table, field, depth, max_depth, out);
        field.pop();
    }
}

fn walk_value(
    schema: &Value,
    table: &[Vec<String>],
    field: &mut Vec<String>,
    depth: usize,
    max_depth: usize,
    out: &mut Vec<Pin>,
) {
    let pin = |ty| Pin {
        table: table.to_vec(),
        field: field.clone(),
        ty,
    };
    match declared(schema) {
        Declared::Scalar(ty) => out.push(pin(ty)),
        // Past the depth limit, nesting is kept whole as JSON text.
        Declared::Object(_) | Declared::Array(_) if depth >= max_depth => {
            out.push(pin(ColType::Str))
        }
        Declared::Object(props) => walk_object(props, table, field, depth + 1, max_depth, out),
        Declared::Array(items) => {
            let mut child = table.to_vec();
            child.push(field.clone());
            match items.map(declared) {
                Some(Declared::Object(props)) => {
                    walk_object(props, &child, &mut Vec::new(), depth + 1, max_depth, out)
                }
                Some(Declared::Scalar(ty)) => out.push(Pin {
                    table: child,
                    field: vec!["value".into()],
                    ty,
                }),
                _ => {}
            }
        }
        Declared::Unknown => {}
    }
}

fn declared(schema: &Value) -> Declared<'_> {
    let Value::Object(map) = schema else {
        return Declared::Unknown;
    };
    // A union: `anyOf`/`oneOf` branches, each with its own type and format.
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get(key) {
            let kinds: Vec<Declared<'_>> = branches
                .iter()
                .filter(|b| !is_null_only(b))
                .map(declared)
                .collect();
            return union(kinds);
        }
    }
    let types: Vec<&str> = match map.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Declared::Unknown,
    };
    let kinds: Vec<Declared<'_>> = types
        .into_iter()
        .filter(|t| *t != "null")
        .map(|t| match t {
            "object" => match map.get("properties") {
                Some(Value::Object(props)) if !props.is_empty() => Declared::Object(props),
                _ => Declared::Unknown,
            },
            "array" => Declared::Array(map.get("items")),
            other => scalar(other, map).map_or(Declared::Unknown, Declared::Scalar),
        })
        .collect();
    union(kinds)
}

fn is_null_only(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => ts.iter().all(|t| t == "null"),
        _ => false,
    }
}

/// One kind stays itself; numbers together are a double; strings with
/// anything scalar are text; anything else is left to inference.
fn union(mut kinds: Vec<Declared<'_>>) -> Declared<'_> {
    if kinds.len() == 1 {
        return kinds.pop().expect("one kind");
    }
    let mut scalars = Vec::with_capacity(kinds.len());
    for k in &kinds {
        match k {
            Declared::Scalar(ty) => scalars.push(*ty),
            _ => return Declared::Unknown,
        }
    }
    let Some(first) = scalars.first().copied() else {
        return Declared::Unknown;
    };
    let all_numeric = scalars
        .iter()
        .all(|t| matches!(t, ColType::Int | ColType::Float | ColType::Decimal(_)));
    if all_numeric {
        return Declared::Scalar(scalars.iter().fold(first, |a, b| a.widen(*b)));
    }
    if scalars.contains(&ColType::Str) {
        return Declared::Scalar(ColType::Str);
    }
    Declared::Unknown
}

fn scalar(name: &str, map: &serde_json::Map<String, Value>) -> Option<ColType> {
    Some(match name {
        "integer" => ColType::Int,
        "number" => match map.get("multipleOf").and_then(decimal_scale) {
            Some(scale) => ColType::Decimal(scale),
            None => ColType::Float,
        },
        "boolean" => ColType::Bool,
        "string" => match map.get("format").and_then(Value::as_str) {
            Some("date-time") => ColType::Timestamp,
            Some("date") => ColType::Date,
            _ => ColType::Str,
        },
        _ => return None,
    })
}

/// The scale of a `multipleOf` that is a power of ten below one (`0.01` → 2).
fn decimal_scale(step: &Value) -> Option<u8> {
    let text = match step {
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (digits, scale) = parse_decimal(&text, true)?;
    (digits == 1 && (1..=38).contains(&scale)).then_some(scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pins(schema: Value) -> Vec<(String, String, ColType)> {
        pins_from_json_schema(&schema, 10)
            .into_iter()
            .map(|p| {
                let table: Vec<String> = p.table.iter().map(|t| t.join(".")).collect();
                (table.join("/"), p.field.join("."), p.ty)
            })
            .collect()
    }

    #[test]
    fn scalars_and_formats() {
        let got = pins(json!({"type": "object", "properties": {
            "id": {"type": "integer"},
            "zip": {"type": ["null", "string"]},
            "total": {"type": ["null", "number"], "multipleOf": 0.01},
            "ratio": {"type": "number"},
            "paid": {"type": "boolean"},
            "at": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "any": {},
            "mixed": {"type": ["integer", "string"]},
            "num": {"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "null"}]},
        }}));
        let ty: Vec<(&str, ColType)> = got.iter().map(|(_, f, t)| (f.as_str(), *t)).collect();
        assert_eq!(
            ty,
            vec![
                ("id", ColType::Int),
                ("zip", ColType::Str),
                ("total", ColType::Decimal(2)),
                ("ratio", ColType::Float),
                ("paid", ColType::Bool),
                ("at", ColType::Timestamp),
                ("day", ColType::Date),
                ("mixed", ColType::Str),
                ("num", ColType::Float),
            ]
        );
    }

    #[test]
    fn objects_flatten_and_arrays_are_child_tables() {
        let got = pins(json!({"type": "object", "properties": {
            "customer": {"type": "object", "properties": {"email": {"type": "string"}}},
            "lines": {"type": "array", "items": {"type": "object", "properties": {
                "sku": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            }}},
            "free": {"type": "object"},
        }}));
        assert_eq!(
            got,
            vec![
                ("".into(), "customer.email".into(), ColType::Str),
                ("lines".into(), "sku".into(), ColType::Str),
                ("lines/tags".into(), "value".into(), ColType::Str),
            ]
        );
    }

    #[test]
    fn nesting_past_the_limit_is_text() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "object", "properties": {
                "c": {"type": "integer"}}}}},
        }});
        let got = pins_from_json_schema(&schema, 2);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].field, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(got[0].ty, ColType::Str);
    }

    #[test]
    fn a_schema_that_is_not_an_object_pins_nothing() {
        assert!(pins(json!(true)).is_empty());
        assert!(pins(json!({"type": "string"})).is_empty());
        assert!(pins(json!({"type": "object"})).is_empty());
    }
}
