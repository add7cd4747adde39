//! File sources: CSV, NDJSON and JSON (gzip or not), Parquet and Excel,
//! from one path or a glob, in batches of rows.
//!
//! A batch holds rows of one file only, and carries the resource's state:
//! one entry per file (see [`listing`]) and the committed column types.
//! Committed with the batch, that state lets a rerun load only new and
//! changed files, and resume a file after its last committed row.
//!
//! Every row carries the file it came from in `_tf_file`. When a file is
//! loaded from its first row (new, or changed since it was loaded), the
//! batch asks for the rows earlier loads took from it to be deleted in the
//! same transaction, so a changed file replaces its rows, whatever the
//! write mode, and never duplicates them.

pub mod archive;
pub mod cells;
pub mod csv;
pub mod listing;
pub mod markers;
pub mod parallel;
pub mod parquet;
pub mod read_ahead;
pub mod records;
pub mod tabular;
pub mod text;
pub mod xlsx;

use std::collections::VecDeque;
use std::path::Path;

use polars::prelude::DataFrame;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::normalize::NormalizeOptions;
use cells::{parse_type_name, Pin, TextReading};
use listing::{FileState, Planned};
use tabular::{OnBadRow, TabularSchema};

pub use tabular::FILE_COLUMN;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Ndjson,
    Json,
    Parquet,
    Xlsx,
}

impl Format {
    /// The format a file's extension names (`.csv.gz` is CSV).
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        let name = strip_compression(&lower);
        let ext = Path::new(name).extension()?.to_str()?;
        Some(match ext {
            "csv" | "tsv" | "txt" => Format::Csv,
            "ndjson" | "jsonl" => Format::Ndjson,
            "json" => Format::Json,
            "parquet" | "pq" => Format::Parquet,
            "xlsx" | "xlsm" => Format::Xlsx,
            _ => return None,
        })
    }

    fn tabular(self) -> bool {
        matches!(self, Format::Csv | Format::Xlsx)
    }
}

/// The texts a CSV field is null as, unless `null_values` says otherwise
/// (an empty field always is): the markers spreadsheets, R, pandas and
/// databases write for a missing value. Left out on purpose: `None`, `-`
/// and `?`, which are words or values as often as they are markers, and
/// `NaN`, which stays a double's NaN in a numeric column (as DuckDB and
/// polars read it); a text column that is mostly one of them is warned
/// about instead (see [`markers`]). `NA` is also Namibia's country code: a
/// column of country codes wants `null_values=[]`.
pub const DEFAULT_NULL_VALUES: &[&str] = &["NA", "N/A", "n/a", "#N/A", "NULL", "null"];

/// A file name less its compression suffix (`.gz`, `.bz2`, `.xz`, `.zst`).
pub fn strip_compression(name: &str) -> &str {
    for suffix in [".gz", ".bz2", ".xz", ".zst"] {
        if let Some(stem) = name.strip_suffix(suffix) {
            return stem;
        }
    }
    name
}

fn yes() -> bool {
    true
}

fn default_batch_size() -> usize {
    50_000
}

/// A file resource, as `tillflow.sources.files` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    /// The resource, and its root table.
    pub name: String,
    /// A file, or a glob over many (`exports/orders-*.csv`).
    pub path: String,
    /// Taken from each file's extension when not given.
    pub format: Option<Format>,
    /// CSV: one character; detected (`,` `;` tab `|`) when not given.
    pub delimiter: Option<String>,
    /// Text files: detected (BOM, UTF-8, else a legacy code page) when not given.
    pub encoding: Option<String>,
    /// CSV and Excel: the first row names the columns.
    #[serde(default = "yes")]
    pub header: bool,
    /// CSV and Excel: rows above the header to pass over.
    #[serde(default)]
    pub skip_rows: usize,
    /// Excel: a sheet name or number (from 0); the first sheet by default.
    pub sheet: Option<Value>,
    /// CSV and Excel: pinned column types, `{"amount": "decimal(18,2)"}`.
    #[serde(default)]
    pub columns: serde_json::Map<String, Value>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub on_bad_row: OnBadRow,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// CSV and Excel: `","` reads `1.234,56` as 1234.56 (European exports).
    pub decimal: Option<String>,
    /// CSV: texts read as null besides the empty one; `None` for
    /// [`DEFAULT_NULL_VALUES`].
    #[serde(default)]
    pub null_values: Option<Vec<String>>,
    /// How JSON records are normalized, and how text is inferred.
    #[serde(default)]
    pub normalize: NormalizeOptions,
}

impl FileOptions {
    pub fn from_json(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            CoreError::config(
                if path == "." { "files".into() } else { path },
                e.inner().to_string(),
            )
        })
    }

    pub fn encoding(&self) -> Result<Option<&'static encoding_rs::Encoding>> {
        self.encoding
            .as_deref()
            .map(text::encoding_for_label)
            .transpose()
    }

    pub fn delimiter(&self) -> Result<Option<u8>> {
        let Some(d) = self.delimiter.as_deref() else {
            return Ok(None);
        };
        let d = match d {
            "\\t" | "tab" => "\t",
            other => other,
        };
        match d.as_bytes() {
            [c] if c.is_ascii() && !matches!(c, b'"' | b'\n' | b'\r') => Ok(Some(*c)),
            _ => Err(CoreError::config(
                "delimiter",
                format!(
                    "must be one ASCII character such as \",\", \";\", \"\\t\" or \"|\", got {d:?}"
                ),
            )),
        }
    }

    fn pins(&self) -> Result<Vec<(String, Pin)>> {
        self.columns
            .iter()
            .map(|(name, ty)| match ty {
                Value::String(t) => Ok((name.clone(), Pin::parse(name, t)?)),
                other => Err(CoreError::config(
                    format!("columns.{name}"),
                    format!("must be a type name such as \"decimal(18,2)\", got {other}"),
                )),
            })
            .collect()
    }

    fn validate(&self) -> Result<()> {
        if self.name.is_empty() {
            return Err(CoreError::config("name", "must not be empty"));
        }
        if self.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        self.normalize.validate()?;
        self.encoding()?;
        self.delimiter()?;
        self.pins()?;
        if !matches!(self.decimal.as_deref(), None | Some(".") | Some(",")) {
            let got = self.decimal.as_deref().unwrap_or_default();
            return Err(CoreError::config(
                "decimal",
                format!("must be \".\" or \",\", got {got:?}"),
            ));
        }
        Ok(())
    }

    /// The texts a CSV field is null as, besides the empty one.
    pub fn null_values(&self) -> Vec<String> {
        match &self.null_values {
            Some(given) => given.clone(),
            None => DEFAULT_NULL_VALUES.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn format_of(&self, input: &text::Input) -> Result<Format> {
        let shown = input.shown();
        let name = input.name();
        let format = match self.format {
            Some(f) => f,
            None => Format::from_path(&name).ok_or_else(|| {
                CoreError::file(
                    &shown,
                    "cannot tell the format from the extension; set format= to csv, ndjson, json, parquet or xlsx",
                )
            })?,
        };
        if !format.tabular() && !self.columns.is_empty() {
            return Err(CoreError::config(
                "columns",
                format!(
                    "column types apply to CSV and Excel files, and {shown} is read as {format:?}"
                ),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if matches!(format, Format::Parquet | Format::Xlsx) && strip_compression(&lower) != lower {
            return Err(CoreError::file(
                &shown,
                "gzip, bzip2, xz and zstd apply to CSV, NDJSON and JSON files only",
            ));
        }
        if matches!(format, Format::Parquet | Format::Xlsx) && input.member.is_some() {
            return Err(CoreError::file(
                &shown,
                "a zip archive's CSV, NDJSON and JSON members are read in place; unzip Parquet and Excel files first",
            ));
        }
        Ok(format)
    }
}

/// One batch of a file: its tables (root first), rows held back as bad, and
/// the state to commit with them.
#[derive(Debug)]
pub struct FileBatch {
    pub tables: Vec<(String, DataFrame)>,
    pub quarantine: Vec<(String, DataFrame)>,
    /// Data rows (records) of the file this batch consumed, bad ones included.
    pub records: usize,
    /// The resource's state after this batch, as JSON.
    pub state: String,
    /// `_tf_file` values whose earlier rows this batch replaces.
    pub replaces: Vec<String>,
    /// The file the batch came from (its key).
    pub file: Option<String>,
    /// The file's encoding, for text files.
    pub encoding: Option<&'static str>,
}

enum Reader {
    Tabular(csv::TabularFile),
    Records(records::RecordFile),
    Flat(parquet::ParquetFile),
}

struct Current {
    planned: Planned,
    reader: Reader,
    first: bool,
    encoding: Option<&'static str>,
    /// Every chunk of a record file was handed to the workers.
    read_all: bool,
    /// Reading the file failed after the chunks in flight: the error comes
    /// after their batches, as it would on one thread.
    failed: Option<CoreError>,
    /// The file's hash, taken as it is read (its entry has none yet).
    hash: Option<listing::ReadHash>,
}

/// Batches over every file a resource names.
pub struct FileStream {
    opts: FileOptions,
    todo: VecDeque<Planned>,
    state: FileState,
    /// The state changed without a batch to carry it yet.
    dirty: bool,
    current: Option<Current>,
    tabular: TabularSchema,
    /// Record files' normalizer workers, started with the first such file.
    workers: Option<parallel::Workers>,
    /// A record batch was handed out: the stream's first chunk is
    /// normalized alone, so its columns come in the file's order.
    records_out: bool,
}

impl FileStream {
    /// Lists the files and plans the run against the stored state (JSON, or
    /// None on a first run or a full refresh).
    pub fn open(opts: FileOptions, stored: Option<&str>) -> Result<Self> {
        opts.validate()?;
        let stored: FileState = match stored {
            None => FileState::default(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                CoreError::config(
                    "state",
                    format!("the stored state of {} is not a file state: {e}", opts.name),
                )
            })?,
        };
        let files = listing::list(&opts.path)?;
        for f in &files {
            opts.format_of(&f.input())?;
        }
        // Text files are read front to back, so their hash is taken then.
        let streamed = |f: &listing::Listed| {
            f.member.is_none()
                && matches!(
                    opts.format_of(&f.input()),
                    Ok(Format::Csv | Format::Ndjson | Format::Json)
                )
        };
        let (todo, state, dirty) = listing::plan(files, &stored, streamed)?;
        let reading = TextReading {
            timestamps: opts.normalize.parse_timestamps,
            numeric: opts.normalize.numeric_strings,
            decimal_comma: opts.decimal.as_deref() == Some(","),
        };
        let mut tabular =
            TabularSchema::new(&opts.name, opts.pins()?, opts.primary_key.clone(), reading);
        let committed: Vec<_> = state
            .columns
            .iter()
            .filter_map(|(n, t)| parse_type_name(t).map(|t| (n.clone(), t)))
            .collect();
        tabular.restore(&committed);
        Ok(FileStream {
            opts,
            todo: todo.into(),
            state,
            dirty,
            current: None,
            tabular,
            workers: None,
            records_out: false,
        })
    }

    /// What the load summary should say of the data read so far: a text
    /// column that is mostly one null marker (see [`markers`]).
    pub fn warnings(&self) -> Vec<String> {
        self.tabular.marker_warnings(&self.opts.null_values())
    }

    /// Files this run loads (new, changed, or interrupted), by key.
    pub fn pending_files(&self) -> Vec<String> {
        self.todo.iter().map(|p| p.listed.key.clone()).collect()
    }

    fn open_file(&mut self, planned: Planned) -> Result<Current> {
        let path = planned.listed.path.clone();
        let key = planned.listed.key.clone();
        let shown = path.display().to_string();
        let mut input = planned.listed.input();
        let hash = planned
            .entry
            .hash
            .is_empty()
            .then(listing::ReadHash::default);
        input.hash = hash.clone();
        let format = self.opts.format_of(&input)?;
        let on_bad = self.opts.on_bad_row;
        let (mut reader, encoding) = match format {
            Format::Csv => {
                let f = csv::open_csv(&input, &key, &self.opts, &mut self.tabular)?;
                let enc = f.encoding;
                (Reader::Tabular(f), Some(enc))
            }
            Format::Xlsx => (
                Reader::Tabular(xlsx::open_xlsx(&path, &key, &self.opts, &mut self.tabular)?),
                None,
            ),
            Format::Ndjson | Format::Json => {
                let (src, enc) =
                    records::open_json(&input, format == Format::Ndjson, self.opts.encoding()?)?;
                let file = records::RecordFile::new(Box::new(src), shown, key, on_bad, enc);
                (Reader::Records(file), Some(enc))
            }
            Format::Parquet => {
                let p = parquet::open_parquet(&path)?;
                if p.nested {
                    let file = records::RecordFile::new(Box::new(p), shown, key, on_bad, "parquet");
                    (Reader::Records(file), None)
                } else {
                    (Reader::Flat(p), None)
                }
            }
        };
        let skip = planned.entry.rows;
        if skip > 0 {
            let skipped = match &mut reader {
                Reader::Tabular(t) => t.skip(skip)?,
                Reader::Records(r) => r.skip(skip)?,
                Reader::Flat(p) => p.skip(skip)?,
            };
            if skipped < skip {
                return Err(CoreError::file(
                    planned.listed.path.display().to_string(),
                    format!("has {skipped} rows, fewer than the {skip} already loaded, yet the same size and time"),
                ));
            }
        }
        Ok(Current {
            first: true,
            planned,
            reader,
            encoding,
            read_all: false,
            failed: None,
            hash,
        })
    }

    fn state_json(&self) -> Result<String> {
        serde_json::to_string(&self.state).map_err(|e| CoreError::Internal(format!("state: {e}")))
    }

    /// The next batch of a record file: chunks are read ahead, up to one
    /// per worker, and their batches taken back in order.
    fn next_records(
        &mut self,
        file: &mut records::RecordFile,
        read_all: &mut bool,
        failed: &mut Option<CoreError>,
        max: usize,
    ) -> Result<records::RecordBatch> {
        let workers = match &mut self.workers {
            Some(w) => w,
            None => self.workers.insert(parallel::Workers::start(
                &self.opts.name,
                &self.opts.primary_key,
                &self.opts.normalize,
                crate::normalize::workers(),
            )?),
        };
        let depth = if self.records_out { workers.lanes() } else { 1 };
        while !*read_all && workers.in_flight() < depth {
            match file.read_chunk(max) {
                Ok(chunk) => {
                    *read_all = chunk.done();
                    workers.submit(chunk)?;
                }
                Err(e) => {
                    *read_all = true;
                    *failed = Some(e);
                }
            }
        }
        if workers.in_flight() == 0 {
            return Err(failed.take().unwrap_or_else(|| {
                CoreError::Internal("a record file ended without its last batch".into())
            }));
        }
        let batch = workers.take()?;
        self.records_out = true;
        Ok(batch)
    }

    /// The next batch; `None` once every file is loaded.
    pub fn next_batch(&mut self) -> Result<Option<FileBatch>> {
        let cur = match self.current.take() {
            Some(c) => c,
            None => match self.todo.pop_front() {
                Some(p) => self.open_file(p)?,
                None => {
                    if !self.dirty {
                        return Ok(None);
                    }
                    self.dirty = false;
                    return Ok(Some(FileBatch {
                        tables: Vec::new(),
                        quarantine: Vec::new(),
                        records: 0,
                        state: self.state_json()?,
                        replaces: Vec::new(),
                        file: None,
                        encoding: None,
                    }));
                }
            },
        };
        let mut cur = cur;
        let max = self.opts.batch_size;
        let name = self.opts.name.clone();
        let quarantine_name = format!("{name}__quarantine");
        let key = cur.planned.listed.key.clone();
        let (tables, quarantine, consumed, done) = match &mut cur.reader {
            Reader::Tabular(t) => {
                let b = t.next_batch(&mut self.tabular, max)?;
                self.state.columns = self.tabular.committed();
                let tables = b
                    .table
                    .map(|df| vec![(name.clone(), df)])
                    .unwrap_or_default();
                (tables, b.quarantine, b.consumed, b.done)
            }
            Reader::Records(r) => {
                let b = self.next_records(r, &mut cur.read_all, &mut cur.failed, max)?;
                (b.tables, b.quarantine, b.consumed, b.done)
            }
            Reader::Flat(p) => {
                let df = p.next_flat(&name, &key, &self.opts.primary_key, max)?;
                let n = df.as_ref().map_or(0, |d| d.height() as u64);
                let tables = df.map(|d| vec![(name.clone(), d)]).unwrap_or_default();
                (tables, None, n, p.done())
            }
        };
        cur.planned.entry.rows += consumed;
        cur.planned.entry.done = done;
        if done {
            if let Some(h) = &cur.hash {
                let listed = &cur.planned.listed;
                cur.planned.entry.hash = h.finish(&listed.path, listed.size)?;
            }
        }
        self.state
            .files
            .insert(key.clone(), cur.planned.entry.clone());
        self.dirty = false;
        let replaces = if cur.first && cur.planned.fresh {
            vec![key.clone()]
        } else {
            Vec::new()
        };
        cur.first = false;
        let batch = FileBatch {
            tables,
            quarantine: quarantine
                .map(|q| vec![(quarantine_name, q)])
                .unwrap_or_default(),
            records: consumed as usize,
            state: self.state_json()?,
            replaces,
            file: Some(key),
            encoding: cur.encoding,
        };
        if !done {
            self.current = Some(cur);
        }
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests;
