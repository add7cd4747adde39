//! Singer taps as a source: a tap's stdout (SCHEMA, RECORD, STATE,
//! ACTIVATE_VERSION and the Meltano SDK's BATCH messages) read natively,
//! each stream normalized into its own tables with the column types its
//! SCHEMA declares.
//!
//! Batches end at a STATE message: the rows of a batch are exactly those the
//! tap sent before the state it carries, so committing the two together
//! means a rerun from that state neither loses nor repeats a row. A batch
//! ends at the first STATE after `batch_size` records (a tap that sends a
//! state after every record does not cost a transaction per record), and
//! at the end of the output. Only a tap that sends `max_pending` records
//! without any STATE gets a batch cut between states, with the last state
//! it did send.
//!
//! When the tap fails (a non-zero exit, a line that is not a message, a
//! RECORD before its SCHEMA) the rows up to its last STATE still come as a
//! batch, and then the error, with the tap's last stderr lines.

mod messages;
mod process;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use polars::prelude::DataFrame;
use serde::Deserialize;

use crate::error::{CoreError, Result};
use crate::files::parquet::open_parquet;
use crate::files::records::{open_json, Record, RecordSource};
use crate::normalize::{pins_from_json_schema, Json, Mark, NormalizeOptions, Normalizer};
use messages::Message;
use process::Tap;

fn default_batch_size() -> usize {
    100_000
}
fn default_max_pending() -> usize {
    1_000_000
}
fn default_stderr_lines() -> usize {
    20
}

/// What to do with a stdout line that is not a Singer message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadLine {
    #[default]
    Error,
    Skip,
}

/// A tap run, as `tillflow.sources.singer` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingerOptions {
    /// The tap's name, for errors.
    pub name: String,
    /// The executable and its arguments (`--config`, `--catalog`, `--state`).
    #[serde(default)]
    pub command: Vec<String>,
    /// Instead of a command: a file holding a tap's recorded output.
    pub input: Option<String>,
    pub cwd: Option<String>,
    /// Only these streams are loaded (a tap may send others).
    pub streams: Option<Vec<String>>,
    /// Put before every stream's table name.
    #[serde(default)]
    pub table_prefix: String,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    #[serde(default)]
    pub on_bad_line: OnBadLine,
    /// How many of the tap's last stderr lines an error carries.
    #[serde(default = "default_stderr_lines")]
    pub stderr_lines: usize,
    #[serde(default)]
    pub normalize: NormalizeOptions,
}

impl SingerOptions {
    pub fn from_json(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let opts: SingerOptions = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            CoreError::config(
                if path == "." { "singer".into() } else { path },
                e.inner().to_string(),
            )
        })?;
        if opts.name.is_empty() {
            return Err(CoreError::config("name", "must not be empty"));
        }
        if opts.command.is_empty() == opts.input.is_none() {
            return Err(CoreError::config(
                "command",
                "give either the tap's command or the file of its recorded output",
            ));
        }
        if opts.batch_size == 0 || opts.max_pending < opts.batch_size {
            return Err(CoreError::config(
                "batch_size",
                "must be at least 1, and max_pending at least batch_size",
            ));
        }
        opts.normalize.validate()?;
        Ok(opts)
    }
}

/// One stream's rows in a batch.
#[derive(Debug)]
pub struct StreamPart {
    pub stream: String,
    /// The SCHEMA's `key_properties`.
    pub key_properties: Vec<String>,
    /// The root table first, then its child tables.
    pub tables: Vec<(String, DataFrame)>,
    pub records: usize,
}

/// Rows of one or more streams and the tap's state that holds once they
/// are committed (`None` leaves the stored state as it is).
#[derive(Debug)]
pub struct SingerBatch {
    pub parts: Vec<StreamPart>,
    /// The STATE message's `value`, as JSON text.
    pub state: Option<String>,
}

struct Stream {
    name: String,
    key: Vec<String>,
    norm: Normalizer,
    /// Where its tables stood at the last STATE.
    at_state: Mark,
}

/// The messages of one tap run, batch by batch.
pub struct SingerStream {
    opts: SingerOptions,
    tap: Option<Tap>,
    input: Option<BufReader<Box<dyn Read + Send>>>,
    streams: Vec<Stream>,
    by_name: HashMap<String, usize>,
    line: Vec<u8>,
    line_no: u64,
    /// Records since the last batch, and up to the last STATE.
    pending: usize,
    pending_at_state: usize,
    /// The last STATE not yet handed out with a batch.
    state: Option<String>,
    /// An error waiting until the rows before it are handed out.
    failure: Option<CoreError>,
    done: bool,
    pub skipped_lines: u64,
}

impl SingerStream {
    /// Starts the tap (or opens its recorded output).
    pub fn open(opts: SingerOptions) -> Result<Self> {
        let (tap, stdout): (Option<Tap>, Box<dyn Read + Send>) = match &opts.input {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .map_err(|e| CoreError::file(path, format!("cannot read: {e}")))?;
                (None, Box::new(file))
            }
            None => {
                let (tap, out) = Tap::spawn(
                    &opts.name,
                    &opts.command,
                    opts.cwd.as_deref(),
                    opts.stderr_lines,
                )?;
                (Some(tap), out)
            }
        };
        Ok(SingerStream {
            tap,
            input: Some(BufReader::with_capacity(1 << 20, stdout)),
            streams: Vec::new(),
            by_name: HashMap::new(),
            line: Vec::new(),
            line_no: 0,
            pending: 0,
            pending_at_state: 0,
            state: None,
            failure: None,
            done: false,
            skipped_lines: 0,
            opts,
        })
    }

    /// Streams seen so far: name and key properties.
    pub fn streams(&self) -> Vec<(String, Vec<String>)> {
        self.streams
            .iter()
            .map(|s| (s.name.clone(), s.key.clone()))
            .collect()
    }

    /// The next batch, or None once the tap's output is read and handed out.
    pub fn next_batch(&mut self) -> Result<Option<SingerBatch>> {
        if let Some(e) = self.failure.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        match self.read_until_batch() {
            Ok(true) => self.flush().map(Some),
            Ok(false) => {
                self.done = true;
                self.finish_tap()?;
                if self.pending > 0 || self.state.is_some() {
                    return self.flush().map(Some);
                }
                Ok(None)
            }
            Err(e) => self.fail(e),
        }
    }

    /// Stops the tap early. Safe to call twice.
    pub fn close(&mut self) {
        self.done = true;
        self.input = None;
        if let Some(mut tap) = self.tap.take() {
            tap.kill();
        }
    }

    /// After a failure: the rows up to the last STATE as a batch, then the error.
    fn fail(&mut self, e: CoreError) -> Result<Option<SingerBatch>> {
        let e = match self.tap.as_mut() {
            Some(tap) => {
                // A tap that broke the protocol may still be running: stop it,
                // and say what it had to say.
                tap.kill();
                match e {
                    CoreError::Tap { tap: name, message } => CoreError::Tap {
                        message: format!("{message}{}", tap.stderr_tail()),
                        tap: name,
                    },
                    other => other,
                }
            }
            None => e,
        };
        self.tap = None;
        self.input = None;
        for s in &mut self.streams {
            s.norm.rewind(&s.at_state);
        }
        self.pending = self.pending_at_state;
        if self.state.is_none() {
            self.done = true;
            return Err(e);
        }
        self.failure = Some(e);
        self.flush().map(Some)
    }

    fn finish_tap(&mut self) -> Result<()> {
        self.input = None;
        let Some(mut tap) = self.tap.take() else {
            return Ok(());
        };
        if let Err(e) = tap.finish() {
            // Nothing after the last STATE is vouched for.
            for s in &mut self.streams {
                s.norm.rewind(&s.at_state);
            }
            self.pending = self.pending_at_state;
            if self.state.is_some() {
                self.failure = Some(e);
                return Ok(());
            }
            return Err(e);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<SingerBatch> {
        let mut parts = Vec::new();
        for s in &mut self.streams {
            let records = s.norm.pending();
            if records > 0 {
                let tables = s.norm.flush()?;
                parts.push(StreamPart {
                    stream: s.name.clone(),
                    key_properties: s.key.clone(),
                    tables: tables.into_iter().filter(|(_, f)| f.height() > 0).collect(),
                    records,
                });
            }
            s.at_state = s.norm.mark();
        }
        self.pending = 0;
        self.pending_at_state = 0;
        Ok(SingerBatch {
            parts,
            state: self.state.take(),
        })
    }

    /// Reads messages until a batch is due (true) or the output ends (false).
    fn read_until_batch(&mut self) -> Result<bool> {
        loop {
            if self.pending >= self.opts.max_pending {
                return Ok(true);
            }
            let Some(input) = self.input.as_mut() else {
                return Ok(false);
            };
            self.line.clear();
            let n = input
                .read_until(b'\n', &mut self.line)
                .map_err(|e| self.tap_error(format!("cannot read its output: {e}")))?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            let mut len = self.line.len();
            while len > 0 && matches!(self.line[len - 1], b'\n' | b'\r' | b' ' | b'\t') {
                len -= 1;
            }
            if len == 0 {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let outcome = self.handle(&line[..len]);
            self.line = line;
            if outcome? {
                return Ok(true);
            }
        }
    }

    fn tap_error(&self, message: String) -> CoreError {
        CoreError::Tap {
            tap: self.opts.name.clone(),
            message,
        }
    }

    /// Handles one message; true when it ends a batch.
    fn handle(&mut self, text: &[u8]) -> Result<bool> {
        let message = match messages::parse(text) {
            Ok(m) => m,
            Err(why) => {
                if self.opts.on_bad_line == OnBadLine::Skip {
                    self.skipped_lines += 1;
                    return Ok(false);
                }
                return Err(self.tap_error(format!(
                    "line {} of its output is not a Singer message ({why}): {}",
                    self.line_no,
                    preview(text)
                )));
            }
        };
        match message {
            Message::Record { stream, record } => {
                let Some(i) = self.stream_index(&stream, "RECORD")? else {
                    return Ok(false);
                };
                self.push(i, &record)?;
                Ok(false)
            }
            Message::Schema {
                stream,
                schema,
                key_properties,
            } => {
                self.schema(stream, &schema, key_properties)?;
                Ok(false)
            }
            Message::State { value } => {
                self.state = Some(value);
                for s in &mut self.streams {
                    s.at_state = s.norm.mark();
                }
                self.pending_at_state = self.pending;
                Ok(self.pending >= self.opts.batch_size)
            }
            Message::Batch {
                stream,
                format,
                files,
            } => {
                let Some(i) = self.stream_index(&stream, "BATCH")? else {
                    return Ok(false);
                };
                for file in files {
                    self.read_batch_file(i, &format, &file)?;
                }
                Ok(false)
            }
            Message::ActivateVersion => Ok(false),
        }
    }

    fn wanted(&self, stream: &str) -> bool {
        self.opts
            .streams
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == stream))
    }

    /// The stream a RECORD or BATCH is for; None for a stream not loaded.
    fn stream_index(&self, stream: &str, what: &str) -> Result<Option<usize>> {
        if let Some(&i) = self.by_name.get(stream) {
            return Ok(Some(i));
        }
        if !self.wanted(stream) {
            return Ok(None);
        }
        Err(self.tap_error(format!(
            "line {}: a {what} message for stream {stream:?} came before its SCHEMA",
            self.line_no
        )))
    }

    fn schema(
        &mut self,
        stream: String,
        schema: &serde_json::Value,
        key: Vec<String>,
    ) -> Result<()> {
        if !self.wanted(&stream) {
            return Ok(());
        }
        let pins = pins_from_json_schema(schema, self.opts.normalize.max_depth);
        if let Some(&i) = self.by_name.get(&stream) {
            // A stream's schema may change during a run: new columns, wider types.
            if self.streams[i].key != key {
                return Err(self.tap_error(format!(
                    "line {}: stream {stream:?} changed its key_properties from {:?} to {key:?}",
                    self.line_no, self.streams[i].key
                )));
            }
            self.streams[i].norm.pin(&pins);
            return Ok(());
        }
        let table = format!("{}{stream}", self.opts.table_prefix);
        let mut norm = Normalizer::new(&table, key.clone(), &self.opts.normalize);
        norm.pin(&pins);
        self.by_name.insert(stream.clone(), self.streams.len());
        self.streams.push(Stream {
            name: stream,
            key,
            at_state: Mark::default(),
            norm,
        });
        Ok(())
    }

    fn push(&mut self, i: usize, record: &Json<'_>) -> Result<()> {
        self.streams[i]
            .norm
            .push_json(record)
            .map_err(|e| CoreError::Tap {
                tap: self.opts.name.clone(),
                message: format!(
                    "line {}: a record of stream {:?} does not fit its table: {e}",
                    self.line_no, self.streams[i].name
                ),
            })?;
        self.pending += 1;
        Ok(())
    }

    /// The records of one file a BATCH message lists.
    fn read_batch_file(&mut self, i: usize, format: &str, url: &str) -> Result<()> {
        let path = messages::local_path(url).map_err(|why| {
            self.tap_error(format!("line {}: BATCH file {url:?}: {why}", self.line_no))
        })?;
        let mut source: Box<dyn RecordSource> = match format {
            "jsonl" => Box::new(
                open_json(
                    &crate::files::text::Input::file(Path::new(&path)),
                    true,
                    None,
                )?
                .0,
            ),
            "parquet" => Box::new(open_parquet(Path::new(&path))?),
            other => {
                return Err(self.tap_error(format!(
                    "line {}: BATCH format {other:?} is not one tillflow reads (jsonl, parquet)",
                    self.line_no
                )))
            }
        };
        while let Some((line, record)) = source.next_record()? {
            match record {
                Record::Built(json) => self.push(i, &json)?,
                Record::Text(bytes) => {
                    let json = Json::parse(&bytes).map_err(|e| {
                        CoreError::file(&path, format!("line {line}: not JSON: {e}"))
                    })?;
                    self.push(i, &json)?
                }
            }
        }
        Ok(())
    }
}

impl Drop for SingerStream {
    fn drop(&mut self) {
        self.close();
    }
}

/// The start of a line, for an error.
fn preview(text: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(&text[..text.len().min(400)])
        .chars()
        .take(200)
        .collect();
    if text.len() > shown.len() {
        format!("{shown:?} … ({} bytes)", text.len())
    } else {
        format!("{shown:?}")
    }
}

#[cfg(test)]
mod tests;
