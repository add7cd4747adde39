//! The schema a stream has seen so far, shared by every normalizer worker:
//! each field's column name and widest type. Workers consult it when they
//! meet a new field and when they hand over a batch, so all batches agree
//! on names and only ever widen.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::column::ColType;
use super::{ID, IDX, PARENT_ID};

#[derive(Default)]
struct TableSchema {
    /// Field path (`customer__email`) → column name.
    names: HashMap<String, String>,
    /// Lowercased column names taken, since SQL warehouses fold case.
    taken: HashSet<String>,
    /// Columns in the order first seen, with their widest type.
    columns: Vec<(String, ColType)>,
    index: HashMap<String, usize>,
}

#[derive(Default)]
pub struct SharedSchema {
    tables: Mutex<HashMap<String, TableSchema>>,
}

fn is_reserved(name: &str) -> bool {
    matches!(name, ID | PARENT_ID | IDX | "_tf_load_id")
}

impl SharedSchema {
    /// The column a field path lands in, and that column's type so far. A
    /// name that clashes with another when case is ignored gets a suffix.
    pub fn column(&self, table: &str, path: &str) -> (String, ColType) {
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let t = tables.entry(table.to_string()).or_default();
        if let Some(name) = t.names.get(path) {
            let ty = t.columns[t.index[name]].1;
            return (name.clone(), ty);
        }
        // SQL has no empty identifier.
        let base = if path.is_empty() { "_empty" } else { path };
        let mut name = base.to_string();
        let mut n = 2;
        while t.taken.contains(&name.to_lowercase()) || is_reserved(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        t.taken.insert(name.to_lowercase());
        t.names.insert(path.to_string(), name.clone());
        t.index.insert(name.clone(), t.columns.len());
        t.columns.push((name.clone(), ColType::Null));
        (name, ColType::Null)
    }

    /// Merges a batch's column types in; returns every column of the table
    /// with its widest type, in first-seen order.
    pub fn widen(&self, table: &str, seen: &[(&str, ColType)]) -> Vec<(String, ColType)> {
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let t = tables.entry(table.to_string()).or_default();
        for (name, ty) in seen {
            if let Some(&i) = t.index.get(*name) {
                t.columns[i].1 = t.columns[i].1.widen(*ty);
            }
        }
        t.columns.clone()
    }
}
