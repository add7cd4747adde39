//! A resource as a stream of normalized batches. Fetching runs on the
//! shared runtime, parsing and normalizing on one worker thread per core,
//! and the caller (the warehouse loader) takes batches as they are ready, so
//! all three overlap. Workers share one schema, so every batch agrees on
//! column names and types only widen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use polars::prelude::{Column, DataFrame, NamedFrom, Series};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::{CoreError, Result};
use crate::normalize::json::{take_records, Json};
use crate::normalize::{Normalizer, Refused, SharedSchema};
use crate::sources::checkpoint::{
    partition_key, record_key, stored_parts, ChainPosition, CursorEdge, EdgeFilter, Edges, PageTag,
    Progress,
};
use crate::sources::http::paging::Page;
use crate::sources::http::Plan;
use crate::sources::spec::ResourceSpec;

/// Tables of one batch, root first, plus what the source knows so far.
#[derive(Debug)]
pub struct Batch {
    pub tables: Vec<(String, DataFrame)>,
    /// Records left out because they hold a value no column can hold, as
    /// `("<root>__quarantine", frame)` with `_tf_raw`, `_tf_url` and `_tf_reason`.
    pub quarantine: Vec<(String, DataFrame)>,
    /// Root records in this batch.
    pub records: usize,
    /// Pages read so far, over the whole stream.
    pub pages: usize,
    /// The resource's state once this batch (and every one before it) is
    /// committed: where a run stopped here resumes, and after the last
    /// batch the cursor the next run starts from (see `checkpoint`).
    pub state: Value,
    /// The source is exhausted: this is the last batch.
    pub last: bool,
    /// Requests retried so far, over the whole stream.
    pub retries: u64,
}

/// What a worker hands over: a batch before its state is known.
struct Chunk {
    tables: Vec<(String, DataFrame)>,
    quarantine: Vec<(String, DataFrame)>,
    records: usize,
    pages: usize,
    tags: Vec<PageTag>,
    edges: Edges,
    last: bool,
}

pub struct ResourceStream {
    batches: Receiver<Result<Chunk>>,
    fetch: Option<JoinHandle<()>>,
    progress: Progress,
    finished: bool,
    retries: Arc<AtomicU64>,
}

impl ResourceStream {
    pub fn open(spec: ResourceSpec) -> Result<Self> {
        spec.validate()?;
        let plan = crate::sources::http::chains(&spec)?;
        let progress = start_progress(&spec, &plan);
        let chains = plan.chains;
        let filter = Filters::of(&spec);
        let spec = Arc::new(spec);
        let (page_tx, page_rx) = mpsc::channel(spec.concurrency * 2 + 2);
        let retries = Arc::new(AtomicU64::new(0));
        let fetch = crate::sources::http::start(spec.clone(), chains, page_tx, retries.clone())?;
        let (batch_tx, batches) = sync_channel(1);
        let workers = crate::normalize::workers();
        let shared = Arc::new(Shared {
            pages: Mutex::new(page_rx),
            schema: Arc::default(),
            filter,
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
            progress,
            finished: false,
            retries,
        })
    }

    /// Requests retried so far (429s, 5xx, timeouts, dropped connections).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Blocks until the next batch; `None` after the last one or an error.
    pub fn next_batch(&mut self) -> Option<Result<Batch>> {
        if self.finished {
            return None;
        }
        let got = self.batches.recv().ok();
        self.take(got)
    }

    /// `next_batch`, waiting at most `wait`: a caller that must react to
    /// something else (a signal) waits in slices instead of for minutes.
    pub fn poll_batch(&mut self, wait: Duration) -> Poll<Option<Result<Batch>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.batches.recv_timeout(wait) {
            Ok(got) => Poll::Ready(self.take(Some(got))),
            Err(RecvTimeoutError::Timeout) => Poll::Pending,
            Err(RecvTimeoutError::Disconnected) => Poll::Ready(self.take(None)),
        }
    }

    fn take(&mut self, got: Option<Result<Chunk>>) -> Option<Result<Batch>> {
        match got {
            Some(Ok(c)) => {
                self.finished = c.last;
                // The caller commits each batch before asking for the next,
                // so the state counts this batch's pages as committed.
                self.progress.commit(&c.tags, c.edges);
                Some(Ok(Batch {
                    tables: c.tables,
                    quarantine: c.quarantine,
                    records: c.records,
                    pages: c.pages,
                    state: self.progress.state(c.last),
                    last: c.last,
                    retries: self.retries(),
                }))
            }
            Some(Err(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            None => {
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

/// Chain positions and edges as the spec's stored state leaves them.
fn start_progress(spec: &ResourceSpec, plan: &Plan) -> Progress {
    let (cursor, boundary) = match &spec.incremental {
        Some(inc) => (inc.cursor.as_ref(), inc.boundary.as_slice()),
        None => (None, &[][..]),
    };
    let start = CursorEdge::stored(cursor, boundary);
    let resumed = spec.resume.as_ref();
    let progress = match resumed {
        Some(r) => Progress::new(
            &r.chains,
            start,
            Some(CursorEdge::stored(r.cursor.as_ref(), &r.boundary)),
        ),
        None => {
            let fresh: Vec<ChainPosition> = plan
                .chains
                .iter()
                .map(|c| ChainPosition {
                    url: Some(c.req.pointer()),
                    seq: c.seq,
                    ahead: Vec::new(),
                    trail: Vec::new(),
                })
                .collect();
            Progress::new(&fresh, start, None)
        }
    };
    let Some(parent) = &spec.parent else {
        return progress;
    };
    let progress = match &spec.incremental {
        Some(inc) => progress.with_parts(
            stored_parts(&inc.partitions),
            resumed
                .map(|r| stored_parts(&r.partitions))
                .unwrap_or_default(),
        ),
        None => progress,
    };
    match (&parent.resource.incremental, parent.incremental) {
        (Some(inc), true) => progress.with_parent(
            CursorEdge::stored(inc.cursor.as_ref(), &inc.boundary),
            plan.parents.clone().unwrap_or_default(),
        ),
        _ => progress,
    }
}

/// The records the last run stored at its cursor, not loaded again: the
/// resource's own, or for a child with a cursor of its own, each parent's.
enum Filters {
    Off,
    Whole(EdgeFilter),
    Parts(HashMap<String, EdgeFilter>),
}

impl Filters {
    fn of(spec: &ResourceSpec) -> Filters {
        let Some(inc) = &spec.incremental else {
            return Filters::Off;
        };
        if spec.parent.is_some() {
            return Filters::Parts(
                inc.partitions
                    .iter()
                    .filter_map(|(k, e)| EdgeFilter::new(e.edge()).map(|f| (k.clone(), f)))
                    .collect(),
            );
        }
        match EdgeFilter::new(CursorEdge::stored(inc.cursor.as_ref(), &inc.boundary)) {
            Some(f) => Filters::Whole(f),
            None => Filters::Off,
        }
    }

    fn partitioned(&self) -> bool {
        matches!(self, Filters::Parts(_))
    }

    fn get(&self, part: Option<&str>) -> Option<&EdgeFilter> {
        match (self, part) {
            (Filters::Whole(f), _) => Some(f),
            (Filters::Parts(m), Some(k)) => m.get(k),
            _ => None,
        }
    }
}

/// What the workers of one stream share.
struct Shared {
    pages: Mutex<mpsc::Receiver<Result<Page>>>,
    schema: Arc<SharedSchema>,
    /// Records the last run stored at its cursor: not loaded again.
    filter: Filters,
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

    fn batch(&self, held: &mut Held, last: bool) -> Result<Chunk> {
        let records = held.norm.pending();
        Ok(Chunk {
            // Pages whose records were all loaded before still move the state on.
            tables: if records > 0 {
                held.norm.flush()?
            } else {
                Vec::new()
            },
            quarantine: held.refused.take_frame(&held.norm)?,
            records,
            pages: self.pages_read.load(Ordering::Relaxed),
            tags: std::mem::take(&mut held.tags),
            edges: std::mem::take(&mut held.edges),
            last,
        })
    }
}

/// What one worker holds between batches: records being normalized, the
/// pages they came from and their cursor edges.
struct Held {
    norm: Normalizer,
    tags: Vec<PageTag>,
    edges: Edges,
    refused: RefusedRecords,
}

/// Records left out of a batch, kept as text with the reason.
#[derive(Default)]
struct RefusedRecords {
    raw: Vec<String>,
    urls: Vec<String>,
    reasons: Vec<String>,
}

impl RefusedRecords {
    fn take_frame(&mut self, norm: &Normalizer) -> Result<Vec<(String, DataFrame)>> {
        let n = self.raw.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let cols: Vec<Column> = vec![
            Series::new("_tf_raw".into(), std::mem::take(&mut self.raw)).into(),
            Series::new("_tf_url".into(), std::mem::take(&mut self.urls)).into(),
            Series::new("_tf_reason".into(), std::mem::take(&mut self.reasons)).into(),
        ];
        let name = format!("{}{}", norm.root(), crate::normalize::QUARANTINE_SUFFIX);
        Ok(vec![(name, DataFrame::new(n, cols)?)])
    }
}

fn normalize_pages(spec: &ResourceSpec, shared: &Shared, out: &SyncSender<Result<Chunk>>) {
    let mut held = Held {
        norm: Normalizer::with_schema(
            &spec.name,
            spec.primary_key.clone(),
            &spec.normalize,
            shared.schema.clone(),
        ),
        tags: Vec::new(),
        edges: Edges::default(),
        refused: RefusedRecords::default(),
    };
    // Set when a page failed part way: its first records may sit in the
    // normalizer, so what this worker holds is never delivered (the pages
    // are not counted as committed either, and a rerun fetches them again).
    let mut torn = false;
    let mut stop = shared.stop.subscribe();
    while let Some(msg) = shared.next_page(&mut stop) {
        let step = msg.and_then(|page| {
            shared.pages_read.fetch_add(1, Ordering::Relaxed);
            let tag = page.tag.clone();
            read_page(spec, page, &mut held, shared, &mut torn)?;
            held.tags.push(tag);
            Ok(())
        });
        match step {
            Ok(()) if held.norm.pending() >= spec.batch_size => {
                match shared.batch(&mut held, false) {
                    Ok(b) => {
                        if out.send(Ok(b)).is_err() {
                            shared.fail(CoreError::Internal("the stream was closed".into()));
                            break;
                        }
                    }
                    Err(e) => shared.fail(e),
                }
            }
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
    if !torn && (!held.tags.is_empty() || (last && !failed)) {
        match shared.batch(&mut held, last && !failed) {
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

/// The names each `zip` rule reads from the page, with the row field
/// whose values they name.
fn zip_names(spec: &ResourceSpec, page: &Json<'_>) -> Vec<(String, Vec<String>)> {
    spec.zip
        .iter()
        .map(|z| {
            let names = match page.lookup(&z.names) {
                Some(Json::Arr(items)) => items
                    .iter()
                    .map(|n| match n.lookup("name").unwrap_or(n) {
                        Json::Str(s) => s.to_string(),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (z.values.clone(), names)
        })
        .collect()
}

/// A row's positional values as named fields.
fn zip_row(row: &mut Json<'_>, zipped: &[(String, Vec<String>)]) {
    let Json::Obj(fields) = row else { return };
    for (field, names) in zipped {
        let Some(at) = fields.iter().position(|(k, _)| k == field) else {
            continue;
        };
        let (_, values) = fields.remove(at);
        let Json::Arr(values) = values else { continue };
        for (name, value) in names.iter().zip(values) {
            let value = match value {
                Json::Obj(mut f) => match f.iter().position(|(k, _)| k == "value") {
                    Some(i) => f.swap_remove(i).1,
                    None => Json::Obj(f),
                },
                other => other,
            };
            fields.push((std::borrow::Cow::Owned(name.clone()), value));
        }
    }
}

/// Normalizes one page's records into `held`. A page that fails before its
/// first record is pushed leaves `held` as it was; one that fails later sets
/// `torn`.
fn read_page(
    spec: &ResourceSpec,
    page: Page,
    held: &mut Held,
    shared: &Shared,
    torn: &mut bool,
) -> Result<()> {
    let json = Json::parse(&page.body).map_err(|e| CoreError::Source {
        url: page.url.clone(),
        message: format!("not valid JSON ({e})"),
    })?;
    let zipped = zip_names(spec, &json);
    let absent = spec.records_optional
        && spec
            .records
            .as_deref()
            .is_some_and(|s| json.lookup(s).is_none());
    let mut records = if absent {
        Vec::new()
    } else {
        take_records(json, spec.records.as_deref()).map_err(|message| CoreError::Source {
            url: page.url.clone(),
            message,
        })?
    };
    if !zipped.is_empty() {
        for r in &mut records {
            zip_row(r, &zipped);
        }
    }
    if !page.carry.is_empty() {
        for r in &mut records {
            crate::sources::http::parents::add_carried(r, &page.carry);
        }
    }
    // A child with a cursor of its own keeps an edge per parent.
    let part = (shared.filter.partitioned() && !page.carry.is_empty())
        .then(|| partition_key(page.carry.iter().map(|(k, v)| (k, v))));
    let filter = shared.filter.get(part.as_deref());
    for r in &records {
        if let Some(field) = &spec.cursor_field {
            if let Some(v) = r.lookup(field) {
                let key = || record_key(r, &spec.primary_key);
                if filter.is_some_and(|f| f.seen(v, key)) {
                    continue;
                }
                held.edges.whole.offer(v, key);
                if let Some(p) = &part {
                    held.edges.parts.entry(p.clone()).or_default().offer(v, key);
                }
            }
        }
        match held.norm.push_or_refuse(r) {
            Ok(()) => {}
            // The record is left out whole; the page's others load.
            Err(Refused::Unfit(why)) => {
                held.refused.raw.push(r.to_string());
                held.refused.urls.push(page.url.clone());
                held.refused.reasons.push(why);
            }
            Err(Refused::Error(e)) => {
                *torn = true;
                return Err(e);
            }
        }
    }
    Ok(())
}
