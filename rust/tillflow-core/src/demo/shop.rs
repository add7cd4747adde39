//! The shop's routes: `/admin/api/2024-01/{orders,customers,products}.json`
//! with Shopify's cursor paging (`page_info` in a `Link` header), `limit` up
//! to 250, date filters and the `X-Shopify-Access-Token` header.

use std::fmt::Write;
use std::sync::atomic::AtomicU64;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::data::*;
use super::{bump, DemoShopConfig};
use crate::http_server::{Reply, Request};
use crate::normalize::infer::parse_timestamp;

pub const API_VERSION: &str = "2024-01";
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 250;

pub struct State {
    config: DemoShopConfig,
    shop: Shop,
    pub requests: AtomicU64,
    order_pages: AtomicU64,
}

/// Which records a page chain covers; carried inside `page_info`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Filter {
    created_min: Option<i64>,
    created_max: Option<i64>,
    updated_min: Option<i64>,
}

enum Resource {
    Orders,
    Customers,
    Products,
}

impl State {
    pub fn new(config: DemoShopConfig) -> Self {
        let shop = Shop::new(config.orders, config.seed);
        State {
            config,
            shop,
            requests: AtomicU64::new(0),
            order_pages: AtomicU64::new(0),
        }
    }

    /// See [`Shop::edit_orders`].
    pub fn edit_orders(&self, count: u64) -> Vec<i64> {
        self.shop.edit_orders(count)
    }

    pub fn handle(&self, req: &Request) -> Reply {
        bump(&self.requests);
        let prefix = format!("/admin/api/{API_VERSION}/");
        let Some(name) = req.path.strip_prefix(&prefix) else {
            return error(404, "Not Found");
        };
        let resource = match name {
            "orders.json" => Resource::Orders,
            "customers.json" => Resource::Customers,
            "products.json" => Resource::Products,
            _ => return error(404, "Not Found"),
        };
        if req.method != "GET" {
            return error(405, "Method Not Allowed");
        }
        if req.header("x-shopify-access-token") != Some(self.config.token.as_str()) {
            return error(
                401,
                "[API] Invalid API key or access token (unrecognized login or wrong password)",
            );
        }
        let limit = match req.param("limit").map(str::parse::<u64>) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => return error(400, "limit must be an integer between 1 and 250"),
        };
        let (start, filter) = match req.param("page_info") {
            Some(token) => {
                let filtered = [
                    "created_at_min",
                    "created_at_max",
                    "updated_at_min",
                    "since_id",
                ];
                if filtered.iter().any(|p| req.param(p).is_some()) {
                    return error(
                        400,
                        "page_info cannot be combined with other filters; only limit may change",
                    );
                }
                match decode_page_info(token) {
                    Some(x) => x,
                    None => return error(400, "Invalid page_info"),
                }
            }
            None => match parse_filter(req) {
                Ok(f) => (0, f),
                Err(msg) => return error(400, &msg),
            },
        };
        let host = req.header("host").unwrap_or("127.0.0.1").to_string();
        match resource {
            Resource::Orders => self.orders(&host, start, limit, filter),
            Resource::Customers => self.customers(&host, start, limit, filter),
            Resource::Products => self.products(&host, start, limit, filter),
        }
    }

    fn orders(&self, host: &str, start: u64, limit: u64, f: Filter) -> Reply {
        let page_no = bump(&self.order_pages);
        if let Some((after, status)) = self.config.faults.fail_after_pages {
            if page_no >= after {
                return error(status, "injected failure");
            }
        }
        let shop = &self.shop;
        let mut i = start.max(
            f.created_min
                .map_or(0, |t| shop.first_created_at_or_after(t)),
        );
        if let Some(u) = f.updated_min.filter(|_| !shop.has_edits()) {
            // updated_at >= u needs created_at >= u - the largest lag (edited
            // orders can lag any amount, so then every order is checked).
            i = i.max(shop.first_created_at_or_after(u - MAX_UPDATE_LAG));
        }
        let end = f
            .created_max
            .map_or(shop.orders, |t| shop.first_created_at_or_after(t + 1));
        let mut body = String::with_capacity(limit as usize * 700 + 32);
        body.push_str("{\"orders\":[");
        let mut n = 0;
        while i < end && n < limit {
            if f.updated_min.is_none_or(|u| shop.updated_at(i) >= u) {
                if n > 0 {
                    body.push(',');
                }
                shop.write_order(i, &mut body);
                n += 1;
            }
            i += 1;
        }
        body.push_str("]}");
        if self.config.faults.malformed_page == Some(page_no) {
            body.truncate(body.len() / 2);
        }
        let more = i < end;
        self.page(host, "orders", body, start, i, more, limit, f)
    }

    fn customers(&self, host: &str, start: u64, limit: u64, f: Filter) -> Reply {
        let shop = &self.shop;
        let end = shop.customers;
        let mut body = String::with_capacity(limit as usize * 400 + 32);
        body.push_str("{\"customers\":[");
        let mut i = start;
        let mut n = 0;
        while i < end && n < limit {
            let created = shop.customer_created_at(i);
            let keep = f.created_min.is_none_or(|t| created >= t)
                && f.created_max.is_none_or(|t| created <= t)
                && f.updated_min.is_none_or(|t| created >= t);
            if keep {
                if n > 0 {
                    body.push(',');
                }
                self.write_customer(i, created, &mut body);
                n += 1;
            }
            i += 1;
        }
        body.push_str("]}");
        self.page(host, "customers", body, start, i, i < end, limit, f)
    }

    fn write_customer(&self, c: u64, created: i64, out: &mut String) {
        let shop = &self.shop;
        let (first, last) = shop.customer_name(c);
        let (city, country) = shop.customer_city(c);
        let last_json = serde_json::to_string(last).unwrap_or_default();
        let _ = write!(
            out,
            "{{\"id\":{},\"email\":\"{}\",\"first_name\":\"{first}\",\"last_name\":{last_json},\"created_at\":\"",
            CUSTOMER_ID_BASE + c as i64,
            shop.customer_email(c)
        );
        write_local_time(created, out);
        out.push_str("\",\"updated_at\":\"");
        write_local_time(created, out);
        let _ = write!(
            out,
            "\",\"state\":\"enabled\",\"verified_email\":{},\"tags\":\"{}\",\"default_address\":{{\"city\":\"{city}\",\"country_code\":\"{country}\"}}}}",
            !mix(shop.seed, 10, c).is_multiple_of(10),
            if c.is_multiple_of(7) { "newsletter" } else { "" },
        );
    }

    fn products(&self, host: &str, start: u64, limit: u64, f: Filter) -> Reply {
        let shop = &self.shop;
        let end = shop.products() as u64;
        let mut body = String::from("{\"products\":[");
        let mut i = start;
        let mut n = 0;
        while i < end && n < limit {
            if n > 0 {
                body.push(',');
            }
            let (title, vendor, kind, cents) = shop.product(i as usize);
            let pid = PRODUCT_ID_BASE + i as i64;
            let title_json = serde_json::to_string(title).unwrap_or_default();
            let _ = write!(
                body,
                "{{\"id\":{pid},\"title\":{title_json},\"vendor\":\"{vendor}\",\"product_type\":\"{kind}\",\"status\":\"active\",\"created_at\":\""
            );
            write_local_time(START - 86_400 * 60, &mut body);
            body.push_str("\",\"updated_at\":\"");
            write_local_time(START - 86_400 * 60 + i as i64 * 3600, &mut body);
            body.push_str("\",\"variants\":[");
            for v in 0..3i64 {
                if v > 0 {
                    body.push(',');
                }
                let _ = write!(
                    body,
                    "{{\"id\":{},\"product_id\":{pid},\"title\":\"{}\",\"sku\":\"SKU-{i:03}-{v}\",\"price\":\"",
                    VARIANT_ID_BASE + i as i64 * 4 + v,
                    ["Small", "Medium", "Large"][v as usize]
                );
                write_cents(cents + v * 200 - 5, &mut body);
                body.push_str("\"}");
            }
            body.push_str("]}");
            n += 1;
            i += 1;
        }
        body.push_str("]}");
        self.page(host, "products", body, start, i, i < end, limit, f)
    }

    #[allow(clippy::too_many_arguments)]
    fn page(
        &self,
        host: &str,
        name: &str,
        body: String,
        start: u64,
        next: u64,
        more: bool,
        limit: u64,
        f: Filter,
    ) -> Reply {
        let base = format!("http://{host}/admin/api/{API_VERSION}/{name}.json");
        let mut links = Vec::new();
        if start > 0 {
            let prev = start.saturating_sub(limit);
            links.push(format!(
                "<{base}?limit={limit}&page_info={}>; rel=\"previous\"",
                encode_page_info(prev, f)
            ));
        }
        if more {
            links.push(format!(
                "<{base}?limit={limit}&page_info={}>; rel=\"next\"",
                encode_page_info(next, f)
            ));
        }
        let mut reply = Reply::json(200, body);
        if !links.is_empty() {
            reply = reply.with_header("link", links.join(", "));
        }
        reply
    }
}

fn parse_filter(req: &Request) -> Result<Filter, String> {
    let get = |name: &str| -> Result<Option<i64>, String> {
        match req.param(name) {
            None => Ok(None),
            Some(v) => parse_timestamp(v)
                .map(|us| Some(us.div_euclid(1_000_000)))
                .ok_or_else(|| format!("{name} must be an ISO 8601 date-time, got {v:?}")),
        }
    };
    Ok(Filter {
        created_min: get("created_at_min")?,
        created_max: get("created_at_max")?,
        updated_min: get("updated_at_min")?,
    })
}

fn encode_page_info(next: u64, f: Filter) -> String {
    let opt = |v: Option<i64>| v.map_or(String::new(), |x| x.to_string());
    let raw = format!(
        "v1|{next}|{}|{}|{}",
        opt(f.created_min),
        opt(f.created_max),
        opt(f.updated_min)
    );
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_page_info(token: &str) -> Option<(u64, Filter)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let parts: Vec<&str> = raw.split('|').collect();
    if parts.len() != 5 || parts[0] != "v1" {
        return None;
    }
    let opt = |s: &str| -> Option<Option<i64>> {
        if s.is_empty() {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    Some((
        parts[1].parse().ok()?,
        Filter {
            created_min: opt(parts[2])?,
            created_max: opt(parts[3])?,
            updated_min: opt(parts[4])?,
        },
    ))
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, serde_json::json!({ "errors": message }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_info_round_trips() {
        let f = Filter {
            created_min: Some(5),
            created_max: None,
            updated_min: Some(-7),
        };
        assert_eq!(decode_page_info(&encode_page_info(250, f)), Some((250, f)));
        assert_eq!(decode_page_info("garbage!"), None);
    }
}
