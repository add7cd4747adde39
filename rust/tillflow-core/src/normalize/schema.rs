//! The schema a stream has seen so far, shared by every normalizer worker:
//! each field's column name and widest type. Workers consult it when they
//! meet a new field and when they hand over a batch, so all batches agree
//! on names and only ever widen.

use std::borrow::Cow;
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

/// Normalizer workers a stream runs: parsing and normalizing is the costly
/// part of reading records, so each core (up to four) gets one.
pub fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4)
}

#[derive(Default)]
pub struct SharedSchema {
    tables: Mutex<HashMap<String, TableSchema>>,
    table_names: Mutex<Names>,
}

/// Table names given out: by where the table comes from (`orders__items`
/// as the fields spell it), and the lowercased names taken.
#[derive(Default)]
struct Names {
    by_source: HashMap<String, String>,
    taken: HashSet<String>,
}

/// A name Arrow's C interface and every warehouse can hold: NUL (which a C
/// string cannot hold, nor PostgreSQL) becomes `_`.
pub fn safe_name(name: &str) -> Cow<'_, str> {
    if name.contains('\0') {
        Cow::Owned(name.replace('\0', "_"))
    } else {
        Cow::Borrowed(name)
    }
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
        let base = if path.is_empty() {
            "_empty".into()
        } else {
            safe_name(path)
        };
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

    /// Declares a field's type before any value: its column starts there.
    pub fn pin(&self, table: &str, path: &str, ty: ColType) {
        let (name, _) = self.column(table, path);
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = tables.get_mut(table) {
            let i = t.index[&name];
            t.columns[i].1 = t.columns[i].1.widen(ty);
        }
    }

    /// The name of the table that `source` (a root's name, or a parent
    /// table's name and a field, `orders__items`) lands in: made safe, and
    /// suffixed when it clashes with another once case is ignored.
    pub fn table_name(&self, source: &str) -> String {
        let mut names = self.table_names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(name) = names.by_source.get(source) {
            return name.clone();
        }
        let base = safe_name(source);
        let mut name = base.to_string();
        let mut n = 2;
        while names.taken.contains(&name.to_lowercase()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.taken.insert(name.to_lowercase());
        names.by_source.insert(source.to_string(), name.clone());
        name
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
