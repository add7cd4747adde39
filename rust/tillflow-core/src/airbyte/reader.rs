//! Reading one stream of a manifest: its partitions (`ListPartitionRouter`,
//! `SubstreamPartitionRouter`, whose parent stream is read first), its
//! `DatetimeBasedCursor`'s intervals, and for each the pages its
//! `DefaultPaginator` asks for, whose records the `RecordSelector` picks,
//! the `RecordFilter` keeps and the transformations change.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use url::Url;

use super::dates::{format_dt, parse_duration, parse_with, str_to_datetime};
use super::http::{
    header_map, set_path, Auth, Body, Budget, Client, ErrorHandler, Request, Response,
};
use super::interp::{context, Interp};
use crate::error::{CoreError, Result};

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

fn cfg(path: &str, message: impl Into<String>) -> CoreError {
    CoreError::config(path.to_string(), message)
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A `RequestOption`: where a value goes in a request.
#[derive(Debug, Clone)]
struct Inject {
    into: String,
    field: Vec<String>,
}

impl Inject {
    fn from(
        def: Option<&Value>,
        interp: &Interp,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Option<Inject>> {
        let Some(def) = def else { return Ok(None) };
        if s(def, "type") == Some("RequestPath") {
            return Ok(Some(Inject {
                into: "path".into(),
                field: vec![],
            }));
        }
        let into = s(def, "inject_into")
            .unwrap_or("request_parameter")
            .to_string();
        let field = match (def.get("field_path"), s(def, "field_name")) {
            (Some(Value::Array(parts)), _) => parts
                .iter()
                .map(|p| {
                    interp
                        .render(p.as_str().unwrap_or_default(), ctx)
                        .map_err(|e| cfg(path, e))
                })
                .collect::<Result<Vec<_>>>()?,
            (_, Some(name)) => vec![interp.render(name, ctx).map_err(|e| cfg(path, e))?],
            _ => return Err(cfg(path, "a RequestOption needs a field_name")),
        };
        if !matches!(
            into.as_str(),
            "request_parameter" | "header" | "body_data" | "body_json"
        ) {
            return Err(cfg(
                &format!("{path}.inject_into"),
                format!("unknown place {into:?}"),
            ));
        }
        Ok(Some(Inject { into, field }))
    }
}

/// A request being put together.
struct Parts {
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    json: Option<Value>,
    form: Vec<(String, String)>,
    path_override: Option<String>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Parts {
    fn inject(&mut self, opt: &Inject, value: &Value) {
        let key = opt.field.join(".");
        match opt.into.as_str() {
            "path" => self.path_override = Some(text_of(value)),
            "header" => self.headers.push((key, text_of(value))),
            "body_data" => self.form.push((key, text_of(value))),
            "body_json" => set_path(
                self.json.get_or_insert_with(|| Value::Object(Map::new())),
                &opt.field,
                value.clone(),
            ),
            _ => {
                self.params.retain(|(k, _)| *k != key);
                self.params.push((key, text_of(value)));
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Strategy {
    None,
    Offset {
        size: Option<i64>,
        first: bool,
    },
    Page {
        size: Option<i64>,
        start: i64,
        first: bool,
    },
    Cursor {
        value: String,
        stop: Option<String>,
        size: Option<i64>,
    },
}

struct Paginator {
    strategy: Strategy,
    size_option: Option<Inject>,
    token_option: Option<Inject>,
}

/// A `DatetimeBasedCursor`.
struct Cursor {
    field: String,
    format: String,
    formats: Vec<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: Option<Duration>,
    granularity: Duration,
    lookback: Duration,
    start_option: Option<Inject>,
    end_option: Option<Inject>,
    start_key: String,
    end_key: String,
    client_side: bool,
}

impl Cursor {
    fn parse(&self, text: &str) -> Option<DateTime<Utc>> {
        self.formats
            .iter()
            .find_map(|f| parse_with(text, f))
            .or_else(|| parse_with(text, &self.format))
            .or_else(|| str_to_datetime(text))
    }

    fn intervals(&self, state: Option<&Value>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut start = self.start.min(self.end);
        if let Some(from_state) = state
            .and_then(|st| st.get(&self.field))
            .and_then(|v| self.parse(&text_of(v)))
        {
            start = start.max(from_state - self.lookback);
        }
        let Some(step) = self.step else {
            return if start <= self.end {
                vec![(start, self.end)]
            } else {
                vec![]
            };
        };
        let mut out = vec![];
        let within = |a: DateTime<Utc>| {
            if self.granularity.is_zero() {
                a <= self.end
            } else {
                a < self.end
            }
        };
        while within(start) && out.len() < 100_000 {
            let next = start + step;
            out.push((start, (next - self.granularity).min(self.end)));
            start = next;
        }
        out
    }
}

/// A partition: the values templates see as `stream_partition`, and what they inject.
#[derive(Debug, Clone, Default)]
struct Partition {
    values: Map<String, Value>,
    inject: Vec<(Inject, Value)>,
}

/// A manifest ready to read.
pub struct Source {
    pub manifest: Value,
    interp: Arc<Interp>,
    pub config: Arc<Mutex<Value>>,
    client: Client,
    budget: Budget,
}

impl Source {
    pub fn new(manifest: Value, config: Value, client: Client) -> Result<Source> {
        let interp = Arc::new(Interp::new());
        let ctx = Self::base_ctx(&config, &Map::new());
        let budget =
            Budget::from_manifest(manifest.get("api_budget"), &interp, &ctx, "api_budget")?;
        if manifest.get("streams").and_then(Value::as_array).is_none() {
            return Err(cfg("streams", "a manifest needs a list of streams"));
        }
        Ok(Source {
            manifest,
            interp,
            config: Arc::new(Mutex::new(config)),
            client,
            budget,
        })
    }

    pub fn retries(&self) -> u64 {
        self.client
            .retries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn base_ctx(config: &Value, params: &Map<String, Value>) -> minijinja::Value {
        let mut vars = Map::new();
        vars.insert("config".into(), config.clone());
        vars.insert("parameters".into(), Value::Object(params.clone()));
        context(vars)
    }

    fn config(&self) -> Value {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn defs(&self) -> Vec<(String, &Value)> {
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

    fn read_stream(
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
        let auth = Auth::from_manifest(
            requester.get("authenticator"),
            &self.interp,
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

    fn paginator(
        &self,
        def: Option<&Value>,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Paginator> {
        let none = Paginator {
            strategy: Strategy::None,
            size_option: None,
            token_option: None,
        };
        let Some(def) = def else { return Ok(none) };
        if s(def, "type") == Some("NoPagination") {
            return Ok(none);
        }
        let spath = format!("{path}.pagination_strategy");
        let st = def
            .get("pagination_strategy")
            .ok_or_else(|| cfg(&spath, "a DefaultPaginator needs a pagination_strategy"))?;
        let size = |key: &str| -> Result<Option<i64>> {
            match st.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_i64()),
                Some(Value::String(t)) => {
                    match self.interp.eval(t, ctx).map_err(|e| cfg(&spath, e))? {
                        Value::Number(n) => Ok(n.as_i64()),
                        other => Err(cfg(
                            &format!("{spath}.{key}"),
                            format!("must be an integer, got {other}"),
                        )),
                    }
                }
                Some(other) => Err(cfg(
                    &format!("{spath}.{key}"),
                    format!("must be an integer, got {other}"),
                )),
            }
        };
        let first = st
            .get("inject_on_first_request")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let strategy = match s(st, "type") {
            Some("OffsetIncrement") => Strategy::Offset {
                size: size("page_size")?,
                first,
            },
            Some("PageIncrement") => Strategy::Page {
                size: size("page_size")?,
                start: size("start_from_page")?.unwrap_or(0),
                first,
            },
            Some("CursorPagination") => Strategy::Cursor {
                value: st
                    .get("cursor_value")
                    .map(text_of)
                    .ok_or_else(|| cfg(&format!("{spath}.cursor_value"), "is required"))?,
                stop: s(st, "stop_condition").map(str::to_string),
                size: size("page_size")?,
            },
            other => {
                return Err(cfg(
                    &spath,
                    format!("unknown pagination strategy {other:?}"),
                ))
            }
        };
        Ok(Paginator {
            strategy,
            size_option: Inject::from(
                def.get("page_size_option"),
                &self.interp,
                ctx,
                &format!("{path}.page_size_option"),
            )?,
            token_option: Inject::from(
                def.get("page_token_option"),
                &self.interp,
                ctx,
                &format!("{path}.page_token_option"),
            )?,
        })
    }

    fn cursor(
        &self,
        def: Option<&Value>,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Option<Cursor>> {
        let Some(def) = def else { return Ok(None) };
        if s(def, "type") != Some("DatetimeBasedCursor") {
            return Err(cfg(path, "only a DatetimeBasedCursor is supported"));
        }
        let render = |key: &str| -> Result<Option<String>> {
            s(def, key)
                .map(|t| {
                    self.interp
                        .render(t, ctx)
                        .map_err(|e| cfg(&format!("{path}.{key}"), e))
                })
                .transpose()
        };
        let field = render("cursor_field")?
            .ok_or_else(|| cfg(&format!("{path}.cursor_field"), "is required"))?;
        let format = render("datetime_format")?
            .ok_or_else(|| cfg(&format!("{path}.datetime_format"), "is required"))?;
        let formats = def
            .get("cursor_datetime_formats")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let when = |key: &str, default_now: bool| -> Result<DateTime<Utc>> {
            let kp = format!("{path}.{key}");
            let Some(v) = def.get(key) else {
                return if default_now {
                    Ok(Utc::now())
                } else {
                    Err(cfg(&kp, "is required"))
                };
            };
            self.min_max(v, &format, ctx, &kp)
        };
        let duration = |key: &str| -> Result<Option<Duration>> {
            match render(key)? {
                None => Ok(None),
                Some(t) if t.is_empty() => Ok(None),
                Some(t) => parse_duration(&t).map(Some).ok_or_else(|| {
                    cfg(
                        &format!("{path}.{key}"),
                        format!("{t:?} is not an ISO 8601 duration"),
                    )
                }),
            }
        };
        let step = duration("step")?;
        let granularity = duration("cursor_granularity")?;
        if step.is_some() != granularity.is_some() {
            return Err(cfg(path, "step and cursor_granularity go together"));
        }
        Ok(Some(Cursor {
            start: when("start_datetime", false)?,
            end: when("end_datetime", true)?.min(Utc::now()),
            step,
            granularity: granularity.unwrap_or_else(Duration::zero),
            lookback: duration("lookback_window")?.unwrap_or_else(Duration::zero),
            start_option: Inject::from(
                def.get("start_time_option"),
                &self.interp,
                ctx,
                &format!("{path}.start_time_option"),
            )?,
            end_option: Inject::from(
                def.get("end_time_option"),
                &self.interp,
                ctx,
                &format!("{path}.end_time_option"),
            )?,
            start_key: render("partition_field_start")?.unwrap_or_else(|| "start_time".into()),
            end_key: render("partition_field_end")?.unwrap_or_else(|| "end_time".into()),
            client_side: def
                .get("is_client_side_incremental")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            field,
            format,
            formats,
        }))
    }

    /// A `MinMaxDatetime` (or a plain string), clamped to its min and max.
    fn min_max(
        &self,
        v: &Value,
        cursor_format: &str,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<DateTime<Utc>> {
        let (text, format, min, max) = match v {
            Value::String(t) => (t.clone(), cursor_format.to_string(), None, None),
            Value::Object(_) => (
                v.get("datetime")
                    .map(text_of)
                    .ok_or_else(|| cfg(&format!("{path}.datetime"), "is required"))?,
                s(v, "datetime_format")
                    .unwrap_or("%Y-%m-%dT%H:%M:%S.%f%z")
                    .to_string(),
                s(v, "min_datetime").map(str::to_string),
                s(v, "max_datetime").map(str::to_string),
            ),
            other => {
                return Err(cfg(
                    path,
                    format!("a datetime or a MinMaxDatetime, got {other}"),
                ))
            }
        };
        let parse = |t: &str| -> Result<DateTime<Utc>> {
            let rendered = self.interp.render(t, ctx).map_err(|e| cfg(path, e))?;
            parse_with(&rendered, &format)
                .or_else(|| str_to_datetime(&rendered))
                .ok_or_else(|| {
                    cfg(
                        path,
                        format!("{rendered:?} is not a datetime in the format {format:?}"),
                    )
                })
        };
        let mut at = parse(&text)?;
        if let Some(m) = min {
            at = at.max(parse(&m)?);
        }
        if let Some(m) = max {
            at = at.min(parse(&m)?);
        }
        Ok(at)
    }

    fn partitions(
        &self,
        def: Option<&Value>,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Vec<Partition>> {
        let routers: Vec<(String, &Value)> = match def {
            None => return Ok(vec![Partition::default()]),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("{path}[{i}]"), r))
                .collect(),
            Some(one) => vec![(path.to_string(), one)],
        };
        let mut out = vec![Partition::default()];
        for (rp, router) in routers {
            let mine = self.router(router, ctx, &rp)?;
            // Several routers: every combination of their partitions.
            let mut next = Vec::with_capacity(out.len() * mine.len());
            for a in &out {
                for b in &mine {
                    let mut p = a.clone();
                    p.values.extend(b.values.clone());
                    p.inject.extend(b.inject.clone());
                    next.push(p);
                }
            }
            out = next;
        }
        Ok(out)
    }

    fn router(&self, def: &Value, ctx: &minijinja::Value, path: &str) -> Result<Vec<Partition>> {
        match s(def, "type") {
            Some("ListPartitionRouter") => {
                let values = match def.get("values") {
                    Some(Value::Array(v)) => v.clone(),
                    Some(Value::String(t)) => match self
                        .interp
                        .eval(t, ctx)
                        .map_err(|e| cfg(&format!("{path}.values"), e))?
                    {
                        Value::Array(v) => v,
                        other => {
                            return Err(cfg(
                                &format!("{path}.values"),
                                format!("must give a list, got {other}"),
                            ))
                        }
                    },
                    _ => {
                        return Err(cfg(
                            &format!("{path}.values"),
                            "a list of values is required",
                        ))
                    }
                };
                let field = self
                    .interp
                    .render(
                        s(def, "cursor_field")
                            .ok_or_else(|| cfg(&format!("{path}.cursor_field"), "is required"))?,
                        ctx,
                    )
                    .map_err(|e| cfg(path, e))?;
                let option = Inject::from(
                    def.get("request_option"),
                    &self.interp,
                    ctx,
                    &format!("{path}.request_option"),
                )?;
                Ok(values
                    .into_iter()
                    .map(|v| {
                        let v = match v {
                            Value::String(t) => {
                                Value::String(self.interp.render(&t, ctx).unwrap_or(t))
                            }
                            other => other,
                        };
                        let mut p = Partition::default();
                        p.values.insert(field.clone(), v.clone());
                        if let Some(o) = &option {
                            p.inject.push((o.clone(), v));
                        }
                        p
                    })
                    .collect())
            }
            Some("SubstreamPartitionRouter") => {
                let mut out = vec![];
                for (i, pc) in def
                    .get("parent_stream_configs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let pp = format!("{path}.parent_stream_configs[{i}]");
                    let parent = pc
                        .get("stream")
                        .ok_or_else(|| cfg(&format!("{pp}.stream"), "is required"))?;
                    let key = self
                        .interp
                        .render(
                            s(pc, "parent_key")
                                .ok_or_else(|| cfg(&format!("{pp}.parent_key"), "is required"))?,
                            ctx,
                        )
                        .map_err(|e| cfg(&pp, e))?;
                    let field = self
                        .interp
                        .render(
                            s(pc, "partition_field").ok_or_else(|| {
                                cfg(&format!("{pp}.partition_field"), "is required")
                            })?,
                            ctx,
                        )
                        .map_err(|e| cfg(&pp, e))?;
                    let option = Inject::from(
                        pc.get("request_option"),
                        &self.interp,
                        ctx,
                        &format!("{pp}.request_option"),
                    )?;
                    let mut found = vec![];
                    self.read_stream(parent, &format!("{pp}.stream"), None, &mut |ev| {
                        if let Event::Record(r) = ev {
                            let v = key.split('/').try_fold(&r, |node, k| node.get(k)).cloned();
                            if let Some(v) = v.filter(|v| !v.is_null()) {
                                found.push(v);
                            }
                        }
                        Ok(true)
                    })?;
                    for v in found {
                        let mut p = Partition::default();
                        p.values.insert(field.clone(), v.clone());
                        p.values
                            .insert("parent_slice".into(), Value::Object(Map::new()));
                        if let Some(o) = &option {
                            p.inject.push((o.clone(), v));
                        }
                        out.push(p);
                    }
                }
                Ok(out)
            }
            other => Err(cfg(path, format!("unknown partition router {other:?}"))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn read_slice(
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
                let rec = self.transform(def, path, rec, &rctx)?;
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

    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        requester: &Value,
        qpath: &str,
        paginator: &Paginator,
        cursor: Option<&Cursor>,
        interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
        partition: &Partition,
        token: Option<&Value>,
        ctx: &minijinja::Value,
    ) -> Result<Request> {
        let render = |t: &str, key: &str| {
            self.interp
                .render(t, ctx)
                .map_err(|e| cfg(&format!("{qpath}.{key}"), e))
        };
        let base = render(
            s(requester, "url_base")
                .ok_or_else(|| cfg(&format!("{qpath}.url_base"), "is required"))?,
            "url_base",
        )?;
        let path = match s(requester, "path") {
            Some(p) => render(p, "path")?,
            None => String::new(),
        };
        let mut parts = Parts {
            params: vec![],
            headers: vec![],
            json: None,
            form: vec![],
            path_override: None,
        };
        let mapping = |key: &str| -> Result<Vec<(String, String)>> {
            let mut out = vec![];
            match requester.get(key) {
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        let value = match v {
                            Value::String(t) => self
                                .interp
                                .eval(t, ctx)
                                .map_err(|e| cfg(&format!("{qpath}.{key}.{k}"), e))?,
                            other => other.clone(),
                        };
                        // Empty values are left out, as Airbyte leaves them.
                        if !(value.is_null() || value == "") {
                            out.push((render(k, key)?, text_of(&value)));
                        }
                    }
                }
                Some(Value::String(t)) => {
                    if let Value::Object(m) = self
                        .interp
                        .eval(t, ctx)
                        .map_err(|e| cfg(&format!("{qpath}.{key}"), e))?
                    {
                        out.extend(m.iter().map(|(k, v)| (k.clone(), text_of(v))));
                    }
                }
                _ => {}
            }
            Ok(out)
        };
        parts.params = mapping("request_parameters")?;
        parts.headers = mapping("request_headers")?;
        parts.form = mapping("request_body_data")?;
        if let Some(body) = requester.get("request_body_json") {
            parts.json =
                Some(self.interpolate_tree(body, ctx, &format!("{qpath}.request_body_json"))?);
        }
        for (opt, v) in &partition.inject {
            parts.inject(opt, v);
        }
        if let (Some(c), Some((a, b))) = (cursor, interval) {
            if let Some(o) = &c.start_option {
                parts.inject(o, &Value::from(format_dt(a, &c.format)));
            }
            if let Some(o) = &c.end_option {
                parts.inject(o, &Value::from(format_dt(b, &c.format)));
            }
        }
        let size = match &paginator.strategy {
            Strategy::Offset { size, .. }
            | Strategy::Page { size, .. }
            | Strategy::Cursor { size, .. } => *size,
            Strategy::None => None,
        };
        if let (Some(o), Some(n)) = (&paginator.size_option, size) {
            parts.inject(o, &Value::from(n));
        }
        if let (Some(o), Some(t)) = (&paginator.token_option, token) {
            parts.inject(o, t);
        }
        let url_text = match &parts.path_override {
            Some(next) if next.starts_with("http://") || next.starts_with("https://") => {
                next.clone()
            }
            Some(next) => join_url(&base, next),
            None => join_url(&base, &path),
        };
        let mut url = Url::parse(&url_text).map_err(|e| {
            cfg(
                &format!("{qpath}.url_base"),
                format!("{url_text:?} is not a URL: {e}"),
            )
        })?;
        if !parts.params.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &parts.params {
                q.append_pair(k, v);
            }
        }
        let method = s(requester, "http_method")
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let body = match (parts.json, parts.form.is_empty()) {
            (Some(j), _) => Some(Body::Json(j)),
            (None, false) => Some(Body::Form(parts.form)),
            (None, true) => None,
        };
        Ok(Request {
            method,
            url,
            headers: parts.headers,
            body,
        })
    }

    fn interpolate_tree(&self, v: &Value, ctx: &minijinja::Value, path: &str) -> Result<Value> {
        Ok(match v {
            Value::String(t) => self.interp.eval(t, ctx).map_err(|e| cfg(path, e))?,
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.interpolate_tree(x, ctx, path))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.interpolate_tree(x, ctx, path)?)))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    fn select(
        &self,
        selector: Option<&Value>,
        response: &Response,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Vec<Value>> {
        let extractor = selector.and_then(|sel| sel.get("extractor"));
        let field_path: Vec<String> = match extractor.and_then(|e| e.get("field_path")) {
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|p| {
                    self.interp
                        .render(&text_of(p), ctx)
                        .map_err(|e| cfg(&format!("{path}.extractor.field_path"), e))
                })
                .collect::<Result<_>>()?,
            _ => vec![],
        };
        let mut found = vec![&response.body];
        for key in &field_path {
            let mut next = vec![];
            for node in found {
                match (key.as_str(), node) {
                    ("*", Value::Array(a)) => next.extend(a.iter()),
                    ("*", Value::Object(m)) => next.extend(m.values()),
                    (k, Value::Object(m)) => next.extend(m.get(k)),
                    (k, Value::Array(a)) => {
                        next.extend(k.parse::<usize>().ok().and_then(|i| a.get(i)))
                    }
                    _ => {}
                }
            }
            found = next;
        }
        let wildcard = field_path.iter().any(|k| k == "*");
        let mut out = vec![];
        for node in found {
            match node {
                Value::Array(items) => out.extend(items.iter().cloned()),
                Value::Object(m) if m.is_empty() && !wildcard => {}
                Value::Null => {}
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }

    fn transform(
        &self,
        def: &Value,
        path: &str,
        mut rec: Value,
        ctx: &minijinja::Value,
    ) -> Result<Value> {
        for (i, t) in def
            .get("transformations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let tp = format!("{path}.transformations[{i}]");
            match s(t, "type") {
                Some("AddFields") => {
                    for (j, f) in t
                        .get("fields")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        let fp = format!("{tp}.fields[{j}]");
                        let at: Vec<String> = f
                            .get("path")
                            .and_then(Value::as_array)
                            .ok_or_else(|| cfg(&format!("{fp}.path"), "is required"))?
                            .iter()
                            .map(text_of)
                            .collect();
                        let value = match f.get("value") {
                            Some(Value::String(tmpl)) => {
                                // Each field sees the record as the fields before it left it.
                                let mut vars = Map::new();
                                if let Ok(Value::Object(base)) = serde_json::to_value(ctx) {
                                    vars = base;
                                }
                                vars.insert("record".into(), rec.clone());
                                self.interp
                                    .eval(tmpl, &context(vars))
                                    .map_err(|e| cfg(&format!("{fp}.value"), e))?
                            }
                            Some(other) => other.clone(),
                            None => return Err(cfg(&format!("{fp}.value"), "is required")),
                        };
                        let value = match (s(f, "value_type"), value) {
                            (Some("string"), v) => Value::from(text_of(&v)),
                            (_, v) => v,
                        };
                        set_path(&mut rec, &at, value);
                    }
                }
                Some("RemoveFields") => {
                    for pointer in t
                        .get("field_pointers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let keys: Vec<String> = pointer
                            .as_array()
                            .map(|a| a.iter().map(text_of).collect())
                            .unwrap_or_default();
                        remove_path(&mut rec, &keys);
                    }
                }
                other => return Err(cfg(&tp, format!("unknown transformation {other:?}"))),
            }
        }
        Ok(rec)
    }
}

fn remove_path(node: &mut Value, keys: &[String]) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    match node {
        Value::Object(m) if rest.is_empty() => {
            if first == "*" || first == "**" {
                m.clear();
            } else {
                m.remove(first);
            }
        }
        Value::Object(m) => {
            if first == "*" {
                for v in m.values_mut() {
                    remove_path(v, rest);
                }
            } else if let Some(v) = m.get_mut(first) {
                remove_path(v, rest);
            }
        }
        Value::Array(a) if first == "*" => {
            for v in a {
                remove_path(v, rest);
            }
        }
        _ => {}
    }
}

/// Airbyte's join of a base URL and a path: one slash between them.
fn join_url(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
