//! Parquet files, one row group in memory at a time.
//!
//! A flat file keeps its column types (narrow integers and floats widened
//! to 64 bits, timestamps to microseconds in UTC, as the normalizer's
//! columns are). A file with list or struct columns is read as records:
//! each row goes through the normalizer like an API record, so lists become
//! child tables and structs `parent__child` columns.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::records::{Record, RecordSource};
use super::tabular::FILE_COLUMN;
use crate::error::{CoreError, Result};
use crate::normalize::{safe_name, Json, ID};

pub struct ParquetFile {
    path: std::path::PathBuf,
    shown: String,
    /// (first row, rows) of each row group.
    groups: Vec<(usize, usize)>,
    next_group: usize,
    current: Option<DataFrame>,
    offset: usize,
    pub nested: bool,
    /// Rows handed out so far (the line of a nested record).
    position: u64,
}

fn err(shown: &str, e: impl std::fmt::Display) -> CoreError {
    CoreError::file(shown, format!("not a readable Parquet file: {e}"))
}

pub fn open_parquet(path: &Path) -> Result<ParquetFile> {
    let shown = path.display().to_string();
    let file =
        File::open(path).map_err(|e| CoreError::file(&shown, format!("cannot read: {e}")))?;
    let mut reader = ParquetReader::new(file);
    let schema = reader.schema().map_err(|e| err(&shown, e))?;
    let nested = schema.iter_values().any(|f| {
        matches!(
            DataType::from_arrow_field(f),
            DataType::List(_) | DataType::Struct(_)
        )
    });
    let meta = reader.get_metadata().map_err(|e| err(&shown, e))?;
    let mut groups = Vec::with_capacity(meta.row_groups.len());
    let mut start = 0;
    for g in &meta.row_groups {
        groups.push((start, g.num_rows()));
        start += g.num_rows();
    }
    Ok(ParquetFile {
        path: path.to_path_buf(),
        shown,
        groups,
        next_group: 0,
        current: None,
        offset: 0,
        nested,
        position: 0,
    })
}

impl ParquetFile {
    fn load_group(&mut self) -> Result<bool> {
        let Some(&(start, rows)) = self.groups.get(self.next_group) else {
            return Ok(false);
        };
        self.next_group += 1;
        let file = File::open(&self.path)
            .map_err(|e| CoreError::file(&self.shown, format!("cannot read: {e}")))?;
        let df = ParquetReader::new(file)
            .with_slice(Some((start, rows)))
            .finish()
            .map_err(|e| err(&self.shown, e))?;
        self.current = Some(df);
        self.offset = 0;
        Ok(true)
    }

    /// Passes over `n` rows already committed by an earlier run.
    pub fn skip(&mut self, n: u64) -> Result<u64> {
        let n = n as usize;
        while let Some(&(start, rows)) = self.groups.get(self.next_group) {
            if start + rows > n {
                break;
            }
            self.next_group += 1;
        }
        let skipped = self
            .groups
            .get(self.next_group)
            .map_or(n, |&(start, _)| start);
        self.position = skipped as u64;
        if skipped < n && self.load_group()? {
            self.offset = n - skipped;
            self.position = n as u64;
        }
        Ok(self.position)
    }

    /// Up to `max` rows; None at the end.
    fn take(&mut self, max: usize) -> Result<Option<DataFrame>> {
        loop {
            if let Some(df) = &self.current {
                if self.offset < df.height() {
                    let out = df.slice(self.offset as i64, max);
                    self.offset += out.height();
                    self.position += out.height() as u64;
                    return Ok(Some(out));
                }
            }
            self.current = None;
            if !self.load_group()? {
                return Ok(None);
            }
        }
    }

    pub fn done(&self) -> bool {
        let in_current = self
            .current
            .as_ref()
            .is_some_and(|df| self.offset < df.height());
        !in_current
            && self.groups[self.next_group..]
                .iter()
                .all(|&(_, rows)| rows == 0)
    }

    /// The next batch of a flat file, in the normalizer's column types.
    /// Rows are identified by their key, or else by their place in the file.
    pub fn next_flat(
        &mut self,
        table: &str,
        key: &str,
        primary_key: &[String],
        max: usize,
    ) -> Result<Option<DataFrame>> {
        let first = self.position;
        let Some(df) = self.take(max)? else {
            return Ok(None);
        };
        let n = df.height();
        let mut cols: Vec<Column> = Vec::with_capacity(df.width() + 2);
        // Names as the normalizer gives them: safe, and unique once case is ignored.
        let mut taken = std::collections::HashSet::new();
        for c in df.columns() {
            let mut s = widen(c.as_materialized_series()).map_err(|e| err(&self.shown, e))?;
            let base = safe_name(s.name()).into_owned();
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.to_lowercase()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            if name != s.name().as_str() {
                s.rename(name.into());
            }
            cols.push(s.into());
        }
        let key_cols = primary_key
            .iter()
            .map(|k| {
                df.column(k).map_err(|_| {
                    CoreError::file(
                        &self.shown,
                        format!("primary key column {k:?} is not in the file"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let id = if key_cols.is_empty() {
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                h.update(table.as_bytes());
                h.update(b"\x1f");
                h.update(key.as_bytes());
                h.update(&(first + i as u64).to_le_bytes());
                h.digest()
            } else {
                let vals: Vec<Json<'static>> = key_cols
                    .iter()
                    .map(|c| c.get(i).map(|v| to_json(&v)).unwrap_or(Json::Null))
                    .collect();
                if let Some(j) = vals.iter().position(Json::is_null) {
                    return Err(CoreError::file(
                        &self.shown,
                        format!(
                            "row {}: primary key column {:?} is null",
                            first + i as u64 + 1,
                            primary_key[j]
                        ),
                    ));
                }
                let refs: Vec<&Json<'_>> = vals.iter().collect();
                crate::normalize::ids::root_id_from_key(table, &refs)
            };
            ids.push(id);
        }
        cols.push(Series::new(ID.into(), ids).into());
        cols.push(Series::new(FILE_COLUMN.into(), vec![key; n]).into());
        Ok(Some(DataFrame::new(n, cols)?))
    }
}

/// Rows of a nested file as records.
impl RecordSource for ParquetFile {
    fn next_record(&mut self) -> Result<Option<(u64, Record)>> {
        let Some(df) = self.take(1)? else {
            return Ok(None);
        };
        let line = self.position;
        let fields = df
            .columns()
            .iter()
            .map(|c| {
                let v = c.get(0).map(|v| to_json(&v)).unwrap_or(Json::Null);
                (std::borrow::Cow::Owned(c.name().to_string()), v)
            })
            .collect();
        Ok(Some((line, Record::Built(Json::Obj(fields)))))
    }
}

/// A flat column in the normalizer's types.
fn widen(s: &Series) -> PolarsResult<Series> {
    Ok(match s.dtype() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => s.cast(&DataType::Int64)?,
        DataType::Float32 => s.cast(&DataType::Float64)?,
        DataType::Datetime(unit, _) => {
            let per_us = match unit {
                TimeUnit::Nanoseconds => 1000,
                TimeUnit::Microseconds => 1,
                TimeUnit::Milliseconds => -1000,
            };
            let phys = s.to_physical_repr().into_owned();
            let raw = phys.i64()?;
            let us: Int64Chunked = if per_us > 1 {
                raw.apply_values(|v| v.div_euclid(per_us))
            } else if per_us < 0 {
                raw.apply_values(|v| v * -per_us)
            } else {
                raw.clone()
            };
            us.into_series()
                .with_name(s.name().clone())
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        }
        _ => s.clone(),
    })
}

/// A value of a nested file as the JSON an API would send: decimals and
/// times as text (the normalizer reads them back as decimals and times).
fn to_json(v: &AnyValue<'_>) -> Json<'static> {
    use std::borrow::Cow::Owned;
    match v {
        AnyValue::Null => Json::Null,
        AnyValue::Boolean(b) => Json::Bool(*b),
        AnyValue::Int8(i) => Json::Int(*i as i64),
        AnyValue::Int16(i) => Json::Int(*i as i64),
        AnyValue::Int32(i) => Json::Int(*i as i64),
        AnyValue::Int64(i) => Json::Int(*i),
        AnyValue::UInt8(i) => Json::Int(*i as i64),
        AnyValue::UInt16(i) => Json::Int(*i as i64),
        AnyValue::UInt32(i) => Json::Int(*i as i64),
        AnyValue::UInt64(u) => i64::try_from(*u).map_or(Json::UInt(*u), Json::Int),
        AnyValue::Float32(f) => Json::Float(*f as f64),
        AnyValue::Float64(f) => Json::Float(*f),
        AnyValue::String(s) => Json::Str(Owned(s.to_string())),
        AnyValue::StringOwned(s) => Json::Str(Owned(s.to_string())),
        AnyValue::List(s) => Json::Arr(s.iter().map(|v| to_json(&v)).collect()),
        AnyValue::Struct(..) => Json::Obj(
            v._iter_struct_av()
                .zip(struct_fields(v))
                .map(|(x, name)| (Owned(name), to_json(&x)))
                .collect(),
        ),
        AnyValue::StructOwned(b) => Json::Obj(
            b.0.iter()
                .zip(&b.1)
                .map(|(x, f)| (Owned(f.name().to_string()), to_json(x)))
                .collect(),
        ),
        AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => {
            let us = match unit {
                TimeUnit::Nanoseconds => v.div_euclid(1000),
                TimeUnit::Microseconds => *v,
                TimeUnit::Milliseconds => v.saturating_mul(1000),
            };
            chrono::DateTime::from_timestamp_micros(us).map_or(Json::Null, |t| {
                Json::Str(Owned(
                    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ))
            })
        }
        AnyValue::Binary(b) => Json::Str(Owned(base64_text(b))),
        AnyValue::BinaryOwned(b) => Json::Str(Owned(base64_text(b))),
        // Dates, times and decimals as their text.
        other => Json::Str(Owned(other.to_string().trim_matches('"').to_string())),
    }
}

fn base64_text(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn struct_fields(v: &AnyValue<'_>) -> Vec<String> {
    match v {
        AnyValue::Struct(_, _, fields) => fields.iter().map(|f| f.name().to_string()).collect(),
        _ => Vec::new(),
    }
}
