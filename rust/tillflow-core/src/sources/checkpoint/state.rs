//! Reading a committed state back into the spec of the next run.

use serde_json::Value;

use super::StoredEdge;
use crate::error::{CoreError, Result};
use crate::sources::spec::ResourceSpec;

/// Sets a spec up to go on from the state the last run committed (what
/// [`Progress::state`] produced): the incremental cursor and its edge, a
/// child's per-parent cursors, the parents' cursor for a child that
/// follows only changed parents, and an interrupted run's resume point.
pub fn apply_state(spec: &mut ResourceSpec, state: &Value) -> Result<()> {
    let state = match state {
        Value::Null => return Ok(()),
        Value::Object(o) => o,
        other => {
            return Err(CoreError::config(
                "state",
                format!("the stored state is not an object: {other}"),
            ))
        }
    };
    let bad = |what: &str, e: serde_json::Error| {
        CoreError::config(format!("state.{what}"), format!("cannot be read ({e})"))
    };
    if let Some(inc) = &mut spec.incremental {
        if let Some(cursor) = state.get("cursor").filter(|v| !v.is_null()) {
            inc.cursor = Some(cursor.clone());
            inc.boundary = keys(state.get("boundary"));
        }
        if let Some(parts) = state.get("partitions").filter(|v| !v.is_null()) {
            inc.partitions =
                serde_json::from_value(parts.clone()).map_err(|e| bad("partitions", e))?;
        }
    }
    if let Some(parent) = spec.parent.as_mut().filter(|p| p.incremental) {
        if let (Some(stored), Some(inc)) = (
            state.get("parent").filter(|v| !v.is_null()),
            parent.resource.incremental.as_mut(),
        ) {
            let edge: StoredEdge =
                serde_json::from_value(stored.clone()).map_err(|e| bad("parent", e))?;
            inc.cursor = Some(edge.cursor);
            inc.boundary = edge.boundary;
        }
    }
    if let Some(resume) = state.get("resume").filter(|v| !v.is_null()) {
        spec.resume = Some(serde_json::from_value(resume.clone()).map_err(|e| bad("resume", e))?);
    }
    Ok(())
}

/// Stored record keys as text (older states may hold numbers).
fn keys(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|k| match k {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}
