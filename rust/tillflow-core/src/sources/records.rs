//! Finding things inside a JSON page: the record array, a cursor, a total.

use serde_json::Value;

/// Follows a dotted path (`paging.next.after`, `data.0.id`, `data.-1.id`).
pub fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => {
                let i: i64 = part.parse().ok()?;
                let idx = if i < 0 { a.len() as i64 + i } else { i };
                a.get(usize::try_from(idx).ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Takes the records out of a page. `Err` says what was found instead.
pub fn take_records(mut page: Value, selector: Option<&str>) -> Result<Vec<Value>, String> {
    if let Some(path) = selector {
        let found =
            lookup_mut(&mut page, path).ok_or_else(|| format!("no field {path:?} in the page"))?;
        return match found.take() {
            Value::Array(a) => Ok(a),
            Value::Null => Ok(Vec::new()),
            Value::Object(o) => Ok(vec![Value::Object(o)]),
            other => Err(format!(
                "{path:?} holds {} instead of a list of records",
                kind(&other)
            )),
        };
    }
    match page {
        Value::Array(a) => Ok(a),
        Value::Object(mut m) => {
            let arrays: Vec<String> = m
                .iter()
                .filter(|(_, v)| v.is_array())
                .map(|(k, _)| k.clone())
                .collect();
            match arrays.as_slice() {
                [one] => match m.remove(one) {
                    Some(Value::Array(a)) => Ok(a),
                    _ => unreachable!(),
                },
                [] => Ok(vec![Value::Object(m)]),
                many => Err(format!(
                    "the page has several lists ({}); set `records` to the one that holds the records",
                    many.join(", ")
                )),
            }
        }
        other => Err(format!(
            "expected a JSON object or array, got {}",
            kind(&other)
        )),
    }
}

/// Counts the records without taking them (numbered paging needs the count).
pub fn count_records(page: &Value, selector: Option<&str>) -> Result<usize, String> {
    match selector {
        Some(path) => match lookup(page, path) {
            Some(Value::Array(a)) => Ok(a.len()),
            Some(Value::Null) => Ok(0),
            Some(Value::Object(_)) => Ok(1),
            Some(other) => Err(format!(
                "{path:?} holds {} instead of a list of records",
                kind(other)
            )),
            None => Err(format!("no field {path:?} in the page")),
        },
        None => match page {
            Value::Array(a) => Ok(a.len()),
            Value::Object(m) => {
                let arrays: Vec<&Vec<Value>> = m.values().filter_map(|v| v.as_array()).collect();
                match arrays.as_slice() {
                    [one] => Ok(one.len()),
                    [] => Ok(1),
                    _ => Err("the page has several lists; set `records` to the one that holds the records".into()),
                }
            }
            other => Err(format!(
                "expected a JSON object or array, got {}",
                kind(other)
            )),
        },
    }
}

fn lookup_mut<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut cur = root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get_mut(part)?,
            Value::Array(a) => {
                let i: usize = part.parse().ok()?;
                a.get_mut(i)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_paths() {
        let v = json!({"paging": {"next": {"after": "abc"}}, "data": [{"id": 1}, {"id": 2}]});
        assert_eq!(lookup(&v, "paging.next.after"), Some(&json!("abc")));
        assert_eq!(lookup(&v, "data.-1.id"), Some(&json!(2)));
        assert_eq!(lookup(&v, "data.5.id"), None);
        assert_eq!(lookup(&v, "nope"), None);
    }

    #[test]
    fn record_selection() {
        assert_eq!(
            take_records(json!({"orders": [1, 2]}), None).unwrap().len(),
            2
        );
        assert_eq!(take_records(json!([1, 2, 3]), None).unwrap().len(), 3);
        assert_eq!(
            take_records(json!({"data": {"items": [1]}}), Some("data.items"))
                .unwrap()
                .len(),
            1
        );
        assert!(take_records(json!({"a": [1], "b": [2]}), None)
            .unwrap_err()
            .contains("several lists"));
        assert!(take_records(json!({"a": 3}), Some("a"))
            .unwrap_err()
            .contains("a number"));
        assert!(take_records(json!("x"), None).is_err());
        assert_eq!(
            count_records(&json!({"results": [1, 2]}), Some("results")),
            Ok(2)
        );
    }
}
