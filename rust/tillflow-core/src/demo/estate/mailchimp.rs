//! Mailchimp Marketing API 3.0, as documented at:
//! - https://mailchimp.com/developer/marketing/docs/fundamentals/#api-structure
//!   (Basic auth with any user name and the API key, whose `-usNN` suffix
//!   names the data center)
//! - https://mailchimp.com/developer/marketing/docs/methods-parameters/#pagination
//!   (`count` (default 10, at most 1,000) and `offset`, `total_items`)
//! - https://mailchimp.com/developer/marketing/api/lists/,
//!   .../list-members/ (`since_last_changed`, `status`; a member's `id` is
//!   the MD5 hash of the lowercase email) and .../campaigns/
//!   (`since_send_time`)
//! - https://mailchimp.com/developer/marketing/docs/errors/ (problem+json
//!   bodies: `type`, `title`, `status`, `detail`, `instance`)
//! - https://mailchimp.com/developer/marketing/docs/fundamentals/#throttling
//!   (at most 10 simultaneous connections per key, else 429)

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::common::{basic, iso, json_as, parse_time};
use super::data::World;
use super::limits::InFlight;
use super::{Counters, Ctx, Vendor};
use crate::http_server::{Reply, Request};

pub const DATA_CENTER: &str = "us21";
pub const API_KEY: &str = "5f4dcc3b5aa765d61d8327deb882cf99-us21";
pub const LIST_ID: &str = "a1b2c3d4e5";
pub const SIMULTANEOUS: u64 = 10;
const MAX_COUNT: u64 = 1000;

pub struct Mailchimp {
    ctx: Arc<Ctx>,
    in_flight: InFlight,
}

/// A member's id: the MD5 of the lowercase email, in hex.
pub fn subscriber_hash(email: &str) -> String {
    Md5::digest(email.to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn problem(status: u16, title: &str, detail: &str) -> Reply {
    json_as(
        status,
        "application/problem+json; charset=utf-8",
        &json!({"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title,
                "status": status, "detail": detail, "instance": "5f3b6a0e-0000-4000-8000-000000000000"}),
    )
}

fn ok(value: &Value) -> Reply {
    json_as(200, "application/json; charset=utf-8", value)
}

impl Mailchimp {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Mailchimp {
            in_flight: InFlight::new(SIMULTANEOUS, ctx.config.limits),
            ctx,
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn page(req: &Request) -> Result<(u64, u64), Reply> {
        let num = |name: &str, default: u64| -> Result<u64, Reply> {
            match req.param(name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().map_err(|_| {
                    problem(
                        400,
                        "Invalid Resource",
                        &format!("The {name} parameter must be a whole number, got {v:?}."),
                    )
                }),
            }
        };
        Ok((num("count", 10)?.min(MAX_COUNT), num("offset", 0)?))
    }

    fn member(&self, c: u64) -> Value {
        let w = self.w();
        let (first, last) = w.name(c);
        let email = w.email(c);
        json!({"id": subscriber_hash(&email), "email_address": email,
               "unique_email_id": format!("{:010x}", crate::demo::data::mix(w.seed, 5000, c) >> 24),
               "contact_id": format!("c{c:09}"), "full_name": format!("{first} {last}"),
               "email_type": "html", "status": w.newsletter_status(c),
               "merge_fields": {"FNAME": first, "LNAME": last, "PHONE": w.phone(c)},
               "timestamp_signup": iso(w.customer_created(c)).replace('Z', "+00:00"),
               "timestamp_opt": iso(w.customer_created(c)).replace('Z', "+00:00"),
               "last_changed": iso(w.customer_updated(c)).replace('Z', "+00:00"),
               "list_id": LIST_ID})
    }

    fn campaign(&self, k: u64) -> Value {
        let w = self.w();
        let sent = w.campaign_sent(k);
        let emails = w.subscribed();
        let opens = emails * (35 + k % 10) / 100;
        let clicks = emails * (4 + k % 5) / 100;
        json!({"id": format!("{:010x}", crate::demo::data::mix(w.seed, 5001, k) >> 24),
               "web_id": 9_100_000 + k, "type": "regular", "status": "sent",
               "create_time": iso(sent - 86_400).replace('Z', "+00:00"),
               "send_time": iso(sent).replace('Z', "+00:00"), "emails_sent": emails,
               "recipients": {"list_id": LIST_ID, "list_name": "Tillflow Demo Shop Newsletter",
                              "recipient_count": emails},
               "settings": {"subject_line": format!("New this fortnight #{}", k + 1),
                            "title": format!("Newsletter {}", k + 1), "from_name": "Tillflow Demo Shop"},
               "report_summary": {"opens": opens * 13 / 10, "unique_opens": opens,
                                  "open_rate": opens as f64 / emails.max(1) as f64,
                                  "clicks": clicks * 3 / 2, "subscriber_clicks": clicks,
                                  "click_rate": clicks as f64 / emails.max(1) as f64}})
    }

    fn since(req: &Request, name: &str) -> Result<Option<i64>, Reply> {
        match req.param(name) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                problem(
                    400,
                    "Invalid Resource",
                    &format!("{name} must be an ISO 8601 time, got {v:?}."),
                )
            }),
        }
    }

    fn route(&self, req: &Request) -> Reply {
        if req.method != "GET" {
            return problem(
                405,
                "Method Not Allowed",
                "The requested method and resource are not compatible.",
            );
        }
        let w = self.w();
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let (count, offset) = match Self::page(req) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let window = |n: u64| offset.min(n)..(offset + count).min(n);
        match parts.as_slice() {
            ["3.0", "ping"] => ok(&json!({"health_status": "Everything's Chimpy!"})),
            ["3.0", "lists"] => {
                let lists: Vec<Value> = window(1)
                    .map(|_| {
                        json!({"id": LIST_ID, "web_id": 100_001, "name": "Tillflow Demo Shop Newsletter",
                               "date_created": iso(w.customer_created(0) - 86_400).replace('Z', "+00:00"),
                               "stats": {"member_count": w.subscribed(), "total_contacts": w.customers(),
                                         "campaign_count": w.campaigns()}})
                    })
                    .collect();
                ok(&json!({"lists": lists, "total_items": 1,
                           "constraints": {"may_create": false, "max_instances": 1, "current_total_instances": 1}}))
            }
            ["3.0", "lists", id, "members"] => {
                if *id != LIST_ID {
                    return problem(
                        404,
                        "Resource Not Found",
                        "The requested resource could not be found.",
                    );
                }
                let since = match Self::since(req, "since_last_changed") {
                    Ok(s) => s,
                    Err(e) => return e,
                };
                let status = req.param("status");
                let hits: Vec<u64> = (0..w.customers())
                    .filter(|&c| since.is_none_or(|t| w.customer_updated(c) > t))
                    .filter(|&c| status.is_none_or(|s| w.newsletter_status(c) == s))
                    .collect();
                let n = hits.len() as u64;
                let members: Vec<Value> =
                    window(n).map(|p| self.member(hits[p as usize])).collect();
                ok(&json!({"members": members, "list_id": LIST_ID, "total_items": n}))
            }
            ["3.0", "campaigns"] => {
                let since = match Self::since(req, "since_send_time") {
                    Ok(s) => s,
                    Err(e) => return e,
                };
                let hits: Vec<u64> = (0..w.campaigns())
                    .filter(|&k| since.is_none_or(|t| w.campaign_sent(k) > t))
                    .collect();
                let n = hits.len() as u64;
                let campaigns: Vec<Value> =
                    window(n).map(|p| self.campaign(hits[p as usize])).collect();
                ok(&json!({"campaigns": campaigns, "total_items": n}))
            }
            _ => problem(
                404,
                "Resource Not Found",
                "The requested resource could not be found.",
            ),
        }
    }
}

impl Vendor for Mailchimp {
    fn name(&self) -> &'static str {
        "mailchimp"
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("api_key", API_KEY.to_string()),
            ("data_center", DATA_CENTER.to_string()),
            ("list_id", LIST_ID.to_string()),
        ])
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        let key = match basic(req) {
            None => {
                return problem(
                    401,
                    "API Key Missing",
                    "Your request did not include an API key.",
                )
            }
            Some((_, key)) if key != API_KEY => return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            ),
            Some((_, key)) => key,
        };
        let Some(slot) = self.in_flight.enter(&key) else {
            return problem(
                429,
                "Too Many Requests",
                &format!("You have exceeded the limit of {SIMULTANEOUS} simultaneous connections."),
            );
        };
        self.route(req).holding(Arc::new(slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_hash_is_md5_of_the_lowercase_email() {
        // MD5("test@example.com")
        assert_eq!(
            subscriber_hash("Test@Example.com"),
            "55502f40dc8b7c769880b10874abc9d0"
        );
    }
}
