//! A resource as a stream of normalized batches. Fetching runs on the
//! shared runtime, parsing and normalizing on a thread of its own, and the
//! caller (the warehouse loader) takes batches as they are ready, so all
//! three overlap.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use polars::prelude::DataFrame;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{CoreError, Result};
use crate::normalize::infer::parse_timestamp;
use crate::normalize::Normalizer;
use crate::sources::http::paging::{Page, PageBody};
use crate::sources::records::{lookup, take_records};
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
        std::thread::Builder::new()
            .name(format!("tillflow-normalize-{}", spec.name))
            .spawn(move || normalize_pages(&spec, page_rx, batch_tx))
            .map_err(|e| CoreError::Internal(format!("starting the normalizer thread: {e}")))?;
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

fn normalize_pages(
    spec: &ResourceSpec,
    mut pages: mpsc::Receiver<Result<Page>>,
    out: SyncSender<Result<Batch>>,
) {
    let mut norm = Normalizer::new(&spec.name, spec.primary_key.clone(), &spec.normalize);
    let mut cursor = CursorMax::default();
    let mut pages_read = 0usize;
    let flush = |norm: &mut Normalizer,
                 pages_read: usize,
                 cursor: &CursorMax,
                 last: bool|
     -> Result<Batch> {
        let records = norm.pending();
        Ok(Batch {
            tables: norm.flush()?,
            records,
            pages: pages_read,
            cursor: cursor.value.clone(),
            last,
        })
    };
    while let Some(msg) = pages.blocking_recv() {
        let step = msg.and_then(|page| {
            pages_read += 1;
            read_page(spec, page, &mut norm, &mut cursor)
        });
        match step {
            Ok(()) if norm.pending() >= spec.batch_size => {
                let batch = flush(&mut norm, pages_read, &cursor, false);
                if out.send(batch).is_err() {
                    return;
                }
            }
            Ok(()) => {}
            Err(e) => {
                // What arrived before the failure is still delivered.
                if norm.pending() > 0 {
                    let batch = flush(&mut norm, pages_read, &cursor, false);
                    if out.send(batch).is_err() {
                        return;
                    }
                }
                let _ = out.send(Err(e));
                return;
            }
        }
    }
    let _ = out.send(flush(&mut norm, pages_read, &cursor, true));
}

fn read_page(
    spec: &ResourceSpec,
    page: Page,
    norm: &mut Normalizer,
    cursor: &mut CursorMax,
) -> Result<()> {
    let value = match page.body {
        PageBody::Parsed(v) => v,
        PageBody::Raw(bytes) => serde_json::from_slice(&bytes).map_err(|e| CoreError::Source {
            url: page.url.clone(),
            message: format!("not valid JSON ({e})"),
        })?,
    };
    let records =
        take_records(value, spec.records.as_deref()).map_err(|message| CoreError::Source {
            url: page.url.clone(),
            message,
        })?;
    for r in &records {
        if let Some(field) = &spec.cursor_field {
            if let Some(v) = lookup(r, field) {
                cursor.offer(v);
            }
        }
        norm.push(r)?;
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
    pub fn offer(&mut self, v: &Value) {
        let key = match v {
            Value::Number(n) => CursorKey::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => match parse_timestamp(s) {
                Some(t) => CursorKey::Instant(t),
                None => CursorKey::Text(s.clone()),
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
            self.value = Some(v.clone());
        }
    }
}
