//! Google Analytics 4 Data API, as documented at:
//! - https://developers.google.com/identity/protocols/oauth2/service-account#httprest
//!   (POST to the token URI with
//!   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an RS256
//!   `assertion` whose claims are `iss` (the service account's email),
//!   `scope`, `aud` (the token URI), `iat` and `exp` at most an hour later;
//!   `invalid_grant`/`invalid_scope` errors)
//! - https://developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/runReport
//!   (POST `/v1beta/properties/{id}:runReport` with `dateRanges`,
//!   `dimensions`, `metrics`, `limit` (default 10,000, at most 250,000) and
//!   `offset`; `dimensionHeaders`, `metricHeaders`, `rows`, `rowCount`)
//! - https://developers.google.com/analytics/devguides/reporting/data/v1/quotas
//!   (10 concurrent requests per property)
//! - https://cloud.google.com/apis/design/errors (`{"error": {"code",
//!   "message", "status"}}`)
//!
//! The assertion is checked with the service account's public key
//! (`jsonwebtoken` over ring); `exp` is checked against the wall clock, as
//! the client signs with it. The `aud` may be the estate's token URL (the
//! `token_uri` of the demo key file) or Google's own. Dimensions served:
//! `date` and `sessionDefaultChannelGroup`; metrics: `sessions`,
//! `conversions`/`keyEvents`, `transactions`/`ecommercePurchases`,
//! `totalRevenue`/`purchaseRevenue`. Rows come sorted by their dimension
//! values; one date range per report.

use std::collections::BTreeMap;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use super::common::{bearer, body_json, date, form, form_get, json as reply_json, money};
use super::data::{World, CHANNELS, DAY, DAYS};
use super::limits::InFlight;
use super::oauth::TokenStore;
use super::{Counters, Ctx, Vendor};
use crate::demo::data::START;
use crate::http_server::{Reply, Request};

pub const CLIENT_EMAIL: &str = "tillflow-demo@tillflow-demo.iam.gserviceaccount.com";
pub const PRIVATE_KEY_ID: &str = "3f2a9c41d7e8b6a5c4d3e2f1a0b9c8d7e6f5a4b3";
pub const PROJECT_ID: &str = "tillflow-demo";
pub const PROPERTY_ID: &str = "412345678";
pub const TOKEN_PATH: &str = "/token";
pub const SCOPE: &str = "https://www.googleapis.com/auth/analytics.readonly";
pub const ACCESS_TOKEN_SECS: u64 = 3600;
pub const CONCURRENT_PER_PROPERTY: u64 = 10;
/// The demo service account's key (made for the estate; it guards nothing).
pub const PRIVATE_KEY_PEM: &str = include_str!("google_demo_key.pem");
const PUBLIC_KEY_PEM: &str = include_str!("google_demo_key.pub.pem");
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const MAX_LIMIT: u64 = 250_000;

pub struct Ga4 {
    ctx: Arc<Ctx>,
    tokens: TokenStore,
    in_flight: InFlight,
    key: Option<DecodingKey>,
}

fn google_error(status: u16, code: &str, message: &str) -> Reply {
    reply_json(
        status,
        &json!({"error": {"code": status, "message": message, "status": code}}),
    )
}

fn grant_error(error: &str, description: &str) -> Reply {
    reply_json(
        400,
        &json!({"error": error, "error_description": description}),
    )
}

#[derive(Clone, Copy)]
enum Dim {
    Date,
    Channel,
}

#[derive(Clone, Copy)]
enum Metric {
    Sessions,
    Conversions,
    Transactions,
    Revenue,
}

impl Ga4 {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let ttl = ctx.config.access_token_secs.unwrap_or(ACCESS_TOKEN_SECS);
        Ga4 {
            tokens: TokenStore::new("ya29.c.demo-", ttl, None),
            in_flight: InFlight::new(CONCURRENT_PER_PROPERTY, ctx.config.limits),
            key: DecodingKey::from_rsa_pem(PUBLIC_KEY_PEM.as_bytes()).ok(),
            ctx,
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn token(&self, req: &Request, base_url: &str) -> Reply {
        let fields = form(req);
        match form_get(&fields, "grant_type") {
            Some(JWT_BEARER) => {}
            other => {
                return grant_error(
                    "unsupported_grant_type",
                    &format!("Invalid grant_type: {}", other.unwrap_or_default()),
                )
            }
        }
        let Some(assertion) = form_get(&fields, "assertion") else {
            return grant_error("invalid_request", "Missing required parameter: assertion");
        };
        let Some(key) = &self.key else {
            return google_error(
                500,
                "INTERNAL",
                "the demo service account's public key did not load",
            );
        };
        let token_url = format!("{base_url}{TOKEN_PATH}");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[token_url.as_str(), GOOGLE_TOKEN_URI]);
        validation.set_issuer(&[CLIENT_EMAIL]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
        let timeframe =
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                         timeframe. Check your iat and exp values in the JWT claim.";
        let claims = match jsonwebtoken::decode::<Value>(assertion, key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return match e.kind() {
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                        grant_error("invalid_grant", "Invalid JWT Signature.")
                    }
                    ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                        grant_error("invalid_grant", timeframe)
                    }
                    ErrorKind::InvalidAudience => grant_error(
                        "invalid_grant",
                        &format!(
                        "Invalid JWT: Failed audience check. The expected value was {token_url}."
                    ),
                    ),
                    ErrorKind::InvalidIssuer => {
                        grant_error("invalid_grant", "Invalid grant: account not found")
                    }
                    _ => grant_error("invalid_grant", &format!("Invalid JWT: {e}")),
                }
            }
        };
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap_or(0),
            claims["exp"].as_i64().unwrap_or(0),
        );
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if exp - iat > 3600 || iat > wall + 60 {
            return grant_error("invalid_grant", timeframe);
        }
        let scopes = claims["scope"].as_str().unwrap_or_default();
        let allowed = [SCOPE, "https://www.googleapis.com/auth/analytics"];
        if !scopes.split_whitespace().any(|s| allowed.contains(&s)) {
            return grant_error(
                "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.",
            );
        }
        let t = self.tokens.issue_access(self.ctx.clock.now_ms());
        reply_json(
            200,
            &json!({"access_token": t.access_token, "expires_in": t.expires_in.saturating_sub(1),
                    "token_type": "Bearer"}),
        )
    }

    /// A `YYYY-MM-DD`, `today`, `yesterday` or `NdaysAgo` as a day index.
    fn day(&self, s: &str) -> Option<i64> {
        let today = (self.ctx.clock.unix() - START).div_euclid(DAY);
        match s {
            "today" => Some(today),
            "yesterday" => Some(today - 1),
            _ => {
                if let Some(n) = s.strip_suffix("daysAgo") {
                    return n.parse::<i64>().ok().map(|n| today - n);
                }
                let t = super::common::parse_time(&format!("{s}T00:00:00Z"))?;
                Some((t - START).div_euclid(DAY))
            }
        }
    }

    fn run_report(&self, req: &Request) -> Reply {
        let body = match body_json(req) {
            Ok(b) => b,
            Err(e) => return google_error(400, "INVALID_ARGUMENT", &e),
        };
        let ranges = body
            .get("dateRanges")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let [range] = ranges.as_slice() else {
            return google_error(
                400,
                "INVALID_ARGUMENT",
                if ranges.is_empty() {
                    "A dateRange is required."
                } else {
                    "the demo serves one date range per report"
                },
            );
        };
        let bound = |key: &str| {
            range
                .get(key)
                .and_then(Value::as_str)
                .and_then(|s| self.day(s))
        };
        let (Some(first), Some(last)) = (bound("startDate"), bound("endDate")) else {
            return google_error(400, "INVALID_ARGUMENT", "Invalid date range: startDate and endDate must be YYYY-MM-DD, today, yesterday or NdaysAgo.");
        };
        if last < first {
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "Invalid date range: endDate is before startDate.",
            );
        }
        let names = |key: &str| -> Vec<String> {
            body.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d.get("name").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let schema = "For a list of valid dimensions and metrics, see \
                      https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema";
        let mut dims = Vec::new();
        for d in names("dimensions") {
            dims.push(match d.as_str() {
                "date" => Dim::Date,
                "sessionDefaultChannelGroup" => Dim::Channel,
                other => {
                    return google_error(
                        400,
                        "INVALID_ARGUMENT",
                        &format!("Field {other} is not a valid dimension. {schema}"),
                    )
                }
            });
        }
        let metric_names = names("metrics");
        if metric_names.is_empty() {
            return google_error(400, "INVALID_ARGUMENT", "At least one metric is required.");
        }
        let mut metrics = Vec::new();
        for m in &metric_names {
            metrics.push(match m.as_str() {
                "sessions" => Metric::Sessions,
                "conversions" | "keyEvents" => Metric::Conversions,
                "transactions" | "ecommercePurchases" => Metric::Transactions,
                "totalRevenue" | "purchaseRevenue" => Metric::Revenue,
                other => {
                    return google_error(
                        400,
                        "INVALID_ARGUMENT",
                        &format!("Field {other} is not a valid metric. {schema}"),
                    )
                }
            });
        }
        let number = |key: &str, default: u64| -> Result<u64, Reply> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| {
                        google_error(
                            400,
                            "INVALID_ARGUMENT",
                            &format!("{key} must be a non-negative integer"),
                        )
                    }),
            }
        };
        let (limit, offset) = match (number("limit", 10_000), number("offset", 0)) {
            (Ok(l), Ok(o)) => (l, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        if limit == 0 || limit > MAX_LIMIT {
            return google_error(
                400,
                "INVALID_ARGUMENT",
                &format!("limit must be between 1 and {MAX_LIMIT}"),
            );
        }
        // Aggregate the world's cells over the range, keyed by the asked dimensions.
        let mut rows: BTreeMap<Vec<String>, [i64; 4]> = BTreeMap::new();
        for (&(day, ch), &(sessions, conversions, revenue)) in self.w().analytics() {
            if day < first.max(0) || day > last.min(DAYS - 1) {
                continue;
            }
            let key: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    Dim::Date => date(START + day * DAY).replace('-', ""),
                    Dim::Channel => CHANNELS[ch].to_string(),
                })
                .collect();
            let cell = rows.entry(key).or_default();
            cell[0] += sessions;
            cell[1] += conversions;
            cell[2] += conversions;
            cell[3] += revenue;
        }
        let row_count = rows.len();
        let out_rows: Vec<Value> = rows
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(key, cell)| {
                json!({"dimensionValues": key.iter().map(|v| json!({"value": v})).collect::<Vec<_>>(),
                       "metricValues": metrics.iter().map(|m| json!({"value": match m {
                           Metric::Sessions => cell[0].to_string(),
                           Metric::Conversions => cell[1].to_string(),
                           Metric::Transactions => cell[2].to_string(),
                           Metric::Revenue => money(cell[3]),
                       }})).collect::<Vec<_>>()})
            })
            .collect();
        let metric_headers: Vec<Value> = metric_names
            .iter()
            .zip(&metrics)
            .map(|(n, m)| {
                let kind = match m {
                    Metric::Sessions | Metric::Transactions => "TYPE_INTEGER",
                    Metric::Conversions => "TYPE_FLOAT",
                    Metric::Revenue => "TYPE_CURRENCY",
                };
                json!({"name": n, "type": kind})
            })
            .collect();
        let mut out = json!({
            "dimensionHeaders": names("dimensions").iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
            "metricHeaders": metric_headers,
            "rowCount": row_count,
            "metadata": {"currencyCode": "USD", "timeZone": "Etc/GMT"},
            "kind": "analyticsData#runReport"
        });
        if !out_rows.is_empty() {
            out["rows"] = json!(out_rows);
        }
        reply_json(200, &out)
    }
}

impl Vendor for Ga4 {
    fn name(&self) -> &'static str {
        "ga4"
    }

    fn token_path(&self) -> Option<&'static str> {
        Some(TOKEN_PATH)
    }

    fn credentials(&self, base_url: &str) -> BTreeMap<&'static str, String> {
        let token_uri = format!("{base_url}{TOKEN_PATH}");
        let key_file = json!({
            "type": "service_account", "project_id": PROJECT_ID, "private_key_id": PRIVATE_KEY_ID,
            "private_key": PRIVATE_KEY_PEM, "client_email": CLIENT_EMAIL, "client_id": "100000000000000000001",
            "token_uri": token_uri,
        });
        BTreeMap::from([
            ("client_email", CLIENT_EMAIL.to_string()),
            ("private_key_id", PRIVATE_KEY_ID.to_string()),
            ("private_key", PRIVATE_KEY_PEM.to_string()),
            ("property_id", PROPERTY_ID.to_string()),
            ("scope", SCOPE.to_string()),
            ("service_account_json", key_file.to_string()),
        ])
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        if req.path == TOKEN_PATH && req.method == "POST" {
            let base = format!("http://{}", super::common::host(req));
            return self.token(req, &base);
        }
        if self
            .tokens
            .check(bearer(req).unwrap_or_default(), self.ctx.clock.now_ms())
            .is_err()
        {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie \
                 or other valid authentication credential. See \
                 https://developers.google.com/identity/sign-in/web/devconsole-project.",
            );
        }
        let Some(property) = req
            .path
            .strip_prefix("/v1beta/properties/")
            .and_then(|r| r.strip_suffix(":runReport"))
            .filter(|_| req.method == "POST")
        else {
            return google_error(
                404,
                "NOT_FOUND",
                &format!(
                    "The requested URL {} was not found on this server.",
                    req.path
                ),
            );
        };
        if property != PROPERTY_ID {
            return google_error(
                403,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property.",
            );
        }
        let Some(slot) = self.in_flight.enter(property) else {
            return google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Exhausted concurrent requests quota.",
            );
        };
        self.run_report(req).holding(Arc::new(slot))
    }
}
