//! A `DatetimeBasedCursor`: the intervals a run reads (from the start date,
//! or the stored cursor less the lookback window, to the end date, in steps)
//! and how record cursor values are parsed; `MinMaxDatetime`s clamped.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::dates::{parse_duration, parse_with, str_to_datetime};
use super::fields::{cfg, get_str as s};
use super::reader::Source;
use super::request::{text_of, Inject};
use crate::error::Result;

/// A `DatetimeBasedCursor`.
pub(super) struct Cursor {
    pub(super) field: String,
    pub(super) format: String,
    pub(super) formats: Vec<String>,
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
    pub(super) step: Option<Duration>,
    pub(super) granularity: Duration,
    pub(super) lookback: Duration,
    pub(super) start_option: Option<Inject>,
    pub(super) end_option: Option<Inject>,
    pub(super) start_key: String,
    pub(super) end_key: String,
    pub(super) client_side: bool,
}

impl Cursor {
    pub(super) fn parse(&self, text: &str) -> Option<DateTime<Utc>> {
        self.formats
            .iter()
            .find_map(|f| parse_with(text, f))
            .or_else(|| parse_with(text, &self.format))
            .or_else(|| str_to_datetime(text))
    }

    pub(super) fn intervals(&self, state: Option<&Value>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
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

impl Source {
    pub(super) fn cursor(
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
    pub(super) fn min_max(
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
}
