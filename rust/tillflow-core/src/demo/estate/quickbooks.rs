//! QuickBooks Online, as documented at:
//! - https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization/oauth-2.0
//!   (token endpoint `/oauth2/v1/tokens/bearer`, Basic client auth,
//!   `grant_type=refresh_token`, `invalid_grant`; access tokens for an hour)
//! - https://developer.intuit.com/app/developer/qbo/docs/learn/explore-the-quickbooks-online-api/data-queries
//!   (`GET /v3/company/{realmId}/query?query=SELECT … WHERE
//!   MetaData.LastUpdatedTime > '…' ORDERBY … STARTPOSITION n MAXRESULTS m`,
//!   1,000 results at most per page, `QueryResponse` with `startPosition`,
//!   `maxResults`, `totalCount` for `COUNT(*)`)
//! - https://developer.intuit.com/app/developer/qbo/docs/develop/troubleshooting/error-codes
//!   (`Fault` bodies: 3200 AuthenticationFailed, 4000 parse errors, 003001
//!   throttling)
//! - https://developer.intuit.com/app/developer/qbo/docs/learn/rest-api-features#limits-and-throttles
//!   (500 requests a minute and 10 at once per realm; see also
//!   https://blogs.intuit.com/blog/2016/08/08/idg-concurrent-api-use-changes-coming-soon/)
//!
//! The demo rotates refresh tokens on every refresh (the old one is revoked
//! at once), the strictest reading of Intuit's rotation, so clients must
//! always store the latest one. Times are in the company's zone (-08:00).

use std::sync::Arc;

use serde_json::{json, Value};

use super::common::{basic, bearer, form, form_get, iso_at, json as reply_json, parse_time};
use super::data::World;
use super::limits::{InFlight, Window, WindowKind};
use super::oauth::{Refused, RotatingApp};
use super::{Counters, Ctx, Vendor};
use crate::http_server::{Reply, Request};

pub const CLIENT_ID: &str = "ABqbDemoClientId0tillflow0estate0000000000000000";
pub const CLIENT_SECRET: &str = "qbDemoSecret0000tillflow000000000000000";
pub const INITIAL_REFRESH_TOKEN: &str = "AB11qbdemo-refresh-initial-0000000000000000";
pub const REALM_ID: &str = "9130355377365806";
pub const TOKEN_PATH: &str = "/oauth2/v1/tokens/bearer";
pub const ACCESS_TOKEN_SECS: u64 = 3600;
pub const REQUESTS_PER_MINUTE: u64 = 500;
pub const CONCURRENT_PER_REALM: u64 = 10;
const MAX_RESULTS: u64 = 1000;
const OFFSET_HOURS: i32 = -8;

pub const INVOICE_ID_BASE: u64 = 1001;
pub const PAYMENT_ID_BASE: u64 = 5001;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Entity {
    Customer,
    Invoice,
    Payment,
    Item,
}

pub struct QuickBooks {
    ctx: Arc<Ctx>,
    app: RotatingApp,
    minute: Window,
    in_flight: InFlight,
}

impl QuickBooks {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let ttl = ctx.config.access_token_secs.unwrap_or(ACCESS_TOKEN_SECS);
        QuickBooks {
            app: RotatingApp::new(
                (CLIENT_ID, CLIENT_SECRET),
                INITIAL_REFRESH_TOKEN,
                TOKEN_PATH,
                ("realm_id", REALM_ID),
                ("qb-", ttl),
                ctx.clock.clone(),
            ),
            minute: Window::new(
                WindowKind::Fixed,
                REQUESTS_PER_MINUTE,
                60_000,
                ctx.config.limits,
            ),
            in_flight: InFlight::new(CONCURRENT_PER_REALM, ctx.config.limits),
            ctx,
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    /// Positions of an entity: customers and items all exist; payments only
    /// for paid invoices.
    fn positions(&self, e: Entity) -> Vec<u64> {
        let w = self.w();
        match e {
            Entity::Customer => (0..w.customers()).collect(),
            Entity::Invoice => (0..w.invoices()).collect(),
            Entity::Payment => w.paid_invoices(),
            Entity::Item => (0..w.shop.products() as u64).collect(),
        }
    }

    fn id(&self, e: Entity, p: u64) -> u64 {
        match e {
            Entity::Customer | Entity::Item => p + 1,
            Entity::Invoice => INVOICE_ID_BASE + p,
            Entity::Payment => PAYMENT_ID_BASE + p,
        }
    }

    fn times(&self, e: Entity, p: u64) -> (i64, i64) {
        let w = self.w();
        match e {
            Entity::Customer => (w.customer_created(p), w.customer_updated(p)),
            Entity::Invoice => (w.invoice(p).created, w.invoice_updated(p)),
            Entity::Payment => {
                let t = w.invoice(p).paid_at.unwrap_or_default();
                (t, t)
            }
            Entity::Item => super::data::product_times(p),
        }
    }

    fn record(&self, e: Entity, p: u64) -> Value {
        let w = self.w();
        let (created, updated) = self.times(e, p);
        let meta = json!({"CreateTime": iso_at(created, OFFSET_HOURS),
                          "LastUpdatedTime": iso_at(updated, OFFSET_HOURS)});
        let id = self.id(e, p).to_string();
        let dollars = |cents: i64| json!((cents as f64) / 100.0);
        let date = |t: i64| iso_at(t, OFFSET_HOURS)[..10].to_string();
        match e {
            Entity::Customer => {
                let (first, last) = w.name(p);
                let (city, country) = w.shop.customer_city(p);
                json!({"Id": id, "SyncToken": "0", "DisplayName": format!("{first} {last} ({})", p + 1),
                       "GivenName": first, "FamilyName": last, "CompanyName": w.company_name(w.company_of(p)),
                       "PrimaryEmailAddr": {"Address": w.email(p)}, "PrimaryPhone": {"FreeFormNumber": w.phone(p)},
                       "BillAddr": {"City": city, "Country": country}, "Active": true,
                       "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
                       "domain": "QBO", "sparse": false, "MetaData": meta})
            }
            Entity::Invoice => {
                let inv = w.invoice(p);
                let (first, last) = w.name(inv.customer);
                let lines: Vec<Value> = inv
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(j, &(product, qty, unit))| {
                        json!({"Id": (j + 1).to_string(), "LineNum": j + 1, "Amount": dollars(qty * unit),
                               "DetailType": "SalesItemLineDetail",
                               "SalesItemLineDetail": {"ItemRef": {"value": (product + 1).to_string(),
                                                                   "name": w.shop.product(product).0},
                                                       "Qty": qty, "UnitPrice": dollars(unit)}})
                    })
                    .collect();
                json!({"Id": id, "SyncToken": "0", "DocNumber": format!("TF-{:04}", p + 1),
                       "TxnDate": date(inv.created), "DueDate": date(inv.due),
                       "CustomerRef": {"value": (inv.customer + 1).to_string(),
                                       "name": format!("{first} {last} ({})", inv.customer + 1)},
                       "BillEmail": {"Address": w.email(inv.customer)}, "Line": lines,
                       "TotalAmt": dollars(inv.total),
                       "Balance": dollars(if inv.paid_at.is_some() { 0 } else { inv.total }),
                       "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
                       "domain": "QBO", "sparse": false, "MetaData": meta})
            }
            Entity::Payment => {
                let inv = w.invoice(p);
                json!({"Id": id, "SyncToken": "0", "TxnDate": date(inv.paid_at.unwrap_or(inv.created)),
                       "TotalAmt": dollars(inv.total), "UnappliedAmt": 0,
                       "CustomerRef": {"value": (inv.customer + 1).to_string()},
                       "Line": [{"Amount": dollars(inv.total),
                                 "LinkedTxn": [{"TxnId": (INVOICE_ID_BASE + p).to_string(), "TxnType": "Invoice"}]}],
                       "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
                       "domain": "QBO", "sparse": false, "MetaData": meta})
            }
            Entity::Item => {
                let (title, _, kind, cents) = w.shop.product(p as usize);
                json!({"Id": id, "SyncToken": "0", "Name": title, "Description": kind, "Active": true,
                       "Type": "NonInventory", "UnitPrice": dollars(cents - 5), "Taxable": false,
                       "IncomeAccountRef": {"value": "79", "name": "Sales of Product Income"},
                       "domain": "QBO", "sparse": false, "MetaData": meta})
            }
        }
    }

    fn token(&self, req: &Request) -> Reply {
        let client_ok = basic(req).is_some_and(|(u, p)| u == CLIENT_ID && p == CLIENT_SECRET);
        if !client_ok {
            return reply_json(401, &json!({"error": "invalid_client"}));
        }
        let fields = form(req);
        match form_get(&fields, "grant_type") {
            Some("refresh_token") => {}
            Some(_) => return reply_json(400, &json!({"error": "unsupported_grant_type"})),
            None => return reply_json(400, &json!({"error": "invalid_request"})),
        }
        let Some(refresh) = form_get(&fields, "refresh_token") else {
            return reply_json(400, &json!({"error": "invalid_request"}));
        };
        self.app.refresh(refresh, |t| {
            json!({"token_type": "bearer", "access_token": t.access_token, "expires_in": t.expires_in,
                   "refresh_token": t.refresh_token, "x_refresh_token_expires_in": 8_726_400})
        })
    }

    fn query(&self, req: &Request) -> Reply {
        let text = if req.method == "POST" {
            String::from_utf8_lossy(&req.body).to_string()
        } else {
            req.param("query").unwrap_or_default().to_string()
        };
        let q = match parse_query(&text) {
            Ok(q) => q,
            Err(detail) => {
                return fault(
                    400,
                    "ValidationFault",
                    "Error parsing query",
                    &format!("QueryParserError: {detail}"),
                    "4000",
                )
            }
        };
        let mut hits: Vec<u64> = self
            .positions(q.entity)
            .into_iter()
            .filter(|&p| {
                let (c, u) = self.times(q.entity, p);
                let id = self.id(q.entity, p) as i64;
                q.conditions.iter().all(|cond| cond.keeps(c, u, id))
            })
            .collect();
        if let Some((field, desc)) = &q.order {
            let key = |p: u64| -> i64 {
                let (c, u) = self.times(q.entity, p);
                match field.as_str() {
                    "metadata.lastupdatedtime" => u,
                    "metadata.createtime" => c,
                    _ => self.id(q.entity, p) as i64,
                }
            };
            hits.sort_by_key(|&p| (key(p), p));
            if *desc {
                hits.reverse();
            }
        }
        let name = format!("{:?}", q.entity);
        let now = iso_at(self.ctx.clock.unix(), OFFSET_HOURS);
        if q.count {
            return reply_json(
                200,
                &json!({"QueryResponse": {"totalCount": hits.len()}, "time": now}),
            );
        }
        let start = q.start.max(1);
        let page: Vec<Value> = hits
            .iter()
            .skip(start as usize - 1)
            .take(q.max as usize)
            .map(|&p| self.record(q.entity, p))
            .collect();
        if page.is_empty() {
            return reply_json(200, &json!({"QueryResponse": {}, "time": now}));
        }
        let n = page.len();
        reply_json(
            200,
            &json!({"QueryResponse": {name: page, "startPosition": start, "maxResults": n}, "time": now}),
        )
    }
}

impl Vendor for QuickBooks {
    fn name(&self) -> &'static str {
        "quickbooks"
    }

    fn rotating(&self) -> Option<&RotatingApp> {
        Some(&self.app)
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        if let Some(reply) = self.app.token_endpoint(req, |req| self.token(req)) {
            return reply;
        }
        let now = self.ctx.clock.now_ms();
        match self.app.tokens.check(bearer(req).unwrap_or_default(), now) {
            Ok(()) => {}
            Err(why) => {
                let detail = match why {
                    Refused::Expired => "Token expired: the access token has expired; refresh it",
                    Refused::Unknown => "Token invalid: the access token is not recognised",
                };
                return fault(
                    401,
                    "AUTHENTICATION",
                    "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    detail,
                    "3200",
                )
                .with_header(
                    "www-authenticate",
                    "Bearer realm=\"Intuit\", error=\"invalid_token\"",
                );
            }
        }
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let realm = match parts.as_slice() {
            ["v3", "company", realm, "query"] => *realm,
            ["v3", "company", _, ..] => {
                return fault(
                    400,
                    "ValidationFault",
                    "Unsupported Operation",
                    "Operation not supported by the demo: use /query",
                    "500",
                )
            }
            _ => return reply_json(404, &json!({"error": "not found"})),
        };
        if realm != REALM_ID {
            return fault(
                403,
                "AUTHORIZATION",
                "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                "The realm is not connected to this app",
                "003100",
            );
        }
        let d = self.minute.check(realm, now);
        if !d.allowed() {
            return fault(
                429,
                "ThrottleExceeded",
                "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "The request exceeded the maximum number of requests allowed per minute",
                "003001",
            )
            .with_header("retry-after", d.retry_after_secs().to_string());
        }
        let Some(slot) = self.in_flight.enter(realm) else {
            return fault(
                429,
                "ThrottleExceeded",
                "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "The request exceeded the maximum number of concurrent requests for this realm",
                "003001",
            );
        };
        self.query(req).holding(Arc::new(slot))
    }
}

fn fault(status: u16, kind: &str, message: &str, detail: &str, code: &str) -> Reply {
    reply_json(
        status,
        &json!({"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}], "type": kind},
                "time": "2024-07-01T00:00:00.000-08:00"}),
    )
}

struct Query {
    entity: Entity,
    count: bool,
    conditions: Vec<Condition>,
    order: Option<(String, bool)>,
    start: u64,
    max: u64,
}

struct Condition {
    field: String,
    op: String,
    values: Vec<String>,
}

impl Condition {
    fn keeps(&self, created: i64, updated: i64, id: i64) -> bool {
        let (have, want): (i64, Vec<i64>) = match self.field.as_str() {
            "metadata.lastupdatedtime" | "metadata.createtime" => (
                if self.field == "metadata.createtime" {
                    created
                } else {
                    updated
                },
                self.values.iter().filter_map(|v| parse_time(v)).collect(),
            ),
            _ => (
                id,
                self.values.iter().filter_map(|v| v.parse().ok()).collect(),
            ),
        };
        let Some(&w) = want.first() else { return false };
        match self.op.as_str() {
            ">" => have > w,
            ">=" => have >= w,
            "<" => have < w,
            "<=" => have <= w,
            "in" => want.contains(&have),
            _ => have == w,
        }
    }
}

fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '\'' => {
                let mut s = String::from('\'');
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '\'' {
                        closed = true;
                        break;
                    }
                    s.push(c);
                }
                if !closed {
                    return Err("Encountered an unterminated string literal".into());
                }
                out.push(s);
            }
            '>' | '<' | '=' | '!' => {
                let mut s = c.to_string();
                if chars.peek() == Some(&'=') {
                    s.push('=');
                    chars.next();
                }
                out.push(s);
            }
            '(' | ')' | ',' => out.push(c.to_string()),
            _ => {
                let mut s = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "<>=!(),'".contains(n) {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                if s == "*" && chars.peek() == Some(&')') {
                    // COUNT(*) keeps its star.
                }
                out.push(s);
            }
        }
    }
    Ok(out)
}

fn parse_query(text: &str) -> Result<Query, String> {
    let t = tokens(text)?;
    let upper: Vec<String> = t.iter().map(|s| s.to_uppercase()).collect();
    if upper.first().map(String::as_str) != Some("SELECT") {
        return Err(format!(
            "Encountered \"{}\" at line 1: the query must start with SELECT",
            t.first().cloned().unwrap_or_default()
        ));
    }
    let from = upper
        .iter()
        .position(|s| s == "FROM")
        .ok_or("Encountered <EOF>: FROM is missing")?;
    let count = upper[1..from].join("") == "COUNT(*)";
    let entity = match upper.get(from + 1).map(String::as_str) {
        Some("CUSTOMER") => Entity::Customer,
        Some("INVOICE") => Entity::Invoice,
        Some("PAYMENT") => Entity::Payment,
        Some("ITEM") => Entity::Item,
        Some(other) => {
            return Err(format!(
                "Encountered \"{other}\": the demo serves Customer, Invoice, Payment and Item"
            ))
        }
        None => return Err("Encountered <EOF> after FROM".into()),
    };
    let mut q = Query {
        entity,
        count,
        conditions: Vec::new(),
        order: None,
        start: 1,
        max: 100,
    };
    let mut i = from + 2;
    let number = |s: Option<&String>| -> Result<u64, String> {
        s.and_then(|s| s.parse().ok()).ok_or_else(|| {
            format!(
                "Encountered \"{}\": expected a number",
                s.cloned().unwrap_or_default()
            )
        })
    };
    while i < t.len() {
        match upper[i].as_str() {
            "WHERE" | "AND" => {
                let field = t
                    .get(i + 1)
                    .ok_or("Encountered <EOF> in WHERE")?
                    .to_lowercase();
                let op = t
                    .get(i + 2)
                    .ok_or("Encountered <EOF> in WHERE")?
                    .to_lowercase();
                i += 3;
                let mut values = Vec::new();
                if op == "in" {
                    if t.get(i).map(String::as_str) != Some("(") {
                        return Err("Encountered IN without a list".into());
                    }
                    i += 1;
                    while i < t.len() && t[i] != ")" {
                        if t[i] != "," {
                            values.push(t[i].trim_start_matches('\'').to_string());
                        }
                        i += 1;
                    }
                    i += 1;
                } else {
                    if !["=", ">", ">=", "<", "<="].contains(&op.as_str()) {
                        return Err(format!("Encountered \"{op}\": unsupported operator"));
                    }
                    let v = t.get(i).ok_or("Encountered <EOF>: a value is missing")?;
                    values.push(v.trim_start_matches('\'').to_string());
                    i += 1;
                }
                q.conditions.push(Condition { field, op, values });
            }
            "ORDERBY" | "ORDER" => {
                if upper[i] == "ORDER" && upper.get(i + 1).map(String::as_str) == Some("BY") {
                    i += 1;
                }
                let field = t
                    .get(i + 1)
                    .ok_or("Encountered <EOF> in ORDERBY")?
                    .to_lowercase();
                i += 2;
                let mut desc = false;
                if let Some(dir) = upper.get(i) {
                    if dir == "DESC" || dir == "ASC" {
                        desc = dir == "DESC";
                        i += 1;
                    }
                }
                q.order = Some((field, desc));
            }
            "STARTPOSITION" => {
                q.start = number(t.get(i + 1))?;
                i += 2;
            }
            "MAXRESULTS" => {
                q.max = number(t.get(i + 1))?.min(MAX_RESULTS);
                i += 2;
            }
            other => return Err(format!("Encountered \"{other}\" at an unexpected place")),
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_incremental_query() {
        let q = parse_query(
            "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2024-02-01T00:00:00-08:00' \
             ORDERBY MetaData.LastUpdatedTime STARTPOSITION 101 MAXRESULTS 100",
        )
        .unwrap();
        assert_eq!(
            (q.entity, q.start, q.max, q.count),
            (Entity::Invoice, 101, 100, false)
        );
        assert_eq!(q.conditions[0].op, ">");
        assert_eq!(
            q.order,
            Some(("metadata.lastupdatedtime".to_string(), false))
        );
        assert!(parse_query("select count(*) from Customer").unwrap().count);
        assert!(parse_query("SELECT * FROM Vendor").is_err());
        assert!(parse_query("DELETE Customer").is_err());
    }
}
