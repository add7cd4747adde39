//! Substreams: a child resource whose requests are made from each record
//! of a parent resource (a ticket's comments, an order's notes, a deal's
//! associations). The parent is paged through first, keeping only the
//! fields the child names; then each parent gives the child one family of
//! page chains, its templates filled in with `{{ parent.<field> }}`, and
//! each child row carries the parent's key in the columns `carry` names.
//! The child's `concurrency` bounds how many parents are fetched at once.
//!
//! Two kinds of state follow parents. With `incremental = true` the child
//! asks only for the parents changed since its last complete run (the
//! parent's own incremental filter, from a cursor kept in the child's
//! state), as Zendesk's comments follow updated tickets. A child with an
//! `incremental` spec of its own keeps one cursor per parent, so a parent
//! seen for the first time starts from the beginning while the others go
//! on from where they were (Mailchimp's members per audience).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::{CoreError, Result};
use crate::normalize::json::{take_records, Json};
use crate::sources::checkpoint::{record_key, CursorEdge, EdgeFilter};
use crate::sources::http::request::Vars;
use crate::sources::spec::ResourceSpec;

/// What a child resource takes from its parent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentSpec {
    /// The parent resource's spec (a source fills it in from the parent's
    /// name).
    pub resource: Box<ResourceSpec>,
    /// Dotted fields of each parent record the child's templates use, as
    /// `{{ parent.<field> }}`.
    #[serde(default, deserialize_with = "crate::sources::spec::one_or_many")]
    pub fields: Vec<String>,
    /// Columns each child row gets from its parent: `{ticket_id = "id"}`.
    /// Unset: `parent_<field>` for each of `fields`. A child record that
    /// already has such a field keeps its own value.
    pub carry: Option<BTreeMap<String, String>>,
    /// Only the parents changed since the child's last complete run: the
    /// parent resource's incremental filter starts from the parents' cursor
    /// that run reached (stored with the child, as `parent`). Children of
    /// unchanged parents are not fetched again, so the child is merged.
    #[serde(default)]
    pub incremental: bool,
}

impl ParentSpec {
    pub fn validate(&self) -> Result<()> {
        if self.fields.is_empty() {
            return Err(CoreError::config(
                "parent.fields",
                "name at least one field of the parent record (such as \"id\")",
            ));
        }
        if self.resource.parent.is_some() {
            return Err(CoreError::config(
                "parent.resource.parent",
                "a parent cannot have a parent of its own; nest one level only",
            ));
        }
        self.resource.validate().map_err(|e| match e {
            CoreError::Config { field, message } => {
                CoreError::config(format!("parent.resource.{field}"), message)
            }
            other => other,
        })?;
        if self.incremental && self.resource.incremental.is_none() {
            return Err(CoreError::config(
                "parent.incremental",
                "following only changed parents needs the parent resource's own incremental \
                 filter (parent.resource.incremental with its cursor_field)",
            ));
        }
        for (column, field) in self.carry() {
            if !self.fields.contains(&field) {
                return Err(CoreError::config(
                    format!("parent.carry.{column}"),
                    format!("{field:?} is not one of parent.fields {:?}", self.fields),
                ));
            }
        }
        Ok(())
    }

    /// Child column → parent field.
    pub fn carry(&self) -> BTreeMap<String, String> {
        match &self.carry {
            Some(c) => c.clone(),
            None => self
                .fields
                .iter()
                .map(|f| (format!("parent_{}", f.replace('.', "__")), f.clone()))
                .collect(),
        }
    }
}

/// One parent as the child sees it: template variables and carried columns.
pub struct ParentRecord {
    pub vars: Vars,
    pub carry: BTreeMap<String, Value>,
}

/// The parents a run visits, and (following only changed parents) the
/// cursor edge they reached.
pub struct Parents {
    pub records: Vec<ParentRecord>,
    pub edge: Option<CursorEdge>,
}

/// Pages through the parent and returns, in order and without repeats,
/// the fields the child needs of each parent record. Records without one
/// of those fields are skipped (a child request could not be made).
/// Following only changed parents, those the child's last run already
/// visited at the stored edge are skipped too.
pub fn collect(parent: &ParentSpec) -> Result<Parents> {
    let spec = Arc::new((*parent.resource).clone());
    let chains = crate::sources::http::chains(&spec)?.chains;
    let (tx, mut rx) = mpsc::channel(spec.concurrency * 2 + 2);
    let fetch = crate::sources::http::start(spec.clone(), chains, tx, Arc::new(AtomicU64::new(0)))?;
    let carry = parent.carry();
    let cursor_field = spec.cursor_field.as_deref().filter(|_| parent.incremental);
    let filter = spec
        .incremental
        .as_ref()
        .filter(|_| parent.incremental)
        .and_then(|inc| EdgeFilter::new(CursorEdge::stored(inc.cursor.as_ref(), &inc.boundary)));
    let mut edge = CursorEdge::default();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let result: Result<()> = crate::runtime::handle().block_on(async {
        while let Some(page) = rx.recv().await {
            let page = page?;
            let json = Json::parse(&page.body).map_err(|e| CoreError::Source {
                url: page.url.clone(),
                message: format!("not valid JSON ({e})"),
            })?;
            let absent = spec.records_optional
                && spec
                    .records
                    .as_deref()
                    .is_some_and(|s| json.lookup(s).is_none());
            if absent {
                continue;
            }
            let records = take_records(json, spec.records.as_deref()).map_err(|message| {
                CoreError::Source {
                    url: page.url.clone(),
                    message,
                }
            })?;
            for r in &records {
                if let Some(v) = cursor_field.and_then(|f| r.lookup(f)) {
                    let key = || record_key(r, &spec.primary_key);
                    if filter.as_ref().is_some_and(|f| f.seen(v, key)) {
                        continue;
                    }
                    edge.offer(v, key);
                }
                let values: Option<Vec<Value>> = parent
                    .fields
                    .iter()
                    .map(|f| {
                        r.lookup(f)
                            .filter(|v| !matches!(v, Json::Null))
                            .map(Json::to_value)
                    })
                    .collect();
                let Some(values) = values else { continue };
                if !seen.insert(serde_json::to_string(&values).expect("plain data")) {
                    continue;
                }
                let vars: Vars = parent
                    .fields
                    .iter()
                    .zip(&values)
                    .map(|(f, v)| (format!("parent.{f}"), v.clone()))
                    .collect();
                let carried = carry
                    .iter()
                    .map(|(column, field)| {
                        (column.clone(), vars[&format!("parent.{field}")].clone())
                    })
                    .collect();
                out.push(ParentRecord {
                    vars,
                    carry: carried,
                });
            }
        }
        Ok(())
    });
    fetch.abort();
    result.map_err(|e| match e {
        CoreError::Config { field, message } => {
            CoreError::config(format!("parent.resource.{field}"), message)
        }
        other => other,
    })?;
    Ok(Parents {
        records: out,
        edge: parent.incremental.then_some(edge),
    })
}

/// A carried value as the normalizer reads it.
pub fn to_json(v: &Value) -> Json<'static> {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Json::Int(i),
            (None, Some(u)) => Json::UInt(u),
            _ => Json::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Json::Str(Cow::Owned(s.clone())),
        other => Json::Str(Cow::Owned(other.to_string())),
    }
}

/// Adds the carried columns to a child record (its own fields win).
pub fn add_carried(record: &mut Json<'_>, carry: &[(String, Value)]) {
    if let Json::Obj(fields) = record {
        for (name, value) in carry {
            if !fields.iter().any(|(k, _)| k == name) {
                fields.push((Cow::Owned(name.clone()), to_json(value)));
            }
        }
    }
}
