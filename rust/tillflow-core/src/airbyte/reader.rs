//! Reading one stream of a manifest: its partitions (`ListPartitionRouter`,
//! `SubstreamPartitionRouter`, whose parent stream is read first), its
//! `DatetimeBasedCursor`'s intervals, and for each the pages its
//! `DefaultPaginator` asks for, whose records the `RecordSelector` picks,
//! the `RecordFilter` keeps and the transformations change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::auth::Auth;
use super::budget::Budget;
use super::cursor::Cursor;
use super::dates::format_dt;
use super::errors::ErrorHandler;
use super::fields::{cfg, get_str as s};
use super::http::{header_map, Client};
use super::interp::{context, Interp};
use super::paging::{Paginator, Strategy};
use super::partitions::Partition;
use super::request::text_of;
use crate::error::Result;

/// What reading a stream hands its caller.
pub enum Event {
    Record(Value),
    /// Everything before this is read: the stream's state now (None for a
    /// stream without a cursor, or one whose state waits for its end).
    Checkpoint(Option<Value>),
}

/// A stream as the caller sees it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub name: String,
    pub primary_key: Vec<String>,
    pub cursor_field: Option<String>,
    pub schema: Option<Value>,
}

/// A manifest ready to read.
pub struct Source {
    pub manifest: Value,
    pub(super) interp: Arc<Interp>,
    pub config: Arc<Mutex<Value>>,
    pub(super) client: Client,
    pub(super) budget: Arc<Budget>,
    /// One authenticator per definition, so a stream and its parents share
    /// an access token (and a refresh token the server rotates).
    auths: Mutex<HashMap<String, Arc<Auth>>>,
}

impl Source {
    pub fn new(manifest: Value, config: Value, client: Client) -> Result<Source> {
        let interp = Arc::new(Interp::new());
        let ctx = Self::base_ctx(&config, &Map::new());
        let budget = Budget::shared(manifest.get("api_budget"), &interp, &ctx, "api_budget")?;
        if manifest.get("streams").and_then(Value::as_array).is_none() {
            return Err(cfg("streams", "a manifest needs a list of streams"));
        }
        Ok(Source {
            manifest,
            interp,
            config: Arc::new(Mutex::new(config)),
            client,
            budget,
            auths: Mutex::default(),
        })
    }

    fn auth(&self, def: Option<&Value>, ctx: &minijinja::Value, path: &str) -> Result<Arc<Auth>> {
        let key = def.map(Value::to_string).unwrap_or_default();
        let mut auths = self.auths.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = auths.get(&key) {
            return Ok(a.clone());
        }
        let made = Arc::new(Auth::from_manifest(def, &self.interp, ctx, path)?);
        auths.insert(key, made.clone());
        Ok(made)
    }

    pub fn retries(&self) -> u64 {
        self.client
            .retries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn base_ctx(config: &Value, params: &Map<String, Value>) -> minijinja::Value {
        let mut vars = Map::new();
        vars.insert("config".into(), config.clone());
        vars.insert("parameters".into(), Value::Object(params.clone()));
        context(vars)
    }

    pub(super) fn config(&self) -> Value {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn defs(&self) -> Vec<(String, &Value)> {
        self.manifest["streams"]
            .as_array()
            .map(|a| {
                a.iter()
                    .enumerate()
                    .map(|(i, d)| (format!("streams[{i}]"), d))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every stream: name, key, cursor field and inline schema.
    pub fn streams(&self) -> Result<Vec<StreamInfo>> {
        let mut out = vec![];
        for (path, def) in self.defs() {
            let name = s(def, "name")
                .ok_or_else(|| cfg(&format!("{path}.name"), "every stream needs a name"))?;
            let primary_key = match def.get("primary_key") {
                None | Some(Value::Null) => vec![],
                Some(Value::String(k)) if k.is_empty() => vec![],
                Some(Value::String(k)) => vec![k.clone()],
                Some(Value::Array(ks)) => ks
                    .iter()
                    .map(|k| match k {
                        Value::String(k) => Ok(k.clone()),
                        Value::Array(parts) => Ok(parts
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(".")),
                        _ => Err(cfg(
                            &format!("{path}.primary_key"),
                            "a key is a field name or a path",
                        )),
                    })
                    .collect::<Result<_>>()?,
                Some(_) => {
                    return Err(cfg(
                        &format!("{path}.primary_key"),
                        "a field name or a list of them",
                    ))
                }
            };
            let cursor_field = def
                .get("incremental_sync")
                .and_then(|c| s(c, "cursor_field"))
                .map(str::to_string);
            let schema = def.get("schema_loader").and_then(|l| match s(l, "type") {
                Some("InlineSchemaLoader") => l.get("schema").cloned(),
                _ => None,
            });
            out.push(StreamInfo {
                name: name.to_string(),
                primary_key,
                cursor_field,
                schema,
            });
        }
        Ok(out)
    }

    /// Reads the stream named `name` from `state`, handing each record and
    /// checkpoint to `sink` (which returns false to stop).
    pub fn read(
        &self,
        name: &str,
        state: Option<&Value>,
        sink: &mut dyn FnMut(Event) -> Result<bool>,
    ) -> Result<()> {
        let (path, def) = self
            .defs()
            .into_iter()
            .find(|(_, d)| s(d, "name") == Some(name))
            .ok_or_else(|| cfg("streams", format!("the manifest has no stream {name:?}")))?;
        self.read_stream(def, &path, state, sink).map(|_| ())
    }

    pub(super) fn read_stream(
        &self,
        def: &Value,
        path: &str,
        state: Option<&Value>,
        sink: &mut dyn FnMut(Event) -> Result<bool>,
    ) -> Result<bool> {
        let params = def
            .get("$parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let config = self.config();
        let ctx = Self::base_ctx(&config, &params);
        let rpath = format!("{path}.retriever");
        let retriever = def
            .get("retriever")
            .ok_or_else(|| cfg(&rpath, "a stream needs a retriever"))?;
        let qpath = format!("{rpath}.requester");
        let requester = retriever
            .get("requester")
            .ok_or_else(|| cfg(&qpath, "a retriever needs a requester"))?;
        let auth = self.auth(
            requester.get("authenticator"),
            &ctx,
            &format!("{qpath}.authenticator"),
        )?;
        let handler = ErrorHandler::from_manifest(
            requester.get("error_handler"),
            &self.interp,
            &ctx,
            &format!("{qpath}.error_handler"),
        )?;
        let paginator = self.paginator(
            retriever.get("paginator"),
            &ctx,
            &format!("{rpath}.paginator"),
        )?;
        let cursor = self.cursor(
            def.get("incremental_sync"),
            &ctx,
            &format!("{path}.incremental_sync"),
        )?;
        let partitions = self.partitions(
            retriever.get("partition_router"),
            &ctx,
            &format!("{rpath}.partition_router"),
        )?;
        let partitioned = retriever.get("partition_router").is_some();
        let intervals: Vec<Option<(DateTime<Utc>, DateTime<Utc>)>> = match &cursor {
            Some(c) => c.intervals(state).into_iter().map(Some).collect(),
            None => vec![None],
        };
        let mut highest: Option<(DateTime<Utc>, Value)> = None;
        let state_now =
            |highest: &Option<(DateTime<Utc>, Value)>, cursor: &Cursor| -> Option<Value> {
                match highest {
                    Some((_, v)) => Some(serde_json::json!({ cursor.field.clone(): v })),
                    None => state.cloned(),
                }
            };
        for partition in &partitions {
            for interval in &intervals {
                let mut slice = partition.values.clone();
                if let (Some(c), Some((a, b))) = (&cursor, interval) {
                    slice.insert(c.start_key.clone(), Value::from(format_dt(*a, &c.format)));
                    slice.insert(c.end_key.clone(), Value::from(format_dt(*b, &c.format)));
                }
                let go_on = self.read_slice(
                    def,
                    path,
                    requester,
                    &qpath,
                    &auth,
                    &handler,
                    &paginator,
                    cursor.as_ref(),
                    *interval,
                    partition,
                    &slice,
                    &params,
                    &mut |rec| {
                        if let Some(c) = &cursor {
                            if let Some(v) = rec.get(&c.field) {
                                if let Some(at) = c.parse(&text_of(v)) {
                                    if highest.as_ref().is_none_or(|(h, _)| at > *h) {
                                        highest = Some((at, v.clone()));
                                    }
                                }
                            }
                        }
                        sink(Event::Record(rec))
                    },
                )?;
                if !go_on {
                    return Ok(false);
                }
                // Intervals come in order: once one is read, the state may move on
                // (a partitioned stream's waits for all its partitions).
                if let (Some(c), false) = (&cursor, partitioned) {
                    if !sink(Event::Checkpoint(state_now(&highest, c)))? {
                        return Ok(false);
                    }
                }
            }
        }
        let last = cursor.as_ref().and_then(|c| state_now(&highest, c));
        sink(Event::Checkpoint(last))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn read_slice(
        &self,
        def: &Value,
        path: &str,
        requester: &Value,
        qpath: &str,
        auth: &Auth,
        handler: &ErrorHandler,
        paginator: &Paginator,
        cursor: Option<&Cursor>,
        interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
        partition: &Partition,
        slice: &Map<String, Value>,
        params: &Map<String, Value>,
        emit: &mut dyn FnMut(Value) -> Result<bool>,
    ) -> Result<bool> {
        let config = self.config();
        let mut token: Option<Value> = match &paginator.strategy {
            Strategy::Offset { first: true, .. } => Some(Value::from(0)),
            Strategy::Page {
                first: true, start, ..
            } => Some(Value::from(*start)),
            _ => None,
        };
        let mut page_number = match &paginator.strategy {
            Strategy::Page { start, .. } => *start,
            _ => 0,
        };
        let mut offset = 0i64;
        let retriever = &def["retriever"];
        let selector = retriever.get("record_selector");
        let mut pages = 0u64;
        loop {
            pages += 1;
            if pages > 1_000_000 {
                return Err(cfg(
                    path,
                    "more than a million pages in one slice: the paginator does not stop",
                ));
            }
            let vars = |extra: &[(&str, Value)]| {
                let mut m = Map::new();
                m.insert("config".into(), config.clone());
                m.insert("parameters".into(), Value::Object(params.clone()));
                m.insert("stream_slice".into(), Value::Object(slice.clone()));
                let mut npt = Map::new();
                if let Some(t) = &token {
                    npt.insert("next_page_token".into(), t.clone());
                }
                m.insert("next_page_token".into(), Value::Object(npt));
                for (k, v) in extra {
                    m.insert((*k).into(), v.clone());
                }
                context(m)
            };
            let ctx = vars(&[]);
            let request = self.request(
                requester,
                qpath,
                paginator,
                cursor,
                interval,
                partition,
                token.as_ref(),
                &ctx,
            )?;
            let Some(response) = self.client.send(
                request,
                auth,
                handler,
                &self.budget,
                &self.interp,
                &self.config,
            )?
            else {
                return Ok(true); // ignored by the error handler
            };
            let records = self.select(
                selector,
                &response,
                &ctx,
                &format!("{path}.retriever.record_selector"),
            )?;
            let page_size = records.len() as i64;
            let last = records.last().cloned().unwrap_or(Value::Null);
            for rec in records {
                let rctx = vars(&[("record", rec.clone())]);
                if let Some(cond) = selector
                    .and_then(|sel| sel.get("record_filter"))
                    .and_then(|f| s(f, "condition"))
                {
                    if !self.interp.truthy(cond, &rctx).map_err(|e| {
                        cfg(
                            &format!("{path}.retriever.record_selector.record_filter"),
                            e,
                        )
                    })? {
                        continue;
                    }
                }
                if let (Some(c), Some((a, b))) = (cursor, interval) {
                    if c.client_side {
                        if let Some(at) = rec.get(&c.field).and_then(|v| c.parse(&text_of(v))) {
                            if at < a || at > b {
                                continue;
                            }
                        }
                    }
                }
                let rec = self.transform(def, path, rec, &vars)?;
                if !emit(rec)? {
                    return Ok(false);
                }
            }
            // The next page's token, or the end of the slice.
            token = match &paginator.strategy {
                Strategy::None => None,
                Strategy::Offset { size, .. } => {
                    offset += page_size;
                    let done = page_size == 0 || size.is_some_and(|n| page_size < n);
                    (!done).then(|| Value::from(offset))
                }
                Strategy::Page { size, .. } => {
                    page_number += 1;
                    let done = page_size == 0 || size.is_some_and(|n| page_size < n);
                    (!done).then(|| Value::from(page_number))
                }
                Strategy::Cursor { value, stop, .. } => {
                    let pctx = vars(&[
                        ("response", response.body.clone()),
                        ("headers", header_map(&response.headers)),
                        ("last_record", last.clone()),
                        ("last_page_size", Value::from(page_size)),
                    ]);
                    let stopped = match stop {
                        Some(cond) => self
                            .interp
                            .truthy(cond, &pctx)
                            .map_err(|e| cfg(&format!("{path}.retriever.paginator"), e))?,
                        None => false,
                    };
                    if stopped {
                        None
                    } else {
                        match self
                            .interp
                            .eval(value, &pctx)
                            .map_err(|e| cfg(&format!("{path}.retriever.paginator"), e))?
                        {
                            Value::Null => None,
                            Value::String(t) if t.is_empty() || t == "None" => None,
                            v => Some(v),
                        }
                    }
                }
            };
            if token.is_none() {
                return Ok(true);
            }
        }
    }
}
