//! What the Shopify GraphQL server understands of a query: the root
//! connection field, its arguments (literals or `$variables`), the sizes of
//! connections nested under it (for the query's cost), whether it selects
//! `nodes` or `edges`, and the date clauses of Shopify's search syntax in
//! its `query` argument. No full GraphQL parser: enough to page.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::common::{json as reply_json, parse_time};
use crate::http_server::Reply;

pub(super) use super::data::StoreRecords as Root;

/// What the mini-parser found in a query.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) root: Root,
    pub(super) args: BTreeMap<String, Value>,
    /// `first:` sizes of connections nested under the root's nodes.
    pub(super) nested: Vec<u64>,
    pub(super) wants_edges: bool,
    pub(super) wants_nodes: bool,
}

pub(super) fn graphql_error(message: &str, code: &str) -> Reply {
    reply_json(
        200,
        &json!({"errors": [{"message": message, "extensions": {"code": code}}]}),
    )
}

/// One clause of Shopify's search syntax on a date field.
#[derive(Debug)]
pub(super) struct Clause {
    updated: bool,
    op: &'static str,
    at: i64,
}

impl Clause {
    pub(super) fn keeps(&self, created: i64, updated: i64) -> bool {
        let t = if self.updated { updated } else { created };
        match self.op {
            ">" => t > self.at,
            ">=" => t >= self.at,
            "<" => t < self.at,
            "<=" => t <= self.at,
            _ => t == self.at,
        }
    }
}

/// `updated_at:>'2024-01-01T00:00:00Z' AND created_at:<=2024-03-01`: the
/// date clauses, joined by AND (or spaces).
pub(super) fn parse_search(q: &str) -> Result<Vec<Clause>, String> {
    let mut out = Vec::new();
    for term in q
        .split_whitespace()
        .filter(|t| !t.eq_ignore_ascii_case("AND"))
    {
        let Some((field, rest)) = term.split_once(':') else {
            return Err(format!(
                "unsupported search term {term:?}: the demo filters on created_at and updated_at"
            ));
        };
        let updated = match field {
            "updated_at" => true,
            "created_at" | "processed_at" => false,
            _ => {
                return Err(format!(
                "unsupported search field {field:?}: the demo filters on created_at and updated_at"
            ))
            }
        };
        let (op, value) = [">=", "<=", ">", "<"]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
            .unwrap_or(("=", rest));
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        let at = parse_time(value)
            .or_else(|| parse_time(&format!("{value}T00:00:00Z")))
            .ok_or_else(|| format!("invalid date in search term {term:?}"))?;
        out.push(Clause { updated, op, at });
    }
    Ok(out)
}

/// Finds the root field, its arguments and nested connection sizes.
pub(super) fn parse(query: &str, variables: &Value) -> Result<Parsed, Reply> {
    let tokens =
        tokenize(query).map_err(|e| reply_json(200, &json!({"errors": [{"message": e}]})))?;
    let mut depth = 0i32;
    for t in &tokens {
        match t.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            break;
        }
    }
    if depth != 0 {
        return Err(reply_json(
            200,
            &json!({"errors": [{"message": "syntax error, unexpected end of file", "locations": [{"line": 1, "column": 1}]}]}),
        ));
    }
    if tokens.first().map(String::as_str) == Some("mutation") {
        return Err(graphql_error(
            "the demo store serves queries only",
            "undefinedField",
        ));
    }
    let open = tokens.iter().position(|t| t == "{").unwrap_or(0);
    let mut i = open + 1;
    let mut name = tokens.get(i).cloned().unwrap_or_default();
    if tokens.get(i + 1).map(String::as_str) == Some(":") {
        i += 2;
        name = tokens.get(i).cloned().unwrap_or_default();
    }
    let root = match name.as_str() {
        "orders" => Root::Orders,
        "customers" => Root::Customers,
        "products" => Root::Products,
        other => {
            return Err(reply_json(
                200,
                &json!({"errors": [{"message": format!("Field '{other}' doesn't exist on type 'QueryRoot'"),
                                    "locations": [{"line": 1, "column": 1}], "path": ["query", other],
                                    "extensions": {"code": "undefinedField", "typeName": "QueryRoot", "fieldName": other}}]}),
            ))
        }
    };
    i += 1;
    let mut args = BTreeMap::new();
    if tokens.get(i).map(String::as_str) == Some("(") {
        i += 1;
        while i < tokens.len() && tokens[i] != ")" {
            let key = tokens[i].clone();
            if tokens.get(i + 1).map(String::as_str) != Some(":") {
                return Err(graphql_error(
                    &format!("syntax error near argument {key}"),
                    "syntaxError",
                ));
            }
            let raw = tokens.get(i + 2).cloned().unwrap_or_default();
            args.insert(key, literal(&raw, variables));
            i += 3;
            if tokens.get(i).map(String::as_str) == Some(",") {
                i += 1;
            }
        }
        i += 1;
    }
    // Nested connections: `field(first: N …)` inside the root's selection.
    let rest = &tokens[i.min(tokens.len())..];
    let mut nested = Vec::new();
    for k in 0..rest.len().saturating_sub(3) {
        if rest[k + 1] == "(" && rest[k + 2] == "first" && rest[k + 3] == ":" {
            if let Some(n) = rest
                .get(k + 4)
                .map(|r| literal(r, variables))
                .and_then(|v| v.as_u64())
            {
                nested.push(n);
            }
        }
    }
    Ok(Parsed {
        root,
        args,
        nested,
        wants_edges: rest.iter().any(|t| t == "edges"),
        wants_nodes: rest.iter().any(|t| t == "nodes"),
    })
}

fn literal(raw: &str, variables: &Value) -> Value {
    if let Some(var) = raw.strip_prefix('$') {
        return variables.get(var).cloned().unwrap_or(Value::Null);
    }
    if let Some(s) = raw.strip_prefix('"') {
        return Value::String(s.to_string());
    }
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => raw
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.to_string())),
    }
}

/// Names, punctuation, and strings (kept with a leading `"`, unescaped).
fn tokenize(q: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                let mut s = String::from('"');
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(e) = chars.next() {
                                s.push(e);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => s.push(c),
                    }
                }
                if !closed {
                    return Err("syntax error, unterminated string".into());
                }
                out.push(s);
            }
            '{' | '}' | '(' | ')' | ':' | ',' | '[' | ']' | '!' | '=' | '@' => {
                out.push(c.to_string())
            }
            c if c.is_whitespace() => {}
            _ => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '$' || n == '.' || n == '-' {
                        s.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(s);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_root_connection_and_its_arguments() {
        let q = r#"query Orders($n: Int!, $after: String) {
            orders(first: $n, after: $after, query: "updated_at:>'2024-02-01T00:00:00Z'", sortKey: UPDATED_AT) {
              nodes { id lineItems(first: 5) { nodes { id } } }
              pageInfo { hasNextPage endCursor }
            }
        }"#;
        let p = parse(q, &json!({"n": 50, "after": null})).unwrap();
        assert_eq!(p.root, Root::Orders);
        assert_eq!(p.args["first"], json!(50));
        assert_eq!(p.args["after"], Value::Null);
        assert_eq!(p.args["sortKey"], json!("UPDATED_AT"));
        assert_eq!(p.nested, vec![5]);
        assert!(p.wants_nodes && !p.wants_edges);
        let f = parse_search(p.args["query"].as_str().unwrap()).unwrap();
        assert_eq!((f.len(), f[0].updated, f[0].op), (1, true, ">"));
        assert!(parse("{ shop { name } }", &Value::Null).is_err());
        assert!(parse("{ orders(first: 1) { nodes { id }", &Value::Null).is_err());
    }
}
