//! HubSpot CRM, as documented at:
//! - https://developers.hubspot.com/docs/api/crm/understanding-the-crm
//!   (`GET /crm/v3/objects/{object}` with `limit` ≤ 100, default 10, `after`,
//!   `properties`; `paging.next.after`)
//! - https://developers.hubspot.com/docs/api/crm/search (POST
//!   `/crm/v3/objects/{object}/search`, `filterGroups`, `sorts`, `after` and
//!   `limit` ≤ 200 in the body, 10,000 results at most, five requests a second)
//! - https://developers.hubspot.com/docs/api/crm/associations (v4:
//!   `GET /crm/v4/objects/deals/{id}/associations/contacts`, batch read)
//! - https://developers.hubspot.com/docs/api/usage-details and
//!   https://developers.hubspot.com/apisbytier (100 requests per 10 seconds,
//!   250,000 a day; `X-HubSpot-RateLimit-*` headers; the 429 body)
//!
//! Auth is a private app's access token as a Bearer token. Property values
//! are strings, as HubSpot returns them; contacts carry `lastmodifieddate`,
//! companies and deals `hs_lastmodifieddate`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::common::{bearer, body_json, host, iso_ms, json as reply_json};
use super::data::{World, AGENTS};
use super::hubspot_search::{parse_filters, sort_key};
use super::limits::{Decision, Window, WindowKind};
use super::{Counters, Ctx, Vendor};
use crate::http_server::{Reply, Request};

pub const ACCESS_TOKEN: &str = "pat-na1-7f3c2a10-demo-4b8e-9d21-tillflow00001";
pub const PORTAL_ID: &str = "24681357";
pub const TEN_SECOND_LIMIT: u64 = 100;
pub const DAILY_LIMIT: u64 = 250_000;
pub const SEARCH_PER_SECOND: u64 = 5;
const MAX_LIST_LIMIT: u64 = 100;
const MAX_SEARCH_LIMIT: u64 = 200;
const MAX_SEARCH_RESULTS: u64 = 10_000;

pub const CONTACT_ID_BASE: u64 = 1001;
pub const COMPANY_ID_BASE: u64 = 2_000_001;
pub const DEAL_ID_BASE: u64 = 9_000_001;
/// The shop's staff (the help desk's agents) own the CRM's records.
pub const OWNER_ID_BASE: u64 = 70_000_001;
/// HubSpot's built-in association type for deal → contact.
const DEAL_TO_CONTACT: u64 = 3;

#[derive(Clone, Copy, PartialEq)]
enum Object {
    Contacts,
    Companies,
    Deals,
}

impl Object {
    fn parse(s: &str) -> Option<Object> {
        Some(match s {
            "contacts" | "contact" | "0-1" => Object::Contacts,
            "companies" | "company" | "0-2" => Object::Companies,
            "deals" | "deal" | "0-3" => Object::Deals,
            _ => return None,
        })
    }

    fn base(self) -> u64 {
        match self {
            Object::Contacts => CONTACT_ID_BASE,
            Object::Companies => COMPANY_ID_BASE,
            Object::Deals => DEAL_ID_BASE,
        }
    }

    fn modified_property(self) -> &'static str {
        match self {
            Object::Contacts => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    fn defaults(self) -> &'static [&'static str] {
        match self {
            Object::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            Object::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
            Object::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
        }
    }
}

pub struct HubSpot {
    ctx: Arc<Ctx>,
    ten_seconds: Window,
    daily: Window,
    search: Window,
}

impl HubSpot {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let enforce = ctx.config.limits;
        HubSpot {
            ten_seconds: Window::new(WindowKind::Sliding, TEN_SECOND_LIMIT, 10_000, enforce),
            daily: Window::new(WindowKind::Fixed, DAILY_LIMIT, 86_400_000, enforce),
            search: Window::new(WindowKind::Sliding, SEARCH_PER_SECOND, 1000, enforce),
            ctx,
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn len(&self, o: Object) -> u64 {
        match o {
            Object::Contacts => self.w().customers(),
            Object::Companies => self.w().companies(),
            Object::Deals => self.w().deals(),
        }
    }

    fn times(&self, o: Object, i: u64) -> (i64, i64) {
        let w = self.w();
        match o {
            Object::Contacts => (w.customer_created(i), w.customer_updated(i)),
            Object::Companies => {
                let t = w.customer_created(i.min(w.customers() - 1));
                (t, t + 3600)
            }
            Object::Deals => (w.deal_created(i), w.deal_updated(i)),
        }
    }

    /// Every property of a record, as HubSpot's strings.
    fn properties(&self, o: Object, i: u64) -> Map<String, Value> {
        let w = self.w();
        let (created, updated) = self.times(o, i);
        let mut p = Map::new();
        let mut put = |k: &str, v: String| {
            p.insert(k.to_string(), Value::String(v));
        };
        put("createdate", iso_ms(created));
        put(o.modified_property(), iso_ms(updated));
        put("hs_object_id", (o.base() + i).to_string());
        match o {
            Object::Contacts => {
                let (first, last) = w.name(i);
                let (city, country) = w.shop.customer_city(i);
                put("email", w.email(i));
                put("firstname", first.to_string());
                put("lastname", last.to_string());
                put("phone", w.phone(i));
                put("city", city.to_string());
                put("country", country.to_string());
                put("company", w.company_name(w.company_of(i)));
                put("lifecyclestage", "customer".into());
            }
            Object::Companies => {
                let name = w.company_name(i);
                let slug: String = name
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_lowercase();
                let (city, country) = w.shop.customer_city(i.min(w.customers() - 1));
                put("name", name);
                put("domain", format!("{slug}.example.com"));
                put("industry", "RETAIL".into());
                put("city", city.to_string());
                put("country", country.to_string());
            }
            Object::Deals => {
                let first = w.deal_contacts(i)[0];
                put(
                    "dealname",
                    format!("{} – wholesale", w.company_name(w.company_of(first))),
                );
                put("amount", (w.deal_amount(i) / 100).to_string());
                put("dealstage", w.deal_stage(i).to_string());
                put("pipeline", "default".into());
                put("closedate", iso_ms(updated));
                put(
                    "hubspot_owner_id",
                    (OWNER_ID_BASE + i % AGENTS.len() as u64).to_string(),
                );
            }
        }
        p
    }

    fn record(&self, o: Object, i: u64, wanted: Option<&[String]>) -> Value {
        let (created, updated) = self.times(o, i);
        let all = self.properties(o, i);
        let props: Map<String, Value> = match wanted {
            None => all
                .into_iter()
                .filter(|(k, _)| o.defaults().contains(&k.as_str()))
                .collect(),
            Some(names) => all
                .into_iter()
                .filter(|(k, _)| {
                    names.iter().any(|n| n == k)
                        || ["createdate", "hs_object_id", o.modified_property()]
                            .contains(&k.as_str())
                })
                .collect(),
        };
        json!({
            "id": (o.base() + i).to_string(),
            "properties": props,
            "createdAt": iso_ms(created),
            "updatedAt": iso_ms(updated),
            "archived": false
        })
    }

    fn rate(&self, req: &Request, token: &str) -> Result<Decision, Reply> {
        let now = self.ctx.clock.now_ms();
        let daily = self.daily.check(token, now);
        if !daily.allowed() {
            return Err(rate_limited("daily", "DAILY"));
        }
        let ten = self.ten_seconds.check(token, now);
        if !ten.allowed() {
            return Err(rate_limited("ten_secondly_rolling", "TEN_SECONDLY_ROLLING")
                .with_header("x-hubspot-ratelimit-interval-milliseconds", "10000")
                .with_header("x-hubspot-ratelimit-max", TEN_SECOND_LIMIT.to_string())
                .with_header("x-hubspot-ratelimit-remaining", "0"));
        }
        if req.method == "POST"
            && req.path.ends_with("/search")
            && !self.search.check(token, now).allowed()
        {
            return Err(rate_limited("secondly", "SECONDLY"));
        }
        Ok(Decision::Allowed {
            limit: daily.remaining(),
            remaining: ten.remaining(),
            reset_ms: 0,
        })
    }

    fn list(&self, o: Object, req: &Request) -> Reply {
        let limit = match req.param("limit").map(str::parse::<u64>) {
            None => 10,
            Some(Ok(n)) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
            Some(_) => {
                return validation(&format!(
                    "limit must be an integer between 1 and {MAX_LIST_LIMIT}"
                ))
            }
        };
        let start = match req.param("after") {
            None => 0,
            Some(a) => match a.parse::<u64>() {
                Ok(id) if id >= o.base() => id - o.base(),
                _ => return validation(&format!("Invalid after token: {a}")),
            },
        };
        let wanted: Option<Vec<String>> = req.param("properties").map(|p| {
            p.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        });
        let end = (start + limit).min(self.len(o));
        let results: Vec<Value> = (start..end)
            .map(|i| self.record(o, i, wanted.as_deref()))
            .collect();
        let mut body = json!({ "results": results });
        if end < self.len(o) {
            let after = (o.base() + end).to_string();
            let link = format!(
                "http://{}{}?limit={limit}&after={after}",
                host(req),
                req.path
            );
            body["paging"] = json!({"next": {"after": after, "link": link}});
        }
        reply_json(200, &body)
    }

    fn search(&self, o: Object, req: &Request) -> Reply {
        let body = match body_json(req) {
            Ok(b) => b,
            Err(e) => return validation(&e),
        };
        let limit = match body.get("limit") {
            None | Some(Value::Null) => 10,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=MAX_SEARCH_LIMIT).contains(&n) => n,
                _ => {
                    return validation(&format!(
                        "limit must be between 1 and {MAX_SEARCH_LIMIT}, got {v}"
                    ))
                }
            },
        };
        let after = match body.get("after") {
            None | Some(Value::Null) => 0,
            Some(Value::String(s)) => match s.parse::<u64>() {
                Ok(n) => n,
                Err(_) => return validation(&format!("Invalid after: {s}")),
            },
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            Some(v) => return validation(&format!("Invalid after: {v}")),
        };
        if after + limit > MAX_SEARCH_RESULTS {
            return reply_json(
                400,
                &json!({"status": "error", "message": "There was a problem with the request.",
                        "category": "VALIDATION_ERROR",
                        "errors": [{"message": format!("after + limit may not exceed {MAX_SEARCH_RESULTS}")}]}),
            );
        }
        let groups = match parse_filters(&body) {
            Ok(g) => g,
            Err(e) => return validation(&e),
        };
        let wanted: Option<Vec<String>> =
            body.get("properties").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            });
        let mut hits: Vec<(u64, Map<String, Value>)> = (0..self.len(o))
            .map(|i| (i, self.properties(o, i)))
            .filter(|(_, p)| {
                groups.is_empty() || groups.iter().any(|g| g.iter().all(|f| f.matches(p)))
            })
            .collect();
        if let Some(sort) = body
            .get("sorts")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            let (name, descending) = match sort {
                Value::String(s) => (s.trim_start_matches('-').to_string(), s.starts_with('-')),
                v => (
                    v.get("propertyName")
                        .and_then(Value::as_str)
                        .unwrap_or("hs_object_id")
                        .to_string(),
                    v.get("direction").and_then(Value::as_str) == Some("DESCENDING"),
                ),
            };
            hits.sort_by(|a, b| {
                let ka = sort_key(a.1.get(&name));
                let kb = sort_key(b.1.get(&name));
                let ord = ka
                    .partial_cmp(&kb)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.0.cmp(&b.0));
                if descending {
                    ord.reverse()
                } else {
                    ord
                }
            });
        }
        let total = hits.len() as u64;
        let page: Vec<Value> = hits
            .iter()
            .skip(after as usize)
            .take(limit as usize)
            .map(|(i, _)| self.record(o, *i, wanted.as_deref()))
            .collect();
        let mut out = json!({"total": total, "results": page});
        if after + limit < total {
            out["paging"] = json!({"next": {"after": (after + limit).to_string()}});
        }
        reply_json(200, &out)
    }

    fn deal_associations(&self, deal_id: &str, req: &Request) -> Reply {
        let d = match deal_id.parse::<u64>() {
            Ok(n) if n >= DEAL_ID_BASE && n - DEAL_ID_BASE < self.w().deals() => n - DEAL_ID_BASE,
            _ => {
                return not_found(&format!(
                    "Object not found. objectId are usually numeric. id={deal_id}"
                ))
            }
        };
        // At most two contacts a deal: one page whatever `limit` (≤ 500).
        match req.param("limit").map(str::parse::<u64>) {
            None | Some(Ok(1..=500)) => {}
            Some(_) => return validation("limit must be an integer between 1 and 500"),
        }
        let targets = self.deal_targets(d);
        let limit = req
            .param("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(500);
        let start = req
            .param("after")
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0);
        let page: Vec<Value> = targets.iter().skip(start).take(limit).cloned().collect();
        let mut body = json!({ "results": page });
        if start + limit < targets.len() {
            body["paging"] = json!({"next": {"after": (start + limit).to_string()}});
        }
        reply_json(200, &body)
    }

    fn owners(&self, req: &Request) -> Reply {
        let limit = match req.param("limit").map(str::parse::<u64>) {
            None => 100,
            Some(Ok(n)) if (1..=500).contains(&n) => n,
            Some(_) => return validation("limit must be an integer between 1 and 500"),
        };
        let n = AGENTS.len() as u64;
        let start = match req.param("after").map(str::parse::<u64>) {
            None => 0,
            Some(Ok(id)) if id >= OWNER_ID_BASE => id - OWNER_ID_BASE,
            Some(_) => return validation("Invalid after token"),
        };
        let end = (start + limit).min(n);
        let t = iso_ms(crate::demo::data::START - 40 * 86_400);
        let results: Vec<Value> = (start.min(end)..end)
            .map(|k| {
                let (name, email) = AGENTS[k as usize];
                let (first, last) = name.split_once(' ').unwrap_or((name, ""));
                json!({"id": (OWNER_ID_BASE + k).to_string(), "email": email, "type": "PERSON",
                       "firstName": first, "lastName": last, "userId": 5_000_001 + k,
                       "createdAt": t, "updatedAt": t, "archived": false, "teams": []})
            })
            .collect();
        let mut body = json!({ "results": results });
        if end < n {
            body["paging"] = json!({"next": {"after": (OWNER_ID_BASE + end).to_string()}});
        }
        reply_json(200, &body)
    }

    fn deal_targets(&self, d: u64) -> Vec<Value> {
        self.w()
            .deal_contacts(d)
            .into_iter()
            .map(|c| {
                json!({"toObjectId": CONTACT_ID_BASE + c,
                       "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": DEAL_TO_CONTACT,
                                             "label": null}]})
            })
            .collect()
    }

    fn batch_associations(&self, req: &Request) -> Reply {
        let body = match body_json(req) {
            Ok(b) => b,
            Err(e) => return validation(&e),
        };
        let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
            return validation("inputs is required");
        };
        if inputs.len() > 1000 {
            return validation("at most 1000 inputs per batch");
        }
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for input in inputs {
            let id = match input.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => continue,
            };
            match id.parse::<u64>() {
                Ok(n) if n >= DEAL_ID_BASE && n - DEAL_ID_BASE < self.w().deals() => {
                    results.push(
                        json!({"from": {"id": id}, "to": self.deal_targets(n - DEAL_ID_BASE)}),
                    );
                }
                _ => errors.push(json!({"status": "error", "category": "OBJECT_NOT_FOUND",
                                        "message": format!("No deal with id {id}"),
                                        "context": {"fromObjectId": [id]}})),
            }
        }
        let mut out = json!({"status": "COMPLETE", "results": results,
                             "startedAt": iso_ms(self.ctx.clock.unix()),
                             "completedAt": iso_ms(self.ctx.clock.unix())});
        if !errors.is_empty() {
            out["numErrors"] = json!(errors.len());
            out["errors"] = json!(errors);
            return reply_json(207, &out);
        }
        reply_json(200, &out)
    }

    fn route(&self, req: &Request) -> Reply {
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["crm", "v3", "objects", obj]) => match Object::parse(obj) {
                Some(o) => self.list(o, req),
                None => not_found(&format!("Unable to infer object type from: {obj}")),
            },
            ("GET", ["crm", "v3", "objects", obj, id]) => match Object::parse(obj) {
                Some(o) => match id.parse::<u64>() {
                    Ok(n) if n >= o.base() && n - o.base() < self.len(o) => {
                        reply_json(200, &self.record(o, n - o.base(), None))
                    }
                    _ => not_found(&format!("resource not found: {id}")),
                },
                None => not_found(&format!("Unable to infer object type from: {obj}")),
            },
            ("POST", ["crm", "v3", "objects", obj, "search"]) => match Object::parse(obj) {
                Some(o) => self.search(o, req),
                None => not_found(&format!("Unable to infer object type from: {obj}")),
            },
            ("GET", ["crm", "v3", "owners"]) => self.owners(req),
            ("GET", ["crm", "v4", "objects", from, id, "associations", to])
                if Object::parse(from) == Some(Object::Deals)
                    && Object::parse(to) == Some(Object::Contacts) =>
            {
                self.deal_associations(id, req)
            }
            ("POST", ["crm", "v4", "associations", from, to, "batch", "read"])
                if Object::parse(from) == Some(Object::Deals)
                    && Object::parse(to) == Some(Object::Contacts) =>
            {
                self.batch_associations(req)
            }
            _ => not_found(&format!("No route for {} {}", req.method, req.path)),
        }
    }
}

impl Vendor for HubSpot {
    fn name(&self) -> &'static str {
        "hubspot"
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("access_token", ACCESS_TOKEN.to_string()),
            ("portal_id", PORTAL_ID.to_string()),
        ])
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        if bearer(req) != Some(ACCESS_TOKEN) {
            return reply_json(
                401,
                &json!({"status": "error",
                        "message": "Authentication credentials not found. This API supports OAuth 2.0 \
                                    authentication and you can find more details at \
                                    https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                        "correlationId": correlation(self.ctx.clock.now_ms()),
                        "category": "INVALID_AUTHENTICATION"}),
            );
        }
        let decision = match self.rate(req, ACCESS_TOKEN) {
            Ok(d) => d,
            Err(reply) => return reply,
        };
        let reply = self.route(req);
        // Search answers carry no limit headers (HubSpot's docs say so).
        if req.path.ends_with("/search") {
            return reply;
        }
        let (daily_left, ten_left) = match decision {
            Decision::Allowed {
                limit, remaining, ..
            } => (limit, remaining),
            Decision::Denied { .. } => (0, 0),
        };
        reply
            .with_header("x-hubspot-ratelimit-daily", DAILY_LIMIT.to_string())
            .with_header(
                "x-hubspot-ratelimit-daily-remaining",
                daily_left.to_string(),
            )
            .with_header("x-hubspot-ratelimit-interval-milliseconds", "10000")
            .with_header("x-hubspot-ratelimit-max", TEN_SECOND_LIMIT.to_string())
            .with_header("x-hubspot-ratelimit-remaining", ten_left.to_string())
    }
}

fn correlation(n: u64) -> String {
    format!("0d6b4e3a-8c1f-4f5e-9a7b-{n:012x}")
}

fn rate_limited(name: &str, policy: &str) -> Reply {
    reply_json(
        429,
        &json!({"status": "error", "message": format!("You have reached your {name} limit."),
                "errorType": "RATE_LIMIT", "correlationId": correlation(0),
                "policyName": policy, "groupName": "publicapi:private-app:24681357"}),
    )
}

fn validation(message: &str) -> Reply {
    reply_json(
        400,
        &json!({"status": "error", "message": message, "correlationId": correlation(1),
                "category": "VALIDATION_ERROR"}),
    )
}

fn not_found(message: &str) -> Reply {
    reply_json(
        404,
        &json!({"status": "error", "message": message, "correlationId": correlation(2),
                "category": "OBJECT_NOT_FOUND"}),
    )
}
