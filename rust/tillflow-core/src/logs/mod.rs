//! Web and server logs as a source: every file a glob names (rotated and
//! gzipped ones included), read incrementally from where the last run
//! stopped, in batches of lines.
//!
//! Lines are parsed natively ([`parse`]): the Common and Combined Log
//! Formats, JSON lines (normalized like API records), or a regex with named
//! groups. A line that does not parse goes to `<name>__quarantine` with its
//! file and text (or is skipped, or stops the run, as `on_bad_line` says).
//! Each batch commits the position of every file with its rows ([`tail`]),
//! so a rerun, or a run after a crash, reads every line exactly once.

pub mod parse;
pub mod tail;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};

use polars::prelude::*;
use serde::Deserialize;

use crate::error::{CoreError, Result};
use crate::normalize::{NormalizeOptions, Normalizer};
use parse::{Columns, LineFormat};
use tail::{Planned, TailState};

fn default_format() -> String {
    "combined".into()
}

fn default_batch_size() -> usize {
    100_000
}

/// What to do with a line that does not parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadLine {
    #[default]
    Quarantine,
    Skip,
    Error,
}

/// A log resource, as `tillflow.sources.logs` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogOptions {
    /// The resource, and its table.
    pub name: String,
    /// A file or a glob (`/var/log/nginx/access.log*`).
    pub path: String,
    /// `combined`, `common`, `json` or `regex`.
    #[serde(default = "default_format")]
    pub format: String,
    /// For `regex`: named groups become columns.
    pub pattern: Option<String>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default)]
    pub on_bad_line: OnBadLine,
    /// How JSON lines are normalized.
    #[serde(default)]
    pub normalize: NormalizeOptions,
}

impl LogOptions {
    pub fn from_json(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let opts: LogOptions = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            CoreError::config(
                if path == "." { "logs".into() } else { path },
                e.inner().to_string(),
            )
        })?;
        if opts.name.is_empty() {
            return Err(CoreError::config("name", "must not be empty"));
        }
        if opts.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        opts.normalize.validate()?;
        Ok(opts)
    }
}

/// One batch: the table's rows, the lines held back, and the state to commit with them.
#[derive(Debug)]
pub struct LogBatch {
    pub tables: Vec<(String, DataFrame)>,
    pub quarantine: Vec<(String, DataFrame)>,
    /// Lines this batch consumed, bad ones included.
    pub records: usize,
    pub state: String,
}

enum Lines {
    Parsed(Box<Columns>),
    Json(Box<Normalizer>),
}

struct Reading {
    index: usize,
    reader: BufReader<Box<dyn Read + Send>>,
    compressed: bool,
    offset: u64,
}

/// Batches over every log file of a resource.
pub struct LogStream {
    opts: LogOptions,
    format: Option<LineFormat>,
    planned: Vec<Planned>,
    todo: VecDeque<usize>,
    state: TailState,
    committed: TailState,
    current: Option<Reading>,
    lines: Lines,
    bad: Vec<(String, String)>,
    consumed: usize,
    line: Vec<u8>,
}

impl LogStream {
    /// Finds the files and matches them to the stored state (JSON, or None
    /// on a first run or a full refresh).
    pub fn open(opts: LogOptions, stored: Option<&str>) -> Result<Self> {
        let format = match opts.format.as_str() {
            "json" if opts.pattern.is_none() => None,
            name => Some(LineFormat::parse(name, opts.pattern.as_deref())?),
        };
        let committed: TailState = match stored {
            None => TailState::default(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                CoreError::config(
                    "state",
                    format!(
                        "the stored state of {} is not a log position: {e}",
                        opts.name
                    ),
                )
            })?,
        };
        let planned = tail::plan(tail::find(&opts.path)?, &committed);
        let state = TailState {
            files: planned
                .iter()
                .map(|p| tail::position(&p.found, p.offset))
                .collect(),
        };
        let lines = match &format {
            Some(f) => Lines::Parsed(Box::new(Columns::new(f, 1024))),
            None => Lines::Json(Box::new(Normalizer::new(
                &opts.name,
                vec![],
                &opts.normalize,
            ))),
        };
        Ok(LogStream {
            todo: (0..planned.len()).collect(),
            planned,
            format,
            state,
            committed,
            current: None,
            lines,
            bad: Vec::new(),
            consumed: 0,
            line: Vec::new(),
            opts,
        })
    }

    /// Files this run reads, with the offset each starts from.
    pub fn pending_files(&self) -> Vec<(String, u64)> {
        self.planned
            .iter()
            .map(|p| (p.found.path.display().to_string(), p.offset))
            .collect()
    }

    /// The next batch, or None when every file is read to its end.
    pub fn next_batch(&mut self) -> Result<Option<LogBatch>> {
        loop {
            if self.current.is_none() {
                let Some(index) = self.todo.pop_front() else {
                    if self.consumed > 0 || self.state != self.committed {
                        return self.emit().map(Some);
                    }
                    return Ok(None);
                };
                let p = &self.planned[index];
                self.current = Some(Reading {
                    index,
                    reader: BufReader::with_capacity(
                        1 << 20,
                        tail::open(&p.found.path, p.found.compressed, p.offset)?,
                    ),
                    compressed: p.found.compressed,
                    offset: p.offset,
                });
            }
            if self.read_some()? {
                return self.emit().map(Some);
            }
        }
    }

    /// Reads lines of the current file until a batch is full (true) or the
    /// file is read (false, and the next file is due).
    fn read_some(&mut self) -> Result<bool> {
        let Some(reading) = self.current.as_mut() else {
            return Ok(false);
        };
        let shown = self.planned[reading.index].found.path.display().to_string();
        loop {
            if self.consumed >= self.opts.batch_size {
                self.state.files[reading.index].offset = reading.offset;
                return Ok(true);
            }
            self.line.clear();
            let n = reading
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| CoreError::file(&shown, e.to_string()))?;
            let complete = self.line.last() == Some(&b'\n');
            if n == 0 || (!complete && !reading.compressed) {
                // The end, or a last line still being written: it waits for the next run.
                self.state.files[reading.index].offset = reading.offset;
                self.current = None;
                return Ok(false);
            }
            reading.offset += n as u64;
            let mut text: &[u8] = &self.line;
            while let [head @ .., b'\n' | b'\r'] = text {
                text = head;
            }
            if text.is_empty() {
                continue;
            }
            self.consumed += 1;
            let ok = match &mut self.lines {
                Lines::Parsed(cols) => cols.push(text),
                Lines::Json(norm) => match serde_json::from_slice::<serde_json::Value>(text) {
                    Ok(v @ serde_json::Value::Object(_)) => norm.push(&v).is_ok(),
                    _ => false,
                },
            };
            if !ok {
                let raw = String::from_utf8_lossy(text).into_owned();
                match self.opts.on_bad_line {
                    OnBadLine::Skip => {}
                    OnBadLine::Quarantine => self.bad.push((shown.clone(), raw)),
                    OnBadLine::Error => {
                        let shown_line: String = raw.chars().take(200).collect();
                        return Err(CoreError::file(
                            &shown,
                            format!(
                                "a line does not parse as {}: {shown_line:?}",
                                self.opts.format
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn emit(&mut self) -> Result<LogBatch> {
        let tables = match &mut self.lines {
            Lines::Parsed(cols) => {
                let format = self.format.as_ref().expect("parsed lines have a format");
                let frame = cols.finish(format, 1024)?;
                vec![(self.opts.name.clone(), frame)]
            }
            Lines::Json(norm) => {
                if norm.pending() > 0 {
                    norm.flush()?
                } else {
                    vec![]
                }
            }
        };
        let mut quarantine = vec![];
        if !self.bad.is_empty() {
            let (files, lines): (Vec<String>, Vec<String>) =
                std::mem::take(&mut self.bad).into_iter().unzip();
            let frame = DataFrame::new_infer_height(vec![
                Column::new("_tf_file".into(), files),
                Column::new("line".into(), lines),
            ])?;
            quarantine.push((format!("{}__quarantine", self.opts.name), frame));
        }
        let state = serde_json::to_string(&self.state)
            .map_err(|e| CoreError::Internal(format!("log state: {e}")))?;
        self.committed = self.state.clone();
        let records = std::mem::take(&mut self.consumed);
        Ok(LogBatch {
            tables: tables.into_iter().filter(|(_, f)| f.height() > 0).collect(),
            quarantine,
            records,
            state,
        })
    }
}
