//! The Jinja interpolation of Airbyte manifests, on minijinja with its
//! Python-compatibility methods (`.get()`, `.items()`, `.split()`, …).
//!
//! As Airbyte's CDK does, a string is rendered and the result read back as a
//! Python literal where it is one (`"10"` → 10, `"True"` → true, `"['a']"`
//! → a list). The macros and filters are Airbyte's documented ones:
//! `now_utc`, `today_utc`, `today_with_timezone`, `timestamp`,
//! `str_to_datetime`, `max`, `min`, `day_delta`, `duration`,
//! `format_datetime`, `sanitize_url`, `camel_case_to_snake_case`,
//! `generate_uuid`; filters `hash`, `base64encode`, `base64decode`,
//! `string`, `regex_search`, `regex_replace`. Datetimes are objects with
//! `strftime`, `isoformat`, `timestamp` and `date`, rendered as Python
//! renders them. Arithmetic on datetimes (`now_utc() - duration('P1D')`)
//! is not supported: minijinja has no operators for objects; `day_delta`
//! and `format_datetime` cover what manifests use it for.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use minijinja::value::{Object, ObjectRepr, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};

use super::dates::{format_dt, parse_duration, parse_with, str_to_datetime};

/// A datetime in templates (what `now_utc()` returns).
#[derive(Debug, Clone, Copy)]
pub struct PyDateTime(pub DateTime<Utc>);

/// A date in templates (what `today_utc()` returns).
#[derive(Debug, Clone, Copy)]
pub struct PyDate(pub NaiveDate);

/// A duration in templates (what `duration('P1D')` returns).
#[derive(Debug, Clone, Copy)]
pub struct PyDuration(pub Duration);

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn one_str(method: &str, args: &[Value]) -> Result<String, Error> {
    match args {
        [v] => v
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("{method}() takes a string"))),
        _ => Err(invalid(format!("{method}() takes one argument"))),
    }
}

impl Object for PyDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python's str(datetime): a space, microseconds only when non-zero, the offset.
        let dt = self.0;
        let text = if dt.timestamp_subsec_micros() == 0 {
            dt.format("%Y-%m-%d %H:%M:%S+00:00")
        } else {
            dt.format("%Y-%m-%d %H:%M:%S%.6f+00:00")
        };
        write!(f, "{text}")
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => Ok(Value::from(format_dt(self.0, &one_str("strftime", args)?))),
            "isoformat" => Ok(Value::from(isoformat(self.0))),
            "timestamp" => Ok(Value::from(self.0.timestamp_micros() as f64 / 1e6)),
            "date" => Ok(Value::from_object(PyDate(self.0.date_naive()))),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Python's `datetime.isoformat()` for a UTC datetime.
pub fn isoformat(dt: DateTime<Utc>) -> String {
    if dt.timestamp_subsec_micros() == 0 {
        dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

impl Object for PyDate {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let midnight = Utc.from_utc_datetime(&self.0.and_hms_opt(0, 0, 0).expect("midnight"));
        match method {
            "strftime" => Ok(Value::from(format_dt(
                midnight,
                &one_str("strftime", args)?,
            ))),
            "isoformat" => Ok(Value::from(self.0.format("%Y-%m-%d").to_string())),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl Object for PyDuration {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python's str(timedelta): "1 day, 2:03:04".
        let secs = self.0.num_seconds();
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let clock = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
        match days {
            0 => write!(f, "{clock}"),
            1 | -1 => write!(f, "{days} day, {clock}"),
            _ => write!(f, "{days} days, {clock}"),
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "total_seconds" => Ok(Value::from(self.0.num_milliseconds() as f64 / 1e3)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A template value as a UTC datetime: a datetime or date object, a
/// string (`str_to_datetime`'s forms) or epoch seconds.
fn to_datetime(v: &Value) -> Result<DateTime<Utc>, Error> {
    if let Some(dt) = v.downcast_object_ref::<PyDateTime>() {
        return Ok(dt.0);
    }
    if let Some(d) = v.downcast_object_ref::<PyDate>() {
        return Ok(Utc.from_utc_datetime(&d.0.and_hms_opt(0, 0, 0).expect("midnight")));
    }
    if let Some(s) = v.as_str() {
        return str_to_datetime(s)
            .ok_or_else(|| invalid(format!("{s:?} is not a date or datetime")));
    }
    if let Ok(secs) = i64::try_from(v.clone()) {
        return Utc
            .timestamp_opt(secs, 0)
            .single()
            .ok_or_else(|| invalid(format!("{secs} is out of range")));
    }
    Err(invalid(format!("{v} is not a datetime")))
}

fn now_utc() -> Value {
    Value::from_object(PyDateTime(Utc::now()))
}

fn today_utc() -> Value {
    Value::from_object(PyDate(Utc::now().date_naive()))
}

fn today_with_timezone(tz: String) -> Result<Value, Error> {
    let zone: chrono_tz::Tz = tz
        .parse()
        .map_err(|_| invalid(format!("{tz:?} is not an IANA time zone")))?;
    Ok(Value::from_object(PyDate(
        Utc::now().with_timezone(&zone).date_naive(),
    )))
}

fn timestamp(v: Value) -> Result<Value, Error> {
    if let Ok(n) = f64::try_from(v.clone()) {
        if v.as_str().is_none() {
            return Ok(Value::from(n.trunc() as i64));
        }
    }
    let dt = to_datetime(&v)?;
    let micros = dt.timestamp_micros();
    Ok(if micros % 1_000_000 == 0 {
        Value::from(micros / 1_000_000)
    } else {
        Value::from(micros as f64 / 1e6)
    })
}

fn str_to_datetime_fn(s: String) -> Result<Value, Error> {
    str_to_datetime(&s)
        .map(|dt| Value::from_object(PyDateTime(dt)))
        .ok_or_else(|| invalid(format!("str_to_datetime: {s:?} is not a date or datetime")))
}

fn extreme(args: Rest<Value>, biggest: bool, name: &str) -> Result<Value, Error> {
    let items: Vec<Value> = match args.as_slice() {
        [one] if one.try_iter().is_ok() && one.as_str().is_none() => one.try_iter()?.collect(),
        many => many.to_vec(),
    };
    let mut best: Option<Value> = None;
    for v in items {
        best = Some(match best {
            None => v,
            Some(b) => {
                let better = if biggest { v > b } else { v < b };
                if better {
                    v
                } else {
                    b
                }
            }
        });
    }
    best.ok_or_else(|| invalid(format!("{name}() of nothing")))
}

fn day_delta(days: i64, format: Option<String>) -> Value {
    let when = Utc::now() + Duration::days(days);
    Value::from(format_dt(
        when,
        format.as_deref().unwrap_or("%Y-%m-%dT%H:%M:%S.%f%z"),
    ))
}

fn duration(s: String) -> Result<Value, Error> {
    parse_duration(&s)
        .map(|d| Value::from_object(PyDuration(d)))
        .ok_or_else(|| invalid(format!("duration: {s:?} is not an ISO 8601 duration")))
}

fn format_datetime(
    dt: Value,
    format: String,
    input_format: Option<String>,
) -> Result<Value, Error> {
    let parsed = match (&input_format, dt.as_str()) {
        (Some(fmt), Some(s)) => parse_with(s, fmt)
            .ok_or_else(|| invalid(format!("format_datetime: {s:?} does not match {fmt:?}")))?,
        (Some(fmt), None) => parse_with(&dt.to_string(), fmt)
            .ok_or_else(|| invalid(format!("format_datetime: {dt} does not match {fmt:?}")))?,
        (None, _) => to_datetime(&dt)?,
    };
    Ok(Value::from(format_dt(parsed, &format)))
}

fn sanitize_url(s: String) -> Value {
    Value::from(quote_plus(&s))
}

/// Python's `urllib.parse.quote_plus`.
pub fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn camel_case_to_snake_case(s: String) -> Value {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    Value::from(out)
}

fn generate_uuid() -> Value {
    let mut bytes = [0u8; 16];
    for b in &mut bytes {
        *b = fastrand::u8(..);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Value::from(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn hash(value: Value, hash_type: Option<String>, salt: Option<String>) -> Result<Value, Error> {
    use md5::Digest as _;
    let mut text = value.to_string();
    if let Some(s) = salt {
        text.push_str(&s);
    }
    match hash_type.as_deref().unwrap_or("md5") {
        "md5" => Ok(Value::from(hex(&md5::Md5::digest(text.as_bytes())))),
        "sha256" => Ok(Value::from(hex(ring::digest::digest(
            &ring::digest::SHA256,
            text.as_bytes(),
        )
        .as_ref()))),
        "sha1" => Ok(Value::from(hex(ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            text.as_bytes(),
        )
        .as_ref()))),
        "sha512" => Ok(Value::from(hex(ring::digest::digest(
            &ring::digest::SHA512,
            text.as_bytes(),
        )
        .as_ref()))),
        other => Err(invalid(format!(
            "hash: no hash type {other:?} (md5, sha1, sha256, sha512)"
        ))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64encode(value: String) -> Value {
    Value::from(base64::engine::general_purpose::STANDARD.encode(value.as_bytes()))
}

fn base64decode(value: String) -> Result<Value, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|e| invalid(format!("base64decode: {e}")))?;
    Ok(Value::from(String::from_utf8_lossy(&bytes).into_owned()))
}

fn string(value: Value) -> Value {
    if value.as_str().is_some() {
        return value;
    }
    let json = serde_json::to_string(&value).unwrap_or_default();
    Value::from(format!("\"\"\"{json}\"\"\""))
}

fn regex_search(value: String, pattern: String) -> Result<Value, Error> {
    let re = regex::Regex::new(&pattern).map_err(|e| invalid(format!("regex_search: {e}")))?;
    Ok(Value::from(
        re.captures(&value)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
    ))
}

fn regex_replace(value: String, pattern: String, replacement: String) -> Result<Value, Error> {
    let re = regex::Regex::new(&pattern).map_err(|e| invalid(format!("regex_replace: {e}")))?;
    // Python's \1 back-references are regex's ${1}.
    let replacement = regex::Regex::new(r"\\(\d+)")
        .expect("a valid pattern")
        .replace_all(&replacement, "$${$1}");
    Ok(Value::from(
        re.replace_all(&value, replacement.as_ref()).into_owned(),
    ))
}

/// The environment every manifest's strings render in.
pub struct Interp {
    env: Environment<'static>,
}

impl Default for Interp {
    fn default() -> Self {
        Self::new()
    }
}

impl Interp {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("now_utc", now_utc);
        env.add_function("today_utc", today_utc);
        env.add_function("today_with_timezone", today_with_timezone);
        env.add_function("timestamp", timestamp);
        env.add_function("str_to_datetime", str_to_datetime_fn);
        env.add_function("max", |args: Rest<Value>| extreme(args, true, "max"));
        env.add_function("min", |args: Rest<Value>| extreme(args, false, "min"));
        env.add_function("day_delta", day_delta);
        env.add_function("duration", duration);
        env.add_function("format_datetime", format_datetime);
        env.add_function("sanitize_url", sanitize_url);
        env.add_function("camel_case_to_snake_case", camel_case_to_snake_case);
        env.add_function("generate_uuid", generate_uuid);
        env.add_filter("hash", hash);
        env.add_filter("base64encode", base64encode);
        env.add_filter("base64decode", base64decode);
        env.add_filter("string", string);
        env.add_filter("regex_search", regex_search);
        env.add_filter("regex_replace", regex_replace);
        // Airbyte leaves out `range`: it can cost without bound.
        env.remove_global("range");
        Interp { env }
    }

    /// Renders a template to its text.
    pub fn render(&self, template: &str, ctx: &Value) -> Result<String, String> {
        if !template.contains("{{") && !template.contains("{%") {
            return Ok(template.to_string());
        }
        self.env
            .render_str(template, ctx)
            .map_err(|e| describe(template, &e))
    }

    /// Renders a template and reads the result back as a Python literal
    /// where it is one, as Airbyte's interpolation does; `None` renders as null.
    pub fn eval(&self, template: &str, ctx: &Value) -> Result<serde_json::Value, String> {
        let text = self.render(template, ctx)?;
        Ok(super::literal::literal_eval(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// A condition (a RecordFilter's, a stop condition): true unless it
    /// renders empty, False, None, 0 or an empty collection.
    pub fn truthy(&self, template: &str, ctx: &Value) -> Result<bool, String> {
        let v = self.eval(template, ctx)?;
        Ok(match v {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => b,
            serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
        })
    }
}

fn describe(template: &str, e: &Error) -> String {
    let shown: String = template.chars().take(200).collect();
    match e.detail() {
        Some(detail) => format!("cannot render {shown:?}: {} ({detail})", e.kind()),
        None => format!("cannot render {shown:?}: {}", e.kind()),
    }
}

/// A template context from JSON (config, parameters, stream_slice, …),
/// with `stream_interval` and `stream_partition` as aliases of
/// `stream_slice`, as Airbyte has them.
pub fn context(mut vars: serde_json::Map<String, serde_json::Value>) -> Value {
    if let Some(slice) = vars.get("stream_slice").cloned() {
        vars.entry("stream_interval")
            .or_insert_with(|| slice.clone());
        vars.entry("stream_partition").or_insert(slice);
    }
    Value::from(minijinja::value::Serde(&vars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Object(m) => context(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn renders_config_and_reads_literals_back() {
        let i = Interp::new();
        let c = ctx(
            json!({"config": {"page_size": 50, "shop": "acme", "flag": true},
                           "stream_slice": {"id": 7}}),
        );
        assert_eq!(i.eval("{{ config['page_size'] }}", &c).unwrap(), json!(50));
        assert_eq!(i.eval("{{ config.shop }}", &c).unwrap(), json!("acme"));
        assert_eq!(i.eval("{{ config.flag }}", &c).unwrap(), json!(true));
        assert_eq!(
            i.eval("/orders/{{ stream_partition.id }}/notes", &c)
                .unwrap(),
            json!("/orders/7/notes")
        );
        assert_eq!(i.eval("{{ stream_slice['id'] }}", &c).unwrap(), json!(7));
        assert_eq!(
            i.eval("{{ config.get('missing', 'x') }}", &c).unwrap(),
            json!("x")
        );
        assert!(i.truthy("{{ config.page_size > 10 }}", &c).unwrap());
        assert!(!i.truthy("{{ config.missing }}", &c).unwrap());
    }

    #[test]
    fn macros_and_filters() {
        let i = Interp::new();
        let c = ctx(json!({"config": {"start": "2024-03-01T10:20:30Z", "n": "17"}}));
        let eval = |t: &str| i.eval(t, &c).unwrap();
        assert_eq!(
            eval("{{ format_datetime(config.start, '%Y-%m-%d') }}"),
            json!("2024-03-01")
        );
        assert_eq!(eval("{{ timestamp(config.start) }}"), json!(1709288430));
        assert_eq!(
            eval("{{ timestamp(1658505815.223235) }}"),
            json!(1658505815)
        );
        assert_eq!(
            eval("{{ str_to_datetime(config.start) }}"),
            json!("2024-03-01 10:20:30+00:00")
        );
        assert_eq!(
            eval("{{ str_to_datetime(config.start).strftime('%s') }}"),
            json!(1709288430)
        );
        assert_eq!(eval("{{ max(2, 3) }}"), json!(3));
        assert_eq!(eval("{{ min([4, 1, 9]) }}"), json!(1));
        assert_eq!(eval("{{ 'abc' | base64encode }}"), json!("YWJj"));
        assert_eq!(eval("{{ 'YWJj' | base64decode }}"), json!("abc"));
        assert_eq!(
            eval("{{ 'abc' | hash('md5') }}"),
            json!("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            eval("{{ 'abc' | hash('sha256') }}"),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            eval("{{ 'page=42&x=1' | regex_search('page=(\\\\d+)') }}"),
            json!(42)
        );
        assert_eq!(
            eval("{{ camel_case_to_snake_case('OrderNotes') }}"),
            json!("order_notes")
        );
        assert_eq!(eval("{{ sanitize_url('a b&c') }}"), json!("a+b%26c"));
        assert_eq!(eval("{{ duration('P1DT2H') }}"), json!("1 day, 2:00:00"));
        assert_eq!(eval("{{ duration('PT90S').total_seconds() }}"), json!(90.0));
        assert_eq!(
            eval("{{ format_datetime('03/01/2024', '%Y-%m-%d', '%m/%d/%Y') }}"),
            json!("2024-03-01")
        );
        let today = eval("{{ today_utc() }}");
        assert_eq!(today.as_str().unwrap().len(), 10);
        let later = eval("{{ day_delta(1, '%Y-%m-%d') }}");
        assert!(later.as_str().unwrap() > today.as_str().unwrap());
        assert_eq!(eval("{{ config.n | int + 1 }}"), json!(18));
        assert_eq!(eval("{{ 'a,b'.split(',') }}"), json!(["a", "b"]));
    }

    #[test]
    fn errors_name_the_template() {
        let i = Interp::new();
        let c = ctx(json!({"config": {}}));
        let e = i.eval("{{ now_utc() - duration('P1D') }}", &c).unwrap_err();
        assert!(e.contains("now_utc() - duration"), "{e}");
        let e = i.eval("{{ str_to_datetime('soon') }}", &c).unwrap_err();
        assert!(e.contains("not a date"), "{e}");
    }
}
