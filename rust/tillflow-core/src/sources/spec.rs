//! The declarative resource spec that drives the one HTTP engine. Vendor
//! presets (Shopify, Stripe, HubSpot, ...) are instances of it, not code.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::normalize::NormalizeOptions;
use crate::secret::{is_credential_name, Redactor, Secret};
use crate::sources::checkpoint::StoredEdge;
pub use crate::sources::http::auth::{AuthSpec, ClientAuth, KeyLocation};
use crate::sources::http::limits::RateLimitSpec;
pub use crate::sources::http::parents::ParentSpec;
use crate::sources::http::request::{check_template, render, Location, Vars};

/// One REST resource: where it lives, how to page through it, how to log in,
/// where the records sit in each page, and how rows are keyed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// Table name of the resource (`orders`); child tables hang off it.
    pub name: String,
    pub base_url: String,
    #[serde(default)]
    pub path: String,
    /// Query parameters sent with the first request of each page chain.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `GET` (the default) or `POST`.
    #[serde(default)]
    pub method: Method,
    /// The request body (a JSON object), sent as `body_format` says. Its
    /// strings, like the path, params and headers, may hold templates
    /// (`{{ parent.id }}`, `{{ incremental.start }}`, `{{ window.start }}`).
    pub body: Option<Value>,
    #[serde(default)]
    pub body_format: BodyFormat,
    /// A GraphQL query: sent as a POST of `{query, variables}`, paged by
    /// `pageInfo`, with `errors` in a 200 response taken as errors.
    pub graphql: Option<GraphqlSpec>,
    /// Dotted path of an error list or object that a 200 response may carry
    /// (`errors` for GraphQL): present and not empty, the page failed.
    pub errors_path: Option<String>,
    #[serde(default)]
    pub paginator: PaginatorSpec,
    pub auth: Option<AuthSpec>,
    /// Dotted path to the record array in each page (`orders`, `data`,
    /// `results`). Unset: the body itself if it is an array, else its only
    /// array-valued field.
    pub records: Option<String>,
    /// Reports that give column names once per page and each row's values
    /// by position (GA4's `dimensionHeaders` and `dimensionValues`): each
    /// row gets one field per name, and its positional list goes.
    #[serde(default)]
    pub zip: Vec<ZipSpec>,
    /// A page without the `records` field holds no records (QuickBooks
    /// leaves the list out of an empty answer); unset, that is an error.
    #[serde(default)]
    pub records_optional: bool,
    #[serde(default, deserialize_with = "one_or_many")]
    pub primary_key: Vec<String>,
    /// Field whose largest value is reported as the resource's cursor state.
    pub cursor_field: Option<String>,
    pub incremental: Option<IncrementalSpec>,
    /// A substream: one family of requests per record of this parent.
    pub parent: Option<ParentSpec>,
    /// Splits a time range into windows that are paged concurrently.
    pub windows: Option<WindowSpec>,
    /// Requests in flight at once (windows, or numbered pages).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub retry: RetrySpec,
    /// A budget requests wait for, rather than earning 429s (see
    /// `sources::http::limits`).
    pub rate_limit: Option<RateLimitSpec>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// Pages each chain reads at most (a sample: `tillflow discover` and
    /// `check` read one); unset, every page.
    pub max_pages: Option<u64>,
    /// Parent records per emitted batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default)]
    pub normalize: NormalizeOptions,
    /// Where an interrupted run stands (from the stored state): the run goes
    /// on from there instead of starting its page chains afresh.
    pub resume: Option<crate::sources::checkpoint::Resume>,
}

/// Requests in flight at most; each holds a connection and a page.
const MAX_CONCURRENCY: usize = 1000;
/// Time windows at most; each is a page chain of its own.
const MAX_WINDOWS: usize = 10_000;
/// Timeouts and waits: a day at most.
const MAX_SECONDS: f64 = 86_400.0;

fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> f64 {
    30.0
}
/// At least one DuckDB row group (122,880 rows) per insert, so the
/// warehouse writes compressed row groups directly instead of recompressing
/// small appends at checkpoint time (12% of a 1M-order load, measured).
fn default_batch_size() -> usize {
    125_000
}

pub(crate) fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Nothing(()),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
        OneOrMany::Nothing(()) => vec![],
    })
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginatorSpec {
    /// One request, no paging.
    #[default]
    SinglePage,
    /// `Link: <...>; rel="next"` (Shopify `page_info`, GitHub).
    LinkHeader {
        #[serde(default = "default_rel")]
        rel: String,
    },
    /// A cursor read from the body and sent back as a query parameter:
    /// Stripe (`starting_after` = last record's `id`, stop on `has_more`),
    /// HubSpot (`after` = `paging.next.after`).
    Cursor {
        /// Query parameter (or body path, or header) that carries the cursor.
        param: String,
        #[serde(default)]
        location: Location,
        /// Dotted path of the next cursor in the body.
        cursor_path: Option<String>,
        /// Or: this field of the page's last record is the cursor.
        cursor_from_last_record: Option<String>,
        /// Boolean in the body that says whether more pages exist.
        has_more_path: Option<String>,
        /// Boolean in the body that, when true, says this page is the last.
        stop_path: Option<String>,
    },
    /// The body names the next page's full URL.
    NextUrl {
        path: String,
        /// A boolean in the body that, when true, says this page is the
        /// last (Zendesk's `end_of_stream`), whatever the next URL.
        stop_path: Option<String>,
    },
    /// `?offset=&limit=`; pages are fetched concurrently.
    Offset {
        limit: u64,
        /// Where offset and limit go (query parameters unless set).
        #[serde(default)]
        location: Location,
        #[serde(default = "default_offset_param")]
        offset_param: String,
        #[serde(default = "default_limit_param")]
        limit_param: String,
        #[serde(default)]
        start: u64,
        /// Dotted path of the total record count, when the API reports it.
        total_path: Option<String>,
    },
    /// `?page=N`; pages are fetched concurrently.
    PageNumber {
        #[serde(default = "default_page_param")]
        param: String,
        /// Where the page number and size go (query parameters unless set).
        #[serde(default)]
        location: Location,
        #[serde(default = "default_page_start")]
        start: u64,
        /// Records a full page holds; a shorter page is the last.
        page_size: Option<u64>,
        page_size_param: Option<String>,
        total_pages_path: Option<String>,
    },
}

fn default_rel() -> String {
    "next".into()
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn default_page_param() -> String {
    "page".into()
}
fn default_page_start() -> u64 {
    1
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncrementalSpec {
    /// Query parameter (or body path, or header) that receives the start
    /// value (`updated_at_min`). Unset: only templates use it, as
    /// `{{ incremental.start }}`.
    pub param: Option<String>,
    pub location: Location,
    /// The first run's start (the initial value); later runs start from the stored cursor.
    pub start: Option<Value>,
    /// The cursor stored by the last run; the pipeline passes it here.
    pub cursor: Option<Value>,
    /// How far before the stored cursor a run starts again, to catch records
    /// updated while the last run was reading: a duration (`"2h"`,
    /// `"1day 6h"`, or seconds as a number) for timestamp cursors, a number
    /// for numeric ones.
    pub lookback: Option<Value>,
    /// Keys of the records the last run stored at `cursor`; a run starting
    /// at the cursor itself skips them (see `sources::checkpoint`).
    pub boundary: Vec<String>,
    /// A child resource's cursors, one per parent, as the last run stored
    /// them (keyed by the columns carried from the parent); a parent not
    /// among them starts from `start`.
    pub partitions: BTreeMap<String, StoredEdge>,
    /// How old a start must be: a timestamp start later than now less this
    /// is moved back to it (Zendesk's incremental exports refuse a
    /// `start_time` within the last minute). Records between the two are
    /// read again and merged; those at the stored edge are still left out.
    pub min_age: Option<Value>,
}

impl IncrementalSpec {
    /// What the first request sends: the stored cursor less the lookback,
    /// else the initial value (`None`: no filter).
    pub fn start_value(&self) -> Result<Option<Value>> {
        self.start_from(self.cursor.as_ref())
    }

    /// What the first request of one parent's chains sends: its own stored
    /// cursor less the lookback, else the initial value.
    pub fn partition_start(&self, key: &str) -> Result<Option<Value>> {
        self.start_from(self.partitions.get(key).map(|e| &e.cursor))
    }

    fn start_from(&self, cursor: Option<&Value>) -> Result<Option<Value>> {
        let start = self.looked_back(cursor)?;
        let (Some(Value::String(text)), Some(age)) = (&start, &self.min_age) else {
            return Ok(start);
        };
        let Some(at) = crate::sources::http::request::instant(text) else {
            return Ok(start);
        };
        let age = chrono::Duration::from_std(duration_value(age, "incremental.min_age")?)
            .map_err(|e| CoreError::config("incremental.min_age", e.to_string()))?;
        let latest = chrono::Utc::now() - age;
        if at <= latest {
            return Ok(start);
        }
        Ok(Some(Value::String(
            latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )))
    }

    /// The stored cursor less the lookback, else the initial value.
    fn looked_back(&self, cursor: Option<&Value>) -> Result<Option<Value>> {
        let Some(cursor) = cursor.filter(|v| !v.is_null()) else {
            return Ok(self.start.clone().filter(|v| !v.is_null()));
        };
        let Some(lookback) = self.lookback.as_ref().filter(|v| !v.is_null()) else {
            return Ok(Some(cursor.clone()));
        };
        let err = |message: String| CoreError::config("incremental.lookback", message);
        match cursor {
            Value::String(text) => {
                let at = chrono::DateTime::parse_from_rfc3339(text)
                    .ok()
                    .or_else(|| {
                        crate::sources::http::request::instant(text).map(|t| t.fixed_offset())
                    })
                    .ok_or_else(|| {
                        err(format!("the stored cursor {text:?} is not a timestamp, so a lookback cannot move it"))
                    })?;
                let back = chrono::Duration::from_std(lookback_duration(lookback)?)
                    .map_err(|e| err(e.to_string()))?;
                let earlier = at.checked_sub_signed(back).ok_or_else(|| {
                    err(format!(
                        "{lookback} before the stored cursor {text:?} is out of range"
                    ))
                })?;
                let seconds = if earlier.timestamp_subsec_nanos() == 0 {
                    chrono::SecondsFormat::Secs
                } else {
                    chrono::SecondsFormat::AutoSi
                };
                Ok(Some(Value::String(earlier.to_rfc3339_opts(seconds, true))))
            }
            Value::Number(n) => {
                let back = lookback.as_f64().ok_or_else(|| {
                    err(format!("{lookback} is not a number, and the cursor {n} is"))
                })?;
                Ok(Some(
                    match (n.as_i64(), lookback.as_i64()) {
                        (Some(c), Some(b)) => c.checked_sub(b).map(Value::from),
                        _ => None,
                    }
                    .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(f64::NAN) - back)),
                ))
            }
            other => Err(err(format!(
                "the stored cursor {other} is neither a timestamp nor a number"
            ))),
        }
    }
}

/// A lookback as a duration: text (`"90s"`, `"2h"`, `"1day 6h"`, `"1.5h"`)
/// or a number of seconds.
fn lookback_duration(v: &Value) -> Result<std::time::Duration> {
    duration_value(v, "incremental.lookback")
}

/// A duration as a spec writes it: text in [`crate::durations`]' grammar or
/// seconds; `field` names it in errors.
pub fn duration_value(v: &Value, field: &str) -> Result<std::time::Duration> {
    let err = |message: String| CoreError::config(field, message);
    match v {
        Value::String(text) => match crate::durations::parse_seconds(text) {
            Ok(s) => std::time::Duration::try_from_secs_f64(s)
                .map_err(|_| err(format!("{text:?} is too long a duration"))),
            Err(why) => Err(err(format!(
                "{text:?} is not a duration such as \"2h\" ({why})"
            ))),
        },
        Value::Number(n) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| err(format!("{n} is not a number of seconds"))),
        other => Err(err(format!("{other} is not a duration"))),
    }
}

/// `[start, end]` cut into `count` equal windows, or into windows of at
/// most `step` (`"30d"`) for APIs that cap a query's range; each is sent as
/// `min_param` / `max_param` (or read by templates as `{{ window.start }}`
/// and `{{ window.end }}`) and paged on its own, up to `concurrency` at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub min_param: Option<String>,
    pub max_param: Option<String>,
    #[serde(default)]
    pub location: Location,
    /// RFC 3339 timestamps.
    pub start: String,
    pub end: Option<String>,
    #[serde(default = "default_window_count")]
    pub count: usize,
    /// The longest window, as a duration (`"31d"`, `"12h"`) or seconds;
    /// set, it decides how many windows there are instead of `count`.
    pub step: Option<Value>,
    /// The windows filter the incremental cursor's own field, so a run
    /// starts them at the incremental start when that is later (PayPal's
    /// transaction dates); off, they always cover `start` to `end` (orders
    /// windowed by creation time but followed by update time).
    #[serde(default)]
    pub from_cursor: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Method {
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    #[serde(rename = "POST", alias = "post")]
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json`.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// One list of names on the page and the positional values in each row.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZipSpec {
    /// Dotted path of the names on the page: strings, or objects with `name`.
    pub names: String,
    /// The field of each row holding the values: scalars, or objects with `value`.
    pub values: String,
}

/// A GraphQL query and how it pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlSpec {
    pub query: String,
    #[serde(default)]
    pub variables: serde_json::Map<String, Value>,
    /// Dotted path of the connection's `pageInfo { hasNextPage endCursor }`
    /// (`data.orders.pageInfo`); unset, the query is one page.
    pub page_info: Option<String>,
    /// The variable that takes `endCursor` on the next request.
    #[serde(default = "default_cursor_variable")]
    pub cursor_variable: String,
}

fn default_cursor_variable() -> String {
    "after".into()
}

fn default_window_count() -> usize {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_secs: f64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: f64,
    /// A longer `Retry-After` is capped here rather than stalling a run.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_secs: f64,
}

fn default_attempts() -> u32 {
    5
}
fn default_initial_backoff() -> f64 {
    0.5
}
fn default_max_backoff() -> f64 {
    30.0
}
fn default_max_retry_after() -> f64 {
    300.0
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            max_attempts: default_attempts(),
            initial_backoff_secs: default_initial_backoff(),
            max_backoff_secs: default_max_backoff(),
            max_retry_after_secs: default_max_retry_after(),
        }
    }
}

impl ResourceSpec {
    /// Parses a spec from JSON text, naming the offending field on error.
    pub fn from_json(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let mut spec: ResourceSpec = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            CoreError::config(
                if path == "." { "spec".into() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        spec.apply_graphql()?;
        spec.validate()?;
        Ok(spec)
    }

    /// A `graphql` block as the request and paging it stands for: a POST of
    /// `{query, variables}`, `endCursor` into the cursor variable while
    /// `hasNextPage`, and `errors` in a 200 taken as a failure.
    fn apply_graphql(&mut self) -> Result<()> {
        if let Some(p) = &mut self.parent {
            p.resource.apply_graphql().map_err(|e| match e {
                CoreError::Config { field, message } => {
                    CoreError::config(format!("parent.resource.{field}"), message)
                }
                other => other,
            })?;
        }
        let Some(g) = &self.graphql else {
            return Ok(());
        };
        if self.body.is_some() || self.method == Method::Post {
            return Err(CoreError::config(
                "graphql",
                "sets the method and body itself; remove method and body",
            ));
        }
        if g.query.trim().is_empty() {
            return Err(CoreError::config("graphql.query", "must not be empty"));
        }
        if let Some(page_info) = &g.page_info {
            if self.paginator != PaginatorSpec::SinglePage {
                return Err(CoreError::config(
                    "graphql.page_info",
                    "pages the query itself; remove the paginator",
                ));
            }
            self.paginator = PaginatorSpec::Cursor {
                param: format!("variables.{}", g.cursor_variable),
                location: Location::Body,
                cursor_path: Some(format!("{page_info}.endCursor")),
                cursor_from_last_record: None,
                has_more_path: Some(format!("{page_info}.hasNextPage")),
                stop_path: None,
            };
        }
        self.method = Method::Post;
        self.body_format = BodyFormat::Json;
        self.body = Some(serde_json::json!({
            "query": g.query,
            "variables": Value::Object(g.variables.clone()),
        }));
        self.errors_path.get_or_insert_with(|| "errors".into());
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(CoreError::config("name", "must not be empty"));
        }
        let url = self.base()?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CoreError::config(
                "base_url",
                format!("scheme must be http or https, got {}", url.scheme()),
            ));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(CoreError::config(
                "concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        if self.max_pages == Some(0) {
            return Err(CoreError::config("max_pages", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        if !self.timeout_secs.is_finite()
            || self.timeout_secs <= 0.0
            || self.timeout_secs > MAX_SECONDS
        {
            return Err(CoreError::config(
                "timeout_secs",
                "must be a positive number of seconds, at most a day (86400)",
            ));
        }
        let r = &self.retry;
        for (field, v) in [
            ("retry.initial_backoff_secs", r.initial_backoff_secs),
            ("retry.max_backoff_secs", r.max_backoff_secs),
            ("retry.max_retry_after_secs", r.max_retry_after_secs),
        ] {
            if !v.is_finite() || !(0.0..=MAX_SECONDS).contains(&v) {
                return Err(CoreError::config(
                    field,
                    "must be a non-negative number of seconds, at most a day (86400)",
                ));
            }
        }
        if self.retry.max_attempts == 0 {
            return Err(CoreError::config(
                "retry.max_attempts",
                "must be at least 1",
            ));
        }
        match &self.paginator {
            PaginatorSpec::Cursor {
                cursor_path,
                cursor_from_last_record,
                ..
            } if cursor_path.is_some() == cursor_from_last_record.is_some() => {
                return Err(CoreError::config(
                    "paginator",
                    "a cursor paginator needs exactly one of cursor_path or cursor_from_last_record",
                ));
            }
            PaginatorSpec::Offset { limit: 0, .. } => {
                return Err(CoreError::config("paginator.limit", "must be at least 1"));
            }
            _ => {}
        }
        self.validate_request()?;
        if let Some(r) = &self.rate_limit {
            r.validate()?;
        }
        if let Some(a) = &self.auth {
            a.validate()?;
        }
        if let Some(p) = &self.parent {
            p.validate()?;
            if self.resume.is_none() && self.windows.is_some() {
                return Err(CoreError::config(
                    "parent",
                    "a substream cannot also be cut into windows; window the parent instead",
                ));
            }
        }
        if let Some(w) = &self.windows {
            if let Some(step) = &w.step {
                let d = duration_value(step, "windows.step")?;
                if d.as_secs() == 0 {
                    return Err(CoreError::config(
                        "windows.step",
                        "must be at least a second",
                    ));
                }
            }
            if w.count == 0 || w.count > MAX_WINDOWS {
                return Err(CoreError::config(
                    "windows.count",
                    format!("must be between 1 and {MAX_WINDOWS}"),
                ));
            }
            crate::sources::http::windows::parse_instant(&w.start, "windows.start")?;
            if let Some(end) = &w.end {
                crate::sources::http::windows::parse_instant(end, "windows.end")?;
            }
        }
        if let Some(inc) = &self.incremental {
            if self.cursor_field.is_none() {
                return Err(CoreError::config(
                    "incremental",
                    "needs cursor_field to know which field advances",
                ));
            }
            match &inc.lookback {
                Some(v @ Value::String(_)) => {
                    lookback_duration(v)?;
                }
                Some(v @ Value::Number(_)) => {
                    lookback_duration(v)?;
                }
                None | Some(Value::Null) => {}
                Some(other) => {
                    return Err(CoreError::config(
                        "incremental.lookback",
                        format!("{other} is neither a duration nor a non-negative number"),
                    ))
                }
            }
            if let Some(age) = &inc.min_age {
                duration_value(age, "incremental.min_age")?;
            }
            inc.start_value()?;
            match &self.parent {
                None if !inc.partitions.is_empty() => {
                    return Err(CoreError::config(
                        "incremental.partitions",
                        "per-parent cursors belong to a child resource; this one has no parent",
                    ))
                }
                // Each parent keeps its own cursor, found by the columns
                // its children carry.
                Some(p) if p.carry().is_empty() => {
                    return Err(CoreError::config(
                        "parent.carry",
                        "a child with a cursor of its own keeps one per parent, known by the \
                         columns carried from it; carry at least one",
                    ))
                }
                _ => {}
            }
        }
        self.normalize.validate()?;
        Ok(())
    }

    /// The request's own parts: a body only with POST, templates that name
    /// known variables, a body location only where there is a body.
    fn validate_request(&self) -> Result<()> {
        if let Some(body) = &self.body {
            if self.method == Method::Get {
                return Err(CoreError::config(
                    "body",
                    "a GET request sends no body; set method = \"POST\"",
                ));
            }
            if !body.is_object() {
                return Err(CoreError::config("body", "must be a JSON object"));
            }
        }
        let template = |field: String, text: &str| {
            check_template(text).map_err(|m| CoreError::config(field, m))
        };
        template("path".into(), &self.path)?;
        for (k, v) in &self.params {
            if let Value::String(text) = v {
                template(format!("params.{k}"), text)?;
            }
        }
        for (k, v) in &self.headers {
            template(format!("headers.{k}"), v)?;
        }
        if let Some(body) = &self.body {
            fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
                match v {
                    Value::String(s) => out.push(s),
                    Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                    Value::Object(m) => m.values().for_each(|v| strings(v, out)),
                    _ => {}
                }
            }
            let mut found = Vec::new();
            strings(body, &mut found);
            for text in found {
                template("body".into(), text)?;
            }
        }
        let pages = std::iter::once(self.path.as_str())
            .chain(self.params.values().filter_map(Value::as_str))
            .chain(self.headers.values().map(String::as_str))
            .any(crate::sources::http::request::uses_page)
            || self
                .body
                .as_ref()
                .is_some_and(|b| crate::sources::http::request::uses_page(&b.to_string()));
        let paged_by_template = matches!(
            &self.paginator,
            PaginatorSpec::Cursor {
                location: Location::Template,
                ..
            } | PaginatorSpec::Offset {
                location: Location::Template,
                ..
            } | PaginatorSpec::PageNumber {
                location: Location::Template,
                ..
            }
        );
        if pages != paged_by_template {
            return Err(CoreError::config(
                "paginator.location",
                if pages {
                    "the request uses {{ page.<name> }} templates, which only a paginator with location = \"template\" fills"
                } else {
                    "is template, but no {{ page.<name> }} template in the request takes its value"
                },
            ));
        }
        let mut locations = vec![];
        match &self.paginator {
            PaginatorSpec::Cursor { location, .. }
            | PaginatorSpec::Offset { location, .. }
            | PaginatorSpec::PageNumber { location, .. } => {
                locations.push(("paginator.location", *location))
            }
            _ => {}
        }
        if let Some(inc) = &self.incremental {
            locations.push(("incremental.location", inc.location));
            if inc.location == Location::Path {
                return Err(CoreError::config(
                    "incremental.location",
                    "must be query, body or header",
                ));
            }
        }
        if let Some(w) = &self.windows {
            locations.push(("windows.location", w.location));
            if w.location == Location::Path {
                return Err(CoreError::config(
                    "windows.location",
                    "must be query, body or header",
                ));
            }
        }
        for (field, location) in locations {
            if location == Location::Body && self.method == Method::Get {
                return Err(CoreError::config(
                    field,
                    "is body, but a GET request sends no body; set method = \"POST\"",
                ));
            }
        }
        Ok(())
    }

    /// The base URL, parsed.
    pub fn base(&self) -> Result<url::Url> {
        url::Url::parse(&self.base_url).map_err(|e| {
            CoreError::config(
                "base_url",
                format!("{e}: {:?}", self.redactor().text(&self.base_url)),
            )
        })
    }

    /// The first request's URL: the base URL joined with the path, its
    /// templates filled in from `vars`, no params yet.
    pub fn url(&self, vars: &Vars) -> Result<url::Url> {
        let base = self.base()?;
        let path = match render(&self.path, vars)? {
            Some(p) => param_text(&p),
            None => {
                return Err(CoreError::config(
                    "path",
                    format!("{:?} names a variable that has no value here", self.path),
                ))
            }
        };
        if path.is_empty() {
            return Ok(base);
        }
        let joined = format!(
            "{}/{}",
            base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url::Url::parse(&joined).map_err(|e| CoreError::config("path", e.to_string()))
    }

    /// Knows every secret in this spec so errors can be scrubbed.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::default();
        if let Some(auth) = &self.auth {
            auth.add_secrets(&mut r);
        }
        // Credentials written outside `auth`: a header named as one, a query
        // parameter named as one (masked in URLs), a password in the base URL.
        for (name, value) in &self.headers {
            if is_credential_name(name) {
                r.add_secret(&Secret::new(value.as_str()));
            }
        }
        for name in self.params.keys() {
            if is_credential_name(name) {
                r.add_query_param(name);
            }
        }
        if let Ok(base) = url::Url::parse(&self.base_url) {
            if let Some(password) = base.password() {
                r.add_secret(&Secret::new(password));
                let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
                r.add_basic(base.username(), &Secret::new(decoded.as_ref()));
            }
        }
        r
    }
}

/// Renders a JSON scalar as a query-string value.
pub fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
