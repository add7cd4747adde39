//! Zendesk Support, as documented at:
//! - https://developer.zendesk.com/api-reference/introduction/pagination/
//!   (cursor paging: `page[size]` ≤ 100, `page[after]`, `meta.has_more`,
//!   `meta.after_cursor`, `links.next`; offset paging: `page`, `per_page`,
//!   `next_page`, `count`)
//! - https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
//!   (`/api/v2/incremental/tickets/cursor.json` with `start_time` or
//!   `cursor`, `after_cursor`, `after_url`, `end_of_stream`; the time-based
//!   `/api/v2/incremental/tickets.json` with `next_page` and `end_time`;
//!   10 requests a minute)
//! - https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
//! - https://developer.zendesk.com/api-reference/introduction/security-and-auth/
//!   (Basic auth as `{email}/token:{api_token}`)
//! - https://developer.zendesk.com/api-reference/introduction/rate-limits/
//!   (700 requests a minute on Enterprise; `X-Rate-Limit`,
//!   `X-Rate-Limit-Remaining`, 429 with `Retry-After`)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::common::{basic, host, iso, json as reply_json};
use super::data::{World, AGENTS};
use super::limits::{Window, WindowKind};
use super::{Counters, Ctx, Vendor};
use crate::http_server::{Reply, Request};

pub const SUBDOMAIN: &str = "tillflow-demo";
pub const EMAIL: &str = "owner@tillflow-demo.example.com";
pub const API_TOKEN: &str = "zd_demo_6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv";
pub const REQUESTS_PER_MINUTE: u64 = 700;
pub const INCREMENTAL_PER_MINUTE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 100;
const MAX_EXPORT_PAGE: u64 = 1000;

pub const AGENT_ID_BASE: u64 = 100;
pub const END_USER_ID_BASE: u64 = 360_000;
pub const COMMENT_ID_BASE: u64 = 5_000_000;
/// Ids of comments added after the estate started: ticket × 1000 + n.
pub const REPLY_ID_BASE: u64 = 9_000_000_000;

pub struct Zendesk {
    ctx: Arc<Ctx>,
    minute: Window,
    incremental: Window,
    /// Comments added since the estate started, per ticket: how many, and
    /// when the last one moved the ticket's `updated_at`.
    replies: Mutex<BTreeMap<u64, (u64, i64)>>,
}

enum List {
    Tickets,
    Users,
}

impl Zendesk {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let enforce = ctx.config.limits;
        Zendesk {
            minute: Window::new(WindowKind::Fixed, REQUESTS_PER_MINUTE, 60_000, enforce),
            incremental: Window::new(WindowKind::Fixed, INCREMENTAL_PER_MINUTE, 60_000, enforce),
            replies: Mutex::default(),
            ctx,
        }
    }

    fn replies(&self, t: u64) -> Option<(u64, i64)> {
        self.replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&t)
            .copied()
    }

    /// A ticket's `updated_at`: moved by the last comment added to it.
    fn updated(&self, t: u64) -> i64 {
        self.replies(t)
            .map_or_else(|| self.w().ticket_updated(t), |(_, at)| at)
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn agent(&self, t: u64) -> u64 {
        AGENT_ID_BASE + t % AGENTS.len() as u64
    }

    fn ticket(&self, t: u64, host: &str) -> Value {
        let w = self.w();
        let requester = END_USER_ID_BASE + w.ticket_requester(t);
        let status = w.ticket_status(t);
        json!({
            "id": t + 1,
            "url": format!("http://{host}/api/v2/tickets/{}.json", t + 1),
            "subject": w.ticket_subject(t),
            "description": self.comment_body(t, 0),
            "status": status,
            "priority": (["low", "normal", "normal", "high"][(t % 4) as usize]),
            "type": "question",
            "requester_id": requester,
            "submitter_id": requester,
            "assignee_id": if status == "new" { Value::Null } else { json!(self.agent(t)) },
            "organization_id": null,
            "tags": [w.ticket_subject(t).split(' ').next().unwrap_or("").to_lowercase()],
            "via": {"channel": "email"},
            "created_at": iso(w.ticket_created(t)),
            "updated_at": iso(self.updated(t)),
        })
    }

    fn comment_body(&self, t: u64, k: u64) -> String {
        if k == 0 {
            format!(
                "Hello, {} (order help needed).",
                self.w().ticket_subject(t).to_lowercase()
            )
        } else if k % 2 == 1 {
            "Thanks for reaching out, we are looking into it.".to_string()
        } else {
            "Thank you, that helps.".to_string()
        }
    }

    fn user(&self, p: u64) -> Value {
        let w = self.w();
        let agents = AGENTS.len() as u64;
        if p < agents {
            let (name, email) = AGENTS[p as usize];
            let t = w.customer_created(0) - 86_400 * 10;
            return json!({"id": AGENT_ID_BASE + p, "name": name, "email": email, "role": "agent",
                          "active": true, "verified": true, "time_zone": "Eastern Time (US & Canada)",
                          "created_at": iso(t), "updated_at": iso(t)});
        }
        let c = p - agents;
        let (first, last) = w.name(c);
        json!({"id": END_USER_ID_BASE + c, "name": format!("{first} {last}"), "email": w.email(c),
               "role": "end-user", "active": true, "verified": true, "phone": w.phone(c),
               "created_at": iso(w.customer_created(c)), "updated_at": iso(w.customer_updated(c))})
    }

    fn list(&self, what: List, req: &Request) -> Reply {
        let (n, name) = match what {
            List::Tickets => (self.w().tickets(), "tickets"),
            List::Users => (self.w().customers() + AGENTS.len() as u64, "users"),
        };
        let host = host(req);
        let item = |p: u64| match what {
            List::Tickets => self.ticket(p, &host),
            List::Users => self.user(p),
        };
        paged(name, n, &item, req)
    }
}

/// One page of `n` items by cursor (`page[size]`) or offset (`page`,
/// `per_page`), in Zendesk's two response shapes.
fn paged(name: &str, n: u64, item: &dyn Fn(u64) -> Value, req: &Request) -> Reply {
    let host = host(req);
    let base = format!("http://{host}{}", req.path);
    if let Some(size) = req.param("page[size]") {
        let size = match size.parse::<u64>() {
            Ok(s) if (1..=MAX_PAGE_SIZE).contains(&s) => s,
            _ => {
                return invalid(
                    "InvalidPaginationParameter",
                    &format!(
                        "page[size] must be a number between 1 and {MAX_PAGE_SIZE}, got {size}"
                    ),
                )
            }
        };
        let (start, end) = if let Some(after) = req.param("page[after]") {
            match decode_cursor(after) {
                Some(p) => (p + 1, (p + 1 + size).min(n)),
                None => {
                    return invalid(
                        "InvalidPaginationParameter",
                        "page[after] is not a valid cursor",
                    )
                }
            }
        } else if let Some(before) = req.param("page[before]") {
            match decode_cursor(before) {
                Some(p) => (p.saturating_sub(size), p.min(n)),
                None => {
                    return invalid(
                        "InvalidPaginationParameter",
                        "page[before] is not a valid cursor",
                    )
                }
            }
        } else {
            (0, size.min(n))
        };
        let start = start.min(end);
        let items: Vec<Value> = (start..end).map(item).collect();
        let has_more = end < n;
        let (after, before) = if items.is_empty() {
            (None, None)
        } else {
            (Some(encode_cursor(end - 1)), Some(encode_cursor(start)))
        };
        let link = |key: &str, c: &Option<String>| {
            c.as_ref()
                .map(|c| json!(format!("{base}?page%5B{key}%5D={c}&page%5Bsize%5D={size}")))
                .unwrap_or(Value::Null)
        };
        let next = if has_more {
            link("after", &after)
        } else {
            Value::Null
        };
        let prev = if start > 0 {
            link("before", &before)
        } else {
            Value::Null
        };
        return reply_json(
            200,
            &json!({name: items,
                        "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
                        "links": {"next": next, "prev": prev}}),
        );
    }
    // Offset paging.
    let per_page = match req.param("per_page").map(str::parse::<u64>) {
        None => 100,
        Some(Ok(s)) if (1..=MAX_PAGE_SIZE).contains(&s) => s,
        Some(_) => {
            return invalid(
                "InvalidPaginationParameter",
                "per_page must be between 1 and 100",
            )
        }
    };
    let page = match req.param("page").map(str::parse::<u64>) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        Some(_) => {
            return invalid(
                "InvalidPaginationParameter",
                "page must be a positive number",
            )
        }
    };
    let start = ((page - 1) * per_page).min(n);
    let end = (start + per_page).min(n);
    let items: Vec<Value> = (start..end).map(item).collect();
    let url = |p: u64| json!(format!("{base}?page={p}&per_page={per_page}"));
    reply_json(
        200,
        &json!({name: items,
                    "next_page": if end < n { url(page + 1) } else { Value::Null },
                    "previous_page": if page > 1 { url(page - 1) } else { Value::Null },
                    "count": n}),
    )
}

impl Zendesk {
    /// Tickets ordered as the export serves them: by (updated_at, id).
    fn export_order(&self) -> Vec<(i64, u64)> {
        let w = self.w();
        let mut v: Vec<(i64, u64)> = (0..w.tickets()).map(|t| (self.updated(t), t)).collect();
        v.sort_unstable();
        v
    }

    fn export_cursor(&self, req: &Request) -> Reply {
        let per_page = match req.param("per_page").map(str::parse::<u64>) {
            None => MAX_EXPORT_PAGE,
            Some(Ok(s)) if (1..=MAX_EXPORT_PAGE).contains(&s) => s,
            Some(_) => return invalid("InvalidValue", "per_page must be between 1 and 1000"),
        };
        let order = self.export_order();
        let from = if let Some(c) = req.param("cursor") {
            match decode_export_cursor(c) {
                Some(key) => order.partition_point(|e| *e <= key),
                None => return invalid("InvalidValue", "cursor is not a valid cursor"),
            }
        } else {
            match self.start_time(req) {
                Ok(t) => order.partition_point(|e| e.0 < t),
                Err(reply) => return reply,
            }
        };
        let end = (from + per_page as usize).min(order.len());
        let host = host(req);
        let tickets: Vec<Value> = order[from..end]
            .iter()
            .map(|&(_, t)| self.ticket(t, &host))
            .collect();
        let last = if end > 0 {
            order[end - 1]
        } else {
            (i64::MIN, 0)
        };
        let after = if end > 0 {
            Some(encode_export_cursor(last))
        } else {
            None
        };
        let after_url = after.as_ref().map(|c| {
            format!("http://{host}/api/v2/incremental/tickets/cursor.json?cursor={c}&per_page={per_page}")
        });
        reply_json(
            200,
            &json!({"tickets": tickets, "after_cursor": after, "after_url": after_url,
                    "before_cursor": null, "before_url": null,
                    "end_of_stream": end == order.len()}),
        )
    }

    fn export_time(&self, req: &Request) -> Reply {
        let per_page = match req.param("per_page").map(str::parse::<u64>) {
            None => MAX_EXPORT_PAGE,
            Some(Ok(s)) if (1..=MAX_EXPORT_PAGE).contains(&s) => s,
            Some(_) => return invalid("InvalidValue", "per_page must be between 1 and 1000"),
        };
        let start = match self.start_time(req) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let order = self.export_order();
        let from = order.partition_point(|e| e.0 < start);
        let mut end = (from + per_page as usize).min(order.len());
        // A page never ends inside a second, so `start_time=end_time` loses
        // nothing (Zendesk pages past its size to the same effect).
        while end < order.len() && end > from && order[end].0 == order[end - 1].0 {
            end += 1;
        }
        let host = host(req);
        let tickets: Vec<Value> = order[from..end]
            .iter()
            .map(|&(_, t)| self.ticket(t, &host))
            .collect();
        let end_of_stream = end == order.len();
        let end_time = if end > from {
            order[end - 1].0 + 1
        } else {
            start
        };
        let next = format!("http://{host}/api/v2/incremental/tickets.json?start_time={end_time}&per_page={per_page}");
        reply_json(
            200,
            &json!({"tickets": tickets, "count": end - from, "end_of_stream": end_of_stream,
                    "end_time": end_time, "next_page": if end_of_stream { Value::Null } else { json!(next) }}),
        )
    }

    fn start_time(&self, req: &Request) -> Result<i64, Reply> {
        let Some(raw) = req.param("start_time") else {
            return Err(invalid("InvalidValue", "start_time is required"));
        };
        let t = raw.parse::<i64>().map_err(|_| {
            invalid(
                "InvalidValue",
                &format!("start_time must be a Unix epoch time, got {raw}"),
            )
        })?;
        if t > self.ctx.clock.unix() - 60 {
            return Err(invalid(
                "InvalidValue",
                "Too recent start_time. Use a start_time older than one minute",
            ));
        }
        Ok(t)
    }

    fn comments(&self, ticket: &str, req: &Request) -> Reply {
        let w = self.w();
        let t = match ticket.parse::<u64>() {
            Ok(id) if id >= 1 && id <= w.tickets() => id - 1,
            _ => {
                return reply_json(
                    404,
                    &json!({"error": "RecordNotFound", "description": "Not found"}),
                )
            }
        };
        let requester = END_USER_ID_BASE + w.ticket_requester(t);
        let comment = |k: u64| {
            let body = self.comment_body(t, k);
            json!({"id": COMMENT_ID_BASE + t * 8 + k, "type": "Comment",
                   "author_id": if k.is_multiple_of(2) { requester } else { self.agent(t) },
                   "body": body, "html_body": format!("<p>{body}</p>"), "plain_body": body,
                   "public": true, "attachments": [], "via": {"channel": if k == 0 { "email" } else { "web" }},
                   "created_at": iso(w.comment_created(t, k))})
        };
        let first = w.ticket_comments(t);
        let (added, at) = self.replies(t).unwrap_or((0, 0));
        let any = |k: u64| {
            if k < first {
                return comment(k);
            }
            let body = "Any news on this?";
            json!({"id": REPLY_ID_BASE + (t + 1) * 1000 + (k - first), "type": "Comment",
                   "author_id": requester, "body": body, "html_body": format!("<p>{body}</p>"),
                   "plain_body": body, "public": true, "attachments": [], "via": {"channel": "web"},
                   "created_at": iso(at)})
        };
        paged("comments", first + added, &any, req)
    }

    fn route(&self, req: &Request) -> Reply {
        if req.method != "GET" {
            return reply_json(
                404,
                &json!({"error": "InvalidEndpoint", "description": "Not found"}),
            );
        }
        let path = req.path.as_str();
        match path {
            "/api/v2/tickets.json" => self.list(List::Tickets, req),
            "/api/v2/users.json" => self.list(List::Users, req),
            "/api/v2/incremental/tickets/cursor.json" => self.export_cursor(req),
            "/api/v2/incremental/tickets.json" => self.export_time(req),
            _ => match path
                .strip_prefix("/api/v2/tickets/")
                .and_then(|r| r.strip_suffix("/comments.json"))
            {
                Some(id) => self.comments(id, req),
                None => reply_json(
                    404,
                    &json!({"error": "InvalidEndpoint", "description": "Not found"}),
                ),
            },
        }
    }
}

impl Vendor for Zendesk {
    fn name(&self) -> &'static str {
        "zendesk"
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("subdomain", SUBDOMAIN.to_string()),
            ("email", EMAIL.to_string()),
            ("api_token", API_TOKEN.to_string()),
            ("username", format!("{EMAIL}/token")),
        ])
    }

    /// `reply`: the ticket's requester adds a comment, which moves the
    /// ticket's `updated_at` to now (as a comment through the API does).
    fn change(&self, what: &str, id: u64) -> crate::error::Result<()> {
        if what != "reply" {
            return Err(crate::error::CoreError::config(
                "change",
                format!("zendesk knows the change \"reply\", not {what:?}"),
            ));
        }
        if id == 0 || id > self.w().tickets() {
            return Err(crate::error::CoreError::config(
                "change",
                format!("zendesk has tickets 1 to {}, not {id}", self.w().tickets()),
            ));
        }
        let now = self.ctx.clock.unix();
        let mut replies = self.replies.lock().unwrap_or_else(|p| p.into_inner());
        let entry = replies.entry(id - 1).or_insert((0, now));
        // Later than anything the ticket had, even on a stopped clock.
        let at = now
            .max(entry.1 + 1)
            .max(self.w().ticket_updated(id - 1) + 1);
        *entry = (entry.0 + 1, at);
        Ok(())
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        let user = format!("{EMAIL}/token");
        match basic(req) {
            Some((u, p)) if u == user && p == API_TOKEN => {}
            _ => return reply_json(401, &json!({"error": "Couldn't authenticate you"})),
        }
        let now = self.ctx.clock.now_ms();
        let d = self.minute.check(&user, now);
        let limited = |retry: u64| Reply::Respond {
            status: 429,
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("retry-after".into(), retry.to_string()),
                ("x-rate-limit".into(), REQUESTS_PER_MINUTE.to_string()),
                ("x-rate-limit-remaining".into(), "0".into()),
            ],
            body: "Number of allowed API requests per minute exceeded".into(),
            delay: None,
            hold: None,
        };
        if !d.allowed() {
            return limited(d.retry_after_secs());
        }
        if req.path.starts_with("/api/v2/incremental/") {
            let i = self.incremental.check(&user, now);
            if !i.allowed() {
                return limited(i.retry_after_secs());
            }
        }
        let reset = match d {
            super::limits::Decision::Allowed { reset_ms, .. } => reset_ms.div_ceil(1000),
            _ => 60,
        };
        self.route(req)
            .with_header("x-rate-limit", REQUESTS_PER_MINUTE.to_string())
            .with_header("x-rate-limit-remaining", d.remaining().to_string())
            .with_header("ratelimit-limit", REQUESTS_PER_MINUTE.to_string())
            .with_header("ratelimit-remaining", d.remaining().to_string())
            .with_header("ratelimit-reset", reset.to_string())
    }
}

fn invalid(error: &str, description: &str) -> Reply {
    reply_json(400, &json!({"error": error, "description": description}))
}

fn encode_cursor(p: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("p{p}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    raw.strip_prefix('p')?.parse().ok()
}

fn encode_export_cursor((t, i): (i64, u64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("x{t}.{i}"))
}

fn decode_export_cursor(c: &str) -> Option<(i64, u64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    let (t, i) = raw.strip_prefix('x')?.split_once('.')?;
    Some((t.parse().ok()?, i.parse().ok()?))
}
