//! Rows of text cells (CSV, Excel) into typed batches.
//!
//! A column's type is inferred from the values of the batch that first
//! holds any, and is committed with that batch. Later values may widen it
//! among numbers (int → decimal → double) or from date to timestamp, never
//! to text: a value that does not fit a committed column, or a column the
//! user pinned (`columns={"amount": "decimal(18,2)"}`), makes its row a bad
//! row, as does a row with the wrong number of fields.

use std::collections::HashMap;

use polars::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use super::cells::{build_series, classify, comma_number, fits, type_name, Pin, TextReading};
use super::markers::MarkerTally;
use crate::error::{CoreError, Result};
use crate::normalize::{ids, safe_name, ColType, Json, ID};

/// Column names the warehouse or the quarantine table use themselves.
const RESERVED: [&str; 10] = [
    "_tf_id",
    "_tf_parent_id",
    "_tf_idx",
    "_tf_load_id",
    "_tf_file",
    "_tf_line",
    "_tf_column",
    "_tf_reason",
    "_tf_extra",
    "_tf_failed_rules",
];
pub const FILE_COLUMN: &str = "_tf_file";

/// What becomes of a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnBadRow {
    #[default]
    Error,
    Quarantine,
}

struct SchemaColumn {
    name: String,
    /// The committed type (`Null` until a batch with a value commits).
    ty: ColType,
    pin: Option<Pin>,
    /// This run's values and null markers among them.
    markers: MarkerTally,
}

/// The columns of one table over every file of a stream, with their
/// committed types.
pub struct TabularSchema {
    pub table: String,
    columns: Vec<SchemaColumn>,
    by_lower: HashMap<String, usize>,
    pins: Vec<(String, Pin)>,
    primary_key: Vec<String>,
    reading: TextReading,
}

impl TabularSchema {
    pub fn new(
        table: &str,
        pins: Vec<(String, Pin)>,
        primary_key: Vec<String>,
        reading: TextReading,
    ) -> Self {
        TabularSchema {
            table: table.to_string(),
            columns: Vec::new(),
            by_lower: HashMap::new(),
            pins,
            primary_key,
            reading,
        }
    }

    /// Restores committed types from the stored state.
    pub fn restore(&mut self, committed: &[(String, ColType)]) {
        for (name, ty) in committed {
            let i = self.column(name);
            if self.columns[i].pin.is_none() {
                self.columns[i].ty = *ty;
            }
        }
    }

    /// A warning per column inferred as text whose values this run were
    /// mostly one null marker (see [`super::markers`]); a column pinned as
    /// text is left alone.
    pub fn marker_warnings(&self, null_values: &[String]) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| c.pin.is_none() && c.ty == ColType::Str)
            .filter_map(|c| c.markers.warning(&self.table, &c.name, null_values))
            .collect()
    }

    /// The committed columns and types, for the state.
    pub fn committed(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .filter(|c| c.ty != ColType::Null)
            .map(|c| (c.name.clone(), type_name(c.ty)))
            .collect()
    }

    fn column(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_lower.get(&name.to_lowercase()) {
            return i;
        }
        let pin = self
            .pins
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| *p);
        self.columns.push(SchemaColumn {
            name: name.to_string(),
            ty: pin.map_or(ColType::Null, Pin::col_type),
            pin,
            markers: MarkerTally::default(),
        });
        self.by_lower
            .insert(name.to_lowercase(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Maps a file's header onto the table's columns: names are trimmed and
    /// made safe (NUL becomes `_`), blanks named by position, repeats and
    /// reserved names suffixed.
    pub fn header(&mut self, path: &str, raw: &[String]) -> Result<FileColumns> {
        let mut names = Vec::with_capacity(raw.len());
        let mut seen: HashMap<String, ()> = HashMap::new();
        // The next suffix to try per name: a header repeating one name
        // thousands of times stays linear, not quadratic.
        let mut next_suffix: HashMap<String, usize> = HashMap::new();
        for (i, h) in raw.iter().enumerate() {
            let base = match h.trim() {
                "" => format!("column_{}", i + 1),
                t => safe_name(t).into_owned(),
            };
            let key = base.to_lowercase();
            let mut name = base.clone();
            let mut n = next_suffix.get(&key).copied().unwrap_or(2);
            while seen.contains_key(&name.to_lowercase())
                || RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&name))
            {
                name = format!("{base}_{n}");
                n += 1;
            }
            next_suffix.insert(key, n);
            seen.insert(name.to_lowercase(), ());
            names.push(name);
        }
        for (pinned, _) in &self.pins {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(pinned)) && self.columns.is_empty() {
                return Err(CoreError::config(
                    format!("columns.{pinned}"),
                    format!(
                        "{path} has no column {pinned:?} (its columns: {})",
                        names.join(", ")
                    ),
                ));
            }
        }
        for k in &self.primary_key {
            if !names.iter().any(|n| n == k) {
                return Err(CoreError::file(
                    path,
                    format!(
                        "primary key column {k:?} is not in the header ({})",
                        names.join(", ")
                    ),
                ));
            }
        }
        let index = names.iter().map(|n| self.column(n)).collect();
        Ok(FileColumns { names, index })
    }
}

/// One file's header, mapped onto the table's columns.
pub struct FileColumns {
    pub names: Vec<String>,
    index: Vec<usize>,
}

/// A row that did not fit, kept for the quarantine table.
struct BadRow {
    line: u64,
    fields: Vec<Option<String>>,
    extra: Option<String>,
    column: Option<String>,
    reason: String,
}

/// Values of one batch, as text until the batch's types are settled.
#[derive(Default)]
struct RawColumn {
    buf: String,
    /// (start, trimmed start, trimmed end, end) per row; start == usize::MAX is null.
    spans: Vec<(usize, usize, usize, usize)>,
    seen: Option<ColType>,
    markers: MarkerTally,
}

impl RawColumn {
    /// Stores a value; `parsed` is the text its type is read from when that
    /// differs from the trimmed value (a decimal comma undone).
    fn push(&mut self, value: Option<&str>, parsed: Option<&str>) {
        match (value, parsed) {
            (None, _) => self.spans.push((usize::MAX, 0, 0, 0)),
            (Some(v), Some(p)) => {
                let start = self.buf.len();
                self.buf.push_str(v);
                let end = self.buf.len();
                self.buf.push_str(p);
                self.spans.push((start, end, self.buf.len(), end));
            }
            (Some(v), None) => {
                let start = self.buf.len();
                self.buf.push_str(v);
                let lead = v.len() - v.trim_start().len();
                let trimmed_len = v.trim().len();
                self.spans.push((
                    start,
                    start + lead,
                    start + lead + trimmed_len,
                    self.buf.len(),
                ));
            }
        }
    }

    fn trimmed(&self) -> impl Iterator<Item = Option<&str>> {
        self.spans
            .iter()
            .map(|&(s, a, b, _)| (s != usize::MAX).then(|| &self.buf[a..b]))
    }

    fn untrimmed(&self) -> impl Iterator<Item = Option<&str>> {
        self.spans
            .iter()
            .map(|&(s, _, _, e)| (s != usize::MAX).then(|| &self.buf[s..e]))
    }
}

/// Collects one file's rows into a batch.
pub struct TableBuilder {
    path: String,
    key: String,
    columns: FileColumns,
    raw: Vec<RawColumn>,
    ids: Vec<u64>,
    rows: usize,
    bad: Vec<BadRow>,
    on_bad_row: OnBadRow,
    null_values: Vec<String>,
    delimiter: char,
    key_idx: Vec<usize>,
    cells: Vec<Option<ColType>>,
    /// Per field of the current row: its text with a decimal comma undone.
    parsed: Vec<Option<String>>,
}

impl TableBuilder {
    pub fn new(
        schema: &TabularSchema,
        path: String,
        key: String,
        columns: FileColumns,
        on_bad_row: OnBadRow,
        null_values: Vec<String>,
        delimiter: char,
    ) -> Self {
        let key_idx = schema
            .primary_key
            .iter()
            .filter_map(|k| columns.names.iter().position(|n| n == k))
            .collect();
        TableBuilder {
            path,
            key,
            raw: (0..schema.columns.len())
                .map(|_| RawColumn::default())
                .collect(),
            cells: vec![None; columns.names.len()],
            parsed: vec![None; columns.names.len()],
            columns,
            ids: Vec::new(),
            rows: 0,
            bad: Vec::new(),
            on_bad_row,
            null_values,
            delimiter,
            key_idx,
        }
    }

    /// Fields a row has.
    pub fn width(&self) -> usize {
        self.columns.names.len()
    }

    /// Rows held (bad rows aside).
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn is_null(&self, trimmed: &str) -> bool {
        trimmed.is_empty() || self.null_values.iter().any(|n| n == trimmed)
    }

    /// Adds one row read at `line`. A bad row is an error or is held for
    /// quarantine, as configured.
    pub fn push(
        &mut self,
        schema: &TabularSchema,
        line: u64,
        fields: &[Option<&str>],
    ) -> Result<()> {
        let width = self.columns.names.len();
        if fields.len() != width {
            let reason = format!("expected {width} fields, found {}", fields.len());
            return self.bad_row(line, fields, None, reason);
        }
        for (i, f) in fields.iter().enumerate() {
            let col = &schema.columns[self.columns.index[i]];
            let value = f.map(str::trim).filter(|t| !self.is_null(t));
            let Some(v) = value else {
                self.cells[i] = None;
                continue;
            };
            self.parsed[i] = if schema.reading.decimal_comma {
                comma_number(v)
            } else {
                None
            };
            let v = self.parsed[i].as_deref().unwrap_or(v);
            let fitting = match col.pin {
                Some(p) => p.accepts(v).then(|| p.col_type()),
                None => {
                    let t = classify(v, schema.reading);
                    fits(col.ty, t).then_some(t)
                }
            };
            match fitting {
                Some(t) => self.cells[i] = Some(t),
                None => {
                    let expected = col.pin.map_or_else(|| type_name(col.ty), Pin::describe);
                    let name = self.columns.names[i].clone();
                    let reason = format!("value {v:?} is not a {expected}");
                    return self.bad_row(line, fields, Some(name), reason);
                }
            }
        }
        if !self.key_idx.is_empty() {
            if let Some(&k) = self.key_idx.iter().find(|&&k| self.cells[k].is_none()) {
                let name = self.columns.names[k].clone();
                let reason = "the primary key column is empty".to_string();
                return self.bad_row(line, fields, Some(name), reason);
            }
        }
        // The row fits: store it.
        let mut h = Xxh3::new();
        h.update(schema.table.as_bytes());
        let mut present = vec![false; self.raw.len()];
        for (i, f) in fields.iter().enumerate() {
            let c = self.columns.index[i];
            present[c] = true;
            let raw = &mut self.raw[c];
            match self.cells[i] {
                Some(t) => {
                    raw.seen = Some(raw.seen.map_or(t, |s| s.widen(t)));
                    raw.markers.add(f.unwrap_or_default().trim());
                    raw.push(*f, self.parsed[i].as_deref());
                    if self.key_idx.is_empty() {
                        h.update(b"\x1f");
                        h.update(self.columns.names[i].as_bytes());
                        h.update(b"=");
                        h.update(f.unwrap_or_default().trim().as_bytes());
                    }
                }
                None => raw.push(None, None),
            }
        }
        for (c, raw) in self.raw.iter_mut().enumerate() {
            if !present[c] {
                raw.push(None, None);
            }
        }
        let id = if self.key_idx.is_empty() {
            h.digest()
        } else {
            let key: Vec<Json<'_>> = self
                .key_idx
                .iter()
                .map(|&k| Json::Str(fields[k].unwrap_or_default().trim().into()))
                .collect();
            let refs: Vec<&Json<'_>> = key.iter().collect();
            ids::root_id_from_key(&schema.table, &refs)
        };
        self.ids.push(id);
        self.rows += 1;
        Ok(())
    }

    fn bad_row(
        &mut self,
        line: u64,
        fields: &[Option<&str>],
        column: Option<String>,
        reason: String,
    ) -> Result<()> {
        if self.on_bad_row == OnBadRow::Error {
            let at = match &column {
                Some(c) => format!("line {line}, column {c:?}"),
                None => format!("line {line}"),
            };
            return Err(CoreError::file(
                &self.path,
                format!(
                    "bad row at {at}: {reason} (on_bad_row=\"quarantine\" keeps such rows aside)"
                ),
            ));
        }
        let width = self.columns.names.len();
        let extra = (fields.len() > width).then(|| {
            let d = self.delimiter.to_string();
            fields[width..]
                .iter()
                .map(|f| f.unwrap_or_default())
                .collect::<Vec<_>>()
                .join(&d)
        });
        self.bad.push(BadRow {
            line,
            fields: fields
                .iter()
                .take(width)
                .map(|f| f.map(str::to_string))
                .collect(),
            extra,
            column,
            reason,
        });
        Ok(())
    }

    /// The batch as the table's frame (when it has rows) and the quarantine
    /// frame (when rows were bad); commits the batch's types to the schema.
    pub fn flush(
        &mut self,
        schema: &mut TabularSchema,
    ) -> Result<(Option<DataFrame>, Option<DataFrame>)> {
        let rows = self.rows;
        let quarantine = self.quarantine()?;
        if rows == 0 {
            return Ok((None, quarantine));
        }
        let mut cols: Vec<Column> = Vec::with_capacity(schema.columns.len() + 2);
        for (c, col) in schema.columns.iter_mut().enumerate() {
            let raw = std::mem::take(&mut self.raw[c]);
            let ty = match col.pin {
                Some(p) => p.col_type(),
                None => raw.seen.map_or(col.ty, |s| col.ty.widen(s)),
            };
            let series = if raw.spans.is_empty() {
                Series::full_null(col.name.as_str().into(), rows, &DataType::Null)
            } else {
                build_series(&col.name, ty, col.pin, raw.trimmed(), raw.untrimmed(), rows)?
            };
            col.ty = ty;
            col.markers.merge(&raw.markers);
            cols.push(series.into());
        }
        self.raw = (0..schema.columns.len())
            .map(|_| RawColumn::default())
            .collect();
        cols.push(Series::new(ID.into(), std::mem::take(&mut self.ids)).into());
        cols.push(Series::new(FILE_COLUMN.into(), vec![self.key.as_str(); rows]).into());
        self.rows = 0;
        Ok((Some(DataFrame::new(rows, cols)?), quarantine))
    }

    fn quarantine(&mut self) -> Result<Option<DataFrame>> {
        if self.bad.is_empty() {
            return Ok(None);
        }
        let bad = std::mem::take(&mut self.bad);
        let n = bad.len();
        let mut cols: Vec<Column> = Vec::new();
        for (i, name) in self.columns.names.iter().enumerate() {
            let v: Vec<Option<&str>> = bad
                .iter()
                .map(|b| b.fields.get(i).and_then(|f| f.as_deref()))
                .collect();
            cols.push(Series::new(name.as_str().into(), v).into());
        }
        let extra: Vec<Option<&str>> = bad.iter().map(|b| b.extra.as_deref()).collect();
        cols.push(Series::new("_tf_extra".into(), extra).into());
        cols.push(Series::new(FILE_COLUMN.into(), vec![self.key.as_str(); n]).into());
        let lines: Vec<i64> = bad.iter().map(|b| b.line as i64).collect();
        cols.push(Series::new("_tf_line".into(), lines).into());
        let column: Vec<Option<&str>> = bad.iter().map(|b| b.column.as_deref()).collect();
        cols.push(Series::new("_tf_column".into(), column).into());
        let reason: Vec<&str> = bad.iter().map(|b| b.reason.as_str()).collect();
        cols.push(Series::new("_tf_reason".into(), reason).into());
        Ok(Some(DataFrame::new(n, cols)?))
    }
}
