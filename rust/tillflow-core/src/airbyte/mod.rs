//! Airbyte declarative manifests, run natively: a manifest's streams read
//! with tillflow's HTTP stack, its Jinja on minijinja, its records
//! normalized with the column types its inline schemas declare.
//!
//! [`resolve::prepare`] resolves references and parameters and refuses any
//! component outside the supported subset; [`reader::Source`] reads a
//! stream; [`ManifestStream`] turns that into batches, each ending where
//! the stream's cursor may move on (an interval read to its end) and
//! carrying the stream's state in Airbyte's form (`{"updated_at": …}`).

mod auth;
mod budget;
mod cursor;
pub mod dates;
mod errors;
mod fields;
pub mod http;
pub mod interp;
mod literal;
mod paging;
mod partitions;
pub mod reader;
mod records;
mod request;
pub mod resolve;

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;
use std::time::Duration;

use polars::prelude::DataFrame;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::normalize::{pins_from_json_schema, Json, NormalizeOptions, Normalizer};
use http::{Client, Network};
use reader::{Event, Source, StreamInfo};

fn default_batch_size() -> usize {
    50_000
}
fn default_timeout() -> f64 {
    60.0
}

/// How a manifest's stream is run, as `tillflow.sources.airbyte_manifest` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    /// The manifest, prepared or not (JSON).
    pub manifest: Value,
    pub config: Value,
    /// The stream to read.
    pub stream: String,
    /// The table it loads into (by default the stream's name).
    pub table: Option<String>,
    /// Scheme, host and port every outgoing URL is sent to instead.
    pub base_url_override: Option<String>,
    /// A PEM file of extra certificate authorities.
    pub ca_bundle: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default)]
    pub normalize: NormalizeOptions,
}

impl RunOptions {
    pub fn from_json(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let opts: RunOptions = serde_path_to_error::deserialize(de)
            .map_err(|e| CoreError::config(e.path().to_string(), e.inner().to_string()))?;
        if opts.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        if opts.timeout_secs.is_nan() || opts.timeout_secs <= 0.0 {
            return Err(CoreError::config("timeout_secs", "must be positive"));
        }
        opts.normalize.validate()?;
        Ok(opts)
    }

    fn network(&self) -> Result<Network> {
        let base_url_override = self
            .base_url_override
            .as_deref()
            .map(|u| {
                url::Url::parse(u).map_err(|e| {
                    CoreError::config("base_url_override", format!("{u:?} is not a URL: {e}"))
                })
            })
            .transpose()?;
        Ok(Network {
            base_url_override,
            ca_bundle: self.ca_bundle.clone(),
            timeout: Duration::from_secs_f64(self.timeout_secs),
        })
    }
}

/// A manifest's streams: name, key, cursor field and inline schema. Fails,
/// naming the component and its path, on anything outside the subset.
pub fn describe(manifest: &Value, config: &Value) -> Result<(Value, Vec<StreamInfo>)> {
    let prepared = resolve::prepare(manifest)?;
    let source = Source::new(
        prepared.clone(),
        config.clone(),
        Client::new(Network {
            timeout: Duration::from_secs(60),
            ..Network::default()
        })?,
    )?;
    let streams = source.streams()?;
    Ok((prepared, streams))
}

enum Msg {
    Record(Value),
    Checkpoint(Option<Value>),
    Done(Result<()>),
}

/// One batch of a stream.
#[derive(Debug)]
pub struct ManifestBatch {
    pub tables: Vec<(String, DataFrame)>,
    pub records: usize,
    /// The stream's state once these rows are committed (JSON), or None.
    pub state: Option<String>,
}

/// A stream of a manifest, read on a thread of its own, in batches.
pub struct ManifestStream {
    rx: Option<Receiver<Msg>>,
    worker: Option<JoinHandle<()>>,
    norm: Normalizer,
    batch_size: usize,
    pending: usize,
    state: Option<String>,
    done: bool,
    config: std::sync::Arc<std::sync::Mutex<Value>>,
    original_config: Value,
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ManifestStream {
    /// Starts reading `opts.stream` from `state` (its last committed state).
    pub fn open(opts: RunOptions, state: Option<Value>) -> Result<Self> {
        let prepared = resolve::prepare(&opts.manifest)?;
        let client = Client::new(opts.network()?)?;
        let retries = client.retries.clone();
        let source = Source::new(prepared, opts.config.clone(), client)?;
        let info = source
            .streams()?
            .into_iter()
            .find(|s| s.name == opts.stream)
            .ok_or_else(|| {
                CoreError::config(
                    "stream",
                    format!("the manifest has no stream {:?}", opts.stream),
                )
            })?;
        let table = opts.table.clone().unwrap_or_else(|| info.name.clone());
        let key: Vec<String> = info.primary_key.clone();
        let mut norm = Normalizer::new(&table, key, &opts.normalize);
        if let Some(schema) = &info.schema {
            norm.pin(&pins_from_json_schema(schema, opts.normalize.max_depth));
        }
        let config = source.config.clone();
        let (tx, rx) = sync_channel::<Msg>(4096);
        let name = opts.stream.clone();
        let worker = std::thread::Builder::new()
            .name(format!("airbyte-{name}"))
            .spawn(move || {
                let result = source.read(&name, state.as_ref(), &mut |ev| {
                    let msg = match ev {
                        Event::Record(r) => Msg::Record(r),
                        Event::Checkpoint(s) => Msg::Checkpoint(s),
                    };
                    Ok(tx.send(msg).is_ok())
                });
                let _ = tx.send(Msg::Done(result));
            })
            .map_err(|e| CoreError::Internal(format!("cannot start a thread: {e}")))?;
        Ok(ManifestStream {
            rx: Some(rx),
            worker: Some(worker),
            norm,
            batch_size: opts.batch_size,
            pending: 0,
            state: None,
            done: false,
            original_config: opts.config,
            config,
            retries,
        })
    }

    /// Requests sent again after a retryable failure.
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The config as the run left it, when an OAuth refresh rotated its tokens.
    pub fn updated_config(&self) -> Option<Value> {
        let now = self
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (now != self.original_config).then_some(now)
    }

    pub fn next_batch(&mut self) -> Result<Option<ManifestBatch>> {
        if self.done {
            return Ok(None);
        }
        let Some(rx) = self.rx.as_ref() else {
            return Ok(None);
        };
        loop {
            let msg = rx.recv().unwrap_or(Msg::Done(Err(CoreError::Internal(
                "the stream's reader stopped".into(),
            ))));
            match msg {
                Msg::Record(r) => {
                    let json = Json::from_value(&r);
                    self.norm.push_json(&json)?;
                    self.pending += 1;
                    // A stream that never checkpoints still comes in batches.
                    if self.pending >= self.batch_size * 10 {
                        return self.emit().map(Some);
                    }
                }
                Msg::Checkpoint(state) => {
                    if let Some(s) = state {
                        self.state = Some(s.to_string());
                    }
                    if self.pending >= self.batch_size {
                        return self.emit().map(Some);
                    }
                }
                Msg::Done(result) => {
                    self.done = true;
                    self.rx = None;
                    if let Some(w) = self.worker.take() {
                        let _ = w.join();
                    }
                    result?;
                    if self.pending > 0 || self.state.is_some() {
                        return self.emit().map(Some);
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn emit(&mut self) -> Result<ManifestBatch> {
        let records = std::mem::take(&mut self.pending);
        let tables = if records > 0 {
            self.norm.flush()?
        } else {
            vec![]
        };
        Ok(ManifestBatch {
            tables: tables.into_iter().filter(|(_, f)| f.height() > 0).collect(),
            records,
            state: self.state.take(),
        })
    }

    /// Stops reading. Safe to call twice.
    pub fn close(&mut self) {
        self.done = true;
        self.rx = None; // the reader's next send fails and it stops
    }
}

impl Drop for ManifestStream {
    fn drop(&mut self) {
        self.close();
    }
}
