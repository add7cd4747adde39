//! Nested records become a root table plus child tables.
//!
//! - nested objects flatten to `a__b` columns;
//! - arrays become `<table>__<field>` tables whose rows carry `_tf_parent_id`
//!   (the parent row's `_tf_id`), `_tf_idx` (position in the array) and the
//!   root's primary key as `<root>_<pk>`;
//! - every row has a deterministic `_tf_id`;
//! - column types are inferred and only ever widen across batches; a field
//!   that has only ever been null gets no column yet.

mod column;
pub mod ids;
pub mod infer;
pub mod json;
mod parse;
pub mod pins;
mod schema;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;
use serde::Deserialize;

use crate::error::{CoreError, Result};
pub use column::ColType;
use column::{classify_for, Cell, Column, Reading};
pub use json::Json;
pub use pins::{pins_from_json_schema, Pin};
pub use schema::{safe_name, workers, SharedSchema};

pub const ID: &str = "_tf_id";
pub const PARENT_ID: &str = "_tf_parent_id";
pub const IDX: &str = "_tf_idx";
pub const SEP: &str = "__";
/// Records left out of a table go to `<table>__quarantine`.
pub const QUARANTINE_SUFFIX: &str = "__quarantine";

/// What becomes of strings that look like amounts (`"12.34"`).
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NumericStrings {
    /// Exact 38-digit decimals (the default: money adds up to the cent).
    #[default]
    Decimal,
    Float,
    /// Left as text.
    String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizeOptions {
    #[serde(default)]
    pub numeric_strings: NumericStrings,
    /// ISO-8601 strings become timestamps (UTC) and dates.
    #[serde(default = "yes")]
    pub parse_timestamps: bool,
    /// Deeper nesting is kept as JSON text in one column.
    #[serde(default = "default_depth")]
    pub max_depth: usize,
}

fn yes() -> bool {
    true
}
fn default_depth() -> usize {
    10
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            numeric_strings: NumericStrings::default(),
            parse_timestamps: true,
            max_depth: default_depth(),
        }
    }
}

impl NormalizeOptions {
    pub fn validate(&self) -> Result<()> {
        if self.max_depth == 0 {
            return Err(CoreError::config(
                "normalize.max_depth",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Where a field lands: a column of this table, or a child table.
#[derive(Default)]
struct PathNode {
    /// foldhash: field lookups are the normalizer's inner loop.
    children: HashMap<Box<str>, usize, foldhash::fast::FixedState>,
    column: Option<usize>,
    table: Option<usize>,
    /// Full flattened name up to here (`customer__address`).
    name: String,
}

struct Table {
    name: String,
    /// Field path inside the parent table (`line_items`), for child ids.
    field: String,
    columns: Vec<Column>,
    nodes: Vec<PathNode>,
    rows: usize,
    ids: Vec<u64>,
    parent_ids: Vec<u64>,
    idx: Vec<i64>,
    is_root: bool,
    /// Column index of each root-key copy (children only).
    root_key_cols: Vec<usize>,
}

impl Table {
    fn new(name: String, field: String, is_root: bool) -> Self {
        Table {
            name,
            field,
            columns: Vec::new(),
            nodes: vec![PathNode::default()],
            rows: 0,
            ids: Vec::new(),
            parent_ids: Vec::new(),
            idx: Vec::new(),
            is_root,
            root_key_cols: Vec::new(),
        }
    }

    /// A new local column for a field path, named and typed as the shared
    /// schema says.
    fn add_column(&mut self, schema: &SharedSchema, path: &str) -> usize {
        let (name, ty) = schema.column(&self.name, path);
        // `{"a__b": 1}` and `{"a": {"b": 2}}` flatten to one column.
        if let Some(i) = self.columns.iter().position(|c| c.name == name) {
            return i;
        }
        let mut col = Column::new(name, ty);
        col.pad(self.rows.saturating_sub(1));
        self.columns.push(col);
        self.columns.len() - 1
    }

    fn truncate(&mut self, rows: usize) {
        self.rows = rows;
        self.ids.truncate(rows);
        if !self.is_root {
            self.parent_ids.truncate(rows);
            self.idx.truncate(rows);
        }
        for c in &mut self.columns {
            c.truncate(rows);
        }
    }

    fn child_node(&mut self, node: usize, key: &str) -> usize {
        if let Some(&n) = self.nodes[node].children.get(key) {
            return n;
        }
        let parent_name = &self.nodes[node].name;
        let name = if parent_name.is_empty() {
            key.to_string()
        } else {
            format!("{parent_name}{SEP}{key}")
        };
        self.nodes.push(PathNode {
            name,
            ..PathNode::default()
        });
        let id = self.nodes.len() - 1;
        self.nodes[node].children.insert(key.into(), id);
        id
    }

    fn set(&mut self, col: usize, row: usize, cell: Cell<'_>) -> Result<()> {
        let c = &mut self.columns[col];
        if c.len() > row {
            return Err(CoreError::Schema {
                table: self.name.clone(),
                message: format!(
                    "two fields of one record flatten to the same column {:?}",
                    c.name
                ),
            });
        }
        c.pad(row);
        c.push_cell(cell);
        Ok(())
    }
}

/// Where a normalizer's tables stood (see [`Normalizer::mark`]).
#[derive(Debug, Clone, Default)]
pub struct Mark {
    rows: Vec<usize>,
    records: usize,
}

/// Why a record was left out; nothing of it is kept.
#[derive(Debug)]
pub enum Refused {
    /// It holds a value no column type can hold (a number such as `1e400`):
    /// says which field and value.
    Unfit(String),
    Error(CoreError),
}

impl From<CoreError> for Refused {
    fn from(e: CoreError) -> Self {
        Refused::Error(e)
    }
}

/// Turns record pages into batches of tables. Keeps the schema between
/// batches so types only widen.
pub struct Normalizer {
    primary_key: Vec<String>,
    reading: Reading,
    max_depth: usize,
    tables: Vec<Table>,
    by_name: HashMap<String, usize>,
    records: usize,
    schema: Arc<SharedSchema>,
}

/// The root key values a record hands down to its descendants.
struct Lineage<'r, 'a> {
    root_key: Vec<&'r Json<'a>>,
}

impl Normalizer {
    pub fn new(root: &str, primary_key: Vec<String>, opts: &NormalizeOptions) -> Self {
        Self::with_schema(root, primary_key, opts, Arc::default())
    }

    /// A normalizer that shares its schema with others working on the same
    /// stream.
    pub fn with_schema(
        root: &str,
        primary_key: Vec<String>,
        opts: &NormalizeOptions,
        schema: Arc<SharedSchema>,
    ) -> Self {
        let mut n = Normalizer {
            schema,
            primary_key,
            reading: Reading {
                timestamps: opts.parse_timestamps,
                numeric: opts.numeric_strings,
            },
            max_depth: opts.max_depth,
            tables: Vec::new(),
            by_name: HashMap::new(),
            records: 0,
        };
        let root = n.schema.table_name(root);
        n.table(root, String::new(), None);
        n
    }

    pub fn root(&self) -> &str {
        &self.tables[0].name
    }

    /// Root records waiting in the current batch.
    pub fn pending(&self) -> usize {
        self.records
    }

    fn table(&mut self, name: String, field: String, root_key_names: Option<&[String]>) -> usize {
        if let Some(&t) = self.by_name.get(&name) {
            return t;
        }
        let mut t = Table::new(name.clone(), field, root_key_names.is_none());
        if let Some(keys) = root_key_names {
            for k in keys {
                let c = t.add_column(&self.schema, k);
                t.root_key_cols.push(c);
            }
        }
        self.tables.push(t);
        self.by_name.insert(name, self.tables.len() - 1);
        self.tables.len() - 1
    }

    /// The child table an array field (`node` of table `t`) lands in.
    fn child_table(&mut self, t: usize, node: usize) -> usize {
        if let Some(c) = self.tables[t].nodes[node].table {
            return c;
        }
        let field = self.tables[t].nodes[node].name.clone();
        let name = self
            .schema
            .table_name(&format!("{}{SEP}{field}", self.tables[t].name));
        let root_key_names: Vec<String> = self
            .primary_key
            .iter()
            .map(|k| format!("{}_{}", self.tables[0].name, k.replace('.', SEP)))
            .collect();
        let c = self.table(name, field, Some(&root_key_names));
        self.tables[t].nodes[node].table = Some(c);
        c
    }

    /// The node a key path leads to in table `t`.
    fn node_at(&mut self, t: usize, path: &[String]) -> usize {
        let mut node = 0;
        for key in path {
            node = self.tables[t].child_node(node, key);
        }
        node
    }

    /// Declares columns before any record (see [`pins`]): each starts in its
    /// pinned type, so every batch has it, and only widens from there.
    pub fn pin(&mut self, pins: &[Pin]) {
        for p in pins {
            let mut t = 0;
            for array in &p.table {
                let node = self.node_at(t, array);
                t = self.child_table(t, node);
            }
            let node = self.node_at(t, &p.field);
            let table = &mut self.tables[t];
            let path = table.nodes[node].name.clone();
            self.schema.pin(&table.name, &path, p.ty);
            let c = match table.nodes[node].column {
                Some(c) => c,
                None => {
                    let c = table.add_column(&self.schema, &path);
                    table.nodes[node].column = Some(c);
                    c
                }
            };
            table.columns[c].widen_to(p.ty);
            table.columns[c].exact = matches!(p.ty, ColType::Decimal(_));
        }
    }

    /// Where every table stands: pass to [`Normalizer::rewind`] to drop the
    /// records added since.
    pub fn mark(&self) -> Mark {
        Mark {
            rows: self.tables.iter().map(|t| t.rows).collect(),
            records: self.records,
        }
    }

    /// Drops the records added since `mark` (the columns they added stay).
    pub fn rewind(&mut self, mark: &Mark) {
        for (i, t) in self.tables.iter_mut().enumerate() {
            t.truncate(mark.rows.get(i).copied().unwrap_or(0));
        }
        self.records = mark.records;
    }

    /// Adds one root record given as a `serde_json::Value`.
    pub fn push(&mut self, record: &serde_json::Value) -> Result<()> {
        self.push_json(&Json::from_value(record))
    }

    /// Adds one root record; a record holding a value no column can hold
    /// is a schema error naming the field and value.
    pub fn push_json(&mut self, record: &Json<'_>) -> Result<()> {
        self.push_or_refuse(record).map_err(|r| match r {
            Refused::Unfit(message) => CoreError::Schema {
                table: self.root().to_string(),
                message,
            },
            Refused::Error(e) => e,
        })
    }

    /// Adds one root record, or says why it was left out.
    pub fn push_or_refuse(&mut self, record: &Json<'_>) -> Result<(), Refused> {
        let Json::Obj(fields) = record else {
            return Err(Refused::Error(CoreError::Schema {
                table: self.root().to_string(),
                message: format!("a record must be a JSON object, got {}", record.kind()),
            }));
        };
        let root_name = self.tables[0].name.clone();
        let (id, root_key) = if self.primary_key.is_empty() {
            (ids::root_id_from_content(&root_name, record), Vec::new())
        } else {
            let mut key = Vec::with_capacity(self.primary_key.len());
            for k in &self.primary_key {
                match record.lookup(k) {
                    Some(Json::OutOfRange(text)) => return Err(unfit(&root_name, k, text)),
                    Some(v) if !v.is_null() => key.push(v),
                    _ => {
                        return Err(Refused::Error(CoreError::Schema {
                            table: root_name,
                            message: format!("a record has no value for primary key {k:?}"),
                        }))
                    }
                }
            }
            (ids::root_id_from_key(&root_name, &key), key)
        };
        let lineage = Lineage { root_key };
        let marks: Vec<usize> = self.tables.iter().map(|t| t.rows).collect();
        if let Err(e) = self.add_row(0, fields, id, None, &lineage, 1) {
            // A record loads whole or not at all.
            for (i, t) in self.tables.iter_mut().enumerate() {
                t.truncate(marks.get(i).copied().unwrap_or(0));
            }
            return Err(e);
        }
        self.records += 1;
        Ok(())
    }

    fn add_row(
        &mut self,
        t: usize,
        fields: &[(Cow<'_, str>, Json<'_>)],
        id: u64,
        parent: Option<(u64, usize)>,
        lineage: &Lineage<'_, '_>,
        depth: usize,
    ) -> Result<(), Refused> {
        let row = self.start_row(t, id, parent, lineage)?;
        self.add_fields(t, 0, fields, row, id, lineage, depth)
    }

    fn start_row(
        &mut self,
        t: usize,
        id: u64,
        parent: Option<(u64, usize)>,
        lineage: &Lineage<'_, '_>,
    ) -> Result<usize> {
        let reading = self.reading;
        let table = &mut self.tables[t];
        let row = table.rows;
        table.rows += 1;
        table.ids.push(id);
        if let Some((pid, idx)) = parent {
            table.parent_ids.push(pid);
            table.idx.push(idx as i64);
            for (i, v) in lineage.root_key.iter().enumerate() {
                let col = table.root_key_cols[i];
                let cell = classify_for(v, &table.columns[col], reading);
                table.set(col, row, cell)?;
            }
        }
        Ok(row)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_fields(
        &mut self,
        t: usize,
        node: usize,
        fields: &[(Cow<'_, str>, Json<'_>)],
        row: usize,
        id: u64,
        lineage: &Lineage<'_, '_>,
        depth: usize,
    ) -> Result<(), Refused> {
        for (key, value) in fields {
            let child = self.tables[t].child_node(node, key);
            match value {
                Json::Obj(inner) if depth < self.max_depth => {
                    self.add_fields(t, child, inner, row, id, lineage, depth + 1)?;
                }
                Json::Arr(items) if depth < self.max_depth => {
                    self.add_child_rows(t, child, items, id, lineage, depth + 1)?;
                }
                Json::OutOfRange(text) => {
                    let table = &self.tables[t];
                    return Err(unfit(&table.name, &table.nodes[child].name, text));
                }
                scalar => {
                    let table = &mut self.tables[t];
                    let col = match table.nodes[child].column {
                        Some(c) => c,
                        // A null says nothing about a field's type or shape (it
                        // may be an object elsewhere): no column until a value.
                        None if scalar.is_null() => continue,
                        None => {
                            let name = table.nodes[child].name.clone();
                            let c = table.add_column(&self.schema, &name);
                            table.nodes[child].column = Some(c);
                            c
                        }
                    };
                    let cell = classify_for(scalar, &table.columns[col], self.reading);
                    table.set(col, row, cell)?;
                }
            }
        }
        Ok(())
    }

    fn add_child_rows(
        &mut self,
        t: usize,
        node: usize,
        items: &[Json<'_>],
        parent_id: u64,
        lineage: &Lineage<'_, '_>,
        depth: usize,
    ) -> Result<(), Refused> {
        if items.is_empty() {
            return Ok(());
        }
        let child_table = self.child_table(t, node);
        for (i, item) in items.iter().enumerate() {
            let id = ids::child_id(parent_id, &self.tables[child_table].field, i);
            match item {
                Json::Obj(m) => {
                    self.add_row(child_table, m, id, Some((parent_id, i)), lineage, depth)?
                }
                Json::Arr(inner) if depth < self.max_depth => {
                    self.start_row(child_table, id, Some((parent_id, i)), lineage)?;
                    let value_node = self.tables[child_table].child_node(0, "value");
                    self.add_child_rows(child_table, value_node, inner, id, lineage, depth + 1)?;
                }
                scalar => {
                    let row = self.start_row(child_table, id, Some((parent_id, i)), lineage)?;
                    let one = [(Cow::Borrowed("value"), scalar.clone())];
                    self.add_fields(child_table, 0, &one, row, id, lineage, depth)?;
                }
            }
        }
        Ok(())
    }

    /// The batch so far as `(table, frame)` pairs, root first; child tables
    /// without rows in this batch are left out. Every column seen so far is
    /// present, in its widest type.
    pub fn flush(&mut self) -> Result<Vec<(String, DataFrame)>> {
        let mut out = Vec::with_capacity(self.tables.len());
        for (i, t) in self.tables.iter_mut().enumerate() {
            if t.rows == 0 && i > 0 {
                continue;
            }
            let rows = t.rows;
            let seen: Vec<(&str, ColType)> =
                t.columns.iter().map(|c| (c.name.as_str(), c.ty)).collect();
            let all = self.schema.widen(&t.name, &seen);
            let mut cols: Vec<polars::prelude::Column> = Vec::with_capacity(all.len() + 3);
            for (name, ty) in all {
                // Columns other workers found are present here too, all null.
                let series = match t.columns.iter_mut().find(|c| c.name == name) {
                    Some(c) => {
                        c.widen_to(ty);
                        c.pad(rows);
                        c.take_series()?
                    }
                    None => {
                        let mut c = Column::new(name, ty);
                        c.pad(rows);
                        c.take_series()?
                    }
                };
                cols.push(series.into());
            }
            if !t.is_root {
                let parents = std::mem::take(&mut t.parent_ids);
                cols.push(id_series(PARENT_ID, parents).into());
                let idx = std::mem::take(&mut t.idx);
                cols.push(Series::new(PlSmallStr::from(IDX), idx).into());
            }
            let ids_vec = std::mem::take(&mut t.ids);
            cols.push(id_series(ID, ids_vec).into());
            t.rows = 0;
            out.push((t.name.clone(), DataFrame::new(rows, cols)?));
        }
        self.records = 0;
        Ok(out)
    }
}

fn unfit(table: &str, field: &str, text: &str) -> Refused {
    Refused::Unfit(format!(
        "field {field:?} of table {table} holds the number {text}, beyond the range of every \
         column type (a double reaches about 1.8e308)"
    ))
}

fn id_series(name: &str, ids: Vec<u64>) -> Series {
    Series::new(PlSmallStr::from(name), ids)
}

#[cfg(test)]
mod tests;
