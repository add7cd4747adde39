//! A resource as a stream of normalized batches. Fetching runs on the
//! shared runtime, parsing and normalizing on one worker thread per core,
//! and the caller (the warehouse loader) takes batches as they are ready, so
//! all three overlap. Workers share one schema, so every batch agrees on
//! column names and types only widen.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use polars::prelude::DataFrame;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::{CoreError, Result};
use crate::normalize::infer::parse_timestamp;
use crate::normalize::json::{take_records, Json};
use crate::normalize::{Normalizer, SharedSchema};
use crate::sources::http::paging::{Page, PageBody};
use crate::sources::spec::ResourceSpec;

/// Tables of one batch, root first, plus what the source knows so far.
#[derive(Debug)]
pub struct Batch {
    pub tables: Vec<(String, DataFrame)>,
    /// Root records in this batch.
    pub records: usize,
    /// Pages read so far, over the whole stream.
    pub pages: usize,
    /// Largest `cursor_field` value seen so far.
    pub cursor: Option<Value>,
    /// The source is exhausted: this is the last batch.
    pub last: bool,
}

pub struct ResourceStream {
    batches: Receiver<Result<Batch>>,
    fetch: Option<JoinHandle<()>>,
    finished: bool,
}

impl ResourceStream {
    pub fn open(spec: ResourceSpec) -> Result<Self> {
        spec.validate()?;
        let spec = Arc::new(spec);
        let (page_tx, page_rx) = mpsc::channel(spec.concurrency * 2 + 2);
        let fetch = crate::sources::http::start(spec.clone(), page_tx)?;
        let (batch_tx, batches) = sync_channel(1);
        let workers = normalize_workers();
        let shared = Arc::new(Shared {
            pages: Mutex::new(page_rx),
            schema: Arc::default(),
            cursor: Mutex::default(),
            pages_read: AtomicUsize::new(0),
            workers,
            finished: Mutex::new(0),
            error: Mutex::new(None),
            stop: watch::channel(false).0,
        });
        for i in 0..workers {
            let (spec, shared, out) = (spec.clone(), shared.clone(), batch_tx.clone());
            std::thread::Builder::new()
                .name(format!("tillflow-normalize-{i}"))
                .spawn(move || normalize_pages(&spec, &shared, &out))
                .map_err(|e| CoreError::Internal(format!("starting a normalizer thread: {e}")))?;
        }
        Ok(ResourceStream {
            batches,
            fetch: Some(fetch),
            finished: false,
        })
    }

    /// Blocks until the next batch; `None` after the last one or an error.
    pub fn next_batch(&mut self) -> Option<Result<Batch>> {
        if self.finished {
            return None;
        }
        match self.batches.recv() {
            Ok(Ok(b)) => {
                self.finished = b.last;
                Some(Ok(b))
            }
            Ok(Err(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Err(_) => {
                self.finished = true;
                None
            }
        }
    }

    /// Stops fetching; pages in flight are dropped.
    pub fn close(&mut self) {
        self.finished = true;
        if let Some(f) = self.fetch.take() {
            f.abort();
        }
    }
}

impl Drop for ResourceStream {
    fn drop(&mut self) {
        self.close();
    }
}

/// Parsing and normalizing is the costly part, so each core gets a worker.
fn normalize_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4)
}

/// What the workers of one stream share.
struct Shared {
    pages: Mutex<mpsc::Receiver<Result<Page>>>,
    schema: Arc<SharedSchema>,
    cursor: Mutex<CursorMax>,
    pages_read: AtomicUsize,
    workers: usize,
    /// Workers done; the last one out ends the stream. Held while a
    /// finishing worker sends, so the end is always the last message.
    finished: Mutex<usize>,
    /// The first failure; once set, workers hand over what they hold and stop.
    error: Mutex<Option<CoreError>>,
    stop: watch::Sender<bool>,
}

impl Shared {
    /// The next page, or `None` when the pages ran out or a worker failed.
    fn next_page(&self, stop: &mut watch::Receiver<bool>) -> Option<Result<Page>> {
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        crate::runtime::handle().block_on(async {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => None,
                page = pages.recv() => page,
            }
        })
    }

    fn fail(&self, e: CoreError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        self.stop.send_replace(true);
    }

    fn batch(&self, norm: &mut Normalizer, last: bool) -> Result<Batch> {
        let records = norm.pending();
        Ok(Batch {
            tables: norm.flush()?,
            records,
            pages: self.pages_read.load(Ordering::Relaxed),
            cursor: self
                .cursor
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .value
                .clone(),
            last,
        })
    }
}

fn normalize_pages(spec: &ResourceSpec, shared: &Shared, out: &SyncSender<Result<Batch>>) {
    let mut norm = Normalizer::with_schema(
        &spec.name,
        spec.primary_key.clone(),
        &spec.normalize,
        shared.schema.clone(),
    );
    let mut stop = shared.stop.subscribe();
    while let Some(msg) = shared.next_page(&mut stop) {
        let step = msg.and_then(|page| {
            shared.pages_read.fetch_add(1, Ordering::Relaxed);
            read_page(spec, page, &mut norm, shared)
        });
        match step {
            Ok(()) if norm.pending() >= spec.batch_size => match shared.batch(&mut norm, false) {
                Ok(b) => {
                    if out.send(Ok(b)).is_err() {
                        shared.fail(CoreError::Internal("the stream was closed".into()));
                        break;
                    }
                }
                Err(e) => shared.fail(e),
            },
            Ok(()) => {}
            Err(e) => shared.fail(e),
        }
    }
    // Workers finish one at a time: what each holds (even what arrived
    // before a failure) is delivered, and the last one out marks the end.
    let mut finished = shared.finished.lock().unwrap_or_else(|p| p.into_inner());
    *finished += 1;
    let last = *finished == shared.workers;
    let failed = shared
        .error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_some();
    if norm.pending() > 0 || (last && !failed) {
        match shared.batch(&mut norm, last && !failed) {
            Ok(b) => {
                let _ = out.send(Ok(b));
            }
            Err(e) => shared.fail(e),
        }
    }
    if last {
        if let Some(e) = shared
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = out.send(Err(e));
        }
    }
}

fn read_page(
    spec: &ResourceSpec,
    page: Page,
    norm: &mut Normalizer,
    shared: &Shared,
) -> Result<()> {
    let json = match &page.body {
        PageBody::Parsed(v) => Json::from_value(v),
        PageBody::Raw(bytes) => Json::parse(bytes).map_err(|e| CoreError::Source {
            url: page.url.clone(),
            message: format!("not valid JSON ({e})"),
        })?,
    };
    let records =
        take_records(json, spec.records.as_deref()).map_err(|message| CoreError::Source {
            url: page.url.clone(),
            message,
        })?;
    if let Some(field) = &spec.cursor_field {
        let mut cursor = shared.cursor.lock().unwrap_or_else(|p| p.into_inner());
        for r in &records {
            if let Some(v) = r.lookup(field) {
                cursor.offer(v);
            }
        }
    }
    for r in &records {
        norm.push_json(r)?;
    }
    Ok(())
}

/// Largest cursor value: timestamps compare as instants, numbers as numbers.
#[derive(Default)]
pub struct CursorMax {
    pub value: Option<Value>,
    key: Option<CursorKey>,
}

#[derive(PartialEq, PartialOrd)]
enum CursorKey {
    Number(f64),
    Instant(i64),
    Text(String),
}

impl CursorMax {
    pub fn offer(&mut self, v: &Json<'_>) {
        let key = match v {
            Json::Int(i) => CursorKey::Number(*i as f64),
            Json::UInt(u) => CursorKey::Number(*u as f64),
            Json::Float(f) => CursorKey::Number(*f),
            Json::Str(s) => match parse_timestamp(s) {
                Some(t) => CursorKey::Instant(t),
                None => CursorKey::Text(s.to_string()),
            },
            _ => return,
        };
        let bigger = match &self.key {
            None => true,
            Some(cur) => match (cur, &key) {
                (CursorKey::Number(a), CursorKey::Number(b)) => b > a,
                (CursorKey::Instant(a), CursorKey::Instant(b)) => b > a,
                (CursorKey::Text(a), CursorKey::Text(b)) => b > a,
                _ => false,
            },
        };
        if bigger {
            self.key = Some(key);
            self.value = Some(v.to_value());
        }
    }
}
