//! Finding things inside a JSON page for the paginators: how many records it
//! holds, the last one (a cursor may come from it), a value as query text.
//! Pages are read with the normalizer's own parser, so what paging sees is
//! what loading sees: exact big integers, any nesting depth.

use crate::normalize::json::Json;

/// The value at `selector`, or the page itself.
fn records_at<'p, 'a>(page: &'p Json<'a>, selector: Option<&str>) -> Result<&'p Json<'a>, String> {
    match selector {
        Some(path) => page
            .lookup(path)
            .ok_or_else(|| format!("no field {path:?} in the page")),
        None => Ok(page),
    }
}

/// Counts the records without taking them (numbered paging needs the
/// count), by the rules `normalize::json::take_records` takes them.
pub fn count_records(page: &Json<'_>, selector: Option<&str>) -> Result<usize, String> {
    let found = records_at(page, selector)?;
    match (found, selector) {
        (Json::Arr(a), _) => Ok(a.len()),
        (Json::Null, Some(_)) => Ok(0),
        (Json::Obj(_), Some(_)) => Ok(1),
        (Json::Obj(fields), None) => {
            let lists: Vec<&Vec<Json>> = fields
                .iter()
                .filter_map(|(_, v)| match v {
                    Json::Arr(a) => Some(a),
                    _ => None,
                })
                .collect();
            match lists.as_slice() {
                [one] => Ok(one.len()),
                [] => Ok(1),
                _ => Err(
                    "the page has several lists; set `records` to the one that holds the records"
                        .into(),
                ),
            }
        }
        (other, Some(path)) => Err(format!(
            "{path:?} holds {} instead of a list of records",
            other.kind()
        )),
        (other, None) => Err(format!(
            "expected a JSON object or array, got {}",
            other.kind()
        )),
    }
}

/// `field` of the page's last record (cursor paging that continues after
/// the last record's id or timestamp).
pub fn last_record_field<'p, 'a>(
    page: &'p Json<'a>,
    selector: Option<&str>,
    field: &str,
) -> Option<&'p Json<'a>> {
    let last = match records_at(page, selector).ok()? {
        Json::Arr(a) => a.last()?,
        Json::Obj(fields) => fields.iter().find_map(|(_, v)| match v {
            Json::Arr(a) => a.last(),
            _ => None,
        })?,
        _ => return None,
    };
    last.lookup(field)
}

/// A JSON scalar as a query-string value: text as is, numbers as written
/// (an integer beyond 64 bits keeps every digit), null as nothing.
pub fn query_text(v: &Json<'_>) -> String {
    match v {
        Json::Str(s) => s.to_string(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> Json<'_> {
        Json::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn counts_follow_take_records() {
        assert_eq!(count_records(&page(r#"{"orders": [1, 2]}"#), None), Ok(2));
        assert_eq!(count_records(&page("[1, 2, 3]"), None), Ok(3));
        assert_eq!(count_records(&page(r#"{"id": 1}"#), None), Ok(1));
        assert_eq!(
            count_records(&page(r#"{"data": {"items": [1]}}"#), Some("data.items")),
            Ok(1)
        );
        assert_eq!(
            count_records(&page(r#"{"data": null}"#), Some("data")),
            Ok(0)
        );
        assert!(count_records(&page(r#"{"a": [1], "b": [2]}"#), None)
            .unwrap_err()
            .contains("several lists"));
        assert!(count_records(&page(r#"{"a": 3}"#), Some("a"))
            .unwrap_err()
            .contains("a number"));
        assert!(count_records(&page(r#"{"a": 3}"#), Some("b"))
            .unwrap_err()
            .contains("no field \"b\""));
        assert!(count_records(&page(r#""x""#), None).is_err());
    }

    #[test]
    fn a_cursor_from_the_last_record_keeps_big_integers_exact() {
        let p = page(r#"{"data": [{"id": 1}, {"id": 123456789012345678901234567890}]}"#);
        let v = last_record_field(&p, Some("data"), "id").unwrap();
        assert_eq!(query_text(v), "123456789012345678901234567890");
        let p = page(r#"{"items": [{"k": "a"}, {"k": "b"}], "n": 2}"#);
        assert_eq!(query_text(last_record_field(&p, None, "k").unwrap()), "b");
        assert_eq!(last_record_field(&page("[]"), None, "k"), None);
        assert_eq!(query_text(&Json::Null), "");
    }
}
