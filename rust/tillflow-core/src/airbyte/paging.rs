//! A `DefaultPaginator`: where the page size and the next page's token go,
//! and its strategy (`OffsetIncrement`, `PageIncrement`, `CursorPagination`)
//! that says what the next token is and when a slice's pages end.

use serde_json::Value;

use super::fields::{cfg, get_str as s};
use super::reader::Source;
use super::request::{text_of, Inject};
use crate::error::Result;

#[derive(Debug, Clone)]
pub(super) enum Strategy {
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

pub(super) struct Paginator {
    pub(super) strategy: Strategy,
    pub(super) size_option: Option<Inject>,
    pub(super) token_option: Option<Inject>,
}

impl Source {
    pub(super) fn paginator(
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
}
