//! HubSpot's CRM search body: `filterGroups` (OR of groups, AND within
//! one; at most 5 groups, 10 filters a group, 25 in all) with their
//! operators, and the keys that compare property values: dates as epoch
//! milliseconds (a filter's value may be milliseconds or an ISO date),
//! numbers as numbers, text case-insensitively.
//! https://developers.hubspot.com/docs/api/crm/search

use serde_json::{Map, Value};

use super::common::parse_time;

/// One search filter.
pub(super) struct Filter {
    property: String,
    operator: String,
    value: Option<Value>,
    high: Option<Value>,
    values: Vec<Value>,
}

const DATE_PROPERTIES: &[&str] = &[
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "closedate",
];

/// A comparable form of a property value: dates as epoch milliseconds,
/// numbers as numbers, text as text.
#[derive(PartialEq, PartialOrd)]
pub(super) enum Key {
    Num(f64),
    Text(String),
}

pub(super) fn sort_key(v: Option<&Value>) -> Key {
    match v.and_then(Value::as_str) {
        Some(s) => match parse_time(s) {
            Some(t) if s.len() >= 16 => Key::Num(t as f64 * 1000.0),
            _ => s
                .parse::<f64>()
                .map(Key::Num)
                .unwrap_or_else(|_| Key::Text(s.to_lowercase())),
        },
        None => Key::Text(String::new()),
    }
}

/// A filter value against a property: epoch milliseconds or ISO dates for
/// date properties.
fn filter_key(property: &str, v: &Value) -> Key {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if DATE_PROPERTIES.contains(&property) {
        if let Ok(ms) = s.parse::<f64>() {
            return Key::Num(ms);
        }
        if let Some(t) = parse_time(&s).or_else(|| parse_time(&format!("{s}T00:00:00Z"))) {
            return Key::Num(t as f64 * 1000.0);
        }
    }
    s.parse::<f64>()
        .map(Key::Num)
        .unwrap_or_else(|_| Key::Text(s.to_lowercase()))
}

impl Filter {
    pub(super) fn matches(&self, p: &Map<String, Value>) -> bool {
        let have = p.get(&self.property);
        let key = sort_key(have);
        let want = |v: &Option<Value>| v.as_ref().map(|v| filter_key(&self.property, v));
        match self.operator.as_str() {
            "HAS_PROPERTY" => have.is_some(),
            "NOT_HAS_PROPERTY" => have.is_none(),
            _ if have.is_none() => false,
            "EQ" => want(&self.value).is_some_and(|w| key == w),
            "NEQ" => want(&self.value).is_some_and(|w| key != w),
            "LT" => want(&self.value).is_some_and(|w| key < w),
            "LTE" => want(&self.value).is_some_and(|w| key <= w),
            "GT" => want(&self.value).is_some_and(|w| key > w),
            "GTE" => want(&self.value).is_some_and(|w| key >= w),
            "BETWEEN" => {
                want(&self.value).is_some_and(|lo| key >= lo)
                    && want(&self.high).is_some_and(|hi| key <= hi)
            }
            "IN" => self
                .values
                .iter()
                .any(|v| key == filter_key(&self.property, v)),
            "NOT_IN" => !self
                .values
                .iter()
                .any(|v| key == filter_key(&self.property, v)),
            "CONTAINS_TOKEN" => match (
                have.and_then(Value::as_str),
                self.value.as_ref().and_then(Value::as_str),
            ) {
                (Some(h), Some(t)) => h
                    .to_lowercase()
                    .contains(&t.trim_matches('*').to_lowercase()),
                _ => false,
            },
            _ => false,
        }
    }
}

const OPERATORS: &[&str] = &[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
];

pub(super) fn parse_filters(body: &Value) -> Result<Vec<Vec<Filter>>, String> {
    let Some(groups) = body.get("filterGroups") else {
        return Ok(Vec::new());
    };
    let groups = groups.as_array().ok_or("filterGroups must be an array")?;
    if groups.len() > 5 {
        return Err("at most 5 filterGroups are allowed".into());
    }
    let mut out = Vec::new();
    for g in groups {
        let filters = g
            .get("filters")
            .and_then(Value::as_array)
            .ok_or("each filter group needs filters")?;
        if filters.len() > 10 {
            return Err("at most 10 filters per filterGroup are allowed".into());
        }
        let mut group = Vec::new();
        for f in filters {
            let property = f
                .get("propertyName")
                .and_then(Value::as_str)
                .ok_or("a filter needs propertyName")?;
            let operator = f.get("operator").and_then(Value::as_str).unwrap_or("EQ");
            if !OPERATORS.contains(&operator) {
                return Err(format!("Unknown operator {operator}"));
            }
            group.push(Filter {
                property: property.to_string(),
                operator: operator.to_string(),
                value: f.get("value").cloned(),
                high: f.get("highValue").cloned(),
                values: f
                    .get("values")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        out.push(group);
    }
    if out.iter().map(Vec::len).sum::<usize>() > 25 {
        return Err("at most 25 filters are allowed".into());
    }
    Ok(out)
}
