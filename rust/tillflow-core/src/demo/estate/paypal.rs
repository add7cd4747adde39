//! PayPal, as documented at:
//! - https://developer.paypal.com/api/rest/authentication/ (POST
//!   `/v1/oauth2/token` with the client id and secret as Basic auth and
//!   `grant_type=client_credentials`; a Bearer access token for 32,400 s)
//! - https://developer.paypal.com/docs/api/transaction-search/v1/
//!   (`GET /v1/reporting/transactions` with `start_date`/`end_date` at most
//!   31 days apart, `page`, `page_size` ≤ 500 (default 100), `total_items`,
//!   `total_pages`, `transaction_details[].transaction_info`/`payer_info`)
//! - https://developer.paypal.com/api/rest/responses/ (error body: `name`,
//!   `message`, `debug_id`, `details[]`; OAuth errors as `error` and
//!   `error_description`)
//!
//! PayPal publishes no numeric rate limit, so none is enforced. Captures are
//! event code T0006; refunds T1107 with a negative amount.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};

use super::common::{basic, bearer, form, form_get, iso, json as reply_json, money, parse_time};
use super::data::World;
use super::oauth::{Refused, TokenStore};
use super::{Counters, Ctx, Vendor};
use crate::http_server::{Reply, Request};

pub const CLIENT_ID: &str =
    "AZtillflowDemoPayPalClientId000000000000000000000000000000000000000000000000";
pub const CLIENT_SECRET: &str =
    "EKtillflowDemoPayPalSecret00000000000000000000000000000000000000000000000000";
pub const TOKEN_PATH: &str = "/v1/oauth2/token";
pub const ACCESS_TOKEN_SECS: u64 = 32_400;
pub const MAX_RANGE_SECS: i64 = 31 * 86_400;
const MAX_PAGE_SIZE: u64 = 500;

pub struct PayPal {
    ctx: Arc<Ctx>,
    tokens: TokenStore,
    /// (time, order, is_refund), oldest first.
    events: OnceLock<Vec<(i64, u64, bool)>>,
}

/// PayPal's date form: `2024-01-01T00:00:00+0000`.
fn pp_time(secs: i64) -> String {
    format!("{}+0000", iso(secs).trim_end_matches('Z'))
}

/// Reads `2024-01-01T00:00:00-0700`, `…+00:00` or `…Z`.
fn read_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() > 5 && (b[b.len() - 5] == b'+' || b[b.len() - 5] == b'-') && b[b.len() - 3] != b':' {
        let (head, tz) = s.split_at(s.len() - 2);
        return parse_time(&format!("{head}:{tz}"));
    }
    parse_time(s)
}

impl PayPal {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let ttl = ctx.config.access_token_secs.unwrap_or(ACCESS_TOKEN_SECS);
        PayPal {
            tokens: TokenStore::new("A21AA", ttl, None),
            ctx,
            events: OnceLock::new(),
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    /// Every capture and refund, oldest first.
    pub fn events(&self) -> &[(i64, u64, bool)] {
        self.events.get_or_init(|| self.w().paypal_events())
    }

    fn transaction(&self, (t, i, refund): (i64, u64, bool)) -> Value {
        let w = self.w();
        let (amount, _) = w.paypal_payment(i).unwrap_or((0, false));
        let signed = if refund { -amount } else { amount };
        let fee = if refund {
            0
        } else {
            -(amount * 349 / 10_000 + 49)
        };
        let (given, surname) = match w.shop.customer_of(i) {
            Some(c) => w.name(c),
            None => ("Guest", "Shopper"),
        };
        let id = |kind: u64| {
            format!(
                "{:017X}",
                crate::demo::data::mix(w.seed, 6000 + kind, i) >> 4
            )[..17]
                .to_string()
        };
        json!({
            "transaction_info": {
                "paypal_account_id": "TFDEMOMERCHANT01",
                "transaction_id": id(u64::from(refund)),
                "paypal_reference_id": if refund { json!(id(0)) } else { Value::Null },
                "transaction_event_code": if refund { "T1107" } else { "T0006" },
                "transaction_initiation_date": pp_time(t),
                "transaction_updated_date": pp_time(t),
                "transaction_amount": {"currency_code": "USD", "value": money(signed)},
                "fee_amount": {"currency_code": "USD", "value": money(fee)},
                "transaction_status": "S",
                "invoice_id": (1001 + i).to_string(),
                "custom_field": format!("order-{}", crate::demo::data::ORDER_ID_BASE + i as i64),
            },
            "payer_info": {
                "account_id": format!("TFPAYER{:08}", i),
                "email_address": w.payer_email(i),
                "payer_name": {"given_name": given, "surname": surname},
            }
        })
    }

    fn token(&self, req: &Request) -> Reply {
        if !basic(req).is_some_and(|(u, p)| u == CLIENT_ID && p == CLIENT_SECRET) {
            return reply_json(
                401,
                &json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
            );
        }
        let fields = form(req);
        if form_get(&fields, "grant_type") != Some("client_credentials") {
            return reply_json(
                400,
                &json!({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL or not supported"}),
            );
        }
        let t = self.tokens.issue_access(self.ctx.clock.now_ms());
        reply_json(
            200,
            &json!({"scope": "https://uri.paypal.com/services/reporting/search/read", "access_token": t.access_token,
                    "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": t.expires_in,
                    "nonce": format!("2024-01-01T00:00:00Z{}", self.ctx.clock.now_ms())}),
        )
    }

    fn search(&self, req: &Request) -> Reply {
        let bad = |field: &str, value: &str, issue: &str| {
            reply_json(
                400,
                &json!({"name": "INVALID_REQUEST",
                        "message": "Request is not well-formed, syntactically incorrect, or violates schema.",
                        "debug_id": format!("{:013x}", self.ctx.clock.now_ms()),
                        "details": [{"field": field, "value": value, "location": "query", "issue": issue}],
                        "links": [{"href": "https://developer.paypal.com/docs/api/transaction-search/v1/#error-INVALID_REQUEST",
                                   "rel": "information_link", "method": "GET"}]}),
            )
        };
        let (Some(start_raw), Some(end_raw)) = (req.param("start_date"), req.param("end_date"))
        else {
            let missing = if req.param("start_date").is_none() {
                "start_date"
            } else {
                "end_date"
            };
            return bad(missing, "", "Required field is missing.");
        };
        let Some(start) = read_time(start_raw) else {
            return bad("start_date", start_raw, "Value is not a valid date-time.");
        };
        let Some(end) = read_time(end_raw) else {
            return bad("end_date", end_raw, "Value is not a valid date-time.");
        };
        if end < start {
            return bad("end_date", end_raw, "End date is before start date.");
        }
        if end - start > MAX_RANGE_SECS {
            return bad("end_date", end_raw, "Date range is greater than 31 days");
        }
        let page_size = match req.param("page_size").map(str::parse::<u64>) {
            None => 100,
            Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(_) => {
                return bad(
                    "page_size",
                    req.param("page_size").unwrap_or_default(),
                    "Value must be between 1 and 500.",
                )
            }
        };
        let page = match req.param("page").map(str::parse::<u64>) {
            None => 1,
            Some(Ok(n)) if n >= 1 => n,
            Some(_) => {
                return bad(
                    "page",
                    req.param("page").unwrap_or_default(),
                    "Value must be at least 1.",
                )
            }
        };
        let events = self.events();
        let from = events.partition_point(|e| e.0 < start);
        let to = events.partition_point(|e| e.0 <= end);
        let total = (to - from) as u64;
        let details: Vec<Value> = events[from..to]
            .iter()
            .skip(((page - 1) * page_size) as usize)
            .take(page_size as usize)
            .map(|&e| self.transaction(e))
            .collect();
        reply_json(
            200,
            &json!({"transaction_details": details, "account_number": "TFDEMOMERCHANT01",
                    "start_date": pp_time(start), "end_date": pp_time(end),
                    "last_refreshed_datetime": pp_time(self.ctx.clock.unix()),
                    "page": page, "total_items": total, "total_pages": total.div_ceil(page_size).max(1),
                    "links": []}),
        )
    }
}

impl Vendor for PayPal {
    fn name(&self) -> &'static str {
        "paypal"
    }

    fn token_path(&self) -> Option<&'static str> {
        Some(TOKEN_PATH)
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("client_id", CLIENT_ID.to_string()),
            ("client_secret", CLIENT_SECRET.to_string()),
        ])
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        if req.path == TOKEN_PATH && req.method == "POST" {
            return self.token(req);
        }
        match self
            .tokens
            .check(bearer(req).unwrap_or_default(), self.ctx.clock.now_ms())
        {
            Ok(()) => {}
            Err(Refused::Expired) => {
                return reply_json(
                    401,
                    &json!({"error": "invalid_token", "error_description": "Access Token not found in cache"}),
                )
            }
            Err(Refused::Unknown) => {
                return reply_json(
                    401,
                    &json!({"error": "invalid_token", "error_description": "Token signature verification failed"}),
                )
            }
        }
        if req.method == "GET" && req.path == "/v1/reporting/transactions" {
            return self.search(req);
        }
        reply_json(
            404,
            &json!({"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist.",
                    "debug_id": "0000000000000", "details": []}),
        )
    }
}
