//! Square, as documented at:
//! - https://developer.squareup.com/docs/build-basics/access-tokens (Bearer
//!   access token)
//! - https://developer.squareup.com/docs/build-basics/common-api-patterns/pagination
//!   (`cursor` in, `cursor` out, absent on the last page)
//! - https://developer.squareup.com/reference/square/customers-api/list-customers
//!   (`GET /v2/customers`, `limit` 1–100, default 100)
//! - https://developer.squareup.com/reference/square/payments-api/list-payments
//!   (`GET /v2/payments`, `begin_time`, `end_time`, `sort_order`, `limit` ≤ 100)
//! - https://developer.squareup.com/reference/square/orders-api/search-orders
//!   (POST `/v2/orders/search`, `location_ids`, `cursor`, `limit` ≤ 1000
//!   (default 500) and `query.filter.date_time_filter` in the body)
//! - https://developer.squareup.com/docs/build-basics/handling-errors
//!   (`{"errors": [{"category", "code", "detail", "field"}]}`)
//!
//! Square publishes no numeric rate limit, so none is enforced. These are
//! the shop's in-person sales; their customers are the store's customers.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::common::{bearer, body_json, iso, json as reply_json, parse_time};
use super::data::World;
use super::{Counters, Ctx, Vendor};
use crate::http_server::{Reply, Request};

pub const ACCESS_TOKEN: &str = "EAAAlTillflowDemoSquareSandboxToken0000000000000000000000000000000";
pub const LOCATION_ID: &str = "LTFDEMO0STORE01";

pub struct Square {
    ctx: Arc<Ctx>,
}

fn sq_id(prefix: &str, i: u64) -> String {
    format!("{prefix}{i:020}")
}

fn error(status: u16, category: &str, code: &str, detail: &str, field: Option<&str>) -> Reply {
    let mut e = json!({"category": category, "code": code, "detail": detail});
    if let Some(f) = field {
        e["field"] = json!(f);
    }
    reply_json(status, &json!({ "errors": [e] }))
}

fn encode_cursor(p: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("sq{p}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    raw.strip_prefix("sq")?.parse().ok()
}

impl Square {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Square { ctx }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn customer(&self, c: u64) -> Value {
        let w = self.w();
        let (first, last) = w.name(c);
        json!({"id": sq_id("TFC", c), "created_at": iso(w.customer_created(c)),
               "updated_at": iso(w.customer_updated(c)), "given_name": first, "family_name": last,
               "email_address": w.email(c), "phone_number": w.phone(c),
               "preferences": {"email_unsubscribed": w.newsletter_status(c) != "subscribed"},
               "creation_source": "THIRD_PARTY", "version": 1})
    }

    fn money(cents: i64) -> Value {
        json!({"amount": cents, "currency": "USD"})
    }

    fn payment(&self, s: u64) -> Value {
        let w = self.w();
        let t = iso(w.pos_created(s));
        let total = w.pos_total(s);
        json!({"id": sq_id("TFP", s), "created_at": t, "updated_at": t, "amount_money": Self::money(total),
               "total_money": Self::money(total), "approved_money": Self::money(total), "status": "COMPLETED",
               "source_type": "CARD", "location_id": LOCATION_ID, "order_id": sq_id("TFO", s),
               "customer_id": sq_id("TFC", w.pos_customer(s)), "receipt_number": format!("R{s:05}"),
               "buyer_email_address": w.email(w.pos_customer(s))})
    }

    fn order(&self, s: u64) -> Value {
        let w = self.w();
        let t = iso(w.pos_created(s));
        let total = w.pos_total(s);
        let items: Vec<Value> = w
            .pos_lines(s)
            .iter()
            .enumerate()
            .map(|(k, &(p, q, unit))| {
                json!({"uid": format!("li{s}-{k}"), "name": w.shop.product(p).0, "quantity": q.to_string(),
                       "base_price_money": Self::money(unit), "total_money": Self::money(q * unit)})
            })
            .collect();
        json!({"id": sq_id("TFO", s), "location_id": LOCATION_ID, "created_at": t, "updated_at": t,
               "closed_at": t, "state": "COMPLETED", "customer_id": sq_id("TFC", w.pos_customer(s)),
               "line_items": items, "total_money": Self::money(total),
               "tenders": [{"id": sq_id("TFT", s), "type": "CARD", "amount_money": Self::money(total),
                            "payment_id": sq_id("TFP", s)}], "version": 1})
    }

    /// One page over `items` from a cursor: the records and the next cursor.
    fn page(
        &self,
        items: &[u64],
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<u64>, Option<String>), Reply> {
        let from = match cursor {
            None => 0,
            Some(c) => match decode_cursor(c) {
                Some(p) => p as usize,
                None => {
                    return Err(error(
                        400,
                        "INVALID_REQUEST_ERROR",
                        "INVALID_CURSOR",
                        "The pagination cursor is invalid.",
                        Some("cursor"),
                    ))
                }
            },
        };
        let to = (from + limit as usize).min(items.len());
        let page = items[from.min(to)..to].to_vec();
        let next = (to < items.len()).then(|| encode_cursor(to as u64));
        Ok((page, next))
    }

    fn limit(raw: Option<&Value>, default: u64, max: u64) -> Result<u64, Reply> {
        match raw {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(error(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "INVALID_VALUE",
                    &format!("`limit` must be between 1 and {max}, got {v}."),
                    Some("limit"),
                )),
            },
        }
    }

    fn customers(&self, req: &Request) -> Reply {
        let limit = match Self::limit(req.param("limit").map(|s| json!(s)).as_ref(), 100, 100) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let all: Vec<u64> = (0..self.w().customers()).collect();
        match self.page(&all, req.param("cursor"), limit) {
            Ok((page, next)) => {
                let mut body = json!({"customers": page.iter().map(|&c| self.customer(c)).collect::<Vec<_>>()});
                if let Some(c) = next {
                    body["cursor"] = json!(c);
                }
                reply_json(200, &body)
            }
            Err(e) => e,
        }
    }

    fn sales_between(&self, begin: Option<i64>, end: Option<i64>, descending: bool) -> Vec<u64> {
        let w = self.w();
        let mut v: Vec<u64> = (0..w.pos_sales())
            .filter(|&s| {
                let t = w.pos_created(s);
                begin.is_none_or(|b| t >= b) && end.is_none_or(|e| t < e)
            })
            .collect();
        if descending {
            v.reverse();
        }
        v
    }

    fn payments(&self, req: &Request) -> Reply {
        let limit = match Self::limit(req.param("limit").map(|s| json!(s)).as_ref(), 100, 100) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let time = |name: &str| -> Result<Option<i64>, Reply> {
            req.param(name).map_or(Ok(None), |v| {
                parse_time(v).map(Some).ok_or_else(|| {
                    error(
                        400,
                        "INVALID_REQUEST_ERROR",
                        "INVALID_TIME",
                        &format!("`{name}` must be an RFC 3339 timestamp."),
                        Some(name),
                    )
                })
            })
        };
        let (begin, end) = match (time("begin_time"), time("end_time")) {
            (Ok(b), Ok(e)) => (b, e),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let descending = match req.param("sort_order") {
            None | Some("DESC") => true,
            Some("ASC") => false,
            Some(_) => {
                return error(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "INVALID_ENUM_VALUE",
                    "`sort_order` must be ASC or DESC.",
                    Some("sort_order"),
                )
            }
        };
        let all = self.sales_between(begin, end, descending);
        match self.page(&all, req.param("cursor"), limit) {
            Ok((page, next)) => {
                let mut body =
                    json!({"payments": page.iter().map(|&s| self.payment(s)).collect::<Vec<_>>()});
                if let Some(c) = next {
                    body["cursor"] = json!(c);
                }
                reply_json(200, &body)
            }
            Err(e) => e,
        }
    }

    fn search_orders(&self, req: &Request) -> Reply {
        let body = match body_json(req) {
            Ok(b) => b,
            Err(e) => return error(400, "INVALID_REQUEST_ERROR", "INVALID_BODY", &e, None),
        };
        let locations = body.get("location_ids").and_then(Value::as_array);
        if !locations.is_some_and(|l| l.iter().any(|v| v.as_str() == Some(LOCATION_ID))) {
            return error(
                400,
                "INVALID_REQUEST_ERROR",
                "INVALID_VALUE",
                &format!("`location_ids` must name this seller's location ({LOCATION_ID})."),
                Some("location_ids"),
            );
        }
        let limit = match Self::limit(body.get("limit"), 500, 1000) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let range = body
            .pointer("/query/filter/date_time_filter/created_at")
            .or_else(|| body.pointer("/query/filter/date_time_filter/updated_at"))
            .or_else(|| body.pointer("/query/filter/date_time_filter/closed_at"));
        let bound = |key: &str| -> Result<Option<i64>, Reply> {
            match range.and_then(|r| r.get(key)).and_then(Value::as_str) {
                None => Ok(None),
                Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                    error(
                        400,
                        "INVALID_REQUEST_ERROR",
                        "INVALID_TIME",
                        &format!("`{key}` must be an RFC 3339 timestamp."),
                        Some(key),
                    )
                }),
            }
        };
        let (begin, end) = match (bound("start_at"), bound("end_at")) {
            (Ok(b), Ok(e)) => (b, e),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let descending = body
            .pointer("/query/sort/sort_order")
            .and_then(Value::as_str)
            == Some("DESC");
        let all = self.sales_between(begin, end, descending);
        match self.page(&all, body.get("cursor").and_then(Value::as_str), limit) {
            Ok((page, next)) => {
                let mut out =
                    json!({"orders": page.iter().map(|&s| self.order(s)).collect::<Vec<_>>()});
                if let Some(c) = next {
                    out["cursor"] = json!(c);
                }
                reply_json(200, &out)
            }
            Err(e) => e,
        }
    }
}

impl Vendor for Square {
    fn name(&self) -> &'static str {
        "square"
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("access_token", ACCESS_TOKEN.to_string()),
            ("location_id", LOCATION_ID.to_string()),
        ])
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        if bearer(req) != Some(ACCESS_TOKEN) {
            return error(
                401,
                "AUTHENTICATION_ERROR",
                "UNAUTHORIZED",
                "This request could not be authorized.",
                None,
            );
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v2/customers") => self.customers(req),
            ("GET", "/v2/payments") => self.payments(req),
            ("POST", "/v2/orders/search") => self.search_orders(req),
            _ => error(
                404,
                "INVALID_REQUEST_ERROR",
                "NOT_FOUND",
                "Resource not found.",
                None,
            ),
        }
    }
}
